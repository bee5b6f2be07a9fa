//! Graph surface: filters, paging, assignments, permissions, $batch, throttling.

use crate::common;

use std::time::Duration;

use common::*;
use managed_identity_emulator::{seed, EmulatorConfig, ThrottleConfig};
use serde_json::{json, Value};

fn sp_url(base: &str) -> String {
    format!("{base}/v1.0/servicePrincipals")
}

async fn list_by_filter(base: &str, token: &str, filter: &str) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&sp_url(base), &[("$filter", filter)]).unwrap();
    get_json(url.as_str(), token, &[]).await
}

fn role_id(value: &str) -> &'static str {
    seed::GRAPH
        .roles
        .iter()
        .find(|r| r.value == value)
        .unwrap()
        .id
}

#[tokio::test]
async fn filter_escaping_and_injection() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let token = admin_token(&emu).await;

    let (status, v) = list_by_filter(&base, &token, "displayName eq 'O''Brien-func'").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert_eq!(v["value"][0]["id"], seed::APOSTROPHE_IDENTITY.object_id);

    // Unescaped apostrophe: syntax error.
    let (status, v) = list_by_filter(&base, &token, "displayName eq 'O'Brien-func'").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "BadRequest");
    assert_eq!(v["error"]["message"], "Invalid filter clause");

    // A crafted name, escaped: one literal, no match. Unescaped: the query widens.
    let crafted = "x' or startswith(displayName,'";
    let escaped = format!("displayName eq '{}'", crafted.replace('\'', "''"));
    let (status, v) = list_by_filter(&base, &token, &escaped).await;
    assert_eq!(status, 200);
    assert!(v["value"].as_array().unwrap().is_empty());
    let (status, v) = list_by_filter(&base, &token, &format!("displayName eq '{crafted}'")).await;
    assert_eq!(status, 200);
    assert!(
        v["value"].as_array().unwrap().len() > 5,
        "injection widens: {v}"
    );

    // Lambda over alternativeNames, and $select.
    let url = reqwest::Url::parse_with_params(
        &sp_url(&base),
        &[
            (
                "$filter",
                format!(
                    "alternativeNames/any(x:x eq '{}')",
                    seed::REPORTS_IDENTITY.resource_id
                ),
            ),
            ("$select", "id,displayName".to_string()),
        ],
    )
    .unwrap();
    let (status, v) = get_json(url.as_str(), &token, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["value"],
        json!([{"id": seed::REPORTS_IDENTITY.object_id, "displayName": "uami-reports"}])
    );

    // ne needs ConsistencyLevel + $count.
    let (status, v) = list_by_filter(&base, &token, "displayName ne 'x'").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "Request_UnsupportedQuery");
    assert_eq!(v["error"]["message"], "Unsupported Query.");
    let url = reqwest::Url::parse_with_params(
        &sp_url(&base),
        &[("$filter", "displayName ne 'x'"), ("$count", "true")],
    )
    .unwrap();
    let (status, v) = get_json(url.as_str(), &token, &[("ConsistencyLevel", "eventual")]).await;
    assert_eq!(status, 200);
    // 13 seeded principals plus the three ARM applications (seed::ARM_ADMIN, ARM_READER,
    // ARM_AUTOMATION_CONTRIBUTOR).
    assert_eq!(v["@odata.count"], 16);
    emu.shutdown().await;
}

