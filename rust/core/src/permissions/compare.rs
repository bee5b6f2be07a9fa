//! What a runbook needs against what its identity holds: Missing, Broader, Excess, Satisfied
//! (plus the call sites no permission of the scheme allows and those that could not be
//! resolved), each with the call sites behind it.
//!
//! Every row carries `permission`: what the identity should hold for that row (Missing: the
//! needed one; Broader: the least one to hold instead; Satisfied: the held one; the others: none),
//! so the rows piped into `Set-GraphAppRole` merge into exactly the least set, and into
//! `Grant-GraphAppRole` grant what is missing.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use super::data::{PermissionData, Scheme};
use super::runbook::Analysed;
use crate::graph::report::risk::RiskTable;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PermissionStatus {
    /// Needed, not held, and no held permission covers the call.
    Missing,
    /// The call is covered only by a more privileged held permission (`insteadOf`).
    Broader,
    /// Held, and no call site needs it.
    Excess,
    /// Held and needed.
    Satisfied,
    /// No permission of this scheme allows the call at all.
    NotSupported,
    /// The call could not be resolved (or is not in the data): check it by hand.
    Unresolved,
}

/// One output row of `Test-RunbookPermission`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionRow {
    pub status: PermissionStatus,
    /// The permission the row is about.
    pub name: Option<String>,
    /// What the identity should hold for this row (pipeline input of Set-/Grant-GraphAppRole).
    pub permission: Vec<String>,
    /// Broader: the held permission that covers the calls today.
    pub instead_of: Option<String>,
    /// The audit's risk level of `name` (application permissions).
    pub risk_level: Option<&'static str>,
    pub call_sites: Vec<String>,
    pub reason: String,
    pub scheme: &'static str,
    pub identity: Option<String>,
    pub identity_id: Option<Uuid>,
    pub identity_name: Option<String>,
    pub resource: Option<&'static str>,
}

/// Who holds what.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub identity: Option<String>,
    pub identity_id: Option<Uuid>,
    pub identity_name: Option<String>,
    /// Permission names as granted.
    pub permissions: Vec<String>,
}

/// Compares the analysed call sites with what is held.
pub fn compare(
    data: &PermissionData,
    calls: &[Analysed],
    scheme: Scheme,
    held: &Held,
    risk: &RiskTable,
) -> Vec<PermissionRow> {
    let held_set: HashSet<String> = held
        .permissions
        .iter()
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let display = |name: &str| -> String {
        held.permissions
            .iter()
            .find(|h| h.eq_ignore_ascii_case(name))
            .cloned()
            .or_else(|| data.permission(name).map(|p| p.name.clone()))
            .unwrap_or_else(|| name.to_string())
    };
    // name (lower) → (display, sites); broader: (needed, instead of) → sites.
    let mut satisfied: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut missing: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut broader: BTreeMap<(String, String), (String, String, Vec<String>)> = BTreeMap::new();
    let mut used: HashSet<String> = HashSet::new();
    let mut rows = Vec::new();
    let scheme_word = if scheme == Scheme::Application {
        "application"
    } else {
        "delegated"
    };
    let add = |map: &mut BTreeMap<String, (String, Vec<String>)>, p: &str, site: &str| {
        map.entry(p.to_ascii_lowercase())
            .or_insert_with(|| (display(p), Vec::new()))
            .1
            .push(site.to_string());
    };
    for call in calls {
        let site = call.row.site();
        let allowing = call
            .request
            .as_ref()
            .and_then(|(m, path)| data.allowing(*m, path));
        let Some(allowing) = allowing else {
            let reason = call
                .row
                .note
                .clone()
                .unwrap_or_else(|| "not resolved".into());
            rows.push(row(PermissionStatus::Unresolved, None, vec![site], reason));
            continue;
        };
        if !allowing.supports(scheme) {
            let others = if scheme == Scheme::Application {
                allowing.recommended(Scheme::DelegatedWork)
            } else {
                allowing.recommended(Scheme::Application)
            };
            let reason = match others {
                Some(o) => format!(
                    "no {scheme_word} permission supports this request (only {})",
                    o.display()
                ),
                None => format!("no {scheme_word} permission supports this request"),
            };
            rows.push(row(
                PermissionStatus::NotSupported,
                None,
                vec![site],
                reason,
            ));
            continue;
        }
        let Some(least) = allowing.recommended(scheme) else {
            continue;
        };
        match allowing.satisfied_by(scheme, &held_set) {
            // Held and least for the request: Satisfied unless Microsoft also marks a
            // lower-level permission least (GET /users/{id}: User.ReadBasic.All and
            // User.ReadWrite.All are both marked), then it is Broader.
            Some(r) if r.least && r.level <= least.level => {
                for p in &r.permissions {
                    add(&mut satisfied, p, &site);
                }
            }
            Some(r) => {
                used.extend(r.permissions.iter().map(|p| p.to_ascii_lowercase()));
                for p in &least.permissions {
                    if held_set.contains(&p.to_ascii_lowercase()) {
                        add(&mut satisfied, p, &site);
                    } else {
                        broader
                            .entry((p.to_ascii_lowercase(), r.display()))
                            .or_insert_with(|| (display(p), r.display(), Vec::new()))
                            .2
                            .push(site.clone());
                    }
                }
            }
            None => {
                for p in &least.permissions {
                    if held_set.contains(&p.to_ascii_lowercase()) {
                        add(&mut satisfied, p, &site);
                    } else {
                        add(&mut missing, p, &site);
                    }
                }
            }
        }
    }
    let level = |name: &str| (scheme == Scheme::Application).then(|| risk.level(Some(name)).name());
    let mut out = Vec::new();
    for (_, (name, sites)) in missing {
        let reason = format!("needed by {} call site(s) and not granted", sites.len());
        let mut r = row(PermissionStatus::Missing, Some(&name), sites, reason);
        r.permission = vec![name.clone()];
        r.risk_level = level(&name);
        out.push(r);
    }
    for (_, (name, instead, sites)) in broader {
        let reason = format!(
            "covered today only by {instead}, which is more privileged: grant {name} and drop {instead} if nothing else needs it"
        );
        let mut r = row(PermissionStatus::Broader, Some(&name), sites, reason);
        r.permission = vec![name.clone()];
        r.instead_of = Some(instead);
        r.risk_level = level(&name);
        out.push(r);
    }
    for h in &held.permissions {
        let key = h.to_ascii_lowercase();
        if satisfied.contains_key(&key) || used.contains(&key) {
            continue;
        }
        let reason = "granted, and no call site needs it".to_string();
        let mut r = row(PermissionStatus::Excess, Some(h), Vec::new(), reason);
        r.risk_level = level(h);
        out.push(r);
    }
    for (_, (name, sites)) in satisfied {
        let reason = format!("granted and needed by {} call site(s)", sites.len());
        let mut r = row(PermissionStatus::Satisfied, Some(&name), sites, reason);
        r.permission = vec![name.clone()];
        r.risk_level = level(&name);
        out.push(r);
    }
    out.extend(rows);
    out.sort_by_key(|r| r.status);
    for r in &mut out {
        r.scheme = scheme.name();
        r.identity = held.identity.clone();
        r.identity_id = held.identity_id;
        r.identity_name = held.identity_name.clone();
        r.resource = (scheme == Scheme::Application).then_some("Graph");
    }
    out
}

