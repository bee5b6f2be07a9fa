//! JSON `$batch`: each item becomes an internal request dispatched through
//! `graph::dispatch`, exactly like an HTTP request.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::{dispatch, Ctx, GraphResponse};
use crate::faults::{self, FaultAction, Target};
use crate::state::{lock, App};
use crate::util::Req;

pub const MAX_ITEMS: usize = 20;

struct Item {
    id: String,
    method: String,
    url: String,
    /// Header names as sent.
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    depends_on: Vec<String>,
}

fn parse_item(v: &Value, ctx: &Ctx) -> Result<Item, GraphResponse> {
    let bad = |m: &str| ctx.error(400, "BadRequest", m);
    let obj = v
        .as_object()
        .ok_or_else(|| bad("Invalid batch payload format."))?;
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(bad(
                "Invalid batch payload format: each request needs an 'id'.",
            ))
        }
    };
    let method = obj
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .filter(|m| matches!(m.as_str(), "GET" | "POST" | "PATCH" | "PUT" | "DELETE"))
        .ok_or_else(|| bad(&format!("Invalid method in request id : {id}.")))?;
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| bad(&format!("Invalid url in request id : {id}.")))?
        .to_string();
    let mut headers = Vec::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                headers.push((k.clone(), v));
            }
        }
        Some(_) => return Err(bad(&format!("Invalid headers in request id : {id}."))),
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => None,
        // A string body is base64 (non-JSON content); fall back to the raw text.
        Some(Value::String(s)) => Some(
            STANDARD
                .decode(s)
                .unwrap_or_else(|_| s.clone().into_bytes()),
        ),
        Some(other) => Some(other.to_string().into_bytes()),
    };
    let has_content_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !has_content_type {
        return Err(bad(&format!(
            "Write request id : {id} does not contain Content-Type header or body."
        )));
    }
    let depends_on = match obj.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(bad(&format!("Invalid dependsOn in request id : {id}."))),
    };
    Ok(Item {
        id,
        method,
        url,
        headers,
        body,
        depends_on,
    })
}

/// The internal request for an item: URL relative to the envelope's version, envelope
/// authorization unless the item sends its own.
fn item_request(item: &Item, envelope: &Req, ctx: &Ctx) -> Option<Req> {
    let url = item.url.trim();
    if url.contains("://") {
        return None;
    }
    let mut rel = url.trim_start_matches('/');
    for prefix in ["v1.0/", "beta/"] {
        if rel
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        {
            rel = &rel[prefix.len()..];
        }
    }
    let (path, query) = rel.split_once('?').unwrap_or((rel, ""));
    let mut headers: Vec<(String, String)> = item
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    if !headers.iter().any(|(k, _)| k == "authorization") {
        if let Some(auth) = envelope.header("authorization") {
            headers.push(("authorization".into(), auth.to_string()));
        }
    }
    Some(Req {
        method: item.method.clone(),
        path: format!("/{}/{}", ctx.version, path),
        query: query.to_string(),
        headers,
        body: item.body.clone().unwrap_or_default(),
        origin: envelope.origin.clone(),
    })
}

/// Topological feasibility: every item can run once its dependencies have.
fn acyclic(items: &[Item]) -> bool {
    let mut done = vec![false; items.len()];
    for _ in 0..items.len() {
        let Some(i) = (0..items.len()).find(|&i| {
            !done[i]
                && items[i]
                    .depends_on
                    .iter()
                    .all(|d| items.iter().zip(&done).any(|(x, ok)| *ok && &x.id == d))
        }) else {
            return false;
        };
        done[i] = true;
    }
    true
}

