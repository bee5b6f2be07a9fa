//! Contexts: a credential plus the endpoints it is used with.
//!
//! A context is one [`TokenCredential`] (a managed identity, an Entra sign-in, or an access token
//! given to Connect-Identity) plus the Graph and ARM endpoints and the default resource; it
//! never asks which kind of credential it holds. Tokens live in the process-wide
//! [`crate::cache::TokenCache`] (so two contexts for one identity share them). Building one is
//! [`connect`](mod@connect); what a caller may ask is typed in [`options`].

pub mod arm;
pub mod connect;
pub mod options;
pub mod tokens;

use serde::Serialize;
use url::Url;

use crate::credentials::static_token::same_resource;
use crate::credentials::TokenCredential;
use crate::error::Result;
use crate::events::{warn, EventSink};
use crate::input::Input;
use crate::secret::Secret;
use crate::services::Services;
use crate::token::{normalize_resource, AccessToken, PlatformCache, RenewedToken};

pub use connect::{connect, test_endpoints};
pub use options::{
    ConnectMethod, ConnectOptions, SignInMethod, TestEndpointOptions, DEFAULT_PROBE_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
};
pub use tokens::ContextTokens;

pub const DEFAULT_GRAPH_ENDPOINT: &str = "https://graph.microsoft.com";
pub const DEFAULT_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

pub struct Context {
    graph_endpoint: Url,
    graph_resource: String,
    /// Resource of `Get-IdentityToken` without `-Resource` (normalised).
    default_resource: String,
    /// Where the tokens come from: a managed identity, an Entra sign-in or a given token.
    credential: Box<dyn TokenCredential>,
    /// ARM endpoint, audience and default subscription (set by `connect` after building).
    arm: arm::ArmSettings,
}

/// What `Get-IdentityContext` shows (field names are the protocol's, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextDescription {
    pub auth_type: &'static str,
    pub source: Option<&'static str>,
    pub identity_type: Option<&'static str>,
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
    pub resource_id: Option<String>,
    pub roles: Vec<String>,
    pub resource: String,
    pub expires_on: Option<String>,
    pub graph_endpoint: String,
    pub selected_by: Option<SelectedBy>,
    // Issue 10: who a signed-in context speaks for.
    /// `Delegated` (a user: `scp`) or `AppOnly` (`roles`); `None` for an opaque token.
    pub principal_type: Option<&'static str>,
    /// Delegated permissions (`scp`) of the default resource's token.
    pub scopes: Vec<String>,
    /// The signed-in user (delegated tokens).
    pub account: Option<String>,
    /// The cloud (`-Environment`) of a sign-in.
    pub environment: Option<&'static str>,
    /// Where the Azure Resource Manager commands go, and their default subscription (issue 11).
    pub resource_manager_endpoint: String,
    pub subscription_id: Option<String>,
    /// The engine's version (issue 13).
    pub engine_version: &'static str,
}

/// Which id selected a user-assigned identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectedBy {
    pub kind: &'static str,
    pub value: String,
}

/// Token metadata (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub resource: String,
    pub expires_on: Option<String>,
    pub token_type: String,
    pub source: Option<&'static str>,
}

impl Context {
    /// Token metadata for `identity.token` (never the token itself).
    pub async fn token_info(
        &self,
        resource: Option<&str>,
        force_refresh: bool,
        svc: &Services,
        sink: &dyn EventSink,
    ) -> Result<TokenInfo> {
        let token = self.token(resource, force_refresh, svc, sink).await?;
        Ok(TokenInfo {
            resource: token.resource.clone(),
            expires_on: self.expiry_known().then(|| token.expires_on_iso()),
            token_type: token.token_type.clone(),
            source: token.source,
        })
    }

    /// The identity half of this context's cache keys (`None` for a static token).
    pub fn cache_identity(&self) -> Option<&str> {
        self.credential.cache_identity()
    }

    pub fn expiry_known(&self) -> bool {
        self.credential.expiry_known()
    }

    fn resource_or_default(&self, resource: Option<&str>) -> Result<String> {
        match resource {
            Some(r) => normalize_resource(r, Input::Resource),
            None => Ok(self.default_resource.clone()),
        }
    }

