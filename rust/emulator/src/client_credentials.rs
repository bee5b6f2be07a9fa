//! Credentials registered on applications and managed identities, and the checks of a
//! `client_assertion` against them, as Entra does:
//!
//! - **Certificate** (`iss` = `sub` = the client id): the JWT header's `x5t#S256` (or `x5t`)
//!   names a certificate registered on that client; the RS256 (RSASSA-PKCS1-v1_5) or PS256
//!   (RSASSA-PSS, what MSAL Python signs with next to `x5t#S256`) signature is verified with its
//!   public key; `aud` must be the tenant's token endpoint; `exp` not passed, `nbf` passed.
//!   `exp`/`nbf` are JWT NumericDates: integers or not (MSAL writes `time.time() + 600`).
//! - **Federated** (any other issuer): a federated identity credential of that client matches
//!   `iss`, `sub` and one `aud` exactly; `exp` not passed. The external issuer's signature is not
//!   checked (its keys are not reachable from loopback).
//!
//! Registered through `POST /_emulator/certificates` and `POST /_emulator/federatedCredentials`.

use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};

use crate::entra::error;
use crate::seed;
use crate::state::{lock, App, SpKind};
use crate::util::{self, Resp};

struct Certificate {
    client_id: String,
    der: Vec<u8>,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
}

struct Federated {
    client_id: String,
    issuer: String,
    subject: String,
    audience: String,
}

#[derive(Default)]
pub struct Credentials {
    certificates: Vec<Certificate>,
    federated: Vec<Federated>,
}

impl Credentials {
    pub fn clear(&mut self) {
        *self = Credentials::default();
    }
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text (or of base64 DER).
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body = match pem.find("-----BEGIN CERTIFICATE-----") {
        Some(start) => {
            let rest = &pem[start + "-----BEGIN CERTIFICATE-----".len()..];
            &rest[..rest.find("-----END CERTIFICATE-----")?]
        }
        None => pem,
    };
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Client id (appId) of the service principal `v` names by `clientId` or `objectId`, and
/// whether it is Microsoft's (no credentials can be added to those).
fn target_client(app: &App, v: &Value) -> Result<(String, bool), String> {
    let dir = lock(&app.dir);
    let sp = match (
        v.get("clientId").and_then(Value::as_str),
        v.get("objectId").and_then(Value::as_str),
    ) {
        (Some(c), _) => dir.sp_by_app_id(c),
        (None, Some(o)) => dir.sp(o),
        (None, None) => return Err("'clientId' or 'objectId' is required".into()),
    }
    .ok_or("no such service principal")?;
    let first_party = matches!(&sp.kind, SpKind::Application { owner_tenant: Some(t), .. }
        if t.eq_ignore_ascii_case(seed::MICROSOFT_TENANT_ID));
    Ok((sp.app_id.clone(), first_party))
}

/// `POST /_emulator/certificates {"clientId"|"objectId", "certificatePem"}`.
pub fn register_certificate(app: &App, v: &Value) -> Result<Value, String> {
    let (client_id, first_party) = target_client(app, v)?;
    if first_party {
        return Err("Microsoft's first-party apps take no credentials here".into());
    }
    let pem = v
        .get("certificatePem")
        .and_then(Value::as_str)
        .ok_or("'certificatePem' is required")?;
    let der = pem_to_der(pem).ok_or("'certificatePem' is not a PEM certificate")?;
    webpki::EndEntityCert::try_from(&CertificateDer::from(der.clone()))
        .map_err(|e| format!("not an X.509 certificate: {e:?}"))?;
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
        .as_ref()
        .to_vec();
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &der)
        .as_ref()
        .to_vec();
    let out = json!({
        "clientId": client_id,
        "thumbprint": crate::tls::sha1_thumbprint(&der),
        "x5t#S256": util::b64url(&sha256),
    });
    lock(&app.credentials).certificates.push(Certificate {
        client_id,
        der,
        sha1,
        sha256,
    });
    Ok(out)
}

/// `POST /_emulator/federatedCredentials {"clientId"|"objectId","issuer","subject","audience"?}`
/// (audience defaults to `api://AzureADTokenExchange`).
pub fn register_federated(app: &App, v: &Value) -> Result<Value, String> {
    let (client_id, first_party) = target_client(app, v)?;
    if first_party {
        return Err("Microsoft's first-party apps take no credentials here".into());
    }
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let issuer = field("issuer").ok_or("'issuer' is required")?;
    let subject = field("subject").ok_or("'subject' is required")?;
    let audience = field("audience").unwrap_or_else(|| "api://AzureADTokenExchange".into());
    let out =
        json!({"clientId": client_id, "issuer": issuer, "subject": subject, "audience": audience});
    lock(&app.credentials).federated.push(Federated {
        client_id,
        issuer,
        subject,
        audience,
    });
    Ok(out)
}

