//! Graph engine against the in-process emulator: idempotent grant/revoke/set, WhatIf, safe
//! resolution (ambiguity, apostrophes, injection, look-alike resources), typed errors, paging,
//! and bulk runs with injected faults and cancellation.
//!
//! Tokens come from the emulator's control API, so these tests do not depend on the
//! managed-identity code.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::emulator::TestEmulator;
use managed_identity_core::clock::{Clock, FakeClock, SharedClock, SystemClock};
use managed_identity_core::events::{Event, EventSink, VecSink};
use managed_identity_core::graph::{self, ClientOptions, GraphClient, StaticToken};
use managed_identity_core::http::ReqwestTransport;
use managed_identity_core::secret::Secret;
use managed_identity_core::{ErrorKind, Result};
use managed_identity_emulator::{seed, EmulatorConfig};
use managedidentity_engine::protocol;
use serde_json::{json, Value};

/// Heavy tests (bulk runs, cancellation) run one at a time: they share two CPU cores.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Env {
    emulator: TestEmulator,
    http: reqwest::Client,
    token: Secret,
    /// The engine's clock: the system's, or a `FakeClock` whose sleeps (backoff, Retry-After)
    /// pass at once, for runs whose subject is what the retries do, not how long they wait.
    clock: SharedClock,
}

async fn start(config: EmulatorConfig) -> Env {
    let emulator = crate::emulator::start(config)
        .await
        .expect("emulator starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut env = Env {
        emulator,
        http,
        token: Secret::new(""),
        clock: Arc::new(SystemClock),
    };
    env.token = env.token_for(seed::SYSTEM_IDENTITY.object_id).await;
    env
}

impl Env {
    fn base(&self) -> String {
        self.emulator.base_url()
    }

    async fn token_for(&self, object_id: &str) -> Secret {
        let v = self
            .control(
                "POST",
                "/_emulator/token",
                Some(json!({"objectId": object_id, "resource": seed::GRAPH_RESOURCE})),
            )
            .await;
        Secret::new(v["access_token"].as_str().expect("access_token"))
    }

    async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base());
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("control request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    async fn stat(&self, name: &str) -> u64 {
        self.control("GET", "/_emulator/stats", None).await["requests"][name]
            .as_u64()
            .unwrap()
    }

    async fn assignments_of(&self, principal: &str) -> Vec<Value> {
        let v = self
            .control(
                "GET",
                &format!("/_emulator/assignments?principalId={principal}"),
                None,
            )
            .await;
        v.as_array().unwrap().clone()
    }

    fn client(&self, token: &Secret) -> GraphClient<'static> {
        GraphClient::with_transport(
            Arc::new(ReqwestTransport::with_client(self.http.clone())),
            self.clock.clone(),
            url::Url::parse(&self.base()).unwrap(),
            Box::new(StaticToken::new(token.clone())),
        )
        .with_options(ClientOptions {
            request_timeout: Duration::from_secs(10),
            ..Default::default()
        })
    }

    async fn op(&self, op: &str, args: Value) -> (Result<Value>, Vec<Value>, Vec<Event>) {
        self.op_as(&self.token, op, args).await
    }

    async fn op_as(
        &self,
        token: &Secret,
        op: &str,
        args: Value,
    ) -> (Result<Value>, Vec<Value>, Vec<Event>) {
        let sink = VecSink::default();
        // Decoded and rendered as the protocol edge does, run on this client.
        let result = match protocol::args::graph_operation(op, &args) {
            Ok((operation, concurrency)) => {
                graph::run(operation, concurrency, self.client(token), &sink)
                    .await
                    .map(|summary| serde_json::to_value(summary).expect("summary"))
            }
            Err(e) => Err(e),
        }
        .map_err(|mut e| {
            e.message = protocol::params::render(&e.message);
            e
        });
        let events: Vec<Event> = sink
            .events()
            .into_iter()
            .map(|e| match e {
                Event::Item { item } => {
                    let mut item = serde_json::to_value(&*item).expect("row");
                    protocol::errors::complete_item_error(&mut item);
                    Event::item(item)
                }
                other => other,
            })
            .collect();
        (result, items(&events), events)
    }
}

fn items(events: &[Event]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Item { item } => Some(serde_json::to_value(&**item).expect("row")),
            _ => None,
        })
        .collect()
}

