//! Client assertions checked against registered credentials: an RS256 certificate assertion
//! (x5t#S256, signature, audience, time) and federated identity credentials (issuer, subject,
//! audience) for an app and a user-assigned managed identity.

use crate::common;

use base64::Engine;
use common::*;
use managed_identity_emulator::{seed, util, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

const CERT_PEM: &str = include_str!("data/test-rsa-cert.pem");
const KEY_PEM: &str = include_str!("data/test-rsa-key.pem");
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn pem_der(pem: &str, label: &str) -> Vec<u8> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = &pem[pem.find(&begin).unwrap() + begin.len()..pem.find(&end).unwrap()];
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap()
}

fn b64(v: &Value) -> String {
    util::b64url(v.to_string().as_bytes())
}

/// An RS256 assertion signed with the test key, header `x5t#S256` of the test certificate.
fn signed(claims: &Value) -> String {
    let der = pem_der(CERT_PEM, "CERTIFICATE");
    let x5t = util::b64url(ring::digest::digest(&ring::digest::SHA256, &der).as_ref());
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT", "x5t#S256": x5t})),
        b64(claims)
    );
    let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(KEY_PEM, "PRIVATE KEY")).unwrap();
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", util::b64url(&sig))
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(claims)
    )
}

async fn redeem(emu: &RunningEmulator, client_id: &str, assertion: &str) -> (u16, Value) {
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

async fn new_app(emu: &RunningEmulator, prefix: &str) -> String {
    let created = control(
        emu,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"count": 1, "prefix": prefix, "type": "Application"})),
    )
    .await;
    created[0]["appId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn certificate_assertions_are_verified_against_the_registered_certificate() {
    let emu = default_emulator().await;
    let app_id = new_app(&emu, "cert-app").await;
    let other = new_app(&emu, "other-app").await;
    let reg = control(
        &emu,
        Method::POST,
        "/certificates",
        Some(json!({"clientId": app_id, "certificatePem": CERT_PEM})),
    )
    .await;
    assert_eq!(reg["thumbprint"].as_str().unwrap().len(), 40);
    let now = util::now_epoch();
    let aud = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), seed::TENANT_ID);
    let claims = |iss: &str, aud: &str, exp: u64| json!({"iss": iss, "sub": iss, "aud": aud, "exp": exp, "nbf": now - 5, "jti": util::new_guid()});

    let (status, v) = redeem(&emu, &app_id, &signed(&claims(&app_id, &aud, now + 600))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(claims_of(&v)["appid"], app_id);

    // The same certificate is not registered on another app.
    let (status, v) = redeem(&emu, &other, &signed(&claims(&other, &aud, now + 600))).await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700027])));
    // A tampered payload fails the signature.
    let good = signed(&claims(&app_id, &aud, now + 600));
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = b64(&claims(&app_id, &aud, now + 6000));
    let (status, v) = redeem(&emu, &app_id, &parts.join(".")).await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700027])));
    // Expired; wrong audience.
    let (status, v) = redeem(&emu, &app_id, &signed(&claims(&app_id, &aud, now - 10))).await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700024])));
    let (status, v) = redeem(
        &emu,
        &app_id,
        &signed(&claims(
            &app_id,
            "https://elsewhere.example/token",
            now + 600,
        )),
    )
    .await;
    assert_eq!((status, v["error_codes"].clone()), (400, json!([50027])));

    // First-party apps take no credentials.
    let resp = client()
        .post(format!("{}/_emulator/certificates", emu.base_url()))
        .json(&json!({"clientId": seed::GRAPH.app_id, "certificatePem": CERT_PEM}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    emu.shutdown().await;
}

fn claims_of(v: &Value) -> Value {
    claims(v["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn federated_credentials_match_issuer_subject_and_audience() {
    let emu = default_emulator().await;
    let issuer = "https://token.actions.githubusercontent.com";
    let subject = "repo:contoso/ops:ref:refs/heads/main";
    let uami = seed::REPORTS_IDENTITY;
    control(
        &emu,
        Method::POST,
        "/federatedCredentials",
        Some(json!({"objectId": uami.object_id, "issuer": issuer, "subject": subject})),
    )
    .await;
    let now = util::now_epoch();
    let token = |sub: &str, aud: &str, exp: u64| {
        unsigned(&json!({"iss": issuer, "sub": sub, "aud": aud, "exp": exp, "iat": now}))
    };

    let (status, v) = redeem(
        &emu,
        uami.client_id,
        &token(subject, "api://AzureADTokenExchange", now + 600),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let c = claims_of(&v);
    assert_eq!(c["oid"], uami.object_id);
    assert_eq!(c["roles"], json!(["User.Read.All", "AuditLog.Read.All"]));

    for (sub, aud) in [
        (
            "repo:contoso/ops:pull_request",
            "api://AzureADTokenExchange",
        ),
        (subject, "api://SomethingElse"),
    ] {
        let (status, v) = redeem(&emu, uami.client_id, &token(sub, aud, now + 600)).await;
        assert_eq!(
            (status, v["error_codes"].clone()),
            (400, json!([70021])),
            "{sub} {aud}"
        );
    }
    let (status, v) = redeem(
        &emu,
        uami.client_id,
        &token(subject, "api://AzureADTokenExchange", now - 5),
    )
    .await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700024])));
    // Another identity has no such credential.
    let (status, _) = redeem(
        &emu,
        seed::EMPTY_IDENTITY.client_id,
        &token(subject, "api://AzureADTokenExchange", now + 600),
    )
    .await;
    assert_eq!(status, 400);
    emu.shutdown().await;
}
