//! The summary by risk level (and by drift), counted while rows stream.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::risk::RiskLevel;
use super::row::ReportRow;

/// One risk level's line of the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LevelTotal {
    pub risk_level: RiskLevel,
    /// Permissions held (rows, `Removed` drift rows excluded).
    pub assignments: usize,
    /// Distinct identities holding at least one of them.
    pub identities: usize,
}

/// What the report returns besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportTotals {
    /// Service principals of the chosen type that were read.
    pub principals: usize,
    /// Identities holding at least one permission.
    pub identities_with_permissions: usize,
    pub assignments: usize,
    /// Critical, High, Medium, Low (always all four).
    pub by_risk: Vec<LevelTotal>,
    /// Added / Removed / Unchanged (with a baseline).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_drift: BTreeMap<&'static str, usize>,
    /// Failed reads (principals whose assignments could not be read).
    pub failed: usize,
}

#[derive(Default)]
pub struct Counter {
    principals: usize,
    failed: usize,
    per_level: BTreeMap<RiskLevel, (usize, HashSet<String>)>,
    holders: HashSet<String>,
    by_drift: BTreeMap<&'static str, usize>,
}

fn identity_key(row: &ReportRow) -> String {
    row.principal
        .identity_id
        .map(|i| i.to_string())
        .or_else(|| row.principal.identity_name.clone())
        .unwrap_or_default()
}

impl Counter {
    pub fn principal(&mut self) {
        self.principals += 1;
    }

    pub fn add(&mut self, row: &ReportRow) {
        if row.error.is_some() {
            self.failed += 1;
            return;
        }
        if let Some(d) = row.drift {
            *self.by_drift.entry(d.name()).or_default() += 1;
            if d == super::row::Drift::Removed {
                return;
            }
        }
        let key = identity_key(row);
        let level = self.per_level.entry(row.risk_level).or_default();
        level.0 += 1;
        level.1.insert(key.clone());
        self.holders.insert(key);
    }

    pub fn totals(&self) -> ReportTotals {
        let by_risk = RiskLevel::ALL
            .into_iter()
            .map(|l| {
                let (n, ids) = self
                    .per_level
                    .get(&l)
                    .map_or((0, 0), |(n, ids)| (*n, ids.len()));
                LevelTotal {
                    risk_level: l,
                    assignments: n,
                    identities: ids,
                }
            })
            .collect::<Vec<_>>();
        ReportTotals {
            principals: self.principals,
            identities_with_permissions: self.holders.len(),
            assignments: by_risk.iter().map(|l| l.assignments).sum(),
            by_risk,
            by_drift: self.by_drift.clone(),
            failed: self.failed,
        }
    }
}
