//! Microsoft Graph PowerShell's own command map: `custom/common/MgCommandMetadata.json` inside the
//! installed Microsoft.Graph.Authentication module (entries `{Command, Method, Uri or Url,
//! ApiVersion, …}`, one per command variant). The module finds the newest installed copy; the
//! engine reads it (bounded in size), keeps the last one read, and picks a command's variant from
//! the parameters a call site binds (`-UserId` → `/users/{user-id}`).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::Value;

use crate::error::{Error, Result};

/// Largest command map read (the real one is a few MB).
pub const MAX_MAP_BYTES: u64 = 128 * 1024 * 1024;

/// Why a Microsoft Graph PowerShell command cannot be looked up (an error, or a row's note).
pub const MAP_MISSING: &str =
    "the Microsoft Graph PowerShell command map (MgCommandMetadata.json of Microsoft.Graph.Authentication) was not found: install that module or pass -CommandMetadataPath";

/// One command variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MgEntry {
    pub command: String,
    pub method: String,
    pub uri: String,
    pub api_version: Option<String>,
    /// The URI's parameters, normalized (`{user-id}` → `userid`).
    params: Vec<String>,
}

/// Command (lower case) → its variants.
#[derive(Debug, Default)]
pub struct MgMap {
    commands: HashMap<String, Vec<MgEntry>>,
}

fn param_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn text(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

impl MgMap {
    /// Parses the map's JSON (an array of entries, or an object holding one).
    pub fn parse(json: &[u8]) -> Result<Self> {
        let value: Value = serde_json::from_slice(json).map_err(|e| {
            Error::invalid_argument(format!("the command map is not valid JSON: {e}"))
        })?;
        let entries = match &value {
            Value::Array(a) => a,
            Value::Object(o) => o.values().find_map(Value::as_array).ok_or_else(|| {
                Error::invalid_argument("the command map holds no list of commands")
            })?,
            _ => {
                return Err(Error::invalid_argument(
                    "the command map holds no list of commands",
                ))
            }
        };
        let mut commands: HashMap<String, Vec<MgEntry>> = HashMap::new();
        for e in entries {
            let (Some(command), Some(method), Some(uri)) = (
                text(e, &["Command", "command"]),
                text(e, &["Method", "method"]),
                text(e, &["Uri", "Url", "uri", "url"]),
            ) else {
                continue;
            };
            let params = uri
                .split('/')
                .filter(|s| s.starts_with('{') && s.ends_with('}'))
                .map(param_key)
                .collect();
            commands
                .entry(command.to_ascii_lowercase())
                .or_default()
                .push(MgEntry {
                    command,
                    method,
                    uri,
                    api_version: text(e, &["ApiVersion", "apiVersion"]),
                    params,
                });
        }
        Ok(MgMap { commands })
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Every variant of a command (case-insensitive; a module-qualified name too).
    pub fn variants(&self, command: &str) -> &[MgEntry] {
        let name = command
            .trim()
            .rsplit('\\')
            .next()
            .unwrap_or(command)
            .to_ascii_lowercase();
        self.commands.get(&name).map_or(&[], Vec::as_slice)
    }

    /// The variant of `command` a call binds: every URI parameter given (by name, or by position
    /// in order), the most specific such; else the variant with the fewest parameters.
    pub fn select<'n>(
        &self,
        command: &str,
        named: impl Iterator<Item = &'n str>,
        positional: usize,
    ) -> Option<&MgEntry> {
        let name = command
            .rsplit('\\')
            .next()
            .unwrap_or(command)
            .to_ascii_lowercase();
        let variants = self.commands.get(&name)?;
        let given: Vec<String> = named.map(param_key).collect();
        let bound = |e: &MgEntry| {
            let by_name = e.params.iter().filter(|p| given.contains(p)).count();
            let missing = e.params.len() - by_name;
            missing <= positional
        };
        variants
            .iter()
            .filter(|e| bound(e))
            .max_by_key(|e| (e.params.len(), std::cmp::Reverse(e.uri.len())))
            .or_else(|| variants.iter().min_by_key(|e| e.params.len()))
    }
}

type Cached = (PathBuf, u64, Option<SystemTime>, Arc<MgMap>);

static LAST: Mutex<Option<Cached>> = Mutex::new(None);

/// Reads (or reuses the last read of) the map at `path`.
pub fn load(path: &Path) -> Result<Arc<MgMap>> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::invalid_argument(format!(
            "cannot read the command map '{}': {e}",
            path.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(Error::invalid_argument(format!(
            "the command map '{}' is not a file",
            path.display()
        )));
    }
    if meta.len() > MAX_MAP_BYTES {
        return Err(Error::invalid_argument(format!(
            "the command map '{}' is {} bytes; at most {MAX_MAP_BYTES} are read",
            path.display(),
            meta.len()
        )));
    }
    let modified = meta.modified().ok();
    {
        let last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, len, m, map)) = last.as_ref() {
            if p == path && *len == meta.len() && *m == modified {
                return Ok(map.clone());
            }
        }
    }
    // Bounded even if the file grows (or is a device) after the size check.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MAP_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| {
            Error::invalid_argument(format!(
                "cannot read the command map '{}': {e}",
                path.display()
            ))
        })?;
    if bytes.len() as u64 > MAX_MAP_BYTES {
        return Err(Error::invalid_argument(format!(
            "the command map '{}' is over {MAX_MAP_BYTES} bytes",
            path.display()
        )));
    }
    let map = Arc::new(MgMap::parse(&bytes)?);
    *LAST.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((path.to_path_buf(), meta.len(), modified, map.clone()));
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"[
      {"Command": "Get-MgUser", "Method": "GET", "Uri": "/users", "ApiVersion": "v1.0"},
      {"Command": "Get-MgUser", "Method": "GET", "Uri": "/users/{user-id}", "ApiVersion": "v1.0"},
      {"Command": "Send-MgUserMail", "Method": "POST", "Uri": "/users/{user-id}/sendMail", "ApiVersion": "v1.0"},
      {"Command": "Get-MgBetaUser", "Method": "GET", "Url": "/users", "ApiVersion": "beta"},
      {"Command": "Broken"}
    ]"#;

    #[test]
    fn variants_follow_the_bound_parameters() {
        let map = MgMap::parse(MAP.as_bytes()).expect("map");
        assert_eq!(map.len(), 3);
        let pick = |c: &str, named: &[&str], pos: usize| {
            map.select(c, named.iter().copied(), pos)
                .map(|e| e.uri.clone())
        };
        assert_eq!(pick("Get-MgUser", &["all"], 0).as_deref(), Some("/users"));
        assert_eq!(
            pick("get-mguser", &["UserId"], 0).as_deref(),
            Some("/users/{user-id}")
        );
        assert_eq!(
            pick("Get-MgUser", &[], 1).as_deref(),
            Some("/users/{user-id}")
        );
        assert_eq!(
            pick("Send-MgUserMail", &["bodyparameter"], 0).as_deref(),
            Some("/users/{user-id}/sendMail")
        );
        assert_eq!(pick("Get-MgBetaUser", &[], 0).as_deref(), Some("/users"));
        assert_eq!(pick("Get-MgGroup", &[], 0), None);
    }

    #[test]
    fn bad_maps_are_errors() {
        assert!(MgMap::parse(b"nope").is_err());
        assert!(MgMap::parse(b"5").is_err());
        assert!(load(Path::new("/no/such/map.json")).is_err());
        let dir = std::env::temp_dir();
        assert!(load(&dir).is_err(), "a directory is not a map");
    }
}
