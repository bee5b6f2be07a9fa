//! Contexts over an Entra sign-in (issue 10): a service principal (client secret, certificate,
//! workload identity, or whichever the Azure.Identity variables describe), a delegated sign-in
//! (device code, browser) whose refresh token serves every other resource silently, or the
//! Azure CLI's account. Every input is validated (authority, tenant, client id, scopes,
//! certificate) before the first request; tokens and the refresh token live in memory only.

use std::time::Duration;

use futures::future::BoxFuture;

use super::options::{ConnectMethod, ConnectOptions, SignInOptions, TestBrowser};
use crate::clock::SharedClock;
use crate::credentials::environment::{
    self as env_credential, AZURE_AUTHORITY_HOST, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE,
    AZURE_TENANT_ID,
};
use crate::credentials::{
    AppCredential, Authority, AzureCliCredential, BrowserCredential, ClientCertificate,
    ClientCertificateCredential, ClientSecretCredential, Cloud, DeviceCodeCredential, EntraClient,
    RefreshTokenCredential, Scopes, WorkloadIdentityCredential,
};
use crate::credentials::{CredentialIdentity, TokenCredential};
use crate::env::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{verbose, warn, EventSink};
use crate::secret::Secret;
use crate::services::Services;
use crate::token::{normalize_resource, AccessToken};

/// The public client application delegated sign-ins use unless `-ClientId` names another:
/// "Microsoft Graph Command Line Tools", the application `Connect-MgGraph` signs in with.
pub const DEFAULT_PUBLIC_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";
/// Tenant of a delegated sign-in without `-TenantId` (work and school accounts).
pub const DEFAULT_DELEGATED_TENANT: &str = "organizations";

/// A context's Entra credential.
pub(crate) struct SignIn {
    entra: EntraClient,
    cloud: Cloud,
    flow: Flow,
    /// The identity half of this context's cache keys (unique per context).
    pub(crate) cache_identity: String,
    client_id: Option<String>,
    /// The process's clock (the Azure CLI's tokens are dated by it).
    clock: SharedClock,
}

enum Flow {
    App(AppCredential),
    Delegated {
        auth_type: &'static str,
        refresh: Option<RefreshTokenCredential>,
        scopes: Scopes,
    },
    AzureCli(AzureCliCredential),
}

/// The endpoints a sign-in context is used with, decided by `-Environment` unless given.
pub(crate) struct CloudChoice {
    pub cloud: Cloud,
}

/// `-Environment` (default Global).
pub(crate) fn cloud_of(options: &SignInOptions) -> Result<CloudChoice> {
    let cloud = match options.cloud.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => Cloud::parse(name)?,
        _ => Cloud::Global,
    };
    Ok(CloudChoice { cloud })
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
        crate::credentials::pkce::random_url_safe(12)?
    ))
}