#[tokio::test]
async fn guid_literals_and_lookup_errors() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let token = admin_token(&emu).await;
    let sys = seed::SYSTEM_IDENTITY.object_id;
    let graph = seed::GRAPH.object_id;

    let url = reqwest::Url::parse_with_params(
        &format!("{}/{sys}/appRoleAssignments", sp_url(&base)),
        &[("$filter", format!("resourceId eq '{graph}'"))],
    )
    .unwrap();
    let (status, v) = get_json(url.as_str(), &token, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "BadRequest");
    assert_eq!(v["error"]["message"], "Invalid filter clause");

    let url = reqwest::Url::parse_with_params(
        &format!("{}/{sys}/appRoleAssignments", sp_url(&base)),
        &[("$filter", format!("resourceId eq {graph}"))],
    )
    .unwrap();
    let (status, v) = get_json(url.as_str(), &token, &[]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["value"].as_array().unwrap().len(), 2);
    let a = &v["value"][0];
    assert_eq!(a["principalType"], "ServicePrincipal");
    assert_eq!(a["principalDisplayName"], "aa-runbooks");
    assert_eq!(a["resourceDisplayName"], "Microsoft Graph");
    assert_eq!(a["id"].as_str().unwrap().len(), 43);
    assert!(a["deletedDateTime"].is_null());

    let url = reqwest::Url::parse_with_params(
        &format!("{}/{graph}/appRoleAssignedTo", sp_url(&base)),
        &[("$filter", "principalDisplayName eq 'aa-runbooks'")],
    )
    .unwrap();
    let (status, v) = get_json(url.as_str(), &token, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["message"], "Invalid filter clause");

    // Alternate key, invalid id, absent id; request-id headers and innerError echo.
    let (status, v) = get_json(
        &format!(
            "{base}/v1.0/servicePrincipals(appId='{}')",
            seed::GRAPH.app_id
        ),
        &token,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["appOwnerOrganizationId"], seed::MICROSOFT_TENANT_ID);
    assert_eq!(
        v["appRoles"].as_array().unwrap().len(),
        seed::GRAPH.roles.len()
    );

    let (status, v) = get_json(&format!("{}/not-a-guid", sp_url(&base)), &token, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "Request_BadRequest");
    assert_eq!(
        v["error"]["message"],
        "Invalid object identifier 'not-a-guid'."
    );

    let absent = "11111111-2222-3333-4444-555555555555";
    let resp = client()
        .get(format!("{}/{absent}", sp_url(&base)))
        .bearer_auth(&token)
        .header("client-request-id", "my-correlation")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["client-request-id"], "my-correlation");
    let request_id = resp.headers()["request-id"].to_str().unwrap().to_string();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        v["error"]["message"],
        format!("Resource '{absent}' does not exist or one of its queried reference-property objects are not present.")
    );
    assert_eq!(
        v["error"]["innerError"]["client-request-id"],
        "my-correlation"
    );
    assert_eq!(v["error"]["innerError"]["request-id"], request_id.as_str());
    emu.shutdown().await;
}

