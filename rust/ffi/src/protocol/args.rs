//! Argument decoding: the wire's camelCase JSON `args` of each operation → the typed options
//! of the domain. Schema errors are `InvalidArgument` ("invalid arguments: …").

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};

use super::request::{OnGraph, Request};
use managed_identity_core::context::options::{SignInMethod, SignInOptions};
use managed_identity_core::context::{ConnectMethod, ConnectOptions, TestEndpointOptions};
use managed_identity_core::env::SnapshotEnvironment;
use managed_identity_core::error::{Error, Result};
use managed_identity_core::graph::report::{PrincipalType, ReportQuery};
use managed_identity_core::graph::{
    AppRolesQuery, AssignmentsQuery, ChangeArgs, ChangeRequest, ChangeTarget, GrantPlan,
    GraphOperation, GraphRequest, PermissionNamesQuery,
};

/// The host's variables as sent by the module (non-string values are ignored).
fn snapshot(environment: HashMap<String, Value>) -> SnapshotEnvironment {
    let vars = environment
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some((name, s)),
            _ => None,
        })
        .collect();
    SnapshotEnvironment { vars }
}

/// `identity.connect` args.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectArgs {
    method: Option<String>,
    client_id: Option<String>,
    object_id: Option<String>,
    resource_id: Option<String>,
    resource: Option<String>,
    graph_endpoint: Option<String>,
    graph_resource: Option<String>,
    timeout_seconds: Option<f64>,
    #[serde(default)]
    environment: HashMap<String, Value>,
    // Issue 10: sign-in arguments (secrets never travel here: see `secret_fields`).
    tenant_id: Option<String>,
    #[serde(default)]
    scopes: Option<OneOrMany>,
    certificate_path: Option<String>,
    cloud: Option<String>,
    authority_host: Option<String>,
    federated_token_file: Option<String>,
    resource_manager_endpoint: Option<String>,
    subscription_id: Option<String>,
}

/// The connection methods of `identity.connect`'s `method` (case-insensitive).
const METHODS: [(&str, ConnectMethod); 9] = [
    ("ManagedIdentity", ConnectMethod::ManagedIdentity),
    ("AccessToken", ConnectMethod::AccessToken),
    (
        "ClientSecret",
        ConnectMethod::SignIn(SignInMethod::ClientSecret),
    ),
    (
        "Certificate",
        ConnectMethod::SignIn(SignInMethod::Certificate),
    ),
    (
        "WorkloadIdentity",
        ConnectMethod::SignIn(SignInMethod::WorkloadIdentity),
    ),
    (
        "EnvironmentVariable",
        ConnectMethod::SignIn(SignInMethod::EnvironmentVariable),
    ),
    (
        "DeviceCode",
        ConnectMethod::SignIn(SignInMethod::DeviceCode),
    ),
    ("Browser", ConnectMethod::SignIn(SignInMethod::Browser)),
    ("AzureCli", ConnectMethod::SignIn(SignInMethod::AzureCli)),
];

impl ConnectArgs {
    /// The typed connect options.
    pub fn options(self) -> Result<ConnectOptions> {
        connect_options_of(self)
    }
}

/// `identity.connect`'s options from the module's JSON args (tests build requests as JSON).
pub fn connect_options(args: &Value) -> Result<ConnectOptions> {
    match Request::from_json(super::ops::IDENTITY_CONNECT, args.clone())? {
        Request::Connect(a) => (*a).options(),
        _ => Err(Error::internal("the request decoded as another operation")),
    }
}

fn connect_options_of(a: ConnectArgs) -> Result<ConnectOptions> {
    let method = a.method.as_deref().unwrap_or("ManagedIdentity");
    let Some(method) = METHODS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(method))
        .map(|(_, m)| *m)
    else {
        let names: Vec<&str> = METHODS.iter().map(|(n, _)| *n).collect();
        return Err(Error::invalid_argument(format!(
            "unknown connection method '{method}'; this version supports {}",
            names.join(", ")
        )));
    };
    Ok(ConnectOptions {
        method,
        client_id: a.client_id,
        object_id: a.object_id,
        resource_id: a.resource_id,
        resource: a.resource,
        graph_endpoint: a.graph_endpoint,
        graph_resource: a.graph_resource,
        timeout_seconds: a.timeout_seconds,
        environment: snapshot(a.environment),
        sign_in: SignInOptions {
            tenant_id: a.tenant_id,
            scopes: many(a.scopes),
            certificate_path: a.certificate_path,
            cloud: a.cloud,
            authority_host: a.authority_host,
            federated_token_file: a.federated_token_file,
            ..Default::default()
        },
        resource_manager_endpoint: a.resource_manager_endpoint,
        subscription_id: a.subscription_id,
    })
}

