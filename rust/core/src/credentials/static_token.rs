//! A token the caller hands over (`Connect-Identity -AccessToken`): the token is checked (one
//! value, not expired, a JWT when possible) and served only for its own audience. It is never
//! renewed and never enters the process-wide cache.

use futures::future::BoxFuture;

use super::token_credential::{CredentialIdentity, TokenCredential};
use crate::cache::TokenCache;
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{warn, EventSink};
use crate::input::Input;
use crate::secret::Secret;
use crate::token::{format_iso8601, AccessToken, PlatformCache};

/// Application id of Microsoft Graph (the `aud` of v2 Graph tokens).
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

pub(crate) struct StaticToken {
    token: AccessToken,
    /// False for an opaque token (no `exp` claim): it is used until the service refuses it.
    expiry_known: bool,
    /// The context's default resource (`-Resource`, else the token's audience, else Graph's).
    default_resource: String,
    /// The context's Graph resource (a v2 Graph token names Graph by its application id).
    graph_resource: String,
    clock: SharedClock,
}

impl StaticToken {
    /// Checks the token (`secret`); `resource` is `-Resource` (normalised), `graph_resource` the
    /// context's. Warns through `sink` about an opaque token, a missing or close expiry.
    pub(crate) fn new(
        secret: Option<Secret>,
        resource: Option<String>,
        graph_resource: &str,
        clock: SharedClock,
        sink: &dyn EventSink,
    ) -> Result<StaticToken> {
        let secret = secret
            .filter(|s| !s.expose().trim().is_empty())
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{} is required for the AccessToken method",
                    Input::AccessToken
                ))
            })?;
        let raw = secret.expose().trim();
        let value = match raw.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => raw[7..].trim(),
            _ => raw,
        };
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid_argument(format!(
                "{} contains whitespace; pass exactly one token",
                Input::AccessToken
            )));
        }
        let now = clock.now_unix();
        let claims = crate::jwt::decode(value);
        let exp = claims.as_ref().and_then(|c| c.exp);
        if let Some(exp) = exp.filter(|exp| *exp <= now) {
            return Err(Error::new(
                ErrorKind::TokenExpired,
                format!(
                "the access token expired at {}; get a new token and run Connect-Identity again",
                format_iso8601(exp)
            ),
            ));
        }
        match (&claims, exp) {
        (None, _) => warn(
            sink,
            "The access token is not a JWT: its identity, roles and expiry cannot be read, so it is used as is until the service refuses it.",
        ),
        (Some(_), None) => warn(sink, "The access token has no expiry (exp) claim; it is used as is until the service refuses it."),
        (Some(_), Some(exp)) if exp < now + crate::token::EXPIRY_BUFFER_SECS => warn(
            sink,
            format!("The access token expires in less than 5 minutes (at {}).", format_iso8601(exp)),
        ),
        _ => {}
    }
        let audience = claims.as_ref().and_then(|c| c.aud.clone());
        let default_resource = resource
            .or(audience)
            .unwrap_or_else(|| graph_resource.to_string());
        let expires_on = exp.unwrap_or(u64::MAX);
        let mut token = AccessToken::new(
            Secret::new(value),
            expires_on,
            now,
            default_resource.clone(),
            "Bearer",
        );
        token.refresh_on = expires_on;
        Ok(StaticToken {
            token,
            expiry_known: exp.is_some(),
            default_resource,
            graph_resource: graph_resource.to_string(),
            clock,
        })
    }

    /// The resource the token was given for (the context's default resource).
    pub(crate) fn default_resource(&self) -> &str {
        &self.default_resource
    }

    fn serves(&self, resource: &str) -> bool {
        let audience = self.token.claims.as_ref().and_then(|c| c.aud.as_deref());
        same_resource(resource, &self.default_resource)
            || audience.is_some_and(|aud| {
                same_resource(resource, aud)
                    || (aud.eq_ignore_ascii_case(GRAPH_APP_ID)
                        && same_resource(resource, &self.graph_resource))
            })
    }
}

impl TokenCredential for StaticToken {
    fn auth_type(&self) -> &'static str {
        "AccessToken"
    }

    fn identity(&self) -> CredentialIdentity {
        CredentialIdentity::default()
    }

    fn cache_identity(&self) -> Option<&str> {
        None
    }

    /// The token itself, when it serves `resource` and has not expired.
    fn fetch<'a>(
        &'a self,
        resource: &'a str,
        _replacing: Option<&'a Secret>,
        _sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            if !self.serves(resource) {
                return Err(Error::invalid_argument(format!(
                    "this context holds an access token for {}; it cannot provide a token for {resource}",
                    self.default_resource
                )));
            }
            if self.expiry_known && self.clock.now_unix() >= self.token.expires_on {
                return Err(Error::new(
                    ErrorKind::TokenExpired,
                    format!(
                        "the access token passed to Connect-Identity expired at {}; get a new token and run Connect-Identity again",
                        self.token.expires_on_iso()
                    ),
                ));
            }
            Ok(self.token.clone())
        })
    }

    /// Nothing can renew it: `renew` gives the same token, as [`PlatformCache::Fixed`].
    fn can_renew(&self) -> bool {
        false
    }

    fn cached(&self, resource: &str, _cache: &TokenCache) -> Option<Secret> {
        let valid = !self.expiry_known || self.clock.now_unix() < self.token.expires_on;
        (valid && self.serves(resource)).then(|| self.token.secret.clone())
    }

    fn expiry_known(&self) -> bool {
        self.expiry_known
    }

    fn platform_cache(&self) -> PlatformCache {
        PlatformCache::Fixed
    }

    fn new_roles_remedy(&self) -> &'static str {
        "Roles granted recently only appear in a newly issued token: get a new one and reconnect."
    }
}

/// Compares resources loosely: case-insensitive, ignoring a trailing `/`.
pub(crate) fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}
