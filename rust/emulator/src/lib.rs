//! Local emulator of every Azure managed-identity host (IMDS, App Service 2019, Azure Automation
//! sandbox, Azure Arc, Cloud Shell, Azure ML / legacy MSI, Service Fabric over HTTPS), an
//! Entra-like token issuer and the Microsoft Graph app-role surface, with a control API for fault
//! injection, latency and request statistics. All state is in memory (Arc key files excepted);
//! it listens on 127.0.0.1 only. See README.md for the routes.

pub mod arc;
pub mod arm;
pub mod client_credentials;
pub mod cloud_shell;
pub mod control;
pub mod entra;
pub mod entra_delegated;
pub mod faults;
pub mod graph;
pub mod info;
pub mod managed_identity;
pub mod msi_legacy;
pub mod platform_cache;
pub mod resources;
pub mod seed;
mod server;
pub mod service_fabric;
pub mod state;
pub mod stats;
pub mod tenant;
pub mod tls;
pub mod token;
pub mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Lifetime of tokens from the managed-identity endpoints and `POST /_emulator/token`
    /// (`exp - iat`). Real managed-identity tokens live about 24 h.
    pub token_lifetime_secs: u64,
    /// Lifetime of tokens from the Entra token endpoint (real client-credential tokens: ~1 h).
    pub entra_token_lifetime_secs: u64,
    /// How long the managed-identity platform serves the same token for an identity and
    /// resource (as Azure does, so new roles appear late). 0 = no platform cache.
    pub platform_token_cache_secs: u64,
    /// A just-created assignment is invisible to the list endpoints, and a just-created
    /// service principal answers 404, for this long.
    pub replication_lag_ms: u64,
    /// Assignments younger than this are not yet in the `roles` claim of new tokens.
    pub token_roles_lag_ms: u64,
    /// Default Graph page size (100 when `None`; `$top` overrides it).
    pub page_size: Option<usize>,
    /// The Automation endpoint requires `Metadata: true` (off by default: the real sandbox
    /// serves MSAL.NET, which does not send it; `--automation-require-metadata` turns it on).
    pub automation_require_metadata: bool,
    /// Graph checks the token's `roles` claim.
    pub enforce_permissions: bool,
    pub throttle: Option<ThrottleConfig>,
    /// Seed of the random generators (fault probabilities, assignment ids).
    pub random_seed: u64,
    /// Azure Arc agent token directory (created if missing). `None` = a fresh temporary
    /// directory, removed when the emulator stops. Fixed at start.
    pub arc_token_dir: Option<PathBuf>,
    /// Where the Arc challenge's realm points (attack modes for client tests).
    pub arc_challenge: arc::ChallengeMode,
    /// How clients name this machine's files, when they see them through another path scheme:
    /// the Windows test leg's clients run under Wine, where `/` is `Z:\` and the prefix's
    /// `drive_c` is `C:\`. The realm of an Arc challenge and `/_emulator/info` name the key
    /// files as the client must open them. Empty: paths as they are. Fixed at start.
    pub client_paths: arc::ClientPaths,
    /// An Arc key is accepted once, within this many seconds of its challenge.
    pub arc_key_lifetime_secs: u64,
    /// `expires_on` form of the Azure ML / legacy MSI (2017-09-01) endpoint.
    pub msi_expires_on: msi_legacy::ExpiresOnForm,
    /// Port of the Service Fabric HTTPS listener (0 = a free port). Fixed at start.
    pub service_fabric_port: u16,
    /// When set, an HTTPS listener (0 = a free port) serves every ordinary route with the
    /// emulator's self-signed certificate (`--tls`). Fixed at start.
    pub tls_port: Option<u16>,
    /// When set, a plain HTTP listener on 127.0.0.1 at that port (Cloud Shell's is 50342; 0 = a
    /// free port) also answers `POST /oauth2/token` as Cloud Shell, the fixed URL MSAL posts
    /// to (`--cloud-shell-port`). Fixed at start.
    pub cloud_shell_port: Option<u16>,
    /// Service Fabric sends `expires_on` as a JSON string instead of a number.
    pub service_fabric_expires_on_string: bool,
    /// `interval` of device-code answers (seconds a client waits between polls).
    pub device_code_interval_secs: u64,
    /// `expires_in` of device codes.
    pub device_code_lifetime_secs: u64,
    /// What the emulated user does on `/authorize`.
    pub authorize_outcome: entra_delegated::AuthorizeOutcome,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            identity_header: "emulator-identity-header-secret".to_string(),
            latency_ms: 0,
            mi_latency_ms: 0,
            max_concurrency: None,
            token_lifetime_secs: 86_400,
            entra_token_lifetime_secs: 3600,
            platform_token_cache_secs: 86_400,
            replication_lag_ms: 0,
            token_roles_lag_ms: 0,
            page_size: None,
            automation_require_metadata: false,
            enforce_permissions: true,
            throttle: None,
            random_seed: 0,
            arc_token_dir: None,
            arc_challenge: arc::ChallengeMode::Valid,
            client_paths: arc::ClientPaths::default(),
            arc_key_lifetime_secs: 300,
            msi_expires_on: msi_legacy::ExpiresOnForm::Epoch,
            service_fabric_port: 0,
            tls_port: None,
            cloud_shell_port: None,
            service_fabric_expires_on_string: false,
            device_code_interval_secs: 5,
            device_code_lifetime_secs: 900,
            authorize_outcome: entra_delegated::AuthorizeOutcome::Approve,
        }
    }
}

