//! Control API: faults, statistics, configuration, seed.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use managed_identity_emulator::seed;
use reqwest::Method;
use serde_json::{json, Value};

async fn imds(
    emu: &managed_identity_emulator::RunningEmulator,
) -> reqwest::Result<reqwest::Response> {
    client()
        .get(format!("{}/metadata/identity/oauth2/token", emu.base_url()))
        .query(&[
            ("api-version", "2018-02-01"),
            ("resource", "https://vault.azure.net"),
        ])
        .header("Metadata", "true")
        .send()
        .await
}

#[tokio::test]
async fn status_faults_consume_their_count() {
    let emu = default_emulator().await;
    let id = control(&emu, Method::POST, "/faults", Some(json!({"target": "imds", "kind": "status", "status": 503, "retryAfter": "2", "count": 2}))).await;
    assert!(id["id"].is_u64());
    for _ in 0..2 {
        let resp = imds(&emu).await.unwrap();
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "2");
        assert_eq!(resp.headers()["server"], "IMDS/150.870.65.1015");
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"].is_string() && v["error_description"].is_string());
    }
    assert_eq!(imds(&emu).await.unwrap().status(), 200);

    // Graph 429 with the natural throttling body; App Service Kestrel body; custom body.
    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "graph", "status": 429, "retryAfter": "1.5"})),
    )
    .await;
    let token = admin_token(&emu).await;
    let resp = client()
        .get(format!("{}/v1.0/servicePrincipals", emu.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1.5");
    assert!(resp.headers().contains_key("request-id"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "TooManyRequests");

    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "appservice", "status": 500})),
    )
    .await;
    let resp = client()
        .get(format!(
            "{}/msi/token?api-version=2019-08-01&resource=x",
            emu.base_url()
        ))
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.headers()["server"], "Kestrel");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["statusCode"], 500);

    control(&emu, Method::POST, "/faults", Some(json!({"target": "any", "status": 502, "body": "{\"x\":1}", "pathContains": "/metadata/"}))).await;
    let resp = imds(&emu).await.unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.text().await.unwrap(), "{\"x\":1}");

    // Probability faults stay until deleted.
    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "imds", "status": 500, "probability": 1.0})),
    )
    .await;
    assert_eq!(imds(&emu).await.unwrap().status(), 500);
    assert_eq!(imds(&emu).await.unwrap().status(), 500);
    let resp = client()
        .delete(format!("{}/_emulator/faults", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    assert_eq!(imds(&emu).await.unwrap().status(), 200);

    let resp = client()
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    emu.shutdown().await;
}

#[tokio::test]
async fn reset_hang_and_garbage() {
    let emu = default_emulator().await;

    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "imds", "kind": "reset"})),
    )
    .await;
    let err = imds(&emu)
        .await
        .expect_err("reset must be a transport error");
    assert!(!err.is_status(), "{err:?}");
    assert_eq!(imds(&emu).await.unwrap().status(), 200);

    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "imds", "kind": "hang", "hangMs": 400})),
    )
    .await;
    let started = Instant::now();
    let hung = tokio::spawn({
        let url = emu.base_url();
        async move {
            client()
                .get(format!(
                    "{url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"
                ))
                .header("Metadata", "true")
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Other requests are not blocked by the hung one.
    let quick = Instant::now();
    assert_eq!(imds(&emu).await.unwrap().status(), 200);
    assert!(quick.elapsed() < Duration::from_millis(300));
    assert_eq!(hung.await.unwrap().unwrap(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A hang longer than the client timeout: the client gives up; shutdown is not delayed.
    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "token", "kind": "hang", "hangMs": 60000})),
    )
    .await;
    let err = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            emu.base_url(),
            seed::TENANT_ID
        ))
        .send()
        .await
        .expect_err("times out");
    assert!(err.is_timeout());

    control(
        &emu,
        Method::POST,
        "/faults",
        Some(json!({"target": "imds", "kind": "garbage"})),
    )
    .await;
    let resp = imds(&emu).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert_eq!(
        resp.text().await.unwrap(),
        "<html><body>upstream proxy error</body></html>"
    );

    let shutdown = Instant::now();
    emu.shutdown().await;
    assert!(shutdown.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn stats_count_and_redact() {
    let emu = default_emulator().await;
    let token = admin_token(&emu).await;
    client()
        .get(format!(
            "{}/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net",
            emu.base_url()
        ))
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .header("x-custom", "visible")
        .send()
        .await
        .unwrap();
    imds(&emu).await.unwrap();
    client()
        .get(format!("{}/v1.0/servicePrincipals?$top=1", emu.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    let stats = control(&emu, Method::GET, "/stats", None).await;
    let r = &stats["requests"];
    assert_eq!(
        (
            r["appservice"].as_u64(),
            r["imds"].as_u64(),
            r["graph"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let log = stats["log"].as_array().unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0]["target"], "appservice");
    assert_eq!(log[0]["headers"]["x-identity-header"], "[redacted]");
    assert_eq!(log[0]["headers"]["x-custom"], "visible");
    assert_eq!(log[0]["query"]["resource"], "https://vault.azure.net");
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[1]["target"], "imds");
    assert_eq!(log[2]["headers"]["authorization"], "[redacted]");
    assert_eq!(log[2]["query"]["$top"], "1");
    let text = stats.to_string();
    assert!(!text.contains(emu.identity_header()) && !text.contains(&token));

    control(&emu, Method::POST, "/stats/reset", None).await;
    let stats = control(&emu, Method::GET, "/stats", None).await;
    assert_eq!(stats["requests"]["imds"], 0);
    assert!(stats["log"].as_array().unwrap().is_empty());
    emu.shutdown().await;
}

#[tokio::test]
async fn seed_config_and_assignments() {
    let emu = default_emulator().await;
    let seed_json = control(&emu, Method::GET, "/seed", None).await;
    assert_eq!(seed_json["tenantId"], seed::TENANT_ID);
    assert_eq!(
        seed_json["identities"].as_array().unwrap().len(),
        seed::IDENTITIES.len()
    );
    assert_eq!(seed_json["resources"][0]["appId"], seed::GRAPH.app_id);

    let cfg = control(&emu, Method::POST, "/config", Some(json!({"latencyMs": 5, "pageSize": 3, "throttle": {"capacity": 10, "refillPerSec": 2.5}}))).await;
    assert_eq!(cfg["latencyMs"], 5);
    assert_eq!(cfg["throttle"]["refillPerSec"], 2.5);
    let resp = client()
        .post(format!("{}/_emulator/config", emu.base_url()))
        .json(&json!({"bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        control(&emu, Method::GET, "/config", None).await["pageSize"],
        3
    );

    let all = control(
        &emu,
        Method::GET,
        &format!(
            "/assignments?principalId={}",
            seed::SYSTEM_IDENTITY.object_id
        ),
        None,
    )
    .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    control(&emu, Method::POST, "/reset", None).await;
    assert_eq!(
        control(&emu, Method::GET, "/config", None).await["pageSize"],
        Value::Null
    );
    emu.shutdown().await;
}
