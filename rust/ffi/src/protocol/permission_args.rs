//! Argument decoding of the `permissions.*` operations (see `managed_identity_core::permissions`).

use serde::Deserialize;
use serde_json::Value;

use super::args::parse_args;
use managed_identity_core::error::{Error, Result};
use managed_identity_core::permissions::{FindQuery, Scheme, ScriptFacts};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindArgs {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    command_metadata_path: Option<String>,
}

/// `permissions.find` args.
pub fn find_query(args: &Value) -> Result<FindQuery> {
    let a: FindArgs = parse_args(args)?;
    Ok(FindQuery {
        method: a.method,
        uri: a.uri,
        command: a.command,
        command_metadata_path: a.command_metadata_path,
    })
}

/// `permissions.analyze` / `permissions.test` args.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptArgs {
    pub scripts: Vec<ScriptFacts>,
    #[serde(default)]
    pub command_metadata_path: Option<String>,
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    scheme: Option<String>,
}

impl ScriptArgs {
    pub fn scheme(&self) -> Result<Scheme> {
        match self.scheme.as_deref().map(str::trim) {
            None | Some("") => Ok(Scheme::Application),
            Some(s) => Scheme::parse(s).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "unknown scheme '{s}'; use Application or Delegated"
                ))
            }),
        }
    }
}

/// `permissions.analyze` / `permissions.test` args.
pub fn script_args(args: &Value) -> Result<ScriptArgs> {
    parse_args(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_decode() {
        let q = find_query(&json!({"method": "POST", "uri": "/users/x/sendMail"})).expect("ok");
        assert_eq!(q.method.as_deref(), Some("POST"));
        let a = script_args(&json!({"scripts": [{"file": "a.ps1", "callSites": [{"line": 1, "command": "Get-MgUser", "elements": [{"parameter": "UserId", "value": null}]}]}], "scheme": "Delegated"})).expect("ok");
        assert_eq!(a.scheme().expect("scheme"), Scheme::DelegatedWork);
        assert_eq!(a.scripts[0].call_sites.len(), 1);
        let a = script_args(&json!({"scripts": [], "scheme": "Other"})).expect("ok");
        assert!(a.scheme().is_err());
        assert!(script_args(&json!({"scripts": 5})).is_err());
    }
}

/// Longest wait `permissions.tokenCheck` accepts (a day: IMDS caches a token for up to 24 hours).
const MAX_WAIT_SECONDS: u64 = 86_400;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenCheckArgs {
    permissions: Vec<String>,
    #[serde(default)]
    refresh: bool,
    #[serde(default)]
    wait: bool,
    #[serde(default)]
    timeout_seconds: Option<f64>,
}

/// `permissions.tokenCheck` args: `{permissions, refresh?, wait?, timeoutSeconds?=300}`.
pub fn token_check(
    args: &Value,
) -> Result<managed_identity_core::permissions::token_check::TokenCheck> {
    let a: TokenCheckArgs = parse_args(args)?;
    let wait = if a.wait {
        let secs = a.timeout_seconds.unwrap_or(300.0);
        if !secs.is_finite() || secs < 1.0 || secs > MAX_WAIT_SECONDS as f64 {
            return Err(Error::invalid_argument(format!(
                "{} must be between 1 and {MAX_WAIT_SECONDS} seconds",
                managed_identity_core::input::Input::Timeout
            )));
        }
        Some(std::time::Duration::from_secs_f64(secs))
    } else {
        None
    };
    Ok(
        managed_identity_core::permissions::token_check::TokenCheck {
            permissions: a.permissions,
            refresh: a.refresh,
            wait,
        },
    )
}
