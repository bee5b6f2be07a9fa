//! Core names caller inputs through `Input` placeholders, never by cmdlet parameter: the protocol
//! edge renders them (`protocol::params`), in messages, warnings, output rows and error details.
//! Checked here for every source file of the crate: no line outside a comment or a test module
//! may spell a parameter of the edge's table as `-Name`. One file is exempt: the runbook analysis
//! (`permissions/runbook.rs`) reads other commands' parameters (`Invoke-MgGraphRequest -Uri`) in
//! the scripts it analyses; they are its data, not this module's parameters.

use std::path::PathBuf;

use managedidentity_engine::protocol::params;

/// `-Name` at `at` in `line`, not inside a longer word (`Connect-Identity` is a command).
fn spells(line: &str, name: &str) -> bool {
    let needle = format!("-{name}");
    line.match_indices(&needle).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The one file whose `-Name`s are data (the analysed scripts' commands), not our parameters.
const EXEMPT: &str = "permissions/runbook.rs";

#[test]
fn core_messages_name_inputs_through_placeholders() {
    let names: Vec<&str> = params::all().iter().map(|p| p.parameter).collect();
    assert!(names.contains(&"TenantId") && names.contains(&"Permission"));
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = spelled_in(&src, &names);
    assert!(
        found.is_empty(),
        "use crate::input::Input placeholders instead: {found:#?}"
    );
}

/// Every `-Name` of `names` spelled outside a comment or a test module in the `.rs` files under
/// `folder`.
fn spelled_in(folder: &std::path::Path, names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).expect("folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(spelled_in(&path, names));
            continue;
        }
        let shown = path.to_string_lossy().replace('\\', "/");
        if path.extension().is_none_or(|e| e != "rs")
            || shown.ends_with("/tests.rs")
            || shown.ends_with(EXEMPT)
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            for name in names {
                if spells(code, name) {
                    found.push(format!("{shown}:{}: -{name}", n + 1));
                }
            }
        }
    }
    found
}

#[test]
fn the_check_sees_a_parameter_and_not_a_command() {
    assert!(spells("\"-TenantId '{}' is bad\"", "TenantId"));
    assert!(spells("(or use -UseDeviceCode)", "UseDeviceCode"));
    assert!(!spells("run Connect-Identity again", "Identity"));
    assert!(!spells("-TenantIds", "TenantId"));
}
