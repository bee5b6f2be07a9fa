//! Entra ID error answers (`{"error","error_description","error_codes",…}`) → typed errors with
//! the `AADSTS` code and a one-line hint for the common mistakes (wrong or expired secret,
//! unknown app, missing consent, wrong tenant, unregistered certificate, expired or unmatched
//! federated token). The description is shown (it names the app and tenant, which helps), cut
//! to its first line, and every secret the request carried (client secret, assertion, refresh
//! token, code, verifier) is scrubbed from it, so a server that echoes input cannot leak it
//! into an error stream.

use serde_json::{json, Value};

use crate::error::{Error, ErrorKind};
use crate::input::Input;

/// The longest description kept in a message.
const MAX_DESCRIPTION_CHARS: usize = 400;

/// The parsed error body; every field is optional (a proxy may answer anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraError {
    pub status: u16,
    /// OAuth error code: `invalid_client`, `authorization_pending`…
    pub error: Option<String>,
    pub description: Option<String>,
    pub codes: Vec<u64>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

/// Parses an error body. Never fails: a body that is not JSON gives an error with no fields.
pub fn parse_entra_error(status: u16, body: &[u8]) -> EntraError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let codes = match value.get("error_codes") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
            .collect(),
        _ => Vec::new(),
    };
    EntraError {
        status,
        error: text("error"),
        description: text("error_description"),
        codes,
        trace_id: text("trace_id"),
        correlation_id: text("correlation_id"),
    }
}

impl EntraError {
    /// The AADSTS number: the first of `error_codes`, else the `AADSTSnnnn` at the start of the
    /// description.
    pub fn aadsts(&self) -> Option<u64> {
        self.codes
            .first()
            .copied()
            .or_else(|| aadsts_in(self.description.as_deref()?))
    }

    /// The typed error. `target` names what was called; `sent_secrets` are the secret values
    /// the request carried (scrubbed from the description).
    pub fn to_error(&self, target: &str, sent_secrets: &[&str]) -> Error {
        let code = self.aadsts();
        let kind = match (self.status, code) {
            (_, Some(65001)) => ErrorKind::PermissionDenied,
            (500..=599, _) => ErrorKind::ServiceError,
            (429, _) => ErrorKind::Throttled,
            _ => ErrorKind::AuthenticationFailed,
        };
        let mut message = format!("{target} refused the request (HTTP {}", self.status);
        if let Some(code) = code {
            message.push_str(&format!(", AADSTS{code}"));
        }
        if let Some(error) = &self.error {
            message.push_str(&format!(", {}", scrub(error, sent_secrets)));
        }
        message.push(')');
        if let Some(description) = &self.description {
            let first = description.lines().next().unwrap_or_default();
            let first = scrub(first, sent_secrets);
            let first: String = first.chars().take(MAX_DESCRIPTION_CHARS).collect();
            message.push_str(": ");
            message.push_str(&first);
        }
        if let Some(hint) = code.and_then(hint) {
            message.push_str(" Hint: ");
            message.push_str(&hint);
        }
        Error::new(kind, message).with_details(json!({
            "status": self.status,
            "error": self.error.as_deref().map(|e| scrub(e, sent_secrets)),
            "aadsts": code,
            "errorCodes": self.codes,
            "traceId": self.trace_id,
            "correlationId": self.correlation_id,
        }))
    }
}

/// The one-line hint for the common sign-in mistakes.
pub fn hint(aadsts: u64) -> Option<String> {
    Some(match aadsts {
        7000215 => "the client secret is wrong: pass the secret's Value, not its Secret ID, and check it belongs to this application.".to_string(),
        7000222 => "the client secret has expired: create a new one under the app registration's Certificates & secrets.".to_string(),
        700016 => format!("no application with this client id exists in the tenant: check {} and {} (the app may live in another tenant).", Input::ClientId, Input::TenantId),
        65001 => "the permissions were not consented: an administrator must grant consent for these scopes (or sign in once interactively).".to_string(),
        90002 => format!("the tenant was not found: check {} (a GUID or a verified domain) and {}.", Input::TenantId, Input::Environment),
        700027 => "the certificate is not registered on this application (or the key does not match it): upload its public certificate under Certificates & secrets.".to_string(),
        700024 => format!("the federated token has expired or is not yet valid: the token file must be refreshed by its issuer ({} or AZURE_FEDERATED_TOKEN_FILE).", Input::FederatedTokenFile),
        70021 => "no federated credential on the application matches the token's issuer, subject and audience (api://AzureADTokenExchange).".to_string(),
        _ => return None,
    })
}

fn aadsts_in(description: &str) -> Option<u64> {
    let rest = description.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Replaces every non-trivial sent secret in `text` with `[redacted]`.
pub fn scrub(text: &str, sent_secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in sent_secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: u64, error: &str, description: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "trace_id": "tr",
            "correlation_id": "co",
        }))
        .unwrap()
    }

    #[test]
    fn the_code_and_hint_are_surfaced() {
        let cases = [
            (7000215, "wrong", ErrorKind::AuthenticationFailed),
            (7000222, "expired", ErrorKind::AuthenticationFailed),
            (700016, "no application", ErrorKind::AuthenticationFailed),
            (65001, "consent", ErrorKind::PermissionDenied),
            (
                90002,
                "tenant was not found",
                ErrorKind::AuthenticationFailed,
            ),
        ];
        for (code, hint_text, kind) in cases {
            let parsed = parse_entra_error(
                401,
                &body(code, "invalid_client", "AADSTS: x\r\nTrace ID: 1"),
            );
            let e = parsed.to_error("Microsoft Entra ID", &[]);
            assert_eq!(e.kind, kind);
            assert!(
                e.message.contains(&format!("AADSTS{code}")),
                "{}",
                e.message
            );
            assert!(e.message.contains(hint_text), "{}", e.message);
            assert!(!e.message.contains("Trace ID"), "{}", e.message);
            assert_eq!(e.details.as_ref().unwrap()["aadsts"], code);
            assert_eq!(e.details.as_ref().unwrap()["traceId"], "tr");
        }
    }

    #[test]
    fn the_code_comes_from_the_description_when_error_codes_is_missing() {
        let parsed = parse_entra_error(
            400,
            br#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#,
        );
        assert_eq!(parsed.aadsts(), Some(90002));
        assert_eq!(parsed.error.as_deref(), Some("invalid_request"));
        let garbage = parse_entra_error(502, b"<html>bad gateway</html>");
        assert_eq!(garbage.aadsts(), None);
        let e = garbage.to_error("Microsoft Entra ID", &[]);
        assert_eq!(e.kind, ErrorKind::ServiceError);
        assert!(!e.message.contains("html"));
    }

    #[test]
    fn sent_secrets_never_reach_the_message() {
        let secret = "s3cr3t~value.Q";
        let assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
        let parsed = parse_entra_error(
            401,
            &body(
                7000215,
                &format!("bad {secret}"),
                &format!("AADSTS7000215: Invalid client secret {secret} / {assertion}."),
            ),
        );
        let e = parsed.to_error("Microsoft Entra ID", &[secret, assertion]);
        let all = format!("{} {}", e.message, e.details.unwrap());
        assert!(!all.contains(secret), "{all}");
        assert!(!all.contains(assertion), "{all}");
        assert!(all.contains("[redacted]"));
    }
}
