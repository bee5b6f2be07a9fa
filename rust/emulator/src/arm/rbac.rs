//! The small RBAC model: Contributor may do everything in its scope, Reader may read, Managed
//! Identity Operator may read and assign user-assigned identities. A scope covers a resource
//! when it is the resource id or one of its parent paths.

use super::state::{ArmState, Role};

pub const ASSIGN_ACTION: &str = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";

fn covers(scope: &str, resource: &str) -> bool {
    let s = scope.trim_end_matches('/').to_ascii_lowercase();
    let r = resource.trim_end_matches('/').to_ascii_lowercase();
    r == s || r.starts_with(&format!("{s}/"))
}

fn grants(role: Role, action: &str) -> bool {
    let a = action.to_ascii_lowercase();
    match role {
        Role::Contributor => true,
        Role::Reader => a.ends_with("/read"),
        Role::ManagedIdentityOperator => {
            a.starts_with("microsoft.managedidentity/userassignedidentities/")
                && (a.ends_with("/read") || a == ASSIGN_ACTION.to_ascii_lowercase())
        }
    }
}

/// Whether `principal` may perform `action` on `resource`.
pub fn allowed(state: &ArmState, principal: &str, action: &str, resource: &str) -> bool {
    state.role_assignments.iter().any(|r| {
        r.principal_id.eq_ignore_ascii_case(principal)
            && covers(&r.scope, resource)
            && grants(r.role, action)
    })
}

/// Whether `principal` has any role at or under `scope` (what makes a subscription visible).
pub fn sees(state: &ArmState, principal: &str, scope: &str) -> bool {
    state.role_assignments.iter().any(|r| {
        r.principal_id.eq_ignore_ascii_case(principal)
            && (covers(scope, &r.scope) || covers(&r.scope, scope))
    })
}
