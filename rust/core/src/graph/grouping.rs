//! Pipeline records of Grant/Revoke/Set-GraphAppRole: one `{identity, permissions, resource}`
//! per piped object. They are merged per (resource, identity) and grouped so that identities
//! asking for the same permission set on the same resource share one bulk operation — which
//! keeps "identities × permissions" exactly what was asked.

use super::ops::{ChangeRequest, GrantPlan};

/// One bulk operation: these identities, these permissions, on this resource.
pub type RequestGroup = GrantPlan;

/// Merges records per (resource, identity): names trimmed, permissions unioned
/// case-insensitively with the first spelling kept, empty identities and permissions dropped,
/// input order preserved. The one place pipeline records are normalised: the module asks for it
/// (`graph.mergeRequests`) before it asks -Confirm once per identity, and every bulk operation
/// runs its records through it again (a no-op on merged input).
pub fn merge(requests: Vec<ChangeRequest>) -> Vec<ChangeRequest> {
    let key = |s: &str| s.trim().to_lowercase();
    let mut merged: Vec<ChangeRequest> = Vec::new();
    for request in requests {
        let identity = request.identity.trim().to_string();
        if identity.is_empty() {
            continue;
        }
        let resource = request
            .resource
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        let resource_key = resource.as_deref().map(key).unwrap_or_default();
        let index = match merged.iter().position(|m| {
            key(&m.identity) == key(&identity)
                && m.resource.as_deref().map(key).unwrap_or_default() == resource_key
        }) {
            Some(i) => i,
            None => {
                merged.push(ChangeRequest {
                    identity,
                    permissions: Vec::new(),
                    resource,
                });
                merged.len() - 1
            }
        };
        let entry = &mut merged[index];
        for permission in request.permissions {
            let permission = permission.trim().to_string();
            if !permission.is_empty()
                && !entry.permissions.iter().any(|p| key(p) == key(&permission))
            {
                entry.permissions.push(permission);
            }
        }
    }
    merged
}

/// [`merge`]s the records, then groups identities with equal permission sets on the same
/// resource. Input order is preserved.
pub fn group(requests: Vec<ChangeRequest>) -> Vec<RequestGroup> {
    let key = |s: &str| s.trim().to_lowercase();
    let sorted = |permissions: &[String]| {
        let mut set: Vec<String> = permissions.iter().map(|p| key(p)).collect();
        set.sort();
        set
    };
    let mut groups: Vec<RequestGroup> = Vec::new();
    for request in merge(requests) {
        let resource_key = request.resource.as_deref().map(key).unwrap_or_default();
        let set = sorted(&request.permissions);
        let existing = groups.iter_mut().find(|g| {
            g.resource.as_deref().map(key).unwrap_or_default() == resource_key
                && sorted(&g.permissions) == set
        });
        match existing {
            Some(g) => g.identities.push(request.identity),
            None => groups.push(RequestGroup {
                resource: request.resource,
                permissions: request.permissions,
                identities: vec![request.identity],
            }),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(identity: &str, permissions: &[&str], resource: Option<&str>) -> ChangeRequest {
        ChangeRequest {
            identity: identity.to_string(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            resource: resource.map(str::to_string),
        }
    }

    #[test]
    fn identities_with_equal_sets_share_one_group() {
        let groups = group(vec![
            request("a", &["Mail.Send", "User.Read.All"], None),
            request("b", &["user.read.all", "mail.send"], None),
            request("c", &["Mail.Send"], None),
        ]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].identities, vec!["a", "b"]);
        assert_eq!(groups[0].permissions, vec!["Mail.Send", "User.Read.All"]);
        assert_eq!(groups[1].identities, vec!["c"]);
    }

    #[test]
    fn records_of_one_identity_merge_and_resources_stay_apart() {
        let groups = group(vec![
            request("a", &["Mail.Send"], Some("Graph")),
            request("A ", &["mail.send", "Mail.Read"], Some("graph")),
            request("a", &["Exchange.ManageAsApp"], Some("Exchange")),
            request("  ", &["Mail.Send"], None),
        ]);
        assert_eq!(
            groups,
            vec![
                RequestGroup {
                    resource: Some("Graph".into()),
                    permissions: vec!["Mail.Send".into(), "Mail.Read".into()],
                    identities: vec!["a".into()]
                },
                RequestGroup {
                    resource: Some("Exchange".into()),
                    permissions: vec!["Exchange.ManageAsApp".into()],
                    identities: vec!["a".into()]
                },
            ]
        );
    }

    #[test]
    fn an_empty_permission_set_is_its_own_group() {
        let groups = group(vec![
            request("a", &[], None),
            request("b", &["Mail.Send"], None),
        ]);
        assert_eq!(groups.len(), 2);
        assert!(groups[0].permissions.is_empty());
    }
}
