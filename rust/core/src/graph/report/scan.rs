//! The tenant-wide fan-out, all through the bulk engine (`$batch`, its concurrency, throttling
//! and per-item retry rules): list the service principals of the chosen type page by page, read
//! each one's `appRoleAssignments` (following next links), and read each resource API's app
//! roles once. Rows leave as soon as their resource's roles are known.
//!
//! Memory stays bounded: the next page of principals is requested only while fewer than
//! [`HIGH_WATER`] principals wait for their assignments; rows are handed on, never kept here
//! (only rows of a resource still being read wait, per resource).

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::row::{Principal, ReportRow};
use super::Collector;
use crate::error::{Error, Result};
use crate::events::warn;
use crate::graph::batch::{self, Completion, SubRequest};
use crate::graph::client::GraphClient;
use crate::graph::errors::Access;
use crate::graph::model::{page_values, Assignment, ServicePrincipal, IDENTITY_SELECT};
use crate::graph::odata::{ApiPath, Filter};
use crate::graph::progress::Progress;

/// Principals waiting for their assignments before the next page is requested.
pub const HIGH_WATER: usize = 2_000;
/// Graph's largest page.
const PAGE_SIZE: u32 = 999;

const ASSIGNMENT_SELECT: &[&str] = &[
    "id",
    "appRoleId",
    "resourceId",
    "principalId",
    "resourceDisplayName",
    "createdDateTime",
];
const RESOURCE_SELECT: &[&str] = &["id", "appId", "displayName", "appRoles"];

/// Which service principals the report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrincipalType {
    #[default]
    ManagedIdentity,
    Application,
    All,
}

enum Key {
    Page,
    Assignments(Arc<Principal>),
    Resource(Uuid),
}

struct Scan<'a, 'c> {
    client: &'a GraphClient<'c>,
    out: &'a mut Collector<'c>,
    progress: &'a mut Progress<'c>,
    /// `None`: the resource could not be read (rows fall back to ids).
    resources: HashMap<Uuid, Option<ServicePrincipal>>,
    pending: HashMap<Uuid, Vec<(Arc<Principal>, Assignment)>>,
    waiting: usize,
    parked: Option<String>,
    listed: usize,
    done: usize,
    list_error: Option<Error>,
}

/// The first page of principals.
pub fn first_page(kind: PrincipalType) -> String {
    let path = ApiPath::new("servicePrincipals");
    let path = match kind {
        PrincipalType::ManagedIdentity => {
            path.filter(Filter::eq("servicePrincipalType", "ManagedIdentity"))
        }
        PrincipalType::Application => {
            path.filter(Filter::eq("servicePrincipalType", "Application"))
        }
        PrincipalType::All => path,
    };
    path.select(IDENTITY_SELECT).top(PAGE_SIZE).relative()
}

fn principal_of(sp: &ServicePrincipal) -> Principal {
    let arm = sp.alternative_names.as_ref().and_then(|names| {
        names
            .iter()
            .find(|n| n.to_ascii_lowercase().starts_with("/subscriptions/"))
            .cloned()
    });
    Principal {
        identity_name: sp.display_name.clone(),
        identity_id: Some(sp.id),
        identity_app_id: sp.app_id.clone(),
        principal_type: sp.service_principal_type.clone(),
        arm_resource_id: arm,
    }
}