/// Where the Service Fabric HTTPS endpoint listens and how a client pins its certificate.
#[derive(Clone, Debug)]
pub struct ServiceFabricEndpoint {
    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub base_url: String,
    /// SHA-1 of the certificate's DER bytes, upper-case hex (`IDENTITY_SERVER_THUMBPRINT`).
    pub thumbprint: String,
    /// The self-signed certificate (PEM), for clients that want to trust it instead of pinning.
    pub certificate_pem: String,
}

/// A running emulator. Dropping it also stops the server (like `shutdown`, without waiting):
/// keep it alive for as long as the test needs the endpoints.
pub struct RunningEmulator {
    addr: SocketAddr,
    identity_header: String,
    app: Arc<state::App>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    sf_task: JoinHandle<()>,
    https: Option<(SocketAddr, JoinHandle<()>)>,
    cloud_shell: Option<(SocketAddr, JoinHandle<()>)>,
    certificate_pem: String,
}

impl RunningEmulator {
    /// `https://127.0.0.1:PORT` of the `--tls` listener, when there is one.
    pub fn https_base_url(&self) -> Option<String> {
        self.https
            .as_ref()
            .map(|(addr, _)| format!("https://{addr}"))
    }

    /// `http://127.0.0.1:50342` (or the port chosen) of Cloud Shell's fixed-port listener, when
    /// there is one.
    pub fn cloud_shell_base_url(&self) -> Option<String> {
        self.cloud_shell
            .as_ref()
            .map(|(addr, _)| format!("http://{addr}"))
    }

    /// The PEM of the self-signed certificate both HTTPS listeners present.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

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

    /// The Service Fabric HTTPS endpoint and its certificate thumbprint.
    pub fn service_fabric(&self) -> &ServiceFabricEndpoint {
        &self.app.service_fabric
    }

    /// The Azure Arc agent token directory (canonical path) where key files are written.
    pub fn arc_token_dir(&self) -> &std::path::Path {
        self.app.arc_dir()
    }

    /// Every host's endpoint and the environment a client sets for it (`GET /_emulator/info`).
    pub fn info(&self) -> serde_json::Value {
        info::info_json(&self.app)
    }

    /// Stops accepting, aborts every open connection (including hung requests) and frees the
    /// ports.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let _ = self.sf_task.await;
        if let Some((_, task)) = self.https {
            let _ = task.await;
        }
        if let Some((_, task)) = self.cloud_shell {
            let _ = task.await;
        }
    }
}

/// Binds 127.0.0.1:`config.port` (HTTP) and 127.0.0.1:`config.service_fabric_port` (HTTPS,
/// Service Fabric) and serves on the current tokio runtime.
pub async fn start(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let sf_listener =
        tokio::net::TcpListener::bind(("127.0.0.1", config.service_fabric_port)).await?;
    let sf_addr = sf_listener.local_addr()?;
    let https_listener = match config.tls_port {
        Some(port) => Some(tokio::net::TcpListener::bind(("127.0.0.1", port)).await?),
        None => None,
    };
    let certificate = tls::SelfSigned::generate()?;
    let acceptor = certificate.acceptor()?;
    let service_fabric = ServiceFabricEndpoint {
        base_url: format!("https://{sf_addr}"),
        thumbprint: certificate.thumbprint.clone(),
        certificate_pem: certificate.certificate_pem.clone(),
    };
    let identity_header = config.identity_header.clone();
    let https_base_url = match &https_listener {
        Some(l) => Some(format!("https://{}", l.local_addr()?)),
        None => None,
    };
    let cloud_shell_listener = match config.cloud_shell_port {
        Some(port) => Some(tokio::net::TcpListener::bind(("127.0.0.1", port)).await?),
        None => None,
    };
    let cloud_shell_base_url = match &cloud_shell_listener {
        Some(l) => Some(format!("http://{}", l.local_addr()?)),
        None => None,
    };
    let app = Arc::new(state::App::new(
        format!("http://{addr}"),
        https_base_url,
        cloud_shell_base_url,
        service_fabric,
        config,
    )?);
    // Decode Microsoft's permission data now (once per process), not on the first Graph
    // request a test times.
    tokio::task::spawn_blocking(|| {
        let _ = managed_identity_graph_permissions::graph();
    });
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(server::serve(
        listener,
        app.clone(),
        stop_rx.clone(),
        server::Listener::Http,
    ));
    let https = match https_listener {
        Some(listener) => {
            let addr = listener.local_addr()?;
            let task = tokio::spawn(server::serve(
                listener,
                app.clone(),
                stop_rx.clone(),
                server::Listener::Https(acceptor.clone()),
            ));
            Some((addr, task))
        }
        None => None,
    };
    let cloud_shell = match cloud_shell_listener {
        Some(listener) => {
            let addr = listener.local_addr()?;
            let task = tokio::spawn(server::serve(
                listener,
                app.clone(),
                stop_rx.clone(),
                server::Listener::CloudShell,
            ));
            Some((addr, task))
        }
        None => None,
    };
    let sf_task = tokio::spawn(server::serve(
        sf_listener,
        app.clone(),
        stop_rx,
        server::Listener::ServiceFabric(acceptor),
    ));
    Ok(RunningEmulator {
        addr,
        identity_header,
        app,
        stop,
        task,
        sf_task,
        https,
        cloud_shell,
        certificate_pem: certificate.certificate_pem.clone(),
    })
}
