//! Least privilege, computed (issue 22): which Microsoft Graph permissions a request or a whole
//! runbook needs, from Microsoft's published permission data, and what an identity holds beyond
//! that.
//!
//! - [`data`], [`path`], [`lookup`]: the embedded table, path matching and
//!   [`PermissionData::allowing`] — "which permissions allow METHOD PATH for scheme X", the one
//!   question every command here (and a 403 explanation) asks. They live in the
//!   `managed-identity-graph-permissions` crate (the emulator answers from the same table) and
//!   are re-exported here under their old paths; [`graph`] gives the table with this crate's
//!   error.
//! - [`mg`]: Microsoft Graph PowerShell's command map (`MgCommandMetadata.json`).
//! - [`runbook`]: a script's call sites (as PowerShell's parser found them) → rows.
//! - [`compare`]: needed against held → Missing / Broader / Excess / Satisfied.
//!
//! Operations (the protocol edge decodes their args):
//!
//! | op | args | items |
//! |---|---|---|
//! | `permissions.find` | `{method?="GET", uri?, command?, commandMetadataPath?}` | [`FindRow`] (one per command variant with `command`) |
//! | `permissions.analyze` | `{scripts: [ScriptFacts], commandMetadataPath?}` | [`runbook::CallRow`] |
//! | `permissions.test` | `{context, identity?, scheme?="Application", scripts, commandMetadataPath?}` | [`compare::PermissionRow`] |

pub mod compare;
pub mod mg;
pub mod runbook;
pub mod token_check;

pub use managed_identity_graph_permissions::data;
pub use managed_identity_graph_permissions::lookup;
pub use managed_identity_graph_permissions::path;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

pub use compare::{Held, PermissionRow, PermissionStatus};
pub use data::{PermissionData, Scheme, Source};
pub use lookup::{Allowing, Requirement};
pub use path::Method;
pub use runbook::{CallRow, CallStatus, ScriptFacts};

use crate::error::{Error, ErrorKind, Result};
use crate::events::{item, EventSink};
use crate::graph::client::GraphClient;
use crate::graph::progress::Progress;
use crate::graph::report::risk::RiskTable;
use crate::graph::resolve::{resolve_identities, resolve_resource, AssignmentQuery};

/// `permissions.find`: one request (or each variant of a Graph PowerShell command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindQuery {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub command: Option<String>,
    pub command_metadata_path: Option<String>,
}

/// One permission that allows a request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FoundPermission {
    /// `A` or `A + B` (B: the data's AlsoRequires).
    pub permission: String,
    pub scheme: &'static str,
    pub privilege_level: Option<u8>,
    pub least: bool,
}

/// The answer of `Find-GraphPermission`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindRow {
    pub method: String,
    pub uri: String,
    pub command: Option<String>,
    pub path_template: Option<String>,
    /// The least privileged application permission(s) (each entry one way: `A` or `A + B`).
    pub application: Vec<String>,
    /// The least privileged delegated permission(s) (work or school accounts).
    pub delegated: Vec<String>,
    pub application_supported: bool,
    /// Every permission that allows it, least privileged first, per scheme.
    pub permissions: Vec<FoundPermission>,
    pub note: Option<String>,
}

/// The embedded Microsoft Graph table, decoded on first use (then shared); a table that does not
/// decode is an internal error.
pub fn graph() -> Result<&'static PermissionData> {
    managed_identity_graph_permissions::graph().map_err(|e| Error::internal(e.message()))
}

fn level(value: u8) -> Option<u8> {
    (value != 9).then_some(value)
}

/// The answer for one request.
pub fn find_one(data: &PermissionData, method: Method, uri: &str) -> FindRow {
    let mut row = FindRow {
        method: method.name().to_string(),
        uri: uri.to_string(),
        command: None,
        path_template: None,
        application: Vec::new(),
        delegated: Vec::new(),
        application_supported: false,
        permissions: Vec::new(),
        note: None,
    };
    let Some(allowing) = data.allowing(method, uri) else {
        row.note = Some(format!(
            "Microsoft's permission data does not list {} (commit {})",
            path::path_part(uri),
            short(&data.source.commit)
        ));
        return row;
    };
    row.path_template = Some(allowing.template().to_string());
    if allowing.method_unknown() {
        row.note = Some(format!(
            "Microsoft's permission data lists this path, but not for {}",
            method.name()
        ));
        return row;
    }
    row.application = allowing
        .least(Scheme::Application)
        .iter()
        .map(Requirement::display)
        .collect();
    row.delegated = allowing
        .least(Scheme::DelegatedWork)
        .iter()
        .map(Requirement::display)
        .collect();
    row.application_supported = allowing.supports(Scheme::Application);
    for scheme in Scheme::ALL {
        for r in allowing.requirements(scheme) {
            row.permissions.push(FoundPermission {
                permission: r.display(),
                scheme: scheme.name(),
                privilege_level: level(r.level),
                least: r.least,
            });
        }
    }
    if !row.application_supported {
        row.note = Some(
            "No application permission supports this request: an app or managed identity cannot call it; only a signed-in user (delegated) can".into(),
        );
    }
    row
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn mg_map(path: Option<&str>) -> Result<Option<Arc<mg::MgMap>>> {
    match path.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => mg::load(Path::new(p)).map(Some),
    }
}

