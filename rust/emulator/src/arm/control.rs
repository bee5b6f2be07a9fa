//! Control API of the ARM estate under `/_emulator/arm`: `GET` (the whole estate),
//! `POST /subscriptions {subscriptionId, displayName}`, `POST /resourceGroups {subscriptionId?,
//! name, location?}`, `POST /automationAccounts {subscriptionId?, resourceGroupName, name,
//! location?, systemAssigned?}`, `POST /roleAssignments {principalId, role, scope}` (role:
//! Contributor, Reader, Managed Identity Operator), `DELETE /roleAssignments {principalId}`.

use serde_json::{json, Value};

use super::state::{Account, Group, Role, RoleAssignment, Subscription};
use crate::seed;
use crate::state::{lock, App};
use crate::util::{Req, Resp};

fn text<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `rest` is the path after `/_emulator/arm`.
pub fn handle(app: &App, req: &Req, rest: &str) -> Result<Resp, String> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&req.body).map_err(|e| format!("invalid JSON: {e}"))?
    };
    let sub = text(&body, "subscriptionId")
        .unwrap_or(seed::SUBSCRIPTION_ID)
        .to_string();
    let mut arm = lock(&app.arm);
    match (req.method.as_str(), rest.trim_end_matches('/')) {
        ("GET", "") => Ok(Resp::json(200, &arm.to_json())),
        ("POST", "/subscriptions") => {
            arm.subscriptions.push(Subscription {
                id: sub,
                display_name: text(&body, "displayName")
                    .unwrap_or("Subscription")
                    .to_string(),
            });
            Ok(Resp::json(201, &json!({})))
        }
        ("POST", "/resourceGroups") => {
            let name = text(&body, "name").ok_or("'name' is required")?;
            arm.groups.push(Group {
                subscription: sub,
                name: name.to_string(),
                location: text(&body, "location").unwrap_or("uksouth").to_string(),
            });
            Ok(Resp::json(201, &json!({})))
        }
        ("POST", "/automationAccounts") => {
            let name = text(&body, "name").ok_or("'name' is required")?;
            let group =
                text(&body, "resourceGroupName").ok_or("'resourceGroupName' is required")?;
            let mut account = Account {
                subscription: sub,
                group: group.to_string(),
                name: name.to_string(),
                location: text(&body, "location").unwrap_or("uksouth").to_string(),
                system_principal: None,
                user_assigned: Vec::new(),
            };
            if body.get("systemAssigned").and_then(Value::as_bool) == Some(true) {
                let rid = account.resource_id();
                let (id, _) = super::state::new_principal(&mut lock(&app.dir), name, &rid, false);
                account.system_principal = Some(id);
            }
            arm.accounts.push(account);
            Ok(Resp::json(201, &json!({})))
        }
        ("POST", "/roleAssignments") => {
            let principal = text(&body, "principalId").ok_or("'principalId' is required")?;
            let role = text(&body, "role")
                .and_then(Role::parse)
                .ok_or("'role' must be Contributor, Reader or Managed Identity Operator")?;
            let scope = text(&body, "scope").ok_or("'scope' is required")?;
            arm.role_assignments.push(RoleAssignment {
                principal_id: principal.to_string(),
                role,
                scope: scope.to_string(),
            });
            Ok(Resp::json(201, &json!({})))
        }
        ("DELETE", "/roleAssignments") => {
            let principal = text(&body, "principalId").ok_or("'principalId' is required")?;
            arm.role_assignments
                .retain(|r| !r.principal_id.eq_ignore_ascii_case(principal));
            Ok(Resp::new(204))
        }
        _ => Err(format!("unknown ARM control route '{} {rest}'", req.method)),
    }
}
