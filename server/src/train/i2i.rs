//! Item-to-item neighbour lists: ItemCF with popularity penalty, and Swing.
//!
//! Both read per-user item sets (catalogue rows, deduplicated) and return the top-`K`
//! neighbours of every item, best first, padded with [`NO_NEIGHBOR`].

use edgerec::bundle::manifest::NO_NEIGHBOR;

/// Top-`K` neighbour lists, `[items, K]` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    /// `K`.
    pub k: usize,
    /// Neighbour rows, [`NO_NEIGHBOR`] where a row has fewer than `K`.
    pub ids: Vec<u32>,
    /// Their scores (0 for padding).
    pub scores: Vec<f32>,
}

impl Neighbours {
    /// The non-padding neighbours of `item`.
    pub fn of(&self, item: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
        let r = item * self.k..(item + 1) * self.k;
        self.ids[r.clone()]
            .iter()
            .zip(&self.scores[r])
            .filter(|(id, _)| **id != NO_NEIGHBOR)
            .map(|(id, s)| (*id, *s))
    }
}

/// Accumulates into a dense scratch row and keeps the touched columns.
struct Scratch {
    acc: Vec<f32>,
    touched: Vec<u32>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Self { acc: vec![0.0; n], touched: Vec::new() }
    }
    fn add(&mut self, j: u32, w: f32) {
        let a = &mut self.acc[j as usize];
        if *a == 0.0 {
            self.touched.push(j);
        }
        *a += w;
    }
    /// Drains into the top `k` by `score(j, acc)` (ties to the lower row).
    fn top(&mut self, k: usize, score: impl Fn(u32, f32) -> f32, ids: &mut [u32], out: &mut [f32]) {
        let scored: Vec<(f32, u32)> =
            self.touched.iter().map(|&j| (score(j, self.acc[j as usize]), j)).collect();
        for &j in &self.touched {
            self.acc[j as usize] = 0.0;
        }
        self.touched.clear();
        for (slot, (s, j)) in best_first(scored, k, f32::total_cmp).into_iter().enumerate() {
            ids[slot] = j;
            out[slot] = s;
        }
    }
}

/// The `k` largest `(score, row)` pairs, best first, ties to the lower row (`cmp` orders scores).
pub(crate) fn best_first<S>(
    mut scored: Vec<(S, u32)>,
    k: usize,
    cmp: impl Fn(&S, &S) -> std::cmp::Ordering,
) -> Vec<(S, u32)> {
    let order = |a: &(S, u32), b: &(S, u32)| cmp(&b.0, &a.0).then(a.1.cmp(&b.1));
    let k = k.min(scored.len());
    if k < scored.len() {
        scored.select_nth_unstable_by(k, order);
        scored.truncate(k);
    }
    scored.sort_unstable_by(order);
    scored
}

fn item_users(user_items: &[Vec<u32>], n_items: usize) -> Vec<Vec<u32>> {
    let mut iu = vec![Vec::new(); n_items];
    for (u, items) in user_items.iter().enumerate() {
        for &i in items {
            iu[i as usize].push(u as u32);
        }
    }
    iu
}

/// ItemCF (Sarwar et al. WWW 2001; Linden et al. 2003) with two penalties:
/// users are weighted by inverse user frequency `1 / ln(1 + |I_u|)` (Breese et al. 1998: a
/// heavy user's co-occurrences say less), and the co-occurrence is divided by
/// `n_i^(1−α) · n_j^α`, where `α > 0.5` pushes popular neighbours down harder
/// (α = 0.5 is cosine).
pub fn item_cf(user_items: &[Vec<u32>], n_items: usize, k: usize, alpha: f32) -> Neighbours {
    let iu = item_users(user_items, n_items);
    let n: Vec<f32> = iu.iter().map(|u| u.len() as f32).collect();
    let w: Vec<f32> = user_items.iter().map(|i| 1.0 / (1.0 + i.len() as f32).ln()).collect();
    let mut ids = vec![NO_NEIGHBOR; n_items * k];
    let mut scores = vec![0.0; n_items * k];
    let mut scratch = Scratch::new(n_items);
    for i in 0..n_items {
        for &u in &iu[i] {
            for &j in &user_items[u as usize] {
                if j as usize != i {
                    scratch.add(j, w[u as usize]);
                }
            }
        }
        let ni = n[i].powf(1.0 - alpha);
        scratch.top(
            k,
            |j, c| c / (ni * n[j as usize].powf(alpha)).max(1e-12),
            &mut ids[i * k..(i + 1) * k],
            &mut scores[i * k..(i + 1) * k],
        );
    }
    Neighbours { k, ids, scores }
}

