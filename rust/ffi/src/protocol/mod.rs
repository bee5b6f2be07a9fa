//! The protocol edge: the JSON operation layer of the FFI crate, and the only place that knows
//! the wire. One request = `{"op": "...", "args": {...}}`, decoded once into a [`Request`]
//! variant with typed arguments; the answer is a JSON value or a typed [`Error`] (as
//! [`error_json`]). Progress, warnings, verbose lines and streamed result items (core's typed
//! rows, serialized here) go to an [`EventSink`] while the operation runs.
//!
//! Here and nowhere else: operation names ([`ops`], [`request`]), argument decoding into the
//! typed domain options ([`args`], [`arm_args`], [`permission_args`]), PascalCase keys
//! ([`casing`]), error kind → PowerShell category ([`errors`]) and the cmdlet parameter names
//! that messages mention ([`params`]). The core crate knows none of it.
//!
//! Operations (the contract with the PowerShell layer; add, never rename):
//!
//! | op | args | result |
//! |---|---|---|
//! | `engine.info` | – | `{version, environmentVariables, secretEnvironmentVariables, parameterNames, httpsClientCreated}` (diagnostics and tests; the host reads the variable names through plain exports) |
//! | `identity.connect` | see [`args::ConnectArgs`]; secret = access token for `AccessToken`, else the secret object of [`secret_fields`] | context description + `handle` |
//! | `identity.context` | `{context}` | context description |
//! | `identity.disconnect` | `{context}` | `{}` (the identity's cached tokens are dropped) |
//! | `identity.token` | `{context, resource?, forceRefresh?}` | token metadata (never the token) |
//! | `identity.testEndpoint` | `{environment, timeoutSeconds?}`; secret = the secret object of [`secret_fields`] (its variables) | one row per source (items) + `{selected}` |
//! | `graph.*` | see [`managed_identity_core::graph`] | items streamed as `Item` events + a summary |
//! | `permissions.*` | see [`managed_identity_core::permissions`] | rows streamed as `Item` events + a summary |
//! | `graph.mergeRequests` | `{requests: [{identity, permissions, resource?, new?}]}` | `{requests}` merged per identity and API (no request is sent) |
//! | `permissions.tokenCheck` | `{context, permissions, refresh?, wait?, timeoutSeconds?=300}` | [`managed_identity_core::permissions::token_check::TokenPermissionRow`] items + `{count, present}` |
//! | `arm.*` | see [`managed_identity_core::arm`] | rows streamed as `Item` events + `{count, subscriptionId, requests}` |
//! | `diagnostics.panic` | – | panics (test hook: proves panics never cross the FFI) |
//! | `diagnostics.sleep` | `{ms}` | sleeps (test hook for cancellation) |
//!
//! `identity.connect`'s `method`: `ManagedIdentity` (default), `AccessToken`, and the issue-10
//! sign-ins `ClientSecret`, `Certificate`, `WorkloadIdentity`, `EnvironmentVariable`,
//! `DeviceCode`, `Browser`, `AzureCli`, with `tenantId`, `clientId` (the application),
//! `scopes`, `certificatePath`, `cloud` (`-Environment`), `authorityHost`,
//! `federatedTokenFile`. Secrets (client secret, certificate password, exported private key)
//! travel only in the secret object ([`secret_fields`]). Descriptions add `principalType`
//! (`Delegated`/`AppOnly`), `scopes` (`scp`), `account` and `environment` (the cloud).
//!
//! With test hooks, the engine refuses a secret variable in a request's JSON `environment`,
//! and a browser sign-in follows the authorize URL with a scripted browser when
//! `MANAGEDIDENTITY_TEST_ONLY_BROWSER` is `follow` (or `wrongState`: a forged `state`).
//!
//! The `diagnostics.*` test hooks answer only on an engine built [`Engine::with_test_hooks`]
//! (the FFI enables them when [`TEST_HOOKS_VARIABLE`] is set at engine start); any other engine
//! refuses them with `InvalidArgument` (issue 8.10).

