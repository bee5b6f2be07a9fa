//! An access token as the engine holds it, and the parsing of managed-identity token responses
//! (every `expires_on` / `expires_in` form the sources use).

use futures::future::BoxFuture;
use jiff::fmt::strtime;
use jiff::Timestamp;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::jwt::{self, Claims};
use crate::secret::Secret;

/// Supplies the bearer token for each request of a service client (Graph, ARM). Implementations cache; the client asks for
/// every request so that a token that expires during a long bulk operation is renewed.
pub trait TokenProvider: Send + Sync {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret>>;

    /// The token [`Self::bearer`] would send now, with its claims and expiry.
    fn current(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async move {
            let secret = self.bearer().await?;
            let claims = jwt::decode(secret.expose());
            let expires_on = claims.as_ref().and_then(|c| c.exp).unwrap_or(0);
            Ok(AccessToken {
                secret,
                expires_on,
                refresh_on: expires_on,
                resource: claims
                    .as_ref()
                    .and_then(|c| c.aud.clone())
                    .unwrap_or_default(),
                token_type: "Bearer".to_string(),
                claims,
                source: None,
            })
        })
    }

    /// How the issuer of these tokens caches them (a provider that cannot renew: `Fixed`).
    fn platform_cache(&self) -> PlatformCache {
        PlatformCache::Fixed
    }

    /// A new token, bypassing every cache its issuer lets a client bypass. A provider that
    /// cannot renew hands back its current token as [`PlatformCache::Fixed`].
    fn renew(&self) -> BoxFuture<'_, Result<RenewedToken>> {
        Box::pin(async move {
            Ok(RenewedToken {
                token: self.current().await?,
                platform_cache: PlatformCache::Fixed,
                same_as_before: true,
            })
        })
    }
}

/// How the issuer of a provider's tokens caches them, which decides whether asking again can
/// yield a token with newer roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformCache {
    /// A managed-identity endpoint that hands back its cached token until it nears expiry
    /// (IMDS, Azure Automation, Arc, Cloud Shell, Azure ML).
    Kept,
    /// A managed-identity endpoint that replaces its cached token when asked (App Service,
    /// Service Fabric); `asked`: this renewal asked it to.
    Replaceable { asked: bool },
    /// Entra issues a new token on every request (the sign-ins).
    None,
    /// A token handed to Connect-Identity: nothing can renew it.
    Fixed,
}

/// A token obtained by [`TokenProvider::renew`].
#[derive(Debug, Clone)]
pub struct RenewedToken {
    pub token: AccessToken,
    pub platform_cache: PlatformCache,
    /// The issuer handed back the very token this process already held.
    pub same_as_before: bool,
}

/// A fixed token (tests, `-AccessToken` style callers).
pub struct StaticToken(Secret);

impl StaticToken {
    pub fn new(token: Secret) -> Self {
        StaticToken(token)
    }
}

impl TokenProvider for StaticToken {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret>> {
        let token = self.0.clone();
        Box::pin(async move { Ok(token) })
    }
}

/// A token counts as expired this long before its `expires_on` (MSAL's AccessTokenExpirationBuffer).
pub const EXPIRY_BUFFER_SECS: u64 = 300;
/// Tokens living longer than this are refreshed at half-life (MSAL/Azure.Identity `refresh_in`).
pub const HALF_LIFE_THRESHOLD_SECS: u64 = 7200;
/// Numeric expiry values below this (2001-01-01) are relative (`expires_in`), per MSAL.
const RELATIVE_THRESHOLD: u64 = 978_307_200;

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    /// Unix seconds.
    pub expires_on: u64,
    /// Unix seconds when a proactive refresh should start.
    pub refresh_on: u64,
    pub resource: String,
    pub token_type: String,
    /// Decoded claims; `None` for an opaque (non-JWT) token.
    pub claims: Option<Claims>,
    /// The source that issued it ("IMDS", "AppService", "AzureAutomation"), `None` for a token
    /// handed to Connect-Identity.
    pub source: Option<&'static str>,
}

