//! Managed-identity token endpoints: IMDS, App Service 2019 and the Azure Automation sandbox,
//! plus what every managed-identity host shares (identity selection, platform-cached issuance,
//! the IMDS-shaped body).

use serde_json::{json, Value};

use crate::resources;
use crate::seed;
use crate::state::{lock, App, SpKind};
use crate::token::{self, Issued};
use crate::util::{self, param, Req, Resp};

const IMDS_SERVER: &str = "IMDS/150.870.65.1015";
pub const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const NO_IDENTITY: &str = "Unable to load the proper Managed Identity.";
/// App Service / Automation's answer when fetching the token from Entra fails (an unknown
/// resource, for one); the misspelling is Azure's.
const AAD_FAILED: &str = "An unexpected error occured while fetching the AAD Token.";

/// Which identity a request names.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    System,
    ClientId(String),
    ObjectId(String),
    ResourceId(String),
}

/// Object id of the attached identity a selector names.
pub fn find_attached(app: &App, sel: &Selector) -> Option<String> {
    let dir = lock(&app.dir);
    dir.sps
        .iter()
        .filter(|s| s.attached())
        .find(|s| match sel {
            // The host's system-assigned principal: the seed one, or the one created when the
            // Automation account's system identity was switched on again (issue 11).
            Selector::System => {
                matches!(&s.kind, SpKind::ManagedIdentity { user_assigned: false, resource_id, .. }
                if resource_id.eq_ignore_ascii_case(seed::SYSTEM_IDENTITY.resource_id))
            }
            Selector::ClientId(c) => s.app_id.eq_ignore_ascii_case(c),
            Selector::ObjectId(o) => s.id.eq_ignore_ascii_case(o),
            Selector::ResourceId(r) => s
                .mi_resource_id()
                .is_some_and(|x| x.eq_ignore_ascii_case(r)),
        })
        .map(|s| s.id.clone())
}

/// The selector given by the id parameters in `names`; `None` when more than one is present.
pub type MakeSelector = fn(String) -> Selector;

pub fn selector(params: &[(String, String)], names: &[(&str, MakeSelector)]) -> Option<Selector> {
    let given: Vec<Selector> = names
        .iter()
        .filter_map(|(n, make)| {
            param(params, n)
                .filter(|v| !v.is_empty())
                .map(|v| make(v.to_string()))
        })
        .collect();
    match given.len() {
        0 => Some(Selector::System),
        1 => given.into_iter().next(),
        _ => None,
    }
}

/// Why a managed-identity host issues no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No attached identity matches the selector.
    IdentityNotFound,
    /// Entra does not know the resource (AADSTS500011).
    UnknownResource,
}

/// The query parameter with which MSAL asks App Service and Service Fabric to drop the token
/// they cache (lower-case hex SHA-256 of the cached access token, sent with `xms_cc=cp1`).
pub const REFRESH_PARAM: &str = "token_sha256_to_refresh";

