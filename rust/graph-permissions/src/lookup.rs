//! "Which permissions allow METHOD PATH for scheme X": the question the least-privilege commands
//! ask for every call site, and that a 403 handler asks of one failed request. One trie walk per
//! question; nothing is allocated for the table after its first decode.

use std::collections::HashSet;

use serde::Serialize;

use crate::data::{Grant, PermissionData, Scheme};
use crate::path::{path_part, segments, Method, Segment};

/// One way to be allowed a request: a permission, plus one of its `AlsoRequires` when the data
/// names some (then `permissions` holds both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    /// Every permission this way needs, the main one first.
    pub permissions: Vec<String>,
    /// The data marks the main permission least privileged for this request and scheme.
    pub least: bool,
    /// Highest privilege level among them (1 lowest … 5; 9 when unknown).
    pub level: u8,
}

impl Requirement {
    /// `A + B`.
    pub fn display(&self) -> String {
        self.permissions.join(" + ")
    }

    /// Every permission is in `held` (lower-case names).
    pub fn held_by(&self, held: &HashSet<String>) -> bool {
        self.permissions
            .iter()
            .all(|p| held.contains(&p.to_ascii_lowercase()))
    }
}

/// The answer for one request: the matched template(s) and the grants that allow the method.
#[derive(Debug, Clone)]
pub struct Allowing<'d> {
    data: &'d PermissionData,
    pub method: Method,
    /// The request's path as matched (lower case, no version or query).
    pub path: String,
    /// The data's templates that matched (most specific).
    pub templates: Vec<&'d str>,
    grants: Vec<&'d Grant>,
}

impl PermissionData {
    /// The grants allowing `method` on `uri` (absolute URL, `/v1.0/…`, `/beta/…` or relative
    /// path; unknown segments may be `{id}`). `None` when no template matches the path; a match
    /// whose grants are empty means the data lists the path but not this method.
    pub fn allowing(&self, method: Method, uri: &str) -> Option<Allowing<'_>> {
        let path = path_part(uri);
        let mut segs = segments(&path);
        let mut found = self.trie.best(&segs);
        // `$value`, `$count` and other trailing system segments: the resource's own template.
        while found.is_empty()
            && matches!(segs.last(), Some(Segment::Literal(l)) if l.starts_with('$'))
        {
            segs.pop();
            found = self.trie.best(&segs);
        }
        if found.is_empty() {
            return None;
        }
        let templates: Vec<&str> = found
            .iter()
            .map(|&t| self.templates[t].text.as_str())
            .collect();
        let grants = found
            .iter()
            .flat_map(|&t| self.templates[t].grants.iter())
            .filter(|g| g.methods & method.bit() != 0)
            .collect();
        Some(Allowing {
            data: self,
            method,
            path,
            templates,
            grants,
        })
    }
}

