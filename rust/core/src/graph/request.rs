//! `graph.request`: the escape hatch behind `Invoke-GraphRequest` — any method and path on the
//! context's Graph endpoint, with the context's token, retries, typed errors and optional paging.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::client::{GraphClient, GraphResponse, Resend};
use super::errors::Access;
use super::ops::{OperationSummary, Summary};
use crate::error::{Error, Result};
use crate::events::{item, EventSink};
use crate::input::Input;

/// `graph.request`: one Graph call (or every page of a collection with `all`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphRequest {
    /// GET when `None`.
    pub method: Option<String>,
    pub uri: String,
    /// JSON to send (a string is sent as is).
    pub body: Option<Value>,
    pub all: bool,
    pub headers: BTreeMap<String, Value>,
}

/// Resolves `uri` on the client's Graph endpoint. Absolute URLs must be on that endpoint (the
/// token is never sent elsewhere); relative paths without a version get `/v1.0`.
pub fn resolve_uri(client: &GraphClient<'_>, uri: &str) -> Result<Url> {
    let t = uri.trim();
    if t.is_empty() {
        return Err(Error::invalid_argument(format!("{} is empty", Input::Uri)));
    }
    match Url::parse(t) {
        Ok(url) => {
            if !matches!(url.scheme(), "http" | "https") || !client.same_origin(&url) {
                return Err(Error::invalid_argument(format!(
                    "'{}' is not on this context's Graph endpoint {}; the access token is only sent there",
                    url.origin().ascii_serialization(),
                    client.base().origin().ascii_serialization()
                )));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(Error::invalid_argument(format!(
                    "{} must not carry credentials",
                    Input::Uri
                )));
            }
            Ok(url)
        }
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let path = if t.starts_with('/') {
                t.to_string()
            } else {
                format!("/{t}")
            };
            let first = path[1..].split(['/', '?']).next().unwrap_or("");
            let path = if first.eq_ignore_ascii_case("v1.0") || first.eq_ignore_ascii_case("beta") {
                path
            } else {
                format!("/v1.0{path}")
            };
            let text = format!("{}{}", client.base().as_str().trim_end_matches('/'), path);
            Url::parse(&text).map_err(|e| {
                Error::invalid_argument(format!("{} '{t}' is not a valid path: {e}", Input::Uri))
            })
        }
        Err(e) => Err(Error::invalid_argument(format!(
            "{} '{t}' is not a valid URL: {e}",
            Input::Uri
        ))),
    }
}

fn header_map(headers: BTreeMap<String, Value>) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let text = match value {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Error::invalid_argument(format!("'{name}' is not a valid header name")))?;
        if name == AUTHORIZATION {
            return Err(Error::invalid_argument(
                "do not pass an Authorization header: the request is authenticated with the context's token",
            ));
        }
        let value = HeaderValue::from_str(&text).map_err(|_| {
            Error::invalid_argument(format!("the value of header '{name}' is not valid"))
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// Emits a 2xx body: nothing when empty (204), the JSON value, or the text.
fn emit_body(sink: &dyn EventSink, body: &[u8]) -> usize {
    if body.iter().all(u8::is_ascii_whitespace) {
        return 0;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => item(sink, v),
        Err(_) => item(
            sink,
            Value::String(String::from_utf8_lossy(body).into_owned()),
        ),
    }
    1
}

pub async fn request(
    client: &GraphClient<'_>,
    a: GraphRequest,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let mut summary = Summary::start(client);
    let method_text = a
        .method
        .as_deref()
        .unwrap_or("GET")
        .trim()
        .to_ascii_uppercase();
    let method = match method_text.as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => {
            return Err(Error::invalid_argument(format!(
                "{} '{other}' is not supported (GET, POST, PUT, PATCH, DELETE)",
                Input::Method
            )))
        }
    };
    let url = resolve_uri(client, &a.uri)?;
    let mut headers = header_map(a.headers)?;
    let body = match a.body {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.into_bytes()),
        Some(v) => Some(serde_json::to_vec(&v).map_err(|e| {
            Error::invalid_argument(format!("{} cannot be serialized: {e}", Input::Body))
        })?),
    };
    if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let what = format!("{method} {}", url.path());
    let mut items = 0usize;
    summary.requested = 1;
    if a.all {
        if method != Method::GET {
            return Err(Error::invalid_argument(format!(
                "{} follows @odata.nextLink and works with GET only",
                Input::All
            )));
        }
        // -All means "every element of a collection", page after page.
        client
            .get_pages(url, headers, Access::Other, &what, |values| {
                for v in values {
                    items += 1;
                    item(sink, v);
                }
            })
            .await?;
    } else {
        // The caller's own request: its effect is unknown here, so HTTP's rule decides.
        let resend = Resend::by_method(&method);
        let resp = client
            .send(method.clone(), url.clone(), headers, body, resend)
            .await?;
        if !resp.is_success() {
            return Err(client.refusal(
                &resp.error_info(),
                method.as_str(),
                url.as_str(),
                Access::Other,
                &what,
            ));
        }
        items += emit_body(sink, &resp.body);
    }
    summary.succeeded = 1;
    Ok(summary.finish(client, Some(items)))
}
