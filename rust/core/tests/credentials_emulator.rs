//! The issue-10 credentials against the in-process emulator's Entra endpoints: client secret,
//! client certificate, workload identity, device code (approved and declined), browser sign-in
//! (authorization code + PKCE through `/authorize` to the loopback listener, approved and
//! denied), refresh tokens for another resource, and the principal shown for each token.

use std::sync::Arc;
use std::time::Duration;

use managed_identity_core::clock::SystemClock;
use managed_identity_core::credentials::{
    describe, AuthType, Authority, BrowserCredential, ClientSecretCredential, Cloud,
    DeviceCodeCredential, EntraClient, RefreshTokenCredential, Scopes,
};
use managed_identity_core::events::{Event, EventSink};
use managed_identity_core::http::ReqwestTransport;
use managed_identity_core::secret::Secret;
use managed_identity_core::ErrorKind;
use managed_identity_emulator::{seed, EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};

const GRAPH: &str = "https://graph.microsoft.com";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn start() -> RunningEmulator {
    managed_identity_emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

fn entra(emu: &RunningEmulator) -> EntraClient {
    let authority = Authority::new(Cloud::Global, Some(&emu.base_url()), seed::TENANT_ID).unwrap();
    EntraClient::new(
        Arc::new(ReqwestTransport::with_client(http())),
        Arc::new(SystemClock),
        authority,
    )
}

async fn control(emu: &RunningEmulator, path: &str, body: Value) -> Value {
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
async fn pipeline_app(emu: &RunningEmulator) -> String {
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
