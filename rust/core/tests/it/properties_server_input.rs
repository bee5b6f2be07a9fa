//! Property tests over every parser of server input (issue 8.1): whatever an endpoint, Entra or
//! Microsoft Graph answers, the parser returns a typed error or a valid value — it never panics
//! and never loops. Each property runs `CASES` generated inputs (plus proptest's shrinking when
//! one fails); the strategies mix arbitrary text with the shapes servers really send, so both
//! the "garbage" and the "almost right" paths are covered.

use std::time::{Duration, SystemTime};

use managed_identity_core::graph::errors::{Access, GraphErrorInfo};
use managed_identity_core::http::retry_after::{
    capped_seconds, parse_retry_after_ms, parse_retry_after_value,
};
use managed_identity_core::http::{retry_after, MAX_RETRY_AFTER};
use managed_identity_core::token::{parse_date, parse_expiry, parse_token_response};
use managed_identity_core::{jwt, ErrorKind};
use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};

/// Cases per property: 512 × 12 properties = 6,144 cases in this file.
const CASES: u32 = 512;

const NOW: u64 = 1_700_000_000;

fn config() -> ProptestConfig {
    crate::proptest_seed::config("server input", 0x5eed_1001, CASES)
}

/// Decimal numbers as servers (and broken servers) write them.
fn number_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        (any::<f64>(), -400i32..400).prop_map(|(m, e)| format!("{m}e{e}")),
        prop::sample::select(vec![
            "NaN",
            "nan",
            "inf",
            "-inf",
            "Infinity",
            "-0",
            "1e20",
            "1e30",
            "1e309",
            "-1e30",
            "18446744073709551616",
            "0x10",
            "1_000",
            " 5 ",
            "+3",
            ".5",
            "5.",
            "",
        ])
        .prop_map(str::to_string),
    ]
}

/// HTTP dates, valid or nearly so.
fn http_date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..=253_402_300_799).prop_map(|s| httpdate::fmt_http_date(
            SystemTime::UNIX_EPOCH + Duration::from_secs(s)
        )),
        "(Mon|Tue|Sun|Xyz), [0-9]{1,3} (Jan|Feb|Dec|Foo) [0-9]{1,6} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3} (GMT|UTC|PST)",
    ]
}

/// Dates in the forms `expires_on` uses: ISO-8601 and App Service 2017's US form.
fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}[T ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})?",
        "[0-9]{1,3}/[0-9]{1,3}/[0-9]{1,6} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}( (AM|PM|am|XM))?( [+-][0-9]{1,2}:[0-9]{1,2})?",
        any::<String>(),
    ]
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        number_text().prop_map(Value::String),
        date_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON value for one of the keys a parser looks at.
fn keyed_object(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(keys), json_value()), 0..6).prop_map(|pairs| {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    })
}

/// Header values as they may arrive (visible ASCII, as `HeaderValue` allows).
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![number_text(), http_date_text(), "[ -~]{0,40}"]
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

