//! Pipeline records of Grant/Revoke/Set-GraphAppRole: one `{identity, permissions, resource}`
//! per piped object. They are merged per (resource, identity) and grouped so that identities
//! asking for the same permission set on the same resource share one bulk operation — which
//! keeps "identities × permissions" exactly what was asked.

use super::ops::{ChangeRequest, GrantPlan};

/// One bulk operation: these identities, these permissions, on this resource.
pub type RequestGroup = GrantPlan;

struct Merged {
    identity: String,
    permissions: Vec<String>,
}

/// Merges records per (resource, identity) — permissions unioned, case-insensitively, first
/// spelling kept — then groups identities with equal permission sets. Input order is preserved.
pub fn group(requests: Vec<ChangeRequest>) -> Vec<RequestGroup> {
    let key = |s: &str| s.trim().to_lowercase();
    // resource key -> (resource as given, identities in first-seen order)
    let mut resources: Vec<(String, Option<String>, Vec<Merged>)> = Vec::new();
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
        let index = match resources.iter().position(|(k, _, _)| *k == resource_key) {
            Some(i) => i,
            None => {
                resources.push((resource_key, resource, Vec::new()));
                resources.len() - 1
            }
        };
        let identities = &mut resources[index].2;
        let entry = match identities
            .iter()
            .position(|m| key(&m.identity) == key(&identity))
        {
            Some(i) => &mut identities[i],
            None => {
                identities.push(Merged {
                    identity,
                    permissions: Vec::new(),
                });
                identities.last_mut().expect("just pushed")
            }
        };
        for permission in request.permissions {
            let permission = permission.trim().to_string();
            if !permission.is_empty()
                && !entry.permissions.iter().any(|p| key(p) == key(&permission))
            {
                entry.permissions.push(permission);
            }
        }
    }
    let mut groups: Vec<RequestGroup> = Vec::new();
    for (_, resource, identities) in resources {
        let start = groups.len();
        for merged in identities {
            let mut set: Vec<String> = merged.permissions.iter().map(|p| key(p)).collect();
            set.sort();
            let existing = groups[start..].iter_mut().find(|g| {
                let mut other: Vec<String> = g.permissions.iter().map(|p| key(p)).collect();
                other.sort();
                other == set
            });
            match existing {
                Some(g) => g.identities.push(merged.identity),
                None => groups.push(RequestGroup {
                    resource: resource.clone(),
                    permissions: merged.permissions,
                    identities: vec![merged.identity],
                }),
            }
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
