//! The backoff formula every retry loop uses: `base × 2^n` capped at `cap`, either as is
//! (managed-identity sources, MSAL.NET's schedule) or with full jitter (Graph, as its
//! throttling guidance asks), drawn uniformly from `[0, base × 2^n]`.

use std::sync::Mutex;
use std::time::Duration;

/// An exponential backoff schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    full_jitter: bool,
}

impl Backoff {
    /// `base`, `2 × base`, `4 × base`… capped at `cap`.
    pub const fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            full_jitter: false,
        }
    }

    /// A uniform draw from `[0, min(base × 2^n, cap)]`.
    pub const fn full_jitter(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            full_jitter: true,
        }
    }

    /// The ceiling of the wait before retry number `retries_done + 1`.
    pub fn ceiling(&self, retries_done: u32) -> Duration {
        let factor = 1u32.checked_shl(retries_done.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry number `retries_done + 1`.
    pub fn delay(&self, retries_done: u32, rng: &Jitter) -> Duration {
        let ceiling = self.ceiling(retries_done);
        if self.full_jitter {
            ceiling.mul_f64(rng.fraction())
        } else {
            ceiling
        }
    }
}

/// The random source of jittered backoffs (fastrand's wyrand; not for secrets).
#[derive(Debug)]
pub struct Jitter(Mutex<fastrand::Rng>);

impl Jitter {
    pub fn new() -> Self {
        Self(Mutex::new(fastrand::Rng::new()))
    }

    /// Uniform in `[0, 1)`.
    pub fn fraction(&self) -> f64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).f64()
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let b = Backoff::exponential(S(1), S(4));
        let jitter = Jitter::new();
        let delays: Vec<Duration> = (0..5).map(|n| b.delay(n, &jitter)).collect();
        assert_eq!(delays, vec![S(1), S(2), S(4), S(4), S(4)]);
        assert_eq!(b.ceiling(u32::MAX), S(4), "no overflow");
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling() {
        let b = Backoff::full_jitter(S(1), S(30));
        let jitter = Jitter::new();
        for n in 0..40 {
            let d = b.delay(n, &jitter);
            assert!(d <= b.ceiling(n), "{n}: {d:?}");
        }
        assert_eq!(b.ceiling(10), S(30));
        let draws: std::collections::HashSet<Duration> =
            (0..20).map(|_| b.delay(3, &jitter)).collect();
        assert!(draws.len() > 1, "jittered");
    }
}
