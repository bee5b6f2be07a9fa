//! Source detection from the (injected) environment, in the documented order: Service Fabric,
//! App Service / Automation, Machine Learning, Cloud Shell, Arc, workload identity, IMDS (the
//! fallback). Every source gets a report row with a human reason, for `Test-IdentityEndpoint`.

use std::time::Duration;

use serde_json::{json, Value};

use super::app_service::AppServiceSource;
use super::imds::{self, ImdsSource};
use super::{display_url, root_cause, ManagedSource, SourceKind};
use crate::env::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;

/// Default endpoint of the Arc agent when only its binary was found.
pub const ARC_DEFAULT_ENDPOINT: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
/// Test hook and override: the path of the Arc agent binary to look for.
pub const HIMDS_PATH_VARIABLE: &str = "MANAGEDIDENTITY_HIMDS_PATH";

/// One row of `Test-IdentityEndpoint`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceReport {
    pub source: SourceKind,
    pub detected: bool,
    /// Set when the endpoint was probed.
    pub available: Option<bool>,
    /// The endpoint without query string or secrets.
    pub endpoint: Option<String>,
    pub reason: String,
}

impl SourceReport {
    pub fn to_json(&self) -> Value {
        json!({
            "source": self.source.name(),
            "detected": self.detected,
            "available": self.available,
            "endpoint": self.endpoint,
            "reason": self.reason,
        })
    }
}

/// The outcome of detection.
#[derive(Debug)]
pub struct Detection {
    /// The source detection picks (IMDS when nothing else is configured).
    pub chosen: SourceKind,
    /// The usable source, or why there is none (UnsupportedSource, or a malformed variable).
    pub source: Result<ManagedSource>,
    /// One row per source, in detection order.
    pub reports: Vec<SourceReport>,
    imds: Option<ImdsSource>,
    app: Option<AppServiceSource>,
}

struct Vars {
    identity_endpoint: Option<String>,
    identity_header: Option<String>,
    thumbprint: Option<String>,
    imds_endpoint: Option<String>,
    msi_endpoint: Option<String>,
    msi_secret: Option<String>,
    federated_token_file: Option<String>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    authority_host: Option<String>,
    host_environment: Option<String>,
}

/// "X is not set", "X and Y are not set", "X is set but Y is not".
fn explain_missing(vars: &[(&str, bool)]) -> String {
    let set: Vec<&str> = vars.iter().filter(|(_, v)| *v).map(|(n, _)| *n).collect();
    let unset: Vec<&str> = vars.iter().filter(|(_, v)| !*v).map(|(n, _)| *n).collect();
    let list = |names: &[&str]| match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    let verb = |names: &[&str]| if names.len() == 1 { "is" } else { "are" };
    if set.is_empty() {
        format!("{} {} not set", list(&unset), verb(&unset))
    } else {
        format!(
            "{} {} set but {} {} not",
            list(&set),
            verb(&set),
            list(&unset),
            verb(&unset)
        )
    }
}

