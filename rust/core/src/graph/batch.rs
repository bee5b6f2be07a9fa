//! The bulk engine: Graph JSON `$batch` (≤ 20 requests per batch, relative URLs, responses
//! correlated by id), bounded concurrency, and per-item retries.
//!
//! Retry rules, per item:
//! - retried: 429, 502, 503, 504, 409 only with `Directory_ConcurrencyViolation`, 424; a missing
//!   sub-response; a transport failure, hang or unreadable envelope (the whole batch's unfinished
//!   items are re-sent — writes are safe to re-send because "already exists" and 404-on-delete
//!   are mapped to success by the callers); an envelope 429/502/503/504;
//! - `Request_ResourceNotFound` on a request flagged `retry_not_found` (a write right after a
//!   create: replication lag) is retried with 0.5, 1, 2, 2 s delays, up to
//!   `ClientOptions::not_found_attempts` attempts;
//! - the wait before a retry honours `Retry-After` (sub-response headers, or the envelope's);
//!   when several items of a batch are retried the LONGEST wait among them is used; without a
//!   header: exponential backoff with full jitter (1, 2, 4… s capped at `max_backoff`);
//! - ONLY the items that need it are retried, in new batches;
//! - a per-item budget ends in a final completion that carries the last response or error: the
//!   time budget (`retry_budget`) from the item's first attempt, and `max_attempts` counted twice
//!   over, once for the answers the item itself got (429, 5xx, 409, 424 sub-responses) and once for
//!   the envelope failures it shared with its batch (a transport failure, an envelope 429/5xx, an
//!   unreadable envelope, a missing sub-response). Those are not the item's doing: Graph never
//!   answered it, and up to twenty items draw each of them together, so they do not spend the
//!   item's own attempts (with both counted as one, a few unlucky batches in a row ended an item
//!   that Graph had never refused).
//!
//! Every item handed in completes exactly once (unless the future is dropped). Completions are
//! delivered to the caller's handler as soon as they are known, so a caller that emits output
//! from the handler has emitted everything finished when the future is dropped (cancellation).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::{
    is_retryable_status, json_headers, GraphClient, GraphResponse, HttpResponse, SendError,
};
use super::errors::GraphErrorInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::http::retry_after;

/// Graph's limit of requests per `$batch`.
pub const MAX_BATCH: usize = 20;

/// One request inside a batch.
#[derive(Debug, Clone)]
pub struct SubRequest {
    pub method: Method,
    /// Relative to the version root, e.g. `/servicePrincipals/{id}/appRoleAssignedTo`.
    pub url: String,
    pub body: Option<Value>,
    /// Extra headers (`Content-Type: application/json` is added when there is a body).
    pub headers: Vec<(String, String)>,
    /// Retry `Request_ResourceNotFound` briefly (writes right after a create).
    pub retry_not_found: bool,
}

impl SubRequest {
    pub fn get(url: String) -> Self {
        SubRequest {
            method: Method::GET,
            url,
            body: None,
            headers: Vec::new(),
            retry_not_found: false,
        }
    }

    pub fn post(url: String, body: Value) -> Self {
        SubRequest {
            method: Method::POST,
            url,
            body: Some(body),
            headers: Vec::new(),
            retry_not_found: true,
        }
    }

    pub fn delete(url: String) -> Self {
        SubRequest {
            method: Method::DELETE,
            url,
            body: None,
            headers: Vec::new(),
            retry_not_found: false,
        }
    }

    fn to_json(&self, id: usize) -> Value {
        let mut r = json!({"id": id.to_string(), "method": self.method.as_str(), "url": self.url});
        let mut headers = Map::new();
        for (k, v) in &self.headers {
            headers.insert(k.clone(), Value::String(v.clone()));
        }
        if let Some(body) = &self.body {
            if !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                headers.insert(
                    "Content-Type".into(),
                    Value::String("application/json".into()),
                );
            }
            r["body"] = body.clone();
        }
        if !headers.is_empty() {
            r["headers"] = Value::Object(headers);
        }
        r
    }
}

