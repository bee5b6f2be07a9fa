//! ARM names and ids: the user-assigned identity name rule, location spellings ("UK South" →
//! `uksouth`), resource ids built segment by segment (escaped) and parsed back.

use crate::error::{Error, ErrorKind, Result};

/// `Microsoft.ManagedIdentity/userAssignedIdentities` names: 3–128 characters, letters, digits,
/// hyphens and underscores, starting with a letter or digit.
pub fn check_identity_name(name: &str) -> Result<()> {
    let ok_len = (3..=128).contains(&name.chars().count());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_first {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "'{name}' is not a valid user-assigned identity name: use 3 to 128 letters, digits, \
                 hyphens or underscores, starting with a letter or digit (InvalidResourceName)"
            ),
        ))
    }
}

/// Resource group names: 1–90 characters, letters, digits, `-_.()`, not ending in a period.
pub fn check_group_name(name: &str) -> Result<()> {
    let ok = (1..=90).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(format!(
            "'{name}' is not a valid resource group name"
        )))
    }
}

/// A location's programmatic name: `"UK South"` → `uksouth` (ARM compares them that way).
pub fn normalize_location(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A subscription id (a GUID), lower-case.
pub fn check_subscription_id(raw: &str) -> Result<String> {
    let t = raw.trim();
    match uuid::Uuid::try_parse(t) {
        Ok(id) if t.len() == 36 => Ok(id.hyphenated().to_string()),
        _ => Err(Error::invalid_argument(format!(
            "subscription id '{t}' is not a GUID"
        ))),
    }
}

fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `/subscriptions/{s}/resourceGroups/{g}`.
pub fn group_path(subscription: &str, group: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}",
        seg(subscription),
        seg(group)
    )
}

/// The path of a user-assigned identity (also its resource id).
pub fn identity_path(subscription: &str, group: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
        group_path(subscription, group),
        seg(name)
    )
}

/// The path of an Automation account.
pub fn automation_path(subscription: &str, group: &str, account: &str) -> String {
    format!(
        "{}/providers/Microsoft.Automation/automationAccounts/{}",
        group_path(subscription, group),
        seg(account)
    )
}

/// The parts of a user-assigned identity's resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityId {
    pub subscription: String,
    pub group: String,
    pub name: String,
}

impl IdentityId {
    /// Parses `/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{n}`
    /// (ARM ids are case-insensitive; some services answer `resourcegroups`).
    pub fn parse(id: &str) -> Option<IdentityId> {
        let parts: Vec<&str> = id.trim().trim_start_matches('/').split('/').collect();
        if parts.len() != 8 {
            return None;
        }
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let ok = eq(parts[0], "subscriptions")
            && eq(parts[2], "resourceGroups")
            && eq(parts[4], "providers")
            && eq(parts[5], "Microsoft.ManagedIdentity")
            && eq(parts[6], "userAssignedIdentities")
            && parts.iter().all(|p| !p.is_empty());
        ok.then(|| IdentityId {
            subscription: parts[1].to_string(),
            group: parts[3].to_string(),
            name: parts[7].to_string(),
        })
    }

    pub fn path(&self) -> String {
        identity_path(&self.subscription, &self.group, &self.name)
    }
}

/// The resource group named in any ARM id (`…/resourceGroups/{g}/…`).
pub fn group_of(id: &str) -> Option<String> {
    let parts: Vec<&str> = id.split('/').collect();
    parts
        .iter()
        .position(|p| p.eq_ignore_ascii_case("resourceGroups"))
        .and_then(|i| parts.get(i + 1))
        .map(|s| s.to_string())
}

/// ARM ids compare case-insensitively.
pub fn same_id(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_locations_and_ids() {
        check_identity_name("MI-AA-MgPowerShell1").unwrap();
        check_identity_name("a_1").unwrap();
        for bad in ["ab", "-abc", "has space", "a/b", "émoji", &"x".repeat(129)] {
            let e = check_identity_name(bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        }
        assert_eq!(normalize_location("UK South"), "uksouth");
        assert_eq!(normalize_location("uksouth"), "uksouth");
        let id = identity_path("s1", "rg 1", "mi");
        assert_eq!(
            id,
            "/subscriptions/s1/resourceGroups/rg%201/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"
        );
        let parsed = IdentityId::parse(
            "/subscriptions/s1/resourcegroups/RG/providers/microsoft.managedidentity/userassignedidentities/mi",
        )
        .unwrap();
        assert_eq!(parsed.group, "RG");
        assert_eq!(parsed.name, "mi");
        assert!(IdentityId::parse("/subscriptions/s1/resourceGroups/rg").is_none());
        assert_eq!(group_of(&id).as_deref(), Some("rg%201"));
        assert!(same_id("/A/b/", "/a/B"));
        check_subscription_id("00000000-0000-0000-0000-000000000001").unwrap();
        assert!(check_subscription_id("nope").is_err());
        check_group_name("rg-1.a(b)").unwrap();
        assert!(check_group_name("rg.").is_err());
    }
}
