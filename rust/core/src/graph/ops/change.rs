//! Grant / revoke / set: resolve the resource, permissions and identities (input problems fail
//! before any write), plan per identity, emit what needs no write, then write in `$batch`es and
//! emit each row as its writes complete.

use serde_json::{json, Value};
use uuid::Uuid;

use super::results::{ChangeResult, ChangeStatus, ResourceRef};
use super::{dedupe, ChangeArgs, ChangeTarget, GrantPlan, OperationSummary, Summary};
use crate::error::{Error, Result};
use crate::events::{item, verbose, warn, EventSink};
use crate::graph::batch::{self, Completion, SubRequest};
use crate::graph::client::GraphClient;
use crate::graph::errors::Access;
use crate::graph::grouping::group;
use crate::graph::odata::ApiPath;
use crate::graph::planner::{plan, Action, Mode};
use crate::graph::progress::Progress;
use crate::graph::resolve::{
    resolve_permissions, resolve_resource, resolve_waiting_for_new, AssignmentQuery,
    REPLICATION_WAIT,
};
use crate::input::Input;

/// One output row of grant / revoke / set.
struct Row {
    identity: String,
    principal: Option<(Uuid, Option<String>, Option<String>)>,
    permission: String,
    permission_id: Option<Uuid>,
    status: ChangeStatus,
    assignment_id: Option<String>,
    error: Option<Error>,
    pending: usize,
    grant: bool,
}

impl Row {
    fn result(&self, resource: &ResourceRef) -> ChangeResult {
        let (identity_id, identity_name, identity_type) = match &self.principal {
            Some((id, name, kind)) => (Some(*id), name.clone(), kind.clone()),
            None => (None, None, None),
        };
        ChangeResult {
            identity: self.identity.clone(),
            identity_id,
            identity_name,
            identity_type,
            resource: resource.clone(),
            permission: self.permission.clone(),
            permission_id: self.permission_id,
            status: self.status,
            assignment_id: self.assignment_id.clone(),
            error: self.error.clone(),
        }
    }
}

/// `graph.grant` / `graph.revoke` / `graph.set`. Takes either `identities` + `permissions` (+
/// `resource`), or `requests`: pipeline records `{identity, permissions, resource}` that are
/// grouped into as few bulk runs as possible (see `grouping::group`).
pub async fn change(
    client: &GraphClient<'_>,
    mode: Mode,
    args: ChangeArgs,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let records = match args.target {
        ChangeTarget::Plan(plan) => {
            return change_group(client, mode, plan, &args.new_identities, args.what_if, sink).await
        }
        ChangeTarget::Records(records) => records,
    };
    let mut groups = group(records);
    if mode != Mode::Set {
        // A piped record with nothing to grant or revoke (e.g. a Test-RunbookPermission row
        // for an excess permission) adds nothing; only when every record is empty is it an error.
        groups.retain(|g| !g.permissions.is_empty());
        if groups.is_empty() {
            return Err(Error::invalid_argument("no permission was given"));
        }
    }
    let mut total: Option<OperationSummary> = None;
    for group in groups {
        let summary = change_group(
            client,
            mode,
            group,
            &args.new_identities,
            args.what_if,
            sink,
        )
        .await?;
        total = Some(match total {
            None => summary,
            Some(sum) => sum.merge(summary),
        });
    }
    total.ok_or_else(|| Error::invalid_argument("no identity was given"))
}

