//! Entra sign-ins (issue 10) as [`TokenCredential`]s: a service principal (client secret,
//! certificate, workload identity, or whichever the Azure.Identity variables describe), a
//! delegated sign-in (device code, browser) whose refresh token serves every other resource
//! silently, or the Azure CLI's account. Every input is validated (authority, tenant, client id,
//! scopes, certificate) before the first request; tokens and the refresh token live in memory
//! only.
//!
//! Each way of getting tokens is a [`SignInFlow`] implemented beside its credential (one file
//! each); [`SignInCredential`] adds what every sign-in shares (the authority, the cloud, the cache
//! identity). Adding a sign-in is its file, a [`SignInMethod`] with its branch in [`sign_in`], and
//! its line in the protocol's method table.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::environment::{
    self as env_credential, AZURE_AUTHORITY_HOST, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE,
    AZURE_TENANT_ID,
};
use super::refresh::DelegatedSignIn;
use super::test_browser::TestBrowser;
use super::{
    Authority, AzureCliCredential, BrowserCredential, ClientCertificate,
    ClientCertificateCredential, ClientSecretCredential, Cloud, CredentialIdentity,
    DeviceCodeCredential, EntraClient, RefreshTokenCredential, RsaParameters, Scopes,
    TokenCredential, WorkloadIdentityCredential,
};
use crate::clock::{Clock, SharedClock};
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::events::{verbose, warn, EventSink};
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

fn required(v: Option<String>, what: &str, method: &str) -> Result<String> {
    v.ok_or_else(|| Error::invalid_argument(format!("{what} is required to sign in with {method}")))
}

fn unique_identity(kind: &str) -> Result<String> {
    Ok(format!(
        "entra|{kind}|{}",
        super::pkce::random_url_safe(12)?
    ))
}

