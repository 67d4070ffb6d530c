//! Item–item similarity for the diversity terms of MMR and DPP.
//!
//! Three measures: cosine over item embeddings, Jaccard over category sets, and a weighted mix of
//! the two. All three give positive semi-definite similarity matrices (the Gram matrix of the
//! normalized embeddings; the Jaccard / Tanimoto matrix, Gower 1971 and Bouchard et al. 2013; a
//! non-negative mix of PSD matrices), so any of them can serve as the `S` of a DPP kernel
//! `L = diag(q)·S·diag(q)` (Chen et al. 2018, §5).
//!
//! Convention: an item is always fully similar to itself (`sim(i, i) = 1`), even when its
//! embedding is the zero vector or its category set is empty; between different items a zero
//! vector or two empty sets give similarity 0 ("nothing known, nothing redundant"), like the
//! `nan → 0` rule of the widely used MMR implementation the fixtures come from.

use crate::error::{Error, Result};

/// Row-major item embeddings, one row per candidate, for cosine similarity.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    data: Vec<f64>,
    dim: usize,
    norms: Vec<f64>,
}

impl Embeddings {
    /// Wraps `rows × dim` values (row-major). Errors: [`Error::NoCandidates`] when there is no
    /// row, [`Error::InvalidArgument`] for `dim == 0`, [`Error::ShapeMismatch`] when the length is
    /// not a multiple of `dim`, [`Error::NonFinite`] for NaN or infinity.
    pub fn new(data: Vec<f64>, dim: usize) -> Result<Self> {
        if dim == 0 {
            return Err(Error::InvalidArgument {
                name: "dim",
                reason: "embeddings need a dimension of at least 1".into(),
            });
        }
        if data.is_empty() {
            return Err(Error::NoCandidates);
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch { what: "embeddings", len: data.len(), dim });
        }
        if let Some(position) = data.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "embeddings", position });
        }
        let norms = data.chunks_exact(dim).map(|row| dot(row, row).sqrt()).collect();
        Ok(Self { data, dim, norms })
    }

    /// Like [`Embeddings::new`], from `f32` values (widened exactly to `f64`).
    pub fn from_f32(data: &[f32], dim: usize) -> Result<Self> {
        Self::new(data.iter().map(|&x| f64::from(x)).collect(), dim)
    }

    /// Number of rows (candidates).
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    /// Always `false`: construction rejects empty inputs.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    /// The embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Cosine similarity between rows `i` and `j`: `<e_i, e_j> / (|e_i|·|e_j|)`, 0 when either
    /// row is the zero vector (and 1 for `i == j`).
    #[inline]
    pub fn cosine(&self, i: usize, j: usize) -> f64 {
        if i == j {
            return 1.0;
        }
        cosine_from_parts(dot(self.row(i), self.row(j)), self.norms[i], self.norms[j])
    }

    /// Cosine similarity of every row to `query`: the relevance used by the MMR conformance
    /// fixtures. Errors: [`Error::DimensionMismatch`], [`Error::NonFinite`].
    pub fn cosine_to(&self, query: &[f64]) -> Result<Vec<f64>> {
        if query.len() != self.dim {
            return Err(Error::DimensionMismatch { expected: self.dim, received: query.len() });
        }
        if let Some(position) = query.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFinite { what: "query", position });
        }
        let qn = dot(query, query).sqrt();
        Ok((0..self.len())
            .map(|i| cosine_from_parts(dot(self.row(i), query), self.norms[i], qn))
            .collect())
    }
}

/// `dot / (na·nb)` with the zero-vector convention (the division would be NaN or infinite).
#[inline]
fn cosine_from_parts(dot: f64, na: f64, nb: f64) -> f64 {
    let s = dot / (na * nb);
    if s.is_finite() { s } else { 0.0 }
}

/// `f64` dot product with eight interleaved partial sums, combined pairwise at the end.
///
/// A single running sum is one long dependency chain that the compiler may not reorder; eight
/// independent lanes vectorize (SSE/AVX natively, simd128 in wasm). The order is fixed, so
/// results are identical on every platform, which the exact-selection conformance tests need.
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    const LANES: usize = 8;
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, p), q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    let quads = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    (quads[0] + quads[2]) + (quads[1] + quads[3])
}

/// One category set per candidate (genre ids, tag ids, …), for Jaccard similarity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categories {
    sets: Vec<Vec<u32>>,
}

impl Categories {
    /// Wraps one set per candidate; duplicates inside a set are ignored. Errors:
    /// [`Error::NoCandidates`] when there is no set.
    pub fn new(mut sets: Vec<Vec<u32>>) -> Result<Self> {
        if sets.is_empty() {
            return Err(Error::NoCandidates);
        }
        for set in &mut sets {
            set.sort_unstable();
            set.dedup();
        }
        Ok(Self { sets })
    }