/// Swing (Yang et al., "Large Scale Product Graph Construction for Recommendation in
/// E-commerce", 2020): `s(i, j) = Σ_{u,v ∈ U_i ∩ U_j} w_u w_v / (α + |I_u ∩ I_v|)` with
/// `w_u = (|I_u| + 5)^−0.35`. A pair of users who share little besides `i` and `j` is strong
/// evidence; a pair who share everything is not. To bound the cost, each user's set is cut
/// to its `max_items` most recent items and each item to its first `max_users` users (the
/// paper samples likewise).
pub fn swing(
    user_items_recent: &[Vec<u32>],
    n_items: usize,
    k: usize,
    alpha: f32,
    max_users: usize,
    max_items: usize,
) -> Neighbours {
    let sets: Vec<&[u32]> =
        user_items_recent.iter().map(|s| &s[s.len().saturating_sub(max_items)..]).collect();
    let owned: Vec<Vec<u32>> = sets.iter().map(|s| s.to_vec()).collect();
    let iu = item_users(&owned, n_items);
    let w: Vec<f32> = sets.iter().map(|s| (s.len() as f32 + 5.0).powf(-0.35)).collect();
    let mut ids = vec![NO_NEIGHBOR; n_items * k];
    let mut scores = vec![0.0; n_items * k];
    let mut scratch = Scratch::new(n_items);
    let mut mark = vec![u32::MAX; n_items];
    let mut common = Vec::new();
    for i in 0..n_items {
        let users = &iu[i][..iu[i].len().min(max_users)];
        for (a, &u) in users.iter().enumerate() {
            for &x in sets[u as usize] {
                mark[x as usize] = u;
            }
            for &v in &users[a + 1..] {
                common.clear();
                common.extend(sets[v as usize].iter().copied().filter(|x| mark[*x as usize] == u));
                let c = w[u as usize] * w[v as usize] / (alpha + common.len() as f32);
                for &j in &common {
                    if j as usize != i {
                        scratch.add(j, c);
                    }
                }
            }
        }
        // Reset marks of this item's users (a stale mark with the same user id is harmless:
        // it is overwritten before it is read again for that user).
        scratch.top(k, |_, s| s, &mut ids[i * k..(i + 1) * k], &mut scores[i * k..(i + 1) * k]);
    }
    Neighbours { k, ids, scores }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itemcf_links_co_consumed_items() {
        // Items 0 and 1 always together; 2 alone with 0 once.
        let users = vec![vec![0, 1], vec![0, 1], vec![0, 2], vec![3]];
        let nb = item_cf(&users, 4, 2, 0.5);
        let first: Vec<u32> = nb.of(1).map(|(j, _)| j).collect();
        assert_eq!(first, [0]);
        assert_eq!(nb.of(0).next().map(|(j, _)| j), Some(1));
        assert_eq!(nb.of(3).count(), 0);
    }

    #[test]
    fn swing_needs_two_users() {
        let users = vec![vec![0, 1], vec![0, 1, 2], vec![2]];
        let nb = swing(&users, 3, 2, 1.0, 50, 100);
        assert_eq!(nb.of(0).next().map(|(j, _)| j), Some(1));
        assert_eq!(nb.of(2).count(), 0);
    }
}
