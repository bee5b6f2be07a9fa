//! Entra sign-ins (issue 10) as [`TokenCredential`]s: a service principal (client secret,
//! certificate, workload identity, or whichever the Azure.Identity variables describe), a
//! delegated sign-in (device code, browser) whose refresh token serves every other resource
//! silently, or the Azure CLI's account. Every input is validated (authority, tenant, client id,
//! scopes, certificate) before the first request; tokens and the refresh token live in memory
//! only.
//!
//! Each sign-in is one file: its credential, the [`SignInFlow`] that gets its tokens, and the
//! `sign_in` function that builds it from the `SignInInputs` (its own inputs validated before
//! any request); [`SignInCredential`] adds what every sign-in shares (the authority, the cloud,
//! the cache identity). Adding a sign-in is its file plus a [`SignInMethod`] and its line in
//! [`sign_in`], and its line in the protocol's method table.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::environment::AZURE_AUTHORITY_HOST;
use super::test_browser::TestBrowser;
use super::{Authority, Cloud, CredentialIdentity, EntraClient, RsaParameters, TokenCredential};
use crate::clock::{Clock, SharedClock};
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::http::Transport;
use crate::secret::Secret;
use crate::token::AccessToken;

/// The public client application delegated sign-ins use unless `-ClientId` names another:
/// "Microsoft Graph Command Line Tools", the application `Connect-MgGraph` signs in with.
pub const DEFAULT_PUBLIC_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
/// Tenant of a delegated sign-in without `-TenantId` (work and school accounts).
pub const DEFAULT_DELEGATED_TENANT: &str = "organizations";

/// How to sign in through Entra.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// A service principal's client secret.
    ClientSecret,
    /// A service principal's certificate (a PFX/PEM path, or the host's exported key).
    Certificate,
    /// Workload identity federation (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity,
    /// Azure.Identity's environment variables (`-EnvironmentVariable`).
    EnvironmentVariable,
    /// Delegated: device code flow.
    DeviceCode,
    /// Delegated: authorization code + PKCE in the system browser.
    Browser,
    /// Tokens of the signed-in Azure CLI.
    AzureCli,
}

/// The inputs of an Entra sign-in (issue 10). Secrets arrive outside JSON, in [`SignInSecrets`].
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    pub tenant_id: Option<String>,
    /// Delegated permissions (`-Scopes`), names or full scope URIs.
    pub scopes: Vec<String>,
    pub certificate_path: Option<String>,
    /// `-Environment`: Global, USGov, USGovDoD, China.
    pub cloud: Option<String>,
    pub authority_host: Option<String>,
    /// The workload identity's token file (default `AZURE_FEDERATED_TOKEN_FILE`).
    pub federated_token_file: Option<String>,
    pub secrets: SignInSecrets,
    /// Test hook only: a scripted "browser" instead of the system browser.
    pub test_browser: Option<TestBrowser>,
}

/// The secret inputs of a sign-in (from the operation's secret channel, never JSON).
#[derive(Debug, Clone, Default)]
pub struct SignInSecrets {
    pub client_secret: Option<Secret>,
    pub certificate_password: Option<Secret>,
    /// A certificate the host exported: its RSA key and DER.
    pub private_key: Option<RsaParameters>,
    pub certificate_der: Option<Vec<u8>>,
}

/// Everything one sign-in is built from.
pub struct SignInRequest<'a> {
    pub method: SignInMethod,
    /// `-ClientId` (the application's id in Entra), raw.
    pub client_id: Option<&'a str>,
    pub options: &'a SignInOptions,
    /// The host's variables.
    pub environment: &'a dyn Environment,
    pub cloud: Cloud,
    /// The context's Graph resource (a delegated sign-in's default scopes are Graph's).
    pub graph_resource: &'a str,
    /// `-TimeoutSec` when given (the browser's wait, the Azure CLI's run).
    pub timeout: Option<Duration>,
    /// Entra's transport and the process's clock.
    pub transport: Arc<dyn Transport>,
    pub clock: SharedClock,
}

/// One way of getting Entra tokens, implemented beside each credential.
pub trait SignInFlow: Send + Sync {
    /// `ClientSecret`, `ClientCertificate`, `WorkloadIdentity`, `DeviceCode`, `Browser`,
    /// `AzureCli` (`authType`, and the tokens' source).
    fn auth_type(&self) -> &'static str;

    /// The application (client) id it signs in as, when it has one.
    fn client_id(&self) -> Option<&str>;

    /// False for a flow that signs in by itself (the Azure CLI): the authority's tenant is not
    /// its tenant.
    fn uses_authority(&self) -> bool {
        true
    }

    /// A new token for `resource` (normalised).
    fn token_for<'a>(
        &'a self,
        entra: &'a EntraClient,
        clock: &'a dyn Clock,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<AccessToken>>;
}

/// The [`SignInFlow`] of an application credential (client secret, certificate, federated
/// assertion): its `SOURCE` is its auth type, and its own `client_id()` and
/// `get_token(entra, resource)` (which needs no clock) serve the trait.
macro_rules! application_sign_in_flow {
    ($credential:ty, $auth_type:expr) => {
        impl $crate::credentials::sign_in::SignInFlow for $credential {
            fn auth_type(&self) -> &'static str {
                $auth_type
            }

            fn client_id(&self) -> Option<&str> {
                Some(<$credential>::client_id(self))
            }

            fn token_for<'a>(
                &'a self,
                entra: &'a $crate::credentials::entra::EntraClient,
                _clock: &'a dyn $crate::clock::Clock,
                resource: &'a str,
            ) -> ::futures::future::BoxFuture<'a, $crate::error::Result<$crate::token::AccessToken>>
            {
                Box::pin(self.get_token(entra, resource))
            }
        }
    };
}
pub(crate) use application_sign_in_flow;

