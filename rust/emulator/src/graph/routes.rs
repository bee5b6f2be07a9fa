//! Graph routes: service principals, `appRoleAssignments`, `appRoleAssignedTo`, `$batch`.

use std::time::Instant;

use percent_encoding::percent_decode_str;
use serde_json::Value;

use super::auth::Caller;
use super::filter::{self, FieldValue, PropType, Record, Schema};
use super::{batch, paging, Ctx, GraphResponse};
use crate::state::{lock, settled, App, Assignment, Directory, ServicePrincipal};
use crate::util::{self, Req};

pub const SP_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "accountEnabled",
    "alternativeNames",
    "appDisplayName",
    "appId",
    "appOwnerOrganizationId",
    "appRoles",
    "displayName",
    "servicePrincipalNames",
    "servicePrincipalType",
    "tags",
];

pub const ASSIGNMENT_PROPS: &[&str] = &[
    "id",
    "deletedDateTime",
    "appRoleId",
    "createdDateTime",
    "principalDisplayName",
    "principalId",
    "principalType",
    "resourceDisplayName",
    "resourceId",
];

const SP_SCHEMA: Schema = Schema {
    props: &[
        ("id", PropType::Str),
        ("appId", PropType::Str),
        ("displayName", PropType::Str),
        ("servicePrincipalType", PropType::Str),
        ("alternativeNames", PropType::StrCollection),
        ("servicePrincipalNames", PropType::StrCollection),
    ],
};

/// `principalDisplayName` is deliberately absent: Graph rejects it with "Invalid filter clause".
const ASSIGNMENT_SCHEMA: Schema = Schema {
    props: &[
        ("resourceId", PropType::Guid),
        ("principalId", PropType::Guid),
        ("appRoleId", PropType::Guid),
    ],
};

const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";

struct SpRecord<'a> {
    sp: &'a ServicePrincipal,
    alt: Vec<String>,
    spn: Vec<String>,
}

impl<'a> SpRecord<'a> {
    fn new(sp: &'a ServicePrincipal) -> Self {
        SpRecord {
            sp,
            alt: sp.alternative_names(),
            spn: sp.service_principal_names(),
        }
    }
}

impl Record for SpRecord<'_> {
    fn field(&self, prop: &str) -> FieldValue<'_> {
        match prop {
            "id" => FieldValue::Str(&self.sp.id),
            "appId" => FieldValue::Str(&self.sp.app_id),
            "displayName" => FieldValue::Str(&self.sp.display_name),
            "servicePrincipalType" => FieldValue::Str(self.sp.type_name()),
            "alternativeNames" => FieldValue::Coll(self.alt.iter().map(String::as_str).collect()),
            "servicePrincipalNames" => {
                FieldValue::Coll(self.spn.iter().map(String::as_str).collect())
            }
            _ => FieldValue::Null,
        }
    }
}

impl Record for Assignment {
    fn field(&self, prop: &str) -> FieldValue<'_> {
        match prop {
            "resourceId" => FieldValue::Str(&self.resource_id),
            "principalId" => FieldValue::Str(&self.principal_id),
            "appRoleId" => FieldValue::Str(&self.app_role_id),
            _ => FieldValue::Null,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Id(String),
    AppId(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Nav {
    Assignments,
    AssignedTo,
}

impl Nav {
    fn name(self) -> &'static str {
        match self {
            Nav::Assignments => "appRoleAssignments",
            Nav::AssignedTo => "appRoleAssignedTo",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Route {
    Batch,
    SpList,
    Sp(Key),
    Nav(Key, Nav),
    NavItem(Key, Nav, String),
}

/// `'value'` with `''` escapes → value.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// Parses the path after the version segment; `Err` carries the offending segment.
fn parse_route(path: &str) -> Result<Route, String> {
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let first = segs.first().ok_or_else(String::new)?;
    if first.eq_ignore_ascii_case("$batch") && segs.len() == 1 {
        return Ok(Route::Batch);
    }
    const SPS: &str = "servicePrincipals";
    let head = first
        .get(..SPS.len())
        .filter(|h| h.eq_ignore_ascii_case(SPS))
        .ok_or_else(|| first.clone())?;
    let rest_of_first = &first[head.len()..];
    let (key, next) = if rest_of_first.is_empty() {
        match segs.get(1) {
            None => return Ok(Route::SpList),
            Some(id) => (Key::Id(id.clone()), 2),
        }
    } else {
        let inner = rest_of_first
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| first.clone())?;
        let key = match inner.get(..6) {
            Some(p) if p.eq_ignore_ascii_case("appId=") => {
                Key::AppId(unquote(&inner[6..]).ok_or_else(|| first.clone())?)
            }
            _ => Key::Id(unquote(inner).unwrap_or_else(|| inner.to_string())),
        };
        (key, 1)
    };
    let nav = match segs.get(next) {
        None => return Ok(Route::Sp(key)),
        Some(n) if n.eq_ignore_ascii_case("appRoleAssignments") => Nav::Assignments,
        Some(n) if n.eq_ignore_ascii_case("appRoleAssignedTo") => Nav::AssignedTo,
        Some(n) => return Err(n.clone()),
    };
    match (segs.get(next + 1), segs.len()) {
        (None, _) => Ok(Route::Nav(key, nav)),
        (Some(aid), n) if n == next + 2 => Ok(Route::NavItem(key, nav, aid.clone())),
        _ => Err(segs[next + 2].clone()),
    }
}

/// The service principal a key names (hidden during replication lag).
fn resolve<'d>(
    dir: &'d Directory,
    key: &Key,
    lag: u64,
    ctx: &Ctx,
) -> Result<&'d ServicePrincipal, GraphResponse> {
    match key {
        Key::Id(id) => {
            if !util::is_guid(id) {
                return Err(ctx.bad_request(&format!("Invalid object identifier '{id}'.")));
            }
            dir.sp_visible(id, lag).ok_or_else(|| ctx.not_found(id))
        }
        Key::AppId(app_id) => dir
            .sps
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id) && settled(s.created, lag))
            .ok_or_else(|| ctx.not_found(app_id)),
    }
}

