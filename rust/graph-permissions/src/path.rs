//! Request paths against the permission data's path templates.
//!
//! Both sides are reduced to segments the same way: the host and `/v1.0` or `/beta` go, the query
//! string goes, case is folded, `microsoft.graph.` prefixes go, `name()` is `name`, a drive-item
//! path between `root:` and the next `:` is one segment. A template segment is a literal, a
//! parameter (`{id}`, `{user-id}`), a parameter ending a drive path (`{id}:`) or a function /
//! key segment (`serviceprincipals(appid={value})`: its name and argument names). Matching walks a
//! trie of the templates and keeps the most specific match (literals beat functions beat
//! parameters, from the left), so `/users/delta` is not taken for `/users/{id}`.

use std::collections::HashMap;

/// Most segments a request path may have (longer paths match nothing).
pub const MAX_SEGMENTS: usize = 48;

/// An HTTP method the data knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    pub fn parse(text: &str) -> Option<Method> {
        let t = text.trim();
        [
            ("GET", Method::Get),
            ("POST", Method::Post),
            ("PATCH", Method::Patch),
            ("PUT", Method::Put),
            ("DELETE", Method::Delete),
            // HEAD reads what GET reads.
            ("HEAD", Method::Get),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(t))
        .map(|(_, m)| m)
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub fn bit(self) -> u8 {
        match self {
            Method::Get => 1,
            Method::Post => 2,
            Method::Patch => 4,
            Method::Put => 8,
            Method::Delete => 16,
        }
    }
}

/// One normalized segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    /// A template parameter, or a request segment whose value is unknown.
    Param,
    /// A drive-item path (`root:/a/b.xlsx:` → `{id}:`).
    ParamColon,
    /// `name(arg=…, …)`: the name and the sorted argument names (empty for `name('x')`).
    Function(String, Vec<String>),
}

/// The marker resolution puts where a value is unknown (never in real paths).
pub const UNKNOWN: char = '\u{1}';

fn strip_cast(s: &str) -> &str {
    s.strip_prefix("microsoft.graph.").unwrap_or(s)
}

fn classify(raw: &str) -> Segment {
    let s = raw.trim();
    if s.contains(UNKNOWN) {
        return if s.ends_with(':') {
            Segment::ParamColon
        } else {
            Segment::Param
        };
    }
    if s.starts_with('{') && s.ends_with('}') {
        return Segment::Param;
    }
    if s.starts_with('{') && s.ends_with("}:") {
        return Segment::ParamColon;
    }
    let s = strip_cast(s);
    if let Some(open) = s.find('(') {
        let name = strip_cast(s[..open].trim()).to_string();
        let inner = s[open + 1..].trim_end_matches(')');
        if inner.trim().is_empty() {
            return Segment::Literal(name);
        }
        let mut keys: Vec<String> = inner
            .split(',')
            .filter_map(|a| a.split_once('=').map(|(k, _)| k.trim().to_string()))
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        return Segment::Function(name, keys);
    }
    Segment::Literal(s.to_string())
}

/// The path part of a request URI or template: no scheme/host, no `/v1.0` or `/beta`, no query
/// or fragment, lower case.
pub fn path_part(uri: &str) -> String {
    request_path(uri).to_lowercase()
}

/// As [`path_part`], in the case it was written (for output).
pub fn request_path(uri: &str) -> String {
    let mut s = uri.trim();
    for scheme in ["https://", "http://"] {
        if s.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
        {
            s = &s[scheme.len()..];
            s = s.find('/').map_or("", |i| &s[i..]);
            break;
        }
    }
    let s = s.split(['?', '#']).next().unwrap_or("");
    let mut path = s.to_string();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    for version in ["/v1.0", "/beta"] {
        let Some(head) = path.get(..version.len()) else {
            continue;
        };
        if !head.eq_ignore_ascii_case(version) {
            continue;
        }
        let rest = &path[version.len()..];
        if rest.is_empty() {
            return "/".into();
        }
        if rest.starts_with('/') {
            return rest.to_string();
        }
    }
    path
}

/// Splits a path (after [`path_part`]) into segments, joining drive-item paths.
pub fn segments(path: &str) -> Vec<Segment> {
    let raw: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let s = raw[i];
        out.push(classify(s));
        i += 1;
        if s.ends_with(':') && !s.starts_with('{') && i < raw.len() {
            // `root:` (or `items/{id}:`) opens a drive path: up to the segment closing it.
            match raw[i..].iter().position(|t| t.ends_with(':')) {
                Some(end) => {
                    out.push(Segment::ParamColon);
                    i += end + 1;
                }
                None => {
                    out.push(Segment::Param);
                    i = raw.len();
                }
            }
        }
    }
    out
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, usize>,
    function: Vec<(String, Vec<String>, usize)>,
    param: Option<usize>,
    param_colon: Option<usize>,
    terminal: Option<usize>,
}

/// The index of every template.
#[derive(Debug)]
pub struct Trie {
    nodes: Vec<Node>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::default()],
        }
    }
}

/// Specificity of one matched segment.
const LITERAL: u8 = 3;
const FUNCTION: u8 = 2;
const PARAM: u8 = 1;

