//! Orderings shared by every stage, through one sort.
//!
//! Rust's slice sorts are generic: every `sort_by` with its own closure or element type is a
//! separate copy of the sort algorithm, several KB of wasm each. The crate had about thirty such
//! copies — 143 KB, an eighth of the module the browser downloads. The orderings the funnel needs
//! are all "by a number, then by an index": here each element gets a `(u64, u32)` key that
//! sorts in that order, and [`sort_keys`] — the only sort instantiation — sorts the keys.
//!
//! [`desc_f32`] / [`asc_f32`] / [`desc_f64`] map floats to unsigned integers whose ascending order
//! is the float's [`f32::total_cmp`] order (descending or ascending), so every comparison is
//! the one the code used before, ties included.

/// `x`'s position in [`f32::total_cmp`] order, as an unsigned integer (ascending).
#[inline]
pub fn asc_f32(x: f32) -> u32 {
    let bits = x.to_bits();
    // Negative floats compare in reverse of their bits; flipping all of them reverses that, and
    // setting the sign bit of the positives puts them above every negative.
    if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 }
}

/// Ascending in this key is descending in `x` ([`f32::total_cmp`] order).
#[inline]
pub fn desc_f32(x: f32) -> u32 {
    !asc_f32(x)
}

/// Ascending in this key is descending in `x` ([`f64::total_cmp`] order).
#[inline]
pub fn desc_f64(x: f64) -> u64 {
    let bits = x.to_bits();
    !(if bits >> 63 == 1 { !bits } else { bits | (1 << 63) })
}

/// Ascending in this key is ascending in `x` ([`f64::total_cmp`] order).
#[inline]
pub fn asc_f64(x: f64) -> u64 {
    !desc_f64(x)
}

/// `(high, low)` as one key: ordered by `high`, then by `low`.
#[inline]
pub fn pair(high: u32, low: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(low)
}

/// Sorts `keys` ascending: by the `u64`, then the `u32`. The one sort of the crate's hot and
/// cold paths alike; not inlined, so every caller shares it.
#[inline(never)]
pub fn sort_keys(keys: &mut [(u64, u32)]) {
    keys.sort_unstable();
}

/// Rows `0..values.len()` by value descending, ties to the lower row.
pub fn rows_by_desc(values: &[f32]) -> Vec<u32> {
    let mut keys: Vec<(u64, u32)> =
        values.iter().enumerate().map(|(row, &v)| (u64::from(desc_f32(v)), row as u32)).collect();
    sort_keys(&mut keys);
    keys.into_iter().map(|(_, row)| row).collect()
}

/// Indices `0..values.len()` by value descending, ties to the lower index.
pub fn indices_by_desc_f64(values: &[f64]) -> Vec<usize> {
    let mut keys: Vec<(u64, u32)> =
        values.iter().enumerate().map(|(i, &v)| (desc_f64(v), i as u32)).collect();
    sort_keys(&mut keys);
    keys.into_iter().map(|(_, i)| i as usize).collect()
}

/// Sorts `rows` by `key(row)` ascending, ties to the lower row.
pub fn sort_rows_by(rows: &mut [u32], key: impl Fn(u32) -> u64) {
    let mut keys: Vec<(u64, u32)> = rows.iter().map(|&row| (key(row), row)).collect();
    sort_keys(&mut keys);
    for (slot, (_, row)) in rows.iter_mut().zip(keys) {
        *slot = row;
    }
}

/// Sorts `(row, score)` pairs by score descending, ties to the lower row.
pub fn sort_scored_desc(pairs: &mut [(u32, f32)]) {
    sort_copies_by(pairs, |&(row, score)| pair(desc_f32(score), row));
}

/// Sorts `(score, id)` pairs best first as top-k results are ranked
/// ([`crate::compute::TopK`]): score descending with `-0.0` equal to `0.0`, then the lower id.
pub fn sort_ranked(scored: &mut [(f32, u32)]) {
    // `+ 0.0` turns -0.0 into 0.0 (and leaves everything else as it is).
    sort_copies_by(scored, |&(score, id)| pair(desc_f32(score + 0.0), id));
}

