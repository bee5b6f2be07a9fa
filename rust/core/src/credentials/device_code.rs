//! Device code sign-in (RFC 8628, Entra v2): request a code, surface the server's message as a
//! Warning event (as `Connect-MgGraph -UseDeviceCode` prints it), then poll the token endpoint at
//! the server's interval: `authorization_pending` keeps polling, `slow_down` adds 5 s,
//! `expired_token`/`code_expired` and `access_denied`/`authorization_declined` end it. Bounded by
//! `expires_in`, paced by the injected clock, cancelled by dropping the future.

use std::time::Duration;

use serde_json::Value;

use super::entra::{parse_token_set, validate_client_id, EntraClient, FormOutcome, TokenSet};
use super::refresh::DelegatedStart;
use super::scopes::Scopes;
use super::sign_in::{SignInInputs, Signed};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{self, EventSink};
use crate::secret::Secret;

pub const SOURCE: &str = "DeviceCode";
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §3.5: `slow_down` adds 5 seconds to the interval.
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Used when the server sends no interval (RFC 8628 §3.2).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Upper bounds on what a server may ask for.
pub const MAX_INTERVAL: Duration = Duration::from_secs(60);
pub const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// The device authorization answer. `device_code` is a secret (it redeems the sign-in).
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub message: String,
    pub interval: Duration,
    pub expires_in: Duration,
}

/// Parses the device authorization answer.
pub fn parse_device_code(body: &[u8], target: &str) -> Result<DeviceCode> {
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            format!("{target} answered the device code request but {what}"),
        )
    };
    let v: Value =
        serde_json::from_slice(body).map_err(|_| invalid("the body is not a JSON object"))?;
    let text = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let seconds = |name: &str| {
        v.get(name).and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.trim().parse().ok()))
        })
    };
    let device_code = text("device_code").ok_or_else(|| invalid("it has no device_code"))?;
    let user_code = text("user_code").ok_or_else(|| invalid("it has no user_code"))?;
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .ok_or_else(|| invalid("it has no verification_uri"))?;
    let expires_in = seconds("expires_in").ok_or_else(|| invalid("it has no expires_in"))?;
    let interval = seconds("interval")
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_INTERVAL)
        .clamp(Duration::from_secs(1), MAX_INTERVAL);
    let message = text("message").unwrap_or_else(|| {
        format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate.")
    });
    Ok(DeviceCode {
        device_code: Secret::new(device_code),
        user_code,
        verification_uri,
        message,
        interval,
        expires_in: Duration::from_secs(expires_in).min(MAX_LIFETIME),
    })
}

/// What one poll's refusal means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollVerdict {
    Pending,
    SlowDown,
    Expired,
    Denied,
    Failed,
}

/// Classifies a polling error code (pure).
pub fn poll_verdict(error: Option<&str>) -> PollVerdict {
    match error {
        Some("authorization_pending") => PollVerdict::Pending,
        Some("slow_down") => PollVerdict::SlowDown,
        Some("expired_token" | "code_expired") => PollVerdict::Expired,
        Some("access_denied" | "authorization_declined") => PollVerdict::Denied,
        _ => PollVerdict::Failed,
    }
}

#[derive(Debug, Clone)]
pub struct DeviceCodeCredential {
    client_id: String,
    scopes: Scopes,
}

impl DeviceCodeCredential {
    /// `client_id` is the public client application; `scopes` from [`Scopes::delegated`].
    pub fn new(client_id: &str, scopes: Scopes) -> Result<Self> {
        Ok(Self {
            client_id: validate_client_id(client_id)?,
            scopes,
        })
    }

    /// Runs the whole flow; the sign-in message goes to `sink` as a Warning event.
    pub async fn sign_in(&self, entra: &EntraClient, sink: &dyn EventSink) -> Result<TokenSet> {
        let scope = self.scopes.to_request();
        let code = match entra
            .post_form(
                entra.authority.device_code_endpoint(),
                &[("client_id", self.client_id.as_str()), ("scope", &scope)],
            )
            .await?
        {
            FormOutcome::Success(response) => parse_device_code(&response.body, &entra.target())?,
            FormOutcome::Refused(error) => return Err(error.to_error(&entra.target(), &[])),
        };
        events::warn(sink, code.message.clone());
        self.poll(entra, &code).await
    }

    /// Polls until the user finishes, the code expires or the caller drops the future.
    pub async fn poll(&self, entra: &EntraClient, code: &DeviceCode) -> Result<TokenSet> {
        let clock = &entra.clock;
        let started = clock.now();
        let mut interval = code.interval;
        let resource = self.scopes.resource();
        loop {
            let elapsed = clock.now().duration_since(started).unwrap_or_default();
            if elapsed + interval > code.expires_in {
                return Err(expired());
            }
            clock.sleep(interval).await;
            let form = [
                ("grant_type", DEVICE_CODE_GRANT),
                ("client_id", self.client_id.as_str()),
                ("device_code", code.device_code.expose()),
            ];
            let sent = clock.now_unix();
            match entra
                .post_form(entra.authority.token_endpoint(), &form)
                .await?
            {
                FormOutcome::Success(response) => {
                    let mut set =
                        parse_token_set(&response.body, &resource, sent, &entra.target())?;
                    set.access_token.source = Some(SOURCE);
                    return Ok(set);
                }
                FormOutcome::Refused(error) => match poll_verdict(error.error.as_deref()) {
                    PollVerdict::Pending => {}
                    PollVerdict::SlowDown => {
                        interval = (interval + SLOW_DOWN_STEP).min(MAX_INTERVAL)
                    }
                    PollVerdict::Expired => return Err(expired()),
                    PollVerdict::Denied => {
                        return Err(Error::new(
                            ErrorKind::AuthenticationFailed,
                            "the device code sign-in was declined by the user",
                        ))
                    }
                    PollVerdict::Failed => {
                        return Err(error.to_error(&entra.target(), &[code.device_code.expose()]))
                    }
                },
            }
        }
    }
}

