//! What Microsoft's own clients need from the emulator (issue 21; the clients themselves run in
//! tests/clients/ through tests/Clients.Tests.ps1): https discovery on the host asked, an https
//! authority in the info route, fractional NumericDates and PS256 in client assertions,
//! `response_mode=form_post`, the id_token's `nonce`, Graph links on the request's scheme and
//! host, and Cloud Shell's fixed-port route.

use crate::common;

use common::*;
use managed_identity_emulator::{seed, util, EmulatorConfig, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};

async fn tls_emulator() -> RunningEmulator {
    emulator(EmulatorConfig {
        tls_port: Some(0),
        ..Default::default()
    })
    .await
}

/// A client that trusts only the emulator's certificate.
fn https_client(emu: &RunningEmulator) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(emu.certificate_pem().as_bytes()).expect("PEM");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(root)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

fn discovery_path() -> String {
    format!("/{}/v2.0/.well-known/openid-configuration", seed::TENANT_ID)
}

#[tokio::test]
async fn discovery_lists_endpoints_on_the_scheme_and_host_asked() {
    let emu = tls_emulator().await;
    let https = emu.https_base_url().unwrap();
    let tenant = format!("{https}/{}", seed::TENANT_ID);
    let v: Value = https_client(&emu)
        .get(format!("{https}{}", discovery_path()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["issuer"], format!("{tenant}/v2.0"));
    assert_eq!(v["token_endpoint"], format!("{tenant}/oauth2/v2.0/token"));
    assert_eq!(
        v["authorization_endpoint"],
        format!("{tenant}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        v["device_authorization_endpoint"],
        format!("{tenant}/oauth2/v2.0/devicecode")
    );
    // The host that was asked (localhost here), as Entra answers on its own host.
    let port = https.rsplit(':').next().unwrap();
    let v: Value = https_client(&emu)
        .get(format!("{https}{}", discovery_path()))
        .header("Host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["token_endpoint"],
        format!(
            "https://localhost:{port}/{}/oauth2/v2.0/token",
            seed::TENANT_ID
        )
    );
    // The plain listener still answers http; a Host header that is not a plain host[:port] is
    // ignored for the listener's own address.
    for host in ["evil.example/x?", "a@b", "x y", ""] {
        let v: Value = client()
            .get(format!("{}{}", emu.base_url(), discovery_path()))
            .header("Host", host)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["token_endpoint"],
            format!("{}/{}/oauth2/v2.0/token", emu.base_url(), seed::TENANT_ID),
            "{host:?}"
        );
    }
    // Device code: the verification page on the host asked.
    let v: Value = https_client(&emu)
        .post(format!("{tenant}/oauth2/v2.0/devicecode"))
        .form(&[
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("scope", "User.Read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["verification_uri"], format!("{https}/devicelogin"));
    emu.shutdown().await;
}

#[tokio::test]
async fn info_names_the_https_authority_when_tls_is_on() {
    let emu = tls_emulator().await;
    let https = emu.https_base_url().unwrap();
    let info = emu.info();
    assert_eq!(info["httpsBaseUrl"], https.as_str());
    let entra = &info["hosts"]["entra"];
    assert_eq!(entra["authorityHost"], https.as_str());
    assert_eq!(entra["environment"]["AZURE_AUTHORITY_HOST"], https.as_str());
    assert_eq!(entra["httpAuthorityHost"], emu.base_url().as_str());
    assert!(entra["tokenEndpoint"].as_str().unwrap().starts_with(&https));
    emu.shutdown().await;

    let emu = default_emulator().await;
    let info = emu.info();
    assert!(info["httpsBaseUrl"].is_null());
    assert_eq!(
        info["hosts"]["entra"]["environment"]["AZURE_AUTHORITY_HOST"],
        emu.base_url().as_str()
    );
    emu.shutdown().await;
}

async fn app_with_certificate(emu: &RunningEmulator) -> String {
    let created = control(
        emu,
        Method::POST,
        "/servicePrincipals",
        Some(json!({"count": 1, "prefix": "clients-cert", "type": "Application"})),
    )
    .await;
    let app_id = created[0]["appId"].as_str().unwrap().to_string();
    control(
        emu,
        Method::POST,
        "/certificates",
        Some(json!({"clientId": app_id, "certificatePem": CERT_PEM})),
    )
    .await;
    app_id
}

/// MSAL writes `exp = time.time() + 600`: a JWT NumericDate need not be an integer.
#[tokio::test]
async fn fractional_exp_and_nbf_are_numeric_dates() {
    let emu = default_emulator().await;
    let app_id = app_with_certificate(&emu).await;
    let aud = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), seed::TENANT_ID);
    let now = util::now_epoch() as f64 + 0.123;
    let claims = |exp: f64, nbf: f64| json!({"iss": app_id, "sub": app_id, "aud": aud, "exp": exp, "nbf": nbf, "iat": nbf, "jti": util::new_guid()});
    let (status, v) = redeem(&emu, &app_id, &signed("RS256", &claims(now + 600.5, now))).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = redeem(
        &emu,
        &app_id,
        &signed("RS256", &claims(now - 10.5, now - 20.0)),
    )
    .await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700024])));

    // The federated path reads the same claims.
    let uami = seed::REPORTS_IDENTITY;
    let issuer = "https://oidc.example/fractional";
    control(
        &emu,
        Method::POST,
        "/federatedCredentials",
        Some(json!({"clientId": uami.client_id, "issuer": issuer, "subject": "s"})),
    )
    .await;
    let federated = |exp: f64| {
        format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "RS256", "typ": "JWT"})),
            b64(
                &json!({"iss": issuer, "sub": "s", "aud": "api://AzureADTokenExchange", "exp": exp, "nbf": now - 0.5})
            )
        )
    };
    let (status, v) = redeem(&emu, uami.client_id, &federated(now + 3600.25)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = redeem(&emu, uami.client_id, &federated(now - 1.5)).await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700024])));
    emu.shutdown().await;
}