/// A context's Entra credential: one [`SignInFlow`] plus the authority and cloud it uses.
pub struct SignInCredential {
    entra: EntraClient,
    cloud: Cloud,
    flow: Box<dyn SignInFlow>,
    /// The identity half of this context's cache keys (unique per context).
    cache_identity: String,
    /// The process's clock (the Azure CLI's tokens are dated by it).
    clock: SharedClock,
}

impl SignInCredential {
    fn new(
        entra: EntraClient,
        cloud: Cloud,
        flow: Box<dyn SignInFlow>,
        clock: SharedClock,
    ) -> Result<Self> {
        Ok(Self {
            cache_identity: unique_identity(flow.auth_type())?,
            entra,
            cloud,
            flow,
            clock,
        })
    }
}

impl TokenCredential for SignInCredential {
    fn auth_type(&self) -> &'static str {
        self.flow.auth_type()
    }

    fn identity(&self) -> CredentialIdentity {
        CredentialIdentity {
            client_id: self.flow.client_id().map(str::to_string),
            tenant_id: self
                .flow
                .uses_authority()
                .then(|| self.entra.authority.tenant().to_string()),
            environment: Some(self.cloud.name()),
            ..CredentialIdentity::default()
        }
    }

    fn cache_identity(&self) -> Option<&str> {
        Some(&self.cache_identity)
    }

    fn fetch<'a>(
        &'a self,
        resource: &'a str,
        _replacing: Option<&'a Secret>,
        _sink: &'a dyn EventSink,
    ) -> BoxFuture<'a, Result<AccessToken>> {
        self.flow.token_for(&self.entra, &*self.clock, resource)
    }
}

/// `-Environment` (default Global).
pub fn cloud_of(options: &SignInOptions) -> Result<Cloud> {
    match options.cloud.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => Cloud::parse(name),
        _ => Ok(Cloud::Global),
    }
}

fn given(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `v`, or the error naming `what` the sign-in with `method` needs.
pub(crate) fn required(
    v: Option<String>,
    what: impl std::fmt::Display,
    method: &str,
) -> Result<String> {
    v.ok_or_else(|| Error::invalid_argument(format!("{what} is required to sign in with {method}")))
}

fn unique_identity(kind: &str) -> Result<String> {
    Ok(format!(
        "entra|{kind}|{}",
        super::pkce::random_url_safe(12)?
    ))
}

/// A sign-in's inputs, trimmed, with the checks every sign-in shares done (an explicit
/// authority is validated before anything else); each sign-in's own file builds from it.
pub(crate) struct SignInInputs<'a> {
    pub options: &'a SignInOptions,
    pub env: &'a dyn Environment,
    pub cloud: Cloud,
    pub graph_resource: &'a str,
    pub timeout: Option<Duration>,
    /// `-ClientId` and `-TenantId` when given.
    pub client: Option<String>,
    pub tenant: Option<String>,
    /// `-AuthorityHost` when given.
    pub explicit_host: Option<String>,
    transport: Arc<dyn Transport>,
    clock: SharedClock,
}

impl SignInInputs<'_> {
    /// `-AuthorityHost`, else `AZURE_AUTHORITY_HOST` (the federated sign-ins read it).
    pub fn host_or_environment(&self) -> Option<String> {
        self.explicit_host
            .clone()
            .or_else(|| self.env.var(AZURE_AUTHORITY_HOST))
    }

    /// The Entra client for `tenant` at `host` (default: the cloud's authority).
    pub fn entra(&self, host: Option<String>, tenant: &str) -> Result<EntraClient> {
        Ok(EntraClient::new(
            self.transport.clone(),
            self.clock.clone(),
            Authority::new(self.cloud, host.as_deref(), tenant)?,
        ))
    }

    /// The context's credential: `flow` at `entra`.
    pub fn credential(
        &self,
        entra: EntraClient,
        flow: Box<dyn SignInFlow>,
    ) -> Result<SignInCredential> {
        SignInCredential::new(entra, self.cloud, flow, self.clock.clone())
    }
}

/// A built sign-in and the first token when signing in produced one.
pub type Signed = (SignInCredential, Option<AccessToken>);

/// Builds the credential (no request yet except the interactive sign-ins, which run here) and
/// returns the first token when the sign-in produced one.
pub async fn sign_in(request: SignInRequest<'_>, sink: &dyn EventSink) -> Result<Signed> {
    let o = request.options;
    // Validated first: an http authority off loopback is refused before any request.
    let explicit_host = given(o.authority_host.as_deref());
    if let Some(host) = &explicit_host {
        Authority::new(request.cloud, Some(host), "organizations")?;
    }
    let inputs = SignInInputs {
        options: o,
        env: request.environment,
        cloud: request.cloud,
        graph_resource: request.graph_resource,
        timeout: request.timeout,
        client: given(request.client_id),
        tenant: given(o.tenant_id.as_deref()),
        explicit_host,
        transport: request.transport,
        clock: request.clock,
    };
    match request.method {
        SignInMethod::ClientSecret => super::client_secret::sign_in(&inputs),
        SignInMethod::Certificate => super::client_certificate::sign_in(&inputs, sink),
        SignInMethod::WorkloadIdentity => super::workload_identity::sign_in(&inputs),
        SignInMethod::EnvironmentVariable => super::app_credential::sign_in(&inputs, sink),
        SignInMethod::DeviceCode => super::device_code::sign_in(&inputs, sink).await,
        SignInMethod::Browser => super::browser::sign_in(&inputs, sink).await,
        SignInMethod::AzureCli => super::azure_cli::sign_in(&inputs),
    }
}
