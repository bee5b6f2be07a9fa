//! Managed-identity token endpoints: IMDS, App Service 2019 and the Azure Automation sandbox.

use serde_json::json;

use crate::seed;
use crate::state::{lock, App};
use crate::token::{self, Issued};
use crate::util::{self, param, Req, Resp};

const IMDS_SERVER: &str = "IMDS/150.870.65.1015";
const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const NO_IDENTITY: &str = "Unable to load the proper Managed Identity.";

/// Which identity a request names.
#[derive(Debug, Clone, PartialEq)]
enum Selector {
    System,
    ClientId(String),
    ObjectId(String),
    ResourceId(String),
}

/// Object id of the attached identity a selector names.
fn find_attached(app: &App, sel: &Selector) -> Option<String> {
    let dir = lock(&app.dir);
    dir.sps
        .iter()
        .filter(|s| s.attached())
        .find(|s| match sel {
            Selector::System => s.id.eq_ignore_ascii_case(seed::SYSTEM_IDENTITY.object_id),
            Selector::ClientId(c) => s.app_id.eq_ignore_ascii_case(c),
            Selector::ObjectId(o) => s.id.eq_ignore_ascii_case(o),
            Selector::ResourceId(r) => s
                .mi_resource_id()
                .is_some_and(|x| x.eq_ignore_ascii_case(r)),
        })
        .map(|s| s.id.clone())
}

/// The selector given by the id parameters in `names` (at most one may be present).
type MakeSelector = fn(String) -> Selector;

fn selector(params: &[(String, String)], names: &[(&str, MakeSelector)]) -> Result<Selector, ()> {
    let given: Vec<Selector> = names
        .iter()
        .filter_map(|(n, make)| {
            param(params, n)
                .filter(|v| !v.is_empty())
                .map(|v| make(v.to_string()))
        })
        .collect();
    match given.len() {
        0 => Ok(Selector::System),
        1 => Ok(given.into_iter().next().unwrap_or(Selector::System)),
        _ => Err(()),
    }
}

fn issue(app: &App, object_id: &str, resource: &str) -> Option<(Issued, String)> {
    let issued = token::issue(app, object_id, resource, None)?;
    let client_id = lock(&app.dir)
        .sp(object_id)
        .map(|s| s.app_id.clone())
        .unwrap_or_default();
    Some((issued, client_id))
}

// ---------------------------------------------------------------------------------------------
// IMDS

fn imds_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
    .header("Server", IMDS_SERVER)
}

/// IMDS-shaped body for an injected status.
pub fn imds_status_error(status: u16) -> Resp {
    let (error, description) = match status {
        400 => ("invalid_request", "Bad request"),
        404 => ("not_found", "IMDS is being updated"),
        410 => ("gone", "IMDS is being updated, retry within 70 seconds"),
        429 => ("too_many_requests", "Too many requests"),
        500 => ("internal_error", "Internal server error"),
        502 => ("bad_gateway", "Bad gateway"),
        503 => ("service_unavailable", "Service unavailable"),
        504 => ("gateway_timeout", "Gateway timeout"),
        _ => ("error", "Injected error"),
    };
    imds_error(status, error, description)
}

