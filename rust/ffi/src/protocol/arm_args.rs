//! Argument decoding of the `arm.*` operations (camelCase on the wire) → typed
//! [`ArmOperation`]s.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::args::parse_args;
use super::ops;
use managed_identity_core::arm::automation::SetIdentity;
use managed_identity_core::arm::identities::NewIdentity;
use managed_identity_core::arm::{ArmOperation, ArmOperationKind};
use managed_identity_core::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Common {
    #[serde(default)]
    subscription_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewArgs {
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
struct GetArgs {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    resource_group_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveArgs {
    name: String,
    resource_group_name: String,
    #[serde(default)]
    what_if: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountArgs {
    automation_account_name: String,
    resource_group_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetArgs {
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

/// Decodes one `arm.*` operation.
pub fn arm_operation(op: &str, args: &Value) -> Result<ArmOperation> {
    let common: Common = parse_args(args)?;
    let kind = match op {
        ops::ARM_NEW_IDENTITY => {
            let a: NewArgs = parse_args(args)?;
            ArmOperationKind::NewIdentity(NewIdentity {
                name: a.name,
                resource_group: a.resource_group_name,
                location: a.location,
                tags: tags(a.tags)?,
                what_if: a.what_if,
            })
        }
        ops::ARM_GET_IDENTITY => {
            let a: GetArgs = parse_args(args)?;
            ArmOperationKind::GetIdentity {
                name: a.name,
                resource_group: a.resource_group_name,
            }
        }
        ops::ARM_REMOVE_IDENTITY => {
            let a: RemoveArgs = parse_args(args)?;
            ArmOperationKind::RemoveIdentity {
                name: a.name,
                resource_group: a.resource_group_name,
                what_if: a.what_if,
            }
        }
        ops::ARM_GET_AUTOMATION_IDENTITY => {
            let a: AccountArgs = parse_args(args)?;
            ArmOperationKind::GetAutomationIdentity {
                resource_group: a.resource_group_name,
                account: a.automation_account_name,
            }
        }
        ops::ARM_SET_AUTOMATION_IDENTITY => {
            let a: SetArgs = parse_args(args)?;
            ArmOperationKind::SetAutomationIdentity(SetIdentity {
                resource_group: a.resource_group_name,
                account: a.automation_account_name,
                system: a.system_assigned,
                add: a.add_user_assigned,
                remove: a.remove_user_assigned,
                what_if: a.what_if,
            })
        }
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown engine operation '{other}'"
            )))
        }
    };
    Ok(ArmOperation {
        subscription: common.subscription_id,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_wire_args() {
        let op = arm_operation(
            ops::ARM_NEW_IDENTITY,
            &json!({"context": 1, "subscriptionId": "s", "name": "mi", "resourceGroupName": "rg",
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
            ops::ARM_SET_AUTOMATION_IDENTITY,
            &json!({"context": 1, "automationAccountName": "aa", "resourceGroupName": "rg",
                    "systemAssigned": false, "addUserAssigned": ["x"]}),
        )
        .unwrap();
        let ArmOperationKind::SetAutomationIdentity(s) = op.kind else {
            panic!("set")
        };
        assert_eq!(s.system, Some(false));
        assert_eq!(s.add, vec!["x"]);
        assert!(arm_operation(ops::ARM_NEW_IDENTITY, &json!({"context": 1})).is_err());
    }
}
