//! Entra's user sign-ins: OpenID discovery, device code with control-driven approval, the
//! authorization code + PKCE flow through `/authorize`, refresh tokens, and Graph accepting the
//! delegated tokens' `scp`.

use crate::common;

use common::*;
use managed_identity_emulator::{seed, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

const SCOPES: &str = "https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All https://graph.microsoft.com/Application.Read.All openid profile offline_access";

fn entra(emu: &RunningEmulator, leaf: &str) -> String {
    format!("{}/{}/{leaf}", emu.base_url(), seed::TENANT_ID)
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = client().post(url).form(form).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn openid_discovery_points_at_the_emulator() {
    let emu = default_emulator().await;
    let v: Value = client()
        .get(entra(&emu, "v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["token_endpoint"], entra(&emu, "oauth2/v2.0/token"));
    assert_eq!(
        v["authorization_endpoint"],
        entra(&emu, "oauth2/v2.0/authorize")
    );
    assert_eq!(
        v["device_authorization_endpoint"],
        entra(&emu, "oauth2/v2.0/devicecode")
    );
    assert_eq!(v["issuer"], entra(&emu, "v2.0"));
    let resp = client()
        .get(format!(
            "{}/nope/v2.0/.well-known/openid-configuration",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "unknown tenant");
    emu.shutdown().await;
}

#[tokio::test]
async fn device_code_pending_approved_and_refreshed() {
    let emu = default_emulator().await;
    let client_id = seed::GRAPH_CLI_CLIENT_ID;
    let (status, dc) = post_form(
        &entra(&emu, "oauth2/v2.0/devicecode"),
        &[("client_id", client_id), ("scope", SCOPES)],
    )
    .await;
    assert_eq!(status, 200, "{dc}");
    let user_code = dc["user_code"].as_str().unwrap().to_string();
    assert!(dc["message"].as_str().unwrap().contains(&user_code));
    assert_eq!(dc["interval"], 5);
    assert_eq!(dc["expires_in"], 900);
    let device_code = dc["device_code"].as_str().unwrap().to_string();
    let token_url = entra(&emu, "oauth2/v2.0/token");
    let poll = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", client_id),
        ("device_code", device_code.as_str()),
    ];

    let (status, v) = post_form(&token_url, &poll).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    assert_eq!(v["error_codes"], json!([70016]));
    control(
        &emu,
        Method::POST,
        "/deviceCode",
        Some(json!({"outcome": "slowDown"})),
    )
    .await;
    let (_, v) = post_form(&token_url, &poll).await;
    assert_eq!(v["error"], "slow_down");
    let (_, v) = post_form(&token_url, &poll).await;
    assert_eq!(
        v["error"], "authorization_pending",
        "slow_down is answered once"
    );

    let done = control(
        &emu,
        Method::POST,
        "/deviceCode",
        Some(json!({"userCode": user_code, "outcome": "approve"})),
    )
    .await;
    assert_eq!(done["userCode"], user_code);
    let (status, v) = post_form(&token_url, &poll).await;
    assert_eq!(status, 200, "{v}");
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(
        c["scp"],
        "AppRoleAssignment.ReadWrite.All Application.Read.All"
    );
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["upn"], seed::ADMIN_USER.user_principal_name);
    assert_eq!(c["oid"], seed::ADMIN_USER.object_id);
    assert_eq!(c["appid"], client_id);
    assert!(c.get("roles").is_none());
    let id = claims(v["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], client_id);
    assert_eq!(
        id["preferred_username"],
        seed::ADMIN_USER.user_principal_name
    );
    assert!(v["scope"]
        .as_str()
        .unwrap()
        .contains("https://graph.microsoft.com/Application.Read.All"));

    // Graph accepts the delegated token's scopes.
    let (status, _) = get_json(
        &format!("{}/v1.0/servicePrincipals", emu.base_url()),
        v["access_token"].as_str().unwrap(),
        &[],
    )
    .await;
    assert_eq!(status, 200);

    // The code is used up; the refresh token gets tokens for other resources silently.
    let (status, _) = post_form(&token_url, &poll).await;
    assert_eq!(status, 400);
    let rt = v["refresh_token"].as_str().unwrap();
    let (status, r) = post_form(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", rt),
            (
                "scope",
                "https://vault.azure.net/user_impersonation offline_access",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let c = claims(r["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://vault.azure.net");
    assert_eq!(c["scp"], "user_impersonation");
    // `.default` on Graph gives what was consented so far.
    let (_, r) = post_form(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", rt),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    let scp = claims(r["access_token"].as_str().unwrap())["scp"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(scp.contains("AppRoleAssignment.ReadWrite.All"), "{scp}");
    let (status, r) = post_form(
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", "nope"),
        ],
    )
    .await;
    assert_eq!((status, r["error"].as_str()), (400, Some("invalid_grant")));
    emu.shutdown().await;
}

#[tokio::test]
async fn device_code_denied_and_expired() {
    let emu = default_emulator().await;
    let token_url = entra(&emu, "oauth2/v2.0/token");
    let start = || async {
        let (_, dc) = post_form(
            &entra(&emu, "oauth2/v2.0/devicecode"),
            &[
                ("client_id", seed::GRAPH_CLI_CLIENT_ID),
                ("scope", "User.Read"),
            ],
        )
        .await;
        dc["device_code"].as_str().unwrap().to_string()
    };
    let code = start().await;
    control(
        &emu,
        Method::POST,
        "/deviceCode",
        Some(json!({"outcome": "deny"})),
    )
    .await;
    let (status, v) = post_form(
        &token_url,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("device_code", &code),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("authorization_declined"))
    );

    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"deviceCodeLifetimeSecs": 0, "deviceCodeIntervalSecs": 1})),
    )
    .await;
    let code = start().await;
    let (_, v) = post_form(
        &token_url,
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("device_code", &code),
        ],
    )
    .await;
    assert_eq!(v["error"], "expired_token");
    // Nothing pending any more: the control call says so.
    let resp = client()
        .post(format!("{}/_emulator/deviceCode", emu.base_url()))
        .json(&json!({"outcome": "approve", "userCode": "NOPE"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    emu.shutdown().await;
}

/// Follows `/authorize` like a browser would, up to the loopback redirect.
async fn authorize(emu: &RunningEmulator, query: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(entra(emu, "oauth2/v2.0/authorize"))
        .query(query)
        .send()
        .await
        .unwrap()
}

fn location(resp: &reqwest::Response) -> url::Url {
    url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap()
}

fn query_of(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn authorization_code_with_pkce_through_a_loopback_redirect() {
    let emu = default_emulator().await;
    let redirect = "http://localhost:53111/";
    // RFC 7636 appendix B verifier and challenge.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let query = [
        ("client_id", seed::GRAPH_CLI_CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", redirect),
        ("scope", SCOPES),
        ("state", "st-123"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let resp = authorize(&emu, &query).await;
    assert_eq!(resp.status(), 302);
    let to = location(&resp);
    assert!(to.as_str().starts_with(redirect));
    assert_eq!(query_of(&to, "state").as_deref(), Some("st-123"));
    let code = query_of(&to, "code").unwrap();

    let token_url = entra(&emu, "oauth2/v2.0/token");
    let redeem = |verifier: &'static str, code: String| {
        let url = token_url.clone();
        async move {
            post_form(
                &url,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", seed::GRAPH_CLI_CLIENT_ID),
                    ("redirect_uri", redirect),
                    ("code", &code),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, v) = redeem("wrong-verifier-wrong-verifier-wrong-verifier", code.clone()).await;
    assert_eq!((status, v["error_codes"].clone()), (400, json!([501481])));
    // A refused redemption used the code up, as Entra does.
    let resp = authorize(&emu, &query).await;
    let code = query_of(&location(&resp), "code").unwrap();
    let (status, v) = redeem(verifier, code.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["refresh_token"].is_string());
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["scp"],
        "AppRoleAssignment.ReadWrite.All Application.Read.All"
    );
    let (status, v) = redeem(verifier, code).await;
    assert_eq!((status, v["error_codes"].clone()), (400, json!([54005])));

    // A denied consent comes back to the redirect as an error; a non-loopback redirect is
    // never followed.
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"authorizeOutcome": "deny"})),
    )
    .await;
    let resp = authorize(&emu, &query).await;
    let to = location(&resp);
    assert_eq!(query_of(&to, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_of(&to, "state").as_deref(), Some("st-123"));
    let mut evil = query;
    evil[2] = ("redirect_uri", "https://evil.example/cb");
    let resp = authorize(&emu, &evil).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    emu.shutdown().await;
}

/// `--tls`: the ordinary routes over https with the emulator's certificate, for clients that
/// insist on https; a client that trusts only that certificate reaches OpenID discovery.
#[tokio::test]
async fn tls_listener_serves_discovery_with_the_emulators_certificate() {
    let emu = emulator(managed_identity_emulator::EmulatorConfig {
        tls_port: Some(0),
        ..Default::default()
    })
    .await;
    let https = emu
        .https_base_url()
        .expect("an https listener when tls_port is set");
    assert!(https.starts_with("https://127.0.0.1:"), "{https}");
    let root = reqwest::Certificate::from_pem(emu.certificate_pem().as_bytes()).expect("PEM");
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .no_proxy()
        .build()
        .expect("client");
    let url = format!(
        "{https}/{}/v2.0/.well-known/openid-configuration",
        seed::TENANT_ID
    );
    let resp = client.get(&url).send().await.expect("https request");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["token_endpoint"]
        .as_str()
        .unwrap()
        .contains(seed::TENANT_ID));
    assert!(
        default_emulator().await.https_base_url().is_none(),
        "off by default"
    );
}