fn expired() -> Error {
    Error::new(
        ErrorKind::Timeout,
        "the device code expired before the sign-in was completed; run the command again",
    )
}

/// `-UseDeviceCode`: the user signs in on another device with the code shown (through `sink`).
pub(crate) async fn sign_in(inputs: &SignInInputs<'_>, sink: &dyn EventSink) -> Result<Signed> {
    let start = DelegatedStart::new(inputs)?;
    let credential = DeviceCodeCredential::new(&start.client, start.scopes.clone())?;
    let set = credential.sign_in(&start.entra, sink).await?;
    start.finish(inputs, "DeviceCode", set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::entra::test_support::*;
    use crate::events::{Event, VecSink};
    use crate::http::transport::testing::response;
    use serde_json::json;

    fn scopes() -> Scopes {
        Scopes::delegated(&["User.Read"], "https://graph.microsoft.com").unwrap()
    }

    fn device_answer(interval: u64, expires_in: u64) -> crate::http::transport::testing::Reply {
        Ok(response(
            200,
            json!({"device_code":"DEVICE-SECRET","user_code":"ABCD-EFGH",
                   "verification_uri":"https://microsoft.com/devicelogin",
                   "expires_in":expires_in,"interval":interval,
                   "message":"To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH."}),
            &[],
        ))
    }

    fn refusal(error: &str) -> crate::http::transport::testing::Reply {
        Ok(response(
            400,
            json!({"error":error,"error_description":format!("AADSTS70016: {error}"),"error_codes":[70016]}),
            &[],
        ))
    }

    #[tokio::test]
    async fn polls_at_the_interval_honours_slow_down_and_returns_tokens() {
        let (fake, bodies) = recording(vec![
            device_answer(5, 900),
            refusal("authorization_pending"),
            refusal("slow_down"),
            refusal("authorization_pending"),
            Ok(response(200, token_body("at", Some("rt")), &[])),
        ]);
        let (entra, clock) = client(fake);
        let sink = VecSink::default();
        let cred = DeviceCodeCredential::new(CLIENT, scopes()).unwrap();
        let set = cred.sign_in(&entra, &sink).await.unwrap();
        assert_eq!(set.access_token.source, Some(SOURCE));
        assert_eq!(set.refresh_token.unwrap().expose(), "rt");
        assert_eq!(
            clock.sleeps(),
            [5, 5, 10, 10].map(Duration::from_secs).to_vec()
        );
        assert_eq!(
            sink.events(),
            vec![Event::Warning {
                message: "To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH."
                    .into()
            }]
        );
        let bodies = bodies.lock().unwrap();
        let first = form_of(&bodies[0]);
        assert_eq!(first["client_id"], CLIENT);
        assert_eq!(first["scope"], scopes().to_request());
        let poll = form_of(&bodies[1]);
        assert_eq!(poll["grant_type"], DEVICE_CODE_GRANT);
        assert_eq!(poll["device_code"], "DEVICE-SECRET");
    }

    #[tokio::test]
    async fn a_declined_sign_in_and_an_expired_code_end_the_flow() {
        for (error, kind) in [
            ("authorization_declined", ErrorKind::AuthenticationFailed),
            ("access_denied", ErrorKind::AuthenticationFailed),
            ("expired_token", ErrorKind::Timeout),
            ("invalid_grant", ErrorKind::AuthenticationFailed),
        ] {
            let (fake, _) = recording(vec![device_answer(5, 900), refusal(error)]);
            let (entra, _) = client(fake);
            let cred = DeviceCodeCredential::new(CLIENT, scopes()).unwrap();
            let e = cred.sign_in(&entra, &VecSink::default()).await.unwrap_err();
            assert_eq!(e.kind, kind, "{error}: {}", e.message);
            assert!(!e.message.contains("DEVICE-SECRET"));
        }
    }

    #[tokio::test]
    async fn polling_stops_when_expires_in_runs_out() {
        let (fake, bodies) =
            recording(vec![device_answer(5, 22), refusal("authorization_pending")]);
        let (entra, clock) = client(fake);
        let cred = DeviceCodeCredential::new(CLIENT, scopes()).unwrap();
        let e = cred.sign_in(&entra, &VecSink::default()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        // Polls at 5, 10, 15, 20 s; a fifth at 25 s would be past the 22 s lifetime.
        assert_eq!(clock.sleeps().len(), 4);
        assert_eq!(bodies.lock().unwrap().len(), 5);
    }

    #[test]
    fn device_answers_are_parsed_and_bounded() {
        let body = br#"{"device_code":"d","user_code":"u","verification_uri":"https://v","expires_in":"99999","interval":0}"#;
        let code = parse_device_code(body, "E").unwrap();
        assert_eq!(code.interval, Duration::from_secs(1));
        assert_eq!(code.expires_in, MAX_LIFETIME);
        assert!(code.message.contains("https://v") && code.message.contains('u'));
        assert!(!format!("{code:?}").contains("\"d\""));
        assert!(parse_device_code(br#"{"user_code":"u"}"#, "E").is_err());
        assert!(parse_device_code(b"nope", "E").is_err());
        assert_eq!(poll_verdict(Some("code_expired")), PollVerdict::Expired);
        assert_eq!(poll_verdict(None), PollVerdict::Failed);
    }
}
