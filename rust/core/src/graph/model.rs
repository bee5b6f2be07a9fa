//! The Graph objects the engine reads, parsed leniently (unknown fields ignored, nulls allowed)
//! but with typed ids: a malformed id is an `InvalidResponse`, never a panic.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};

/// Owner tenant of Microsoft first-party applications.
pub const MICROSOFT_TENANT_ID: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// `$select` for identity lookups.
pub const IDENTITY_SELECT: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "servicePrincipalType",
    "alternativeNames",
];
/// `$select` for resource lookups.
pub const RESOURCE_SELECT: &[&str] = &[
    "id",
    "appId",
    "displayName",
    "appRoles",
    "appOwnerOrganizationId",
    "servicePrincipalNames",
];

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    pub id: Uuid,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
    #[serde(default)]
    pub allowed_member_types: Option<Vec<String>>,
}

impl AppRole {
    /// Grantable to a service principal: `allowedMemberTypes` contains `Application`.
    pub fn for_applications(&self) -> bool {
        self.allowed_member_types
            .as_ref()
            .is_some_and(|t| t.iter().any(|m| m.eq_ignore_ascii_case("Application")))
    }

    pub fn enabled(&self) -> bool {
        self.is_enabled.unwrap_or(true)
    }

    /// The role's value, or its id when it has none.
    pub fn name(&self) -> String {
        self.value.clone().unwrap_or_else(|| self.id.to_string())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: Uuid,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub service_principal_type: Option<String>,
    #[serde(default)]
    pub alternative_names: Option<Vec<String>>,
    #[serde(default)]
    pub app_roles: Option<Vec<AppRole>>,
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
    #[serde(default)]
    pub service_principal_names: Option<Vec<String>>,
}

impl ServicePrincipal {
    pub fn from_value(v: &Value) -> Result<Self> {
        ServicePrincipal::deserialize(v).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("Microsoft Graph returned a malformed service principal: {e}"),
            )
        })
    }

    pub fn name(&self) -> &str {
        self.display_name.as_deref().unwrap_or("")
    }

    pub fn roles(&self) -> &[AppRole] {
        self.app_roles.as_deref().unwrap_or(&[])
    }

    /// `'name' (id …, appId …, type …)`, used in ambiguity messages.
    pub fn describe(&self) -> String {
        format!(
            "'{}' (id {}, appId {}, type {})",
            self.name(),
            self.id,
            self.app_id.as_deref().unwrap_or("-"),
            self.service_principal_type.as_deref().unwrap_or("-")
        )
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub id: String,
    pub app_role_id: Uuid,
    pub resource_id: Uuid,
    #[serde(default)]
    pub principal_id: Option<Uuid>,
    #[serde(default)]
    pub resource_display_name: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
}

impl Assignment {
    pub fn from_value(v: &Value) -> Result<Self> {
        Assignment::deserialize(v).map_err(|e| {
            Error::new(
                ErrorKind::InvalidResponse,
                format!("Microsoft Graph returned a malformed app role assignment: {e}"),
            )
        })
    }
}

/// Items of a collection page (`value`), or an error when it is missing.
pub fn page_values(body: &Value) -> Result<&Vec<Value>> {
    body.get("value").and_then(Value::as_array).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidResponse,
            "Microsoft Graph returned a collection without a 'value' array",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_leniently_with_typed_ids() {
        let sp = ServicePrincipal::from_value(&json!({
            "id": "c0a80001-0000-4000-8000-000000000003", "appId": "x", "displayName": null, "appRoles": null,
            "extra": 1
        }))
        .unwrap();
        assert_eq!(sp.roles().len(), 0);
        assert_eq!(sp.name(), "");
        assert_eq!(
            ServicePrincipal::from_value(&json!({"id": "not-a-guid"}))
                .unwrap_err()
                .kind,
            ErrorKind::InvalidResponse
        );
        let role: AppRole =
            serde_json::from_value(json!({"id": "e1000001-0000-4000-8000-000000000001",
            "value": "A", "allowedMemberTypes": ["User", "Application"]}))
            .unwrap();
        assert!(role.for_applications() && role.enabled());
    }
}
