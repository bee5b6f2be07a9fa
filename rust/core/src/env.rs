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
    "AZUREPS_HOST_ENVIRONMENT",
    "ProgramFiles",
    "MANAGEDIDENTITY_HIMDS_PATH",
    "MANAGEDIDENTITY_TEST_ONLY_ARC_TOKEN_DIRECTORY",
    "ProgramData",
    "DEFAULT_IDENTITY_CLIENT_ID",
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

impl Environment for SnapshotEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
    fn file_exists(&self, path: &str) -> bool {
        std::path::Path::new(path).is_file()
    }
}
