// Small DOM helpers shared by the demo pages.

/** Appends a table cell with `value` as text to the row `tr`; returns the cell. */
export function cell(tr, value) {
  const td = document.createElement('td');
  td.textContent = String(value);
  tr.append(td);
  return td;
}
