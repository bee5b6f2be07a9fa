//! The app-role operations: list roles, grant / revoke / set, list assignments, permission names.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::batch::{self, Completion, SubRequest};
use super::client::GraphClient;
use super::errors::{item_error, Access};
use super::model::ServicePrincipal;
use super::odata::ApiPath;
use super::planner::{plan, Action, Mode};
use super::progress::Progress;
use super::resolve::{
    resolve_identities, resolve_permissions, resolve_resource, wildcard_match, AssignmentQuery,
};
use crate::api::parse_args;
use crate::error::{Error, Result};
use crate::events::{verbose, warn, Event, EventSink};

/// A string or an array of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppRolesArgs {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeArgs {
    identities: OneOrMany,
    #[serde(default)]
    permissions: Option<OneOrMany>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    what_if: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentsArgs {
    identities: OneOrMany,
    #[serde(default)]
    resource: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NamesArgs {
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
}

/// Counts for the summary every operation returns.
pub(crate) struct Summary {
    started: std::time::SystemTime,
    pub requested: usize,
    pub succeeded: usize,
    pub failed: usize,
    by_status: BTreeMap<&'static str, usize>,
}

impl Summary {
    pub fn start(client: &GraphClient<'_>) -> Self {
        Summary {
            started: client.clock().now(),
            requested: 0,
            succeeded: 0,
            failed: 0,
            by_status: BTreeMap::new(),
        }
    }

    fn count(&mut self, status: &'static str) {
        *self.by_status.entry(status).or_default() += 1;
        if status == "Failed" {
            self.failed += 1;
        } else {
            self.succeeded += 1;
        }
    }

    pub fn to_json(&self, client: &GraphClient<'_>) -> Value {
        let stats = client.stats();
        let elapsed = client
            .clock()
            .now()
            .duration_since(self.started)
            .unwrap_or_default();
        let mut v = json!({
            "requested": self.requested,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "requests": stats.requests,
            "batches": stats.batches,
            "elapsedMs": elapsed.as_millis() as u64,
        });
        if !self.by_status.is_empty() {
            v["byStatus"] = json!(self.by_status);
        }
        v
    }
}

fn emit(sink: &dyn EventSink, item: Value) {
    sink.emit(Event::Item { item });
}

fn resource_fields(resource: &ServicePrincipal) -> (Value, Value, Value) {
    (
        json!(resource.display_name),
        json!(resource.id),
        json!(resource.app_id),
    )
}

// ---------------------------------------------------------------------------------------------

/// `graph.appRoles`: the resource's application roles (optionally filtered by a wildcard).
pub async fn app_roles(
    client: &GraphClient<'_>,
    args: &Value,
    sink: &dyn EventSink,
) -> Result<Value> {
    let a: AppRolesArgs = parse_args(args)?;
    let mut summary = Summary::start(client);
    let resource = resolve_resource(client, a.resource.as_deref()).await?;
    let (rname, rid, rapp) = resource_fields(&resource);
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
        emit(
            sink,
            json!({
                "id": r.id, "value": r.value, "displayName": r.display_name, "description": r.description,
                "isEnabled": r.enabled(), "allowedMemberTypes": r.allowed_member_types,
                "resource": rname, "resourceId": rid, "resourceAppId": rapp,
            }),
        );
    }
    Ok(summary.to_json(client))
}

/// `graph.permissionNames`: grantable role values, sorted (tab completion).
pub async fn permission_names(
    client: &GraphClient<'_>,
    args: &Value,
    sink: &dyn EventSink,
) -> Result<Value> {
    let a: NamesArgs = parse_args(args)?;
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
        emit(sink, Value::String(n));
    }
    Ok(summary.to_json(client))
}

// ---------------------------------------------------------------------------------------------

/// One output row of grant / revoke / set.
struct Row {
    identity: String,
    principal: Option<(Uuid, Option<String>, Option<String>)>,
    permission: String,
    permission_id: Option<Uuid>,
    status: &'static str,
    assignment_id: Option<String>,
    error: Option<Error>,
    pending: usize,
    grant: bool,
}

impl Row {
    fn to_json(&self, resource: &ServicePrincipal) -> Value {
        let (rname, rid, rapp) = resource_fields(resource);
        let (id, name, kind) = match &self.principal {
            Some((id, name, kind)) => (json!(id), json!(name), json!(kind)),
            None => (Value::Null, Value::Null, Value::Null),
        };
        json!({
            "identity": self.identity,
            "identityId": id,
            "identityName": name,
            "identityType": kind,
            "resource": rname,
            "resourceId": rid,
            "resourceAppId": rapp,
            "permission": self.permission,
            "permissionId": self.permission_id,
            "status": self.status,
            "assignmentId": self.assignment_id,
            "error": self.error.as_ref().map(item_error),
        })
    }
}