fn by_permission(items: &[Value]) -> HashMap<String, Value> {
    items
        .iter()
        .map(|i| (i["permission"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

fn role_id(value: &str) -> &'static str {
    seed::GRAPH
        .roles
        .iter()
        .find(|r| r.value == value)
        .unwrap()
        .id
}

fn role_value(id: &str) -> &'static str {
    seed::GRAPH.roles.iter().find(|r| r.id == id).unwrap().value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_regrant_revoke_rerevoke() {
    let env = start(EmulatorConfig::default()).await;
    let who = seed::DETACHED_IDENTITY.object_id;
    let args = json!({"context": 1, "identities": [who], "permissions": ["mail.send", "User.Read.All", "Mail.Send"], "whatIf": false});

    let (r, items, events) = env.op("graph.grant", args.clone()).await;
    let summary = r.unwrap();
    assert_eq!(items.len(), 2, "duplicates are removed: {items:?}");
    let granted = by_permission(&items);
    for p in ["Mail.Send", "User.Read.All"] {
        let it = &granted[p];
        assert_eq!(it["status"], "Granted", "{it}");
        assert_eq!(it["identity"], who);
        assert_eq!(it["identityId"], who);
        assert_eq!(it["identityName"], seed::DETACHED_IDENTITY.display_name);
        assert_eq!(it["identityType"], "ManagedIdentity");
        assert_eq!(it["resource"], "Microsoft Graph");
        assert_eq!(it["resourceId"], seed::GRAPH.object_id);
        assert_eq!(it["resourceAppId"], seed::GRAPH.app_id);
        assert_eq!(it["permissionId"], role_id(p));
        assert!(it["assignmentId"].is_string());
        assert!(it["error"].is_null());
    }
    assert_eq!(
        (
            summary["requested"].as_u64(),
            summary["succeeded"].as_u64(),
            summary["failed"].as_u64()
        ),
        (Some(2), Some(2), Some(0))
    );
    assert!(
        summary["batches"].as_u64().unwrap() >= 2 && summary["elapsedMs"].is_u64(),
        "{summary}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Progress {
            completed: true,
            ..
        }
    )));
    let state = env.assignments_of(who).await;
    assert_eq!(state.len(), 2);
    for a in &state {
        let value = role_value(a["appRoleId"].as_str().unwrap());
        assert_eq!(granted[value]["assignmentId"], a["id"]);
    }

    // Re-grant: read first, no write.
    let writes = env.stat("graphWrites").await;
    let (r, items, _) = env.op("graph.grant", args.clone()).await;
    r.unwrap();
    let again = by_permission(&items);
    for p in ["Mail.Send", "User.Read.All"] {
        assert_eq!(again[p]["status"], "AlreadyGranted");
        assert_eq!(again[p]["assignmentId"], granted[p]["assignmentId"]);
    }
    assert_eq!(
        env.stat("graphWrites").await,
        writes,
        "an idempotent re-grant writes nothing"
    );

    let (r, items, _) = env.op("graph.revoke", args.clone()).await;
    r.unwrap();
    assert!(items.iter().all(|i| i["status"] == "Revoked"), "{items:?}");
    assert_eq!(items.len(), 2);
    assert!(env.assignments_of(who).await.is_empty());

    let (r, items, _) = env.op("graph.revoke", args).await;
    assert_eq!(r.unwrap()["failed"], 0);
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "NotAssigned" && i["error"].is_null()),
        "{items:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_if_sends_no_writes() {
    let env = start(EmulatorConfig::default()).await;
    let who = seed::EMPTY_IDENTITY.object_id;
    env.op(
        "graph.grant",
        json!({"identities": [who], "permissions": ["Group.Read.All"]}),
    )
    .await
    .0
    .unwrap();
    let writes = env.stat("graphWrites").await;

    let (r, items, _) =
        env.op("graph.grant", json!({"identities": [who], "permissions": ["Group.Read.All", "Mail.Read"], "whatIf": true})).await;
    r.unwrap();
    let m = by_permission(&items);
    assert_eq!(m["Group.Read.All"]["status"], "AlreadyGranted");
    assert_eq!(m["Mail.Read"]["status"], "WouldGrant");
    assert!(m["Mail.Read"]["assignmentId"].is_null());

    let (_, items, _) =
        env.op("graph.revoke", json!({"identities": [who], "permissions": ["Group.Read.All", "Mail.Read"], "whatIf": true})).await;
    let m = by_permission(&items);
    assert_eq!(m["Group.Read.All"]["status"], "WouldRevoke");
    assert!(m["Group.Read.All"]["assignmentId"].is_string());
    assert_eq!(m["Mail.Read"]["status"], "NotAssigned");

    let (_, items, _) = env
        .op(
            "graph.set",
            json!({"identities": [who], "permissions": ["Mail.Read"], "whatIf": true}),
        )
        .await;
    let m = by_permission(&items);
    assert_eq!(
        (
            m["Mail.Read"]["status"].as_str(),
            m["Group.Read.All"]["status"].as_str()
        ),
        (Some("WouldGrant"), Some("WouldRevoke"))
    );

    assert_eq!(
        env.stat("graphWrites").await,
        writes,
        "WhatIf sends zero writes"
    );
    assert_eq!(env.assignments_of(who).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_name_lists_every_candidate_and_others_continue() {
    let env = start(EmulatorConfig::default()).await;
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": [seed::DUPLICATE_NAME, seed::DETACHED_IDENTITY.display_name], "permissions": ["Mail.Read"]}),
        )
        .await;
    let summary = r.unwrap();
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let dup = items
        .iter()
        .find(|i| i["identity"] == seed::DUPLICATE_NAME)
        .unwrap();
    assert_eq!(dup["status"], "Failed");
    assert!(dup["identityId"].is_null());
    assert_eq!(dup["error"]["errorId"], "ManagedIdentity.AmbiguousName");
    let msg = dup["error"]["message"].as_str().unwrap();
    for c in [seed::DUPLICATE_IDENTITY_A, seed::DUPLICATE_IDENTITY_B] {
        assert!(
            msg.contains(c.object_id) && msg.contains(c.client_id),
            "{msg}"
        );
    }
    let ok = items
        .iter()
        .find(|i| i["identity"] == seed::DETACHED_IDENTITY.display_name)
        .unwrap();
    assert_eq!(ok["status"], "Granted");
    assert!(env
        .assignments_of(seed::DUPLICATE_IDENTITY_A.object_id)
        .await
        .is_empty());
    assert!(env
        .assignments_of(seed::DUPLICATE_IDENTITY_B.object_id)
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apostrophes_resolve_exactly_and_injection_never_widens() {
    let env = start(EmulatorConfig::default()).await;
    let id = seed::APOSTROPHE_IDENTITY;
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": [id.display_name, id.resource_id, id.client_id], "permissions": ["Mail.Read"], "whatIf": true}),
        )
        .await;
    r.unwrap();
    assert_eq!(items.len(), 3);
    for it in &items {
        assert_eq!(it["identityId"], id.object_id, "{it}");
        assert_eq!(it["identityName"], "O'Brien-func");
        assert_eq!(it["status"], "WouldGrant");
    }

    for crafted in [
        "x' or startswith(displayName,'a",
        "aa-runbooks' or displayName eq 'uami-reports",
        "*",
        "dup-name'",
    ] {
        let (r, items, _) = env
            .op(
                "graph.grant",
                json!({"identities": [crafted], "permissions": ["Mail.Read"]}),
            )
            .await;
        r.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["status"], "Failed");
        assert_eq!(
            items[0]["error"]["errorId"], "ManagedIdentity.NotFound",
            "{crafted}: {}",
            items[0]
        );
    }
    assert_eq!(env.stat("graphWrites").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookalike_and_unknown_resources_are_refused_before_any_write() {
    let env = start(EmulatorConfig::default()).await;
    let who = seed::DETACHED_IDENTITY.object_id;
    for resource in [
        seed::LOOKALIKE_GRAPH.app_id,
        seed::LOOKALIKE_GRAPH.object_id,
    ] {
        let (r, items, _) = env
            .op(
                "graph.grant",
                json!({"identities": [who], "permissions": ["Mail.Send"], "resource": resource}),
            )
            .await;
        let e = r.unwrap_err();
        assert_eq!(e.kind, ErrorKind::UntrustedResource);
        assert!(
            e.message
                .contains("is named 'Microsoft Graph' but is owned by tenant"),
            "{}",
            e.message
        );
        assert!(e.message.contains(seed::FOREIGN_TENANT_ID));
        assert!(items.is_empty());
    }
    // By name, "Microsoft Graph" means the real one (resolved by its well-known appId).
    let (r, items, _) = env
        .op("graph.grant", json!({"identities": [who], "permissions": ["Mail.Send"], "resource": "microsoft graph", "whatIf": true}))
        .await;
    r.unwrap();
    assert_eq!(items[0]["resourceId"], seed::GRAPH.object_id);
    // Other aliases and appIds.
    let (r, items, _) = env
        .op("graph.appRoles", json!({"resource": "exchange"}))
        .await;
    r.unwrap();
    assert!(
        items
            .iter()
            .all(|i| i["resourceAppId"] == seed::EXCHANGE.app_id)
            && items.len() == 2
    );
    let (r, _, _) = env
        .op(
            "graph.appRoles",
            json!({"resource": seed::SHAREPOINT.app_id}),
        )
        .await;
    r.unwrap();
    let (r, _, _) = env
        .op("graph.appRoles", json!({"resource": "No Such API"}))
        .await;
    assert_eq!(r.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(env.stat("graphWrites").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_problems_fail_the_whole_operation() {
    let env = start(EmulatorConfig::default()).await;
    let who = [
        seed::DETACHED_IDENTITY.object_id,
        seed::EMPTY_IDENTITY.object_id,
    ];
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": who, "permissions": ["Mail.Read", "Tasks.ReadWrite.Shared"]}),
        )
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionNotGrantable);
    assert!(e.message.contains("Tasks.ReadWrite.Shared"));
    assert!(items.is_empty());

    let (r, _, _) = env
        .op(
            "graph.grant",
            json!({"identities": who, "permissions": ["Mail.Read", "Mail.Sned"]}),
        )
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownPermission);
    assert!(
        e.message.contains("'Mail.Sned'") && e.message.contains("Did you mean 'Mail.Send'"),
        "{}",
        e.message
    );
    assert_eq!(
        env.stat("graphWrites").await,
        0,
        "nothing is written when the input set is wrong"
    );

    let (r, _, _) = env
        .op(
            "graph.grant",
            json!({"identities": who, "permissions": ["Mail.Read"], "concurrency": 99}),
        )
        .await;
    assert_eq!(r.unwrap_err().kind, ErrorKind::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_grants_missing_and_revokes_extra() {
    let env = start(EmulatorConfig::default()).await;
    let who = seed::DETACHED_IDENTITY.object_id;
    env.op(
        "graph.grant",
        json!({"identities": [who], "permissions": ["Mail.Read", "Mail.Send", "Group.Read.All"]}),
    )
    .await
    .0
    .unwrap();
    let (r, items, _) = env
        .op(
            "graph.set",
            json!({"identities": [who], "permissions": ["Mail.Send", "User.Read.All"]}),
        )
        .await;
    let summary = r.unwrap();
    let m = by_permission(&items);
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(m["Mail.Send"]["status"], "AlreadyGranted");
    assert_eq!(m["User.Read.All"]["status"], "Granted");
    assert_eq!(m["Mail.Read"]["status"], "Revoked");
    assert_eq!(m["Group.Read.All"]["status"], "Revoked");
    assert_eq!(summary["byStatus"]["Revoked"], 2);
    let mut now: Vec<&str> = env
        .assignments_of(who)
        .await
        .iter()
        .map(|a| role_value(a["appRoleId"].as_str().unwrap()))
        .collect();
    now.sort();
    assert_eq!(now, ["Mail.Send", "User.Read.All"]);

    // An empty set removes everything.
    let (r, items, _) = env
        .op("graph.set", json!({"identities": [who], "permissions": []}))
        .await;
    r.unwrap();
    assert!(items.iter().all(|i| i["status"] == "Revoked") && items.len() == 2);
    assert!(env.assignments_of(who).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignments_roles_and_names() {
    let env = start(EmulatorConfig::default()).await;
    let sys = seed::SYSTEM_IDENTITY;
    let (r, items, _) = env
        .op(
            "graph.assignments",
            json!({"identities": [sys.object_id, "nobody-here"], "resource": null}),
        )
        .await;
    let summary = r.unwrap();
    assert_eq!(
        (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let mine: Vec<&Value> = items
        .iter()
        .filter(|i| i["identityId"] == sys.object_id)
        .collect();
    let mut names: Vec<&str> = mine
        .iter()
        .map(|i| i["permission"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected = sys.graph_roles.to_vec();
    expected.sort();
    assert_eq!(names, expected);
    for i in &mine {
        assert_eq!(i["resource"], "Microsoft Graph");
        assert_eq!(i["resourceAppId"], seed::GRAPH.app_id);
        assert!(
            i["assignmentId"].is_string()
                && i["createdDateTime"].is_string()
                && i["error"].is_null()
        );
        assert_eq!(i["identityName"], sys.display_name);
    }
    let failed = items
        .iter()
        .find(|i| i["identity"] == "nobody-here")
        .unwrap();
    assert_eq!(failed["error"]["errorId"], "ManagedIdentity.NotFound");

    let (r, items, _) = env
        .op(
            "graph.assignments",
            json!({"identities": [sys.resource_id], "resource": "Exchange"}),
        )
        .await;
    r.unwrap();
    assert!(items.is_empty(), "no Exchange roles: {items:?}");

    let (r, items, _) = env.op("graph.appRoles", json!({"name": "mail.*"})).await;
    r.unwrap();
    let values: Vec<&str> = items.iter().map(|i| i["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["Mail.Read", "Mail.ReadWrite", "Mail.Send"]);
    assert_eq!(items[0]["allowedMemberTypes"], json!(["Application"]));
    assert_eq!(items[0]["resourceId"], seed::GRAPH.object_id);
    let (_, all, _) = env.op("graph.appRoles", json!({})).await;
    assert!(all.iter().all(|i| i["value"] != "Tasks.ReadWrite.Shared"));
    assert_eq!(
        all.len(),
        seed::GRAPH.roles.iter().filter(|r| r.application).count()
    );

    let (r, names, _) = env
        .op("graph.permissionNames", json!({"prefix": "USER."}))
        .await;
    r.unwrap();
    assert_eq!(names, [json!("User.Read.All"), json!("User.ReadWrite.All")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_names_the_missing_permission() {
    let env = start(EmulatorConfig::default()).await;
    let reports = env.token_for(seed::REPORTS_IDENTITY.object_id).await;
    let (r, items, _) = env
        .op_as(&reports, "graph.grant", json!({"identities": [seed::DETACHED_IDENTITY.object_id], "permissions": ["Mail.Read"]}))
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert!(e.message.contains("Application.Read.All"), "{}", e.message);
    assert!(e.message.contains("request-id"), "{}", e.message);
    let details = e.details.unwrap();
    assert_eq!(details["status"], 403);
    assert_eq!(details["code"], "Authorization_RequestDenied");
    assert!(details["requestId"].is_string());
    assert!(!e.message.contains(reports.expose()));
    assert!(items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_pages_and_escape_hatch_rules() {
    let env = start(EmulatorConfig {
        page_size: Some(2),
        ..Default::default()
    })
    .await;
    let (r, items, _) = env
        .op(
            "graph.request",
            json!({"method": "GET", "uri": "/v1.0/servicePrincipals?$select=id,displayName", "all": true,
                   "headers": {"ConsistencyLevel": "eventual"}}),
        )
        .await;
    let summary = r.unwrap();
    let expected = seed::IDENTITIES.len() + seed::RESOURCES.len() + seed::ARM_APPS.len();
    assert_eq!(items.len(), expected, "{items:?}");
    let ids: HashSet<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), expected, "no page repeated");
    assert!(summary["requests"].as_u64().unwrap() >= 3);
    let stats = env.control("GET", "/_emulator/stats", None).await;
    let pages: Vec<&Value> = stats["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["path"] == "/v1.0/servicePrincipals")
        .collect();
    assert!(pages.len() >= 3, "{pages:?}");
    for p in &pages {
        let h = &p["headers"];
        let cl = h
            .get("consistencylevel")
            .or_else(|| h.get("ConsistencyLevel"));
        assert_eq!(
            cl,
            Some(&json!("eventual")),
            "ConsistencyLevel is re-sent on every page: {p}"
        );
    }

    // Assignment reads inside $batch follow next links too (5 assignments, pages of 2).
    let who = seed::DETACHED_IDENTITY.object_id;
    let five = [
        "Mail.Read",
        "Mail.Send",
        "Group.Read.All",
        "Sites.Read.All",
        "Reports.Read.All",
    ];
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": [who], "permissions": five}),
        )
        .await;
    r.unwrap();
    assert!(items.iter().all(|i| i["status"] == "Granted"));
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": [who], "permissions": five}),
        )
        .await;
    r.unwrap();
    assert!(
        items.iter().all(|i| i["status"] == "AlreadyGranted"),
        "{items:?}"
    );
    let (r, items, _) = env
        .op("graph.assignments", json!({"identities": [who]}))
        .await;
    r.unwrap();
    assert_eq!(items.len(), 5);
    let (r, _, _) = env
        .op("graph.appRoles", json!({"resource": "KeyVault"}))
        .await;
    r.unwrap();
    let (r, _, _) = env
        .op(
            "graph.grant",
            json!({"identities": [who], "permissions": ["x"], "resource": "KeyVault"}),
        )
        .await;
    assert!(r
        .unwrap_err()
        .message
        .contains("defines no application permissions"));

    // Without `all`: the body as one item.
    let (r, items, _) = env
        .op("graph.request", json!({"uri": "servicePrincipals"}))
        .await;
    r.unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0]["@odata.nextLink"].is_string());
    // A POST with an object body, an absolute URI on the endpoint.
    let uri = format!(
        "{}/v1.0/servicePrincipals/{}/appRoleAssignedTo",
        env.base(),
        seed::GRAPH.object_id
    );
    let body = json!({"principalId": seed::EMPTY_IDENTITY.object_id, "resourceId": seed::GRAPH.object_id, "appRoleId": role_id("Mail.Read")});
    let (r, items, _) = env
        .op(
            "graph.request",
            json!({"method": "post", "uri": uri, "body": body}),
        )
        .await;
    r.unwrap();
    assert_eq!(items[0]["appRoleId"], role_id("Mail.Read"));
    // Again: Graph's 400 becomes a typed error with details.
    let (r, _, _) = env
        .op(
            "graph.request",
            json!({"method": "POST", "uri": uri, "body": body.to_string()}),
        )
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("already exists"));
    assert_eq!(e.details.unwrap()["code"], "Request_BadRequest");
    // DELETE → 204 → no item.
    let id = items[0]["id"].as_str().unwrap();
    let (r, items, _) = env
        .op(
            "graph.request",
            json!({"method": "DELETE", "uri": format!("{uri}/{id}")}),
        )
        .await;
    r.unwrap();
    assert!(items.is_empty());
    let (r, _, _) = env
        .op(
            "graph.request",
            json!({"uri": "/v1.0/servicePrincipals/00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!(r.unwrap_err().kind, ErrorKind::NotFound);
    // The token never leaves the endpoint.
    for uri in [
        "https://evil.example/v1.0/me",
        "http://127.0.0.1:1/v1.0/me",
        "file:///etc/passwd",
    ] {
        let (r, _, _) = env.op("graph.request", json!({"uri": uri})).await;
        assert_eq!(r.unwrap_err().kind, ErrorKind::InvalidArgument, "{uri}");
    }
    let (r, _, _) = env
        .op(
            "graph.request",
            json!({"uri": "/v1.0/servicePrincipals", "headers": {"Authorization": "Bearer x"}}),
        )
        .await;
    assert_eq!(r.unwrap_err().kind, ErrorKind::InvalidArgument);
}

async fn bulk_principals(env: &Env, count: usize, prefix: &str) -> Vec<String> {
    let created = env
        .control(
            "POST",
            "/_emulator/servicePrincipals",
            Some(json!({"count": count, "prefix": prefix})),
        )
        .await;
    created
        .as_array()
        .unwrap()
        .iter()
        .map(|sp| sp["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every principal holds exactly the BULK_ROLES, once each.
async fn assert_exact_bulk_state(
    env: &Env,
    principals: &[String],
) -> HashMap<(String, String), String> {
    let all = env.control("GET", "/_emulator/assignments", None).await;
    let wanted: HashSet<&str> = principals.iter().map(String::as_str).collect();
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for a in all.as_array().unwrap() {
        let p = a["principalId"].as_str().unwrap();
        if !wanted.contains(p) {
            continue;
        }
        let key = (
            p.to_string(),
            role_value(a["appRoleId"].as_str().unwrap()).to_string(),
        );
        assert!(
            seen.insert(key.clone(), a["id"].as_str().unwrap().to_string())
                .is_none(),
            "duplicate {key:?}"
        );
    }
    assert_eq!(
        seen.len(),
        principals.len() * seed::BULK_ROLES.len(),
        "none missing"
    );
    seen
}

/// The seeds the fault soak runs: `MANAGEDIDENTITY_FAULT_SEEDS` (e.g. `17` to replay the seed a
/// failure printed, or `1-200` for a longer soak), else a fixed set plus one new seed per run
/// (printed), so that runs keep exploring.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Waits {
    Real,
    Instant,
}

fn fault_seeds() -> Vec<u64> {
    let fresh = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(13, |d| d.as_nanos() as u64 % 1_000_000 + 13);
    let spec =
        std::env::var("MANAGEDIDENTITY_FAULT_SEEDS").unwrap_or_else(|_| format!("1-12,{fresh}"));
    spec.split(',')
        .flat_map(|part| match part.trim().split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
                (a..=b).collect::<Vec<_>>()
            }
            None => vec![part.trim().parse().unwrap()],
        })
        .collect()
}

/// One bulk grant of `principals` x BULK_ROLES under resets, envelope 503s and item 429s/409s
/// drawn from `seed`: every pair ends Granted with its assignment id, once, and nothing else.
/// `waits`: whether the engine's backoff and Retry-After waits take real time (the system
/// clock) or pass at once (a `FakeClock` at today's time: the same retries, in order, without
/// the seconds of full-jitter backoff after each reset).
async fn bulk_grant_under_faults(seed: u64, principals: usize, waits: Waits) {
    let mut env = start(EmulatorConfig {
        random_seed: seed,
        ..Default::default()
    })
    .await;
    if waits == Waits::Instant {
        env.clock = Arc::new(FakeClock::at_unix(SystemClock.now_unix()));
    }
    let principals = bulk_principals(&env, principals, "bulk-mi").await;
    for fault in [
        json!({"target": "batchItem", "kind": "status", "status": 429, "retryAfter": "0.05", "probability": 0.05}),
        json!({"target": "batchItem", "kind": "status", "status": 409, "probability": 0.01, "method": "POST"}),
        json!({"target": "graph", "kind": "status", "status": 503, "retryAfter": "0.05", "probability": 0.05}),
        json!({"target": "graph", "kind": "reset", "probability": 0.05}),
    ] {
        env.control("POST", "/_emulator/faults", Some(fault)).await;
    }
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": principals, "permissions": seed::BULK_ROLES, "concurrency": 4}),
        )
        .await;
    let replay = format!("seed {seed} (replay: MANAGEDIDENTITY_FAULT_SEEDS={seed})");
    r.unwrap_or_else(|e| panic!("{replay}: {e:?}"));
    let expected = principals.len() * seed::BULK_ROLES.len();
    assert_eq!(items.len(), expected, "{replay}");
    let failed: Vec<&Value> = items.iter().filter(|i| i["status"] != "Granted").collect();
    assert!(
        failed.is_empty(),
        "{replay}: {} not granted, e.g. {:?}",
        failed.len(),
        failed.first()
    );
    let keys: HashSet<(String, String)> = items
        .iter()
        .map(|i| {
            (
                i["identityId"].as_str().unwrap().to_string(),
                i["permission"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys.len(),
        expected,
        "{replay}: exactly one item per (identity, permission)"
    );
    env.control("DELETE", "/_emulator/faults", None).await;
    let state = assert_exact_bulk_state(&env, &principals).await;
    for i in &items {
        let key = (
            i["identityId"].as_str().unwrap().to_string(),
            i["permission"].as_str().unwrap().to_string(),
        );
        assert_eq!(
            i["assignmentId"].as_str(),
            state.get(&key).map(String::as_str),
            "{replay}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_grant_with_random_faults_ends_exact() {
    let _heavy = HEAVY.lock().await;
    bulk_grant_under_faults(7, 200, Waits::Real).await;
}

/// The soak: the same bulk grant, smaller, under many seeds. Faults are drawn per request and
/// attempt (not by arrival order), so a seed that fails here fails again when replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_grant_soak_over_fault_seeds() {
    let _heavy = HEAVY.lock().await;
    for seed in fault_seeds() {
        println!("fault seed {seed}");
        bulk_grant_under_faults(seed, 40, Waits::Instant).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_200_by_10_is_batched() {
    let _heavy = HEAVY.lock().await;
    let env = start(EmulatorConfig {
        latency_ms: 30,
        max_concurrency: Some(4),
        ..Default::default()
    })
    .await;
    let principals = bulk_principals(&env, 200, "bulk-fast").await;
    let before = env.stat("graph").await;
    let before_batches = env.stat("batches").await;
    let before_writes = env.stat("graphWrites").await;
    let (r, items, _) = env
        .op(
            "graph.grant",
            json!({"identities": principals, "permissions": seed::BULK_ROLES}),
        )
        .await;
    let summary = r.unwrap();
    let batches = summary["batches"].as_u64().unwrap();
    let requests = env.stat("graph").await - before;
    // Counts, not time: how long this takes is the Bench's business.
    assert_eq!(items.len(), 2000);
    assert!(items.iter().all(|i| i["status"] == "Granted"));
    assert_eq!(summary["succeeded"], 2000);
    assert_eq!(summary["failed"], 0);
    assert_eq!(batches, env.stat("batches").await - before_batches);
    // One write per (identity, permission), at most 20 sub-requests per $batch.
    let writes = env.stat("graphWrites").await - before_writes;
    assert_eq!(
        writes, 2000,
        "one write per pair, no retries without faults"
    );
    assert!(
        (writes.div_ceil(20)..=125).contains(&batches),
        "about 120 full batches expected, got {batches}"
    );
    assert_eq!(requests, summary["requests"].as_u64().unwrap());
    assert!(
        requests <= batches + 2,
        "nothing outside batches except the resource lookup"
    );
    assert_exact_bulk_state(&env, &principals).await;
}

const CANCEL_AFTER_ITEMS: usize = 40;

/// Collects events and wakes the test once `after` items were emitted.
struct CancelAfter {
    events: VecSink,
    after: usize,
    reached: tokio::sync::Notify,
}

impl CancelAfter {
    fn new(after: usize) -> Self {
        CancelAfter {
            events: VecSink::default(),
            after,
            reached: tokio::sync::Notify::new(),
        }
    }
}

impl EventSink for CancelAfter {
    fn emit(&self, event: Event) {
        let is_item = matches!(event, Event::Item { .. });
        self.events.emit(event);
        if is_item && items(&self.events.events()).len() == self.after {
            // notify_one keeps the permit if the test is not waiting yet.
            self.reached.notify_one();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_bulk_leaves_a_consistent_state() {
    let _heavy = HEAVY.lock().await;
    let env = start(EmulatorConfig {
        latency_ms: 30,
        max_concurrency: Some(2),
        ..Default::default()
    })
    .await;
    let principals = bulk_principals(&env, 100, "bulk-cancel").await;
    let args = json!({"identities": principals, "permissions": seed::BULK_ROLES, "concurrency": 2});
    // Cancel (drop the operation) once some writes have completed: a condition, not a time.
    let sink = CancelAfter::new(CANCEL_AFTER_ITEMS);
    let (operation, concurrency) =
        protocol::args::graph_operation("graph.grant", &args).expect("args");
    let run = graph::run(operation, concurrency, env.client(&env.token), &sink);
    tokio::select! {
        biased;
        _ = sink.reached.notified() => {}
        outcome = run => panic!("the operation finished before it was cancelled: {outcome:?}"),
    }
    let emitted = items(&sink.events.events());
    assert!(
        emitted.len() >= CANCEL_AFTER_ITEMS && emitted.len() < 1000,
        "{} items before cancellation",
        emitted.len()
    );
    // Every emitted item reports a write the server had answered, so it already holds; writes
    // still in flight may land later, which the re-run below absorbs.
    let all = env.control("GET", "/_emulator/assignments", None).await;
    let mut held: HashMap<(String, String), String> = HashMap::new();
    for a in all.as_array().unwrap() {
        let key = (
            a["principalId"].as_str().unwrap().to_string(),
            a["appRoleId"].as_str().unwrap().to_string(),
        );
        assert!(
            held.insert(key, a["id"].as_str().unwrap().to_string())
                .is_none(),
            "no duplicates"
        );
    }
    for i in &emitted {
        assert_eq!(i["status"], "Granted", "{i}");
        let key = (
            i["identityId"].as_str().unwrap().to_string(),
            i["permissionId"].as_str().unwrap().to_string(),
        );
        assert_eq!(
            held.get(&key).map(String::as_str),
            i["assignmentId"].as_str(),
            "emitted items are true"
        );
    }
    // Re-running completes the job idempotently.
    let (r, items, _) = env.op("graph.grant", args).await;
    r.unwrap();
    assert_eq!(items.len(), 1000);
    assert!(items
        .iter()
        .all(|i| i["status"] == "Granted" || i["status"] == "AlreadyGranted"));
    let already = items
        .iter()
        .filter(|i| i["status"] == "AlreadyGranted")
        .count();
    assert!(already >= emitted.len());
    assert_exact_bulk_state(&env, &principals).await;
}