impl SignIn {
    /// Builds the credential (no request yet except the interactive sign-ins, which run here)
    /// and returns the first token when the sign-in produced one.
    pub(crate) async fn build(
        args: &ConnectOptions,
        cloud: Cloud,
        graph_resource: &str,
        timeout: Option<Duration>,
        svc: &Services,
        sink: &dyn EventSink,
    ) -> Result<(SignIn, Option<AccessToken>)> {
        let o = &args.sign_in;
        let env = &args.environment;
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
        let client_arg = given(args.client_id.as_deref());
        let tenant_arg = given(o.tenant_id.as_deref());
        let entra = |host: Option<String>, tenant: &str| -> Result<EntraClient> {
            Ok(EntraClient::new(
                svc.service_transport.clone(),
                svc.clock.clone(),
                Authority::new(cloud, host.as_deref(), tenant)?,
            ))
        };
        let app = |entra: EntraClient, credential: AppCredential| -> Result<SignIn> {
            Ok(SignIn {
                entra,
                cloud,
                client_id: Some(credential.client_id().to_string()),
                cache_identity: unique_identity(credential.kind())?,
                flow: Flow::App(credential),
                clock: svc.clock.clone(),
            })
        };
        match args.method {
            ConnectMethod::ClientSecret => {
                let tenant = required(tenant_arg, "-TenantId", "a client secret")?;
                let client = required(client_arg, "-ClientId", "a client secret")?;
                let secret = o.secrets.client_secret.clone().ok_or_else(|| {
                    Error::invalid_argument("-ClientSecret (or -Credential) is required")
                })?;
                let entra = entra(explicit_host, &tenant)?;
                let credential =
                    AppCredential::ClientSecret(ClientSecretCredential::new(&client, secret)?);
                Ok((app(entra, credential)?, None))
            }
            ConnectMethod::Certificate => {
                let tenant = required(tenant_arg, "-TenantId", "a certificate")?;
                let client = required(client_arg, "-ClientId", "a certificate")?;
                let certificate =
                    match (
                        given(o.certificate_path.as_deref()),
                        &o.secrets.private_key,
                        &o.secrets.certificate_der,
                    ) {
                        (Some(path), _, _) => ClientCertificate::from_file(
                            std::path::Path::new(&path),
                            o.secrets.certificate_password.as_ref(),
                        )?,
                        (None, Some(key), Some(der)) => {
                            ClientCertificate::from_rsa_parameters(key, der)?
                        }
                        _ => return Err(Error::invalid_argument(
                            "-CertificatePath, -Certificate or -CertificateThumbprint is required",
                        )),
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
                let credential = AppCredential::ClientCertificate(Box::new(
                    ClientCertificateCredential::new(&client, certificate)?,
                ));
                Ok((app(entra, credential)?, None))
            }
            ConnectMethod::WorkloadIdentity => {
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
                let credential = AppCredential::WorkloadIdentity(WorkloadIdentityCredential::new(
                    &client, file,
                )?);
                Ok((app(entra, credential)?, None))
            }
            ConnectMethod::EnvironmentVariable => {
                let selection = env_credential::select(env)?;
                for reason in &selection.reasons {
                    verbose(sink, reason.clone());
                }
                let host = explicit_host.or_else(|| selection.authority_host.clone());
                let entra = entra(host, &selection.tenant_id)?;
                let credential = AppCredential::from_environment(&selection)?;
                Ok((app(entra, credential)?, None))
            }
            ConnectMethod::DeviceCode | ConnectMethod::Browser => {
                let tenant = tenant_arg.unwrap_or_else(|| DEFAULT_DELEGATED_TENANT.to_string());
                let client = client_arg.unwrap_or_else(|| DEFAULT_PUBLIC_CLIENT_ID.to_string());
                let scopes = if o.scopes.is_empty() {
                    Scopes::delegated(&[".default"], graph_resource)?
                } else {
                    Scopes::delegated(&o.scopes, graph_resource)?
                };
                let entra = entra(explicit_host, &tenant)?;
                let (auth_type, set) = if args.method == ConnectMethod::DeviceCode {
                    let credential = DeviceCodeCredential::new(&client, scopes.clone())?;
                    ("DeviceCode", credential.sign_in(&entra, sink).await?)
                } else {
                    let credential = BrowserCredential::new(&client, scopes.clone())?;
                    let wait =
                        timeout.unwrap_or(crate::credentials::browser::DEFAULT_SIGN_IN_TIMEOUT);
                    let set = browser_sign_in(&credential, &entra, o.test_browser, env, wait, sink)
                        .await?;
                    ("Browser", set)
                };
                let refresh = RefreshTokenCredential::from_sign_in(&client, &set).transpose()?;
                let mut first = set.access_token;
                first.source = Some(auth_type);
                let sign_in = SignIn {
                    entra,
                    cloud,
                    client_id: Some(client),
                    cache_identity: unique_identity(auth_type)?,
                    clock: svc.clock.clone(),
                    flow: Flow::Delegated {
                        auth_type,
                        refresh,
                        scopes,
                    },
                };
                Ok((sign_in, Some(first)))
            }
            ConnectMethod::AzureCli => {
                let mut credential = AzureCliCredential::new(tenant_arg.as_deref())?;
                if let Some(timeout) = timeout {
                    credential = credential.with_timeout(timeout);
                }
                if let Some(path) = env.var("PATH") {
                    credential = credential.with_search_path(path);
                }
                // The authority is not used (az signs in itself) but -Environment still picks
                // the endpoints.
                let entra = entra(explicit_host, DEFAULT_DELEGATED_TENANT)?;
                let sign_in = SignIn {
                    entra,
                    cloud,
                    client_id: None,
                    cache_identity: unique_identity("AzureCli")?,
                    clock: svc.clock.clone(),
                    flow: Flow::AzureCli(credential),
                };
                Ok((sign_in, None))
            }
            ConnectMethod::ManagedIdentity | ConnectMethod::AccessToken => Err(Error::internal(
                "a managed-identity or access-token connect is not a sign-in",
            )),
        }
    }

    /// `ClientSecret`, `ClientCertificate`, `WorkloadIdentity`, `DeviceCode`, `Browser`,
    /// `AzureCli`.
    pub(crate) fn auth_type(&self) -> &'static str {
        match &self.flow {
            Flow::App(c) => c.kind(),
            Flow::Delegated { auth_type, .. } => auth_type,
            Flow::AzureCli(_) => "AzureCli",
        }
    }

    pub(crate) fn tenant(&self) -> Option<&str> {
        match &self.flow {
            Flow::AzureCli(_) => None,
            _ => Some(self.entra.authority.tenant()),
        }
    }

    /// A new token for `resource` (normalised): app-only credentials ask for `.default`;
    /// a delegated sign-in redeems its refresh token (its own scopes for the sign-in's
    /// resource, `.default` for any other); the CLI is asked for the resource.
    async fn get_token(&self, resource: &str) -> Result<AccessToken> {
        match &self.flow {
            Flow::App(credential) => credential.get_token(&self.entra, resource).await,
            Flow::Delegated {
                refresh, scopes, ..
            } => {
                let refresh = refresh.as_ref().ok_or_else(|| {
                    Error::new(
                        ErrorKind::AuthenticationFailed,
                        format!(
                            "the sign-in returned no refresh token, so no token for {resource} can be obtained silently; run Connect-Identity again"
                        ),
                    )
                })?;
                let same = normalize_resource(&scopes.resource(), crate::input::Input::Resource)
                    .is_ok_and(|r| r.eq_ignore_ascii_case(resource));
                let wanted = if same {
                    scopes.clone()
                } else {
                    Scopes::app_only(resource)?
                };
                let mut set = refresh.get_token(&self.entra, &wanted).await?;
                set.access_token.resource = resource.to_string();
                Ok(set.access_token)
            }
            Flow::AzureCli(credential) => credential.get_token(&*self.clock, resource).await,
        }
    }
}

impl TokenCredential for SignIn {
    fn auth_type(&self) -> &'static str {
        SignIn::auth_type(self)
    }

    fn identity(&self) -> CredentialIdentity {
        CredentialIdentity {
            client_id: self.client_id.clone(),
            tenant_id: self.tenant().map(str::to_string),
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
        Box::pin(self.get_token(resource))
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
