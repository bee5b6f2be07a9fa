//! Risk levels of application permissions: the table embedded from `risk-levels.json` (which
//! cites its sources), optionally overridden by a user's file of the same shape.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The embedded table.
pub const EMBEDDED: &str = include_str!("risk-levels.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RiskLevel {
    Critical,
    High,
    Medium,
    Low,
}

impl RiskLevel {
    /// Most severe first.
    pub const ALL: [RiskLevel; 4] = [
        RiskLevel::Critical,
        RiskLevel::High,
        RiskLevel::Medium,
        RiskLevel::Low,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RiskLevel::Critical => "Critical",
            RiskLevel::High => "High",
            RiskLevel::Medium => "Medium",
            RiskLevel::Low => "Low",
        }
    }

    fn parse(text: &str) -> Option<RiskLevel> {
        RiskLevel::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Debug, Deserialize)]
struct TableFile {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    levels: HashMap<String, Vec<String>>,
}

/// Permission value (lower-case) → level, plus the level of anything unlisted.
#[derive(Debug, Clone)]
pub struct RiskTable {
    levels: HashMap<String, RiskLevel>,
    default: RiskLevel,
}

impl RiskTable {
    /// The embedded table, with `user` (a JSON text of the same shape) applied over it.
    pub fn load(user: Option<&str>) -> Result<Self> {
        let mut table = RiskTable {
            levels: HashMap::new(),
            default: RiskLevel::Medium,
        };
        table.apply(EMBEDDED, "the embedded risk table")?;
        if let Some(text) = user {
            table.apply(text, "the risk table file")?;
        }
        Ok(table)
    }

    fn apply(&mut self, text: &str, what: &str) -> Result<()> {
        let invalid = |m: String| Error::invalid_argument(format!("{what} is not valid: {m}"));
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if !value.is_object() {
            return Err(invalid("expected a JSON object".into()));
        }
        let file = TableFile::deserialize(value).map_err(|e| invalid(e.to_string()))?;
        if file.replace {
            self.levels.clear();
        }
        if let Some(d) = file.default {
            self.default = RiskLevel::parse(&d).ok_or_else(|| unknown_level(what, &d))?;
        }
        for (level, permissions) in file.levels {
            let level = RiskLevel::parse(&level).ok_or_else(|| unknown_level(what, &level))?;
            for p in permissions {
                self.levels.insert(p.trim().to_lowercase(), level);
            }
        }
        Ok(())
    }

    /// The level of a permission value (the default when unlisted or unknown).
    pub fn level(&self, permission: Option<&str>) -> RiskLevel {
        permission
            .and_then(|p| self.levels.get(&p.trim().to_lowercase()).copied())
            .unwrap_or(self.default)
    }

    pub fn default_level(&self) -> RiskLevel {
        self.default
    }
}

fn unknown_level(what: &str, level: &str) -> Error {
    Error::invalid_argument(format!(
        "{what} names an unknown risk level '{level}'; use Critical, High, Medium or Low"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_classifies_the_issue_examples() {
        let t = RiskTable::load(None).expect("embedded table parses");
        for p in [
            "RoleManagement.ReadWrite.Directory",
            "AppRoleAssignment.ReadWrite.All",
            "application.readwrite.all",
            "Directory.ReadWrite.All",
        ] {
            assert_eq!(t.level(Some(p)), RiskLevel::Critical, "{p}");
        }
        for p in [
            "Mail.Send",
            "Mail.ReadWrite",
            "Files.ReadWrite.All",
            "Sites.FullControl.All",
            "User.ReadWrite.All",
        ] {
            assert_eq!(t.level(Some(p)), RiskLevel::High, "{p}");
        }
        assert_eq!(t.level(Some("User.ReadBasic.All")), RiskLevel::Low);
        assert_eq!(t.level(Some("Unheard.Of")), RiskLevel::Medium);
        assert_eq!(t.level(None), RiskLevel::Medium);
        assert!(EMBEDDED.contains("\"sources\""));
    }

    #[test]
    fn user_file_overrides_entries_and_default_or_replaces() {
        let t = RiskTable::load(Some(
            r#"{"default": "low", "levels": {"Critical": ["Mail.Send"], "Low": ["Directory.ReadWrite.All"]}}"#,
        ))
        .expect("valid");
        assert_eq!(t.level(Some("Mail.Send")), RiskLevel::Critical);
        assert_eq!(t.level(Some("Directory.ReadWrite.All")), RiskLevel::Low);
        assert_eq!(
            t.level(Some("Application.ReadWrite.All")),
            RiskLevel::Critical
        );
        assert_eq!(t.level(Some("Unheard.Of")), RiskLevel::Low);
        let r = RiskTable::load(Some(r#"{"replace": true, "levels": {"High": ["X"]}}"#)).unwrap();
        assert_eq!(
            r.level(Some("Application.ReadWrite.All")),
            RiskLevel::Medium
        );
        assert_eq!(r.level(Some("x")), RiskLevel::High);
    }

    #[test]
    fn bad_user_files_are_invalid_arguments() {
        for bad in [
            "not json",
            "[]",
            r#"{"default": "Severe"}"#,
            r#"{"levels": {"Extreme": ["A"]}}"#,
            r#"{"levels": {"High": "A"}}"#,
        ] {
            let e = RiskTable::load(Some(bad)).expect_err(bad);
            assert_eq!(e.kind, crate::error::ErrorKind::InvalidArgument, "{bad}");
            assert!(
                e.message.starts_with("the risk table file"),
                "{}",
                e.message
            );
        }
    }
}
