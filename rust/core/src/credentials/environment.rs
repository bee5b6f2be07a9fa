//! `-EnvironmentVariable`: picks a credential from the variables Azure.Identity reads, in its
//! order. EnvironmentCredential: with `AZURE_TENANT_ID` and `AZURE_CLIENT_ID` set, a client
//! secret (`AZURE_CLIENT_SECRET`) wins, then username/password (`AZURE_USERNAME` +
//! `AZURE_PASSWORD`, which this module does not support: refused with a reason), then a
//! certificate (`AZURE_CLIENT_CERTIFICATE_PATH` + optional `_PASSWORD`). Then, as
//! DefaultAzureCredential tries next, WorkloadIdentityCredential (`AZURE_FEDERATED_TOKEN_FILE`
//! with the same tenant and client). `AZURE_AUTHORITY_HOST` overrides the authority for all.
//! A pure function over the injected [`Environment`]; every decision is explained in `reasons`.

use std::path::PathBuf;

use crate::env::Environment;
use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::secret::Secret;

pub const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub const AZURE_CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
pub const AZURE_CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
pub const AZURE_USERNAME: &str = "AZURE_USERNAME";
pub const AZURE_PASSWORD: &str = "AZURE_PASSWORD";
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
pub const AZURE_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";

/// Every variable this selection reads (the host must snapshot them).
pub const VARIABLES: [&str; 9] = [
    AZURE_TENANT_ID,
    AZURE_CLIENT_ID,
    AZURE_CLIENT_SECRET,
    AZURE_CLIENT_CERTIFICATE_PATH,
    AZURE_CLIENT_CERTIFICATE_PASSWORD,
    AZURE_USERNAME,
    AZURE_PASSWORD,
    AZURE_FEDERATED_TOKEN_FILE,
    AZURE_AUTHORITY_HOST,
];

/// The credential the variables describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvironmentCredentialKind {
    ClientSecret {
        secret: Secret,
    },
    ClientCertificate {
        path: PathBuf,
        password: Option<Secret>,
    },
    WorkloadIdentity {
        token_file: PathBuf,
    },
}

impl EnvironmentCredentialKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientSecret { .. } => "ClientSecret",
            Self::ClientCertificate { .. } => "ClientCertificate",
            Self::WorkloadIdentity { .. } => "WorkloadIdentity",
        }
    }
}

/// The selection's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentSelection {
    pub tenant_id: String,
    pub client_id: String,
    pub kind: EnvironmentCredentialKind,
    /// `AZURE_AUTHORITY_HOST`, unvalidated (validated when the authority is built).
    pub authority_host: Option<String>,
    /// Why this one (and not the others), one line each, never a value of a secret.
    pub reasons: Vec<String>,
}

