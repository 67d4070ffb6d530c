//! The optional IVF (inverted file) coarse index of a bundle: tensor names and the load-time
//! checks. The index itself (k-means, search) is `crate::compute::IvfIndex`; this module only
//! guarantees that a loaded bundle's IVF tensors are well formed, so that the search can trust
//! them without re-checking.
//!
//! Layout (see `models/README.md`, "IVF index"), following the inverted-file design of Jégou,
//! Douze & Schmid, "Product quantization for nearest neighbor search" (IEEE TPAMI 2011) and
//! FAISS's `IndexIVF` (a coarse quantizer plus one list of row ids per centroid):
//!
//! | tensor | dtype | shape | meaning |
//! |---|---|---|---|
//! | `ivf.centroids` | float | `[nlist, embedding_dim]` | coarse centroids |
//! | `ivf.list_offsets` | u32 | `[nlist + 1]` | list `l` is `list_rows[o[l] .. o[l+1]]` |
//! | `ivf.list_rows` | u32 | `[items]` | item rows grouped by list (a permutation of `0..items`) |
//!
//! The vectors themselves are the bundle's `item_embeddings`, addressed through `list_rows`.

use super::loader::Bundle;
use super::manifest::TensorDType;
use super::view::TensorView;
use crate::error::{Error, Result};

/// Coarse centroids, float `[nlist, embedding_dim]`.
pub const IVF_CENTROIDS: &str = "ivf.centroids";
/// List boundaries, u32 `[nlist + 1]`: `0 = o[0] ≤ o[1] ≤ … ≤ o[nlist] = items`.
pub const IVF_LIST_OFFSETS: &str = "ivf.list_offsets";
/// Item rows in list order, u32 `[items]`, a permutation of `0..items`.
pub const IVF_LIST_ROWS: &str = "ivf.list_rows";

/// The three IVF tensors of a loaded bundle (already checked by the loader).
#[derive(Debug, Clone, Copy)]
pub struct IvfTensors<'a> {
    /// [`IVF_CENTROIDS`].
    pub centroids: TensorView<'a>,
    /// [`IVF_LIST_OFFSETS`], as words.
    pub list_offsets: &'a [u32],
    /// [`IVF_LIST_ROWS`], as words.
    pub list_rows: &'a [u32],
}

impl Bundle {
    /// The IVF coarse index, when the bundle has one (`edgerec bundle build --ivf-lists N`).
    /// Its tensors were validated at load (shapes, monotone offsets, rows a permutation).
    pub fn ivf(&self) -> Option<IvfTensors<'_>> {
        let centroids = self.tensor(IVF_CENTROIDS)?;
        let list_offsets = self.tensor(IVF_LIST_OFFSETS)?.as_u32()?;
        let list_rows = self.tensor(IVF_LIST_ROWS)?.as_u32()?;
        Some(IvfTensors { centroids, list_offsets, list_rows })
    }
}

/// Checks inverted lists over `items` rows: `offsets` starts at 0, never decreases and ends at
/// `items`; `rows` has `items` entries, each in range and none repeated. Returns what is wrong.
pub(crate) fn check_lists(
    offsets: &[u32],
    rows: &[u32],
    items: usize,
) -> std::result::Result<(), String> {
    if offsets.len() < 2 {
        return Err(format!("{} list offsets: need at least 2 (one list)", offsets.len()));
    }
    if offsets[0] != 0 {
        return Err(format!("list offset 0 is {}, must be 0", offsets[0]));
    }
    if let Some(l) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!(
            "list offsets decrease at list {l} ({} > {})",
            offsets[l],
            offsets[l + 1]
        ));
    }
    let last = offsets[offsets.len() - 1] as usize;
    if last != items || rows.len() != items {
        return Err(format!(
            "lists hold {last} rows ({} listed), the index has {items}",
            rows.len()
        ));
    }
    let mut seen = vec![0u64; items.div_ceil(64)];
    for (i, &r) in rows.iter().enumerate() {
        let r = r as usize;
        if r >= items || seen[r / 64] & (1 << (r % 64)) != 0 {
            return Err(format!(
                "list row {i} is {r}: out of range (items: {items}) or repeated; \
                 the rows must be a permutation"
            ));
        }
        seen[r / 64] |= 1 << (r % 64);
    }
    Ok(())
}

