//! Control API under `/_emulator` (no authentication): seed data, run-time configuration,
//! fault injection, statistics and test-setup helpers.

use serde_json::{json, Map, Value};

use crate::graph::throttle::Bucket;
use crate::seed;
use crate::state::{lock, App, Assignment, Gate, ServicePrincipal, SpKind};
use crate::token;
use crate::util::{self, Req, Resp};
use crate::{EmulatorConfig, ThrottleConfig};

const MAX_BULK: u64 = 10_000;

fn err(status: u16, message: &str) -> Resp {
    Resp::json(status, &json!({ "error": message }))
}

fn body_json(req: &Req) -> Result<Value, Resp> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(&req.body).map_err(|e| err(400, &format!("invalid JSON body: {e}")))
}

pub fn handle(app: &App, req: &Req) -> Resp {
    let path = req.path.trim_end_matches('/');
    let rest = path.strip_prefix("/_emulator").unwrap_or(path);
    let result = match (req.method.as_str(), rest) {
        ("GET", "/health") => Ok(Resp::json(200, &json!({"status": "ok"}))),
        ("GET", "/seed") => Ok(Resp::json(200, &seed_json())),
        ("GET", "/info") => Ok(Resp::json(200, &crate::info::info_json(app))),
        ("POST", "/certificates") => body_json(req).and_then(|v| {
            crate::client_credentials::register_certificate(app, &v)
                .map(|out| Resp::json(201, &out))
                .map_err(|e| err(400, &e))
        }),
        ("POST", "/federatedCredentials") => body_json(req).and_then(|v| {
            crate::client_credentials::register_federated(app, &v)
                .map(|out| Resp::json(201, &out))
                .map_err(|e| err(400, &e))
        }),
        ("POST", "/deviceCode") => body_json(req).and_then(|v| {
            crate::entra_delegated::control_device_code(app, &v)
                .map(|out| Resp::json(200, &out))
                .map_err(|e| err(404, &e))
        }),
        ("GET", "/tokenCache") => {
            let cache_secs = app.config().platform_token_cache_secs;
            let cache = lock(&app.platform_cache);
            Ok(Resp::json(
                200,
                &json!({"entries": cache.len(), "items": cache.describe(cache_secs)}),
            ))
        }
        ("DELETE", "/tokenCache") => {
            lock(&app.platform_cache).clear();
            Ok(Resp::new(204))
        }
        ("GET", "/config") => Ok(Resp::json(200, &config_json(&app.config()))),
        ("POST", "/config") => patch_config(app, req),
        ("GET", "/faults") => Ok(Resp::json(200, &lock(&app.faults).list())),
        ("POST", "/faults") => body_json(req).and_then(|v| match lock(&app.faults).add(&v) {
            Ok(id) => Ok(Resp::json(200, &json!({ "id": id }))),
            Err(e) => Err(err(400, &e)),
        }),
        ("DELETE", "/faults") => {
            lock(&app.faults).clear();
            Ok(Resp::new(204))
        }
        ("DELETE", p) if p.starts_with("/faults/") => match p["/faults/".len()..].parse::<u64>() {
            Ok(id) if lock(&app.faults).remove(id) => Ok(Resp::new(204)),
            _ => Err(err(404, "no such fault")),
        },
        (_, p) if p == "/arm" || p.starts_with("/arm/") => {
            crate::arm::control::handle(app, req, &p["/arm".len()..]).map_err(|e| err(400, &e))
        }
        ("GET", "/stats") => Ok(Resp::json(200, &lock(&app.stats).to_json())),
        ("POST", "/stats/reset") => {
            *lock(&app.stats) = Default::default();
            Ok(Resp::new(204))
        }
        ("POST", "/reset") => {
            app.reset();
            Ok(Resp::new(204))
        }
        ("POST", "/servicePrincipals") => create_sps(app, req),
        ("GET", "/assignments") => Ok(list_assignments(app, req)),
        ("POST", "/assignments") => create_assignment(app, req),
        ("POST", "/token") => mint_token(app, req),
        ("POST", "/tenant") => create_tenant(app, req),
        _ => Err(err(
            404,
            &format!("unknown control route {} {}", req.method, req.path),
        )),
    };
    result.unwrap_or_else(|e| e)
}

