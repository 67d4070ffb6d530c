//! Session focus: how strongly the user's recent clicks concentrate on one category, and the
//! rank-stage boost that follows it ([`FocusBoost`]). The focus is the category's *lift* over
//! the catalogue,
//!
//! ```text
//! share(c) = Σ_{seeds with c} w / Σ_seeds w
//! lift(c)  = share(c) / (items with c / items)
//!          · min(1, n_c / EVIDENCE) · clamp((share(c) − CONCENTRATION) / (1 − CONCENTRATION), 0, 1)
//! ```
//!
//! with `w` the seeds' decayed interaction weights and `n_c` the seeds carrying `c`. The focus is
//! the largest lift over the categories of the seeds.
//!
//! **Why lift and not the share.** Real sessions are as concentrated as "five films of one
//! genre" when measured by the top category's *share* of the clicks (on MovieLens' temporal
//! test users, the first five clicks' top-genre share has median 0.25, against 0.33 for five
//! random films of a genre), because most films carry Drama or Comedy. Dividing by the
//! catalogue share separates them: five films of a rare genre (Film-Noir, Western, War,
//! Musical) have a lift of 26–112, which 0–1 % of real sessions reach (their best lift: median
//! 6.0, p90 15.9). So the list can follow a session that clearly asks for one genre without
//! moving the lists of ordinary sessions. The evidence factor keeps one click on a rare-genre film from counting as a focus: the lift
//! reaches its full value from [`EVIDENCE`] clicks of the category on. The concentration factor
//! keeps a session that mixes genres from counting: lift alone cannot tell 2 documentaries among
//! 5 clicks (lift 8.8) from 5 of 5 horror films (lift 10), but the share can — on the same data,
//! 40 % of real first-five-click sessions have a genre with a lift of 8 or more, 4 % when that
//! genre must also make up all the clicks.
//!
//! **History fades it.** With `n` interactions stored, the lift counts `h / (h + n)`,
//! `h` = [`FOCUS_HALF`]: a new user's first clicks are all the evidence there is, while a long
//! history already tells the collaborative channels what the user likes (the usual
//! content/collaborative hybrid). Measured on MovieLens (model card, "Session focus"): without
//! the fade, users with a long history whose last ten items share a genre lose 2 % of
//! validation NDCG@10 on the random split; with it, validation is unchanged, every genre
//! reaches the responsiveness goal, and the replay of real sessions gains next-click NDCG.
//!
//! **The boost.** [`FocusBoost`] multiplies the merged recall score of the candidates of the
//! focus category by `1 + weight · ramp`, `ramp` rising linearly from 0 at lift `from` to 1 at
//! lift `to`. It lifts the *personalised* candidates of the genre (vector, EASE, item-to-item)
//! as well as the category channel's popular ones.

use crate::error::{Error, Result};
use crate::recall::Seed;

/// Seeds of a category from which its lift counts in full (fewer scale it down linearly).
pub const EVIDENCE: f32 = 3.0;
/// The share of the seeds' weight a category needs before its lift counts at all; it counts in
/// full when every seed carries it.
pub const CONCENTRATION: f32 = 0.6;

/// Interactions after which the focus counts half (module docs).
pub const FOCUS_HALF: f32 = 20.0;

/// The rank-stage boost of the focus category's candidates (module docs).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusBoost {
    /// The largest boost: scores are multiplied by up to `1 + weight` (finite, `≥ 0`).
    pub weight: f32,
    /// The lift from which the boost starts (finite, `≥ 0`).
    pub from: f32,
    /// The lift at which it is full (finite, `> from`).
    pub to: f32,
}

impl Default for FocusBoost {
    /// Picked on MovieLens validation splits, the responsiveness measurement and the first 150
    /// users of the session replay (model card, "Session focus").
    fn default() -> Self {
        Self { weight: 1.5, from: 4.0, to: 6.0 }
    }
}

