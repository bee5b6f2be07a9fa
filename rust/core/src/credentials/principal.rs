//! Who a token speaks for, as the context shows it: a delegated token (a user signed in) carries
//! its permissions in `scp` (space-separated) and names the user in `upn` or
//! `preferred_username`; an app-only token carries `roles` (and `idtyp: app` in v2 tokens).
//! Pure; an opaque (non-JWT) token gives `AuthType::Unknown`.

use serde::Serialize;

use crate::jwt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthType {
    /// A user signed in (the token has `scp`).
    Delegated,
    /// An application or managed identity (no `scp`).
    AppOnly,
    /// Not a JWT: nothing can be said.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPrincipal {
    pub auth_type: AuthType,
    /// Delegated permissions (`scp`).
    pub scopes: Vec<String>,
    /// Application permissions (`roles`).
    pub roles: Vec<String>,
    /// The signed-in account (`upn`, else `preferred_username`, else `unique_name`, else `email`).
    pub account: Option<String>,
}

/// Describes a token's principal from its claims (decoded by [`crate::jwt::decode`]).
pub fn describe(token: &str) -> TokenPrincipal {
    let Some(claims) = jwt::decode(token) else {
        return TokenPrincipal {
            auth_type: AuthType::Unknown,
            scopes: Vec::new(),
            roles: Vec::new(),
            account: None,
        };
    };
    let delegated = claims.has_scp && claims.idtyp.as_deref() != Some("app");
    TokenPrincipal {
        auth_type: if delegated {
            AuthType::Delegated
        } else {
            AuthType::AppOnly
        },
        account: if delegated { claims.account } else { None },
        scopes: claims.scopes,
        roles: claims.roles,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::unsigned;
    use serde_json::json;

    #[test]
    fn delegated_tokens_show_scopes_and_the_account() {
        let p = describe(&unsigned(&json!({
            "scp": "AppRoleAssignment.ReadWrite.All Application.Read.All",
            "upn": "admin@contoso.com",
            "preferred_username": "other@contoso.com",
        })));
        assert_eq!(p.auth_type, AuthType::Delegated);
        assert_eq!(
            p.scopes,
            vec!["AppRoleAssignment.ReadWrite.All", "Application.Read.All"]
        );
        assert!(p.roles.is_empty());
        assert_eq!(p.account.as_deref(), Some("admin@contoso.com"));
        let p = describe(&unsigned(
            &json!({"scp": "User.Read", "preferred_username": "a@b.c"}),
        ));
        assert_eq!(p.account.as_deref(), Some("a@b.c"));
    }

    #[test]
    fn app_only_tokens_show_roles() {
        let p = describe(&unsigned(
            &json!({"roles": ["User.Read.All"], "idtyp": "app"}),
        ));
        assert_eq!(p.auth_type, AuthType::AppOnly);
        assert_eq!(p.roles, vec!["User.Read.All"]);
        assert_eq!(p.account, None);
        assert_eq!(describe(&unsigned(&json!({}))).auth_type, AuthType::AppOnly);
        assert_eq!(describe("opaque-token").auth_type, AuthType::Unknown);
        assert_eq!(
            serde_json::to_value(describe(&unsigned(&json!({"scp":"a"})))).unwrap()["authType"],
            "Delegated"
        );
    }
}
