//! Fidelity to Azure found by running real clients: unknown resources are refused everywhere,
//! IMDS refuses proxied requests, App Service says it is Kestrel, and the platform hands out
//! cached 24 h tokens so new roles appear late.

use crate::common;

use common::*;
use managed_identity_emulator::{seed, EmulatorConfig};
use reqwest::Method;
use serde_json::{json, Value};

const UNKNOWN: &str = "https://managements.azure.com";
const VAULT: &str = "https://vault.azure.net";

async fn imds_get(base: &str, resource: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = client()
        .get(format!("{base}/metadata/identity/oauth2/token"))
        .query(&[("api-version", "2018-02-01"), ("resource", resource)])
        .header("Metadata", "true");
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

async fn imds_token(base: &str, resource: &str, client_id: Option<&str>) -> Value {
    let mut rb = client()
        .get(format!("{base}/metadata/identity/oauth2/token"))
        .query(&[("api-version", "2018-02-01"), ("resource", resource)])
        .header("Metadata", "true");
    if let Some(c) = client_id {
        rb = rb.query(&[("client_id", c)]);
    }
    let resp = rb.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn roles_of(v: &Value) -> Value {
    claims(v["access_token"].as_str().unwrap())
        .get("roles")
        .cloned()
        .unwrap_or(json!([]))
}

#[tokio::test]
async fn unknown_resources_are_refused_in_each_hosts_shape() {
    let emu = default_emulator().await;
    let base = emu.base_url();

    // IMDS: 400 invalid_resource with Entra's AADSTS500011 text and trace lines.
    let resp = imds_get(&base, UNKNOWN, &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["server"], "IMDS/150.870.65.1015");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "invalid_resource");
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.starts_with(&format!(
            "AADSTS500011: The resource principal named {UNKNOWN} was not found in the tenant named Contoso."
        )),
        "{d}"
    );
    assert!(d.contains("\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: "));
    assert_eq!(v.as_object().unwrap().len(), 2, "IMDS shape: {v}");

    // App Service and Automation: Kestrel 500, Azure's wording (and misspelling).
    for path in ["/msi/token", "/automation/token"] {
        let resp = client()
            .get(format!("{base}{path}"))
            .query(&[("api-version", "2019-08-01"), ("resource", UNKNOWN)])
            .header("X-IDENTITY-HEADER", emu.identity_header())
            .header("Metadata", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500, "{path}");
        assert_eq!(resp.headers()["server"], "Kestrel");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            v["message"],
            "An unexpected error occured while fetching the AAD Token."
        );
        assert_eq!(v["statusCode"], 500);
    }

    // Known: service principals by resource URI, appId and api://appId; well-known Azure
    // resources, storage accounts included.
    for resource in [
        "https://graph.microsoft.com/",
        seed::GRAPH.app_id,
        &format!("api://{}", seed::LOOKALIKE_GRAPH.app_id),
        "https://storage.azure.com/",
        "https://myaccount.blob.core.windows.net",
        "https://management.core.windows.net/",
    ] {
        assert_eq!(
            imds_get(&base, resource, &[]).await.status(),
            200,
            "{resource}"
        );
    }
    // The identity is checked before the resource, as the host knows its identities.
    let resp = client()
        .get(format!("{base}/metadata/identity/oauth2/token"))
        .query(&[
            ("api-version", "2018-02-01"),
            ("resource", UNKNOWN),
            ("client_id", seed::DETACHED_IDENTITY.client_id),
        ])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error_description"], "Identity not found");
    emu.shutdown().await;
}