impl Trie {
    /// Adds a template; returns its id (`next` when new, the existing id when the normalized
    /// template is already known).
    pub fn insert_template(&mut self, template: &str, next: usize) -> usize {
        let mut node = 0;
        for seg in segments(&path_part(template)) {
            let existing = match &seg {
                Segment::Literal(l) => self.nodes[node].literal.get(l).copied(),
                Segment::Param => self.nodes[node].param,
                Segment::ParamColon => self.nodes[node].param_colon,
                Segment::Function(n, k) => self.nodes[node]
                    .function
                    .iter()
                    .find(|(fn_, fk, _)| fn_ == n && fk == k)
                    .map(|(_, _, i)| *i),
            };
            node = match existing {
                Some(i) => i,
                None => {
                    let i = self.nodes.len();
                    self.nodes.push(Node::default());
                    let parent = &mut self.nodes[node];
                    match seg {
                        Segment::Literal(l) => {
                            parent.literal.insert(l, i);
                        }
                        Segment::Param => parent.param = Some(i),
                        Segment::ParamColon => parent.param_colon = Some(i),
                        Segment::Function(n, k) => parent.function.push((n, k, i)),
                    }
                    i
                }
            };
        }
        *self.nodes[node].terminal.get_or_insert(next)
    }

    /// The templates matching a request's segments most specifically (several when equally
    /// specific), or none.
    pub fn best(&self, request: &[Segment]) -> Vec<usize> {
        if request.len() > MAX_SEGMENTS {
            return Vec::new();
        }
        let mut best: (Vec<u8>, Vec<usize>) = (Vec::new(), Vec::new());
        let mut score = Vec::with_capacity(request.len());
        self.walk(0, request, &mut score, &mut best);
        best.1
    }

    fn walk(
        &self,
        node: usize,
        rest: &[Segment],
        score: &mut Vec<u8>,
        best: &mut (Vec<u8>, Vec<usize>),
    ) {
        let n = &self.nodes[node];
        let Some((seg, tail)) = rest.split_first() else {
            if let Some(t) = n.terminal {
                match score.as_slice().cmp(best.0.as_slice()) {
                    std::cmp::Ordering::Greater => *best = (score.clone(), vec![t]),
                    std::cmp::Ordering::Equal if !best.1.is_empty() => best.1.push(t),
                    std::cmp::Ordering::Equal => *best = (score.clone(), vec![t]),
                    std::cmp::Ordering::Less => {}
                }
            }
            return;
        };
        let mut step = |next: usize, s: u8, score: &mut Vec<u8>| {
            score.push(s);
            self.walk(next, tail, score, best);
            score.pop();
        };
        match seg {
            Segment::Literal(l) => {
                if let Some(&i) = n.literal.get(l) {
                    step(i, LITERAL, score);
                }
                if let Some(i) = n.param {
                    step(i, PARAM, score);
                }
            }
            Segment::Function(name, keys) => {
                for (fname, fkeys, i) in &n.function {
                    if fname == name && (fkeys == keys || keys.is_empty() || fkeys.is_empty()) {
                        step(*i, FUNCTION, score);
                    }
                }
                if let Some(i) = n.param {
                    step(i, PARAM, score);
                }
            }
            Segment::Param => {
                if let Some(i) = n.param {
                    step(i, PARAM, score);
                }
            }
            Segment::ParamColon => {
                if let Some(i) = n.param_colon {
                    step(i, PARAM, score);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.into())
    }

    #[test]
    fn request_paths_lose_host_version_query_and_case() {
        assert_eq!(
            path_part("https://graph.microsoft.com/v1.0/Users/a@b.com/sendMail?x=1"),
            "/users/a@b.com/sendmail"
        );
        assert_eq!(path_part("/beta/auditLogs/signIns"), "/auditlogs/signins");
        assert_eq!(path_part("applications"), "/applications");
        assert_eq!(path_part("v1.0/applications"), "/applications");
        assert_eq!(path_part("/v1.0"), "/");
        assert_eq!(path_part("/beta2/x"), "/beta2/x");
    }

    #[test]
    fn segments_classify_functions_params_and_drive_paths() {
        assert_eq!(
            segments("/serviceprincipals(appid={value})/approleassignments"),
            vec![
                Segment::Function("serviceprincipals".into(), vec!["appid".into()]),
                lit("approleassignments")
            ]
        );
        assert_eq!(
            segments("/me/drive/root:/reports/jan.xlsx:/workbook"),
            vec![
                lit("me"),
                lit("drive"),
                lit("root:"),
                Segment::ParamColon,
                lit("workbook")
            ]
        );
        assert_eq!(
            segments("/drive/root:/{id}:/content"),
            segments("/drive/root:/x/y/z:/content")
        );
        assert_eq!(segments("/users/delta()"), vec![lit("users"), lit("delta")]);
        assert_eq!(
            segments("/users/microsoft.graph.delta"),
            vec![lit("users"), lit("delta")]
        );
        assert_eq!(
            segments(&format!("/users/{UNKNOWN}/messages")),
            vec![lit("users"), Segment::Param, lit("messages")]
        );
    }

    #[test]
    fn the_most_specific_template_wins() {
        let mut t = Trie::default();
        assert_eq!(t.insert_template("/users/{id}", 0), 0);
        assert_eq!(t.insert_template("/users/delta", 1), 1);
        assert_eq!(t.insert_template("/users/{user-id}", 2), 0, "same shape");
        assert_eq!(t.insert_template("/Users/{id}/sendMail", 2), 2);
        let best = |p: &str| t.best(&segments(&path_part(p)));
        assert_eq!(best("/users/delta"), vec![1]);
        assert_eq!(best("/users/adele@contoso.com"), vec![0]);
        assert_eq!(best("/users/x/sendmail"), vec![2]);
        assert!(best("/groups").is_empty());
        assert!(best("/users/x/y/z").is_empty());
    }
}