impl FocusBoost {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`Error::InvalidWeight`] for a NaN, infinite or negative weight;
    /// [`Error::InvalidArgument`] unless `0 ≤ from < to`, both finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(Error::InvalidWeight {
                name: "focusBoost.weight".into(),
                value: self.weight,
                reason: "must be finite and ≥ 0".into(),
            });
        }
        if !(self.from.is_finite()
            && self.to.is_finite()
            && self.from >= 0.0
            && self.to > self.from)
        {
            return Err(Error::InvalidArgument {
                name: "focusBoost",
                reason: format!(
                    "lifts from {} to {} must be finite with 0 ≤ from < to",
                    self.from, self.to
                ),
            });
        }
        Ok(())
    }

    /// The score multiplier of a candidate of the focus category, for focus `lift`.
    pub fn factor(&self, lift: f32) -> f32 {
        1.0 + self.weight * ((lift - self.from) / (self.to - self.from)).clamp(0.0, 1.0)
    }
}

/// Each category's share of the catalogue, for [`CategoryPrior::focus`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CategoryPrior {
    share: Vec<f32>,
}

/// The session's most lifted category.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Focus {
    /// Its category number.
    pub category: u32,
    /// Its lift (module docs); 0 when there is no seed.
    pub lift: f32,
}

impl Focus {
    /// The focus of a user with `interactions` stored: the lift times
    /// `FOCUS_HALF / (FOCUS_HALF + interactions)` (module docs).
    pub fn faded(self, interactions: usize) -> Self {
        Self { lift: self.lift * FOCUS_HALF / (FOCUS_HALF + interactions as f32), ..self }
    }
}

impl CategoryPrior {
    /// The shares of `n_categories` categories, from each item's category numbers (numbers at or
    /// past `n_categories` are ignored).
    pub fn new(item_categories: &[Vec<u32>], n_categories: usize) -> Self {
        let mut count = vec![0u32; n_categories];
        for tags in item_categories {
            for &c in tags {
                if let Some(n) = count.get_mut(c as usize) {
                    *n += 1;
                }
            }
        }
        let items = item_categories.len().max(1) as f32;
        Self { share: count.into_iter().map(|n| n as f32 / items).collect() }
    }

