//! The typed requests of the app-role operations (decoded from the wire by the protocol edge).

/// `graph.appRoles`: the resource's application roles, optionally filtered by a wildcard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppRolesQuery {
    /// Resource name, appId or id; Microsoft Graph when `None`.
    pub resource: Option<String>,
    /// Wildcard (`*`, `?`) on the role value.
    pub name: Option<String>,
}

/// `graph.permissionNames`: grantable role values starting with `prefix` (tab completion).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionNamesQuery {
    pub resource: Option<String>,
    pub prefix: Option<String>,
}

/// `graph.assignments`: the app-role assignments these identities hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentsQuery {
    pub identities: Vec<String>,
    /// Only assignments on this resource.
    pub resource: Option<String>,
}

/// One bulk grant / revoke / set: these identities × these permissions on one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantPlan {
    pub identities: Vec<String>,
    pub permissions: Vec<String>,
    pub resource: Option<String>,
}

/// One piped record of Grant/Revoke/Set-GraphAppRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeRequest {
    pub identity: String,
    pub permissions: Vec<String>,
    pub resource: Option<String>,
}

/// What to change: one plan, or pipeline records grouped into as few plans as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeTarget {
    Plan(GrantPlan),
    Records(Vec<ChangeRequest>),
}

/// `graph.grant` / `graph.revoke` / `graph.set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeArgs {
    pub target: ChangeTarget,
    /// Plan only: report WouldGrant / WouldRevoke, write nothing.
    pub what_if: bool,
    /// Identities just created (e.g. piped from New-UserAssignedIdentity): a Graph "not found"
    /// for them is waited out (replication), bounded; any other unknown identity fails at once.
    pub new_identities: Vec<String>,
}
