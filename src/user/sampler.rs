//! Negative sampling for the on-device update: draws item rows with probability
//! `Q(i) ∝ max(popularity_i, floor)^power` in O(1) per draw with Walker's alias method, built in
//! O(n) by Vose's algorithm (Vose, "A linear algorithm for generating random numbers with a given
//! distribution", IEEE TSE 1991). The same `Q` feeds the logQ correction of the gradient.

use crate::error::{Error, Result};
use crate::rng::SeededRng;

/// An alias table over the item rows.
#[derive(Debug, Clone, PartialEq)]
pub struct NegativeSampler {
    /// `Q(i)`, summing to 1.
    prob: Vec<f32>,
    /// Probability of keeping column `i` rather than taking its alias.
    keep: Vec<f64>,
    alias: Vec<u32>,
}

impl NegativeSampler {
    /// A sampler with `Q(i) ∝ max(popularity[i], floor)^power` (non-finite popularities count as
    /// `floor`).
    ///
    /// # Errors
    /// [`Error::EmptyIndex`] for no items; [`Error::InvalidArgument`] for a `floor` that is not
    /// finite and positive, a `power` that is not finite and ≥ 0, more than `u32::MAX` items,
    /// or weights whose sum overflows.
    pub fn new(popularity: &[f32], power: f32, floor: f32) -> Result<Self> {
        if popularity.is_empty() {
            return Err(Error::EmptyIndex);
        }
        if u32::try_from(popularity.len()).is_err() {
            return Err(Error::InvalidArgument {
                name: "popularity",
                reason: "more items than u32 rows".into(),
            });
        }
        if !(floor.is_finite() && floor > 0.0) {
            return Err(Error::InvalidArgument {
                name: "popularity_floor",
                reason: "must be finite and > 0".into(),
            });
        }
        if !(power.is_finite() && power >= 0.0) {
            return Err(Error::InvalidArgument {
                name: "popularity_power",
                reason: "must be finite and ≥ 0".into(),
            });
        }
        let weights: Vec<f64> = popularity
            .iter()
            .map(|p| {
                let p = if p.is_finite() { p.max(floor) } else { floor };
                f64::from(p).powf(f64::from(power))
            })
            .collect();
        let total: f64 = weights.iter().sum();
        if !(total.is_finite() && total > 0.0) {
            return Err(Error::InvalidArgument {
                name: "popularity",
                reason: format!("sampling weights sum to {total}"),
            });
        }
        let n = weights.len();
        // Vose: scaled probabilities n·p_i; pair each "small" column with a "large" donor.
        let mut scaled: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        let mut keep = vec![1.0f64; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers (either list) are 1 up to rounding: they keep themselves.
        let prob =
            weights.iter().map(|w| ((w / total) as f32).clamp(f32::MIN_POSITIVE, 1.0)).collect();
        Ok(Self { prob, keep, alias })
    }

    /// Every row equally likely.
    ///
    /// # Errors
    /// As [`NegativeSampler::new`].
    pub fn uniform(rows: usize) -> Result<Self> {
        Self::new(&vec![1.0; rows], 1.0, 1.0)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    /// Always false (a sampler has at least one row).
    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// `Q(row)`, or `None` past the end.
    pub fn probability(&self, row: u32) -> Option<f32> {
        self.prob.get(row as usize).copied()
    }

    /// One draw.
    pub fn draw(&self, rng: &mut SeededRng) -> u32 {
        let n = self.keep.len();
        let column = ((rng.next_f64() * n as f64) as usize).min(n - 1);
        if rng.next_f64() < self.keep[column] { column as u32 } else { self.alias[column] }
    }

    /// The candidates of one sampled-softmax example: `positive` first, then up to `negatives`
    /// draws (with replacement) other than `positive`, with their probabilities `Q`. Fewer
    /// negatives come back only when the positive holds nearly all the mass (rejection gives up
    /// after `16·negatives + 16` draws), and none for a one-item catalogue.
    pub fn sample(
        &self,
        positive: u32,
        negatives: usize,
        rng: &mut SeededRng,
    ) -> (Vec<u32>, Vec<f32>) {
        let mut rows = Vec::with_capacity(negatives + 1);
        rows.push(positive);
        if self.len() > 1 {
            let mut attempts = 16 * negatives + 16;
            while rows.len() <= negatives && attempts > 0 {
                attempts -= 1;
                let row = self.draw(rng);
                if row != positive {
                    rows.push(row);
                }
            }
        }
        let probs =
            rows.iter().map(|r| self.probability(*r).unwrap_or(f32::MIN_POSITIVE)).collect();
        (rows, probs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_distribution() {
        let pop = [0.0, 1.0, 0.5, 0.25, 2.0];
        let s = NegativeSampler::new(&pop, 0.75, 0.01).unwrap();
        let w: Vec<f64> = pop.iter().map(|p: &f32| f64::from(p.max(0.01)).powf(0.75)).collect();
        let total: f64 = w.iter().sum();
        let mut rng = SeededRng::new(7);
        let mut counts = [0usize; 5];
        let draws = 200_000;
        for _ in 0..draws {
            counts[s.draw(&mut rng) as usize] += 1;
        }
        for i in 0..5 {
            let expected = w[i] / total;
            let got = counts[i] as f64 / draws as f64;
            assert!((got - expected).abs() < 0.005, "row {i}: {got} vs {expected}");
            assert!((f64::from(s.probability(i as u32).unwrap()) - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn samples_exclude_the_positive_and_are_deterministic() {
        let s = NegativeSampler::uniform(10).unwrap();
        let (rows, probs) = s.sample(3, 50, &mut SeededRng::new(1));
        assert_eq!(rows[0], 3);
        assert_eq!(rows.len(), 51);
        assert!(rows[1..].iter().all(|r| *r != 3 && *r < 10));
        assert!(probs.iter().all(|q| (q - 0.1).abs() < 1e-7));
        assert_eq!(s.sample(3, 50, &mut SeededRng::new(1)).0, rows);
        // One item: no negatives, no endless loop.
        let one = NegativeSampler::uniform(1).unwrap();
        assert_eq!(one.sample(0, 5, &mut SeededRng::new(1)).0, vec![0]);
        // The positive holds all the mass: rejection gives up.
        let skewed = NegativeSampler::new(&[1.0, 0.0], 30.0, 1e-30).unwrap();
        assert!(skewed.sample(0, 5, &mut SeededRng::new(1)).0.len() <= 6);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert_eq!(NegativeSampler::new(&[], 1.0, 1.0), Err(Error::EmptyIndex));
        assert!(NegativeSampler::new(&[1.0], 1.0, 0.0).is_err());
        assert!(NegativeSampler::new(&[1.0], f32::NAN, 0.1).is_err());
        let nan = NegativeSampler::new(&[f32::NAN, 1.0], 1.0, 1.0).unwrap();
        assert_eq!(nan.probability(0), Some(0.5));
    }
}
