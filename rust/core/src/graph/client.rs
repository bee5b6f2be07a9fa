//! The Graph HTTP client: auth per request (the bearer comes from a [`TokenProvider`], which is
//! cached upstream), a fresh `client-request-id` per request, bounded concurrency shared by every
//! request of an operation, retries of 429/502/503/504 honouring `Retry-After` (else exponential
//! backoff with full jitter), error envelopes → typed errors, and `@odata.nextLink` paging.
//!
//! The network sits behind [`Transport`] so that retry and batching logic can be unit-tested
//! with a fake transport and a `FakeClock`. All waits go through the injected clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::errors::{Access, GraphErrorInfo};
use super::odata::ApiPath;
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{retry_after, ReqwestTransport, GRAPH_REQUEST_TIMEOUT};
pub use crate::http::{HttpRequest, HttpResponse, Transport, TransportError};
use crate::jwt::Claims;
use crate::retry::{Backoff, Budget, Jitter};
pub use crate::token::{StaticToken, TokenProvider};

/// Graph's answers as JSON: 2xx bodies and error envelopes.
pub trait GraphResponse {
    /// The body as JSON (`Null` when empty).
    fn json(&self) -> Result<Value>;
    fn error_info(&self) -> GraphErrorInfo;
}

impl GraphResponse for HttpResponse {
    fn json(&self) -> Result<Value> {
        self.json_from("Microsoft Graph")
    }

    fn error_info(&self) -> GraphErrorInfo {
        GraphErrorInfo::parse_bytes(self.status, &self.headers, &self.body)
    }
}

/// Tunables of a client (defaults suit production; tests shrink timeouts).
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Concurrent HTTP requests (a `$batch` counts as one). 1..=16.
    pub concurrency: usize,
    /// Attempts per request or batch item, the first one included.
    pub max_attempts: u32,
    /// Time budget per request or batch item, from its first attempt.
    pub retry_budget: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Cap of the exponential backoff used when no Retry-After is given.
    pub max_backoff: Duration,
    /// Attempts of a write answered `Request_ResourceNotFound` (replication lag).
    pub not_found_attempts: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            concurrency: 4,
            max_attempts: 8,
            retry_budget: Duration::from_secs(120),
            request_timeout: GRAPH_REQUEST_TIMEOUT,
            max_backoff: Duration::from_secs(30),
            not_found_attempts: 5,
        }
    }
}

/// Counters of one client (reported in operation summaries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// HTTP requests sent (a `$batch` counts once), retries included.
    pub requests: u64,
    /// `$batch` requests sent.
    pub batches: u64,
}

/// A Graph client for one operation.
pub struct GraphClient<'a> {
    transport: Arc<dyn Transport>,
    clock: SharedClock,
    base: Url,
    tokens: Box<dyn TokenProvider + 'a>,
    options: ClientOptions,
    permits: tokio::sync::Semaphore,
    requests: AtomicU64,
    batches: AtomicU64,
    jitter: Jitter,
    /// The claims of the last bearer token sent (never the token): what a 403 explanation
    /// reports the caller holds.
    sent_claims: std::sync::Mutex<SentClaims>,
}

/// The claims of the last token sent, with a keyed hash of that token so that each request
/// decodes only a token it has not seen (the hash cannot give the token back).
#[derive(Default)]
struct SentClaims {
    token_hash: Option<u64>,
    claims: Option<Arc<Claims>>,
}

/// Why one HTTP attempt produced no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The token provider failed: not retried here (it has its own retries upstream).
    Token(Error),
    /// The request failed on the wire (connect, reset, timeout).
    Transport(Error),
}

impl SendError {
    pub(crate) fn into_error(self) -> Error {
        match self {
            SendError::Token(e) | SendError::Transport(e) => e,
        }
    }
}

