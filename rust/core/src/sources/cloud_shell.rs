//! Azure Cloud Shell (`MSI_ENDPOINT` without `MSI_SECRET`): protocol spec §2.4. Detected only;
//! acquisition is not implemented yet.

use super::selection::Vars;
use super::{SourceKind, SourceReport};

/// Cloud Shell: `MSI_ENDPOINT` set and `MSI_SECRET` not.
pub fn detect(v: &Vars) -> SourceReport {
    let (me, ms) = (v.msi_endpoint.is_some(), v.msi_secret.is_some());
    SourceReport::new(
        SourceKind::CloudShell,
        me && !ms,
        v.msi_endpoint_shown().filter(|_| !ms),
        match (me, ms) {
            (true, false) => "MSI_ENDPOINT is set and MSI_SECRET is not".to_string(),
            (true, true) => "MSI_SECRET is set too, which means Azure Machine Learning".to_string(),
            _ => "MSI_ENDPOINT is not set".to_string(),
        },
    )
}