/// Selects the credential, or explains (in the error) what is missing.
pub fn select(env: &dyn Environment) -> Result<EnvironmentSelection> {
    let var = |name: &str| {
        env.var(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let mut reasons = Vec::new();
    let tenant = var(AZURE_TENANT_ID);
    let client = var(AZURE_CLIENT_ID);
    let authority_host = var(AZURE_AUTHORITY_HOST);
    if let Some(host) = &authority_host {
        reasons.push(format!(
            "{AZURE_AUTHORITY_HOST} sets the authority to {host}"
        ));
    }
    let (tenant_id, client_id) = match (tenant, client) {
        (Some(t), Some(c)) => (t, c),
        (t, c) => {
            let missing: Vec<&str> = [
                (AZURE_TENANT_ID, t.is_none()),
                (AZURE_CLIENT_ID, c.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect();
            return Err(not_configured(format!(
                "the environment names no credential: {} not set (Azure.Identity's EnvironmentCredential and WorkloadIdentityCredential need {AZURE_TENANT_ID} and {AZURE_CLIENT_ID})",
                missing.join(" and ")
            )));
        }
    };
    let selection = |kind, reasons| EnvironmentSelection {
        tenant_id: tenant_id.clone(),
        client_id: client_id.clone(),
        kind,
        authority_host: authority_host.clone(),
        reasons,
    };
    if let Some(secret) = env
        .var(AZURE_CLIENT_SECRET)
        .filter(|s| !s.trim().is_empty())
    {
        reasons.push(format!(
            "{AZURE_CLIENT_SECRET} is set: client secret (EnvironmentCredential's first choice)"
        ));
        return Ok(selection(
            EnvironmentCredentialKind::ClientSecret {
                secret: Secret::new(secret),
            },
            reasons,
        ));
    }
    if var(AZURE_USERNAME).is_some() && env.var(AZURE_PASSWORD).is_some() {
        return Err(not_configured(format!(
            "{AZURE_USERNAME} and {AZURE_PASSWORD} are set: EnvironmentCredential would use a username/password sign-in, which this module does not support (it cannot do MFA); use a client secret, a certificate, workload identity or {}", Input::UseDeviceCode
        )));
    }
    if let Some(path) = var(AZURE_CLIENT_CERTIFICATE_PATH) {
        let password = env
            .var(AZURE_CLIENT_CERTIFICATE_PASSWORD)
            .filter(|p| !p.is_empty())
            .map(Secret::new);
        reasons.push(format!(
            "{AZURE_CLIENT_CERTIFICATE_PATH} is set: client certificate{}",
            if password.is_some() {
                format!(" (with {AZURE_CLIENT_CERTIFICATE_PASSWORD})")
            } else {
                String::new()
            }
        ));
        return Ok(selection(
            EnvironmentCredentialKind::ClientCertificate {
                path: PathBuf::from(path),
                password,
            },
            reasons,
        ));
    }
    reasons.push(format!(
        "neither {AZURE_CLIENT_SECRET} nor {AZURE_CLIENT_CERTIFICATE_PATH} is set"
    ));
    if let Some(file) = var(AZURE_FEDERATED_TOKEN_FILE) {
        reasons.push(format!(
            "{AZURE_FEDERATED_TOKEN_FILE} is set: workload identity federation"
        ));
        return Ok(selection(
            EnvironmentCredentialKind::WorkloadIdentity {
                token_file: PathBuf::from(file),
            },
            reasons,
        ));
    }
    Err(not_configured(format!(
        "the environment names no credential: {AZURE_TENANT_ID} and {AZURE_CLIENT_ID} are set but none of {AZURE_CLIENT_SECRET}, {AZURE_CLIENT_CERTIFICATE_PATH} or {AZURE_FEDERATED_TOKEN_FILE} is"
    )))
}

fn not_configured(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnvironment;

    fn base() -> MapEnvironment {
        MapEnvironment::new()
            .with(AZURE_TENANT_ID, "t")
            .with(AZURE_CLIENT_ID, "c")
    }

    #[test]
    fn a_secret_wins_over_a_certificate_and_a_token_file() {
        let env = base()
            .with(AZURE_CLIENT_SECRET, "s3cret")
            .with(AZURE_CLIENT_CERTIFICATE_PATH, "/c.pem")
            .with(AZURE_FEDERATED_TOKEN_FILE, "/t")
            .with(AZURE_AUTHORITY_HOST, "https://login.microsoftonline.us");
        let s = select(&env).unwrap();
        assert_eq!(s.kind.name(), "ClientSecret");
        assert_eq!((s.tenant_id.as_str(), s.client_id.as_str()), ("t", "c"));
        assert_eq!(
            s.authority_host.as_deref(),
            Some("https://login.microsoftonline.us")
        );
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(!s.reasons.join(" ").contains("s3cret"));
    }

    #[test]
    fn a_certificate_wins_over_a_token_file() {
        let env = base()
            .with(AZURE_CLIENT_CERTIFICATE_PATH, "/c.pfx")
            .with(AZURE_CLIENT_CERTIFICATE_PASSWORD, "pw")
            .with(AZURE_FEDERATED_TOKEN_FILE, "/t");
        let s = select(&env).unwrap();
        match &s.kind {
            EnvironmentCredentialKind::ClientCertificate { path, password } => {
                assert_eq!(path, &PathBuf::from("/c.pfx"));
                assert_eq!(password.as_ref().unwrap().expose(), "pw");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_token_file_is_last() {
        let s = select(&base().with(AZURE_FEDERATED_TOKEN_FILE, "/var/run/token")).unwrap();
        assert_eq!(
            s.kind,
            EnvironmentCredentialKind::WorkloadIdentity {
                token_file: PathBuf::from("/var/run/token")
            }
        );
        assert!(s
            .reasons
            .iter()
            .any(|r| r.contains(AZURE_FEDERATED_TOKEN_FILE)));
    }

    #[test]
    fn missing_pieces_are_explained() {
        let e = select(&MapEnvironment::new().with(AZURE_CLIENT_SECRET, "x")).unwrap_err();
        assert!(
            e.message
                .contains("AZURE_TENANT_ID and AZURE_CLIENT_ID not set"),
            "{}",
            e.message
        );
        let e = select(&base()).unwrap_err();
        assert!(e.message.contains("none of"), "{}", e.message);
        let e = select(&base().with(AZURE_USERNAME, "u").with(AZURE_PASSWORD, "p")).unwrap_err();
        assert!(e.message.contains("username/password"), "{}", e.message);
        // Empty values count as unset, as in .NET.
        let e = select(&base().with(AZURE_CLIENT_SECRET, "")).unwrap_err();
        assert!(e.message.contains("none of"), "{}", e.message);
    }
}

#[cfg(test)]
mod snapshot_tests {
    #[test]
    fn the_host_snapshots_every_variable_the_selection_reads() {
        for name in super::VARIABLES {
            assert!(crate::env::VARIABLES.contains(&name), "{name}");
        }
    }
}