/// Entry point from `graph::dispatch` once the caller is authenticated and not throttled.
pub fn route(app: &App, req: &Req, caller: &Caller, ctx: &Ctx, in_batch: bool) -> GraphResponse {
    let route = match parse_route(&req.path) {
        Ok(r) => r,
        // Not served here: Graph's answer from Microsoft's permission data (403 when the token
        // does not allow it).
        Err(seg) => return super::access::answer(app, req, caller, ctx, &seg),
    };
    let enforce = app.config().enforce_permissions;
    let read = !enforce || caller.can_read();
    let write = !enforce || caller.can_write();
    let result = match (req.method.as_str(), route) {
        ("POST", Route::Batch) if in_batch => Err(ctx.error(
            400,
            "BadRequest",
            "Nested batch requests are not supported.",
        )),
        ("POST", Route::Batch) => Ok(batch::handle(app, req, ctx)),
        ("GET", _) if !read => Err(ctx.denied()),
        ("GET", Route::SpList) => list_sps(app, req, ctx),
        ("GET", Route::Sp(key)) => get_sp(app, req, ctx, &key),
        ("GET", Route::Nav(key, nav)) => list_nav(app, req, ctx, &key, nav),
        ("GET", Route::NavItem(key, nav, aid)) => get_nav_item(app, req, ctx, &key, nav, &aid),
        ("POST", Route::Nav(key, nav)) => {
            if !write || (nav == Nav::AssignedTo && !read) {
                Err(ctx.denied())
            } else {
                create(app, req, ctx, &key, nav)
            }
        }
        ("DELETE", Route::NavItem(key, nav, aid)) => {
            if write {
                delete(app, ctx, &key, nav, &aid)
            } else {
                Err(ctx.denied())
            }
        }
        _ => Err(ctx.error(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )),
    };
    result.unwrap_or_else(|e| e)
}

fn parse_filter(
    opts: &paging::ListOptions,
    schema: &Schema,
    ctx: &Ctx,
) -> Result<Option<filter::Filter>, GraphResponse> {
    let Some(text) = opts.filter.as_deref() else {
        return Ok(None);
    };
    let f = filter::parse(text, schema).map_err(|_| ctx.invalid_filter())?;
    if f.advanced && !opts.advanced_ok {
        return Err(ctx.error(400, "Request_UnsupportedQuery", "Unsupported Query."));
    }
    Ok(Some(f))
}

fn list_sps(app: &App, req: &Req, ctx: &Ctx) -> Result<GraphResponse, GraphResponse> {
    let cfg = app.config();
    let opts = paging::options(req, ctx, cfg.page_size, SP_PROPS, "servicePrincipal")?;
    let filter = parse_filter(&opts, &SP_SCHEMA, ctx)?;
    let items: Vec<Value> = {
        let dir = lock(&app.dir);
        dir.sps
            .iter()
            .filter(|s| settled(s.created, cfg.replication_lag_ms))
            .filter(|s| filter.as_ref().is_none_or(|f| f.matches(&SpRecord::new(s))))
            .map(ServicePrincipal::to_json)
            .collect()
    };
    let context = ctx.context(&paging::context_fragment(
        "servicePrincipals",
        opts.select.as_deref(),
    ));
    Ok(paging::page(items, &opts, ctx, req, context))
}

