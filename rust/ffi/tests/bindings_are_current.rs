//! The committed C# bindings must equal what the generator produces now.
mod bindings;

#[test]
fn committed_csharp_bindings_are_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../powershell/ManagedIdentity/interop/NativeMethods.g.cs"
    );
    let committed = std::fs::read_to_string(path)
        .unwrap_or_default()
        .replace("\r\n", "\n");
    let generated = bindings::csharp();
    assert!(
        committed == generated,
        "{path} is stale: run `pwsh ./build.ps1` (or `cargo run -p managed-identity-ffi --example generate_bindings -- {path}`)"
    );
}