/// Whether a request may be sent again after its connection broke before any answer came (the
/// request may or may not have been applied). Decided by the operation, not by the HTTP verb:
/// an app-role grant is a POST, yet sending it twice leaves one assignment ("already exists" is
/// success), so it is `Safe`; a caller's own POST through `Invoke-GraphApiRequest` is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Sending it twice has the effect of sending it once: reads, PUT and DELETE, and writes the
    /// domain makes idempotent.
    Safe,
    /// It might be applied twice: sent once; a broken connection is the final answer, and the
    /// error says that it was not re-sent and why.
    Never,
}

impl Resend {
    /// HTTP's idempotent methods are `Safe`; POST and PATCH, whose effect this client cannot know,
    /// are `Never`.
    pub fn by_method(method: &Method) -> Self {
        if matches!(
            *method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        ) {
            Resend::Safe
        } else {
            Resend::Never
        }
    }
}

/// Statuses retried for single requests and batch items.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

impl<'a> GraphClient<'a> {
    /// A client over the process's service HTTP clients (as `Services::service_transport`).
    pub fn new(
        http: Arc<crate::http::HttpClients>,
        clock: SharedClock,
        base: Url,
        tokens: Box<dyn TokenProvider + 'a>,
    ) -> Self {
        let transport = ReqwestTransport::new(http, crate::http::ClientKind::Service);
        Self::with_transport(Arc::new(transport), clock, base, tokens)
    }

    pub fn with_transport(
        transport: Arc<dyn Transport>,
        clock: SharedClock,
        base: Url,
        tokens: Box<dyn TokenProvider + 'a>,
    ) -> Self {
        let options = ClientOptions::default();
        GraphClient {
            transport,
            clock,
            base,
            tokens,
            permits: tokio::sync::Semaphore::new(options.concurrency),
            options,
            requests: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            jitter: Jitter::new(),
            sent_claims: std::sync::Mutex::new(SentClaims::default()),
        }
    }