/// MSAL 1.35+ signs with PS256 and `x5t#S256` when it has the certificate but no SHA-1
/// thumbprint; Entra accepts it.
#[tokio::test]
async fn ps256_certificate_assertions_are_verified() {
    let emu = default_emulator().await;
    let app_id = app_with_certificate(&emu).await;
    let aud = format!("{}/{}/oauth2/v2.0/token", emu.base_url(), seed::TENANT_ID);
    let now = util::now_epoch();
    let claims = json!({"iss": app_id, "sub": app_id, "aud": aud, "exp": now + 600, "nbf": now, "jti": util::new_guid()});
    let (status, v) = redeem(&emu, &app_id, &signed("PS256", &claims)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(claims_of(&v)["appid"], app_id.as_str());
    // A PKCS#1 signature under a PS256 header (and the reverse) fails the signature.
    let rs = signed("RS256", &claims);
    let ps = signed("PS256", &claims);
    let mixed = format!(
        "{}.{}",
        ps.rsplit_once('.').unwrap().0,
        rs.rsplit('.').next().unwrap()
    );
    let (status, v) = redeem(&emu, &app_id, &mixed).await;
    assert_eq!((status, v["error_codes"].clone()), (401, json!([700027])));
    // Other algorithms stay refused.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let (status, v) = redeem(&emu, &app_id, &none).await;
    assert_eq!((status, v["error_codes"].clone()), (400, json!([50027])));
    emu.shutdown().await;
}

/// The hidden fields of an HTML form (value attributes unescaped).
fn form_fields(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    html.split("<input ")
        .skip(1)
        .filter_map(|tag| {
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let len = tag[start..].find('"')?;
                Some(unescape(&tag[start..start + len]))
            };
            Some((attr("name")?, attr("value")?))
        })
        .collect()
}

