//! The app-role operations: typed requests ([`args`]), reads ([`read`]: roles, permission names,
//! assignments) and changes ([`change`](mod@change): grant / revoke / set, planned then written in bulk).

pub mod args;
pub mod change;
pub mod read;
pub mod results;

use std::collections::BTreeMap;

use serde::Serialize;

use super::client::GraphClient;

pub use args::{
    AppRolesQuery, AssignmentsQuery, ChangeArgs, ChangeRequest, ChangeTarget, GrantPlan,
    PermissionNamesQuery,
};
pub use change::change;
pub use read::{app_roles, assignments, permission_names};
pub use results::{AppRoleRow, AssignmentRow, ChangeResult, ChangeStatus, ResourceRef};

/// The summary every Graph operation returns (field names are the protocol's, camelCase).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationSummary {
    pub requested: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// HTTP requests sent (a `$batch` counts once), retries included.
    pub requests: u64,
    pub batches: u64,
    pub elapsed_ms: u64,
    /// Items per status (grant / revoke / set).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_status: BTreeMap<&'static str, usize>,
    /// Items written (assignments, raw requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<usize>,
    /// `graph.report`: the summary by risk level (and drift), and the HTML report if asked.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<crate::graph::report::ReportOutput>>,
}

impl OperationSummary {
    /// Adds a later summary's counts; request statistics and time are the later one's
    /// (they are cumulative per client).
    pub fn merge(mut self, later: OperationSummary) -> Self {
        self.requested += later.requested;
        self.succeeded += later.succeeded;
        self.failed += later.failed;
        self.requests = later.requests;
        self.batches = later.batches;
        self.elapsed_ms = later.elapsed_ms;
        for (status, n) in later.by_status {
            *self.by_status.entry(status).or_default() += n;
        }
        self
    }
}

/// Counts an operation while it runs.
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

    pub(crate) fn count(&mut self, status: &'static str) {
        *self.by_status.entry(status).or_default() += 1;
        if status == "Failed" {
            self.failed += 1;
        } else {
            self.succeeded += 1;
        }
    }

    /// The final summary (`items` for operations that count written items).
    pub fn finish(&self, client: &GraphClient<'_>, items: Option<usize>) -> OperationSummary {
        let stats = client.stats();
        let elapsed = client
            .clock()
            .now()
            .duration_since(self.started)
            .unwrap_or_default();
        OperationSummary {
            requested: self.requested,
            succeeded: self.succeeded,
            failed: self.failed,
            requests: stats.requests,
            batches: stats.batches,
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            by_status: self.by_status.clone(),
            items,
            report: None,
        }
    }
}

/// De-duplicates inputs (trimmed, case-insensitive), keeping the first spelling.
pub(crate) fn dedupe(inputs: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    inputs
        .into_iter()
        .filter(|s| seen.insert(s.trim().to_lowercase()))
        .collect()
}
