//! The process's HTTP clients, built lazily and at most once per kind: every context and every
//! operation reuses them (connection pools included).
//!
//! A client for plain http is built without a TLS root store: loading the system's roots is
//! the costly part of building a client, and managed-identity endpoints (IMDS, App Service,
//! Automation) are plain http on link-local or loopback addresses. A client with roots is only
//! built when an https URL is actually sent, and [`HttpClients::https_client_created`] says
//! whether that happened (reported by `engine.info`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use once_cell::sync::OnceCell;
use url::Url;

use super::pinning::{self, CertificatePin};
use super::proxy::{ProxySettings, SharedProxy};
use super::{CONNECT_TIMEOUT, GRAPH_REQUEST_TIMEOUT, MI_CONNECT_TIMEOUT, MI_REQUEST_TIMEOUT};
use crate::error::{Error, Result};

/// Idle connections kept per host by the service client.
const SERVICE_IDLE_PER_HOST: usize = 16;

/// Who the client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// Managed-identity endpoints: never a proxy (IMDS and loopback endpoints must be reached
    /// directly), never a redirect (SSRF), bounded timeouts.
    ManagedIdentity,
    /// Graph, Entra and ARM: https through the proxy of the host's variables
    /// ([`super::proxy`]), loopback never; no redirects.
    Service,
}

/// Lazily built clients: one per kind and scheme family (plain / TLS).
#[derive(Default)]
pub struct HttpClients {
    mi_plain: OnceCell<reqwest::Client>,
    mi_tls: OnceCell<reqwest::Client>,
    service_plain: OnceCell<reqwest::Client>,
    service_tls: OnceCell<reqwest::Client>,
    /// Managed-identity clients that trust exactly one certificate (Service Fabric), per pin.
    pinned: Mutex<HashMap<CertificatePin, reqwest::Client>>,
    built: AtomicU32,
    built_tls: AtomicU32,
    proxy: SharedProxy,
}

impl HttpClients {
    pub fn new() -> Self {
        Self::default()
    }

    /// The client for `url`: a TLS-capable one only for https.
    pub fn for_url(&self, kind: ClientKind, url: &Url) -> Result<&reqwest::Client> {
        let tls = url.scheme() != "http";
        let cell = match (kind, tls) {
            (ClientKind::ManagedIdentity, false) => &self.mi_plain,
            (ClientKind::ManagedIdentity, true) => &self.mi_tls,
            (ClientKind::Service, false) => &self.service_plain,
            (ClientKind::Service, true) => &self.service_tls,
        };
        cell.get_or_try_init(|| {
            let client = build(kind, tls, &self.proxy)?;
            self.built.fetch_add(1, Ordering::Relaxed);
            if tls {
                self.built_tls.fetch_add(1, Ordering::Relaxed);
            }
            Ok(client)
        })
    }

    /// Replaces the process's proxy settings (each connect passes the host's snapshot); the
    /// service clients consult them per request.
    pub fn set_proxy(&self, settings: ProxySettings) {
        self.proxy.set(settings);
    }

    /// The managed-identity client that trusts only the certificate `pin` names (no CA, no
    /// root store, no proxy, no redirects); built once per pin.
    pub fn pinned(&self, pin: CertificatePin) -> Result<reqwest::Client> {
        let mut pinned = self.pinned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = pinned.get(&pin) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(pinning::client_config(pin)?)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .no_proxy()
            .timeout(MI_REQUEST_TIMEOUT)
            .build()
            .map_err(|e| Error::internal(format!("cannot build the pinned HTTP client: {e}")))?;
        self.built.fetch_add(1, Ordering::Relaxed);
        pinned.insert(pin, client.clone());
        Ok(client)
    }

    /// True once a client with a TLS root store was built.
    pub fn https_client_created(&self) -> bool {
        self.built_tls.load(Ordering::Relaxed) > 0
    }

    /// How many clients were built (at most four, plus one per pinned certificate).
    pub fn clients_built(&self) -> u32 {
        self.built.load(Ordering::Relaxed)
    }
}

fn build(kind: ClientKind, tls: bool, proxy: &SharedProxy) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // No root store for plain http: nothing is loaded from the system.
        .tls_built_in_root_certs(tls);
    builder = match kind {
        ClientKind::ManagedIdentity => builder
            .no_proxy()
            .connect_timeout(MI_CONNECT_TIMEOUT)
            .timeout(MI_REQUEST_TIMEOUT),
        ClientKind::Service => {
            // Never the native environment's proxies (reqwest's default): ours, per request.
            let proxy = proxy.clone();
            builder
                .no_proxy()
                .proxy(reqwest::Proxy::custom(move |url| proxy.proxy_for(url)))
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(GRAPH_REQUEST_TIMEOUT)
                .pool_max_idle_per_host(SERVICE_IDLE_PER_HOST)
        }
    };
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_never_builds_a_tls_client_and_clients_are_reused() {
        let clients = HttpClients::new();
        let url = Url::parse("http://127.0.0.1:9/x").expect("url");
        let a = clients
            .for_url(ClientKind::ManagedIdentity, &url)
            .expect("client") as *const reqwest::Client;
        let b = clients
            .for_url(ClientKind::ManagedIdentity, &url)
            .expect("client") as *const reqwest::Client;
        assert_eq!(a, b, "one client per kind");
        assert_eq!(clients.clients_built(), 1);
        assert!(!clients.https_client_created());
        let https = Url::parse("https://graph.example/v1.0").expect("url");
        clients
            .for_url(ClientKind::Service, &https)
            .expect("client");
        assert!(clients.https_client_created());
        assert_eq!(clients.clients_built(), 2);
    }
}
