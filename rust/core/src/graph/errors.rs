//! Graph error envelopes → typed errors. Keys are matched case-insensitively (`error`/`Error`,
//! `innerError`/`InnerError`, `request-id`), and every error carries
//! `details = {status, code, requestId}` (plus `clientRequestId` when known).

use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind};

/// The least-privileged application permissions an app-role operation needs (named in 403
/// messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading service principals, app roles and assignments.
    Read,
    /// Creating or deleting app-role assignments.
    Write,
    /// An arbitrary request (`Invoke-GraphRequest`): the needed permission is not known here.
    Other,
}

impl Access {
    pub fn needed_permissions(self) -> &'static str {
        match self {
            Access::Read => "the application permission Application.Read.All",
            Access::Write => {
                "the application permissions AppRoleAssignment.ReadWrite.All and Application.Read.All"
            }
            Access::Other => "the permission this Microsoft Graph API requires",
        }
    }
}

/// What a Graph error envelope says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphErrorInfo {
    pub status: u16,
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn str_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    get_ci(map, key).and_then(Value::as_str).map(str::to_string)
}

/// Reads a header from a response (`request-id`, `client-request-id`).
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl GraphErrorInfo {
    /// Parses an error envelope (any of its key spellings) plus the response headers.
    pub fn parse(status: u16, headers: &HeaderMap, body: &Value) -> Self {
        let mut info = GraphErrorInfo {
            status,
            ..Default::default()
        };
        if let Some(error) = body.as_object().and_then(|o| get_ci(o, "error")) {
            match error {
                Value::Object(e) => {
                    info.code = str_ci(e, "code");
                    info.message = str_ci(e, "message");
                    if let Some(Value::Object(inner)) = get_ci(e, "innerError") {
                        info.request_id = str_ci(inner, "request-id");
                        info.client_request_id = str_ci(inner, "client-request-id");
                    }
                }
                Value::String(s) => info.message = Some(s.clone()),
                _ => {}
            }
        }
        if info.request_id.is_none() {
            info.request_id = header(headers, "request-id");
        }
        if info.client_request_id.is_none() {
            info.client_request_id = header(headers, "client-request-id");
        }
        info
    }

    /// Parses from raw bytes (a non-JSON body is kept as the message, truncated).
    pub fn parse_bytes(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => Self::parse(status, headers, &v),
            Err(_) => {
                let mut info = Self::parse(status, headers, &Value::Null);
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if !text.is_empty() {
                    info.message = Some(text.chars().take(300).collect());
                }
                info
            }
        }
    }

    pub fn is_already_exists(&self) -> bool {
        self.status == 400
            && self
                .message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("already exists"))
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(code))
    }

    pub fn details(&self) -> Value {
        let mut d = json!({
            "status": self.status,
            "code": self.code,
            "requestId": self.request_id,
        });
        if let Some(c) = &self.client_request_id {
            d["clientRequestId"] = json!(c);
        }
        d
    }

    fn suffix(&self) -> String {
        let mut s = format!("HTTP {}", self.status);
        if let Some(code) = &self.code {
            s.push(' ');
            s.push_str(code);
        }
        if let Some(rid) = &self.request_id {
            s.push_str("; request-id ");
            s.push_str(rid);
        }
        s
    }

    /// The typed error. `what` describes the failed action ("reading service principal 'x'").
    pub fn to_error(&self, access: Access, what: &str) -> Error {
        let text = self
            .message
            .clone()
            .unwrap_or_else(|| "no error message".to_string());
        let suffix = self.suffix();
        let (kind, message) = match self.status {
            403 => (
                ErrorKind::PermissionDenied,
                format!(
                    "Microsoft Graph refused {what}: {text} The calling identity needs {} \
                     (grant it, then get a new token: roles are read when a token is issued). ({suffix})",
                    access.needed_permissions()
                ),
            ),
            401 => (
                ErrorKind::AuthenticationFailed,
                format!("Microsoft Graph rejected the access token while {what}: {text} ({suffix})"),
            ),
            404 => (ErrorKind::NotFound, format!("{what} failed: {text} ({suffix})")),
            429 => (
                ErrorKind::Throttled,
                format!("{what} failed: Microsoft Graph kept throttling the request: {text} ({suffix})"),
            ),
            400 | 405 | 411 | 413 | 414 | 415 | 422 => {
                (ErrorKind::InvalidArgument, format!("{what} failed: {text} ({suffix})"))
            }
            _ => (ErrorKind::ServiceError, format!("{what} failed: {text} ({suffix})")),
        };
        Error::new(kind, message).with_details(self.details())
    }
}

/// Shape of a per-item error in output objects: `{errorId, message}` (the protocol edge adds
/// the category).
pub fn item_error(error: &Error) -> Value {
    let mut item = json!({
        "errorId": error.kind.error_id(),
        "message": error.message,
    });
    // An explained refusal keeps its facts and the fixing command (the error record's
    // TargetObject and RecommendedAction).
    if error.kind == ErrorKind::PermissionDenied {
        if let Some(details) = &error.details {
            item["details"] = details.clone();
        }
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_envelopes_case_insensitively() {
        let body = json!({"Error": {"Code": "Authorization_RequestDenied", "Message": "Insufficient privileges to complete the operation.",
            "InnerError": {"Request-Id": "rid-1", "date": "2021"}}});
        let info = GraphErrorInfo::parse(403, &HeaderMap::new(), &body);
        assert_eq!(info.code.as_deref(), Some("Authorization_RequestDenied"));
        assert_eq!(info.request_id.as_deref(), Some("rid-1"));
        let e = info.to_error(Access::Write, "granting Mail.Send");
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message.contains("AppRoleAssignment.ReadWrite.All"),
            "{}",
            e.message
        );
        assert!(e.message.contains("rid-1"));
        assert_eq!(e.details.as_ref().unwrap()["requestId"], "rid-1");
        assert_eq!(e.details.as_ref().unwrap()["status"], 403);
    }

    #[test]
    fn request_id_from_header_and_garbage_bodies() {
        let mut h = HeaderMap::new();
        h.insert("request-id", "hdr-rid".parse().unwrap());
        let info = GraphErrorInfo::parse_bytes(503, &h, b"<html>oops</html>");
        assert_eq!(info.request_id.as_deref(), Some("hdr-rid"));
        assert_eq!(info.message.as_deref(), Some("<html>oops</html>"));
        assert_eq!(
            info.to_error(Access::Read, "x").kind,
            ErrorKind::ServiceError
        );
    }

    #[test]
    fn already_exists() {
        let body = json!({"error": {"code": "Request_BadRequest", "message": "Permission being assigned already exists on the object"}});
        assert!(GraphErrorInfo::parse(400, &HeaderMap::new(), &body).is_already_exists());
        assert!(!GraphErrorInfo::parse(404, &HeaderMap::new(), &body).is_already_exists());
    }
}