fn get_sp(app: &App, req: &Req, ctx: &Ctx, key: &Key) -> Result<GraphResponse, GraphResponse> {
    let cfg = app.config();
    let opts = paging::options(req, ctx, cfg.page_size, SP_PROPS, "servicePrincipal")?;
    let json = {
        let dir = lock(&app.dir);
        resolve(&dir, key, cfg.replication_lag_ms, ctx)?.to_json()
    };
    let mut body = paging::project(json, opts.select.as_deref());
    let fragment = paging::context_fragment("servicePrincipals", opts.select.as_deref());
    body["@odata.context"] = Value::String(ctx.context(&format!("{fragment}/$entity")));
    Ok(GraphResponse::new(200, Some(body)))
}

fn on_side(a: &Assignment, sp_id: &str, nav: Nav) -> bool {
    match nav {
        Nav::Assignments => a.principal_id.eq_ignore_ascii_case(sp_id),
        Nav::AssignedTo => a.resource_id.eq_ignore_ascii_case(sp_id),
    }
}

fn list_nav(
    app: &App,
    req: &Req,
    ctx: &Ctx,
    key: &Key,
    nav: Nav,
) -> Result<GraphResponse, GraphResponse> {
    let cfg = app.config();
    let opts = paging::options(
        req,
        ctx,
        cfg.page_size,
        ASSIGNMENT_PROPS,
        "appRoleAssignment",
    )?;
    let filter = parse_filter(&opts, &ASSIGNMENT_SCHEMA, ctx)?;
    let (sp_id, items) = {
        let dir = lock(&app.dir);
        let sp_id = resolve(&dir, key, cfg.replication_lag_ms, ctx)?.id.clone();
        // A principal's own assignments come from the directory's index (a generated tenant
        // holds tens of thousands); the resource side is rarer and scans.
        let side: Vec<&Assignment> = match nav {
            Nav::Assignments => dir.assignments_of(&sp_id),
            Nav::AssignedTo => dir
                .assignments
                .iter()
                .filter(|a| on_side(a, &sp_id, nav))
                .collect(),
        };
        let items: Vec<Value> = side
            .into_iter()
            .filter(|a| settled(a.created, cfg.replication_lag_ms))
            .filter(|a| filter.as_ref().is_none_or(|f| f.matches(*a)))
            .map(|a| dir.assignment_json(a))
            .collect();
        (sp_id, items)
    };
    let base = format!("servicePrincipals('{sp_id}')/{}", nav.name());
    let context = ctx.context(&paging::context_fragment(&base, opts.select.as_deref()));
    Ok(paging::page(items, &opts, ctx, req, context))
}

fn get_nav_item(
    app: &App,
    req: &Req,
    ctx: &Ctx,
    key: &Key,
    nav: Nav,
    aid: &str,
) -> Result<GraphResponse, GraphResponse> {
    let cfg = app.config();
    let opts = paging::options(
        req,
        ctx,
        cfg.page_size,
        ASSIGNMENT_PROPS,
        "appRoleAssignment",
    )?;
    let (sp_id, json) = {
        let dir = lock(&app.dir);
        let sp_id = resolve(&dir, key, cfg.replication_lag_ms, ctx)?.id.clone();
        let a = dir
            .assignments
            .iter()
            .find(|a| {
                a.id == aid && on_side(a, &sp_id, nav) && settled(a.created, cfg.replication_lag_ms)
            })
            .ok_or_else(|| ctx.not_found(aid))?;
        (sp_id, dir.assignment_json(a))
    };
    let mut body = paging::project(json, opts.select.as_deref());
    body["@odata.context"] = Value::String(ctx.context(&format!(
        "servicePrincipals('{sp_id}')/{}/$entity",
        nav.name()
    )));
    Ok(GraphResponse::new(200, Some(body)))
}

fn guid_field(body: &Value, name: &str, ctx: &Ctx) -> Result<String, GraphResponse> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| util::is_guid(s))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| {
            ctx.bad_request(&format!(
                "Invalid value specified for property '{name}' of resource 'AppRoleAssignment'."
            ))
        })
}