/// One sub-response (or the envelope's answer when it applied to every item).
#[derive(Debug, Clone)]
pub struct SubResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl SubResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn error_info(&self) -> GraphErrorInfo {
        GraphErrorInfo::parse(self.status, &self.headers, &self.body)
    }

    fn from_json(v: &Value) -> Option<(String, SubResponse)> {
        let id = match v.get("id")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let status = u16::try_from(v.get("status")?.as_u64()?).ok()?;
        let mut headers = HeaderMap::new();
        if let Some(Value::Object(h)) = v.get("headers") {
            for (k, val) in h {
                let text = match val {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => continue,
                };
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&text),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let body = v.get("body").cloned().unwrap_or(Value::Null);
        Some((
            id,
            SubResponse {
                status,
                headers,
                body,
            },
        ))
    }

    fn from_envelope(resp: &HttpResponse) -> SubResponse {
        SubResponse {
            status: resp.status,
            headers: resp.headers.clone(),
            body: serde_json::from_slice(&resp.body).unwrap_or(Value::Null),
        }
    }

    /// `@odata.nextLink` of a collection response.
    pub fn next_link(&self) -> Option<&str> {
        self.body.get("@odata.nextLink").and_then(Value::as_str)
    }
}

/// The final outcome of one item.
#[derive(Debug)]
pub struct Completion {
    /// The last sub-response (any status: callers map non-2xx), or the last transport error.
    pub response: Result<SubResponse>,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// The item's request line (what a refusal names).
    pub method: Method,
    /// Relative to the version root.
    pub url: String,
}

impl Completion {
    /// The typed error of a non-2xx sub-response (a 403 explained, see
    /// [`GraphClient::refusal`]).
    pub fn refusal(
        &self,
        client: &GraphClient<'_>,
        sub: &SubResponse,
        access: crate::graph::errors::Access,
        what: &str,
    ) -> Error {
        client.refusal(
            &sub.error_info(),
            self.method.as_str(),
            &self.url,
            access,
            what,
        )
    }
}

struct Item<K> {
    key: K,
    req: SubRequest,
    /// Every attempt (reported in the completion).
    attempts: u32,
    /// Attempts that the item's own sub-response answered with a retryable failure.
    answered_failures: u32,
    /// Attempts lost with the whole batch (transport, envelope status, no sub-response).
    envelope_failures: u32,
    not_found: u32,
    first_attempt: Option<SystemTime>,
}

enum Step<K> {
    Sent(Vec<Item<K>>, std::result::Result<HttpResponse, SendError>),
    Wake(Vec<Item<K>>),
}

/// Per-item verdict after one attempt.
enum Verdict {
    Done(Result<SubResponse>),
    Retry {
        last: Result<SubResponse>,
        delay: Duration,
        cause: RetryCause,
    },
}

/// Why an item is retried, which decides the count its budget is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetryCause {
    /// Its own sub-response was a retryable failure.
    Answered,
    /// The batch failed as a whole (or left it unanswered).
    Envelope,
    /// `Request_ResourceNotFound` right after a create (its own, smaller count in `judge_item`).
    NotFound,
}

