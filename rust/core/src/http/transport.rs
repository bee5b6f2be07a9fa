//! The HTTP seam: every managed-identity source and the Graph client send through a
//! [`Transport`], so request shapes and retry paths are unit-tested with a fake transport and a
//! fake clock, without a server. [`ReqwestTransport`] is the production one.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::clients::{ClientKind, HttpClients};
use super::pinning::{self, CertificatePin};
use crate::error::{Error, ErrorKind, Result};

/// One HTTP request as handed to a [`Transport`] (headers already include auth).
#[derive(Debug)]
pub struct HttpRequest {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub timeout: Duration,
    /// Largest body read into memory; a longer answer is [`TransportError::TooLarge`].
    pub max_body_bytes: Option<usize>,
    /// Trust exactly this server certificate (Service Fabric), not a CA; the URL must be https.
    pub tls_pin: Option<CertificatePin>,
}

impl HttpRequest {
    pub fn get(url: Url, headers: HeaderMap, timeout: Duration) -> Self {
        Self {
            method: Method::GET,
            url,
            headers,
            body: None,
            timeout,
            max_body_bytes: None,
            tls_pin: None,
        }
    }
}

/// One HTTP response, fully read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`Null` when empty). `who` names the service in the error.
    pub fn json_from(&self, who: &str) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("{who} answered with invalid JSON: {e}"),
            )
            .with_details(serde_json::json!({"status": self.status}))
        })
    }
}

/// Why a request produced no response. Carries no URL (so no query string) and no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// No connection: `refused` when the peer actively refused, `timed_out` when connecting took
    /// too long; `cause` is the innermost error's text.
    Connect {
        refused: bool,
        timed_out: bool,
        cause: String,
    },
    /// Connected, but no (complete) answer within the request's timeout.
    Timeout,
    /// The connection broke while sending or reading; `cause` describes it.
    Broken { cause: String, while_reading: bool },
    /// The body was longer than the request's `max_body_bytes`.
    TooLarge { status: u16, limit: usize },
    /// The server's certificate is not the pinned one: the TLS handshake was abandoned before
    /// any HTTP byte was sent.
    Untrusted { cause: String },
}

impl TransportError {
    /// A broken connection (tests and fakes).
    pub fn broken(cause: impl Into<String>) -> Self {
        TransportError::Broken {
            cause: cause.into(),
            while_reading: false,
        }
    }

    /// The typed error; `target` describes what was called, e.g. "Microsoft Graph at https://…".
    pub fn to_error(&self, target: &str) -> Error {
        match self {
            TransportError::Timeout
            | TransportError::Connect {
                timed_out: true, ..
            } => Error::new(
                ErrorKind::Timeout,
                format!("{target} did not answer in time"),
            ),
            TransportError::Connect { .. } => Error::new(
                ErrorKind::ConnectionFailed,
                format!("cannot connect to {target}"),
            ),
            TransportError::Broken {
                while_reading: true,
                ..
            } => Error::new(
                ErrorKind::ConnectionFailed,
                format!("{target} closed the connection while answering"),
            ),
            TransportError::Broken { cause, .. } => Error::new(
                ErrorKind::ConnectionFailed,
                format!("the request to {target} failed: {cause}"),
            ),
            TransportError::TooLarge { status, limit } => Error::new(
                ErrorKind::InvalidResponse,
                format!("{target} answered HTTP {status} with more than {limit} bytes"),
            ),
            TransportError::Untrusted { cause } => Error::new(
                ErrorKind::CertificateMismatch,
                format!("{target} was refused before anything was sent: {cause}"),
            ),
        }
    }

    fn from_reqwest(err: reqwest::Error, reading: bool) -> Self {
        let err = err.without_url();
        if pinning::is_pin_mismatch(&err) {
            TransportError::Untrusted {
                cause: pinning::PinMismatch.to_string(),
            }
        } else if err.is_connect() {
            TransportError::Connect {
                refused: refused(&err),
                timed_out: err.is_timeout(),
                cause: root_cause(&err),
            }
        } else if err.is_timeout() {
            TransportError::Timeout
        } else {
            TransportError::Broken {
                cause: describe_chain(&err),
                while_reading: reading || err.is_decode() || err.is_body(),
            }
        }
    }
}

/// The network.
pub trait Transport: Send + Sync {
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, std::result::Result<HttpResponse, TransportError>>;
}

/// The production transport: the process-wide clients of one [`ClientKind`], picked per URL
/// (plain http needs no TLS, so it never builds a client with a root store).
pub struct ReqwestTransport {
    clients: Clients,
}

enum Clients {
    Shared(Arc<HttpClients>, ClientKind),
    Fixed(reqwest::Client),
}

impl ReqwestTransport {
    pub fn new(clients: Arc<HttpClients>, kind: ClientKind) -> Self {
        Self {
            clients: Clients::Shared(clients, kind),
        }
    }

    /// Over one given client (tests that bring their own).
    pub fn with_client(client: reqwest::Client) -> Self {
        Self {
            clients: Clients::Fixed(client),
        }
    }
}

