//! Automation account identities: read them, and change them from the current state (GET, then
//! one PATCH naming only what changes, `null` for a removal) so an identity that was not named
//! is never dropped. The plan is a pure function ([`plan`]) so every combination is unit-tested.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::ArmClient;
use super::identities::find_by_name;
use super::ids::{self, check_group_name, same_id, IdentityId};
use super::model::{AttachedIdentity, AutomationIdentityRow};
use super::resource::{self, AutomationAccountResource};
use super::ResourceType;
use crate::error::{Error, ErrorKind, Result};

const RT: ResourceType = ResourceType::AutomationAccounts;

/// An account's identity block, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurrentIdentity {
    pub system: bool,
    pub principal_id: Option<String>,
    pub tenant_id: Option<String>,
    pub user_assigned: Vec<AttachedIdentity>,
}

impl CurrentIdentity {
    /// From the account's `identity` block (`type`, `principalId`, `tenantId`,
    /// `userAssignedIdentities`); no block is no identity.
    pub fn of(account: &AutomationAccountResource) -> CurrentIdentity {
        let Some(identity) = &account.identity else {
            return CurrentIdentity::default();
        };
        let system = identity
            .kind
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("SystemAssigned"));
        let mut user_assigned: Vec<AttachedIdentity> = identity
            .user_assigned_identities
            .iter()
            .map(|(id, u)| AttachedIdentity {
                name: id.rsplit('/').next().unwrap_or_default().to_string(),
                resource_id: id.clone(),
                client_id: u.client_id.clone(),
                principal_id: u.principal_id.clone(),
            })
            .collect();
        user_assigned.sort_by_key(|a| a.name.to_lowercase());
        CurrentIdentity {
            system,
            principal_id: identity.principal_id.clone().filter(|_| system),
            tenant_id: identity.tenant_id.clone(),
            user_assigned,
        }
    }
}

/// The identity type for a system flag and a number of user-assigned identities.
pub fn identity_type(system: bool, user_assigned: usize) -> &'static str {
    match (system, user_assigned > 0) {
        (false, false) => "None",
        (true, false) => "SystemAssigned",
        (false, true) => "UserAssigned",
        (true, true) => "SystemAssigned, UserAssigned",
    }
}

/// What the caller asks: `add`/`remove` are resource ids (names resolved beforehand).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub system: Option<bool>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// The PATCH to send (`None`: nothing changes) and the steps, in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub body: Option<Value>,
    pub steps: Vec<String>,
    pub disables_system: bool,
}

pub fn plan(current: &CurrentIdentity, change: &Change) -> Result<Plan> {
    for a in &change.add {
        if change.remove.iter().any(|r| same_id(a, r)) {
            return Err(Error::invalid_argument(format!(
                "'{a}' is both added and removed; name it once"
            )));
        }
    }
    let attached = |id: &str| {
        current
            .user_assigned
            .iter()
            .any(|u| same_id(&u.resource_id, id))
    };
    let mut steps = Vec::new();
    let mut patch = Map::new();
    let system = change.system.unwrap_or(current.system);
    let disables_system = current.system && !system;
    if system && !current.system {
        steps.push(
            "turn the system-assigned identity on (a new service principal is created)".to_string(),
        );
    }
    if disables_system {
        steps.push(format!(
            "turn the system-assigned identity off: its service principal{} and every permission granted to it are deleted",
            current
                .principal_id
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default()
        ));
    }
    let mut count = current.user_assigned.len();
    for a in &change.add {
        if attached(a) || patch.contains_key(a.as_str()) {
            continue;
        }
        steps.push(format!("attach user-assigned identity {a}"));
        patch.insert(a.clone(), json!({}));
        count += 1;
    }
    for r in &change.remove {
        let Some(u) = current
            .user_assigned
            .iter()
            .find(|u| same_id(&u.resource_id, r))
        else {
            continue;
        };
        if patch.contains_key(u.resource_id.as_str()) {
            continue;
        }
        steps.push(format!("detach user-assigned identity {}", u.resource_id));
        patch.insert(u.resource_id.clone(), Value::Null);
        count -= 1;
    }
    if steps.is_empty() {
        return Ok(Plan {
            body: None,
            steps,
            disables_system: false,
        });
    }
    let mut identity = json!({"type": identity_type(system, count)});
    // With no user-assigned identity left the type says so; ARM refuses a map of only nulls.
    if count > 0 {
        identity["userAssignedIdentities"] = Value::Object(patch);
    }
    Ok(Plan {
        body: Some(json!({ "identity": identity })),
        steps,
        disables_system,
    })
}

