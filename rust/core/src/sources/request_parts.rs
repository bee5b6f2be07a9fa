//! The parts every managed-identity source builds its requests from: the endpoint URL read from
//! an environment variable, and the secret header marked sensitive (so it never appears in a
//! `Debug` print or a log of the request).

use reqwest::header::{HeaderMap, HeaderValue};
use url::Url;

use super::redact::{redact, shown};
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The URL schemes an endpoint variable may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schemes {
    HttpOrHttps,
    /// Service Fabric's endpoint is always https (its certificate is pinned).
    HttpsOnly,
}

/// Parses the endpoint in `variable`; the error shows the value without its query and without
/// `secret`.
pub(crate) fn endpoint_url(
    raw: &str,
    variable: &str,
    schemes: Schemes,
    secret: Option<&Secret>,
) -> Result<Url> {
    let allowed = |url: &Url| match schemes {
        Schemes::HttpOrHttps => matches!(url.scheme(), "http" | "https"),
        Schemes::HttpsOnly => url.scheme() == "https",
    };
    Url::parse(raw.trim())
        .ok()
        .filter(|url| url.has_host() && allowed(url))
        .ok_or_else(|| {
            let value = redact(&shown(raw), secret);
            Error::invalid_argument(match schemes {
                Schemes::HttpOrHttps => format!("{variable} '{value}' is not an http(s) URL"),
                Schemes::HttpsOnly => format!(
                    "{variable} '{value}' is not an https URL; Service Fabric's endpoint is always https"
                ),
            })
        })
}

/// `header_name: secret` (sensitive), and `Metadata: true` when `metadata`. `variable` names
/// where the secret came from, for the error when it cannot travel in a header.
pub(crate) fn secret_headers(
    header_name: &'static str,
    secret: &Secret,
    variable: &str,
    metadata: bool,
) -> Result<HeaderMap> {
    let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
        Error::invalid_argument(format!(
            "{variable} contains characters that cannot travel in an HTTP header"
        ))
    })?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(header_name, value);
    if metadata {
        headers.insert("Metadata", HeaderValue::from_static("true"));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_errors_name_the_variable_and_hide_query_and_secret() {
        let secret = Secret::new("s3cret-value");
        let err = endpoint_url(
            "ftp://host/path?x=s3cret-value",
            "IDENTITY_ENDPOINT",
            Schemes::HttpOrHttps,
            Some(&secret),
        )
        .expect_err("ftp refused");
        assert!(err.message.contains("IDENTITY_ENDPOINT"), "{}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
        let err = endpoint_url(
            "http://localhost:2377/",
            "IDENTITY_ENDPOINT",
            Schemes::HttpsOnly,
            None,
        )
        .expect_err("http refused where https is required");
        assert!(err.message.contains("always https"), "{}", err.message);
        assert!(endpoint_url("https://localhost:2377/", "X", Schemes::HttpsOnly, None).is_ok());
        assert!(endpoint_url("not a url", "X", Schemes::HttpOrHttps, None).is_err());
    }

    #[test]
    fn secret_headers_are_sensitive_and_refuse_control_characters() {
        let headers =
            secret_headers("secret", &Secret::new("abc"), "MSI_SECRET", true).expect("ok");
        assert!(headers["secret"].is_sensitive());
        assert_eq!(headers["metadata"], "true");
        let headers =
            secret_headers("secret", &Secret::new("abc"), "MSI_SECRET", false).expect("ok");
        assert!(headers.get("metadata").is_none());
        let err = secret_headers("secret", &Secret::new("a\nb"), "MSI_SECRET", false)
            .expect_err("newline refused");
        assert!(err.message.contains("MSI_SECRET") && !err.message.contains("a\nb"));
    }
}
