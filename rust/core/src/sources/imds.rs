//! IMDS (Azure VMs, scale sets, AKS nodes, Automation hybrid workers on Azure VMs): protocol
//! spec §2.1. `GET http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01
//! &resource=…[&client_id|object_id|msi_res_id=…]` with `Metadata: true`.

use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

use super::redact::display_url;
use super::{IdentitySelector, ManagedIdentitySource, PreparedRequest, SourceKind, SourceReport};
use crate::env::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryPolicy;

pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
pub const TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
pub const API_VERSION: &str = "2018-02-01";
/// Redirects IMDS (kept scheme, host and port; the path is forced), as MSAL.NET does.
pub const AUTHORITY_HOST_VARIABLE: &str = "AZURE_POD_IDENTITY_AUTHORITY_HOST";
/// The resource of the availability probe (the answer is an error either way).
const PROBE_RESOURCE: &str = "https://management.azure.com";

#[derive(Debug, Clone)]
pub struct ImdsSource {
    endpoint: Url,
    overridden: bool,
}

impl ImdsSource {
    /// The IMDS endpoint, honouring `AZURE_POD_IDENTITY_AUTHORITY_HOST`.
    pub fn from_env(env: &dyn Environment) -> Result<Self> {
        match env.var(AUTHORITY_HOST_VARIABLE) {
            Some(raw) => Self::with_authority_host(&raw),
            None => Ok(Self {
                endpoint: Url::parse(DEFAULT_ENDPOINT)
                    .map_err(|e| Error::internal(format!("IMDS endpoint: {e}")))?,
                overridden: false,
            }),
        }
    }

    /// IMDS at another host: keeps the URL's scheme, host and port and forces the token path.
    pub fn with_authority_host(raw: &str) -> Result<Self> {
        let trimmed = raw.trim();
        let parsed = Url::parse(trimmed)
            .ok()
            .filter(|u| u.has_host())
            .or_else(|| {
                // A bare `host:port` means http, as the Python clients' string concatenation does.
                (!trimmed.contains("://"))
                    .then(|| Url::parse(&format!("http://{trimmed}")).ok())
                    .flatten()
            })
            .filter(|u| u.has_host())
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{AUTHORITY_HOST_VARIABLE} '{trimmed}' is not a URL with a host"
                ))
            })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::invalid_argument(format!(
                "{AUTHORITY_HOST_VARIABLE} '{trimmed}' must be an http or https URL"
            )));
        }
        let host = parsed.host_str().unwrap_or_default();
        let authority = match parsed.port() {
            Some(port) => format!("{}://{host}:{port}{TOKEN_PATH}", parsed.scheme()),
            None => format!("{}://{host}{TOKEN_PATH}", parsed.scheme()),
        };
        let endpoint = Url::parse(&authority).map_err(|e| {
            Error::invalid_argument(format!(
                "{AUTHORITY_HOST_VARIABLE} '{trimmed}' is not usable: {e}"
            ))
        })?;
        Ok(Self {
            endpoint,
            overridden: true,
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// True when `AZURE_POD_IDENTITY_AUTHORITY_HOST` redirected it.
    pub fn is_overridden(&self) -> bool {
        self.overridden
    }

    pub(crate) fn prepare(&self, resource: &str, id: Option<(&str, &str)>) -> PreparedRequest {
        let url = super::token_url(&self.endpoint, API_VERSION, resource, id);
        let mut headers = HeaderMap::new();
        headers.insert("Metadata", HeaderValue::from_static("true"));
        PreparedRequest::get(url, headers)
    }

    /// The availability probe: a token GET without the `Metadata` header (any HTTP answer proves
    /// that IMDS listens; it never issues a token without the header).
    pub fn probe_url(&self) -> Url {
        super::token_url(&self.endpoint, API_VERSION, PROBE_RESOURCE, None)
    }
}

/// IMDS is the fallback: detected when no other source is (`fallback`); `source` is the
/// endpoint from the environment or why it is unusable.
pub fn detect(fallback: bool, source: &Result<ImdsSource>) -> SourceReport {
    let mut reason = if fallback {
        "no other managed-identity source is configured, so IMDS is used (the fallback)".to_string()
    } else {
        "IMDS is only the fallback when no other source is configured".to_string()
    };
    match source {
        Ok(imds) if imds.is_overridden() => {
            reason.push_str(&format!("; {AUTHORITY_HOST_VARIABLE} redirects it"))
        }
        Err(e) => reason.push_str(&format!("; {}", e.message)),
        Ok(_) => {}
    }
    SourceReport::new(
        SourceKind::Imds,
        fallback,
        source
            .as_ref()
            .ok()
            .map(|imds| display_url(imds.endpoint())),
        reason,
    )
}

/// IMDS accepts all three kinds (resource ids as `msi_res_id`).
pub fn wire_name(selector: &IdentitySelector) -> Option<&'static str> {
    match selector {
        IdentitySelector::SystemAssigned => None,
        IdentitySelector::ClientId(_) => Some("client_id"),
        IdentitySelector::ObjectId(_) => Some("object_id"),
        IdentitySelector::ResourceId(_) => Some("msi_res_id"),
    }
}

