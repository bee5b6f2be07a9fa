//! The embedded Microsoft Graph permission table: Microsoft's public permissions reference
//! (`permissions/new/permissions.json` of microsoftgraph/microsoft-graph-devx-content, MIT),
//! reduced by `tools/Update-GraphPermissionData.ps1` to names, ids, privilege levels, methods,
//! path templates and least-privilege markers, and gzipped (`data/graph-permissions.json.gz`,
//! source commit in `data/graph-permissions.source.txt`). Decoded once, on first use.

use std::collections::HashMap;
use std::io::Read;

use once_cell::sync::Lazy;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::path::{Method, Trie};
use crate::{Error, Result};

/// The gzipped table, as committed.
pub const EMBEDDED_GZ: &[u8] = include_bytes!("../data/graph-permissions.json.gz");

/// Largest decoded table accepted (the committed one is under 2 MB).
const MAX_DECODED: u64 = 32 * 1024 * 1024;

/// A kind of sign-in, as the permission data names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scheme {
    /// App-only: application permissions (app roles), what managed identities hold.
    Application,
    /// A work or school user's delegated scopes.
    DelegatedWork,
    /// A personal Microsoft account's delegated scopes.
    DelegatedPersonal,
}

impl Scheme {
    pub const ALL: [Scheme; 3] = [
        Scheme::Application,
        Scheme::DelegatedWork,
        Scheme::DelegatedPersonal,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scheme::Application => "Application",
            Scheme::DelegatedWork => "DelegatedWork",
            Scheme::DelegatedPersonal => "DelegatedPersonal",
        }
    }

    pub fn parse(text: &str) -> Option<Scheme> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("Delegated") {
            return Some(Scheme::DelegatedWork);
        }
        Scheme::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(t))
    }

    fn bit(self) -> u8 {
        match self {
            Scheme::Application => 1,
            Scheme::DelegatedWork => 2,
            Scheme::DelegatedPersonal => 4,
        }
    }
}

/// A set of schemes (bit mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schemes(u8);

impl Schemes {
    pub fn contains(self, s: Scheme) -> bool {
        self.0 & s.bit() != 0
    }

    fn insert(&mut self, s: Scheme) {
        self.0 |= s.bit();
    }

    fn parse_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Schemes {
        let mut set = Schemes::default();
        for n in names {
            if let Some(s) = Scheme::parse(n) {
                set.insert(s);
            }
        }
        set
    }
}

/// One permission's facts for one scheme.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemeFacts {
    /// The app role id (Application) or delegated scope id, when the data names it.
    pub id: Option<Uuid>,
    /// Microsoft's privilege level (1 lowest … 5 highest), when the data names it.
    pub level: Option<u8>,
}

/// One permission of the table.
#[derive(Debug, Clone)]
pub struct Permission {
    pub name: String,
    facts: [Option<SchemeFacts>; 3],
}

impl Permission {
    pub fn facts(&self, scheme: Scheme) -> Option<&SchemeFacts> {
        self.facts[scheme as usize].as_ref()
    }

    /// The privilege level for a scheme (unknown sorts last: 9).
    pub fn level(&self, scheme: Scheme) -> u8 {
        self.facts(scheme).and_then(|f| f.level).unwrap_or(9)
    }
}

/// One (permission, path set, path) fact: this permission allows these methods on a template for
/// these schemes, and is the least privileged choice for `least`, possibly together with one of
/// `also_requires`.
#[derive(Debug, Clone)]
pub struct Grant {
    pub permission: usize,
    pub methods: u8,
    pub schemes: Schemes,
    pub least: Schemes,
    /// Any one of these is needed as well (the data's `AlsoRequires=A,B`).
    pub also_requires: Vec<String>,
}

/// A path template and every grant on it.
#[derive(Debug, Clone)]
pub struct Template {
    /// As the data writes it (first occurrence).
    pub text: String,
    pub grants: Vec<Grant>,
}

/// The decoded table with its path index.
#[derive(Debug)]
pub struct PermissionData {
    pub source: Source,
    pub permissions: Vec<Permission>,
    pub templates: Vec<Template>,
    by_name: HashMap<String, usize>,
    pub(crate) trie: Trie,
}

/// Where the table came from (recorded by the regeneration script).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub commit_date: String,
    #[serde(default)]
    pub license: String,
}

