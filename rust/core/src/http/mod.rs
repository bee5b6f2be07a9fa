//! HTTP plumbing shared by every source and the Graph client: the transport seam
//! ([`transport`]), the process's lazily built clients ([`clients`]), Retry-After parsing
//! ([`retry_after`]) and endpoint validation.

pub mod clients;
pub mod pinning;
pub mod retry_after;
pub mod transport;

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};

pub use clients::{ClientKind, HttpClients};
pub use pinning::CertificatePin;
pub use retry_after::{retry_after, MAX_RETRY_AFTER};
pub use transport::{HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError};

/// Connect timeout for every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout for managed-identity endpoints.
pub const MI_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Whole-request timeout for Graph requests.
pub const GRAPH_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Validates a user-supplied service endpoint (`-GraphEndpoint`, `-AuthorityHost`…): absolute,
/// HTTPS, or plain HTTP only to a loopback address. `what` names the parameter in the message.
pub fn validate_service_endpoint(raw: &str, what: &str) -> Result<Url> {
    let url = Url::parse(raw.trim()).map_err(|e| {
        Error::invalid_argument(format!("{what} '{raw}' is not an absolute URL: {e}"))
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::invalid_argument(format!(
            "{what} '{raw}' has no host"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_argument(format!(
            "{what} must not carry credentials"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => Err(Error::invalid_argument(format!(
            "{what} '{raw}' uses plain http; only https is accepted (http is allowed for loopback addresses only)"
        ))),
        other => Err(Error::invalid_argument(format!(
            "{what} '{raw}' has scheme '{other}'; only https is accepted"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn endpoint_validation() {
        assert!(validate_service_endpoint("https://graph.microsoft.com", "-GraphEndpoint").is_ok());
        assert!(validate_service_endpoint("http://127.0.0.1:8080", "-GraphEndpoint").is_ok());
        assert!(validate_service_endpoint("http://127.8.9.1", "-GraphEndpoint").is_ok());
        assert!(validate_service_endpoint("http://[::1]:80/", "-GraphEndpoint").is_ok());
        assert!(validate_service_endpoint("http://localhost:1", "-GraphEndpoint").is_ok());
        let e =
            validate_service_endpoint("http://graph.example.com", "-GraphEndpoint").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("-GraphEndpoint"));
        assert!(validate_service_endpoint("ftp://x", "-GraphEndpoint").is_err());
        assert!(validate_service_endpoint("not a url", "-GraphEndpoint").is_err());
        assert!(validate_service_endpoint("https://user:pw@host", "-GraphEndpoint").is_err());
    }
}
