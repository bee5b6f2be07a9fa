//! Microsoft Graph app-role surface (`/v1.0` and `/beta`): one dispatch function serves both
//! HTTP requests and `$batch` items.

pub mod access;
pub mod auth;
pub mod batch;
pub mod filter;
pub mod paging;
pub mod routes;
pub mod throttle;

use serde_json::{json, Value};

use crate::state::App;
use crate::util::{self, Req, Resp};

/// Content type of Graph JSON answers.
pub const CONTENT_TYPE: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A Graph answer before it becomes an HTTP response or a `$batch` item.
#[derive(Debug, Clone)]
pub struct GraphResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl GraphResponse {
    pub fn new(status: u16, body: Option<Value>) -> Self {
        GraphResponse {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// From a plain response (an injected fault): JSON body when it parses, else a string.
    pub fn from_resp(r: Resp) -> Self {
        let body = if r.body.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice::<Value>(&r.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&r.body).into_owned())
                }),
            )
        };
        GraphResponse {
            status: r.status,
            headers: r.headers,
            body,
        }
    }

    pub fn into_resp(self) -> Resp {
        let mut r = Resp::new(self.status);
        r.headers = self.headers;
        if let Some(body) = self.body {
            if !r
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                r.headers.push(("Content-Type".into(), CONTENT_TYPE.into()));
            }
            r.body = match body {
                Value::String(s) => s.into_bytes(),
                other => other.to_string().into_bytes(),
            };
        }
        r
    }
}

/// Per-request identifiers and URL bases.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub client_request_id: String,
    /// `v1.0` or `beta`.
    pub version: String,
    /// `http://127.0.0.1:PORT/v1.0`, on the scheme and host the request was sent to
    pub base: String,
    /// `http://127.0.0.1:PORT` (or `https://…` on the `--tls` listener): real Graph keeps
    /// `@odata.nextLink` and `@odata.context` on the scheme and host of the request
    pub origin: String,
}

impl Ctx {
    pub fn new(app: &App, req: &Req) -> Self {
        let first = req
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let version = if first.eq_ignore_ascii_case("beta") {
            "beta"
        } else {
            "v1.0"
        }
        .to_string();
        let origin = if req.origin.is_empty() {
            app.base_url.clone()
        } else {
            req.origin.clone()
        };
        Ctx {
            request_id: util::new_guid(),
            client_request_id: req
                .header("client-request-id")
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .unwrap_or_else(util::new_guid),
            base: format!("{origin}/{version}"),
            origin,
            version,
        }
    }

    /// `…/$metadata#<fragment>`
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/$metadata#{}", self.base, fragment)
    }

    pub fn inner_error(&self) -> Value {
        json!({
            "date": util::iso_now(),
            "request-id": self.request_id,
            "client-request-id": self.client_request_id,
        })
    }

    /// The Graph error envelope.
    pub fn error(&self, status: u16, code: &str, message: &str) -> GraphResponse {
        GraphResponse::new(
            status,
            Some(
                json!({"error": {"code": code, "message": message, "innerError": self.inner_error()}}),
            ),
        )
    }

    pub fn not_found(&self, id: &str) -> GraphResponse {
        self.error(
            404,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }

    pub fn bad_request(&self, message: &str) -> GraphResponse {
        self.error(400, "Request_BadRequest", message)
    }

    pub fn invalid_filter(&self) -> GraphResponse {
        self.error(400, "BadRequest", "Invalid filter clause")
    }

    pub fn denied(&self) -> GraphResponse {
        self.error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }
}

/// Authenticates, throttles and routes one Graph request (HTTP or `$batch` item).
pub fn dispatch(app: &App, req: &Req, in_batch: bool) -> GraphResponse {
    let ctx = Ctx::new(app, req);
    let resp = match auth::authenticate(req) {
        Err(message) => ctx.error(401, "InvalidAuthenticationToken", message).header(
            "WWW-Authenticate",
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
        ),
        Ok(caller) => match throttle::take(app) {
            Err(retry_after) => throttle::throttled(&ctx, Some(&retry_after), &caller.app_id),
            Ok(()) => routes::route(app, req, &caller, &ctx, in_batch),
        },
    };
    resp.header("request-id", &ctx.request_id)
        .header("client-request-id", &ctx.client_request_id)
}

/// A Graph HTTP request.
pub fn http(app: &App, req: &Req) -> Resp {
    dispatch(app, req, false).into_resp()
}

/// Graph code and message for an injected status.
fn status_code_message(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("BadRequest", "Bad request."),
        401 => (
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ),
        403 => (
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ),
        404 => ("Request_ResourceNotFound", "Resource does not exist."),
        409 => (
            "Directory_ConcurrencyViolation",
            "Another object with the same value for property already exists.",
        ),
        429 => ("TooManyRequests", "Please retry again later."),
        500 => ("InternalServerError", "An internal server error occurred."),
        502 => ("BadGateway", "Bad gateway."),
        503 => (
            "ServiceUnavailable",
            "Service is unavailable. Please retry.",
        ),
        504 => ("GatewayTimeout", "Gateway timeout."),
        _ => ("UnknownError", "Injected error."),
    }
}

/// Graph-shaped answer for an injected status (429 gets the throttling body and headers).
pub fn status_error(status: u16, req: &Req) -> Resp {
    status_error_graph(status, req).into_resp()
}

fn status_error_graph(status: u16, req: &Req) -> GraphResponse {
    let ctx = Ctx {
        request_id: util::new_guid(),
        client_request_id: req
            .header("client-request-id")
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .unwrap_or_else(util::new_guid),
        version: String::new(),
        base: String::new(),
        origin: String::new(),
    };
    let resp = if status == 429 {
        throttle::throttled(&ctx, None, "")
    } else {
        let (code, message) = status_code_message(status);
        ctx.error(status, code, message)
    };
    resp.header("request-id", &ctx.request_id)
        .header("client-request-id", &ctx.client_request_id)
}