/// The secret variables (issue 8.9) found in a request's JSON `environment`: they belong in the
/// secret channel. An engine with test hooks refuses such a request (the module's test).
pub fn secret_variables_in_json(environment: &HashMap<String, Value>) -> Vec<String> {
    let mut found: Vec<String> = environment
        .keys()
        .filter(|k| managed_identity_core::env::SECRET_VARIABLES.contains(&k.as_str()))
        .cloned()
        .collect();
    found.sort();
    found
}

impl ConnectArgs {
    /// The host's variables as the request carries them.
    pub fn environment(&self) -> &HashMap<String, Value> {
        &self.environment
    }
}

/// `identity.testEndpoint` args.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestEndpointArgs {
    #[serde(default)]
    environment: HashMap<String, Value>,
    timeout_seconds: Option<f64>,
}

impl TestEndpointArgs {
    /// The host's variables as the request carries them.
    pub fn environment(&self) -> &HashMap<String, Value> {
        &self.environment
    }
}

impl TestEndpointArgs {
    /// The typed options.
    pub fn options(self) -> TestEndpointOptions {
        TestEndpointOptions {
            environment: snapshot(self.environment),
            timeout_seconds: self.timeout_seconds,
        }
    }
}

/// `identity.testEndpoint`'s options from the module's JSON args (tests build requests as JSON).
pub fn test_endpoint_options(args: &Value) -> Result<TestEndpointOptions> {
    match Request::from_json(super::ops::IDENTITY_TEST_ENDPOINT, args.clone())? {
        Request::TestEndpoint(a) => Ok(a.options()),
        _ => Err(Error::internal("the request decoded as another operation")),
    }
}

/// `identity.token` args.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenArgs {
    pub resource: Option<String>,
    #[serde(default)]
    pub force_refresh: bool,
}

