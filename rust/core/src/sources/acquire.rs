//! One token acquisition from a managed-identity source: one attempt = one HTTP request through
//! the [`Transport`] seam (two for Azure Arc: the challenge, then the request with the key);
//! answers are judged here (token, typed error, retriable or not) and the retries run in
//! [`crate::retry::run`] under the source's policy.

use std::time::Duration;

use serde_json::json;

use super::diagnostics::identity_not_found;
use super::first_contact::{FirstContact, FIRST_CONTACT_TIMEOUT};
use super::redact::error_text;
use super::unknown_resource::{is_final, is_unknown_resource, unknown_resource};
use super::{IdentitySelector, ManagedSource, PreparedRequest};
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{verbose, EventSink};
use crate::http::{HttpRequest, HttpResponse, Transport, TransportError};
use crate::retry::{self, Attempt, Failure, RetryPolicy};
use crate::secret::Secret;
use crate::token::{parse_token_response, AccessToken};

/// Largest token-endpoint answer read into memory.
pub const MAX_BODY_BYTES: usize = 1 << 20;

impl ManagedSource {
    /// Requests a token (with retries) for `resource`; never consults the cache.
    pub async fn acquire(
        &self,
        transport: &dyn Transport,
        clock: &dyn Clock,
        resource: &str,
        selector: &IdentitySelector,
        timeout: Duration,
        sink: &dyn EventSink,
    ) -> Result<AccessToken> {
        self.acquire_replacing(
            transport, clock, None, resource, selector, timeout, sink, None,
        )
        .await
    }

    /// As [`Self::acquire`]; with `contact`, the first request to an IMDS endpoint that has not
    /// answered in this process is bounded as [`super::first_contact`] describes. With
    /// `replacing` (the token the caller holds), a source that
    /// keeps a platform-side cache the client can invalidate (App Service, Service Fabric: see
    /// [`ManagedSource::can_replace_cached_token`]) is asked for a new token instead of its
    /// cached one, as MSAL asks: `token_sha256_to_refresh` (the old token's SHA-256) and the
    /// client capability `xms_cc=cp1`. Other sources send the plain request.
    #[allow(clippy::too_many_arguments)]
    pub async fn acquire_replacing(
        &self,
        transport: &dyn Transport,
        clock: &dyn Clock,
        contact: Option<&FirstContact>,
        resource: &str,
        selector: &IdentitySelector,
        timeout: Duration,
        sink: &dyn EventSink,
        replacing: Option<&Secret>,
    ) -> Result<AccessToken> {
        let contact = contact.filter(|_| self.source().first_contact_probe().is_some());
        let mut request = self.prepare(resource, selector)?;
        if let Some(old) = replacing.filter(|_| self.can_replace_cached_token()) {
            request
                .url
                .query_pairs_mut()
                .append_pair("xms_cc", "cp1")
                .append_pair("token_sha256_to_refresh", &sha256_hex(old.expose()));
        }
        let plan = Acquisition {
            contact,
            source: self,
            transport,
            clock,
            request,
            resource,
            selector,
            target: self.target(),
            policy: self.policy(),
        };
        verbose(
            sink,
            format!(
                "Requesting a token for {resource} for {} from {}.",
                selector.describe(),
                plan.target
            ),
        );
        let on_retry = |line: String| verbose(sink, line);
        let plan = &plan;
        let mut token = retry::run(&plan.policy, clock, timeout, &plan.target, &on_retry, |t| {
            plan.attempt(t)
        })
        .await?;
        token.source = Some(self.kind().name());
        Ok(token)
    }

    /// The platform keeps a cache of issued tokens that a client may ask it to skip for one
    /// token (`token_sha256_to_refresh`): App Service and Functions, and Service Fabric, where
    /// MSAL sends it. Azure Automation's endpoint, IMDS, Arc, Cloud Shell and Azure ML do not
    /// take it: their cached token is handed back until it expires.
    pub fn can_replace_cached_token(&self) -> bool {
        self.source().can_replace_cached_token()
    }

