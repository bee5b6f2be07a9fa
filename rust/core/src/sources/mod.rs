//! Managed-identity credential sources: detection (protocol spec §3, MSAL.NET's order plus
//! workload identity before the IMDS fallback), identity selection, and the shared request loop
//! (one attempt = one HTTP GET; retries per [`crate::retry`]).
//!
//! Implemented: IMDS ([`imds`]) and App Service / Functions / Azure Automation ([`app_service`]).
//! Service Fabric, Machine Learning, Cloud Shell, Arc and workload identity are detected (so
//! `Test-IdentityEndpoint` can explain what it sees) but give `UnsupportedSource` when chosen.

pub mod app_service;
pub mod detect;
pub mod imds;

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use url::Url;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{verbose, EventSink};
use crate::retry::{self, Attempt, Failure, RetryPolicy};
use crate::secret::Secret;
use crate::token::{parse_token_response, AccessToken};

pub use detect::{detect, Detection, SourceReport};

/// Largest token-endpoint answer read into memory.
const MAX_BODY_BYTES: usize = 1 << 20;
/// Longest endpoint error text quoted in a message.
const MAX_ERROR_TEXT: usize = 300;

/// Every managed-identity source the engine knows, in detection order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    ServiceFabric,
    AppService,
    AzureAutomation,
    MachineLearning,
    CloudShell,
    Arc,
    WorkloadIdentity,
    Imds,
}

impl SourceKind {
    /// The stable name in JSON output (`source`).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::ServiceFabric => "ServiceFabric",
            SourceKind::AppService => "AppService",
            SourceKind::AzureAutomation => "AzureAutomation",
            SourceKind::MachineLearning => "MachineLearning",
            SourceKind::CloudShell => "CloudShell",
            SourceKind::Arc => "Arc",
            SourceKind::WorkloadIdentity => "WorkloadIdentity",
            SourceKind::Imds => "IMDS",
        }
    }

    /// The human name used in messages.
    pub fn display(self) -> &'static str {
        match self {
            SourceKind::ServiceFabric => "Service Fabric",
            SourceKind::AppService => "App Service / Functions",
            SourceKind::AzureAutomation => "Azure Automation",
            SourceKind::MachineLearning => "Azure Machine Learning",
            SourceKind::CloudShell => "Azure Cloud Shell",
            SourceKind::Arc => "Azure Arc",
            SourceKind::WorkloadIdentity => "Workload identity federation",
            SourceKind::Imds => "IMDS",
        }
    }
}

/// Which identity to ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentitySelector {
    SystemAssigned,
    ClientId(String),
    ObjectId(String),
    ResourceId(String),
}

impl IdentitySelector {
    /// `ClientId`, `ObjectId`, `ResourceId` (`selectedBy.kind`); `None` for system-assigned.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            IdentitySelector::SystemAssigned => None,
            IdentitySelector::ClientId(_) => Some("ClientId"),
            IdentitySelector::ObjectId(_) => Some("ObjectId"),
            IdentitySelector::ResourceId(_) => Some("ResourceId"),
        }
    }

    pub fn value(&self) -> Option<&str> {
        match self {
            IdentitySelector::SystemAssigned => None,
            IdentitySelector::ClientId(v)
            | IdentitySelector::ObjectId(v)
            | IdentitySelector::ResourceId(v) => Some(v),
        }
    }

    /// The cmdlet parameter that selects this kind of id.
    pub fn parameter(&self) -> Option<&'static str> {
        self.kind().map(|k| match k {
            "ClientId" => "-ClientId",
            "ObjectId" => "-ObjectId",
            _ => "-ResourceId",
        })
    }

    /// "the system-assigned identity", "the identity with client id '…'".
    pub fn describe(&self) -> String {
        match self {
            IdentitySelector::SystemAssigned => "the system-assigned identity".to_string(),
            IdentitySelector::ClientId(v) => format!("the identity with client id '{v}'"),
            IdentitySelector::ObjectId(v) => format!("the identity with object id '{v}'"),
            IdentitySelector::ResourceId(v) => format!("the identity with resource id '{v}'"),
        }
    }

    pub fn is_user_assigned(&self) -> bool {
        !matches!(self, IdentitySelector::SystemAssigned)
    }

    /// `selectedBy` in the context description.
    pub fn to_json(&self) -> Value {
        match (self.kind(), self.value()) {
            (Some(kind), Some(value)) => json!({"kind": kind, "value": value}),
            _ => Value::Null,
        }
    }

    fn cache_part(&self) -> String {
        match (self.kind(), self.value()) {
            (Some(kind), Some(value)) => format!("{kind}={}", value.to_ascii_lowercase()),
            _ => "SystemAssigned".to_string(),
        }
    }
}

