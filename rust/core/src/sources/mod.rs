//! Managed-identity credential sources, one file per source (request shape, identity-id wire
//! names, "identity not found" recognition and one detection function each), plus:
//! - [`selection`]: the pure choice of a source from the environment (protocol spec §3,
//!   MSAL.NET's order plus workload identity before the IMDS fallback);
//! - [`acquire`]: one token acquisition through the [`crate::http::Transport`] seam, with
//!   retries per [`crate::retry`];
//! - [`diagnostics`]: endpoint probes and the explanations shown to people;
//! - [`redact`]: what of an answer or address may be shown.
//!
//! Implemented: IMDS ([`imds`]), App Service / Functions / Azure Automation ([`app_service`]),
//! Azure Arc ([`arc`], with its key-file challenge), Cloud Shell ([`cloud_shell`]), Azure ML and
//! legacy App Service MSI ([`machine_learning`]) and Service Fabric ([`service_fabric`], over
//! HTTPS pinned to its certificate thumbprint). Workload identity is detected (so
//! `Test-IdentityEndpoint` can explain what it sees) but gives `UnsupportedSource` when chosen.

pub mod acquire;
pub mod app_service;
pub mod arc;
pub mod cloud_shell;
pub mod credential;
pub mod diagnostics;
pub mod first_contact;
pub mod imds;
pub mod machine_learning;
pub mod redact;
mod request_parts;
pub mod selection;
pub mod service_fabric;
pub mod unknown_resource;
pub mod workload_identity;

use reqwest::header::HeaderMap;
use reqwest::Method;
use url::Url;

use crate::error::{Error, ErrorKind};
use crate::http::CertificatePin;
use crate::input::Input;
use crate::retry::RetryPolicy;
use crate::secret::Secret;

pub use credential::{ManagedIdentityCredential, ManagedIo};
pub use redact::{display_url, error_text};
pub(crate) use request_parts::{endpoint_url, secret_headers, Schemes};
pub use selection::{detect, Detection, SourceReport};

/// Every managed-identity source the engine knows, in detection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    ServiceFabric,
    AppService,
    AzureAutomation,
    MachineLearning,
    CloudShell,
    Arc,
    WorkloadIdentity,
    Imds,
}

impl SourceKind {
    /// A source with no managed-identity endpoint, which `-Identity` uses by signing in through
    /// Entra instead (workload identity federation: `context/connect.rs`).
    pub fn signs_in(self) -> bool {
        matches!(self, SourceKind::WorkloadIdentity)
    }

    /// The stable name in JSON output (`source`).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::ServiceFabric => "ServiceFabric",
            SourceKind::AppService => "AppService",
            SourceKind::AzureAutomation => "AzureAutomation",
            SourceKind::MachineLearning => "MachineLearning",
            SourceKind::CloudShell => "CloudShell",
            SourceKind::Arc => "Arc",
            SourceKind::WorkloadIdentity => "WorkloadIdentity",
            SourceKind::Imds => "IMDS",
        }
    }

    /// The human name used in messages.
    pub fn display(self) -> &'static str {
        match self {
            SourceKind::ServiceFabric => "Service Fabric",
            SourceKind::AppService => "App Service / Functions",
            SourceKind::AzureAutomation => "Azure Automation",
            SourceKind::MachineLearning => "Azure Machine Learning",
            SourceKind::CloudShell => "Azure Cloud Shell",
            SourceKind::Arc => "Azure Arc",
            SourceKind::WorkloadIdentity => "Workload identity federation",
            SourceKind::Imds => "IMDS",
        }
    }
}

/// Which identity to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentitySelector {
    SystemAssigned,
    ClientId(String),
    ObjectId(String),
    ResourceId(String),
}

impl IdentitySelector {
    /// `ClientId`, `ObjectId`, `ResourceId` (`selectedBy.kind`); `None` for system-assigned.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            IdentitySelector::SystemAssigned => None,
            IdentitySelector::ClientId(_) => Some("ClientId"),
            IdentitySelector::ObjectId(_) => Some("ObjectId"),
            IdentitySelector::ResourceId(_) => Some("ResourceId"),
        }
    }

    pub fn value(&self) -> Option<&str> {
        match self {
            IdentitySelector::SystemAssigned => None,
            IdentitySelector::ClientId(v)
            | IdentitySelector::ObjectId(v)
            | IdentitySelector::ResourceId(v) => Some(v),
        }
    }

    /// The input that selects this kind of id.
    pub fn input(&self) -> Option<Input> {
        match self {
            IdentitySelector::SystemAssigned => None,
            IdentitySelector::ClientId(_) => Some(Input::ClientId),
            IdentitySelector::ObjectId(_) => Some(Input::ObjectId),
            IdentitySelector::ResourceId(_) => Some(Input::ResourceId),
        }
    }

    /// "the system-assigned identity", "the identity with client id '…'".
    pub fn describe(&self) -> String {
        match self {
            IdentitySelector::SystemAssigned => "the system-assigned identity".to_string(),
            IdentitySelector::ClientId(v) => format!("the identity with client id '{v}'"),
            IdentitySelector::ObjectId(v) => format!("the identity with object id '{v}'"),
            IdentitySelector::ResourceId(v) => format!("the identity with resource id '{v}'"),
        }
    }

    pub fn is_user_assigned(&self) -> bool {
        !matches!(self, IdentitySelector::SystemAssigned)
    }

    pub(crate) fn cache_part(&self) -> String {
        match (self.kind(), self.value()) {
            (Some(kind), Some(value)) => format!("{kind}={}", value.to_ascii_lowercase()),
            _ => "SystemAssigned".to_string(),
        }
    }
}

