//! Reads: a resource's app roles, its grantable permission names, and the assignments
//! identities hold.

use std::collections::HashMap;

use uuid::Uuid;

use super::{
    dedupe, AppRoleRow, AppRolesQuery, AssignmentRow, AssignmentsQuery, OperationSummary,
    PermissionNamesQuery, ResourceRef, Summary,
};
use crate::error::{Error, Result};
use crate::events::{item, warn, EventSink};
use crate::graph::batch::{self, SubRequest};
use crate::graph::client::GraphClient;
use crate::graph::errors::Access;
use crate::graph::model::ServicePrincipal;
use crate::graph::odata::ApiPath;
use crate::graph::progress::Progress;
use crate::graph::resolve::{
    resolve_identities, resolve_resource, wildcard_match, AssignmentQuery,
};

/// `graph.appRoles`: the resource's application roles (optionally filtered by a wildcard).
pub async fn app_roles(
    client: &GraphClient<'_>,
    a: AppRolesQuery,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let mut summary = Summary::start(client);
    let resource = resolve_resource(client, a.resource.as_deref()).await?;
    let resource_ref = ResourceRef::of(&resource);
    let mut roles: Vec<_> = resource
        .roles()
        .iter()
        .filter(|r| r.for_applications())
        .filter(|r| {
            a.name
                .as_deref()
                .is_none_or(|p| wildcard_match(p, &r.name()))
        })
        .collect();
    roles.sort_by_key(|r| r.name().to_lowercase());
    for r in roles {
        summary.requested += 1;
        summary.succeeded += 1;
        item(sink, AppRoleRow::new(r, resource_ref.clone()));
    }
    Ok(summary.finish(client, None))
}

/// `graph.permissionNames`: grantable role values, sorted (tab completion).
pub async fn permission_names(
    client: &GraphClient<'_>,
    a: PermissionNamesQuery,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let mut summary = Summary::start(client);
    let resource = resolve_resource(client, a.resource.as_deref()).await?;
    let prefix = a.prefix.unwrap_or_default().to_lowercase();
    let mut names: Vec<String> = resource
        .roles()
        .iter()
        .filter(|r| r.for_applications() && r.enabled())
        .filter_map(|r| r.value.clone())
        .filter(|v| v.to_lowercase().starts_with(&prefix))
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    names.dedup();
    for n in names {
        summary.requested += 1;
        summary.succeeded += 1;
        item(sink, n);
    }
    Ok(summary.finish(client, None))
}

/// `graph.assignments`: every app-role assignment the identities hold (optionally on one resource).
pub async fn assignments(
    client: &GraphClient<'_>,
    a: AssignmentsQuery,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let mut summary = Summary::start(client);
    let identities = dedupe(a.identities);
    if identities.is_empty() {
        return Err(Error::invalid_argument("no identity was given"));
    }
    let filter = match a
        .resource
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(r) => Some(resolve_resource(client, Some(r)).await?),
        None => None,
    };
    let query = filter
        .as_ref()
        .map_or(AssignmentQuery::All, |r| AssignmentQuery::Resource(r.id));
    let mut progress = Progress::new(sink, client.clock().clone(), "Reading app role assignments");
    let resolved = resolve_identities(client, &identities, query, &mut progress).await;

    // Role names per resource, each resource read once (batched).
    let mut resources: HashMap<Uuid, Option<ServicePrincipal>> = HashMap::new();
    if let Some(r) = &filter {
        resources.insert(r.id, Some(r.clone()));
    }
    let mut reads = Vec::new();
    for ri in resolved.iter().flatten() {
        for asg in &ri.assignments {
            if let std::collections::hash_map::Entry::Vacant(e) = resources.entry(asg.resource_id) {
                e.insert(None);
                let path = ApiPath::new("servicePrincipals")
                    .id(asg.resource_id)
                    .select(&[
                        "id",
                        "appId",
                        "displayName",
                        "appRoles",
                        "appOwnerOrganizationId",
                    ]);
                reads.push((asg.resource_id, SubRequest::get(path.relative())));
            }
        }
    }
    batch::run(client, reads, |rid, done| {
        match &done.response {
            Ok(sub) if sub.is_success() => match ServicePrincipal::from_value(&sub.body) {
                Ok(sp) => {
                    resources.insert(rid, Some(sp));
                }
                Err(e) => warn(
                    sink,
                    format!("cannot read the roles of resource {rid}: {}", e.message),
                ),
            },
            Ok(sub) => warn(
                sink,
                format!(
                    "cannot read the roles of resource {rid}: {}",
                    done.refusal(client, sub, Access::Read, "reading").message
                ),
            ),
            Err(e) => warn(
                sink,
                format!("cannot read the roles of resource {rid}: {}", e.message),
            ),
        }
        Vec::new()
    })
    .await;

    let mut items = 0usize;
    summary.requested = identities.len();
    for (input, outcome) in identities.iter().zip(resolved) {
        match outcome {
            Err(e) => {
                summary.failed += 1;
                item(sink, AssignmentRow::failed(input, e));
            }
            Ok(ri) => {
                summary.succeeded += 1;
                let mut rows: Vec<AssignmentRow> = ri
                    .assignments
                    .iter()
                    .map(|asg| {
                        let res = resources.get(&asg.resource_id).and_then(Option::as_ref);
                        let permission = res
                            .and_then(|r| r.roles().iter().find(|role| role.id == asg.app_role_id))
                            .map(|role| role.name())
                            .unwrap_or_else(|| asg.app_role_id.to_string());
                        let resource_name = res
                            .and_then(|r| r.display_name.clone())
                            .or_else(|| asg.resource_display_name.clone());
                        AssignmentRow {
                            identity: input.clone(),
                            identity_id: Some(ri.sp.id),
                            identity_name: ri.sp.display_name.clone(),
                            resource: ResourceRef {
                                name: resource_name,
                                id: Some(asg.resource_id),
                                app_id: res.and_then(|r| r.app_id.clone()),
                            },
                            permission: Some(permission),
                            permission_id: Some(asg.app_role_id),
                            assignment_id: Some(asg.id.clone()),
                            created_date_time: asg.created_date_time.clone(),
                            error: None,
                        }
                    })
                    .collect();
                rows.sort_by_key(|row| {
                    (
                        row.resource.name.as_deref().unwrap_or("").to_lowercase(),
                        row.permission.as_deref().unwrap_or("").to_lowercase(),
                    )
                });
                for row in &rows {
                    items += 1;
                    item(sink, row.clone());
                }
            }
        }
    }
    progress.finish();
    Ok(summary.finish(client, Some(items)))
}