fn seed_json() -> Value {
    let identities: Vec<Value> = seed::IDENTITIES
        .iter()
        .map(|i| {
            json!({
                "displayName": i.display_name,
                "clientId": i.client_id,
                "objectId": i.object_id,
                "resourceId": i.resource_id,
                "userAssigned": i.user_assigned,
                "attached": i.attached,
                "graphRoles": i.graph_roles,
            })
        })
        .collect();
    let resources: Vec<Value> = seed::RESOURCES
        .iter()
        .map(|r| {
            let roles: Vec<Value> = r
                .roles
                .iter()
                .map(|x| json!({"id": x.id, "value": x.value, "displayName": x.display_name, "application": x.application}))
                .collect();
            json!({
                "alias": r.alias,
                "displayName": r.display_name,
                "appId": r.app_id,
                "objectId": r.object_id,
                "resourceUri": r.resource_uri,
                "ownerTenant": r.owner_tenant,
                "roles": roles,
            })
        })
        .collect();
    json!({
        "tenantId": seed::TENANT_ID,
        "tenantName": seed::TENANT_NAME,
        "adminUser": {
            "displayName": seed::ADMIN_USER.display_name,
            "userPrincipalName": seed::ADMIN_USER.user_principal_name,
            "objectId": seed::ADMIN_USER.object_id,
        },
        "publicClientId": seed::GRAPH_CLI_CLIENT_ID,
        "microsoftTenantId": seed::MICROSOFT_TENANT_ID,
        "foreignTenantId": seed::FOREIGN_TENANT_ID,
        "subscriptionId": seed::SUBSCRIPTION_ID,
        "graphResource": seed::GRAPH_RESOURCE,
        "duplicateName": seed::DUPLICATE_NAME,
        "bulkRoles": seed::BULK_ROLES,
        "systemIdentity": seed::SYSTEM_IDENTITY.object_id,
        "clientSecret": crate::entra::CLIENT_SECRET,
        "identities": identities,
        "resources": resources,
        "sites": seed::SITES
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "displayName": s.display_name, "webUrl": s.web_url, "grantedTo": s.granted_to}))
            .collect::<Vec<_>>(),
        "adminApps": seed::ARM_APPS
            .iter()
            .map(|a| json!({"displayName": a.display_name, "appId": a.client_id, "objectId": a.object_id}))
            .collect::<Vec<_>>(),
    })
}

pub fn config_json(c: &EmulatorConfig) -> Value {
    json!({
        "latencyMs": c.latency_ms,
        "miLatencyMs": c.mi_latency_ms,
        "maxConcurrency": c.max_concurrency,
        "replicationLagMs": c.replication_lag_ms,
        "tokenRolesLagMs": c.token_roles_lag_ms,
        "tokenLifetimeSecs": c.token_lifetime_secs,
        "entraTokenLifetimeSecs": c.entra_token_lifetime_secs,
        "platformTokenCacheSecs": c.platform_token_cache_secs,
        "arcChallenge": c.arc_challenge.name(),
        "arcKeyLifetimeSecs": c.arc_key_lifetime_secs,
        "msiExpiresOn": c.msi_expires_on,
        "serviceFabricExpiresOn": if c.service_fabric_expires_on_string { "string" } else { "number" },
        "deviceCodeIntervalSecs": c.device_code_interval_secs,
        "deviceCodeLifetimeSecs": c.device_code_lifetime_secs,
        "authorizeOutcome": c.authorize_outcome,
        "pageSize": c.page_size,
        "automationRequireMetadata": c.automation_require_metadata,
        "enforcePermissions": c.enforce_permissions,
        "throttle": c.throttle,
        "randomSeed": c.random_seed,
    })
}

fn u64_of(k: &str, v: &Value) -> Result<u64, Resp> {
    v.as_u64()
        .ok_or_else(|| err(400, &format!("'{k}' must be a non-negative integer")))
}

fn bool_of(k: &str, v: &Value) -> Result<bool, Resp> {
    v.as_bool()
        .ok_or_else(|| err(400, &format!("'{k}' must be a boolean")))
}

