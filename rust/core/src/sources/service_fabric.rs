//! Service Fabric (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`):
//! protocol spec §2.5. Detected only; acquisition is not implemented yet.

use super::diagnostics::explain_missing;
use super::selection::Vars;
use super::{SourceKind, SourceReport};

/// Service Fabric needs all three variables.
pub fn detect(v: &Vars) -> SourceReport {
    let (ie, ih, tp) = (
        v.identity_endpoint.is_some(),
        v.identity_header.is_some(),
        v.thumbprint.is_some(),
    );
    let detected = ie && ih && tp;
    SourceReport::new(
        SourceKind::ServiceFabric,
        detected,
        v.identity_endpoint_shown().filter(|_| tp),
        if detected {
            "IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT are set".to_string()
        } else {
            explain_missing(&[
                ("IDENTITY_ENDPOINT", ie),
                ("IDENTITY_HEADER", ih),
                ("IDENTITY_SERVER_THUMBPRINT", tp),
            ])
        },
    )
}
