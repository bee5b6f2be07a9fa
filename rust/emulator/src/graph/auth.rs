//! Graph authentication (emulator-issued bearer tokens) and role checks.

use serde_json::Value;

use crate::seed;
use crate::token;
use crate::util::{self, Req};

/// Roles that allow reading service principals and assignments.
pub const READ_ROLES: [&str; 4] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Role required to create or delete assignments.
pub const WRITE_ROLE: &str = "AppRoleAssignment.ReadWrite.All";

/// The authenticated caller.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub app_id: String,
    pub object_id: String,
    /// What the emulator's own routes check: the `roles` claim plus each `scp` entry.
    pub roles: Vec<String>,
    /// The token is a user's (`scp`, `idtyp: user`), not app-only.
    pub delegated: bool,
    /// Exactly what the token holds for its kind: the `roles` claim of an app token, the
    /// `scp` entries of a delegated one (what Microsoft's permission data is checked against).
    pub held: Vec<String>,
}

impl Caller {
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }

    pub fn can_read(&self) -> bool {
        self.has_any(&READ_ROLES)
    }

    pub fn can_write(&self) -> bool {
        self.has_any(&[WRITE_ROLE])
    }
}

fn is_graph_audience(aud: &str) -> bool {
    util::resource_key(aud) == util::resource_key(seed::GRAPH_RESOURCE)
        || aud.eq_ignore_ascii_case(seed::GRAPH.app_id)
}

/// Validates `Authorization: Bearer <token>`; the error is the Graph message.
pub fn authenticate(req: &Req) -> Result<Caller, &'static str> {
    const INVALID: &str = "Access token validation failure.";
    let header = req.header("authorization").ok_or(INVALID)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(INVALID)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(INVALID);
    }
    let claims = token::decode(token.trim()).ok_or(INVALID)?;
    if !claims
        .get("aud")
        .and_then(Value::as_str)
        .is_some_and(is_graph_audience)
    {
        return Err(INVALID);
    }
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or(INVALID)?;
    if exp <= util::now_epoch() {
        return Err("Lifetime validation failed, the token is expired.");
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut roles: Vec<String> = claims
        .get("roles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    // Delegated tokens: the scopes grant what the role of the same name grants (the emulated
    // admin user holds every directory role).
    let scp = claims.get("scp").and_then(Value::as_str);
    let delegated = scp.is_some() || text("idtyp") == "user";
    let held = match scp {
        Some(scp) => scp.split_whitespace().map(str::to_string).collect(),
        None if delegated => Vec::new(),
        None => roles.clone(),
    };
    if let Some(scp) = scp {
        roles.extend(scp.split_whitespace().map(str::to_string));
    }
    Ok(Caller {
        app_id: text("appid"),
        object_id: text("oid"),
        roles,
        delegated,
        held,
    })
}