/// A string or an array of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn many(v: Option<OneOrMany>) -> Vec<String> {
    v.map(OneOrMany::into_vec).unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRolesArgs {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamesArgs {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentsArgs {
    identities: OneOrMany,
    #[serde(default)]
    resource: Option<String>,
}

/// `graph.grant` / `revoke` / `set` args: `identities` + `permissions` (+ `resource`), or
/// `requests`: pipeline records `{identity, permissions, resource, new}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeWire {
    #[serde(default)]
    requests: Option<Vec<RecordArg>>,
    #[serde(default)]
    identities: Option<OneOrMany>,
    #[serde(default)]
    permissions: Option<OneOrMany>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    what_if: bool,
    /// Identities just created: Graph may not know them yet (see `graph::resolve::replication`).
    #[serde(default)]
    new_identities: Option<OneOrMany>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordsArgs {
    requests: Vec<RecordArg>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordArg {
    identity: String,
    #[serde(default)]
    permissions: Option<OneOrMany>,
    #[serde(default)]
    resource: Option<String>,
    /// The identity was just created (a piped New-UserAssignedIdentity result).
    #[serde(default)]
    new: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestArgs {
    #[serde(default)]
    method: Option<String>,
    uri: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    headers: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportArgs {
    #[serde(default)]
    principal_type: Option<String>,
    #[serde(default)]
    risk_table: Option<String>,
    #[serde(default)]
    baseline: Option<String>,
    #[serde(default)]
    html: bool,
    #[serde(default)]
    summary_only: bool,
}

/// `graph.report` args.
fn report_query(a: ReportArgs) -> Result<ReportQuery> {
    let principal_type = match a.principal_type.as_deref().map(str::trim) {
        None | Some("") => PrincipalType::ManagedIdentity,
        Some(t) if t.eq_ignore_ascii_case("ManagedIdentity") => PrincipalType::ManagedIdentity,
        Some(t) if t.eq_ignore_ascii_case("Application") => PrincipalType::Application,
        Some(t) if t.eq_ignore_ascii_case("All") => PrincipalType::All,
        Some(t) => {
            return Err(Error::invalid_argument(format!(
                "unknown principal type '{t}'; use ManagedIdentity, Application or All"
            )))
        }
    };
    Ok(ReportQuery {
        principal_type,
        risk_table: a.risk_table,
        baseline: a.baseline,
        html: a.html,
        summary_only: a.summary_only,
    })
}

/// `graph.mergeRequests`: `{requests: [{identity, permissions, resource?, new?}]}` →
/// `{requests: [...]}`, one per (identity, API), names trimmed, permissions de-duplicated
/// ([`managed_identity_core::graph::grouping::merge`]); `new` when any merged record was.
pub fn merge_requests(a: RecordsArgs) -> Value {
    let key = |s: &str| s.trim().to_lowercase();
    let new: Vec<String> = a
        .requests
        .iter()
        .filter(|r| r.new)
        .map(|r| key(&r.identity))
        .collect();
    let merged = managed_identity_core::graph::grouping::merge(records(a.requests));
    let out: Vec<Value> = merged
        .into_iter()
        .map(|r| {
            json!({
                "identity": r.identity,
                "permissions": r.permissions,
                "resource": r.resource,
                "new": new.contains(&key(&r.identity)),
            })
        })
        .collect();
    json!({ "requests": out })
}

fn records(requests: Vec<RecordArg>) -> Vec<ChangeRequest> {
    requests
        .into_iter()
        .map(|r| ChangeRequest {
            identity: r.identity,
            permissions: many(r.permissions),
            resource: r.resource,
        })
        .collect()
}

/// `graph.grant` / `revoke` / `set` args → the typed change (records win over a plan).
fn change_args(a: ChangeWire) -> Result<ChangeArgs> {
    if let Some(requests) = a.requests {
        let new_identities = requests
            .iter()
            .filter(|r| r.new)
            .map(|r| r.identity.clone())
            .collect();
        return Ok(ChangeArgs {
            target: ChangeTarget::Records(records(requests)),
            what_if: a.what_if,
            new_identities,
        });
    }
    let identities = a
        .identities
        .ok_or_else(|| Error::invalid_argument("invalid arguments: missing field `identities`"))?;
    Ok(ChangeArgs {
        target: ChangeTarget::Plan(GrantPlan {
            identities: identities.into_vec(),
            permissions: many(a.permissions),
            resource: a.resource,
        }),
        what_if: a.what_if,
        new_identities: many(a.new_identities),
    })
}

/// A `graph.*` request, typed: the context it runs on, the operation and its concurrency.
#[derive(Debug)]
pub struct GraphCall {
    pub context: u64,
    pub operation: GraphOperation,
    pub concurrency: Option<usize>,
}

impl Request {
    /// The Graph operation of a `graph.*` request (`Ok`, or its argument error), or the request
    /// back when it is another kind.
    pub fn graph(self) -> std::result::Result<Result<GraphCall>, Box<Request>> {
        fn call<T>(
            g: OnGraph<T>,
            typed: impl FnOnce(T) -> Result<GraphOperation>,
        ) -> Result<GraphCall> {
            Ok(GraphCall {
                context: g.context,
                concurrency: g.concurrency()?,
                operation: typed(g.args)?,
            })
        }
        Ok(match self {
            Request::GraphAppRoles(g) => call(g, |a| {
                Ok(GraphOperation::AppRoles(AppRolesQuery {
                    resource: a.resource,
                    name: a.name,
                }))
            }),
            Request::GraphGrant(g) => call(g, |a| change_args(a).map(GraphOperation::Grant)),
            Request::GraphRevoke(g) => call(g, |a| change_args(a).map(GraphOperation::Revoke)),
            Request::GraphSet(g) => call(g, |a| change_args(a).map(GraphOperation::Set)),
            Request::GraphAssignments(g) => call(g, |a| {
                Ok(GraphOperation::Assignments(AssignmentsQuery {
                    identities: a.identities.into_vec(),
                    resource: a.resource,
                }))
            }),
            Request::GraphPermissionNames(g) => call(g, |a| {
                Ok(GraphOperation::PermissionNames(PermissionNamesQuery {
                    resource: a.resource,
                    prefix: a.prefix,
                }))
            }),
            Request::GraphRequest(g) => call(g, |a| {
                Ok(GraphOperation::Request(GraphRequest {
                    method: a.method,
                    uri: a.uri,
                    body: a.body,
                    all: a.all,
                    headers: a.headers.unwrap_or_default(),
                }))
            }),
            Request::GraphReport(g) => call(g, |a| report_query(a).map(GraphOperation::Report)),
            other => return Err(Box::new(other)),
        })
    }
}

/// A `graph.*` operation decoded from the wire (tests drive Graph with the module's JSON): the
/// typed operation and its concurrency.
pub fn graph_operation(op: &str, args: &Value) -> Result<(GraphOperation, Option<usize>)> {
    let mut args = args.clone();
    if let Some(object) = args.as_object_mut() {
        object.entry("context").or_insert(json!(0));
    }
    match Request::from_json(op, args)?.graph() {
        Ok(call) => call.map(|c| (c.operation, c.concurrency)),
        Err(_) => Err(Error::invalid_argument(format!(
            "'{op}' is not a Graph operation"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connect_args_decode_to_typed_options() {
        let o = connect_options(&json!({"method": "accesstoken", "clientId": "c", "timeoutSeconds": 5, "environment": {"A": "1", "B": 2}})).expect("ok");
        assert_eq!(o.method, ConnectMethod::AccessToken);
        assert_eq!(o.client_id.as_deref(), Some("c"));
        assert_eq!(o.timeout_seconds, Some(5.0));
        assert_eq!(o.environment.vars.len(), 1);
        let e = connect_options(&json!({"method": "Password"})).expect_err("unknown");
        assert!(e.message.contains("unknown connection method 'Password'"));
        let o = connect_options(&json!({"method": "devicecode", "scopes": "User.Read", "tenantId": "t", "cloud": "China", "authorityHost": "http://127.0.0.1:1", "certificatePath": "/c.pem"})).expect("sign-in");
        assert_eq!(o.method, ConnectMethod::SignIn(SignInMethod::DeviceCode));
        assert_eq!(o.sign_in.scopes, ["User.Read"]);
        assert_eq!(o.sign_in.tenant_id.as_deref(), Some("t"));
        assert_eq!(o.sign_in.cloud.as_deref(), Some("China"));
        assert_eq!(o.sign_in.certificate_path.as_deref(), Some("/c.pem"));
        for method in [
            "ClientSecret",
            "Certificate",
            "WorkloadIdentity",
            "EnvironmentVariable",
            "Browser",
            "AzureCli",
        ] {
            assert!(connect_options(&json!({"method": method}))
                .expect(method)
                .method
                .is_sign_in());
        }
        let environment =
            serde_json::from_value(json!({"IDENTITY_HEADER": "h", "IDENTITY_ENDPOINT": "e"}))
                .expect("map");
        assert_eq!(secret_variables_in_json(&environment), ["IDENTITY_HEADER"]);
        let e = connect_options(&json!({"clientId": 5})).expect_err("schema");
        assert!(e.message.starts_with("invalid arguments:"), "{}", e.message);
    }

    #[test]
    fn merge_requests_is_one_per_identity_and_api_with_names_trimmed_once() {
        let merge = |args: Value| -> Result<Value> {
            match Request::from_json("graph.mergeRequests", args)? {
                Request::GraphMergeRequests(a) => Ok(merge_requests(a)),
                other => panic!("{other:?}"),
            }
        };
        let out = merge(json!({"requests": [
            {"identity": " mi-a ", "permissions": [" Mail.Send ", "mail.send"], "resource": "Graph"},
            {"identity": "MI-A", "permissions": "User.Read.All", "resource": " graph ", "new": true},
            {"identity": "mi-a", "permissions": [], "resource": "Exchange"},
            {"identity": "  ", "permissions": "X"}
        ]}))
        .expect("merged");
        assert_eq!(
            out,
            json!({"requests": [
                {"identity": "mi-a", "permissions": ["Mail.Send", "User.Read.All"], "resource": "Graph", "new": true},
                {"identity": "mi-a", "permissions": [], "resource": "Exchange", "new": true}
            ]})
        );
        assert!(merge(json!({"requests": "x"})).is_err());
    }

    #[test]
    fn graph_args_decode_plans_records_and_concurrency() {
        let (op, c) = graph_operation(
            "graph.grant",
            &json!({"identities": "a", "permissions": ["P"], "whatIf": true, "concurrency": 2}),
        )
        .expect("ok");
        assert_eq!(c, Some(2));
        assert_eq!(
            op,
            GraphOperation::Grant(ChangeArgs {
                target: ChangeTarget::Plan(GrantPlan {
                    identities: vec!["a".into()],
                    permissions: vec!["P".into()],
                    resource: None
                }),
                what_if: true,
                new_identities: Vec::new(),
            })
        );
        let (op, _) = graph_operation(
            "graph.set",
            &json!({"requests": [{"identity": "a", "permissions": "P", "resource": "Graph"}]}),
        )
        .expect("ok");
        assert!(
            matches!(op, GraphOperation::Set(ChangeArgs { target: ChangeTarget::Records(r), .. }) if r[0].permissions == ["P"])
        );
        let (op, _) = graph_operation(
            "graph.grant",
            &json!({"requests": [{"identity": "a", "permissions": "P", "new": true}, {"identity": "b", "permissions": "P"}]}),
        )
        .expect("ok");
        assert!(
            matches!(&op, GraphOperation::Grant(ChangeArgs { new_identities, .. }) if *new_identities == ["a"]),
            "{op:?}"
        );
        let (op, _) = graph_operation(
            "graph.grant",
            &json!({"identities": ["a", "b"], "permissions": "P", "newIdentities": "b"}),
        )
        .expect("ok");
        assert!(
            matches!(&op, GraphOperation::Grant(ChangeArgs { new_identities, .. }) if *new_identities == ["b"]),
            "{op:?}"
        );
        for bad in [json!(0), json!(17), json!("4")] {
            let e = graph_operation("graph.appRoles", &json!({"concurrency": bad}))
                .expect_err("bad concurrency");
            assert!(e.message.contains("from 1 to 16"));
        }
        assert!(graph_operation("graph.nope", &json!({})).is_err());
    }
}