/// Builds the credential (no request yet except the interactive sign-ins, which run here) and
/// returns the first token when the sign-in produced one.
pub async fn sign_in(
    request: SignInRequest<'_>,
    sink: &dyn EventSink,
) -> Result<(SignInCredential, Option<AccessToken>)> {
    let SignInRequest {
        method,
        client_id,
        options: o,
        environment: env,
        cloud,
        graph_resource,
        timeout,
        transport,
        clock,
    } = request;
    let authority_host = |fallback_env: bool| {
        given(o.authority_host.as_deref()).or_else(|| {
            if fallback_env {
                env.var(AZURE_AUTHORITY_HOST)
            } else {
                None
            }
        })
    };
    // Validated first: an http authority off loopback is refused before any request.
    let explicit_host = authority_host(false);
    if let Some(host) = &explicit_host {
        Authority::new(cloud, Some(host), "organizations")?;
    }
    let client_arg = given(client_id);
    let tenant_arg = given(o.tenant_id.as_deref());
    let entra = |host: Option<String>, tenant: &str| -> Result<EntraClient> {
        Ok(EntraClient::new(
            transport.clone(),
            clock.clone(),
            Authority::new(cloud, host.as_deref(), tenant)?,
        ))
    };
    let credential = |entra: EntraClient, flow: Box<dyn SignInFlow>| {
        SignInCredential::new(entra, cloud, flow, clock.clone())
    };
    match method {
        SignInMethod::ClientSecret => {
            let tenant = required(tenant_arg, "-TenantId", "a client secret")?;
            let client = required(client_arg, "-ClientId", "a client secret")?;
            let secret = o.secrets.client_secret.clone().ok_or_else(|| {
                Error::invalid_argument("-ClientSecret (or -Credential) is required")
            })?;
            let entra = entra(explicit_host, &tenant)?;
            let flow = ClientSecretCredential::new(&client, secret)?;
            Ok((credential(entra, Box::new(flow))?, None))
        }
        SignInMethod::Certificate => {
            let tenant = required(tenant_arg, "-TenantId", "a certificate")?;
            let client = required(client_arg, "-ClientId", "a certificate")?;
            let certificate = match (
                given(o.certificate_path.as_deref()),
                &o.secrets.private_key,
                &o.secrets.certificate_der,
            ) {
                (Some(path), _, _) => ClientCertificate::from_file(
                    std::path::Path::new(&path),
                    o.secrets.certificate_password.as_ref(),
                )?,
                (None, Some(key), Some(der)) => ClientCertificate::from_rsa_parameters(key, der)?,
                _ => {
                    return Err(Error::invalid_argument(
                        "-CertificatePath, -Certificate or -CertificateThumbprint is required",
                    ))
                }
            };
            verbose(
                sink,
                format!(
                    "Signing in with the certificate {} (x5t#S256 {}).",
                    certificate.thumbprint(),
                    certificate.x5t_s256()
                ),
            );
            let entra = entra(explicit_host, &tenant)?;
            let flow = ClientCertificateCredential::new(&client, certificate)?;
            Ok((credential(entra, Box::new(flow))?, None))
        }
        SignInMethod::WorkloadIdentity => {
            let tenant = required(
                tenant_arg.or_else(|| env.var(AZURE_TENANT_ID)),
                "-TenantId (or AZURE_TENANT_ID)",
                "workload identity",
            )?;
            let client = required(
                client_arg.or_else(|| env.var(AZURE_CLIENT_ID)),
                "-ClientId (or AZURE_CLIENT_ID)",
                "workload identity",
            )?;
            let file = required(
                given(o.federated_token_file.as_deref())
                    .or_else(|| env.var(AZURE_FEDERATED_TOKEN_FILE)),
                AZURE_FEDERATED_TOKEN_FILE,
                "workload identity",
            )?;
            let entra = entra(authority_host(true), &tenant)?;
            let flow = WorkloadIdentityCredential::new(&client, file)?;
            Ok((credential(entra, Box::new(flow))?, None))
        }
        SignInMethod::EnvironmentVariable => {
            let selection = env_credential::select(env)?;
            for reason in &selection.reasons {
                verbose(sink, reason.clone());
            }
            let host = explicit_host.or_else(|| selection.authority_host.clone());
            let entra = entra(host, &selection.tenant_id)?;
            let flow = super::app_credential::from_environment(&selection)?;
            Ok((credential(entra, flow)?, None))
        }
        SignInMethod::DeviceCode | SignInMethod::Browser => {
            let tenant = tenant_arg.unwrap_or_else(|| DEFAULT_DELEGATED_TENANT.to_string());
            let client = client_arg.unwrap_or_else(|| DEFAULT_PUBLIC_CLIENT_ID.to_string());
            let scopes = if o.scopes.is_empty() {
                Scopes::delegated(&[".default"], graph_resource)?
            } else {
                Scopes::delegated(&o.scopes, graph_resource)?
            };
            let entra = entra(explicit_host, &tenant)?;
            let (auth_type, set) = if method == SignInMethod::DeviceCode {
                let flow = DeviceCodeCredential::new(&client, scopes.clone())?;
                ("DeviceCode", flow.sign_in(&entra, sink).await?)
            } else {
                let flow = BrowserCredential::new(&client, scopes.clone())?;
                let wait = timeout.unwrap_or(super::browser::DEFAULT_SIGN_IN_TIMEOUT);
                let set = browser_sign_in(&flow, &entra, o.test_browser, env, wait, sink).await?;
                ("Browser", set)
            };
            let refresh = RefreshTokenCredential::from_sign_in(&client, &set).transpose()?;
            let mut first = set.access_token;
            first.source = Some(auth_type);
            let flow = DelegatedSignIn::new(auth_type, client, refresh, scopes);
            Ok((credential(entra, Box::new(flow))?, Some(first)))
        }
        SignInMethod::AzureCli => {
            let mut flow = AzureCliCredential::new(tenant_arg.as_deref())?;
            if let Some(timeout) = timeout {
                flow = flow.with_timeout(timeout);
            }
            if let Some(path) = env.var("PATH") {
                flow = flow.with_search_path(path);
            }
            // The authority is not used (az signs in itself) but -Environment still picks
            // the endpoints.
            let entra = entra(explicit_host, DEFAULT_DELEGATED_TENANT)?;
            Ok((credential(entra, Box::new(flow))?, None))
        }
    }
}

/// Opens the system browser (or prints the URL where there is none; the test hook follows it
/// instead) and waits, bounded by `timeout`, for the redirect.
async fn browser_sign_in(
    credential: &BrowserCredential,
    entra: &EntraClient,
    test_browser: Option<TestBrowser>,
    env: &dyn Environment,
    timeout: Duration,
    sink: &dyn EventSink,
) -> Result<crate::credentials::TokenSet> {
    let pending = credential.start(&entra.authority, None).await?;
    let url = pending.authorize_url().clone();
    match test_browser {
        Some(behaviour) => {
            verbose(
                sink,
                "Test hook: a scripted browser follows the sign-in page.",
            );
            let browse = crate::credentials::test_browser::follow(url, behaviour);
            let (set, followed) = tokio::join!(pending.complete(entra, timeout), browse);
            if let Err(e) = followed {
                verbose(sink, e.message);
            }
            set
        }
        None => {
            if crate::credentials::system_browser::open(&url, env).await {
                verbose(
                    sink,
                    format!("Opened the system browser to sign in; waiting for the sign-in to finish (at most {} s).", timeout.as_secs()),
                );
            } else {
                warn(
                    sink,
                    format!(
                        "No browser could be opened here. To sign in, open this page in a browser on this machine: {url} \
                         (or use -UseDeviceCode to sign in from another device)."
                    ),
                );
            }
            pending.complete(entra, timeout).await
        }
    }
}
