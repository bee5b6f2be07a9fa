//! Which proxy a request takes (issue 8.2). reqwest would read `HTTP_PROXY`/`HTTPS_PROXY` from
//! the native process environment and use them for *every* destination, loopback and plain
//! http included, so a bearer token or the identity header could reach a proxy in clear text.
//! Instead the proxy variables come from the injected [`Environment`] (the host's snapshot) and:
//!
//! - managed-identity endpoints never use a proxy (their client is built with none at all);
//! - loopback destinations never use a proxy;
//! - https destinations use `HTTPS_PROXY` (or `https_proxy`) unless `NO_PROXY` (or `no_proxy`)
//!   excludes the host; plain http (loopback only, see [`super::validate_service_endpoint`])
//!   therefore never does.
//!
//! The settings are the process's: the last connect's snapshot wins (the environment is
//! process-wide anyway).

use std::sync::{Arc, RwLock};

use url::Url;

use super::is_loopback_host;
use crate::env::Environment;

/// The proxy variables the engine reads (both spellings; on Windows they are the same).
pub const VARIABLES: &[&str] = &["HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"];

/// The proxy for https destinations and the hosts that bypass it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    https: Option<Url>,
    no_proxy: Vec<String>,
}

impl ProxySettings {
    /// From the environment; an unparsable proxy URL counts as no proxy.
    pub fn from_env(env: &dyn Environment) -> Self {
        let var = |upper: &str, lower: &str| env.var(upper).or_else(|| env.var(lower));
        let https = var("HTTPS_PROXY", "https_proxy").and_then(|raw| parse_proxy(&raw));
        let no_proxy = var("NO_PROXY", "no_proxy")
            .map(|raw| {
                raw.split(',')
                    .map(|e| e.trim().to_ascii_lowercase())
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Self { https, no_proxy }
    }

    /// The proxy `destination` goes through, if any.
    pub fn proxy_for(&self, destination: &Url) -> Option<Url> {
        if destination.scheme() != "https" || is_loopback_host(destination) {
            return None;
        }
        let host = destination.host_str()?.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.no_proxy.iter().any(|entry| excludes(entry, host)) {
            return None;
        }
        self.https.clone()
    }
}

/// A `NO_PROXY` entry: `*`, a host or domain (`example.com`, `.example.com`: the domain and
/// its subdomains), or an IP address; a `:port` suffix is ignored.
fn excludes(entry: &str, host: &str) -> bool {
    if entry == "*" {
        return true;
    }
    let entry = match entry.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => entry,
    };
    let entry = entry
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']');
    !entry.is_empty()
        && (host == entry
            || host
                .strip_suffix(entry)
                .is_some_and(|prefix| prefix.ends_with('.')))
}

/// `http://host:port` or a bare `host:port` (as curl accepts).
fn parse_proxy(raw: &str) -> Option<Url> {
    let raw = raw.trim();
    let text = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    Url::parse(&text).ok().filter(|u| u.has_host())
}

/// The process's proxy settings, shared with the clients that consult them per request.
#[derive(Debug, Clone, Default)]
pub struct SharedProxy(Arc<RwLock<ProxySettings>>);

impl SharedProxy {
    pub fn set(&self, settings: ProxySettings) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = settings;
    }

    pub fn proxy_for(&self, destination: &Url) -> Option<Url> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .proxy_for(destination)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn https_follows_the_variables_loopback_and_plain_http_never_do() {
        let env = MapEnvironment::new()
            .with("HTTPS_PROXY", "http://proxy.corp:3128")
            .with("HTTP_PROXY", "http://proxy.corp:3128")
            .with(
                "NO_PROXY",
                "internal.corp, .example.org,10.1.2.3,*.skip.net:443",
            );
        let p = ProxySettings::from_env(&env);
        let proxy = Some(url("http://proxy.corp:3128"));
        assert_eq!(p.proxy_for(&url("https://graph.microsoft.com/v1.0")), proxy);
        assert_eq!(
            p.proxy_for(&url("https://login.microsoftonline.com/")),
            proxy
        );
        assert_eq!(p.proxy_for(&url("http://127.0.0.1:8080/v1.0")), None);
        assert_eq!(p.proxy_for(&url("https://127.0.0.1:8443/v1.0")), None);
        assert_eq!(p.proxy_for(&url("https://localhost/v1.0")), None);
        assert_eq!(p.proxy_for(&url("https://[::1]/v1.0")), None);
        assert_eq!(p.proxy_for(&url("http://169.254.169.254/metadata")), None);
        assert_eq!(p.proxy_for(&url("https://internal.corp/")), None);
        assert_eq!(p.proxy_for(&url("https://a.internal.corp/")), None);
        assert_eq!(p.proxy_for(&url("https://notinternal.corp/")), proxy);
        assert_eq!(p.proxy_for(&url("https://example.org/")), None);
        assert_eq!(p.proxy_for(&url("https://x.example.org/")), None);
        assert_eq!(p.proxy_for(&url("https://10.1.2.3/")), None);
        assert_eq!(p.proxy_for(&url("https://b.skip.net/")), None);
    }

    #[test]
    fn lower_case_names_bare_host_port_star_and_nothing() {
        let env = MapEnvironment::new().with("https_proxy", "proxy:8080");
        let p = ProxySettings::from_env(&env);
        assert_eq!(
            p.proxy_for(&url("https://graph.microsoft.com")),
            Some(url("http://proxy:8080"))
        );
        let env = MapEnvironment::new()
            .with("HTTPS_PROXY", "http://proxy:8080")
            .with("no_proxy", "*");
        assert_eq!(
            ProxySettings::from_env(&env).proxy_for(&url("https://graph.microsoft.com")),
            None
        );
        let none = ProxySettings::from_env(&MapEnvironment::new());
        assert_eq!(none.proxy_for(&url("https://graph.microsoft.com")), None);
    }
}
