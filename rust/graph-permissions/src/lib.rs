//! Microsoft's published Microsoft Graph permission data and the one question asked of it: which
//! permissions allow METHOD PATH for a kind of sign-in. Shared by the engine (least privilege, 403
//! explanations) and the emulator (Graph's 403 for calls a token's roles or scopes do not allow),
//! so both follow the same table.
//!
//! - [`data`]: the embedded table (decoded once) and [`graph`].
//! - [`path`]: request paths against path templates (versions, ids, key segments, functions,
//!   `$value`, query strings, case).
//! - [`lookup`]: [`PermissionData::allowing`] → [`Allowing`]: least, all, satisfied by.

pub mod data;
pub mod lookup;
pub mod path;

pub use data::{graph, PermissionData, Scheme};
pub use lookup::{Allowing, Requirement};
pub use path::Method;

/// Why the table could not be used (it is embedded, so only a corrupt build gets here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The message, as `Display` writes it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
