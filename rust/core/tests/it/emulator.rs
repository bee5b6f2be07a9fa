//! The emulator these tests talk to. By default it starts in-process on 127.0.0.1. When
//! `MANAGEDIDENTITY_TEST_EMULATOR_POOL` names the loopback address of a `mi-emulator --pool`,
//! each test asks that pool for its own emulator instead: build.ps1's Windows leg runs this test
//! binary, cross-built for Windows, under Wine against emulators running natively on the Linux
//! side (as the leg's Pester suites do), so only the engine's code runs on Windows APIs.
//!
//! [`TestEmulator`] answers what the tests ask of `RunningEmulator`, the same way in both modes.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use managed_identity_emulator::{EmulatorConfig, RunningEmulator, ServiceFabricEndpoint};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The variable naming the pool (`127.0.0.1:PORT`); the Pester suites read the same one.
pub const POOL_VARIABLE: &str = "MANAGEDIDENTITY_TEST_EMULATOR_POOL";

pub struct TestEmulator {
    inner: Inner,
}

enum Inner {
    Local(RunningEmulator),
    /// Served by the pool for as long as `connection` stays open.
    Pooled {
        base_url: String,
        identity_header: String,
        info: Value,
        service_fabric: ServiceFabricEndpoint,
        arc_token_dir: PathBuf,
        connection: TcpStream,
    },
}

/// Starts an emulator with `config`: in-process, or from the pool when one is named.
pub async fn start(config: EmulatorConfig) -> io::Result<TestEmulator> {
    match std::env::var(POOL_VARIABLE) {
        Ok(pool) if !pool.trim().is_empty() => start_pooled(pool.trim(), &config).await,
        _ => Ok(TestEmulator {
            inner: Inner::Local(managed_identity_emulator::start(config).await?),
        }),
    }
}

impl TestEmulator {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        match &self.inner {
            Inner::Local(e) => e.base_url(),
            Inner::Pooled { base_url, .. } => base_url.clone(),
        }
    }

    pub fn identity_header(&self) -> &str {
        match &self.inner {
            Inner::Local(e) => e.identity_header(),
            Inner::Pooled {
                identity_header, ..
            } => identity_header,
        }
    }

    pub fn service_fabric(&self) -> &ServiceFabricEndpoint {
        match &self.inner {
            Inner::Local(e) => e.service_fabric(),
            Inner::Pooled { service_fabric, .. } => service_fabric,
        }
    }

    /// The Arc agent token directory as this process names it (from the pool: the client name
    /// the pool's `--client-path` gives it, e.g. `Z:\tmp\…` under Wine).
    pub fn arc_token_dir(&self) -> &Path {
        match &self.inner {
            Inner::Local(e) => e.arc_token_dir(),
            Inner::Pooled { arc_token_dir, .. } => arc_token_dir,
        }
    }

    /// `GET /_emulator/info`: every host's endpoint and environment.
    pub fn info(&self) -> Value {
        match &self.inner {
            Inner::Local(e) => e.info(),
            Inner::Pooled { info, .. } => info.clone(),
        }
    }

    pub async fn shutdown(self) {
        match self.inner {
            Inner::Local(e) => e.shutdown().await,
            // Closing the connection tells the pool to stop this emulator.
            Inner::Pooled { mut connection, .. } => {
                let _ = connection.shutdown().await;
            }
        }
    }
}

