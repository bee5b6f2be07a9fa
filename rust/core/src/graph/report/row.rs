//! One report row: an application permission held by a service principal (or, with a baseline,
//! one declared but not held). The export's column order is
//! Export-GraphAppRoleReport's (serde_json sorts keys).

use serde::Serialize;
use uuid::Uuid;

use super::risk::RiskLevel;
use crate::error::Error;
use crate::graph::ops::results::optional_error;

/// How a row compares with the baseline (`None` without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Drift {
    Added,
    Removed,
    Unchanged,
}

impl Drift {
    pub fn name(self) -> &'static str {
        match self {
            Drift::Added => "Added",
            Drift::Removed => "Removed",
            Drift::Unchanged => "Unchanged",
        }
    }
}

/// The identity (client service principal) a row is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    pub identity_name: Option<String>,
    pub identity_id: Option<Uuid>,
    pub identity_app_id: Option<String>,
    pub principal_type: Option<String>,
    /// A managed identity's ARM resource id (from `alternativeNames`).
    pub arm_resource_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportRow {
    #[serde(flatten)]
    pub principal: Principal,
    pub resource: Option<String>,
    pub resource_id: Option<Uuid>,
    pub resource_app_id: Option<String>,
    pub permission: Option<String>,
    pub permission_id: Option<Uuid>,
    pub risk_level: RiskLevel,
    pub assignment_id: Option<String>,
    pub created_date_time: Option<String>,
    pub drift: Option<Drift>,
    #[serde(serialize_with = "optional_error")]
    pub error: Option<Error>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialized_keys_follow_the_column_order() {
        let row = ReportRow {
            principal: Principal {
                identity_name: Some("n".into()),
                identity_id: None,
                identity_app_id: None,
                principal_type: None,
                arm_resource_id: None,
            },
            resource: None,
            resource_id: None,
            resource_app_id: None,
            permission: None,
            permission_id: None,
            risk_level: RiskLevel::Low,
            assignment_id: None,
            created_date_time: None,
            drift: Some(Drift::Added),
            error: None,
        };
        let v = serde_json::to_value(&row).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        // The export's columns (Export-GraphAppRoleReport writes them in this documented order).
        let mut columns = vec![
            "identityName",
            "identityId",
            "identityAppId",
            "principalType",
            "armResourceId",
            "resource",
            "resourceId",
            "resourceAppId",
            "permission",
            "permissionId",
            "riskLevel",
            "assignmentId",
            "createdDateTime",
            "drift",
            "error",
        ];
        columns.sort_unstable();
        assert_eq!(keys, columns);
        assert_eq!(v["drift"], "Added");
        assert_eq!(v["riskLevel"], "Low");
    }
}