fn row(
    status: PermissionStatus,
    name: Option<&str>,
    call_sites: Vec<String>,
    reason: String,
) -> PermissionRow {
    PermissionRow {
        status,
        name: name.map(str::to_string),
        permission: Vec::new(),
        instead_of: None,
        risk_level: None,
        call_sites,
        reason,
        scheme: "",
        identity: None,
        identity_id: None,
        identity_name: None,
        resource: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::graph;
    use crate::permissions::path::Method;
    use crate::permissions::runbook::{CallRow, CallStatus};

    fn call(line: u32, method: Method, path: &str) -> Analysed {
        Analysed {
            row: CallRow {
                file: "rb.ps1".into(),
                line,
                command: "Invoke-GraphApiRequest".into(),
                method: Some(method.name().into()),
                uri: Some(path.into()),
                path_template: None,
                status: CallStatus::Resolved,
                application: vec![],
                delegated: vec![],
                note: None,
            },
            request: Some((method, path.into())),
        }
    }

    fn held(p: &[&str]) -> Held {
        Held {
            permissions: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn statuses(rows: &[PermissionRow]) -> Vec<(PermissionStatus, String)> {
        rows.iter()
            .map(|r| (r.status, r.name.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn missing_excess_broader_and_satisfied() {
        let data = graph().unwrap();
        let risk = RiskTable::load(None).unwrap();
        let calls = vec![
            call(1, Method::Post, "/users/{id}/sendmail"),
            call(2, Method::Get, "/auditlogs/signins"),
            call(3, Method::Get, "/applications"),
        ];
        let rows = compare(
            data,
            &calls,
            Scheme::Application,
            &held(&["Mail.Send", "Directory.Read.All", "Directory.ReadWrite.All"]),
            &risk,
        );
        let s = statuses(&rows);
        assert!(
            s.contains(&(PermissionStatus::Missing, "AuditLog.Read.All".into())),
            "{s:?}"
        );
        assert!(
            s.contains(&(PermissionStatus::Satisfied, "Mail.Send".into())),
            "{s:?}"
        );
        let broader = rows
            .iter()
            .find(|r| r.status == PermissionStatus::Broader)
            .expect("broader");
        assert_eq!(broader.name.as_deref(), Some("Application.Read.All"));
        assert_eq!(broader.instead_of.as_deref(), Some("Directory.Read.All"));
        let excess = rows
            .iter()
            .find(|r| r.status == PermissionStatus::Excess)
            .expect("excess");
        assert_eq!(excess.name.as_deref(), Some("Directory.ReadWrite.All"));
        assert_eq!(excess.risk_level, Some("Critical"));
        assert!(
            excess.permission.is_empty(),
            "an excess row asks to hold nothing"
        );
        // The pipeline's union is exactly the least set.
        let mut union: Vec<String> = rows.iter().flat_map(|r| r.permission.clone()).collect();
        union.sort();
        assert_eq!(
            union,
            ["Application.Read.All", "AuditLog.Read.All", "Mail.Send"]
        );
    }

    #[test]
    fn a_least_marked_but_higher_level_permission_is_broader() {
        let data = graph().unwrap();
        let risk = RiskTable::load(None).unwrap();
        let rows = compare(
            data,
            &[call(3, Method::Get, "/users/{id}")],
            Scheme::Application,
            &held(&["User.ReadWrite.All"]),
            &risk,
        );
        assert_eq!(
            statuses(&rows),
            [(PermissionStatus::Broader, "User.ReadBasic.All".to_string())]
        );
        assert_eq!(rows[0].instead_of.as_deref(), Some("User.ReadWrite.All"));
    }

    #[test]
    fn delegated_only_calls_are_not_supported_rows() {
        let data = graph().unwrap();
        let risk = RiskTable::load(None).unwrap();
        let rows = compare(
            data,
            &[call(
                7,
                Method::Get,
                "/me/drive/items/{id}/workbook/worksheets",
            )],
            Scheme::Application,
            &held(&[]),
            &risk,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, PermissionStatus::NotSupported);
        assert!(
            rows[0].reason.contains("Files.ReadWrite"),
            "{}",
            rows[0].reason
        );
    }
}
