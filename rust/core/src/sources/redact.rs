//! What of an endpoint's answer or address may be shown to people: URLs without query or
//! credentials, error text with secrets and JWT-looking strings removed, bounded in length.

use serde_json::Value;
use url::Url;

use crate::secret::Secret;

/// Longest endpoint error text quoted in a message.
pub const MAX_ERROR_TEXT: usize = 300;

/// `scheme://host[:port]/path`: no credentials, query or fragment.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// An endpoint from a variable, shown without query string (also when it is not a URL).
pub fn shown(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(url) => display_url(&url),
        Err(_) => raw
            .trim()
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The endpoint's own words for an error: `error_description`, `message`, nested `error.message`,
/// `error`, `correlationId`; or the start of a non-JSON body. Secrets and anything that looks like
/// a JWT are redacted; the text is bounded.
pub fn error_text(body: &[u8], secret: Option<&Secret>) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            let str_field = |v: Option<&Value>| {
                v.and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string)
            };
            let nested = map.get("error").and_then(Value::as_object);
            let code = str_field(map.get("error"))
                .or_else(|| str_field(nested.and_then(|n| n.get("code"))));
            let description = str_field(map.get("error_description"))
                .or_else(|| str_field(map.get("message")))
                .or_else(|| str_field(nested.and_then(|n| n.get("message"))));
            let correlation = str_field(map.get("correlationId"))
                .or_else(|| str_field(nested.and_then(|n| n.get("correlationId"))));
            let mut parts = Vec::new();
            match (code, description) {
                (Some(c), Some(d)) => parts.push(format!("{c}: {d}")),
                (Some(one), None) | (None, Some(one)) => parts.push(one),
                (None, None) => parts.push("no error description".to_string()),
            }
            if let Some(c) = correlation {
                parts.push(format!("correlation id {c}"));
            }
            parts.join(", ")
        }
        _ => {
            let raw = String::from_utf8_lossy(body);
            let collapsed: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            if collapsed.is_empty() {
                "empty body".to_string()
            } else {
                collapsed
            }
        }
    };
    truncate(&redact(&text, secret), MAX_ERROR_TEXT)
}

/// Removes a secret value and JWT-looking strings from text meant for humans.
pub fn redact(text: &str, secret: Option<&Secret>) -> String {
    let mut out = match secret {
        Some(s) if !s.is_empty() => text.replace(s.expose(), "[redacted]"),
        _ => text.to_string(),
    };
    while let Some(start) = out.find("eyJ") {
        let end = out[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "[redacted]");
    }
    out.chars().filter(|c| !c.is_control()).collect()
}

pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_from_every_shape() {
        assert_eq!(
            error_text(
                br#"{"error":"invalid_request","error_description":"Identity not found"}"#,
                None
            ),
            "invalid_request: Identity not found"
        );
        assert_eq!(
            error_text(br#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"c-1"}"#, None),
            "Unable to load the proper Managed Identity., correlation id c-1"
        );
        assert_eq!(
            error_text(
                br#"{"error":{"code":"SecretHeaderNotFound","message":"Secret is not found."}}"#,
                None
            ),
            "SecretHeaderNotFound: Secret is not found."
        );
        assert_eq!(error_text(b"", None), "empty body");
        assert_eq!(
            error_text(b"<html>\n  Bad   Gateway</html>", None),
            "<html> Bad Gateway</html>"
        );
        assert_eq!(error_text(b"{}", None), "no error description");
        let long = "x".repeat(1000);
        assert_eq!(
            error_text(long.as_bytes(), None).chars().count(),
            MAX_ERROR_TEXT + 1
        );
    }

    #[test]
    fn secrets_and_tokens_are_redacted() {
        let secret = Secret::new("hdr-s3cr3t");
        let body = br#"{"message":"bad header hdr-s3cr3t; token eyJhbGciOi.eyJvaWQiOiJ4In0.sig was refused"}"#;
        let text = error_text(body, Some(&secret));
        assert!(
            !text.contains("hdr-s3cr3t") && !text.contains("eyJ"),
            "{text}"
        );
        assert_eq!(text, "bad header [redacted]; token [redacted] was refused");
    }

    #[test]
    fn urls_are_shown_without_query_or_credentials() {
        let url =
            Url::parse("http://u:p@127.0.0.1:8081/msi/token?api-version=1&x=y#f").expect("url");
        assert_eq!(display_url(&url), "http://127.0.0.1:8081/msi/token");
        assert_eq!(shown("not a url?x=1"), "not a url");
    }
}
