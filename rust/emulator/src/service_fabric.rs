//! Service Fabric: `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`.
//! `GET https://127.0.0.1:SFPORT/metadata/identity/oauth2/token?api-version=2019-07-01-preview&resource=…`
//! with header `secret: {IDENTITY_HEADER}`, on the emulator's own HTTPS listener whose self-signed
//! certificate clients pin by SHA-1 thumbprint.
//!
//! api-version `2019-07-01-preview` (docs, Python) or `2020-05-01` (MSAL.NET since 2026).
//! Identity: `principalId` / `principal_id` (object id; what MSAL.NET sends), `client_id`,
//! `mi_res_id`; `object_id` is ignored (system identity), as Service Fabric silently does
//! (MSAL.NET#6065). Success: `{"token_type","access_token","expires_on","resource"}` with
//! `expires_on` a JSON number (docs) or, with `serviceFabricExpiresOn: "string"`, a string.
//! Errors are nested: `{"error":{"correlationId","code","message"}}` with the documented codes.

use serde_json::json;

use crate::managed_identity::{self, Refusal, Selector};
use crate::resources;
use crate::state::{lock, App};
use crate::util::{self, param, Req, Resp};

const API_VERSIONS: &[&str] = &["2019-07-01-preview", "2020-05-01"];

fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"correlationId": util::new_guid(), "code": code, "message": message}}),
    )
}

/// Body for an injected status.
pub fn status_error(status: u16) -> Resp {
    match status {
        404 => error(
            404,
            "ManagedIdentityNotFound",
            "Managed identity not found.",
        ),
        429 => error(429, "TooManyRequests", "Too many requests."),
        _ => error(status, "InternalServerError", "Internal server error."),
    }
}

pub fn handle(app: &App, req: &Req) -> Resp {
    if !req
        .path
        .trim_end_matches('/')
        .eq_ignore_ascii_case(managed_identity::IMDS_TOKEN_PATH)
    {
        return error(404, "NotFound", "The requested resource was not found.");
    }
    if req.method != "GET" {
        return error(405, "MethodNotAllowed", "Only GET is supported.");
    }
    let (expected, as_string) = {
        let cfg = lock(&app.cfg);
        (
            cfg.identity_header.clone(),
            cfg.service_fabric_expires_on_string,
        )
    };
    match req.header("secret") {
        None => {
            return error(
                401,
                "SecretHeaderNotFound",
                "Secret is not found in the request headers.",
            )
        }
        Some(s) if s != expected => {
            return error(
                401,
                "InvalidSecret",
                "The secret in the request headers is invalid.",
            )
        }
        Some(_) => {}
    }
    let params = req.params();
    let version = param(&params, "api-version").unwrap_or_default();
    if !API_VERSIONS.contains(&version) {
        return error(
            400,
            "InvalidApiVersion",
            &format!(
                "The api-version '{version}' is not supported. Supported version is '2019-07-01-preview'."
            ),
        );
    }
    let Some(resource) = param(&params, "resource").filter(|r| !r.is_empty()) else {
        return error(
            400,
            "ArgumentNullOrEmpty",
            "The parameter 'resource' should not be null or empty string.",
        );
    };
    let Some(sel) = managed_identity::selector(
        &params,
        &[
            ("principalId", Selector::ObjectId),
            ("principal_id", Selector::ObjectId),
            ("client_id", Selector::ClientId),
            ("mi_res_id", Selector::ResourceId),
        ],
    ) else {
        return error(
            400,
            "InvalidParameter",
            "Only one of principalId, client_id or mi_res_id may be specified.",
        );
    };
    let refresh = param(&params, managed_identity::REFRESH_PARAM);
    let (t, _) = match managed_identity::platform_token(app, &sel, resource, refresh) {
        Ok(x) => x,
        Err(Refusal::IdentityNotFound) => {
            return error(
                404,
                "ManagedIdentityNotFound",
                "Managed identity not found for the application.",
            )
        }
        Err(Refusal::UnknownResource) => {
            return error(
                500,
                "InternalServerError",
                &resources::not_found_description(resource),
            )
        }
    };
    let expires_on = if as_string {
        json!(t.exp.to_string())
    } else {
        json!(t.exp)
    };
    Resp::json(
        200,
        &json!({
            "token_type": "Bearer",
            "access_token": t.access_token,
            "expires_on": expires_on,
            "resource": resource,
        }),
    )
}
