//! Property tests (issue 8.1) over what crosses the engine's two edges besides token bodies:
//! Graph paging links and `$batch` answers from the server, and the operation JSON the module
//! sends. Arbitrary input never panics, never hangs (every run is bounded by a real-time
//! timeout and a fake clock whose sleeps are instant) and always ends in a typed error or a
//! valid value. Transports are fakes: no request leaves the process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use managed_identity_core::clock::FakeClock;
use managed_identity_core::events::VecSink;
use managed_identity_core::graph::batch::{self, SubRequest};
use managed_identity_core::graph::{ClientOptions, GraphClient, StaticToken};
use managed_identity_core::http::{HttpRequest, HttpResponse, Transport, TransportError};
use managed_identity_core::secret::Secret;
use managed_identity_core::services::Services;
use managed_identity_core::ErrorKind;
use managedidentity_engine::protocol::Engine;
use proptest::prelude::*;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use url::Url;

/// Cases per property: 2 × 512 + 3 × 256 = 1,792 cases in this file.
const CASES: u32 = 512;
/// The slower properties (a whole engine operation per case).
const ENGINE_CASES: u32 = 256;
/// A hang fails the case instead of stalling the run.
const BOUND: Duration = Duration::from_secs(20);

fn config(cases: u32) -> ProptestConfig {
    crate::proptest_seed::config("graph and protocol", 0x5eed_1002, cases)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[a-z0-9./:?$=-]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn keyed_object(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(keys), json_value()), 0..7).prop_map(|pairs| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    })
}

/// Answers every request with one fixed response (or a transport error for `None`).
struct Fixed(Option<HttpResponse>, AtomicUsize);

impl Transport for Fixed {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.1.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .0
            .clone()
            .ok_or_else(|| TransportError::broken("connection refused (test)"));
        Box::pin(async move { reply })
    }
}

fn fixed(response: Option<HttpResponse>) -> Arc<Fixed> {
    Arc::new(Fixed(response, AtomicUsize::new(0)))
}

fn response(status: u16, body: Vec<u8>, retry_after: Option<String>) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Some(value) = retry_after.and_then(|v| v.parse().ok()) {
        headers.insert("retry-after", value);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn client(transport: Arc<dyn Transport>) -> GraphClient<'static> {
    GraphClient::with_transport(
        transport,
        Arc::new(FakeClock::at_unix(1_700_000_000)),
        Url::parse("https://graph.example").unwrap(),
        Box::new(StaticToken::new(Secret::new("t"))),
    )
    .with_options(ClientOptions {
        max_attempts: 3,
        ..ClientOptions::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Next links as servers (and hostile servers) write them.
fn link_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(https?|ftp|file|javascript|HTTPS)://(graph\\.example|GRAPH\\.example|evil\\.example|graph\\.example\\.evil|127\\.0\\.0\\.1|\\[::1\\]|)(:[0-9]{1,6})?(/v1\\.0|/beta|/V1\\.0|)(/[a-zA-Z0-9%./@:]{0,20})?(\\?[ -~]{0,20})?(#[a-z]{0,5})?",
        "https://graph\\.example(:443)?/v1\\.0(/|//|/\\.\\./|/%2e%2e/|@evil\\.example/)[ -~]{0,20}",
        "https://[a-z]{0,5}@graph\\.example/v1\\.0/[a-z]{0,5}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config(CASES))]

    /// `@odata.nextLink`: accepted only on Graph's own scheme, host and port, and its `$batch`
    /// (relative) form resolves back onto the same origin.
    #[test]
    fn next_links_stay_on_graphs_origin(link in link_text()) {
        let client = client(fixed(None));
        if let Ok(url) = client.checked_link(&link) {
            prop_assert_eq!(url.scheme(), "https");
            prop_assert_eq!(url.host_str(), Some("graph.example"));
            prop_assert_eq!(url.port_or_known_default(), Some(443));
        }
        if let Ok(relative) = client.relative_from_link(&link) {
            prop_assert!(relative.starts_with('/'), "{relative}");
            let back = client.url_from_relative(&relative);
            prop_assert!(back.as_ref().is_ok_and(|u| client.same_origin(u)), "{link} -> {relative} -> {back:?}");
        }
    }

    /// `$batch` answers of any shape (bytes, envelopes, sub-responses with any id, status,
    /// headers and body; retryable statuses with any Retry-After): every item completes exactly
    /// once, within a bounded number of requests.
    #[test]
    fn batch_answers_of_any_shape_complete_every_item(
        items in 1usize..30,
        status in prop_oneof![Just(200u16), Just(429), Just(503), any::<u16>()],
        retry_after in prop::option::of("[ -~]{0,12}"),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..100),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            prop::collection::vec(
                keyed_object(&["id", "status", "headers", "body"]),
                0..25,
            ).prop_map(|r| serde_json::to_vec(&json!({"responses": r})).unwrap()),
            prop::collection::vec(
                (1usize..30, any::<u16>(), json_value(),
                 prop::collection::btree_map("[a-zA-Z-]{1,12}", json_value(), 0..3)),
                0..25,
            ).prop_map(|r| {
                let r: Vec<Value> = r.into_iter()
                    .map(|(id, status, body, headers)| json!({"id": id.to_string(), "status": status, "body": body, "headers": headers}))
                    .collect();
                serde_json::to_vec(&json!({"responses": r})).unwrap()
            }),
        ],
    ) {
        let transport = fixed(Some(response(status, body, retry_after)));
        let client = client(transport.clone());
        let initial: Vec<(usize, SubRequest)> = (0..items)
            .map(|i| (i, SubRequest::get(format!("/servicePrincipals/{i}"))))
            .collect();
        let mut done = vec![0u32; items];
        let finished = runtime().block_on(async {
            tokio::time::timeout(BOUND, batch::run(&client, initial, |key, completion| {
                done[key] += 1;
                assert_attempts_in_range(completion.attempts);
                Vec::new()
            }))
            .await
        });
        prop_assert!(finished.is_ok(), "the batch run did not finish");
        prop_assert!(done.iter().all(|n| *n == 1), "{done:?}");
        // At most three attempts per item, each in some batch.
        prop_assert!(transport.1.load(Ordering::Relaxed) <= 3 * items);
    }
}

