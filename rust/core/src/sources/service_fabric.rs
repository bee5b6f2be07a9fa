//! Service Fabric (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`):
//! protocol spec §2.6 and §7. `GET https://…?api-version=2019-07-01-preview&resource=…
//! [&principalId=…]` with `secret: {IDENTITY_HEADER}`, over TLS that trusts exactly the
//! certificate whose SHA-1 thumbprint is IDENTITY_SERVER_THUMBPRINT (see
//! [`crate::http::pinning`]): another certificate ends the handshake, so the secret never
//! reaches a server that is not the pinned one. User-assigned identities are selected by object
//! id only (`principalId`, as MSAL.NET does since it stopped sending the ignored `object_id`).

use reqwest::header::HeaderMap;
use url::Url;

use super::diagnostics::explain_missing;
use super::selection::Vars;
use super::{
    endpoint_url, secret_headers, IdentitySelector, ManagedIdentitySource, PreparedRequest,
    Schemes, SourceKind, SourceReport,
};
use crate::error::{ErrorKind, Result};
use crate::http::CertificatePin;
use crate::secret::Secret;

pub const API_VERSION: &str = "2019-07-01-preview";
const PROBE_RESOURCE: &str = "https://management.azure.com";

#[derive(Debug, Clone)]
pub struct ServiceFabricSource {
    endpoint: Url,
    secret: Secret,
    pin: CertificatePin,
}

impl ServiceFabricSource {
    /// `endpoint` is IDENTITY_ENDPOINT (https only), `secret` IDENTITY_HEADER, `thumbprint`
    /// IDENTITY_SERVER_THUMBPRINT.
    pub fn new(endpoint: &str, secret: Secret, thumbprint: &str) -> Result<Self> {
        let url = endpoint_url(
            endpoint,
            "IDENTITY_ENDPOINT",
            Schemes::HttpsOnly,
            Some(&secret),
        )?;
        let pin = CertificatePin::parse(thumbprint, "IDENTITY_SERVER_THUMBPRINT")?;
        Ok(Self {
            endpoint: url,
            secret,
            pin,
        })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub fn pin(&self) -> CertificatePin {
        self.pin
    }

    pub(crate) fn prepare(
        &self,
        resource: &str,
        id: Option<(&str, &str)>,
    ) -> Result<PreparedRequest> {
        let url = super::token_url(&self.endpoint, API_VERSION, resource, id);
        let headers = secret_headers("secret", &self.secret, "IDENTITY_HEADER", false)?;
        Ok(PreparedRequest {
            tls_pin: Some(self.pin),
            ..PreparedRequest::get(url, headers)
        })
    }

    /// The availability probe: pinned like every request, without the secret header (so a
    /// wrong thumbprint shows up in Test-IdentityEndpoint).
    pub(crate) fn probe_request(&self) -> PreparedRequest {
        PreparedRequest {
            tls_pin: Some(self.pin),
            ..PreparedRequest::get(
                super::token_url(&self.endpoint, API_VERSION, PROBE_RESOURCE, None),
                HeaderMap::new(),
            )
        }
    }
}

/// Service Fabric needs all three variables.
pub fn detect(v: &Vars) -> SourceReport {
    let (ie, ih, tp) = (
        v.identity_endpoint.is_some(),
        v.identity_header.is_some(),
        v.thumbprint.is_some(),
    );
    let detected = ie && ih && tp;
    SourceReport::new(
        SourceKind::ServiceFabric,
        detected,
        v.identity_endpoint_shown().filter(|_| tp),
        if detected {
            "IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT are set".to_string()
        } else {
            explain_missing(&[
                ("IDENTITY_ENDPOINT", ie),
                ("IDENTITY_HEADER", ih),
                ("IDENTITY_SERVER_THUMBPRINT", tp),
            ])
        },
    )
}

/// The source detection builds.
pub(crate) fn from_vars(v: &Vars) -> Result<ServiceFabricSource> {
    ServiceFabricSource::new(
        v.identity_endpoint.as_deref().unwrap_or_default(),
        Secret::new(v.identity_header.clone().unwrap_or_default()),
        v.thumbprint.as_deref().unwrap_or_default(),
    )
}

/// Object ids only, as `principalId`.
pub fn wire_name(selector: &IdentitySelector) -> Option<&'static str> {
    match selector {
        IdentitySelector::ObjectId(_) => Some("principalId"),
        _ => None,
    }
}