/// A usable (implemented) source.
#[derive(Debug, Clone)]
pub enum ManagedSource {
    Imds(imds::ImdsSource),
    AppService(app_service::AppServiceSource),
}

/// One request, ready to send (the secret header is marked sensitive).
/// `{endpoint}?api-version=…&resource=…[&<id name>=<id>]`, every value URL-encoded.
pub(crate) fn token_url(
    endpoint: &Url,
    api_version: &str,
    resource: &str,
    id: Option<(&str, &str)>,
) -> Url {
    let mut url = endpoint.clone();
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("api-version", api_version)
            .append_pair("resource", resource);
        if let Some((name, value)) = id {
            query.append_pair(name, value);
        }
    }
    url
}

pub(crate) struct PreparedRequest {
    pub url: Url,
    pub headers: HeaderMap,
}

impl ManagedSource {
    pub fn kind(&self) -> SourceKind {
        match self {
            ManagedSource::Imds(_) => SourceKind::Imds,
            ManagedSource::AppService(s) => s.kind(),
        }
    }

    /// The token endpoint without query string (safe to show).
    pub fn endpoint(&self) -> String {
        match self {
            ManagedSource::Imds(s) => display_url(s.endpoint()),
            ManagedSource::AppService(s) => display_url(s.endpoint()),
        }
    }

    /// "the IMDS endpoint http://169.254.169.254/metadata/identity/oauth2/token".
    pub fn target(&self) -> String {
        format!("the {} endpoint {}", self.kind().display(), self.endpoint())
    }

    /// The part of the cache key that names the identity: source, endpoint and selector.
    pub fn cache_identity(&self, selector: &IdentitySelector) -> String {
        format!(
            "{}|{}|{}",
            self.kind().name(),
            self.endpoint(),
            selector.cache_part()
        )
    }

    /// Whether this source can select an identity by this kind of id.
    pub fn supports(&self, selector: &IdentitySelector) -> bool {
        self.wire_name(selector).is_some() || !selector.is_user_assigned()
    }

