//! Local emulator of Azure managed-identity endpoints (IMDS, App Service 2019, Azure Automation
//! sandbox), an Entra-like token issuer and the Microsoft Graph app-role surface, with a control
//! API for fault injection, latency and request statistics. All state is in memory; it listens
//! on 127.0.0.1 only. See README.md for the routes.

pub mod control;
pub mod entra;
pub mod faults;
pub mod graph;
pub mod managed_identity;
pub mod seed;
mod server;
pub mod state;
pub mod stats;
pub mod token;
pub mod util;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Token-bucket throttling of Graph requests (each HTTP request and each `$batch` item costs 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleConfig {
    /// Bucket size (requests that may be served in a burst).
    pub capacity: u32,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

/// Emulator settings. Everything except `port` and `identity_header` can also be changed at
/// run time through `POST /_emulator/config`.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// 0 = pick a free port.
    pub port: u16,
    /// Value App Service / Automation callers must send in `X-IDENTITY-HEADER`.
    pub identity_header: String,
    /// Delay before answering each Graph HTTP request (a `$batch` envelope counts once).
    pub latency_ms: u64,
    /// Delay before answering each managed-identity request (IMDS, App Service, Automation).
    pub mi_latency_ms: u64,
    /// Graph HTTP requests served at once; the others queue.
    pub max_concurrency: Option<usize>,
    /// Lifetime of issued tokens (`exp - iat`).
    pub token_lifetime_secs: u64,
    /// A just-created assignment is invisible to the list endpoints, and a just-created
    /// service principal answers 404, for this long.
    pub replication_lag_ms: u64,
    /// Assignments younger than this are not yet in the `roles` claim of new tokens.
    pub token_roles_lag_ms: u64,
    /// Default Graph page size (100 when `None`; `$top` overrides it).
    pub page_size: Option<usize>,
    /// The Automation endpoint requires `Metadata: true`.
    pub automation_require_metadata: bool,
    /// Graph checks the token's `roles` claim.
    pub enforce_permissions: bool,
    pub throttle: Option<ThrottleConfig>,
    /// Seed of the random generators (fault probabilities, assignment ids).
    pub random_seed: u64,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            identity_header: "emulator-identity-header-secret".to_string(),
            latency_ms: 0,
            mi_latency_ms: 0,
            max_concurrency: None,
            token_lifetime_secs: 3600,
            replication_lag_ms: 0,
            token_roles_lag_ms: 0,
            page_size: None,
            automation_require_metadata: true,
            enforce_permissions: true,
            throttle: None,
            random_seed: 0,
        }
    }
}

/// A running emulator. Dropping it also stops the server (like `shutdown`, without waiting):
/// keep it alive for as long as the test needs the endpoints.
pub struct RunningEmulator {
    addr: SocketAddr,
    identity_header: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn identity_header(&self) -> &str {
        &self.identity_header
    }

    /// Stops accepting, aborts every open connection (including hung requests) and frees the port.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Binds 127.0.0.1:`config.port` and serves on the current tokio runtime.
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let identity_header = config.identity_header.clone();
    let app = Arc::new(state::App::new(format!("http://{addr}"), config));
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, app, stop_rx));
    Ok(RunningEmulator {
        addr,
        identity_header,
        stop,
        task,
    })
}
