//! Waiting for new principals to reach Microsoft Graph: an identity the caller just created (ARM
//! returns its principal id at once, Graph shows it only after directory replication) is looked
//! up again while Graph says "not found", bounded by [`REPLICATION_WAIT`], with a progress record
//! per round. Only inputs marked new wait; any other unknown identity fails at once. Cancellation
//! is dropping the future (every wait is a clock sleep).

use std::time::Duration;

use super::identity::{resolve_identities, AssignmentQuery, ResolvedIdentity};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::graph::client::GraphClient;
use crate::graph::progress::Progress;

/// How long a new identity may take to appear in Graph before the lookup gives up.
pub const REPLICATION_WAIT: Duration = Duration::from_secs(120);

/// Pause between lookups: doubles from 2 s up to 10 s, never past the deadline.
fn pause(round: u32) -> Duration {
    Duration::from_secs((2u64 << round.min(3)).min(10))
}

fn is_new(input: &str, fresh: &[String]) -> bool {
    fresh
        .iter()
        .any(|f| f.trim().eq_ignore_ascii_case(input.trim()))
}

/// [`resolve_identities`], then — for inputs listed in `fresh` that Graph does not know yet —
/// looks them up again until they appear or `budget` has passed.
pub async fn resolve_waiting_for_new(
    client: &GraphClient<'_>,
    inputs: &[String],
    fresh: &[String],
    query: AssignmentQuery,
    progress: &mut Progress<'_>,
    sink: &dyn EventSink,
    budget: Duration,
) -> Vec<Result<ResolvedIdentity>> {
    let mut outcomes = resolve_identities(client, inputs, query, progress).await;
    let clock = client.clock().clone();
    let started = clock.now();
    let elapsed = || clock.now().duration_since(started).unwrap_or_default();
    let waiting = |outcomes: &[Result<ResolvedIdentity>]| -> Vec<usize> {
        outcomes
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                matches!(o, Err(e) if e.kind == ErrorKind::NotFound) && is_new(&inputs[*i], fresh)
            })
            .map(|(i, _)| i)
            .collect()
    };
    let mut pending = waiting(&outcomes);
    let mut round = 0u32;
    while !pending.is_empty() && elapsed() < budget {
        let wait = pause(round).min(budget - elapsed());
        round += 1;
        let names: Vec<&str> = pending.iter().map(|&i| inputs[i].trim()).collect();
        sink.emit(Event::Progress {
            activity: "Waiting for Microsoft Graph".into(),
            status: format!(
                "Waiting for the new identity {} to reach Microsoft Graph… ({} s of at most {} s)",
                names.join(", "),
                elapsed().as_secs(),
                budget.as_secs()
            ),
            percent: -1,
            completed: false,
        });
        clock.sleep(wait).await;
        let again: Vec<String> = pending.iter().map(|&i| inputs[i].clone()).collect();
        let retried = resolve_identities(client, &again, query, progress).await;
        for (&i, outcome) in pending.iter().zip(retried) {
            outcomes[i] = outcome;
        }
        pending = waiting(&outcomes);
    }
    if round > 0 {
        sink.emit(Event::Progress {
            activity: "Waiting for Microsoft Graph".into(),
            status: "Completed".into(),
            percent: 100,
            completed: true,
        });
    }
    let waited = elapsed().as_secs();
    for i in pending {
        if let Err(e) = &outcomes[i] {
            let mut given_up = Error::new(
                ErrorKind::NotFound,
                format!(
                    "The new identity '{}' did not reach Microsoft Graph: waited {waited} s for directory replication ({})",
                    inputs[i].trim(),
                    e.message
                ),
            );
            given_up.details = e.details.clone();
            outcomes[i] = Err(given_up);
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::events::VecSink;
    use crate::graph::client::testing::{batch_reply, client, FakeTransport};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const NEW: &str = "6c5b4a39-2817-4063-9d4e-3c2b1a0f9e04";
    const OTHER: &str = "7d6c5b4a-3928-4174-8e5f-4d3c2b1a0f05";

    /// Graph where `NEW` appears after `visible_after` lookups by id; `OTHER` never exists.
    fn graph(visible_after: usize) -> (Arc<FakeTransport>, Arc<AtomicUsize>) {
        let lookups = Arc::new(AtomicUsize::new(0));
        let seen = lookups.clone();
        let t = FakeTransport::new(move |req, _| {
            Ok(batch_reply(req, |r| {
                let u = r["url"].as_str().unwrap();
                let by_id = u.starts_with(&format!("/servicePrincipals/{NEW}"));
                let found = by_id && seen.fetch_add(1, Ordering::SeqCst) >= visible_after;
                if found {
                    (
                        200,
                        json!({}),
                        json!({"id": NEW, "displayName": "uai-1", "servicePrincipalType": "ManagedIdentity"}),
                    )
                } else {
                    (
                        404,
                        json!({}),
                        json!({"error": {"code": "Request_ResourceNotFound", "message": "not found"}}),
                    )
                }
            }))
        });
        (t, lookups)
    }

    async fn run(
        visible_after: usize,
        inputs: &[&str],
        fresh: &[&str],
    ) -> (Vec<Result<ResolvedIdentity>>, FakeClock, Vec<Event>) {
        let (t, _) = graph(visible_after);
        let clock = FakeClock::at_unix(1_000);
        let c = client(t, clock.clone());
        let sink = VecSink::default();
        let inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        let fresh: Vec<String> = fresh.iter().map(|s| s.to_string()).collect();
        let mut progress = Progress::new(&sink, c.clock().clone(), "Granting app roles");
        let out = resolve_waiting_for_new(
            &c,
            &inputs,
            &fresh,
            AssignmentQuery::None,
            &mut progress,
            &sink,
            REPLICATION_WAIT,
        )
        .await;
        drop(progress);
        (out, clock, sink.events())
    }

    fn waiting_records(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Progress { status, .. } if status.starts_with("Waiting for the new") => {
                    Some(status.clone())
                }
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_new_identity_is_looked_up_again_until_it_appears() {
        let (out, clock, events) = run(3, &[NEW], &[NEW]).await;
        assert_eq!(out[0].as_ref().unwrap().sp.id.to_string(), NEW);
        assert_eq!(
            clock.sleeps(),
            vec![
                Duration::from_secs(2),
                Duration::from_secs(4),
                Duration::from_secs(8)
            ]
        );
        let records = waiting_records(&events);
        assert_eq!(records.len(), 3);
        assert!(records[0].contains(NEW), "{records:?}");
    }

    #[tokio::test]
    async fn an_unmarked_unknown_identity_fails_at_once() {
        let (out, clock, events) = run(usize::MAX, &[OTHER, NEW], &[NEW]).await;
        let other = out[0].as_ref().unwrap_err();
        assert_eq!(other.kind, ErrorKind::NotFound);
        assert!(!other.message.contains("waited"), "{}", other.message);
        // Only the marked identity waited: the whole budget, then gave up saying so.
        let total: Duration = clock.sleeps().iter().sum();
        assert_eq!(total, REPLICATION_WAIT);
        let new = out[1].as_ref().unwrap_err();
        assert_eq!(new.kind, ErrorKind::NotFound);
        assert!(
            new.message.contains("waited 120 s") && new.message.contains(NEW),
            "{}",
            new.message
        );
        assert!(waiting_records(&events).iter().all(|r| !r.contains(OTHER)));
    }

    #[tokio::test]
    async fn nothing_waits_when_no_identity_is_new() {
        let (out, clock, events) = run(usize::MAX, &[NEW], &[]).await;
        assert!(out[0].is_err());
        assert!(clock.sleeps().is_empty());
        assert!(waiting_records(&events).is_empty());
    }

    #[test]
    fn pauses_grow_to_ten_seconds() {
        let p: Vec<u64> = (0..5).map(|r| pause(r).as_secs()).collect();
        assert_eq!(p, vec![2, 4, 8, 10, 10]);
    }
}
