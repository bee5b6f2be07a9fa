//! ARM surface: subscriptions, resource groups, user-assigned identities, Automation account
//! identities, ARM error codes, RBAC, and the effect of attachments on the Automation token
//! endpoint.

use crate::common;

use common::*;
use managed_identity_emulator::{seed, RunningEmulator};
use serde_json::{json, Value};

const ARM: &str = "https://management.azure.com/";
const UAI_V: &str = "api-version=2023-01-31";
const AA_V: &str = "api-version=2023-11-01";

async fn token_for(emu: &RunningEmulator, object_id: &str, resource: &str) -> String {
    let v: Value = client()
        .post(format!("{}/_emulator/token", emu.base_url()))
        .json(&json!({"objectId": object_id, "resource": resource}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().expect("token").to_string()
}

async fn send(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut rb = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

fn uai(base: &str, group: &str, name: &str) -> String {
    format!(
        "{base}/subscriptions/{}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}?{UAI_V}",
        seed::SUBSCRIPTION_ID
    )
}

fn account(base: &str) -> String {
    format!(
        "{base}/subscriptions/{}/resourceGroups/rg-automation/providers/Microsoft.Automation/automationAccounts/aa-runbooks?{AA_V}",
        seed::SUBSCRIPTION_ID
    )
}

/// What the Automation token endpoint issues for a client id (status, roles).
async fn runbook_roles(emu: &RunningEmulator, client_id: Option<&str>) -> (u16, Vec<String>) {
    let mut url = format!(
        "{}/automation/token?resource=https://graph.microsoft.com/",
        emu.base_url()
    );
    if let Some(c) = client_id {
        url.push_str(&format!("&client_id={c}"));
    }
    let resp = client()
        .get(url)
        .header("X-IDENTITY-HEADER", emu.identity_header())
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    let roles = v["access_token"]
        .as_str()
        .map(|t| {
            claims(t)["roles"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (status, roles)
}

#[tokio::test]
async fn seed_replay_create_grant_attach_then_the_runbook_gets_those_roles() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let arm = token_for(&emu, seed::ARM_ADMIN.object_id, ARM).await;
    let graph = token_for(&emu, seed::ARM_ADMIN.object_id, seed::GRAPH_RESOURCE).await;

    let (status, subs, _) = send(
        reqwest::Method::GET,
        &format!("{base}/subscriptions?api-version=2022-12-01"),
        &arm,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(subs["value"].as_array().unwrap().len(), 1);

    let url = uai(&base, "rg-automation", "MI-AA-MgPowerShell1");
    let (status, mi, _) = send(
        reqwest::Method::PUT,
        &url,
        &arm,
        Some(json!({"location": "UK South"})),
    )
    .await;
    assert_eq!(status, 201, "{mi}");
    assert_eq!(mi["location"], "uksouth");
    let (status, again, _) = send(
        reqwest::Method::PUT,
        &url,
        &arm,
        Some(json!({"location": "uksouth"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["properties"]["principalId"],
        mi["properties"]["principalId"]
    );
    let principal = mi["properties"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    let client_id = mi["properties"]["clientId"].as_str().unwrap().to_string();

    for value in ["Mail.Send", "AuditLog.Read.All", "Application.Read.All"] {
        let role = seed::GRAPH.roles.iter().find(|r| r.value == value).unwrap();
        let (status, v) = post_json(
            &format!("{base}/v1.0/servicePrincipals/{principal}/appRoleAssignments"),
            &graph,
            &json!({"principalId": principal, "resourceId": seed::GRAPH.object_id, "appRoleId": role.id}),
        )
        .await;
        assert_eq!(status, 201, "{value}: {v}");
    }
    // Not attached yet: the runbook cannot get a token for it.
    assert_eq!(runbook_roles(&emu, Some(&client_id)).await.0, 400);

    let rid = mi["id"].as_str().unwrap();
    let (status, acct, _) = send(
        reqwest::Method::PATCH,
        &account(&base),
        &arm,
        Some(json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {rid: {}}}})),
    )
    .await;
    assert_eq!(status, 200, "{acct}");
    assert!(acct["identity"]["userAssignedIdentities"][rid]["clientId"] == client_id.as_str());
    let (status, mut roles) = runbook_roles(&emu, Some(&client_id)).await;
    assert_eq!(status, 200);
    roles.sort();
    assert_eq!(
        roles,
        vec!["Application.Read.All", "AuditLog.Read.All", "Mail.Send"]
    );
}

#[tokio::test]
async fn arm_error_codes() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let arm = token_for(&emu, seed::ARM_ADMIN.object_id, ARM).await;
    let put = |url: String, loc: &'static str| {
        let arm = arm.clone();
        async move {
            send(
                reqwest::Method::PUT,
                &url,
                &arm,
                Some(json!({"location": loc})),
            )
            .await
        }
    };
    let (s, v, _) = put(uai(&base, "rg-identity", "x"), "uksouth").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("InvalidResourceName"))
    );
    let (s, v, _) = put(uai(&base, "rg-missing", "mi-one"), "uksouth").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("ResourceGroupNotFound"))
    );
    let (s, v, _) = put(uai(&base, "rg-identity", "uami-reports"), "westeurope").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("InvalidResourceLocation"))
    );
    let (s, v, _) = send(
        reqwest::Method::GET,
        &uai(&base, "rg-identity", "nope"),
        &arm,
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("ResourceNotFound"))
    );
    let no_version = uai(&base, "rg-identity", "nope").replace(&format!("?{UAI_V}"), "");
    let (s, v, _) = send(reqwest::Method::GET, &no_version, &arm, None).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("MissingApiVersionParameter"))
    );
    // A Graph token is the wrong audience: 401 with a challenge.
    let graph = token_for(&emu, seed::ARM_ADMIN.object_id, seed::GRAPH_RESOURCE).await;
    let (s, _, h) = send(
        reqwest::Method::GET,
        &uai(&base, "rg-identity", "nope"),
        &graph,
        None,
    )
    .await;
    assert_eq!(s, 401);
    assert!(h
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("Bearer "));
    // A reader may read but not write; the 403 names the action.
    let reader = token_for(&emu, seed::ARM_READER.object_id, ARM).await;
    let (s, _, _) = send(
        reqwest::Method::GET,
        &uai(&base, "rg-identity", "uami-reports"),
        &reader,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, v, _) = send(
        reqwest::Method::PUT,
        &uai(&base, "rg-identity", "mi-new"),
        &reader,
        Some(json!({"location": "uksouth"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("AuthorizationFailed"))
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.ManagedIdentity/userAssignedIdentities/write"));
    // Contributor on the account's group only: attaching an identity elsewhere is a linked failure.
    let op = token_for(&emu, seed::ARM_AUTOMATION_CONTRIBUTOR.object_id, ARM).await;
    let other = format!("/subscriptions/{}/resourceGroups/rg-other/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-elsewhere", seed::SUBSCRIPTION_ID);
    let (s, v, _) = send(reqwest::Method::PATCH, &account(&base), &op,
        Some(json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {other.clone(): {}}}}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("LinkedAuthorizationFailed")),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("assign/action"));
    // With Managed Identity Operator on that identity it works.
    control(&emu, reqwest::Method::POST, "/arm/roleAssignments",
        Some(json!({"principalId": seed::ARM_AUTOMATION_CONTRIBUTOR.object_id, "role": "Managed Identity Operator", "scope": other}))).await;
    let (s, v, _) = send(reqwest::Method::PATCH, &account(&base), &op,
        Some(json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {other.clone(): {}}}}))).await;
    assert_eq!(s, 200, "{v}");
    // Unknown identity.
    let ghost = other.replace("uami-elsewhere", "ghost");
    let (s, v, _) = send(
        reqwest::Method::PATCH,
        &account(&base),
        &arm,
        Some(json!({"identity": {"type": "UserAssigned", "userAssignedIdentities": {ghost: {}}}})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("FailedIdentityOperation"))
    );
}

