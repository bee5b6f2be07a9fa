//! One type for the app-only credentials, so the context can hold "the service principal's
//! credential" without caring which kind it is, and the environment selection can be turned
//! into a credential in one call.

use super::certificate::ClientCertificate;
use super::client_certificate::ClientCertificateCredential;
use super::client_secret::ClientSecretCredential;
use super::entra::EntraClient;
use super::environment::{EnvironmentCredentialKind, EnvironmentSelection};
use super::workload_identity::WorkloadIdentityCredential;
use crate::error::Result;
use crate::token::AccessToken;

#[derive(Debug)]
pub enum AppCredential {
    ClientSecret(ClientSecretCredential),
    ClientCertificate(Box<ClientCertificateCredential>),
    WorkloadIdentity(WorkloadIdentityCredential),
}

impl AppCredential {
    /// Builds the credential the environment described (reads the certificate file now, so
    /// a wrong path or password fails before any request).
    pub fn from_environment(selection: &EnvironmentSelection) -> Result<AppCredential> {
        let client_id = selection.client_id.as_str();
        Ok(match &selection.kind {
            EnvironmentCredentialKind::ClientSecret { secret } => {
                AppCredential::ClientSecret(ClientSecretCredential::new(client_id, secret.clone())?)
            }
            EnvironmentCredentialKind::ClientCertificate { path, password } => {
                let certificate = ClientCertificate::from_file(path, password.as_ref())?;
                AppCredential::ClientCertificate(Box::new(ClientCertificateCredential::new(
                    client_id,
                    certificate,
                )?))
            }
            EnvironmentCredentialKind::WorkloadIdentity { token_file } => {
                AppCredential::WorkloadIdentity(WorkloadIdentityCredential::new(
                    client_id, token_file,
                )?)
            }
        })
    }

    /// `ClientSecret`, `ClientCertificate` or `WorkloadIdentity` (also the tokens' source).
    pub fn kind(&self) -> &'static str {
        match self {
            AppCredential::ClientSecret(_) => super::client_secret::SOURCE,
            AppCredential::ClientCertificate(_) => super::client_certificate::SOURCE,
            AppCredential::WorkloadIdentity(_) => super::workload_identity::SOURCE,
        }
    }

    pub fn client_id(&self) -> &str {
        match self {
            AppCredential::ClientSecret(c) => c.client_id(),
            AppCredential::ClientCertificate(c) => c.client_id(),
            AppCredential::WorkloadIdentity(c) => c.client_id(),
        }
    }

    /// An app-only token for `resource` (or a `.default` scope).
    pub async fn get_token(&self, entra: &EntraClient, resource: &str) -> Result<AccessToken> {
        match self {
            AppCredential::ClientSecret(c) => c.get_token(entra, resource).await,
            AppCredential::ClientCertificate(c) => c.get_token(entra, resource).await,
            AppCredential::WorkloadIdentity(c) => c.get_token(entra, resource).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::certificate::fixtures;
    use crate::credentials::entra::test_support::*;
    use crate::credentials::environment::{self, *};
    use crate::env::MapEnvironment;
    use crate::error::ErrorKind;
    use crate::http::transport::testing::response;

    fn env() -> MapEnvironment {
        MapEnvironment::new()
            .with(AZURE_TENANT_ID, TENANT)
            .with(AZURE_CLIENT_ID, CLIENT)
    }

    #[tokio::test]
    async fn the_environment_selection_becomes_a_working_credential() {
        let selection = environment::select(&env().with(AZURE_CLIENT_SECRET, "sec-ret")).unwrap();
        let credential = AppCredential::from_environment(&selection).unwrap();
        assert_eq!(credential.kind(), "ClientSecret");
        assert_eq!(credential.client_id(), CLIENT);
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at", None), &[]))]);
        let (entra, _) = client(fake);
        let token = credential
            .get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap();
        assert_eq!(token.source, Some("ClientSecret"));
        assert_eq!(
            form_of(&bodies.lock().unwrap()[0])["client_secret"],
            "sec-ret"
        );
    }

    #[test]
    fn a_certificate_path_is_loaded_up_front() {
        let dir = std::env::temp_dir().join(format!("mi-app-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let pfx = dir.join("c.pfx");
        std::fs::write(&pfx, fixtures::PFX).unwrap();
        let path = pfx.to_str().unwrap();
        let good = env()
            .with(AZURE_CLIENT_CERTIFICATE_PATH, path)
            .with(AZURE_CLIENT_CERTIFICATE_PASSWORD, fixtures::PFX_PASSWORD);
        let credential =
            AppCredential::from_environment(&environment::select(&good).unwrap()).unwrap();
        assert_eq!(credential.kind(), "ClientCertificate");
        let wrong = env()
            .with(AZURE_CLIENT_CERTIFICATE_PATH, path)
            .with(AZURE_CLIENT_CERTIFICATE_PASSWORD, "not-it");
        let e = AppCredential::from_environment(&environment::select(&wrong).unwrap()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(!e.message.contains("not-it"));
        std::fs::remove_dir_all(&dir).ok();
        let federated = env().with(AZURE_FEDERATED_TOKEN_FILE, "/var/run/token");
        let credential =
            AppCredential::from_environment(&environment::select(&federated).unwrap()).unwrap();
        assert_eq!(credential.kind(), "WorkloadIdentity");
    }
}
