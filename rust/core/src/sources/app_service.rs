//! App Service, Functions and the Azure Automation cloud sandbox (api-version 2019-08-01):
//! protocol spec §2.2. `GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=…
//! [&client_id|object_id|mi_res_id=…]` with `X-IDENTITY-HEADER: {IDENTITY_HEADER}`. Automation
//! requires `Metadata: true` as well, so it is always sent (as MSAL for Python and the Rust SDK do).

use reqwest::header::HeaderMap;
use url::Url;

use super::diagnostics::explain_missing;
use super::selection::Vars;
use super::{
    endpoint_url, secret_headers, IdentitySelector, ManagedIdentitySource, PreparedRequest,
    Schemes, SourceKind, SourceReport,
};
use crate::error::{ErrorKind, Result};
use crate::secret::Secret;

pub const API_VERSION: &str = "2019-08-01";
/// Resource of the availability probe (sent without the secret header, so it never issues a token).
const PROBE_RESOURCE: &str = "https://management.azure.com";

#[derive(Debug, Clone)]
pub struct AppServiceSource {
    endpoint: Url,
    header: Secret,
    automation: bool,
}

impl AppServiceSource {
    /// `endpoint` is IDENTITY_ENDPOINT, `header` IDENTITY_HEADER; `automation` when
    /// AZUREPS_HOST_ENVIRONMENT says this is an Azure Automation sandbox.
    pub fn new(endpoint: &str, header: Secret, automation: bool) -> Result<Self> {
        let url = endpoint_url(
            endpoint,
            "IDENTITY_ENDPOINT",
            Schemes::HttpOrHttps,
            Some(&header),
        )?;
        Ok(Self {
            endpoint: url,
            header,
            automation,
        })
    }

    /// Azure Automation's sandbox endpoint (the App Service protocol, its own cache rules).
    pub fn is_automation(&self) -> bool {
        self.automation
    }

    pub fn kind(&self) -> SourceKind {
        if self.automation {
            SourceKind::AzureAutomation
        } else {
            SourceKind::AppService
        }
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub(crate) fn prepare(
        &self,
        resource: &str,
        id: Option<(&str, &str)>,
    ) -> Result<PreparedRequest> {
        let url = super::token_url(&self.endpoint, API_VERSION, resource, id);
        let headers = secret_headers("X-IDENTITY-HEADER", &self.header, "IDENTITY_HEADER", true)?;
        Ok(PreparedRequest::get(url, headers))
    }

    /// The availability probe: a GET without the secret header.
    pub fn probe_url(&self) -> Url {
        super::token_url(&self.endpoint, API_VERSION, PROBE_RESOURCE, None)
    }
}

/// True when `AZUREPS_HOST_ENVIRONMENT` says this is an Azure Automation sandbox
/// (`AzureAutomation/…`).
pub fn is_automation(host_environment: Option<&str>) -> bool {
    host_environment.is_some_and(|h| {
        h.get(..15)
            .is_some_and(|p| p.eq_ignore_ascii_case("AzureAutomation"))
    })
}

/// App Service / Automation: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` without Service Fabric's
/// thumbprint; the row is named AzureAutomation in an Automation sandbox.
pub fn detect(v: &Vars) -> SourceReport {
    let (ie, ih, tp) = (
        v.identity_endpoint.is_some(),
        v.identity_header.is_some(),
        v.thumbprint.is_some(),
    );
    let kind = if v.automation {
        SourceKind::AzureAutomation
    } else {
        SourceKind::AppService
    };
    SourceReport::new(
        kind,
        ie && ih && !tp,
        v.identity_endpoint_shown(),
        if ie && ih && tp {
            "IDENTITY_ENDPOINT and IDENTITY_HEADER are set, but IDENTITY_SERVER_THUMBPRINT marks them as Service Fabric's".to_string()
        } else if ie && ih {
            let mut reason = "IDENTITY_ENDPOINT and IDENTITY_HEADER are set".to_string();
            if let Some(host) = v.host_environment.as_deref().filter(|_| v.automation) {
                reason.push_str(&format!(
                    "; AZUREPS_HOST_ENVIRONMENT is '{host}' (an Azure Automation sandbox)"
                ));
            }
            reason
        } else {
            explain_missing(&[("IDENTITY_ENDPOINT", ie), ("IDENTITY_HEADER", ih)])
        },
    )
}

/// App Service takes `mi_res_id` (not `msi_res_id`, which it silently ignores) for resource ids.
pub fn wire_name(selector: &IdentitySelector) -> Option<&'static str> {
    match selector {
        IdentitySelector::SystemAssigned => None,
        IdentitySelector::ClientId(_) => Some("client_id"),
        IdentitySelector::ObjectId(_) => Some("object_id"),
        IdentitySelector::ResourceId(_) => Some("mi_res_id"),
    }
}