    fn transport_failure(
        &self,
        err: TransportError,
        target: &str,
        timeout: Duration,
    ) -> Attempt<AccessToken> {
        match err {
            TransportError::Connect {
                refused,
                timed_out,
                cause,
            } => Attempt::Fatal(
                Error::new(
                    ErrorKind::EndpointUnavailable,
                    format!(
                        "No managed-identity endpoint answers at {target} ({}). {}",
                        if refused {
                            "connection refused".to_string()
                        } else if timed_out {
                            "no connection within the time allowed".to_string()
                        } else {
                            format!("cannot connect: {cause}")
                        },
                        self.source().unreachable_hint()
                    ),
                )
                .with_details(json!({"source": self.kind().name(), "endpoint": self.endpoint()})),
            ),
            TransportError::Timeout => Attempt::Retriable {
                failure: Failure::Timeout,
                error: Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{target} did not answer within {} s.",
                        timeout.as_secs_f64().ceil() as u64
                    ),
                ),
                retry_after: None,
            },
            TransportError::TooLarge { status, .. } => Attempt::Fatal(Error::new(
                ErrorKind::InvalidResponse,
                format!("{target} answered HTTP {status} with more than {MAX_BODY_BYTES} bytes"),
            )),
            broken @ TransportError::Broken { .. } => {
                let mut error = broken.to_error(target);
                error.kind = ErrorKind::ConnectionFailed;
                Attempt::Fatal(error)
            }
            untrusted @ TransportError::Untrusted { .. } => {
                let mut error = untrusted.to_error(target);
                if let Some(message) = self.source().untrusted_message(target) {
                    error.message = message;
                }
                Attempt::Fatal(error.with_details(
                    json!({"source": self.kind().name(), "endpoint": self.endpoint()}),
                ))
            }
        }
    }

    /// The typed error for a non-success answer; `key` is the Arc key sent (redacted too).
    fn status_error(
        &self,
        status: u16,
        body: &[u8],
        selector: &IdentitySelector,
        resource: &str,
        target: &str,
        key: Option<&Secret>,
    ) -> Error {
        let text = error_text(body, key.or(self.secret()));
        let details =
            json!({"status": status, "source": self.kind().name(), "endpoint": self.endpoint()});
        if self.is_identity_not_found(status, body) {
            return identity_not_found(self.kind(), selector, target, status, &text)
                .with_details(details);
        }
        if is_unknown_resource(status, body) {
            return unknown_resource(resource, target, status, &text).with_details(details);
        }
        // The source's own reading (a refused secret, IMDS being updated) comes first.
        let (kind, what) = match (self.source().status_meaning(status), status) {
            (Some(meaning), _) => meaning,
            (None, 403) if text.to_ascii_lowercase().contains("unreachable") => {
                return Error::new(
                    ErrorKind::EndpointUnavailable,
                    format!(
                    "No managed-identity endpoint is reachable at {target} (HTTP 403: {text}). {}",
                    self.source().unreachable_hint()
                ),
                )
                .with_details(details)
            }
            (None, 429) => (ErrorKind::Throttled, "is throttling requests"),
            (None, 400) => (ErrorKind::ServiceError, "rejected the request"),
            (None, 502 | 504) => (ErrorKind::ServiceError, "reported a gateway error"),
            (None, 500..=599) => (ErrorKind::ServiceError, "failed"),
            (None, _) => (ErrorKind::ServiceError, "answered an unexpected status"),
        };
        Error::new(kind, format!("{target} {what} (HTTP {status}: {text}).")).with_details(details)
    }
}

/// One token acquisition: the request to repeat and how to judge each answer.
struct Acquisition<'a> {
    source: &'a ManagedSource,
    /// Set for IMDS: the process's memory of endpoints that answered.
    contact: Option<&'a FirstContact>,
    transport: &'a dyn Transport,
    clock: &'a dyn Clock,
    request: PreparedRequest,
    resource: &'a str,
    selector: &'a IdentitySelector,
    target: String,
    policy: RetryPolicy,
}

