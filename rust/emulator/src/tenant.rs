//! A seedable large tenant for the audit report's tests and bench: `count` principals (managed
//! identities carrying their ARM resource id in `alternativeNames`, plus applications), and
//! exactly `assignments` app-role assignments on the seeded first-party resources, a share of
//! them on critical roles. The same spec and seed always give the same directory (ids, names,
//! assignment ids and dates).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

use crate::seed;
use crate::state::{assignment_id, Assignment, Directory, ServicePrincipal, SpKind};

/// Upper bounds that keep one request's work bounded.
pub const MAX_PRINCIPALS: u64 = 50_000;
pub const MAX_ASSIGNMENTS: u64 = 200_000;

/// Roles the generator treats as critical (those of the seeded Graph that can take over the
/// tenant or grant themselves more).
pub const CRITICAL_ROLES: [&str; 2] = [
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
];

/// What to generate (`POST /_emulator/tenant`).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    /// Managed identities.
    pub managed_identities: u64,
    /// Application service principals (clients).
    pub applications: u64,
    /// App-role assignments spread over all generated principals.
    pub assignments: u64,
    /// Share (0..=1) of assignments on a critical role.
    pub critical_share: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Display-name prefix (may hold any text, e.g. hostile markup for escaping tests).
    pub prefix: String,
}

impl TenantSpec {
    /// Reads the control API body; every field is optional.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let num = |k: &str, default: u64, max: u64| -> Result<u64, String> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(x) => x
                    .as_u64()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("'{k}' must be an integer from 0 to {max}")),
            }
        };
        let managed_identities = num("managedIdentities", 100, MAX_PRINCIPALS)?;
        let applications = num("applications", 0, MAX_PRINCIPALS)?;
        let assignments = num("assignments", 400, MAX_ASSIGNMENTS)?;
        let seed = num("seed", 1, u64::MAX)?;
        let critical_share = match v.get("criticalShare") {
            None | Some(Value::Null) => 0.05,
            Some(x) => x
                .as_f64()
                .filter(|s| (0.0..=1.0).contains(s))
                .ok_or("'criticalShare' must be a number from 0 to 1")?,
        };
        let prefix = v
            .get("prefix")
            .and_then(Value::as_str)
            .unwrap_or("tenant")
            .to_string();
        if prefix.is_empty() {
            return Err("'prefix' must not be empty".into());
        }
        let spec = TenantSpec {
            managed_identities,
            applications,
            assignments,
            critical_share,
            seed,
            prefix,
        };
        let principals = spec.managed_identities + spec.applications;
        if principals == 0 && spec.assignments > 0 {
            return Err("assignments need at least one principal".into());
        }
        if spec.assignments > principals * pool_size() as u64 {
            return Err(format!(
                "{} assignments do not fit {principals} principals ({} roles each)",
                spec.assignments,
                pool_size()
            ));
        }
        Ok(spec)
    }
}

/// (resource object id, role id, role value) of every grantable seeded role.
fn role_pool() -> Vec<(&'static str, &'static str, &'static str)> {
    [seed::GRAPH, seed::EXCHANGE, seed::SHAREPOINT]
        .iter()
        .flat_map(|r| {
            r.roles
                .iter()
                .filter(|role| role.application)
                .map(move |role| (r.object_id, role.id, role.value))
        })
        .collect()
}

fn pool_size() -> usize {
    role_pool().len()
}

/// Deterministic GUID from the seed, a kind marker and an index.
fn guid(seed: u64, marker: u16, index: u64) -> String {
    let mix = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(marker);
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        (mix >> 32) as u32,
        (index >> 12) & 0xffff,
        index & 0xfff,
        marker & 0xfff,
        mix & 0xffff_ffff_ffff
    )
}

