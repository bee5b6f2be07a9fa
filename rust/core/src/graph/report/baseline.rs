//! Baselines: a declared desired state — the records a bulk `Set-GraphAppRole` takes
//! (`{Identity, Resource?, Permissions}`), or a report exported as JSON — compared with the
//! report's rows: each row is `Unchanged` (declared) or `Added` (not declared); each declared
//! grant never seen is a `Removed` row at the end.

use serde_json::Value;
use uuid::Uuid;

use super::row::{Principal, ReportRow};
use crate::error::{Error, Result};
use crate::graph::first_party::FirstParty;

/// One declared grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Identity as written: display name, object id, appId or ARM resource id.
    pub identity: String,
    /// Resource as written: alias, display name, appId or object id (default Microsoft Graph).
    pub resource: String,
    /// Permission value or app role id.
    pub permission: String,
}

/// The declared grants and which of them the report has seen.
#[derive(Debug)]
pub struct Baseline {
    entries: Vec<Declared>,
    seen: Vec<bool>,
}

const DEFAULT_RESOURCE: &str = "Microsoft Graph";

/// A field of a record, by any of `names` (case-insensitive keys).
fn field<'a>(record: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|n| {
        record
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(n) && !v.is_null())
            .map(|(_, v)| v)
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

impl Baseline {
    /// Parses a baseline file's JSON text: an array of records (or one record).
    pub fn parse(json: &str) -> Result<Self> {
        let bad =
            |m: String| Error::invalid_argument(format!("the baseline file is not valid: {m}"));
        let value: Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let records = match value {
            Value::Array(a) => a,
            o @ Value::Object(_) => vec![o],
            _ => return Err(bad("expected an array of records".into())),
        };
        let mut entries = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let Value::Object(r) = r else {
                return Err(bad(format!("record {} is not an object", i + 1)));
            };
            let identity = field(
                r,
                &["identity", "identityId", "identityName", "armResourceId"],
            )
            .and_then(text)
            .ok_or_else(|| bad(format!("record {} has no Identity", i + 1)))?;
            let resource = field(r, &["resourceAppId", "resource", "resourceId"])
                .and_then(text)
                .unwrap_or_else(|| DEFAULT_RESOURCE.to_string());
            let permissions: Vec<String> = match field(r, &["permissions", "permission"]) {
                Some(Value::Array(a)) => a.iter().filter_map(text).collect(),
                Some(v) => text(v).into_iter().collect(),
                None => Vec::new(),
            };
            if permissions.is_empty() {
                return Err(bad(format!("record {} has no Permissions", i + 1)));
            }
            for permission in permissions {
                let d = Declared {
                    identity: identity.clone(),
                    resource: resource.clone(),
                    permission,
                };
                if !entries.contains(&d) {
                    entries.push(d);
                }
            }
        }
        let seen = vec![false; entries.len()];
        Ok(Baseline { entries, seen })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when the row is declared (and marks the declaration as seen).
    pub fn declares(&mut self, row: &ReportRow) -> bool {
        let mut found = false;
        for (d, seen) in self.entries.iter().zip(self.seen.iter_mut()) {
            if identity_matches(&d.identity, &row.principal)
                && resource_matches(&d.resource, row)
                && permission_matches(&d.permission, row)
            {
                *seen = true;
                found = true;
            }
        }
        found
    }

    /// Declarations no row matched.
    pub fn unseen(&self) -> impl Iterator<Item = &Declared> {
        self.entries
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !**seen)
            .map(|(d, _)| d)
    }
}

fn same(a: &str, b: Option<&str>) -> bool {
    b.is_some_and(|b| a.eq_ignore_ascii_case(b.trim()))
}

fn same_id(a: &str, b: Option<Uuid>) -> bool {
    b.is_some_and(|b| Uuid::parse_str(a).is_ok_and(|a| a == b))
}

fn identity_matches(declared: &str, p: &Principal) -> bool {
    same_id(declared, p.identity_id)
        || same(declared, p.identity_app_id.as_deref())
        || same(declared, p.identity_name.as_deref())
        || same(
            declared.trim_end_matches('/'),
            p.arm_resource_id
                .as_deref()
                .map(|a| a.trim_end_matches('/')),
        )
}

fn resource_matches(declared: &str, row: &ReportRow) -> bool {
    if same_id(declared, row.resource_id)
        || same(declared, row.resource_app_id.as_deref())
        || same(declared, row.resource.as_deref())
    {
        return true;
    }
    // A first-party alias ("Graph", "Exchange"…) names the resource by its well-known appId.
    FirstParty::by_alias_or_name(declared).is_some_and(|fp| {
        row.resource_app_id
            .as_deref()
            .is_some_and(|a| fp.app_ids.iter().any(|id| id.eq_ignore_ascii_case(a)))
    })
}

fn permission_matches(declared: &str, row: &ReportRow) -> bool {
    same(declared, row.permission.as_deref()) || same_id(declared, row.permission_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::report::risk::RiskLevel;

    fn row(name: &str, resource: &str, app_id: &str, permission: &str) -> ReportRow {
        ReportRow {
            principal: Principal {
                identity_name: Some(name.into()),
                identity_id: Some(Uuid::from_u128(7)),
                identity_app_id: Some("a-1".into()),
                principal_type: Some("ManagedIdentity".into()),
                arm_resource_id: Some("/subscriptions/s/rg/x".into()),
            },
            resource: Some(resource.into()),
            resource_id: Some(Uuid::from_u128(9)),
            resource_app_id: Some(app_id.into()),
            permission: Some(permission.into()),
            permission_id: Some(Uuid::from_u128(11)),
            risk_level: RiskLevel::High,
            assignment_id: None,
            created_date_time: None,
            drift: None,
            error: None,
        }
    }

    const GRAPH: &str = "00000003-0000-0000-c000-000000000000";

    #[test]
    fn set_records_and_exported_rows_match_by_any_key() {
        let mut b = Baseline::parse(
            r#"[{"Identity": "uami-a", "Permissions": ["Mail.Send", "User.Read.All"]},
                {"identityId": "00000000-0000-0000-0000-000000000007", "ResourceAppId": "00000003-0000-0000-c000-000000000000", "Permission": "Sites.Read.All"},
                {"Identity": "/subscriptions/s/rg/x/", "Resource": "Exchange", "Permissions": "full_access_as_app"}]"#,
        )
        .expect("valid");
        assert_eq!(b.len(), 4);
        assert!(b.declares(&row("UAMI-A", "Microsoft Graph", GRAPH, "mail.send")));
        assert!(b.declares(&row("other", "Microsoft Graph", GRAPH, "Sites.Read.All")));
        assert!(b.declares(&row(
            "other",
            "Office 365 Exchange Online",
            "00000002-0000-0ff1-ce00-000000000000",
            "full_access_as_app"
        )));
        assert!(!b.declares(&row("uami-a", "Microsoft Graph", GRAPH, "Mail.Read")));
        assert!(!b.declares(&row("uami-a", "Look-alike", "bad", "Mail.Send")));
        let unseen: Vec<_> = b.unseen().map(|d| d.permission.as_str()).collect();
        assert_eq!(unseen, ["User.Read.All"]);
    }

    #[test]
    fn bad_baselines_are_invalid_arguments() {
        for bad in [
            "nope",
            "3",
            "[1]",
            r#"[{"Permissions": "A"}]"#,
            r#"[{"Identity": "x"}]"#,
        ] {
            let e = Baseline::parse(bad).expect_err(bad);
            assert!(
                e.message.starts_with("the baseline file is not valid"),
                "{}",
                e.message
            );
        }
    }
}