    /// Properties shown by Get-IdentityContext (fetches a token for the default resource when
    /// none is cached, to read its claims; warns through `sink` when the token has no roles).
    pub async fn describe(
        &self,
        svc: &Services,
        sink: &dyn EventSink,
    ) -> Result<ContextDescription> {
        let token = self.token(None, false, svc, sink).await?;
        let claims = token.claims.clone().unwrap_or_default();
        let known = self.credential.identity();
        let principal = crate::credentials::describe(token.secret.expose());
        let principal_type = match principal.auth_type {
            crate::credentials::AuthType::Delegated => Some("Delegated"),
            crate::credentials::AuthType::AppOnly => Some("AppOnly"),
            crate::credentials::AuthType::Unknown => None,
        };
        // Only Graph's roles are ours to explain: a token for ARM or another API without
        // application roles is normal.
        if token.claims.is_some()
            && claims.roles.is_empty()
            && principal_type != Some("Delegated")
            && same_resource(&token.resource, &self.graph_resource)
        {
            warn(
                sink,
                format!(
                    "The token for {} carries no application roles. {} Check the grants with \
                     Get-GraphAppRoleAssignment.",
                    token.resource,
                    self.credential.new_roles_remedy()
                ),
            );
        }
        Ok(ContextDescription {
            auth_type: self.credential.auth_type(),
            source: known.source,
            identity_type: known.identity_type,
            client_id: claims.appid.or(known.client_id),
            object_id: claims.oid.or(known.object_id),
            tenant_id: claims.tid.or(known.tenant_id),
            resource_id: claims.xms_mirid.or(known.resource_id),
            roles: claims.roles,
            resource: self.default_resource.clone(),
            expires_on: self.expiry_known().then(|| token.expires_on_iso()),
            graph_endpoint: self
                .graph_endpoint
                .as_str()
                .trim_end_matches('/')
                .to_string(),
            selected_by: known
                .selected_by
                .map(|(kind, value)| SelectedBy { kind, value }),
            principal_type,
            scopes: principal.scopes,
            account: principal.account,
            environment: known.environment,
            resource_manager_endpoint: self.arm.endpoint.as_str().trim_end_matches('/').to_string(),
            subscription_id: self.arm.subscription_id.clone(),
            engine_version: crate::ENGINE_VERSION,
        })
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
        self.credential
            .token(&resource, force_refresh, &svc.cache, sink)
            .await
    }

    /// A new token for `resource`, bypassing the module's cache, and where the platform lets a
    /// client skip its own cache (see [`crate::sources::ManagedSource::can_replace_cached_token`]),
    /// asking it to replace the token this process holds. The new token is cached as usual.
    pub async fn renew_token(
        &self,
        resource: Option<&str>,
        svc: &Services,
        sink: &dyn EventSink,
    ) -> Result<RenewedToken> {
        let resource = self.resource_or_default(resource)?;
        self.credential.renew(&resource, &svc.cache, sink).await
    }

    /// How the issuer of this context's tokens caches them: a managed-identity endpoint keeps
    /// its cached token (or replaces it when asked: App Service, Service Fabric), Entra issues a
    /// new one per request, a token given to Connect-Identity is fixed.
    pub fn platform_cache(&self) -> PlatformCache {
        self.credential.platform_cache()
    }

    /// A fresh cached token without any I/O.
    pub fn cached_token(&self, resource: Option<&str>, svc: &Services) -> Option<Secret> {
        let resource = self.resource_or_default(resource).ok()?;
        self.credential.cached(&resource, &svc.cache)
    }

    /// Graph base URL, e.g. `https://graph.microsoft.com` or an emulator's loopback URL.
    pub fn graph_endpoint(&self) -> &Url {
        &self.graph_endpoint
    }

    /// The resource (audience) of Graph tokens, e.g. `https://graph.microsoft.com`.
    pub fn graph_resource(&self) -> &str {
        &self.graph_resource
    }