/// IMDS says "this identity is not assigned here": HTTP 400 `{"error":"invalid_request",
/// "error_description":"Identity not found"}` (Azure/azure-sdk-for-net#37278).
pub fn is_identity_not_found(status: u16, body: &[u8]) -> bool {
    if status != 400 {
        return false;
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    text.contains("identity not found")
        || (text.contains("invalid_request")
            && text.contains("identity")
            && !text.contains("metadata"))
}

impl ManagedIdentitySource for ImdsSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Imds
    }

    fn token_endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn wire_name(&self, selector: &IdentitySelector) -> Option<&'static str> {
        wire_name(selector)
    }

    fn token_request(&self, resource: &str, id: Option<(&str, &str)>) -> Result<PreparedRequest> {
        Ok(self.prepare(resource, id))
    }

    fn probe_request(&self) -> PreparedRequest {
        PreparedRequest::get(self.probe_url(), HeaderMap::new())
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy::imds()
    }

    fn unreachable_hint(&self) -> &'static str {
        if self.overridden {
            "AZURE_POD_IDENTITY_AUTHORITY_HOST points IMDS there; check that variable."
        } else {
            "No other managed-identity source is configured in the environment, so IMDS (Azure VMs, scale sets, \
             hybrid workers on Azure VMs) was tried: this machine does not look like an Azure host with a managed \
             identity. Run Test-IdentityEndpoint to see what was detected."
        }
    }

    fn status_meaning(&self, status: u16) -> Option<(ErrorKind, &'static str)> {
        matches!(status, 404 | 410).then_some((ErrorKind::ServiceError, "is being updated"))
    }

    fn first_contact_probe(&self) -> Option<Url> {
        Some(self.probe_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    #[test]
    fn default_endpoint_is_the_link_local_address() {
        let imds = ImdsSource::from_env(&MapEnvironment::new()).expect("default");
        assert_eq!(imds.endpoint().as_str(), DEFAULT_ENDPOINT);
        assert!(!imds.is_overridden());
    }

    #[test]
    fn authority_host_keeps_scheme_host_port_and_forces_the_path() {
        for (raw, expected) in [
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/metadata/identity/oauth2/token",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/metadata/identity/oauth2/token",
            ),
            (
                "http://localhost:1/some/path?x=1",
                "http://localhost:1/metadata/identity/oauth2/token",
            ),
            (
                "https://imds.example:443",
                "https://imds.example/metadata/identity/oauth2/token",
            ),
            (
                "127.0.0.1:9",
                "http://127.0.0.1:9/metadata/identity/oauth2/token",
            ),
        ] {
            let env = MapEnvironment::new().with(AUTHORITY_HOST_VARIABLE, raw);
            let imds = ImdsSource::from_env(&env).expect(raw);
            assert_eq!(imds.endpoint().as_str(), expected, "{raw}");
            assert!(imds.is_overridden());
        }
        for bad in ["ftp://x", "http://", "::"] {
            let env = MapEnvironment::new().with(AUTHORITY_HOST_VARIABLE, bad);
            assert!(ImdsSource::from_env(&env).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_shape() {
        let imds = ImdsSource::with_authority_host("http://127.0.0.1:1").expect("url");
        let req = imds.prepare(
            "https://vault.azure.net",
            Some(("msi_res_id", "/subscriptions/s/x")),
        );
        let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("api-version".to_string(), "2018-02-01".to_string()),
                (
                    "resource".to_string(),
                    "https://vault.azure.net".to_string()
                ),
                ("msi_res_id".to_string(), "/subscriptions/s/x".to_string()),
            ]
        );
        assert_eq!(
            req.headers.get("metadata").and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert!(imds.probe_url().as_str().contains("api-version=2018-02-01"));
    }

    #[test]
    fn identity_not_found_is_recognised() {
        assert!(is_identity_not_found(
            400,
            br#"{"error":"invalid_request","error_description":"Identity not found"}"#
        ));
        assert!(!is_identity_not_found(
            400,
            br#"{"error":"bad_request_102","error_description":"Required metadata header not specified"}"#
        ));
        assert!(!is_identity_not_found(
            400,
            br#"{"error":"invalid_resource","error_description":"AADSTS500011"}"#
        ));
        assert!(!is_identity_not_found(404, b"Identity not found"));
    }
}
