//! Client certificate credential: `client_credentials` with an RS256 client assertion (RFC 7523)
//! signed by the certificate's key, as MSAL builds it: header `alg`, `typ`, `x5t` and
//! `x5t#S256`; claims `aud` = token endpoint, `iss` = `sub` = client id, random `jti`, `nbf` /
//! `iat` = now, `exp` = now + 10 min. A new assertion is signed for every request.

use base64::Engine as _;
use serde_json::json;

use super::certificate::ClientCertificate;
use super::entra::{validate_client_id, EntraClient};
use super::scopes::Scopes;
use super::sign_in::{required, SignInInputs, Signed};
use crate::error::Result;
use crate::events::{verbose, EventSink};
use crate::input::Input;
use crate::secret::Secret;
use crate::token::AccessToken;

pub const SOURCE: &str = "ClientCertificate";
/// `client_assertion_type` for a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client-credentials grant with a signed assertion (a certificate's own, or a federated
/// token): one form for both credentials; the assertion is redacted from any error.
pub(crate) async fn client_assertion_grant(
    entra: &EntraClient,
    client_id: &str,
    assertion: &Secret,
    scopes: &Scopes,
    source: &'static str,
) -> Result<AccessToken> {
    let scope = scopes.to_request();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.expose()),
        ("scope", scope.as_str()),
    ];
    let mut set = entra
        .request_token(&form, &scopes.resource(), &[assertion.expose()])
        .await?;
    set.access_token.source = Some(source);
    Ok(set.access_token)
}
/// Assertion lifetime (MSAL: 10 minutes).
pub const ASSERTION_LIFETIME_SECS: u64 = 600;

/// Builds and signs a client assertion. Pure apart from the signature's randomness-free math.
pub fn build_assertion(
    certificate: &ClientCertificate,
    client_id: &str,
    audience: &str,
    now: u64,
    jti: &str,
) -> Result<Secret> {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5t": certificate.x5t(),
        "x5t#S256": certificate.x5t_s256(),
    });
    let claims = json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": jti,
        "nbf": now,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    let signing_input = format!(
        "{}.{}",
        engine.encode(header.to_string()),
        engine.encode(claims.to_string())
    );
    let signature = certificate.sign_rs256(signing_input.as_bytes())?;
    Ok(Secret::new(format!(
        "{signing_input}.{}",
        engine.encode(signature)
    )))
}

#[derive(Debug)]
pub struct ClientCertificateCredential {
    client_id: String,
    certificate: ClientCertificate,
}

