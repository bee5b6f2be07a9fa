//! Client secret credential: `grant_type=client_credentials` with `client_secret`, scope
//! `<resource>/.default` (Azure.Identity's ClientSecretCredential).

use super::entra::{validate_client_id, EntraClient};
use super::scopes::Scopes;
use super::sign_in::{required, SignInInputs, Signed};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::secret::Secret;
use crate::token::AccessToken;

/// The source name tokens of this credential carry.
pub const SOURCE: &str = "ClientSecret";

#[derive(Debug, Clone)]
pub struct ClientSecretCredential {
    client_id: String,
    secret: Secret,
}

impl ClientSecretCredential {
    pub fn new(client_id: &str, secret: Secret) -> Result<Self> {
        if secret.expose().trim().is_empty() {
            return Err(Error::invalid_argument(format!(
                "{} must not be empty",
                Input::ClientSecret
            )));
        }
        Ok(Self {
            client_id: validate_client_id(client_id)?,
            secret,
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// An app-only token for `resource` (or a `.default` scope).
    pub async fn get_token(&self, entra: &EntraClient, resource: &str) -> Result<AccessToken> {
        let scopes = Scopes::app_only(resource)?;
        let scope = scopes.to_request();
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
            ("scope", scope.as_str()),
        ];
        let mut set = entra
            .request_token(&form, &scopes.resource(), &[self.secret.expose()])
            .await?;
        set.access_token.source = Some(SOURCE);
        Ok(set.access_token)
    }
}

super::sign_in::application_sign_in_flow!(ClientSecretCredential, SOURCE);

/// `-ClientSecret` (or `-Credential`) for the application `-ClientId` in `-TenantId`.
pub(crate) fn sign_in(inputs: &SignInInputs<'_>) -> Result<Signed> {
    let tenant = required(inputs.tenant.clone(), Input::TenantId, "a client secret")?;
    let client = required(inputs.client.clone(), Input::ClientId, "a client secret")?;
    let secret = inputs
        .options
        .secrets
        .client_secret
        .clone()
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "{} (or {}) is required",
                Input::ClientSecret,
                Input::Credential
            ))
        })?;
    let entra = inputs.entra(inputs.explicit_host.clone(), &tenant)?;
    let flow = ClientSecretCredential::new(&client, secret)?;
    Ok((inputs.credential(entra, Box::new(flow))?, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::entra::test_support::*;
    use crate::error::ErrorKind;
    use crate::http::transport::testing::response;
    use serde_json::json;

    const SECRET: &str = "abc~Secret.Value-123";

    #[tokio::test]
    async fn sends_client_credentials_and_returns_the_token() {
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at-1", None), &[]))]);
        let (entra, _) = client(fake);
        let cred = ClientSecretCredential::new(CLIENT, Secret::new(SECRET)).unwrap();
        let token = cred
            .get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap();
        assert_eq!(token.secret.expose(), "at-1");
        assert_eq!(token.resource, "https://graph.microsoft.com");
        assert_eq!(token.source, Some(SOURCE));
        let form = form_of(&bodies.lock().unwrap()[0]);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], CLIENT);
        assert_eq!(form["client_secret"], SECRET);
        assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_explained_without_the_secret() {
        let (fake, _) = recording(vec![Ok(response(
            401,
            json!({"error":"invalid_client","error_codes":[7000215],
                   "error_description":format!("AADSTS7000215: Invalid client secret provided: {SECRET}")}),
            &[],
        ))]);
        let (entra, _) = client(fake);
        let cred = ClientSecretCredential::new(CLIENT, Secret::new(SECRET)).unwrap();
        let e = cred
            .get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::AuthenticationFailed);
        assert!(e.message.contains("AADSTS7000215"));
        assert!(e.message.contains("Secret ID"), "{}", e.message);
        assert!(!format!("{e:?}").contains(SECRET));
        assert!(!format!("{cred:?}").contains(SECRET));
    }

    #[test]
    fn bad_input_is_refused_before_any_request() {
        assert!(ClientSecretCredential::new(CLIENT, Secret::new(" ")).is_err());
        assert!(ClientSecretCredential::new("x y", Secret::new(SECRET)).is_err());
    }
}
