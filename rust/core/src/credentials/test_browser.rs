//! Test hook only (engine started with `MANAGEDIDENTITY_ENGINE_TEST_HOOKS=1` and
//! `MANAGEDIDENTITY_TEST_ONLY_BROWSER` set): a scripted "browser" that follows the emulator's
//! `/authorize` answer (a 302 to the loopback redirect) and requests the redirect, optionally
//! with a forged `state`. Loopback only; never used by a production engine.

use url::Url;

use crate::error::{Error, Result};

/// What the test "browser" does with the authorize URL (engine test hooks only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBrowser {
    /// Follows `/authorize` to the loopback redirect, as a browser would.
    Follow,
    /// Follows it but alters the `state` of the redirect (a forged answer).
    WrongState,
}

/// Follows `authorize_url` to the loopback listener.
pub async fn follow(authorize_url: Url, behaviour: TestBrowser) -> Result<()> {
    if !crate::http::is_loopback_host(&authorize_url) {
        return Err(Error::invalid_argument(
            "the test browser only follows loopback authorize URLs",
        ));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| Error::internal(format!("test browser: {e}")))?;
    let answer = client
        .get(authorize_url)
        .send()
        .await
        .map_err(|e| Error::internal(format!("test browser: {e}")))?;
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::internal("test browser: /authorize did not redirect"))?;
    let mut redirect = Url::parse(&location.replace("//localhost:", "//127.0.0.1:"))
        .map_err(|e| Error::internal(format!("test browser: {e}")))?;
    if behaviour == TestBrowser::WrongState {
        let pairs: Vec<(String, String)> = redirect
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "state" {
                    "forged-state".into()
                } else {
                    v
                };
                (k.into_owned(), v.into_owned())
            })
            .collect();
        redirect.query_pairs_mut().clear().extend_pairs(pairs);
    }
    client
        .get(redirect)
        .send()
        .await
        .map_err(|e| Error::internal(format!("test browser: {e}")))?;
    Ok(())
}
