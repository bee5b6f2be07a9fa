//! Shared helpers for the emulator integration tests.
#![allow(dead_code)]

mod assertions;
pub use assertions::*;

use managed_identity_emulator::{seed, start, EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};

pub async fn emulator(config: EmulatorConfig) -> RunningEmulator {
    start(config).await.expect("emulator starts")
}

pub async fn default_emulator() -> RunningEmulator {
    emulator(EmulatorConfig::default()).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Decodes a token's payload.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

/// A Graph token for any service principal (control API).
pub async fn graph_token(emu: &RunningEmulator, object_id: &str) -> String {
    let v: Value = client()
        .post(format!("{}/_emulator/token", emu.base_url()))
        .json(&json!({"objectId": object_id, "resource": seed::GRAPH_RESOURCE}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// Token of the seeded administrator (Application.Read.All + AppRoleAssignment.ReadWrite.All).
pub async fn admin_token(emu: &RunningEmulator) -> String {
    graph_token(emu, seed::SYSTEM_IDENTITY.object_id).await
}

pub async fn control(
    emu: &RunningEmulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut rb = client().request(method, format!("{}/_emulator{path}", emu.base_url()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    assert!(
        resp.status().is_success(),
        "control {path}: {}",
        resp.status()
    );
    resp.json().await.unwrap_or(Value::Null)
}

pub async fn get_json(url: &str, token: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut rb = client().get(url).bearer_auth(token);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub async fn post_json(url: &str, token: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
