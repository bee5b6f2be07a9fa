//! Client assertions as MSAL signs them, with the test certificate and key, and their redemption
//! at the emulator's token endpoint.

use base64::Engine;
use managed_identity_emulator::{seed, util, RunningEmulator};
use serde_json::{json, Value};

use super::{claims, client};

pub const CERT_PEM: &str = include_str!("../data/test-rsa-cert.pem");
pub const KEY_PEM: &str = include_str!("../data/test-rsa-key.pem");
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = &pem[pem.find(&begin).unwrap() + begin.len()..pem.find(&end).unwrap()];
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap()
}

pub fn b64(v: &Value) -> String {
    util::b64url(v.to_string().as_bytes())
}

/// A certificate assertion signed with the test key: RS256 (PKCS#1 v1.5) or PS256 (PSS, the
/// salt as long as the hash, as MSAL/PyJWT sign), header `x5t#S256`.
pub fn signed(alg: &str, claims: &Value) -> String {
    let der = pem_der(CERT_PEM, "CERTIFICATE");
    let x5t = util::b64url(ring::digest::digest(&ring::digest::SHA256, &der).as_ref());
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": alg, "typ": "JWT", "x5t#S256": x5t})),
        b64(claims)
    );
    let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(KEY_PEM, "PRIVATE KEY")).unwrap();
    let padding: &dyn ring::signature::RsaEncoding = match alg {
        "PS256" => &ring::signature::RSA_PSS_SHA256,
        _ => &ring::signature::RSA_PKCS1_SHA256,
    };
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        padding,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", util::b64url(&sig))
}

pub async fn redeem(emu: &RunningEmulator, client_id: &str, assertion: &str) -> (u16, Value) {
    let resp = client()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            emu.base_url(),
            seed::TENANT_ID
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// The claims of the access token in a token response.
pub fn claims_of(v: &Value) -> Value {
    claims(v["access_token"].as_str().unwrap())
}
