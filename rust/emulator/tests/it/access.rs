//! Issue 26, the platform side of "access denied": managed-identity endpoints that honour MSAL's
//! `token_sha256_to_refresh` (App Service, Automation, Service Fabric) and IMDS that ignores it;
//! Graph's 403 for requests the token's roles or scopes do not allow, following Microsoft's
//! permission data; Sites.Selected refused on a site not granted to the app.

use crate::common;

use common::*;
use managed_identity_emulator::{seed, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

const GRAPH: &str = "https://graph.microsoft.com";

/// Lower-case hex SHA-256 of the token's UTF-8 bytes, as MSAL sends it.
fn sha256_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn token_of(v: &Value) -> &str {
    v["access_token"].as_str().expect("access_token")
}

fn roles_of(v: &Value) -> Value {
    claims(token_of(v))
        .get("roles")
        .cloned()
        .unwrap_or(json!([]))
}

/// One managed-identity host's token request for the Graph token of uami-empty.
#[derive(Clone, Copy)]
enum Host {
    AppService,
    Automation,
    ServiceFabric,
    Imds,
}

async fn mi_token(emu: &RunningEmulator, host: Host, refresh: Option<&str>) -> Value {
    let client_id = seed::EMPTY_IDENTITY.client_id;
    let mut query: Vec<(&str, &str)> = vec![("resource", GRAPH)];
    if let Some(h) = refresh {
        query.push(("token_sha256_to_refresh", h));
        query.push(("xms_cc", "cp1"));
    }
    let base = emu.base_url();
    let rb = match host {
        Host::AppService | Host::Automation => {
            let path = match host {
                Host::AppService => "/msi/token",
                _ => "/automation/token",
            };
            query.push(("api-version", "2019-08-01"));
            query.push(("client_id", client_id));
            client()
                .get(format!("{base}{path}"))
                .header("X-IDENTITY-HEADER", emu.identity_header())
        }
        Host::ServiceFabric => {
            query.push(("api-version", "2019-07-01-preview"));
            query.push(("client_id", client_id));
            reqwest::Client::builder()
                .no_proxy()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap()
                .get(format!(
                    "{}/metadata/identity/oauth2/token",
                    emu.service_fabric().base_url
                ))
                .header("secret", emu.identity_header())
        }
        Host::Imds => {
            query.push(("api-version", "2018-02-01"));
            query.push(("client_id", client_id));
            client()
                .get(format!("{base}/metadata/identity/oauth2/token"))
                .header("Metadata", "true")
        }
    };
    let resp = rb.query(&query).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn refresh_counts(emu: &RunningEmulator) -> (u64, u64) {
    let stats = control(emu, Method::GET, "/stats", None).await;
    let r = &stats["requests"];
    (
        r["platformRefreshRequests"].as_u64().unwrap(),
        r["platformRefreshes"].as_u64().unwrap(),
    )
}

async fn grant(emu: &RunningEmulator, object_id: &str, role: &str) {
    control(
        emu,
        Method::POST,
        "/assignments",
        Some(json!({"principalId": object_id, "resourceId": seed::GRAPH.object_id, "appRoleValue": role})),
    )
    .await;
}

/// App Service and Service Fabric drop the cached token when the hash names it, and only then.
async fn refresh_is_honoured(host: Host) {
    let emu = default_emulator().await;
    let first = mi_token(&emu, host, None).await;
    assert_eq!(roles_of(&first), json!([]));
    grant(&emu, seed::EMPTY_IDENTITY.object_id, "Mail.Send").await;

    // Another token's hash (or garbage): the cached token, roles as at issue.
    for other in [sha256_hex("not the cached token"), "zz".to_string()] {
        let again = mi_token(&emu, host, Some(&other)).await;
        assert_eq!(token_of(&again), token_of(&first));
    }
    assert_eq!(refresh_counts(&emu).await, (2, 0));

    // The cached token's hash: a new token with the role granted meanwhile.
    let hash = sha256_hex(token_of(&first));
    let fresh = mi_token(&emu, host, Some(&hash.to_ascii_uppercase())).await;
    assert_ne!(token_of(&fresh), token_of(&first));
    assert_eq!(roles_of(&fresh), json!(["Mail.Send"]));
    assert_eq!(refresh_counts(&emu).await, (3, 1));
    let cache = control(&emu, Method::GET, "/tokenCache", None).await;
    assert_eq!(cache["entries"], 1);
    let item = &cache["items"][0];
    assert_eq!(item["objectId"], seed::EMPTY_IDENTITY.object_id);
    assert_eq!(item["resource"], GRAPH);
    let exp = claims(token_of(&fresh))["exp"].as_u64().unwrap();
    assert_eq!(item["expiresOn"], exp);
    assert!(item["servedUntil"].as_u64().unwrap() <= exp);
    assert!(
        !cache.to_string().contains(token_of(&fresh)),
        "no token in the cache listing"
    );

    // The old hash again (a client that kept it): the new cached token, not another one.
    let kept = mi_token(&emu, host, Some(&hash)).await;
    assert_eq!(token_of(&kept), token_of(&fresh));
    assert_eq!(refresh_counts(&emu).await, (4, 1));
    emu.shutdown().await;
}

#[tokio::test]
async fn app_service_drops_the_cached_token_its_hash_names() {
    refresh_is_honoured(Host::AppService).await;
}

#[tokio::test]
async fn automation_drops_the_cached_token_its_hash_names() {
    refresh_is_honoured(Host::Automation).await;
}

#[tokio::test]
async fn service_fabric_drops_the_cached_token_its_hash_names() {
    refresh_is_honoured(Host::ServiceFabric).await;
}

#[tokio::test]
async fn imds_ignores_token_sha256_to_refresh() {
    let emu = default_emulator().await;
    let first = mi_token(&emu, Host::Imds, None).await;
    grant(&emu, seed::EMPTY_IDENTITY.object_id, "Mail.Send").await;
    let again = mi_token(&emu, Host::Imds, Some(&sha256_hex(token_of(&first)))).await;
    assert_eq!(token_of(&again), token_of(&first));
    assert_eq!(roles_of(&again), json!([]));
    assert_eq!(refresh_counts(&emu).await, (0, 0));
    // The cache's end time is in the answer and in the control listing.
    let cache = control(&emu, Method::GET, "/tokenCache", None).await;
    assert_eq!(
        cache["items"][0]["expiresOn"].to_string(),
        first["expires_on"].as_str().unwrap()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_refreshed_token_waits_for_the_propagation_delay() {
    let emu = default_emulator().await;
    let first = mi_token(&emu, Host::AppService, None).await;
    // A grant through Graph (not the control shortcut) is subject to tokenRolesLagMs.
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"tokenRolesLagMs": 600_000})),
    )
    .await;
    let admin = admin_token(&emu).await;
    let (status, v) = post_json(
        &format!(
            "{}/v1.0/servicePrincipals/{}/appRoleAssignments",
            emu.base_url(),
            seed::EMPTY_IDENTITY.object_id
        ),
        &admin,
        &json!({"principalId": seed::EMPTY_IDENTITY.object_id, "resourceId": seed::GRAPH.object_id, "appRoleId": seed::GRAPH.roles.iter().find(|r| r.value == "Mail.Send").unwrap().id}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let lagging = mi_token(&emu, Host::AppService, Some(&sha256_hex(token_of(&first)))).await;
    assert_ne!(token_of(&lagging), token_of(&first));
    assert_eq!(roles_of(&lagging), json!([]), "not yet propagated");
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"tokenRolesLagMs": 0})),
    )
    .await;
    let cfg = control(&emu, Method::GET, "/config", None).await;
    assert_eq!(cfg["tokenRolesLagMs"], 0);
    let fresh = mi_token(
        &emu,
        Host::AppService,
        Some(&sha256_hex(token_of(&lagging))),
    )
    .await;
    assert_eq!(roles_of(&fresh), json!(["Mail.Send"]));
    emu.shutdown().await;
}
