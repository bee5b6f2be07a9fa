//! The credential seam and the credentials behind it. [`TokenCredential`] is what a context
//! holds: something that yields a token for a resource. Managed identities implement it in
//! `crate::sources`; here are the Entra sign-ins for admins and pipelines (issue 10): service
//! principals (client secret, certificate), workload identity federation, the Azure.Identity
//! environment variables, delegated sign-ins (device code, authorization code + PKCE on a
//! loopback redirect) with silent refresh for other scopes, and tokens borrowed from the Azure
//! CLI, each a [`SignInFlow`] in its own file, built by [`sign_in::sign_in`]; and an access token
//! handed to Connect-Identity ([`static_token`]).
//!
//! Entra requests go through one [`EntraClient`] (injected transport and clock, validated
//! [`Authority`]). Nothing here writes a token or refresh token anywhere but memory, and no
//! secret reaches an error message.

pub mod cloud;
pub mod entra;
pub mod entra_error;
pub mod scopes;
pub mod system_browser;
pub mod test_browser;

pub mod app_credential;
pub mod azure_cli;
pub mod browser;
pub mod certificate;
pub mod client_certificate;
pub mod client_secret;
pub mod device_code;
pub mod environment;
pub mod loopback;
pub mod pkce;
pub mod principal;
pub mod refresh;
pub mod sign_in;
pub mod static_token;
pub mod token_credential;
pub mod workload_identity;

pub use azure_cli::AzureCliCredential;
pub use browser::{BrowserCredential, PendingBrowserSignIn};
pub use certificate::{ClientCertificate, RsaParameters};
pub use client_certificate::ClientCertificateCredential;
pub use client_secret::ClientSecretCredential;
pub use cloud::{Authority, Cloud, CloudEndpoints};
pub use device_code::DeviceCodeCredential;
pub use entra::{EntraClient, TokenSet};
pub use entra_error::EntraError;
pub use environment::{EnvironmentCredentialKind, EnvironmentSelection};
pub use principal::{describe, AuthType, TokenPrincipal};
pub use refresh::{DelegatedSignIn, RefreshTokenCredential};
pub use scopes::Scopes;
pub use sign_in::{SignInCredential, SignInFlow, SignInMethod, SignInOptions, SignInSecrets};
pub use token_credential::{CredentialIdentity, TokenCredential};
pub use workload_identity::WorkloadIdentityCredential;
