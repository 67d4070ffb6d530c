// Small DOM helpers shared by the demo pages.

/** Appends a table cell with `value` as text to the row `tr`; returns the cell. */
export function cell(tr, value) {
  const td = document.createElement('td');
  td.textContent = String(value);
  tr.append(td);
  return td;
}

/**
 * A result row: rank, a clickable title (calls `onClick(item.id)`), tags, channels, score.
 * `tags` defaults to the item's categories.
 */
export function itemRow(item, i, onClick, tags = item.categories) {
  const tr = document.createElement('tr');
  cell(tr, i + 1);
  const title = cell(tr, item.title || item.id);
  title.style.cursor = 'pointer';
  title.title = 'click to record a click on this movie';
  title.addEventListener('click', () => onClick(item.id));
  cell(tr, tags.join(', '));
  cell(tr, item.channels.join(' + '));
  cell(tr, item.score.toFixed(4));
  return tr;
}