/// `GET /metadata/identity/oauth2/token` (any other `/metadata/...` path answers 404).
pub fn imds(app: &App, req: &Req) -> Resp {
    if !req
        .path
        .trim_end_matches('/')
        .eq_ignore_ascii_case(IMDS_TOKEN_PATH)
    {
        return imds_error(404, "not_found", "The requested resource was not found");
    }
    if req.method != "GET" {
        return imds_error(
            405,
            "method_not_allowed",
            "The requested method is not allowed",
        );
    }
    if !req
        .header("metadata")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return imds_error(
            400,
            "bad_request_102",
            "Required metadata header not specified",
        );
    }
    let params = req.params();
    match param(&params, "api-version") {
        None | Some("") => {
            return imds_error(
                400,
                "invalid_request",
                "Required query variable 'api-version' is missing",
            )
        }
        Some("2018-02-01" | "2019-08-01") => {}
        Some(_) => return imds_error(400, "invalid_request", "Invalid api-version"),
    }
    let Some(resource) = param(&params, "resource").filter(|r| !r.is_empty()) else {
        return imds_error(
            400,
            "invalid_request",
            "Required audience parameter not specified",
        );
    };
    let Ok(sel) = selector(
        &params,
        &[
            ("client_id", Selector::ClientId),
            ("object_id", Selector::ObjectId),
            ("msi_res_id", Selector::ResourceId),
            ("mi_res_id", Selector::ResourceId),
        ],
    ) else {
        return imds_error(
            400,
            "invalid_request",
            "Only one of client_id, object_id or msi_res_id may be specified",
        );
    };
    let Some((t, client_id)) = find_attached(app, &sel).and_then(|id| issue(app, &id, resource))
    else {
        return imds_error(400, "invalid_request", "Identity not found");
    };
    Resp::json(
        200,
        &json!({
            "access_token": t.access_token,
            "refresh_token": "",
            "expires_in": t.expires_in.to_string(),
            "expires_on": t.exp.to_string(),
            "not_before": t.nbf.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
    .header("Server", IMDS_SERVER)
}

// ---------------------------------------------------------------------------------------------
// App Service 2019 and Automation

fn kestrel(status: u16, message: &str) -> Resp {
    let correlation = util::new_guid();
    Resp::json(
        status,
        &json!({"statusCode": status, "message": message, "correlationId": correlation}),
    )
    .header("Server", "Kestrel")
    .header("X-CORRELATION-ID", &correlation)
}

/// Kestrel-shaped body for an injected status.
pub fn kestrel_status_error(status: u16) -> Resp {
    let message = match status {
        400 => NO_IDENTITY,
        429 => "Too many requests. Please retry later.",
        _ => "An unexpected error occured while fetching the AAD Token.",
    };
    kestrel(status, message)
}

fn identity_header_ok(app: &App, req: &Req) -> bool {
    let expected = lock(&app.cfg).identity_header.clone();
    req.header("x-identity-header")
        .is_some_and(|v| v == expected)
}

/// Shared part of App Service and Automation once the headers are checked.
fn sandbox_token(app: &App, params: &[(String, String)]) -> Resp {
    let Some(resource) = param(params, "resource").filter(|r| !r.is_empty()) else {
        return kestrel(400, "The 'resource' parameter is required.");
    };
    // `msi_res_id` is not a parameter of this API: it is ignored (system identity), as App
    // Service does.
    let Ok(sel) = selector(
        params,
        &[
            ("client_id", Selector::ClientId),
            ("object_id", Selector::ObjectId),
            ("principal_id", Selector::ObjectId),
            ("mi_res_id", Selector::ResourceId),
        ],
    ) else {
        return kestrel(
            400,
            "Only one of client_id, principal_id (object_id) or mi_res_id may be specified.",
        );
    };
    let Some((t, client_id)) = find_attached(app, &sel).and_then(|id| issue(app, &id, resource))
    else {
        return kestrel(400, NO_IDENTITY);
    };
    Resp::json(
        200,
        &json!({
            "access_token": t.access_token,
            "expires_on": t.exp.to_string(),
            "not_before": t.nbf.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
}

/// `GET /msi/token?api-version=2019-08-01&resource=…` with `X-IDENTITY-HEADER`.
pub fn app_service(app: &App, req: &Req) -> Resp {
    if req.method != "GET" {
        return kestrel(405, "Method not allowed.");
    }
    if !identity_header_ok(app, req) {
        return kestrel(400, "The X-IDENTITY-HEADER header is missing or invalid.");
    }
    let params = req.params();
    if param(&params, "api-version") != Some("2019-08-01") {
        return kestrel(
            400,
            "The api-version parameter is missing or unsupported; use 2019-08-01.",
        );
    }
    sandbox_token(app, &params)
}

/// `GET|POST /automation/token`: App Service semantics, optional api-version, `Metadata: true`
/// required (switchable), POST form body accepted.
pub fn automation(app: &App, req: &Req) -> Resp {
    if req.method != "GET" && req.method != "POST" {
        return kestrel(405, "Method not allowed.");
    }
    if !identity_header_ok(app, req) {
        return kestrel(400, "The X-IDENTITY-HEADER header is missing or invalid.");
    }
    let require_metadata = lock(&app.cfg).automation_require_metadata;
    if require_metadata
        && !req
            .header("metadata")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        return kestrel(400, "Metadata header is required");
    }
    let mut params = req.params();
    if req.method == "POST" {
        let form = String::from_utf8_lossy(&req.body);
        let mut body_params = util::parse_form(&form);
        // Form values take precedence over query values.
        params.retain(|(k, _)| !body_params.iter().any(|(b, _)| b == k));
        body_params.append(&mut params);
        params = body_params;
    }
    sandbox_token(app, &params)
}