impl AccessToken {
    /// A token built from its parts; `refresh_on` follows [`refresh_on`].
    pub fn new(
        secret: Secret,
        expires_on: u64,
        now: u64,
        resource: impl Into<String>,
        token_type: impl Into<String>,
    ) -> Self {
        let claims = jwt::decode(secret.expose());
        Self {
            secret,
            expires_on,
            refresh_on: refresh_on(now, expires_on),
            resource: resource.into(),
            token_type: token_type.into(),
            claims,
            source: None,
        }
    }

    /// Application roles carried by the token (empty for opaque tokens).
    pub fn roles(&self) -> &[String] {
        self.claims
            .as_ref()
            .map(|c| c.roles.as_slice())
            .unwrap_or(&[])
    }

    /// `expires_on` as ISO-8601 UTC.
    pub fn expires_on_iso(&self) -> String {
        format_iso8601(self.expires_on)
    }
}

/// When to start a proactive refresh: half-life for tokens living more than 2 h, otherwise
/// 5 minutes before expiry.
pub fn refresh_on(now: u64, expires_on: u64) -> u64 {
    let lifetime = expires_on.saturating_sub(now);
    if lifetime > HALF_LIFE_THRESHOLD_SECS {
        now + lifetime / 2
    } else {
        expires_on.saturating_sub(EXPIRY_BUFFER_SECS)
    }
}

/// Turns a scope-like resource (`https://vault.azure.net/.default`) into the v1 resource every
/// managed-identity endpoint takes; validates that it is one non-empty value. `what` names the
/// input in messages.
pub fn normalize_resource(raw: &str, what: Input) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid_argument(format!("{what} must not be empty")));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(Error::invalid_argument(format!(
            "{what} '{trimmed}' contains whitespace; pass exactly one resource (or one scope ending in /.default)"
        )));
    }
    let resource = trimmed.strip_suffix("/.default").unwrap_or(trimmed);
    if resource.is_empty() {
        return Err(Error::invalid_argument(format!(
            "{what} '{trimmed}' names no resource"
        )));
    }
    Ok(resource.to_string())
}

/// The JSON object's fields in document order (serde_json's `Map` sorts keys, and MSAL lets the
/// last of `expires_in` / `expires_on` win).
///
/// Kept hand-written on purpose: serde_json's `preserve_order` feature would do this, but it is
/// crate-wide (Cargo unifies features), so every JSON object the engine sends would switch from
/// sorted to insertion order, and the module builds its output objects' properties in JSON
/// order: a user-visible change of every object's property order for 20 lines saved.
struct OrderedFields(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = OrderedFields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<OrderedFields, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    fields.push((key, value));
                }
                Ok(OrderedFields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Parses a managed-identity success body. `requested_resource` is used when the body does not
/// echo one; `now` is the time the request was sent (relative lifetimes count from it).
/// `target` names the endpoint in error messages. Never puts any part of the body in an error.
pub fn parse_token_response(
    body: &[u8],
    requested_resource: &str,
    now: u64,
    target: &str,
) -> Result<AccessToken> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("{target} answered HTTP 200 but {what}"),
        )
    };
    let fields: OrderedFields =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
    let mut access_token = None;
    let mut expires_on = None;
    let mut resource = None;
    let mut token_type = None;
    for (key, value) in &fields.0 {
        match key.as_str() {
            "access_token" => access_token = value.as_str().filter(|s| !s.trim().is_empty()),
            // MSAL: both write the same property, so the last one in the document wins.
            "expires_in" | "expires_on" if !value.is_null() => {
                expires_on = Some(parse_expiry(value, now).ok_or_else(|| {
                    invalid(&format!(
                        "its {key} value is not a number of seconds, an epoch time or a date"
                    ))
                })?);
            }
            "resource" => resource = value.as_str().filter(|s| !s.is_empty()),
            "token_type" => token_type = value.as_str().filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    let access_token = access_token.ok_or_else(|| invalid("the body has no access_token"))?;
    let expires_on =
        expires_on.ok_or_else(|| invalid("the body has neither expires_on nor expires_in"))?;
    if expires_on <= now {
        return Err(invalid("the token it returned is already expired"));
    }
    let mut token = AccessToken::new(
        Secret::new(access_token.trim()),
        expires_on,
        now,
        resource.unwrap_or(requested_resource),
        token_type.unwrap_or("Bearer"),
    );
    // The cache is keyed by the requested resource; keep the echo only for display.
    if token.resource.trim_end_matches('/') == requested_resource.trim_end_matches('/') {
        token.resource = requested_resource.to_string();
    }
    Ok(token)
}

/// One `expires_on`/`expires_in` value (JSON string or number) → absolute Unix seconds.
/// MSAL rule: a number below 978307200 is relative to `now`; a larger one is an epoch time;
/// anything else is a date (ISO-8601, or the App Service 2017 `M/d/yyyy h:mm:ss [AM|PM] +00:00`).
pub fn parse_expiry(value: &Value, now: u64) -> Option<u64> {
    let number = match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => match s.parse::<f64>() {
                    Ok(f) if f.is_finite() && f >= 0.0 => Some(f as u64),
                    _ => return parse_date(s),
                },
            }
        }
        _ => return None,
    }?;
    if number < RELATIVE_THRESHOLD {
        now.checked_add(number)
    } else {
        Some(number)
    }
}