/// An endpoint from a variable, shown without query string.
fn shown(raw: &str) -> String {
    match url::Url::parse(raw.trim()) {
        Ok(url) => display_url(&url),
        Err(_) => raw
            .trim()
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

fn himds_path(env: &dyn Environment) -> String {
    if let Some(path) = env.var(HIMDS_PATH_VARIABLE) {
        return path;
    }
    if cfg!(windows) {
        let program_files = env
            .var("ProgramFiles")
            .unwrap_or_else(|| "C:\\Program Files".to_string());
        format!("{program_files}\\AzureConnectedMachineAgent\\himds.exe")
    } else {
        "/opt/azcmagent/bin/himds".to_string()
    }
}

/// Detects the managed-identity source from the environment (no I/O except the Arc agent file check).
pub fn detect(env: &dyn Environment) -> Detection {
    let v = Vars {
        identity_endpoint: env.var("IDENTITY_ENDPOINT"),
        identity_header: env.var("IDENTITY_HEADER"),
        thumbprint: env.var("IDENTITY_SERVER_THUMBPRINT"),
        imds_endpoint: env.var("IMDS_ENDPOINT"),
        msi_endpoint: env.var("MSI_ENDPOINT"),
        msi_secret: env.var("MSI_SECRET"),
        federated_token_file: env.var("AZURE_FEDERATED_TOKEN_FILE"),
        tenant_id: env.var("AZURE_TENANT_ID"),
        client_id: env.var("AZURE_CLIENT_ID"),
        authority_host: env.var("AZURE_AUTHORITY_HOST"),
        host_environment: env.var("AZUREPS_HOST_ENVIRONMENT"),
    };
    let (ie, ih, tp) = (
        v.identity_endpoint.is_some(),
        v.identity_header.is_some(),
        v.thumbprint.is_some(),
    );
    let automation = v.host_environment.as_deref().is_some_and(|h| {
        h.get(..15)
            .is_some_and(|p| p.eq_ignore_ascii_case("AzureAutomation"))
    });
    let app_kind = if automation {
        SourceKind::AzureAutomation
    } else {
        SourceKind::AppService
    };
    let himds = himds_path(env);
    let himds_present = env.file_exists(&himds);
    let arc_by_env = ie && v.imds_endpoint.is_some();
    let workload =
        v.federated_token_file.is_some() && v.tenant_id.is_some() && v.client_id.is_some();
    let imds_source = ImdsSource::from_env(env);

    let mut rows: Vec<SourceReport> = Vec::with_capacity(7);
    let row = |source, detected, endpoint: Option<String>, reason: String| SourceReport {
        source,
        detected,
        available: None,
        endpoint,
        reason,
    };
    let ie_shown = v.identity_endpoint.as_deref().map(shown);
    let msi_shown = v.msi_endpoint.as_deref().map(shown);

    rows.push(row(
        SourceKind::ServiceFabric,
        ie && ih && tp,
        ie_shown.clone().filter(|_| tp),
        if ie && ih && tp {
            "IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT are set".to_string()
        } else {
            explain_missing(&[
                ("IDENTITY_ENDPOINT", ie),
                ("IDENTITY_HEADER", ih),
                ("IDENTITY_SERVER_THUMBPRINT", tp),
            ])
        },
    ));
    rows.push(row(
        app_kind,
        ie && ih && !tp,
        ie_shown.clone(),
        if ie && ih && tp {
            "IDENTITY_ENDPOINT and IDENTITY_HEADER are set, but IDENTITY_SERVER_THUMBPRINT marks them as Service Fabric's".to_string()
        } else if ie && ih {
            let mut reason = "IDENTITY_ENDPOINT and IDENTITY_HEADER are set".to_string();
            if let Some(host) = v.host_environment.as_deref().filter(|_| automation) {
                reason.push_str(&format!("; AZUREPS_HOST_ENVIRONMENT is '{host}' (an Azure Automation sandbox)"));
            }
            reason
        } else {
            explain_missing(&[("IDENTITY_ENDPOINT", ie), ("IDENTITY_HEADER", ih)])
        },
    ));
    let (me, ms) = (v.msi_endpoint.is_some(), v.msi_secret.is_some());
    rows.push(row(
        SourceKind::MachineLearning,
        me && ms,
        msi_shown.clone().filter(|_| ms),
        if me && ms {
            "MSI_ENDPOINT and MSI_SECRET are set".to_string()
        } else {
            explain_missing(&[("MSI_ENDPOINT", me), ("MSI_SECRET", ms)])
        },
    ));
    rows.push(row(
        SourceKind::CloudShell,
        me && !ms,
        msi_shown.filter(|_| !ms),
        match (me, ms) {
            (true, false) => "MSI_ENDPOINT is set and MSI_SECRET is not".to_string(),
            (true, true) => "MSI_SECRET is set too, which means Azure Machine Learning".to_string(),
            _ => "MSI_ENDPOINT is not set".to_string(),
        },
    ));
    rows.push(row(
        SourceKind::Arc,
        arc_by_env || himds_present,
        if arc_by_env {
            ie_shown.clone()
        } else {
            himds_present.then(|| ARC_DEFAULT_ENDPOINT.to_string())
        },
        if arc_by_env {
            "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set".to_string()
        } else if himds_present {
            format!("the Azure Connected Machine agent is installed ({himds})")
        } else {
            format!(
                "{} and the Azure Connected Machine agent ({himds}) is not installed",
                explain_missing(&[
                    ("IDENTITY_ENDPOINT", ie),
                    ("IMDS_ENDPOINT", v.imds_endpoint.is_some())
                ])
            )
        },
    ));
    let authority = v
        .authority_host
        .as_deref()
        .unwrap_or("https://login.microsoftonline.com")
        .trim_end_matches('/')
        .to_string();
    rows.push(row(
        SourceKind::WorkloadIdentity,
        workload,
        v.tenant_id
            .as_deref()
            .map(|t| shown(&format!("{authority}/{t}/oauth2/v2.0/token"))),
        if workload {
            "AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID are set".to_string()
        } else {
            explain_missing(&[
                (
                    "AZURE_FEDERATED_TOKEN_FILE",
                    v.federated_token_file.is_some(),
                ),
                ("AZURE_TENANT_ID", v.tenant_id.is_some()),
                ("AZURE_CLIENT_ID", v.client_id.is_some()),
            ])
        },
    ));
    let chosen = rows
        .iter()
        .find(|r| r.detected)
        .map_or(SourceKind::Imds, |r| r.source);
    rows.push(row(
        SourceKind::Imds,
        chosen == SourceKind::Imds,
        match &imds_source {
            Ok(imds) => Some(display_url(imds.endpoint())),
            Err(_) => None,
        },
        {
            let mut reason = if chosen == SourceKind::Imds {
                "no other managed-identity source is configured, so IMDS is used (the fallback)"
                    .to_string()
            } else {
                "IMDS is only the fallback when no other source is configured".to_string()
            };
            match &imds_source {
                Ok(imds) if imds.is_overridden() => {
                    reason.push_str(&format!("; {} redirects it", imds::AUTHORITY_HOST_VARIABLE))
                }
                Err(e) => reason.push_str(&format!("; {}", e.message)),
                Ok(_) => {}
            }
            reason
        },
    ));

    let source = match chosen {
        SourceKind::Imds => imds_source.clone().map(ManagedSource::Imds),
        SourceKind::AppService | SourceKind::AzureAutomation => AppServiceSource::new(
            v.identity_endpoint.as_deref().unwrap_or_default(),
            Secret::new(v.identity_header.clone().unwrap_or_default()),
            automation,
        )
        .map(ManagedSource::AppService),
        other => Err(unsupported(
            other,
            rows.iter()
                .find(|r| r.source == other)
                .map(|r| r.reason.as_str()),
        )),
    };
    for r in rows.iter_mut() {
        if r.detected && r.source != chosen {
            r.reason
                .push_str(&format!("; {} comes first", chosen.name()));
        } else if r.source == chosen && r.source != SourceKind::Imds {
            match &source {
                Ok(_) => r.reason.push_str("; this source is used"),
                Err(e) if e.kind == ErrorKind::UnsupportedSource => {
                    r.reason.push_str("; detected but not supported yet")
                }
                Err(e) => r.reason.push_str(&format!("; but {}", e.message)),
            }
        }
    }
    let app = match &source {
        Ok(ManagedSource::AppService(app)) => Some(app.clone()),
        _ => None,
    };
    Detection {
        chosen,
        source,
        reports: rows,
        imds: imds_source.ok(),
        app,
    }
}

fn unsupported(kind: SourceKind, reason: Option<&str>) -> Error {
    let hint = match kind {
        SourceKind::Arc => " On an Arc-enabled machine, connect with an app registration or run the job in the Automation cloud sandbox.",
        SourceKind::WorkloadIdentity => " Unset AZURE_FEDERATED_TOKEN_FILE to fall back to IMDS.",
        _ => "",
    };
    Error::new(
        ErrorKind::UnsupportedSource,
        format!(
            "{} managed identity is detected ({}) but not supported yet by this version of ManagedIdentity.{hint} \
             Run Test-IdentityEndpoint for details.",
            kind.display(),
            reason.unwrap_or("from the environment")
        ),
    )
    .with_details(json!({"source": kind.name()}))
}

/// How a probe went.
enum Probe {
    Answered(u16, String),
    Refused,
    NoAnswer,
    Failed(String),
}

async fn probe(http: &reqwest::Client, url: url::Url, timeout: Duration) -> Probe {
    match http.get(url).timeout(timeout).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            Probe::Answered(status, text)
        }
        Err(err) => {
            let err = err.without_url();
            if err.is_timeout() {
                Probe::NoAnswer
            } else if super::refused(&err) {
                Probe::Refused
            } else {
                Probe::Failed(root_cause(&err))
            }
        }
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

impl Detection {
    /// Probes IMDS (a token GET without `Metadata`) and a detected App Service / Automation
    /// endpoint (a GET without the secret header); any HTTP answer means available. Never sends
    /// a secret and never obtains a token.
    pub async fn probe(&mut self, http: &reqwest::Client, timeout: Duration) {
        let imds_probe = async {
            match &self.imds {
                Some(imds) => Some(probe(http, imds.probe_url(), timeout).await),
                None => None,
            }
        };
        let app_probe = async {
            match &self.app {
                Some(app) => Some(probe(http, app.probe_url(), timeout).await),
                None => None,
            }
        };
        let (imds_result, app_result) = futures::future::join(imds_probe, app_probe).await;
        for report in self.reports.iter_mut() {
            let result = match report.source {
                SourceKind::Imds => imds_result.as_ref(),
                SourceKind::AppService | SourceKind::AzureAutomation if report.detected => {
                    app_result.as_ref()
                }
                _ => None,
            };
            let Some(result) = result else { continue };
            let (available, text) = match result {
                Probe::Answered(403, body) if body.to_ascii_lowercase().contains("unreachable") => {
                    (false, "the endpoint answered HTTP 403 'unreachable' (a proxy or Docker Desktop, not IMDS)".to_string())
                }
                Probe::Answered(status, _) => (true, format!("the endpoint answered a probe (HTTP {status})")),
                Probe::Refused => (false, "nothing listens there (connection refused)".to_string()),
                Probe::NoAnswer => (false, format!("no answer to a probe within {}", seconds(timeout))),
                Probe::Failed(cause) => (false, format!("the probe failed: {cause}")),
            };
            report.available = Some(available);
            report.reason.push_str(&format!("; {text}"));
        }
    }

    /// The source `Connect-Identity -Identity` would use here: `None` when the chosen source is
    /// unsupported or misconfigured, or when it is the IMDS fallback and a probe found no IMDS.
    pub fn selected(&self) -> Option<SourceKind> {
        let usable = self.source.is_ok();
        let imds_missing = self.chosen == SourceKind::Imds
            && self
                .reports
                .iter()
                .any(|r| r.source == SourceKind::Imds && r.available == Some(false));
        (usable && !imds_missing).then_some(self.chosen)
    }

    /// `{selected, sources:[…]}` for `identity.testEndpoint`.
    pub fn to_json(&self) -> Value {
        json!({
            "selected": self.selected().map(SourceKind::name),
            "sources": self.reports.iter().map(SourceReport::to_json).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn order(d: &Detection) -> Vec<&'static str> {
        d.reports.iter().map(|r| r.source.name()).collect()
    }

    fn row<'a>(d: &'a Detection, name: &str) -> &'a SourceReport {
        d.reports
            .iter()
            .find(|r| r.source.name() == name)
            .expect("row")
    }

    fn env(vars: &[(&str, &str)]) -> MapEnvironment {
        vars.iter()
            .fold(MapEnvironment::new(), |e, (k, v)| e.with(k, v))
    }

    #[test]
    fn nothing_set_means_the_imds_fallback() {
        let d = detect(&MapEnvironment::new());
        assert_eq!(d.chosen, SourceKind::Imds);
        assert!(matches!(d.source, Ok(ManagedSource::Imds(_))));
        assert_eq!(
            order(&d),
            vec![
                "ServiceFabric",
                "AppService",
                "MachineLearning",
                "CloudShell",
                "Arc",
                "WorkloadIdentity",
                "IMDS"
            ]
        );
        assert_eq!(d.reports.iter().filter(|r| r.detected).count(), 1);
        assert_eq!(
            row(&d, "AppService").reason,
            "IDENTITY_ENDPOINT and IDENTITY_HEADER are not set"
        );
        assert_eq!(
            row(&d, "IMDS").endpoint.as_deref(),
            Some("http://169.254.169.254/metadata/identity/oauth2/token")
        );
        assert_eq!(d.selected(), Some(SourceKind::Imds));
    }

    #[test]
    fn detection_order_follows_the_spec() {
        let full = [
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", "ab"),
            ("MSI_ENDPOINT", "http://127.0.0.1:2/token"),
            ("MSI_SECRET", "s"),
            ("IMDS_ENDPOINT", "http://127.0.0.1:3"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ];
        let cases: [(&[&str], SourceKind); 7] = [
            (&[], SourceKind::ServiceFabric),
            (&["IDENTITY_SERVER_THUMBPRINT"], SourceKind::AppService),
            (
                &["IDENTITY_SERVER_THUMBPRINT", "IDENTITY_HEADER"],
                SourceKind::MachineLearning,
            ),
            (
                &[
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_SECRET",
                ],
                SourceKind::CloudShell,
            ),
            (
                &[
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_ENDPOINT",
                ],
                SourceKind::Arc,
            ),
            (
                &[
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_ENDPOINT",
                    "IMDS_ENDPOINT",
                ],
                SourceKind::WorkloadIdentity,
            ),
            (
                &[
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_ENDPOINT",
                    "IMDS_ENDPOINT",
                    "AZURE_TENANT_ID",
                ],
                SourceKind::Imds,
            ),
        ];
        for (removed, expected) in cases {
            let vars: Vec<(&str, &str)> = full
                .iter()
                .copied()
                .filter(|(k, _)| !removed.contains(k))
                .collect();
            let d = detect(&env(&vars));
            assert_eq!(d.chosen, expected, "without {removed:?}");
            let supported = matches!(expected, SourceKind::AppService | SourceKind::Imds);
            assert_eq!(d.source.is_ok(), supported, "{expected:?}");
            if !supported {
                let e = d.source.as_ref().expect_err("unsupported");
                assert_eq!(e.kind, ErrorKind::UnsupportedSource);
                assert!(
                    e.message.contains("is detected") && e.message.contains("not supported yet"),
                    "{}",
                    e.message
                );
            }
            // Lower-priority detected sources say who comes first.
            for r in d
                .reports
                .iter()
                .filter(|r| r.detected && r.source != expected)
            {
                assert!(
                    r.reason
                        .ends_with(&format!("{} comes first", expected.name())),
                    "{}",
                    r.reason
                );
            }
        }
    }

    #[test]
    fn automation_is_told_apart_by_the_host_environment() {
        let base = [
            (
                "IDENTITY_ENDPOINT",
                "http://127.0.0.1:1/automation/token?x=1",
            ),
            ("IDENTITY_HEADER", "s3cr3t"),
        ];
        let mut vars = base.to_vec();
        vars.push(("AZUREPS_HOST_ENVIRONMENT", "AzureAutomation/1.0"));
        let d = detect(&env(&vars));
        assert_eq!(d.chosen, SourceKind::AzureAutomation);
        assert_eq!(d.reports[1].source, SourceKind::AzureAutomation);
        assert_eq!(
            d.reports[1].endpoint.as_deref(),
            Some("http://127.0.0.1:1/automation/token")
        );
        assert!(d.reports.iter().all(|r| !r.reason.contains("s3cr3t")));
        assert!(matches!(&d.source, Ok(s) if s.kind() == SourceKind::AzureAutomation));
        let d = detect(&env(&[
            base[0],
            base[1],
            ("AZUREPS_HOST_ENVIRONMENT", "cloud-shell/1.0"),
        ]));
        assert_eq!(d.chosen, SourceKind::AppService);
    }

    #[test]
    fn half_configured_app_service_is_explained_and_falls_back_to_imds() {
        let d = detect(&env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", ""),
        ]));
        assert_eq!(d.chosen, SourceKind::Imds);
        assert_eq!(
            row(&d, "AppService").reason,
            "IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not"
        );
        assert!(!row(&d, "AppService").detected);
    }

    #[test]
    fn arc_is_detected_by_its_agent_file() {
        let mut e = env(&[(HIMDS_PATH_VARIABLE, "/tmp/fake-himds")]);
        assert_eq!(detect(&e).chosen, SourceKind::Imds);
        e.files.push("/tmp/fake-himds".to_string());
        let d = detect(&e);
        assert_eq!(d.chosen, SourceKind::Arc);
        assert_eq!(
            row(&d, "Arc").endpoint.as_deref(),
            Some(ARC_DEFAULT_ENDPOINT)
        );
        assert!(row(&d, "Arc").reason.contains("/tmp/fake-himds"));
    }

    #[test]
    fn imds_override_and_bad_values() {
        let d = detect(&env(&[(
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            "http://127.0.0.1:5",
        )]));
        assert_eq!(
            row(&d, "IMDS").endpoint.as_deref(),
            Some("http://127.0.0.1:5/metadata/identity/oauth2/token")
        );
        assert!(row(&d, "IMDS")
            .reason
            .contains("AZURE_POD_IDENTITY_AUTHORITY_HOST redirects it"));
        let d = detect(&env(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "ftp://x")]));
        assert_eq!(
            d.source.as_ref().map_err(|e| e.kind).err(),
            Some(ErrorKind::InvalidArgument)
        );
        assert_eq!(d.selected(), None);
    }

    #[test]
    fn missing_lists_read_naturally() {
        assert_eq!(explain_missing(&[("A", false)]), "A is not set");
        assert_eq!(
            explain_missing(&[("A", false), ("B", false), ("C", false)]),
            "A, B and C are not set"
        );
        assert_eq!(
            explain_missing(&[("A", true), ("B", false), ("C", true)]),
            "A and C are set but B is not"
        );
    }
}