/// Runs one item: statistics, `batchItem` faults, then the shared dispatch.
fn run_item(app: &App, item_req: &Req) -> GraphResponse {
    let seq = lock(&app.stats).arrival(Target::BatchItem, item_req);
    let fault = lock(&app.faults).take(
        Target::BatchItem,
        item_req.identity(&item_req.path_and_query()),
    );
    let resp = match fault {
        Some(FaultAction::Status {
            status,
            retry_after,
            body,
        }) => GraphResponse::from_resp(faults::status_response(
            Target::BatchItem,
            status,
            retry_after.as_deref(),
            body.as_deref(),
            item_req,
        )),
        _ => dispatch(app, item_req, true),
    };
    lock(&app.stats).finish(seq, resp.status);
    resp
}

/// `POST /v1.0/$batch`
pub fn handle(app: &App, req: &Req, ctx: &Ctx) -> GraphResponse {
    let bad = |m: &str| ctx.error(400, "BadRequest", m);
    let Ok(payload) = serde_json::from_slice::<Value>(&req.body) else {
        return bad("Invalid batch payload format.");
    };
    let Some(raw) = payload.get("requests").and_then(Value::as_array) else {
        return bad("Invalid batch payload format.");
    };
    if raw.len() > MAX_ITEMS {
        return bad(&format!(
            "The number of requests in the batch exceeds the limit of {MAX_ITEMS}."
        ));
    }
    let mut items = Vec::with_capacity(raw.len());
    for v in raw {
        match parse_item(v, ctx) {
            Ok(i) => items.push(i),
            Err(e) => return e,
        }
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|x| x.id == item.id) {
            return bad(&format!(
                "Batch request contains duplicate request id : {}.",
                item.id
            ));
        }
    }
    for item in &items {
        if let Some(d) = item
            .depends_on
            .iter()
            .find(|d| !items.iter().any(|x| &x.id == *d))
        {
            return bad(&format!(
                "Request id : {} depends on request id : {d}, which is not in the batch.",
                item.id
            ));
        }
    }
    if !acyclic(&items) {
        return bad("The batch contains a circular dependency.");
    }

    let mut results: Vec<Option<GraphResponse>> = vec![None; items.len()];
    while let Some(i) = (0..items.len()).find(|&i| {
        results[i].is_none()
            && items[i].depends_on.iter().all(|d| {
                items
                    .iter()
                    .zip(&results)
                    .any(|(x, r)| &x.id == d && r.is_some())
            })
    }) {
        let item = &items[i];
        let failed_dependency = item.depends_on.iter().any(|d| {
            items.iter().zip(&results).any(|(x, r)| {
                &x.id == d && r.as_ref().is_some_and(|r| !(200..300).contains(&r.status))
            })
        });
        let resp = match item_request(item, req, ctx) {
            Some(item_req) if !failed_dependency => run_item(app, &item_req),
            other => {
                // Not dispatched: still an item of the batch.
                lock(&app.stats).counters.batch_items += 1;
                if failed_dependency {
                    ctx.error(424, "FailedDependency", "Failed dependency.")
                } else {
                    debug_assert!(other.is_none());
                    ctx.error(
                        400,
                        "BadRequest",
                        &format!(
                            "Invalid request URL '{}': batch URLs must be relative.",
                            item.url
                        ),
                    )
                }
            }
        };
        results[i] = Some(resp);
    }

    // Answer in reverse request order: clients must correlate by id.
    let responses: Vec<Value> = items
        .iter()
        .zip(results)
        .rev()
        .map(|(item, r)| {
            let r = r.unwrap_or_else(|| ctx.error(424, "FailedDependency", "Failed dependency."));
            let mut headers = Map::new();
            for (k, v) in &r.headers {
                headers.insert(k.clone(), Value::String(v.clone()));
            }
            if r.body.is_some()
                && !headers
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                headers.insert(
                    "Content-Type".into(),
                    Value::String(super::CONTENT_TYPE.into()),
                );
            }
            let mut out = json!({"id": item.id, "status": r.status, "headers": headers});
            if let Some(body) = r.body {
                out["body"] = body;
            }
            out
        })
        .collect();
    GraphResponse::new(200, Some(json!({ "responses": responses })))
}
