//! User-assigned identities: create (idempotent: the same name in the same location is
//! `Existing`, another location an error), read (one, or a wildcard over a group or the whole
//! subscription), remove (a missing identity is `NotFound`, not an error).

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::json;

use super::client::ArmClient;
use super::ids::{self, check_group_name, check_identity_name, normalize_location};
use super::model::IdentityRow;
use super::resource::{self, IdentityResource};
use super::ResourceType;
use crate::error::{Error, ErrorKind, Result};
use crate::names::wildcard_match;

const RT: ResourceType = ResourceType::UserAssignedIdentities;

/// `New-UserAssignedIdentity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewIdentity {
    pub name: String,
    pub resource_group: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub what_if: bool,
}

pub async fn create(client: &ArmClient<'_>, sub: &str, args: &NewIdentity) -> Result<IdentityRow> {
    check_identity_name(&args.name)?;
    check_group_name(&args.resource_group)?;
    let location = normalize_location(&args.location);
    if location.is_empty() {
        return Err(Error::invalid_argument("a location is required"));
    }
    let path = ids::identity_path(sub, &args.resource_group, &args.name);
    let url = client.url(&path, RT)?;
    let what = format!("creating user-assigned identity '{}'", args.name);
    if let Some(existing) = client.get_optional(url.clone(), &what).await? {
        let row = IdentityRow::from_resource(resource::parse(&existing), Some("Existing"));
        if normalize_location(&row.location) != location {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "user-assigned identity '{}' already exists in resource group '{}' in location '{}', not '{}'; \
                     an identity cannot move: use that location or another name (InvalidResourceLocation)",
                    args.name, args.resource_group, row.location, args.location
                ),
            )
            .with_details(json!({"code": "InvalidResourceLocation", "resourceId": row.resource_id})));
        }
        return Ok(row);
    }
    if args.what_if {
        return Ok(IdentityRow {
            name: args.name.clone(),
            resource_group_name: args.resource_group.clone(),
            subscription_id: sub.to_string(),
            location,
            client_id: None,
            principal_id: None,
            tenant_id: None,
            resource_id: path,
            status: Some("WouldCreate"),
        });
    }
    let body = json!({"location": location, "tags": args.tags});
    let created = client.call(Method::PUT, url, Some(&body), &what).await?;
    Ok(IdentityRow::from_resource(
        resource::parse(&created),
        Some("Created"),
    ))
}

/// `Get-UserAssignedIdentity`: `name` may hold `*` and `?`; without a group the whole
/// subscription is listed. A name without wildcards that matches nothing is `NotFound`.
pub async fn get(
    client: &ArmClient<'_>,
    sub: &str,
    name: Option<&str>,
    group: Option<&str>,
) -> Result<Vec<IdentityRow>> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let wildcard = name.is_some_and(|n| n.contains(['*', '?']));
    if let (Some(n), Some(g), false) = (name, group, wildcard) {
        check_group_name(g)?;
        let url = client.url(&ids::identity_path(sub, g, n), RT)?;
        let what = format!("reading user-assigned identity '{n}'");
        return match client.get_optional(url, &what).await? {
            Some(v) => Ok(vec![IdentityRow::from_resource(resource::parse(&v), None)]),
            None => Err(not_found(n, Some(g))),
        };
    }
    let path = match group {
        Some(g) => {
            check_group_name(g)?;
            format!(
                "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities",
                ids::group_path(sub, g)
            )
        }
        None => format!(
            "/subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
        ),
    };
    let url = client.url(&path, RT)?;
    let items = client.list(url, "listing user-assigned identities").await?;
    let mut rows: Vec<IdentityRow> = items
        .into_iter()
        .map(|v| IdentityRow::from_resource(resource::parse(&v), None))
        .filter(|r| name.is_none_or(|n| wildcard_match(n, &r.name)))
        .collect();
    rows.sort_by(|a, b| {
        (a.resource_group_name.to_lowercase(), a.name.to_lowercase())
            .cmp(&(b.resource_group_name.to_lowercase(), b.name.to_lowercase()))
    });
    if rows.is_empty() {
        if let (Some(n), false) = (name, wildcard) {
            return Err(not_found(n, group));
        }
    }
    Ok(rows)
}

fn not_found(name: &str, group: Option<&str>) -> Error {
    let place = match group {
        Some(g) => format!("resource group '{g}'"),
        None => "the subscription".to_string(),
    };
    Error::new(
        ErrorKind::NotFound,
        format!("no user-assigned identity named '{name}' in {place}"),
    )
    .with_details(json!({"code": "ResourceNotFound"}))
}

/// `Remove-UserAssignedIdentity`: deleting the identity deletes its service principal and with
/// it every app-role assignment it holds.
pub async fn remove(
    client: &ArmClient<'_>,
    sub: &str,
    name: &str,
    group: &str,
    what_if: bool,
) -> Result<IdentityRow> {
    check_group_name(group)?;
    let path = ids::identity_path(sub, group, name);
    let url = client.url(&path, RT)?;
    let what = format!("removing user-assigned identity '{name}'");
    let Some(existing) = client
        .get_optional(url.clone(), &what)
        .await?
        .map(|v| resource::parse::<IdentityResource>(&v))
    else {
        return Ok(IdentityRow {
            name: name.to_string(),
            resource_group_name: group.to_string(),
            subscription_id: sub.to_string(),
            location: String::new(),
            client_id: None,
            principal_id: None,
            tenant_id: None,
            resource_id: path,
            status: Some("NotFound"),
        });
    };
    if what_if {
        return Ok(IdentityRow::from_resource(existing, Some("WouldRemove")));
    }
    client.call(Method::DELETE, url, None, &what).await?;
    Ok(IdentityRow::from_resource(existing, Some("Removed")))
}

/// Every user-assigned identity of the subscription named `name` (case-insensitive).
pub async fn find_by_name(
    client: &ArmClient<'_>,
    sub: &str,
    name: &str,
) -> Result<Vec<IdentityResource>> {
    let url = client.url(
        &format!("/subscriptions/{sub}/providers/Microsoft.ManagedIdentity/userAssignedIdentities"),
        RT,
    )?;
    let items = client.list(url, "listing user-assigned identities").await?;
    Ok(items
        .into_iter()
        .map(|v| resource::parse::<IdentityResource>(&v))
        .filter(|r| {
            r.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .collect())
}
