//! Azure Machine Learning and legacy App Service MSI (`MSI_ENDPOINT` + `MSI_SECRET`, api-version
//! 2017-09-01): protocol spec §2.3 and §2.4. `GET {MSI_ENDPOINT}?api-version=2017-09-01
//! &resource=…[&clientid=…]` with `secret: {MSI_SECRET}` and `Metadata: true`. Only client ids
//! select a user-assigned identity (`clientid`, no underscore); the system-assigned identity is
//! asked for by `DEFAULT_IDENTITY_CLIENT_ID` when the platform sets it (as MSAL.NET does), by no
//! id otherwise (as MSAL for Python does). `expires_on` comes as an epoch or, from legacy App
//! Service, as `MM/dd/yyyy HH:mm:ss +00:00`; [`crate::token`] reads both.

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

pub const API_VERSION: &str = "2017-09-01";
/// The platform's client id of the compute's default identity.
pub const DEFAULT_CLIENT_ID_VARIABLE: &str = "DEFAULT_IDENTITY_CLIENT_ID";
const PROBE_RESOURCE: &str = "https://management.azure.com";

#[derive(Debug, Clone)]
pub struct MachineLearningSource {
    endpoint: Url,
    secret: Secret,
    default_client_id: Option<String>,
}

impl MachineLearningSource {
    /// `endpoint` is MSI_ENDPOINT, `secret` MSI_SECRET, `default_client_id`
    /// DEFAULT_IDENTITY_CLIENT_ID.
    pub fn new(endpoint: &str, secret: Secret, default_client_id: Option<String>) -> Result<Self> {
        let url = endpoint_url(
            endpoint,
            "MSI_ENDPOINT",
            Schemes::HttpOrHttps,
            Some(&secret),
        )?;
        Ok(Self {
            endpoint: url,
            secret,
            default_client_id: default_client_id.map(|c| c.trim().to_string()),
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub(crate) fn prepare(
        &self,
        resource: &str,
        id: Option<(&str, &str)>,
    ) -> Result<PreparedRequest> {
        let id = id.or_else(|| self.default_client_id.as_deref().map(|c| ("clientid", c)));
        let url = super::token_url(&self.endpoint, API_VERSION, resource, id);
        let headers = secret_headers("secret", &self.secret, "MSI_SECRET", true)?;
        Ok(PreparedRequest::get(url, headers))
    }

    /// The availability probe: a GET without the secret header.
    pub fn probe_url(&self) -> Url {
        super::token_url(&self.endpoint, API_VERSION, PROBE_RESOURCE, None)
    }
}

/// Machine Learning needs both `MSI_ENDPOINT` and `MSI_SECRET`.
pub fn detect(v: &Vars) -> SourceReport {
    let (me, ms) = (v.msi_endpoint.is_some(), v.msi_secret.is_some());
    let mut reason = if me && ms {
        "MSI_ENDPOINT and MSI_SECRET are set".to_string()
    } else {
        explain_missing(&[("MSI_ENDPOINT", me), ("MSI_SECRET", ms)])
    };
    if me && ms {
        reason.push_str(&match v.env.var(DEFAULT_CLIENT_ID_VARIABLE) {
            Some(_) => format!("; {DEFAULT_CLIENT_ID_VARIABLE} names the default identity"),
            None => format!("; {DEFAULT_CLIENT_ID_VARIABLE} is not set"),
        });
    }
    SourceReport::new(
        SourceKind::MachineLearning,
        me && ms,
        v.msi_endpoint_shown().filter(|_| ms),
        reason,
    )
}

/// The source detection builds.
pub(crate) fn from_vars(v: &Vars) -> Result<MachineLearningSource> {
    MachineLearningSource::new(
        v.msi_endpoint.as_deref().unwrap_or_default(),
        Secret::new(v.msi_secret.clone().unwrap_or_default()),
        v.env.var(DEFAULT_CLIENT_ID_VARIABLE),
    )
}

/// Only client ids, as `clientid` (MSAL.NET refuses object and resource ids).
pub fn wire_name(selector: &IdentitySelector) -> Option<&'static str> {
    match selector {
        IdentitySelector::ClientId(_) => Some("clientid"),
        _ => None,
    }
}

/// `{"error":"invalid_request","error_description":"Identity not found"}` (HTTP 400), the
/// IMDS-style answer of these endpoints.
pub fn is_identity_not_found(status: u16, body: &[u8]) -> bool {
    (status == 400 || status == 404)
        && String::from_utf8_lossy(body)
            .to_ascii_lowercase()
            .contains("identity not found")
}

impl ManagedIdentitySource for MachineLearningSource {
    fn kind(&self) -> SourceKind {
        SourceKind::MachineLearning
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
        Some(&self.secret)
    }

    fn is_identity_not_found(&self, status: u16, body: &[u8]) -> bool {
        is_identity_not_found(status, body)
    }

    fn unreachable_hint(&self) -> &'static str {
        "MSI_ENDPOINT names it, but nothing listens there; the variable may be stale. \
         Run Test-IdentityEndpoint to see what was detected."
    }

    fn status_meaning(&self, status: u16) -> Option<(ErrorKind, &'static str)> {
        matches!(status, 401 | 403).then_some((
            ErrorKind::AuthenticationFailed,
            "refused the MSI_SECRET secret (restart the process to pick up the current one)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(default: Option<&str>) -> MachineLearningSource {
        MachineLearningSource::new(
            "http://127.0.0.1:46809/MSI/token",
            Secret::new("ml-s3cret"),
            default.map(str::to_string),
        )
        .expect("ok")
    }

    #[test]
    fn request_shape() {
        let req = source(None)
            .prepare("https://vault.azure.net", Some(("clientid", "c-1")))
            .expect("ok");
        assert_eq!(
            req.url.as_str(),
            "http://127.0.0.1:46809/MSI/token?api-version=2017-09-01&resource=https%3A%2F%2Fvault.azure.net&clientid=c-1"
        );
        assert_eq!(req.headers["secret"], "ml-s3cret");
        assert!(req.headers["secret"].is_sensitive());
        assert_eq!(req.headers["metadata"], "true");
        assert!(!source(None).probe_url().as_str().contains("s3cret"));
    }

    #[test]
    fn system_assigned_uses_the_default_client_id_when_set() {
        let req = source(Some("dflt")).prepare("r", None).expect("ok");
        assert!(req.url.as_str().ends_with("&clientid=dflt"), "{}", req.url);
        let req = source(None).prepare("r", None).expect("ok");
        assert!(!req.url.as_str().contains("clientid"), "{}", req.url);
        // An explicit client id wins over the default.
        let req = source(Some("dflt"))
            .prepare("r", Some(("clientid", "c-2")))
            .expect("ok");
        assert!(req.url.as_str().ends_with("&clientid=c-2"), "{}", req.url);
    }

    #[test]
    fn only_client_ids_select_an_identity() {
        assert_eq!(
            wire_name(&IdentitySelector::ClientId("x".into())),
            Some("clientid")
        );
        assert_eq!(wire_name(&IdentitySelector::ObjectId("x".into())), None);
        assert_eq!(wire_name(&IdentitySelector::ResourceId("x".into())), None);
        assert!(is_identity_not_found(
            400,
            br#"{"error":"invalid_request","error_description":"Identity not found"}"#
        ));
        assert!(!is_identity_not_found(401, b"Identity not found"));
    }

    #[test]
    fn bad_endpoints_and_secrets_never_show_the_secret() {
        let e = MachineLearningSource::new("ml-s3cret", Secret::new("ml-s3cret"), None)
            .expect_err("bad");
        assert!(!e.message.contains("ml-s3cret"), "{}", e.message);
        let e = MachineLearningSource::new("http://127.0.0.1:1/t", Secret::new("a\nb"), None)
            .and_then(|s| s.prepare("r", None).map(|_| ()))
            .expect_err("bad header");
        assert!(e.message.contains("MSI_SECRET"));
    }
}
