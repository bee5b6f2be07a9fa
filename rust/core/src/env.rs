//! Injected environment. The FFI passes a snapshot of the host's environment variables (the
//! .NET process environment is not visible to native `getenv` on Unix), tests pass a map.

use std::collections::HashMap;

pub trait Environment: Send + Sync {
    /// The variable's value; a set-but-empty variable counts as absent (as .NET and Python do).
    fn var(&self, name: &str) -> Option<String>;
    /// Whether a file exists (used for the Arc `himds` probe).
    fn file_exists(&self, path: &str) -> bool;
}

/// Variables the engine reads; the host snapshots exactly these.
pub const VARIABLES: &[&str] = &[
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_AUTHORITY_HOST",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZUREPS_HOST_ENVIRONMENT",
    "ProgramFiles",
    "MANAGEDIDENTITY_HIMDS_PATH",
    // The proxy for https service endpoints (crate::http::proxy).
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY",
    "ProgramData",
    "DEFAULT_IDENTITY_CLIENT_ID",
    // Issue 10: where `az` is looked up, whether a browser can open, and the test browser.
    "PATH",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "MANAGEDIDENTITY_TEST_ONLY_BROWSER",
];

/// Variables whose values are secrets (issue 8.9): the host passes them through the operation's
/// secret channel as a JSON object `{"IDENTITY_HEADER": "…"}`, never in the JSON request.
pub const SECRET_VARIABLES: &[&str] = &[
    "IDENTITY_HEADER",
    "MSI_SECRET",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
];

/// An environment built from a map; files are "present" only if listed.
#[derive(Debug, Clone, Default)]
pub struct MapEnvironment {
    pub vars: HashMap<String, String>,
    pub files: Vec<String>,
}

impl MapEnvironment {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), value.to_string());
        self
    }
}

impl Environment for MapEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
    fn file_exists(&self, path: &str) -> bool {
        self.files.iter().any(|f| f == path)
    }
}

/// A host snapshot of variables plus real file-existence checks.
#[derive(Debug, Clone, Default)]
pub struct SnapshotEnvironment {
    pub vars: HashMap<String, String>,
}

impl SnapshotEnvironment {
    /// Adds the secret variables the host passed through the secret channel: a JSON object of
    /// [`SECRET_VARIABLES`] to string values. Messages name variables, never values.
    pub fn add_secret_variables(&mut self, secret: &crate::secret::Secret) -> crate::Result<()> {
        let invalid = |why: &str| {
            crate::Error::invalid_argument(format!(
                "the secret environment values are not usable: {why}"
            ))
        };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(secret.expose())
                .map_err(|_| invalid("expected a JSON object of variable names to strings"))?;
        for (name, value) in object {
            let Some(known) = SECRET_VARIABLES.iter().find(|v| **v == name) else {
                return Err(invalid(&format!(
                    "'{}' is not a secret variable the engine reads",
                    name.chars().take(64).collect::<String>()
                )));
            };
            match value {
                serde_json::Value::String(mut text) => {
                    self.vars
                        .insert(known.to_string(), std::mem::take(&mut text));
                }
                serde_json::Value::Null => {}
                _ => return Err(invalid(&format!("the value of {known} is not a string"))),
            }
        }
        Ok(())
    }
}

impl Environment for SnapshotEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
    fn file_exists(&self, path: &str) -> bool {
        std::path::Path::new(path).is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn secret_variables_come_from_the_secret_channel_and_override_the_snapshot() {
        let mut env = SnapshotEnvironment::default();
        env.vars.insert("IDENTITY_HEADER".into(), "old".into());
        env.add_secret_variables(&Secret::new(
            r#"{"IDENTITY_HEADER":"hdr-from-secret","MSI_SECRET":"msi-s"}"#,
        ))
        .expect("valid");
        assert_eq!(
            env.var("IDENTITY_HEADER").as_deref(),
            Some("hdr-from-secret")
        );
        assert_eq!(env.var("MSI_SECRET").as_deref(), Some("msi-s"));
        for bad in [
            r#"{"IDENTITY_ENDPOINT":"x"}"#,
            r#"{"IDENTITY_HEADER":5}"#,
            "hdr-value-not-json",
            "[]",
        ] {
            let e = env.add_secret_variables(&Secret::new(bad)).expect_err(bad);
            assert_eq!(e.kind, crate::ErrorKind::InvalidArgument);
            assert!(!e.message.contains("hdr-value"), "{}", e.message);
        }
        assert!(SECRET_VARIABLES.iter().all(|v| VARIABLES.contains(v)));
    }
}