/// Runs `initial` (and whatever the handler adds) through `$batch` until every item has
/// completed. `on_done(key, completion)` is called once per item, in completion order, and may
/// return follow-up requests (e.g. the next page, or a lookup that depends on this answer).
pub async fn run<K, F>(client: &GraphClient<'_>, initial: Vec<(K, SubRequest)>, mut on_done: F)
where
    K: Send,
    F: FnMut(K, Completion) -> Vec<(K, SubRequest)> + Send,
{
    let options = client.options().clone();
    let budget = client.retry_budget();
    let mut ready: VecDeque<Item<K>> = initial.into_iter().map(new_item).collect();
    let mut running: FuturesUnordered<BoxFuture<'_, Step<K>>> = FuturesUnordered::new();
    let mut sending = 0usize;
    // Set when the token provider fails: nothing more is sent, every pending item fails with it.
    let mut fatal: Option<Error> = None;
    loop {
        if let Some(e) = &fatal {
            while let Some(item) = ready.pop_front() {
                let more = on_done(
                    item.key,
                    Completion {
                        response: Err(e.clone()),
                        attempts: item.attempts,
                        method: item.req.method.clone(),
                        url: item.req.url.clone(),
                    },
                );
                ready.extend(more.into_iter().map(new_item));
            }
        }
        while sending < options.concurrency && !ready.is_empty() {
            let n = ready.len().min(MAX_BATCH);
            let now = client.clock().now();
            let mut chunk: Vec<Item<K>> = ready.drain(..n).collect();
            for item in &mut chunk {
                item.attempts += 1;
                item.first_attempt.get_or_insert(now);
            }
            sending += 1;
            let body = batch_body(&chunk);
            running.push(Box::pin(async move {
                let result = match body {
                    Ok(body) => send_batch(client, body).await,
                    Err(e) => Err(SendError::Transport(e)),
                };
                Step::Sent(chunk, result)
            }));
        }
        let Some(step) = running.next().await else {
            break;
        };
        match step {
            Step::Wake(items) => ready.extend(items),
            Step::Sent(items, result) => {
                sending -= 1;
                let result = match result {
                    Err(SendError::Token(e)) => {
                        fatal = Some(e);
                        ready.extend(items);
                        continue;
                    }
                    other => other.map_err(SendError::into_error),
                };
                let verdicts = judge(client, &items, result);
                let mut retry = Vec::new();
                let mut wait = Duration::ZERO;
                let now = client.clock().now();
                let mut finished = Vec::new();
                for (item, verdict) in items.into_iter().zip(verdicts) {
                    match verdict {
                        Verdict::Done(response) => finished.push((item, response)),
                        Verdict::Retry { last, delay, cause } => {
                            let mut item = item;
                            let elapsed = item
                                .first_attempt
                                .and_then(|t| now.duration_since(t).ok())
                                .unwrap_or_default();
                            // Not-found retries have their own (smaller) attempt count, checked
                            // in judge_item; time bounds them like every retry.
                            let allowed = match cause {
                                RetryCause::NotFound => budget.has_time(elapsed, delay),
                                RetryCause::Answered => {
                                    item.answered_failures += 1;
                                    budget.allows_retry(item.answered_failures, elapsed, delay)
                                }
                                RetryCause::Envelope => {
                                    item.envelope_failures += 1;
                                    budget.allows_retry(item.envelope_failures, elapsed, delay)
                                }
                            };
                            if !allowed {
                                finished.push((item, last));
                            } else {
                                if cause == RetryCause::NotFound {
                                    item.not_found += 1;
                                }
                                wait = wait.max(delay);
                                retry.push(item);
                            }
                        }
                    }
                }
                if !retry.is_empty() {
                    let clock = client.clock().clone();
                    running.push(Box::pin(async move {
                        clock.sleep(wait).await;
                        Step::Wake(retry)
                    }));
                }
                for (item, response) in finished {
                    let more = on_done(
                        item.key,
                        Completion {
                            response,
                            attempts: item.attempts,
                            method: item.req.method.clone(),
                            url: item.req.url.clone(),
                        },
                    );
                    ready.extend(more.into_iter().map(new_item));
                }
            }
        }
    }
}

fn new_item<K>((key, req): (K, SubRequest)) -> Item<K> {
    Item {
        key,
        req,
        attempts: 0,
        answered_failures: 0,
        envelope_failures: 0,
        not_found: 0,
        first_attempt: None,
    }
}

fn batch_body<K>(items: &[Item<K>]) -> Result<Vec<u8>> {
    let requests: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| item.req.to_json(i + 1))
        .collect();
    serde_json::to_vec(&json!({ "requests": requests }))
        .map_err(|e| Error::internal(format!("cannot serialize a batch: {e}")))
}