#[tokio::test]
async fn removing_one_keeps_the_others_and_the_system_identity_is_new_after_off_and_on() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let arm = token_for(&emu, seed::ARM_ADMIN.object_id, ARM).await;
    let (_, before, _) = send(reqwest::Method::GET, &account(&base), &arm, None).await;
    let attached = before["identity"]["userAssignedIdentities"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(attached.len(), 2, "{before}");
    let first = attached.keys().next().unwrap().clone();
    let (s, after, _) = send(reqwest::Method::PATCH, &account(&base), &arm,
        Some(json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {first.clone(): null}}}))).await;
    assert_eq!(s, 200);
    let left = after["identity"]["userAssignedIdentities"]
        .as_object()
        .unwrap();
    assert_eq!(left.len(), 1);
    assert!(!left.contains_key(&first));

    let old = before["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !runbook_roles(&emu, None).await.1.is_empty(),
        "seed system identity has roles"
    );
    let (s, off, _) = send(
        reqwest::Method::PATCH,
        &account(&base),
        &arm,
        Some(json!({"identity": {"type": "UserAssigned"}})),
    )
    .await;
    assert_eq!(s, 200, "{off}");
    assert!(off["identity"].get("principalId").is_none());
    assert_eq!(
        runbook_roles(&emu, None).await.0,
        400,
        "no system identity any more"
    );
    let (s, on, _) = send(
        reqwest::Method::PATCH,
        &account(&base),
        &arm,
        Some(json!({"identity": {"type": "SystemAssigned, UserAssigned"}})),
    )
    .await;
    assert_eq!(s, 200);
    let new = on["identity"]["principalId"].as_str().unwrap();
    assert_ne!(new, old);
    let (s, roles) = runbook_roles(&emu, None).await;
    assert_eq!(s, 200);
    assert!(
        roles.is_empty(),
        "a new principal holds no roles: {roles:?}"
    );
    let stats = control(&emu, reqwest::Method::GET, "/stats", None).await;
    assert!(
        stats["requests"]["armWrites"].as_u64().unwrap() >= 3,
        "{}",
        stats["requests"]
    );
}
