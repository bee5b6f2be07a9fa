//! The engine's one JWT claim decoder, for display and diagnostics only: no signature check (the
//! engine is the token's bearer, not its audience). Never fails on an opaque (non-JWT) token: it
//! just has no claims.

use base64::Engine as _;
use serde_json::{Map, Value};

/// The claims the engine shows or reasons about. Every claim is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Object (principal) id of the identity.
    pub oid: Option<String>,
    /// Client (application) id: `appid` (v1 tokens) or `azp` (v2 tokens).
    pub appid: Option<String>,
    /// Tenant id.
    pub tid: Option<String>,
    /// Application roles granted to the identity on the token's audience.
    pub roles: Vec<String>,
    /// ARM resource id of a managed identity.
    pub xms_mirid: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: Option<u64>,
    /// Audience (the resource the token is for).
    pub aud: Option<String>,
    /// Issued at, Unix seconds.
    pub iat: Option<u64>,
    /// Delegated permissions (`scp`, space-separated or an array): present when a user signed in.
    pub scopes: Vec<String>,
    /// Whether the token has an `scp` claim at all.
    pub has_scp: bool,
    /// `idtyp` (v2 tokens: `app` or `user`).
    pub idtyp: Option<String>,
    /// The signed-in account: `upn`, else `preferred_username`, else `unique_name`, else `email`.
    pub account: Option<String>,
    /// The application's display name (`app_displayname`, in Entra's v1 tokens such as Graph's):
    /// for a managed identity, its name.
    pub app_displayname: Option<String>,
}

/// Decodes the payload of a compact JWS (`header.payload.signature`). `None` when the value is
/// not a JWT whose payload is a JSON object.
pub fn decode(token: &str) -> Option<Claims> {
    let mut parts = token.trim().split('.');
    let _header = parts.next()?;
    let payload = parts.next()?;
    // A JWS has exactly three parts (the signature may be empty for `alg: none`).
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let bytes = decode_segment(payload)?;
    let json: Value = serde_json::from_slice(&bytes).ok()?;
    let object = json.as_object()?;
    Some(Claims {
        oid: string_claim(object, "oid"),
        appid: string_claim(object, "appid").or_else(|| string_claim(object, "azp")),
        tid: string_claim(object, "tid"),
        roles: roles_claim(object),
        xms_mirid: string_claim(object, "xms_mirid"),
        exp: number_claim(object, "exp"),
        aud: match object.get("aud") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Array(items)) => items.iter().find_map(|v| v.as_str()).map(str::to_string),
            _ => None,
        },
        iat: number_claim(object, "iat"),
        scopes: match object.get("scp") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        },
        has_scp: object.contains_key("scp"),
        idtyp: string_claim(object, "idtyp"),
        account: ["upn", "preferred_username", "unique_name", "email"]
            .iter()
            .find_map(|k| string_claim(object, k)),
        app_displayname: string_claim(object, "app_displayname"),
    })
}

fn decode_segment(segment: &str) -> Option<Vec<u8>> {
    let trimmed = segment.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()
}

fn string_claim(object: &Map<String, Value>, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn number_claim(object: &Map<String, Value>, name: &str) -> Option<u64> {
    match object.get(name)? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn roles_claim(object: &Map<String, Value>) -> Vec<String> {
    match object.get("roles") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Builds an unsigned JWT with the given claims (tests and the emulator-free paths).
#[cfg(test)]
pub(crate) fn unsigned(claims: &Value) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig",
        engine.encode(br#"{"alg":"none","typ":"JWT"}"#),
        engine.encode(claims.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_claims_the_engine_uses() {
        let token = unsigned(&json!({
            "aud": "https://graph.microsoft.com",
            "oid": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01",
            "appid": "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01",
            "tid": "7d1f3c2a-5b4e-4c6d-8e9f-0a1b2c3d4e5f",
            "roles": ["User.Read.All", "AuditLog.Read.All"],
            "xms_mirid": "/subscriptions/x/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u",
            "exp": 1_900_000_000u64,
        }));
        let claims = decode(&token).expect("a JWT");
        assert_eq!(
            claims.oid.as_deref(),
            Some("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01")
        );
        assert_eq!(
            claims.appid.as_deref(),
            Some("5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01")
        );
        assert_eq!(
            claims.tid.as_deref(),
            Some("7d1f3c2a-5b4e-4c6d-8e9f-0a1b2c3d4e5f")
        );
        assert_eq!(claims.roles, vec!["User.Read.All", "AuditLog.Read.All"]);
        assert!(claims
            .xms_mirid
            .as_deref()
            .is_some_and(|m| m.ends_with("/u")));
        assert_eq!(claims.exp, Some(1_900_000_000));
        assert_eq!(claims.aud.as_deref(), Some("https://graph.microsoft.com"));
    }

    #[test]
    fn azp_stands_in_for_appid_and_missing_claims_are_tolerated() {
        let claims = decode(&unsigned(&json!({"azp": "abc", "exp": "1700000000"}))).expect("a JWT");
        assert_eq!(claims.appid.as_deref(), Some("abc"));
        assert_eq!(claims.exp, Some(1_700_000_000));
        assert!(claims.roles.is_empty());
        assert_eq!(claims.oid, None);
        assert_eq!(claims.tid, None);
        let empty = decode(&unsigned(&json!({}))).expect("a JWT");
        assert_eq!(empty, Claims::default());
    }

    #[test]
    fn padded_segments_and_single_role_strings_are_accepted() {
        let engine = base64::engine::general_purpose::URL_SAFE;
        let token = format!(
            "{}.{}.",
            engine.encode("{}"),
            engine.encode(r#"{"roles":"Mail.Send"}"#)
        );
        assert_eq!(
            decode(&token).map(|c| c.roles),
            Some(vec!["Mail.Send".to_string()])
        );
    }

    #[test]
    fn opaque_tokens_have_no_claims() {
        for opaque in [
            "",
            "opaque-token",
            "a.b",
            "a.b.c.d",
            "not.base64!.x",
            "e30.bm90IGpzb24.x",
            "e30.WzEsMl0.x",
        ] {
            assert_eq!(decode(opaque), None, "{opaque}");
        }
    }
}
