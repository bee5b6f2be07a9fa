//! Writes the C# bindings: `cargo run -p managed-identity-ffi --example generate_bindings -- <out.cs>`.
fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: generate_bindings <output .cs file>");
        std::process::exit(2);
    };
    if let Err(e) = std::fs::write(&path, managedidentity_engine_bindings::csharp()) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
}

#[path = "../tests/bindings/mod.rs"]
mod managedidentity_engine_bindings;