/// The loader's check: the three IVF tensors are all present or all absent, have the shapes
/// above, and their values form valid lists.
///
/// # Errors
/// [`Error::BundleCorrupt`] for a partial set or bad values (offsets, rows),
/// [`Error::BundleShapeMismatch`] for a wrong dtype or shape.
pub(crate) fn validate(bundle: &Bundle) -> Result<()> {
    let names = [IVF_CENTROIDS, IVF_LIST_OFFSETS, IVF_LIST_ROWS];
    let found: Vec<Option<TensorView<'_>>> = names.iter().map(|n| bundle.tensor(n)).collect();
    let [Some(centroids), Some(offsets), Some(rows)] = [found[0], found[1], found[2]] else {
        if let Some(t) = found.iter().flatten().next() {
            return Err(Error::BundleCorrupt {
                file: t.file().to_string(),
                reason: format!(
                    "{} needs all of {IVF_CENTROIDS}, {IVF_LIST_OFFSETS}, {IVF_LIST_ROWS}",
                    t.name()
                ),
            });
        }
        return Ok(());
    };
    let m = bundle.manifest();
    let (items, dim) = (m.items.count, m.embedding_dim);
    let shape_err = |t: &TensorView<'_>, reason: String| Error::BundleShapeMismatch {
        file: t.file().to_string(),
        tensor: t.name().to_string(),
        reason,
    };
    let nlist = match centroids.shape() {
        [n, d] if centroids.dtype() != TensorDType::U32 && *d == dim && *n >= 1 && *n <= items => {
            *n
        }
        shape => {
            return Err(shape_err(
                &centroids,
                format!(
                    "must be float [nlist, {dim}] with 1 ≤ nlist ≤ {items} items, is {:?} \
                     {shape:?}",
                    centroids.dtype()
                ),
            ));
        }
    };
    if offsets.dtype() != TensorDType::U32 || offsets.shape() != [nlist + 1] {
        return Err(shape_err(
            &offsets,
            format!(
                "must be u32 [{}] (nlist + 1), is {:?} {:?}",
                nlist + 1,
                offsets.dtype(),
                offsets.shape()
            ),
        ));
    }
    if rows.dtype() != TensorDType::U32 || rows.shape() != [items] {
        return Err(shape_err(
            &rows,
            format!("must be u32 [{items}] (items), is {:?} {:?}", rows.dtype(), rows.shape()),
        ));
    }
    let (o, r) = (offsets.as_u32().unwrap_or(&[]), rows.as_u32().unwrap_or(&[]));
    check_lists(o, r, items as usize).map_err(|reason| Error::BundleCorrupt {
        file: rows.file().to_string(),
        reason: format!("IVF lists ({IVF_LIST_OFFSETS}, {IVF_LIST_ROWS}): {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_checks_name_each_fault() {
        assert_eq!(check_lists(&[0, 2, 3], &[2, 0, 1], 3), Ok(()));
        assert!(check_lists(&[0], &[], 0).unwrap_err().contains("at least 2"));
        assert!(check_lists(&[1, 3], &[0, 1, 2], 3).unwrap_err().contains("must be 0"));
        assert!(check_lists(&[0, 2, 1, 3], &[0, 1, 2], 3).unwrap_err().contains("decrease"));
        assert!(check_lists(&[0, 2], &[0, 1, 2], 3).unwrap_err().contains("hold 2 rows"));
        assert!(check_lists(&[0, 3], &[0, 1, 1], 3).unwrap_err().contains("permutation"));
        assert!(check_lists(&[0, 3], &[0, 1, 3], 3).unwrap_err().contains("permutation"));
    }
}
