//! `Microsoft.ManagedIdentity/userAssignedIdentities`: PUT (name and location rules; the same
//! name in another location is `InvalidResourceLocation`), GET, DELETE (the principal and its
//! app-role assignments go with it), list by group and by subscription.

use serde_json::{json, Value};

use super::state::{self, eq, identity_json, location_key, ArmState, Identity, LOCATIONS};
use super::{error, forbidden, rbac, Caller};
use crate::state::Directory;
use crate::util::{Req, Resp};

const TYPE: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";

fn valid_name(name: &str) -> bool {
    (3..=128).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

pub fn list(arm: &ArmState, caller: &Caller, sub: &str, group: Option<&str>, _req: &Req) -> Resp {
    let scope = match group {
        Some(g) => format!("/subscriptions/{sub}/resourceGroups/{g}"),
        None => format!("/subscriptions/{sub}"),
    };
    let action = format!("{TYPE}/read");
    let value: Vec<Value> = arm
        .identities
        .iter()
        .filter(|i| eq(&i.subscription, sub) && group.is_none_or(|g| eq(&i.group, g)))
        .filter(|i| rbac::allowed(arm, &caller.object_id, &action, &i.resource_id))
        .map(identity_json)
        .collect();
    if value.is_empty() && !rbac::allowed(arm, &caller.object_id, &action, &scope) {
        return forbidden(caller, &action, &scope);
    }
    Resp::json(200, &json!({ "value": value }))
}

pub fn item(
    arm: &mut ArmState,
    dir: &mut Directory,
    caller: &Caller,
    sub: &str,
    group: &str,
    name: &str,
    req: &Req,
) -> Resp {
    let rid = format!("/subscriptions/{sub}/resourceGroups/{group}/providers/{TYPE}/{name}");
    let action = |verb: &str| format!("{TYPE}/{verb}");
    let verb = match req.method.as_str() {
        "GET" => "read",
        "PUT" | "PATCH" => "write",
        "DELETE" => "delete",
        _ => return error(405, "MethodNotAllowed", "The method is not allowed."),
    };
    if !rbac::allowed(arm, &caller.object_id, &action(verb), &rid) {
        return forbidden(caller, &action(verb), &rid);
    }
    match req.method.as_str() {
        "GET" => match arm.identity(&rid) {
            Some(i) => Resp::json(200, &identity_json(i)),
            None => not_found(name),
        },
        "DELETE" => {
            let Some(pos) = arm.identities.iter().position(|i| eq(&i.resource_id, &rid)) else {
                return Resp::new(204);
            };
            let gone = arm.identities.remove(pos);
            for a in &mut arm.accounts {
                a.user_assigned.retain(|u| !eq(u, &gone.resource_id));
            }
            state::delete_principal(dir, &gone.principal_id);
            arm.writes += 1;
            Resp::new(200)
        }
        _ => put(arm, dir, sub, group, name, &rid, req),
    }
}

fn not_found(name: &str) -> Resp {
    error(
        404,
        "ResourceNotFound",
        &format!("The Resource '{TYPE}/{name}' under resource group was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"),
    )
}

fn put(
    arm: &mut ArmState,
    dir: &mut Directory,
    sub: &str,
    group: &str,
    name: &str,
    rid: &str,
    req: &Req,
) -> Resp {
    if !valid_name(name) {
        return error(
            400,
            "InvalidResourceName",
            &format!("Resource name {name} is invalid. The name can be between 3 and 128 characters long and may contain alphanumeric characters, hyphens and underscores, starting with a letter or number."),
        );
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let location_raw = body
        .get("location")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let location = location_key(location_raw);
    if !LOCATIONS.iter().any(|(n, _)| *n == location) {
        return error(
            400,
            "LocationNotAvailableForResourceType",
            &format!("The provided location '{location_raw}' is not available for resource type '{TYPE}'. List of available regions for the resource type is '{}'.",
                LOCATIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")),
        );
    }
    let tags = body
        .get("tags")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    if let Some(existing) = arm.identities.iter_mut().find(|i| eq(&i.resource_id, rid)) {
        if existing.location != location {
            return error(
                400,
                "InvalidResourceLocation",
                &format!("The resource '{name}' already exists in location '{}' in resource group '{group}'. A resource with the same name cannot be created in location '{location}'. Please select a new resource name.", existing.location),
            );
        }
        existing.tags = tags;
        arm.writes += 1;
        let v = identity_json(existing);
        return Resp::json(200, &v);
    }
    let canonical = format!("/subscriptions/{sub}/resourceGroups/{group}/providers/{TYPE}/{name}");
    let (principal_id, client_id) = state::new_principal(dir, name, &canonical, true);
    let identity = Identity {
        resource_id: canonical,
        subscription: sub.to_string(),
        group: group.to_string(),
        name: name.to_string(),
        location,
        tags,
        principal_id,
        client_id,
    };
    let v = identity_json(&identity);
    arm.identities.push(identity);
    arm.writes += 1;
    Resp::json(201, &v)
}
