//! The one pseudo-random generator of the SDK: seedable and platform-independent, so the
//! exploration slots, the user model's negative sampling and every test replay the same stream
//! natively and in the browser (`rand`'s `SmallRng` changes algorithm on 32-bit wasm).

/// A small, seedable, platform-independent PRNG: xoshiro256++ (Blackman & Vigna 2018), state
/// expanded from a `u64` seed with SplitMix64 — the same stream as `rand`'s 64-bit `SmallRng`
/// seeded with `seed_from_u64`, on every target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededRng {
    s: [u64; 4],
}

impl SeededRng {
    /// A generator seeded with `seed` (e.g. a hash of the user and the request counter).
    pub fn new(seed: u64) -> Self {
        const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut state = seed;
        let mut s = [0u64; 4];
        for word in &mut s {
            state = state.wrapping_add(PHI);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *word = z ^ (z >> 31);
        }
        Self { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// A uniform draw from `0..n` (Lemire's multiply-shift, "Fast random integer generation in
    /// an interval", 2019, without the rejection step: the bias is below `n / 2^64`). 0 for
    /// `n = 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform draw from the open interval `(0, 1)` (53 random bits, never 0, so `ln` is
    /// finite).
    pub fn next_f64(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Box–Muller; the second value is discarded to keep no state).
    fn normal(&mut self) -> f64 {
        let r = (-2.0 * self.next_f64().ln()).sqrt();
        r * (core::f64::consts::TAU * self.next_f64()).cos()
    }

    /// A `Gamma(shape, 1)` draw, `shape > 0` (Marsaglia & Tsang 2000; for `shape < 1` the
    /// boost `Gamma(shape + 1) · U^(1/shape)` from the same paper).
    fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.next_f64();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        // Acceptance is above 95% for every shape ≥ 1, so the loop ends after a few rounds.
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.next_f64();
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
                return d * v;
            }
        }
    }

    /// A `Beta(a, b)` draw for finite `a, b > 0`, in `[0, 1]`. Returns the mean `a / (a + b)`
    /// in the (astronomically unlikely) case both gamma draws underflow to 0, and NaN for
    /// parameters outside the domain.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        if !(a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0) {
            return f64::NAN;
        }
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y > 0.0 { x / (x + y) } else { a / (a + b) }
    }
}
