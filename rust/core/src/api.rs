//! The JSON operation layer the FFI crate drives. One request = `{"op": "...", "args": {...}}`;
//! the answer is a JSON value or a typed [`Error`]. Progress, warnings, verbose lines and
//! streamed result items go to an [`EventSink`] while the operation runs.
//!
//! Operations (the contract with the PowerShell layer; add, never rename):
//!
//! | op | args | result |
//! |---|---|---|
//! | `engine.info` | – | `{version, environmentVariables}` |
//! | `identity.connect` | see `context::ConnectArgs`; secret = access token for `AccessToken` | context description + `context` id |
//! | `identity.context` | `{context}` | context description |
//! | `identity.disconnect` | `{context}` | `{}` |
//! | `identity.token` | `{context, resource?, forceRefresh?}` | token metadata (never the token) |
//! | `identity.testEndpoint` | `{environment}` | one row per source |
//! | `graph.*` | see `graph` module | items streamed as `Item` events + a summary |
//! | `diagnostics.panic` | – | panics (test hook: proves panics never cross the FFI) |
//! | `diagnostics.sleep` | `{ms}` | sleeps (test hook for cancellation) |

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::clock::SharedClock;
use crate::context::{self, Context};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::http::{ClientKind, HttpClients, ReqwestTransport, Transport};
use crate::secret::Secret;

/// Process-wide services shared by every context: clock, HTTP transports (over clients built
/// lazily, once per kind) and the token cache.
pub struct Services {
    pub clock: SharedClock,
    /// The process's HTTP clients (reports whether a TLS client was ever built).
    pub http: Arc<HttpClients>,
    /// Managed-identity endpoints: no proxy, no TLS root store for plain http.
    pub mi_transport: Arc<dyn Transport>,
    /// Graph, Entra, ARM.
    pub service_transport: Arc<dyn Transport>,
    pub cache: crate::cache::TokenCache,
}

impl Services {
    pub fn new(clock: SharedClock) -> Result<Self> {
        let http = Arc::new(HttpClients::new());
        Ok(Self {
            mi_transport: Arc::new(ReqwestTransport::new(
                http.clone(),
                ClientKind::ManagedIdentity,
            )),
            service_transport: Arc::new(ReqwestTransport::new(http.clone(), ClientKind::Service)),
            http,
            cache: crate::cache::TokenCache::new(clock.clone()),
            clock,
        })
    }

    /// The same services with other transports (tests: fakes without a server).
    pub fn with_transports(
        mut self,
        mi_transport: Arc<dyn Transport>,
        service_transport: Arc<dyn Transport>,
    ) -> Self {
        self.mi_transport = mi_transport;
        self.service_transport = service_transport;
        self
    }
}

