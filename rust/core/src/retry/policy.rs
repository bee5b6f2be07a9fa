//! Per-source retry policies (MSAL.NET's, see the protocol spec §4.1): which statuses are
//! retried, how often, and the schedule.

use std::time::Duration;

use super::{Backoff, Failure};

/// Which statuses are retried, how often and how long to wait.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    retry_status: fn(u16) -> bool,
    max_retries: u32,
    /// Exponential schedule without jitter.
    backoff: Backoff,
    /// When the *first* failure is HTTP 410 (IMDS being updated): `(retries, fixed delay)`.
    gone: Option<(u32, Duration)>,
}

fn imds_status(status: u16) -> bool {
    matches!(status, 404 | 408 | 410 | 429) || (500..=599).contains(&status)
}

fn app_service_status(status: u16) -> bool {
    matches!(status, 404 | 408 | 429 | 500 | 503 | 504)
}

impl RetryPolicy {
    /// IMDS (MSAL.NET `ImdsRetryPolicy`): 404, 408, 410, 429, 5xx and timeouts; 1 s, 2 s, 4 s;
    /// when the first failure is 410, up to 7 retries 10 s apart.
    pub fn imds() -> Self {
        Self {
            retry_status: imds_status,
            max_retries: 3,
            backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(4)),
            gone: Some((7, Duration::from_secs(10))),
        }
    }

    /// App Service, Functions and Automation (MSAL.NET `DefaultRetryPolicy`): 404, 408, 429,
    /// 500, 503, 504 and timeouts; 3 retries, 1 s, 2 s, 4 s.
    pub fn app_service() -> Self {
        Self {
            retry_status: app_service_status,
            max_retries: 3,
            backoff: Backoff::exponential(Duration::from_secs(1), Duration::from_secs(4)),
            gone: None,
        }
    }

    /// The retry budget once `first` was the first failure (the 410 schedule has its own).
    pub fn max_retries_after(&self, first: Failure) -> u32 {
        match (first, self.gone) {
            (Failure::Status(410), Some((max, _))) => max,
            _ => self.max_retries,
        }
    }

    pub fn retries_status(&self, status: u16) -> bool {
        (self.retry_status)(status)
    }

    /// The wait before the next retry, or `None` when the budget is spent. `retries_done` counts
    /// retries already made; `first` is the first failure of this acquisition; a `Retry-After`
    /// value (already capped by [`crate::http::MAX_RETRY_AFTER`]) replaces the schedule's delay.
    pub fn delay(
        &self,
        retries_done: u32,
        first: Failure,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let scheduled = match (first, self.gone) {
            (Failure::Status(410), Some((max, delay))) => (retries_done < max).then_some(delay),
            _ if retries_done < self.max_retries => Some(self.backoff.ceiling(retries_done)),
            _ => None,
        }?;
        Some(
            retry_after
                .unwrap_or(scheduled)
                .min(crate::http::MAX_RETRY_AFTER),
        )
    }
}
