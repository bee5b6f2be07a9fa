//! A managed identity as a [`TokenCredential`]: the detected source, the selected identity and
//! the bound of one acquisition. Its tokens live in the process-wide cache under the source,
//! endpoint and selector (so two contexts for one identity share them); a renewal asks a
//! source that keeps a cache the client may skip (App Service, Service Fabric) to replace the
//! token this process holds.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::first_contact::FirstContact;
use super::{IdentitySelector, ManagedSource};
use crate::cache::CacheKey;
use crate::cache::TokenCache;
use crate::clock::SharedClock;
use crate::credentials::{CredentialIdentity, TokenCredential};
use crate::error::Result;
use crate::events::EventSink;
use crate::http::Transport;
use crate::secret::Secret;
use crate::token::{AccessToken, PlatformCache, RenewedToken};

/// What a managed-identity credential asks its endpoint with: the process's managed-identity
/// transport and clock, and its memory of IMDS endpoints that answered.
#[derive(Clone)]
pub struct ManagedIo {
    pub transport: Arc<dyn Transport>,
    pub clock: SharedClock,
    pub first_contact: Arc<FirstContact>,
}

/// The identity `selector` selects at `source`.
#[derive(Clone)]
pub struct ManagedIdentityCredential {
    io: ManagedIo,
    source: ManagedSource,
    selector: IdentitySelector,
    timeout: Duration,
    /// Source, endpoint and selector: the identity half of the cache key (computed once).
    cache_identity: String,
}

impl ManagedIdentityCredential {
    /// The identity `selector` selects at `source`, or `UnsupportedIdentityKind` when the
    /// source cannot select one by that kind of id.
    pub fn new(
        source: ManagedSource,
        selector: IdentitySelector,
        timeout: Duration,
        io: ManagedIo,
    ) -> Result<Self> {
        if !source.supports(&selector) {
            return Err(source.unsupported_kind(&selector));
        }
        Ok(Self {
            cache_identity: source.cache_identity(&selector),
            source,
            selector,
            timeout,
            io,
        })
    }

    /// The same source asked for another identity, when it can select one that way.
    pub fn reselect(&self, selector: IdentitySelector) -> Option<Self> {
        Self::new(self.source.clone(), selector, self.timeout, self.io.clone()).ok()
    }

    pub fn source(&self) -> &ManagedSource {
        &self.source
    }

    pub fn selector(&self) -> &IdentitySelector {
        &self.selector
    }
}