/// What one managed-identity source knows about its own protocol: the request it sends, how it
/// names identities, how it reads refusals, and what people are told when it fails. Each
/// source implements it in its own file; [`ManagedSource`] (and [`acquire`]) is the one piece
/// of code that runs every source, so no per-source `match` exists outside [`selection`].
pub(crate) trait ManagedIdentitySource: std::fmt::Debug + Send + Sync {
    fn kind(&self) -> SourceKind;

    /// The token endpoint (with whatever query string the platform gave; shown without it).
    fn token_endpoint(&self) -> &Url;

    /// The query parameter carrying the selector, e.g. `msi_res_id` for IMDS resource ids;
    /// `None` when this source cannot select a user-assigned identity by it.
    fn wire_name(&self, _selector: &IdentitySelector) -> Option<&'static str> {
        None
    }

    /// The token request for `resource`, with the selected identity's wire name and value.
    fn token_request(
        &self,
        resource: &str,
        id: Option<(&str, &str)>,
    ) -> crate::Result<PreparedRequest>;

    /// The availability probe of `Test-IdentityEndpoint`: a request without any secret (and
    /// without `Metadata` where the endpoint wants it), so it can never obtain a token.
    fn probe_request(&self) -> PreparedRequest;

    /// MSAL.NET's DefaultRetryPolicy, which every source but IMDS shares.
    fn policy(&self) -> RetryPolicy {
        RetryPolicy::app_service()
    }

    /// The secret sent with every request (redacted from any answer shown).
    fn secret(&self) -> Option<&Secret> {
        None
    }

    /// Whether the answer says the selected identity is not assigned here (IMDS's wording,
    /// which Arc and Cloud Shell share, unless the source knows its own).
    fn is_identity_not_found(&self, status: u16, body: &[u8]) -> bool {
        imds::is_identity_not_found(status, body)
    }

    /// See [`ManagedSource::can_replace_cached_token`].
    fn can_replace_cached_token(&self) -> bool {
        false
    }

    /// Why the endpoint could not be reached, and what that suggests.
    fn unreachable_hint(&self) -> &'static str;

    /// What this source's answer with `status` means when the source reads it its own way
    /// (a refused secret, IMDS being updated), before the shared reading of statuses.
    fn status_meaning(&self, _status: u16) -> Option<(ErrorKind, &'static str)> {
        None
    }

    /// Appended to the identity half of cache keys (Service Fabric: its pinned certificate).
    fn cache_identity_suffix(&self) -> Option<String> {
        None
    }

    /// The message of a refused TLS certificate, when the source pins one.
    fn untrusted_message(&self, _target: &str) -> Option<String> {
        None
    }

    /// A source whose first request in a process is bounded as [`first_contact`] describes
    /// (IMDS): the probe that tells a slow endpoint from no endpoint.
    fn first_contact_probe(&self) -> Option<Url> {
        None
    }

    /// A source that answers a first request with a challenge (Azure Arc's 401 naming a key
    /// file): the key and the request to repeat with it, or why there is none. `None` when
    /// `challenge` is not one.
    fn answer_challenge(
        &self,
        _challenge: &crate::http::HttpResponse,
        _request: &PreparedRequest,
        _target: &str,
    ) -> Option<crate::Result<(Secret, PreparedRequest)>> {
        None
    }
}

/// A usable (implemented) source.
#[derive(Debug, Clone)]
pub struct ManagedSource(std::sync::Arc<dyn ManagedIdentitySource>);

/// One request, ready to send (the secret header is marked sensitive).
/// `{endpoint}?api-version=…&resource=…[&<id name>=<id>]`, every value URL-encoded.
pub(crate) fn token_url(
    endpoint: &Url,
    api_version: &str,
    resource: &str,
    id: Option<(&str, &str)>,
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("api-version", api_version)
            .append_pair("resource", resource);
        if let Some((name, value)) = id {
            query.append_pair(name, value);
        }
    }
    url
}

pub(crate) struct PreparedRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    /// Trust exactly this server certificate (Service Fabric).
    pub tls_pin: Option<CertificatePin>,
}

impl PreparedRequest {
    pub fn get(url: Url, headers: HeaderMap) -> Self {
        Self {
            method: Method::GET,
            url,
            headers,
            body: None,
            tls_pin: None,
        }
    }
}

