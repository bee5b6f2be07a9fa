//! The crate's layering, checked: every `crate::<module>` edge between top-level modules must be
//! one that the table in `rust/core/README.md` ("Which module may use which") allows, every
//! top-level module must have a row, and no two top-level modules may reach each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Edges = BTreeMap<String, BTreeSet<String>>;

/// What a row allows: a set of modules, or any.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Any,
    Only(BTreeSet<String>),
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The rows of the README's table: `| \`module\` | job | \`a\`, \`b\` |` (`–` = none, `any`).
fn read_table(readme: &str) -> BTreeMap<String, Allowed> {
    let section = readme
        .split("## Which module may use which")
        .nth(1)
        .expect("the README has the section 'Which module may use which'");
    let mut table = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 3, "a row has three cells: {line}");
        let module = cells[0].trim_matches('`').to_string();
        let allowed = if cells[2] == "any" {
            Allowed::Any
        } else {
            Allowed::Only(
                cells[2]
                    .split(',')
                    .map(|m| m.trim().trim_matches('`').to_string())
                    .filter(|m| !m.is_empty() && m != "–")
                    .collect(),
            )
        };
        assert!(
            table.insert(module.clone(), allowed).is_none(),
            "{module} has two rows"
        );
    }
    table
}

/// The source with comments, string and character literals blanked out, so only code remains.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !is_ident(chars.get(i.wrapping_sub(1)))
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || (next == Some('\\'))) {
            // A character literal ('x', '\n', '\''), not a lifetime.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\\') {
                j += 2;
            } else {
                j += 1;
            }
            while j < chars.len() && chars[j] != '\'' {
                j += 1;
            }
            i = j + 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// The top-level modules a piece of code names through `crate::x` or `crate::{x, y::…}`.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if is_ident(before.as_ref()) || before == Some('$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of a group: those at brace depth 0 that start an item.
            let mut depth = 0;
            let mut expecting = true;
            let mut name = String::new();
            for c in group.chars() {
                if depth == 0 && expecting && (c.is_alphanumeric() || c == '_') {
                    name.push(c);
                    continue;
                }
                if !name.is_empty() {
                    found.insert(std::mem::take(&mut name));
                    expecting = false;
                }
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => expecting = true,
                    _ => {}
                }
            }
            if !name.is_empty() {
                found.insert(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            rust_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Top-level module → the other top-level modules its files reference.
fn crate_edges(src: &Path) -> Edges {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "lib" || (path.is_file() && path.extension().is_none_or(|e| e != "rs")) {
            continue;
        }
        modules.insert(name, path);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges = Edges::new();
    for (module, path) in &modules {
        let mut files = Vec::new();
        rust_files(path, &mut files);
        let deps = edges.entry(module.clone()).or_default();
        for file in files {
            let code = code_only(&std::fs::read_to_string(&file).unwrap());
            for name in crate_references(&code) {
                if &name != module && names.contains(&name) {
                    deps.insert(name);
                }
            }
        }
    }
    edges
}

/// Every broken rule, as a sentence.
fn violations(table: &BTreeMap<String, Allowed>, edges: &Edges) -> Vec<String> {
    let mut found = Vec::new();
    for (module, deps) in edges {
        match table.get(module) {
            None => found.push(format!(
                "`{module}` has no row in the README's table: place it in a layer"
            )),
            Some(Allowed::Any) => {}
            Some(Allowed::Only(allowed)) => {
                for dep in deps.difference(allowed) {
                    found.push(format!(
                        "`{module}` uses `crate::{dep}`, which its row does not allow"
                    ));
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(edges) {
        found.push(format!("a cycle between modules: {}", cycle.join(" -> ")));
    }
    found
}

/// A cycle among the edges, if there is one (depth-first search).
fn find_cycle(edges: &Edges) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &Edges,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|n| n == node).unwrap();
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn every_crate_edge_is_one_the_layer_table_allows() {
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).unwrap();
    let table = read_table(&readme);
    let edges = crate_edges(&crate_dir().join("src"));
    assert!(edges.len() >= 15, "the source tree was read: {edges:?}");
    let found = violations(&table, &edges);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
    for module in table.keys() {
        assert!(
            edges.contains_key(module),
            "the table names `{module}`, which is not a top-level module"
        );
    }
}

#[test]
fn the_checker_catches_a_back_edge_and_a_cycle() {
    let readme = std::fs::read_to_string(crate_dir().join("README.md")).unwrap();
    let table = read_table(&readme);
    let mut edges = crate_edges(&crate_dir().join("src"));
    // The edge this layering removed: a service client reaching back into the context.
    edges
        .get_mut("graph")
        .unwrap()
        .insert("context".to_string());
    // And a back-edge that closes a circle: the cache already uses `token`.
    edges.get_mut("token").unwrap().insert("cache".to_string());
    let found = violations(&table, &edges);
    assert!(
        found
            .iter()
            .any(|v| v.contains("`graph` uses `crate::context`")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.starts_with("a cycle") && v.contains("cache") && v.contains("token")),
        "{found:?}"
    );
}

#[test]
fn references_are_read_from_code_only() {
    let code = code_only(
        "use crate::{a, b::{c, d}, e::f};\n// crate::comment\nlet s = \"crate::string\";\n\
         let r = r#\"crate::raw\"#; let c = '\"'; let x = crate::g::h(); fn t<'a>(x: &'a str) {}\n\
         $crate::macro_path; my_crate::not_ours",
    );
    let found: Vec<String> = crate_references(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "e", "g"]);
}