/// `{"error":{"code":"ManagedIdentityNotFound",…}}` (HTTP 404).
pub fn is_identity_not_found(status: u16, body: &[u8]) -> bool {
    (status == 400 || status == 404)
        && String::from_utf8_lossy(body)
            .to_ascii_lowercase()
            .contains("managedidentitynotfound")
}

impl ManagedIdentitySource for ServiceFabricSource {
    fn kind(&self) -> SourceKind {
        SourceKind::ServiceFabric
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
        ServiceFabricSource::probe_request(self)
    }

    fn secret(&self) -> Option<&Secret> {
        Some(&self.secret)
    }

    fn is_identity_not_found(&self, status: u16, body: &[u8]) -> bool {
        is_identity_not_found(status, body)
    }

    /// Service Fabric keeps a cache a client may ask to skip, as MSAL asks it.
    fn can_replace_cached_token(&self) -> bool {
        true
    }

    fn unreachable_hint(&self) -> &'static str {
        super::app_service::IDENTITY_ENDPOINT_STALE
    }

    fn status_meaning(&self, status: u16) -> Option<(ErrorKind, &'static str)> {
        matches!(status, 401 | 403).then_some((
            ErrorKind::AuthenticationFailed,
            super::app_service::IDENTITY_HEADER_REFUSED,
        ))
    }

    /// A token fetched from one pinned server is never served to a context that pins another.
    fn cache_identity_suffix(&self) -> Option<String> {
        Some(format!("|pin:{}", self.pin.to_hex()))
    }

    fn untrusted_message(&self, target: &str) -> Option<String> {
        Some(format!(
            "{target} presented a TLS certificate whose thumbprint is not {} (IDENTITY_SERVER_THUMBPRINT); \
             the connection was abandoned before anything was sent, the secret header included. If the \
             cluster's certificate changed, restart the process so it reads the current thumbprint.",
            self.pin.to_hex()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

    #[test]
    fn request_shape_is_pinned_and_carries_the_secret_header() {
        let s = ServiceFabricSource::new(
            "https://localhost:2377/metadata/identity/oauth2/token",
            Secret::new("sf-s3cret"),
            &TP.to_ascii_lowercase(),
        )
        .expect("ok");
        let req = s
            .prepare("https://vault.azure.net", Some(("principalId", "o-1")))
            .expect("ok");
        assert_eq!(
            req.url.as_str(),
            "https://localhost:2377/metadata/identity/oauth2/token?api-version=2019-07-01-preview&resource=https%3A%2F%2Fvault.azure.net&principalId=o-1"
        );
        assert_eq!(req.headers["secret"], "sf-s3cret");
        assert!(req.headers["secret"].is_sensitive());
        assert_eq!(req.tls_pin.map(|p| p.to_hex()).as_deref(), Some(TP));
        let probe = s.probe_request();
        assert!(probe.headers.is_empty());
        assert_eq!(probe.tls_pin, Some(s.pin()));
    }

    #[test]
    fn plain_http_and_bad_thumbprints_are_refused() {
        let e = ServiceFabricSource::new("http://localhost:2377/t", Secret::new("h"), TP)
            .expect_err("http");
        assert!(e.message.contains("https"), "{}", e.message);
        let e = ServiceFabricSource::new("https://localhost:2377/t", Secret::new("h"), "abc")
            .expect_err("thumbprint");
        assert!(e.message.contains("IDENTITY_SERVER_THUMBPRINT"));
    }

    #[test]
    fn ids_and_not_found() {
        assert_eq!(
            wire_name(&IdentitySelector::ObjectId("o".into())),
            Some("principalId")
        );
        assert_eq!(wire_name(&IdentitySelector::ClientId("c".into())), None);
        assert_eq!(wire_name(&IdentitySelector::ResourceId("r".into())), None);
        assert!(is_identity_not_found(
            404,
            br#"{"error":{"correlationId":"c","code":"ManagedIdentityNotFound","message":"m"}}"#
        ));
        assert!(!is_identity_not_found(
            401,
            br#"{"error":{"code":"SecretHeaderNotFound"}}"#
        ));
    }
}
