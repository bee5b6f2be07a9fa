//! Managed-identity sources against the emulator (started in-process on 127.0.0.1): request
//! shapes, identity selection, retries, typed failures, single-flight caching and secrecy.
//! Never contacts 169.254.169.254: every IMDS test points AZURE_POD_IDENTITY_AUTHORITY_HOST at
//! the emulator or at a closed loopback port.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::emulator::TestEmulator;
use managed_identity_core::clock::{FakeClock, SharedClock, SystemClock};
use managed_identity_core::context::{self, Context};
use managed_identity_core::events::{Event, VecSink};
use managed_identity_core::services::Services;
use managed_identity_core::{Error, ErrorKind};
use managed_identity_emulator::seed::{self, SeedIdentity};
use managed_identity_emulator::EmulatorConfig;
use managedidentity_engine::protocol::{self, Engine};
use serde_json::{json, Value};

const GRAPH: &str = "https://graph.microsoft.com";

struct Harness {
    emu: TestEmulator,
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Self {
        Self::with(EmulatorConfig::default()).await
    }

    async fn with(config: EmulatorConfig) -> Self {
        let emu = crate::emulator::start(config)
            .await
            .expect("emulator starts");
        Harness {
            emu,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("client"),
        }
    }

    fn base(&self) -> String {
        self.emu.base_url()
    }

    fn header(&self) -> &str {
        self.emu.identity_header()
    }

    async fn fault(&self, fault: Value) {
        let r = self
            .http
            .post(format!("{}/_emulator/faults", self.base()))
            .json(&fault)
            .send()
            .await
            .expect("fault");
        assert!(
            r.status().is_success(),
            "fault {fault} rejected: {}",
            r.text().await.unwrap_or_default()
        );
    }

    async fn stats(&self) -> Value {
        let r = self
            .http
            .get(format!("{}/_emulator/stats", self.base()))
            .send()
            .await
            .expect("stats");
        r.json().await.expect("stats JSON")
    }

    async fn reset_stats(&self) {
        let r = self
            .http
            .post(format!("{}/_emulator/stats/reset", self.base()))
            .send()
            .await
            .expect("reset");
        assert!(r.status().is_success());
    }

    async fn count(&self, target: &str) -> u64 {
        self.stats().await["requests"][target]
            .as_u64()
            .unwrap_or(u64::MAX)
    }

    /// Log entries for one target, oldest first.
    async fn log(&self, target: &str) -> Vec<Value> {
        let stats = self.stats().await;
        stats["log"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["target"] == target)
            .collect()
    }