fn row(
    sub: &str,
    group: &str,
    account: &str,
    current: CurrentIdentity,
    changes: Vec<String>,
    status: Option<&'static str>,
) -> AutomationIdentityRow {
    AutomationIdentityRow {
        automation_account_name: account.to_string(),
        resource_group_name: group.to_string(),
        subscription_id: sub.to_string(),
        identity_type: identity_type(current.system, current.user_assigned.len()).to_string(),
        system_assigned: current.system,
        principal_id: current.principal_id,
        tenant_id: current.tenant_id,
        user_assigned: current.user_assigned,
        changes,
        status,
        principal_created: false,
    }
}

async fn read(
    client: &ArmClient<'_>,
    sub: &str,
    group: &str,
    account: &str,
) -> Result<AutomationAccountResource> {
    check_group_name(group)?;
    let url = client.url(&ids::automation_path(sub, group, account), RT)?;
    let what = format!("reading Automation account '{account}'");
    let found = client.get_optional(url, &what).await?;
    found.as_ref().map(resource::parse).ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!("no Automation account named '{account}' in resource group '{group}'"),
        )
        .with_details(json!({"code": "ResourceNotFound"}))
    })
}

/// `Get-AutomationAccountIdentity`.
pub async fn get(
    client: &ArmClient<'_>,
    sub: &str,
    group: &str,
    account: &str,
) -> Result<AutomationIdentityRow> {
    let v = read(client, sub, group, account).await?;
    Ok(row(
        sub,
        group,
        account,
        CurrentIdentity::of(&v),
        Vec::new(),
        None,
    ))
}

/// `Set-AutomationAccountIdentity` arguments (`add`/`remove`: names or resource ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetIdentity {
    pub resource_group: String,
    pub account: String,
    pub system: Option<bool>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub what_if: bool,
}

/// A name or resource id → a resource id. Removals match the attached identities first.
async fn resolve_reference(
    client: &ArmClient<'_>,
    sub: &str,
    reference: &str,
    attached: &[AttachedIdentity],
) -> Result<String> {
    let r = reference.trim();
    if r.starts_with('/') {
        return IdentityId::parse(r).map(|_| r.to_string()).ok_or_else(|| {
            Error::invalid_argument(format!(
                "'{r}' is not a user-assigned identity resource id (expected \
                 /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)"
            ))
        });
    }
    let local: Vec<&AttachedIdentity> = attached
        .iter()
        .filter(|a| a.name.eq_ignore_ascii_case(r))
        .collect();
    if local.len() == 1 {
        return Ok(local[0].resource_id.clone());
    }
    let found = find_by_name(client, sub, r).await?;
    let ids_found: Vec<String> = found.into_iter().filter_map(|r| r.id).collect();
    match ids_found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::new(
            ErrorKind::NotFound,
            format!("no user-assigned identity named '{r}' in subscription {sub}"),
        )),
        many => Err(Error::new(
            ErrorKind::AmbiguousName,
            format!(
                "{} user-assigned identities are named '{r}'; pass the resource id of the one you mean: {}",
                many.len(),
                many.join(", ")
            ),
        )
        .with_details(json!({"candidates": many}))),
    }
}