    /// The query parameter carrying the selector, e.g. `msi_res_id` for IMDS resource ids.
    pub fn wire_name(&self, selector: &IdentitySelector) -> Option<&'static str> {
        match self {
            ManagedSource::Imds(_) => imds::wire_name(selector),
            ManagedSource::AppService(_) => app_service::wire_name(selector),
        }
    }

    fn policy(&self) -> RetryPolicy {
        match self {
            ManagedSource::Imds(_) => RetryPolicy::imds(),
            ManagedSource::AppService(_) => RetryPolicy::app_service(),
        }
    }

    fn secret(&self) -> Option<&Secret> {
        match self {
            ManagedSource::Imds(_) => None,
            ManagedSource::AppService(s) => Some(s.header()),
        }
    }

    fn prepare(&self, resource: &str, selector: &IdentitySelector) -> Result<PreparedRequest> {
        let wire = self.wire_name(selector);
        if selector.is_user_assigned() && wire.is_none() {
            return Err(self.unsupported_kind(selector));
        }
        let id = wire.zip(selector.value());
        match self {
            ManagedSource::Imds(s) => Ok(s.prepare(resource, id)),
            ManagedSource::AppService(s) => s.prepare(resource, id),
        }
    }

    pub(crate) fn unsupported_kind(&self, selector: &IdentitySelector) -> Error {
        let accepted: Vec<&str> = [
            IdentitySelector::ClientId(String::new()),
            IdentitySelector::ObjectId(String::new()),
            IdentitySelector::ResourceId(String::new()),
        ]
        .iter()
        .filter(|s| self.wire_name(s).is_some())
        .filter_map(IdentitySelector::parameter)
        .collect();
        Error::new(
            ErrorKind::UnsupportedIdentityKind,
            format!(
                "{} cannot select an identity by {}; {}",
                self.kind().display(),
                selector.parameter().unwrap_or("this kind of id"),
                if accepted.is_empty() {
                    "it only serves its system-assigned identity".to_string()
                } else {
                    format!("use {} instead", accepted.join(" or "))
                }
            ),
        )
    }

    /// Why the endpoint could not be reached, and what that suggests.
    fn unreachable_hint(&self) -> &'static str {
        match self {
            ManagedSource::Imds(s) if s.is_overridden() => {
                "AZURE_POD_IDENTITY_AUTHORITY_HOST points IMDS there; check that variable."
            }
            ManagedSource::Imds(_) => {
                "No other managed-identity source is configured in the environment, so IMDS (Azure VMs, scale sets, \
                 hybrid workers on Azure VMs) was tried: this machine does not look like an Azure host with a managed \
                 identity. Run Test-IdentityEndpoint to see what was detected."
            }
            ManagedSource::AppService(_) => {
                "IDENTITY_ENDPOINT names it, but nothing listens there; the variable may be stale. \
                 Run Test-IdentityEndpoint to see what was detected."
            }
        }
    }

    /// Requests a token (with retries) for `resource`; never consults the cache.
    pub async fn acquire(
        &self,
        http: &reqwest::Client,
        clock: &dyn Clock,
        resource: &str,
        selector: &IdentitySelector,
        timeout: Duration,
        sink: &dyn EventSink,
    ) -> Result<AccessToken> {
        let plan = Acquisition {
            source: self,
            http,
            clock,
            request: self.prepare(resource, selector)?,
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
    fn transport_failure(
        &self,
        err: reqwest::Error,
        target: &str,
        timeout: Duration,
    ) -> Attempt<AccessToken> {
        let err = err.without_url();
        if err.is_connect() {
            let refused = refused(&err);
            return Attempt::Fatal(
                Error::new(
                    ErrorKind::EndpointUnavailable,
                    format!(
                        "No managed-identity endpoint answers at {target} ({}). {}",
                        if refused {
                            "connection refused".to_string()
                        } else if err.is_timeout() {
                            "no connection within the time allowed".to_string()
                        } else {
                            format!("cannot connect: {}", root_cause(&err))
                        },
                        self.unreachable_hint()
                    ),
                )
                .with_details(json!({"source": self.kind().name(), "endpoint": self.endpoint()})),
            );
        }
        if err.is_timeout() {
            return Attempt::Retriable {
                failure: Failure::Timeout,
                error: Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{target} did not answer within {} s.",
                        timeout.as_secs_f64().ceil() as u64
                    ),
                ),
                retry_after: None,
            };
        }
        let mut error = crate::http::transport_error(&err, target);
        error.kind = ErrorKind::ConnectionFailed;
        Attempt::Fatal(error)
    }

    /// The typed error for a non-success answer.
    fn status_error(
        &self,
        status: u16,
        body: &[u8],
        selector: &IdentitySelector,
        target: &str,
    ) -> Error {
        let text = error_text(body, self.secret());
        let details =
            json!({"status": status, "source": self.kind().name(), "endpoint": self.endpoint()});
        let not_found = match self {
            ManagedSource::Imds(_) => imds::is_identity_not_found(status, body),
            ManagedSource::AppService(_) => app_service::is_identity_not_found(status, body),
        };
        if not_found {
            return identity_not_found(self.kind(), selector, target, status, &text)
                .with_details(details);
        }
        let (kind, what) = match status {
            401 | 403 if matches!(self, ManagedSource::AppService(_)) => (
                ErrorKind::AuthenticationFailed,
                "refused the IDENTITY_HEADER secret (the platform rotates it; restart the process to pick up the current one)",
            ),
            403 if text.to_ascii_lowercase().contains("unreachable") => {
                return Error::new(
                    ErrorKind::EndpointUnavailable,
                    format!("No managed-identity endpoint is reachable at {target} (HTTP 403: {text}). {}", self.unreachable_hint()),
                )
                .with_details(details)
            }
            404 | 410 if matches!(self, ManagedSource::Imds(_)) => (ErrorKind::ServiceError, "is being updated"),
            429 => (ErrorKind::Throttled, "is throttling requests"),
            400 => (ErrorKind::ServiceError, "rejected the request"),
            502 | 504 => (ErrorKind::ServiceError, "reported a gateway error"),
            500..=599 => (ErrorKind::ServiceError, "failed"),
            _ => (ErrorKind::ServiceError, "answered an unexpected status"),
        };
        Error::new(kind, format!("{target} {what} (HTTP {status}: {text}).")).with_details(details)
    }
}