#[derive(Deserialize)]
struct FileShape {
    #[serde(default)]
    source: Source,
    permissions: Vec<PermissionShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PermissionShape {
    name: String,
    #[serde(default)]
    schemes: HashMap<String, FactsShape>,
    #[serde(default)]
    path_sets: Vec<PathSetShape>,
}

#[derive(Deserialize)]
struct FactsShape {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    level: Option<u8>,
}

#[derive(Deserialize)]
struct PathSetShape {
    #[serde(default)]
    schemes: Vec<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    paths: Vec<(String, String)>,
}

/// `least=A,B;AlsoRequires=X,Y` → (least schemes, also-requires).
fn parse_marker(text: &str) -> (Schemes, Vec<String>) {
    let mut least = Schemes::default();
    let mut also = Vec::new();
    for part in text.split(';') {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let list = value.split(',').map(str::trim).filter(|v| !v.is_empty());
        if key.trim().eq_ignore_ascii_case("least") {
            least = Schemes::parse_list(list);
        } else if key.trim().eq_ignore_ascii_case("AlsoRequires") {
            also.extend(list.map(str::to_string));
        }
    }
    (least, also)
}

impl PermissionData {
    /// Decodes a table in the committed shape (gzipped JSON).
    pub fn from_gzip(bytes: &[u8]) -> Result<Self> {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .take(MAX_DECODED)
            .read_to_end(&mut text)
            .map_err(|e| Error::new(format!("the permission table is not gzip: {e}")))?;
        Self::from_json(&text)
    }

    /// Builds the table and its index from the JSON shape.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        let file: FileShape = serde_json::from_slice(json)
            .map_err(|e| Error::new(format!("the permission table is not valid: {e}")))?;
        let mut permissions = Vec::with_capacity(file.permissions.len());
        let mut by_name = HashMap::new();
        let mut templates: Vec<Template> = Vec::new();
        let mut trie = Trie::default();
        for p in file.permissions {
            let index = permissions.len();
            let mut facts: [Option<SchemeFacts>; 3] = Default::default();
            for (scheme, f) in &p.schemes {
                if let Some(s) = Scheme::parse(scheme) {
                    facts[s as usize] = Some(SchemeFacts {
                        id: f.id.as_deref().and_then(|i| Uuid::parse_str(i).ok()),
                        level: f.level,
                    });
                }
            }
            for set in &p.path_sets {
                let schemes = Schemes::parse_list(set.schemes.iter().map(String::as_str));
                let methods = set
                    .methods
                    .iter()
                    .filter_map(|m| Method::parse(m))
                    .fold(0u8, |acc, m| acc | m.bit());
                for (path, marker) in &set.paths {
                    let (least, also_requires) = parse_marker(marker);
                    let t = trie.insert_template(path, templates.len());
                    if t == templates.len() {
                        templates.push(Template {
                            text: path.clone(),
                            grants: Vec::new(),
                        });
                    }
                    templates[t].grants.push(Grant {
                        permission: index,
                        methods,
                        schemes,
                        least,
                        also_requires,
                    });
                }
            }
            by_name.insert(p.name.to_ascii_lowercase(), index);
            permissions.push(Permission {
                name: p.name,
                facts,
            });
        }
        Ok(PermissionData {
            source: file.source,
            permissions,
            templates,
            by_name,
            trie,
        })
    }

    /// A permission by name (case-insensitive).
    pub fn permission(&self, name: &str) -> Option<&Permission> {
        self.by_name
            .get(&name.trim().to_ascii_lowercase())
            .map(|&i| &self.permissions[i])
    }

    /// The index of a permission by name (case-insensitive).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.trim().to_ascii_lowercase()).copied()
    }
}

static GRAPH: Lazy<std::result::Result<PermissionData, Error>> =
    Lazy::new(|| PermissionData::from_gzip(EMBEDDED_GZ));

/// The embedded Microsoft Graph table, decoded on first use (then shared).
pub fn graph() -> Result<&'static PermissionData> {
    GRAPH.as_ref().map_err(Clone::clone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_decodes_with_its_source() {
        let data = graph().expect("decodes");
        assert_eq!(data.permissions.len(), 917);
        assert_eq!(
            data.source.repository,
            "https://github.com/microsoftgraph/microsoft-graph-devx-content"
        );
        assert_eq!(data.source.commit.len(), 40);
        let mail = data.permission("mail.send").expect("Mail.Send");
        assert_eq!(mail.name, "Mail.Send");
        let app = mail.facts(Scheme::Application).expect("application");
        assert_eq!(
            app.id,
            Some(Uuid::parse_str("b633e1c5-b582-4048-a93e-9f11b44c7e96").unwrap())
        );
        assert_eq!(app.level, Some(3));
        assert!(data
            .permission("Files.ReadWrite")
            .is_some_and(|p| p.facts(Scheme::Application).is_none()));
        assert!(data.templates.len() > 5_000);
    }

    #[test]
    fn markers_parse_least_schemes_and_also_requires() {
        let (least, also) = parse_marker(
            "least=DelegatedWork,Application;AlsoRequires=Application.Read.All,Directory.Read.All",
        );
        assert!(least.contains(Scheme::Application) && least.contains(Scheme::DelegatedWork));
        assert!(!least.contains(Scheme::DelegatedPersonal));
        assert_eq!(also, ["Application.Read.All", "Directory.Read.All"]);
        let (least, also) = parse_marker("");
        assert_eq!(least, Schemes::default());
        assert!(also.is_empty());
    }

    #[test]
    fn a_corrupt_table_is_an_error_not_a_panic() {
        assert!(PermissionData::from_gzip(b"not gzip").is_err());
        assert!(PermissionData::from_json(b"{\"permissions\": 5}").is_err());
    }
}
