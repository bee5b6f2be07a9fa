//! Scopes as Entra v2 takes them: app-only credentials ask for `<resource>/.default`; delegated
//! sign-ins ask for named permissions (`User.Read`, as `Connect-MgGraph -Scopes` takes them,
//! or fully qualified `https://graph.microsoft.com/User.Read`) plus the OpenID scopes that
//! return a refresh token.

use crate::error::{Error, Result};
use crate::input::Input;
use crate::token::normalize_resource;

/// The OpenID Connect scopes a delegated sign-in always adds.
pub const OIDC_SCOPES: [&str; 3] = ["openid", "profile", "offline_access"];

/// A validated, de-duplicated list of scopes in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// `<resource>/.default` for an app-only request (`resource` may already be a `.default`
    /// scope).
    pub fn app_only(resource: &str) -> Result<Scopes> {
        let resource = normalize_resource(resource, crate::input::Input::Resource)?;
        Ok(Scopes(vec![format!(
            "{}/.default",
            resource.trim_end_matches('/')
        )]))
    }

    /// Delegated scopes: each item may hold several names separated by spaces or commas; a bare
    /// name is qualified with `default_resource` (the Graph endpoint); the OpenID scopes are
    /// appended. At least one non-OpenID scope is required.
    pub fn delegated<S: AsRef<str>>(items: &[S], default_resource: &str) -> Result<Scopes> {
        let base = default_resource.trim().trim_end_matches('/');
        let mut out: Vec<String> = Vec::new();
        for name in items
            .iter()
            .flat_map(|i| i.as_ref().split([' ', ',', '\t', '\n', '\r']))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if name.chars().any(|c| c.is_control() || c == '"') {
                return Err(Error::invalid_argument(format!(
                    "{} item '{}' is not a scope name",
                    Input::Scopes,
                    name.escape_debug()
                )));
            }
            let full = if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(name))
                || name.contains("://")
                || name.starts_with("api://")
            {
                name.to_string()
            } else {
                format!("{base}/{name}")
            };
            if !out.iter().any(|s| s.eq_ignore_ascii_case(&full)) {
                out.push(full);
            }
        }
        if !out.iter().any(|s| !is_oidc(s)) {
            return Err(Error::invalid_argument(format!(
                "{} names no permission (e.g. User.Read or AppRoleAssignment.ReadWrite.All)",
                Input::Scopes
            )));
        }
        for oidc in OIDC_SCOPES {
            if !out.iter().any(|s| s.eq_ignore_ascii_case(oidc)) {
                out.push(oidc.to_string());
            }
        }
        Ok(Scopes(out))
    }

    /// The scopes as sent (`scope=` form value).
    pub fn to_request(&self) -> String {
        self.0.join(" ")
    }

    pub fn items(&self) -> &[String] {
        &self.0
    }

    /// The resource the access token will be for: the first non-OpenID scope without its last
    /// path segment (`https://graph.microsoft.com/User.Read` → `https://graph.microsoft.com`).
    pub fn resource(&self) -> String {
        let first = self
            .0
            .iter()
            .find(|s| !is_oidc(s))
            .map(String::as_str)
            .unwrap_or_default();
        match first.rfind('/') {
            Some(i) if i > first.find("://").map(|j| j + 2).unwrap_or(0) => first[..i].to_string(),
            _ => first.to_string(),
        }
    }
}

fn is_oidc(scope: &str) -> bool {
    OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(scope))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_only_scope_is_the_resource_default() {
        let s = Scopes::app_only("https://vault.azure.net").unwrap();
        assert_eq!(s.to_request(), "https://vault.azure.net/.default");
        assert_eq!(s.resource(), "https://vault.azure.net");
        let s = Scopes::app_only("https://graph.microsoft.com/.default").unwrap();
        assert_eq!(s.to_request(), "https://graph.microsoft.com/.default");
        assert!(Scopes::app_only(" ").is_err());
    }

    #[test]
    fn delegated_scopes_are_qualified_and_get_openid() {
        let s = Scopes::delegated(
            &[
                "AppRoleAssignment.ReadWrite.All, Application.Read.All",
                "openid",
            ],
            "https://graph.microsoft.com/",
        )
        .unwrap();
        assert_eq!(
            s.to_request(),
            "https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All https://graph.microsoft.com/Application.Read.All openid profile offline_access"
        );
        assert_eq!(s.resource(), "https://graph.microsoft.com");
        let s =
            Scopes::delegated(&["https://management.azure.com/user_impersonation"], "x").unwrap();
        assert_eq!(s.resource(), "https://management.azure.com");
        assert!(Scopes::delegated(&["openid profile"], "https://g").is_err());
        assert!(Scopes::delegated::<&str>(&[], "https://g").is_err());
        assert!(Scopes::delegated(&["User.Read\u{0}"], "https://g").is_err());
    }
}
