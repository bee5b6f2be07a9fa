//! "Entra ID does not know this resource", as each managed-identity host words it (issue 8):
//! IMDS (and the IMDS-shaped hosts) relay Entra's HTTP 400 `invalid_resource` / AADSTS500011;
//! App Service and Automation answer HTTP 500 "An unexpected error occured while fetching the
//! AAD Token." (Azure's spelling). Either way the error names the resource URI that was asked
//! for, with the stable kind [`ErrorKind::UnknownResource`]. IMDS's 400 is not retried; the
//! App Service 500 keeps its retries, since a transient Entra failure reads the same.

use crate::error::{Error, ErrorKind};

/// App Service / Automation's text when fetching the token from Entra fails (both spellings).
const APP_SERVICE_AAD_FAILED: [&str; 2] = [
    "an unexpected error occured while fetching the aad token",
    "an unexpected error occurred while fetching the aad token",
];

/// True when the answer says the resource is unknown to Entra ID.
pub fn is_unknown_resource(status: u16, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    match status {
        400 => text.contains("invalid_resource") || text.contains("aadsts500011"),
        500 => APP_SERVICE_AAD_FAILED.iter().any(|m| text.contains(m)),
        _ => false,
    }
}

/// The typed error; `answer` is the (redacted) service text.
pub fn unknown_resource(resource: &str, target: &str, status: u16, answer: &str) -> Error {
    let message = if status == 500 {
        format!(
            "Unknown resource '{resource}' (most likely): {target} answered HTTP 500 ({answer}), \
             which App Service and Automation answer when Entra ID does not know the resource \
             (or cannot issue a token at all)."
        )
    } else {
        format!(
            "Unknown resource '{resource}': {target} issued no token for it; Entra ID has no \
             application with this resource URI (HTTP {status}: {answer})."
        )
    };
    Error::new(
        ErrorKind::UnknownResource,
        format!("{message} Check the resource URI (e.g. https://graph.microsoft.com or https://management.azure.com)."),
    )
}

/// Whether the refusal is final. IMDS's 400 is; App Service's 500 is also what a transient
/// Entra failure looks like, so it keeps the source's retries (MSAL retries 500).
pub fn is_final(status: u16) -> bool {
    status == 400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_hosts_wording_and_nothing_else() {
        let imds = br#"{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named api://x was not found"}"#;
        assert!(is_unknown_resource(400, imds));
        assert!(is_unknown_resource(
            500,
            b"An unexpected error occured while fetching the AAD Token."
        ));
        assert!(!is_unknown_resource(500, b"An unexpected error"));
        assert!(!is_unknown_resource(
            400,
            br#"{"error":"invalid_request","error_description":"Identity not found"}"#
        ));
        assert!(!is_unknown_resource(500, b"Internal Server Error"));
        assert!(!is_unknown_resource(404, imds));
    }

    #[test]
    fn the_error_names_the_resource_and_has_a_stable_id() {
        let e = unknown_resource("api://nope", "IMDS at http://x", 400, "AADSTS500011");
        assert_eq!(e.kind, ErrorKind::UnknownResource);
        assert_eq!(e.kind.error_id(), "ManagedIdentity.UnknownResource");
        assert!(e.message.contains("Unknown resource 'api://nope'"));
    }
}
