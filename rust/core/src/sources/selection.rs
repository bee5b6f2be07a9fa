//! Source selection: a pure function of the (injected) environment that picks the
//! managed-identity source in Azure.Identity's (.NET) order, which Connect-MgGraph and
//! Connect-AzAccount run on the same host: workload identity first (Azure.Identity tries its token
//! exchange before handing the rest to MSAL.NET), then MSAL.NET's Service Fabric, App Service /
//! Automation, Machine Learning, Cloud Shell, Arc, and the IMDS fallback. It keeps one
//! report row per source, produced by that source's own `detect` function, for
//! `Test-IdentityEndpoint`. No I/O except the Arc agent file check.

use super::app_service::{self, AppServiceSource};
use super::cloud_shell::CloudShellSource;
use super::diagnostics::unsupported;
use super::imds::{self, ImdsSource};
use super::redact::shown;
use std::time::Duration;

use super::credential::{ManagedIdentityCredential, ManagedIo};
use super::{
    arc, cloud_shell, machine_learning, service_fabric, workload_identity, IdentitySelector,
    ManagedSource, SourceKind,
};
use crate::env::Environment;
use crate::error::Result;
use crate::input::Input;
use crate::secret::Secret;

pub use arc::{ARC_DEFAULT_ENDPOINT, HIMDS_PATH_VARIABLE, TOKEN_DIRECTORY_TEST_VARIABLE};

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
    pub fn new(
        source: SourceKind,
        detected: bool,
        endpoint: Option<String>,
        reason: String,
    ) -> Self {
        Self {
            source,
            detected,
            available: None,
            endpoint,
            reason,
        }
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
    pub(crate) imds: Option<ImdsSource>,
    /// The chosen source when it is not IMDS (probed by Test-IdentityEndpoint).
    pub(crate) other: Option<ManagedSource>,
}

/// The variables detection reads, read once; `env` answers the Arc file check.
pub struct Vars<'a> {
    pub env: &'a dyn Environment,
    pub identity_endpoint: Option<String>,
    pub identity_header: Option<String>,
    pub thumbprint: Option<String>,
    pub imds_endpoint: Option<String>,
    pub msi_endpoint: Option<String>,
    pub msi_secret: Option<String>,
    pub federated_token_file: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub authority_host: Option<String>,
    pub host_environment: Option<String>,
    /// `AZUREPS_HOST_ENVIRONMENT` says Azure Automation.
    pub automation: bool,
}

impl<'a> Vars<'a> {
    pub fn read(env: &'a dyn Environment) -> Self {
        let host_environment = env.var("AZUREPS_HOST_ENVIRONMENT");
        Self {
            env,
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
            automation: app_service::is_automation(host_environment.as_deref()),
            host_environment,
        }
    }

    /// `IDENTITY_ENDPOINT` without query string.
    pub fn identity_endpoint_shown(&self) -> Option<String> {
        self.identity_endpoint.as_deref().map(shown)
    }

    /// `MSI_ENDPOINT` without query string.
    pub fn msi_endpoint_shown(&self) -> Option<String> {
        self.msi_endpoint.as_deref().map(shown)
    }
}

/// Detects the managed-identity source from the environment.
pub fn detect(env: &dyn Environment) -> Detection {
    let v = Vars::read(env);
    let imds_source = ImdsSource::from_env(env);
    let mut rows = vec![
        workload_identity::detect(&v),
        service_fabric::detect(&v),
        app_service::detect(&v),
        machine_learning::detect(&v),
        cloud_shell::detect(&v),
        arc::detect(&v),
    ];
    let chosen = rows
        .iter()
        .find(|r| r.detected)
        .map_or(SourceKind::Imds, |r| r.source);
    rows.push(imds::detect(chosen == SourceKind::Imds, &imds_source));

    let source = match chosen {
        SourceKind::Imds => imds_source.clone().map(ManagedSource::new),
        SourceKind::AppService | SourceKind::AzureAutomation => AppServiceSource::new(
            v.identity_endpoint.as_deref().unwrap_or_default(),
            Secret::new(v.identity_header.clone().unwrap_or_default()),
            v.automation,
        )
        .map(ManagedSource::new),
        SourceKind::Arc => arc::from_vars(&v).map(ManagedSource::new),
        SourceKind::CloudShell => {
            CloudShellSource::new(v.msi_endpoint.as_deref().unwrap_or_default())
                .map(ManagedSource::new)
        }
        SourceKind::MachineLearning => machine_learning::from_vars(&v).map(ManagedSource::new),
        SourceKind::ServiceFabric => service_fabric::from_vars(&v).map(ManagedSource::new),
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
        } else if r.source == chosen && chosen.signs_in() {
            r.reason.push_str(&format!(
                "; this source is used: {} signs in with the federated token through Entra",
                Input::ManagedIdentity
            ));
        } else if r.source == chosen && r.source != SourceKind::Imds {
            match &source {
                Ok(_) => r.reason.push_str("; this source is used"),
                Err(e) => r.reason.push_str(&format!("; but {}", e.message)),
            }
        }
    }
    let other = match &source {
        Ok(s) if s.kind() != SourceKind::Imds => Some(s.clone()),
        _ => None,
    };
    Detection {
        chosen,
        source,
        reports: rows,
        imds: imds_source.ok(),
        other,
    }
}

