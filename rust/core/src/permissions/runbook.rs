//! A runbook's Graph call sites → one row each: method, path template and the least privileged
//! permissions. The module hands over what PowerShell's own parser found (command name, its
//! elements as parameters / values / splats, each value as literal text, variables and unknown
//! parts, and the script's simple variable assignments); everything else happens here: which
//! commands call Graph, parameter binding, variable resolution (an unknown part of a path
//! segment makes it `{id}`), the Microsoft Graph PowerShell command map, and the lookup.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::data::{PermissionData, Scheme};
use super::mg::{self, MgMap};
use super::path::{Method, UNKNOWN};
use crate::error::{Error, Result};

/// Most call sites / assignments accepted per script (a 2,000-line runbook has a few hundred).
pub const MAX_CALL_SITES: usize = 50_000;
/// Most variable indirections followed (`$a = "$b/x"; $b = …`).
const MAX_DEPTH: usize = 8;
/// Longest resolved text kept (longer is unknown).
const MAX_TEXT: usize = 8_192;

/// One piece of a value: literal text, a variable, or something the extraction cannot read.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub variable: Option<String>,
    #[serde(default)]
    pub unknown: Option<String>,
}

/// One element after the command name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Element {
    /// `-Name` (without the dash).
    #[serde(default)]
    pub parameter: Option<String>,
    /// `-Name:value`.
    #[serde(default)]
    pub argument: Option<Vec<Part>>,
    /// A value.
    #[serde(default)]
    pub value: Option<Vec<Part>>,
    /// `@name`.
    #[serde(default)]
    pub splat: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallSite {
    pub line: u32,
    #[serde(default)]
    pub offset: usize,
    pub command: String,
    #[serde(default)]
    pub elements: Vec<Element>,
}

/// `$name = value` (or `$name = @{ Key = value; … }` for splatting).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub variable: String,
    #[serde(default)]
    pub offset: usize,
    #[serde(default)]
    pub value: Option<Vec<Part>>,
    #[serde(default)]
    pub table: Option<Vec<(String, Vec<Part>)>>,
}

/// What the parser found in one script.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptFacts {
    pub file: String,
    #[serde(default)]
    pub call_sites: Vec<CallSite>,
    #[serde(default)]
    pub assignments: Vec<Assignment>,
}

/// What became of one call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CallStatus {
    /// Resolved and found in the permission data.
    Resolved,
    /// Found, but no application permission allows it (delegated only).
    NoApplicationPermission,
    /// Resolved, but the permission data does not list this path (or not for this method).
    NotInData,
    /// The URI or method could not be resolved from the script's text.
    Unresolved,
    /// A Microsoft Graph PowerShell command, and no command map was found.
    CommandMapMissing,
    /// A `*-Mg*` command the command map does not list.
    UnknownCommand,
}

/// One output row of `Get-RunbookPermission`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRow {
    pub file: String,
    pub line: u32,
    pub command: String,
    pub method: Option<String>,
    /// The request path as resolved (unknown segments `{id}`).
    pub uri: Option<String>,
    /// The data's template it matched.
    pub path_template: Option<String>,
    pub status: CallStatus,
    /// The least privileged application permission(s) (all needed together).
    pub application: Vec<String>,
    /// The least privileged delegated (work or school) permission(s).
    pub delegated: Vec<String>,
    pub note: Option<String>,
}

impl CallRow {
    /// `file:line METHOD path` (what the comparison rows cite).
    pub fn site(&self) -> String {
        let name = std::path::Path::new(&self.file)
            .file_name()
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned());
        format!(
            "{name}:{} {} {}",
            self.line,
            self.method.as_deref().unwrap_or("?"),
            self.uri.as_deref().unwrap_or(&self.command)
        )
    }
}

/// A call row plus the request it resolved to (for the comparison).
#[derive(Debug, Clone)]
pub struct Analysed {
    pub row: CallRow,
    pub request: Option<(Method, String)>,
}

/// Commands of Microsoft.Graph.Authentication: `*-Mg*` but not calls of the command map.
const MG_AUTHENTICATION: [&str; 15] = [
    "connect-mggraph",
    "disconnect-mggraph",
    "get-mgcontext",
    "add-mgenvironment",
    "get-mgenvironment",
    "remove-mgenvironment",
    "set-mgenvironment",
    "get-mgrequestcontext",
    "set-mgrequestcontext",
    "set-mggraphoption",
    "get-mggraphoption",
    "find-mggraphcommand",
    "find-mggraphpermission",
    "get-mgprofile",
    "select-mgprofile",
];

