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
use super::ops::{OperationSummary, Summary};
use super::progress::Progress;
use crate::error::Result;
use crate::events::{item, EventSink};

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
            item(self.sink, row.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::events::VecSink;
    use crate::graph::client::testing::{batch_reply, client, FakeTransport};
    use serde_json::{json, Value};
    use std::collections::HashMap;
    use std::sync::Mutex;

    const G: &str = "c0a80001-0000-4000-8000-000000000003";
    const A: &str = "a0000000-0000-4000-8000-00000000000a";
    const B: &str = "a0000000-0000-4000-8000-00000000000b";
    const C: &str = "a0000000-0000-4000-8000-00000000000c";

    fn sp(id: &str, name: &str) -> Value {
        json!({"id": id, "appId": id, "displayName": name, "servicePrincipalType": "ManagedIdentity",
               "alternativeNames": ["isExplicit=True", format!("/subscriptions/s/providers/x/{name}")]})
    }

    fn asg(principal: &str, role: u8) -> Value {
        json!({"id": format!("asg-{principal}-{role}"), "appRoleId": format!("e1000001-0000-4000-8000-0000000000{role:02x}"),
               "resourceId": G, "principalId": principal, "createdDateTime": "2024-01-15T08:00:00Z"})
    }

    /// A `$batch` endpoint over a three-principal tenant: two pages of principals, B throttled
    /// once, C refused, the resource readable; counts requests per URL kind.
    fn tenant(counts: Arc<Mutex<HashMap<String, usize>>>) -> Arc<FakeTransport> {
        FakeTransport::new(move |req, _| {
            Ok(batch_reply(req, |r| {
                let url = r["url"].as_str().unwrap();
                let kind = if url.contains("skiptoken") {
                    "page2".to_string()
                } else if url.starts_with("/servicePrincipals?") {
                    assert!(url.contains("servicePrincipalType"), "{url}");
                    "page1".to_string()
                } else if let Some(rest) = url.strip_prefix("/servicePrincipals/") {
                    rest.split(['/', '?']).next().unwrap().to_string()
                } else {
                    panic!("unexpected {url}")
                };
                let n = {
                    let mut c = counts.lock().unwrap();
                    let e = c.entry(kind.clone()).or_default();
                    *e += 1;
                    *e
                };
                match kind.as_str() {
                    "page1" => (
                        200,
                        json!({}),
                        json!({"value": [sp(A, "a"), sp(B, "b")],
                            "@odata.nextLink": "https://graph.example/v1.0/servicePrincipals?$skiptoken=2"}),
                    ),
                    "page2" => (200, json!({}), json!({"value": [sp(C, "c")]})),
                    k if k == A => (200, json!({}), json!({"value": [asg(A, 3), asg(A, 9)]})),
                    k if k == B && n == 1 => (
                        429,
                        json!({"Retry-After": "1"}),
                        json!({"error": {"code": "TooManyRequests"}}),
                    ),
                    k if k == B => (200, json!({}), json!({"value": [asg(B, 0x10)]})),
                    k if k == C => (
                        403,
                        json!({}),
                        json!({"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation."}}),
                    ),
                    k if k == G => (
                        200,
                        json!({}),
                        json!({"id": G, "appId": "00000003-0000-0000-c000-000000000000", "displayName": "Microsoft Graph",
                            "appRoles": [
                                {"id": "e1000001-0000-4000-8000-000000000003", "value": "AppRoleAssignment.ReadWrite.All", "allowedMemberTypes": ["Application"]},
                                {"id": "e1000001-0000-4000-8000-000000000009", "value": "Mail.Send", "allowedMemberTypes": ["Application"]},
                                {"id": "e1000001-0000-4000-8000-000000000010", "value": "Reports.Read.All", "allowedMemberTypes": ["Application"]}]}),
                    ),
                    other => panic!("unexpected {other}"),
                }
            }))
        })
    }

    fn items(sink: &VecSink) -> Vec<Value> {
        sink.items()
    }

    #[tokio::test]
    async fn pages_fans_out_retries_reads_each_resource_once_and_reports_failures() {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let c = client(tenant(counts.clone()), FakeClock::at_unix(1_000));
        let sink = VecSink::default();
        let q = ReportQuery {
            html: true,
            ..ReportQuery::default()
        };
        let summary = report(&c, q, &sink).await.expect("report");
        let rows = items(&sink);
        assert_eq!(rows.len(), 4, "{rows:#?}");
        let ok: Vec<&Value> = rows.iter().filter(|r| r["error"].is_null()).collect();
        let mut got: Vec<(String, String, String)> = ok
            .iter()
            .map(|r| {
                (
                    r["identityName"].as_str().unwrap().to_string(),
                    r["permission"].as_str().unwrap().to_string(),
                    r["riskLevel"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                (
                    "a".into(),
                    "AppRoleAssignment.ReadWrite.All".into(),
                    "Critical".into()
                ),
                ("a".into(), "Mail.Send".into(), "High".into()),
                ("b".into(), "Reports.Read.All".into(), "Low".into()),
            ]
        );
        assert_eq!(
            ok[0]["armResourceId"],
            format!(
                "/subscriptions/s/providers/x/{}",
                ok[0]["identityName"].as_str().unwrap()
            )
        );
        let failed: Vec<&Value> = rows.iter().filter(|r| !r["error"].is_null()).collect();
        assert_eq!(failed[0]["identityName"], "c");
        let counts = counts.lock().unwrap();
        assert_eq!(counts[G], 1, "the resource is read once");
        assert_eq!(counts[B], 2, "the throttled read is retried");
        assert_eq!(counts["page2"], 1);
        let out = summary.report.expect("report totals");
        assert_eq!(out.totals.principals, 3);
        assert_eq!(out.totals.failed, 1);
        assert_eq!(out.totals.assignments, 3);
        assert_eq!(out.totals.by_risk[0].assignments, 1);
        assert_eq!(out.totals.by_risk[0].identities, 1);
        assert!(out.html.expect("html").contains("Mail.Send"));
        assert_eq!(summary.failed, 1);
    }

    #[tokio::test]
    async fn baseline_drift_and_summary_only() {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let c = client(tenant(counts), FakeClock::at_unix(1_000));
        let sink = VecSink::default();
        let q = ReportQuery {
            baseline: Some(
                r#"[{"Identity": "a", "Permissions": ["Mail.Send", "Directory.ReadWrite.All"]}]"#
                    .into(),
            ),
            ..ReportQuery::default()
        };
        report(&c, q, &sink).await.expect("report");
        let rows = items(&sink);
        let drift = |p: &str| {
            rows.iter()
                .find(|r| r["permission"] == p)
                .map(|r| r["drift"].as_str().unwrap_or("").to_string())
        };
        assert_eq!(drift("Mail.Send").as_deref(), Some("Unchanged"));
        assert_eq!(
            drift("AppRoleAssignment.ReadWrite.All").as_deref(),
            Some("Added")
        );
        assert_eq!(drift("Directory.ReadWrite.All").as_deref(), Some("Removed"));

        let counts = Arc::new(Mutex::new(HashMap::new()));
        let c = client(tenant(counts), FakeClock::at_unix(1_000));
        let sink = VecSink::default();
        let q = ReportQuery {
            summary_only: true,
            ..ReportQuery::default()
        };
        let s = report(&c, q, &sink).await.expect("report");
        let rows = items(&sink);
        assert_eq!(rows.len(), 1, "only the failed read streams");
        assert_eq!(s.report.unwrap().totals.assignments, 3);
    }

    #[tokio::test]
    async fn bad_inputs_fail_before_any_request() {
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let c = client(tenant(counts.clone()), FakeClock::at_unix(1_000));
        for q in [
            ReportQuery {
                baseline: Some("{".into()),
                ..ReportQuery::default()
            },
            ReportQuery {
                risk_table: Some("[]".into()),
                ..ReportQuery::default()
            },
        ] {
            let e = report(&c, q, &crate::events::NullSink)
                .await
                .expect_err("invalid");
            assert_eq!(e.kind, crate::error::ErrorKind::InvalidArgument);
        }
        assert!(counts.lock().unwrap().is_empty());
    }
}