/// MSAL asks for `response_mode=form_post` and a `nonce`, and refuses an id_token whose nonce
/// differs; Entra answers with an auto-submitting form and copies the nonce.
#[tokio::test]
async fn form_post_authorize_and_the_nonce_in_the_id_token() {
    let emu = tls_emulator().await;
    let https = emu.https_base_url().unwrap();
    let tenant = format!("{https}/{}", seed::TENANT_ID);
    let redirect = "http://localhost:53112";
    let state = "st\"<&>'x";
    let nonce = "n-0123456789abcdef";
    let resp = https_client(&emu)
        .get(format!("{tenant}/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", "User.Read openid profile offline_access"),
            ("state", state),
            ("nonce", nonce),
            ("response_mode", "form_post"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = resp.text().await.unwrap();
    assert!(
        page.contains(&format!("action=\"{redirect}\"")) && page.contains("method=\"POST\""),
        "{page}"
    );
    assert!(page.contains("document.forms[0].submit()"));
    let fields = form_fields(&page);
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(field("state").as_deref(), Some(state), "escaped and intact");
    let code = field("code").expect("a code");

    let v: Value = https_client(&emu)
        .post(format!("{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = claims(v["id_token"].as_str().expect("an id_token"));
    assert_eq!(id["nonce"], nonce);
    assert_eq!(id["iss"], format!("{tenant}/v2.0"), "the discovery issuer");
    assert_eq!(id["aud"], seed::GRAPH_CLI_CLIENT_ID);

    // A refreshed id_token has no nonce (none was asked); a denial is posted too.
    let v: Value = https_client(&emu)
        .post(format!("{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("refresh_token", v["refresh_token"].as_str().unwrap()),
            ("scope", "User.Read openid"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(claims(v["id_token"].as_str().unwrap())
        .get("nonce")
        .is_none());
    control(
        &emu,
        Method::POST,
        "/config",
        Some(json!({"authorizeOutcome": "deny"})),
    )
    .await;
    let resp = https_client(&emu)
        .get(format!("{tenant}/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", seed::GRAPH_CLI_CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("scope", "User.Read"),
            ("state", "s2"),
            ("response_mode", "form_post"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fields = form_fields(&resp.text().await.unwrap());
    assert!(fields.contains(&("error".to_string(), "access_denied".to_string())));
    assert!(fields.contains(&("state".to_string(), "s2".to_string())));
    emu.shutdown().await;
}

/// azure-core sends a bearer token only over https: real Graph keeps `@odata.nextLink` (and
/// `@odata.context`) on the scheme and host of the request.
#[tokio::test]
async fn graph_links_keep_the_scheme_and_host_of_the_request() {
    let emu = emulator(EmulatorConfig {
        tls_port: Some(0),
        page_size: Some(2),
        ..Default::default()
    })
    .await;
    let https = emu.https_base_url().unwrap();
    let token = admin_token(&emu).await;
    let mut next = Some(format!("{https}/v1.0/servicePrincipals"));
    let mut pages = 0;
    while let Some(url) = next {
        let v: Value = https_client(&emu)
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            v["@odata.context"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{https}/v1.0/$metadata#")),
            "{v}"
        );
        next = v["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(
                n.starts_with(&format!("{https}/v1.0/servicePrincipals?")),
                "{n}"
            );
        }
        pages += 1;
    }
    assert!(pages >= 3, "{pages}");
    // The plain listener keeps http.
    let (_, v) = get_json(
        &format!("{}/v1.0/servicePrincipals", emu.base_url()),
        &token,
        &[],
    )
    .await;
    assert!(v["@odata.nextLink"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/v1.0/", emu.base_url())));
    emu.shutdown().await;
}

/// `--cloud-shell-port`: Cloud Shell's fixed `POST /oauth2/token` (MSAL Python posts there
/// whatever MSI_ENDPOINT says), on 127.0.0.1 only.
#[tokio::test]
async fn cloud_shell_fixed_port_route() {
    let emu = emulator(EmulatorConfig {
        cloud_shell_port: Some(0),
        ..Default::default()
    })
    .await;
    let base = emu.cloud_shell_base_url().expect("a Cloud Shell listener");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert_eq!(
        emu.info()["hosts"]["cloudShell"]["fixedEndpoint"],
        format!("{base}/oauth2/token")
    );
    let resp = client()
        .post(format!("{base}/oauth2/token"))
        .header("Metadata", "true")
        .form(&[("resource", "https://vault.azure.net")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["client_id"], seed::SYSTEM_IDENTITY.client_id);
    let s = control(&emu, Method::GET, "/stats", None).await;
    assert_eq!(s["requests"]["cloudShell"], 1);
    // The route exists only on that listener; the listener serves the ordinary routes too.
    let resp = client()
        .post(format!("{}/oauth2/token", emu.base_url()))
        .header("Metadata", "true")
        .form(&[("resource", "https://vault.azure.net")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(default_emulator().await.cloud_shell_base_url().is_none());
    emu.shutdown().await;
}