    /// Replaces the options (concurrency is clamped to 1..=16).
    pub fn with_options(mut self, mut options: ClientOptions) -> Self {
        options.concurrency = options.concurrency.clamp(1, 16);
        options.max_attempts = options.max_attempts.max(1);
        self.permits = tokio::sync::Semaphore::new(options.concurrency);
        self.options = options;
        self
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The Graph endpoint, e.g. `https://graph.microsoft.com`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn stats(&self) -> ClientStats {
        ClientStats {
            requests: self.requests.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
        }
    }

    /// Keeps the claims of the token being sent, decoded once per distinct token.
    fn remember_claims(&self, token: &str) {
        use std::hash::BuildHasher;
        static KEYS: once_cell::sync::Lazy<std::collections::hash_map::RandomState> =
            once_cell::sync::Lazy::new(std::collections::hash_map::RandomState::new);
        let hash = KEYS.hash_one(token);
        let Ok(mut slot) = self.sent_claims.lock() else {
            return;
        };
        if slot.token_hash != Some(hash) {
            slot.token_hash = Some(hash);
            slot.claims = crate::jwt::decode(token).map(Arc::new);
        }
    }

    /// The claims of the last token this client sent (`None` before the first request, or when
    /// the token is not a JWT).
    pub fn sent_claims(&self) -> Option<Arc<Claims>> {
        self.sent_claims.lock().ok().and_then(|c| c.claims.clone())
    }

    /// The typed error for Graph's non-2xx answer `info` to `method target` (`target`: the URL,
    /// or a path relative to the version root for a `$batch` item). A 403 is explained
    /// ([`super::denied`]): the permission the request needs and what the token holds.
    pub fn refusal(
        &self,
        info: &GraphErrorInfo,
        method: &str,
        target: &str,
        access: Access,
        what: &str,
    ) -> Error {
        if info.status == 403 {
            super::denied::explain(
                info,
                method,
                target,
                self.sent_claims().as_deref(),
                access,
                what,
                self.clock.now_unix(),
            )
        } else {
            info.to_error(access, what)
        }
    }

    /// 2xx → parsed JSON (`Null` for an empty body); otherwise [`Self::refusal`].
    pub fn check(
        &self,
        resp: &HttpResponse,
        method: &Method,
        url: &Url,
        access: Access,
        what: &str,
    ) -> Result<Value> {
        if resp.is_success() {
            resp.json()
        } else {
            Err(self.refusal(
                &resp.error_info(),
                method.as_str(),
                url.as_str(),
                access,
                what,
            ))
        }
    }

    /// `{endpoint}/v1.0` without a trailing slash.
    pub fn version_root(&self) -> String {
        format!("{}/v1.0", self.base.as_str().trim_end_matches('/'))
    }

    /// The absolute URL of an API path.
    pub fn url(&self, path: &ApiPath) -> Result<Url> {
        self.url_from_relative(&path.relative())
    }

    /// Resolves `/servicePrincipals?…` (relative to the version root).
    pub fn url_from_relative(&self, relative: &str) -> Result<Url> {
        let text = format!("{}{}", self.version_root(), relative);
        Url::parse(&text).map_err(|e| Error::internal(format!("cannot build a Graph URL: {e}")))
    }

    /// True when `url` is on the same scheme, host and port as the Graph endpoint.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str().map(str::to_ascii_lowercase)
                == self.base.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Converts an absolute `@odata.nextLink` on the endpoint's `/v1.0` root into the relative
    /// form used inside `$batch`.
    pub fn relative_from_link(&self, link: &str) -> Result<String> {
        let url = self.checked_link(link)?;
        let root = self.version_root();
        let root_path = Url::parse(&root)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        let path = url.path();
        let rest = path
            .strip_prefix(&root_path)
            .filter(|r| r.starts_with('/'))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidResponse,
                    "Microsoft Graph returned a next link outside the v1.0 API",
                )
            })?;
        Ok(match url.query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        })
    }

    /// Parses a next link and refuses any other host (a bearer token must never leave Graph).
    pub fn checked_link(&self, link: &str) -> Result<Url> {
        let url = Url::parse(link).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("Microsoft Graph returned an invalid next link: {e}"),
            )
        })?;
        if !self.same_origin(&url) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "Microsoft Graph returned a next link to another host ({}); refusing to send the token there",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }

    /// The stop rule of a retried request or batch item.
    pub(crate) fn retry_budget(&self) -> Budget {
        Budget::new(self.options.max_attempts, self.options.retry_budget)
    }

    /// Exponential backoff with full jitter for attempt `n` (1-based): `[0, min(2^(n-1) s, cap)]`.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        Backoff::full_jitter(Duration::from_secs(1), self.options.max_backoff)
            .delay(attempt.saturating_sub(1), &self.jitter)
    }

    /// Sends one HTTP request (one attempt): bearer + client-request-id, under the concurrency
    /// limit. `counts_as_batch` bumps the batch counter.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        url: Url,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
        counts_as_batch: bool,
    ) -> std::result::Result<HttpResponse, SendError> {
        // Never a bearer token over plain http except to loopback (issue 8.2).
        crate::http::check_credential_destination(&url).map_err(SendError::Token)?;
        let token = self.tokens.bearer().await.map_err(SendError::Token)?;
        self.remember_claims(token.expose());
        // The "Bearer …" text is wiped when dropped (issue 8.9); the header keeps its own copy.
        let mut bearer = zeroize::Zeroizing::new(String::with_capacity(7 + token.expose().len()));
        bearer.push_str("Bearer ");
        bearer.push_str(token.expose());
        let mut auth = HeaderValue::from_str(&bearer).map_err(|_| {
            SendError::Token(Error::new(
                ErrorKind::AuthenticationFailed,
                "the access token contains invalid characters",
            ))
        })?;
        auth.set_sensitive(true);
        drop(token);
        headers.insert(AUTHORIZATION, auth);
        let request_id = uuid::Uuid::new_v4().to_string();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            headers.insert(HeaderName::from_static("client-request-id"), v);
        }
        if !headers.contains_key(reqwest::header::ACCEPT) {
            headers.insert(
                reqwest::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            );
        }
        let _permit = self.permits.acquire().await.map_err(|_| {
            SendError::Transport(Error::internal("the Graph request limiter was closed"))
        })?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        if counts_as_batch {
            self.batches.fetch_add(1, Ordering::Relaxed);
        }
        let target = format!("Microsoft Graph at {}", url.origin().ascii_serialization());
        let request = HttpRequest {
            method,
            url,
            headers,
            body,
            timeout: self.options.request_timeout,
            max_body_bytes: None,
            tls_pin: None,
        };
        self.transport
            .send(request)
            .await
            .map_err(|e| SendError::Transport(e.to_error(&target)))
    }

    /// Sends a request with retries: 429/502/503/504 always (Retry-After honoured, else
    /// exponential backoff with full jitter); a connection that broke or timed out before an
    /// answer only when `resend` is [`Resend::Safe`]. Returns the final response whatever its
    /// status; see `check`.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
        resend: Resend,
    ) -> Result<HttpResponse> {
        let outcome = crate::retry::drive(
            self.clock.as_ref(),
            self.retry_budget(),
            |_| {
                self.send_once(
                    method.clone(),
                    url.clone(),
                    headers.clone(),
                    body.clone(),
                    false,
                )
            },
            |outcome, attempt| match outcome {
                Ok(resp) if is_retryable_status(resp.status) => Some(
                    retry_after(&resp.headers, self.clock.now())
                        .unwrap_or_else(|| self.backoff(attempt)),
                ),
                Err(SendError::Transport(e))
                    if resend == Resend::Safe
                        && matches!(e.kind, ErrorKind::ConnectionFailed | ErrorKind::Timeout) =>
                {
                    Some(self.backoff(attempt))
                }
                _ => None,
            },
        )
        .await;
        match outcome {
            Ok(resp) => Ok(resp),
            Err(SendError::Token(e)) => Err(e),
            Err(SendError::Transport(e))
                if resend == Resend::Never
                    && matches!(e.kind, ErrorKind::ConnectionFailed | ErrorKind::Timeout) =>
            {
                Err(Error::new(
                    e.kind,
                    format!(
                        "{}; it was not sent again, because a {method} that may have reached Microsoft Graph could be applied twice: check its effect before running it again",
                        e.message
                    ),
                ))
            }
            Err(e) => Err(e.into_error()),
        }
    }

    /// GET with retries; 2xx → JSON body, else the typed Graph error.
    pub async fn get_json(&self, path: &ApiPath, access: Access, what: &str) -> Result<Value> {
        let url = self.url(path)?;
        let resp = self
            .send(
                Method::GET,
                url.clone(),
                HeaderMap::new(),
                None,
                Resend::Safe,
            )
            .await?;
        self.check(&resp, &Method::GET, &url, access, what)
    }

    /// GET following `@odata.nextLink` (same host only), re-sending `headers` on every page;
    /// `on_page` receives each page's `value` array.
    pub async fn get_pages(
        &self,
        first: Url,
        headers: HeaderMap,
        access: Access,
        what: &str,
        mut on_page: impl FnMut(Vec<Value>) + Send,
    ) -> Result<()> {
        let mut next = Some(first);
        let mut pages = 0u32;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 100_000 {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    "Microsoft Graph kept returning next links",
                ));
            }
            let resp = self
                .send(
                    Method::GET,
                    url.clone(),
                    headers.clone(),
                    None,
                    Resend::Safe,
                )
                .await?;
            let body = self.check(&resp, &Method::GET, &url, access, what)?;
            let Value::Object(mut map) = body else {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!("{what}: the page is not a JSON object"),
                ));
            };
            if let Some(link) = map.get("@odata.nextLink").and_then(Value::as_str) {
                next = Some(self.checked_link(link)?);
            }
            match map.remove("value") {
                Some(Value::Array(items)) => on_page(items),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidResponse,
                        format!("{what}: the page has no 'value' array"),
                    ))
                }
            }
        }
        Ok(())
    }
}