#[tokio::test]
async fn imds_refuses_forwarded_requests() {
    let emu = default_emulator().await;
    let resp = imds_get(&emu.base_url(), VAULT, &[("X-Forwarded-For", "10.0.0.1")]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Code>InvalidHeaderValue</Code>"), "{body}");
    assert!(body.contains("X-Forwarded-For"), "{body}");
    assert_eq!(
        imds_get(&emu.base_url(), VAULT, &[]).await.status(),
        200,
        "the same request without the header works"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn app_service_and_automation_successes_say_kestrel() {
    let emu = default_emulator().await;
    for path in ["/msi/token", "/automation/token"] {
        let resp = client()
            .get(format!("{}{path}", emu.base_url()))
            .query(&[("api-version", "2019-08-01"), ("resource", VAULT)])
            .header("X-IDENTITY-HEADER", emu.identity_header())
            .header("Metadata", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["server"], "Kestrel", "{path}");
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn the_platform_caches_tokens_so_new_roles_appear_late() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let empty = seed::EMPTY_IDENTITY;
    let first = imds_token(&base, seed::GRAPH_RESOURCE, Some(empty.client_id)).await;
    assert_eq!(roles_of(&first), json!([]));
    assert_eq!(first["expires_in"], "86400");

    control(
        &emu,
        Method::POST,
        "/assignments",
        Some(json!({"principalId": empty.object_id, "resourceId": seed::GRAPH.object_id, "appRoleValue": "Mail.Send"})),
    )
    .await;
    // Same identity and resource: the same token, roles as they were.
    let again = imds_token(&base, "https://graph.microsoft.com/", Some(empty.client_id)).await;
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(again["expires_on"], first["expires_on"]);
    assert_eq!(roles_of(&again), json!([]));
    // Other identities and resources have their own entries.
    let other = imds_token(&base, seed::GRAPH_RESOURCE, None).await;
    assert_ne!(other["access_token"], first["access_token"]);
    let stats = control(&emu, Method::GET, "/tokenCache", None).await;
    assert_eq!(stats["entries"], 2);

    // Emptying the cache (control call) makes the new role appear.
    let resp = client()
        .delete(format!("{base}/_emulator/tokenCache"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let fresh = imds_token(&base, seed::GRAPH_RESOURCE, Some(empty.client_id)).await;
    assert_ne!(fresh["access_token"], first["access_token"]);
    assert_eq!(roles_of(&fresh), json!(["Mail.Send"]));

    // A config change of the lifetime applies to the next token at once.
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"tokenLifetimeSecs": 120})),
    )
    .await;
    let short = imds_token(&base, seed::GRAPH_RESOURCE, Some(empty.client_id)).await;
    assert_eq!(short["expires_in"], "120");
    emu.shutdown().await;
}

#[tokio::test]
async fn without_the_platform_cache_roles_appear_at_once() {
    let emu = emulator(EmulatorConfig {
        platform_token_cache_secs: 0,
        token_lifetime_secs: 3600,
        ..Default::default()
    })
    .await;
    let base = emu.base_url();
    let empty = seed::EMPTY_IDENTITY;
    let first = imds_token(&base, seed::GRAPH_RESOURCE, Some(empty.client_id)).await;
    assert_eq!(first["expires_in"], "3600");
    control(
        &emu,
        Method::POST,
        "/assignments",
        Some(json!({"principalId": empty.object_id, "resourceId": seed::GRAPH.object_id, "appRoleValue": "Mail.Send"})),
    )
    .await;
    let next = imds_token(&base, seed::GRAPH_RESOURCE, Some(empty.client_id)).await;
    assert_eq!(roles_of(&next), json!(["Mail.Send"]));
    let stats = control(&emu, Method::GET, "/tokenCache", None).await;
    assert_eq!(stats["entries"], 0);
    // The config reports the new settings and takes them at run time.
    let cfg = control(&emu, Method::GET, "/config", None).await;
    assert_eq!(cfg["platformTokenCacheSecs"], 0);
    assert_eq!(cfg["tokenLifetimeSecs"], 3600);
    assert_eq!(cfg["entraTokenLifetimeSecs"], 3600);
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"platformTokenCacheSecs": 60})),
    )
    .await;
    let a = imds_token(&base, VAULT, None).await;
    let b = imds_token(&base, VAULT, None).await;
    assert_eq!(a["access_token"], b["access_token"]);
    emu.shutdown().await;
}
