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
    // A config change of tokenRolesLagMs empties the platform cache, so it comes first.
    let lag_ms = 1500;
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"tokenRolesLagMs": lag_ms})),
    )
    .await;
    let first = mi_token(&emu, Host::AppService, None).await;
    // A grant through Graph (not the control shortcut) is subject to tokenRolesLagMs.
    let admin = admin_token(&emu).await;
    let mail_send = seed::GRAPH
        .roles
        .iter()
        .find(|r| r.value == "Mail.Send")
        .unwrap();
    let (status, v) = post_json(
        &format!(
            "{}/v1.0/servicePrincipals/{}/appRoleAssignments",
            emu.base_url(),
            seed::EMPTY_IDENTITY.object_id
        ),
        &admin,
        &json!({"principalId": seed::EMPTY_IDENTITY.object_id, "resourceId": seed::GRAPH.object_id, "appRoleId": mail_send.id}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let granted_at = std::time::Instant::now();
    let lagging = mi_token(&emu, Host::AppService, Some(&sha256_hex(token_of(&first)))).await;
    assert_ne!(token_of(&lagging), token_of(&first));
    assert_eq!(roles_of(&lagging), json!([]), "not yet propagated");
    tokio::time::sleep(
        std::time::Duration::from_millis(lag_ms + 100).saturating_sub(granted_at.elapsed()),
    )
    .await;
    // Propagated now, but the platform keeps serving the token it cached.
    let cached = mi_token(&emu, Host::AppService, None).await;
    assert_eq!(token_of(&cached), token_of(&lagging));
    let fresh = mi_token(
        &emu,
        Host::AppService,
        Some(&sha256_hex(token_of(&lagging))),
    )
    .await;
    assert_eq!(roles_of(&fresh), json!(["Mail.Send"]));
    assert_eq!(refresh_counts(&emu).await, (2, 2));
    emu.shutdown().await;
}

#[tokio::test]
async fn app_tokens_name_the_app_and_say_they_are_app_only() {
    let emu = default_emulator().await;
    let v = mi_token(&emu, Host::Imds, None).await;
    let c = claims(token_of(&v));
    assert_eq!(c["app_displayname"], seed::EMPTY_IDENTITY.display_name);
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["appid"], seed::EMPTY_IDENTITY.client_id);
    emu.shutdown().await;
}

/// A GET with a `client-request-id`: status, the two id headers, body.
async fn graph_get(emu: &RunningEmulator, path: &str, token: &str) -> (u16, String, String, Value) {
    let resp = client()
        .get(format!("{}{path}", emu.base_url()))
        .bearer_auth(token)
        .header("client-request-id", "c0ffee00-0000-4000-8000-000000000026")
        .send()
        .await
        .unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (request_id, client_request_id) = (header("request-id"), header("client-request-id"));
    let status = resp.status().as_u16();
    (
        status,
        request_id,
        client_request_id,
        resp.json().await.unwrap(),
    )
}

/// Graph's error envelope exactly: code, message, and innerError with date, request-id and
/// client-request-id (the response's headers), nothing else.
fn assert_graph_error(v: &Value, request_id: &str, code: &str, message: &str) {
    let error = v["error"].as_object().expect("an error object");
    let mut keys: Vec<&str> = error.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["code", "innerError", "message"], "{v}");
    assert_eq!(error["code"], code, "{v}");
    assert_eq!(error["message"], message, "{v}");
    let inner = error["innerError"].as_object().unwrap();
    let mut keys: Vec<&str> = inner.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["client-request-id", "date", "request-id"]);
    assert_eq!(inner["request-id"], request_id);
    assert_eq!(
        inner["client-request-id"],
        "c0ffee00-0000-4000-8000-000000000026"
    );
    let date = inner["date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "{date}");
    assert_eq!(&date[10..11], "T");
}

const DENIED: &str = "Insufficient privileges to complete the operation.";