#[tokio::test]
async fn paging_five_pages() {
    let emu = emulator(EmulatorConfig {
        page_size: Some(2),
        ..Default::default()
    })
    .await;
    let token = admin_token(&emu).await;
    let url = reqwest::Url::parse_with_params(
        &sp_url(&emu.base_url()),
        &[
            ("$filter", "servicePrincipalType eq 'Application'"),
            ("$count", "true"),
        ],
    )
    .unwrap();
    let mut next = Some(url.to_string());
    let mut pages = Vec::new();
    while let Some(url) = next {
        let (status, v) = get_json(&url, &token, &[("ConsistencyLevel", "eventual")]).await;
        assert_eq!(status, 200, "{v}");
        assert!(v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#servicePrincipals"));
        next = v["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(
                n.starts_with(&emu.base_url()) && n.contains("$skiptoken="),
                "{n}"
            );
        }
        pages.push(v);
    }
    // Six resource applications plus the three ARM applications of the seed, two per page.
    assert_eq!(pages.len(), 5);
    assert_eq!(pages[0]["@odata.count"], 9);
    assert!(pages[1].get("@odata.count").is_none());
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap())
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 9);
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        9
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn create_duplicate_delete_and_validation() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let token = admin_token(&emu).await;
    let graph = seed::GRAPH.object_id;
    let mi = seed::DETACHED_IDENTITY.object_id;
    let body = json!({"principalId": mi, "resourceId": graph, "appRoleId": role_id("Mail.Send")});
    let url = format!("{}/{graph}/appRoleAssignedTo", sp_url(&base));

    let (status, created) = post_json(&url, &token, &body).await;
    assert_eq!(status, 201, "{created}");
    assert!(created["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with(&format!(
            "$metadata#servicePrincipals('{graph}')/appRoleAssignedTo/$entity"
        )));
    assert_eq!(created["principalId"], mi);

    let (status, v) = post_json(&url, &token, &body).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "Request_BadRequest");
    assert_eq!(
        v["error"]["message"],
        "Permission being assigned already exists on the object"
    );

    // Path/body mismatch, unknown role, user-only role, absent principal.
    let (status, v) = post_json(
        &format!("{}/{mi}/appRoleAssignedTo", sp_url(&base)),
        &token,
        &body,
    )
    .await;
    assert_eq!(
        (status, v["error"]["message"].as_str().unwrap()),
        (400, "Not a valid reference update.")
    );
    let (status, v) = post_json(&url, &token, &json!({"principalId": mi, "resourceId": graph, "appRoleId": "e1000002-0000-4000-8000-000000000001"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        format!(
            "Permission being assigned was not found on application '{}'",
            seed::GRAPH.app_id
        )
    );
    let (status, v) = post_json(&url, &token, &json!({"principalId": mi, "resourceId": graph, "appRoleId": role_id("Tasks.ReadWrite.Shared")})).await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "Permission being assigned is not allowed for this principal type"
    );
    let (status, v) = post_json(&url, &token, &json!({"principalId": "11111111-2222-3333-4444-555555555555", "resourceId": graph, "appRoleId": role_id("Mail.Send")})).await;
    assert_eq!(
        (status, v["error"]["code"].as_str().unwrap()),
        (404, "Request_ResourceNotFound")
    );

    // The client-side path works too, and the token now carries the role.
    let (status, _) = post_json(
        &format!("{}/{mi}/appRoleAssignments", sp_url(&base)),
        &token,
        &json!({"principalId": mi, "resourceId": graph, "appRoleId": role_id("User.Read.All")}),
    )
    .await;
    assert_eq!(status, 201);
    let mi_token = graph_token(&emu, mi).await;
    assert_eq!(
        claims(&mi_token)["roles"],
        json!(["Mail.Send", "User.Read.All"])
    );

    let aid = created["id"].as_str().unwrap();
    let resp = client()
        .delete(format!("{url}/{aid}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(resp.bytes().await.unwrap().is_empty());
    let resp = client()
        .delete(format!("{url}/{aid}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    let stats = control(&emu, reqwest::Method::GET, "/stats", None).await;
    assert_eq!(stats["requests"]["graphWrites"], 9);
    assert_eq!(stats["requests"]["graphWritesApplied"], 3);
    emu.shutdown().await;
}

#[tokio::test]
async fn authentication_and_permissions() {
    let emu = default_emulator().await;
    let base = emu.base_url();

    // No roles (uami-empty): reads and writes are 403.
    let empty = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    let (status, v) = get_json(&sp_url(&base), &empty, &[]).await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        v["error"]["message"],
        "Insufficient privileges to complete the operation."
    );

    // Write role without a read role: POST appRoleAssignedTo is 403, appRoleAssignments is not.
    control(
        &emu,
        reqwest::Method::POST,
        "/assignments",
        Some(json!({"principalId": seed::EMPTY_IDENTITY.object_id, "resourceId": seed::GRAPH.object_id, "appRoleValue": "AppRoleAssignment.ReadWrite.All"})),
    )
    .await;
    let writer = graph_token(&emu, seed::EMPTY_IDENTITY.object_id).await;
    let body = json!({"principalId": seed::DETACHED_IDENTITY.object_id, "resourceId": seed::GRAPH.object_id, "appRoleId": role_id("Mail.Read")});
    let (status, _) = post_json(
        &format!(
            "{}/{}/appRoleAssignedTo",
            sp_url(&base),
            seed::GRAPH.object_id
        ),
        &writer,
        &body,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post_json(
        &format!(
            "{}/{}/appRoleAssignments",
            sp_url(&base),
            seed::DETACHED_IDENTITY.object_id
        ),
        &writer,
        &body,
    )
    .await;
    assert_eq!(status, 201);

    // Missing, foreign-audience and expired tokens are 401.
    let resp = client().get(sp_url(&base)).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(v["error"]["message"], "Access token validation failure.");
    let vault: Value = client()
        .post(format!("{base}/_emulator/token"))
        .json(&json!({"objectId": seed::SYSTEM_IDENTITY.object_id, "resource": "https://vault.azure.net"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, _) = get_json(&sp_url(&base), vault["access_token"].as_str().unwrap(), &[]).await;
    assert_eq!(status, 401);
    let expired: Value = client()
        .post(format!("{base}/_emulator/token"))
        .json(&json!({"objectId": seed::SYSTEM_IDENTITY.object_id, "resource": "https://graph.microsoft.com", "lifetimeSecs": -60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, v) = get_json(
        &sp_url(&base),
        expired["access_token"].as_str().unwrap(),
        &[],
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        v["error"]["message"],
        "Lifetime validation failed, the token is expired."
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn batch_order_dependencies_and_limits() {
    let emu = default_emulator().await;
    let base = emu.base_url();
    let token = admin_token(&emu).await;
    let graph = seed::GRAPH.object_id;
    let mi = seed::DETACHED_IDENTITY.object_id;
    let grant = |id: &str, role: &str| {
        json!({
            "id": id, "method": "POST", "url": format!("/servicePrincipals/{graph}/appRoleAssignedTo"),
            "headers": {"Content-Type": "application/json"},
            "body": {"principalId": mi, "resourceId": graph, "appRoleId": role_id(role)}
        })
    };
    let mut dup = grant("3", "Mail.Read");
    dup["dependsOn"] = json!(["2"]);
    let mut after_failure = grant("4", "Sites.Read.All");
    after_failure["dependsOn"] = json!(["3"]);
    let batch = json!({"requests": [
        {"id": "1", "method": "GET", "url": format!("v1.0/servicePrincipals/{mi}")},
        grant("2", "Mail.Read"),
        dup,
        after_failure,
        {"id": "5", "method": "GET", "url": "/servicePrincipals?$filter=displayName eq 'O''Brien-func'&$select=id"},
    ]});
    let (status, v) = post_json(&format!("{base}/v1.0/$batch"), &token, &batch).await;
    assert_eq!(status, 200, "{v}");
    let responses = v["responses"].as_array().unwrap();
    let order: Vec<&str> = responses
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["5", "4", "3", "2", "1"]);
    let by_id = |id: &str| responses.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(by_id("1")["status"], 200);
    assert_eq!(by_id("2")["status"], 201);
    assert_eq!(by_id("3")["status"], 400);
    assert_eq!(
        by_id("3")["body"]["error"]["message"],
        "Permission being assigned already exists on the object"
    );
    assert_eq!(by_id("4")["status"], 424);
    assert_eq!(
        by_id("5")["body"]["value"],
        json!([{"id": seed::APOSTROPHE_IDENTITY.object_id}])
    );

    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/servicePrincipals"}))
        .collect();
    let (status, v) = post_json(
        &format!("{base}/v1.0/$batch"),
        &token,
        &json!({"requests": too_many}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "BadRequest");
    let dup_ids = json!({"requests": [{"id": "a", "method": "GET", "url": "/servicePrincipals"}, {"id": "a", "method": "GET", "url": "/servicePrincipals"}]});
    let (status, _) = post_json(&format!("{base}/v1.0/$batch"), &token, &dup_ids).await;
    assert_eq!(status, 400);

    // A batchItem fault: 429 inside a 200 envelope, Retry-After in the item headers.
    control(&emu, reqwest::Method::POST, "/faults", Some(json!({"target": "batchItem", "kind": "status", "status": 429, "retryAfter": "3", "count": 1}))).await;
    let two = json!({"requests": [{"id": "a", "method": "GET", "url": "/servicePrincipals?$top=1"}, {"id": "b", "method": "GET", "url": "/servicePrincipals?$top=1"}]});
    let (status, v) = post_json(&format!("{base}/v1.0/$batch"), &token, &two).await;
    assert_eq!(status, 200);
    let a = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "a")
        .unwrap()
        .clone();
    let b = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "b")
        .unwrap()
        .clone();
    assert_eq!(a["status"], 429);
    assert_eq!(a["headers"]["Retry-After"], "3");
    assert_eq!(a["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(b["status"], 200);

    let stats = control(&emu, reqwest::Method::GET, "/stats", None).await;
    assert_eq!(stats["requests"]["batches"], 4);
    assert_eq!(stats["requests"]["batchItems"], 7);
    emu.shutdown().await;
}

#[tokio::test]
async fn throttling_and_replication_lag() {
    let emu = emulator(EmulatorConfig {
        throttle: Some(ThrottleConfig {
            capacity: 2,
            refill_per_sec: 1.0,
        }),
        replication_lag_ms: 300,
        ..Default::default()
    })
    .await;
    let base = emu.base_url();
    let token = admin_token(&emu).await;
    let url = format!("{}/{}", sp_url(&base), seed::GRAPH.object_id);
    assert_eq!(get_json(&url, &token, &[]).await.0, 200);
    assert_eq!(get_json(&url, &token, &[]).await.0, 200);
    let resp = client().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let retry: f64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0.0 && retry <= 1.0, "{retry}");
    assert_eq!(
        resp.headers()["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );
    assert!(resp.headers().contains_key("x-ms-throttle-scope"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "TooManyRequests");
    assert_eq!(v["error"]["message"], "Please retry again later.");
    control(
        &emu,
        reqwest::Method::POST,
        "/config",
        Some(json!({"throttle": null})),
    )
    .await;

    // A new assignment is invisible to lists for replicationLagMs; duplicates still conflict.
    let mi = seed::DETACHED_IDENTITY.object_id;
    let body = json!({"principalId": mi, "resourceId": seed::GRAPH.object_id, "appRoleId": role_id("Mail.Read")});
    let list = format!("{}/{mi}/appRoleAssignments", sp_url(&base));
    assert_eq!(post_json(&list, &token, &body).await.0, 201);
    assert_eq!(post_json(&list, &token, &body).await.0, 400);
    assert!(get_json(&list, &token, &[]).await.1["value"]
        .as_array()
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        get_json(&list, &token, &[]).await.1["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A new service principal answers 404 for replicationLagMs.
    let created = control(
        &emu,
        reqwest::Method::POST,
        "/servicePrincipals",
        Some(json!({"count": 2, "prefix": "lag-mi"})),
    )
    .await;
    assert_eq!(created[1]["displayName"], "lag-mi-0002");
    let sp = format!("{}/{}", sp_url(&base), created[0]["id"].as_str().unwrap());
    assert_eq!(get_json(&sp, &token, &[]).await.0, 404);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, v) = get_json(&sp, &token, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(v["servicePrincipalType"], "ManagedIdentity");
    assert_eq!(v["alternativeNames"][0], "isExplicit=True");
    emu.shutdown().await;
}

#[tokio::test]
async fn token_roles_lag() {
    let emu = emulator(EmulatorConfig {
        token_roles_lag_ms: 300,
        ..Default::default()
    })
    .await;
    let token = admin_token(&emu).await;
    let mi = seed::DETACHED_IDENTITY.object_id;
    let url = format!(
        "{}/{}/appRoleAssignedTo",
        sp_url(&emu.base_url()),
        seed::GRAPH.object_id
    );
    let body = json!({"principalId": mi, "resourceId": seed::GRAPH.object_id, "appRoleId": role_id("Mail.Send")});
    assert_eq!(post_json(&url, &token, &body).await.0, 201);
    assert!(claims(&graph_token(&emu, mi).await).get("roles").is_none());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        claims(&graph_token(&emu, mi).await)["roles"],
        json!(["Mail.Send"])
    );
    emu.shutdown().await;
}
