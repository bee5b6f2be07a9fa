//! The operation names of the wire protocol (a contract with the module: add, never rename).

pub const ENGINE_INFO: &str = "engine.info";
pub const IDENTITY_CONNECT: &str = "identity.connect";
pub const IDENTITY_CONTEXT: &str = "identity.context";
pub const IDENTITY_DISCONNECT: &str = "identity.disconnect";
pub const IDENTITY_TOKEN: &str = "identity.token";
pub const IDENTITY_TEST_ENDPOINT: &str = "identity.testEndpoint";
pub const GRAPH_APP_ROLES: &str = "graph.appRoles";
pub const GRAPH_GRANT: &str = "graph.grant";
pub const GRAPH_REVOKE: &str = "graph.revoke";
pub const GRAPH_SET: &str = "graph.set";
pub const GRAPH_ASSIGNMENTS: &str = "graph.assignments";
pub const GRAPH_PERMISSION_NAMES: &str = "graph.permissionNames";
pub const GRAPH_REQUEST: &str = "graph.request";
pub const GRAPH_REPORT: &str = "graph.report";
/// Pipeline records of Grant/Revoke/Set-GraphAppRole merged per identity and API (no request):
/// what the module asks -Confirm about, once per identity.
pub const GRAPH_MERGE_REQUESTS: &str = "graph.mergeRequests";
/// Test hooks: a panic (proves panics never cross the FFI) and a cancellable sleep.
pub const DIAGNOSTICS_PANIC: &str = "diagnostics.panic";
pub const DIAGNOSTICS_SLEEP: &str = "diagnostics.sleep";
// Azure Resource Manager (issue 11); see managed_identity_core::arm.
pub const ARM_NEW_IDENTITY: &str = "arm.newIdentity";
pub const ARM_GET_IDENTITY: &str = "arm.getIdentity";
pub const ARM_REMOVE_IDENTITY: &str = "arm.removeIdentity";
pub const ARM_GET_AUTOMATION_IDENTITY: &str = "arm.getAutomationIdentity";
pub const ARM_SET_AUTOMATION_IDENTITY: &str = "arm.setAutomationIdentity";
// Least privilege (issue 22); see managed_identity_core::permissions.
pub const PERMISSIONS_FIND: &str = "permissions.find";
pub const PERMISSIONS_ANALYZE: &str = "permissions.analyze";
pub const PERMISSIONS_TEST: &str = "permissions.test";
/// Issue 26: `Test-IdentityPermission` (is a permission in this identity's token yet).
pub const PERMISSIONS_TOKEN_CHECK: &str = "permissions.tokenCheck";

/// Every operation name, in the order of [`super::request::Request`]'s variants.
pub const ALL: [&str; 26] = [
    ENGINE_INFO,
    IDENTITY_CONNECT,
    IDENTITY_CONTEXT,
    IDENTITY_DISCONNECT,
    IDENTITY_TOKEN,
    IDENTITY_TEST_ENDPOINT,
    PERMISSIONS_FIND,
    PERMISSIONS_ANALYZE,
    PERMISSIONS_TEST,
    PERMISSIONS_TOKEN_CHECK,
    GRAPH_MERGE_REQUESTS,
    GRAPH_APP_ROLES,
    GRAPH_GRANT,
    GRAPH_REVOKE,
    GRAPH_SET,
    GRAPH_ASSIGNMENTS,
    GRAPH_PERMISSION_NAMES,
    GRAPH_REQUEST,
    GRAPH_REPORT,
    ARM_NEW_IDENTITY,
    ARM_GET_IDENTITY,
    ARM_REMOVE_IDENTITY,
    ARM_GET_AUTOMATION_IDENTITY,
    ARM_SET_AUTOMATION_IDENTITY,
    DIAGNOSTICS_PANIC,
    DIAGNOSTICS_SLEEP,
];