/// The pool's command line for `config`: every setting the tests change, as `mi-emulator`'s
/// flags. A setting without a flag panics, naming itself, rather than being dropped silently.
fn pool_arguments(config: &EmulatorConfig) -> Vec<String> {
    let default = EmulatorConfig::default();
    let mut rest = config.clone();
    let mut args: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: Option<String>| {
        args.push(name.to_string());
        args.extend(value);
    };
    assert_eq!(config.port, 0, "a pooled emulator listens on a free port");
    if config.identity_header != default.identity_header {
        flag("--identity-header", Some(config.identity_header.clone()));
    }
    let numbers = [
        ("--latency-ms", config.latency_ms, default.latency_ms),
        (
            "--mi-latency-ms",
            config.mi_latency_ms,
            default.mi_latency_ms,
        ),
        (
            "--token-lifetime-secs",
            config.token_lifetime_secs,
            default.token_lifetime_secs,
        ),
        (
            "--entra-token-lifetime-secs",
            config.entra_token_lifetime_secs,
            default.entra_token_lifetime_secs,
        ),
        (
            "--platform-token-cache-secs",
            config.platform_token_cache_secs,
            default.platform_token_cache_secs,
        ),
        (
            "--replication-lag-ms",
            config.replication_lag_ms,
            default.replication_lag_ms,
        ),
        (
            "--token-roles-lag-ms",
            config.token_roles_lag_ms,
            default.token_roles_lag_ms,
        ),
        ("--random-seed", config.random_seed, default.random_seed),
        (
            "--arc-key-lifetime-secs",
            config.arc_key_lifetime_secs,
            default.arc_key_lifetime_secs,
        ),
    ];
    for (name, value, default_value) in numbers {
        if value != default_value {
            flag(name, Some(value.to_string()));
        }
    }
    if let Some(n) = config.max_concurrency {
        flag("--max-concurrency", Some(n.to_string()));
    }
    if let Some(n) = config.page_size {
        flag("--page-size", Some(n.to_string()));
    }
    if let Some(t) = config.throttle {
        flag(
            "--throttle",
            Some(format!("{}:{}", t.capacity, t.refill_per_sec)),
        );
    }
    if config.automation_require_metadata {
        flag("--automation-require-metadata", None);
    }
    if !config.enforce_permissions {
        flag("--no-enforce-permissions", None);
    }
    if config.service_fabric_expires_on_string {
        flag("--service-fabric-expires-on", Some("string".into()));
    }
    // Everything mapped above back to its default: what is left must be default too.
    rest.identity_header = default.identity_header.clone();
    rest.latency_ms = default.latency_ms;
    rest.mi_latency_ms = default.mi_latency_ms;
    rest.token_lifetime_secs = default.token_lifetime_secs;
    rest.entra_token_lifetime_secs = default.entra_token_lifetime_secs;
    rest.platform_token_cache_secs = default.platform_token_cache_secs;
    rest.replication_lag_ms = default.replication_lag_ms;
    rest.token_roles_lag_ms = default.token_roles_lag_ms;
    rest.random_seed = default.random_seed;
    rest.arc_key_lifetime_secs = default.arc_key_lifetime_secs;
    rest.max_concurrency = default.max_concurrency;
    rest.page_size = default.page_size;
    rest.throttle = default.throttle;
    rest.automation_require_metadata = default.automation_require_metadata;
    rest.enforce_permissions = default.enforce_permissions;
    rest.service_fabric_expires_on_string = default.service_fabric_expires_on_string;
    assert_eq!(
        format!("{rest:?}"),
        format!("{default:?}"),
        "an emulator setting the pool cannot pass on: add its flag to pool_arguments"
    );
    args
}

async fn start_pooled(pool: &str, config: &EmulatorConfig) -> io::Result<TestEmulator> {
    let failed = |what: String| io::Error::other(format!("emulator pool {pool}: {what}"));
    let bounded = Duration::from_secs(30);
    let mut connection = tokio::time::timeout(bounded, TcpStream::connect(pool))
        .await
        .map_err(|_| failed("no connection within 30 s".into()))?
        .map_err(|e| failed(format!("cannot connect: {e}")))?;
    let request = serde_json::to_string(&pool_arguments(config)).expect("arguments as JSON");
    connection
        .write_all(format!("{request}\n").as_bytes())
        .await?;
    let mut line = String::new();
    let mut reader = BufReader::new(&mut connection);
    tokio::time::timeout(bounded, reader.read_line(&mut line))
        .await
        .map_err(|_| failed("no answer within 30 s".into()))??;
    let answer: Value = serde_json::from_str(&line).map_err(|e| failed(format!("{e}: {line}")))?;
    let Some(base_url) = answer["baseUrl"].as_str().map(str::to_string) else {
        return Err(failed(format!("refused: {}", answer["error"])));
    };
    let info: Value = reqwest::Client::builder()
        .no_proxy()
        .timeout(bounded)
        .build()
        .map_err(|e| failed(e.to_string()))?
        .get(format!("{base_url}/_emulator/info"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| failed(e.to_string()))?
        .json()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let text = |value: &Value| -> io::Result<String> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| failed(format!("/_emulator/info lacks {value}")))
    };
    let sf = &info["hosts"]["serviceFabric"];
    let service_fabric = ServiceFabricEndpoint {
        base_url: text(&sf["baseUrl"])?,
        thumbprint: text(&sf["thumbprint"])?,
        certificate_pem: text(&sf["certificatePem"])?,
    };
    Ok(TestEmulator {
        inner: Inner::Pooled {
            identity_header: text(&info["identityHeader"])?,
            arc_token_dir: PathBuf::from(text(&info["hosts"]["arc"]["tokenDirectory"])?),
            base_url,
            service_fabric,
            info,
            connection,
        },
    })
}

#[test]
fn settings_become_the_pools_flags() {
    let config = EmulatorConfig {
        latency_ms: 30,
        max_concurrency: Some(4),
        page_size: Some(2),
        random_seed: 7,
        enforce_permissions: false,
        ..Default::default()
    };
    assert_eq!(
        pool_arguments(&config),
        [
            "--latency-ms",
            "30",
            "--random-seed",
            "7",
            "--max-concurrency",
            "4",
            "--page-size",
            "2",
            "--no-enforce-permissions"
        ]
    );
    assert!(pool_arguments(&EmulatorConfig::default()).is_empty());
}

#[test]
#[should_panic(expected = "add its flag to pool_arguments")]
fn a_setting_without_a_flag_is_not_dropped() {
    pool_arguments(&EmulatorConfig {
        device_code_interval_secs: 1,
        ..Default::default()
    });
}