    fn env(&self, source: Source) -> Value {
        match source {
            Source::Imds => json!({"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.base()}),
            Source::AppService => json!({
                "IDENTITY_ENDPOINT": format!("{}/msi/token", self.base()),
                "IDENTITY_HEADER": self.header(),
            }),
            Source::Automation => json!({
                "IDENTITY_ENDPOINT": format!("{}/automation/token", self.base()),
                "IDENTITY_HEADER": self.header(),
                "AZUREPS_HOST_ENVIRONMENT": "AzureAutomation/1.0",
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Imds,
    AppService,
    Automation,
}

impl Source {
    const ALL: [Source; 3] = [Source::Imds, Source::AppService, Source::Automation];

    fn target(self) -> &'static str {
        match self {
            Source::Imds => "imds",
            Source::AppService => "appservice",
            Source::Automation => "automation",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Source::Imds => "IMDS",
            Source::AppService => "AppService",
            Source::Automation => "AzureAutomation",
        }
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn services(clock: SharedClock) -> Services {
    Services::new(clock).expect("services")
}

fn real() -> Services {
    services(Arc::new(SystemClock))
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

/// `identity.connect` from the wire's args, messages rendered as the protocol edge does.
async fn connect(svc: &Services, sink: &VecSink, args: Value) -> Result<Context, Error> {
    let options = protocol::args::connect_options(&args)?;
    context::connect(options, None, svc, sink)
        .await
        .map_err(rendered)
}

fn rendered(mut e: Error) -> Error {
    e.message = protocol::params::render(&e.message);
    e
}

/// `identity.token` metadata as JSON.
async fn token_operation(
    ctx: &Context,
    args: &Value,
    svc: &Services,
    sink: &VecSink,
) -> Result<Value, Error> {
    let resource = args.get("resource").and_then(Value::as_str);
    let force = args
        .get("forceRefresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ctx.token_info(resource, force, svc, sink)
        .await
        .map(|info| serde_json::to_value(info).expect("json"))
        .map_err(rendered)
}

/// The context description as JSON.
async fn describe(ctx: &Context, svc: &Services, sink: &VecSink) -> Result<Value, Error> {
    ctx.describe(svc, sink)
        .await
        .map(|d| serde_json::to_value(d).expect("json"))
        .map_err(rendered)
}

/// `identity.testEndpoint` as JSON.
async fn test_endpoints(args: &Value, svc: &Services, _sink: &VecSink) -> Result<Value, Error> {
    let options = protocol::args::test_endpoint_options(args)?;
    context::test_endpoints(options, svc)
        .await
        .map(|d| protocol::detection_json(&d))
}

fn warnings(sink: &VecSink) -> Vec<String> {
    sink.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning { message } => Some(protocol::params::render(&message)),
            _ => None,
        })
        .collect()
}

fn all_event_text(sink: &VecSink) -> String {
    sink.events()
        .into_iter()
        .map(|e| match e {
            Event::Warning { message } | Event::Verbose { message } => message,
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn selector_args(kind: &str, identity: &SeedIdentity) -> Value {
    match kind {
        "ClientId" => json!({"clientId": identity.client_id}),
        "ObjectId" => json!({"objectId": identity.object_id}),
        "ResourceId" => json!({"resourceId": identity.resource_id}),
        _ => json!({}),
    }
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

#[tokio::test]
async fn every_source_sends_the_documented_request_for_every_selector() {
    let h = Harness::start().await;
    for source in Source::ALL {
        for (kind, identity) in [
            ("System", seed::SYSTEM_IDENTITY),
            ("ClientId", seed::REPORTS_IDENTITY),
            ("ObjectId", seed::REPORTS_IDENTITY),
            ("ResourceId", seed::REPORTS_IDENTITY),
        ] {
            h.reset_stats().await;
            let svc = real();
            let sink = VecSink::default();
            let args = merge(
                json!({"environment": h.env(source)}),
                selector_args(kind, &identity),
            );
            let ctx = connect(&svc, &sink, args)
                .await
                .unwrap_or_else(|e| panic!("{source:?} {kind}: {}", e.message));

            let log = h.log(source.target()).await;
            assert_eq!(log.len(), 1, "{source:?} {kind}: one request");
            let entry = &log[0];
            assert_eq!(entry["method"], "GET");
            assert_eq!(entry["status"], 200);
            let (path, api_version, resource_id_name) = match source {
                Source::Imds => (
                    "/metadata/identity/oauth2/token",
                    "2018-02-01",
                    "msi_res_id",
                ),
                Source::AppService => ("/msi/token", "2019-08-01", "mi_res_id"),
                Source::Automation => ("/automation/token", "2019-08-01", "mi_res_id"),
            };
            assert_eq!(entry["path"], path);
            let query = entry["query"].as_object().expect("query");
            assert_eq!(query["api-version"], api_version);
            assert_eq!(query["resource"], GRAPH);
            let (id_name, id_value) = match kind {
                "ClientId" => (Some("client_id"), identity.client_id),
                "ObjectId" => (Some("object_id"), identity.object_id),
                "ResourceId" => (Some(resource_id_name), identity.resource_id),
                _ => (None, ""),
            };
            let mut names: Vec<&str> = query.keys().map(String::as_str).collect();
            names.sort_unstable();
            let mut expected = vec!["api-version", "resource"];
            expected.extend(id_name);
            expected.sort_unstable();
            assert_eq!(names, expected, "{source:?} {kind}");
            if let Some(name) = id_name {
                assert_eq!(query[name], id_value);
            }
            let headers = entry["headers"].as_object().expect("headers");
            assert_eq!(
                headers.get("metadata").and_then(Value::as_str),
                Some("true"),
                "{source:?}"
            );
            match source {
                Source::Imds => assert!(!headers.contains_key("x-identity-header")),
                _ => assert_eq!(
                    headers.get("x-identity-header").and_then(Value::as_str),
                    Some("[redacted]")
                ),
            }

            let d = describe(&ctx, &svc, &sink).await.expect("describe");
            assert_eq!(
                h.log(source.target()).await.len(),
                1,
                "describe reuses the cached token"
            );
            assert_eq!(d["authType"], "ManagedIdentity");
            assert_eq!(d["source"], source.name());
            assert_eq!(d["clientId"], identity.client_id);
            assert_eq!(d["objectId"], identity.object_id);
            assert_eq!(d["tenantId"], seed::TENANT_ID);
            assert!(
                d["resourceId"]
                    .as_str()
                    .is_some_and(|r| r.eq_ignore_ascii_case(identity.resource_id)),
                "{d}"
            );
            let roles: Vec<&str> = d["roles"]
                .as_array()
                .expect("roles")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for role in identity.graph_roles {
                assert!(roles.contains(role), "{roles:?} lacks {role}");
            }
            assert_eq!(d["resource"], GRAPH);
            assert_eq!(d["graphEndpoint"], GRAPH);
            match kind {
                "System" => {
                    assert_eq!(d["identityType"], "SystemAssigned");
                    assert_eq!(d["selectedBy"], Value::Null);
                }
                _ => {
                    assert_eq!(d["identityType"], "UserAssigned");
                    assert_eq!(d["selectedBy"]["kind"], kind);
                }
            }
            assert!(
                d["expiresOn"]
                    .as_str()
                    .is_some_and(|s| s.ends_with('Z') && s.contains('T')),
                "{d}"
            );
            assert!(warnings(&sink).is_empty(), "{:?}", warnings(&sink));
        }
    }
}

#[tokio::test]
async fn token_operation_returns_metadata_and_normalises_scopes() {
    let h = Harness::start().await;
    let svc = real();
    let sink = VecSink::default();
    let ctx = connect(
        &svc,
        &sink,
        json!({"environment": h.env(Source::AppService)}),
    )
    .await
    .expect("connect");
    let meta = token_operation(
        &ctx,
        &json!({"context": 1, "resource": "https://vault.azure.net/.default"}),
        &svc,
        &sink,
    )
    .await
    .expect("token");
    assert_eq!(meta["resource"], "https://vault.azure.net");
    assert_eq!(meta["tokenType"], "Bearer");
    assert_eq!(meta["source"], "AppService");
    let keys: Vec<&str> = meta
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let log = h.log("appservice").await;
    assert_eq!(
        log.last().map(|e| e["query"]["resource"].clone()),
        Some(json!("https://vault.azure.net"))
    );
    // The fresh token is now available without I/O, under either spelling.
    let before = h.count("appservice").await;
    let secret = ctx
        .cached_token(Some("https://vault.azure.net/.default"), &svc)
        .expect("cached");
    assert!(ctx
        .cached_token(Some("https://vault.azure.net"), &svc)
        .is_some_and(|s| s == secret));
    assert!(ctx
        .cached_token(Some("https://management.azure.com"), &svc)
        .is_none());
    // forceRefresh goes to the endpoint again.
    token_operation(
        &ctx,
        &json!({"context": 1, "resource": "https://vault.azure.net", "forceRefresh": true}),
        &svc,
        &sink,
    )
    .await
    .expect("forced");
    assert_eq!(h.count("appservice").await, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_cause_one_request_and_contexts_share_tokens() {
    let h = Harness::with(EmulatorConfig {
        mi_latency_ms: 150,
        ..Default::default()
    })
    .await;
    let svc = Arc::new(real());
    let sink = Arc::new(VecSink::default());
    let args =
        json!({"environment": h.env(Source::Imds), "clientId": seed::REPORTS_IDENTITY.client_id});
    let a = Arc::new(
        connect(&svc, &sink, args.clone())
            .await
            .expect("first context"),
    );
    // A second context for the same identity is served from the shared cache.
    let b = Arc::new(connect(&svc, &sink, args).await.expect("second context"));
    assert_eq!(h.count("imds").await, 1);

    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (svc, sink) = (svc.clone(), sink.clone());
            let ctx = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                ctx.token(Some("https://vault.azure.net"), false, &svc, &*sink)
                    .await
                    .map(|t| t.secret)
            })
        })
        .collect();
    let secrets: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("token"))
        .collect();
    assert!(
        secrets.windows(2).all(|w| w[0] == w[1]),
        "every caller got the same token"
    );
    assert_eq!(
        h.count("imds").await,
        2,
        "32 concurrent callers → exactly one more request"
    );
}

#[tokio::test]
async fn identity_not_found_differs_from_endpoint_unavailable() {
    let h = Harness::start().await;
    let detached = seed::DETACHED_IDENTITY;
    for source in Source::ALL {
        for kind in ["ClientId", "ObjectId", "ResourceId"] {
            let svc = real();
            let sink = VecSink::default();
            let args = merge(
                json!({"environment": h.env(source)}),
                selector_args(kind, &detached),
            );
            let e = connect(&svc, &sink, args)
                .await
                .err()
                .expect("not attached");
            assert_eq!(
                e.kind,
                ErrorKind::IdentityNotFound,
                "{source:?} {kind}: {}",
                e.message
            );
            let value = match kind {
                "ClientId" => detached.client_id,
                "ObjectId" => detached.object_id,
                _ => detached.resource_id,
            };
            assert!(
                e.message
                    .to_ascii_lowercase()
                    .contains(&value.to_ascii_lowercase()),
                "{}",
                e.message
            );
            let kind_words = match kind {
                "ClientId" => "client id",
                "ObjectId" => "object id",
                _ => "resource id",
            };
            assert!(e.message.contains(kind_words), "{}", e.message);
            if kind == "ClientId" {
                let note = "not the object id of an attached identity either";
                assert!(e.message.contains(note), "{}", e.message);
            }
            for parameter in [
                "-ClientId",
                "-ObjectId",
                "-ResourceId",
                "client (application) id",
                "object (principal) id",
            ] {
                assert!(
                    e.message.contains(parameter),
                    "{parameter} missing: {}",
                    e.message
                );
            }
        }
    }

    // Nothing listens: EndpointUnavailable, at once and without retries.
    let port = closed_port().await;
    for env in [
        json!({"AZURE_POD_IDENTITY_AUTHORITY_HOST": format!("http://127.0.0.1:{port}")}),
        json!({"IDENTITY_ENDPOINT": format!("http://127.0.0.1:{port}/msi/token"), "IDENTITY_HEADER": "x"}),
    ] {
        let svc = real();
        let sink = VecSink::default();
        let started = Instant::now();
        let e = connect(&svc, &sink, json!({"environment": env}))
            .await
            .err()
            .expect("unavailable");
        assert_eq!(e.kind, ErrorKind::EndpointUnavailable, "{}", e.message);
        assert!(
            e.message.contains(&format!("127.0.0.1:{port}"))
                && e.message.contains("connection refused"),
            "{}",
            e.message
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "not retried: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn transient_statuses_are_retried_until_success() {
    let h = Harness::start().await;
    let cases: [(Source, u16); 9] = [
        (Source::Imds, 410),
        (Source::Imds, 429),
        (Source::Imds, 500),
        (Source::Imds, 503),
        (Source::Imds, 404),
        (Source::AppService, 429),
        (Source::AppService, 503),
        (Source::AppService, 500),
        (Source::Automation, 504),
    ];
    for (source, status) in cases {
        h.reset_stats().await;
        h.fault(json!({"target": source.target(), "kind": "status", "status": status, "retryAfter": "0", "count": 2}))
            .await;
        let svc = real();
        let sink = VecSink::default();
        let started = Instant::now();
        connect(&svc, &sink, json!({"environment": h.env(source)}))
            .await
            .unwrap_or_else(|e| panic!("{source:?} {status}: {}", e.message));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "Retry-After 0 honoured: {:?}",
            started.elapsed()
        );
        let statuses: Vec<u64> = h
            .log(source.target())
            .await
            .iter()
            .filter_map(|e| e["status"].as_u64())
            .collect();
        assert_eq!(
            statuses,
            vec![u64::from(status), u64::from(status), 200],
            "{source:?}"
        );
        let verbose = all_event_text(&sink);
        assert!(
            verbose.contains(&format!("HTTP {status}")) && verbose.contains("Retrying in 0 s"),
            "{verbose}"
        );
    }

    // App Service does not retry 502 (MSAL's default policy), IMDS does.
    h.reset_stats().await;
    h.fault(json!({"target": "appservice", "status": 502, "retryAfter": "0", "count": 1}))
        .await;
    let e = connect(
        &real(),
        &VecSink::default(),
        json!({"environment": h.env(Source::AppService)}),
    )
    .await
    .err()
    .expect("502");
    assert_eq!(e.kind, ErrorKind::ServiceError);
    assert!(e.message.contains("HTTP 502"), "{}", e.message);
    assert_eq!(h.count("appservice").await, 1);
}

#[tokio::test]
async fn the_retry_schedule_runs_on_the_injected_clock() {
    let h = Harness::start().await;
    // No Retry-After: the schedule applies. A FakeClock makes the waits instant and recorded.
    for (target, status, count, source, expected) in [
        ("imds", 410, 3, Source::Imds, vec![10, 10, 10]),
        ("imds", 500, 3, Source::Imds, vec![1, 2, 4]),
        ("appservice", 503, 2, Source::AppService, vec![1, 2]),
    ] {
        let clock = FakeClock::at_unix(now_unix());
        let svc = services(Arc::new(clock.clone()));
        h.fault(json!({"target": target, "status": status, "count": count}))
            .await;
        connect(
            &svc,
            &VecSink::default(),
            json!({"environment": h.env(source)}),
        )
        .await
        .unwrap_or_else(|e| panic!("{target} {status}: {}", e.message));
        let expected: Vec<Duration> = expected.into_iter().map(Duration::from_secs).collect();
        assert_eq!(clock.sleeps(), expected, "{target} {status}");
    }
    // Past the budget: IMDS gives up after 3 retries with a typed error.
    let clock = FakeClock::at_unix(now_unix());
    let svc = services(Arc::new(clock.clone()));
    h.fault(json!({"target": "imds", "status": 429, "count": 10}))
        .await;
    let e = connect(
        &svc,
        &VecSink::default(),
        json!({"environment": h.env(Source::Imds)}),
    )
    .await
    .err()
    .expect("throttled");
    assert_eq!(e.kind, ErrorKind::Throttled, "{}", e.message);
    assert!(
        e.message.contains("gave up after 4 attempts"),
        "{}",
        e.message
    );
    assert_eq!(clock.sleeps().len(), 3);
    h.http
        .delete(format!("{}/_emulator/faults", h.base()))
        .send()
        .await
        .expect("clear faults");
}

#[tokio::test]
async fn reset_garbage_and_hang_give_typed_errors_quickly() {
    let h = Harness::start().await;
    for source in [Source::Imds, Source::AppService] {
        // An IMDS that never answers its first contact is no IMDS at all (issue 8.7).
        let hang = match source {
            Source::Imds => ErrorKind::EndpointUnavailable,
            _ => ErrorKind::Timeout,
        };
        for (fault, expected) in [
            (json!({"kind": "reset"}), ErrorKind::ConnectionFailed),
            (json!({"kind": "garbage"}), ErrorKind::InvalidResponse),
            (json!({"kind": "hang", "hangMs": 5000, "count": 5}), hang),
        ] {
            h.fault(merge(json!({"target": source.target()}), fault.clone()))
                .await;
            let started = Instant::now();
            let e = connect(
                &real(),
                &VecSink::default(),
                json!({"environment": h.env(source), "timeoutSeconds": 1}),
            )
            .await
            .err()
            .expect("fails");
            assert_eq!(e.kind, expected, "{source:?} {fault}: {}", e.message);
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{source:?} {fault}: {:?}",
                started.elapsed()
            );
            assert!(
                e.message.contains(&h.base()),
                "names the endpoint: {}",
                e.message
            );
            h.http
                .delete(format!("{}/_emulator/faults", h.base()))
                .send()
                .await
                .expect("clear faults");
        }
    }
}

#[tokio::test]
async fn object_id_passed_as_client_id_connects_with_a_warning() {
    let h = Harness::start().await;
    for source in Source::ALL {
        h.reset_stats().await;
        let svc = real();
        let sink = VecSink::default();
        let identity = seed::REPORTS_IDENTITY;
        let ctx = connect(
            &svc,
            &sink,
            json!({"environment": h.env(source), "clientId": identity.object_id}),
        )
        .await
        .unwrap_or_else(|e| panic!("{source:?}: {}", e.message));
        let warnings = warnings(&sink);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let w = &warnings[0];
        assert!(w.contains("object id, not its client id"), "{w}");
        assert!(
            w.contains(&format!("-ObjectId {}", identity.object_id)),
            "{w}"
        );
        assert!(w.contains(identity.client_id), "{w}");
        let log = h.log(source.target()).await;
        let ids: Vec<(bool, bool)> = log
            .iter()
            .map(|e| {
                (
                    e["query"].get("client_id").is_some(),
                    e["query"].get("object_id").is_some(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            vec![(true, false), (false, true)],
            "client_id first, then object_id"
        );
        let d = describe(&ctx, &svc, &sink).await.expect("describe");
        assert_eq!(
            d["selectedBy"],
            json!({"kind": "ObjectId", "value": identity.object_id})
        );
        assert_eq!(d["clientId"], identity.client_id);
        assert_eq!(
            h.log(source.target()).await.len(),
            2,
            "later calls use the object id directly"
        );
    }
}

#[tokio::test]
async fn identities_without_roles_warn_on_describe() {
    let h = Harness::start().await;
    let svc = real();
    let sink = VecSink::default();
    let ctx = connect(
        &svc,
        &sink,
        json!({"environment": h.env(Source::Imds), "clientId": seed::EMPTY_IDENTITY.client_id}),
    )
    .await
    .expect("connect");
    let d = describe(&ctx, &svc, &sink).await.expect("describe");
    assert_eq!(d["roles"], json!([]));
    let warnings = warnings(&sink);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for needle in [
        "no application roles",
        "new token",
        "24 hours",
        "Get-GraphAppRoleAssignment",
    ] {
        assert!(warnings[0].contains(needle), "{needle}: {}", warnings[0]);
    }
}

#[tokio::test]
async fn no_secret_reaches_any_error_event_or_result() {
    let h = Harness::start().await;
    let header = h.header().to_string();
    let wrong_header = "wrong-identity-header-value-1234";
    let mut texts = Vec::new();
    let mut tokens = Vec::new();

    // A successful flow: the token never appears in results or events.
    let svc = real();
    let sink = VecSink::default();
    let ctx = connect(
        &svc,
        &sink,
        json!({"environment": h.env(Source::Automation)}),
    )
    .await
    .expect("connect");
    tokens.push(
        ctx.cached_token(None, &svc)
            .expect("cached")
            .expose()
            .to_string(),
    );
    texts.push(
        describe(&ctx, &svc, &sink)
            .await
            .expect("describe")
            .to_string(),
    );
    texts.push(
        token_operation(&ctx, &json!({"context": 1}), &svc, &sink)
            .await
            .expect("token")
            .to_string(),
    );
    texts.push(all_event_text(&sink));

    // Failures of every kind, with the header in play.
    let port = closed_port().await;
    let scenarios = [
        (
            json!({"IDENTITY_ENDPOINT": format!("{}/msi/token", h.base()), "IDENTITY_HEADER": wrong_header}),
            json!(null),
        ),
        (
            json!({"IDENTITY_ENDPOINT": format!("http://127.0.0.1:{port}/msi/token"), "IDENTITY_HEADER": wrong_header}),
            json!(null),
        ),
        (
            h.env(Source::AppService),
            json!({"target": "appservice", "kind": "garbage"}),
        ),
        (
            h.env(Source::AppService),
            json!({"target": "appservice", "kind": "reset"}),
        ),
        (
            h.env(Source::AppService),
            json!({"target": "appservice", "status": 500, "count": 5, "retryAfter": "0"}),
        ),
        (
            h.env(Source::AppService),
            json!({"target": "appservice", "kind": "hang", "hangMs": 3000}),
        ),
        (h.env(Source::Automation), json!({})),
    ];
    for (env, fault) in scenarios {
        if fault.get("target").is_some() {
            h.fault(fault.clone()).await;
        }
        let svc = real();
        let sink = VecSink::default();
        let args = if fault.is_object() && fault.get("target").is_none() {
            json!({"environment": env, "clientId": seed::DETACHED_IDENTITY.client_id, "timeoutSeconds": 1})
        } else {
            json!({"environment": env, "timeoutSeconds": 1})
        };
        let e = connect(&svc, &sink, args).await.err().expect("fails");
        texts.push(format!("{} {:?}", e.message, e.details));
        texts.push(protocol::error_json(&e).to_string());
        texts.push(all_event_text(&sink));
        h.http
            .delete(format!("{}/_emulator/faults", h.base()))
            .send()
            .await
            .expect("clear faults");
    }
    // The wrong header was refused, and the error says so without echoing it.
    assert!(
        texts.iter().any(|t| t.contains("X-IDENTITY-HEADER")),
        "{texts:?}"
    );
    for text in &texts {
        for secret in [header.as_str(), wrong_header]
            .into_iter()
            .chain(tokens.iter().map(String::as_str))
        {
            assert!(!text.contains(secret), "secret leaked into: {text}");
        }
        assert!(!text.contains("eyJ"), "JWT-like text leaked into: {text}");
    }
}

#[tokio::test]
async fn test_endpoint_reports_every_source_and_probes() {
    let h = Harness::start().await;
    let svc = real();
    let sink = VecSink::default();
    // Azure.Identity's (.NET) order: its token exchange first, then MSAL.NET's.
    let order = [
        "WorkloadIdentity",
        "ServiceFabric",
        "AppService",
        "MachineLearning",
        "CloudShell",
        "Arc",
        "IMDS",
    ];

    let report = test_endpoints(&json!({"environment": h.env(Source::Imds)}), &svc, &sink)
        .await
        .expect("report");
    assert_eq!(report["selected"], "IMDS");
    let rows = report["sources"].as_array().expect("rows");
    assert_eq!(
        rows.iter()
            .map(|r| r["source"].as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
        order
    );
    let imds = &rows[6];
    assert_eq!(imds["available"], true);
    assert_eq!(imds["detected"], true);
    assert_eq!(
        imds["endpoint"],
        format!("{}/metadata/identity/oauth2/token", h.base())
    );
    assert!(rows
        .iter()
        .all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())));
    assert_eq!(
        rows[2]["reason"],
        "IDENTITY_ENDPOINT and IDENTITY_HEADER are not set"
    );
    // The probe carried no Metadata header (so IMDS answered 400).
    let probe = h.log("imds").await.pop().expect("probed");
    assert!(probe["headers"].get("metadata").is_none());
    assert_eq!(probe["status"], 400);

    let port = closed_port().await;
    let env = json!({"AZURE_POD_IDENTITY_AUTHORITY_HOST": format!("http://127.0.0.1:{port}")});
    let report = test_endpoints(&json!({"environment": env}), &svc, &sink)
        .await
        .expect("report");
    assert_eq!(report["selected"], Value::Null);
    assert_eq!(report["sources"][6]["available"], false);
    assert!(
        report["sources"][6]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("connection refused")),
        "{report}"
    );

    let env = merge(
        h.env(Source::Automation),
        json!({"AZURE_POD_IDENTITY_AUTHORITY_HOST": format!("http://127.0.0.1:{port}")}),
    );
    let report = test_endpoints(
        &json!({"environment": env, "timeoutSeconds": 2}),
        &svc,
        &sink,
    )
    .await
    .expect("report");
    assert_eq!(report["selected"], "AzureAutomation");
    let row = &report["sources"][2];
    assert_eq!(
        (
            row["source"].as_str(),
            row["detected"].as_bool(),
            row["available"].as_bool()
        ),
        (Some("AzureAutomation"), Some(true), Some(true))
    );
    assert_eq!(row["endpoint"], format!("{}/automation/token", h.base()));
    assert!(
        !report.to_string().contains(h.header()),
        "no secret in the report"
    );
    assert_eq!(report["sources"][6]["detected"], false);

    let env = json!({"IDENTITY_ENDPOINT": format!("{}/msi/token", h.base())});
    let report = test_endpoints(&json!({"environment": env}), &svc, &sink)
        .await
        .expect("report");
    assert_eq!(
        report["sources"][2]["reason"],
        "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not"
    );
}

#[tokio::test]
async fn the_engine_runs_the_identity_operations() {
    let h = Harness::start().await;
    let engine = Engine::new(Arc::new(SystemClock)).expect("engine");
    let sink = VecSink::default();
    let request = json!({"op": "identity.connect", "args": {"method": "ManagedIdentity", "environment": h.env(Source::Imds), "resourceId": seed::REPORTS_IDENTITY.resource_id}});
    let connected = engine
        .execute(request.to_string().as_bytes(), None, &sink)
        .await
        .expect("connect");
    // The engine hands PowerShell PascalCase names.
    let id = connected["Handle"].as_u64().expect("context handle");
    assert_eq!(connected["SelectedBy"]["Kind"], "ResourceId");
    assert_eq!(connected["ClientId"], seed::REPORTS_IDENTITY.client_id);
    assert_eq!(connected["AuthType"], "ManagedIdentity");
    let secret = engine.cached_token(id, None).expect("hot path");
    let meta = engine
        .execute(
            json!({"op": "identity.token", "args": {"context": id}})
                .to_string()
                .as_bytes(),
            None,
            &sink,
        )
        .await
        .expect("token");
    assert!(!meta.to_string().contains(secret.expose()));
    assert_eq!(meta["Source"], "IMDS");
    assert_eq!(
        h.count("imds").await,
        1,
        "connect, describe and token share one request"
    );
    let described = engine
        .execute(
            json!({"op": "identity.context", "args": {"context": id}})
                .to_string()
                .as_bytes(),
            None,
            &sink,
        )
        .await
        .expect("context");
    assert_eq!(described["Source"], "IMDS");
    let report = engine
        .execute(
            json!({"op": "identity.testEndpoint", "args": {"environment": h.env(Source::Imds)}})
                .to_string()
                .as_bytes(),
            None,
            &sink,
        )
        .await
        .expect("testEndpoint");
    assert_eq!(report["Selected"], "IMDS");
    let rows: Vec<Value> = sink.items();
    assert_eq!(rows.len(), 7);
    assert!(!format!("{rows:?}").contains(secret.expose()));
}

/// Issue 9.4: a token from a plain-http managed-identity endpoint never builds a client with a
/// TLS root store, and every context of the process reuses the same client.
#[tokio::test]
async fn plain_http_managed_identity_tokens_never_initialise_tls() {
    let h = Harness::start().await;
    let svc = real();
    let sink = VecSink::default();
    for source in Source::ALL {
        let ctx = connect(&svc, &sink, json!({"environment": h.env(source)}))
            .await
            .expect("connects");
        ctx.token(Some("https://vault.azure.net"), true, &svc, &sink)
            .await
            .expect("token");
    }
    assert!(!svc.http.https_client_created());
    assert_eq!(svc.http.clients_built(), 1, "one client for every context");
}

/// Issue 8.3: handles are not sequential, a disconnected handle is refused, and disconnecting
/// drops that identity's tokens from the process-wide cache (another context for the same
/// identity then has to ask the endpoint again).
#[tokio::test]
async fn disconnect_drops_the_identitys_cached_tokens() {
    let h = Harness::start().await;
    let engine = Engine::new(Arc::new(SystemClock)).expect("engine");
    let sink = VecSink::default();
    let run = |request: Value| {
        let engine = &engine;
        let sink = &sink;
        async move {
            engine
                .execute(request.to_string().as_bytes(), None, sink)
                .await
        }
    };
    let connect = json!({"op": "identity.connect", "args": {"method": "ManagedIdentity", "environment": h.env(Source::AppService)}});
    let first = run(connect.clone()).await.expect("connect")["Handle"]
        .as_u64()
        .expect("handle");
    let second = run(connect).await.expect("connect")["Handle"]
        .as_u64()
        .expect("handle");
    assert!(first != 0 && second != 0 && first < (1 << 53) && second < (1 << 53));
    assert!(first.abs_diff(second) > 1, "{first} {second}");
    assert!(engine.cached_token(second, None).is_some(), "shared token");
    let requests = h.count("appservice").await;
    run(json!({"op": "identity.disconnect", "args": {"context": first}}))
        .await
        .expect("disconnect");
    let e = run(json!({"op": "identity.token", "args": {"context": first}}))
        .await
        .expect_err("gone");
    assert_eq!(e.kind, ErrorKind::NotConnected);
    assert!(
        engine.cached_token(second, None).is_none(),
        "the identity's tokens left the cache"
    );
    run(json!({"op": "identity.token", "args": {"context": second}}))
        .await
        .expect("token again");
    assert_eq!(h.count("appservice").await, requests + 1);
}

#[tokio::test]
async fn an_unknown_resource_is_named_with_its_uri() {
    let h = Harness::start().await;
    let resource = "api://no-such-resource-e2";
    for source in Source::ALL {
        h.reset_stats().await;
        // The retries' waits are recorded, not waited (a FakeClock): the schedule is asserted.
        let clock = FakeClock::at_unix(now_unix());
        let svc = services(Arc::new(clock.clone()));
        let sink = VecSink::default();
        let args = json!({"environment": h.env(source), "resource": resource});
        let e = connect(&svc, &sink, args)
            .await
            .err()
            .expect("unknown resource refused");
        assert_eq!(e.kind, ErrorKind::UnknownResource, "{source:?}: {e:?}");
        assert_eq!(e.kind.error_id(), "ManagedIdentity.UnknownResource");
        assert!(
            e.message
                .contains(&format!("Unknown resource '{resource}'")),
            "{source:?}: {}",
            e.message
        );
        // IMDS's 400 is final; App Service's 500 is also a transient failure's answer, so it
        // keeps its three retries (1 + 2 + 4 s).
        let (expected, waits) = match source {
            Source::Imds => (1, vec![]),
            _ => (4, [1, 2, 4].map(Duration::from_secs).to_vec()),
        };
        assert_eq!(h.count(source.target()).await, expected, "{source:?}");
        assert_eq!(clock.sleeps(), waits, "{source:?}");
    }
}

#[tokio::test]
async fn imds_that_accepts_but_never_answers_is_no_endpoint() {
    // A loopback "IMDS" that accepts connections and never answers (keeps them open).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let svc = real();
    let e = connect(
        &svc,
        &VecSink::default(),
        json!({
            "environment": {"AZURE_POD_IDENTITY_AUTHORITY_HOST": format!("http://{address}")},
            "timeoutSeconds": 60,
        }),
    )
    .await
    .err()
    .expect("no IMDS");
    held.abort();
    assert_eq!(e.kind, ErrorKind::EndpointUnavailable, "{}", e.message);
    assert!(e.message.contains("first contact"), "{}", e.message);
}