/// Sorts `items` by `key` ascending, ties in their order, through [`sort_keys`].
fn sort_copies_by<T: Copy>(items: &mut [T], key: impl Fn(&T) -> u64) {
    let mut keys: Vec<(u64, u32)> =
        items.iter().enumerate().map(|(i, item)| (key(item), i as u32)).collect();
    sort_keys(&mut keys);
    let before = items.to_vec();
    for (slot, (_, i)) in items.iter_mut().zip(keys) {
        *slot = before[i as usize];
    }
}

/// Sorts `items` by `key` ascending, stable (equal keys keep their order).
pub fn sort_by_key_stable<T>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    let mut keys: Vec<(u64, u32)> =
        items.iter().enumerate().map(|(i, item)| (key(item), i as u32)).collect();
    sort_keys(&mut keys);
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(keys.iter().filter_map(|&(_, i)| slots[i as usize].take()));
}

/// The median of `samples` (the upper one of an even count), `NaN` when empty.
pub fn median(samples: &[f64]) -> f64 {
    let mut keys: Vec<(u64, u32)> =
        samples.iter().enumerate().map(|(i, &x)| (asc_f64(x), i as u32)).collect();
    sort_keys(&mut keys);
    keys.get(keys.len() / 2).map_or(f64::NAN, |&(_, i)| samples[i as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD: [f32; 10] =
        [0.5, -0.0, 0.0, f32::NEG_INFINITY, -1.5, f32::INFINITY, 1e-40, -1e-40, 0.5, 2.0];

    #[test]
    fn float_keys_follow_total_cmp() {
        for a in AWKWARD {
            for b in AWKWARD {
                assert_eq!(asc_f32(a).cmp(&asc_f32(b)), a.total_cmp(&b), "{a} vs {b}");
                assert_eq!(desc_f32(a).cmp(&desc_f32(b)), b.total_cmp(&a), "{a} vs {b}");
                let (a, b) = (f64::from(a), f64::from(b));
                assert_eq!(desc_f64(a).cmp(&desc_f64(b)), b.total_cmp(&a), "{a} vs {b}");
                assert_eq!(asc_f64(a).cmp(&asc_f64(b)), a.total_cmp(&b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn orderings_equal_the_comparator_sorts_they_replace() {
        let values: Vec<f32> = AWKWARD.iter().chain(&AWKWARD[..4]).copied().collect();
        let mut expected: Vec<u32> = (0..values.len() as u32).collect();
        expected
            .sort_by(|&a, &b| values[b as usize].total_cmp(&values[a as usize]).then(a.cmp(&b)));
        assert_eq!(rows_by_desc(&values), expected);
        let wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let expected: Vec<usize> = expected.iter().map(|&i| i as usize).collect();
        assert_eq!(indices_by_desc_f64(&wide), expected);

        let mut pairs: Vec<(u32, f32)> =
            values.iter().enumerate().map(|(i, &v)| ((i as u32 * 7) % 5, v)).collect();
        let mut want = pairs.clone();
        want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        sort_scored_desc(&mut pairs);
        assert_eq!(
            pairs.iter().map(|&(r, s)| (r, s.to_bits())).collect::<Vec<_>>(),
            want.iter().map(|&(r, s)| (r, s.to_bits())).collect::<Vec<_>>()
        );

        let mut items: Vec<(u8, char)> = vec![(2, 'a'), (1, 'b'), (2, 'c'), (0, 'd'), (1, 'e')];
        let mut want = items.clone();
        want.sort_by_key(|x| x.0);
        sort_by_key_stable(&mut items, |x| u64::from(x.0));
        assert_eq!(items, want);

        let mut ranked: Vec<(f32, u32)> = vec![(0.0, 3), (1.0, 2), (-0.0, 1), (1.0, 0), (-2.0, 4)];
        let mut want = ranked.clone();
        want.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
        sort_ranked(&mut ranked);
        assert_eq!(
            ranked.iter().map(|&(s, i)| (s.to_bits(), i)).collect::<Vec<_>>(),
            want.iter().map(|&(s, i)| (s.to_bits(), i)).collect::<Vec<_>>()
        );

        let mut rows = vec![4, 1, 3, 0, 2];
        sort_rows_by(&mut rows, |r| u64::from(r % 2));
        assert_eq!(rows, vec![0, 2, 4, 1, 3]);

        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(&[]).is_nan());
    }
}
