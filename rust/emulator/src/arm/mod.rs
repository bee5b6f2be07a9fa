//! The emulated Azure Resource Manager: subscriptions, resource groups, user-assigned
//! identities and Automation account identities, with ARM's error JSON, api-version rule,
//! bearer authentication (401 + `WWW-Authenticate`) and a small RBAC model.
//!
//! Principals created here live in the Graph directory and reach Graph after the configured
//! replication lag; attachments take effect at once for the emulator's Automation token
//! endpoint. Control API: `/_emulator/arm` ([`control`]).

pub mod automation;
pub mod control;
pub mod identities;
pub mod rbac;
pub mod state;

use serde_json::{json, Value};

use crate::seed;
use crate::state::{lock, App};
use crate::token;
use crate::util::{self, Req, Resp};

pub use state::ArmState;

/// The ARM audience.
pub const RESOURCE: &str = "https://management.azure.com/";

/// True for the paths ARM serves (`/subscriptions…`).
pub fn is_arm_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower == "/subscriptions" || lower.starts_with("/subscriptions/")
}

/// ARM's error JSON.
pub fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
    .header("x-ms-correlation-request-id", &util::new_guid())
}

/// The authenticated caller: object id and client id.
pub struct Caller {
    pub object_id: String,
    pub client_id: String,
}

fn unauthorized(code: &str, message: &str) -> Resp {
    error(401, code, message).header(
        "www-authenticate",
        &format!(
            "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"{message}\"",
            "https://login.microsoftonline.com",
            seed::TENANT_ID
        ),
    )
}

fn authenticate(req: &Req) -> Result<Caller, Resp> {
    let Some(header) = req.header("authorization") else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let token = header
        .trim()
        .split_once(' ')
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or_default();
    let Some(claims) = token::decode(token) else {
        return Err(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        ));
    };
    let aud = claims
        .get("aud")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if util::resource_key(aud) != util::resource_key(RESOURCE) {
        return Err(unauthorized(
            "InvalidAuthenticationTokenAudience",
            "The access token has been obtained for wrong audience or resource. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.",
        ));
    }
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp <= util::now_epoch() {
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        ));
    }
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(Caller {
        object_id: s("oid"),
        client_id: s("appid"),
    })
}

/// 403 AuthorizationFailed naming the action and scope.
pub fn forbidden(caller: &Caller, action: &str, scope: &str) -> Resp {
    error(
        403,
        "AuthorizationFailed",
        &format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            caller.client_id, caller.object_id
        ),
    )
}

/// The `/`-separated segments of a path, percent-decoded.
fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect()
}

fn percent_decode(s: &str) -> String {
    let form = util::parse_form(&format!("x={}", s.replace('+', "%2B")));
    form.into_iter().next().map(|(_, v)| v).unwrap_or_default()
}

/// Serves one ARM request.
pub fn handle(app: &App, req: &Req) -> Resp {
    let caller = match authenticate(req) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if util::param(&req.params(), "api-version").is_none_or(str::is_empty) {
        return error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let seg = segments(&req.path);
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let is = |i: usize, v: &str| s.get(i).is_some_and(|x| x.eq_ignore_ascii_case(v));
    let mut arm = lock(&app.arm);
    if s.len() == 1 {
        return subscriptions(&arm, &caller);
    }
    let sub = s[1].to_string();
    if arm.subscription(&sub).is_none() {
        return error(
            404,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        );
    }
    match s.len() {
        5 if is(2, "providers")
            && is(3, "Microsoft.ManagedIdentity")
            && is(4, "userAssignedIdentities") =>
        {
            identities::list(&arm, &caller, &sub, None, req)
        }
        4 if is(2, "resourceGroups") => {
            let scope = format!("/subscriptions/{sub}/resourceGroups/{}", s[3]);
            match arm.group(&sub, s[3]) {
                None => group_missing(s[3]),
                Some(_)
                    if !rbac::allowed(
                        &arm,
                        &caller.object_id,
                        "Microsoft.Resources/subscriptions/resourceGroups/read",
                        &scope,
                    ) =>
                {
                    forbidden(
                        &caller,
                        "Microsoft.Resources/subscriptions/resourceGroups/read",
                        &scope,
                    )
                }
                Some(g) => Resp::json(
                    200,
                    &json!({"id": scope, "name": g.name, "location": g.location, "properties": {"provisioningState": "Succeeded"}}),
                ),
            }
        }
        n if n >= 7 && is(2, "resourceGroups") && is(4, "providers") => {
            let group = s[3].to_string();
            if arm.group(&sub, &group).is_none() {
                return group_missing(&group);
            }
            if is(5, "Microsoft.ManagedIdentity") && is(6, "userAssignedIdentities") {
                match s.get(7) {
                    None => identities::list(&arm, &caller, &sub, Some(&group), req),
                    Some(name) if n == 8 => {
                        let mut dir = lock(&app.dir);
                        identities::item(&mut arm, &mut dir, &caller, &sub, &group, name, req)
                    }
                    _ => not_found_path(req),
                }
            } else if is(5, "Microsoft.Automation") && is(6, "automationAccounts") && n == 8 {
                let mut dir = lock(&app.dir);
                automation::item(&mut arm, &mut dir, &caller, &sub, &group, s[7], req)
            } else {
                not_found_path(req)
            }
        }
        _ => not_found_path(req),
    }
}

fn group_missing(group: &str) -> Resp {
    error(
        404,
        "ResourceGroupNotFound",
        &format!("Resource group '{group}' could not be found."),
    )
}

fn not_found_path(req: &Req) -> Resp {
    error(
        404,
        "NotFound",
        &format!("No route for '{} {}'.", req.method, req.path),
    )
}

fn subscriptions(arm: &ArmState, caller: &Caller) -> Resp {
    let value: Vec<Value> = arm
        .subscriptions
        .iter()
        .filter(|s| rbac::sees(arm, &caller.object_id, &format!("/subscriptions/{}", s.id)))
        .map(|s| {
            json!({"id": format!("/subscriptions/{}", s.id), "subscriptionId": s.id,
                   "displayName": s.display_name, "state": "Enabled", "tenantId": seed::TENANT_ID})
        })
        .collect();
    Resp::json(200, &json!({ "value": value }))
}
