//! `Microsoft.Automation/automationAccounts/{name}`: GET and PATCH of the identity block.
//! PATCH follows ARM's rules: `type` decides system/user-assigned; `userAssignedIdentities`
//! entries `{}` attach and `null` detach; identities not named stay. Attaching needs
//! `assign/action` on the identity (else LinkedAuthorizationFailed). Switching the system
//! identity off deletes its principal with its assignments; switching it on creates a new one.

use serde_json::Value;

use super::rbac::{self, ASSIGN_ACTION};
use super::state::{self, account_json, eq, ArmState};
use super::{error, forbidden, Caller};
use crate::state::Directory;
use crate::util::{Req, Resp};

const TYPE: &str = "Microsoft.Automation/automationAccounts";

fn failed(message: &str) -> Resp {
    error(400, "FailedIdentityOperation", message)
}

pub fn item(
    arm: &mut ArmState,
    dir: &mut Directory,
    caller: &Caller,
    sub: &str,
    group: &str,
    name: &str,
    req: &Req,
) -> Resp {
    let Some(account) = arm.account_mut(sub, group, name).cloned() else {
        return error(
            404,
            "ResourceNotFound",
            &format!("The Resource '{TYPE}/{name}' under resource group '{group}' was not found."),
        );
    };
    let rid = account.resource_id();
    match req.method.as_str() {
        "GET" => {
            let action = format!("{TYPE}/read");
            if !rbac::allowed(arm, &caller.object_id, &action, &rid) {
                return forbidden(caller, &action, &rid);
            }
            Resp::json(200, &account_json(&account, arm))
        }
        "PATCH" => patch(arm, dir, caller, account, req),
        _ => error(405, "MethodNotAllowed", "The method is not allowed."),
    }
}

fn patch(
    arm: &mut ArmState,
    dir: &mut Directory,
    caller: &Caller,
    mut account: state::Account,
    req: &Req,
) -> Resp {
    let rid = account.resource_id();
    let action = format!("{TYPE}/write");
    if !rbac::allowed(arm, &caller.object_id, &action, &rid) {
        return forbidden(caller, &action, &rid);
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(identity) = body.get("identity") else {
        return Resp::json(200, &account_json(&account, arm));
    };
    let kind = identity
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("None");
    let parts: Vec<String> = kind
        .split(',')
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if parts
        .iter()
        .any(|p| !matches!(p.as_str(), "systemassigned" | "userassigned" | "none"))
    {
        return failed(&format!("Invalid identity type '{kind}'."));
    }
    let system = parts.iter().any(|p| p == "systemassigned");
    let user = parts.iter().any(|p| p == "userassigned");
    let mut attached = if user {
        account.user_assigned.clone()
    } else {
        Vec::new()
    };
    let map = identity
        .get("userAssignedIdentities")
        .and_then(Value::as_object);
    if let Some(map) = map {
        if !user && !map.is_empty() {
            return failed("userAssignedIdentities may only be given with an identity type that includes UserAssigned.");
        }
        for (id, v) in map {
            if v.is_null() {
                attached.retain(|a| !eq(a, id));
                continue;
            }
            let Some(target) = arm.identity(id) else {
                return failed(&format!(
                    "Resource '{id}' was not found: the user-assigned identity does not exist."
                ));
            };
            if !rbac::allowed(arm, &caller.object_id, ASSIGN_ACTION, &target.resource_id) {
                return error(
                    403,
                    "LinkedAuthorizationFailed",
                    &format!("The client '{}' has permission to perform action '{action}' on scope '{rid}', however it does not have permission to perform action(s) '{ASSIGN_ACTION}' on the linked scope(s) '{}' (respectively) or the linked scope(s) are invalid.",
                        caller.object_id, target.resource_id),
                );
            }
            if !attached.iter().any(|a| eq(a, id)) {
                attached.push(target.resource_id.clone());
            }
        }
    }
    if user && attached.is_empty() {
        return failed(
            "The identity type includes UserAssigned but no user-assigned identity is left.",
        );
    }
    // Detached identities stop getting tokens at once; attached ones start.
    for old in &account.user_assigned {
        if !attached.iter().any(|a| eq(a, old)) {
            if let Some(i) = arm.identity(old) {
                state::set_attached(dir, &i.principal_id, false);
            }
        }
    }
    for new in &attached {
        if let Some(i) = arm.identity(new) {
            state::set_attached(dir, &i.principal_id, true);
        }
    }
    match (&account.system_principal, system) {
        (Some(p), false) => {
            state::delete_principal(dir, p);
            account.system_principal = None;
        }
        (None, true) => {
            let (id, _) = state::new_principal(dir, &account.name, &rid, false);
            account.system_principal = Some(id);
        }
        _ => {}
    }
    account.user_assigned = attached;
    if let Some(slot) = arm.account_mut(&account.subscription, &account.group, &account.name) {
        *slot = account.clone();
    }
    arm.writes += 1;
    Resp::json(200, &account_json(&account, arm))
}
