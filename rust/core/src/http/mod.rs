//! HTTP plumbing shared by every source and the Graph client: the transport seam
//! ([`transport`]), the process's lazily built clients ([`clients`]), Retry-After parsing
//! ([`retry_after`](mod@retry_after)) and endpoint validation.

pub mod clients;
pub mod pinning;
pub mod proxy;
pub mod retry_after;
pub mod transport;

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};
use crate::input::Input;

pub use clients::{ClientKind, HttpClients};
pub use pinning::CertificatePin;
pub use retry_after::{retry_after, MAX_RETRY_AFTER};
pub use transport::{HttpRequest, HttpResponse, ReqwestTransport, Transport, TransportError};

/// Connect timeout for Graph, Entra and ARM.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connect timeout for managed-identity endpoints: all are on the machine (link-local IMDS,
/// loopback App Service, Arc…), so a connection not made within a second means nothing listens
/// there (off Azure, 169.254.169.254 silently drops the SYN); azure-identity probes IMDS with
/// the same bound (issue 8.7).
pub const MI_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
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

/// A bearer token (or any credential header) is never sent over plain http to anything but a
/// loopback address (issue 8.2): the typed error comes before anything is sent.
pub fn check_credential_destination(url: &Url) -> Result<()> {
    if url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(url)) {
        return Ok(());
    }
    Err(Error::invalid_argument(format!(
        "refusing to send an access token to {} over {}: tokens travel over https only (plain http to loopback addresses only)",
        url.origin().ascii_serialization(),
        url.scheme()
    )))
}

/// Validates a user-supplied service endpoint (Graph endpoint, authority host…): absolute,
/// HTTPS, or plain HTTP only to a loopback address. `what` names the input in the message.
pub fn validate_service_endpoint(raw: &str, what: Input) -> Result<Url> {
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
        assert!(
            validate_service_endpoint("https://graph.microsoft.com", Input::GraphEndpoint).is_ok()
        );
        assert!(validate_service_endpoint("http://127.0.0.1:8080", Input::GraphEndpoint).is_ok());
        assert!(validate_service_endpoint("http://127.8.9.1", Input::GraphEndpoint).is_ok());
        assert!(validate_service_endpoint("http://[::1]:80/", Input::GraphEndpoint).is_ok());
        assert!(validate_service_endpoint("http://localhost:1", Input::GraphEndpoint).is_ok());
        let e = validate_service_endpoint("http://graph.example.com", Input::GraphEndpoint)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains(&Input::GraphEndpoint.to_string()));
        assert!(validate_service_endpoint("ftp://x", Input::GraphEndpoint).is_err());
        assert!(validate_service_endpoint("not a url", Input::GraphEndpoint).is_err());
        assert!(validate_service_endpoint("https://user:pw@host", Input::GraphEndpoint).is_err());
    }

    #[test]
    fn credentials_go_over_https_or_to_loopback_only() {
        for ok in [
            "https://graph.example/v1.0",
            "http://127.0.0.1:8/x",
            "http://[::1]/",
            "http://localhost/",
        ] {
            assert!(
                check_credential_destination(&Url::parse(ok).expect("url")).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://graph.example/v1.0",
            "http://169.254.169.254/x",
            "ftp://x/",
        ] {
            let e = check_credential_destination(&Url::parse(bad).expect("url")).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
