//! The managed-identity platform's token cache. Azure's managed-identity endpoints hand out the
//! same token for an identity and resource until it nears expiry (up to 24 h), so roles granted
//! meanwhile appear late. Every managed-identity host of the emulator shares this cache; the
//! Entra endpoint and `POST /_emulator/token` do not use it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::token::Issued;
use crate::util;

/// A cached token is not served once less than this much of its life is left (capped at half
/// its lifetime, so short test lifetimes are cached too).
const REFRESH_MARGIN_SECS: u64 = 300;

struct Entry {
    issued: Issued,
    cached_at: Instant,
}

#[derive(Default)]
pub struct PlatformCache {
    entries: HashMap<(String, String), Entry>,
}

fn key(object_id: &str, resource: &str) -> (String, String) {
    (object_id.to_ascii_lowercase(), util::resource_key(resource))
}

impl PlatformCache {
    /// The cached token for `object_id` and `resource` if it was cached less than `cache_secs`
    /// ago and is not close to expiry; `expires_in` is recomputed for now.
    pub fn get(&mut self, object_id: &str, resource: &str, cache_secs: u64) -> Option<Issued> {
        let k = key(object_id, resource);
        let now = util::now_epoch();
        let fresh = self.entries.get(&k).is_some_and(|e| {
            let lifetime = e.issued.exp.saturating_sub(e.issued.iat);
            let margin = REFRESH_MARGIN_SECS.min(lifetime / 2);
            cache_secs > 0
                && e.cached_at.elapsed() < Duration::from_secs(cache_secs)
                && e.issued.exp.saturating_sub(now) > margin
        });
        if !fresh {
            self.entries.remove(&k);
            return None;
        }
        self.entries.get(&k).map(|e| Issued {
            expires_in: e.issued.exp.saturating_sub(now),
            ..e.issued.clone()
        })
    }

    /// Drops the entry for `object_id` and `resource` (a client asked for a new token).
    pub fn remove(&mut self, object_id: &str, resource: &str) {
        self.entries.remove(&key(object_id, resource));
    }

    /// What is cached, without the tokens: who, for what, issued and expiring when, and until
    /// when the platform hands it out (epoch seconds; the earlier of the cache period's end and
    /// the refresh margin before expiry).
    pub fn describe(&self, cache_secs: u64) -> Vec<serde_json::Value> {
        let now = util::now_epoch();
        let mut out: Vec<serde_json::Value> = self
            .entries
            .iter()
            .map(|((object_id, resource), e)| {
                let lifetime = e.issued.exp.saturating_sub(e.issued.iat);
                let margin = REFRESH_MARGIN_SECS.min(lifetime / 2);
                let cache_left = Duration::from_secs(cache_secs)
                    .saturating_sub(e.cached_at.elapsed())
                    .as_secs();
                let until = now
                    .saturating_add(cache_left)
                    .min(e.issued.exp.saturating_sub(margin));
                serde_json::json!({
                    "objectId": object_id,
                    "resource": resource,
                    "issuedAt": e.issued.iat,
                    "expiresOn": e.issued.exp,
                    "servedUntil": until,
                })
            })
            .collect();
        out.sort_by_key(|v| v.to_string());
        out
    }

    pub fn put(&mut self, object_id: &str, resource: &str, issued: &Issued) {
        self.entries.insert(
            key(object_id, resource),
            Entry {
                issued: issued.clone(),
                cached_at: Instant::now(),
            },
        );
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(lifetime: u64) -> Issued {
        let now = util::now_epoch();
        Issued {
            access_token: "t".into(),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            expires_in: lifetime,
        }
    }

    #[test]
    fn serves_until_disabled_or_cleared() {
        let mut c = PlatformCache::default();
        c.put("ABC", "https://vault.azure.net/", &issued(86_400));
        assert!(c.get("abc", "https://VAULT.azure.net", 86_400).is_some());
        assert!(c.get("abc", "https://vault.azure.net", 0).is_none());
        assert!(c.is_empty(), "a miss drops the entry");
        c.put("abc", "r", &issued(86_400));
        c.clear();
        assert!(c.get("abc", "r", 86_400).is_none());
    }

    #[test]
    fn a_token_near_expiry_is_not_served() {
        let mut c = PlatformCache::default();
        let mut t = issued(3600);
        // Issued 3400 s ago: 200 s left, inside the 300 s margin.
        t.iat -= 3400;
        t.exp -= 3400;
        c.put("a", "r", &t);
        assert!(c.get("a", "r", 86_400).is_none());
        // A 60 s token keeps being served for its first half.
        c.put("a", "r", &issued(60));
        assert!(c.get("a", "r", 86_400).is_some());
    }
}