    /// Number of candidates.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Always `false`: construction rejects empty inputs.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Jaccard similarity `|A ∩ B| / |A ∪ B|` of the sets of `i` and `j` (0 when both are
    /// empty, 1 for `i == j`).
    #[inline]
    pub fn jaccard(&self, i: usize, j: usize) -> f64 {
        if i == j {
            return 1.0;
        }
        let (a, b) = (&self.sets[i], &self.sets[j]);
        let (mut x, mut y, mut both) = (0, 0, 0usize);
        while x < a.len() && y < b.len() {
            match a[x].cmp(&b[y]) {
                std::cmp::Ordering::Less => x += 1,
                std::cmp::Ordering::Greater => y += 1,
                std::cmp::Ordering::Equal => {
                    both += 1;
                    x += 1;
                    y += 1;
                }
            }
        }
        let union = a.len() + b.len() - both;
        if union == 0 { 0.0 } else { both as f64 / union as f64 }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Measure {
    Cosine(Embeddings),
    Jaccard(Categories),
    Mixed { embeddings: Embeddings, categories: Categories, cosine_weight: f64 },
}

/// How similar two candidates are, for the redundancy term of MMR and the `S` of a DPP kernel.
#[derive(Debug, Clone, PartialEq)]
pub struct Similarity {
    measure: Measure,
}

impl Similarity {
    /// Cosine similarity of item embeddings.
    pub fn cosine(embeddings: Embeddings) -> Self {
        Self { measure: Measure::Cosine(embeddings) }
    }

    /// Jaccard similarity of category sets.
    pub fn jaccard(categories: Categories) -> Self {
        Self { measure: Measure::Jaccard(categories) }
    }

    /// `w·cosine + (1 − w)·jaccard`. Errors: [`Error::InvalidArgument`] unless `0 ≤ w ≤ 1`,
    /// [`Error::LengthMismatch`] when the two inputs cover different numbers of candidates.
    pub fn mixed(
        embeddings: Embeddings,
        categories: Categories,
        cosine_weight: f64,
    ) -> Result<Self> {
        if !(0.0..=1.0).contains(&cosine_weight) {
            return Err(Error::InvalidArgument {
                name: "cosine_weight",
                reason: format!("{cosine_weight} is outside [0, 1]"),
            });
        }
        if categories.len() != embeddings.len() {
            return Err(Error::LengthMismatch {
                what: "categories",
                expected: embeddings.len(),
                received: categories.len(),
            });
        }
        Ok(Self { measure: Measure::Mixed { embeddings, categories, cosine_weight } })
    }

    /// Number of candidates covered.
    pub fn len(&self) -> usize {
        match &self.measure {
            Measure::Cosine(e) | Measure::Mixed { embeddings: e, .. } => e.len(),
            Measure::Jaccard(c) => c.len(),
        }
    }

    /// Always `false`: every measure is built from a non-empty input.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Similarity of candidates `i` and `j` (symmetric; 1 on the diagonal).
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        match &self.measure {
            Measure::Cosine(e) => e.cosine(i, j),
            Measure::Jaccard(c) => c.jaccard(i, j),
            Measure::Mixed { embeddings, categories, cosine_weight } => {
                cosine_weight * embeddings.cosine(i, j)
                    + (1.0 - cosine_weight) * categories.jaccard(i, j)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_matches_the_definition_and_handles_zero_vectors() {
        let e = Embeddings::new(vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0], 2).unwrap();
        assert!((e.cosine(0, 1) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-15);
        assert_eq!(e.cosine(0, 2), 0.0);
        assert_eq!(e.cosine(2, 2), 1.0);
        let rel = e.cosine_to(&[2.0, 0.0]).unwrap();
        assert_eq!(rel[0], 1.0);
        assert_eq!(rel[2], 0.0);
    }

    #[test]
    fn jaccard_counts_shared_categories() {
        let c = Categories::new(vec![vec![1, 2, 3], vec![3, 2, 2, 4], vec![], vec![]]).unwrap();
        assert_eq!(c.jaccard(0, 1), 2.0 / 4.0);
        assert_eq!(c.jaccard(2, 3), 0.0);
        assert_eq!(c.jaccard(2, 2), 1.0);
    }

    #[test]
    fn mixed_weights_the_two_measures() {
        let e = Embeddings::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        let c = Categories::new(vec![vec![7], vec![7]]).unwrap();
        let s = Similarity::mixed(e.clone(), c.clone(), 0.25).unwrap();
        assert_eq!(s.get(0, 1), 0.75);
        assert!(matches!(
            Similarity::mixed(e.clone(), c, 1.5),
            Err(Error::InvalidArgument { name: "cosine_weight", .. })
        ));
        let short = Categories::new(vec![vec![1]]).unwrap();
        assert_eq!(
            Similarity::mixed(e, short, 0.5),
            Err(Error::LengthMismatch { what: "categories", expected: 2, received: 1 })
        );
    }

    #[test]
    fn bad_embeddings_are_typed_errors() {
        assert_eq!(Embeddings::new(vec![], 2), Err(Error::NoCandidates));
        assert!(matches!(Embeddings::new(vec![1.0], 0), Err(Error::InvalidArgument { .. })));
        assert_eq!(
            Embeddings::new(vec![1.0; 3], 2),
            Err(Error::ShapeMismatch { what: "embeddings", len: 3, dim: 2 })
        );
        assert_eq!(
            Embeddings::new(vec![1.0, f64::NAN], 2),
            Err(Error::NonFinite { what: "embeddings", position: 1 })
        );
        let e = Embeddings::new(vec![1.0, 2.0], 2).unwrap();
        assert_eq!(e.cosine_to(&[1.0]), Err(Error::DimensionMismatch { expected: 2, received: 1 }));
        assert_eq!(
            e.cosine_to(&[1.0, f64::INFINITY]),
            Err(Error::NonFinite { what: "query", position: 1 })
        );
        assert_eq!(Categories::new(vec![]), Err(Error::NoCandidates));
    }
}