/// Parses an ISO-8601 date-time or a US-style `M/d/yyyy h:mm:ss [AM|PM] [+hh:mm]` to Unix
/// seconds (jiff does the calendar work). A value without an offset is UTC.
pub fn parse_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let instant = if s.contains('/') {
        parse_us_date(s)?
    } else {
        parse_iso8601(s)?
    };
    u64::try_from(instant.as_second()).ok()
}

/// App Service 2017's `expires_on` forms, with and without meridiem and offset.
fn parse_us_date(s: &str) -> Option<Timestamp> {
    const WITH_OFFSET: [&str; 2] = ["%m/%d/%Y %I:%M:%S %p %:z", "%m/%d/%Y %H:%M:%S %:z"];
    const WITHOUT_OFFSET: [&str; 2] = ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S"];
    WITH_OFFSET
        .iter()
        .find_map(|f| strtime::parse(f, s).ok()?.to_timestamp().ok())
        .or_else(|| {
            WITHOUT_OFFSET
                .iter()
                .find_map(|f| strtime::parse(f, s).ok()?.to_datetime().ok())
                .and_then(utc)
        })
}

/// RFC 3339 / ISO-8601 with an offset or `Z`; without one the civil time is taken as UTC.
/// A date alone is not an expiry time.
fn parse_iso8601(s: &str) -> Option<Timestamp> {
    if !s.contains(['T', 't', ' ']) {
        return None;
    }
    s.parse::<Timestamp>()
        .ok()
        .or_else(|| s.parse::<jiff::civil::DateTime>().ok().and_then(utc))
}

fn utc(civil: jiff::civil::DateTime) -> Option<Timestamp> {
    jiff::tz::Offset::UTC.to_timestamp(civil).ok()
}

/// Unix seconds → `2024-01-31T12:00:00Z`.
pub fn format_iso8601(unix: u64) -> String {
    iso8601(unix).unwrap_or_else(|| "9999-12-31T23:59:59Z".to_string())
}

