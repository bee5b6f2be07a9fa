//! The secret channel of `identity.connect` and `identity.testEndpoint` (every method but
//! `AccessToken`, whose secret is the token itself): one UTF-8 JSON object, never part of the
//! request JSON. Its fields:
//!
//! | field | value |
//! |---|---|
//! | `IDENTITY_HEADER`, `MSI_SECRET`, `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PASSWORD`, `AZURE_PASSWORD` | the host's secret environment variables ([`managed_identity_core::env::SECRET_VARIABLES`]) |
//! | `clientSecret` | `-ClientSecret` / `-Credential`'s password |
//! | `certificatePassword` | `-CertificatePassword` (a PFX's password) |
//! | `privateKey` | `{n, e, d, p, q, dp, dq, qi}`: an exported certificate's RSA key, each base64 big-endian |
//! | `certificate` | that certificate's DER, base64 |
//!
//! Unknown fields are refused (by name, never by value).

use serde_json::{Map, Value};

use managed_identity_core::context::options::SignInSecrets;
use managed_identity_core::credentials::RsaParameters;
use managed_identity_core::error::{Error, Result};
use managed_identity_core::secret::Secret;

/// The secret object split into the secret environment variables (a JSON object, for
/// [`managed_identity_core::env::SnapshotEnvironment::add_secret_variables`]) and the sign-in secrets.
pub fn split(secret: &Secret) -> Result<(Option<Secret>, SignInSecrets)> {
    let invalid = |why: String| {
        Error::invalid_argument(format!(
            "the operation's secret values are not usable: {why}"
        ))
    };
    let object: Map<String, Value> = serde_json::from_str(secret.expose())
        .map_err(|_| invalid("expected a JSON object of named secret values".into()))?;
    let mut variables = Map::new();
    let mut out = SignInSecrets::default();
    let text = |name: &str, value: Value| match value {
        Value::String(s) => Ok(Some(Secret::new(s))),
        Value::Null => Ok(None),
        _ => Err(invalid(format!("'{name}' is not a string"))),
    };
    for (name, value) in object {
        match name.as_str() {
            n if managed_identity_core::env::SECRET_VARIABLES.contains(&n) => {
                variables.insert(name, value);
            }
            "clientSecret" => out.client_secret = text(&name, value)?,
            "certificatePassword" => out.certificate_password = text(&name, value)?,
            "privateKey" => out.private_key = Some(RsaParameters::from_json(&value)?),
            "certificate" => {
                let b64 = text(&name, value)?;
                if let Some(b64) = b64 {
                    use base64::Engine as _;
                    out.certificate_der = Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64.expose().trim())
                            .map_err(|_| invalid("'certificate' is not base64".into()))?,
                    );
                }
            }
            other => {
                return Err(invalid(format!(
                    "'{}' is not a secret field the engine reads",
                    other.chars().take(64).collect::<String>()
                )))
            }
        }
    }
    let variables = if variables.is_empty() {
        None
    } else {
        Some(Secret::new(Value::Object(variables).to_string()))
    };
    Ok((variables, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_variables_from_sign_in_secrets_and_names_unknown_fields_only() {
        let s = Secret::new(
            json!({"IDENTITY_HEADER": "h-value", "clientSecret": "cs-value", "certificatePassword": null,
                   "certificate": "AQID"})
            .to_string(),
        );
        let (vars, secrets) = split(&s).expect("valid");
        assert_eq!(
            vars.map(|v| v.expose().to_string()),
            Some(r#"{"IDENTITY_HEADER":"h-value"}"#.to_string())
        );
        assert_eq!(
            secrets
                .client_secret
                .map(|c| c.expose().to_string())
                .as_deref(),
            Some("cs-value")
        );
        assert!(secrets.certificate_password.is_none());
        assert_eq!(secrets.certificate_der, Some(vec![1, 2, 3]));
        let e = split(&Secret::new(r#"{"password": "p-value"}"#)).expect_err("unknown");
        assert!(
            e.message.contains("'password'") && !e.message.contains("p-value"),
            "{}",
            e.message
        );
        let e = split(&Secret::new("not json p-value")).expect_err("not json");
        assert!(!e.message.contains("p-value"));
    }
}
