//! The one retry loop: Graph and ARM single requests, Entra's token endpoint and token acquisition
//! from managed-identity endpoints ([`super::run`], whose judgement keeps MSAL's per-status
//! counts and the deadline). Send, let the caller's rule judge the outcome (a wait before the
//! next attempt, or final), and send again while the [`Budget`] allows. Every wait goes through
//! the injected clock. The `$batch` engine schedules per-item retries of many requests at once
//! around the same budget and backoff.

use std::future::Future;
use std::time::Duration;

use super::Budget;
use crate::clock::Clock;

/// Runs `send(attempt)` (attempt counts from 1) until `judge(&outcome, attempt)` says final
/// (`None`) or the budget has no room for the wait it asks for; returns the last outcome.
pub async fn drive<T, S, F, J>(clock: &dyn Clock, budget: Budget, mut send: S, mut judge: J) -> T
where
    S: FnMut(u32) -> F,
    F: Future<Output = T>,
    J: FnMut(&T, u32) -> Option<Duration>,
{
    let started = clock.now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let outcome = send(attempt).await;
        let Some(delay) = judge(&outcome, attempt) else {
            return outcome;
        };
        let elapsed = clock.now().duration_since(started).unwrap_or_default();
        if !budget.allows_retry(attempt, elapsed, delay) {
            return outcome;
        }
        clock.sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;

    #[tokio::test]
    async fn retries_while_judged_and_budgeted() {
        let clock = FakeClock::at_unix(1_000);
        let budget = Budget::new(5, Duration::from_secs(60));
        let out = drive(
            &clock,
            budget,
            |n| async move { n },
            |n, _| (*n < 3).then_some(Duration::from_secs(2)),
        )
        .await;
        assert_eq!(out, 3, "the first outcome judged final is returned");
        assert_eq!(clock.sleeps(), [Duration::from_secs(2); 2]);

        let clock = FakeClock::at_unix(1_000);
        let out = drive(
            &clock,
            budget,
            |n| async move { n },
            |_, _| Some(Duration::from_secs(1)),
        )
        .await;
        assert_eq!(out, 5, "attempts are bounded");

        let clock = FakeClock::at_unix(1_000);
        let out = drive(
            &clock,
            budget,
            |n| async move { n },
            |_, _| Some(Duration::from_secs(40)),
        )
        .await;
        assert_eq!(
            out, 2,
            "a wait that would end past the time budget is not taken"
        );
    }
}