/// Unix seconds → `2024-01-31T12:00:00Z`; `None` beyond what a timestamp can hold.
pub fn iso8601(unix: u64) -> Option<String> {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| Timestamp::from_second(secs).ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn expiry_numbers_and_numeric_strings() {
        // Relative (below 2001-01-01): expires_in style, as number or string.
        assert_eq!(parse_expiry(&json!(3599), NOW), Some(NOW + 3599));
        assert_eq!(parse_expiry(&json!("3599"), NOW), Some(NOW + 3599));
        assert_eq!(parse_expiry(&json!(" 86399 "), NOW), Some(NOW + 86_399));
        assert_eq!(parse_expiry(&json!(3599.0), NOW), Some(NOW + 3599));
        // Absolute epoch, as string (IMDS, App Service) or number (Service Fabric).
        assert_eq!(parse_expiry(&json!("1700003600"), NOW), Some(1_700_003_600));
        assert_eq!(
            parse_expiry(&json!(1_700_003_600u64), NOW),
            Some(1_700_003_600)
        );
        assert_eq!(parse_expiry(&json!(978_307_200u64), NOW), Some(978_307_200));
        assert_eq!(
            parse_expiry(&json!(978_307_199u64), NOW),
            Some(NOW + 978_307_199)
        );
        // Garbage.
        for bad in [
            json!(""),
            json!("soon"),
            json!(-5),
            json!(true),
            json!(null),
            json!({}),
        ] {
            assert_eq!(parse_expiry(&bad, NOW), None, "{bad}");
        }
    }

    #[test]
    fn expiry_date_strings() {
        // 2020-01-16T05:24:12Z = 1579152252 (App Service 2017 on Windows).
        assert_eq!(
            parse_expiry(&json!("1/16/2020 5:24:12 AM +00:00"), NOW),
            Some(1_579_152_252)
        );
        assert_eq!(
            parse_expiry(&json!("1/16/2020 5:24:12 PM +00:00"), NOW),
            Some(1_579_152_252 + 12 * 3600)
        );
        assert_eq!(
            parse_expiry(&json!("1/16/2020 12:24:12 AM +00:00"), NOW),
            Some(1_579_152_252 - 5 * 3600)
        );
        // 2019-06-20T02:57:58Z = 1560999478 (Linux form).
        assert_eq!(
            parse_expiry(&json!("06/20/2019 02:57:58 +00:00"), NOW),
            Some(1_560_999_478)
        );
        assert_eq!(
            parse_expiry(&json!("06/20/2019 04:57:58 +02:00"), NOW),
            Some(1_560_999_478)
        );
        // ISO-8601 with Z, offsets and fractions.
        assert_eq!(
            parse_expiry(&json!("2019-06-20T02:57:58Z"), NOW),
            Some(1_560_999_478)
        );
        assert_eq!(
            parse_expiry(&json!("2019-06-20T02:57:58.1234567+00:00"), NOW),
            Some(1_560_999_478)
        );
        assert_eq!(
            parse_expiry(&json!("2019-06-19T21:27:58-05:30"), NOW),
            Some(1_560_999_478)
        );
        assert_eq!(
            parse_expiry(&json!("2019-06-20 02:57:58"), NOW),
            Some(1_560_999_478)
        );
        // Leap day and invalid dates.
        assert_eq!(parse_date("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "13/01/2020 01:00:00 +00:00",
            "1/16/2020 13:00:00 PM",
            "2019-06-20",
            "1/2/3/4 1:00:00",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso_formatting_round_trips() {
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(1_560_999_478), "2019-06-20T02:57:58Z");
        assert_eq!(format_iso8601(1_709_164_800), "2024-02-29T00:00:00Z");
        for t in [951_782_400u64, 1_700_000_000, 4_102_444_799] {
            assert_eq!(parse_date(&format_iso8601(t)), Some(t));
        }
    }

    #[test]
    fn response_forms() {
        // IMDS: all strings.
        let imds = br#"{"access_token":"tok","refresh_token":"","expires_in":"3599","expires_on":"1700003599","not_before":"1699999700","resource":"https://management.azure.com/","token_type":"Bearer"}"#;
        let t = parse_token_response(imds, "https://management.azure.com/", NOW, "IMDS")
            .expect("parses");
        assert_eq!(t.expires_on, 1_700_003_599);
        assert_eq!(t.refresh_on, 1_700_003_599 - 300);
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.secret.expose(), "tok");
        assert_eq!(t.claims, None);
        // App Service: expires_on only, plus client_id.
        let app = br#"{"access_token":"tok","expires_on":"1700003600","resource":"https://vault.azure.net","token_type":"Bearer","client_id":"X"}"#;
        assert_eq!(
            parse_token_response(app, "https://vault.azure.net", NOW, "AS")
                .map(|t| t.expires_on)
                .ok(),
            Some(1_700_003_600)
        );
        // Service Fabric: numeric expires_on; Entra: numeric expires_in; no token_type/resource.
        let sf = br#"{"access_token":"tok","expires_on":1700003600}"#;
        let t = parse_token_response(sf, "https://vault.azure.net", NOW, "SF").expect("parses");
        assert_eq!(
            (t.expires_on, t.token_type.as_str(), t.resource.as_str()),
            (1_700_003_600, "Bearer", "https://vault.azure.net")
        );
        let entra = br#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"tok"}"#;
        assert_eq!(
            parse_token_response(entra, "r", NOW, "E")
                .map(|t| t.expires_on)
                .ok(),
            Some(NOW + 3599)
        );
        // 2017 date string.
        let legacy = br#"{"access_token":"tok","expires_on":"11/14/2023 11:13:20 PM +00:00"}"#;
        assert_eq!(
            parse_token_response(legacy, "r", NOW, "ML")
                .map(|t| t.expires_on)
                .ok(),
            Some(1_700_003_600)
        );
    }

    #[test]
    fn last_of_expires_in_and_expires_on_wins() {
        let on_last = br#"{"access_token":"t","expires_in":"100","expires_on":"1700003600"}"#;
        assert_eq!(
            parse_token_response(on_last, "r", NOW, "x")
                .map(|t| t.expires_on)
                .ok(),
            Some(1_700_003_600)
        );
        let in_last = br#"{"access_token":"t","expires_on":"1700003600","expires_in":"100"}"#;
        assert_eq!(
            parse_token_response(in_last, "r", NOW, "x")
                .map(|t| t.expires_on)
                .ok(),
            Some(NOW + 100)
        );
    }

    #[test]
    fn invalid_responses_are_typed_and_never_echo_the_body() {
        let cases: [&[u8]; 7] = [
            b"<html>oops</html>",
            b"[1,2]",
            br#"{"expires_on":"1700003600"}"#,
            br#"{"access_token":"","expires_on":"1700003600"}"#,
            br#"{"access_token":"secret-tok"}"#,
            br#"{"access_token":"secret-tok","expires_on":"tomorrow-ish"}"#,
            br#"{"access_token":"secret-tok","expires_on":"1600000000"}"#,
        ];
        for body in cases {
            let e = parse_token_response(body, "r", NOW, "the IMDS endpoint").expect_err("invalid");
            assert_eq!(e.kind, ErrorKind::InvalidResponse);
            assert!(
                !e.message.contains("secret-tok") && !e.message.contains("oops"),
                "{}",
                e.message
            );
            assert!(e.message.starts_with("the IMDS endpoint"));
        }
    }

    #[test]
    fn refresh_point_is_five_minutes_before_expiry_or_half_life() {
        assert_eq!(refresh_on(NOW, NOW + 3600), NOW + 3300);
        assert_eq!(refresh_on(NOW, NOW + 7200), NOW + 6900);
        assert_eq!(refresh_on(NOW, NOW + 86_400), NOW + 43_200);
        assert_eq!(refresh_on(NOW, NOW + 100), NOW - 200);
    }

    #[test]
    fn resources_are_normalised_from_scopes() {
        assert_eq!(
            normalize_resource("https://vault.azure.net/.default", Input::Resource)
                .ok()
                .as_deref(),
            Some("https://vault.azure.net")
        );
        assert_eq!(
            normalize_resource(" https://graph.microsoft.com/ ", Input::Resource)
                .ok()
                .as_deref(),
            Some("https://graph.microsoft.com/")
        );
        assert_eq!(
            normalize_resource("api://x/.default", Input::Resource)
                .ok()
                .as_deref(),
            Some("api://x")
        );
        for bad in [
            "",
            "  ",
            "/.default",
            "https://a/.default https://b/.default",
        ] {
            assert_eq!(
                normalize_resource(bad, Input::Resource)
                    .map_err(|e| e.kind)
                    .err(),
                Some(ErrorKind::InvalidArgument),
                "{bad}"
            );
        }
    }
}