pub mod args;
pub mod arm_args;
pub mod casing;
pub mod errors;
pub mod ops;
pub mod params;
pub mod permission_args;
pub mod request;
pub mod secret_fields;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use managed_identity_core::clock::SharedClock;
use managed_identity_core::context::{self, ConnectMethod, Context};
use managed_identity_core::error::{Error, ErrorKind, Result};
use managed_identity_core::events::{Event, EventSink};
use managed_identity_core::secret::Secret;
use managed_identity_core::services::Services;
use managed_identity_core::sources::{Detection, SourceReport};

pub use casing::pascal_case;
pub use errors::error_json;
pub use request::Request;

/// The engine: services plus the registry of live contexts. Handles are random, nonzero and
/// below 2^53 (exact in a JSON number in every client), drawn from the OS CSPRNG: a handle cannot
/// be guessed from another one (issue 8.3).
pub struct Engine {
    services: Arc<Services>,
    contexts: Mutex<HashMap<u64, Arc<Context>>>,
    /// `diagnostics.*` operations answer only when set (tests); off in production.
    test_hooks: bool,
}

/// The environment variable that, set to `1` when the engine starts, enables the
/// `diagnostics.*` test hooks. Its name says what it is for; nothing but the test suites sets it.
pub const TEST_HOOKS_VARIABLE: &str = "MANAGEDIDENTITY_ENGINE_TEST_HOOKS";

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

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| Error::internal(format!("cannot serialize a result: {e}")))
}

impl Engine {
    pub fn new(clock: SharedClock) -> Result<Self> {
        Ok(Self::with_services(Services::new(clock)?))
    }

    /// An engine over given services (tests: fake transports).
    pub fn with_services(services: Services) -> Self {
        Self {
            services: Arc::new(services),
            contexts: Mutex::new(HashMap::new()),
            test_hooks: false,
        }
    }

