//! The workspace's declared `rust-version` must be one the locked dependency graph builds with:
//! a newcomer on the declared toolchain must be able to build and test. When a lockfile update
//! pulls in a crate that needs a newer Rust, this test names it.

use std::process::Command;

/// `1.89` and `1.89.0` are the same version: missing parts count as 0.
fn parse(version: &str) -> [u64; 3] {
    let mut parts = [0; 3];
    for (slot, part) in parts.iter_mut().zip(version.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    parts
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the cargo that built this binary (env!(\"CARGO\")); the Windows leg cross-builds it on Linux, where that cargo is a Linux program (the Linux leg runs this test)"
)]
fn declared_rust_version_covers_every_locked_dependency() {
    let declared = env!("CARGO_PKG_RUST_VERSION");
    assert!(
        !declared.is_empty(),
        "[workspace.package] rust-version is not set"
    );
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    // Offline (tests reach no network) and for this host only: a build downloads only the
    // crates of the platform it builds for, so other platforms' crates may be absent.
    let version = Command::new(env!("CARGO"))
        .arg("-vV")
        .output()
        .expect("cargo -vV runs");
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("cargo -vV names the host");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--offline",
            "--filter-platform",
            host,
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("a package list");
    assert!(
        packages.len() > 50,
        "only {} packages listed",
        packages.len()
    );
    // Every crate of the workspace declares it (`rust-version.workspace = true`).
    let members = metadata["workspace_members"]
        .as_array()
        .expect("workspace members");
    assert_eq!(members.len(), 4, "{members:?}");
    for member in members {
        let package = packages
            .iter()
            .find(|p| p["id"] == *member)
            .expect("a member's package");
        assert_eq!(
            package["rust_version"].as_str(),
            Some(declared),
            "{} does not inherit the workspace rust-version",
            package["name"]
        );
    }
    let too_new: Vec<String> = packages
        .iter()
        .filter_map(|package| {
            let needs = package["rust_version"].as_str()?;
            (parse(needs) > parse(declared))
                .then(|| format!("{} {} needs {needs}", package["name"], package["version"]))
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "rust-version {declared} is below what these locked crates need: {too_new:?}"
    );
}
