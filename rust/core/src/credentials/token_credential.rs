//! The one credential seam: something that yields a token for a resource, with its expiry and
//! claims. A managed-identity source with its selected identity
//! ([`crate::sources::ManagedIdentityCredential`]), each Entra sign-in ([`super::sign_in`]) and an
//! access token given to Connect-Identity ([`super::static_token`]) implement it; a
//! [`crate::context::Context`] is one of them plus endpoints and settings, and never asks which.
//!
//! A credential owns what it needs to ask its issuer (transport, clock); tokens go through the
//! process-wide [`TokenCache`] (single flight per identity and resource), which every method
//! that may reuse a token is handed, unless a credential has no
//! [`TokenCredential::cache_identity`].

use futures::future::BoxFuture;

use crate::cache::{CacheKey, TokenCache};
use crate::error::Result;
use crate::events::EventSink;
use crate::secret::Secret;
use crate::token::{AccessToken, PlatformCache, RenewedToken};

/// What a credential knows of its identity before any token, shown where a token's claims are
/// silent (an opaque token, a claim the issuer leaves out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialIdentity {
    /// The managed-identity source (`IMDS`, `AppService`, …).
    pub source: Option<&'static str>,
    /// `SystemAssigned` or `UserAssigned` (managed identities).
    pub identity_type: Option<&'static str>,
    /// Which id selected a user-assigned identity: its kind (`ClientId`, `ObjectId`,
    /// `ResourceId`) and value.
    pub selected_by: Option<(&'static str, String)>,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub resource_id: Option<String>,
    pub tenant_id: Option<String>,
    /// The cloud (`-Environment`) of a sign-in.
    pub environment: Option<&'static str>,
}

/// Something that yields a token for a resource. Only [`Self::auth_type`],
/// [`Self::cache_identity`] and [`Self::fetch`] are required: caching, renewal and the
/// platform-cache answer have the defaults of an Entra sign-in (a new token per request).
pub trait TokenCredential: Send + Sync {
    /// `ManagedIdentity`, `AccessToken`, `ClientSecret`, `ClientCertificate`,
    /// `WorkloadIdentity`, `DeviceCode`, `Browser`, `AzureCli` (`authType`).
    fn auth_type(&self) -> &'static str;

    /// Who this credential says it is, before any token.
    fn identity(&self) -> CredentialIdentity {
        CredentialIdentity::default()
    }

    /// The identity half of this credential's keys in the process-wide cache; `None` for a
    /// credential whose tokens are not cached there (an access token given to Connect-Identity).
    fn cache_identity(&self) -> Option<&str>;

    /// A new token for `resource` (normalised) from its issuer, never from the cache.
    /// `replacing`: the token this process holds, which an issuer that keeps its own cache is
    /// asked to replace where it can (see [`Self::platform_cache`]).
    fn fetch<'a>(
        &'a self,
        resource: &'a str,
        replacing: Option<&'a Secret>,
        sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<AccessToken>>;