#[derive(Debug, Deserialize)]
struct Request {
    op: String,
    #[serde(default)]
    args: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextArg {
    context: u64,
}

/// The engine: services plus the registry of live contexts. Handles are random, nonzero and
/// below 2^53 (exact in a JSON number in every client), drawn from the OS CSPRNG: a handle cannot
/// be guessed from another one (issue 8.3).
pub struct Engine {
    services: Arc<Services>,
    contexts: Mutex<HashMap<u64, Arc<Context>>>,
}

/// Largest handle + 1: JSON numbers are exact up to 2^53 in every client.
pub const HANDLE_LIMIT: u64 = 1 << 53;

/// A fresh random handle in `1..2^53`.
fn random_handle() -> Result<u64> {
    loop {
        let raw = getrandom::u64()
            .map_err(|e| Error::internal(format!("the OS random generator failed: {e}")))?;
        let handle = raw & (HANDLE_LIMIT - 1);
        if handle != 0 {
            return Ok(handle);
        }
    }
}

impl Engine {
    pub fn new(clock: SharedClock) -> Result<Self> {
        Ok(Self {
            services: Arc::new(Services::new(clock)?),
            contexts: Mutex::new(HashMap::new()),
        })
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Parses and runs one request. `secret` carries a value that must never travel in JSON
    /// (an access token or client secret). Output objects (results and streamed items) leave
    /// with PowerShell-style PascalCase property names.
    /// `graph.request` output is Graph's own JSON and passes through unchanged.
    pub async fn execute(
        &self,
        request: &[u8],
        secret: Option<Secret>,
        sink: &dyn EventSink,
    ) -> Result<Value> {
        let request: Request = serde_json::from_slice(request)
            .map_err(|e| Error::invalid_argument(format!("malformed engine request: {e}")))?;
        if request.op == "graph.request" {
            return self.dispatch(request, secret, sink).await;
        }
        let sink = &OutputSink(sink);
        self.dispatch(request, secret, sink).await.map(pascal_case)
    }

    async fn dispatch(
        &self,
        request: Request,
        secret: Option<Secret>,
        sink: &dyn EventSink,
    ) -> Result<Value> {
        let svc = &*self.services;
        match request.op.as_str() {
            "engine.info" => Ok(json!({
                "version": env!("CARGO_PKG_VERSION"),
                "environmentVariables": crate::env::VARIABLES,
            })),
            "identity.connect" => {
                let ctx = context::connect(request.args, secret, svc, sink).await?;
                let ctx = Arc::new(ctx);
                let mut description = ctx.describe(svc, sink).await?;
                let id = self.register(ctx)?;
                description["handle"] = json!(id);
                Ok(description)
            }
            "identity.context" => {
                let (id, ctx) = self.context_from(&request.args)?;
                let mut description = ctx.describe(svc, sink).await?;
                description["handle"] = json!(id);
                Ok(description)
            }
            "identity.disconnect" => {
                let arg: ContextArg = parse_args(&request.args)?;
                let removed = self.lock_contexts().remove(&arg.context);
                if let Some(identity) = removed.as_deref().and_then(Context::cache_identity) {
                    svc.cache.remove_identity(identity);
                }
                Ok(json!({}))
            }
            "identity.token" => {
                let (_, ctx) = self.context_from(&request.args)?;
                context::token_operation(&ctx, &request.args, svc, sink).await
            }
            "identity.testEndpoint" => {
                let report = context::test_endpoints(&request.args, svc, sink).await?;
                let selected = report.get("selected").cloned().unwrap_or(Value::Null);
                for row in report
                    .get("sources")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let mut row = row.clone();
                    row["selected"] =
                        json!(!selected.is_null() && row.get("source") == Some(&selected));
                    sink.emit(Event::Item { item: row });
                }
                Ok(json!({ "selected": selected }))
            }
            op if op.starts_with("graph.") => {
                let (_, ctx) = self.context_from(&request.args)?;
                crate::graph::execute(op, &ctx, &request.args, svc, sink).await
            }
            "diagnostics.panic" => panic!("diagnostics.panic was requested"),
            "diagnostics.sleep" => {
                let ms = request
                    .args
                    .get("ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000);
                svc.clock.sleep(Duration::from_millis(ms)).await;
                Ok(json!({"sleptMs": ms}))
            }
            other => Err(Error::invalid_argument(format!(
                "unknown engine operation '{other}'"
            ))),
        }
    }

    /// The fast path of `Get-IdentityToken`: a fresh cached token for (context, resource), or
    /// `None` when the caller must run `identity.token` first. Never touches the network.
    pub fn cached_token(&self, context: u64, resource: Option<&str>) -> Option<Secret> {
        let ctx = self.lock_contexts().get(&context).cloned()?;
        ctx.cached_token(resource, &self.services)
    }

    /// Stores a context under a fresh random handle.
    fn register(&self, ctx: Arc<Context>) -> Result<u64> {
        loop {
            let handle = random_handle()?;
            let mut contexts = self.lock_contexts();
            if let std::collections::hash_map::Entry::Vacant(slot) = contexts.entry(handle) {
                slot.insert(ctx);
                return Ok(handle);
            }
        }
    }

    fn context_from(&self, args: &Value) -> Result<(u64, Arc<Context>)> {
        let arg: ContextArg = parse_args(args)?;
        let ctx = self
            .lock_contexts()
            .get(&arg.context)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotConnected,
                    "this context was disconnected or never existed; run Connect-Identity first",
                )
            })?;
        Ok((arg.context, ctx))
    }

    fn lock_contexts(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Context>>> {
        self.contexts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Deserializes an operation's arguments, turning schema errors into `InvalidArgument`.
pub fn parse_args<T: for<'de> Deserialize<'de>>(args: &Value) -> Result<T> {
    T::deserialize(args).map_err(|e| Error::invalid_argument(format!("invalid arguments: {e}")))
}

/// Renames object keys from camelCase to PascalCase, recursively (`expiresOn` → `ExpiresOn`).
pub fn pascal_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let mut chars = key.chars();
                    let key = match chars.next() {
                        Some(first) => first.to_uppercase().chain(chars).collect(),
                        None => key,
                    };
                    (key, pascal_case(value))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal_case).collect()),
        other => other,
    }
}

/// Gives streamed items the same PascalCase shape as results.
struct OutputSink<'a>(&'a dyn EventSink);

impl EventSink for OutputSink<'_> {
    fn emit(&self, event: Event) {
        match event {
            Event::Item { item } => self.0.emit(Event::Item {
                item: pascal_case(item),
            }),
            other => self.0.emit(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_random_nonzero_and_below_2_pow_53() {
        let handles: std::collections::HashSet<u64> =
            (0..200).map(|_| random_handle().expect("handle")).collect();
        assert_eq!(handles.len(), 200, "no repeats");
        assert!(handles.iter().all(|h| (1..HANDLE_LIMIT).contains(h)));
        let mut sorted: Vec<u64> = handles.into_iter().collect();
        sorted.sort_unstable();
        assert!(
            sorted.windows(2).filter(|w| w[1] - w[0] == 1).count() < 3,
            "not sequential"
        );
        // Spread over the range: some handle above 2^52 among 200 (probability 1 - 2^-200).
        assert!(sorted.last().is_some_and(|h| *h >= 1 << 52));
    }

    #[test]
    fn output_keys_become_pascal_case_recursively() {
        let v = pascal_case(
            json!({"expiresOn": 1, "error": {"errorId": "x"}, "list": [{"a": 1}], "Already": 2}),
        );
        assert_eq!(
            v,
            json!({"ExpiresOn": 1, "Error": {"ErrorId": "x"}, "List": [{"A": 1}], "Already": 2})
        );
    }
}
