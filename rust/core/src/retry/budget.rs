//! The stop rule of the service clients' retries (one request in `GraphClient::send`, ARM and
//! Entra through `drive`, one `$batch` item in the batch engine): another attempt is allowed while
//! fewer than `max_attempts` were made and the next wait still ends inside the time budget
//! measured from the first attempt. Token acquisition (`retry::run`) runs on the same loop with
//! an unbounded budget: its policies count retries per status (the IMDS 410 schedule) and its
//! deadline also bounds each attempt, so its judgement holds both.

use std::time::Duration;

/// Attempts and time one retried request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Attempts in all (the first one included); at least 1.
    pub max_attempts: u32,
    /// Time from the first attempt within which every wait must end.
    pub time: Duration,
}

impl Budget {
    pub fn new(max_attempts: u32, time: Duration) -> Self {
        Budget {
            max_attempts: max_attempts.max(1),
            time,
        }
    }

    /// Whether the next wait of `delay`, `elapsed` after the first attempt, ends inside the time.
    pub fn has_time(&self, elapsed: Duration, delay: Duration) -> bool {
        elapsed.saturating_add(delay) <= self.time
    }

    /// Whether one more attempt may follow `attempts` made ones after waiting `delay`.
    pub fn allows_retry(&self, attempts: u32, elapsed: Duration, delay: Duration) -> bool {
        attempts < self.max_attempts && self.has_time(elapsed, delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn attempts_and_time_both_bound_a_retry() {
        let b = Budget::new(3, 10 * S);
        assert!(b.allows_retry(1, Duration::ZERO, S));
        assert!(
            b.allows_retry(2, 8 * S, 2 * S),
            "a wait ending on the budget is allowed"
        );
        assert!(
            !b.allows_retry(3, Duration::ZERO, Duration::ZERO),
            "attempts spent"
        );
        assert!(
            !b.allows_retry(1, 9 * S, 2 * S),
            "the wait would end after the budget"
        );
        assert!(!b.has_time(Duration::MAX, S), "no overflow");
    }

    #[test]
    fn at_least_one_attempt() {
        assert_eq!(Budget::new(0, S).max_attempts, 1);
    }
}
