//! Retries, in one place: the backoff formula ([`backoff`], shared with the Graph client and the
//! batch engine), the attempt/time stop rule ([`budget`]), the per-source policies ([`policy`],
//! MSAL.NET's, protocol spec §4.1), the one retry loop ([`drive`](fn@drive)) and its token-acquisition
//! caller ([`run`]): every sleep goes through the injected [`Clock`], every attempt gets a
//! timeout of at most [`MAX_ATTEMPT_TIMEOUT`], and the whole acquisition is bounded. `Retry-After` parsing lives with the HTTP code ([`crate::http::retry_after`](mod@crate::http::retry_after)).

pub mod backoff;
pub mod budget;
pub mod drive;
pub mod policy;

pub use backoff::{Backoff, Jitter};
pub use budget::Budget;
pub use drive::drive;
pub use policy::RetryPolicy;

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};

/// Upper bound of one attempt (connect + answer).
pub const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt failed in a way a policy may retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The endpoint answered with this HTTP status.
    Status(u16),
    /// The endpoint accepted the connection but did not answer in time.
    Timeout,
}

/// The outcome of one attempt.
#[derive(Debug)]
pub enum Attempt<T> {
    Success(T),
    /// Not retried (identity not found, connection refused, garbage…).
    Fatal(Error),
    /// Retried while the policy and the time budget allow; `error` is returned otherwise.
    Retriable {
        failure: Failure,
        error: Error,
        retry_after: Option<Duration>,
    },
}

