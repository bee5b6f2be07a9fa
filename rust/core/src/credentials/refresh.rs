//! Silent tokens for other scopes and resources after a delegated sign-in: the refresh token
//! grant (`grant_type=refresh_token`). The refresh token lives only in this value's memory (a
//! [`Secret`], zeroed on drop); when Entra rotates it, the new one replaces the old.

use std::sync::Mutex;

use super::entra::{validate_client_id, EntraClient, TokenSet};
use super::scopes::Scopes;
use super::sign_in::{SignInInputs, Signed, DEFAULT_DELEGATED_TENANT, DEFAULT_PUBLIC_CLIENT_ID};
use crate::error::{Error, ErrorKind, Result};
use crate::secret::Secret;
use crate::token::{normalize_resource, AccessToken};

pub const SOURCE: &str = "RefreshToken";

#[derive(Debug)]
pub struct RefreshTokenCredential {
    client_id: String,
    refresh_token: Mutex<Secret>,
    /// The sign-in flow's name, kept as the tokens' source (`DeviceCode`, `Browser`).
    source: &'static str,
}

impl RefreshTokenCredential {
    pub fn new(client_id: &str, refresh_token: Secret, source: &'static str) -> Result<Self> {
        Ok(Self {
            client_id: validate_client_id(client_id)?,
            refresh_token: Mutex::new(refresh_token),
            source,
        })
    }

    /// From a sign-in's result; `None` when the server returned no refresh token.
    pub fn from_sign_in(client_id: &str, set: &TokenSet) -> Option<Result<Self>> {
        let refresh = set.refresh_token.clone()?;
        let source = set.access_token.source.unwrap_or(SOURCE);
        Some(Self::new(client_id, refresh, source))
    }

    /// A token for `scopes` (from [`Scopes::delegated`], or [`Scopes::app_only`] for another
    /// resource's `.default`).
    pub async fn get_token(&self, entra: &EntraClient, scopes: &Scopes) -> Result<TokenSet> {
        let current = self
            .refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let scope = scopes.to_request();
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", self.client_id.as_str()),
            ("refresh_token", current.expose()),
            ("scope", scope.as_str()),
        ];
        let mut set = entra
            .request_token(&form, &scopes.resource(), &[current.expose()])
            .await?;
        set.access_token.source = Some(self.source);
        if let Some(rotated) = &set.refresh_token {
            *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = rotated.clone();
        }
        Ok(set)
    }
}

/// A delegated sign-in (device code, browser) after its first token: its refresh token serves
/// the sign-in's own scopes for its resource and `.default` for any other, silently.
pub struct DelegatedSignIn {
    /// `DeviceCode` or `Browser`.
    auth_type: &'static str,
    client_id: String,
    /// `None` when the sign-in returned no refresh token.
    refresh: Option<RefreshTokenCredential>,
    scopes: Scopes,
}

impl DelegatedSignIn {
    pub fn new(
        auth_type: &'static str,
        client_id: String,
        refresh: Option<RefreshTokenCredential>,
        scopes: Scopes,
    ) -> Self {
        Self {
            auth_type,
            client_id,
            refresh,
            scopes,
        }
    }
}

impl super::sign_in::SignInFlow for DelegatedSignIn {
    fn auth_type(&self) -> &'static str {
        self.auth_type
    }

    fn client_id(&self) -> Option<&str> {
        Some(&self.client_id)
    }

    /// Redeems the refresh token: the sign-in's own scopes for its resource, `.default` for
    /// any other.
    fn token_for<'a>(
        &'a self,
        entra: &'a EntraClient,
        _clock: &'a dyn crate::clock::Clock,
        resource: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let refresh = self.refresh.as_ref().ok_or_else(|| {
                Error::new(
                    ErrorKind::AuthenticationFailed,
                    format!(
                        "the sign-in returned no refresh token, so no token for {resource} can be obtained silently; run Connect-Identity again"
                    ),
                )
            })?;
            let same = normalize_resource(&self.scopes.resource(), crate::input::Input::Resource)
                .is_ok_and(|r| r.eq_ignore_ascii_case(resource));
            let wanted = if same {
                self.scopes.clone()
            } else {
                Scopes::app_only(resource)?
            };
            let mut set = refresh.get_token(entra, &wanted).await?;
            set.access_token.resource = resource.to_string();
            Ok(set.access_token)
        })
    }
}

