//! Process-wide services shared by every context and operation: the clock, the HTTP transports
//! (over clients built lazily, once per kind) and the token cache.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::error::Result;
use crate::http::{ClientKind, HttpClients, ReqwestTransport, Transport};

/// The services one engine (one process) shares.
pub struct Services {
    pub clock: SharedClock,
    /// The process's HTTP clients (reports whether a TLS client was ever built).
    pub http: Arc<HttpClients>,
    /// Managed-identity endpoints: no proxy, no TLS root store for plain http.
    pub mi_transport: Arc<dyn Transport>,
    /// Graph, Entra, ARM.
    pub service_transport: Arc<dyn Transport>,
    pub cache: crate::cache::TokenCache,
    /// IMDS endpoints that answered in this process (first-contact bound, issue 8.7).
    pub first_contact: Arc<crate::sources::first_contact::FirstContact>,
}

impl Services {
    pub fn new(clock: SharedClock) -> Result<Self> {
        let http = Arc::new(HttpClients::new());
        Ok(Self {
            mi_transport: Arc::new(ReqwestTransport::new(
                http.clone(),
                ClientKind::ManagedIdentity,
            )),
            service_transport: Arc::new(ReqwestTransport::new(http.clone(), ClientKind::Service)),
            http,
            cache: crate::cache::TokenCache::new(clock.clone()),
            first_contact: Default::default(),
            clock,
        })
    }

    /// The same services with other transports (tests: fakes without a server).
    pub fn with_transports(
        mut self,
        mi_transport: Arc<dyn Transport>,
        service_transport: Arc<dyn Transport>,
    ) -> Self {
        self.mi_transport = mi_transport;
        self.service_transport = service_transport;
        self
    }
}
