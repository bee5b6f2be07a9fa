//! Typed output rows of the ARM operations (serialized camelCase; the protocol edge turns
//! them PascalCase).

use serde::Serialize;

use super::ids;
use super::resource::IdentityResource;

/// One user-assigned identity (`New-`, `Get-`, `Remove-UserAssignedIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityRow {
    pub name: String,
    pub resource_group_name: String,
    pub subscription_id: String,
    pub location: String,
    pub client_id: Option<String>,
    pub principal_id: Option<String>,
    pub tenant_id: Option<String>,
    pub resource_id: String,
    /// Created / Existing / WouldCreate / Removed / NotFound / WouldRemove; `None` for reads.
    pub status: Option<&'static str>,
}

impl IdentityRow {
    /// From ARM's identity resource (a missing name is read from the resource id).
    pub fn from_resource(r: IdentityResource, status: Option<&'static str>) -> IdentityRow {
        let id = r.id.unwrap_or_default();
        let parsed = ids::IdentityId::parse(&id);
        IdentityRow {
            name: r
                .name
                .or_else(|| parsed.as_ref().map(|p| p.name.clone()))
                .unwrap_or_default(),
            resource_group_name: parsed.as_ref().map(|p| p.group.clone()).unwrap_or_default(),
            subscription_id: parsed
                .as_ref()
                .map(|p| p.subscription.clone())
                .unwrap_or_default(),
            location: r.location.unwrap_or_default(),
            client_id: r.properties.client_id,
            principal_id: r.properties.principal_id,
            tenant_id: r.properties.tenant_id,
            resource_id: id,
            status,
        }
    }
}

/// One user-assigned identity attached to an Automation account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachedIdentity {
    pub name: String,
    pub resource_id: String,
    pub client_id: Option<String>,
    pub principal_id: Option<String>,
}

/// An Automation account's identities (`Get-`/`Set-AutomationAccountIdentity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationIdentityRow {
    pub automation_account_name: String,
    pub resource_group_name: String,
    pub subscription_id: String,
    /// `None`, `SystemAssigned`, `UserAssigned` or `SystemAssigned, UserAssigned`.
    pub identity_type: String,
    pub system_assigned: bool,
    pub principal_id: Option<String>,
    pub tenant_id: Option<String>,
    pub user_assigned: Vec<AttachedIdentity>,
    /// What a `Set` changed or would change (empty for reads and no-ops).
    pub changes: Vec<String>,
    /// Updated / Unchanged / WhatIf for `Set`; `None` for reads.
    pub status: Option<&'static str>,
    /// `Set` just turned the system-assigned identity on: its principal is new and may not have
    /// reached Microsoft Graph yet (a piped grant waits for it). Sent only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub principal_created: bool,
}
