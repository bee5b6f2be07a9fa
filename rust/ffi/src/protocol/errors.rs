//! Errors on the wire: `{kind, errorId, category, message, details}`. The category names the
//! PowerShell `ErrorCategory` member for each kind; both it and the error id are contracts.

use serde_json::{json, Value};

use super::params::render;
use managed_identity_core::error::{Error, ErrorKind};

/// Name of the matching `System.Management.Automation.ErrorCategory` member.
pub fn category(kind: ErrorKind) -> &'static str {
    use ErrorKind::*;
    match kind {
        InvalidArgument | UnsupportedIdentityKind | AmbiguousName | PermissionNotGrantable => {
            "InvalidArgument"
        }
        NotConnected => "InvalidOperation",
        EndpointUnavailable => "ResourceUnavailable",
        IdentityNotFound | NotFound | UnknownPermission | UnknownResource => "ObjectNotFound",
        UnsupportedSource => "NotImplemented",
        Timeout => "OperationTimeout",
        Cancelled => "OperationStopped",
        InvalidResponse => "InvalidResult",
        ConnectionFailed => "ConnectionError",
        Throttled => "LimitsExceeded",
        ServiceError => "ResourceUnavailable",
        AuthenticationFailed | TokenExpired => "AuthenticationError",
        PermissionDenied => "PermissionDenied",
        UntrustedResource | UnsafeKeyFile | CertificateMismatch => "SecurityError",
        Internal => "NotSpecified",
    }
}

/// The kind behind a stable error id (`ManagedIdentity.NotFound`).
pub fn kind_of_error_id(error_id: &str) -> Option<ErrorKind> {
    let name = error_id.strip_prefix("ManagedIdentity.")?;
    serde_json::from_value(Value::String(name.to_string())).ok()
}

/// The error as every upper layer receives it, message rendered for the module.
pub fn error_json(error: &Error) -> Value {
    json!({
        "kind": error.kind,
        "errorId": error.kind.error_id(),
        "category": category(error.kind),
        "message": render(&error.message),
        "details": error.details,
    })
}

/// An output item's `error` (`{errorId, message}` from core) gains its category and a rendered
/// message; anything else passes unchanged.
pub fn complete_item_error(item: &mut Value) {
    let Some(error) = item.get_mut("error").and_then(Value::as_object_mut) else {
        return;
    };
    let kind = error
        .get("errorId")
        .and_then(Value::as_str)
        .and_then(kind_of_error_id);
    if let Some(kind) = kind {
        error.insert("category".into(), json!(category(kind)));
    }
    if let Some(Value::String(message)) = error.get_mut("message") {
        *message = render(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use managed_identity_core::input::Input;

    #[test]
    fn error_ids_categories_and_rendered_messages() {
        assert_eq!(category(ErrorKind::PermissionDenied), "PermissionDenied");
        let e = Error::new(
            ErrorKind::Timeout,
            format!("took too long; raise {}", Input::Timeout),
        );
        let json = error_json(&e);
        assert_eq!(json["errorId"], "ManagedIdentity.Timeout");
        assert_eq!(json["category"], "OperationTimeout");
        assert_eq!(json["kind"], "Timeout");
        assert_eq!(json["message"], "took too long; raise -TimeoutSec");
        assert_eq!(
            kind_of_error_id("ManagedIdentity.IdentityNotFound"),
            Some(ErrorKind::IdentityNotFound)
        );
        assert_eq!(kind_of_error_id("Other.Thing"), None);
        let mut item = json!({"status": "Failed", "error": {"errorId": "ManagedIdentity.NotFound", "message": "gone"}});
        complete_item_error(&mut item);
        assert_eq!(item["error"]["category"], "ObjectNotFound");
    }
}
