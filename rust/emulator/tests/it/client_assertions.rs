//! Client assertions checked against registered credentials: an RS256 certificate assertion
//! (x5t#S256, signature, audience, time) and federated identity credentials (issuer, subject,
//! audience) for an app and a user-assigned managed identity.

use crate::common;

use common::*;
use managed_identity_emulator::{seed, util, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(claims)
    )
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

    let (status, v) = redeem(
        &emu,
        &app_id,
        &signed("RS256", &claims(&app_id, &aud, now + 600)),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(claims_of(&v)["appid"], app_id);

    // The same certificate is not registered on another app.
    let (status, v) = redeem(
        &emu,
        &other,
        &signed("RS256", &claims(&other, &aud, now + 600)),
    )
    .await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700027])));
    // A tampered payload fails the signature.
    let good = signed("RS256", &claims(&app_id, &aud, now + 600));
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[1] = b64(&claims(&app_id, &aud, now + 6000));
    let (status, v) = redeem(&emu, &app_id, &parts.join(".")).await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700027])));
    // Expired; wrong audience.
    let (status, v) = redeem(
        &emu,
        &app_id,
        &signed("RS256", &claims(&app_id, &aud, now - 10)),
    )
    .await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700024])));
    let (status, v) = redeem(
        &emu,
        &app_id,
        &signed(
            "RS256",
            &claims(&app_id, "https://elsewhere.example/token", now + 600),
        ),
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
