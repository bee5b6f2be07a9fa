//! Argument decoding: the wire's camelCase JSON `args` of each operation → the typed options
//! of the domain. Schema errors are `InvalidArgument` ("invalid arguments: …").

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};

use managed_identity_core::context::options::{SignInMethod, SignInOptions};
use managed_identity_core::context::{ConnectMethod, ConnectOptions, TestEndpointOptions};
use managed_identity_core::env::SnapshotEnvironment;
use managed_identity_core::error::{Error, Result};
use managed_identity_core::graph::report::{PrincipalType, ReportQuery};
use managed_identity_core::graph::{
    AppRolesQuery, AssignmentsQuery, ChangeArgs, ChangeRequest, ChangeTarget, GrantPlan,
    GraphOperation, GraphRequest, PermissionNamesQuery,
};

/// Deserializes an operation's arguments, turning schema errors into `InvalidArgument`.
pub fn parse_args<T: for<'de> Deserialize<'de>>(args: &Value) -> Result<T> {
    T::deserialize(args).map_err(|e| Error::invalid_argument(format!("invalid arguments: {e}")))
}

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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectArgs {
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

/// `identity.connect` args.
pub fn connect_options(args: &Value) -> Result<ConnectOptions> {
    let a: ConnectArgs = parse_args(args)?;
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
pub fn secret_variables_in_json(args: &Value) -> Vec<String> {
    args.get("environment")
        .and_then(Value::as_object)
        .map(|env| {
            env.keys()
                .filter(|k| managed_identity_core::env::SECRET_VARIABLES.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TestEndpointArgs {
    #[serde(default)]
    environment: HashMap<String, Value>,
    timeout_seconds: Option<f64>,
}

/// `identity.testEndpoint` args.
pub fn test_endpoint_options(args: &Value) -> Result<TestEndpointOptions> {
    let a: TestEndpointArgs = parse_args(args)?;
    Ok(TestEndpointOptions {
        environment: snapshot(a.environment),
        timeout_seconds: a.timeout_seconds,
    })
}

/// The `context` handle every context operation carries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextArg {
    pub context: u64,
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
struct AppRolesArgs {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamesArgs {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentsArgs {
    identities: OneOrMany,
    #[serde(default)]
    resource: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanArgs {
    identities: OneOrMany,
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
struct RecordsArgs {
    requests: Vec<RecordArg>,
    #[serde(default)]
    what_if: bool,
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
struct RequestArgs {
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
struct ReportArgs {
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
fn report_query(args: &Value) -> Result<ReportQuery> {
    let a: ReportArgs = parse_args(args)?;
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
pub fn merge_requests(args: &Value) -> Result<Value> {
    let a: RecordsArgs = parse_args(args)?;
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
    Ok(json!({ "requests": out }))
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

/// `graph.grant` / `revoke` / `set` args: `identities` + `permissions` (+ `resource`), or
/// `requests`: pipeline records `{identity, permissions, resource}`.
fn change_args(args: &Value) -> Result<ChangeArgs> {
    if args.get("requests").is_some() {
        let a: RecordsArgs = parse_args(args)?;
        let new_identities = a
            .requests
            .iter()
            .filter(|r| r.new)
            .map(|r| r.identity.clone())
            .collect();
        return Ok(ChangeArgs {
            target: ChangeTarget::Records(records(a.requests)),
            what_if: a.what_if,
            new_identities,
        });
    }
    let a: PlanArgs = parse_args(args)?;
    Ok(ChangeArgs {
        target: ChangeTarget::Plan(GrantPlan {
            identities: a.identities.into_vec(),
            permissions: many(a.permissions),
            resource: a.resource,
        }),
        what_if: a.what_if,
        new_identities: many(a.new_identities),
    })
}

/// A `graph.*` operation and its optional `concurrency` (1..=16).
pub fn graph_operation(op: &str, args: &Value) -> Result<(GraphOperation, Option<usize>)> {
    let concurrency = match args.get("concurrency") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (1..=16).contains(n))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "concurrency must be an integer from 1 to 16, not {v}"
                    ))
                })?,
        ),
    };
    let operation = match op {
        super::ops::GRAPH_APP_ROLES => {
            let a: AppRolesArgs = parse_args(args)?;
            GraphOperation::AppRoles(AppRolesQuery {
                resource: a.resource,
                name: a.name,
            })
        }
        super::ops::GRAPH_GRANT => GraphOperation::Grant(change_args(args)?),
        super::ops::GRAPH_REVOKE => GraphOperation::Revoke(change_args(args)?),
        super::ops::GRAPH_SET => GraphOperation::Set(change_args(args)?),
        super::ops::GRAPH_ASSIGNMENTS => {
            let a: AssignmentsArgs = parse_args(args)?;
            GraphOperation::Assignments(AssignmentsQuery {
                identities: a.identities.into_vec(),
                resource: a.resource,
            })
        }
        super::ops::GRAPH_PERMISSION_NAMES => {
            let a: NamesArgs = parse_args(args)?;
            GraphOperation::PermissionNames(PermissionNamesQuery {
                resource: a.resource,
                prefix: a.prefix,
            })
        }
        super::ops::GRAPH_REQUEST => {
            let a: RequestArgs = parse_args(args)?;
            GraphOperation::Request(GraphRequest {
                method: a.method,
                uri: a.uri,
                body: a.body,
                all: a.all,
                headers: a.headers.unwrap_or_default(),
            })
        }
        super::ops::GRAPH_REPORT => GraphOperation::Report(report_query(args)?),
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown engine operation '{other}'"
            )))
        }
    };
    Ok((operation, concurrency))
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
        assert_eq!(
            secret_variables_in_json(
                &json!({"environment": {"IDENTITY_HEADER": "h", "IDENTITY_ENDPOINT": "e"}})
            ),
            ["IDENTITY_HEADER"]
        );
        let e = connect_options(&json!({"clientId": 5})).expect_err("schema");
        assert!(e.message.starts_with("invalid arguments:"), "{}", e.message);
    }

    #[test]
    fn merge_requests_is_one_per_identity_and_api_with_names_trimmed_once() {
        let out = merge_requests(&json!({"requests": [
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
        assert!(merge_requests(&json!({"requests": "x"})).is_err());
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