impl Detection {
    /// The credential of `-Identity` here: the identity `selector` selects at the chosen
    /// source, each acquisition bounded by `timeout`; why there is none (a misconfigured or
    /// unsupported source, a kind of id the source cannot select by) otherwise. A source that
    /// signs in instead ([`SourceKind::signs_in`]) is an Entra sign-in, built by the caller.
    pub fn credential(
        &self,
        selector: IdentitySelector,
        timeout: Duration,
        io: ManagedIo,
    ) -> Result<ManagedIdentityCredential> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        ManagedIdentityCredential::new(source.clone(), selector, timeout, io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;
    use crate::error::ErrorKind;

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
        assert_eq!(
            d.source.as_ref().map(ManagedSource::kind).ok(),
            Some(SourceKind::Imds)
        );
        assert_eq!(
            order(&d),
            vec![
                "WorkloadIdentity",
                "ServiceFabric",
                "AppService",
                "MachineLearning",
                "CloudShell",
                "Arc",
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
            ("IDENTITY_ENDPOINT", "https://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", "h"),
            (
                "IDENTITY_SERVER_THUMBPRINT",
                "0123456789ABCDEF0123456789ABCDEF01234567",
            ),
            ("MSI_ENDPOINT", "http://127.0.0.1:2/token"),
            ("MSI_SECRET", "s"),
            ("IMDS_ENDPOINT", "http://127.0.0.1:3"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
        ];
        // Each case removes what selected the previous one.
        const WORKLOAD: &str = "AZURE_FEDERATED_TOKEN_FILE";
        let cases: [(&[&str], SourceKind); 7] = [
            (&[], SourceKind::WorkloadIdentity),
            (&[WORKLOAD], SourceKind::ServiceFabric),
            (
                &[WORKLOAD, "IDENTITY_SERVER_THUMBPRINT"],
                SourceKind::AppService,
            ),
            (
                &[WORKLOAD, "IDENTITY_SERVER_THUMBPRINT", "IDENTITY_HEADER"],
                SourceKind::MachineLearning,
            ),
            (
                &[
                    WORKLOAD,
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_SECRET",
                ],
                SourceKind::CloudShell,
            ),
            (
                &[
                    WORKLOAD,
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_ENDPOINT",
                ],
                SourceKind::Arc,
            ),
            (
                &[
                    WORKLOAD,
                    "IDENTITY_SERVER_THUMBPRINT",
                    "IDENTITY_HEADER",
                    "MSI_ENDPOINT",
                    "IMDS_ENDPOINT",
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
            let supported = expected != SourceKind::WorkloadIdentity;
            assert_eq!(d.source.is_ok(), supported, "{expected:?}");
            // Workload identity has no endpoint, yet -Identity uses it (it signs in).
            assert_eq!(d.selected(), Some(expected), "{expected:?}");
            if !supported {
                let e = d.source.as_ref().expect_err("unsupported");
                assert_eq!(e.kind, ErrorKind::UnsupportedSource);
                assert!(
                    e.message.contains("is detected")
                        && e.message.contains("has no managed-identity endpoint"),
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
        // The App Service row names the Automation flavour it detected.
        let row = d
            .reports
            .iter()
            .find(|r| r.source == SourceKind::AzureAutomation)
            .expect("the App Service row reads AzureAutomation");
        assert_eq!(
            row.endpoint.as_deref(),
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
}
