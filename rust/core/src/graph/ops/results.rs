//! The typed rows the app-role operations stream, one struct per operation. Their serde shape
//! is the wire shape (camelCase here; the protocol edge turns keys into PascalCase and completes
//! `error`), so no operation assembles JSON by hand.

use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::error::Error;
use crate::graph::errors::item_error;
use crate::graph::model::{AppRole, ServicePrincipal};

/// The resource API a row is about (`resource`, `resourceId`, `resourceAppId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    #[serde(rename = "resource")]
    pub name: Option<String>,
    #[serde(rename = "resourceId")]
    pub id: Option<Uuid>,
    #[serde(rename = "resourceAppId")]
    pub app_id: Option<String>,
}

impl ResourceRef {
    pub fn of(resource: &ServicePrincipal) -> Self {
        ResourceRef {
            name: resource.display_name.clone(),
            id: Some(resource.id),
            app_id: resource.app_id.clone(),
        }
    }
}

/// One `graph.appRoles` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleRow {
    pub id: Uuid,
    pub value: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub is_enabled: bool,
    pub allowed_member_types: Option<Vec<String>>,
    #[serde(flatten)]
    pub resource: ResourceRef,
}

impl AppRoleRow {
    pub fn new(role: &AppRole, resource: ResourceRef) -> Self {
        AppRoleRow {
            id: role.id,
            value: role.value.clone(),
            display_name: role.display_name.clone(),
            description: role.description.clone(),
            is_enabled: role.enabled(),
            allowed_member_types: role.allowed_member_types.clone(),
            resource,
        }
    }
}

/// What grant / revoke / set did (or would do) for one (identity, permission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeStatus {
    Granted,
    AlreadyGranted,
    WouldGrant,
    Revoked,
    NotAssigned,
    WouldRevoke,
    Failed,
}

impl ChangeStatus {
    pub fn name(self) -> &'static str {
        match self {
            ChangeStatus::Granted => "Granted",
            ChangeStatus::AlreadyGranted => "AlreadyGranted",
            ChangeStatus::WouldGrant => "WouldGrant",
            ChangeStatus::Revoked => "Revoked",
            ChangeStatus::NotAssigned => "NotAssigned",
            ChangeStatus::WouldRevoke => "WouldRevoke",
            ChangeStatus::Failed => "Failed",
        }
    }
}

/// One `graph.grant` / `graph.revoke` / `graph.set` row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeResult {
    /// The caller's input.
    pub identity: String,
    /// The resolved identity (all three `None` when it could not be resolved).
    pub identity_id: Option<Uuid>,
    pub identity_name: Option<String>,
    pub identity_type: Option<String>,
    #[serde(flatten)]
    pub resource: ResourceRef,
    pub permission: String,
    pub permission_id: Option<Uuid>,
    pub status: ChangeStatus,
    pub assignment_id: Option<String>,
    #[serde(serialize_with = "optional_error")]
    pub error: Option<Error>,
}

/// One `graph.assignments` row; a failed identity is one row with only `identity` and `error`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentRow {
    pub identity: String,
    pub identity_id: Option<Uuid>,
    pub identity_name: Option<String>,
    #[serde(flatten)]
    pub resource: ResourceRef,
    pub permission: Option<String>,
    pub permission_id: Option<Uuid>,
    pub assignment_id: Option<String>,
    pub created_date_time: Option<String>,
    #[serde(serialize_with = "optional_error")]
    pub error: Option<Error>,
}

impl AssignmentRow {
    /// The row for an identity that could not be read.
    pub fn failed(identity: &str, error: Error) -> Self {
        AssignmentRow {
            identity: identity.to_string(),
            identity_id: None,
            identity_name: None,
            resource: ResourceRef {
                name: None,
                id: None,
                app_id: None,
            },
            permission: None,
            permission_id: None,
            assignment_id: None,
            created_date_time: None,
            error: Some(error),
        }
    }
}

pub(crate) fn optional_error<S: Serializer>(
    e: &Option<Error>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    e.as_ref().map(item_error).serialize(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn resource() -> ResourceRef {
        ResourceRef {
            name: Some("Microsoft Graph".into()),
            id: Some(Uuid::nil()),
            app_id: Some("00000003-0000-0000-c000-000000000000".into()),
        }
    }

    /// The keys and values the PowerShell layer has always received (before PascalCase).
    #[test]
    fn change_result_keeps_the_wire_shape() {
        let row = ChangeResult {
            identity: "mi-1".into(),
            identity_id: None,
            identity_name: None,
            identity_type: None,
            resource: resource(),
            permission: "Mail.Send".into(),
            permission_id: Some(Uuid::nil()),
            status: ChangeStatus::Failed,
            assignment_id: None,
            error: Some(Error::new(ErrorKind::NotFound, "no such identity")),
        };
        let nil = Uuid::nil().to_string();
        assert_eq!(
            serde_json::to_value(&row).unwrap(),
            json!({
                "identity": "mi-1", "identityId": null, "identityName": null, "identityType": null,
                "resource": "Microsoft Graph", "resourceId": nil,
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "permission": "Mail.Send", "permissionId": nil, "status": "Failed",
                "assignmentId": null,
                "error": {"errorId": ErrorKind::NotFound.error_id(), "message": "no such identity"},
            })
        );
    }

    #[test]
    fn a_failed_assignment_row_is_all_null_but_identity_and_error() {
        let row = AssignmentRow::failed("x", Error::new(ErrorKind::NotFound, "gone"));
        let v = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "assignmentId",
                "createdDateTime",
                "error",
                "identity",
                "identityId",
                "identityName",
                "permission",
                "permissionId",
                "resource",
                "resourceAppId",
                "resourceId"
            ]
        );
        assert_eq!(v["identity"], "x");
        assert_eq!(v["error"]["message"], "gone");
        assert!(v["resourceId"].is_null() && v["permission"].is_null());
    }

    #[test]
    fn status_names_match_the_serialized_variants() {
        for s in [
            ChangeStatus::Granted,
            ChangeStatus::AlreadyGranted,
            ChangeStatus::WouldGrant,
            ChangeStatus::Revoked,
            ChangeStatus::NotAssigned,
            ChangeStatus::WouldRevoke,
            ChangeStatus::Failed,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.name()));
        }
    }
}
