//! `graph.report`: every application permission held by every service principal of a kind,
//! resolved to resource and permission names, classified by risk level ([`risk`]), optionally
//! compared with a baseline ([`baseline`]), streamed as rows ([`row`]) with a summary by risk
//! level ([`totals`]) and, on request, a self-contained HTML report ([`html`]). The fan-out is
//! [`scan`].

pub mod baseline;
pub mod html;
pub mod risk;
pub mod row;
pub mod scan;
pub mod totals;

use std::sync::Arc;

use serde::Serialize;

use super::client::GraphClient;
use super::model::{Assignment, ServicePrincipal};
use super::ops::{emit, OperationSummary, Summary};
use super::progress::Progress;
use crate::error::Result;
use crate::events::EventSink;

use baseline::Baseline;
use risk::RiskTable;
use row::{Drift, Principal, ReportRow};
pub use scan::PrincipalType;
use totals::{Counter, ReportTotals};

/// `graph.report` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportQuery {
    pub principal_type: PrincipalType,
    /// A user's risk table (JSON text), applied over the embedded one.
    pub risk_table: Option<String>,
    /// A baseline (JSON text): rows get a `drift`, undeclared-but-missing grants come as
    /// `Removed` rows at the end.
    pub baseline: Option<String>,
    /// Return the HTML report (`html` in the result); keeps every row until the end.
    pub html: bool,
    /// Count only: no rows are streamed (the summary is in the result).
    pub summary_only: bool,
}

/// The report's part of the operation summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportOutput {
    #[serde(flatten)]
    pub totals: ReportTotals,
    /// The default risk level of unlisted permissions.
    pub default_risk_level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Where rows go: risk level and drift are set, the summary counted, the row streamed (and
/// kept for the HTML report when asked).
pub struct Collector<'s> {
    sink: &'s dyn EventSink,
    table: RiskTable,
    baseline: Option<Baseline>,
    counter: Counter,
    kept: Option<Vec<ReportRow>>,
    stream: bool,
    emitted: usize,
}

impl<'s> Collector<'s> {
    pub fn sink(&self) -> &'s dyn EventSink {
        self.sink
    }

    pub fn principal(&mut self) {
        self.counter.principal();
    }

    /// A row for one assignment, names resolved from the resource when it could be read.
    pub fn make_row(
        &self,
        p: &Arc<Principal>,
        asg: &Assignment,
        res: Option<&ServicePrincipal>,
    ) -> ReportRow {
        let role = res.and_then(|r| r.roles().iter().find(|role| role.id == asg.app_role_id));
        let value = role.and_then(|r| r.value.clone());
        ReportRow {
            principal: (**p).clone(),
            resource: res
                .and_then(|r| r.display_name.clone())
                .or_else(|| asg.resource_display_name.clone()),
            resource_id: Some(asg.resource_id),
            resource_app_id: res.and_then(|r| r.app_id.clone()),
            risk_level: self.table.level(value.as_deref()),
            permission: Some(value.unwrap_or_else(|| asg.app_role_id.to_string())),
            permission_id: Some(asg.app_role_id),
            assignment_id: Some(asg.id.clone()),
            created_date_time: asg.created_date_time.clone(),
            drift: None,
            error: None,
        }
    }

    pub fn row(&mut self, mut row: ReportRow) {
        if row.error.is_none() {
            if let Some(b) = &mut self.baseline {
                row.drift = Some(if b.declares(&row) {
                    Drift::Unchanged
                } else {
                    Drift::Added
                });
            }
        }
        self.counter.add(&row);
        // Failed reads always stream: they become the cmdlet's non-terminating errors.
        if self.stream || row.error.is_some() {
            self.emitted += 1;
            emit(self.sink, &row);
        }
        if let Some(kept) = &mut self.kept {
            kept.push(row);
        }
    }

    /// `Removed` rows for declared grants no row matched.
    fn removed(&mut self) {
        let Some(b) = self.baseline.take() else {
            return;
        };
        for d in b.unseen() {
            let row = ReportRow {
                principal: Principal {
                    identity_name: Some(d.identity.clone()),
                    identity_id: None,
                    identity_app_id: None,
                    principal_type: None,
                    arm_resource_id: None,
                },
                resource: Some(d.resource.clone()),
                resource_id: None,
                resource_app_id: None,
                permission: Some(d.permission.clone()),
                permission_id: None,
                risk_level: self.table.level(Some(&d.permission)),
                assignment_id: None,
                created_date_time: None,
                drift: Some(Drift::Removed),
                error: None,
            };
            self.row(row);
        }
    }
}

/// Runs the report.
pub async fn report(
    client: &GraphClient<'_>,
    q: ReportQuery,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let table = RiskTable::load(q.risk_table.as_deref())?;
    let baseline = q.baseline.as_deref().map(Baseline::parse).transpose()?;
    let mut summary = Summary::start(client);
    let mut out = Collector {
        sink,
        table,
        baseline,
        counter: Counter::default(),
        kept: q.html.then(Vec::new),
        stream: !q.summary_only,
        emitted: 0,
    };
    let mut progress = Progress::new(
        sink,
        client.clock().clone(),
        "Reading the app role assignments of every identity",
    );
    scan::scan(client, q.principal_type, &mut out, &mut progress).await?;
    out.removed();
    let totals = out.counter.totals();
    summary.requested = totals.principals;
    summary.failed = totals.failed;
    summary.succeeded = totals.principals.saturating_sub(totals.failed);
    let html = out
        .kept
        .as_ref()
        .map(|rows| html::render(rows, &totals, "Application permissions report"));
    let mut result = summary.finish(client, Some(out.emitted));
    result.report = Some(Box::new(ReportOutput {
        totals,
        default_risk_level: out.table.default_level().name().to_string(),
        html,
    }));
    Ok(result)
}