pub async fn set(
    client: &ArmClient<'_>,
    sub: &str,
    args: &SetIdentity,
) -> Result<AutomationIdentityRow> {
    let (group, account) = (args.resource_group.as_str(), args.account.as_str());
    let before = CurrentIdentity::of(&read(client, sub, group, account).await?);
    let mut change = Change {
        system: args.system,
        ..Default::default()
    };
    for a in &args.add {
        change
            .add
            .push(resolve_reference(client, sub, a, &before.user_assigned).await?);
    }
    for r in &args.remove {
        match resolve_reference(client, sub, r, &before.user_assigned).await {
            Ok(id) => change.remove.push(id),
            // Not attached and nowhere to be found: nothing to detach.
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let plan = plan(&before, &change)?;
    let Some(body) = plan.body else {
        return Ok(row(
            sub,
            group,
            account,
            before,
            plan.steps,
            Some("Unchanged"),
        ));
    };
    if args.what_if {
        return Ok(row(sub, group, account, before, plan.steps, Some("WhatIf")));
    }
    let url = client.url(&ids::automation_path(sub, group, account), RT)?;
    let what = format!("changing the identities of Automation account '{account}'");
    let patched: AutomationAccountResource =
        resource::parse(&client.call(Method::PATCH, url, Some(&body), &what).await?);
    // An answer without the identity block (an empty 200, or one that was accepted): read it.
    let after = if patched.identity.is_some() {
        patched
    } else {
        read(client, sub, group, account).await?
    };
    let after = CurrentIdentity::of(&after);
    let principal_created = !before.system && after.system;
    let mut updated = row(sub, group, account, after, plan.steps, Some("Updated"));
    updated.principal_created = principal_created;
    Ok(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a";
    const B: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b";

    fn current(system: bool, ids: &[&str]) -> CurrentIdentity {
        let mut map = Map::new();
        for id in ids {
            map.insert(id.to_string(), json!({"clientId": "c", "principalId": "p"}));
        }
        let kind = identity_type(system, ids.len());
        CurrentIdentity::of(&resource::parse(
            &json!({"identity": {"type": kind, "principalId": "sys-p", "tenantId": "t", "userAssignedIdentities": map}}),
        ))
    }

    #[test]
    fn adding_keeps_everything_not_named() {
        let p = plan(
            &current(true, &[A]),
            &Change {
                add: vec![B.into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            p.body.unwrap(),
            json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {B: {}}}})
        );
        assert!(!p.disables_system);
    }

    #[test]
    fn removing_one_sends_null_and_keeps_the_other() {
        let p = plan(
            &current(false, &[A, B]),
            &Change {
                remove: vec![A.to_lowercase()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            p.body.unwrap(),
            json!({"identity": {"type": "UserAssigned", "userAssignedIdentities": {A: null}}})
        );
    }

    #[test]
    fn removing_the_last_one_changes_the_type() {
        let p = plan(
            &current(true, &[A]),
            &Change {
                remove: vec![A.into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            p.body.unwrap(),
            json!({"identity": {"type": "SystemAssigned"}})
        );
        let p = plan(
            &current(true, &[]),
            &Change {
                system: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(p.body.unwrap(), json!({"identity": {"type": "None"}}));
        assert!(p.disables_system);
        assert!(
            p.steps[0].contains("sys-p") && p.steps[0].contains("deleted"),
            "{:?}",
            p.steps
        );
    }

    #[test]
    fn no_ops_send_nothing() {
        let c = current(true, &[A]);
        let p = plan(
            &c,
            &Change {
                system: Some(true),
                add: vec![A.into()],
                remove: vec![B.into()],
            },
        )
        .unwrap();
        assert!(p.body.is_none() && p.steps.is_empty());
        let e = plan(
            &c,
            &Change {
                add: vec![B.into()],
                remove: vec![B.into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
    }

    #[test]
    fn turning_the_system_identity_on() {
        let p = plan(
            &current(false, &[A]),
            &Change {
                system: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            p.body.unwrap(),
            json!({"identity": {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {}}})
        );
    }
}
