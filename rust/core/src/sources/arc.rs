//! Azure Arc (`IDENTITY_ENDPOINT` + `IMDS_ENDPOINT`, or the himds agent on disk): protocol
//! spec §2.6. Detected only; acquisition is not implemented yet.

use super::diagnostics::explain_missing;
use super::selection::Vars;
use super::{SourceKind, SourceReport};
use crate::env::Environment;

/// Default endpoint of the Arc agent when only its binary was found.
pub const ARC_DEFAULT_ENDPOINT: &str = "http://127.0.0.1:40342/metadata/identity/oauth2/token";
/// Test hook and override: the path of the Arc agent binary to look for.
pub const HIMDS_PATH_VARIABLE: &str = "MANAGEDIDENTITY_HIMDS_PATH";

/// Where the Arc agent binary lives on this OS (or where the test hook says).
pub fn himds_path(env: &dyn Environment) -> String {
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

/// Arc: both variables, or the agent installed (the only detection that touches the disk).
pub fn detect(v: &Vars) -> SourceReport {
    let ie = v.identity_endpoint.is_some();
    let by_env = ie && v.imds_endpoint.is_some();
    let himds = himds_path(v.env);
    let installed = v.env.file_exists(&himds);
    SourceReport::new(
        SourceKind::Arc,
        by_env || installed,
        if by_env {
            v.identity_endpoint_shown()
        } else {
            installed.then(|| ARC_DEFAULT_ENDPOINT.to_string())
        },
        if by_env {
            "IDENTITY_ENDPOINT and IMDS_ENDPOINT are set".to_string()
        } else if installed {
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
    )
}
