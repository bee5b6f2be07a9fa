//! Azure Cloud Shell: `MSI_ENDPOINT` without `MSI_SECRET`. `POST` with `Metadata: true` and a
//! form body `resource=…`; IMDS-shaped success body; nested errors
//! `{"error":{"code","message"}}` (what MSAL.NET and MSALPy parse for Cloud Shell).
//!
//! Real Cloud Shell hands out the signed-in user's tokens; the emulator issues the system
//! identity's (app-only) token. Identity selectors in the body (`client_id`, which azure-identity
//! may add inside DefaultAzureCredential) are ignored, as Cloud Shell has one identity.

use serde_json::json;

use crate::managed_identity::{self, Refusal, Selector};
use crate::resources;
use crate::state::App;
use crate::util::{self, param, Req, Resp};

/// Path of the route (`MSI_ENDPOINT` = base URL + this); the real one is
/// `http://localhost:50342/oauth2/token`.
pub const PATH: &str = "/cloudshell/oauth2/token";
/// Path of the route on the fixed-port listener (`--cloud-shell-port`): Cloud Shell's real URL
/// is `http://localhost:50342/oauth2/token`, which MSAL Python posts to whatever `MSI_ENDPOINT`
/// says.
pub const FIXED_PATH: &str = "/oauth2/token";
/// Cloud Shell's fixed port.
pub const FIXED_PORT: u16 = 50342;

fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Cloud Shell-shaped body for an injected status.
pub fn status_error(status: u16) -> Resp {
    match status {
        400 => error(400, "BadRequest", "Bad request"),
        429 => error(429, "TooManyRequests", "Too many requests"),
        _ => error(status, "InternalServerError", "Internal server error"),
    }
}

pub fn handle(app: &App, req: &Req) -> Resp {
    if req.method != "POST" {
        return error(405, "MethodNotAllowed", "Only POST is supported");
    }
    if !managed_identity::has_metadata(req) {
        return error(400, "BadRequest", "Required metadata header not specified");
    }
    let form = util::parse_form(&String::from_utf8_lossy(&req.body));
    let Some(resource) = param(&form, "resource").filter(|r| !r.is_empty()) else {
        return error(
            400,
            "BadRequest",
            "Required parameter 'resource' is missing",
        );
    };
    match managed_identity::platform_token(app, &Selector::System, resource, None) {
        Ok((t, client_id)) => {
            Resp::json(200, &managed_identity::imds_body(&t, resource, &client_id))
        }
        Err(Refusal::UnknownResource) => error(
            400,
            "invalid_resource",
            &resources::not_found_description(resource),
        ),
        Err(Refusal::IdentityNotFound) => error(400, "BadRequest", "Identity not found"),
    }
}