impl Transport for ReqwestTransport {
    fn send(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, std::result::Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            if request.headers.contains_key(reqwest::header::AUTHORIZATION) {
                crate::http::check_credential_destination(&request.url)
                    .map_err(|e| TransportError::broken(e.message))?;
            }
            let pinned;
            let client = match (&self.clients, request.tls_pin) {
                (Clients::Shared(clients, _), Some(pin)) => {
                    if request.url.scheme() != "https" {
                        return Err(TransportError::Untrusted {
                            cause: "a pinned certificate needs an https URL".to_string(),
                        });
                    }
                    pinned = clients
                        .pinned(pin)
                        .map_err(|e| TransportError::broken(e.message))?;
                    &pinned
                }
                (Clients::Shared(clients, kind), None) => clients
                    .for_url(*kind, &request.url)
                    .map_err(|e| TransportError::broken(e.message))?,
                (Clients::Fixed(client), _) => client,
            };
            let mut builder = client
                .request(request.method, request.url)
                .headers(request.headers)
                .timeout(request.timeout);
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let mut response = builder
                .send()
                .await
                .map_err(|e| TransportError::from_reqwest(e, false))?;
            let status = response.status().as_u16();
            let headers = std::mem::take(response.headers_mut());
            let limit = request.max_body_bytes.unwrap_or(usize::MAX);
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| TransportError::from_reqwest(e, true))?
            {
                if body.len().saturating_add(chunk.len()) > limit {
                    return Err(TransportError::TooLarge { status, limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
}

/// The innermost error's text (e.g. "Network is unreachable (os error 101)").
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

fn refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        current = e.source();
    }
    false
}

fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    // reqwest may put the URL in its Display; strip any query string defensively.
    match text.find('?') {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A scripted fake transport shared by every unit test that sends HTTP.

    use std::sync::Mutex;

    use reqwest::header::{HeaderName, HeaderValue};

    use super::*;

    /// One recorded request.
    #[derive(Debug, Clone)]
    pub struct Call {
        pub method: Method,
        pub url: String,
        pub body: Option<Value>,
        pub headers: HeaderMap,
        pub timeout: Duration,
    }

    pub type Reply = std::result::Result<HttpResponse, TransportError>;
    type Handler = Box<dyn Fn(&HttpRequest, usize) -> Reply + Send + Sync>;

    /// Calls `handler(request, call_index)`; records every request.
    pub struct FakeTransport {
        pub handler: Handler,
        pub calls: Mutex<Vec<Call>>,
    }

    impl FakeTransport {
        pub fn new(
            handler: impl Fn(&HttpRequest, usize) -> Reply + Send + Sync + 'static,
        ) -> Arc<Self> {
            Arc::new(FakeTransport {
                handler: Box::new(handler),
                calls: Mutex::new(Vec::new()),
            })
        }

        /// Answers the scripted replies in order, then repeats the last one.
        pub fn script(replies: Vec<Reply>) -> Arc<Self> {
            Self::new(move |_, i| {
                replies
                    .get(i)
                    .or_else(|| replies.last())
                    .cloned()
                    .unwrap_or_else(|| Err(TransportError::broken("no scripted reply")))
            })
        }

        pub fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    impl Transport for FakeTransport {
        fn send(&self, request: HttpRequest) -> BoxFuture<'_, Reply> {
            let body = request
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok());
            let index = {
                let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
                calls.push(Call {
                    method: request.method.clone(),
                    url: request.url.to_string(),
                    body,
                    headers: request.headers.clone(),
                    timeout: request.timeout,
                });
                calls.len() - 1
            };
            let result = (self.handler)(&request, index);
            Box::pin(async move { result })
        }
    }

    pub fn response(status: u16, body: Value, headers: &[(&str, &str)]) -> HttpResponse {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        HttpResponse {
            status,
            headers: h,
            body: if body.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&body).expect("json")
            },
        }
    }

    /// A response with a raw (possibly non-JSON) body.
    pub fn raw(status: u16, body: &[u8]) -> HttpResponse {
        HttpResponse {
            status,
            headers: HeaderMap::new(),
            body: body.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_map_to_typed_errors_without_urls() {
        let target = "Microsoft Graph at https://graph.example";
        let e = TransportError::Timeout.to_error(target);
        assert_eq!(e.kind, ErrorKind::Timeout);
        let e = TransportError::Connect {
            refused: true,
            timed_out: false,
            cause: "refused".into(),
        }
        .to_error(target);
        assert_eq!(e.kind, ErrorKind::ConnectionFailed);
        assert_eq!(e.message, format!("cannot connect to {target}"));
        let e = TransportError::broken("reset").to_error(target);
        assert_eq!(e.message, format!("the request to {target} failed: reset"));
        let e = TransportError::TooLarge {
            status: 200,
            limit: 10,
        }
        .to_error(target);
        assert_eq!(e.kind, ErrorKind::InvalidResponse);
    }
}