/// De-duplicates inputs (trimmed, case-insensitive), keeping the first spelling.
fn dedupe(inputs: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    inputs
        .into_iter()
        .filter(|s| seen.insert(s.trim().to_lowercase()))
        .collect()
}

/// `graph.grant` / `graph.revoke` / `graph.set`. Takes either `identities` + `permissions` (+
/// `resource`), or `requests`: pipeline records `{identity, permissions, resource}` that are
/// grouped into as few bulk runs as possible (see `grouping::group`).
pub async fn change(
    client: &GraphClient<'_>,
    mode: Mode,
    args: &Value,
    sink: &dyn EventSink,
) -> Result<Value> {
    let Some(records) = args.get("requests") else {
        return change_group(client, mode, args, sink).await;
    };
    let records: Vec<super::grouping::ChangeRequest> = parse_args(records)?;
    let what_if = args.get("whatIf").cloned().unwrap_or(Value::Bool(false));
    let mut total: Option<Value> = None;
    for group in super::grouping::group(records) {
        let group_args = json!({
            "identities": group.identities,
            "permissions": group.permissions,
            "resource": group.resource,
            "whatIf": what_if,
        });
        let summary = change_group(client, mode, &group_args, sink).await?;
        total = Some(match total {
            None => summary,
            Some(sum) => add_summaries(sum, summary),
        });
    }
    total.ok_or_else(|| Error::invalid_argument("no identity was given"))
}

/// Adds the counts of two summaries; request statistics and time are the later one's (cumulative).
fn add_summaries(mut sum: Value, later: Value) -> Value {
    for field in ["requested", "succeeded", "failed"] {
        let n = sum[field].as_u64().unwrap_or(0) + later[field].as_u64().unwrap_or(0);
        sum[field] = json!(n);
    }
    for field in ["requests", "batches", "elapsedMs"] {
        sum[field] = later[field].clone();
    }
    if let Some(statuses) = later.get("byStatus").and_then(Value::as_object) {
        for (status, n) in statuses {
            let current = sum["byStatus"][status].as_u64().unwrap_or(0);
            sum["byStatus"][status] = json!(current + n.as_u64().unwrap_or(0));
        }
    }
    sum
}

