//! Contexts over a token the caller hands over (`Connect-Identity -AccessToken`): the token is
//! checked (one value, not expired, a JWT when possible) and served only for its own audience.

use super::connect::Targets;
use super::{Context, Credential};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{warn, EventSink};
use crate::input::Input;
use crate::secret::Secret;
use crate::services::Services;
use crate::token::{format_iso8601, AccessToken};

/// Application id of Microsoft Graph (the `aud` of v2 Graph tokens).
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

pub(crate) struct StaticToken {
    pub(crate) token: AccessToken,
    /// False for an opaque token (no `exp` claim): it is used until the service refuses it.
    pub(crate) expiry_known: bool,
}

pub(crate) fn connect_static(
    secret: Option<Secret>,
    targets: Targets,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
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
    let now = svc.clock.now_unix();
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
    let Targets {
        graph_endpoint,
        graph_resource,
        resource,
    } = targets;
    let default_resource = resource
        .or(audience)
        .unwrap_or_else(|| graph_resource.clone());
    let expires_on = exp.unwrap_or(u64::MAX);
    let mut token = AccessToken::new(
        Secret::new(value),
        expires_on,
        now,
        default_resource.clone(),
        "Bearer",
    );
    token.refresh_on = expires_on;
    Ok(Context {
        graph_endpoint,
        graph_resource,
        default_resource,
        credential: Credential::Static(StaticToken {
            token,
            expiry_known: exp.is_some(),
        }),
        arm: Default::default(),
    })
}

/// Compares resources loosely: case-insensitive, ignoring a trailing `/`.
pub(crate) fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}