/// Switch parameters of the request commands (they take no value).
const SWITCHES: [&str; 14] = [
    "all",
    "passthru",
    "skipheadervalidation",
    "usebasicparsing",
    "skipcertificatecheck",
    "skiphttperrorcheck",
    "disablekeepalive",
    "noproxy",
    "resume",
    "allowinsecureredirect",
    "usedefaultcredentials",
    "whatif",
    "confirm",
    "verbose",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Invoke-GraphApiRequest / Invoke-MgGraphRequest: always Graph.
    GraphRequest,
    /// Invoke-RestMethod / Invoke-WebRequest: Graph when the URL is.
    WebRequest,
    Mg,
}

fn kind_of(command: &str) -> Option<Kind> {
    let name = command
        .rsplit('\\')
        .next()
        .unwrap_or(command)
        .to_ascii_lowercase();
    match name.as_str() {
        "invoke-graphapirequest"
        | "invoke-mggraphrequest"
        | "invoke-graphrequest"
        | "invoke-mgrestmethod" => Some(Kind::GraphRequest),
        "invoke-restmethod" | "invoke-webrequest" | "irm" | "iwr" => Some(Kind::WebRequest),
        _ => {
            let (verb, noun) = name.split_once('-')?;
            let is_mg = !verb.is_empty()
                && verb.chars().all(|c| c.is_ascii_alphabetic())
                && noun.len() > 2
                && noun.starts_with("mg")
                && noun.chars().all(|c| c.is_ascii_alphanumeric());
            (is_mg && !MG_AUTHENTICATION.contains(&name.as_str())).then_some(Kind::Mg)
        }
    }
}

/// The Graph hosts of every cloud.
const GRAPH_HOSTS: [&str; 5] = [
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
    "canary.graph.microsoft.com",
];

/// The script's variables, resolved as of a call site.
struct Scope<'a> {
    assignments: HashMap<String, Vec<&'a Assignment>>,
}

fn variable_key(name: &str) -> String {
    let n = name.trim().trim_start_matches('$');
    let n = n
        .strip_prefix("script:")
        .or_else(|| n.strip_prefix("global:"))
        .or_else(|| n.strip_prefix("local:"))
        .or_else(|| n.strip_prefix("private:"))
        .unwrap_or(n);
    n.to_ascii_lowercase()
}

impl<'a> Scope<'a> {
    fn new(facts: &'a ScriptFacts) -> Self {
        let mut assignments: HashMap<String, Vec<&Assignment>> = HashMap::new();
        for a in &facts.assignments {
            assignments
                .entry(variable_key(&a.variable))
                .or_default()
                .push(a);
        }
        for list in assignments.values_mut() {
            list.sort_by_key(|a| a.offset);
        }
        Scope { assignments }
    }

    /// The assignment of `name` in force at `offset` (the last one before it; else the first
    /// one after it, e.g. a function called before its body's variables appear in the text).
    fn at(&self, name: &str, offset: usize) -> Option<&'a Assignment> {
        let list = self.assignments.get(&variable_key(name))?;
        list.iter()
            .rev()
            .find(|a| a.offset < offset)
            .or_else(|| list.first())
            .copied()
    }

    /// The text of `parts`, unknown pieces as [`UNKNOWN`].
    fn text(&self, parts: &[Part], offset: usize, depth: usize) -> String {
        let mut out = String::new();
        for p in parts {
            if let Some(t) = &p.text {
                out.push_str(t);
            } else if let Some(v) = &p.variable {
                match self
                    .at(v, offset)
                    .and_then(|a| a.value.as_ref().map(|val| (a, val)))
                {
                    Some((a, value)) if depth < MAX_DEPTH => {
                        out.push_str(&self.text(value, a.offset, depth + 1))
                    }
                    _ => out.push(UNKNOWN),
                }
            } else {
                out.push(UNKNOWN);
            }
            if out.len() > MAX_TEXT {
                return UNKNOWN.to_string();
            }
        }
        out
    }

    fn table(&self, name: &str, offset: usize) -> Option<&'a Vec<(String, Vec<Part>)>> {
        self.at(name, offset).and_then(|a| a.table.as_ref())
    }
}

