//! Argument decoding of the `arm.*` operations (camelCase on the wire) → typed
//! [`ArmOperation`]s.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::request::{OnArm, Request};
use managed_identity_core::arm::automation::SetIdentity;
use managed_identity_core::arm::identities::NewIdentity;
use managed_identity_core::arm::{ArmOperation, ArmOperationKind};
use managed_identity_core::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewArgs {
    name: String,
    resource_group_name: String,
    location: String,
    #[serde(default)]
    tags: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    what_if: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    resource_group_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveArgs {
    name: String,
    resource_group_name: String,
    #[serde(default)]
    what_if: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountArgs {
    automation_account_name: String,
    resource_group_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetArgs {
    automation_account_name: String,
    resource_group_name: String,
    #[serde(default)]
    system_assigned: Option<bool>,
    #[serde(default)]
    add_user_assigned: Vec<String>,
    #[serde(default)]
    remove_user_assigned: Vec<String>,
    #[serde(default)]
    what_if: bool,
}

/// Tag values as strings (numbers and booleans are written as PowerShell shows them).
fn tags(raw: Option<BTreeMap<String, Value>>) -> Result<BTreeMap<String, String>> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(n) => Ok((k, n.to_string())),
            Value::Bool(b) => Ok((k, if b { "True" } else { "False" }.to_string())),
            other => Err(Error::invalid_argument(format!(
                "tag '{k}' must have a text value, not {other}"
            ))),
        })
        .collect()
}

/// An `arm.*` request, typed: the context it runs on and the operation.
#[derive(Debug)]
pub struct ArmCall {
    pub context: u64,
    pub operation: ArmOperation,
}

impl Request {
    /// The ARM operation of an `arm.*` request (`Ok`, or its argument error), or the request back
    /// when it is another kind.
    pub fn arm(self) -> std::result::Result<Result<ArmCall>, Box<Request>> {
        fn call<T>(
            a: OnArm<T>,
            typed: impl FnOnce(T) -> Result<ArmOperationKind>,
        ) -> Result<ArmCall> {
            Ok(ArmCall {
                context: a.context,
                operation: ArmOperation {
                    subscription: a.subscription_id,
                    kind: typed(a.args)?,
                },
            })
        }
        Ok(match self {
            Request::ArmNewIdentity(a) => call(a, |a| {
                Ok(ArmOperationKind::NewIdentity(NewIdentity {
                    name: a.name,
                    resource_group: a.resource_group_name,
                    location: a.location,
                    tags: tags(a.tags)?,
                    what_if: a.what_if,
                }))
            }),
            Request::ArmGetIdentity(a) => call(a, |a| {
                Ok(ArmOperationKind::GetIdentity {
                    name: a.name,
                    resource_group: a.resource_group_name,
                })
            }),
            Request::ArmRemoveIdentity(a) => call(a, |a| {
                Ok(ArmOperationKind::RemoveIdentity {
                    name: a.name,
                    resource_group: a.resource_group_name,
                    what_if: a.what_if,
                })
            }),
            Request::ArmGetAutomationIdentity(a) => call(a, |a| {
                Ok(ArmOperationKind::GetAutomationIdentity {
                    resource_group: a.resource_group_name,
                    account: a.automation_account_name,
                })
            }),
            Request::ArmSetAutomationIdentity(a) => call(a, |a| {
                Ok(ArmOperationKind::SetAutomationIdentity(SetIdentity {
                    resource_group: a.resource_group_name,
                    account: a.automation_account_name,
                    system: a.system_assigned,
                    add: a.add_user_assigned,
                    remove: a.remove_user_assigned,
                    what_if: a.what_if,
                }))
            }),
            other => return Err(Box::new(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arm_operation(op: &str, args: Value) -> Result<ArmOperation> {
        match Request::from_json(op, args)?.arm() {
            Ok(call) => call.map(|c| c.operation),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn decodes_the_wire_args() {
        let op = arm_operation(
            "arm.newIdentity",
            json!({"context": 1, "subscriptionId": "s", "name": "mi", "resourceGroupName": "rg",
                    "location": "UK South", "tags": {"env": "prod", "n": 1}, "whatIf": true}),
        )
        .unwrap();
        assert_eq!(op.subscription.as_deref(), Some("s"));
        let ArmOperationKind::NewIdentity(n) = op.kind else {
            panic!("new identity")
        };
        assert_eq!(n.tags["n"], "1");
        assert!(n.what_if);
        let op = arm_operation(
            "arm.setAutomationIdentity",
            json!({"context": 1, "automationAccountName": "aa", "resourceGroupName": "rg",
                    "systemAssigned": false, "addUserAssigned": ["x"]}),
        )
        .unwrap();
        let ArmOperationKind::SetAutomationIdentity(s) = op.kind else {
            panic!("set")
        };
        assert_eq!(s.system, Some(false));
        assert_eq!(s.add, vec!["x"]);
        assert!(arm_operation("arm.newIdentity", json!({"context": 1})).is_err());
    }
}