proptest! {
    #![proptest_config(config())]

    /// Retry-After (seconds, HTTP date, anything): `None` or a wait of at most the cap.
    #[test]
    fn retry_after_value_is_none_or_capped(value in prop_oneof![number_text(), http_date_text(), any::<String>()],
                                           now in 0u64..=253_402_300_799) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now);
        if let Some(wait) = parse_retry_after_value(&value, now) {
            prop_assert!(wait <= MAX_RETRY_AFTER, "{value:?} -> {wait:?}");
        }
    }

    /// `retry-after-ms` / `x-ms-retry-after-ms`: `None` or capped; NaN, infinities and negatives
    /// are never a wait.
    #[test]
    fn retry_after_ms_is_none_or_capped(value in prop_oneof![number_text(), any::<String>()]) {
        if let Some(wait) = parse_retry_after_ms(&value) {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
        if let Ok(f) = value.trim().parse::<f64>() {
            prop_assert_eq!(parse_retry_after_ms(&value).is_some(), f.is_finite() && f >= 0.0);
        }
    }

    /// Any float: `None` exactly for NaN, infinities and negatives, else at most the cap.
    #[test]
    fn capped_seconds_never_overflows(secs in any::<f64>()) {
        match capped_seconds(secs) {
            Some(wait) => {
                prop_assert!(secs.is_finite() && secs >= 0.0);
                prop_assert!(wait <= MAX_RETRY_AFTER);
            }
            None => prop_assert!(!secs.is_finite() || secs < 0.0),
        }
    }

    /// All three headers together, in any combination.
    #[test]
    fn retry_after_headers_are_none_or_capped(ms in prop::option::of(header_text()),
                                              xms in prop::option::of(header_text()),
                                              plain in prop::option::of(header_text())) {
        let mut pairs = Vec::new();
        if let Some(v) = ms { pairs.push(("retry-after-ms", v)); }
        if let Some(v) = xms { pairs.push(("x-ms-retry-after-ms", v)); }
        if let Some(v) = plain { pairs.push(("retry-after", v)); }
        let headers = header_map(&pairs);
        if let Some(wait) = retry_after(&headers, SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)) {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
    }

    /// `expires_on` / `expires_in` in every JSON form: a number below MSAL's threshold counts
    /// from now (never overflowing), a larger one is an epoch time; dates parse or give `None`.
    #[test]
    fn expiry_values_parse_or_are_refused(value in json_value(), now in any::<u64>()) {
        let parsed = parse_expiry(&value, now);
        if let Some(n) = value.as_u64() {
            if n >= 978_307_200 {
                prop_assert_eq!(parsed, Some(n));
            } else {
                prop_assert_eq!(parsed, now.checked_add(n));
            }
        }
        if matches!(value, Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_)) {
            prop_assert_eq!(parsed, None);
        }
    }

    /// Date strings (ISO-8601, App Service's US form, garbage): never a panic; a parsed date
    /// formats back to a real calendar time.
    #[test]
    fn dates_parse_or_are_refused(text in date_text()) {
        if let Some(unix) = parse_date(&text) {
            let iso = managed_identity_core::token::format_iso8601(unix);
            prop_assert!(iso.ends_with('Z'), "{text:?} -> {unix} -> {iso}");
        }
    }

    /// Managed-identity and Entra token bodies (arbitrary bytes): a typed `InvalidResponse`
    /// that quotes nothing of the body, or a token that is non-empty and not yet expired.
    #[test]
    fn token_bodies_are_tokens_or_typed_errors(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        keyed_object(&["access_token", "expires_in", "expires_on", "resource", "token_type",
                       "refresh_in", "ext_expires_in", "client_id"])
            .prop_map(|v| serde_json::to_vec(&v).unwrap()),
    ]) {
        match parse_token_response(&body, "https://graph.microsoft.com", NOW, "the endpoint") {
            Ok(token) => {
                prop_assert!(token.expires_on > NOW);
                prop_assert!(!token.secret.expose().trim().is_empty());
            }
            Err(e) => {
                prop_assert_eq!(e.kind, ErrorKind::InvalidResponse);
                prop_assert!(e.message.starts_with("the endpoint answered HTTP 200 but"), "{}", e.message);
            }
        }
    }

    /// A token with a planted secret never leaks it into an error.
    #[test]
    fn token_errors_never_quote_the_token(expiry in json_value()) {
        let body = json!({"access_token": "SECRET-TOKEN-VALUE", "expires_on": expiry});
        if let Err(e) = parse_token_response(body.to_string().as_bytes(), "r", NOW, "the endpoint") {
            prop_assert!(!e.message.contains("SECRET-TOKEN-VALUE"));
        }
    }

    /// JWT: any text (opaque tokens included) decodes to claims or `None`.
    #[test]
    fn arbitrary_text_is_not_a_panic_as_a_jwt(text in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_=+/-]{0,30}\\.[A-Za-z0-9_=+/-]{0,60}\\.[A-Za-z0-9_=+/-]{0,30}(\\.[A-Za-z0-9]{0,5})?",
    ]) {
        let _ = jwt::decode(&text);
    }

    /// JWT segments carrying arbitrary claim values: the claims the engine reads come back typed,
    /// and a well-formed `roles` array round-trips.
    #[test]
    fn jwt_claims_of_any_shape_decode(claims in keyed_object(&["oid", "appid", "azp", "tid", "roles",
                                                               "xms_mirid", "exp", "aud"]),
                                      roles in prop::collection::vec("[A-Za-z.]{1,20}", 0..5)) {
        let token = format!("{}.{}.sig", b64(br#"{"alg":"none"}"#), b64(claims.to_string().as_bytes()));
        let decoded = jwt::decode(&token);
        prop_assert!(decoded.is_some(), "a JSON-object payload always decodes");
        let mut with_roles = claims.clone();
        with_roles["roles"] = json!(roles);
        let token = format!("e30.{}.", b64(with_roles.to_string().as_bytes()));
        prop_assert_eq!(jwt::decode(&token).map(|c| c.roles), Some(roles));
    }

    /// Graph error bodies (any bytes, any envelope shape, any status and request-id header):
    /// parse, and convert to a typed error, without panicking; non-JSON text is truncated.
    #[test]
    fn graph_error_bodies_become_typed_errors(status in any::<u16>(),
                                             request_id in prop::option::of("[ -~]{0,40}"),
                                             body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        keyed_object(&["error", "Error", "ERROR"]).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (keyed_object(&["code", "message", "innerError", "innererror"]))
            .prop_map(|e| serde_json::to_vec(&json!({"error": e})).unwrap()),
    ]) {
        let headers = match request_id {
            Some(id) => header_map(&[("request-id", id)]),
            None => HeaderMap::new(),
        };
        let info = GraphErrorInfo::parse_bytes(status, &headers, &body);
        prop_assert_eq!(info.status, status);
        if serde_json::from_slice::<Value>(&body).is_err() {
            prop_assert!(info.message.as_deref().map_or(0, |m| m.chars().count()) <= 300);
        }
        for access in [Access::Read, Access::Write, Access::Other] {
            let error = info.to_error(access, "reading things");
            prop_assert!(!error.message.is_empty());
        }
        let _ = info.details();
    }

    /// Managed-identity error bodies (any source's shape, or any bytes) become bounded text that
    /// never contains the identity header / secret the request carried.
    #[test]
    fn endpoint_error_text_is_bounded_and_redacted(
        secret in "[A-Za-z0-9+/=_-]{8,24}",
        before in any::<String>(),
        after in any::<String>(),
        shape in 0usize..5,
        extra in keyed_object(&["error", "error_description", "message", "correlationId", "error_codes"]),
    ) {
        let planted = format!("{before}{secret}{after}");
        let body = match shape {
            0 => planted.clone().into_bytes(),
            1 => json!({"error": "invalid_request", "error_description": planted}).to_string().into_bytes(),
            2 => json!({"error": {"code": "x", "message": planted, "correlationId": planted}}).to_string().into_bytes(),
            3 => json!({"message": planted, "correlationId": "c"}).to_string().into_bytes(),
            _ => serde_json::to_vec(&extra).unwrap(),
        };
        let secret = managed_identity_core::secret::Secret::new(&secret);
        let text = managed_identity_core::sources::error_text(&body, Some(&secret));
        prop_assert!(!text.contains(secret.expose()), "{text}");
        prop_assert!(text.chars().count() <= managed_identity_core::sources::redact::MAX_ERROR_TEXT + 1);
        prop_assert!(!text.chars().any(char::is_control));
    }
}