/// Parameters bound by name (lower case) and positional values, of one call site.
struct Bound<'a> {
    named: Vec<(String, Option<&'a [Part]>)>,
    positional: Vec<&'a [Part]>,
}

fn bind<'a>(site: &'a CallSite, scope: &Scope<'a>) -> Bound<'a> {
    let mut named = Vec::new();
    let mut positional = Vec::new();
    let mut i = 0;
    while i < site.elements.len() {
        let e = &site.elements[i];
        i += 1;
        if let Some(name) = &e.splat {
            if let Some(table) = scope.table(name, site.offset) {
                for (k, v) in table {
                    named.push((k.to_ascii_lowercase(), Some(v.as_slice())));
                }
            }
            continue;
        }
        if let Some(p) = &e.parameter {
            let p = p.to_ascii_lowercase();
            if let Some(arg) = &e.argument {
                named.push((p, Some(arg.as_slice())));
            } else if SWITCHES.contains(&p.as_str()) {
                named.push((p, None));
            } else {
                let next = site
                    .elements
                    .get(i)
                    .and_then(|n| n.value.as_deref().filter(|_| n.parameter.is_none()));
                if next.is_some() {
                    i += 1;
                }
                named.push((p, next));
            }
            continue;
        }
        if let Some(v) = &e.value {
            positional.push(v.as_slice());
        }
    }
    Bound { named, positional }
}

impl<'a> Bound<'a> {
    /// The value of a parameter given by its full name or an unambiguous prefix (≥ 2 letters).
    fn get(&self, full: &str) -> Option<&'a [Part]> {
        self.named
            .iter()
            .find(|(n, _)| n == full || (n.len() >= 2 && full.starts_with(n.as_str())))
            .and_then(|(_, v)| *v)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.named.iter().map(|(n, _)| n.as_str())
    }
}

