//! HTTP plumbing shared by every source and the Graph client: client construction (rustls,
//! no redirects), endpoint validation, transport-error mapping and Retry-After parsing.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// Connect timeout for every request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout for managed-identity endpoints.
pub const MI_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Whole-request timeout for Graph requests.
pub const GRAPH_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest single wait we honour from a Retry-After header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Client for managed-identity endpoints: never a proxy (IMDS and loopback endpoints must be
/// reached directly), never a redirect (SSRF), bounded timeouts.
pub fn managed_identity_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(MI_REQUEST_TIMEOUT)
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

/// Client for Graph, Entra and ARM: system proxy allowed, but never for loopback; no redirects.
pub fn service_client(max_idle_per_host: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(GRAPH_REQUEST_TIMEOUT)
        .pool_max_idle_per_host(max_idle_per_host)
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

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

/// Maps a reqwest transport error to a typed error. `target` describes what was called, e.g.
/// "the IMDS endpoint http://127.0.0.1:1234". No secret is ever part of a URL we build, but the
/// query string is dropped anyway.
pub fn transport_error(err: &reqwest::Error, target: &str) -> Error {
    if err.is_timeout() {
        Error::new(
            ErrorKind::Timeout,
            format!("{target} did not answer in time"),
        )
    } else if err.is_connect() {
        Error::new(
            ErrorKind::ConnectionFailed,
            format!("cannot connect to {target}"),
        )
    } else if err.is_decode() || err.is_body() {
        Error::new(
            ErrorKind::ConnectionFailed,
            format!("{target} closed the connection while answering"),
        )
    } else {
        Error::new(
            ErrorKind::ConnectionFailed,
            format!("the request to {target} failed: {}", describe_chain(err)),
        )
    }
}

fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    // reqwest puts the URL in its Display; strip any query string defensively.
    match text.find('?') {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Reads `retry-after-ms`, `x-ms-retry-after-ms`, then `Retry-After` (decimal seconds or an
/// HTTP date), capped at [`MAX_RETRY_AFTER`].
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            if ms.is_finite() && ms >= 0.0 {
                return Some(Duration::from_secs_f64(ms / 1000.0).min(MAX_RETRY_AFTER));
            }
        }
    }
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after_value(value, now)
}

/// Parses one Retry-After value: `10`, `2.128` or an HTTP date.
pub fn parse_retry_after_value(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_retry_after_value("10", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after_value("2.5", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after_value("99999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after_value("-1", now), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            parse_retry_after_value(&date, now),
            Some(Duration::from_secs(7))
        );
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", "1500".parse().unwrap());
        h.insert("retry-after", "9".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(1500)));
    }
}
