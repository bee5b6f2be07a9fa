//! Small shared helpers: time formatting, GUIDs, base64url, query strings and the plain
//! response type every endpoint builds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;

/// Seconds since the Unix epoch.
pub fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) for an epoch second count.
pub fn iso_seconds(epoch: u64) -> String {
    i64::try_from(epoch)
        .ok()
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now (Graph `createdDateTime`).
pub fn iso_now_z() -> String {
    format!("{}Z", iso_seconds(now_epoch()))
}

/// `YYYY-MM-DDTHH:MM:SS` for now (Graph `innerError.date`).
pub fn iso_now() -> String {
    iso_seconds(now_epoch())
}

/// True for a canonical 8-4-4-4-12 hexadecimal GUID.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url with or without padding.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
        .or_else(|| URL_SAFE.decode(s).ok())
}

/// Resource comparison form: trailing '/' trimmed, lower-case.
pub fn resource_key(s: &str) -> String {
    s.trim_end_matches('/').to_ascii_lowercase()
}

/// Decodes an `application/x-www-form-urlencoded` string (URL query or form body).
pub fn parse_form(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// First value of a parameter (names compared exactly).
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Percent-encodes a query component.
pub fn encode_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A finished HTTP answer (converted to a hyper response by the server).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn new(status: u16) -> Self {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// JSON body with `application/json; charset=utf-8`.
    pub fn json(status: u16, v: &Value) -> Self {
        Resp::new(status)
            .header("Content-Type", "application/json; charset=utf-8")
            .body(v.to_string().into_bytes())
    }

    pub fn text(status: u16, content_type: &str, text: &str) -> Self {
        Resp::new(status)
            .header("Content-Type", content_type)
            .body(text.as_bytes().to_vec())
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Removes every header of that name, then sets it.
    pub fn set_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.header(name, value)
    }
}

/// A raw body given to a fault: JSON content type when it parses as JSON.
pub fn raw_body_resp(status: u16, body: &str) -> Resp {
    if serde_json::from_str::<Value>(body).is_ok() {
        Resp::text(status, "application/json; charset=utf-8", body)
    } else {
        Resp::text(status, "text/plain; charset=utf-8", body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso_seconds(0), "1970-01-01T00:00:00");
        assert_eq!(iso_seconds(1_506_484_173), "2017-09-27T03:49:33");
        assert_eq!(iso_seconds(951_782_400), "2000-02-29T00:00:00");
    }

    #[test]
    fn guids() {
        assert!(is_guid("00000003-0000-0000-c000-000000000000"));
        assert!(!is_guid("00000003-0000-0000-c000-00000000000"));
        assert!(!is_guid("0000000g-0000-0000-c000-000000000000"));
    }
}

/// A request as the handlers see it (also built for each `$batch` item).
#[derive(Debug, Clone, Default)]
pub struct Req {
    /// Upper-case method.
    pub method: String,
    /// Path as sent (still percent-encoded).
    pub path: String,
    /// Raw query string without '?'.
    pub query: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `scheme://host[:port]` the request was sent to (listener scheme, `Host` header), no
    /// trailing slash: URLs in answers (discovery, Graph links) are built on it.
    pub origin: String,
}

impl Req {
    /// First value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn params(&self) -> Vec<(String, String)> {
        parse_form(&self.query)
    }

    /// Path plus `?query` when there is one.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// What fault draws know this request by (`faults::RequestIdentity`): a retry of the same
    /// request has the same identity.
    pub fn identity<'a>(&'a self, path_and_query: &'a str) -> crate::faults::RequestIdentity<'a> {
        crate::faults::RequestIdentity {
            method: &self.method,
            path_and_query,
            body: &self.body,
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE")
    }
}