/// Analyses every call site of the scripts.
pub fn analyse(
    data: &PermissionData,
    scripts: &[ScriptFacts],
    mg: Option<&MgMap>,
) -> Result<Vec<Analysed>> {
    let total: usize = scripts
        .iter()
        .map(|s| s.call_sites.len() + s.assignments.len())
        .sum();
    if total > MAX_CALL_SITES {
        return Err(Error::invalid_argument(format!(
            "the scripts hold {total} commands and assignments; at most {MAX_CALL_SITES} are analysed"
        )));
    }
    let mut out = Vec::new();
    for facts in scripts {
        let scope = Scope::new(facts);
        for site in &facts.call_sites {
            let Some(kind) = kind_of(&site.command) else {
                continue;
            };
            if let Some(a) = analyse_site(data, facts, &scope, site, kind, mg) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

fn row(facts: &ScriptFacts, site: &CallSite, status: CallStatus) -> CallRow {
    CallRow {
        file: facts.file.clone(),
        line: site.line,
        command: site.command.clone(),
        method: None,
        uri: None,
        path_template: None,
        status,
        application: Vec::new(),
        delegated: Vec::new(),
        note: None,
    }
}

/// A value as the script writes it (`$page.'@odata.nextLink'`, `"$base/users"`).
fn as_written(parts: &[Part]) -> String {
    let mut out = String::new();
    for p in parts {
        if let Some(t) = &p.text {
            out.push_str(t);
        } else if let Some(v) = &p.variable {
            out.push('$');
            out.push_str(v);
        } else if let Some(u) = &p.unknown {
            out.push_str(u);
        }
    }
    out
}

/// Shows unknown pieces as `{id}` (whole segments) for output.
fn display_path(path: &str) -> String {
    path.split('/')
        .map(|s| if s.contains(UNKNOWN) { "{id}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn analyse_site(
    data: &PermissionData,
    facts: &ScriptFacts,
    scope: &Scope<'_>,
    site: &CallSite,
    kind: Kind,
    mg: Option<&MgMap>,
) -> Option<Analysed> {
    let bound = bind(site, scope);
    let unresolved = |mut r: CallRow, note: String| {
        r.note = Some(note);
        Some(Analysed {
            row: r,
            request: None,
        })
    };
    let (method, path, mut note) = match kind {
        Kind::Mg => {
            let Some(map) = mg else {
                return unresolved(
                    row(facts, site, CallStatus::CommandMapMissing),
                    mg::MAP_MISSING.into(),
                );
            };
            let Some(entry) = map.select(&site.command, bound.names(), bound.positional.len())
            else {
                return unresolved(
                    row(facts, site, CallStatus::UnknownCommand),
                    "the Microsoft Graph PowerShell command map does not list this command".into(),
                );
            };
            (
                Method::parse(&entry.method)
                    .map(Ok)
                    .unwrap_or_else(|| Err(entry.method.clone())),
                entry.uri.clone(),
                None,
            )
        }
        Kind::GraphRequest | Kind::WebRequest => {
            let mut method_parts = bound.get("method");
            let mut uri_parts = bound.get("uri");
            for p in &bound.positional {
                let text = scope.text(p, site.offset, 0);
                if method_parts.is_none() && Method::parse(&text).is_some() {
                    method_parts = Some(p);
                } else if uri_parts.is_none() {
                    uri_parts = Some(p);
                }
            }
            let Some(uri_parts) = uri_parts else {
                return unresolved(
                    row(facts, site, CallStatus::Unresolved),
                    "no -Uri was found on this call".into(),
                );
            };
            let uri = scope.text(uri_parts, site.offset, 0);
            let method = match method_parts {
                None => Ok(Method::Get),
                Some(p) => {
                    let m = scope.text(p, site.offset, 0);
                    Method::parse(&m).map(Ok).unwrap_or(Err(m))
                }
            };
            match graph_path(&uri, kind) {
                GraphPath::NotGraph => return None,
                GraphPath::Unresolved(why) => {
                    let mut r = row(facts, site, CallStatus::Unresolved);
                    r.method = method.as_ref().ok().map(|m| m.name().to_string());
                    r.uri = Some(as_written(uri_parts));
                    return unresolved(r, why);
                }
                GraphPath::Path(p, note) => (method, p, note),
            }
        }
    };
    let mut r = row(facts, site, CallStatus::Resolved);
    r.uri = Some(display_path(&path));
    let method = match method {
        Ok(m) => m,
        Err(text) => {
            r.status = CallStatus::Unresolved;
            r.note = Some(format!(
                "the method '{}' could not be resolved",
                text.replace(UNKNOWN, "…")
            ));
            return Some(Analysed {
                row: r,
                request: None,
            });
        }
    };
    r.method = Some(method.name().to_string());
    let lookup_path = path.replace(UNKNOWN, "{id}");
    let Some(allowing) = data.allowing(method, &lookup_path) else {
        r.status = CallStatus::NotInData;
        r.note = Some("Microsoft's permission data does not list this path".into());
        return Some(Analysed {
            row: r,
            request: None,
        });
    };
    r.path_template = Some(allowing.template().to_string());
    if allowing.method_unknown() {
        r.status = CallStatus::NotInData;
        r.note = Some(format!(
            "Microsoft's permission data lists this path, but not for {}",
            method.name()
        ));
        return Some(Analysed {
            row: r,
            request: None,
        });
    }
    r.application = allowing
        .recommended(Scheme::Application)
        .map(|x| x.permissions)
        .unwrap_or_default();
    r.delegated = allowing
        .recommended(Scheme::DelegatedWork)
        .map(|x| x.permissions)
        .unwrap_or_default();
    if !allowing.supports(Scheme::Application) {
        r.status = CallStatus::NoApplicationPermission;
        note = Some(
            "no application permission supports this request: a managed identity cannot call it"
                .into(),
        );
    }
    r.note = note;
    Some(Analysed {
        row: r,
        request: Some((method, lookup_path)),
    })
}

enum GraphPath {
    NotGraph,
    Unresolved(String),
    /// The path (unknown pieces as [`UNKNOWN`]) and a note.
    Path(String, Option<String>),
}

fn graph_path(uri: &str, kind: Kind) -> GraphPath {
    let t = uri.trim();
    if t.is_empty() {
        return GraphPath::Unresolved("the -Uri is empty".into());
    }
    let lower = t.to_ascii_lowercase();
    let absolute = ["https://", "http://"]
        .into_iter()
        .find(|s| lower.starts_with(s));
    let mut note = None;
    let path = if let Some(scheme) = absolute {
        let rest = &t[scheme.len()..];
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        // Graph's own request commands go to Graph whatever the host says; a web request only
        // when the host is Graph's.
        if kind == Kind::WebRequest {
            if host.contains(UNKNOWN) {
                return GraphPath::Unresolved(
                    "the host of this URL could not be resolved; if it calls Microsoft Graph, write the URL or its base as a literal".into(),
                );
            }
            if !GRAPH_HOSTS.contains(&host.to_ascii_lowercase().as_str()) {
                return GraphPath::NotGraph;
            }
        }
        path.to_string()
    } else if t.starts_with(UNKNOWN) {
        // `"$base/users"`: an unresolved base.
        let after = t.trim_start_matches(UNKNOWN);
        if kind == Kind::WebRequest || !after.starts_with('/') || after.len() < 2 {
            return GraphPath::Unresolved(
                "the URI could not be resolved from the script's text (a variable set at run time?)"
                    .into(),
            );
        }
        note = Some("the base URL is a variable the script does not set as text; taken as Microsoft Graph's".into());
        after.to_string()
    } else if kind == Kind::WebRequest {
        return GraphPath::NotGraph;
    } else {
        t.to_string()
    };
    let p = super::path::request_path(&path);
    // A version segment that came from an unresolved base is not part of the request.
    let first = p.split('/').find(|s| !s.is_empty()).unwrap_or("");
    if first.is_empty() || first.contains(UNKNOWN) {
        return GraphPath::Unresolved(
            "the resource part of the URI could not be resolved from the script's text".into(),
        );
    }
    GraphPath::Path(p, note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::graph;

    fn text(t: &str) -> Part {
        Part {
            text: Some(t.into()),
            ..Default::default()
        }
    }

    fn var(v: &str) -> Part {
        Part {
            variable: Some(v.into()),
            ..Default::default()
        }
    }

    fn param(name: &str) -> Element {
        Element {
            parameter: Some(name.into()),
            ..Default::default()
        }
    }

    fn value(parts: Vec<Part>) -> Element {
        Element {
            value: Some(parts),
            ..Default::default()
        }
    }

    fn site(line: u32, command: &str, elements: Vec<Element>) -> CallSite {
        CallSite {
            line,
            offset: line as usize * 100,
            command: command.into(),
            elements,
        }
    }

    fn assign(name: &str, line: usize, parts: Vec<Part>) -> Assignment {
        Assignment {
            variable: name.into(),
            offset: line * 100,
            value: Some(parts),
            table: None,
        }
    }

    fn run(facts: ScriptFacts) -> Vec<CallRow> {
        analyse(graph().unwrap(), &[facts], None)
            .unwrap()
            .into_iter()
            .map(|a| a.row)
            .collect()
    }

    #[test]
    fn literals_variables_and_expandable_strings_resolve() {
        let facts = ScriptFacts {
            file: "/r/runbook.ps1".into(),
            assignments: vec![
                assign("graph", 1, vec![text("https://graph.microsoft.com/v1.0")]),
                assign("sender", 2, vec![text("ops@contoso.com")]),
                assign(
                    "script:uri",
                    3,
                    vec![
                        var("graph"),
                        text("/users/"),
                        var("sender"),
                        text("/sendMail"),
                    ],
                ),
            ],
            call_sites: vec![
                site(
                    4,
                    "Invoke-RestMethod",
                    vec![
                        param("Method"),
                        value(vec![text("POST")]),
                        param("Uri"),
                        value(vec![var("uri")]),
                    ],
                ),
                site(
                    5,
                    "Invoke-GraphApiRequest",
                    vec![value(vec![text("/auditLogs/signIns?$top=10")])],
                ),
                site(
                    6,
                    "Invoke-MgGraphRequest",
                    vec![
                        value(vec![text("GET")]),
                        value(vec![var("graph"), text("/applications/"), var("loopVar")]),
                    ],
                ),
                site(
                    7,
                    "Invoke-RestMethod",
                    vec![
                        param("Uri"),
                        value(vec![text("https://contoso.example/hook")]),
                    ],
                ),
                site(8, "Write-Output", vec![value(vec![text("x")])]),
            ],
        };
        let rows = run(facts);
        assert_eq!(rows.len(), 3, "{rows:#?}");
        assert_eq!(rows[0].method.as_deref(), Some("POST"));
        assert_eq!(
            rows[0].uri.as_deref(),
            Some("/users/ops@contoso.com/sendMail")
        );
        assert_eq!(rows[0].application, ["Mail.Send"]);
        assert_eq!(
            rows[0].site(),
            "runbook.ps1:4 POST /users/ops@contoso.com/sendMail"
        );
        assert_eq!(rows[1].application, ["AuditLog.Read.All"]);
        assert_eq!(rows[2].uri.as_deref(), Some("/applications/{id}"));
        assert_eq!(rows[1].uri.as_deref(), Some("/auditLogs/signIns"));
        assert_eq!(rows[2].application, ["Application.Read.All"]);
    }

    #[test]
    fn unresolvable_uris_are_rows_not_dropped() {
        let facts = ScriptFacts {
            file: "x.ps1".into(),
            assignments: vec![],
            call_sites: vec![
                site(
                    1,
                    "Invoke-GraphApiRequest",
                    vec![param("Uri"), value(vec![var("fromParameter")])],
                ),
                site(
                    2,
                    "Invoke-RestMethod",
                    vec![value(vec![var("unknownHost"), text("/users")])],
                ),
                site(
                    3,
                    "Invoke-GraphApiRequest",
                    vec![
                        param("Method"),
                        value(vec![var("m")]),
                        param("Uri"),
                        value(vec![text("/users")]),
                    ],
                ),
                site(4, "Get-MgUser", vec![]),
            ],
        };
        let rows = run(facts);
        let statuses: Vec<CallStatus> = rows.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                CallStatus::Unresolved,
                CallStatus::Unresolved,
                CallStatus::Unresolved,
                CallStatus::CommandMapMissing
            ]
        );
        assert!(rows.iter().all(|r| r.note.is_some()));
        assert_eq!(rows[0].uri.as_deref(), Some("$fromParameter"));
        assert_eq!(rows[1].uri.as_deref(), Some("$unknownHost/users"));
    }

    #[test]
    fn splats_and_switches_bind() {
        let facts = ScriptFacts {
            file: "x.ps1".into(),
            assignments: vec![Assignment {
                variable: "p".into(),
                offset: 0,
                value: None,
                table: Some(vec![
                    ("Method".into(), vec![text("GET")]),
                    ("Uri".into(), vec![text("/auditLogs/signIns")]),
                ]),
            }],
            call_sites: vec![
                site(
                    1,
                    "Invoke-MgGraphRequest",
                    vec![Element {
                        splat: Some("p".into()),
                        ..Default::default()
                    }],
                ),
                site(
                    2,
                    "Invoke-GraphApiRequest",
                    vec![param("All"), value(vec![text("/applications")])],
                ),
            ],
        };
        let rows = run(facts);
        assert_eq!(rows[0].application, ["AuditLog.Read.All"]);
        assert_eq!(rows[1].uri.as_deref(), Some("/applications"));
    }

    #[test]
    fn commands_are_classified() {
        assert_eq!(kind_of("Get-MgUser"), Some(Kind::Mg));
        assert_eq!(kind_of("Microsoft.Graph.Users\\Get-MgUser"), Some(Kind::Mg));
        assert_eq!(kind_of("Connect-MgGraph"), None);
        assert_eq!(kind_of("Invoke-MgGraphRequest"), Some(Kind::GraphRequest));
        assert_eq!(kind_of("irm"), Some(Kind::WebRequest));
        assert_eq!(kind_of("Get-Mg"), None);
        assert_eq!(kind_of("Get-Content"), None);
    }

    #[test]
    fn variable_cycles_and_huge_text_stay_bounded() {
        let facts = ScriptFacts {
            file: "x.ps1".into(),
            assignments: vec![
                assign("a", 1, vec![var("b"), text("/x")]),
                assign("b", 2, vec![var("a"), text("/y")]),
            ],
            call_sites: vec![site(
                3,
                "Invoke-GraphApiRequest",
                vec![value(vec![var("a")])],
            )],
        };
        let rows = run(facts);
        assert_eq!(rows.len(), 1);
        assert_ne!(rows[0].status, CallStatus::Resolved, "{rows:?}");
    }
}