async fn send_batch(
    client: &GraphClient<'_>,
    body: Vec<u8>,
) -> std::result::Result<HttpResponse, SendError> {
    let url = client
        .url_from_relative("/$batch")
        .map_err(SendError::Transport)?;
    client
        .send_once(Method::POST, url, json_headers(), Some(body), true)
        .await
}

fn judge<K>(
    client: &GraphClient<'_>,
    items: &[Item<K>],
    result: Result<HttpResponse>,
) -> Vec<Verdict> {
    let all_retry = |last: &Result<SubResponse>, delay: Option<Duration>| -> Vec<Verdict> {
        items
            .iter()
            .map(|item| Verdict::Retry {
                last: clone_result(last),
                delay: delay.unwrap_or_else(|| client.backoff(item.attempts)),
                cause: RetryCause::Envelope,
            })
            .collect()
    };
    let resp = match result {
        Err(e) => return all_retry(&Err(e), None),
        Ok(resp) => resp,
    };
    if is_retryable_status(resp.status) {
        let delay = retry_after(&resp.headers, client.clock().now());
        return all_retry(&Ok(SubResponse::from_envelope(&resp)), delay);
    }
    if !resp.is_success() {
        // Malformed batch, 401, 403…: the envelope's answer is every item's answer.
        let sub = SubResponse::from_envelope(&resp);
        return items
            .iter()
            .map(|_| Verdict::Done(Ok(sub.clone())))
            .collect();
    }
    let parsed = resp.json().ok().and_then(|v| match v {
        Value::Object(mut o) => match o.remove("responses") {
            Some(Value::Array(a)) => Some(a),
            _ => None,
        },
        _ => None,
    });
    let Some(responses) = parsed else {
        let e = Error::new(
            ErrorKind::InvalidResponse,
            "Microsoft Graph answered a $batch with an unreadable body",
        )
        .with_details(json!({"status": resp.status}));
        return all_retry(&Err(e), None);
    };
    let mut by_id: HashMap<String, SubResponse> = responses
        .iter()
        .filter_map(SubResponse::from_json)
        .collect();
    let now = client.clock().now();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match by_id.remove(&(i + 1).to_string()) {
            Some(sub) => judge_item(client, item, sub, now),
            None => Verdict::Retry {
                last: Err(Error::new(
                    ErrorKind::InvalidResponse,
                    "Microsoft Graph's $batch answer had no response for a request",
                )),
                delay: client.backoff(item.attempts),
                cause: RetryCause::Envelope,
            },
        })
        .collect()
}

fn judge_item<K>(
    client: &GraphClient<'_>,
    item: &Item<K>,
    sub: SubResponse,
    now: SystemTime,
) -> Verdict {
    if sub.is_success() {
        return Verdict::Done(Ok(sub));
    }
    if is_retryable_status(sub.status) || sub.status == 424 || is_concurrency_conflict(&sub) {
        let delay = retry_after(&sub.headers, now).unwrap_or_else(|| client.backoff(item.attempts));
        return Verdict::Retry {
            last: Ok(sub),
            delay,
            cause: RetryCause::Answered,
        };
    }
    if sub.status == 404
        && item.req.retry_not_found
        && item.not_found + 1 < client.options().not_found_attempts
    {
        let info = sub.error_info();
        if info.code.is_none() || info.code_is("Request_ResourceNotFound") {
            let delay = Duration::from_millis(500u64 << item.not_found.min(2));
            return Verdict::Retry {
                last: Ok(sub),
                delay,
                cause: RetryCause::NotFound,
            };
        }
    }
    Verdict::Done(Ok(sub))
}

/// A 409 that is worth retrying: a directory concurrency conflict (graph-approle spec §3). Any
/// other 409 (a conflicting object, an existing key) stays as it is on every attempt.
fn is_concurrency_conflict(sub: &SubResponse) -> bool {
    sub.status == 409 && {
        let info = sub.error_info();
        CONCURRENCY_CODES.iter().any(|code| info.code_is(code))
    }
}