    /// ARM endpoint, token audience and default subscription.
    pub fn arm(&self) -> &arm::ArmSettings {
        &self.arm
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::env::SnapshotEnvironment;
    use crate::error::ErrorKind;
    use crate::events::{Event, VecSink};
    use crate::token::format_iso8601;
    use serde_json::{json, Value};
    use std::sync::Arc;

    const NOW: u64 = 1_700_000_000;

    fn services() -> Services {
        Services::new(Arc::new(FakeClock::at_unix(NOW))).expect("services")
    }

    fn access_token() -> ConnectOptions {
        ConnectOptions {
            method: ConnectMethod::AccessToken,
            ..Default::default()
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
            access_token(),
            Some(Secret::new(format!("Bearer {jwt}"))),
            &svc,
            &sink,
        )
        .await
        .expect("connects");
        let d = serde_json::to_value(ctx.describe(&svc, &sink).await.expect("describe")).unwrap();
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
        assert_eq!(d["engineVersion"], env!("CARGO_PKG_VERSION"));
        assert_eq!(d["resourceManagerEndpoint"], "https://management.azure.com");
        assert_eq!(d["subscriptionId"], Value::Null);
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
        let meta = ctx
            .token_info(None, false, &svc, &sink)
            .await
            .expect("metadata");
        assert_eq!(
            serde_json::to_value(meta).unwrap(),
            json!({"resource": "https://graph.microsoft.com", "expiresOn": format_iso8601(NOW + 3600), "tokenType": "Bearer", "source": null})
        );
    }

    /// Only a Graph token without roles is worth a warning, and the remedy it names fits the
    /// credential: an access token is renewed by its owner, not by the managed-identity endpoint.
    #[tokio::test]
    async fn the_no_roles_warning_is_for_graph_tokens_and_names_the_credential_s_remedy() {
        let svc = services();
        for (aud, warns) in [
            ("https://graph.microsoft.com", true),
            ("https://management.azure.com", false),
        ] {
            let sink = VecSink::default();
            let jwt = crate::jwt::unsigned(&json!({"aud": aud, "appid": "a", "exp": NOW + 3600}));
            let options = ConnectOptions {
                resource: Some(aud.to_string()),
                ..access_token()
            };
            let ctx = connect(options, Some(Secret::new(jwt)), &svc, &sink)
                .await
                .expect("connects");
            ctx.describe(&svc, &sink).await.expect("describe");
            let warnings: Vec<String> = sink
                .events()
                .into_iter()
                .filter_map(|e| match e {
                    Event::Warning { message } => Some(message),
                    _ => None,
                })
                .collect();
            if warns {
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                assert!(warnings[0].contains("carries no application roles"));
                assert!(warnings[0].contains("get a new one"), "{}", warnings[0]);
                assert!(!warnings[0].contains("24 hours"), "{}", warnings[0]);
            } else {
                assert!(warnings.is_empty(), "{aud}: {warnings:?}");
            }
        }
    }

    #[tokio::test]
    async fn expired_and_opaque_access_tokens() {
        let svc = services();
        let sink = VecSink::default();
        let expired = crate::jwt::unsigned(&json!({"exp": NOW - 1}));
        let e = connect(
            access_token(),
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
            access_token(),
            Some(Secret::new("opaque-value")),
            &svc,
            &sink,
        )
        .await
        .expect("opaque accepted");
        assert!(
            matches!(sink.events().as_slice(), [Event::Warning { message }] if message.contains("not a JWT"))
        );
        let d = serde_json::to_value(ctx.describe(&svc, &sink).await.expect("describe")).unwrap();
        assert_eq!(d["expiresOn"], Value::Null);
        assert_eq!(d["roles"], json!([]));
        assert_eq!(
            sink.events().len(),
            1,
            "no roles warning for an opaque token"
        );
        assert!(connect(access_token(), None, &svc, &sink).await.is_err());
    }

    /// Issue 10: a sign-in's inputs are checked before any request (the services' real
    /// transport would fail loudly if one were made to these hosts).
    #[tokio::test]
    async fn sign_ins_validate_their_inputs_before_any_request() {
        let svc = services();
        let sink = VecSink::default();
        let sign_in = |method: ConnectMethod, f: &dyn Fn(&mut options::SignInOptions)| {
            let mut o = ConnectOptions {
                method,
                client_id: Some("5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01".into()),
                ..Default::default()
            };
            o.sign_in.tenant_id = Some("contoso.onmicrosoft.com".into());
            o.sign_in.secrets.client_secret = Some(Secret::new("s3cret-value"));
            f(&mut o.sign_in);
            o
        };
        for (args, needle) in [
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::ClientSecret), &|o| {
                    o.authority_host = Some("http://login.example.com".into())
                }),
                "AuthorityHost",
            ),
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::DeviceCode), &|o| {
                    o.authority_host = Some("http://login.example.com".into())
                }),
                "AuthorityHost",
            ),
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::ClientSecret), &|o| {
                    o.tenant_id = None
                }),
                "TenantId",
            ),
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::ClientSecret), &|o| {
                    o.secrets.client_secret = None
                }),
                "ClientSecret",
            ),
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::Browser), &|o| {
                    o.cloud = Some("Mars".into())
                }),
                "Environment",
            ),
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::Certificate), &|_| {}),
                "CertificatePath",
            ),
            (
                sign_in(ConnectMethod::SignIn(SignInMethod::DeviceCode), &|o| {
                    o.scopes = vec!["openid".into()]
                }),
                "Scopes",
            ),
        ] {
            let e = connect(args, None, &svc, &sink)
                .await
                .err()
                .expect("invalid");
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
            assert!(!e.message.contains("s3cret-value"));
        }
        assert!(!svc.http.https_client_created());
    }

    #[tokio::test]
    async fn connect_validates_arguments_before_any_request() {
        let svc = services();
        let sink = VecSink::default();
        let with_env = |name: &str, value: &str| ConnectOptions {
            environment: SnapshotEnvironment {
                vars: [(name.to_string(), value.to_string())].into(),
            },
            ..Default::default()
        };
        for (args, needle) in [
            (
                ConnectOptions {
                    graph_endpoint: Some("http://graph.example.com".into()),
                    ..Default::default()
                },
                Input::GraphEndpoint.to_string(),
            ),
            (
                ConnectOptions {
                    client_id: Some("nope".into()),
                    ..Default::default()
                },
                Input::ClientId.to_string(),
            ),
            (
                ConnectOptions {
                    resource: Some(" ".into()),
                    ..Default::default()
                },
                Input::Resource.to_string(),
            ),
            (
                ConnectOptions {
                    timeout_seconds: Some(0.0),
                    ..Default::default()
                },
                Input::Timeout.to_string(),
            ),
            (
                with_env("AZURE_POD_IDENTITY_AUTHORITY_HOST", "ftp://x"),
                "AZURE_POD_IDENTITY_AUTHORITY_HOST".to_string(),
            ),
        ] {
            let e = connect(args, None, &svc, &sink)
                .await
                .err()
                .expect("invalid");
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
            assert!(e.message.contains(&needle), "{}", e.message);
        }
        // -Identity on a workload-identity host signs in with the federated token: an object
        // id cannot select the identity, and a missing token file fails before any request.
        let workload_identity = |object_id: Option<&str>| ConnectOptions {
            environment: SnapshotEnvironment {
                vars: [
                    ("AZURE_FEDERATED_TOKEN_FILE", "/nonexistent/federated-token"),
                    ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
                    ("AZURE_CLIENT_ID", "6b2d1e4f-9c8e-4f3b-8d7a-2e4c6f8b0d02"),
                ]
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            },
            object_id: object_id.map(str::to_string),
            ..Default::default()
        };
        let e = connect(
            workload_identity(Some("0b7a4f1e-2c3d-4e5f-8a9b-1c2d3e4f5a6b")),
            None,
            &svc,
            &sink,
        )
        .await
        .err()
        .expect("an object id");
        assert_eq!(e.kind, ErrorKind::UnsupportedIdentityKind, "{}", e.message);
        assert!(
            e.message.contains(&Input::ClientId.to_string()),
            "{}",
            e.message
        );
        let e = connect(workload_identity(None), None, &svc, &sink)
            .await
            .err()
            .expect("no token file");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        assert!(
            e.message.contains("/nonexistent/federated-token"),
            "{}",
            e.message
        );
        assert!(!svc.http.https_client_created());
    }
}