/// Runs the scan; rows go to `out`. An error listing the principals ends the report (the
/// rows already streamed stay); a principal whose assignments cannot be read is an error row.
pub async fn scan<'c>(
    client: &GraphClient<'c>,
    kind: PrincipalType,
    out: &mut Collector<'c>,
    progress: &mut Progress<'c>,
) -> Result<()> {
    let mut s = Scan {
        client,
        out,
        progress,
        resources: HashMap::new(),
        pending: HashMap::new(),
        waiting: 0,
        parked: None,
        listed: 0,
        done: 0,
        list_error: None,
    };
    let first = vec![(Key::Page, SubRequest::get(first_page(kind)))];
    batch::run(client, first, |key, done| s.on_done(key, done)).await;
    // Rows of resources whose read never completed (cannot happen unless dropped) are flushed.
    let left: Vec<Uuid> = s.pending.keys().copied().collect();
    for rid in left {
        s.resources.entry(rid).or_insert(None);
        s.flush(rid);
    }
    s.progress.finish();
    match s.list_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn failure(
    client: &GraphClient<'_>,
    done: Completion,
    what: &str,
) -> std::result::Result<serde_json::Value, Error> {
    match &done.response {
        Ok(sub) if sub.is_success() => {}
        Ok(sub) => return Err(done.refusal(client, sub, Access::Read, what)),
        Err(_) => {}
    }
    done.response.map(|sub| sub.body)
}

impl Scan<'_, '_> {
    fn on_done(&mut self, key: Key, done: Completion) -> Vec<(Key, SubRequest)> {
        match key {
            Key::Page => self.on_page(done),
            Key::Assignments(p) => self.on_assignments(p, done),
            Key::Resource(rid) => {
                self.on_resource(rid, done);
                Vec::new()
            }
        }
    }

    fn next_link(&self, body: &serde_json::Value) -> Result<Option<String>> {
        match body
            .get("@odata.nextLink")
            .and_then(serde_json::Value::as_str)
        {
            Some(link) => self.client.relative_from_link(link).map(Some),
            None => Ok(None),
        }
    }

    fn on_page(&mut self, done: Completion) -> Vec<(Key, SubRequest)> {
        let body = match failure(self.client, done, "listing service principals") {
            Ok(b) => b,
            Err(e) => {
                self.list_error.get_or_insert(e);
                return Vec::new();
            }
        };
        let mut more = Vec::new();
        let values = match page_values(&body) {
            Ok(v) => v,
            Err(e) => {
                self.list_error.get_or_insert(e);
                return more;
            }
        };
        for v in values {
            match ServicePrincipal::from_value(v) {
                Ok(sp) => {
                    let p = Arc::new(principal_of(&sp));
                    self.listed += 1;
                    self.waiting += 1;
                    self.out.principal();
                    let path = ApiPath::new("servicePrincipals")
                        .id(sp.id)
                        .segment("appRoleAssignments")
                        .select(ASSIGNMENT_SELECT)
                        .top(PAGE_SIZE);
                    more.push((Key::Assignments(p), SubRequest::get(path.relative())));
                }
                Err(e) => warn(self.out.sink(), e.message),
            }
        }
        // The next page goes first, so listing overlaps with reading assignments.
        match self.next_link(&body) {
            Ok(Some(link)) if self.waiting >= HIGH_WATER => self.parked = Some(link),
            Ok(Some(link)) => more.insert(0, (Key::Page, SubRequest::get(link))),
            Ok(None) => {}
            Err(e) => {
                self.list_error.get_or_insert(e);
            }
        }
        self.progress.update(self.done, self.listed, "Identities");
        more
    }

    fn on_assignments(&mut self, p: Arc<Principal>, done: Completion) -> Vec<(Key, SubRequest)> {
        let mut more = Vec::new();
        let what = "reading the app role assignments of an identity";
        let body = failure(self.client, done, what).and_then(|b| {
            page_values(&b)?;
            Ok(b)
        });
        match body {
            Err(e) => {
                self.out.row(error_row(&p, e));
                self.finish_principal(&mut more);
            }
            Ok(body) => {
                for v in page_values(&body).map(|v| v.as_slice()).unwrap_or(&[]) {
                    match Assignment::from_value(v) {
                        Ok(asg) => {
                            if let Some(req) = self.assignment(&p, asg) {
                                more.push(req);
                            }
                        }
                        Err(e) => warn(self.out.sink(), e.message),
                    }
                }
                match self.next_link(&body) {
                    Ok(Some(link)) => more.push((Key::Assignments(p), SubRequest::get(link))),
                    Ok(None) => self.finish_principal(&mut more),
                    Err(e) => {
                        self.out.row(error_row(&p, e));
                        self.finish_principal(&mut more);
                    }
                }
            }
        }
        more
    }

    fn finish_principal(&mut self, more: &mut Vec<(Key, SubRequest)>) {
        self.waiting = self.waiting.saturating_sub(1);
        self.done += 1;
        if self.waiting < HIGH_WATER / 2 {
            if let Some(link) = self.parked.take() {
                more.push((Key::Page, SubRequest::get(link)));
            }
        }
        self.progress.update(self.done, self.listed, "Identities");
    }

    /// Emits the row now, or parks it until its resource is read (returning that read when it
    /// is the first row waiting for the resource).
    fn assignment(&mut self, p: &Arc<Principal>, asg: Assignment) -> Option<(Key, SubRequest)> {
        let rid = asg.resource_id;
        if let Some(res) = self.resources.get(&rid) {
            let row = self.out.make_row(p, &asg, res.as_ref());
            self.out.row(row);
            return None;
        }
        let waiting = self.pending.entry(rid).or_default();
        waiting.push((p.clone(), asg));
        (waiting.len() == 1).then(|| {
            let path = ApiPath::new("servicePrincipals")
                .id(rid)
                .select(RESOURCE_SELECT);
            (Key::Resource(rid), SubRequest::get(path.relative()))
        })
    }

    fn on_resource(&mut self, rid: Uuid, done: Completion) {
        let read = failure(self.client, done, "reading a resource API's app roles")
            .and_then(|b| ServicePrincipal::from_value(&b));
        let res = match read {
            Ok(sp) => Some(sp),
            Err(e) => {
                warn(
                    self.out.sink(),
                    format!("cannot read the app roles of resource {rid}: {}", e.message),
                );
                None
            }
        };
        self.resources.insert(rid, res);
        self.flush(rid);
    }

    fn flush(&mut self, rid: Uuid) {
        let res = self.resources.get(&rid).cloned().flatten();
        for (p, asg) in self.pending.remove(&rid).unwrap_or_default() {
            let row = self.out.make_row(&p, &asg, res.as_ref());
            self.out.row(row);
        }
    }
}

fn error_row(p: &Principal, e: Error) -> ReportRow {
    ReportRow {
        principal: p.clone(),
        resource: None,
        resource_id: None,
        resource_app_id: None,
        permission: None,
        permission_id: None,
        risk_level: super::risk::RiskLevel::Low,
        assignment_id: None,
        created_date_time: None,
        drift: None,
        error: Some(e),
    }
}
