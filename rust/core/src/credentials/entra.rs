//! The Entra ID token endpoint client every credential uses: form-encoded POSTs through the
//! injected [`Transport`], bounded in time and size, success bodies parsed into a
//! [`TokenSet`], errors mapped by [`super::entra_error`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::cloud::Authority;
use super::entra_error::{parse_entra_error, EntraError};
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{retry_after, HttpRequest, HttpResponse, Transport};
use crate::input::Input;
use crate::retry::Budget;
use crate::secret::Secret;
use crate::token::{parse_token_response, AccessToken};

/// Whole-request timeout for Entra requests.
pub const ENTRA_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait before the one retry of a transient failure.
pub const RETRY_WAIT: Duration = Duration::from_secs(1);
/// Longest `Retry-After` honoured before the retry.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Largest Entra answer read (tokens with many groups are a few KiB).
pub const MAX_ENTRA_BODY: usize = 1024 * 1024;

/// What a token request returned.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: AccessToken,
    /// Delegated flows only; kept in memory, never written anywhere.
    pub refresh_token: Option<Secret>,
    /// The granted scopes (`scope`), when the server says.
    pub granted_scopes: Vec<String>,
}

/// Parses a token success body (`access_token`, `expires_in`, optional `refresh_token`,
/// `scope`). `resource` is the resource requested; `now` when the request was sent.
pub fn parse_token_set(body: &[u8], resource: &str, now: u64, target: &str) -> Result<TokenSet> {
    let access_token = parse_token_response(body, resource, now, target)?;
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let refresh_token = value
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    let granted_scopes = value
        .get("scope")
        .and_then(Value::as_str)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    Ok(TokenSet {
        access_token,
        refresh_token,
        granted_scopes,
    })
}

/// An Entra authority plus the transport and clock to reach it.
#[derive(Clone)]
pub struct EntraClient {
    pub transport: Arc<dyn Transport>,
    pub clock: SharedClock,
    pub authority: Authority,
}

/// A POST's outcome before success/error interpretation.
pub enum FormOutcome {
    Success(HttpResponse),
    Refused(EntraError),
}

impl EntraClient {
    pub fn new(transport: Arc<dyn Transport>, clock: SharedClock, authority: Authority) -> Self {
        Self {
            transport,
            clock,
            authority,
        }
    }

    /// "Microsoft Entra ID at https://host/": what error messages call the authority.
    pub fn target(&self) -> String {
        format!("Microsoft Entra ID at {}", self.authority.host())
    }

    /// POSTs a form; a 2xx is `Success`, any other status `Refused` (parsed, not yet mapped).
    /// A transient failure (no answer, 5xx, 429) is retried once, as MSAL does, after the
    /// server's `Retry-After` (at most [`MAX_RETRY_WAIT`]) or [`RETRY_WAIT`].
    pub async fn post_form(&self, url: Url, form: &[(&str, &str)]) -> Result<FormOutcome> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish()
            .into_bytes();
        // Two attempts; the waits are bounded by MAX_RETRY_WAIT, so no time budget is needed.
        let outcome = crate::retry::drive(
            self.clock.as_ref(),
            Budget::new(2, Duration::MAX),
            |_| self.send_once(url.clone(), body.clone()),
            |outcome, _| match outcome {
                Ok(response) if response.is_success() || !is_transient(response.status) => None,
                Ok(response) => Some(
                    retry_after(&response.headers, self.clock.now())
                        .map_or(RETRY_WAIT, |w| w.min(MAX_RETRY_WAIT)),
                ),
                Err(_) => Some(RETRY_WAIT),
            },
        )
        .await;
        match outcome {
            Ok(response) if response.is_success() => Ok(FormOutcome::Success(response)),
            Ok(response) => Ok(FormOutcome::Refused(parse_entra_error(
                response.status,
                &response.body,
            ))),
            Err(e) => Err(e.to_error(&self.target())),
        }
    }

    async fn send_once(
        &self,
        url: Url,
        body: Vec<u8>,
    ) -> std::result::Result<HttpResponse, crate::http::TransportError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        self.transport
            .send(HttpRequest {
                method: Method::POST,
                url,
                headers,
                body: Some(body),
                timeout: ENTRA_REQUEST_TIMEOUT,
                max_body_bytes: Some(MAX_ENTRA_BODY),
                tls_pin: None,
            })
            .await
    }

    /// POSTs a token request to the token endpoint. `resource` is what the token is for;
    /// `secrets` are the secret form values (scrubbed from any error).
    pub async fn request_token(
        &self,
        form: &[(&str, &str)],
        resource: &str,
        secrets: &[&str],
    ) -> Result<TokenSet> {
        let now = self.clock.now_unix();
        match self
            .post_form(self.authority.token_endpoint(), form)
            .await?
        {
            FormOutcome::Success(response) => {
                parse_token_set(&response.body, resource, now, &self.target())
            }
            FormOutcome::Refused(error) => Err(error.to_error(&self.target(), secrets)),
        }
    }
}

fn is_transient(status: u16) -> bool {
    status == 429 || status == 408 || (500..600).contains(&status)
}

