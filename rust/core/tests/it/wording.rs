//! Core names caller inputs through `Input` placeholders, never by cmdlet parameter: the protocol
//! edge renders them (`protocol::params`). Checked here for the sign-ins (`src/credentials`),
//! whose messages name more parameters than any other folder, and for the managed-identity
//! sources (`src/sources`, whose reasons `Test-IdentityEndpoint` shows): no line outside a
//! comment may spell a parameter of the edge's table as `-Name`.

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

#[test]
fn sign_in_and_source_messages_name_inputs_through_placeholders() {
    let names: Vec<&str> = params::all().iter().map(|p| p.parameter).collect();
    assert!(names.contains(&"TenantId") && names.contains(&"CertificatePath"));
    let mut found = Vec::new();
    for folder in ["src/credentials", "src/sources"] {
        found.extend(spelled_in(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder),
            &names,
        ));
    }
    assert!(
        found.is_empty(),
        "use crate::input::Input placeholders instead: {found:#?}"
    );
}

/// Every `-Name` of `names` spelled outside a comment in the folder's `.rs` files.
fn spelled_in(folder: &std::path::Path, names: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(folder).expect("folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for name in names {
                if spells(code, name) {
                    found.push(format!("{}:{}: -{name}", path.display(), n + 1));
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