/// What a delegated sign-in starts from: its application (`-ClientId`, else Microsoft Graph
/// Command Line Tools), its scopes (`-Scopes`, else Graph's `.default`) and Entra client
/// (`-TenantId`, else `organizations`).
pub(crate) struct DelegatedStart {
    pub client: String,
    pub scopes: Scopes,
    pub entra: EntraClient,
}

impl DelegatedStart {
    pub fn new(inputs: &SignInInputs<'_>) -> Result<Self> {
        let tenant = inputs
            .tenant
            .clone()
            .unwrap_or_else(|| DEFAULT_DELEGATED_TENANT.to_string());
        let client = inputs
            .client
            .clone()
            .unwrap_or_else(|| DEFAULT_PUBLIC_CLIENT_ID.to_string());
        let wanted = &inputs.options.scopes;
        let scopes = if wanted.is_empty() {
            Scopes::delegated(&[".default"], inputs.graph_resource)?
        } else {
            Scopes::delegated(wanted, inputs.graph_resource)?
        };
        let entra = inputs.entra(inputs.explicit_host.clone(), &tenant)?;
        Ok(Self {
            client,
            scopes,
            entra,
        })
    }

    /// The context's credential once the interactive sign-in (`auth_type`) produced `set`:
    /// its refresh token serves every later token; the first token is returned to be cached.
    pub fn finish(
        self,
        inputs: &SignInInputs<'_>,
        auth_type: &'static str,
        set: TokenSet,
    ) -> Result<Signed> {
        let refresh = RefreshTokenCredential::from_sign_in(&self.client, &set).transpose()?;
        let mut first = set.access_token;
        first.source = Some(auth_type);
        let flow = DelegatedSignIn::new(auth_type, self.client, refresh, self.scopes);
        Ok((inputs.credential(self.entra, Box::new(flow))?, Some(first)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::entra::test_support::*;
    use crate::error::ErrorKind;
    use crate::http::transport::testing::response;
    use serde_json::json;

    #[tokio::test]
    async fn redeems_and_rotates_the_refresh_token() {
        let (fake, bodies) = recording(vec![
            Ok(response(200, token_body("at-arm", Some("rt-2")), &[])),
            Ok(response(200, token_body("at-kv", None), &[])),
        ]);
        let (entra, _) = client(fake);
        let cred = RefreshTokenCredential::new(CLIENT, Secret::new("rt-1"), "DeviceCode").unwrap();
        let arm =
            Scopes::delegated(&["https://management.azure.com/user_impersonation"], "").unwrap();
        let set = cred.get_token(&entra, &arm).await.unwrap();
        assert_eq!(set.access_token.resource, "https://management.azure.com");
        assert_eq!(set.access_token.source, Some("DeviceCode"));
        let kv = Scopes::app_only("https://vault.azure.net").unwrap();
        cred.get_token(&entra, &kv).await.unwrap();
        let bodies = bodies.lock().unwrap();
        let first = form_of(&bodies[0]);
        assert_eq!(first["grant_type"], "refresh_token");
        assert_eq!(first["refresh_token"], "rt-1");
        assert_eq!(first["client_id"], CLIENT);
        assert!(first["scope"].starts_with("https://management.azure.com/user_impersonation"));
        assert_eq!(form_of(&bodies[1])["refresh_token"], "rt-2");
        assert!(!format!("{cred:?}").contains("rt-2"));
    }

    #[tokio::test]
    async fn a_refused_refresh_token_is_not_echoed() {
        let (fake, _) = recording(vec![Ok(response(
            400,
            json!({"error":"invalid_grant","error_codes":[65001],
                   "error_description":"AADSTS65001: consent needed for rt-secret-value"}),
            &[],
        ))]);
        let (entra, _) = client(fake);
        let cred =
            RefreshTokenCredential::new(CLIENT, Secret::new("rt-secret-value"), SOURCE).unwrap();
        let scopes = Scopes::delegated(&["Mail.Read"], "https://graph.microsoft.com").unwrap();
        let e = cred.get_token(&entra, &scopes).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(e.message.contains("consent"), "{}", e.message);
        assert!(!e.message.contains("rt-secret-value"), "{}", e.message);
    }
}
