//! Core of ManagedIdentity: credential sources, token cache, Graph client and role planner.
//!
//! Pure async Rust: no globals, no `block_on`; the environment, the clock and the HTTP transport
//! are injected so tests can drive every path. Cancellation is by dropping the future: every
//! operation is cancel-safe. The domain is typed; the JSON wire (operation names, argument
//! decoding, key casing, error categories, cmdlet parameter names) lives in the FFI crate
//! (`rust/ffi/src/protocol`), not here. See README.md for the layer picture.

pub mod arm;
pub mod cache;
pub mod clock;
pub mod context;
pub mod credentials;
pub mod env;
pub mod error;
pub mod events;
pub mod graph;
pub mod http;
pub mod input;
pub mod jwt;
pub mod names;
pub mod permissions;
pub mod retry;
pub mod secret;
pub mod services;
pub mod sources;
pub mod token;

pub use error::{Error, ErrorKind, Result};

/// The engine's version: the Cargo workspace version, the same one the module manifest carries
/// (issue 13). Reported by `Get-IdentityContext`, `Test-IdentityEndpoint` and `engine.info`.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
