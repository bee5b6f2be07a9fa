//! Azure Machine Learning and legacy App Service MSI (api-version 2017-09-01):
//! `MSI_ENDPOINT` + `MSI_SECRET`. `GET {MSI_ENDPOINT}?api-version=2017-09-01&resource=…[&clientid=…]`
//! with header `secret: {MSI_SECRET}` (the emulator's identity header).
//!
//! Identity: `clientid` (no underscore) selects a user-assigned identity by client id; without it
//! the host's default identity (the seed's system identity, whose client id a client reads from
//! `DEFAULT_IDENTITY_CLIENT_ID`) is used, so MSAL.NET (which always sends `clientid`) and MSALPy
//! (which sends none for system-assigned) both work. The other id spellings (`client_id`,
//! `object_id`, `msi_res_id`, `mi_res_id`) are refused with 400: only client ids exist here.
//!
//! `expires_on` is an epoch string (Azure ML, what MSALPy needs) or the Linux App Service 2017
//! date `MM/dd/yyyy HH:mm:ss +00:00` (`msiExpiresOn`). Errors are `{"error","error_description"}`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::managed_identity::{self, Refusal, Selector};
use crate::resources;
use crate::state::{lock, App};
use crate::util::{self, param, Req, Resp};

/// Path of the route (`MSI_ENDPOINT` = base URL + this); a real one is
/// `http://localhost:46809/MSI/token`.
pub const PATH: &str = "/ml/msi/token";
const API_VERSION: &str = "2017-09-01";

/// Form of `expires_on` in the success body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExpiresOnForm {
    /// `"1506484173"`.
    #[default]
    Epoch,
    /// `"09/27/2017 03:49:33 +00:00"`.
    Date,
}

impl ExpiresOnForm {
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// `MM/dd/yyyy HH:mm:ss +00:00` (UTC) for an epoch second count.
pub fn legacy_date(epoch: u64) -> String {
    let iso = util::iso_seconds(epoch); // YYYY-MM-DDTHH:MM:SS
    format!(
        "{}/{}/{} {} +00:00",
        &iso[5..7],
        &iso[8..10],
        &iso[0..4],
        &iso[11..19]
    )
}

fn error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// Body for an injected status.
pub fn status_error(status: u16) -> Resp {
    match status {
        400 => error(400, "invalid_request", "Bad request"),
        429 => error(429, "too_many_requests", "Too many requests"),
        _ => error(status, "internal_error", "Internal server error"),
    }
}

pub fn handle(app: &App, req: &Req) -> Resp {
    if req.method != "GET" {
        return error(405, "invalid_request", "Only GET is supported");
    }
    let (expected, form) = {
        let cfg = lock(&app.cfg);
        (cfg.identity_header.clone(), cfg.msi_expires_on)
    };
    if req.header("secret") != Some(expected.as_str()) {
        return error(
            401,
            "unauthorized_client",
            "The secret header is missing or invalid",
        );
    }
    let params = req.params();
    if param(&params, "api-version") != Some(API_VERSION) {
        return error(
            400,
            "invalid_request",
            "The api-version parameter is missing or unsupported; use 2017-09-01",
        );
    }
    let Some(resource) = param(&params, "resource").filter(|r| !r.is_empty()) else {
        return error(
            400,
            "invalid_request",
            "The 'resource' parameter is required",
        );
    };
    if let Some(name) = ["client_id", "object_id", "msi_res_id", "mi_res_id"]
        .into_iter()
        .find(|n| param(&params, n).is_some_and(|v| !v.is_empty()))
    {
        return error(
            400,
            "invalid_request",
            &format!("Parameter '{name}' is not supported; use 'clientid'"),
        );
    }
    let sel = match param(&params, "clientid").filter(|v| !v.is_empty()) {
        Some(c) => Selector::ClientId(c.to_string()),
        None => Selector::System,
    };
    let (t, client_id) = match managed_identity::platform_token(app, &sel, resource, None) {
        Ok(x) => x,
        Err(Refusal::IdentityNotFound) => {
            return error(400, "invalid_request", "Identity not found")
        }
        Err(Refusal::UnknownResource) => {
            return error(
                400,
                "invalid_resource",
                &resources::not_found_description(resource),
            )
        }
    };
    let expires_on = match form {
        ExpiresOnForm::Epoch => t.exp.to_string(),
        ExpiresOnForm::Date => legacy_date(t.exp),
    };
    Resp::json(
        200,
        &json!({
            "access_token": t.access_token,
            "expires_on": expires_on,
            "resource": resource,
            "token_type": "Bearer",
            "client_id": client_id,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_form() {
        assert_eq!(legacy_date(1_506_484_173), "09/27/2017 03:49:33 +00:00");
        assert_eq!(ExpiresOnForm::parse("date"), Some(ExpiresOnForm::Date));
        assert_eq!(ExpiresOnForm::parse("epoch"), Some(ExpiresOnForm::Epoch));
        assert_eq!(ExpiresOnForm::parse("x"), None);
    }
}