impl ManagedSource {
    pub(crate) fn new(source: impl ManagedIdentitySource + 'static) -> Self {
        Self(std::sync::Arc::new(source))
    }

    pub fn kind(&self) -> SourceKind {
        self.0.kind()
    }

    /// The token endpoint without query string (safe to show).
    pub fn endpoint(&self) -> String {
        display_url(self.0.token_endpoint())
    }

    /// "the IMDS endpoint http://169.254.169.254/metadata/identity/oauth2/token".
    pub fn target(&self) -> String {
        format!("the {} endpoint {}", self.kind().display(), self.endpoint())
    }

    /// The part of the cache key that names the identity: source, endpoint and selector, and
    /// for Service Fabric the pinned certificate (a token fetched from one pinned server is
    /// never served to a context that pins another).
    pub fn cache_identity(&self, selector: &IdentitySelector) -> String {
        let mut key = format!(
            "{}|{}|{}",
            self.kind().name(),
            self.endpoint(),
            selector.cache_part()
        );
        if let Some(suffix) = self.0.cache_identity_suffix() {
            key.push_str(&suffix);
        }
        key
    }

    /// Whether this source can select an identity by this kind of id.
    pub fn supports(&self, selector: &IdentitySelector) -> bool {
        self.wire_name(selector).is_some() || !selector.is_user_assigned()
    }

    /// The query parameter carrying the selector, e.g. `msi_res_id` for IMDS resource ids.
    pub fn wire_name(&self, selector: &IdentitySelector) -> Option<&'static str> {
        self.0.wire_name(selector)
    }

    pub(crate) fn policy(&self) -> RetryPolicy {
        self.0.policy()
    }

    /// The Arc key is read per attempt; the acquisition redacts it itself.
    pub(crate) fn secret(&self) -> Option<&Secret> {
        self.0.secret()
    }

    pub(crate) fn source(&self) -> &dyn ManagedIdentitySource {
        &*self.0
    }

    pub(crate) fn prepare(
        &self,
        resource: &str,
        selector: &IdentitySelector,
    ) -> crate::Result<PreparedRequest> {
        let wire = self.wire_name(selector);
        if selector.is_user_assigned() && wire.is_none() {
            return Err(self.unsupported_kind(selector));
        }
        self.0.token_request(resource, wire.zip(selector.value()))
    }

    pub(crate) fn unsupported_kind(&self, selector: &IdentitySelector) -> Error {
        let accepted: Vec<String> = [
            IdentitySelector::ClientId(String::new()),
            IdentitySelector::ObjectId(String::new()),
            IdentitySelector::ResourceId(String::new()),
        ]
        .iter()
        .filter(|s| self.wire_name(s).is_some())
        .filter_map(IdentitySelector::input)
        .map(|input| input.to_string())
        .collect();
        Error::new(
            ErrorKind::UnsupportedIdentityKind,
            format!(
                "{} cannot select an identity by {}; {}",
                self.kind().display(),
                selector
                    .input()
                    .map_or("this kind of id".to_string(), |i| i.to_string()),
                if accepted.is_empty() {
                    "it only serves its system-assigned identity".to_string()
                } else {
                    format!("use {} instead", accepted.join(" or "))
                }
            ),
        )
    }

    /// Whether the answer says the selected identity is not assigned here.
    pub(crate) fn is_identity_not_found(&self, status: u16, body: &[u8]) -> bool {
        self.0.is_identity_not_found(status, body)
    }

    /// The availability probe of `Test-IdentityEndpoint`: a request without any secret (and
    /// without `Metadata` where the endpoint wants it), so it can never obtain a token; any HTTP
    /// answer proves the endpoint listens.
    pub(crate) fn probe_request(&self) -> PreparedRequest {
        self.0.probe_request()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_describe_themselves() {
        let s = IdentitySelector::ObjectId("ABC".into());
        assert_eq!(s.kind(), Some("ObjectId"));
        assert_eq!(s.input(), Some(Input::ObjectId));
        assert_eq!(s.cache_part(), "ObjectId=abc");
        assert_eq!(IdentitySelector::SystemAssigned.input(), None);
    }

    #[test]
    fn service_fabric_cache_identity_includes_the_pinned_certificate() {
        let source = |thumbprint: &str| {
            ManagedSource::new(
                service_fabric::ServiceFabricSource::new(
                    "https://localhost:2377/metadata/identity/oauth2/token",
                    Secret::new("h"),
                    thumbprint,
                )
                .expect("valid"),
            )
        };
        let one = source("0123456789ABCDEF0123456789ABCDEF01234567");
        let other = source("1123456789ABCDEF0123456789ABCDEF01234567");
        let selector = IdentitySelector::SystemAssigned;
        assert_ne!(
            one.cache_identity(&selector),
            other.cache_identity(&selector)
        );
        assert!(one
            .cache_identity(&selector)
            .ends_with("|pin:0123456789ABCDEF0123456789ABCDEF01234567"));
    }
}