impl Acquisition<'_> {
    async fn attempt(&self, timeout: Duration) -> Attempt<AccessToken> {
        let sent_at = self.clock.now_unix();
        let url = &self.request.url;
        let first_contact = self.contact.filter(|c| !c.answered(url));
        let bounded = first_contact.map_or(timeout, |c| c.attempt_timeout(url, timeout));
        let response = match self.send(&self.request, bounded).await {
            Ok(response) => {
                if let Some(contact) = self.contact {
                    contact.remember(url);
                }
                response
            }
            Err(TransportError::Timeout) if first_contact.is_some() => {
                return self
                    .after_silent_first_contact(timeout.saturating_sub(bounded))
                    .await;
            }
            Err(err) => return self.source.transport_failure(err, &self.target, timeout),
        };
        match self
            .source
            .source()
            .answer_challenge(&response, &self.request, &self.target)
        {
            Some(second) => self.second_leg(second, sent_at, timeout).await,
            None => self.judge(response, sent_at, None),
        }
    }

    async fn send(
        &self,
        prepared: &PreparedRequest,
        timeout: Duration,
    ) -> std::result::Result<HttpResponse, TransportError> {
        let request = HttpRequest {
            method: prepared.method.clone(),
            url: prepared.url.clone(),
            headers: prepared.headers.clone(),
            body: prepared.body.clone(),
            timeout,
            max_body_bytes: Some(MAX_BODY_BYTES),
            tls_pin: prepared.tls_pin,
        };
        self.transport.send(request).await
    }

    /// A challenged first request (Azure Arc: the 401 names a key file, checked and only then
    /// read by [`super::arc::ArcSource::read_key`]) is repeated with the key. A refused or
    /// missing challenge ends the acquisition without a second request.
    async fn second_leg(
        &self,
        second: Result<(Secret, PreparedRequest)>,
        sent_at: u64,
        timeout: Duration,
    ) -> Attempt<AccessToken> {
        let (key, request) = match second {
            Ok(second) => second,
            Err(error) => return Attempt::Fatal(error),
        };
        match self.send(&request, timeout).await {
            Ok(response) => self.judge(response, sent_at, Some(&key)),
            Err(err) => self.source.transport_failure(err, &self.target, timeout),
        }
    }

    /// The first request to IMDS got no answer within [`FIRST_CONTACT_TIMEOUT`]: one short
    /// probe without `Metadata` (answered at once by a real IMDS) tells a slow IMDS, which is
    /// retried with the normal timeouts, from no endpoint at all.
    async fn after_silent_first_contact(&self, left: Duration) -> Attempt<AccessToken> {
        let (source, target) = (self.source, self.target.as_str());
        let probe_timeout = left.min(FIRST_CONTACT_TIMEOUT);
        let answered = match (self.source.source().first_contact_probe(), self.contact) {
            (Some(probe_url), Some(contact)) if !probe_timeout.is_zero() => {
                let probe = HttpRequest::get(probe_url, Default::default(), probe_timeout);
                let answered = self.transport.send(probe).await.is_ok();
                if answered {
                    contact.remember(&self.request.url);
                }
                answered
            }
            _ => false,
        };
        if answered {
            return Attempt::Retriable {
                failure: Failure::Timeout,
                error: Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{target} is there but did not answer the first token request within {} s.",
                        FIRST_CONTACT_TIMEOUT.as_secs()
                    ),
                ),
                retry_after: None,
            };
        }
        Attempt::Fatal(
            Error::new(
                ErrorKind::EndpointUnavailable,
                format!(
                    "No managed-identity endpoint answers at {target} (no answer within {} s of first contact). {}",
                    FIRST_CONTACT_TIMEOUT.as_secs(),
                    source.source().unreachable_hint()
                ),
            )
            .with_details(json!({"source": source.kind().name(), "endpoint": source.endpoint()})),
        )
    }

    /// A token, a fatal error, or a retriable one. An answer that says the identity is not
    /// assigned here is never retried, whatever its status (issue 8.6).
    fn judge(
        &self,
        response: HttpResponse,
        sent_at: u64,
        key: Option<&Secret>,
    ) -> Attempt<AccessToken> {
        let target = self.target.as_str();
        let status = response.status;
        if response.is_success() {
            return match parse_token_response(&response.body, self.resource, sent_at, target) {
                Ok(token) => Attempt::Success(token),
                Err(error) => Attempt::Fatal(error),
            };
        }
        let retry_after = crate::http::retry_after(&response.headers, self.clock.now());
        let error = self.source.status_error(
            status,
            &response.body,
            self.selector,
            self.resource,
            target,
            key,
        );
        // Neither a missing identity nor an unknown resource changes on a retry (issue 8).
        let not_found = error.kind == ErrorKind::IdentityNotFound
            || (error.kind == ErrorKind::UnknownResource && is_final(status));
        if self.policy.retries_status(status) && !not_found {
            Attempt::Retriable {
                failure: Failure::Status(status),
                error,
                retry_after,
            }
        } else {
            Attempt::Fatal(error)
        }
    }
}

