//! Azure Machine Learning and legacy MSI (`MSI_ENDPOINT` + `MSI_SECRET`): protocol spec §2.3.
//! Detected only; acquisition is not implemented yet.

use super::diagnostics::explain_missing;
use super::selection::Vars;
use super::{SourceKind, SourceReport};

/// Machine Learning needs both `MSI_ENDPOINT` and `MSI_SECRET`.
pub fn detect(v: &Vars) -> SourceReport {
    let (me, ms) = (v.msi_endpoint.is_some(), v.msi_secret.is_some());
    SourceReport::new(
        SourceKind::MachineLearning,
        me && ms,
        v.msi_endpoint_shown().filter(|_| ms),
        if me && ms {
            "MSI_ENDPOINT and MSI_SECRET are set".to_string()
        } else {
            explain_missing(&[("MSI_ENDPOINT", me), ("MSI_SECRET", ms)])
        },
    )
}
