//! What a caller asks of a context, typed: [`ConnectOptions`] for `identity.connect`,
//! [`TestEndpointOptions`] for `identity.testEndpoint`, and the validation of each input (ids,
//! resource ids, timeouts) with messages that name the input, never a cmdlet parameter.

use std::time::Duration;

pub use crate::credentials::sign_in::{SignInMethod, SignInOptions, SignInSecrets};
pub use crate::credentials::test_browser::TestBrowser;
use crate::env::SnapshotEnvironment;
use crate::error::{Error, Result};
use crate::input::Input;
use crate::sources::IdentitySelector;

/// Default bound of one token acquisition, retries included (Azure.Core's NetworkTimeout).
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 100.0;
const MAX_TIMEOUT_SECONDS: f64 = 3600.0;
/// Default wait for an endpoint probe in `identity.testEndpoint`.
pub const DEFAULT_PROBE_SECONDS: f64 = 1.0;

/// How a context gets its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectMethod {
    /// From the managed-identity source detected in the environment.
    #[default]
    ManagedIdentity,
    /// A token handed over by the caller (travels outside JSON, as the operation's secret).
    AccessToken,
    /// Issue 10: an Entra sign-in (service principals, pipelines and admins: see
    /// [`SignInOptions`]).
    SignIn(SignInMethod),
}

impl ConnectMethod {
    /// The credential kinds of issue 10 (an Entra sign-in, not a managed identity).
    pub fn is_sign_in(self) -> bool {
        matches!(self, ConnectMethod::SignIn(_))
    }
}

/// `identity.connect`.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub method: ConnectMethod,
    /// At most one of the three selects a user-assigned identity (raw, validated on connect).
    pub client_id: Option<String>,
    pub object_id: Option<String>,
    pub resource_id: Option<String>,
    /// Default resource of tokens (a scope ending in `/.default` is accepted).
    pub resource: Option<String>,
    pub graph_endpoint: Option<String>,
    pub graph_resource: Option<String>,
    pub timeout_seconds: Option<f64>,
    /// The host's variables.
    pub environment: SnapshotEnvironment,
    // ARM (issue 11): `-ResourceManagerEndpoint`, `-SubscriptionId`.
    pub resource_manager_endpoint: Option<String>,
    pub subscription_id: Option<String>,
    /// Issue 10: what an Entra sign-in needs besides `client_id` (the application's id there).
    pub sign_in: SignInOptions,
}

/// `identity.testEndpoint`.
#[derive(Debug, Clone, Default)]
pub struct TestEndpointOptions {
    pub environment: SnapshotEnvironment,
    pub timeout_seconds: Option<f64>,
}