/// `Content-Type: application/json`.
pub fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h
}

#[cfg(test)]
pub(crate) mod testing {
    //! The shared fake transport, plus a Graph client over it.

    use super::*;
    pub use crate::http::transport::testing::{response, FakeTransport};
    use crate::secret::Secret;
    use serde_json::json;

    /// The answers to a `$batch` request: `answer(sub_request)` gives each sub-request's
    /// `(status, headers, body)`; ids are echoed, order kept.
    pub fn batch_responses(
        request: &HttpRequest,
        mut answer: impl FnMut(&Value) -> (u16, Value, Value),
    ) -> Vec<Value> {
        let body: Value = serde_json::from_slice(request.body.as_ref().unwrap()).unwrap();
        body["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let (status, headers, body) = answer(r);
                json!({"id": r["id"], "status": status, "headers": headers, "body": body})
            })
            .collect()
    }

    /// A `$batch` reply (200) carrying [`batch_responses`].
    pub fn batch_reply(
        request: &HttpRequest,
        answer: impl FnMut(&Value) -> (u16, Value, Value),
    ) -> HttpResponse {
        response(
            200,
            json!({"responses": batch_responses(request, answer)}),
            &[],
        )
    }

    pub fn client(
        transport: Arc<FakeTransport>,
        clock: crate::clock::FakeClock,
    ) -> GraphClient<'static> {
        GraphClient::with_transport(
            transport,
            Arc::new(clock),
            Url::parse("https://graph.example").unwrap(),
            Box::new(StaticToken::new(Secret::new("tok-123"))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::clock::FakeClock;
    use crate::secret::Secret;
    use serde_json::json;

    #[tokio::test]
    async fn a_bearer_token_never_goes_over_plain_http_beyond_loopback() {
        let t = FakeTransport::new(|_, _| Ok(response(200, json!({}), &[])));
        let c = GraphClient::with_transport(
            t.clone(),
            Arc::new(FakeClock::at_unix(1_000)),
            Url::parse("http://graph.example").unwrap(),
            Box::new(StaticToken::new(Secret::new("tok-123"))),
        );
        let e = c
            .get_json(&ApiPath::new("x"), Access::Read, "reading x")
            .await
            .expect_err("refused before sending");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e:?}");
        assert!(!e.message.contains("tok-123"));
        assert!(t.calls().is_empty(), "nothing was sent");
    }

    #[tokio::test]
    async fn retries_429_with_retry_after_then_succeeds() {
        let t = FakeTransport::new(|_, i| {
            Ok(match i {
                0 => response(
                    429,
                    json!({"error": {"code": "TooManyRequests"}}),
                    &[("retry-after", "2.5")],
                ),
                1 => response(503, json!({}), &[]),
                _ => response(200, json!({"ok": true}), &[]),
            })
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let v = c
            .get_json(&ApiPath::new("x"), Access::Read, "reading x")
            .await
            .unwrap();
        assert_eq!(v, json!({"ok": true}));
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 2);
        assert_eq!(sleeps[0], Duration::from_millis(2500));
        assert!(
            sleeps[1] <= Duration::from_secs(2),
            "second backoff is jittered within 2 s: {sleeps:?}"
        );
        let calls = t.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(c.stats().requests, 3);
        // Auth and a distinct client-request-id on every attempt; the token is marked sensitive.
        let ids: std::collections::HashSet<_> = calls
            .iter()
            .map(|c| {
                c.headers
                    .get("client-request-id")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(calls[0].headers.get(AUTHORIZATION).unwrap().is_sensitive());
        assert_eq!(calls[0].url, "https://graph.example/v1.0/x");
        assert_eq!(calls[0].method, Method::GET);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempt_budget() {
        let t = FakeTransport::new(|_, _| {
            Ok(response(
                429,
                json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}}),
                &[("retry-after", "1")],
            ))
        });
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone());
        let e = c
            .get_json(&ApiPath::new("x"), Access::Read, "reading x")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Throttled);
        assert_eq!(t.calls().len(), 8);
        assert_eq!(clock.sleeps().len(), 7);
    }

    #[tokio::test]
    async fn broken_connections_are_resent_only_when_the_operation_allows_it() {
        let t = FakeTransport::new(|_, _| Err(TransportError::broken("reset")));
        let clock = FakeClock::at_unix(1_000);
        let c = client(t.clone(), clock.clone()).with_options(ClientOptions {
            max_attempts: 3,
            ..Default::default()
        });
        let url = c.url_from_relative("/x").unwrap();
        let post = |resend| {
            c.send(
                Method::POST,
                url.clone(),
                HeaderMap::new(),
                Some(b"{}".to_vec()),
                resend,
            )
        };
        let e = post(Resend::by_method(&Method::POST)).await.unwrap_err();
        assert_eq!(t.calls().len(), 1, "a POST of unknown effect is sent once");
        assert_eq!(e.kind, ErrorKind::ConnectionFailed);
        assert!(
            e.message.contains("it was not sent again") && e.message.contains("POST"),
            "{}",
            e.message
        );
        // A POST the operation knows to be idempotent (an app-role grant) is re-sent.
        assert!(post(Resend::Safe).await.is_err());
        assert_eq!(t.calls().len(), 4);
        let e = c
            .send(
                Method::GET,
                url.clone(),
                HeaderMap::new(),
                None,
                Resend::by_method(&Method::GET),
            )
            .await
            .unwrap_err();
        assert_eq!(t.calls().len(), 7);
        assert!(!e.message.contains("not sent again"));
        assert_eq!(Resend::by_method(&Method::PATCH), Resend::Never);
        assert_eq!(Resend::by_method(&Method::DELETE), Resend::Safe);
    }

    #[tokio::test]
    async fn next_links_must_stay_on_the_endpoint() {
        let t = FakeTransport::new(|r, _| {
            Ok(if r.url.query().unwrap_or("").contains("skiptoken=2") {
                response(
                    200,
                    json!({"value": [3], "@odata.nextLink": "https://evil.example/v1.0/x?$skiptoken=3"}),
                    &[],
                )
            } else if r.url.query().unwrap_or("").contains("skiptoken=1") {
                response(
                    200,
                    json!({"value": [2], "@odata.nextLink": "https://graph.example/v1.0/x?$skiptoken=2"}),
                    &[],
                )
            } else {
                response(
                    200,
                    json!({"value": [1], "@odata.nextLink": "https://graph.example/v1.0/x?$skiptoken=1"}),
                    &[],
                )
            })
        });
        let c = client(t.clone(), FakeClock::at_unix(1));
        let mut seen = Vec::new();
        let mut h = HeaderMap::new();
        h.insert("consistencylevel", HeaderValue::from_static("eventual"));
        let e = c
            .get_pages(
                c.url_from_relative("/x").unwrap(),
                h,
                Access::Other,
                "listing",
                |p| seen.extend(p),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
        assert!(!e.message.contains("tok-123"));
        assert_eq!(seen, vec![json!(1), json!(2)]);
        assert!(t
            .calls()
            .iter()
            .all(|c| c.headers.get("consistencylevel").is_some()));
        assert_eq!(
            c.relative_from_link("https://graph.example/v1.0/a/b?$skiptoken=x%27")
                .unwrap(),
            "/a/b?$skiptoken=x%27"
        );
        assert!(c
            .relative_from_link("https://graph.example/beta/a")
            .is_err());
    }
}