    /// A token for `resource` (normalised), from the process-wide cache when fresh;
    /// single-flight per (identity, resource).
    fn token<'a>(
        &'a self,
        resource: &'a str,
        force_refresh: bool,
        cache: &'a TokenCache,
        sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            match self.cache_identity() {
                Some(identity) => {
                    let key = CacheKey::new(identity.to_string(), resource.to_string());
                    cache
                        .get_or_fetch(&key, force_refresh, sink, || {
                            self.fetch(resource, None, sink)
                        })
                        .await
                }
                None => self.fetch(resource, None, sink).await,
            }
        })
    }

    /// False when nothing can renew this credential's token (an access token given to
    /// Connect-Identity): [`Self::renew`] then hands back the same token.
    fn can_renew(&self) -> bool {
        true
    }

    /// A new token for `resource`, bypassing the module's cache (and the issuer's where it lets
    /// a client: see [`Self::platform_cache`]); cached as usual. The same token when the
    /// credential cannot renew it ([`Self::can_renew`]).
    fn renew<'a>(
        &'a self,
        resource: &'a str,
        cache: &'a TokenCache,
        sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<RenewedToken>> {
        Box::pin(async move {
            let renewable = self.can_renew();
            Ok(RenewedToken {
                token: self.token(resource, renewable, cache, sink).await?,
                platform_cache: self.platform_cache(),
                same_as_before: !renewable,
            })
        })
    }

    /// A fresh cached token for `resource` (normalised) without any I/O.
    fn cached(&self, resource: &str, cache: &TokenCache) -> Option<Secret> {
        let identity = self.cache_identity()?;
        cache.fresh_secret(&CacheKey::new(identity.to_string(), resource.to_string()))
    }

    /// False when the tokens' expiry is unknown (an opaque access token).
    fn expiry_known(&self) -> bool {
        true
    }

    /// How the issuer of these tokens caches them (Entra: a new one per request).
    fn platform_cache(&self) -> PlatformCache {
        PlatformCache::None
    }

    /// How a role granted recently reaches a token of this credential (the end of the warning
    /// about a Graph token without roles).
    fn new_roles_remedy(&self) -> &'static str {
        "Roles granted recently only appear once a new token is issued: run Connect-Identity again."
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::clock::FakeClock;
    use crate::events::NullSink;

    const NOW: u64 = 1_700_000_000;
    const RESOURCE: &str = "https://graph.microsoft.com";

    /// Counts its issuer's requests; each issues a new token.
    struct Counting {
        cache_identity: Option<&'static str>,
        fetched: AtomicUsize,
    }

    impl Counting {
        fn new(cache_identity: Option<&'static str>) -> Self {
            Self {
                cache_identity,
                fetched: AtomicUsize::new(0),
            }
        }
    }

    impl TokenCredential for Counting {
        fn auth_type(&self) -> &'static str {
            "Counting"
        }

        fn cache_identity(&self) -> Option<&str> {
            self.cache_identity
        }

        fn fetch<'a>(
            &'a self,
            resource: &'a str,
            _replacing: Option<&'a Secret>,
            _sink: &'a dyn EventSink,
        ) -> BoxFuture<'a, Result<AccessToken>> {
            let n = self.fetched.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                Ok(AccessToken::new(
                    Secret::new(format!("token-{n}")),
                    NOW + 3600,
                    NOW,
                    resource,
                    "Bearer",
                ))
            })
        }
    }

    fn cache() -> TokenCache {
        TokenCache::new(Arc::new(FakeClock::at_unix(NOW)))
    }

    /// The defaults are an Entra sign-in's: tokens are cached per identity and resource, a
    /// renewal asks the issuer again and reports a new token from an issuer without a cache.
    #[tokio::test]
    async fn a_cached_credential_asks_its_issuer_once_until_renewed() {
        let (cache, sink) = (cache(), NullSink);
        let credential = Counting::new(Some("counting|a"));
        assert!(credential.cached(RESOURCE, &cache).is_none());
        let first = credential.token(RESOURCE, false, &cache, &sink).await;
        let again = credential.token(RESOURCE, false, &cache, &sink).await;
        assert_eq!(first.unwrap().secret.expose(), "token-1");
        assert_eq!(again.unwrap().secret.expose(), "token-1");
        assert_eq!(credential.fetched.load(Ordering::SeqCst), 1);
        assert_eq!(
            credential
                .cached(RESOURCE, &cache)
                .map(|s| s.expose().to_string()),
            Some("token-1".to_string())
        );
        let renewed = credential.renew(RESOURCE, &cache, &sink).await.unwrap();
        assert_eq!(renewed.token.secret.expose(), "token-2");
        assert_eq!(renewed.platform_cache, PlatformCache::None);
        assert!(!renewed.same_as_before);
        assert_eq!(
            credential
                .cached(RESOURCE, &cache)
                .map(|s| s.expose().to_string()),
            Some("token-2".to_string())
        );
        // Another identity shares nothing with this one.
        let other = Counting::new(Some("counting|b"));
        assert!(other.cached(RESOURCE, &cache).is_none());
    }

    #[tokio::test]
    async fn a_credential_without_a_cache_identity_never_enters_the_cache() {
        let (cache, sink) = (cache(), NullSink);
        let credential = Counting::new(None);
        credential
            .token(RESOURCE, false, &cache, &sink)
            .await
            .unwrap();
        credential
            .token(RESOURCE, false, &cache, &sink)
            .await
            .unwrap();
        assert_eq!(credential.fetched.load(Ordering::SeqCst), 2);
        assert!(credential.cached(RESOURCE, &cache).is_none());
    }
}
