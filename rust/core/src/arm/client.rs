//! The ARM HTTP client: a bearer per request from a [`TokenProvider`], the pinned api-version
//! on every URL, retries (429 for every method; 500/502/503/504 and broken connections only for
//! GET and ARM's idempotent PUT/PATCH/DELETE; `Retry-After` honoured, else exponential backoff
//! with full jitter), ARM error JSON → typed errors, `nextLink` paging on the same host, and
//! long-running operations (see [`super::lro`]). Redirects are never followed (the HTTP clients
//! are built without a redirect policy and a 3xx is an error here), so a token never leaves the
//! ARM endpoint. Every wait goes through the injected clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::api_version::ResourceType;
use super::errors::ArmErrorInfo;
use super::resource::{self, Page};
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{retry_after, HttpRequest, HttpResponse, Transport, TransportError};
use crate::retry::{Backoff, Budget, Jitter};
use crate::token::TokenProvider;

/// Tunables of an ARM client (defaults suit production; tests shrink them).
#[derive(Debug, Clone)]
pub struct ArmClientOptions {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// Time budget per request, from its first attempt.
    pub retry_budget: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Cap of the exponential backoff used when no Retry-After is given.
    pub max_backoff: Duration,
    /// How long a long-running operation is followed before giving up.
    pub lro_timeout: Duration,
    /// Poll interval of a long-running operation when the service gives no Retry-After.
    pub lro_poll_interval: Duration,
}

impl Default for ArmClientOptions {
    fn default() -> Self {
        ArmClientOptions {
            max_attempts: 6,
            retry_budget: Duration::from_secs(120),
            request_timeout: Duration::from_secs(60),
            max_backoff: Duration::from_secs(30),
            lro_timeout: Duration::from_secs(300),
            lro_poll_interval: Duration::from_secs(2),
        }
    }
}

/// True for the methods ARM defines as idempotent (safe to repeat after a 5xx or a broken
/// connection).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Whether an answer with `status` to `method` is retried.
pub fn is_retryable(method: &Method, status: u16) -> bool {
    match status {
        429 => true,
        500 | 502 | 503 | 504 => is_idempotent(method),
        _ => false,
    }
}

/// An ARM client for one operation.
pub struct ArmClient<'a> {
    transport: Arc<dyn Transport>,
    clock: SharedClock,
    base: Url,
    tokens: Box<dyn TokenProvider + 'a>,
    options: ArmClientOptions,
    requests: AtomicU64,
    jitter: Jitter,
}

impl<'a> ArmClient<'a> {
    pub fn new(
        transport: Arc<dyn Transport>,
        clock: SharedClock,
        base: Url,
        tokens: Box<dyn TokenProvider + 'a>,
    ) -> Self {
        ArmClient {
            transport,
            clock,
            base,
            tokens,
            options: ArmClientOptions::default(),
            requests: AtomicU64::new(0),
            jitter: Jitter::new(),
        }
    }

    pub fn with_options(mut self, mut options: ArmClientOptions) -> Self {
        options.max_attempts = options.max_attempts.max(1);
        self.options = options;
        self
    }