/// What `permissions.find` answered, beside its rows.
#[derive(Debug, Clone, Serialize)]
pub struct FindSummary {
    pub count: usize,
    pub source: Source,
}

/// What `permissions.analyze` found, beside its rows: the permissions the scripts need.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzeSummary {
    pub call_sites: usize,
    pub unresolved: usize,
    pub application: Vec<String>,
    pub delegated: Vec<String>,
    pub command_map: bool,
    pub source: Source,
}

/// What `permissions.test` compared, beside its rows: how many rows have each status.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestSummary {
    pub call_sites: usize,
    pub held: Vec<String>,
    pub by_status: BTreeMap<PermissionStatus, usize>,
    pub source: Source,
}

/// `permissions.find`.
pub fn find(q: FindQuery, sink: &dyn EventSink) -> Result<FindSummary> {
    let data = graph()?;
    let mut count = 0;
    match (&q.uri, &q.command) {
        (Some(uri), None) => {
            let text = q.method.as_deref().unwrap_or("GET");
            let method = Method::parse(text).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "unknown method '{text}'; use GET, POST, PATCH, PUT or DELETE"
                ))
            })?;
            if uri.trim().is_empty() {
                return Err(Error::invalid_argument("the URI is empty"));
            }
            item(sink, find_one(data, method, uri));
            count += 1;
        }
        (None, Some(command)) => {
            let Some(map) = mg_map(q.command_metadata_path.as_deref())? else {
                return Err(Error::new(ErrorKind::NotFound, mg::MAP_MISSING));
            };
            let variants = map.variants(command);
            if variants.is_empty() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("the Microsoft Graph PowerShell command map does not list '{command}'"),
                ));
            }
            for v in variants {
                let method = Method::parse(&v.method).unwrap_or(Method::Get);
                let mut row = find_one(data, method, &v.uri);
                row.command = Some(v.command.clone());
                item(sink, row);
                count += 1;
            }
        }
        _ => {
            return Err(Error::invalid_argument(
                "give either a URI (with its method) or a command",
            ))
        }
    }
    Ok(FindSummary {
        count,
        source: data.source.clone(),
    })
}

/// `permissions.analyze`.
pub fn analyze(
    scripts: &[ScriptFacts],
    metadata: Option<&str>,
    sink: &dyn EventSink,
) -> Result<AnalyzeSummary> {
    let data = graph()?;
    let map = mg_map(metadata)?;
    let calls = runbook::analyse(data, scripts, map.as_deref())?;
    let mut application: Vec<String> = Vec::new();
    let mut delegated: Vec<String> = Vec::new();
    let mut unresolved = 0;
    for c in &calls {
        for p in &c.row.application {
            if !application.iter().any(|a| a.eq_ignore_ascii_case(p)) {
                application.push(p.clone());
            }
        }
        for p in &c.row.delegated {
            if !delegated.iter().any(|a| a.eq_ignore_ascii_case(p)) {
                delegated.push(p.clone());
            }
        }
        if c.request.is_none() {
            unresolved += 1;
        }
        item(sink, c.row.clone());
    }
    application.sort();
    delegated.sort();
    Ok(AnalyzeSummary {
        call_sites: calls.len(),
        unresolved,
        application,
        delegated,
        command_map: map.is_some(),
        source: data.source.clone(),
    })
}

/// An identity's application permissions on Microsoft Graph, as `Get-GraphAppRoleAssignment`
/// reads them.
pub async fn held_app_roles(
    client: &GraphClient<'_>,
    identity: &str,
    sink: &dyn EventSink,
) -> Result<Held> {
    let resource = resolve_resource(client, Some("Graph")).await?;
    let mut progress = Progress::new(sink, client.clock().clone(), "Reading app role assignments");
    let mut outcomes = resolve_identities(
        client,
        &[identity.to_string()],
        AssignmentQuery::Resource(resource.id),
        &mut progress,
    )
    .await;
    drop(progress);
    let ri = outcomes
        .pop()
        .ok_or_else(|| Error::internal("no outcome for the identity"))??;
    let mut permissions: Vec<String> = ri
        .assignments
        .iter()
        .filter(|a| a.resource_id == resource.id)
        .map(|a| {
            resource
                .roles()
                .iter()
                .find(|r| r.id == a.app_role_id)
                .and_then(|r| r.value.clone())
                .unwrap_or_else(|| a.app_role_id.to_string())
        })
        .collect();
    permissions.sort();
    permissions.dedup();
    Ok(Held {
        identity: Some(identity.to_string()),
        identity_id: Some(ri.sp.id),
        identity_name: ri.sp.display_name.clone(),
        permissions,
    })
}

/// `permissions.test`, once the held permissions are known.
pub fn test(
    scripts: &[ScriptFacts],
    metadata: Option<&str>,
    scheme: Scheme,
    held: &Held,
    sink: &dyn EventSink,
) -> Result<TestSummary> {
    let data = graph()?;
    let map = mg_map(metadata)?;
    let calls = runbook::analyse(data, scripts, map.as_deref())?;
    let risk = RiskTable::load(None)?;
    let rows = compare::compare(data, &calls, scheme, held, &risk);
    let mut by_status = BTreeMap::new();
    for r in &rows {
        *by_status.entry(r.status).or_insert(0) += 1;
        item(sink, r.clone());
    }
    Ok(TestSummary {
        call_sites: calls.len(),
        held: held.permissions.clone(),
        by_status,
        source: data.source.clone(),
    })
}