impl<'d> Allowing<'d> {
    /// The template to show (the first, shortest as written).
    pub fn template(&self) -> &'d str {
        self.templates
            .iter()
            .min_by_key(|t| (t.len(), **t))
            .copied()
            .unwrap_or("")
    }

    /// The data lists this path for another method only.
    pub fn method_unknown(&self) -> bool {
        self.grants.is_empty()
    }

    /// Every way to be allowed the request under `scheme`, least privileged first: marked least,
    /// then by level, then by name. Each `AlsoRequires` alternative is its own requirement.
    pub fn requirements(&self, scheme: Scheme) -> Vec<Requirement> {
        let mut out: Vec<Requirement> = Vec::new();
        for g in self.grants.iter().filter(|g| g.schemes.contains(scheme)) {
            let main = &self.data.permissions[g.permission];
            let least = g.least.contains(scheme);
            let alternatives: Vec<Option<&str>> = if g.also_requires.is_empty() {
                vec![None]
            } else {
                g.also_requires.iter().map(|a| Some(a.as_str())).collect()
            };
            for also in alternatives {
                let mut permissions = vec![main.name.clone()];
                let mut level = main.level(scheme);
                if let Some(a) = also {
                    let other = self.data.permission(a);
                    permissions.push(other.map_or_else(|| a.to_string(), |p| p.name.clone()));
                    level = level.max(other.map_or(9, |p| p.level(scheme)));
                }
                let r = Requirement {
                    permissions,
                    least,
                    level,
                };
                let same = |o: &Requirement| {
                    let mut a: Vec<String> = o
                        .permissions
                        .iter()
                        .map(|p| p.to_ascii_lowercase())
                        .collect();
                    let mut b: Vec<String> = r
                        .permissions
                        .iter()
                        .map(|p| p.to_ascii_lowercase())
                        .collect();
                    a.sort();
                    b.sort();
                    a == b
                };
                match out.iter_mut().find(|o| same(o)) {
                    Some(o) => o.least |= r.least,
                    None => out.push(r),
                }
            }
        }
        out.sort_by(|a, b| {
            (!a.least, a.level, a.permissions.len(), &a.permissions).cmp(&(
                !b.least,
                b.level,
                b.permissions.len(),
                &b.permissions,
            ))
        });
        out
    }

    /// The least privileged requirements (marked least; when none is marked, those of the lowest
    /// level).
    pub fn least(&self, scheme: Scheme) -> Vec<Requirement> {
        let all = self.requirements(scheme);
        if all.iter().any(|r| r.least) {
            return all.into_iter().filter(|r| r.least).collect();
        }
        let Some(min) = all.iter().map(|r| r.level).min() else {
            return Vec::new();
        };
        all.into_iter().filter(|r| r.level == min).collect()
    }

    /// The one least privileged requirement to recommend: lowest level, then the most of its
    /// permissions themselves marked least for this request (an `AlsoRequires` alternative that
    /// is least beats one that is not), then the fewest.
    pub fn recommended(&self, scheme: Scheme) -> Option<Requirement> {
        let least = self.least(scheme);
        let marked: HashSet<String> = self
            .grants
            .iter()
            .filter(|g| g.least.contains(scheme))
            .map(|g| {
                self.data.permissions[g.permission]
                    .name
                    .to_ascii_lowercase()
            })
            .collect();
        let unmarked = |r: &Requirement| {
            r.permissions
                .iter()
                .filter(|p| !marked.contains(&p.to_ascii_lowercase()))
                .count()
        };
        least.into_iter().min_by(|a, b| {
            (a.level, unmarked(a), a.permissions.len(), &a.permissions).cmp(&(
                b.level,
                unmarked(b),
                b.permissions.len(),
                &b.permissions,
            ))
        })
    }

    /// Some permission allows the request under `scheme`.
    pub fn supports(&self, scheme: Scheme) -> bool {
        self.grants.iter().any(|g| g.schemes.contains(scheme))
    }

    /// The first requirement (least privileged first) that `held` (lower-case names) satisfies.
    pub fn satisfied_by(&self, scheme: Scheme, held: &HashSet<String>) -> Option<Requirement> {
        self.requirements(scheme)
            .into_iter()
            .find(|r| r.held_by(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::graph;

    fn names(rs: &[Requirement]) -> Vec<String> {
        rs.iter().map(Requirement::display).collect()
    }

    fn ask(method: Method, uri: &str) -> Allowing<'static> {
        graph()
            .expect("data")
            .allowing(method, uri)
            .unwrap_or_else(|| panic!("{uri} is in the data"))
    }

    #[test]
    fn the_issues_examples() {
        let a = ask(
            Method::Post,
            "https://graph.microsoft.com/v1.0/users/adele@contoso.com/sendMail",
        );
        assert_eq!(names(&a.least(Scheme::Application)), ["Mail.Send"]);
        let a = ask(
            Method::Get,
            "/v1.0/auditLogs/signIns?$filter=createdDateTime ge 2026-01-01",
        );
        assert_eq!(names(&a.least(Scheme::Application)), ["AuditLog.Read.All"]);
        let a = ask(Method::Get, "/applications");
        assert_eq!(
            a.recommended(Scheme::Application).map(|r| r.display()),
            Some("Application.Read.All".to_string())
        );
        let all = names(&a.requirements(Scheme::Application));
        assert!(
            all.contains(&"Application.ReadWrite.OwnedBy".to_string()),
            "{all:?}"
        );
        assert!(all.contains(&"Directory.Read.All".to_string()), "{all:?}");
        let a = ask(
            Method::Post,
            "/servicePrincipals/6c5b4a39-2817-4063-9d4e-3c2b1a0f9e04/appRoleAssignments",
        );
        assert_eq!(
            a.recommended(Scheme::Application).map(|r| r.display()),
            Some("Application.Read.All + AppRoleAssignment.ReadWrite.All".to_string())
        );
        let a = ask(Method::Get, "/me/drive/items/01ABC/workbook/worksheets");
        assert!(!a.supports(Scheme::Application));
        assert_eq!(
            a.recommended(Scheme::DelegatedWork).map(|r| r.display()),
            Some("Files.ReadWrite".to_string())
        );
    }

    #[test]
    fn key_segments_functions_and_value() {
        let a = ask(
            Method::Get,
            "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')",
        );
        assert!(a.supports(Scheme::Application));
        let a = ask(Method::Get, "/users/adele@contoso.com/photo/$value");
        assert!(a.supports(Scheme::Application), "{:?}", a.templates);
        let a = ask(Method::Get, "/users/delta()");
        assert!(a.template().contains("delta"), "{}", a.template());
    }

    #[test]
    fn a_path_outside_the_data_and_a_method_it_does_not_list() {
        let data = graph().expect("data");
        assert!(data.allowing(Method::Get, "/noSuchThing/at/all").is_none());
        let a = ask(Method::Put, "/auditLogs/signIns");
        assert!(a.method_unknown());
    }

    #[test]
    fn satisfied_by_prefers_the_least_requirement_held() {
        let a = ask(Method::Get, "/applications");
        let held: HashSet<String> = ["directory.read.all".to_string()].into();
        let r = a.satisfied_by(Scheme::Application, &held).expect("covered");
        assert_eq!(r.display(), "Directory.Read.All");
        assert!(!r.least);
        let none: HashSet<String> = HashSet::new();
        assert!(a.satisfied_by(Scheme::Application, &none).is_none());
    }
}
