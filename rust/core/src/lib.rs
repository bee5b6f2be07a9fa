//! Core of ManagedIdentity: credential sources, token cache, Graph client and role planner.
//!
//! Pure async Rust. Knows nothing about FFI or PowerShell: no globals, no `block_on`;
//! the environment and the clock are injected so tests can drive every path.
//! Cancellation is by dropping the future: every operation is cancel-safe.

pub mod api;
pub mod cache;
pub mod clock;
pub mod context;
pub mod credentials;
pub mod env;
pub mod error;
pub mod events;
pub mod graph;
pub mod http;
pub mod jwt;
pub mod retry;
pub mod secret;
pub mod sources;
pub mod token;

pub use error::{Error, ErrorKind, Result};
