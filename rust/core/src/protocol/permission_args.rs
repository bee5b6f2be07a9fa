//! Argument decoding of the `permissions.*` operations (see `crate::permissions`).

use serde::Deserialize;
use serde_json::Value;

use super::args::parse_args;
use crate::error::{Error, Result};
use crate::permissions::{FindQuery, Scheme, ScriptFacts};

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