async fn change_group(
    client: &GraphClient<'_>,
    mode: Mode,
    args: &Value,
    sink: &dyn EventSink,
) -> Result<Value> {
    let a: ChangeArgs = parse_args(args)?;
    let mut summary = Summary::start(client);
    let identities = dedupe(a.identities.into_vec());
    let permissions = a.permissions.map(OneOrMany::into_vec).unwrap_or_default();
    if identities.is_empty() {
        return Err(Error::invalid_argument("no identity was given"));
    }
    if permissions.is_empty() && mode != Mode::Set {
        return Err(Error::invalid_argument("no permission was given"));
    }
    // Input-set problems fail the whole operation here, before any write.
    let resource = resolve_resource(client, a.resource.as_deref()).await?;
    let roles = resolve_permissions(&resource, &permissions, mode != Mode::Revoke)?;
    let activity = match mode {
        Mode::Grant => "Granting app roles",
        Mode::Revoke => "Revoking app roles",
        Mode::Set => "Setting app roles",
    };
    let mut progress = Progress::new(sink, client.clock().clone(), activity);
    let resolved = resolve_identities(
        client,
        &identities,
        AssignmentQuery::Resource(resource.id),
        &mut progress,
    )
    .await;

    let mut rows: Vec<Row> = Vec::new();
    let mut writes: Vec<(usize, SubRequest)> = Vec::new();
    let assigned_to = ApiPath::new("servicePrincipals")
        .id(resource.id)
        .segment("appRoleAssignedTo");
    for (input, outcome) in identities.iter().zip(resolved) {
        let ri = match outcome {
            Ok(ri) => ri,
            Err(e) => {
                for role in &roles {
                    rows.push(Row {
                        identity: input.clone(),
                        principal: None,
                        permission: role.name(),
                        permission_id: Some(role.id),
                        status: "Failed",
                        assignment_id: None,
                        error: Some(e.clone()),
                        pending: 0,
                        grant: true,
                    });
                }
                if roles.is_empty() {
                    // `set` with an empty wanted list: still report the identity's failure.
                    rows.push(Row {
                        identity: input.clone(),
                        principal: None,
                        permission: String::new(),
                        permission_id: None,
                        status: "Failed",
                        assignment_id: None,
                        error: Some(e),
                        pending: 0,
                        grant: false,
                    });
                }
                continue;
            }
        };
        if !ri
            .sp
            .service_principal_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("ManagedIdentity"))
        {
            verbose(
                sink,
                format!(
                    "'{}' resolved to {}, which is not a managed identity",
                    input,
                    ri.sp.describe()
                ),
            );
        }
        let principal = Some((
            ri.sp.id,
            ri.sp.display_name.clone(),
            ri.sp.service_principal_type.clone(),
        ));
        for p in plan(mode, &roles, &ri.assignments, resource.roles()) {
            let index = rows.len();
            let mut row = Row {
                identity: input.clone(),
                principal: principal.clone(),
                permission: p.permission.clone(),
                permission_id: Some(p.role_id),
                status: "Failed",
                assignment_id: None,
                error: None,
                pending: 0,
                grant: matches!(p.action, Action::Grant | Action::AlreadyGranted { .. }),
            };
            match p.action {
                Action::AlreadyGranted { assignment_id } => {
                    row.status = "AlreadyGranted";
                    row.assignment_id = Some(assignment_id);
                }
                Action::NotAssigned => row.status = "NotAssigned",
                Action::Grant if a.what_if => row.status = "WouldGrant",
                Action::Revoke { assignment_ids } if a.what_if => {
                    row.status = "WouldRevoke";
                    row.assignment_id = assignment_ids.into_iter().next();
                }
                Action::Grant => {
                    row.pending = 1;
                    let body = json!({"principalId": ri.sp.id, "resourceId": resource.id, "appRoleId": p.role_id});
                    writes.push((index, SubRequest::post(assigned_to.relative(), body)));
                }
                Action::Revoke { assignment_ids } => {
                    row.pending = assignment_ids.len();
                    row.status = "NotAssigned";
                    row.assignment_id = assignment_ids.first().cloned();
                    for id in assignment_ids {
                        writes.push((
                            index,
                            SubRequest::delete(assigned_to.clone().opaque_id(&id).relative()),
                        ));
                    }
                }
            }
            rows.push(row);
        }
    }
    summary.requested = rows.len();
    let total = rows.len();
    let mut done = 0usize;
    // Everything that needs no write is final now: emit it first.
    for row in rows.iter().filter(|r| r.pending == 0) {
        summary.count(row.status);
        emit(sink, row.to_json(&resource));
        done += 1;
    }
    progress.update(done, total, "");
    let resource_name = resource.name().to_string();
    batch::run(client, writes, |index, completion| {
        let Some(row) = rows.get_mut(index) else {
            return Vec::new();
        };
        apply_write(row, completion, &resource_name);
        if row.pending == 0 {
            summary.count(row.status);
            emit(sink, row.to_json(&resource));
            done += 1;
            progress.update(done, total, "");
        }
        Vec::new()
    })
    .await;
    progress.finish();
    if a.what_if {
        verbose(sink, "WhatIf: no change was made");
    }
    Ok(summary.to_json(client))
}

