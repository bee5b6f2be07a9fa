//! JWT-shaped access tokens: minted for every issuer route, decoded (not verified) by Graph.

use serde_json::{json, Value};

use crate::seed;
use crate::state::{lock, App, ServicePrincipal};
use crate::util;

const HEADER: &str = r#"{"typ":"JWT","alg":"RS256","kid":"mi-emulator"}"#;
const SIGNATURE: &str = "mi-emulator-signature";

/// Issuer claim of every emulator token.
pub fn issuer() -> String {
    format!("https://sts.windows.net/{}/", seed::TENANT_ID)
}

/// A minted token and its times (epoch seconds).
#[derive(Debug, Clone)]
pub struct Issued {
    pub access_token: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// `exp - now`, 0 when already expired.
    pub expires_in: u64,
}

/// Mints a token for `sp` and `resource` with the given role values. A negative lifetime gives
/// a token that is already expired.
pub fn mint(sp: &ServicePrincipal, resource: &str, roles: &[String], lifetime_secs: i64) -> Issued {
    let now = util::now_epoch();
    let exp = (now as i64).saturating_add(lifetime_secs).max(0) as u64;
    let iat = now.min(exp.saturating_sub(1));
    let mut claims = json!({
        "aud": resource.trim_end_matches('/'),
        "iss": issuer(),
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "oid": sp.id,
        "sub": sp.id,
        "appid": sp.app_id,
        "app_displayname": sp.display_name,
        "appidacr": "2",
        "tid": seed::TENANT_ID,
        "idtyp": "app",
        "ver": "1.0",
        "uti": util::b64url(uuid::Uuid::new_v4().as_bytes()),
    });
    if let Some(rid) = sp.mi_resource_id() {
        claims["xms_mirid"] = json!(rid);
    }
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    Issued {
        access_token: encode(&claims),
        iat,
        nbf: iat,
        exp,
        expires_in: exp.saturating_sub(now),
    }
}

/// Mints a delegated token: `user` signed in to `client_id`, with `scp` (space-separated in the
/// claim) instead of `roles`.
pub fn mint_user(
    user: &seed::SeedUser,
    client_id: &str,
    resource: &str,
    scp: &[String],
    lifetime_secs: i64,
) -> Issued {
    let now = util::now_epoch();
    let exp = (now as i64).saturating_add(lifetime_secs).max(0) as u64;
    let iat = now.min(exp.saturating_sub(1));
    let claims = json!({
        "aud": resource.trim_end_matches('/'),
        "iss": issuer(),
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "oid": user.object_id,
        "sub": user.object_id,
        "appid": client_id,
        "appidacr": "0",
        "tid": seed::TENANT_ID,
        "idtyp": "user",
        "ver": "1.0",
        "scp": scp.join(" "),
        "upn": user.user_principal_name,
        "unique_name": user.user_principal_name,
        "name": user.display_name,
        "uti": util::b64url(uuid::Uuid::new_v4().as_bytes()),
    });
    Issued {
        access_token: encode(&claims),
        iat,
        nbf: iat,
        exp,
        expires_in: exp.saturating_sub(now),
    }
}

/// An OpenID Connect id token (v2.0) for `user` and `client_id`.
pub fn id_token(
    user: &seed::SeedUser,
    client_id: &str,
    issuer_v2: &str,
    nonce: Option<&str>,
    lifetime_secs: i64,
) -> String {
    let now = util::now_epoch();
    let exp = (now as i64).saturating_add(lifetime_secs).max(0) as u64;
    let mut claims = json!({
        "aud": client_id,
        "iss": issuer_v2,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "oid": user.object_id,
        "sub": user.object_id,
        "tid": seed::TENANT_ID,
        "name": user.display_name,
        "preferred_username": user.user_principal_name,
        "ver": "2.0",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    encode(&claims)
}

fn encode(claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        util::b64url(HEADER.as_bytes()),
        util::b64url(claims.to_string().as_bytes()),
        util::b64url(SIGNATURE.as_bytes())
    )
}

/// Mints a token for the service principal `sp_id` using the current configuration (lifetime,
/// roles lag). `None` when the service principal does not exist.
pub fn issue(
    app: &App,
    sp_id: &str,
    resource: &str,
    lifetime_override: Option<i64>,
) -> Option<Issued> {
    let cfg = app.config();
    let dir = lock(&app.dir);
    let sp = dir.sp(sp_id)?;
    let roles = dir.token_roles(&sp.id, resource, cfg.token_roles_lag_ms);
    let lifetime = lifetime_override.unwrap_or(cfg.token_lifetime_secs.min(i64::MAX as u64) as i64);
    Some(mint(sp, resource, &roles, lifetime))
}

/// The claims of an emulator-issued token (header `kid` "mi-emulator", emulator issuer); the
/// signature is not checked.
pub fn decode(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let (h, p, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&util::b64url_decode(h)?).ok()?;
    if header.get("kid").and_then(Value::as_str) != Some("mi-emulator") {
        return None;
    }
    let claims: Value = serde_json::from_slice(&util::b64url_decode(p)?).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(issuer().as_str())).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{id_rng, Directory};

    #[test]
    fn round_trip() {
        let dir = Directory::seeded(&mut id_rng(0));
        let sp = dir.sp(seed::REPORTS_IDENTITY.object_id).unwrap();
        let t = mint(
            sp,
            "https://graph.microsoft.com/",
            &["User.Read.All".to_string()],
            3600,
        );
        let c = decode(&t.access_token).unwrap();
        assert_eq!(c["aud"], "https://graph.microsoft.com");
        assert_eq!(c["oid"], seed::REPORTS_IDENTITY.object_id);
        assert_eq!(c["xms_mirid"], seed::REPORTS_IDENTITY.resource_id);
        assert_eq!(c["roles"][0], "User.Read.All");
        assert_eq!(c["app_displayname"], seed::REPORTS_IDENTITY.display_name);
        assert_eq!(c["idtyp"], "app");
        assert_eq!(
            c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(),
            3600
        );
        let none = mint(sp, "https://vault.azure.net", &[], 60);
        assert!(decode(&none.access_token).unwrap().get("roles").is_none());
        assert!(decode("a.b.c").is_none());
    }
}