/// Runs `attempt` until it succeeds, fails fatally, or the policy or the `timeout` budget (measured
/// on `clock`) runs out. `attempt` receives its own timeout (≤ [`MAX_ATTEMPT_TIMEOUT`] and ≤ the
/// time left). `on_retry` is told about each retry (for verbose output). `target` names the
/// endpoint in the Timeout error. The loop is [`drive`](fn@drive)'s, the one every retry uses; the policy
/// (per-status counts, the IMDS 410 schedule) and the deadline are this caller's judgement.
pub async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    timeout: Duration,
    target: &str,
    on_retry: &(dyn Fn(String) + Send + Sync),
    mut attempt: F,
) -> Result<T>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let deadline = clock.now() + timeout;
    let remaining = |now: SystemTime| deadline.duration_since(now).unwrap_or(Duration::ZERO);
    let mut first = None;
    // The deadline and the policy decide; drive's own budget never binds.
    let unbounded = Budget::new(u32::MAX, Duration::MAX);
    let (attempts, last) = drive(
        clock,
        unbounded,
        |n| {
            let left = remaining(clock.now());
            let sent = (!left.is_zero()).then(|| attempt(left.min(MAX_ATTEMPT_TIMEOUT)));
            async move {
                match sent {
                    Some(sent) => (n, Some(sent.await)),
                    None => (n, None),
                }
            }
        },
        |(n, last), _| {
            let Some(Attempt::Retriable {
                failure,
                error,
                retry_after,
            }) = last
            else {
                return None;
            };
            let first = *first.get_or_insert(*failure);
            let delay = policy.delay(n - 1, first, *retry_after)?;
            if delay >= remaining(clock.now()) {
                return None;
            }
            on_retry(format!(
                "{} Retrying in {} (retry {n} of at most {}).",
                error.message,
                seconds(delay),
                policy.max_retries_after(first)
            ));
            Some(delay)
        },
    )
    .await;
    match last {
        // No time was left for this attempt.
        None => Err(out_of_time(target, timeout, attempts - 1)),
        Some(Attempt::Success(value)) => Ok(value),
        Some(Attempt::Fatal(error)) => Err(error),
        Some(Attempt::Retriable {
            failure,
            error,
            retry_after,
        }) => {
            let first = first.unwrap_or(failure);
            let policy_allows = policy.delay(attempts - 1, first, retry_after).is_some();
            Err(match failure {
                // The policy would retry, the deadline would not.
                Failure::Timeout if policy_allows => out_of_time(target, timeout, attempts),
                _ => gave_up(error, attempts),
            })
        }
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn gave_up(mut error: Error, attempts: u32) -> Error {
    if attempts > 1 {
        error.message = format!("{} (gave up after {attempts} attempts)", error.message);
    }
    error
}

fn out_of_time(target: &str, timeout: Duration, attempts: u32) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "no token from {target} within {} ({attempts} attempt{}); raise {} if the endpoint is just slow",
            seconds(timeout),
            if attempts == 1 { "" } else { "s" },
            crate::input::Input::Timeout
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn status(code: u16, retry_after: Option<Duration>) -> Attempt<&'static str> {
        let kind = if code == 429 {
            ErrorKind::Throttled
        } else {
            ErrorKind::ServiceError
        };
        Attempt::Retriable {
            failure: Failure::Status(code),
            error: Error::new(kind, format!("HTTP {code}.")),
            retry_after,
        }
    }

    /// Plays `script` (then succeeds) and returns (result, sleeps, attempt timeouts, verbose lines).
    async fn play(
        policy: RetryPolicy,
        timeout: Duration,
        script: Vec<Attempt<&'static str>>,
    ) -> (
        Result<&'static str>,
        Vec<Duration>,
        Vec<Duration>,
        Vec<String>,
    ) {
        let clock = FakeClock::at_unix(1_700_000_000);
        let script = Mutex::new(VecDeque::from(script));
        let timeouts = Mutex::new(Vec::new());
        let lines = Mutex::new(Vec::new());
        let on_retry = |line: String| lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        let result = run(
            &policy,
            &clock,
            timeout,
            "the IMDS endpoint http://127.0.0.1:9",
            &on_retry,
            |t| {
                timeouts.lock().unwrap_or_else(|e| e.into_inner()).push(t);
                let next = script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                async move { next.unwrap_or(Attempt::Success("token")) }
            },
        )
        .await;
        let timeouts = timeouts.into_inner().unwrap_or_default();
        (
            result,
            clock.sleeps(),
            timeouts,
            lines.into_inner().unwrap_or_default(),
        )
    }

    #[tokio::test]
    async fn imds_backs_off_one_two_four_seconds() {
        let script = vec![status(500, None), status(404, None), status(429, None)];
        let (result, sleeps, timeouts, lines) = play(RetryPolicy::imds(), S(100), script).await;
        assert_eq!(result.ok(), Some("token"));
        assert_eq!(sleeps, vec![S(1), S(2), S(4)]);
        assert_eq!(timeouts, vec![S(10); 4]);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].contains("Retrying in 1 s (retry 1 of at most 3)"),
            "{}",
            lines[0]
        );
    }

    #[tokio::test]
    async fn imds_gives_up_after_three_retries_with_the_last_error() {
        let script = vec![
            status(503, None),
            status(503, None),
            status(503, None),
            status(429, None),
        ];
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(100), script).await;
        let error = result.expect_err("exhausted");
        assert_eq!(error.kind, ErrorKind::Throttled);
        assert!(
            error.message.contains("gave up after 4 attempts"),
            "{}",
            error.message
        );
        assert_eq!(sleeps, vec![S(1), S(2), S(4)]);
    }

    #[tokio::test]
    async fn imds_first_410_waits_ten_seconds_seven_times() {
        let script = (0..8)
            .map(|i| status(if i == 0 { 410 } else { 503 }, None))
            .collect();
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(100), script).await;
        assert_eq!(
            result.map_err(|e| e.kind).err(),
            Some(ErrorKind::ServiceError)
        );
        assert_eq!(sleeps, vec![S(10); 7]);
        // …and succeeds when IMDS comes back within the window.
        let script = (0..5).map(|_| status(410, None)).collect();
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(100), script).await;
        assert_eq!(result.ok(), Some("token"));
        assert_eq!(sleeps, vec![S(10); 5]);
    }

    #[tokio::test]
    async fn a_later_410_keeps_the_normal_schedule() {
        let script = vec![
            status(500, None),
            status(410, None),
            status(410, None),
            status(410, None),
        ];
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(100), script).await;
        assert!(result.is_err());
        assert_eq!(sleeps, vec![S(1), S(2), S(4)]);
    }

    #[tokio::test]
    async fn retry_after_replaces_the_scheduled_delay() {
        let script = vec![
            status(429, Some(S(7))),
            status(503, Some(Duration::ZERO)),
            status(503, None),
            status(429, Some(crate::http::MAX_RETRY_AFTER)),
        ];
        let (result, sleeps, _, _) = play(RetryPolicy::app_service(), S(1000), script).await;
        assert!(result.is_err(), "three retries only");
        assert_eq!(sleeps, vec![S(7), Duration::ZERO, S(4)]);
        let script = vec![status(410, Some(S(3))), status(410, None)];
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(100), script).await;
        assert_eq!(result.ok(), Some("token"));
        assert_eq!(sleeps, vec![S(3), S(10)]);
    }

    #[tokio::test]
    async fn app_service_schedule_and_statuses() {
        let script = vec![status(404, None), status(408, None), status(504, None)];
        let (result, sleeps, _, _) = play(RetryPolicy::app_service(), S(100), script).await;
        assert_eq!(result.ok(), Some("token"));
        assert_eq!(sleeps, vec![S(1), S(2), S(4)]);
        let policy = RetryPolicy::app_service();
        for code in [404, 408, 429, 500, 503, 504] {
            assert!(policy.retries_status(code), "{code}");
        }
        for code in [400, 401, 403, 410, 502, 505] {
            assert!(!policy.retries_status(code), "{code}");
        }
        let imds = RetryPolicy::imds();
        for code in [404, 408, 410, 429, 500, 502, 599] {
            assert!(imds.retries_status(code), "{code}");
        }
        for code in [400, 401, 403, 409] {
            assert!(!imds.retries_status(code), "{code}");
        }
    }

    #[tokio::test]
    async fn fatal_errors_are_not_retried() {
        let script = vec![Attempt::Fatal(Error::new(
            ErrorKind::IdentityNotFound,
            "nope",
        ))];
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(100), script).await;
        assert_eq!(
            result.map_err(|e| e.kind).err(),
            Some(ErrorKind::IdentityNotFound)
        );
        assert!(sleeps.is_empty());
    }

    #[tokio::test]
    async fn the_time_budget_bounds_attempts_and_sleeps() {
        // 3 s budget: attempts get at most the time left; a hang then ends as a Timeout error.
        let timeout = || Attempt::Retriable {
            failure: Failure::Timeout,
            error: Error::new(ErrorKind::Timeout, "slow."),
            retry_after: None,
        };
        let (result, sleeps, timeouts, _) = play(
            RetryPolicy::imds(),
            S(3),
            vec![timeout(), timeout(), timeout()],
        )
        .await;
        let error = result.expect_err("out of time");
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert!(
            error.message.contains("http://127.0.0.1:9") && error.message.contains("within 3 s"),
            "{}",
            error.message
        );
        // 1 s sleep, then 2 s would reach the deadline (fake time only moves on sleeps).
        assert_eq!(sleeps, vec![S(1)]);
        assert_eq!(timeouts, vec![S(3), S(2)]);
        // A status failure that cannot be retried in time keeps its own kind.
        let (result, sleeps, _, _) = play(RetryPolicy::imds(), S(5), vec![status(410, None)]).await;
        assert_eq!(
            result.map_err(|e| e.kind).err(),
            Some(ErrorKind::ServiceError)
        );
        assert!(sleeps.is_empty());
    }
}
