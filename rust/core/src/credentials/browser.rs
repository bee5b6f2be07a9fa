//! Interactive browser sign-in: authorization code with PKCE (S256) and a loopback redirect.
//! [`BrowserCredential::start`] binds the listener and builds the authorize URL; opening the
//! browser (or printing the URL where there is none) is the caller's job; then
//! [`PendingBrowserSignIn::complete`] waits (bounded, cancellable) for the redirect, checks the
//! state and redeems the code with the verifier.

use std::time::Duration;

use url::Url;

use super::cloud::Authority;
use super::entra::{validate_client_id, EntraClient, TokenSet};
use super::loopback::LoopbackListener;
use super::pkce::{random_url_safe, Pkce};
use super::refresh::DelegatedStart;
use super::scopes::Scopes;
use super::sign_in::{SignInInputs, Signed};
use super::test_browser::TestBrowser;
use crate::env::Environment;
use crate::error::Result;
use crate::events::{verbose, warn, EventSink};
use crate::input::Input;
use crate::secret::Secret;

pub const SOURCE: &str = "Browser";
/// How long the user has to finish signing in (MSAL's default interactive timeout is similar).
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// The authorize URL (pure): `response_type=code`, `response_mode=query`, PKCE S256, state.
pub fn authorize_url(
    authority: &Authority,
    client_id: &str,
    redirect_uri: &str,
    scopes: &Scopes,
    state: &str,
    challenge: &str,
    login_hint: Option<&str>,
) -> Url {
    let mut url = authority.authorize_endpoint();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", &scopes.to_request())
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "select_account");
        if let Some(hint) = login_hint.map(str::trim).filter(|h| !h.is_empty()) {
            q.append_pair("login_hint", hint);
        }
    }
    url
}

#[derive(Debug, Clone)]
pub struct BrowserCredential {
    client_id: String,
    scopes: Scopes,
}

/// A sign-in waiting for the browser.
#[derive(Debug)]
pub struct PendingBrowserSignIn {
    listener: LoopbackListener,
    url: Url,
    state: String,
    pkce: Pkce,
    client_id: String,
    scopes: Scopes,
}

impl BrowserCredential {
    pub fn new(client_id: &str, scopes: Scopes) -> Result<Self> {
        Ok(Self {
            client_id: validate_client_id(client_id)?,
            scopes,
        })
    }

    /// Binds the loopback listener and builds the URL to open.
    pub async fn start(
        &self,
        authority: &Authority,
        login_hint: Option<&str>,
    ) -> Result<PendingBrowserSignIn> {
        let listener = LoopbackListener::bind().await?;
        let pkce = Pkce::generate()?;
        let state = random_url_safe(16)?;
        let url = authorize_url(
            authority,
            &self.client_id,
            &listener.redirect_uri(),
            &self.scopes,
            &state,
            &pkce.challenge,
            login_hint,
        );
        Ok(PendingBrowserSignIn {
            listener,
            url,
            state,
            pkce,
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
        })
    }
}

impl PendingBrowserSignIn {
    /// The URL for the browser. It carries no secret (the PKCE challenge is a hash).
    pub fn authorize_url(&self) -> &Url {
        &self.url
    }

    pub fn redirect_uri(&self) -> String {
        self.listener.redirect_uri()
    }

    /// Waits for the redirect (at most `timeout` on the client's clock) and redeems the code.
    pub async fn complete(self, entra: &EntraClient, timeout: Duration) -> Result<TokenSet> {
        let code = self
            .listener
            .wait_for_code(&self.state, entra.clock.as_ref(), timeout)
            .await?;
        redeem(
            entra,
            &self.client_id,
            &code,
            &self.listener.redirect_uri(),
            &self.pkce.verifier,
            &self.scopes,
        )
        .await
    }
}

/// Redeems an authorization code (`grant_type=authorization_code` with the PKCE verifier).
pub async fn redeem(
    entra: &EntraClient,
    client_id: &str,
    code: &Secret,
    redirect_uri: &str,
    verifier: &Secret,
    scopes: &Scopes,
) -> Result<TokenSet> {
    let scope = scopes.to_request();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.expose()),
        ("scope", scope.as_str()),
    ];
    let mut set = entra
        .request_token(
            &form,
            &scopes.resource(),
            &[code.expose(), verifier.expose()],
        )
        .await?;
    set.access_token.source = Some(SOURCE);
    Ok(set)
}

