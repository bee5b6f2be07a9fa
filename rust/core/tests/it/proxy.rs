//! Issue 8.2: proxies. The proxy variables come from the host's snapshot (the connect's
//! `environment`), never from this process's environment (tests never call `set_var`).
//! Managed-identity endpoints and loopback never go through the proxy; https destinations do.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use managed_identity_core::clock::FakeClock;
use managed_identity_core::events::VecSink;
use managed_identity_core::services::Services;
use managed_identity_emulator::EmulatorConfig;
use managedidentity_engine::protocol::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback "proxy" that records every byte it receives and answers 502.
struct RecordingProxy {
    address: String,
    received: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    if let Ok(n) = socket.read(&mut buffer).await {
                        log.lock().expect("log").extend_from_slice(&buffer[..n]);
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        Self {
            address,
            received,
            task,
        }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().expect("log")).into_owned()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn engine() -> Engine {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // A fake clock: Graph retries of the refused tunnel take no wall time.
    Engine::with_services(Services::new(Arc::new(FakeClock::at_unix(now))).expect("services"))
}

async fn run(
    engine: &Engine,
    op: &str,
    args: Value,
) -> Result<Value, managed_identity_core::Error> {
    engine
        .execute(
            json!({"op": op, "args": args}).to_string().as_bytes(),
            None,
            &VecSink::default(),
        )
        .await
}

#[tokio::test]
async fn managed_identity_and_loopback_calls_never_reach_the_proxy() {
    let emu = crate::emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let proxy = RecordingProxy::start().await;
    let engine = engine();
    let connected = run(
        &engine,
        "identity.connect",
        json!({
            "graphEndpoint": emu.base_url(),
            "environment": {
                "AZURE_POD_IDENTITY_AUTHORITY_HOST": emu.base_url(),
                "HTTP_PROXY": proxy.address,
                "HTTPS_PROXY": proxy.address,
                "http_proxy": proxy.address,
                "https_proxy": proxy.address,
            },
        }),
    )
    .await
    .expect("the managed-identity token came straight from the endpoint");
    let context = connected["Handle"].as_u64().expect("handle");
    run(
        &engine,
        "graph.request",
        json!({"context": context, "uri": "servicePrincipals"}),
    )
    .await
    .expect("the loopback Graph call reached the emulator");
    assert_eq!(proxy.received(), "", "the proxy received nothing");
}

#[tokio::test]
async fn https_destinations_follow_the_hosts_proxy_variables() {
    let emu = crate::emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator");
    let proxy = RecordingProxy::start().await;
    let engine = engine();
    let connected = run(
        &engine,
        "identity.connect",
        json!({
            "graphEndpoint": "https://graph.proxy-test.invalid",
            "environment": {
                "AZURE_POD_IDENTITY_AUTHORITY_HOST": emu.base_url(),
                "HTTPS_PROXY": proxy.address,
                "NO_PROXY": "login.example.org",
            },
        }),
    )
    .await
    .expect("connect");
    let context = connected["Handle"].as_u64().expect("handle");
    let secret = engine.cached_token(context, None).expect("token cached");
    let e = run(
        &engine,
        "graph.request",
        json!({"context": context, "uri": "servicePrincipals"}),
    )
    .await
    .expect_err("the proxy refuses the tunnel");
    let seen = proxy.received();
    assert!(
        seen.starts_with("CONNECT graph.proxy-test.invalid:443 "),
        "the https call went through the proxy: {seen:?} ({e:?})"
    );
    assert!(!seen.contains(secret.expose()), "a tunnel carries no token");
}