/// Lowercase hex SHA-256 of a token's UTF-8 bytes (what `token_sha256_to_refresh` carries).
pub fn sha256_hex(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::Value;

    use super::*;
    use crate::clock::FakeClock;
    use crate::events::VecSink;
    use crate::http::transport::testing::{raw, response, FakeTransport, Reply};
    use crate::secret::Secret;
    use crate::sources::app_service::AppServiceSource;
    use crate::sources::imds::ImdsSource;

    const NOW: u64 = 1_700_000_000;
    const S: fn(u64) -> Duration = Duration::from_secs;

    fn token_body() -> Value {
        json!({"access_token": "tok-abc", "expires_on": (NOW + 3600).to_string(), "resource": "https://graph.microsoft.com", "token_type": "Bearer"})
    }

    fn imds() -> ManagedSource {
        ManagedSource::new(ImdsSource::with_authority_host("http://127.0.0.1:9").expect("imds"))
    }

    fn app_service() -> ManagedSource {
        ManagedSource::new(
            AppServiceSource::new("http://127.0.0.1:9/msi/token", Secret::new("hdr-x"), false)
                .expect("app service"),
        )
    }

    async fn acquire(
        source: &ManagedSource,
        replies: Vec<Reply>,
        selector: IdentitySelector,
    ) -> (Result<AccessToken>, Arc<FakeTransport>, FakeClock) {
        let transport = FakeTransport::script(replies);
        let clock = FakeClock::at_unix(NOW);
        let result = source
            .acquire(
                transport.as_ref(),
                &clock,
                "https://graph.microsoft.com",
                &selector,
                S(100),
                &VecSink::default(),
            )
            .await;
        (result, transport, clock)
    }

    async fn acquire_first_contact(
        contact: &FirstContact,
        replies: Vec<Reply>,
    ) -> (Result<AccessToken>, Arc<FakeTransport>) {
        let transport = FakeTransport::script(replies);
        let clock = FakeClock::at_unix(NOW);
        let result = imds()
            .acquire_replacing(
                transport.as_ref(),
                &clock,
                Some(contact),
                "https://graph.microsoft.com",
                &IdentitySelector::SystemAssigned,
                S(100),
                &VecSink::default(),
                None,
            )
            .await;
        (result, transport)
    }

    #[tokio::test]
    async fn imds_first_contact_is_bounded_then_normal_timeouts_apply() {
        let contact = FirstContact::new();
        let (token, t) =
            acquire_first_contact(&contact, vec![Ok(response(200, token_body(), &[]))]).await;
        assert!(token.is_ok(), "{token:?}");
        assert_eq!(t.calls()[0].timeout, FIRST_CONTACT_TIMEOUT);
        let (token, t) =
            acquire_first_contact(&contact, vec![Ok(response(200, token_body(), &[]))]).await;
        assert!(token.is_ok(), "{token:?}");
        assert_eq!(
            t.calls()[0].timeout,
            retry::MAX_ATTEMPT_TIMEOUT,
            "remembered"
        );
    }

    #[tokio::test]
    async fn imds_silent_at_first_contact_means_no_endpoint() {
        let contact = FirstContact::new();
        let (token, t) = acquire_first_contact(
            &contact,
            vec![Err(TransportError::Timeout), Err(TransportError::Timeout)],
        )
        .await;
        let e = token.expect_err("no IMDS");
        assert_eq!(e.kind, ErrorKind::EndpointUnavailable, "{e:?}");
        let calls = t.calls();
        assert_eq!(calls.len(), 2, "the token request and one probe");
        assert!(calls.iter().all(|c| c.timeout <= FIRST_CONTACT_TIMEOUT));
        assert!(!calls[1].headers.contains_key("metadata"), "probe");
        // Nothing answered, so nothing is remembered: the next connect is bounded again.
        let (_, t) = acquire_first_contact(&contact, vec![Err(TransportError::Timeout)]).await;
        assert_eq!(t.calls()[0].timeout, FIRST_CONTACT_TIMEOUT);
    }

    #[tokio::test]
    async fn a_slow_but_real_imds_still_gives_a_token() {
        let contact = FirstContact::new();
        let (token, t) = acquire_first_contact(
            &contact,
            vec![
                Err(TransportError::Timeout),
                Ok(response(400, json!({"error": "bad_request_102"}), &[])),
                Ok(response(200, token_body(), &[])),
            ],
        )
        .await;
        assert!(token.is_ok(), "{token:?}");
        let calls = t.calls();
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].timeout, FIRST_CONTACT_TIMEOUT);
        assert_eq!(
            calls[2].timeout,
            retry::MAX_ATTEMPT_TIMEOUT,
            "normal timeout"
        );
        assert_eq!(calls[2].headers["metadata"], "true");
    }

    #[tokio::test]
    async fn first_contact_bound_applies_to_imds_only() {
        let contact = FirstContact::new();
        let transport = FakeTransport::script(vec![Ok(response(200, token_body(), &[]))]);
        let clock = FakeClock::at_unix(NOW);
        app_service()
            .acquire_replacing(
                transport.as_ref(),
                &clock,
                Some(&contact),
                "https://graph.microsoft.com",
                &IdentitySelector::SystemAssigned,
                S(100),
                &VecSink::default(),
                None,
            )
            .await
            .expect("token");
        assert_eq!(transport.calls()[0].timeout, retry::MAX_ATTEMPT_TIMEOUT);
    }

    #[tokio::test]
    async fn imds_request_shape_without_a_server() {
        let (token, t, clock) = acquire(
            &imds(),
            vec![Ok(response(200, token_body(), &[]))],
            IdentitySelector::ClientId("c-1".into()),
        )
        .await;
        let token = token.expect("token");
        assert_eq!(token.secret.expose(), "tok-abc");
        assert_eq!(token.source, Some("IMDS"));
        let calls = t.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].method, reqwest::Method::GET);
        assert_eq!(
            calls[0].url,
            "http://127.0.0.1:9/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fgraph.microsoft.com&client_id=c-1"
        );
        assert_eq!(calls[0].headers["metadata"], "true");
        assert_eq!(calls[0].timeout, retry::MAX_ATTEMPT_TIMEOUT);
        assert!(clock.sleeps().is_empty());
    }

    #[tokio::test]
    async fn app_service_request_shape_and_secret_header() {
        let (token, t, _) = acquire(
            &app_service(),
            vec![Ok(response(200, token_body(), &[]))],
            IdentitySelector::ResourceId("/subscriptions/s/x".into()),
        )
        .await;
        assert_eq!(token.expect("token").source, Some("AppService"));
        let call = &t.calls()[0];
        assert!(
            call.url.ends_with("&mi_res_id=%2Fsubscriptions%2Fs%2Fx"),
            "{}",
            call.url
        );
        assert!(call
            .url
            .starts_with("http://127.0.0.1:9/msi/token?api-version=2019-08-01"));
        assert!(call.headers["x-identity-header"].is_sensitive());
        assert_eq!(call.headers["metadata"], "true");
    }

    #[tokio::test]
    async fn replacing_a_cached_token_is_asked_only_where_the_platform_takes_it() {
        // SHA-256 of "old-token", as MSAL computes it (lowercase hex of the UTF-8 bytes).
        let expected = "9bdf10a691a1cfda89d9ff66629d1609ab176cec9b6a3146a8929f28937a9fce";
        assert_eq!(sha256_hex("old-token"), expected);
        let automation = ManagedSource::new(
            AppServiceSource::new(
                "http://127.0.0.1:9/automation/token",
                Secret::new("hdr-x"),
                true,
            )
            .expect("automation"),
        );
        for (source, asked) in [(app_service(), true), (automation, false), (imds(), false)] {
            let transport = FakeTransport::script(vec![Ok(response(200, token_body(), &[]))]);
            let clock = FakeClock::at_unix(NOW);
            source
                .acquire_replacing(
                    transport.as_ref(),
                    &clock,
                    None,
                    "https://graph.microsoft.com",
                    &IdentitySelector::SystemAssigned,
                    S(100),
                    &VecSink::default(),
                    Some(&Secret::new("old-token")),
                )
                .await
                .expect("token");
            let url = transport.calls()[0].url.clone();
            assert_eq!(source.can_replace_cached_token(), asked, "{url}");
            assert_eq!(
                url.contains(&format!("&xms_cc=cp1&token_sha256_to_refresh={expected}")),
                asked,
                "{url}"
            );
            assert!(!url.contains("old-token"), "{url}");
        }
    }

    #[tokio::test]
    async fn imds_retries_on_the_fake_clock_then_succeeds() {
        let (token, t, clock) = acquire(
            &imds(),
            vec![
                Ok(response(500, json!({"error": "boom"}), &[])),
                Ok(response(429, json!({}), &[("retry-after", "3")])),
                Err(TransportError::Timeout),
                Ok(response(200, token_body(), &[])),
            ],
            IdentitySelector::SystemAssigned,
        )
        .await;
        assert!(token.is_ok(), "{token:?}");
        assert_eq!(t.calls().len(), 4);
        assert_eq!(clock.sleeps(), vec![S(1), S(3), S(4)]);
    }

    #[tokio::test]
    async fn refused_connections_are_not_retried() {
        let (token, t, _) = acquire(
            &imds(),
            vec![Err(TransportError::Connect {
                refused: true,
                timed_out: false,
                cause: "refused".into(),
            })],
            IdentitySelector::SystemAssigned,
        )
        .await;
        let e = token.expect_err("unavailable");
        assert_eq!(e.kind, ErrorKind::EndpointUnavailable);
        assert!(e.message.contains("connection refused"), "{}", e.message);
        assert_eq!(t.calls().len(), 1);
    }

    /// Issue 8.6: App Service / Automation answer "identity not found" with 404 too, and 404 is
    /// otherwise retried; the not-found answer must end the acquisition at once.
    #[tokio::test]
    async fn app_service_identity_not_found_is_not_retried() {
        for status in [400u16, 404] {
            let body = br#"{"statusCode":404,"message":"Unable to load the proper Managed Identity.","correlationId":"c"}"#;
            let (token, t, clock) = acquire(
                &app_service(),
                vec![Ok(raw(status, body)), Ok(response(200, token_body(), &[]))],
                IdentitySelector::ClientId("c-1".into()),
            )
            .await;
            let e = token.expect_err("not found");
            assert_eq!(e.kind, ErrorKind::IdentityNotFound, "{status}");
            assert_eq!(t.calls().len(), 1, "HTTP {status} not-found was retried");
            assert!(clock.sleeps().is_empty());
        }
        // A plain 404 (the endpoint not ready yet) is still retried.
        let (token, t, _) = acquire(
            &app_service(),
            vec![Ok(raw(404, b"")), Ok(response(200, token_body(), &[]))],
            IdentitySelector::SystemAssigned,
        )
        .await;
        assert!(token.is_ok());
        assert_eq!(t.calls().len(), 2);
    }

    #[tokio::test]
    async fn oversized_and_broken_answers_are_typed() {
        let (token, _, _) = acquire(
            &imds(),
            vec![Err(TransportError::TooLarge {
                status: 200,
                limit: MAX_BODY_BYTES,
            })],
            IdentitySelector::SystemAssigned,
        )
        .await;
        assert_eq!(
            token.map_err(|e| e.kind).err(),
            Some(ErrorKind::InvalidResponse)
        );
        let (token, _, _) = acquire(
            &app_service(),
            vec![Err(TransportError::broken("reset by peer"))],
            IdentitySelector::SystemAssigned,
        )
        .await;
        let e = token.expect_err("broken");
        assert_eq!(e.kind, ErrorKind::ConnectionFailed);
        assert!(!e.message.contains("hdr-x"));
    }

    mod hosts {
        //! The issue-12 sources through the seam: request shapes, Arc's two legs and every way
        //! its second leg is withheld, Service Fabric's pin, secrets kept out of errors.
        use std::sync::Arc;

        use super::*;
        use crate::env::MapEnvironment;
        use crate::http::CertificatePin;
        use crate::sources::arc::testing::{RecordingFiles, TempDir};
        use crate::sources::arc::ArcSource;
        use crate::sources::cloud_shell::CloudShellSource;
        use crate::sources::machine_learning::MachineLearningSource;
        use crate::sources::service_fabric::ServiceFabricSource;

        const TP: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

        fn arc(dir: &TempDir, files: Arc<RecordingFiles>) -> ManagedSource {
            ManagedSource::new(
                ArcSource::new("http://127.0.0.1:9/arc/token", &MapEnvironment::new())
                    .expect("arc")
                    .with_token_directory(&dir.0)
                    .with_files(files),
            )
        }

        fn challenge(realm: &str) -> Reply {
            Ok(response(
                401,
                json!({"error": "unauthorized_client"}),
                &[("www-authenticate", &format!("Basic realm={realm}"))],
            ))
        }

        #[tokio::test]
        async fn arc_answers_the_challenge_with_the_key_file() {
            let dir = TempDir::new("acq-arc");
            let key_file = dir.0.join("c0ffee.key");
            std::fs::write(&key_file, "k3y-c0ffee").expect("key");
            let files = Arc::new(RecordingFiles::default());
            let (token, t, _) = acquire(
                &arc(&dir, files.clone()),
                vec![
                    challenge(key_file.to_str().expect("utf-8")),
                    Ok(response(200, token_body(), &[])),
                ],
                IdentitySelector::SystemAssigned,
            )
            .await;
            assert_eq!(token.expect("token").source, Some("Arc"));
            let calls = t.calls();
            assert_eq!(calls.len(), 2);
            assert_eq!(calls[0].url, calls[1].url);
            assert!(calls[0].url.contains("api-version=2020-06-01"));
            assert!(calls[0].headers.get("authorization").is_none());
            assert_eq!(calls[0].headers["metadata"], "true");
            assert_eq!(calls[1].headers["authorization"], "Basic k3y-c0ffee");
            assert!(calls[1].headers["authorization"].is_sensitive());
            assert_eq!(calls[1].headers["metadata"], "true");
            assert_eq!(files.reads(), vec![key_file]);
        }

        #[tokio::test]
        async fn arc_withholds_the_second_request_when_the_challenge_is_unsafe() {
            let dir = TempDir::new("acq-arc-in");
            let outside = TempDir::new("acq-arc-out");
            let stolen = outside.0.join("stolen.key");
            std::fs::write(&stolen, "outside-s3cret").expect("key");
            std::fs::write(dir.0.join("a.txt"), "x").expect("txt");
            std::fs::write(dir.0.join("big.key"), "k".repeat(4097)).expect("big");
            let d = dir.0.display();
            let cases: Vec<(Reply, ErrorKind)> = vec![
                (
                    challenge(&stolen.display().to_string()),
                    ErrorKind::UnsafeKeyFile,
                ),
                (
                    challenge(&format!(
                        "{d}/../{}",
                        stolen
                            .strip_prefix(std::env::temp_dir().canonicalize().expect("tmp"))
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    )),
                    ErrorKind::UnsafeKeyFile,
                ),
                (challenge(&format!("{d}/a.txt")), ErrorKind::UnsafeKeyFile),
                (challenge(&format!("{d}/big.key")), ErrorKind::UnsafeKeyFile),
                (
                    Ok(response(401, json!({}), &[("www-authenticate", "Basic")])),
                    ErrorKind::InvalidResponse,
                ),
                (
                    Ok(response(401, json!({}), &[])),
                    ErrorKind::InvalidResponse,
                ),
            ];
            for (reply, kind) in cases {
                let files = Arc::new(RecordingFiles::default());
                let (token, t, clock) = acquire(
                    &arc(&dir, files.clone()),
                    vec![reply, Ok(response(200, token_body(), &[]))],
                    IdentitySelector::SystemAssigned,
                )
                .await;
                let e = token.expect_err("refused");
                assert_eq!(e.kind, kind, "{}", e.message);
                assert_eq!(
                    t.calls().len(),
                    1,
                    "a second request was sent: {}",
                    e.message
                );
                assert!(files.reads().is_empty(), "{}", e.message);
                assert!(clock.sleeps().is_empty(), "refusals are not retried");
                assert!(!e.message.contains("outside-s3cret"));
            }
        }

        #[tokio::test]
        async fn arc_refuses_user_assigned_ids_before_any_request() {
            let dir = TempDir::new("acq-arc-ua");
            for selector in [
                IdentitySelector::ClientId("c".into()),
                IdentitySelector::ObjectId("o".into()),
                IdentitySelector::ResourceId("/r".into()),
            ] {
                let (token, t, _) = acquire(
                    &arc(&dir, Arc::default()),
                    vec![Ok(response(200, token_body(), &[]))],
                    selector,
                )
                .await;
                let e = token.expect_err("user-assigned");
                assert_eq!(e.kind, ErrorKind::UnsupportedIdentityKind);
                assert!(
                    e.message.contains("Azure Arc")
                        && e.message
                            .contains("only serves its system-assigned identity"),
                    "{}",
                    e.message
                );
                assert!(t.calls().is_empty());
            }
        }

        #[tokio::test]
        async fn arc_refused_key_is_authentication_failed_and_redacted() {
            let dir = TempDir::new("acq-arc-401");
            let key_file = dir.0.join("k.key");
            std::fs::write(&key_file, "k3y-echo").expect("key");
            let (token, t, _) = acquire(
                &arc(&dir, Arc::default()),
                vec![
                    challenge(key_file.to_str().expect("utf-8")),
                    Ok(raw(401, b"{\"error\":\"unauthorized_client\",\"error_description\":\"bad key k3y-echo\"}")),
                ],
                IdentitySelector::SystemAssigned,
            )
            .await;
            let e = token.expect_err("401");
            assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
            assert!(!e.message.contains("k3y-echo"), "{}", e.message);
            assert_eq!(t.calls().len(), 2);
        }

        #[tokio::test]
        async fn arc_retries_transient_failures_with_a_new_challenge() {
            let dir = TempDir::new("acq-arc-503");
            let key_file = dir.0.join("k.key");
            std::fs::write(&key_file, "k").expect("key");
            let realm = key_file.display().to_string();
            let (token, t, clock) = acquire(
                &arc(&dir, Arc::default()),
                vec![
                    challenge(&realm),
                    Ok(response(503, json!({}), &[])),
                    challenge(&realm),
                    Ok(response(200, token_body(), &[])),
                ],
                IdentitySelector::SystemAssigned,
            )
            .await;
            assert!(token.is_ok(), "{token:?}");
            assert_eq!(t.calls().len(), 4);
            assert!(t.calls()[2].headers.get("authorization").is_none());
            assert_eq!(clock.sleeps(), vec![S(1)]);
        }

        #[tokio::test]
        async fn cloud_shell_posts_a_form_and_serves_only_its_identity() {
            let source = ManagedSource::new(
                CloudShellSource::new("http://127.0.0.1:9/cloudshell/oauth2/token").expect("cs"),
            );
            let (token, t, _) = acquire(
                &source,
                vec![Ok(response(200, token_body(), &[]))],
                IdentitySelector::SystemAssigned,
            )
            .await;
            assert_eq!(token.expect("token").source, Some("CloudShell"));
            let call = &t.calls()[0];
            assert_eq!(call.method, reqwest::Method::POST);
            assert_eq!(call.url, "http://127.0.0.1:9/cloudshell/oauth2/token");
            assert_eq!(call.headers["metadata"], "true");
            let (token, t, _) =
                acquire(&source, vec![], IdentitySelector::ClientId("c".into())).await;
            assert_eq!(
                token.map_err(|e| e.kind).err(),
                Some(ErrorKind::UnsupportedIdentityKind)
            );
            assert!(t.calls().is_empty());
        }

        #[tokio::test]
        async fn machine_learning_sends_clientid_and_its_secret_and_reads_date_expiry() {
            let source = ManagedSource::new(
                MachineLearningSource::new(
                    "http://127.0.0.1:9/ml/msi/token",
                    Secret::new("ml-s3cr3t"),
                    Some("dflt".into()),
                )
                .expect("ml"),
            );
            // The Linux App Service 2017 date form.
            let body = json!({"access_token": "tok", "expires_on": "11/15/2023 00:13:20 +00:00", "resource": "https://graph.microsoft.com", "token_type": "Bearer"});
            let (token, t, _) = acquire(
                &source,
                vec![Ok(response(200, body, &[]))],
                IdentitySelector::ClientId("c-9".into()),
            )
            .await;
            let token = token.expect("token");
            assert_eq!(token.expires_on, 1_700_007_200);
            assert_eq!(token.source, Some("MachineLearning"));
            let call = &t.calls()[0];
            assert!(
                call.url.starts_with(
                    "http://127.0.0.1:9/ml/msi/token?api-version=2017-09-01&resource="
                ),
                "{}",
                call.url
            );
            assert!(call.url.ends_with("&clientid=c-9"), "{}", call.url);
            assert!(call.headers["secret"].is_sensitive());
            for selector in [
                IdentitySelector::ObjectId("o".into()),
                IdentitySelector::ResourceId("/r".into()),
            ] {
                let (token, _, _) = acquire(&source, vec![], selector).await;
                let e = token.expect_err("unsupported kind");
                assert_eq!(e.kind, ErrorKind::UnsupportedIdentityKind);
                assert!(
                    e.message.contains("use «ClientId» instead"),
                    "{}",
                    e.message
                );
            }
            let (token, _, _) = acquire(
                &source,
                vec![Ok(raw(
                    401,
                    b"{\"error\":\"unauthorized\",\"error_description\":\"bad secret ml-s3cr3t\"}",
                ))],
                IdentitySelector::SystemAssigned,
            )
            .await;
            let e = token.expect_err("401");
            assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
            assert!(
                e.message.contains("MSI_SECRET") && !e.message.contains("ml-s3cr3t"),
                "{}",
                e.message
            );
            let (token, t, _) = acquire(
                &source,
                vec![Ok(raw(
                    400,
                    b"{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}",
                ))],
                IdentitySelector::ClientId("c-0".into()),
            )
            .await;
            assert_eq!(
                token.map_err(|e| e.kind).err(),
                Some(ErrorKind::IdentityNotFound)
            );
            assert_eq!(t.calls().len(), 1);
        }

        #[tokio::test]
        async fn service_fabric_requests_are_pinned_and_a_mismatch_is_final() {
            let source = ManagedSource::new(
                ServiceFabricSource::new(
                    "https://127.0.0.1:9/metadata/identity/oauth2/token",
                    Secret::new("sf-s3cr3t"),
                    TP,
                )
                .expect("sf"),
            );
            let body = json!({"access_token": "tok", "expires_on": NOW + 3600, "resource": "https://graph.microsoft.com", "token_type": "Bearer"});
            let (token, t, _) = acquire(
                &source,
                vec![Ok(response(200, body, &[]))],
                IdentitySelector::ObjectId("o-1".into()),
            )
            .await;
            assert_eq!(token.expect("token").source, Some("ServiceFabric"));
            let calls = t.calls();
            assert!(
                calls[0].url.contains("api-version=2019-07-01-preview"),
                "{}",
                calls[0].url
            );
            assert!(
                calls[0].url.ends_with("&principalId=o-1"),
                "{}",
                calls[0].url
            );
            assert!(calls[0].headers["secret"].is_sensitive());
            let pins = std::sync::Mutex::new(Vec::new());
            let t = FakeTransport::new(move |r, _| {
                pins.lock().expect("pins").push(r.tls_pin);
                assert_eq!(
                    r.tls_pin,
                    Some(CertificatePin::parse(TP, "t").expect("pin"))
                );
                Err(TransportError::Untrusted {
                    cause: "mismatch".into(),
                })
            });
            let clock = FakeClock::at_unix(NOW);
            let e = source
                .acquire(
                    t.as_ref(),
                    &clock,
                    "https://graph.microsoft.com",
                    &IdentitySelector::SystemAssigned,
                    S(100),
                    &VecSink::default(),
                )
                .await
                .expect_err("mismatch");
            assert_eq!(e.kind, ErrorKind::CertificateMismatch);
            assert!(!e.message.contains("sf-s3cr3t"));
            assert_eq!(t.calls().len(), 1, "a pin mismatch is never retried");
            let (token, _, _) =
                acquire(&source, vec![], IdentitySelector::ClientId("c".into())).await;
            let e = token.expect_err("client id");
            assert!(
                e.message.contains("use «ObjectId» instead"),
                "{}",
                e.message
            );
        }
    }
}
