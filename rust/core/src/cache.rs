//! Process-wide, in-memory token cache keyed by (identity, resource): two contexts for the same
//! identity share tokens. Single-flight: concurrent callers for one key wait on a per-key async
//! mutex and re-check after acquiring it, so N callers cause one endpoint request.
//!
//! Freshness: a token is served from the cache until its `refresh_on` (5 minutes before expiry,
//! or half-life for tokens living more than 2 h). After that a refresh is attempted; if it fails
//! while the old token is still valid, the old token is returned (and a Verbose event says so)
//! and keeps being served, without I/O, for [`REFRESH_RETRY_SECS`] before the next attempt.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::SharedClock;
use crate::error::Result;
use crate::events::{verbose, EventSink};
use crate::secret::Secret;
use crate::token::AccessToken;

/// A token this close to expiry is not handed out any more, even as a fallback.
pub const MIN_REMAINING_SECS: u64 = 30;
/// After a failed proactive refresh, the old token is served this long before the next attempt
/// (Azure.Core's bearer-token policy waits 30 s too).
pub const REFRESH_RETRY_SECS: u64 = 30;

/// `identity` describes source + endpoint + identity selector; `resource` is normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub identity: String,
    pub resource: String,
}

impl CacheKey {
    pub fn new(identity: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            resource: resource.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve from the cache.
    Fresh,
    /// Past `refresh_on` but still valid: refresh, fall back to it if the refresh fails.
    RefreshDue,
    /// Unusable.
    Expired,
}

pub fn freshness(token: &AccessToken, now: u64) -> Freshness {
    if now < token.refresh_on {
        Freshness::Fresh
    } else if now.saturating_add(MIN_REMAINING_SECS) < token.expires_on {
        Freshness::RefreshDue
    } else {
        Freshness::Expired
    }
}

#[derive(Default)]
struct SlotState {
    token: Option<AccessToken>,
    /// Bumped on every store, so a waiter can tell that someone else just refreshed.
    generation: u64,
    /// Unix seconds until which a refresh-due token is served as is (a refresh just failed).
    refresh_backoff_until: u64,
}

impl SlotState {
    /// The token, if it may be served without asking the endpoint.
    fn servable(&self, now: u64) -> Option<&AccessToken> {
        self.token.as_ref().filter(|t| match freshness(t, now) {
            Freshness::Fresh => true,
            Freshness::RefreshDue => now < self.refresh_backoff_until,
            Freshness::Expired => false,
        })
    }
}

#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
    flight: tokio::sync::Mutex<()>,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct TokenCache {
    clock: SharedClock,
    slots: Mutex<HashMap<CacheKey, Arc<Slot>>>,
}

impl TokenCache {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: &CacheKey) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }

    fn existing_slot(&self, key: &CacheKey) -> Option<Arc<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// The cached token when it may be served without a request (no I/O, no waiting).
    pub fn fresh(&self, key: &CacheKey) -> Option<AccessToken> {
        let slot = self.existing_slot(key)?;
        let state = slot.state();
        state.servable(self.clock.now_unix()).cloned()
    }

    /// The hot path of `Get-IdentityToken`: only the secret of a servable token.
    pub fn fresh_secret(&self, key: &CacheKey) -> Option<Secret> {
        let slot = self.existing_slot(key)?;
        let state = slot.state();
        state
            .servable(self.clock.now_unix())
            .map(|t| t.secret.clone())
    }

    /// Forgets every token of one identity (all resources): `Disconnect-Identity`.
    pub fn remove_identity(&self, identity: &str) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|key, _| key.identity != identity);
    }

    /// Forgets the token for `key`.
    pub fn remove(&self, key: &CacheKey) {
        if let Some(slot) = self.existing_slot(key) {
            slot.state().token = None;
        }
    }

    /// A token for `key`: the cached one when fresh (unless `force`), otherwise the result of
    /// `fetch`, which runs at most once at a time per key. Callers that waited while another one
    /// fetched get that token without a request of their own.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &CacheKey,
        force: bool,
        sink: &dyn EventSink,
        fetch: F,
    ) -> Result<AccessToken>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken>>,
    {
        let slot = self.slot(key);
        let observed = {
            let state = slot.state();
            if let Some(token) = state.servable(self.clock.now_unix()).filter(|_| !force) {
                return Ok(token.clone());
            }
            state.generation
        };

        let _flight = slot.flight.lock().await;
        let previous = {
            let state = slot.state();
            let now = self.clock.now_unix();
            if let Some(token) = state.token.as_ref() {
                // Someone stored a new token while we waited: that is the refresh we wanted.
                let refreshed =
                    state.generation != observed && freshness(token, now) != Freshness::Expired;
                if refreshed || (!force && state.servable(now).is_some()) {
                    return Ok(token.clone());
                }
            }
            state.token.clone()
        };

        match fetch().await {
            Ok(token) => {
                let mut state = slot.state();
                state.token = Some(token.clone());
                state.generation = state.generation.wrapping_add(1);
                state.refresh_backoff_until = 0;
                Ok(token)
            }
            Err(error) => match previous {
                Some(old)
                    if !force
                        && freshness(&old, self.clock.now_unix()) == Freshness::RefreshDue =>
                {
                    slot.state().refresh_backoff_until =
                        self.clock.now_unix().saturating_add(REFRESH_RETRY_SECS);
                    verbose(
                        sink,
                        format!(
                            "Refreshing the token for {} failed ({}); the cached token is still valid until {} and is used for the next {REFRESH_RETRY_SECS} s before trying again.",
                            key.resource,
                            error.message,
                            old.expires_on_iso()
                        ),
                    );
                    Ok(old)
                }
                _ => Err(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};
    use crate::error::{Error, ErrorKind};
    use crate::events::{Event, NullSink, VecSink};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    const T0: u64 = 1_700_000_000;

    fn token(now: u64, lifetime: u64, value: &str) -> AccessToken {
        AccessToken::new(
            Secret::new(value),
            now + lifetime,
            now,
            "https://graph.microsoft.com",
            "Bearer",
        )
    }

    fn setup() -> (FakeClock, TokenCache, CacheKey) {
        let clock = FakeClock::at_unix(T0);
        let cache = TokenCache::new(Arc::new(clock.clone()));
        (
            clock,
            cache,
            CacheKey::new(
                "IMDS|http://127.0.0.1:1|system",
                "https://graph.microsoft.com",
            ),
        )
    }

    /// Fetches through the cache with a fetcher that counts calls and issues `lifetime`-long tokens.
    async fn get(
        cache: &TokenCache,
        clock: &FakeClock,
        key: &CacheKey,
        calls: &AtomicU32,
        lifetime: u64,
    ) -> AccessToken {
        let now = clock.now_unix();
        cache
            .get_or_fetch(key, false, &NullSink, || async move {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(token(now, lifetime, &format!("t{n}")))
            })
            .await
            .expect("token")
    }

    #[tokio::test]
    async fn one_hour_tokens_refresh_five_minutes_before_expiry() {
        let (clock, cache, key) = setup();
        let calls = AtomicU32::new(0);
        assert_eq!(
            get(&cache, &clock, &key, &calls, 3600)
                .await
                .secret
                .expose(),
            "t1"
        );
        clock.advance(Duration::from_secs(3600 - 301));
        assert_eq!(
            get(&cache, &clock, &key, &calls, 3600)
                .await
                .secret
                .expose(),
            "t1"
        );
        assert!(cache.fresh(&key).is_some());
        clock.advance(Duration::from_secs(1)); // exactly 5 minutes left
        assert!(cache.fresh(&key).is_none() && cache.fresh_secret(&key).is_none());
        assert_eq!(
            get(&cache, &clock, &key, &calls, 3600)
                .await
                .secret
                .expose(),
            "t2"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn day_long_tokens_refresh_at_half_life() {
        let (clock, cache, key) = setup();
        let calls = AtomicU32::new(0);
        get(&cache, &clock, &key, &calls, 86_400).await;
        clock.advance(Duration::from_secs(43_199));
        assert_eq!(
            cache
                .fresh_secret(&key)
                .map(|s| s.expose().to_string())
                .as_deref(),
            Some("t1")
        );
        clock.advance(Duration::from_secs(1));
        assert!(cache.fresh(&key).is_none());
        assert_eq!(
            get(&cache, &clock, &key, &calls, 86_400)
                .await
                .secret
                .expose(),
            "t2"
        );
        // The new token again lives 24 h, so its refresh point is 12 h later.
        clock.advance(Duration::from_secs(43_199));
        assert_eq!(
            get(&cache, &clock, &key, &calls, 86_400)
                .await
                .secret
                .expose(),
            "t2"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_proactive_refresh_returns_the_still_valid_token() {
        let (clock, cache, key) = setup();
        let calls = AtomicU32::new(0);
        get(&cache, &clock, &key, &calls, 86_400).await;
        clock.advance(Duration::from_secs(50_000));
        let sink = VecSink::default();
        let failing = || async { Err(Error::new(ErrorKind::ServiceError, "HTTP 503 from IMDS")) };
        let old = cache
            .get_or_fetch(&key, false, &sink, failing)
            .await
            .expect("falls back");
        assert_eq!(old.secret.expose(), "t1");
        let events = sink.events();
        assert!(
            matches!(events.as_slice(), [Event::Verbose { message }] if message.contains("HTTP 503") && !message.contains("t1")),
            "{events:?}"
        );
        // The old token is served without I/O (hot path included) for 30 s, then refresh is due again.
        assert_eq!(
            cache
                .fresh_secret(&key)
                .map(|s| s.expose().to_string())
                .as_deref(),
            Some("t1")
        );
        let not_called =
            || async { Err(Error::internal("must not be called during the back-off")) };
        assert!(cache
            .get_or_fetch(&key, false, &sink, not_called)
            .await
            .is_ok());
        clock.advance(Duration::from_secs(REFRESH_RETRY_SECS));
        assert!(cache.fresh_secret(&key).is_none());
        // A forced refresh reports the failure instead.
        let error = cache
            .get_or_fetch(&key, true, &sink, failing)
            .await
            .expect_err("forced");
        assert_eq!(error.kind, ErrorKind::ServiceError);
        // Once the token is (nearly) expired there is no fallback.
        clock.advance(Duration::from_secs(86_400 - 50_000 - 10));
        assert!(cache
            .get_or_fetch(&key, false, &sink, failing)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn force_refresh_fetches_and_replaces() {
        let (clock, cache, key) = setup();
        let calls = AtomicU32::new(0);
        get(&cache, &clock, &key, &calls, 3600).await;
        let forced = cache
            .get_or_fetch(&key, true, &NullSink, || async {
                Ok(token(T0, 3600, "forced"))
            })
            .await
            .expect("token");
        assert_eq!(forced.secret.expose(), "forced");
        assert_eq!(
            cache
                .fresh(&key)
                .map(|t| t.secret.expose().to_string())
                .as_deref(),
            Some("forced")
        );
        cache.remove(&key);
        assert!(cache.fresh(&key).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch() {
        let (_clock, cache, key) = setup();
        let cache = Arc::new(cache);
        let calls = Arc::new(AtomicU32::new(0));
        for force in [false, true] {
            calls.store(0, Ordering::SeqCst);
            if force {
                // Forced callers arriving together also share one refresh.
            } else {
                cache.remove(&key);
            }
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let (cache, calls, key) = (cache.clone(), calls.clone(), key.clone());
                    tokio::spawn(async move {
                        cache
                            .get_or_fetch(&key, force, &NullSink, || async move {
                                calls.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Ok(token(T0, 3600, "shared"))
                            })
                            .await
                    })
                })
                .collect();
            for task in futures::future::join_all(tasks).await {
                assert_eq!(
                    task.ok()
                        .and_then(|r| r.ok())
                        .map(|t| t.secret.expose().to_string())
                        .as_deref(),
                    Some("shared")
                );
            }
            assert_eq!(calls.load(Ordering::SeqCst), 1, "force = {force}");
        }
    }

    #[test]
    fn freshness_boundaries() {
        let t = token(T0, 3600, "x");
        assert_eq!(freshness(&t, T0), Freshness::Fresh);
        assert_eq!(freshness(&t, T0 + 3299), Freshness::Fresh);
        assert_eq!(freshness(&t, T0 + 3300), Freshness::RefreshDue);
        assert_eq!(freshness(&t, T0 + 3569), Freshness::RefreshDue);
        assert_eq!(freshness(&t, T0 + 3570), Freshness::Expired);
    }
}