/// Lower-case hex SHA-256 of a token's UTF-8 bytes, as MSAL computes it.
pub fn token_sha256(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A token for the attached identity `sel` names, as the managed-identity platform issues it:
/// the identity is checked first (locally, as the host does), then the resource (by Entra);
/// a token cached by the platform is handed out again. Returns the token and the client id.
///
/// `refresh`: the `token_sha256_to_refresh` value of hosts that honour it (App Service,
/// Automation, Service Fabric; `None` elsewhere). When it is the SHA-256 of the token cached
/// for this identity and resource, that token is dropped and a new one issued (roles as of
/// now, after the propagation delay); otherwise the cached one is served.
pub fn platform_token(
    app: &App,
    sel: &Selector,
    resource: &str,
    refresh: Option<&str>,
) -> Result<(Issued, String), Refusal> {
    let object_id = find_attached(app, sel).ok_or(Refusal::IdentityNotFound)?;
    if !resources::is_known(app, resource) {
        return Err(Refusal::UnknownResource);
    }
    let client_id = lock(&app.dir)
        .sp(&object_id)
        .map(|s| s.app_id.clone())
        .unwrap_or_default();
    let cache_secs = lock(&app.cfg).platform_token_cache_secs;
    let refresh = refresh.map(str::trim).filter(|h| !h.is_empty());
    if refresh.is_some() {
        lock(&app.stats).counters.platform_refresh_requests += 1;
    }
    let cached = lock(&app.platform_cache).get(&object_id, resource, cache_secs);
    if let Some(t) = cached {
        let named = refresh.is_some_and(|h| h.eq_ignore_ascii_case(&token_sha256(&t.access_token)));
        if !named {
            return Ok((t, client_id));
        }
        lock(&app.platform_cache).remove(&object_id, resource);
        lock(&app.stats).counters.platform_refreshes += 1;
    }
    let issued = token::issue(app, &object_id, resource, None).ok_or(Refusal::IdentityNotFound)?;
    if cache_secs > 0 {
        lock(&app.platform_cache).put(&object_id, resource, &issued);
    }
    Ok((issued, client_id))
}

/// IMDS-shaped success body (IMDS, Arc, Cloud Shell): every number a string.
pub fn imds_body(t: &Issued, resource: &str, client_id: &str) -> Value {
    json!({
        "access_token": t.access_token,
        "refresh_token": "",
        "expires_in": t.expires_in.to_string(),
        "expires_on": t.exp.to_string(),
        "not_before": t.nbf.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": client_id,
    })
}

/// `Metadata: true` is present (case-insensitive value).
pub fn has_metadata(req: &Req) -> bool {
    req.header("metadata")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Entra's error text with the trace lines it appends (`\r\n`-separated, as IMDS relays it).
pub fn with_trace(description: &str) -> String {
    format!(
        "{description}\r\nTrace ID: {}\r\nCorrelation ID: {}\r\nTimestamp: {}Z",
        util::new_guid(),
        util::new_guid(),
        util::iso_now().replace('T', " ")
    )
}

// ---------------------------------------------------------------------------------------------
// IMDS

pub fn imds_error(status: u16, error: &str, description: &str) -> Resp {
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

/// Real IMDS refuses anything that looks proxied (captured answer, certbot-dns-azure#54): an XML
/// body, not IMDS's JSON.
fn forwarded_refusal() -> Resp {
    let body = concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n",
        "<Error xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\r\n",
        "    <Code>InvalidHeaderValue</Code>\r\n",
        "    <Message>The value provided for one of the HTTP headers was not in the correct format.</Message>\r\n",
        "    <Details>Header contains 'X-Forwarded-For' are not supported.</Details>\r\n",
        "</Error>"
    );
    Resp::text(400, "application/xml; charset=utf-8", body).header("Server", IMDS_SERVER)
}

/// The IMDS answer to a refused token request.
pub fn imds_refusal(refusal: Refusal, resource: &str) -> Resp {
    match refusal {
        Refusal::IdentityNotFound => imds_error(400, "invalid_request", "Identity not found"),
        Refusal::UnknownResource => imds_error(
            400,
            "invalid_resource",
            &with_trace(&resources::not_found_description(resource)),
        ),
    }
}

/// `GET /metadata/identity/oauth2/token` (any other `/metadata/...` path answers 404).
pub fn imds(app: &App, req: &Req) -> Resp {
    if req.header("x-forwarded-for").is_some() {
        return forwarded_refusal();
    }
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
    if !has_metadata(req) {
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
    let Some(sel) = selector(
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
    // IMDS does not know `token_sha256_to_refresh`: the cached token is served.
    match platform_token(app, &sel, resource, None) {
        Ok((t, client_id)) => {
            Resp::json(200, &imds_body(&t, resource, &client_id)).header("Server", IMDS_SERVER)
        }
        Err(r) => imds_refusal(r, resource),
    }
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
        _ => AAD_FAILED,
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
    let Some(sel) = selector(
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
    let refresh = param(params, REFRESH_PARAM);
    let (t, client_id) = match platform_token(app, &sel, resource, refresh) {
        Ok(x) => x,
        Err(Refusal::IdentityNotFound) => return kestrel(400, NO_IDENTITY),
        Err(Refusal::UnknownResource) => return kestrel(500, AAD_FAILED),
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
    .header("Server", "Kestrel")
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
    if require_metadata && !has_metadata(req) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_lower_case_hex_sha256() {
        assert_eq!(
            token_sha256("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
