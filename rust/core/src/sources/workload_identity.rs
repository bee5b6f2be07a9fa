//! Workload identity federation (`AZURE_FEDERATED_TOKEN_FILE` + `AZURE_TENANT_ID` +
//! `AZURE_CLIENT_ID`), checked before the IMDS fallback. It has no managed-identity endpoint:
//! `Connect-Identity -Identity` signs in with the federated token through Entra, as
//! Azure.Identity's ManagedIdentityCredential does (`context/connect.rs`,
//! `credentials/workload_identity.rs`).

use super::diagnostics::explain_missing;
use super::redact::shown;
use super::selection::Vars;
use super::{SourceKind, SourceReport};

/// The public authority when `AZURE_AUTHORITY_HOST` is not set.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Workload identity needs the token file, the tenant and the client id.
pub fn detect(v: &Vars) -> SourceReport {
    let detected =
        v.federated_token_file.is_some() && v.tenant_id.is_some() && v.client_id.is_some();
    let authority = v
        .authority_host
        .as_deref()
        .unwrap_or(DEFAULT_AUTHORITY)
        .trim_end_matches('/')
        .to_string();
    SourceReport::new(
        SourceKind::WorkloadIdentity,
        detected,
        v.tenant_id
            .as_deref()
            .map(|t| shown(&format!("{authority}/{t}/oauth2/v2.0/token"))),
        if detected {
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
    )
}