/// Adds the tenant to `dir` and returns what was added.
pub fn generate(dir: &mut Directory, spec: &TenantSpec) -> Value {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut principals = Vec::new();
    for i in 0..spec.managed_identities {
        let id = guid(spec.seed, 0x1d1, i);
        let name = format!("{}-mi-{i:05}", spec.prefix);
        let user_assigned = i % 3 != 0;
        let resource_id = if user_assigned {
            format!(
                "/subscriptions/{}/resourcegroups/rg-audit/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
                seed::SUBSCRIPTION_ID
            )
        } else {
            format!(
                "/subscriptions/{}/resourcegroups/rg-audit/providers/Microsoft.Web/sites/{name}",
                seed::SUBSCRIPTION_ID
            )
        };
        dir.sps.push(ServicePrincipal {
            id: id.clone(),
            app_id: guid(spec.seed, 0x1a1, i),
            display_name: name,
            kind: SpKind::ManagedIdentity {
                user_assigned,
                resource_id,
                attached: false,
            },
            app_roles: Vec::new(),
            created: None,
        });
        principals.push(id);
    }
    for i in 0..spec.applications {
        let id = guid(spec.seed, 0x2d2, i);
        let app_id = guid(spec.seed, 0x2a2, i);
        dir.sps.push(ServicePrincipal {
            id: id.clone(),
            display_name: format!("{}-app-{i:05}", spec.prefix),
            kind: SpKind::Application {
                resource_uri: format!("api://{app_id}"),
                owner_tenant: Some(seed::TENANT_ID.into()),
            },
            app_id,
            app_roles: Vec::new(),
            created: None,
        });
        principals.push(id);
    }
    let pool = role_pool();
    let (critical, other): (Vec<_>, Vec<_>) = pool
        .iter()
        .copied()
        .partition(|(_, _, value)| CRITICAL_ROLES.contains(value));
    let mut taken: HashSet<(usize, usize)> = HashSet::new();
    let mut critical_count = 0u64;
    let mut added = 0u64;
    while added < spec.assignments {
        let p = rng.random_range(0..principals.len());
        let want_critical = rng.random_bool(spec.critical_share);
        let choices = if want_critical { &critical } else { &other };
        let r = rng.random_range(0..choices.len());
        let role = choices[r];
        let key = pool.iter().position(|x| *x == role).unwrap_or(0);
        if !taken.insert((p, key)) {
            // Taken: fall back to any free role of this principal, or draw again.
            let free = (0..pool.len()).find(|k| !taken.contains(&(p, *k)));
            match free {
                Some(k) => {
                    taken.insert((p, k));
                    push(dir, &principals[p], pool[k], &mut rng, added);
                    if CRITICAL_ROLES.contains(&pool[k].2) {
                        critical_count += 1;
                    }
                    added += 1;
                }
                None => continue,
            }
            continue;
        }
        push(dir, &principals[p], role, &mut rng, added);
        if want_critical {
            critical_count += 1;
        }
        added += 1;
    }
    json!({
        "managedIdentities": spec.managed_identities,
        "applications": spec.applications,
        "assignments": added,
        "criticalAssignments": critical_count,
        "seed": spec.seed,
    })
}

fn push(
    dir: &mut Directory,
    principal: &str,
    (resource, role_id, _): (&str, &str, &str),
    rng: &mut StdRng,
    n: u64,
) {
    // Dates spread over 2023–2025, deterministic.
    let day = n % 28 + 1;
    let month = (n / 28) % 12 + 1;
    let year = 2023 + (n / 336) % 3;
    dir.assignments.push(Assignment {
        id: assignment_id(principal, rng),
        principal_id: principal.to_string(),
        resource_id: resource.to_ascii_lowercase(),
        app_role_id: role_id.to_ascii_lowercase(),
        created_date_time: format!("{year}-{month:02}-{day:02}T09:30:00Z"),
        created: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: Value) -> TenantSpec {
        TenantSpec::from_json(&v).expect("valid spec")
    }

    #[test]
    fn same_seed_same_tenant_and_exact_counts() {
        let s = spec(
            json!({"managedIdentities": 50, "applications": 10, "assignments": 300, "criticalShare": 0.2, "seed": 7}),
        );
        let (mut a, mut b) = (Directory::default(), Directory::default());
        let out = generate(&mut a, &s);
        generate(&mut b, &s);
        assert_eq!(a.assignments.len(), 300);
        assert_eq!(out["assignments"], 300);
        assert_eq!(a.sps.len(), 60);
        let ids = |d: &Directory| {
            d.assignments
                .iter()
                .map(|x| x.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        let unique: HashSet<_> = a
            .assignments
            .iter()
            .map(|x| (x.principal_id.clone(), x.app_role_id.clone()))
            .collect();
        assert_eq!(unique.len(), 300, "no duplicate grants");
        let critical = out["criticalAssignments"].as_u64().unwrap();
        assert!(critical > 20 && critical < 110, "{critical}");
        let mi = a
            .sps
            .iter()
            .find(|s| s.type_name() == "ManagedIdentity")
            .unwrap();
        assert!(mi.alternative_names()[1].starts_with("/subscriptions/"));
        let other = {
            let mut d = Directory::default();
            generate(
                &mut d,
                &spec(
                    json!({"managedIdentities": 50, "applications": 10, "assignments": 300, "seed": 8}),
                ),
            );
            ids(&d)
        };
        assert_ne!(ids(&a), other);
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            json!({"criticalShare": 2}),
            json!({"managedIdentities": 1, "assignments": 1000}),
            json!({"managedIdentities": 0, "assignments": 1}),
            json!({"prefix": ""}),
            json!({"assignments": -1}),
        ] {
            assert!(TenantSpec::from_json(&bad).is_err(), "{bad}");
        }
    }
}