#[tokio::test]
async fn graph_refuses_what_the_app_roles_do_not_allow_with_graphs_body() {
    let emu = default_emulator().await;
    let empty = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    let reports = graph_token(&emu, seed::REPORTS_IDENTITY.object_id).await;

    // Not implemented by the emulator, in the data, not allowed: Graph's 403.
    let (status, rid, crid, v) = graph_get(&emu, "/v1.0/auditLogs/signIns?$top=5", &empty).await;
    assert_eq!(status, 403);
    assert_eq!(crid, "c0ffee00-0000-4000-8000-000000000026");
    assert_graph_error(&v, &rid, "Authorization_RequestDenied", DENIED);
    // The emulator's own routes refuse with the same body.
    let (status, rid, _, v) = graph_get(&emu, "/v1.0/servicePrincipals", &empty).await;
    assert_eq!(status, 403);
    assert_graph_error(&v, &rid, "Authorization_RequestDenied", DENIED);

    // Allowed (AuditLog.Read.All): an empty collection, on both versions.
    for version in ["v1.0", "beta"] {
        let (status, _, _, v) =
            graph_get(&emu, &format!("/{version}/auditLogs/signIns"), &reports).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["value"], json!([]));
        assert_eq!(
            v["@odata.context"],
            format!("{}/{version}/$metadata#auditLogs/signIns", emu.base_url())
        );
    }
    // Allowed but not a GET: 404 saying the emulator does not implement it.
    grant(&emu, seed::EMPTY_IDENTITY.object_id, "Mail.Send").await;
    let sender = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    let url = format!("{}/v1.0/users/ops@contoso.example/sendMail", emu.base_url());
    let (status, v) = post_json(&url, &sender, &json!({"message": {}})).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "NotImplemented");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "The emulator does not implement POST /users/ops@contoso.example/sendMail (/users/{id}/sendmail in"
        ),
        "{message}"
    );
    let (status, v) = post_json(&url, &empty, &json!({"message": {}})).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], "Authorization_RequestDenied");

    // Neither implemented nor in the data: Graph's unknown-segment answer, as before.
    let (status, _, _, v) = graph_get(&emu, "/v1.0/noSuchThing/at/all", &reports).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "BadRequest");
    assert_eq!(
        v["error"]["message"],
        "Resource not found for the segment 'noSuchThing'."
    );
    // In the data for other methods only: 405.
    let resp = client()
        .put(format!("{}/v1.0/auditLogs/signIns", emu.base_url()))
        .bearer_auth(&reports)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    // Inside $batch too.
    let (status, v) = post_json(
        &format!("{}/v1.0/$batch", emu.base_url()),
        &empty,
        &json!({"requests": [{"id": "1", "method": "GET", "url": "/auditLogs/signIns"}]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["responses"][0]["status"], 403);
    assert_eq!(
        v["responses"][0]["body"]["error"]["code"],
        "Authorization_RequestDenied"
    );

    // Without enforcement everything the data knows is allowed.
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"enforcePermissions": false})),
    )
    .await;
    let (status, _, _, _) = graph_get(&emu, "/v1.0/auditLogs/signIns", &empty).await;
    assert_eq!(status, 200);
    emu.shutdown().await;
}

async fn delegated_token(emu: &RunningEmulator, scopes: &[&str]) -> String {
    let v = control(emu, Method::POST, "/token", Some(json!({"scopes": scopes}))).await;
    let token = v["access_token"].as_str().unwrap().to_string();
    let c = claims(&token);
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["scp"], scopes.join(" "));
    token
}

#[tokio::test]
async fn a_delegated_token_lacking_the_scope_is_refused() {
    let emu = default_emulator().await;
    let user = delegated_token(&emu, &["User.Read"]).await;
    let (status, rid, _, v) = graph_get(&emu, "/v1.0/auditLogs/signIns", &user).await;
    assert_eq!(status, 403);
    assert_graph_error(&v, &rid, "Authorization_RequestDenied", DENIED);
    let (status, _, _, v) = graph_get(&emu, "/v1.0/me", &user).await;
    assert_eq!(status, 200, "{v}");
    // A delegated scope held as an application role does not count: an app token with
    // User.Read.All may read /users/{id}, a user token with only User.Read may not read /users.
    let (status, _, _, _) = graph_get(&emu, "/v1.0/users", &user).await;
    assert_eq!(status, 403);
    let reader = delegated_token(&emu, &["User.Read", "User.ReadBasic.All"]).await;
    let (status, _, _, _) = graph_get(&emu, "/v1.0/users", &reader).await;
    assert_eq!(status, 200);
    emu.shutdown().await;
}

