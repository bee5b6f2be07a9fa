//! The issue-10 credentials against the in-process emulator's Entra endpoints: client secret,
//! client certificate (registered through the control API), workload identity (a federated
//! credential registered through the control API), device code (approved and declined), browser sign-in
//! (authorization code + PKCE through `/authorize` to the loopback listener, approved and
//! denied), refresh tokens for another resource, and the principal shown for each token.

use std::sync::Arc;
use std::time::Duration;

use crate::emulator::TestEmulator;
use managed_identity_core::clock::SystemClock;
use managed_identity_core::credentials::{
    describe, AuthType, Authority, BrowserCredential, ClientCertificate,
    ClientCertificateCredential, ClientSecretCredential, Cloud, DeviceCodeCredential, EntraClient,
    RefreshTokenCredential, Scopes, WorkloadIdentityCredential,
};
use managed_identity_core::events::{Event, EventSink};
use managed_identity_core::http::ReqwestTransport;
use managed_identity_core::secret::Secret;
use managed_identity_core::ErrorKind;
use managed_identity_emulator::{seed, EmulatorConfig};
use serde_json::{json, Value};

const GRAPH: &str = "https://graph.microsoft.com";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn start() -> TestEmulator {
    crate::emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

fn entra(emu: &TestEmulator) -> EntraClient {
    let authority = Authority::new(Cloud::Global, Some(&emu.base_url()), seed::TENANT_ID).unwrap();
    EntraClient::new(
        Arc::new(ReqwestTransport::with_client(http())),
        Arc::new(SystemClock),
        authority,
    )
}

async fn control(emu: &TestEmulator, path: &str, body: Value) -> Value {
    let resp = http()
        .post(format!("{}/_emulator{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

/// An application of the emulated tenant holding Graph's Application.Read.All; its client id.
async fn pipeline_app(emu: &TestEmulator) -> String {
    let created = control(
        emu,
        "/servicePrincipals",
        json!({"count": 1, "prefix": "pipeline", "type": "Application"}),
    )
    .await;
    control(
        emu,
        "/assignments",
        json!({"principalId": created[0]["id"], "resourceId": seed::GRAPH.object_id,
               "appRoleValue": "Application.Read.All"}),
    )
    .await;
    created[0]["appId"].as_str().unwrap().to_string()
}

fn graph_scopes() -> Scopes {
    Scopes::delegated(
        &["AppRoleAssignment.ReadWrite.All", "Application.Read.All"],
        GRAPH,
    )
    .unwrap()
}

#[tokio::test]
async fn client_secret_gets_an_app_only_token_and_a_wrong_secret_is_explained() {
    let emu = start().await;
    let app = pipeline_app(&emu).await;
    let entra = entra(&emu);
    let seed_secret = managed_identity_emulator::entra::CLIENT_SECRET;
    let token = ClientSecretCredential::new(&app, Secret::new(seed_secret))
        .unwrap()
        .get_token(&entra, GRAPH)
        .await
        .unwrap();
    let principal = describe(token.secret.expose());
    assert_eq!(principal.auth_type, AuthType::AppOnly);
    assert_eq!(principal.roles, vec!["Application.Read.All"]);

    let wrong = "wrong-secret-value-1234";
    let e = ClientSecretCredential::new(&app, Secret::new(wrong))
        .unwrap()
        .get_token(&entra, GRAPH)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
    assert!(e.message.contains("AADSTS7000215"), "{}", e.message);
    assert!(e.message.contains("Hint:"), "{}", e.message);
    assert!(!format!("{e:?}").contains(wrong));
    emu.shutdown().await;
}

const CERT_PEM: &str = include_str!("../../src/credentials/testdata/cert.pem");
const KEY_PEM: &str = include_str!("../../src/credentials/testdata/key.pem");
const OTHER_CERT_PEM: &str = include_str!("../../src/credentials/testdata/other-cert.pem");
const OTHER_KEY_PEM: &str = include_str!("../../src/credentials/testdata/other-key.pem");

#[tokio::test]
async fn a_registered_certificate_gets_a_token_and_an_unregistered_one_is_refused() {
    let emu = start().await;
    let app = pipeline_app(&emu).await;
    let registered = control(
        &emu,
        "/certificates",
        json!({"clientId": app, "certificatePem": CERT_PEM}),
    )
    .await;
    let entra = entra(&emu);
    let certificate =
        ClientCertificate::from_pem(format!("{CERT_PEM}{KEY_PEM}").as_bytes()).unwrap();
    assert_eq!(registered["x5t#S256"], certificate.x5t_s256());
    let token = ClientCertificateCredential::new(&app, certificate)
        .unwrap()
        .get_token(&entra, GRAPH)
        .await
        .unwrap();
    assert_eq!(token.source, Some("ClientCertificate"));
    let principal = describe(token.secret.expose());
    assert_eq!(principal.auth_type, AuthType::AppOnly);
    assert_eq!(principal.roles, vec!["Application.Read.All"]);

    let other =
        ClientCertificate::from_pem(format!("{OTHER_CERT_PEM}{OTHER_KEY_PEM}").as_bytes()).unwrap();
    let e = ClientCertificateCredential::new(&app, other)
        .unwrap()
        .get_token(&entra, GRAPH)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthenticationFailed, "{}", e.message);
    assert!(e.message.contains("AADSTS700027"), "{}", e.message);
    emu.shutdown().await;
}

/// An unsigned JWT as a CI system's token (the emulator does not check external signatures).
fn federated_token(issuer: &str, subject: &str, exp: u64) -> String {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(
            json!({"iss": issuer, "sub": subject, "aud": "api://AzureADTokenExchange", "exp": exp})
        )
    )
}

#[tokio::test]
async fn a_federated_credential_gets_a_token_and_an_expired_assertion_is_refused() {
    let emu = start().await;
    let app = pipeline_app(&emu).await;
    let issuer = "https://token.actions.githubusercontent.com";
    let subject = "repo:contoso/pipelines:ref:refs/heads/main";
    control(
        &emu,
        "/federatedCredentials",
        json!({"clientId": app, "issuer": issuer, "subject": subject}),
    )
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let dir = std::env::temp_dir().join(format!("mi-wi-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, federated_token(issuer, subject, now + 600)).unwrap();
    let entra = entra(&emu);
    let credential = WorkloadIdentityCredential::new(&app, &file).unwrap();
    let token = credential.get_token(&entra, GRAPH).await.unwrap();
    assert_eq!(token.source, Some("WorkloadIdentity"));
    assert_eq!(
        describe(token.secret.expose()).roles,
        vec!["Application.Read.All"]
    );

    let expired = federated_token(issuer, subject, now - 60);
    let expired_file = dir.join("expired");
    std::fs::write(&expired_file, &expired).unwrap();
    let e = WorkloadIdentityCredential::new(&app, &expired_file)
        .unwrap()
        .get_token(&entra, GRAPH)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthenticationFailed, "{}", e.message);
    assert!(e.message.contains("AADSTS700024"), "{}", e.message);
    assert!(!e.message.contains(&expired));
    std::fs::remove_dir_all(&dir).ok();
    emu.shutdown().await;
}

/// Approves or declines the pending device code as soon as the sign-in message appears.
struct UserAtTheDevice {
    outcome: &'static str,
    base_url: String,
    messages: std::sync::Mutex<Vec<String>>,
}

impl EventSink for UserAtTheDevice {
    fn emit(&self, event: Event) {
        if let Event::Warning { message } = event {
            self.messages.lock().unwrap().push(message);
            let url = format!("{}/_emulator/deviceCode", self.base_url);
            let body = json!({"outcome": self.outcome});
            tokio::spawn(async move {
                http().post(url).json(&body).send().await.unwrap();
            });
        }
    }
}

#[tokio::test]
async fn device_code_sign_in_then_silent_tokens_for_another_resource() {
    let emu = start().await;
    control(&emu, "/config", json!({"deviceCodeIntervalSecs": 1})).await;
    let entra = entra(&emu);
    let user = UserAtTheDevice {
        outcome: "approve",
        base_url: emu.base_url(),
        messages: Default::default(),
    };
    let set = DeviceCodeCredential::new(seed::GRAPH_CLI_CLIENT_ID, graph_scopes())
        .unwrap()
        .sign_in(&entra, &user)
        .await
        .unwrap();
    assert!(user.messages.lock().unwrap()[0].contains("enter the code"));
    let principal = describe(set.access_token.secret.expose());
    assert_eq!(principal.auth_type, AuthType::Delegated);
    assert_eq!(
        principal.scopes,
        vec!["AppRoleAssignment.ReadWrite.All", "Application.Read.All"]
    );
    assert_eq!(
        principal.account.as_deref(),
        Some(seed::ADMIN_USER.user_principal_name)
    );

    let refresh = RefreshTokenCredential::from_sign_in(seed::GRAPH_CLI_CLIENT_ID, &set)
        .expect("a refresh token")
        .unwrap();
    let arm =
        Scopes::delegated(&["https://management.azure.com/user_impersonation"], GRAPH).unwrap();
    let other = refresh.get_token(&entra, &arm).await.unwrap();
    assert_eq!(other.access_token.resource, "https://management.azure.com");
    assert_eq!(other.access_token.source, Some("DeviceCode"));

    let declined = UserAtTheDevice {
        outcome: "deny",
        base_url: emu.base_url(),
        messages: Default::default(),
    };
    let e = DeviceCodeCredential::new(seed::GRAPH_CLI_CLIENT_ID, graph_scopes())
        .unwrap()
        .sign_in(&entra, &declined)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
    assert!(e.message.contains("declined"), "{}", e.message);
    emu.shutdown().await;
}

/// Follows the authorize URL like a browser: `/authorize` answers 302 to the loopback
/// redirect, which is then requested (on 127.0.0.1, where the listener is).
async fn browser(authorize_url: String) -> u16 {
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects.get(authorize_url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let to = resp.headers()["location"]
        .to_str()
        .unwrap()
        .replace("//localhost:", "//127.0.0.1:");
    http().get(to).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn browser_sign_in_with_pkce_approved_and_denied() {
    let emu = start().await;
    let entra = entra(&emu);
    let credential = BrowserCredential::new(seed::GRAPH_CLI_CLIENT_ID, graph_scopes()).unwrap();

    let pending = credential.start(&entra.authority, None).await.unwrap();
    let page = tokio::spawn(browser(pending.authorize_url().to_string()));
    let set = pending
        .complete(&entra, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(page.await.unwrap(), 200);
    let principal = describe(set.access_token.secret.expose());
    assert_eq!(principal.auth_type, AuthType::Delegated);
    assert_eq!(
        principal.account.as_deref(),
        Some(seed::ADMIN_USER.user_principal_name)
    );
    assert!(set.refresh_token.is_some());

    control(&emu, "/config", json!({"authorizeOutcome": "deny"})).await;
    let pending = credential.start(&entra.authority, None).await.unwrap();
    let page = tokio::spawn(browser(pending.authorize_url().to_string()));
    let e = pending
        .complete(&entra, Duration::from_secs(120))
        .await
        .unwrap_err();
    page.await.unwrap();
    assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
    assert!(e.message.contains("access_denied"), "{}", e.message);
    emu.shutdown().await;
}

#[test]
fn a_plain_http_authority_off_loopback_is_refused_before_any_request() {
    let e = Authority::new(
        Cloud::Global,
        Some("http://login.example.com"),
        seed::TENANT_ID,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
}
