//! Typed errors with a stable kind. The kind's `error_id()` is the FullyQualifiedErrorId stem the
//! module uses (a contract: never rename a variant, only add); the PowerShell ErrorCategory of
//! each kind is the protocol edge's business (`protocol::errors`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Malformed input: bad GUID, bad URL, plain http to a non-loopback host, conflicting ids.
    InvalidArgument,
    /// No current context and none passed.
    NotConnected,
    /// No managed-identity endpoint answers here (nothing detected, connection refused).
    EndpointUnavailable,
    /// The endpoint answered: this identity is not assigned to this resource.
    IdentityNotFound,
    /// The detected source cannot select an identity by this kind of id.
    UnsupportedIdentityKind,
    /// A source was detected that this version does not implement.
    UnsupportedSource,
    /// A bounded wait ran out.
    Timeout,
    /// The caller cancelled (Ctrl+C).
    Cancelled,
    /// The endpoint answered with something that is not the documented shape.
    InvalidResponse,
    /// The connection broke (reset, closed early, TLS failure).
    ConnectionFailed,
    /// Throttled and the retry budget ran out.
    Throttled,
    /// The service kept failing (5xx) past the retry budget, or answered an unexpected status.
    ServiceError,
    /// The token was refused (401) or could not be obtained from an authority.
    AuthenticationFailed,
    /// 403: the caller lacks a permission; the message names it.
    PermissionDenied,
    /// A directory object (service principal, assignment) does not exist.
    NotFound,
    /// A display name matched more than one object; the message lists the candidates.
    AmbiguousName,
    /// A permission name that the resource does not define; the message suggests close names.
    UnknownPermission,
    /// The role exists but cannot be granted to an application (User-only role).
    PermissionNotGrantable,
    /// A resource that looks like a first-party API but is not owned by Microsoft.
    UntrustedResource,
    /// A static access token is expired and cannot be refreshed.
    TokenExpired,
    /// Entra ID does not know the resource (URI) a token was asked for (AADSTS500011).
    UnknownResource,
    /// A bug: a panic or a broken invariant inside the engine.
    Internal,
    /// The Azure Arc agent's challenge named a key file that fails the security checks (outside
    /// the agent's token directory, a symbolic link out of it, not `.key`, over 4096 bytes); the
    /// file was not read and no key was sent.
    UnsafeKeyFile,
    /// A pinned endpoint (Service Fabric) presented another certificate than
    /// IDENTITY_SERVER_THUMBPRINT names; nothing was sent to it.
    CertificateMismatch,
}

impl ErrorKind {
    /// Stable error id, e.g. `ManagedIdentity.IdentityNotFound`.
    pub fn error_id(self) -> String {
        format!("ManagedIdentity.{self:?}")
    }
}

/// An engine error: a stable kind, a human message (never containing a secret) and optional
/// structured details (HTTP status, Graph error code, request id, candidates, suggestions…).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Option<Value>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_ids_are_stable_strings() {
        assert_eq!(
            ErrorKind::IdentityNotFound.error_id(),
            "ManagedIdentity.IdentityNotFound"
        );
    }
}
