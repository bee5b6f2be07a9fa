//! Contexts: a credential plus the endpoints it is used with, and the `identity.*` operations.
//!
//! A managed-identity context holds the detected source and the identity selector; its tokens
//! live in the process-wide [`crate::cache::TokenCache`] (so two contexts for one identity share
//! them). An access-token context holds the token it was given.

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use crate::api::{parse_args, Services};
use crate::cache::CacheKey;
use crate::env::SnapshotEnvironment;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{warn, EventSink};
use crate::secret::Secret;
use crate::sources::{detect, IdentitySelector, ManagedSource};
use crate::token::{format_iso8601, normalize_resource, AccessToken};

pub const DEFAULT_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com";
pub const DEFAULT_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Default bound of one token acquisition, retries included (Azure.Core's NetworkTimeout).
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 100.0;
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;
/// Default wait for an endpoint probe in `identity.testEndpoint`.
pub const DEFAULT_PROBE_SECONDS: f64 = 1.0;
/// Application id of Microsoft Graph (the `aud` of v2 Graph tokens).
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

pub struct Context {
    graph_endpoint: Url,
    graph_resource: String,
    /// Resource of `Get-IdentityToken` without `-Resource` (normalised).
    default_resource: String,
    credential: Credential,
}

enum Credential {
    Managed {
        source: ManagedSource,
        selector: IdentitySelector,
        timeout: Duration,
        /// Source, endpoint and selector: the identity half of the cache key (computed once).
        cache_identity: String,
    },
    Static(StaticToken),
}

struct StaticToken {
    token: AccessToken,
    /// False for an opaque token (no `exp` claim): it is used until the service refuses it.
    expiry_known: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectArgs {
    method: Option<String>,
    client_id: Option<String>,
    object_id: Option<String>,
    resource_id: Option<String>,
    resource: Option<String>,
    graph_endpoint: Option<String>,
    graph_resource: Option<String>,
    timeout_seconds: Option<f64>,
    #[serde(default)]
    environment: HashMap<String, Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenArgs {
    resource: Option<String>,
    #[serde(default)]
    force_refresh: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestEndpointArgs {
    #[serde(default)]
    environment: HashMap<String, Value>,
    timeout_seconds: Option<f64>,
}

/// The host's variables as sent by the PowerShell layer (non-string values are ignored).
fn snapshot(environment: HashMap<String, Value>) -> SnapshotEnvironment {
    let vars = environment
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some((name, s)),
            _ => None,
        })
        .collect();
    SnapshotEnvironment { vars }
}

fn timeout_arg(seconds: Option<f64>, default: f64) -> Result<Duration> {
    let seconds = seconds.unwrap_or(default);
    if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_TIMEOUT_SECONDS {
        return Err(Error::invalid_argument(format!(
            "-TimeoutSeconds must be more than 0 and at most {MAX_TIMEOUT_SECONDS}; got {seconds}"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A GUID in its usual 8-4-4-4-12 form (braces tolerated), returned lower-case.
fn guid_arg(raw: &str, parameter: &str, meaning: &str) -> Result<String> {
    let trimmed = raw.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(trimmed);
    match uuid::Uuid::try_parse(inner) {
        Ok(id) if inner.len() == 36 => Ok(id.hyphenated().to_string()),
        _ => Err(Error::invalid_argument(format!(
            "{parameter} '{trimmed}' is not a GUID (expected the form 00000000-0000-0000-0000-000000000000); \
             {parameter} takes the identity's {meaning}"
        ))),
    }
}

/// An ARM resource id: `/subscriptions/{id}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}`.
fn resource_id_arg(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    let lower = trimmed.to_ascii_lowercase();
    let segments: Vec<&str> = trimmed.split('/').collect();
    let well_formed = lower.starts_with("/subscriptions/")
        && lower.contains("/providers/")
        && segments.len() >= 7
        && segments.iter().skip(1).all(|s| !s.is_empty())
        && !trimmed
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '&' | '%'));
    if well_formed {
        Ok(trimmed.to_string())
    } else {
        Err(Error::invalid_argument(format!(
            "-ResourceId '{trimmed}' is not an ARM resource id (expected \
             /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)"
        )))
    }
}

fn selector_arg(args: &ConnectArgs) -> Result<IdentitySelector> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut selectors = Vec::new();
    if let Some(v) = given(&args.client_id) {
        selectors.push(IdentitySelector::ClientId(guid_arg(
            &v,
            "-ClientId",
            "client (application) id",
        )?));
    }
    if let Some(v) = given(&args.object_id) {
        selectors.push(IdentitySelector::ObjectId(guid_arg(
            &v,
            "-ObjectId",
            "object (principal) id",
        )?));
    }
    if let Some(v) = given(&args.resource_id) {
        selectors.push(IdentitySelector::ResourceId(resource_id_arg(&v)?));
    }
    match selectors.len() {
        0 => Ok(IdentitySelector::SystemAssigned),
        1 => Ok(selectors.remove(0)),
        _ => Err(Error::invalid_argument(
            "pass at most one of -ClientId, -ObjectId and -ResourceId: each selects one user-assigned identity",
        )),
    }
}

/// `identity.connect`: builds a context and acquires a token for its default resource (which
/// validates the identity and fills the cache).
pub async fn connect(
    args: Value,
    secret: Option<Secret>,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    let args: ConnectArgs = parse_args(&args)?;
    let graph_endpoint = crate::http::validate_service_endpoint(
        args.graph_endpoint
            .as_deref()
            .unwrap_or(DEFAULT_GRAPH_ENDPOINT),
        "-GraphEndpoint",
    )?;
    let graph_resource = normalize_resource(
        args.graph_resource
            .as_deref()
            .unwrap_or(DEFAULT_GRAPH_RESOURCE),
        "-GraphResource",
    )?;
    let resource = args
        .resource
        .as_deref()
        .map(|r| normalize_resource(r, "-Resource"))
        .transpose()?;
    let method = args.method.as_deref().unwrap_or("ManagedIdentity");
    if method.eq_ignore_ascii_case("ManagedIdentity") {
        connect_managed(args, graph_endpoint, graph_resource, resource, svc, sink).await
    } else if method.eq_ignore_ascii_case("AccessToken") {
        connect_static(secret, graph_endpoint, graph_resource, resource, svc, sink)
    } else {
        Err(Error::invalid_argument(format!(
            "unknown connection method '{method}'; this version supports ManagedIdentity and AccessToken"
        )))
    }
}

async fn connect_managed(
    args: ConnectArgs,
    graph_endpoint: Url,
    graph_resource: String,
    resource: Option<String>,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    let selector = selector_arg(&args)?;
    let timeout = timeout_arg(args.timeout_seconds, DEFAULT_TIMEOUT_SECONDS)?;
    let source = detect(&snapshot(args.environment)).source?;
    if !source.supports(&selector) {
        return Err(source.unsupported_kind(&selector));
    }
    let default_resource = resource.unwrap_or_else(|| graph_resource.clone());
    let context = |selector: IdentitySelector| Context {
        graph_endpoint: graph_endpoint.clone(),
        graph_resource: graph_resource.clone(),
        default_resource: default_resource.clone(),
        credential: Credential::Managed {
            cache_identity: source.cache_identity(&selector),
            source: source.clone(),
            selector,
            timeout,
        },
    };
    let ctx = context(selector.clone());
    let error = match ctx.token(None, false, svc, sink).await {
        Ok(_) => return Ok(ctx),
        Err(error) => error,
    };
    // The seed tutorial's mistake: the identity's object id passed to -ClientId.
    let IdentitySelector::ClientId(id) = &selector else {
        return Err(error);
    };
    let as_object_id = IdentitySelector::ObjectId(id.clone());
    if error.kind != ErrorKind::IdentityNotFound || !source.supports(&as_object_id) {
        return Err(error);
    }
    let retry = context(as_object_id);
    match retry.token(None, false, svc, sink).await {
        Ok(token) => {
            let client_id = token.claims.as_ref().and_then(|c| c.appid.clone());
            warn(
                sink,
                format!(
                    "'{id}' is the identity's object id, not its client id; use -ObjectId {id} ({}). Connected with it as the object id.",
                    match client_id {
                        Some(client_id) => format!("its client id is {client_id}, which is what -ClientId expects"),
                        None => "-ClientId expects the identity's client (application) id".to_string(),
                    }
                ),
            );
            Ok(retry)
        }
        Err(second) if second.kind == ErrorKind::IdentityNotFound => {
            let mut error = error;
            error.message.push_str(&format!(
                " ('{id}' is not the object id of an attached identity either.)"
            ));
            Err(error)
        }
        Err(_) => Err(error),
    }
}

fn connect_static(
    secret: Option<Secret>,
    graph_endpoint: Url,
    graph_resource: String,
    resource: Option<String>,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Context> {
    let secret = secret
        .filter(|s| !s.expose().trim().is_empty())
        .ok_or_else(|| {
            Error::invalid_argument("-AccessToken is required for the AccessToken method")
        })?;
    let raw = secret.expose().trim();
    let value = match raw.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => raw[7..].trim(),
        _ => raw,
    };
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_argument(
            "-AccessToken contains whitespace; pass exactly one token",
        ));
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
    })
}

/// Compares resources loosely: case-insensitive, ignoring a trailing `/`.
fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

fn token_json(token: &AccessToken, expiry_known: bool) -> Value {
    json!({
        "resource": token.resource,
        "expiresOn": expiry_known.then(|| token.expires_on_iso()),
        "tokenType": token.token_type,
        "source": token.source,
    })
}

/// `identity.token`: token metadata, never the token itself.
pub async fn token_operation(
    ctx: &Context,
    args: &Value,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Value> {
    let args: TokenArgs = parse_args(args)?;
    let token = ctx
        .token(args.resource.as_deref(), args.force_refresh, svc, sink)
        .await?;
    Ok(token_json(&token, ctx.expiry_known()))
}

/// `identity.testEndpoint`: which source is here, and why not the others.
pub async fn test_endpoints(args: &Value, svc: &Services, _sink: &dyn EventSink) -> Result<Value> {
    let args: TestEndpointArgs = parse_args(args)?;
    let timeout = timeout_arg(args.timeout_seconds, DEFAULT_PROBE_SECONDS)?;
    let mut detection = detect(&snapshot(args.environment));
    detection.probe(svc.mi_transport.as_ref(), timeout).await;
    Ok(detection.to_json())
}

impl Context {
    fn expiry_known(&self) -> bool {
        match &self.credential {
            Credential::Managed { .. } => true,
            Credential::Static(s) => s.expiry_known,
        }
    }

    fn resource_or_default(&self, resource: Option<&str>) -> Result<String> {
        match resource {
            Some(r) => normalize_resource(r, "-Resource"),
            None => Ok(self.default_resource.clone()),
        }
    }

    /// Properties shown by Get-IdentityContext (fetches a token for the default resource when
    /// none is cached, to read its claims; warns through `sink` when the token has no roles).
    pub async fn describe(&self, svc: &Services, sink: &dyn EventSink) -> Result<Value> {
        let token = self.token(None, false, svc, sink).await?;
        let claims = token.claims.clone().unwrap_or_default();
        let (auth_type, source, identity_type, selected_by, selector) = match &self.credential {
            Credential::Managed {
                source, selector, ..
            } => (
                "ManagedIdentity",
                Some(source.kind().name()),
                Some(if selector.is_user_assigned() {
                    "UserAssigned"
                } else {
                    "SystemAssigned"
                }),
                selector.to_json(),
                Some(selector),
            ),
            Credential::Static(_) => ("AccessToken", None, None, Value::Null, None),
        };
        let from_selector = |wanted: &str| {
            selector
                .filter(|s| s.kind() == Some(wanted))
                .and_then(|s| s.value())
                .map(str::to_string)
        };
        if token.claims.is_some() && claims.roles.is_empty() {
            warn(
                sink,
                format!(
                    "The token for {} carries no application roles. Roles granted recently only appear once a new token \
                     is issued, and the managed-identity endpoint may serve a cached token for up to 24 hours. Check the \
                     grants with Get-GraphAppRoleAssignment.",
                    token.resource
                ),
            );
        }
        Ok(json!({
            "authType": auth_type,
            "source": source,
            "identityType": identity_type,
            "clientId": claims.appid.or_else(|| from_selector("ClientId")),
            "objectId": claims.oid.or_else(|| from_selector("ObjectId")),
            "tenantId": claims.tid,
            "resourceId": claims.xms_mirid.or_else(|| from_selector("ResourceId")),
            "roles": claims.roles,
            "resource": self.default_resource,
            "expiresOn": self.expiry_known().then(|| token.expires_on_iso()),
            "graphEndpoint": self.graph_endpoint.as_str().trim_end_matches('/'),
            "selectedBy": selected_by,
        }))
    }

    /// A token for `resource` (default: the context's default resource), from the process-wide
    /// cache when fresh; single-flight per (identity, resource).
    pub async fn token(
        &self,
        resource: Option<&str>,
        force_refresh: bool,
        svc: &Services,
        sink: &dyn EventSink,
    ) -> Result<AccessToken> {
        let resource = self.resource_or_default(resource)?;
        match &self.credential {
            Credential::Managed {
                source,
                selector,
                timeout,
                cache_identity,
            } => {
                let key = CacheKey::new(cache_identity.clone(), resource.clone());
                svc.cache
                    .get_or_fetch(&key, force_refresh, sink, || {
                        source.acquire(
                            svc.mi_transport.as_ref(),
                            &*svc.clock,
                            &resource,
                            selector,
                            *timeout,
                            sink,
                        )
                    })
                    .await
            }
            Credential::Static(s) => {
                self.check_static_resource(s, &resource)?;
                if s.expiry_known && svc.clock.now_unix() >= s.token.expires_on {
                    return Err(Error::new(
                        ErrorKind::TokenExpired,
                        format!(
                            "the access token passed to Connect-Identity expired at {}; get a new token and run Connect-Identity again",
                            s.token.expires_on_iso()
                        ),
                    ));
                }
                Ok(s.token.clone())
            }
        }
    }

    fn static_serves(&self, s: &StaticToken, resource: &str) -> bool {
        let audience = s.token.claims.as_ref().and_then(|c| c.aud.as_deref());
        same_resource(resource, &self.default_resource)
            || audience.is_some_and(|aud| {
                same_resource(resource, aud)
                    || (aud.eq_ignore_ascii_case(GRAPH_APP_ID)
                        && same_resource(resource, &self.graph_resource))
            })
    }

    fn check_static_resource(&self, s: &StaticToken, resource: &str) -> Result<()> {
        if self.static_serves(s, resource) {
            Ok(())
        } else {
            Err(Error::invalid_argument(format!(
                "this context holds an access token for {}; it cannot provide a token for {resource}",
                self.default_resource
            )))
        }
    }

    /// A fresh cached token without any I/O.
    pub fn cached_token(&self, resource: Option<&str>, svc: &Services) -> Option<Secret> {
        let resource = self.resource_or_default(resource).ok()?;
        match &self.credential {
            Credential::Managed { cache_identity, .. } => svc
                .cache
                .fresh_secret(&CacheKey::new(cache_identity.clone(), resource)),
            Credential::Static(s) => {
                let valid = !s.expiry_known || svc.clock.now_unix() < s.token.expires_on;
                (valid && self.static_serves(s, &resource)).then(|| s.token.secret.clone())
            }
        }
    }

    /// Graph base URL, e.g. `https://graph.microsoft.com` or an emulator's loopback URL.
    pub fn graph_endpoint(&self) -> &Url {
        &self.graph_endpoint
    }

    /// The resource (audience) of Graph tokens, e.g. `https://graph.microsoft.com`.
    pub fn graph_resource(&self) -> &str {
        &self.graph_resource
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::events::{Event, VecSink};
    use std::sync::Arc;

    const NOW: u64 = 1_700_000_000;

    fn services() -> Services {
        Services::new(Arc::new(FakeClock::at_unix(NOW))).expect("services")
    }

    fn args(value: Value) -> ConnectArgs {
        parse_args(&value).expect("args")
    }

    #[test]
    fn ids_are_validated_and_normalised() {
        let s = selector_arg(&args(
            json!({"clientId": " {5A1C0F3E-8B7D-4E2A-9C6F-1D3B5E7A9C01} "}),
        ))
        .expect("guid");
        assert_eq!(
            s,
            IdentitySelector::ClientId("5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01".into())
        );
        assert_eq!(
            selector_arg(&args(json!({"clientId": ""}))).ok(),
            Some(IdentitySelector::SystemAssigned)
        );
        for (field, parameter) in [("clientId", "-ClientId"), ("objectId", "-ObjectId")] {
            for bad in [
                "uami-reports",
                "5a1c0f3e8b7d4e2a9c6f1d3b5e7a9c01",
                "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c0",
            ] {
                let e = selector_arg(&args(json!({field: bad}))).expect_err(bad);
                assert_eq!(e.kind, ErrorKind::InvalidArgument);
                assert!(e.message.starts_with(parameter), "{}", e.message);
            }
        }
        let rid = "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u";
        assert_eq!(
            selector_arg(&args(json!({"resourceId": rid}))).ok(),
            Some(IdentitySelector::ResourceId(rid.into()))
        );
        for bad in [
            "uami",
            "/subscriptions/x",
            "/subscriptions//providers/a/b/c",
            "subscriptions/s/resourcegroups/r/providers/a/b/c",
        ] {
            let e = selector_arg(&args(json!({"resourceId": bad}))).expect_err(bad);
            assert!(e.message.starts_with("-ResourceId"), "{}", e.message);
        }
        let both = json!({"clientId": "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01", "objectId": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01"});
        assert_eq!(
            selector_arg(&args(both)).map_err(|e| e.kind).err(),
            Some(ErrorKind::InvalidArgument)
        );
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(
            timeout_arg(None, 100.0).ok(),
            Some(Duration::from_secs(100))
        );
        assert_eq!(
            timeout_arg(Some(0.5), 100.0).ok(),
            Some(Duration::from_millis(500))
        );
        for bad in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(timeout_arg(Some(bad), 100.0).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn access_token_contexts_describe_their_claims() {
        let svc = services();
        let sink = VecSink::default();
        let jwt = crate::jwt::unsigned(&json!({
            "aud": "https://graph.microsoft.com", "appid": "a", "oid": "o", "tid": "t",
            "roles": ["User.Read.All"], "exp": NOW + 3600
        }));
        let ctx = connect(
            json!({"method": "AccessToken"}),
            Some(Secret::new(format!("Bearer {jwt}"))),
            &svc,
            &sink,
        )
        .await
        .expect("connects");
        let d = ctx.describe(&svc, &sink).await.expect("describe");
        assert_eq!(d["authType"], "AccessToken");
        assert_eq!(d["source"], Value::Null);
        assert_eq!(d["identityType"], Value::Null);
        assert_eq!(d["selectedBy"], Value::Null);
        assert_eq!(
            (
                d["clientId"].as_str(),
                d["objectId"].as_str(),
                d["tenantId"].as_str()
            ),
            (Some("a"), Some("o"), Some("t"))
        );
        assert_eq!(d["roles"], json!(["User.Read.All"]));
        assert_eq!(d["expiresOn"], format_iso8601(NOW + 3600));
        assert_eq!(d["graphEndpoint"], "https://graph.microsoft.com");
        assert!(sink.events().is_empty(), "{:?}", sink.events());
        assert_eq!(
            ctx.cached_token(None, &svc).map(|s| s.expose() == jwt),
            Some(true)
        );
        assert!(ctx
            .cached_token(Some("https://graph.microsoft.com/.default"), &svc)
            .is_some());
        assert!(ctx
            .cached_token(Some("https://vault.azure.net"), &svc)
            .is_none());
        let e = ctx
            .token(Some("https://vault.azure.net"), false, &svc, &sink)
            .await
            .expect_err("other audience");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        let meta = token_operation(&ctx, &json!({"context": 1}), &svc, &sink)
            .await
            .expect("metadata");
        assert_eq!(
            meta,
            json!({"resource": "https://graph.microsoft.com", "expiresOn": format_iso8601(NOW + 3600), "tokenType": "Bearer", "source": null})
        );
    }

    #[tokio::test]
    async fn expired_and_opaque_access_tokens() {
        let svc = services();
        let sink = VecSink::default();
        let expired = crate::jwt::unsigned(&json!({"exp": NOW - 1}));
        let e = connect(
            json!({"method": "AccessToken"}),
            Some(Secret::new(expired.clone())),
            &svc,
            &sink,
        )
        .await
        .err()
        .expect("expired");
        assert_eq!(e.kind, ErrorKind::TokenExpired);
        assert!(!e.message.contains(&expired));
        let ctx = connect(
            json!({"method": "AccessToken"}),
            Some(Secret::new("opaque-value")),
            &svc,
            &sink,
        )
        .await
        .expect("opaque accepted");
        assert!(
            matches!(sink.events().as_slice(), [Event::Warning { message }] if message.contains("not a JWT"))
        );
        let d = ctx.describe(&svc, &sink).await.expect("describe");
        assert_eq!(d["expiresOn"], Value::Null);
        assert_eq!(d["roles"], json!([]));
        assert_eq!(
            sink.events().len(),
            1,
            "no roles warning for an opaque token"
        );
        assert!(connect(json!({"method": "AccessToken"}), None, &svc, &sink)
            .await
            .is_err());
        let e = connect(json!({"method": "Password"}), None, &svc, &sink)
            .await
            .err()
            .expect("unknown method");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }

    #[tokio::test]
    async fn connect_validates_arguments_before_any_request() {
        let svc = services();
        let sink = VecSink::default();
        for (args, needle) in [
            (
                json!({"graphEndpoint": "http://graph.example.com"}),
                "-GraphEndpoint",
            ),
            (json!({"clientId": "nope"}), "-ClientId"),
            (json!({"resource": " "}), "-Resource"),
            (json!({"timeoutSeconds": 0}), "-TimeoutSeconds"),
            (
                json!({"environment": {"AZURE_POD_IDENTITY_AUTHORITY_HOST": "ftp://x"}}),
                "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            ),
        ] {
            let e = connect(args, None, &svc, &sink)
                .await
                .err()
                .expect("invalid");
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
            assert!(e.message.contains(needle), "{}", e.message);
        }
        let e = connect(
            json!({"environment": {
                "AZURE_FEDERATED_TOKEN_FILE": "/f",
                "AZURE_TENANT_ID": "t",
                "AZURE_CLIENT_ID": "c"
            }}),
            None,
            &svc,
            &sink,
        )
        .await
        .err()
        .expect("workload identity");
        assert_eq!(e.kind, ErrorKind::UnsupportedSource);
    }
}
