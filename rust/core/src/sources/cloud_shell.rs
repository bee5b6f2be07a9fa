//! Azure Cloud Shell (`MSI_ENDPOINT` without `MSI_SECRET`): protocol spec §2.7.
//! `POST {MSI_ENDPOINT}` with `Metadata: true` and the form body `resource=<resource>`. Cloud
//! Shell serves one identity, so user-assigned ids are refused before any request.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use url::Url;

use super::selection::Vars;
use super::{PreparedRequest, SourceKind, SourceReport};
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct CloudShellSource {
    endpoint: Url,
}

impl CloudShellSource {
    /// `endpoint` is MSI_ENDPOINT.
    pub fn new(endpoint: &str) -> Result<Self> {
        let url = super::endpoint_url(endpoint, "MSI_ENDPOINT", super::Schemes::HttpOrHttps, None)?;
        Ok(Self { endpoint: url })
    }

    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    pub(crate) fn prepare(&self, resource: &str) -> PreparedRequest {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("resource", resource)
            .finish();
        let mut headers = HeaderMap::new();
        headers.insert("Metadata", HeaderValue::from_static("true"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        PreparedRequest {
            method: Method::POST,
            body: Some(body.into_bytes()),
            ..PreparedRequest::get(self.endpoint.clone(), headers)
        }
    }
}

/// Cloud Shell: `MSI_ENDPOINT` set and `MSI_SECRET` not.
pub fn detect(v: &Vars) -> SourceReport {
    let (me, ms) = (v.msi_endpoint.is_some(), v.msi_secret.is_some());
    SourceReport::new(
        SourceKind::CloudShell,
        me && !ms,
        v.msi_endpoint_shown().filter(|_| !ms),
        match (me, ms) {
            (true, false) => "MSI_ENDPOINT is set and MSI_SECRET is not".to_string(),
            (true, true) => "MSI_SECRET is set too, which means Azure Machine Learning".to_string(),
            _ => "MSI_ENDPOINT is not set".to_string(),
        },
    )
}

impl super::ManagedIdentitySource for CloudShellSource {
    fn kind(&self) -> SourceKind {
        SourceKind::CloudShell
    }

    fn token_endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn token_request(&self, resource: &str, _id: Option<(&str, &str)>) -> Result<PreparedRequest> {
        Ok(self.prepare(resource))
    }

    fn probe_request(&self) -> PreparedRequest {
        PreparedRequest::get(self.endpoint.clone(), HeaderMap::new())
    }

    fn unreachable_hint(&self) -> &'static str {
        "MSI_ENDPOINT names it, but nothing listens there; the variable may be stale. \
         Run Test-IdentityEndpoint to see what was detected."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape_is_a_form_post() {
        let s = CloudShellSource::new("http://localhost:50342/oauth2/token").expect("ok");
        let req = s.prepare("https://management.azure.com/");
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.url.as_str(), "http://localhost:50342/oauth2/token");
        assert_eq!(
            req.body.as_deref(),
            Some(&b"resource=https%3A%2F%2Fmanagement.azure.com%2F"[..])
        );
        assert_eq!(req.headers["metadata"], "true");
        assert_eq!(
            req.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert!(CloudShellSource::new("ftp://x").is_err());
    }
}