/// Attempts are counted from one and never exceed the configured maximum (3).
fn assert_attempts_in_range(attempts: u32) {
    assert!((1..=3).contains(&attempts), "attempts = {attempts}");
}

/// The operation names the module sends, plus a few it does not.
fn op_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "engine.info",
            "identity.connect",
            "identity.context",
            "identity.disconnect",
            "identity.token",
            "identity.testEndpoint",
            "graph.appRoles",
            "graph.grant",
            "graph.revoke",
            "graph.set",
            "graph.assignments",
            "graph.permissionNames",
            "graph.request",
            "permissions.find",
            "permissions.analyze",
            "permissions.test",
            "graph.",
            "graph.unknown",
            "diagnostics.panic",
            "diagnostics.sleep",
            "",
            "ENGINE.INFO",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ]
}

/// Argument objects over every key any operation reads.
fn op_args() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        keyed_object(&[
            "method",
            "uri",
            "command",
            "scripts",
            "scheme",
            "identity",
            "clientId",
            "objectId",
            "resourceId",
            "resource",
            "graphEndpoint",
            "graphResource",
            "timeoutSeconds",
            "environment",
            "context",
            "forceRefresh",
            "name",
            "prefix",
            "identities",
            "identity",
            "permissions",
            "whatIf",
            "requests",
            "uri",
            "body",
            "all",
            "headers",
            "concurrency",
            "ms",
        ]),
    ]
}

fn engine(graph_answer: Option<HttpResponse>) -> Engine {
    let services = Services::new(Arc::new(FakeClock::at_unix(1_700_000_000)))
        .expect("services")
        .with_transports(fixed(None), fixed(graph_answer));
    Engine::with_services(services)
}

/// Runs one request; the answer must be a value or a typed error, within the bound.
fn execute(engine: &Engine, request: &[u8], secret: Option<&str>) -> Result<Value, TestCaseError> {
    let sink = VecSink::default();
    let outcome = runtime().block_on(async {
        tokio::time::timeout(
            BOUND,
            engine.execute(request, secret.map(Secret::new), &sink),
        )
        .await
    });
    let Ok(outcome) = outcome else {
        return Err(TestCaseError::fail("the operation did not finish"));
    };
    match outcome {
        Ok(value) => Ok(value),
        Err(e) => {
            prop_assert!(!e.message.is_empty());
            prop_assert!(
                e.kind != ErrorKind::Internal,
                "internal error: {}",
                e.message
            );
            if let Some(secret) = secret {
                prop_assert!(
                    !e.message.contains(secret),
                    "the secret leaked: {}",
                    e.message
                );
            }
            Ok(Value::Null)
        }
    }
}

proptest! {
    #![proptest_config(config(ENGINE_CASES))]

    /// Any bytes as a request: a typed error (or, for a valid request, an answer).
    #[test]
    fn arbitrary_request_bytes_are_typed_errors(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        execute(&engine(None), &bytes, None)?;
    }

    /// Every operation with arbitrary arguments, endpoints unreachable: typed errors, and the
    /// test hooks stay refused on a normal engine.
    #[test]
    fn every_operation_with_arbitrary_args_is_typed(op in op_name(), args in op_args()) {
        let request = serde_json::to_vec(&json!({"op": op, "args": args})).unwrap();
        execute(&engine(None), &request, Some("SECRET-STATIC-TOKEN"))?;
    }

    /// Graph operations on a connected context, Graph answering an arbitrary status and body.
    #[test]
    fn graph_operations_survive_any_graph_answer(
        op in prop::sample::select(vec![
            "graph.appRoles", "graph.grant", "graph.revoke", "graph.set", "graph.assignments",
            "graph.permissionNames", "graph.request",
        ]),
        args in op_args(),
        status in prop_oneof![Just(200u16), Just(404), Just(429), any::<u16>()],
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..80),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            keyed_object(&["value", "@odata.nextLink", "responses", "error", "id", "appRoles"])
                .prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ],
    ) {
        let engine = engine(Some(response(status, body, None)));
        let connect = json!({"op": "identity.connect", "args": {
            "method": "AccessToken", "graphEndpoint": "https://graph.example"}});
        let described = execute(&engine, connect.to_string().as_bytes(), Some("SECRET-STATIC-TOKEN"))?;
        let Some(handle) = described.get("Handle").cloned() else {
            return Err(TestCaseError::fail(format!("connect failed: {described}")));
        };
        let mut args = args;
        if let Value::Object(map) = &mut args {
            map.insert("context".into(), handle);
        }
        let request = serde_json::to_vec(&json!({"op": op, "args": args})).unwrap();
        execute(&engine, &request, Some("SECRET-STATIC-TOKEN"))?;
    }
}
