//! What recall must leave out: items already shown (the exposure filter), already consumed,
//! and blocked (by item, by attribute, by tag).
//!
//! Every rule is resolved once per request into one [`RowMask`] over the item rows. The vector
//! channel hands the mask to the scoring kernel (excluded rows are never scored), and every other
//! channel asks [`Filters::allows`] while it fills its quota, so a filtered item never takes a
//! quota slot.
//!
//! The builder methods chain without `?`. A method given an item table of the wrong size
//! excludes nothing and records an [`Error::InvalidArgument`]; the first such error is returned
//! by [`Filters::check`] and by [`crate::recall::Recall::recall`], so a mismatched table is
//! never silently half-applied.

use crate::bundle::{ItemRef, ItemTable};
use crate::compute::RowMask;
use crate::error::{Error, Result};
use crate::recall::bloom::ExposureFilter;
use std::borrow::Borrow;

/// The rows recall must not return, built with the methods below (each adds exclusions).
///
/// ```
/// use edgerec::recall::Filters;
/// let f = Filters::new(10).consumed([1, 2]).block_item(7);
/// assert!(!f.allows(2) && !f.allows(7) && f.allows(3));
/// assert!(!f.allows(10)); // past the end: never allowed
/// assert_eq!(f.excluded(), 3);
/// assert!(f.check().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    mask: RowMask,
    excluded: usize,
    /// The first error of a builder method (see the module docs).
    error: Option<Error>,
}

impl Filters {
    /// No exclusions over `rows` items (the bundle's item count).
    pub fn new(rows: usize) -> Self {
        Self { mask: RowMask::new(rows), excluded: 0, error: None }
    }

    /// The number of rows covered.
    pub fn rows(&self) -> usize {
        self.mask.rows()
    }

    /// How many rows are excluded.
    pub fn excluded(&self) -> usize {
        self.excluded
    }

    fn exclude(&mut self, row: usize) {
        if row < self.mask.rows() && !self.mask.is_excluded(row) {
            self.mask.exclude(row);
            self.excluded += 1;
        }
    }

    fn table_error(&self, items: &ItemTable) -> Result<()> {
        if items.len() != self.rows() {
            return Err(Error::InvalidArgument {
                name: "items",
                reason: format!(
                    "the item table has {} rows, the filters cover {}",
                    items.len(),
                    self.rows()
                ),
            });
        }
        Ok(())
    }

    /// The first error a builder method recorded (an item table of the wrong size), if any.
    ///
    /// # Errors
    /// That error.
    pub fn check(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Excludes items the user already consumed (watched, bought, …): recall never returns
    /// them. Takes rows by value or by reference (`[1, 2]`, `&vec`, an iterator). Rows past the
    /// end are ignored (no item has them, so none can be recalled).
    pub fn consumed<R: Borrow<u32>>(mut self, rows: impl IntoIterator<Item = R>) -> Self {
        for row in rows {
            self.exclude(*row.borrow() as usize);
        }
        self
    }

    /// Excludes one item by row (ignored past the end, as [`Filters::consumed`]).
    pub fn block_item(mut self, row: u32) -> Self {
        self.exclude(row as usize);
        self
    }

    /// Excludes one item by id.
    ///
    /// # Errors
    /// [`Error::UnknownItem`] when `items` has no such id; [`Error::InvalidArgument`] when
    /// `items` does not have [`Filters::rows`] rows.
    pub fn block_id(mut self, items: &ItemTable, id: &str) -> Result<Self> {
        self.table_error(items)?;
        let row = items.row_of(id).ok_or_else(|| Error::UnknownItem { id: id.into() })?;
        self.exclude(row);
        Ok(self)
    }

    /// Excludes every item whose `key` equals `value` (exact, case-sensitive):
    ///
    /// - `key = "tag"` (or `"tags"`) matches any of the item's tags (an attribute literally
    ///   named `tag` matches too);
    /// - `key = "type"` matches the item type (and an attribute named `type`);
    /// - any other key matches the item attribute of that name ([`ItemRef::attribute`]).
    ///
    /// A key or value no item has excludes nothing (not an error: blocklists are often written
    /// for a whole catalogue, and a bundle may not carry every attribute).
    ///
    /// `items` must have [`Filters::rows`] rows (else see [`Filters::check`]).
    pub fn block_attribute(self, items: &ItemTable, key: &str, value: &str) -> Self {
        let matches = |item: &ItemRef<'_>| {
            item.attribute(key) == Some(value)
                || (matches!(key, "tag" | "tags") && item.tags().any(|t| t == value))
                || (key == "type" && item.item_type() == value)
        };
        self.exclude_where(items, matches)
    }

    /// Excludes every item `predicate` returns `true` for (a custom rule). `items` must have
    /// [`Filters::rows`] rows (else see [`Filters::check`]).
    pub fn exclude_where(
        mut self,
        items: &ItemTable,
        mut predicate: impl FnMut(&ItemRef<'_>) -> bool,
    ) -> Self {
        if let Err(e) = self.table_error(items) {
            self.error.get_or_insert(e);
            return self;
        }
        for item in items.iter() {
            if predicate(&item) {
                self.exclude(item.row());
            }
        }
        self
    }

    /// Excludes every item the exposure filter says was shown within its live buckets at
    /// `now_s`. One filter lookup per item, once per request; false positives of the filter
    /// hide an unseen item, never show a seen one. `items` must have [`Filters::rows`] rows
    /// (else see [`Filters::check`]).
    pub fn exposure(self, filter: &ExposureFilter, items: &ItemTable, now_s: i64) -> Self {
        self.exposure_recent(filter, items, now_s, 0)
    }

    /// [`Filters::exposure`] ignoring the `skip_oldest` oldest live layers of the filter
    /// ([`ExposureFilter::contains_recent`]): the relaxation for when every candidate has
    /// already been shown, bringing back the items shown longest ago first. `skip_oldest = 0` is
    /// [`Filters::exposure`]; [`ExposureFilter::live_layers`] or more excludes nothing. The layer
    /// order is resolved once, not per item.
    pub fn exposure_recent(
        self,
        filter: &ExposureFilter,
        items: &ItemTable,
        now_s: i64,
        skip_oldest: usize,
    ) -> Self {
        let window = filter.window(now_s, skip_oldest);
        self.exclude_where(items, |item| filter.contains_in(item.id(), &window))
    }

    /// The exclusions as a mask over the item rows (for [`crate::compute::ScoreRequest`]).
    pub fn mask(&self) -> &RowMask {
        &self.mask
    }

    /// Whether `row` may be recalled (`false` past the end).
    #[inline]
    pub fn allows(&self, row: u32) -> bool {
        (row as usize) < self.mask.rows() && !self.mask.is_excluded(row as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_exclusion_once() {
        let rows = vec![3, 3, 39, 40, u32::MAX];
        let f = Filters::new(40).consumed(&rows).block_item(3).block_item(0);
        assert_eq!(f.excluded(), 3);
        assert!(!f.allows(0) && !f.allows(3) && !f.allows(39) && f.allows(38));
        assert!(!f.allows(40));
        assert_eq!(f.mask().rows(), 40);
    }
}