/// Kestrel's `{"statusCode":400,"message":"Unable to load the proper Managed Identity.",…}`
/// (Azure/azure-sdk-for-net#43691), or an IMDS-style "Identity not found".
pub fn is_identity_not_found(status: u16, body: &[u8]) -> bool {
    if status != 400 && status != 404 {
        return false;
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    text.contains("unable to load the proper managed identity")
        || text.contains("identity not found")
        || text.contains("managedidentitynotfound")
}

impl ManagedIdentitySource for AppServiceSource {
    fn kind(&self) -> SourceKind {
        AppServiceSource::kind(self)
    }

    fn token_endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn wire_name(&self, selector: &IdentitySelector) -> Option<&'static str> {
        wire_name(selector)
    }

    fn token_request(&self, resource: &str, id: Option<(&str, &str)>) -> Result<PreparedRequest> {
        self.prepare(resource, id)
    }

    fn probe_request(&self) -> PreparedRequest {
        PreparedRequest::get(self.probe_url(), HeaderMap::new())
    }

    fn secret(&self) -> Option<&Secret> {
        Some(&self.header)
    }

    fn is_identity_not_found(&self, status: u16, body: &[u8]) -> bool {
        is_identity_not_found(status, body)
    }

    /// App Service and Functions keep a cache a client may ask to skip; Azure Automation's
    /// endpoint does not take the request.
    fn can_replace_cached_token(&self) -> bool {
        !self.automation
    }

    fn unreachable_hint(&self) -> &'static str {
        IDENTITY_ENDPOINT_STALE
    }

    fn status_meaning(&self, status: u16) -> Option<(ErrorKind, &'static str)> {
        matches!(status, 401 | 403)
            .then_some((ErrorKind::AuthenticationFailed, IDENTITY_HEADER_REFUSED))
    }
}

/// Why an `IDENTITY_ENDPOINT` source (App Service, Service Fabric) could not be reached.
pub(crate) const IDENTITY_ENDPOINT_STALE: &str =
    "IDENTITY_ENDPOINT names it, but nothing listens there; the variable may be stale. \
     Run Test-IdentityEndpoint to see what was detected.";

/// How an `IDENTITY_HEADER` source (App Service, Service Fabric) reads HTTP 401 or 403.
pub(crate) const IDENTITY_HEADER_REFUSED: &str =
    "refused the IDENTITY_HEADER secret (the platform rotates it; restart the process to pick up the current one)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let source = AppServiceSource::new(
            "http://127.0.0.1:41234/msi/token",
            Secret::new("hdr"),
            false,
        )
        .expect("ok");
        assert_eq!(source.kind(), SourceKind::AppService);
        let req = source
            .prepare(
                "https://graph.microsoft.com",
                Some(("mi_res_id", "/subscriptions/x")),
            )
            .expect("ok");
        assert_eq!(
            req.url.as_str(),
            "http://127.0.0.1:41234/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com&mi_res_id=%2Fsubscriptions%2Fx"
        );
        let header = req.headers.get("x-identity-header").expect("secret header");
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().ok(), Some("hdr"));
        assert_eq!(
            req.headers.get("metadata").and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert!(!source.probe_url().as_str().contains("hdr"));
    }

    #[test]
    fn automation_kind_and_bad_endpoints() {
        let automation = AppServiceSource::new(
            "http://127.0.0.1:1/automation/token",
            Secret::new("h"),
            true,
        )
        .expect("ok");
        assert_eq!(automation.kind(), SourceKind::AzureAutomation);
        for bad in ["", "not a url", "ftp://x/y", "file:///tmp/x"] {
            assert!(
                AppServiceSource::new(bad, Secret::new("h"), false).is_err(),
                "{bad}"
            );
        }
        let e = AppServiceSource::new("h-value-in-url", Secret::new("h-value-in-url"), false)
            .expect_err("bad");
        assert!(!e.message.contains("h-value-in-url"), "{}", e.message);
        let e = AppServiceSource::new("http://127.0.0.1:1/t", Secret::new("bad\nheader"), false)
            .and_then(|s| s.prepare("r", None).map(|_| ()))
            .expect_err("bad header");
        assert!(!e.message.contains("bad\nheader"));
    }

    #[test]
    fn identity_not_found_is_recognised() {
        assert!(is_identity_not_found(
            400,
            br#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"c"}"#
        ));
        assert!(!is_identity_not_found(
            400,
            br#"{"statusCode":400,"message":"Invalid resource"}"#
        ));
        assert!(!is_identity_not_found(
            500,
            b"Unable to load the proper Managed Identity."
        ));
    }
}