/// Applies a partial configuration; all fields are validated before any is applied.
fn patch_config(app: &App, req: &Req) -> Result<Resp, Resp> {
    let patch = body_json(req)?;
    let obj = patch
        .as_object()
        .ok_or_else(|| err(400, "config patch must be a JSON object"))?;
    let mut c = app.config();
    for (k, v) in obj {
        match k.as_str() {
            "latencyMs" => c.latency_ms = u64_of(k, v)?,
            "miLatencyMs" => c.mi_latency_ms = u64_of(k, v)?,
            "maxConcurrency" => {
                c.max_concurrency = match v {
                    Value::Null => None,
                    _ => Some(u64_of(k, v)?.max(1) as usize),
                }
            }
            "replicationLagMs" => c.replication_lag_ms = u64_of(k, v)?,
            "tokenRolesLagMs" => c.token_roles_lag_ms = u64_of(k, v)?,
            "tokenLifetimeSecs" => c.token_lifetime_secs = u64_of(k, v)?,
            "entraTokenLifetimeSecs" => c.entra_token_lifetime_secs = u64_of(k, v)?,
            "platformTokenCacheSecs" => c.platform_token_cache_secs = u64_of(k, v)?,
            "arcChallenge" => {
                c.arc_challenge = v
                    .as_str()
                    .and_then(crate::arc::ChallengeMode::parse)
                    .ok_or_else(|| err(400, "'arcChallenge' must be one of valid, outsideDirectory, dotDot, symlink, linkedDirectory, unc, wrongExtension, oversize, noRealm, noChallenge"))?
            }
            "arcKeyLifetimeSecs" => c.arc_key_lifetime_secs = u64_of(k, v)?,
            "deviceCodeIntervalSecs" => c.device_code_interval_secs = u64_of(k, v)?,
            "deviceCodeLifetimeSecs" => c.device_code_lifetime_secs = u64_of(k, v)?,
            "authorizeOutcome" => {
                c.authorize_outcome = serde_json::from_value(v.clone())
                    .map_err(|_| err(400, "'authorizeOutcome' must be 'approve' or 'deny'"))?
            }
            "msiExpiresOn" => {
                c.msi_expires_on = v
                    .as_str()
                    .and_then(crate::msi_legacy::ExpiresOnForm::parse)
                    .ok_or_else(|| err(400, "'msiExpiresOn' must be 'epoch' or 'date'"))?
            }
            "serviceFabricExpiresOn" => {
                c.service_fabric_expires_on_string = match v.as_str() {
                    Some("number") => false,
                    Some("string") => true,
                    _ => return Err(err(400, "'serviceFabricExpiresOn' must be 'number' or 'string'")),
                }
            }
            "pageSize" => {
                c.page_size = match v {
                    Value::Null => None,
                    _ => match u64_of(k, v)? {
                        n @ 1..=999 => Some(n as usize),
                        _ => return Err(err(400, "'pageSize' must be between 1 and 999")),
                    },
                }
            }
            "automationRequireMetadata" => c.automation_require_metadata = bool_of(k, v)?,
            "enforcePermissions" => c.enforce_permissions = bool_of(k, v)?,
            "throttle" => {
                c.throttle = match v {
                    Value::Null => None,
                    _ => Some(serde_json::from_value::<ThrottleConfig>(v.clone()).map_err(
                        |e| {
                            err(
                                400,
                                &format!("'throttle' must be {{capacity, refillPerSec}}: {e}"),
                            )
                        },
                    )?),
                }
            }
            "randomSeed" => c.random_seed = u64_of(k, v)?,
            other => return Err(err(400, &format!("unknown config field '{other}'"))),
        }
    }
    if obj.contains_key("maxConcurrency") {
        *lock(&app.gate) = Gate::new(c.max_concurrency);
    }
    if obj.contains_key("throttle") {
        *lock(&app.throttle) = c.throttle.map(Bucket::new);
    }
    // New lifetimes or cache rules apply to the next token, not after the cached one expires.
    if [
        "tokenLifetimeSecs",
        "platformTokenCacheSecs",
        "tokenRolesLagMs",
    ]
    .iter()
    .any(|k| obj.contains_key(*k))
    {
        lock(&app.platform_cache).clear();
    }
    if obj.contains_key("randomSeed") {
        lock(&app.faults).reseed(c.random_seed);
        *lock(&app.id_rng) = crate::state::id_rng(c.random_seed);
    }
    let out = config_json(&c);
    *lock(&app.cfg) = c;
    Ok(Resp::json(200, &out))
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Deterministic GUID for `prefix` + `index`; `marker` separates object ids from app ids.
fn derived_guid(prefix: &str, index: u64, marker: u16) -> String {
    let h = fnv1a(prefix);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        index & 0xffff,
        (index >> 16) & 0xfff,
        marker & 0xfff,
        h & 0xffff_ffff_ffff
    )
}