/// Graph error codes of a 409 that a retry can cure.
const CONCURRENCY_CODES: [&str; 2] = ["Directory_ConcurrencyViolation", "ConcurrencyViolation"];

fn clone_result(r: &Result<SubResponse>) -> Result<SubResponse> {
    match r {
        Ok(s) => Ok(s.clone()),
        Err(e) => Err(e.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::graph::client::testing::{batch_responses, client, response, FakeTransport};
    use crate::graph::client::{
        ClientOptions, HttpRequest, StaticToken, Transport, TransportError,
    };
    use crate::secret::Secret;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    type Reply = (u16, Value, Value);

    /// A `$batch` endpoint: `f(sub_request, attempt_of_this_url)` answers each item; responses
    /// come back in reverse order.
    fn batch_transport(
        f: impl Fn(&Value, usize) -> Reply + Send + Sync + 'static,
    ) -> Arc<FakeTransport> {
        let attempts: Mutex<HashMap<String, usize>> = Mutex::new(HashMap::new());
        FakeTransport::new(move |req, _| {
            assert!(req.url.as_str().ends_with("/v1.0/$batch"), "{}", req.url);
            let mut responses = batch_responses(req, |r| {
                let url = r["url"].as_str().unwrap().to_string();
                let n = {
                    let mut a = attempts.lock().unwrap();
                    let c = a.entry(url).or_default();
                    *c += 1;
                    *c
                };
                f(r, n)
            });
            assert!(responses.len() <= MAX_BATCH);
            responses.reverse();
            Ok(response(200, json!({"responses": responses}), &[]))
        })
    }

    fn created() -> Reply {
        (
            201,
            json!({"Content-Type": "application/json"}),
            json!({"id": "new"}),
        )
    }

    fn throttled(retry_after: &str) -> Reply {
        (
            429,
            json!({"Retry-After": retry_after}),
            json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}}),
        )
    }

    fn post(url: &str) -> SubRequest {
        SubRequest::post(url.to_string(), json!({"x": 1}))
    }

    async fn run_all(
        c: &GraphClient<'_>,
        items: Vec<(&'static str, SubRequest)>,
    ) -> HashMap<&'static str, (Result<SubResponse>, u32)> {
        let mut out = HashMap::new();
        run(c, items, |k, done| {
            assert!(
                out.insert(k, (done.response, done.attempts)).is_none(),
                "{k} completed twice"
            );
            Vec::new()
        })
        .await;
        out
    }

    fn status(r: &(Result<SubResponse>, u32)) -> u16 {
        r.0.as_ref().map(|s| s.status).unwrap_or(0)
    }

    fn urls_of(call: &crate::http::transport::testing::Call) -> Vec<String> {
        let mut v: Vec<String> = call.body.as_ref().unwrap()["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["url"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn only_failed_items_are_retried_after_the_longest_retry_after() {
        let t = batch_transport(|r, n| match (r["url"].as_str().unwrap(), n) {
            ("/b", 1) => throttled("0.1"),
            ("/c", 1) => throttled("0.3"),
            _ => created(),
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(
            &c,
            vec![("a", post("/a")), ("b", post("/b")), ("c", post("/c"))],
        )
        .await;
        assert!(out.values().all(|r| status(r) == 201));
        assert_eq!((out["a"].1, out["b"].1, out["c"].1), (1, 2, 2));
        let calls = t.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(urls_of(&calls[0]), ["/a", "/b", "/c"]);
        assert_eq!(
            urls_of(&calls[1]),
            ["/b", "/c"],
            "only the throttled items are re-sent"
        );
        assert_eq!(
            clock.sleeps(),
            [Duration::from_millis(300)],
            "the longest Retry-After wins"
        );
        // Sub-requests with a body carry Content-Type, URLs are relative.
        let first = &calls[0].body.as_ref().unwrap()["requests"][0];
        assert_eq!(first["headers"]["Content-Type"], "application/json");
        assert_eq!(first["method"], "POST");
        assert_eq!(
            c.stats(),
            crate::graph::client::ClientStats {
                requests: 2,
                batches: 2
            }
        );
    }

    #[tokio::test]
    async fn conflicts_and_unavailable_items_are_retried() {
        let t = batch_transport(|r, n| match (r["url"].as_str().unwrap(), n) {
            ("/x", 1) => (
                409,
                json!({}),
                json!({"error": {"code": "Directory_ConcurrencyViolation", "message": "x"}}),
            ),
            ("/y", 1) => (
                503,
                json!({}),
                json!({"error": {"code": "ServiceUnavailable"}}),
            ),
            ("/w", 1) => (504, json!({}), Value::Null),
            ("/z", _) => (
                400,
                json!({}),
                json!({"error": {"code": "Request_BadRequest", "message": "Permission being assigned already exists on the object"}}),
            ),
            _ => created(),
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(
            &c,
            vec![
                ("x", post("/x")),
                ("y", post("/y")),
                ("w", post("/w")),
                ("z", post("/z")),
            ],
        )
        .await;
        assert_eq!(
            (
                status(&out["x"]),
                status(&out["y"]),
                status(&out["w"]),
                status(&out["z"])
            ),
            (201, 201, 201, 400)
        );
        assert_eq!(out["z"].1, 1, "a 400 is final");
        assert_eq!(t.calls().len(), 2);
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 1);
        assert!(
            sleeps[0] <= Duration::from_secs(1),
            "first backoff is full jitter within 1 s: {sleeps:?}"
        );
    }

    /// Issue 8.6: only concurrency conflicts are retried, not every 409.
    #[tokio::test]
    async fn other_conflicts_are_final() {
        let t = batch_transport(|r, _| match r["url"].as_str().unwrap() {
            "/x" => (
                409,
                json!({}),
                json!({"error": {"code": "Request_MultipleObjectsWithSameKeyValue", "message": "x"}}),
            ),
            _ => (409, json!({}), json!({})),
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(&c, vec![("x", post("/x")), ("y", post("/y"))]).await;
        assert_eq!((status(&out["x"]), status(&out["y"])), (409, 409));
        assert_eq!((out["x"].1, out["y"].1), (1, 1), "a plain 409 is final");
        assert_eq!(t.calls().len(), 1);
        assert!(clock.sleeps().is_empty());
    }

    #[tokio::test]
    async fn budget_exhaustion_yields_the_last_error() {
        let t = batch_transport(|_, _| throttled("0.01"));
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(&c, vec![("x", post("/x"))]).await;
        let (resp, attempts) = &out["x"];
        assert_eq!(*attempts, 8);
        let e = resp
            .as_ref()
            .unwrap()
            .error_info()
            .to_error(crate::graph::errors::Access::Write, "granting");
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(t.calls().len(), 8);

        // The time budget ends retries too: a 100 s Retry-After cannot fit twice in 120 s.
        let t = batch_transport(|_, _| throttled("100"));
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(&c, vec![("x", post("/x"))]).await;
        assert_eq!(out["x"].1, 2);
        assert_eq!(clock.sleeps(), [Duration::from_secs(100)]);
    }

    #[tokio::test]
    async fn envelope_failures_resend_the_unfinished_items() {
        let inner = batch_transport(|_, _| created());
        let t = FakeTransport::new(move |req, i| match i {
            0 => Err(TransportError::broken("connection reset")),
            1 => Ok(response(
                503,
                json!({"error": {"code": "ServiceUnavailable"}}),
                &[("Retry-After", "2")],
            )),
            2 => Ok(HttpResponse {
                status: 200,
                headers: HeaderMap::new(),
                body: b"<<garbage".to_vec(),
            }),
            3 => Ok(response(200, json!({"responses": []}), &[])),
            _ => (inner.handler)(req, i),
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(&c, vec![("a", post("/a")), ("b", post("/b"))]).await;
        assert!(out.values().all(|r| status(r) == 201), "{out:?}");
        assert!(out.values().all(|r| r.1 == 5));
        assert_eq!(t.calls().len(), 5);
        assert!(t.calls().iter().all(|c| urls_of(c) == ["/a", "/b"]));
        assert_eq!(
            clock.sleeps()[1],
            Duration::from_secs(2),
            "the envelope's Retry-After is honoured"
        );
    }

    /// Failures of the whole batch and the item's own retryable answers are budgeted apart: seven
    /// of each (one short of `max_attempts` each) still end in success.
    #[tokio::test]
    async fn envelope_failures_do_not_spend_the_items_own_attempts() {
        let inner = batch_transport(|_, n| if n <= 7 { throttled("0") } else { created() });
        let t = FakeTransport::new(move |req, i| {
            if i % 2 == 0 && i < 14 {
                Err(TransportError::broken(
                    "connection closed before message completed",
                ))
            } else {
                (inner.handler)(req, i)
            }
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(&c, vec![("x", post("/x"))]).await;
        assert_eq!(status(&out["x"]), 201, "{out:?}");
        assert_eq!(
            out["x"].1, 15,
            "7 envelope failures + 7 throttled answers + 1 success"
        );

        // Envelope failures alone still end at max_attempts, with the transport error.
        let t = FakeTransport::new(|_, _| Err(TransportError::broken("connection reset")));
        let c = client(t.clone(), FakeClock::at_unix(1_000));
        let out = run_all(&c, vec![("x", post("/x"))]).await;
        assert_eq!(out["x"].1, 8);
        assert_eq!(
            out["x"].0.as_ref().unwrap_err().kind,
            ErrorKind::ConnectionFailed
        );
    }

    #[tokio::test]
    async fn envelope_errors_are_every_items_answer() {
        let t = FakeTransport::new(|_, _| {
            Ok(response(
                403,
                json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}),
                &[("request-id", "r-1")],
            ))
        });
        let c = client(t.clone(), FakeClock::at_unix(1));
        let out = run_all(&c, vec![("a", post("/a")), ("b", post("/b"))]).await;
        assert!(out.values().all(|r| status(r) == 403 && r.1 == 1));
        assert_eq!(t.calls().len(), 1);
    }

    #[tokio::test]
    async fn chunks_of_twenty_correlated_by_id() {
        let t = batch_transport(|r, _| (200, json!({}), json!({"url": r["url"]})));
        let c = client(t.clone(), FakeClock::at_unix(1));
        let keys: Vec<String> = (0..45).map(|i| format!("/i/{i}")).collect();
        let mut seen = 0;
        run(
            &c,
            keys.iter()
                .map(|k| (k.clone(), SubRequest::get(k.clone())))
                .collect(),
            |k, done| {
                assert_eq!(done.response.unwrap().body["url"], Value::String(k));
                seen += 1;
                Vec::new()
            },
        )
        .await;
        assert_eq!(seen, 45);
        let sizes: Vec<usize> = t.calls().iter().map(|c| urls_of(c).len()).collect();
        assert_eq!(sizes, [20, 20, 5]);
        // A GET carries no body and no headers.
        assert!(t.calls()[0].body.as_ref().unwrap()["requests"][0]
            .get("headers")
            .is_none());
    }

    #[tokio::test]
    async fn not_found_writes_are_retried_briefly() {
        let nf = || {
            (
                404,
                json!({}),
                json!({"error": {"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist or one of its queried reference-property objects are not present."}}),
            )
        };
        let t = batch_transport(move |r, n| match (r["url"].as_str().unwrap(), n) {
            ("/w", 1..=2) => nf(),
            ("/never", _) => nf(),
            ("/d", _) => nf(),
            _ => created(),
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let out = run_all(
            &c,
            vec![
                ("w", post("/w")),
                ("never", post("/never")),
                ("d", SubRequest::delete("/d".into())),
            ],
        )
        .await;
        assert_eq!((status(&out["w"]), out["w"].1), (201, 3));
        assert_eq!((status(&out["never"]), out["never"].1), (404, 5));
        assert_eq!(
            (status(&out["d"]), out["d"].1),
            (404, 1),
            "a DELETE 404 is final (NotAssigned)"
        );
        assert_eq!(
            clock.sleeps(),
            [500, 1000, 2000, 2000].map(Duration::from_millis),
            "replication-lag retries wait 0.5, 1, 2, 2 s"
        );
    }

    #[tokio::test]
    async fn handlers_can_add_follow_up_requests() {
        let t = batch_transport(|r, _| (200, json!({}), json!({"url": r["url"]})));
        let c = client(t.clone(), FakeClock::at_unix(1));
        let mut order = Vec::new();
        run(&c, vec![(1u32, SubRequest::get("/p1".into()))], |k, _| {
            order.push(k);
            if k < 3 {
                vec![(k + 1, SubRequest::get(format!("/p{}", k + 1)))]
            } else {
                Vec::new()
            }
        })
        .await;
        assert_eq!(order, [1, 2, 3]);
    }

    struct Probe {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    impl Transport for Probe {
        fn send(
            &self,
            request: HttpRequest,
        ) -> BoxFuture<'_, std::result::Result<HttpResponse, TransportError>> {
            Box::pin(async move {
                let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.max.fetch_max(n, Ordering::SeqCst);
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                self.now.fetch_sub(1, Ordering::SeqCst);
                let body: Value = serde_json::from_slice(request.body.as_ref().unwrap()).unwrap();
                let responses: Vec<Value> = body["requests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| json!({"id": r["id"], "status": 204}))
                    .collect();
                Ok(response(200, json!({"responses": responses}), &[]))
            })
        }
    }

    #[tokio::test]
    async fn concurrency_is_bounded() {
        let probe = Arc::new(Probe {
            now: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
        });
        let c = GraphClient::with_transport(
            probe.clone(),
            Arc::new(FakeClock::at_unix(1)),
            url::Url::parse("https://graph.example").unwrap(),
            Box::new(StaticToken::new(Secret::new("t"))),
        )
        .with_options(ClientOptions {
            concurrency: 3,
            ..Default::default()
        });
        let mut n = 0;
        run(
            &c,
            (0..200)
                .map(|i| (i, SubRequest::delete(format!("/d/{i}"))))
                .collect(),
            |_, d| {
                assert_eq!(d.response.unwrap().status, 204);
                n += 1;
                Vec::new()
            },
        )
        .await;
        assert_eq!(n, 200);
        assert_eq!(c.stats().batches, 10);
        assert_eq!(probe.max.load(Ordering::SeqCst), 3);
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::graph::client::testing::{response, FakeTransport};
    use crate::graph::client::TokenProvider;
    use crate::secret::Secret;
    use std::sync::Arc;

    struct Failing;
    impl TokenProvider for Failing {
        fn bearer(&self) -> BoxFuture<'_, Result<Secret>> {
            Box::pin(async { Err(Error::new(ErrorKind::IdentityNotFound, "no such identity")) })
        }
    }

    #[tokio::test]
    async fn token_failures_fail_every_item_without_sending() {
        let t = FakeTransport::new(|_, _| Ok(response(200, json!({"responses": []}), &[])));
        let clock = FakeClock::at_unix(1);
        let c = GraphClient::with_transport(
            t.clone(),
            Arc::new(clock.clone()),
            url::Url::parse("https://g.example").unwrap(),
            Box::new(Failing),
        );
        let mut failed = 0;
        run(
            &c,
            (0..45)
                .map(|i| (i, SubRequest::get(format!("/x/{i}"))))
                .collect(),
            |_, done| {
                assert_eq!(done.response.unwrap_err().kind, ErrorKind::IdentityNotFound);
                failed += 1;
                Vec::new()
            },
        )
        .await;
        assert_eq!(failed, 45);
        assert!(t.calls().is_empty());
        assert!(clock.sleeps().is_empty(), "no retry of a token failure");
    }
}