/// One token acquisition: the request to repeat and how to judge each answer.
struct Acquisition<'a> {
    source: &'a ManagedSource,
    http: &'a reqwest::Client,
    clock: &'a dyn Clock,
    request: PreparedRequest,
    resource: &'a str,
    selector: &'a IdentitySelector,
    target: String,
    policy: RetryPolicy,
}

impl Acquisition<'_> {
    async fn attempt(&self, timeout: Duration) -> Attempt<AccessToken> {
        let (source, target) = (self.source, self.target.as_str());
        let sent_at = self.clock.now_unix();
        let sent = self
            .http
            .get(self.request.url.clone())
            .headers(self.request.headers.clone())
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => return source.transport_failure(err, target, timeout),
        };
        let status = response.status().as_u16();
        let retry_after = crate::http::retry_after(response.headers(), self.clock.now());
        let body = match read_body(response).await {
            Ok(body) => body,
            Err(BodyError::Transport(err)) => {
                return source.transport_failure(err, target, timeout)
            }
            Err(BodyError::TooLarge) => {
                return Attempt::Fatal(Error::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "{target} answered HTTP {status} with more than {MAX_BODY_BYTES} bytes"
                    ),
                ))
            }
        };
        if (200..300).contains(&status) {
            return match parse_token_response(&body, self.resource, sent_at, target) {
                Ok(token) => Attempt::Success(token),
                Err(error) => Attempt::Fatal(error),
            };
        }
        let error = source.status_error(status, &body, self.selector, target);
        if self.policy.retries_status(status) {
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

/// The IdentityNotFound error: names the id kind and value and explains the three parameters.
fn identity_not_found(
    source: SourceKind,
    selector: &IdentitySelector,
    target: &str,
    status: u16,
    text: &str,
) -> Error {
    let explain = "-ClientId takes the identity's client (application) id, -ObjectId its object (principal) id, \
                   -ResourceId its ARM resource id (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…)";
    let message = match selector {
        IdentitySelector::SystemAssigned => format!(
            "{target} has no system-assigned managed identity for this {} (HTTP {status}: {text}). Enable the \
             system-assigned identity on the resource, or select an attached user-assigned identity: {explain}.",
            host_noun(source)
        ),
        _ => format!(
            "{target} found no managed identity with {} '{}' attached to this {} (HTTP {status}: {text}). Check that \
             the user-assigned identity is attached to the resource and that you passed the right kind of id: {explain}.",
            match selector {
                IdentitySelector::ClientId(_) => "client id",
                IdentitySelector::ObjectId(_) => "object id",
                _ => "resource id",
            },
            selector.value().unwrap_or_default(),
            host_noun(source)
        ),
    };
    Error::new(ErrorKind::IdentityNotFound, message)
}

fn host_noun(source: SourceKind) -> &'static str {
    match source {
        SourceKind::AzureAutomation => "Automation account",
        SourceKind::AppService => "app",
        _ => "machine",
    }
}

/// The innermost error's text (e.g. "Network is unreachable (os error 101)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

fn refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        current = e.source();
    }
    false
}

enum BodyError {
    Transport(reqwest::Error),
    TooLarge,
}