pub(crate) fn timeout_arg(seconds: Option<f64>, default: f64) -> Result<Duration> {
    let seconds = seconds.unwrap_or(default);
    if !seconds.is_finite() || seconds <= 0.0 || seconds > MAX_TIMEOUT_SECONDS {
        return Err(Error::invalid_argument(format!(
            "{} must be more than 0 and at most {MAX_TIMEOUT_SECONDS}; got {seconds}",
            Input::Timeout
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A GUID in its usual 8-4-4-4-12 form (braces tolerated), returned lower-case.
fn guid_arg(raw: &str, parameter: Input, meaning: &str) -> Result<String> {
    let trimmed = raw.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(trimmed);
    match uuid::Uuid::try_parse(inner) {
        Ok(id) if inner.len() == 36 => Ok(id.hyphenated().to_string()),
        _ => Err(Error::invalid_argument(format!(
            "{parameter} '{trimmed}' is not a GUID (expected the form 00000000-0000-0000-0000-000000000000); \
             {parameter} takes the identity's {meaning}"
        ))),
    }
}

/// An ARM resource id: `/subscriptions/{id}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}`.
fn resource_id_arg(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    let lower = trimmed.to_ascii_lowercase();
    let segments: Vec<&str> = trimmed.split('/').collect();
    let well_formed = lower.starts_with("/subscriptions/")
        && lower.contains("/providers/")
        && segments.len() >= 7
        && segments.iter().skip(1).all(|s| !s.is_empty())
        && !trimmed
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '&' | '%'));
    if well_formed {
        Ok(trimmed.to_string())
    } else {
        Err(Error::invalid_argument(format!(
            "{} '{trimmed}' is not an ARM resource id (expected \
             /subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>)",
            Input::ResourceId
        )))
    }
}

pub(crate) fn selector_arg(args: &ConnectOptions) -> Result<IdentitySelector> {
    let given = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut selectors = Vec::new();
    if let Some(v) = given(&args.client_id) {
        selectors.push(IdentitySelector::ClientId(guid_arg(
            &v,
            Input::ClientId,
            "client (application) id",
        )?));
    }
    if let Some(v) = given(&args.object_id) {
        selectors.push(IdentitySelector::ObjectId(guid_arg(
            &v,
            Input::ObjectId,
            "object (principal) id",
        )?));
    }
    if let Some(v) = given(&args.resource_id) {
        selectors.push(IdentitySelector::ResourceId(resource_id_arg(&v)?));
    }
    match selectors.len() {
        0 => Ok(IdentitySelector::SystemAssigned),
        1 => Ok(selectors.remove(0)),
        _ => Err(Error::invalid_argument(format!(
            "pass at most one of {}, {} and {}: each selects one user-assigned identity",
            Input::ClientId,
            Input::ObjectId,
            Input::ResourceId
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::{json, Value};

    /// Options from the wire's field names (clientId, objectId, resourceId).
    fn args(value: Value) -> ConnectOptions {
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
        ConnectOptions {
            client_id: field("clientId"),
            object_id: field("objectId"),
            resource_id: field("resourceId"),
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_validated_and_normalised() {
        let s = selector_arg(&args(
            json!({"clientId": " {5A1C0F3E-8B7D-4E2A-9C6F-1D3B5E7A9C01} "}),
        ))
        .expect("guid");
        assert_eq!(
            s,
            IdentitySelector::ClientId("5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01".into())
        );
        assert_eq!(
            selector_arg(&args(json!({"clientId": ""}))).ok(),
            Some(IdentitySelector::SystemAssigned)
        );
        for (field, input) in [("clientId", Input::ClientId), ("objectId", Input::ObjectId)] {
            for bad in [
                "uami-reports",
                "5a1c0f3e8b7d4e2a9c6f1d3b5e7a9c01",
                "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c0",
            ] {
                let e = selector_arg(&args(json!({field: bad}))).expect_err(bad);
                assert_eq!(e.kind, ErrorKind::InvalidArgument);
                assert!(e.message.starts_with(&input.to_string()), "{}", e.message);
            }
        }
        let rid = "/subscriptions/3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u";
        assert_eq!(
            selector_arg(&args(json!({"resourceId": rid}))).ok(),
            Some(IdentitySelector::ResourceId(rid.into()))
        );
        for bad in [
            "uami",
            "/subscriptions/x",
            "/subscriptions//providers/a/b/c",
            "subscriptions/s/resourcegroups/r/providers/a/b/c",
        ] {
            let e = selector_arg(&args(json!({"resourceId": bad}))).expect_err(bad);
            assert!(e.message.starts_with("«ResourceId»"), "{}", e.message);
        }
        let both = json!({"clientId": "5a1c0f3e-8b7d-4e2a-9c6f-1d3b5e7a9c01", "objectId": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01"});
        assert_eq!(
            selector_arg(&args(both)).map_err(|e| e.kind).err(),
            Some(ErrorKind::InvalidArgument)
        );
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(
            timeout_arg(None, 100.0).ok(),
            Some(Duration::from_secs(100))
        );
        assert_eq!(
            timeout_arg(Some(0.5), 100.0).ok(),
            Some(Duration::from_millis(500))
        );
        for bad in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(timeout_arg(Some(bad), 100.0).is_err(), "{bad}");
        }
    }
}
