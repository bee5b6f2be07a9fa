//! One engine request, decoded once: `{"op": "...", "args": {...}}` → one variant of
//! [`Request`], its arguments typed by serde. The engine matches on the variant; no operation name
//! is compared as a string after this point. The names are a contract with the module (add, never
//! rename); [`super::ops`] lists them for the module's tests and for the unknown-operation message.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::args::{
    AppRolesArgs, AssignmentsArgs, ChangeWire, ConnectArgs, NamesArgs, RecordsArgs, ReportArgs,
    RequestArgs, TestEndpointArgs, TokenArgs,
};
use super::arm_args::{AccountArgs, GetArgs, NewArgs, RemoveArgs, SetArgs};
use super::ops;
use super::permission_args::{FindArgs, ScriptArgs, TokenCheckArgs};
use managed_identity_core::error::{Error, Result};

/// Every operation the engine answers, with its arguments as the wire carries them.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", content = "args")]
pub enum Request {
    #[serde(rename = "engine.info")]
    EngineInfo(NoArgs),
    #[serde(rename = "identity.connect")]
    Connect(Box<ConnectArgs>),
    #[serde(rename = "identity.context")]
    Context(OnContext<NoArgs>),
    #[serde(rename = "identity.disconnect")]
    Disconnect(OnContext<NoArgs>),
    #[serde(rename = "identity.token")]
    Token(OnContext<TokenArgs>),
    #[serde(rename = "identity.testEndpoint")]
    TestEndpoint(TestEndpointArgs),
    #[serde(rename = "permissions.find")]
    PermissionsFind(FindArgs),
    #[serde(rename = "permissions.analyze")]
    PermissionsAnalyze(ScriptArgs),
    #[serde(rename = "permissions.test")]
    PermissionsTest(OnContext<ScriptArgs>),
    #[serde(rename = "permissions.tokenCheck")]
    PermissionsTokenCheck(OnContext<TokenCheckArgs>),
    #[serde(rename = "graph.mergeRequests")]
    GraphMergeRequests(RecordsArgs),
    #[serde(rename = "graph.appRoles")]
    GraphAppRoles(OnGraph<AppRolesArgs>),
    #[serde(rename = "graph.grant")]
    GraphGrant(OnGraph<ChangeWire>),
    #[serde(rename = "graph.revoke")]
    GraphRevoke(OnGraph<ChangeWire>),
    #[serde(rename = "graph.set")]
    GraphSet(OnGraph<ChangeWire>),
    #[serde(rename = "graph.assignments")]
    GraphAssignments(OnGraph<AssignmentsArgs>),
    #[serde(rename = "graph.permissionNames")]
    GraphPermissionNames(OnGraph<NamesArgs>),
    #[serde(rename = "graph.request")]
    GraphRequest(OnGraph<RequestArgs>),
    #[serde(rename = "graph.report")]
    GraphReport(OnGraph<ReportArgs>),
    #[serde(rename = "arm.newIdentity")]
    ArmNewIdentity(OnArm<NewArgs>),
    #[serde(rename = "arm.getIdentity")]
    ArmGetIdentity(OnArm<GetArgs>),
    #[serde(rename = "arm.removeIdentity")]
    ArmRemoveIdentity(OnArm<RemoveArgs>),
    #[serde(rename = "arm.getAutomationIdentity")]
    ArmGetAutomationIdentity(OnArm<AccountArgs>),
    #[serde(rename = "arm.setAutomationIdentity")]
    ArmSetAutomationIdentity(OnArm<SetArgs>),
    /// Test hook: a panic (proves panics never cross the FFI).
    #[serde(rename = "diagnostics.panic")]
    DiagnosticsPanic(NoArgs),
    /// Test hook: a cancellable sleep.
    #[serde(rename = "diagnostics.sleep")]
    DiagnosticsSleep(SleepArgs),
}

impl Request {
    /// Decodes one request. A name the engine does not know is "unknown engine operation";
    /// anything else that does not fit is "invalid arguments: …" (both `InvalidArgument`).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| {
            #[derive(Deserialize)]
            struct Name {
                op: String,
            }
            match serde_json::from_slice::<Name>(bytes) {
                Ok(Name { op }) if !ops::ALL.contains(&op.as_str()) => {
                    Error::invalid_argument(format!("unknown engine operation '{op}'"))
                }
                Ok(_) => Error::invalid_argument(format!("invalid arguments: {e}")),
                Err(_) => Error::invalid_argument(format!("malformed engine request: {e}")),
            }
        })
    }

    /// [`Request::decode`] of a JSON value (tests build requests with `json!`).
    pub fn from_json(op: &str, args: Value) -> Result<Self> {
        Self::decode(
            serde_json::json!({"op": op, "args": args})
                .to_string()
                .as_bytes(),
        )
    }

    /// The name of a test hook (answered only by an engine built with them), `None` otherwise.
    pub fn test_hook(&self) -> Option<&'static str> {
        match self {
            Request::DiagnosticsPanic(_) => Some(ops::DIAGNOSTICS_PANIC),
            Request::DiagnosticsSleep(_) => Some(ops::DIAGNOSTICS_SLEEP),
            _ => None,
        }
    }

    /// Whether the answer is Graph's own JSON, passed through without re-casing its keys.
    pub fn is_raw(&self) -> bool {
        matches!(self, Request::GraphRequest(_))
    }
}