fn segment(s: &str) -> Option<Value> {
    serde_json::from_slice(&util::b64url_decode(s)?).ok()
}

fn malformed() -> Resp {
    error(
        400,
        "invalid_client",
        50027,
        "JWT token is invalid or malformed.",
    )
}

fn audiences(claims: &Value) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A JWT NumericDate (RFC 7519 §2: seconds, "non-integer values can be represented"), finite.
fn numeric_date(claims: &Value, name: &str) -> Option<f64> {
    claims
        .get(name)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn time_ok(claims: &Value) -> bool {
    time_ok_at(claims, util::now_epoch() as f64)
}

/// `exp` present and after `now`; `nbf`, when present, no later than five minutes from `now`
/// (clock skew); a present but non-numeric `nbf` fails.
fn time_ok_at(claims: &Value, now: f64) -> bool {
    let nbf_ok = match claims.get("nbf") {
        None | Some(Value::Null) => true,
        Some(_) => numeric_date(claims, "nbf").is_some_and(|n| n <= now + 300.0),
    };
    numeric_date(claims, "exp").is_some_and(|e| e > now) && nbf_ok
}

/// Checks `assertion` for `client_id`; `Err` is Entra's answer.
pub fn check_assertion(app: &App, client_id: &str, assertion: &str) -> Result<(), Resp> {
    let mut parts = assertion.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let (Some(header), Some(claims)) = (segment(h), segment(p)) else {
        return Err(malformed());
    };
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (iss, sub) = (text(&claims, "iss"), text(&claims, "sub"));
    let expired = || {
        error(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        )
    };
    if iss.eq_ignore_ascii_case(client_id) && sub.eq_ignore_ascii_case(client_id) {
        // A certificate assertion.
        let token_path = format!("/{}/oauth2/v2.0/token", seed::TENANT_ID).to_ascii_lowercase();
        if !audiences(&claims)
            .iter()
            .any(|a| a.to_ascii_lowercase().ends_with(&token_path))
        {
            return Err(error(
                400,
                "invalid_client",
                50027,
                "Invalid JWT token. The token's audience is not this tenant's token endpoint.",
            ));
        }
        let algorithm = match text(&header, "alg").as_str() {
            "RS256" => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            "PS256" => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            _ => return Err(malformed()),
        };
        let by_sha256 = util::b64url_decode(&text(&header, "x5t#S256"));
        let by_sha1 = util::b64url_decode(&text(&header, "x5t"));
        let creds = lock(&app.credentials);
        let cert = creds.certificates.iter().find(|c| {
            c.client_id.eq_ignore_ascii_case(client_id)
                && (by_sha256.as_deref() == Some(&c.sha256[..])
                    || by_sha1.as_deref() == Some(&c.sha1[..]))
        });
        let Some(cert) = cert else {
            return Err(error(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application.",
            ));
        };
        let signature = util::b64url_decode(s).unwrap_or_default();
        let der = CertificateDer::from(cert.der.clone());
        let verified = webpki::EndEntityCert::try_from(&der).is_ok_and(|c| {
            c.verify_signature(algorithm, format!("{h}.{p}").as_bytes(), &signature)
                .is_ok()
        });
        if !verified {
            return Err(error(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ));
        }
        return if time_ok(&claims) {
            Ok(())
        } else {
            Err(expired())
        };
    }
    // A federated assertion.
    let auds = audiences(&claims);
    let matched = lock(&app.credentials).federated.iter().any(|f| {
        f.client_id.eq_ignore_ascii_case(client_id)
            && f.issuer == iss
            && f.subject == sub
            && auds.contains(&f.audience)
    });
    if matched {
        if time_ok(&claims) {
            Ok(())
        } else {
            Err(expired())
        }
    } else {
        Err(error(
            400,
            "invalid_request",
            70021,
            &format!("No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.", auds.join(",")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_dates_may_be_fractional() {
        let now = 1_700_000_000.0;
        assert!(time_ok_at(&json!({"exp": now + 600.25}), now));
        assert!(time_ok_at(
            &json!({"exp": now + 600.5, "nbf": now - 0.75}),
            now
        ));
        assert!(!time_ok_at(&json!({"exp": now - 0.5}), now));
        assert!(!time_ok_at(
            &json!({"exp": now + 60.0, "nbf": now + 301.5}),
            now
        ));
        assert!(!time_ok_at(&json!({"exp": "soon"}), now));
        assert!(!time_ok_at(&json!({"exp": now + 60.0, "nbf": "now"}), now));
        assert!(!time_ok_at(&json!({}), now));
        assert!(time_ok_at(&json!({"exp": 1e300}), now));
        assert!(!time_ok_at(&json!({"exp": -1e300}), now));
    }
}
