//! The reconnect delay schedule: exponential growth, capped, with full jitter.

/// Delay schedule between reconnect attempts.
///
/// The ceiling for attempt `n` (1-based) is `min(max_ms, min_ms × factorⁿ)`. With jitter the
/// delay is drawn uniformly from `[min_ms, ceiling]`, so tabs that lost the same server do not
/// all come back at the same instant; without jitter it is the ceiling itself.
///
/// ```
/// use heartline::{Backoff, Rng};
/// let backoff = Backoff { min_ms: 1_000, max_ms: 30_000, factor: 2.0, jitter: false };
/// let mut rng = Rng::new(1);
/// assert_eq!(backoff.delay_ms(1, &mut rng), 2_000);
/// assert_eq!(backoff.delay_ms(10, &mut rng), 30_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Shortest delay, in ms.
    pub min_ms: u64,
    /// Longest delay, in ms.
    pub max_ms: u64,
    /// Growth per attempt (≥ 1).
    pub factor: f64,
    /// Draw each delay at random below its ceiling (full jitter).
    pub jitter: bool,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min_ms: 1_000,
            max_ms: 30_000,
            factor: 2.0,
            jitter: true,
        }
    }
}

impl Backoff {
    /// The upper bound of the delay before attempt `attempt` (1-based).
    ///
    /// ```
    /// let backoff = heartline::Backoff::default();
    /// assert_eq!(backoff.ceiling_ms(1), 2_000);
    /// assert_eq!(backoff.ceiling_ms(20), 30_000);
    /// ```
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let max = self.max_ms.max(self.min_ms);
        let grown = self.min_ms as f64 * self.factor.max(1.0).powi(attempt.min(64) as i32);
        if grown.is_finite() && grown < max as f64 {
            grown as u64
        } else {
            max
        }
    }

    /// The delay before attempt `attempt` (1-based).
    ///
    /// ```
    /// let backoff = heartline::Backoff::default();
    /// let delay = backoff.delay_ms(1, &mut heartline::Rng::new(3));
    /// assert!((1_000..=2_000).contains(&delay));
    /// ```
    pub fn delay_ms(&self, attempt: u32, rng: &mut Rng) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        if !self.jitter || ceiling <= self.min_ms {
            return ceiling;
        }
        self.min_ms + rng.below((ceiling - self.min_ms).saturating_add(1))
    }
}

/// A small seeded random generator (xorshift64*): deterministic in tests, seeded from
/// `Math.random()` in the browser.
///
/// ```
/// use heartline::Rng;
/// let (mut a, mut b) = (Rng::new(7), Rng::new(7));
/// assert_eq!(a.below(100), b.below(100));
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced, since xorshift would stay at 0).
    ///
    /// ```
    /// let mut rng = heartline::Rng::new(0);
    /// assert_ne!(rng.next_u64(), 0);
    /// ```
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    ///
    /// ```
    /// let mut rng = heartline::Rng::new(5);
    /// assert_ne!(rng.next_u64(), rng.next_u64());
    /// ```
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    ///
    /// ```
    /// let mut rng = heartline::Rng::new(5);
    /// assert!(rng.below(10) < 10);
    /// ```
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_grows_by_factor_and_stops_at_max() {
        let backoff = Backoff {
            min_ms: 1_000,
            max_ms: 10_000,
            factor: 2.0,
            jitter: false,
        };
        let ceilings: Vec<u64> = (1..=6).map(|n| backoff.ceiling_ms(n)).collect();
        assert_eq!(ceilings, [2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
        // Huge attempt numbers neither overflow nor exceed the cap.
        assert_eq!(backoff.ceiling_ms(u32::MAX), 10_000);
    }

    #[test]
    fn jittered_delays_stay_within_floor_and_ceiling_and_spread() {
        let backoff = Backoff {
            min_ms: 1_000,
            max_ms: 30_000,
            factor: 1.5,
            jitter: true,
        };
        let mut rng = Rng::new(42);
        for attempt in 1..=20 {
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let delay = backoff.delay_ms(attempt, &mut rng);
                assert!(
                    (1_000..=backoff.ceiling_ms(attempt)).contains(&delay),
                    "{attempt}: {delay}"
                );
                seen.insert(delay);
            }
            assert!(
                seen.len() > 50,
                "attempt {attempt}: delays do not spread: {}",
                seen.len()
            );
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let backoff = Backoff::default();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (1..10)
                .map(|n| backoff.delay_ms(n, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn factor_below_one_and_max_below_min_are_tamed() {
        let backoff = Backoff {
            min_ms: 500,
            max_ms: 100,
            factor: 0.5,
            jitter: true,
        };
        assert_eq!(backoff.delay_ms(3, &mut Rng::new(1)), 500);
    }
}