impl ClientCertificateCredential {
    pub fn new(client_id: &str, certificate: ClientCertificate) -> Result<Self> {
        Ok(Self {
            client_id: validate_client_id(client_id)?,
            certificate,
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn certificate(&self) -> &ClientCertificate {
        &self.certificate
    }

    pub async fn get_token(&self, entra: &EntraClient, resource: &str) -> Result<AccessToken> {
        let scopes = Scopes::app_only(resource)?;
        let audience = entra.authority.token_endpoint().to_string();
        let jti = uuid::Uuid::new_v4().to_string();
        let assertion = build_assertion(
            &self.certificate,
            &self.client_id,
            &audience,
            entra.clock.now_unix(),
            &jti,
        )?;
        client_assertion_grant(entra, &self.client_id, &assertion, &scopes, SOURCE).await
    }
}

super::sign_in::application_sign_in_flow!(ClientCertificateCredential, SOURCE);

/// `-CertificatePath` (with its password) or a certificate the host exported, for the
/// application `-ClientId` in `-TenantId`; the certificate is read before any request.
pub(crate) fn sign_in(inputs: &SignInInputs<'_>, sink: &dyn EventSink) -> Result<Signed> {
    let tenant = required(inputs.tenant.clone(), Input::TenantId, "a certificate")?;
    let client = required(inputs.client.clone(), Input::ClientId, "a certificate")?;
    let o = inputs.options;
    let path = o
        .certificate_path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let certificate = match (path, &o.secrets.private_key, &o.secrets.certificate_der) {
        (Some(path), _, _) => ClientCertificate::from_file(
            std::path::Path::new(path),
            o.secrets.certificate_password.as_ref(),
        )?,
        (None, Some(key), Some(der)) => ClientCertificate::from_rsa_parameters(key, der)?,
        _ => {
            return Err(crate::error::Error::invalid_argument(format!(
                "{}, {} or {} is required",
                Input::CertificatePath,
                Input::Certificate,
                Input::CertificateThumbprint
            )))
        }
    };
    verbose(
        sink,
        format!(
            "Signing in with the certificate {} (x5t#S256 {}).",
            certificate.thumbprint(),
            certificate.x5t_s256()
        ),
    );
    let entra = inputs.entra(inputs.explicit_host.clone(), &tenant)?;
    let flow = ClientCertificateCredential::new(&client, certificate)?;
    Ok((inputs.credential(entra, Box::new(flow))?, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::certificate::fixtures;
    use crate::credentials::entra::test_support::*;
    use crate::http::transport::testing::response;
    use serde_json::Value;

    fn segment(part: &str) -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn sends_a_signed_assertion_with_the_documented_claims() {
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at", None), &[]))]);
        let (entra, _) = client(fake);
        let cred = ClientCertificateCredential::new(CLIENT, fixtures::certificate()).unwrap();
        let token = cred
            .get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap();
        assert_eq!(token.source, Some(SOURCE));
        let form = form_of(&bodies.lock().unwrap()[0]);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_assertion_type"], JWT_BEARER);
        assert_eq!(form["scope"], "https://graph.microsoft.com/.default");
        assert!(!form.contains_key("client_secret"));
        let assertion = &form["client_assertion"];
        let parts: Vec<&str> = assertion.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = segment(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["x5t#S256"], cred.certificate().x5t_s256());
        assert_eq!(header["x5t"], cred.certificate().x5t());
        let claims = segment(parts[1]);
        assert_eq!(
            claims["aud"],
            format!("https://login.example.test/{TENANT}/oauth2/v2.0/token")
        );
        assert_eq!(claims["iss"], CLIENT);
        assert_eq!(claims["sub"], CLIENT);
        assert_eq!(claims["nbf"], NOW);
        assert_eq!(claims["exp"], NOW + ASSERTION_LIFETIME_SECS);
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
        // The signature verifies with the certificate's public key.
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            cred.certificate().public_key_der(),
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the assertion's signature verifies");
    }

    #[tokio::test]
    async fn each_request_gets_a_new_jti() {
        let (fake, bodies) = recording(vec![Ok(response(200, token_body("at", None), &[]))]);
        let (entra, _) = client(fake);
        let cred = ClientCertificateCredential::new(CLIENT, fixtures::certificate()).unwrap();
        cred.get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap();
        cred.get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap();
        let bodies = bodies.lock().unwrap();
        let jti = |i: usize| {
            let a = form_of(&bodies[i])["client_assertion"].clone();
            segment(a.split('.').nth(1).unwrap())["jti"].clone()
        };
        assert_ne!(jti(0), jti(1));
    }

    #[tokio::test]
    async fn a_refused_assertion_never_appears_in_the_error() {
        let fake = crate::http::transport::testing::FakeTransport::new(|req, _| {
            let form = form_of(req.body.as_deref().unwrap());
            Ok(response(
                401,
                json!({"error":"invalid_client","error_codes":[700027],
                       "error_description":format!("AADSTS700027: bad assertion {}", form["client_assertion"])}),
                &[],
            ))
        });
        let (entra, _) = client(fake);
        let cred = ClientCertificateCredential::new(CLIENT, fixtures::certificate()).unwrap();
        let e = cred
            .get_token(&entra, "https://graph.microsoft.com")
            .await
            .unwrap_err();
        assert!(e.message.contains("AADSTS700027"));
        assert!(e.message.contains("[redacted]"), "{}", e.message);
        assert!(!e.message.contains("eyJ"), "{}", e.message);
    }
}
