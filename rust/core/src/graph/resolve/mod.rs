//! Resolution of user input to directory objects — never first-match, never interpolation.
//!
//! - Identities ([`identity`]): a GUID is an object id (R1), then an appId (R2); an ARM resource
//!   id is matched against `alternativeNames`; anything else is an exact display name. Zero
//!   matches → `NotFound`; several → `AmbiguousName` listing every candidate. Results are
//!   re-checked on the client side, so a server that widened a filter could never widen a lookup.
//! - Resources ([`resource`]): aliases (Graph, Exchange, SharePoint, KeyVault, ARM…) and
//!   well-known first-party names resolve by their well-known appId ([`super::first_party`]); a
//!   GUID is an appId, then an object id; a URI is a `servicePrincipalNames` entry; anything else
//!   an exact, unique display name. Anything that looks first-party must be owned by Microsoft's
//!   tenant and carry the well-known appId.
//! - Permissions ([`permission`]): role `value`s matched case-insensitively among roles that
//!   allow `Application`; unknown names get suggestions ([`text`]).

pub mod identity;
pub mod permission;
pub mod replication;
pub mod resource;

use serde_json::{json, Value};
use uuid::Uuid;

use super::model::ServicePrincipal;
use crate::error::{Error, ErrorKind};

pub use crate::names::{suggest, wildcard_match};
pub use identity::{resolve_identities, AssignmentQuery};
pub use permission::resolve_permissions;
pub use replication::{resolve_waiting_for_new, REPLICATION_WAIT};
pub use resource::resolve_resource;

pub(crate) fn parse_guid(text: &str) -> Option<Uuid> {
    let t = text.trim();
    // Accept the hyphenated and braced forms users copy from portals; not the 32-hex form.
    if t.len() == 36 || (t.len() == 38 && t.starts_with('{') && t.ends_with('}')) {
        Uuid::parse_str(t).ok()
    } else {
        None
    }
}

/// `AmbiguousName` listing every candidate.
pub(crate) fn ambiguous(input: &str, candidates: &[ServicePrincipal]) -> Error {
    let list: Vec<String> = candidates.iter().map(ServicePrincipal::describe).collect();
    let details: Vec<Value> = candidates
        .iter()
        .map(|c| json!({"id": c.id, "appId": c.app_id, "displayName": c.display_name, "servicePrincipalType": c.service_principal_type}))
        .collect();
    Error::new(
        ErrorKind::AmbiguousName,
        format!(
            "The name '{input}' matches {} service principals: {}. Pass the object id (or the ARM resource id) instead.",
            candidates.len(),
            list.join("; ")
        ),
    )
    .with_details(json!({ "candidates": details }))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::graph::model::{AppRole, MICROSOFT_TENANT_ID};

    pub fn role(id: u128, value: &str, types: &[&str]) -> AppRole {
        AppRole {
            id: Uuid::from_u128(id),
            value: Some(value.into()),
            display_name: None,
            description: None,
            is_enabled: Some(true),
            allowed_member_types: Some(types.iter().map(|s| s.to_string()).collect()),
        }
    }

    pub fn graph() -> ServicePrincipal {
        ServicePrincipal {
            id: Uuid::from_u128(1),
            app_id: Some("00000003-0000-0000-c000-000000000000".into()),
            display_name: Some("Microsoft Graph".into()),
            service_principal_type: Some("Application".into()),
            alternative_names: None,
            app_roles: Some(vec![
                role(10, "Mail.Send", &["Application"]),
                role(11, "Mail.Read", &["Application"]),
                role(12, "Mail.ReadWrite", &["Application"]),
                role(13, "User.Read.All", &["Application", "User"]),
                role(14, "Tasks.ReadWrite.Shared", &["User"]),
            ]),
            app_owner_organization_id: Some(MICROSOFT_TENANT_ID.into()),
            service_principal_names: None,
        }
    }

    pub fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }
}