async fn change_group(
    client: &GraphClient<'_>,
    mode: Mode,
    a: GrantPlan,
    new_identities: &[String],
    what_if: bool,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let mut summary = Summary::start(client);
    let identities = dedupe(a.identities);
    let permissions = a.permissions;
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
    let resolved = resolve_waiting_for_new(
        client,
        &identities,
        new_identities,
        AssignmentQuery::Resource(resource.id),
        &mut progress,
        sink,
        REPLICATION_WAIT,
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
                        status: ChangeStatus::Failed,
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
                        status: ChangeStatus::Failed,
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
                status: ChangeStatus::Failed,
                assignment_id: None,
                error: None,
                pending: 0,
                grant: matches!(p.action, Action::Grant | Action::AlreadyGranted { .. }),
            };
            match p.action {
                Action::AlreadyGranted { assignment_id } => {
                    row.status = ChangeStatus::AlreadyGranted;
                    row.assignment_id = Some(assignment_id);
                }
                Action::NotAssigned => row.status = ChangeStatus::NotAssigned,
                Action::Grant if what_if => row.status = ChangeStatus::WouldGrant,
                Action::Revoke { assignment_ids } if what_if => {
                    row.status = ChangeStatus::WouldRevoke;
                    row.assignment_id = assignment_ids.into_iter().next();
                }
                Action::Grant => {
                    row.pending = 1;
                    let body = json!({"principalId": ri.sp.id, "resourceId": resource.id, "appRoleId": p.role_id});
                    writes.push((index, SubRequest::post(assigned_to.relative(), body)));
                }
                Action::Revoke { assignment_ids } => {
                    row.pending = assignment_ids.len();
                    row.status = ChangeStatus::NotAssigned;
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
    let resource_ref = ResourceRef::of(&resource);
    // Everything that needs no write is final now: emit it first.
    for row in rows.iter().filter(|r| r.pending == 0) {
        summary.count(row.status.name());
        item(sink, row.result(&resource_ref));
        done += 1;
    }
    progress.update(done, total, "");
    let resource_name = resource.name().to_string();
    batch::run(client, writes, |index, completion| {
        let Some(row) = rows.get_mut(index) else {
            return Vec::new();
        };
        apply_write(client, row, completion, &resource_name);
        if row.pending == 0 {
            summary.count(row.status.name());
            item(sink, row.result(&resource_ref));
            done += 1;
            progress.update(done, total, "");
        }
        Vec::new()
    })
    .await;
    progress.finish();
    if what_if {
        verbose(sink, "WhatIf: no change was made");
    }
    if let Some(note) = new_roles_note(&rows) {
        warn(sink, note);
    }
    Ok(summary.finish(client, None))
}

/// Said once per command when a managed identity was granted a role: its tokens keep the roles
/// they were issued with, and its platform endpoint caches them, so the runbook may not see the
/// role at once.
fn new_roles_note(rows: &[Row]) -> Option<String> {
    let mut identities: Vec<String> = Vec::new();
    let mut permissions: Vec<String> = Vec::new();
    for row in rows.iter().filter(|r| r.status == ChangeStatus::Granted) {
        let Some((_, name, Some(kind))) = &row.principal else {
            continue;
        };
        if !kind.eq_ignore_ascii_case("ManagedIdentity") {
            continue;
        }
        let name = name.clone().unwrap_or_else(|| row.identity.clone());
        if !identities.contains(&name) {
            identities.push(name);
        }
        if !permissions.contains(&row.permission) {
            permissions.push(row.permission.clone());
        }
    }
    if identities.is_empty() {
        return None;
    }
    let who = match identities.len() {
        1 => format!("'{}'", crate::graph::denied::one_line(&identities[0])),
        n => format!("{n} managed identities"),
    };
    let shown: Vec<&str> = permissions.iter().take(5).map(String::as_str).collect();
    Some(format!(
        "Tokens that {who} obtained before this grant lack the new role(s): a managed identity's token keeps the roles it was issued with, and its platform endpoint may hand back a cached token for up to 24 hours. In the runbook, check with: Test-IdentityPermission {} {} {} (add {} to wait for it).",
        Input::Permission,
        shown.join(","),
        Input::Refresh,
        Input::Wait
    ))
}

fn apply_write(
    client: &GraphClient<'_>,
    row: &mut Row,
    completion: Completion,
    resource_name: &str,
) {
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
    let outcome: std::result::Result<(ChangeStatus, Option<String>), Error> =
        match &completion.response {
            Err(e) => Err(Error::new(e.kind, format!("{what} failed: {}", e.message))
                .with_details(
                    e.details
                        .clone()
                        .unwrap_or_else(|| json!({"attempts": completion.attempts})),
                )),
            Ok(sub) if sub.is_success() => {
                if row.grant {
                    Ok((
                        ChangeStatus::Granted,
                        sub.body
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    ))
                } else {
                    Ok((ChangeStatus::Revoked, None))
                }
            }
            Ok(sub) => {
                let info = sub.error_info();
                if row.grant && info.is_already_exists() {
                    Ok((ChangeStatus::AlreadyGranted, None))
                } else if !row.grant && sub.status == 404 {
                    Ok((ChangeStatus::NotAssigned, None))
                } else {
                    Err(completion.refusal(client, sub, Access::Write, &what))
                }
            }
        };
    match outcome {
        Err(e) => {
            row.status = ChangeStatus::Failed;
            row.error = Some(e);
        }
        Ok((status, id)) if row.grant => {
            row.status = status;
            row.assignment_id = id;
        }
        // Revocations of several assignments: Failed > Revoked > NotAssigned.
        Ok((status, _)) => {
            if row.status != ChangeStatus::Failed
                && (status == ChangeStatus::Revoked || row.status != ChangeStatus::Revoked)
            {
                row.status = status;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::events::VecSink;
    use crate::graph::client::testing::{batch_reply, client, response, FakeTransport};
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
            Ok(batch_reply(req, |r| {
                let u = r["url"].as_str().unwrap();
                match r["method"].as_str().unwrap() {
                    "GET" if u.contains("/appRoleAssignments") => (
                        200,
                        json!({}),
                        json!({"value": [{"id": "asg-b", "appRoleId": ROLE_B, "resourceId": GRAPH_ID, "principalId": MI}]}),
                    ),
                    "GET" => (
                        200,
                        json!({}),
                        json!({"id": MI, "displayName": "mi-1", "servicePrincipalType": "ManagedIdentity"}),
                    ),
                    m => write(m, &r["body"]),
                }
            }))
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
        let args = ChangeArgs {
            target: ChangeTarget::Plan(GrantPlan {
                identities: vec![MI.to_string()],
                permissions: perms.iter().map(|p| p.to_string()).collect(),
                resource: None,
            }),
            what_if,
            new_identities: Vec::new(),
        };
        let summary = serde_json::to_value(change(&c, op, args, &sink).await.unwrap()).unwrap();
        let items = sink.items();
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