/// A client id is a GUID or an app id URI-free name: letters, digits and `-` only (it goes
/// into forms and URLs).
pub fn validate_client_id(raw: &str) -> Result<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} '{}' is not an application (client) id",
                Input::ClientId,
                id.escape_debug()
            ),
        ));
    }
    Ok(id.to_string())
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared helpers for the credential tests.

    use super::*;
    use crate::clock::FakeClock;
    use crate::credentials::cloud::Cloud;
    use crate::http::transport::testing::{FakeTransport, Reply};

    /// The request bodies a [`recording`] transport kept.
    pub type Bodies = Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

    pub const TENANT: &str = "7d1f3c2a-5b4e-4c6d-8e9f-0a1b2c3d4e5f";
    pub const CLIENT: &str = "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01";
    pub const NOW: u64 = 1_800_000_000;

    pub fn client(transport: Arc<FakeTransport>) -> (EntraClient, FakeClock) {
        let clock = FakeClock::at_unix(NOW);
        let authority =
            Authority::new(Cloud::Global, Some("https://login.example.test"), TENANT).unwrap();
        (
            EntraClient::new(transport, Arc::new(clock.clone()), authority),
            clock,
        )
    }

    /// A fake transport answering `replies` in order (then the last again) that also keeps
    /// every request body (form bodies are not JSON, so `Call::body` misses them).
    pub fn recording(replies: Vec<Reply>) -> (Arc<FakeTransport>, Bodies) {
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let fake = FakeTransport::new(move |req, i| {
            kept.lock()
                .unwrap()
                .push(req.body.clone().unwrap_or_default());
            replies
                .get(i)
                .or_else(|| replies.last())
                .cloned()
                .unwrap_or_else(|| Err(crate::http::TransportError::broken("no reply")))
        });
        (fake, bodies)
    }

    /// The form fields of a recorded request body.
    pub fn form_of(body: &[u8]) -> std::collections::HashMap<String, String> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    pub fn token_body(access: &str, refresh: Option<&str>) -> Value {
        let mut v = serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": access,
        });
        if let Some(r) = refresh {
            v["refresh_token"] = r.into();
            v["scope"] = "https://graph.microsoft.com/User.Read openid".into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::http::transport::testing::{raw, response};
    use crate::http::TransportError;
    use serde_json::json;

    #[test]
    fn token_sets_parse_refresh_tokens_and_scopes() {
        let body = serde_json::to_vec(&token_body("at", Some("rt"))).unwrap();
        let set = parse_token_set(&body, "https://graph.microsoft.com", NOW, "E").unwrap();
        assert_eq!(set.access_token.expires_on, NOW + 3599);
        assert_eq!(set.refresh_token.as_ref().unwrap().expose(), "rt");
        assert_eq!(set.granted_scopes.len(), 2);
        let body = serde_json::to_vec(&token_body("at", None)).unwrap();
        assert!(parse_token_set(&body, "r", NOW, "E")
            .unwrap()
            .refresh_token
            .is_none());
        assert!(parse_token_set(b"{}", "r", NOW, "E").is_err());
    }

    #[tokio::test]
    async fn form_posts_are_encoded_and_errors_mapped() {
        let (fake, bodies) = recording(vec![
            Ok(response(200, token_body("at", None), &[])),
            Ok(response(
                400,
                json!({"error":"invalid_tenant","error_codes":[90002],"error_description":"AADSTS90002: no"}),
                &[],
            )),
            Ok(raw(503, b"down")),
            Ok(raw(503, b"still down")),
            Err(TransportError::Timeout),
            Err(TransportError::Timeout),
            Ok(response(429, json!({}), &[("Retry-After", "7")])),
            Ok(response(200, token_body("at-2", None), &[])),
        ]);
        let (entra, clock) = client(fake.clone());
        let form = [("grant_type", "client_credentials"), ("scope", "a b&c")];
        let set = entra.request_token(&form, "r", &[]).await.unwrap();
        assert_eq!(set.access_token.secret.expose(), "at");
        let calls = fake.calls();
        assert_eq!(calls[0].method, Method::POST);
        assert_eq!(
            calls[0].url,
            format!("https://login.example.test/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(
            calls[0].headers[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        let body = bodies.lock().unwrap()[0].clone();
        assert_eq!(body, b"grant_type=client_credentials&scope=a+b%26c");
        let e = entra.request_token(&form, "r", &[]).await.unwrap_err();
        assert!(e.message.contains("AADSTS90002"), "{}", e.message);
        let e = entra.request_token(&form, "r", &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::ServiceError);
        let e = entra.request_token(&form, "r", &[]).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        // A throttled answer is retried once after its Retry-After.
        let set = entra.request_token(&form, "r", &[]).await.unwrap();
        assert_eq!(set.access_token.secret.expose(), "at-2");
        assert_eq!(fake.calls().len(), 8);
        assert_eq!(
            clock.sleeps(),
            [1, 1, 7].map(Duration::from_secs).to_vec(),
            "one retry per transient failure; 400 is not retried"
        );
    }

    #[test]
    fn client_ids_are_validated() {
        assert!(validate_client_id(CLIENT).is_ok());
        assert!(validate_client_id("a&b=c").is_err());
        assert!(validate_client_id("").is_err());
    }
}