    /// Enables (or not) the `diagnostics.*` test hooks. Production engines never call this with
    /// `true`; the FFI does only when [`TEST_HOOKS_VARIABLE`] is `1` at engine start.
    pub fn with_test_hooks(mut self, enabled: bool) -> Self {
        self.test_hooks = enabled;
        self
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    /// Parses and runs one request. `secret` carries a value that must never travel in JSON
    /// (an access token or client secret). Output objects (results and streamed items) leave
    /// with PowerShell-style PascalCase property names; `graph.request` output is Graph's own
    /// JSON and passes through unchanged. Messages leave with cmdlet parameter names.
    pub async fn execute(
        &self,
        request: &[u8],
        secret: Option<Secret>,
        sink: &dyn EventSink,
    ) -> Result<Value> {
        let request = Request::decode(request);
        let raw = request.as_ref().is_ok_and(Request::is_raw);
        let sink = &OutputSink { inner: sink, raw };
        let result = match request {
            Ok(request) => self.dispatch(request, secret, sink).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(value) if raw => Ok(value),
            Ok(value) => Ok(pascal_case(value)),
            Err(mut error) => {
                error.message = params::render(&error.message);
                if let Some(details) = &mut error.details {
                    params::render_value(details);
                }
                Err(error)
            }
        }
    }

    async fn dispatch(
        &self,
        request: Request,
        secret: Option<Secret>,
        sink: &dyn EventSink,
    ) -> Result<Value> {
        let svc = &*self.services;
        if let Some(hook) = request.test_hook().filter(|_| !self.test_hooks) {
            return Err(Error::invalid_argument(format!(
                "'{hook}' is a test hook and this engine was started without them \
                 (they answer only when {TEST_HOOKS_VARIABLE}=1 is set at engine start)"
            )));
        }
        let request = match request.graph() {
            Ok(call) => {
                let call = call?;
                let ctx = self.context(call.context)?;
                let client = graph_client(&ctx, svc, sink);
                let summary = managed_identity_core::graph::run(
                    call.operation,
                    call.concurrency,
                    client,
                    sink,
                )
                .await?;
                return to_json(&summary);
            }
            Err(other) => *other,
        };
        let request = match request.arm() {
            Ok(call) => {
                let call = call?;
                let ctx = self.context(call.context)?;
                let client = managed_identity_core::arm::ArmClient::new(
                    svc.service_transport.clone(),
                    svc.clock.clone(),
                    ctx.arm().endpoint.clone(),
                    Box::new(context::ContextTokens::arm(&ctx, svc, sink)),
                );
                let default_subscription = ctx.arm().subscription_id.as_deref();
                let summary = managed_identity_core::arm::run(
                    call.operation,
                    default_subscription,
                    &client,
                    sink,
                )
                .await?;
                return to_json(&summary);
            }
            Err(other) => *other,
        };
        match request {
            Request::EngineInfo(_) => Ok(json!({
                "version": managed_identity_core::ENGINE_VERSION,
                "environmentVariables": managed_identity_core::env::VARIABLES,
                "secretEnvironmentVariables": managed_identity_core::env::SECRET_VARIABLES,
                "parameterNames": params::all(),
                "httpsClientCreated": svc.http.https_client_created(),
            })),
            Request::Connect(a) => {
                self.refuse_secret_variables_in_json(a.environment())?;
                let mut options = (*a).options()?;
                // An access-token connect's secret is the token; any other's is the secret
                // object of `secret_fields` (secret variables, issue 8.9, and sign-in secrets).
                let secret = match options.method {
                    ConnectMethod::AccessToken => secret,
                    _ => {
                        if let Some(values) = &secret {
                            let (variables, sign_in) = secret_fields::split(values)?;
                            if let Some(variables) = &variables {
                                options.environment.add_secret_variables(variables)?;
                            }
                            options.sign_in.secrets = sign_in;
                        }
                        None
                    }
                };
                if self.test_hooks {
                    options.sign_in.test_browser = test_browser(&options.environment)?;
                }
                let ctx = Arc::new(context::connect(options, secret, svc, sink).await?);
                let mut description = to_json(&ctx.describe(svc, sink).await?)?;
                let id = self.register(ctx)?;
                description["handle"] = json!(id);
                Ok(description)
            }
            Request::Context(a) => {
                let ctx = self.context(a.context)?;
                let mut description = to_json(&ctx.describe(svc, sink).await?)?;
                description["handle"] = json!(a.context);
                Ok(description)
            }
            Request::Disconnect(a) => {
                let removed = self.lock_contexts().remove(&a.context);
                if let Some(identity) = removed.as_deref().and_then(Context::cache_identity) {
                    svc.cache.remove_identity(identity);
                }
                Ok(json!({}))
            }
            Request::Token(a) => {
                let ctx = self.context(a.context)?;
                let info = ctx
                    .token_info(a.args.resource.as_deref(), a.args.force_refresh, svc, sink)
                    .await?;
                to_json(&info)
            }
            Request::TestEndpoint(a) => {
                self.refuse_secret_variables_in_json(a.environment())?;
                let mut options = a.options();
                if let Some(values) = &secret {
                    if let (Some(variables), _) = secret_fields::split(values)? {
                        options.environment.add_secret_variables(&variables)?;
                    }
                }
                let report = context::test_endpoints(options, svc).await?;
                let selected = report.selected().map(|s| s.name());
                for row in &report.reports {
                    let mut item = source_report_json(row);
                    item["selected"] = json!(selected == Some(row.source.name()));
                    item["engineVersion"] = json!(managed_identity_core::ENGINE_VERSION);
                    sink.emit(Event::item(item));
                }
                Ok(json!({ "selected": selected }))
            }
            Request::PermissionsFind(a) => {
                to_json(&managed_identity_core::permissions::find(a.query(), sink)?)
            }
            Request::PermissionsAnalyze(a) => {
                to_json(&managed_identity_core::permissions::analyze(
                    &a.scripts,
                    a.command_metadata_path.as_deref(),
                    sink,
                )?)
            }
            Request::PermissionsTest(a) => {
                let ctx = self.context(a.context)?;
                let a = a.args;
                let scheme = a.scheme()?;
                let held = if scheme == managed_identity_core::permissions::Scheme::Application {
                    let identity = match a.identity.as_deref().map(str::trim) {
                        Some(i) if !i.is_empty() => i.to_string(),
                        _ => ctx.describe(svc, sink).await?.object_id.ok_or_else(|| {
                            Error::invalid_argument(
                                "this context's token names no object id; pass -Identity",
                            )
                        })?,
                    };
                    let client = graph_client(&ctx, svc, sink);
                    managed_identity_core::permissions::held_app_roles(&client, &identity, sink)
                        .await?
                } else {
                    let d = ctx.describe(svc, sink).await?;
                    managed_identity_core::permissions::Held {
                        identity: d.account.clone().or(d.object_id.clone()),
                        identity_id: None,
                        identity_name: d.account,
                        permissions: d.scopes,
                    }
                };
                to_json(&managed_identity_core::permissions::test(
                    &a.scripts,
                    a.command_metadata_path.as_deref(),
                    scheme,
                    &held,
                    sink,
                )?)
            }
            Request::GraphMergeRequests(a) => Ok(args::merge_requests(a)),
            Request::PermissionsTokenCheck(a) => {
                let ctx = self.context(a.context)?;
                let check = permission_args::token_check(a.args)?;
                let tokens = context::ContextTokens::graph(&ctx, svc, sink);
                let client = graph_client(&ctx, svc, sink);
                let rows = managed_identity_core::permissions::token_check::run(
                    &tokens, &client, &check, sink,
                )
                .await?;
                let present = rows
                    .iter()
                    .filter(|r| {
                        r.status == managed_identity_core::permissions::token_check::TokenPermissionStatus::Present
                    })
                    .count();
                let count = rows.len();
                for row in rows {
                    sink.emit(Event::item(row));
                }
                Ok(json!({"count": count, "present": present}))
            }
            Request::DiagnosticsPanic(_) => panic!("diagnostics.panic was requested"),
            Request::DiagnosticsSleep(a) => {
                let ms = a.ms.unwrap_or(1000);
                svc.clock.sleep(Duration::from_millis(ms)).await;
                Ok(json!({"sleptMs": ms}))
            }
            // Graph and ARM requests returned above; no request text goes into the message.
            _ => Err(Error::internal(
                "a Graph or ARM request reached the general dispatch",
            )),
        }
    }

    /// The fast path of `Get-IdentityToken`: a fresh cached token for (context, resource), or
    /// `None` when the caller must run `identity.token` first. Never touches the network.
    pub fn cached_token(&self, context: u64, resource: Option<&str>) -> Option<Secret> {
        let ctx = self.lock_contexts().get(&context).cloned()?;
        ctx.cached_token(resource, &self.services)
    }

    /// Test hooks only: the module's tests prove no secret variable travels in JSON.
    fn refuse_secret_variables_in_json(&self, environment: &HashMap<String, Value>) -> Result<()> {
        let found = args::secret_variables_in_json(environment);
        if self.test_hooks && !found.is_empty() {
            return Err(Error::invalid_argument(format!(
                "test hook: {} arrived in the request JSON; secret variables travel only in the operation's secret",
                found.join(", ")
            )));
        }
        Ok(())
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

    /// The live context behind a handle.
    fn context(&self, handle: u64) -> Result<Arc<Context>> {
        self.lock_contexts().get(&handle).cloned().ok_or_else(|| {
            Error::new(
                ErrorKind::NotConnected,
                "this context was disconnected or never existed; run Connect-Identity first",
            )
        })
    }

    fn lock_contexts(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Context>>> {
        self.contexts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The variable naming the test browser's behaviour (read only by an engine with test hooks).
pub const TEST_BROWSER_VARIABLE: &str = "MANAGEDIDENTITY_TEST_ONLY_BROWSER";

/// `follow` or `wrongState` (test hooks only): the browser sign-in's scripted browser.
fn test_browser(
    env: &dyn managed_identity_core::env::Environment,
) -> Result<Option<context::options::TestBrowser>> {
    use context::options::TestBrowser;
    match env.var(TEST_BROWSER_VARIABLE).as_deref() {
        None => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("follow") => Ok(Some(TestBrowser::Follow)),
        Some(v) if v.eq_ignore_ascii_case("wrongState") => Ok(Some(TestBrowser::WrongState)),
        Some(other) => Err(Error::invalid_argument(format!(
            "{TEST_BROWSER_VARIABLE} is '{other}'; expected follow or wrongState"
        ))),
    }
}

/// One `Test-IdentityEndpoint` row on the wire, its reason naming the cmdlets' parameters.
pub fn source_report_json(row: &SourceReport) -> Value {
    json!({
        "source": row.source.name(),
        "detected": row.detected,
        "available": row.available,
        "endpoint": row.endpoint,
        "reason": params::render(&row.reason),
    })
}

/// `{selected, sources:[…]}`: the whole detection report.
pub fn detection_json(detection: &Detection) -> Value {
    json!({
        "selected": detection.selected().map(|s| s.name()),
        "sources": detection.reports.iter().map(source_report_json).collect::<Vec<_>>(),
    })
}

/// Renders messages with parameter names and gives streamed items the result's shape
/// (PascalCase keys and complete item errors), except Graph's own JSON (`raw`).
struct OutputSink<'a> {
    inner: &'a dyn EventSink,
    raw: bool,
}

impl EventSink for OutputSink<'_> {
    fn emit(&self, event: Event) {
        let event = match event {
            Event::Item { item } if self.raw => Event::Item { item },
            Event::Item { item } => {
                // The row's wire shape: its serde form, item error completed, keys PascalCase.
                let mut item = serde_json::to_value(&*item).unwrap_or(Value::Null);
                errors::complete_item_error(&mut item);
                params::render_value(&mut item);
                Event::item(pascal_case(item))
            }
            Event::Warning { message } => Event::Warning {
                message: params::render(&message),
            },
            Event::Verbose { message } => Event::Verbose {
                message: params::render(&message),
            },
            progress @ Event::Progress { .. } => progress,
        };
        self.inner.emit(event);
    }
}

/// A Graph client speaking for a context: its Graph endpoint, tokens for its Graph resource.
fn graph_client<'a>(
    ctx: &'a Context,
    svc: &'a Services,
    sink: &'a dyn EventSink,
) -> managed_identity_core::graph::GraphClient<'a> {
    managed_identity_core::graph::GraphClient::with_transport(
        svc.service_transport.clone(),
        svc.clock.clone(),
        ctx.graph_endpoint().clone(),
        Box::new(context::ContextTokens::graph(ctx, svc, sink)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use managed_identity_core::clock::FakeClock;
    use managed_identity_core::events::VecSink;

    async fn run(engine: &Engine, request: Value) -> Result<Value> {
        engine
            .execute(request.to_string().as_bytes(), None, &VecSink::default())
            .await
    }

    #[tokio::test]
    async fn engine_info_exports_the_parameter_table_and_the_tls_flag() {
        let engine = Engine::new(Arc::new(FakeClock::at_unix(1))).expect("engine");
        let info = run(&engine, json!({"op": "engine.info"}))
            .await
            .expect("info");
        assert_eq!(info["HttpsClientCreated"], false);
        let names = info["ParameterNames"].as_array().expect("table");
        assert!(names.contains(&json!({"Command": "Connect-Identity", "Parameter": "TimeoutSec"})));
        assert!(info["EnvironmentVariables"].as_array().is_some());
    }

    /// The drift the issue names: messages said -TimeoutSeconds and -GraphResource, which no
    /// cmdlet has.
    #[tokio::test]
    async fn messages_leave_with_the_cmdlets_parameter_names() {
        let engine = Engine::new(Arc::new(FakeClock::at_unix(1))).expect("engine");
        let e = run(
            &engine,
            json!({"op": "identity.connect", "args": {"timeoutSeconds": 0}}),
        )
        .await
        .expect_err("invalid");
        assert!(
            e.message.starts_with("-TimeoutSec must be"),
            "{}",
            e.message
        );
        let e = run(
            &engine,
            json!({"op": "identity.connect", "args": {"graphResource": " "}}),
        )
        .await
        .expect_err("invalid");
        assert!(
            !e.message.contains('«') && !e.message.contains("-GraphResource"),
            "{}",
            e.message
        );
        let e = run(
            &engine,
            json!({"op": "identity.connect", "args": {"clientId": "x", "objectId": "y"}}),
        )
        .await
        .expect_err("invalid");
        assert!(e.message.contains("-ClientId"), "{}", e.message);
    }

    /// Issue 22: the least-privilege operations answer without a connection (find, analyze)
    /// and leave with the module's PascalCase keys; the test needs a context.
    #[tokio::test]
    async fn permission_operations_run_without_a_connection() {
        let engine = Engine::new(Arc::new(FakeClock::at_unix(1))).expect("engine");
        let sink = VecSink::default();
        let request = json!({"op": "permissions.find", "args": {"method": "POST", "uri": "/users/x/sendMail"}});
        let summary = engine
            .execute(request.to_string().as_bytes(), None, &sink)
            .await
            .expect("find");
        assert_eq!(summary["Count"], 1);
        let items: Vec<Value> = sink.items();
        assert_eq!(items[0]["Application"], json!(["Mail.Send"]));
        assert_eq!(items[0]["PathTemplate"], "/users/{id}/sendmail");
        let analyzed = run(
            &engine,
            json!({"op": "permissions.analyze", "args": {"scripts": [{"file": "a.ps1", "callSites": [
                {"line": 3, "command": "Invoke-GraphApiRequest", "elements": [{"value": [{"text": "/auditLogs/signIns"}]}]}
            ]}]}}),
        )
        .await
        .expect("analyze");
        assert_eq!(analyzed["Application"], json!(["AuditLog.Read.All"]));
        let e = run(
            &engine,
            json!({"op": "permissions.test", "args": {"context": 7, "scripts": []}}),
        )
        .await
        .expect_err("no context");
        assert_eq!(e.kind, ErrorKind::NotConnected);
    }

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

    /// Issue 8.9: with test hooks the engine refuses a secret variable in the JSON environment
    /// (the module's Pester test relies on it); the secret object carries them instead.
    #[tokio::test]
    async fn test_hooks_refuse_secret_variables_in_json() {
        let engine = Engine::new(Arc::new(FakeClock::at_unix(1)))
            .expect("engine")
            .with_test_hooks(true);
        for op in ["identity.connect", "identity.testEndpoint"] {
            let e = run(
                &engine,
                json!({"op": op, "args": {"environment": {"IDENTITY_HEADER": "h-value"}}}),
            )
            .await
            .expect_err("refused");
            assert!(e.message.contains("IDENTITY_HEADER"), "{}", e.message);
            assert!(!e.message.contains("h-value"), "{}", e.message);
        }
        let e = engine
            .execute(
                json!({"op": "identity.connect", "args": {"method": "ClientSecret", "tenantId": "t"}})
                    .to_string()
                    .as_bytes(),
                Some(Secret::new(r#"{"AZURE_CLIENT_SECRET": "v", "pin": "1234"}"#)),
                &VecSink::default(),
            )
            .await
            .expect_err("unknown secret field");
        assert!(
            e.message.contains("'pin'") && !e.message.contains("1234"),
            "{}",
            e.message
        );
    }

    /// Issue 8.10: a production engine refuses the test hooks with a typed error and does not
    /// panic or sleep; an engine built with the hooks runs them.
    #[tokio::test]
    async fn diagnostics_operations_answer_only_with_test_hooks() {
        let engine = Engine::new(Arc::new(FakeClock::at_unix(1))).expect("engine");
        for op in [ops::DIAGNOSTICS_PANIC, ops::DIAGNOSTICS_SLEEP] {
            let e = run(&engine, json!({"op": op, "args": {"ms": 1}}))
                .await
                .expect_err("refused");
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{op}");
            assert!(e.message.contains(TEST_HOOKS_VARIABLE), "{}", e.message);
        }
        let engine = Engine::new(Arc::new(FakeClock::at_unix(1)))
            .expect("engine")
            .with_test_hooks(true);
        let slept = run(
            &engine,
            json!({"op": "diagnostics.sleep", "args": {"ms": 5}}),
        )
        .await
        .expect("sleeps");
        assert_eq!(slept["SleptMs"], 5);
    }
}