impl TokenCredential for ManagedIdentityCredential {
    fn auth_type(&self) -> &'static str {
        "ManagedIdentity"
    }

    fn identity(&self) -> CredentialIdentity {
        let selector = &self.selector;
        let from_selector = |wanted: &str| {
            (selector.kind() == Some(wanted))
                .then(|| selector.value().map(str::to_string))
                .flatten()
        };
        CredentialIdentity {
            source: Some(self.source.kind().name()),
            identity_type: Some(if selector.is_user_assigned() {
                "UserAssigned"
            } else {
                "SystemAssigned"
            }),
            selected_by: selector
                .kind()
                .zip(selector.value())
                .map(|(kind, value)| (kind, value.to_string())),
            client_id: from_selector("ClientId"),
            object_id: from_selector("ObjectId"),
            resource_id: from_selector("ResourceId"),
            tenant_id: None,
            environment: None,
        }
    }

    fn cache_identity(&self) -> Option<&str> {
        Some(&self.cache_identity)
    }

    fn fetch<'a>(
        &'a self,
        resource: &'a str,
        replacing: Option<&'a Secret>,
        sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(self.source.acquire_replacing(
            self.io.transport.as_ref(),
            &*self.io.clock,
            Some(&self.io.first_contact),
            resource,
            &self.selector,
            self.timeout,
            sink,
            replacing,
        ))
    }

    /// Bypasses the module's cache and, where the platform lets a client skip its own cache
    /// (see [`ManagedSource::can_replace_cached_token`]), asks it to replace the token this
    /// process holds.
    fn renew<'a>(
        &'a self,
        resource: &'a str,
        cache: &'a TokenCache,
        sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<RenewedToken>> {
        Box::pin(async move {
            let key = CacheKey::new(self.cache_identity.clone(), resource.to_string());
            let old = cache.fresh(&key);
            let asked_platform = old.is_some() && self.source.can_replace_cached_token();
            let replacing = old.as_ref().map(|t| t.secret.clone());
            let token = cache
                .get_or_fetch(&key, true, sink, || {
                    self.fetch(resource, replacing.as_ref(), sink)
                })
                .await?;
            let same_as_before = old
                .as_ref()
                .is_some_and(|o| o.secret.expose() == token.secret.expose());
            Ok(RenewedToken {
                token,
                platform_cache: match self.platform_cache() {
                    PlatformCache::Replaceable { .. } => PlatformCache::Replaceable {
                        asked: asked_platform,
                    },
                    other => other,
                },
                same_as_before,
            })
        })
    }

    /// A managed-identity endpoint keeps its cached token, or replaces it when asked (App
    /// Service, Service Fabric).
    fn platform_cache(&self) -> PlatformCache {
        if self.source.can_replace_cached_token() {
            PlatformCache::Replaceable { asked: false }
        } else {
            PlatformCache::Kept
        }
    }

    fn new_roles_remedy(&self) -> &'static str {
        "Roles granted recently only appear once a new token is issued, and the managed-identity \
         endpoint may serve a cached token for up to 24 hours."
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::error::ErrorKind;
    use crate::http::transport::testing::{raw, FakeTransport};
    use crate::sources::app_service::AppServiceSource;
    use crate::sources::cloud_shell::CloudShellSource;

    const CLIENT: &str = "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01";

    fn io() -> ManagedIo {
        ManagedIo {
            transport: FakeTransport::new(|_, _| Ok(raw(500, b"{}"))),
            clock: Arc::new(FakeClock::at_unix(1_700_000_000)),
            first_contact: Arc::default(),
        }
    }

    fn app_service(automation: bool) -> ManagedSource {
        ManagedSource::new(
            AppServiceSource::new("http://127.0.0.1:9/msi/token", Secret::new("h"), automation)
                .expect("valid"),
        )
    }

    #[test]
    fn a_managed_identity_says_who_it_is_and_how_its_platform_caches() {
        let timeout = Duration::from_secs(5);
        let selector = IdentitySelector::ClientId(CLIENT.into());
        let credential =
            ManagedIdentityCredential::new(app_service(false), selector, timeout, io()).unwrap();
        let identity = credential.identity();
        assert_eq!(credential.auth_type(), "ManagedIdentity");
        assert_eq!(identity.source, Some("AppService"));
        assert_eq!(identity.identity_type, Some("UserAssigned"));
        assert_eq!(identity.selected_by, Some(("ClientId", CLIENT.to_string())));
        assert_eq!(identity.client_id.as_deref(), Some(CLIENT));
        assert_eq!(identity.object_id, None);
        assert_eq!(
            credential.platform_cache(),
            PlatformCache::Replaceable { asked: false }
        );
        assert!(credential
            .cache_identity()
            .is_some_and(|k| k.starts_with("AppService|") && k.ends_with(CLIENT)));
        let automation = ManagedIdentityCredential::new(
            app_service(true),
            IdentitySelector::SystemAssigned,
            timeout,
            io(),
        )
        .unwrap();
        assert_eq!(automation.platform_cache(), PlatformCache::Kept);
        assert_eq!(automation.identity().identity_type, Some("SystemAssigned"));
        assert_eq!(automation.identity().selected_by, None);
    }

    #[test]
    fn a_source_that_cannot_select_by_an_id_refuses_it_up_front() {
        let cloud_shell =
            ManagedSource::new(CloudShellSource::new("http://127.0.0.1:9/token").expect("valid"));
        let timeout = Duration::from_secs(5);
        let e = ManagedIdentityCredential::new(
            cloud_shell.clone(),
            IdentitySelector::ClientId(CLIENT.into()),
            timeout,
            io(),
        )
        .err()
        .expect("unsupported");
        assert_eq!(e.kind, ErrorKind::UnsupportedIdentityKind);
        let system = ManagedIdentityCredential::new(
            cloud_shell,
            IdentitySelector::SystemAssigned,
            timeout,
            io(),
        )
        .unwrap();
        assert!(system
            .reselect(IdentitySelector::ObjectId(CLIENT.into()))
            .is_none());
    }
}