    pub fn options(&self) -> &ArmClientOptions {
        &self.options
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// HTTP requests sent so far (retries and polls included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// `{endpoint}{path}?api-version={pinned}`; `path` starts with `/` and is already escaped
    /// segment by segment (see [`super::ids`]).
    pub fn url(&self, path: &str, rt: ResourceType) -> Result<Url> {
        let text = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        let mut url = Url::parse(&text).map_err(|e| {
            Error::internal(format!("cannot build an Azure Resource Manager URL: {e}"))
        })?;
        url.query_pairs_mut()
            .append_pair("api-version", rt.api_version());
        Ok(url)
    }

    /// True when `url` is on the ARM endpoint's scheme, host and port.
    pub fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str().map(str::to_ascii_lowercase)
                == self.base.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Parses a URL the service handed back (next link, polling URL) and refuses any other
    /// host: the bearer token must never leave the ARM endpoint.
    pub fn checked_service_url(&self, raw: &str, what: &str) -> Result<Url> {
        let url = Url::parse(raw).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("Azure Resource Manager returned an invalid {what}: {e}"),
            )
        })?;
        if !self.same_origin(&url) {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "Azure Resource Manager returned a {what} on another host ({}); refusing to send the token there",
                    url.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        Backoff::full_jitter(Duration::from_secs(1), self.options.max_backoff)
            .delay(attempt.saturating_sub(1), &self.jitter)
    }

    /// One attempt. Token failures come back as `Err(Ok(e))` (never retried here), transport
    /// failures as `Err(Err(t))`.
    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> std::result::Result<HttpResponse, std::result::Result<Error, TransportError>> {
        crate::http::check_credential_destination(url).map_err(Ok)?;
        let token = self.tokens.bearer().await.map_err(Ok)?;
        let mut bearer = zeroize::Zeroizing::new(String::with_capacity(7 + token.expose().len()));
        bearer.push_str("Bearer ");
        bearer.push_str(token.expose());
        drop(token);
        let mut auth = HeaderValue::from_str(&bearer).map_err(|_| {
            Ok(Error::new(
                ErrorKind::AuthenticationFailed,
                "the access token contains invalid characters",
            ))
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            headers.insert("x-ms-client-request-id", v);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let request = HttpRequest {
            method: method.clone(),
            url: url.clone(),
            headers,
            body: body.map(<[u8]>::to_vec),
            timeout: self.options.request_timeout,
            max_body_bytes: Some(16 * 1024 * 1024),
            tls_pin: None,
        };
        self.transport.send(request).await.map_err(Err)
    }

    /// Sends with retries and returns the last response whatever its status.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<HttpResponse> {
        let bytes =
            match body {
                Some(v) => Some(serde_json::to_vec(v).map_err(|e| {
                    Error::internal(format!("cannot encode an ARM request body: {e}"))
                })?),
                None => None,
            };
        let target = format!(
            "Azure Resource Manager at {}",
            url.origin().ascii_serialization()
        );
        let budget = Budget::new(self.options.max_attempts, self.options.retry_budget);
        let outcome = crate::retry::drive(
            self.clock.as_ref(),
            budget,
            |_| self.send_once(&method, &url, bytes.as_deref()),
            |outcome, attempt| match outcome {
                Ok(resp) if is_retryable(&method, resp.status) => Some(
                    retry_after(&resp.headers, self.clock.now())
                        .unwrap_or_else(|| self.backoff(attempt)),
                ),
                // Nothing reached the server: any method may try again.
                Err(Err(TransportError::Connect { .. })) => Some(self.backoff(attempt)),
                Err(Err(TransportError::Timeout | TransportError::Broken { .. }))
                    if is_idempotent(&method) =>
                {
                    Some(self.backoff(attempt))
                }
                _ => None,
            },
        )
        .await;
        finish(outcome, &target)
    }
}

fn finish(
    outcome: std::result::Result<HttpResponse, std::result::Result<Error, TransportError>>,
    target: &str,
) -> Result<HttpResponse> {
    match outcome {
        Ok(resp) => Ok(resp),
        Err(Ok(e)) => Err(e),
        Err(Err(t)) => Err(t.to_error(target)),
    }
}

impl<'a> ArmClient<'a> {
    /// Checks a final response: 2xx → the JSON body (`Null` when empty); 3xx → an error (never
    /// followed); else ARM's error.
    pub fn check(&self, resp: &HttpResponse, what: &str) -> Result<Value> {
        if resp.is_success() {
            return resp.json_from("Azure Resource Manager");
        }
        if (300..400).contains(&resp.status) {
            let to = resp
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| Url::parse(l).ok())
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_else(|| "an unnamed location".to_string());
            return Err(Error::new(
                ErrorKind::ServiceError,
                format!(
                    "{what} failed: Azure Resource Manager answered a redirect (HTTP {}) to {to}; redirects are not followed",
                    resp.status
                ),
            )
            .with_details(serde_json::json!({"status": resp.status})));
        }
        Err(ArmErrorInfo::parse(resp.status, &resp.headers, &resp.body).to_error(what))
    }
}

impl<'a> ArmClient<'a> {
    /// GET; a 404 whose code says the resource itself is missing (`ResourceNotFound`, `NotFound`)
    /// is `None`; any other error (e.g. `ResourceGroupNotFound`) is an error.
    pub async fn get_optional(&self, url: Url, what: &str) -> Result<Option<Value>> {
        let resp = self.send(Method::GET, url, None).await?;
        if resp.status == 404 {
            let info = ArmErrorInfo::parse(resp.status, &resp.headers, &resp.body);
            if info.code.is_none() || info.code_is("ResourceNotFound") || info.code_is("NotFound") {
                return Ok(None);
            }
            return Err(info.to_error(what));
        }
        self.check(&resp, what).map(Some)
    }

    /// GET a list, following `nextLink` on the same host; returns every `value` element.
    pub async fn list(&self, first: Url, what: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0u32;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 1000 {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!("{what} failed: Azure Resource Manager kept returning next links"),
                ));
            }
            let resp = self.send(Method::GET, url, None).await?;
            let page: Page = resource::parse(&self.check(&resp, what)?);
            items.extend(page.value);
            if let Some(link) = page.next_link.filter(|l| !l.is_empty()) {
                next = Some(self.checked_service_url(&link, "next link")?);
            }
        }
        Ok(items)
    }
}
