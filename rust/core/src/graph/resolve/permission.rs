//! Permission names → the resource's application roles (case-insensitive values or role ids),
//! with suggestions for unknown names.

use std::collections::HashSet;

use serde_json::json;

use super::{parse_guid, suggest};
use crate::error::{Error, ErrorKind, Result};
use crate::graph::model::{AppRole, ServicePrincipal};

/// Resolves permission names (role values, case-insensitive; or role ids) to the resource's
/// application roles, de-duplicated, in input order. Unknown names fail with suggestions; roles
/// only users can hold fail with `PermissionNotGrantable`; so do disabled roles when `granting`.
pub fn resolve_permissions(
    resource: &ServicePrincipal,
    inputs: &[String],
    granting: bool,
) -> Result<Vec<AppRole>> {
    let roles = resource.roles();
    let mut out: Vec<AppRole> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut not_grantable: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for raw in inputs {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::invalid_argument("a permission name is empty"));
        }
        if !seen.insert(name.to_lowercase()) {
            continue;
        }
        let by_id = parse_guid(name);
        let matched: Vec<&AppRole> = roles
            .iter()
            .filter(|r| {
                r.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(name))
                    || Some(r.id) == by_id
            })
            .collect();
        match matched.iter().find(|r| r.for_applications()) {
            Some(role) if granting && !role.enabled() => not_grantable.push(format!(
                "'{}' of '{}' is disabled and cannot be granted",
                role.name(),
                resource.name()
            )),
            Some(role) => {
                if !out.iter().any(|r| r.id == role.id) {
                    out.push((*role).clone());
                }
            }
            None if !matched.is_empty() => not_grantable.push(format!(
                "'{}' of '{}' can be granted to users only (allowedMemberTypes: {}); it cannot be granted to a managed identity or application",
                matched[0].name(),
                resource.name(),
                matched[0].allowed_member_types.clone().unwrap_or_default().join(", ")
            )),
            None => unknown.push(name.to_string()),
        }
    }
    if !unknown.is_empty() {
        let grantable: Vec<&str> = roles
            .iter()
            .filter(|r| r.for_applications() && r.enabled())
            .filter_map(|r| r.value.as_deref())
            .collect();
        let mut parts = Vec::new();
        let mut suggestions = serde_json::Map::new();
        for name in &unknown {
            let s = suggest(name, &grantable, 3);
            let hint = if grantable.is_empty() {
                " It defines no application permissions.".to_string()
            } else if s.is_empty() {
                String::new()
            } else {
                format!(
                    " Did you mean {}?",
                    s.iter()
                        .map(|x| format!("'{x}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            parts.push(format!(
                "'{name}' is not an application permission of '{}'.{hint}",
                resource.name()
            ));
            suggestions.insert(name.clone(), json!(s));
        }
        return Err(Error::new(ErrorKind::UnknownPermission, parts.join(" "))
            .with_details(json!({"unknown": unknown, "suggestions": suggestions, "resource": resource.name()})));
    }
    if !not_grantable.is_empty() {
        return Err(Error::new(
            ErrorKind::PermissionNotGrantable,
            format!("{}.", not_grantable.join("; ")),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::resolve::suggest;
    use crate::graph::resolve::testing::*;
    use uuid::Uuid;

    #[test]
    fn permissions_resolve_case_insensitively_and_dedupe() {
        let roles = resolve_permissions(
            &graph(),
            &names(&["mail.send", "MAIL.SEND", "user.read.all"]),
            true,
        )
        .unwrap();
        let values: Vec<String> = roles.iter().map(AppRole::name).collect();
        assert_eq!(values, ["Mail.Send", "User.Read.All"]);
        let by_id =
            resolve_permissions(&graph(), &names(&[&Uuid::from_u128(11).to_string()]), true)
                .unwrap();
        assert_eq!(by_id[0].name(), "Mail.Read");
    }

    #[test]
    fn unknown_permission_suggests_close_names() {
        let e = resolve_permissions(&graph(), &names(&["Mail.Sned"]), true).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownPermission);
        assert!(
            e.message.contains("Did you mean 'Mail.Send'"),
            "{}",
            e.message
        );
        assert_eq!(
            e.details.unwrap()["suggestions"]["Mail.Sned"][0],
            "Mail.Send"
        );
        assert_eq!(
            suggest(
                "mail.",
                &["Mail.Send", "Mail.Read", "Mail.ReadWrite", "User.Read.All"],
                3
            ),
            ["Mail.Read", "Mail.Send", "Mail.ReadWrite"]
        );
        assert!(suggest("Zzzzzz", &["Mail.Send"], 3).is_empty());
    }

    #[test]
    fn user_only_roles_are_not_grantable() {
        let e =
            resolve_permissions(&graph(), &names(&["Tasks.ReadWrite.Shared"]), true).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionNotGrantable);
        assert!(e.message.contains("users only"));
    }
}