#[tokio::test]
async fn an_application_token_on_a_delegated_only_api_is_refused() {
    let emu = default_emulator().await;
    let data = managed_identity_graph_permissions::graph().unwrap();
    let allowing = data
        .allowing(
            managed_identity_graph_permissions::Method::Get,
            "/groups/{id}/events",
        )
        .unwrap();
    assert!(!allowing.supports(managed_identity_graph_permissions::Scheme::Application));
    grant(&emu, seed::EMPTY_IDENTITY.object_id, "Group.ReadWrite.All").await;
    let app = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    let path = "/v1.0/groups/0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f/events";
    let (status, rid, _, v) = graph_get(&emu, path, &app).await;
    assert_eq!(status, 403);
    assert_graph_error(&v, &rid, "Authorization_RequestDenied", DENIED);
    // The same permission as a user's scope is enough.
    let user = delegated_token(&emu, &["Group.Read.All"]).await;
    assert_eq!(graph_get(&emu, path, &user).await.0, 200);
    // `/me` with an app token: Graph's own 400.
    let (status, rid, _, v) = graph_get(&emu, "/v1.0/me", &app).await;
    assert_eq!(status, 400);
    assert_graph_error(
        &v,
        &rid,
        "BadRequest",
        "/me request is only valid with delegated authentication flow.",
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn sites_selected_reads_only_the_sites_granted_to_the_app() {
    let emu = default_emulator().await;
    let seeded = control(&emu, Method::GET, "/seed", None).await;
    let sites = seeded["sites"].as_array().unwrap();
    assert_eq!(sites.len(), 2);
    assert_eq!(sites[0]["id"], seed::FINANCE_SITE.id);
    assert_eq!(sites[0]["grantedTo"], json!([]));
    assert_eq!(
        sites[1]["grantedTo"],
        json!([seed::EMPTY_IDENTITY.client_id])
    );

    let finance = format!("/v1.0/sites/{}", seed::FINANCE_SITE.id);
    let operations = format!("/v1.0/sites/{}", seed::OPERATIONS_SITE.id);
    // No sites permission at all: Graph's 403.
    let none = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    let (status, rid, _, v) = graph_get(&emu, &finance, &none).await;
    assert_eq!(status, 403);
    assert_graph_error(&v, &rid, "Authorization_RequestDenied", DENIED);

    // Sites.Selected: the granted site answers, the other is refused although the token holds
    // a permission meant for sites.
    grant(&emu, seed::EMPTY_IDENTITY.object_id, "Sites.Selected").await;
    let selected = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    assert_eq!(claims(&selected)["roles"], json!(["Sites.Selected"]));
    let (status, rid, _, v) = graph_get(&emu, &finance, &selected).await;
    assert_eq!(status, 403);
    assert_graph_error(&v, &rid, "accessDenied", "Access denied");
    let (status, _, _, v) = graph_get(&emu, &operations, &selected).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], seed::OPERATIONS_SITE.id);
    assert_eq!(v["displayName"], "Operations");
    assert_eq!(
        v["@odata.context"],
        format!("{}/v1.0/$metadata#sites/$entity", emu.base_url())
    );
    // Where Microsoft's data lists Sites.Selected itself, the same rule.
    let versions = "/lists/0a1b2c3d/items/7/documentSetVersions";
    let (status, rid, _, v) = graph_get(&emu, &format!("{finance}{versions}"), &selected).await;
    assert_eq!(status, 403);
    assert_graph_error(&v, &rid, "accessDenied", "Access denied");
    let (status, _, _, v) = graph_get(&emu, &format!("{operations}{versions}"), &selected).await;
    assert_eq!((status, &v["value"]), (200, &json!([])));

    // Sites.Read.All reads every site; an unknown site is Graph's 404.
    let all = graph_token(&emu, seed::SYSTEM_IDENTITY.object_id).await;
    assert_eq!(
        graph_get(&emu, &finance, &all).await.0,
        403,
        "no sites role yet"
    );
    grant(&emu, seed::SYSTEM_IDENTITY.object_id, "Sites.Read.All").await;
    let all = graph_token(&emu, seed::SYSTEM_IDENTITY.object_id).await;
    let (status, _, _, v) = graph_get(&emu, &finance, &all).await;
    assert_eq!(status, 200);
    assert_eq!(v["name"], "finance");
    let (status, rid, _, v) = graph_get(
        &emu,
        "/v1.0/sites/contoso.sharepoint.com,00000000-0000-4000-8000-000000000000,00000000-0000-4000-8000-000000000001",
        &all,
    )
    .await;
    assert_eq!(status, 404);
    assert_graph_error(
        &v,
        &rid,
        "itemNotFound",
        "Requested site could not be found",
    );
    emu.shutdown().await;
}
