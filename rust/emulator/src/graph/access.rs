//! Requests the emulator's own routes do not serve, answered as Graph would from Microsoft's
//! permission data (issue 26), so a client sees Graph's 403 for what its token does not allow:
//!
//! - a path the data does not list: Graph's 400 for an unknown segment (as before);
//! - listed, but not for this method: 405;
//! - none of the ways the data lists for the token's kind (application roles of an app token,
//!   delegated scopes of a user's) is held: 403 `Authorization_RequestDenied` (an app token on
//!   `/me…`: Graph's 400 that `/me` needs a delegated sign-in);
//! - allowed: GET answers an empty collection, other methods 404 (not implemented here).
//!
//! Sites.Selected: under `/sites/{site-id}` a token may rely on Sites.Selected (whether or not
//! the data lists it there); the site's owner must have granted it to the app (seed
//! [`seed::SITES`]), else SharePoint's 403 `accessDenied`. `GET /sites/{site-id}` of a seeded
//! site answers the site.

use std::collections::HashSet;

use managed_identity_graph_permissions::{graph, Method, Scheme};
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::auth::Caller;
use super::{Ctx, GraphResponse};
use crate::seed::{self, SeedSite};
use crate::state::App;
use crate::util::Req;

const SITES_SELECTED: &str = "Sites.Selected";
const SITE_CREATED: &str = "2024-01-15T08:00:00Z";

/// The request path after the version segment, each segment percent-decoded (a decoded `/`
/// stays `%2F`): `/users/a@b.com/messages`.
pub fn api_path(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .skip(1)
        .filter(|s| !s.is_empty())
        .fold(String::new(), |mut out, s| {
            out.push('/');
            out.push_str(
                &percent_decode_str(s)
                    .decode_utf8_lossy()
                    .replace('/', "%2F"),
            );
            out
        })
}

/// The data's scheme for the caller's token.
pub fn scheme(caller: &Caller) -> Scheme {
    if caller.delegated {
        Scheme::DelegatedWork
    } else {
        Scheme::Application
    }
}

fn held(caller: &Caller) -> HashSet<String> {
    caller.held.iter().map(|p| p.to_ascii_lowercase()).collect()
}

fn seeded_site(id: &str) -> Option<&'static SeedSite> {
    seed::SITES.iter().find(|s| s.id.eq_ignore_ascii_case(id))
}

/// SharePoint's refusal of a site its owner did not grant to the app.
pub fn access_denied(ctx: &Ctx) -> GraphResponse {
    ctx.error(403, "accessDenied", "Access denied")
}

fn site_json(s: &SeedSite, ctx: &Ctx) -> serde_json::Value {
    let host = s.id.split(',').next().unwrap_or_default();
    json!({
        "@odata.context": ctx.context("sites/$entity"),
        "createdDateTime": SITE_CREATED,
        "description": "",
        "id": s.id,
        "lastModifiedDateTime": SITE_CREATED,
        "name": s.name,
        "webUrl": s.web_url,
        "displayName": s.display_name,
        "root": {},
        "siteCollection": {"hostname": host},
    })
}

/// The answer to a request `routes` does not serve; `segment` is the first one it did not know.
pub fn answer(app: &App, req: &Req, caller: &Caller, ctx: &Ctx, segment: &str) -> GraphResponse {
    let unknown = || {
        ctx.error(
            400,
            "BadRequest",
            &format!("Resource not found for the segment '{segment}'."),
        )
    };
    let (Some(method), Ok(data)) = (Method::parse(&req.method), graph()) else {
        return unknown();
    };
    let path = api_path(&req.path);
    let Some(allowing) = data.allowing(method, &path) else {
        return unknown();
    };
    if allowing.method_unknown() {
        return ctx.error(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        );
    }
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let site = match segs.as_slice() {
        [first, id, ..] if first.eq_ignore_ascii_case("sites") => Some(*id),
        _ => None,
    };
    let held = held(caller);
    let by_data = allowing.satisfied_by(scheme(caller), &held);
    let on_selected = match &by_data {
        Some(r) => r
            .permissions
            .iter()
            .any(|p| p.eq_ignore_ascii_case(SITES_SELECTED)),
        None => site.is_some() && held.contains(&SITES_SELECTED.to_ascii_lowercase()),
    };
    if app.config().enforce_permissions {
        if by_data.is_none() && !on_selected {
            if !caller.delegated && segs.first().is_some_and(|s| s.eq_ignore_ascii_case("me")) {
                return ctx.error(
                    400,
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                );
            }
            return ctx.denied();
        }
        let granted = site.and_then(seeded_site).is_some_and(|s| {
            s.granted_to
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&caller.app_id))
        });
        if on_selected && !granted {
            return access_denied(ctx);
        }
    }
    let is_get = method == Method::Get;
    if let (true, [_, id]) = (is_get && site.is_some(), segs.as_slice()) {
        return match seeded_site(id) {
            Some(s) => GraphResponse::new(200, Some(site_json(s, ctx))),
            None => ctx.error(404, "itemNotFound", "Requested site could not be found"),
        };
    }
    if is_get {
        let body = json!({
            "@odata.context": ctx.context(path.trim_start_matches('/')),
            "value": [],
        });
        return GraphResponse::new(200, Some(body));
    }
    ctx.error(
        404,
        "NotImplemented",
        &format!(
            "The emulator does not implement {} {path} ({} in Microsoft's permission data, which allows it for this token).",
            method.name(),
            allowing.template()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_drop_the_version_and_decode_segments() {
        assert_eq!(
            api_path("/v1.0/users/a%40b.com/messages"),
            "/users/a@b.com/messages"
        );
        assert_eq!(api_path("/beta/x%2Fy//z"), "/x%2Fy/z");
        assert_eq!(api_path("/v1.0"), "");
    }
}
