//! The app-only credential the Azure.Identity environment variables describe (client secret,
//! certificate or federated token), as the [`SignInFlow`] it is, in one call.

use super::certificate::ClientCertificate;
use super::client_certificate::ClientCertificateCredential;
use super::client_secret::ClientSecretCredential;
use super::environment::{EnvironmentCredentialKind, EnvironmentSelection};
use super::sign_in::{SignInFlow, SignInInputs, Signed};
use super::workload_identity::WorkloadIdentityCredential;
use crate::error::Result;
use crate::events::{verbose, EventSink};

/// Builds the credential the environment described (reads the certificate file now, so a wrong
/// path or password fails before any request).
pub fn from_environment(selection: &EnvironmentSelection) -> Result<Box<dyn SignInFlow>> {
    let client_id = selection.client_id.as_str();
    Ok(match &selection.kind {
        EnvironmentCredentialKind::ClientSecret { secret } => {
            Box::new(ClientSecretCredential::new(client_id, secret.clone())?)
        }
        EnvironmentCredentialKind::ClientCertificate { path, password } => {
            let certificate = ClientCertificate::from_file(path, password.as_ref())?;
            Box::new(ClientCertificateCredential::new(client_id, certificate)?)
        }
        EnvironmentCredentialKind::WorkloadIdentity { token_file } => {
            Box::new(WorkloadIdentityCredential::new(client_id, token_file)?)
        }
    })
}

/// `-EnvironmentVariable`: the credential the Azure.Identity variables describe (each reason
/// for the choice is reported as verbose), at `-AuthorityHost` (else `AZURE_AUTHORITY_HOST`).
pub(crate) fn sign_in(inputs: &SignInInputs<'_>, sink: &dyn EventSink) -> Result<Signed> {
    let selection = super::environment::select(inputs.env)?;
    for reason in &selection.reasons {
        verbose(sink, reason.clone());
    }
    let host = inputs
        .explicit_host
        .clone()
        .or_else(|| selection.authority_host.clone());
    let entra = inputs.entra(host, &selection.tenant_id)?;
    let flow = from_environment(&selection)?;
    Ok((inputs.credential(entra, flow)?, None))
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
        let credential = from_environment(&selection).unwrap();
        assert_eq!(credential.auth_type(), "ClientSecret");
        assert_eq!(credential.client_id(), Some(CLIENT));
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at", None), &[]))]);
        let (entra, clock) = client(fake);
        let token = credential
            .token_for(&entra, &clock, "https://graph.microsoft.com")
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
        let credential = from_environment(&environment::select(&good).unwrap()).unwrap();
        assert_eq!(credential.auth_type(), "ClientCertificate");
        let wrong = env()
            .with(AZURE_CLIENT_CERTIFICATE_PATH, path)
            .with(AZURE_CLIENT_CERTIFICATE_PASSWORD, "not-it");
        let e = from_environment(&environment::select(&wrong).unwrap())
            .err()
            .expect("a wrong password");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(!e.message.contains("not-it"));
        std::fs::remove_dir_all(&dir).ok();
        let federated = env().with(AZURE_FEDERATED_TOKEN_FILE, "/var/run/token");
        let credential = from_environment(&environment::select(&federated).unwrap()).unwrap();
        assert_eq!(credential.auth_type(), "WorkloadIdentity");
    }
}