/// The arguments of an operation that takes none: any `args` (or none) is accepted and ignored.
#[derive(Debug, Default)]
pub struct NoArgs;

impl<'de> Deserialize<'de> for NoArgs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        Option::<serde::de::IgnoredAny>::deserialize(deserializer)?;
        Ok(NoArgs)
    }
}

/// An operation on a connected context: its `context` handle and its own arguments.
#[derive(Debug, Deserialize)]
pub struct OnContext<T> {
    pub context: u64,
    #[serde(flatten)]
    pub args: T,
}

/// A Microsoft Graph operation on a context, with its optional `concurrency` (1..=16).
#[derive(Debug, Deserialize)]
pub struct OnGraph<T> {
    pub context: u64,
    #[serde(default)]
    concurrency: Option<Value>,
    #[serde(flatten)]
    pub args: T,
}

impl<T> OnGraph<T> {
    /// The requested concurrency, if any: an integer from 1 to 16.
    pub fn concurrency(&self) -> Result<Option<usize>> {
        match &self.concurrency {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=16).contains(n))
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "concurrency must be an integer from 1 to 16, not {v}"
                    ))
                }),
        }
    }
}

/// An Azure Resource Manager operation on a context, with its optional `subscriptionId` (the
/// context's default subscription otherwise).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnArm<T> {
    pub context: u64,
    #[serde(default)]
    pub subscription_id: Option<String>,
    #[serde(flatten)]
    pub args: T,
}

/// `diagnostics.sleep`: how long, in milliseconds (a second when absent).
#[derive(Debug, Deserialize)]
pub struct SleepArgs {
    #[serde(default)]
    pub ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every name of the contract decodes to a variant (arguments aside), and every variant
    /// is a name of the contract (serde lists the variants when it meets an unknown one).
    #[test]
    fn every_operation_name_is_a_variant() {
        for op in ops::ALL {
            if let Err(e) = Request::from_json(op, json!({})) {
                assert!(
                    e.message.starts_with("invalid arguments:")
                        && !e.message.contains("unknown variant"),
                    "{op}: {}",
                    e.message
                );
            }
        }
        let listed = serde_json::from_str::<Request>(r#"{"op": "?", "args": {}}"#)
            .expect_err("unknown")
            .to_string();
        let variants: std::collections::BTreeSet<&str> =
            listed.split('`').skip(3).step_by(2).collect();
        let names: std::collections::BTreeSet<&str> = ops::ALL.into_iter().collect();
        assert_eq!(variants, names, "{listed}");
        let e = Request::from_json("graph.nope", json!({})).expect_err("unknown");
        assert_eq!(e.message, "unknown engine operation 'graph.nope'");
        let e = Request::decode(b"{\"args\": {}}").expect_err("no op");
        assert!(
            e.message.starts_with("malformed engine request"),
            "{}",
            e.message
        );
        let e = Request::decode(b"[1").expect_err("not JSON");
        assert!(
            e.message.starts_with("malformed engine request"),
            "{}",
            e.message
        );
    }

    #[test]
    fn arguments_are_typed_once() {
        let r = Request::decode(
            br#"{"args": {"context": 7, "forceRefresh": true}, "op": "identity.token"}"#,
        )
        .expect("args before op");
        assert!(matches!(
            r,
            Request::Token(OnContext {
                context: 7,
                args: TokenArgs {
                    force_refresh: true,
                    ..
                }
            })
        ));
        assert!(matches!(
            Request::decode(br#"{"op": "engine.info"}"#),
            Ok(Request::EngineInfo(_))
        ));
        let e =
            Request::from_json("identity.token", json!({"context": "seven"})).expect_err("typed");
        assert!(e.message.starts_with("invalid arguments:"), "{}", e.message);
        let Request::GraphGrant(g) = Request::from_json(
            "graph.grant",
            json!({"context": 1, "identities": "a", "concurrency": 2}),
        )
        .expect("grant") else {
            panic!("grant")
        };
        assert_eq!(g.concurrency().expect("valid"), Some(2));
        for bad in [json!(0), json!(17), json!("4"), json!(2.5)] {
            let Request::GraphAppRoles(g) =
                Request::from_json("graph.appRoles", json!({"context": 1, "concurrency": bad}))
                    .expect("decodes")
            else {
                panic!("app roles")
            };
            assert!(g
                .concurrency()
                .expect_err("bad")
                .message
                .contains("from 1 to 16"));
        }
    }
}