/// The system browser (authorization code + PKCE on a loopback redirect), waiting at most
/// `-TimeoutSec` (default [`DEFAULT_SIGN_IN_TIMEOUT`]) for the user.
pub(crate) async fn sign_in(inputs: &SignInInputs<'_>, sink: &dyn EventSink) -> Result<Signed> {
    let start = DelegatedStart::new(inputs)?;
    let credential = BrowserCredential::new(&start.client, start.scopes.clone())?;
    let wait = inputs.timeout.unwrap_or(DEFAULT_SIGN_IN_TIMEOUT);
    let set = browser_sign_in(
        &credential,
        &start.entra,
        inputs.options.test_browser,
        inputs.env,
        wait,
        sink,
    )
    .await?;
    start.finish(inputs, "Browser", set)
}

/// Opens the system browser (or prints the URL where there is none; the test hook follows it
/// instead) and waits, bounded by `timeout`, for the redirect.
async fn browser_sign_in(
    credential: &BrowserCredential,
    entra: &EntraClient,
    test_browser: Option<TestBrowser>,
    env: &dyn Environment,
    timeout: Duration,
    sink: &dyn EventSink,
) -> Result<TokenSet> {
    let pending = credential.start(&entra.authority, None).await?;
    let url = pending.authorize_url().clone();
    match test_browser {
        Some(behaviour) => {
            verbose(
                sink,
                "Test hook: a scripted browser follows the sign-in page.",
            );
            let browse = super::test_browser::follow(url, behaviour);
            let (set, followed) = tokio::join!(pending.complete(entra, timeout), browse);
            if let Err(e) = followed {
                verbose(sink, e.message);
            }
            set
        }
        None => {
            if super::system_browser::open(&url, env).await {
                verbose(
                    sink,
                    format!("Opened the system browser to sign in; waiting for the sign-in to finish (at most {} s).", timeout.as_secs()),
                );
            } else {
                warn(
                    sink,
                    format!(
                        "No browser could be opened here. To sign in, open this page in a browser on this machine: {url} \
                         (or use {} to sign in from another device).",
                        Input::UseDeviceCode
                    ),
                );
            }
            pending.complete(entra, timeout).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::credentials::entra::test_support::*;
    use crate::credentials::Cloud;
    use crate::error::ErrorKind;
    use crate::http::transport::testing::response;
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn scopes() -> Scopes {
        Scopes::delegated(&["User.Read"], "https://graph.microsoft.com").unwrap()
    }

    #[test]
    fn the_authorize_url_carries_pkce_and_state() {
        let authority = Authority::new(Cloud::Global, None, "organizations").unwrap();
        let url = authorize_url(
            &authority,
            CLIENT,
            "http://localhost:5000",
            &scopes(),
            "st",
            "ch",
            Some("admin@contoso.com"),
        );
        assert!(url
            .as_str()
            .starts_with("https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?"));
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], CLIENT);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "http://localhost:5000");
        assert_eq!(q["state"], "st");
        assert_eq!(q["code_challenge"], "ch");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["login_hint"], "admin@contoso.com");
        assert_eq!(q["scope"], scopes().to_request());
    }

    #[tokio::test]
    async fn completes_when_the_browser_lands_on_the_redirect() {
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at", Some("rt")), &[]))]);
        let (mut entra, _) = client(fake);
        entra.clock = Arc::new(SystemClock);
        let pending = BrowserCredential::new(CLIENT, scopes())
            .unwrap()
            .start(&entra.authority, None)
            .await
            .unwrap();
        let q: HashMap<_, _> = pending.authorize_url().query_pairs().into_owned().collect();
        let redirect = format!(
            "{}/?code=auth-code&state={}",
            q["redirect_uri"].replace("localhost", "127.0.0.1"),
            q["state"]
        );
        let browser = tokio::spawn(async move {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(redirect)
                .send()
                .await
                .unwrap()
                .status()
        });
        let redirect_uri = pending.redirect_uri();
        let set = pending
            .complete(&entra, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(browser.await.unwrap(), 200);
        assert_eq!(set.access_token.source, Some(SOURCE));
        let form = form_of(&bodies.lock().unwrap()[0]);
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["code"], "auth-code");
        assert_eq!(form["redirect_uri"], redirect_uri);
        // The verifier sent hashes to the challenge that was in the URL.
        let verifier = Secret::new(form["code_verifier"].clone());
        assert_eq!(Pkce::from_verifier(verifier).challenge, q["code_challenge"]);
    }

    #[tokio::test]
    async fn a_refused_code_is_not_echoed() {
        let (fake, _) = recording(vec![Ok(response(
            400,
            json!({"error":"invalid_grant","error_codes":[70008],
                   "error_description":"AADSTS70008: code the-code-value expired"}),
            &[],
        ))]);
        let (entra, _) = client(fake);
        let e = redeem(
            &entra,
            CLIENT,
            &Secret::new("the-code-value"),
            "http://localhost:1",
            &Secret::new("verifier-value-xyz"),
            &scopes(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
        assert!(!e.message.contains("the-code-value"), "{}", e.message);
    }
}