fn apply_write(row: &mut Row, completion: Completion, resource_name: &str) {
    row.pending = row.pending.saturating_sub(1);
    let identity = row
        .principal
        .as_ref()
        .and_then(|p| p.1.clone())
        .unwrap_or_else(|| row.identity.clone());
    let what = if row.grant {
        format!(
            "granting '{}' of '{resource_name}' to '{identity}'",
            row.permission
        )
    } else {
        format!(
            "revoking '{}' of '{resource_name}' from '{identity}'",
            row.permission
        )
    };
    let outcome: std::result::Result<(&'static str, Option<String>), Error> =
        match completion.response {
            Err(e) => Err(Error::new(e.kind, format!("{what} failed: {}", e.message))
                .with_details(
                    e.details
                        .clone()
                        .unwrap_or_else(|| json!({"attempts": completion.attempts})),
                )),
            Ok(sub) if sub.is_success() => {
                if row.grant {
                    Ok((
                        "Granted",
                        sub.body
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    ))
                } else {
                    Ok(("Revoked", None))
                }
            }
            Ok(sub) => {
                let info = sub.error_info();
                if row.grant && info.is_already_exists() {
                    Ok(("AlreadyGranted", None))
                } else if !row.grant && sub.status == 404 {
                    Ok(("NotAssigned", None))
                } else {
                    Err(info.to_error(Access::Write, &what))
                }
            }
        };
    match outcome {
        Err(e) => {
            row.status = "Failed";
            row.error = Some(e);
        }
        Ok((status, id)) if row.grant => {
            row.status = status;
            row.assignment_id = id;
        }
        // Revocations of several assignments: Failed > Revoked > NotAssigned.
        Ok((status, _)) => {
            if row.status != "Failed" && (status == "Revoked" || row.status != "Revoked") {
                row.status = status;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// `graph.assignments`: every app-role assignment the identities hold (optionally on one resource).
pub async fn assignments(
    client: &GraphClient<'_>,
    args: &Value,
    sink: &dyn EventSink,
) -> Result<Value> {
    let a: AssignmentsArgs = parse_args(args)?;
    let mut summary = Summary::start(client);
    let identities = dedupe(a.identities.into_vec());
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
        match done.response {
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
                    sub.error_info().to_error(Access::Read, "reading").message
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
                emit(
                    sink,
                    json!({
                        "identity": input, "identityId": null, "identityName": null,
                        "resource": null, "resourceId": null, "resourceAppId": null,
                        "permission": null, "permissionId": null, "assignmentId": null, "createdDateTime": null,
                        "error": item_error(&e),
                    }),
                );
            }
            Ok(ri) => {
                summary.succeeded += 1;
                let mut rows: Vec<Value> = ri
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
                        json!({
                            "identity": input,
                            "identityId": ri.sp.id,
                            "identityName": ri.sp.display_name,
                            "resource": resource_name,
                            "resourceId": asg.resource_id,
                            "resourceAppId": res.and_then(|r| r.app_id.clone()),
                            "permission": permission,
                            "permissionId": asg.app_role_id,
                            "assignmentId": asg.id,
                            "createdDateTime": asg.created_date_time,
                            "error": null,
                        })
                    })
                    .collect();
                rows.sort_by_key(|v| {
                    (
                        v["resource"].as_str().unwrap_or("").to_lowercase(),
                        v["permission"].as_str().unwrap_or("").to_lowercase(),
                    )
                });
                for row in rows {
                    items += 1;
                    emit(sink, row);
                }
            }
        }
    }
    progress.finish();
    let mut out = summary.to_json(client);
    out["items"] = json!(items);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::events::VecSink;
    use crate::graph::client::testing::{client, response, FakeTransport};
    use std::sync::Arc;
    use std::time::Duration;

    const GRAPH_ID: &str = "c0a80001-0000-4000-8000-000000000003";
    const MI: &str = "6c5b4a39-2817-4063-9d4e-3c2b1a0f9e04";
    const ROLE_A: &str = "e1000001-0000-4000-8000-00000000000a";
    const ROLE_B: &str = "e1000001-0000-4000-8000-00000000000b";

    /// A tiny Graph: the Graph resource with roles A and B; one identity holding B; writes
    /// answered by `write(method, body)`.
    fn fake_graph(
        write: impl Fn(&str, &Value) -> (u16, Value, Value) + Send + Sync + 'static,
    ) -> Arc<FakeTransport> {
        FakeTransport::new(move |req, _| {
            let url = req.url.as_str();
            if url.contains("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')") {
                return Ok(response(
                    200,
                    json!({"id": GRAPH_ID, "appId": "00000003-0000-0000-c000-000000000000", "displayName": "Microsoft Graph",
                        "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
                        "appRoles": [
                            {"id": ROLE_A, "value": "Role.A", "allowedMemberTypes": ["Application"], "isEnabled": true},
                            {"id": ROLE_B, "value": "Role.B", "allowedMemberTypes": ["Application"], "isEnabled": true}]}),
                    &[],
                ));
            }
            assert!(url.ends_with("/v1.0/$batch"), "unexpected {url}");
            let body: Value = serde_json::from_slice(req.body.as_ref().unwrap()).unwrap();
            let responses: Vec<Value> = body["requests"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let u = r["url"].as_str().unwrap();
                    let (status, headers, body) = match r["method"].as_str().unwrap() {
                        "GET" if u.contains("/appRoleAssignments") => (
                            200,
                            json!({}),
                            json!({"value": [{"id": "asg-b", "appRoleId": ROLE_B, "resourceId": GRAPH_ID, "principalId": MI}]}),
                        ),
                        "GET" => (200, json!({}), json!({"id": MI, "displayName": "mi-1", "servicePrincipalType": "ManagedIdentity"})),
                        m => write(m, &r["body"]),
                    };
                    json!({"id": r["id"], "status": status, "headers": headers, "body": body})
                })
                .collect();
            Ok(response(200, json!({"responses": responses}), &[]))
        })
    }

    async fn grant(
        t: Arc<FakeTransport>,
        clock: FakeClock,
        op: Mode,
        perms: &[&str],
        what_if: bool,
    ) -> (Value, Vec<Value>) {
        let c = client(t, clock);
        let sink = VecSink::default();
        let args = json!({"identities": [MI], "permissions": perms, "whatIf": what_if});
        let summary = change(&c, op, &args, &sink).await.unwrap();
        let items = sink
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Item { item } => Some(item),
                _ => None,
            })
            .collect();
        (summary, items)
    }

    #[tokio::test]
    async fn retry_budget_exhaustion_is_a_failed_item_and_others_complete() {
        let t = fake_graph(|_, _| {
            (
                429,
                json!({"Retry-After": "1"}),
                json!({"error": {"code": "TooManyRequests", "message": "Please retry again later."}}),
            )
        });
        let clock = FakeClock::at_unix(1_000);
        let (summary, items) = grant(
            t.clone(),
            clock.clone(),
            Mode::Grant,
            &["role.a", "Role.B"],
            false,
        )
        .await;
        assert_eq!(items.len(), 2);
        let b = items.iter().find(|i| i["permission"] == "Role.B").unwrap();
        assert_eq!(
            (b["status"].as_str(), b["assignmentId"].as_str()),
            (Some("AlreadyGranted"), Some("asg-b"))
        );
        let a = items.iter().find(|i| i["permission"] == "Role.A").unwrap();
        assert_eq!(a["status"], "Failed");
        assert_eq!(a["error"]["errorId"], "ManagedIdentity.Throttled");
        assert!(a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("granting 'Role.A'"));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(1); 7]);
        assert_eq!(
            (summary["succeeded"].as_u64(), summary["failed"].as_u64()),
            (Some(1), Some(1))
        );
        // 1 resource GET + 1 read batch + 8 write batches.
        assert_eq!(
            (summary["requests"].as_u64(), summary["batches"].as_u64()),
            (Some(10), Some(9))
        );
        let writes: usize = t
            .calls()
            .iter()
            .filter_map(|c| c.body.as_ref())
            .map(|b| {
                b["requests"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| r["method"] == "POST")
                    .count()
            })
            .sum();
        assert_eq!(writes, 8, "only the throttled write is re-sent");
        let post = t
            .calls()
            .iter()
            .filter_map(|c| c.body.clone())
            .flat_map(|b| b["requests"].as_array().unwrap().clone())
            .find(|r| r["method"] == "POST")
            .unwrap();
        assert_eq!(
            post["url"],
            format!("/servicePrincipals/{GRAPH_ID}/appRoleAssignedTo")
        );
        assert_eq!(
            post["body"],
            json!({"principalId": MI, "resourceId": GRAPH_ID, "appRoleId": ROLE_A})
        );
    }

    #[tokio::test]
    async fn races_map_to_success() {
        // A concurrent create: "already exists" is AlreadyGranted.
        let t = fake_graph(|_, _| {
            (
                400,
                json!({}),
                json!({"error": {"code": "Request_BadRequest", "message": "Permission being assigned already exists on the object"}}),
            )
        });
        let (_, items) = grant(t, FakeClock::at_unix(1), Mode::Grant, &["Role.A"], false).await;
        assert_eq!(items[0]["status"], "AlreadyGranted");
        assert!(items[0]["error"].is_null());
        // A concurrent delete: 404 is NotAssigned.
        let t = fake_graph(|m, _| {
            assert_eq!(m, "DELETE");
            (
                404,
                json!({}),
                json!({"error": {"code": "Request_ResourceNotFound", "message": "gone"}}),
            )
        });
        let (_, items) = grant(
            t.clone(),
            FakeClock::at_unix(1),
            Mode::Revoke,
            &["Role.B"],
            false,
        )
        .await;
        assert_eq!(items[0]["status"], "NotAssigned");
        let delete = t
            .calls()
            .iter()
            .filter_map(|c| c.body.clone())
            .flat_map(|b| b["requests"].as_array().unwrap().clone())
            .find(|r| r["method"] == "DELETE")
            .unwrap();
        assert_eq!(
            delete["url"],
            format!("/servicePrincipals/{GRAPH_ID}/appRoleAssignedTo/asg-b")
        );
    }

    #[tokio::test]
    async fn what_if_reads_only() {
        let t = fake_graph(|m, _| panic!("WhatIf sent a {m}"));
        let (summary, items) = grant(
            t.clone(),
            FakeClock::at_unix(1),
            Mode::Set,
            &["Role.A"],
            true,
        )
        .await;
        let statuses: Vec<&str> = items
            .iter()
            .map(|i| i["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["WouldGrant", "WouldRevoke"]);
        assert_eq!(summary["batches"], 1);
    }
}