    /// The focus of `seeds` (positive weights count; rows past `item_categories` are ignored):
    /// the category with the largest lift, ties to the lower number.
    pub fn focus(&self, seeds: &[Seed], item_categories: &[Vec<u32>]) -> Focus {
        let mut weight = vec![0f32; self.share.len()];
        let mut count = vec![0u32; self.share.len()];
        let mut total = 0f32;
        for seed in seeds.iter().filter(|s| s.weight > 0.0) {
            let Some(tags) = item_categories.get(seed.row as usize) else { continue };
            total += seed.weight;
            for &c in tags {
                if let (Some(w), Some(n)) = (weight.get_mut(c as usize), count.get_mut(c as usize))
                {
                    *w += seed.weight;
                    *n += 1;
                }
            }
        }
        let mut best = Focus::default();
        if total <= 0.0 {
            return best;
        }
        for (c, ((&w, &n), &share)) in weight.iter().zip(&count).zip(&self.share).enumerate() {
            if n == 0 || share <= 0.0 {
                continue;
            }
            let part = w / total;
            let concentration = ((part - CONCENTRATION) / (1.0 - CONCENTRATION)).clamp(0.0, 1.0);
            let lift = part / share * (n as f32 / EVIDENCE).min(1.0) * concentration;
            if lift > best.lift {
                best = Focus { category: c as u32, lift };
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boost_ramps_between_its_lifts_and_history_fades_the_focus() {
        let boost = FocusBoost { weight: 1.0, from: 4.0, to: 6.0 };
        assert_eq!(boost.factor(0.0), 1.0);
        assert_eq!(boost.factor(4.0), 1.0);
        assert_eq!(boost.factor(5.0), 1.5);
        assert_eq!(boost.factor(60.0), 2.0);
        let focus = Focus { category: 3, lift: 10.0 };
        assert_eq!(focus.faded(0), focus);
        assert_eq!(focus.faded(FOCUS_HALF as usize).lift, 5.0);
        assert!(boost.validate().is_ok());
        for (bad, weight_error) in [
            (FocusBoost { weight: f32::NAN, ..boost }, true),
            (FocusBoost { weight: -0.5, ..boost }, true),
            (FocusBoost { to: 4.0, ..boost }, false),
            (FocusBoost { from: -1.0, ..boost }, false),
            (FocusBoost { to: f32::INFINITY, ..boost }, false),
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(matches!(err, Error::InvalidWeight { .. }), weight_error, "{bad:?}: {err}");
            assert_eq!(
                matches!(err, Error::InvalidArgument { .. }),
                !weight_error,
                "{bad:?}: {err}"
            );
        }
    }

    fn seeds(rows: &[u32]) -> Vec<Seed> {
        rows.iter().map(|&row| Seed { row, weight: 1.0 }).collect()
    }

    /// Ten items: category 0 on all, 1 on items 0–4, 2 on item 9 only.
    fn catalogue() -> Vec<Vec<u32>> {
        (0..10)
            .map(|i| match i {
                0..=4 => vec![0, 1],
                9 => vec![0, 2],
                _ => vec![0],
            })
            .collect()
    }

    #[test]
    fn a_rare_category_clicked_repeatedly_has_the_largest_lift() {
        let items = catalogue();
        let prior = CategoryPrior::new(&items, 3);
        // Category 1 covers half the catalogue and every click: lift 2.
        let f = prior.focus(&seeds(&[0, 1, 2]), &items);
        assert_eq!(f.category, 1);
        assert!((f.lift - 2.0).abs() < 1e-6, "{f:?}");
        // Category 0 is on everything: lift 1 at most.
        let f = prior.focus(&seeds(&[5, 6, 7]), &items);
        assert_eq!(f.category, 0);
        assert!((f.lift - 1.0).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn one_click_on_a_rare_category_counts_for_a_third() {
        let items = catalogue();
        let prior = CategoryPrior::new(&items, 3);
        // Item 9 is the only one of category 2 (share 0.1): one click of one → lift 10 / 3.
        let f = prior.focus(&seeds(&[9]), &items);
        assert_eq!(f.category, 2);
        assert!((f.lift - 10.0 / 3.0).abs() < 1e-5, "{f:?}");
    }

    #[test]
    fn weights_count_and_non_positive_or_unknown_seeds_do_not() {
        let items = catalogue();
        let prior = CategoryPrior::new(&items, 3);
        assert_eq!(prior.focus(&[], &items), Focus::default());
        let none = [Seed { row: 0, weight: 0.0 }, Seed { row: 99, weight: 1.0 }];
        assert_eq!(prior.focus(&none, &items), Focus::default());
        // Three clicks on category 1 with weight 1, three elsewhere with weight 3: share 1/4.
        let mixed: Vec<Seed> = [0, 1, 2]
            .iter()
            .map(|&row| Seed { row, weight: 1.0 })
            .chain([5, 6, 7].iter().map(|&row| Seed { row, weight: 3.0 }))
            .collect();
        let f = prior.focus(&mixed, &items);
        assert_eq!(f.category, 0);
        assert!((f.lift - 1.0).abs() < 1e-6, "{f:?}");
        // A rare category among mixed clicks does not count: one of three is below the
        // concentration threshold, so category 0 (on every click) is the focus.
        let f = prior.focus(&seeds(&[9, 5, 6]), &items);
        assert_eq!(f.category, 0);
        assert!((f.lift - 1.0).abs() < 1e-6, "{f:?}");
        // Two of three: share 2/3, concentration (2/3 − 0.6) / 0.4 = 1/6, evidence 2/3.
        let f = prior.focus(&seeds(&[0, 1, 7]), &items);
        assert_eq!(f.category, 0, "category 1's lift (2/3) / 0.5 · 2/3 · 1/6 ≈ 0.15 < 1");
    }
}
