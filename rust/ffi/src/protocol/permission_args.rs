//! Argument decoding of the `permissions.*` operations (see `managed_identity_core::permissions`).

use serde::Deserialize;

use managed_identity_core::error::{Error, Result};
use managed_identity_core::permissions::{FindQuery, Scheme, ScriptFacts};

/// `permissions.find` args.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindArgs {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    command_metadata_path: Option<String>,
}

impl FindArgs {
    /// The typed query.
    pub fn query(self) -> FindQuery {
        FindQuery {
            method: self.method,
            uri: self.uri,
            command: self.command,
            command_metadata_path: self.command_metadata_path,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    use crate::protocol::request::Request;

    fn find_query(args: Value) -> Result<FindQuery> {
        match Request::from_json("permissions.find", args)? {
            Request::PermissionsFind(a) => Ok(a.query()),
            other => panic!("{other:?}"),
        }
    }

    fn script_args(args: Value) -> Result<ScriptArgs> {
        match Request::from_json("permissions.analyze", args)? {
            Request::PermissionsAnalyze(a) => Ok(a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn args_decode() {
        let q = find_query(json!({"method": "POST", "uri": "/users/x/sendMail"})).expect("ok");
        assert_eq!(q.method.as_deref(), Some("POST"));
        let a = script_args(json!({"scripts": [{"file": "a.ps1", "callSites": [{"line": 1, "command": "Get-MgUser", "elements": [{"parameter": "UserId", "value": null}]}]}], "scheme": "Delegated"})).expect("ok");
        assert_eq!(a.scheme().expect("scheme"), Scheme::DelegatedWork);
        assert_eq!(a.scripts[0].call_sites.len(), 1);
        let a = script_args(json!({"scripts": [], "scheme": "Other"})).expect("ok");
        assert!(a.scheme().is_err());
        assert!(script_args(json!({"scripts": 5})).is_err());
    }
}

/// Longest wait `permissions.tokenCheck` accepts (a day: IMDS caches a token for up to 24 hours).
const MAX_WAIT_SECONDS: u64 = 86_400;

/// `permissions.tokenCheck` args: `{permissions, refresh?, wait?, timeoutSeconds?=300}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCheckArgs {
    permissions: Vec<String>,
    #[serde(default)]
    refresh: bool,
    #[serde(default)]
    wait: bool,
    #[serde(default)]
    timeout_seconds: Option<f64>,
}

/// `permissions.tokenCheck` args → the typed check.
pub fn token_check(
    a: TokenCheckArgs,
) -> Result<managed_identity_core::permissions::token_check::TokenCheck> {
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