/// `POST /_emulator/servicePrincipals {"count","prefix","type","attached","userAssigned","start"}`
fn create_sps(app: &App, req: &Req) -> Result<Resp, Resp> {
    let v = body_json(req)?;
    let count = v.get("count").map_or(Ok(1), |c| u64_of("count", c))?;
    if count == 0 || count > MAX_BULK {
        return Err(err(
            400,
            &format!("'count' must be between 1 and {MAX_BULK}"),
        ));
    }
    let start = v.get("start").map_or(Ok(1), |s| u64_of("start", s))?;
    if start > 0x0fff_ffff {
        return Err(err(400, "'start' is too large"));
    }
    let prefix = v
        .get("prefix")
        .and_then(Value::as_str)
        .unwrap_or("bulk-mi")
        .to_string();
    if prefix.is_empty() {
        return Err(err(400, "'prefix' must not be empty"));
    }
    let managed = match v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ManagedIdentity")
    {
        "ManagedIdentity" => true,
        "Application" => false,
        other => return Err(err(400, &format!("unknown type '{other}'"))),
    };
    let attached = v.get("attached").and_then(Value::as_bool).unwrap_or(false);
    let user_assigned = v
        .get("userAssigned")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let now = std::time::Instant::now();
    let mut out = Vec::new();
    let mut dir = lock(&app.dir);
    // One set of the ids already there: asking `dir.sp` for each new (unknown) id would rebuild
    // its index every time, quadratic in the directory's size (100,000 principals for the bench).
    let mut existing: std::collections::HashSet<String> =
        dir.sps.iter().map(|s| s.id.to_ascii_lowercase()).collect();
    for index in start..start + count {
        let id = derived_guid(&prefix, index, 0x0b1);
        let app_id = derived_guid(&prefix, index, 0x0a1);
        let name = format!("{prefix}-{index:04}");
        if existing.insert(id.to_ascii_lowercase()) {
            let kind = if managed {
                SpKind::ManagedIdentity {
                    user_assigned,
                    resource_id: format!(
                        "/subscriptions/{}/resourcegroups/rg-bulk/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
                        seed::SUBSCRIPTION_ID
                    ),
                    attached,
                }
            } else {
                SpKind::Application {
                    resource_uri: format!("api://{app_id}"),
                    owner_tenant: Some(seed::TENANT_ID.into()),
                }
            };
            dir.sps.push(ServicePrincipal {
                id: id.clone(),
                app_id: app_id.clone(),
                display_name: name.clone(),
                kind,
                app_roles: Vec::new(),
                created: Some(now),
            });
        }
        out.push(json!({"id": id, "appId": app_id, "displayName": name}));
    }
    Ok(Resp::json(200, &Value::Array(out)))
}

fn assignment_summary(a: &Assignment) -> Value {
    json!({
        "id": a.id,
        "principalId": a.principal_id,
        "resourceId": a.resource_id,
        "appRoleId": a.app_role_id,
        "createdDateTime": a.created_date_time,
    })
}

/// `GET /_emulator/assignments[?principalId=…][&resourceId=…]` (ignores replication lag).
fn list_assignments(app: &App, req: &Req) -> Resp {
    let params = req.params();
    let principal = util::param(&params, "principalId");
    let resource = util::param(&params, "resourceId");
    let dir = lock(&app.dir);
    let out: Vec<Value> = dir
        .assignments
        .iter()
        .filter(|a| principal.is_none_or(|p| a.principal_id.eq_ignore_ascii_case(p)))
        .filter(|a| resource.is_none_or(|r| a.resource_id.eq_ignore_ascii_case(r)))
        .map(assignment_summary)
        .collect();
    Resp::json(200, &Value::Array(out))
}

/// `POST /_emulator/assignments {"principalId","resourceId","appRoleId"|"appRoleValue"}`: created
/// as if long ago (no replication or token-roles lag); an existing one is returned with 200.
fn create_assignment(app: &App, req: &Req) -> Result<Resp, Resp> {
    let v = body_json(req)?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
    };
    let principal_id = field("principalId").ok_or_else(|| err(400, "'principalId' is required"))?;
    let resource_id = field("resourceId").ok_or_else(|| err(400, "'resourceId' is required"))?;
    let mut dir = lock(&app.dir);
    if dir.sp(&principal_id).is_none() {
        return Err(err(404, &format!("no service principal '{principal_id}'")));
    }
    let resource = dir
        .sp(&resource_id)
        .ok_or_else(|| err(404, &format!("no service principal '{resource_id}'")))?;
    let app_role_id = match (
        field("appRoleId"),
        v.get("appRoleValue").and_then(Value::as_str),
    ) {
        (Some(id), _) => resource
            .role(&id)
            .map(|r| r.id.clone())
            .ok_or_else(|| err(400, &format!("no app role '{id}' on the resource")))?,
        (None, Some(value)) => resource
            .app_roles
            .iter()
            .find(|r| r.value == value)
            .map(|r| r.id.clone())
            .ok_or_else(|| err(400, &format!("no app role '{value}' on the resource")))?,
        (None, None) => return Err(err(400, "'appRoleId' or 'appRoleValue' is required")),
    };
    if let Some(a) = dir.assignments.iter().find(|a| {
        a.principal_id == principal_id
            && a.resource_id == resource_id
            && a.app_role_id == app_role_id
    }) {
        return Ok(Resp::json(200, &assignment_summary(a)));
    }
    let a = Assignment {
        id: app.new_assignment_id(&principal_id),
        principal_id,
        resource_id,
        app_role_id,
        created_date_time: util::iso_now_z(),
        created: None,
    };
    let out = assignment_summary(&a);
    dir.assignments.push(a);
    Ok(Resp::json(201, &out))
}