fn create(
    app: &App,
    req: &Req,
    ctx: &Ctx,
    key: &Key,
    nav: Nav,
) -> Result<GraphResponse, GraphResponse> {
    let body: Value = serde_json::from_slice(&req.body).ok().filter(Value::is_object).ok_or_else(|| {
        ctx.error(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )
    })?;
    let lag = app.config().replication_lag_ms;
    let response = {
        let mut dir = lock(&app.dir);
        let path_id = resolve(&dir, key, lag, ctx)?.id.clone();
        let principal_id = guid_field(&body, "principalId", ctx)?;
        let resource_id = guid_field(&body, "resourceId", ctx)?;
        let app_role_id = guid_field(&body, "appRoleId", ctx)?;
        let side = if nav == Nav::Assignments {
            &principal_id
        } else {
            &resource_id
        };
        if !side.eq_ignore_ascii_case(&path_id) {
            return Err(ctx.bad_request("Not a valid reference update."));
        }
        if dir.sp_visible(&principal_id, lag).is_none() {
            return Err(ctx.not_found(&principal_id));
        }
        let resource = dir
            .sp_visible(&resource_id, lag)
            .ok_or_else(|| ctx.not_found(&resource_id))?;
        if app_role_id != ZERO_GUID {
            match resource.role(&app_role_id) {
                None => {
                    return Err(ctx.bad_request(&format!(
                        "Permission being assigned was not found on application '{}'",
                        resource.app_id
                    )))
                }
                Some(role) if !role.application => {
                    return Err(ctx.bad_request(
                        "Permission being assigned is not allowed for this principal type",
                    ))
                }
                Some(_) => {}
            }
        }
        if dir.assignments.iter().any(|a| {
            a.principal_id == principal_id
                && a.resource_id == resource_id
                && a.app_role_id.eq_ignore_ascii_case(&app_role_id)
        }) {
            return Err(ctx.bad_request("Permission being assigned already exists on the object"));
        }
        let assignment = Assignment {
            id: app.new_assignment_id(&principal_id),
            principal_id,
            resource_id,
            app_role_id,
            created_date_time: util::iso_now_z(),
            created: Some(Instant::now()),
        };
        let mut json = dir.assignment_json(&assignment);
        dir.assignments.push(assignment);
        json["@odata.context"] = Value::String(ctx.context(&format!(
            "servicePrincipals('{path_id}')/{}/$entity",
            nav.name()
        )));
        GraphResponse::new(201, Some(json))
    };
    lock(&app.stats).write_applied();
    Ok(response)
}

fn delete(
    app: &App,
    ctx: &Ctx,
    key: &Key,
    nav: Nav,
    aid: &str,
) -> Result<GraphResponse, GraphResponse> {
    let lag = app.config().replication_lag_ms;
    {
        let mut dir = lock(&app.dir);
        let sp_id = resolve(&dir, key, lag, ctx)?.id.clone();
        let i = dir
            .assignments
            .iter()
            .position(|a| a.id == aid && on_side(a, &sp_id, nav))
            .ok_or_else(|| ctx.not_found(aid))?;
        dir.assignments.remove(i);
    }
    lock(&app.stats).write_applied();
    Ok(GraphResponse::new(204, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse_route("/v1.0/servicePrincipals"), Ok(Route::SpList));
        assert_eq!(parse_route("/v1.0/$batch"), Ok(Route::Batch));
        assert_eq!(
            parse_route("/beta/serviceprincipals/abc"),
            Ok(Route::Sp(Key::Id("abc".into())))
        );
        assert_eq!(
            parse_route("/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')/appRoleAssignedTo"),
            Ok(Route::Nav(Key::AppId("00000003-0000-0000-c000-000000000000".into()), Nav::AssignedTo))
        );
        assert_eq!(
            parse_route("/v1.0/servicePrincipals(appId=%2700000003%27)"),
            Ok(Route::Sp(Key::AppId("00000003".into())))
        );
        assert_eq!(
            parse_route("/v1.0/servicePrincipals/x/appRoleAssignments/aid"),
            Ok(Route::NavItem(
                Key::Id("x".into()),
                Nav::Assignments,
                "aid".into()
            ))
        );
        assert_eq!(parse_route("/v1.0/users"), Err("users".into()));
        assert_eq!(
            parse_route("/v1.0/servicePrincipals/x/owners"),
            Err("owners".into())
        );
        assert_eq!(
            parse_route("/v1.0/servicePrincipals/x/appRoleAssignments/a/b"),
            Err("b".into())
        );
    }
}
