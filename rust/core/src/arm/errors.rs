//! ARM error JSON (`{"error": {"code", "message", "target", "details"}}`) → typed errors whose
//! message carries ARM's code and message and whose details carry `{status, code, requestId,
//! correlationId}` for the error record. Server text is truncated; nothing of the request
//! (token, URL query) is ever put in an error.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::resource::{self, ErrorDocument};
use crate::error::{Error, ErrorKind};

/// Longest piece of server text kept in a message.
const MAX_TEXT: usize = 600;

/// What an ARM error answer says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArmErrorInfo {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    /// `WWW-Authenticate` of a 401 (an ARM challenge names the expected authority/audience).
    pub challenge: Option<String>,
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn truncate(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_TEXT {
        text.to_string()
    } else {
        let mut t: String = text.chars().take(MAX_TEXT).collect();
        t.push('…');
        t
    }
}

impl ArmErrorInfo {
    /// Parses the error body (JSON or not) and the response headers. Never panics.
    pub fn parse(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut info = ArmErrorInfo {
            status,
            request_id: header(headers, "x-ms-request-id"),
            correlation_id: header(headers, "x-ms-correlation-request-id"),
            challenge: header(headers, "www-authenticate").map(|c| truncate(&c)),
            ..Default::default()
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => {
                let e = resource::parse::<ErrorDocument>(&v).body();
                info.code = e.code;
                info.message = e.message.as_deref().map(truncate);
            }
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                if !text.trim().is_empty() {
                    info.message = Some(truncate(&text));
                }
            }
        }
        info
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    pub fn details(&self) -> Value {
        json!({
            "status": self.status,
            "code": self.code,
            "requestId": self.request_id,
            "correlationId": self.correlation_id,
        })
    }

    fn suffix(&self) -> String {
        let mut s = format!("HTTP {}", self.status);
        if let Some(code) = &self.code {
            s.push(' ');
            s.push_str(code);
        }
        if let Some(id) = &self.correlation_id {
            s.push_str("; correlation id ");
            s.push_str(id);
        }
        s
    }

    /// The typed error; `what` describes the failed action ("creating identity 'x'").
    pub fn to_error(&self, what: &str) -> Error {
        let text = self
            .message
            .clone()
            .unwrap_or_else(|| "no error message".to_string());
        let suffix = self.suffix();
        let kind = match self.status {
            400 | 405 | 409 | 411 | 413 | 414 | 415 | 422 => ErrorKind::InvalidArgument,
            401 => ErrorKind::AuthenticationFailed,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::Throttled,
            _ => ErrorKind::ServiceError,
        };
        let message = match self.status {
            401 => {
                let mut m = format!(
                    "Azure Resource Manager rejected the access token while {what}: {text} ({suffix})"
                );
                if let Some(c) = &self.challenge {
                    m.push_str(&format!(" Challenge: {c}"));
                }
                m
            }
            403 => format!("Azure Resource Manager refused {what}: {text} ({suffix})"),
            429 => format!(
                "{what} failed: Azure Resource Manager kept throttling the request: {text} ({suffix})"
            ),
            _ => format!("{what} failed: {text} ({suffix})"),
        };
        Error::new(kind, message).with_details(self.details())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_error_json_is_surfaced() {
        let mut h = HeaderMap::new();
        h.insert("x-ms-correlation-request-id", "corr-1".parse().unwrap());
        let body = br#"{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/write'."}}"#;
        let info = ArmErrorInfo::parse(403, &h, body);
        assert!(info.code_is("authorizationfailed"));
        let e = info.to_error("creating identity 'a'");
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message
                .contains("Microsoft.ManagedIdentity/userAssignedIdentities/write"),
            "{}",
            e.message
        );
        assert!(e.message.contains("AuthorizationFailed"));
        assert!(e.message.contains("corr-1"));
        let d = e.details.unwrap();
        assert_eq!(d["code"], "AuthorizationFailed");
        assert_eq!(d["status"], 403);
    }

    #[test]
    fn kinds_challenges_and_garbage() {
        let mut h = HeaderMap::new();
        h.insert(
            "www-authenticate",
            "Bearer authorization_uri=\"https://login.example/t\", error=\"invalid_token\""
                .parse()
                .unwrap(),
        );
        let e = ArmErrorInfo::parse(401, &h, b"").to_error("listing subscriptions");
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
        assert!(e.message.contains("invalid_token"), "{}", e.message);
        let long = vec![b'x'; 5000];
        let info = ArmErrorInfo::parse(500, &HeaderMap::new(), &long);
        assert!(info.message.as_ref().unwrap().chars().count() <= MAX_TEXT + 1);
        assert_eq!(info.to_error("x").kind, ErrorKind::ServiceError);
        let top = ArmErrorInfo::parse(
            404,
            &HeaderMap::new(),
            br#"{"code":"ResourceGroupNotFound","message":"Resource group 'rg' could not be found."}"#,
        );
        assert!(top.code_is("ResourceGroupNotFound"));
        assert_eq!(top.to_error("x").kind, ErrorKind::NotFound);
        assert_eq!(
            ArmErrorInfo::parse(400, &HeaderMap::new(), b"[1,")
                .to_error("x")
                .kind,
            ErrorKind::InvalidArgument
        );
    }
}
