//! What people are told about managed-identity endpoints: the availability probes of
//! `Test-IdentityEndpoint` (never a secret, never a token), why an endpoint could not be used,
//! and the wording shared by the detection rows.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::json;

use super::acquire::MAX_BODY_BYTES;
use super::selection::Detection;
use super::{IdentitySelector, ManagedSource, PreparedRequest, SourceKind};
use crate::error::{Error, ErrorKind};
use crate::http::{HttpRequest, Transport, TransportError};
use crate::input::Input;

/// "X is not set", "X and Y are not set", "X is set but Y is not".
pub fn explain_missing(vars: &[(&str, bool)]) -> String {
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

/// The IdentityNotFound error: names the id kind and value and explains the three parameters.
pub(crate) fn identity_not_found(
    source: SourceKind,
    selector: &IdentitySelector,
    target: &str,
    status: u16,
    text: &str,
) -> Error {
    let explain = format!(
        "{} takes the identity's client (application) id, {} its object (principal) id, \
         {} its ARM resource id (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…)",
        Input::ClientId,
        Input::ObjectId,
        Input::ResourceId
    );
    let message = match selector {
        IdentitySelector::SystemAssigned => format!(
            "{target} has no system-assigned managed identity for this {} (HTTP {status}: {text}). Enable the \
             system-assigned identity on the resource, or select an attached user-assigned identity: {explain}.",
            host_noun(source)
        ),
        _ => format!(
            "{target} found no managed identity with {} '{}' attached to this {} (HTTP {status}: {text}). Check that \
             the user-assigned identity is attached to the resource and that you passed the right kind of id: {explain}.",
            match selector {
                IdentitySelector::ClientId(_) => "client id",
                IdentitySelector::ObjectId(_) => "object id",
                _ => "resource id",
            },
            selector.value().unwrap_or_default(),
            host_noun(source)
        ),
    };
    Error::new(ErrorKind::IdentityNotFound, message)
}

fn host_noun(source: SourceKind) -> &'static str {
    match source {
        SourceKind::AzureAutomation => "Automation account",
        SourceKind::AppService => "app",
        SourceKind::MachineLearning => "compute",
        SourceKind::ServiceFabric => "application",
        _ => "machine",
    }
}

/// A detected source with no managed-identity endpoint to call. Only workload identity is one:
/// `Connect-Identity -Identity` signs in with its federated token through Entra instead
/// (`context/connect.rs`), so this error reaches callers that need an endpoint.
pub(crate) fn unsupported(kind: SourceKind, reason: Option<&str>) -> Error {
    Error::new(
        ErrorKind::UnsupportedSource,
        format!(
            "{} is detected ({}) and has no managed-identity endpoint: Connect-Identity {} \
             signs in with its federated token through Entra instead. Run Test-IdentityEndpoint for details.",
            kind.display(),
            reason.unwrap_or("from the environment"),
            Input::ManagedIdentity
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
    Untrusted,
}

async fn probe(transport: &dyn Transport, prepared: PreparedRequest, timeout: Duration) -> Probe {
    let mut request = HttpRequest::get(prepared.url, prepared.headers, timeout);
    request.max_body_bytes = Some(MAX_BODY_BYTES);
    request.tls_pin = prepared.tls_pin;
    match transport.send(request).await {
        Ok(response) => Probe::Answered(
            response.status,
            String::from_utf8_lossy(&response.body).into_owned(),
        ),
        Err(TransportError::Timeout)
        | Err(TransportError::Connect {
            timed_out: true, ..
        }) => Probe::NoAnswer,
        Err(TransportError::Connect { refused: true, .. }) => Probe::Refused,
        Err(TransportError::Connect { cause, .. }) | Err(TransportError::Broken { cause, .. }) => {
            Probe::Failed(cause)
        }
        Err(TransportError::TooLarge { status, .. }) => Probe::Answered(status, String::new()),
        Err(TransportError::Untrusted { .. }) => Probe::Untrusted,
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
    /// Probes IMDS (a token GET without `Metadata`) and the chosen source when it is another
    /// one (`ManagedSource::probe_request`: no secret, no `Metadata`; Service Fabric's is
    /// pinned); any HTTP answer means available. Never sends a secret, never obtains a token.
    pub async fn probe(&mut self, transport: &dyn Transport, timeout: Duration) {
        let imds_probe = async {
            match &self.imds {
                Some(imds) => Some(
                    probe(
                        transport,
                        PreparedRequest::get(imds.probe_url(), HeaderMap::new()),
                        timeout,
                    )
                    .await,
                ),
                None => None,
            }
        };
        let other_probe = async {
            match &self.other {
                Some(other) => Some(probe(transport, other.probe_request(), timeout).await),
                None => None,
            }
        };
        let (imds_result, other_result) = futures::future::join(imds_probe, other_probe).await;
        let other_kind = self.other.as_ref().map(ManagedSource::kind);
        for report in self.reports.iter_mut() {
            let result = match report.source {
                SourceKind::Imds => imds_result.as_ref(),
                kind if Some(kind) == other_kind && report.detected => other_result.as_ref(),
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
                Probe::Untrusted => (false, "the endpoint's TLS certificate does not match IDENTITY_SERVER_THUMBPRINT (the handshake was abandoned; nothing was sent)".to_string()),
            };
            report.available = Some(available);
            report.reason.push_str(&format!("; {text}"));
        }
    }

    /// The source `Connect-Identity -Identity` would use here (workload identity included: it
    /// signs in): `None` when the chosen source is misconfigured, or when it is the IMDS
    /// fallback and a probe found no IMDS.
    pub fn selected(&self) -> Option<SourceKind> {
        let usable = self.source.is_ok() || self.chosen.signs_in();
        let imds_missing = self.chosen == SourceKind::Imds
            && self
                .reports
                .iter()
                .any(|r| r.source == SourceKind::Imds && r.available == Some(false));
        (usable && !imds_missing).then_some(self.chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;
    use crate::http::transport::testing::{raw, FakeTransport};

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

    #[tokio::test]
    async fn probes_send_no_secret_and_read_any_answer_as_available() {
        let env = MapEnvironment::new()
            .with("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
            .with("IDENTITY_HEADER", "hdr-s3cr3t")
            .with("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://127.0.0.1:8");
        let mut detection = crate::sources::detect(&env);
        let t = FakeTransport::new(|r, _| {
            if r.url.as_str().contains(":8/") {
                Err(TransportError::Connect {
                    refused: true,
                    timed_out: false,
                    cause: "refused".into(),
                })
            } else {
                Ok(raw(400, b"{}"))
            }
        });
        detection.probe(t.as_ref(), Duration::from_secs(1)).await;
        for call in t.calls() {
            assert!(call.headers.is_empty(), "{call:?}");
            assert!(!call.url.contains("hdr-s3cr3t"));
        }
        let imds = detection
            .reports
            .iter()
            .find(|r| r.source == SourceKind::Imds)
            .expect("imds");
        assert_eq!(imds.available, Some(false));
        assert!(
            imds.reason.contains("connection refused"),
            "{}",
            imds.reason
        );
        let app = detection
            .reports
            .iter()
            .find(|r| r.source == SourceKind::AppService)
            .expect("app");
        assert_eq!(app.available, Some(true));
        assert_eq!(detection.selected(), Some(SourceKind::AppService));
    }
}