/// `POST /_emulator/token {"clientId"|"objectId","resource","lifetimeSecs"?}` for any service
/// principal (attached or not). A negative `lifetimeSecs` gives an expired token.
fn mint_token(app: &App, req: &Req) -> Result<Resp, Resp> {
    let v = body_json(req)?;
    let resource = v
        .get("resource")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .unwrap_or(seed::GRAPH_RESOURCE);
    let lifetime = match v.get("lifetimeSecs") {
        None | Some(Value::Null) => None,
        Some(l) => Some(
            l.as_i64()
                .ok_or_else(|| err(400, "'lifetimeSecs' must be an integer"))?,
        ),
    };
    if let Some(scopes) = v.get("scopes") {
        return delegated_token(app, &v, scopes, resource, lifetime);
    }
    let sp_id = {
        let dir = lock(&app.dir);
        let sp = match (
            v.get("objectId").and_then(Value::as_str),
            v.get("clientId").and_then(Value::as_str),
        ) {
            (Some(o), _) => dir.sp(o),
            (None, Some(c)) => dir.sp_by_app_id(c),
            (None, None) => return Err(err(400, "'clientId' or 'objectId' is required")),
        };
        sp.map(|s| s.id.clone())
            .ok_or_else(|| err(404, "no such service principal"))?
    };
    let t = token::issue(app, &sp_id, resource, lifetime)
        .ok_or_else(|| err(404, "no such service principal"))?;
    Ok(Resp::json(
        200,
        &json!({"access_token": t.access_token, "expires_on": t.exp, "expires_in": t.expires_in, "resource": resource}),
    ))
}

/// `POST /_emulator/token {"scopes": ["User.Read", …] | "User.Read …", "clientId"?, …}`: a
/// delegated token of the seed's admin user signed in to `clientId` (default Microsoft Graph
/// Command Line Tools) with exactly these scopes in `scp`, without a sign-in flow.
fn delegated_token(
    app: &App,
    v: &Value,
    scopes: &Value,
    resource: &str,
    lifetime: Option<i64>,
) -> Result<Resp, Resp> {
    const BAD: &str = "'scopes' must be an array of scope names or a space-separated string";
    let scp: Vec<String> = match scopes {
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::trim).map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| err(400, BAD))?,
        _ => return Err(err(400, BAD)),
    };
    if scp
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        return Err(err(400, BAD));
    }
    let client_id = v
        .get("clientId")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .unwrap_or(seed::GRAPH_CLI_CLIENT_ID);
    let lifetime =
        lifetime.unwrap_or(app.config().entra_token_lifetime_secs.min(i64::MAX as u64) as i64);
    let t = token::mint_user(&seed::ADMIN_USER, client_id, resource, &scp, lifetime);
    Ok(Resp::json(
        200,
        &json!({"access_token": t.access_token, "expires_on": t.exp, "expires_in": t.expires_in, "resource": resource}),
    ))
}

/// `POST /_emulator/tenant {"managedIdentities","applications","assignments","criticalShare",
/// "seed","prefix"}`: adds a generated tenant (see [`crate::tenant`]).
fn create_tenant(app: &App, req: &Req) -> Result<Resp, Resp> {
    let v = body_json(req)?;
    let spec = crate::tenant::TenantSpec::from_json(&v).map_err(|m| err(400, &m))?;
    let out = crate::tenant::generate(&mut lock(&app.dir), &spec);
    Ok(Resp::json(200, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_guids_and_distinct() {
        let a = derived_guid("bulk-mi", 1, 0x0b1);
        let b = derived_guid("bulk-mi", 2, 0x0b1);
        let c = derived_guid("bulk-mi", 1, 0x0a1);
        assert!(util::is_guid(&a) && util::is_guid(&b) && util::is_guid(&c));
        assert!(a != b && a != c);
        assert_eq!(a, derived_guid("bulk-mi", 1, 0x0b1));
    }
}