async fn read_body(mut response: reqwest::Response) -> std::result::Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `scheme://host[:port]/path`: no credentials, query or fragment.
pub fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// The endpoint's own words for an error: `error_description`, `message`, nested `error.message`,
/// `error`, `correlationId`; or the start of a non-JSON body. Secrets and anything that looks like
/// a JWT are redacted; the text is bounded.
pub fn error_text(body: &[u8], secret: Option<&Secret>) -> String {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => {
            let str_field = |v: Option<&Value>| {
                v.and_then(Value::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .map(str::to_string)
            };
            let nested = map.get("error").and_then(Value::as_object);
            let code = str_field(map.get("error"))
                .or_else(|| str_field(nested.and_then(|n| n.get("code"))));
            let description = str_field(map.get("error_description"))
                .or_else(|| str_field(map.get("message")))
                .or_else(|| str_field(nested.and_then(|n| n.get("message"))));
            let correlation = str_field(map.get("correlationId"))
                .or_else(|| str_field(nested.and_then(|n| n.get("correlationId"))));
            let mut parts = Vec::new();
            match (code, description) {
                (Some(c), Some(d)) => parts.push(format!("{c}: {d}")),
                (Some(one), None) | (None, Some(one)) => parts.push(one),
                (None, None) => parts.push("no error description".to_string()),
            }
            if let Some(c) = correlation {
                parts.push(format!("correlation id {c}"));
            }
            parts.join(", ")
        }
        _ => {
            let raw = String::from_utf8_lossy(body);
            let collapsed: String = raw.split_whitespace().collect::<Vec<_>>().join(" ");
            if collapsed.is_empty() {
                "empty body".to_string()
            } else {
                collapsed
            }
        }
    };
    truncate(&redact(&text, secret), MAX_ERROR_TEXT)
}

/// Removes a secret value and JWT-looking strings from text meant for humans.
pub fn redact(text: &str, secret: Option<&Secret>) -> String {
    let mut out = match secret {
        Some(s) if !s.is_empty() => text.replace(s.expose(), "[redacted]"),
        _ => text.to_string(),
    };
    while let Some(start) = out.find("eyJ") {
        let end = out[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "[redacted]");
    }
    out.chars().filter(|c| !c.is_control()).collect()
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_from_every_shape() {
        assert_eq!(
            error_text(
                br#"{"error":"invalid_request","error_description":"Identity not found"}"#,
                None
            ),
            "invalid_request: Identity not found"
        );
        assert_eq!(
            error_text(br#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"c-1"}"#, None),
            "Unable to load the proper Managed Identity., correlation id c-1"
        );
        assert_eq!(
            error_text(
                br#"{"error":{"code":"SecretHeaderNotFound","message":"Secret is not found."}}"#,
                None
            ),
            "SecretHeaderNotFound: Secret is not found."
        );
        assert_eq!(error_text(b"", None), "empty body");
        assert_eq!(
            error_text(b"<html>\n  Bad   Gateway</html>", None),
            "<html> Bad Gateway</html>"
        );
        assert_eq!(error_text(b"{}", None), "no error description");
        let long = "x".repeat(1000);
        assert_eq!(
            error_text(long.as_bytes(), None).chars().count(),
            MAX_ERROR_TEXT + 1
        );
    }

    #[test]
    fn secrets_and_tokens_are_redacted() {
        let secret = Secret::new("hdr-s3cr3t");
        let body = br#"{"message":"bad header hdr-s3cr3t; token eyJhbGciOi.eyJvaWQiOiJ4In0.sig was refused"}"#;
        let text = error_text(body, Some(&secret));
        assert!(
            !text.contains("hdr-s3cr3t") && !text.contains("eyJ"),
            "{text}"
        );
        assert_eq!(text, "bad header [redacted]; token [redacted] was refused");
    }

    #[test]
    fn selectors_describe_themselves() {
        let s = IdentitySelector::ObjectId("ABC".into());
        assert_eq!(s.kind(), Some("ObjectId"));
        assert_eq!(s.parameter(), Some("-ObjectId"));
        assert_eq!(s.to_json(), json!({"kind": "ObjectId", "value": "ABC"}));
        assert_eq!(s.cache_part(), "ObjectId=abc");
        assert_eq!(IdentitySelector::SystemAssigned.to_json(), Value::Null);
        assert_eq!(IdentitySelector::SystemAssigned.parameter(), None);
    }

    #[test]
    fn urls_are_shown_without_query_or_credentials() {
        let url =
            Url::parse("http://u:p@127.0.0.1:8081/msi/token?api-version=1&x=y#f").expect("url");
        assert_eq!(display_url(&url), "http://127.0.0.1:8081/msi/token");
    }
}
