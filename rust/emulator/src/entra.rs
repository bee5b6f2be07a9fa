//! Entra-like token issuer: `POST /{tenant}/oauth2/v2.0/token` (client credentials with a secret
//! or a client assertion).

use serde_json::json;

use crate::entra_delegated;
use crate::resources;
use crate::seed;
use crate::state::{lock, App, SpKind};
use crate::token;
use crate::util::{self, param, Req, Resp};

/// The client secret of every application registered in the emulated tenant (and of
/// third-party apps). Managed identities and Microsoft's first-party apps have none.
pub const CLIENT_SECRET: &str = "emulator-client-secret";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Which Entra route a path is: `/{tenant}/oauth2/v2.0/{token|devicecode|authorize}`,
/// `/{tenant}/v2.0/.well-known/openid-configuration`, `/{tenant}/discovery/v2.0/keys`.
fn route(path: &str) -> Option<&'static str> {
    let segs: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .map(str::to_ascii_lowercase)
        .collect();
    if segs.len() < 2 || !segs[0].is_empty() || segs[1].is_empty() {
        return None;
    }
    let rest: Vec<&str> = segs[2..].iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["oauth2", "v2.0", "token"] => Some("token"),
        ["oauth2", "v2.0", "devicecode"] => Some("devicecode"),
        ["oauth2", "v2.0", "authorize"] => Some("authorize"),
        ["v2.0", ".well-known", "openid-configuration"] => Some("openid"),
        ["discovery", "v2.0", "keys"] => Some("keys"),
        _ => None,
    }
}

/// True for every Entra route.
pub fn is_token_path(path: &str) -> bool {
    route(path).is_some()
}

/// Dispatches an Entra request (tenant checked for every route).
pub fn handle(app: &App, req: &Req) -> Resp {
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if !tenant.eq_ignore_ascii_case(seed::TENANT_ID) {
        return error(
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    match route(&req.path) {
        Some("devicecode") => entra_delegated::device_code(app, req),
        Some("authorize") => entra_delegated::authorize(app, req),
        Some("openid") => entra_delegated::openid_configuration(app, req),
        Some("keys") => entra_delegated::keys(),
        _ => token(app, req),
    }
}

pub(crate) fn error(status: u16, error: &str, code: u32, description: &str) -> Resp {
    let trace = util::new_guid();
    let correlation = util::new_guid();
    let timestamp = util::iso_now().replace('T', " ") + "Z";
    Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
        }),
    )
}

/// Entra-shaped body for an injected status.
pub fn status_error(status: u16) -> Resp {
    match status {
        400 => error(400, "invalid_request", 900144, "Injected bad request."),
        401 => error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        ),
        429 => error(
            429,
            "temporarily_unavailable",
            50196,
            "The server terminated an operation because it encountered a client request loop.",
        ),
        _ => error(
            status,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        ),
    }
}

/// Whose credentials a client authenticates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// An application of the emulated tenant (or a third party's): the shared secret works.
    Tenant,
    ManagedIdentity,
    /// Owned by Microsoft's tenant (Microsoft Graph, Exchange, …).
    FirstParty,
}

fn credential_owner(kind: &SpKind) -> Owner {
    match kind {
        SpKind::ManagedIdentity { .. } => Owner::ManagedIdentity,
        SpKind::Application { owner_tenant, .. }
            if owner_tenant
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(seed::MICROSOFT_TENANT_ID)) =>
        {
            Owner::FirstParty
        }
        SpKind::Application { .. } => Owner::Tenant,
    }
}

fn token(app: &App, req: &Req) -> Resp {
    if req.method != "POST" {
        return error(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if !tenant.eq_ignore_ascii_case(seed::TENANT_ID) {
        return error(
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    let form = util::parse_form(&String::from_utf8_lossy(&req.body));
    let missing = |name: &str| {
        error(
            400,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    match param(&form, "grant_type") {
        None => return missing("grant_type"),
        Some("client_credentials") => {}
        Some(g @ ("authorization_code" | "refresh_token" | entra_delegated::DEVICE_CODE_GRANT)) => {
            return entra_delegated::token_grant(app, req, g, &form)
        }
        Some(g) => {
            return error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{g}'."),
            )
        }
    }
    let Some(client_id) = param(&form, "client_id").filter(|c| !c.is_empty()) else {
        return missing("client_id");
    };
    let Some(scope) = param(&form, "scope").filter(|s| !s.is_empty()) else {
        return missing("scope");
    };
    let sp = lock(&app.dir)
        .sp_by_app_id(client_id)
        .map(|s| (s.id.clone(), credential_owner(&s.kind)));
    let Some((sp_id, owner)) = sp else {
        return error(
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    };
    if let Some(secret) = param(&form, "client_secret") {
        // Managed identities have only platform-managed certificate credentials and a
        // first-party app's credentials live in Microsoft's tenant: the app is found (so not
        // 700016), the secret matches none of its credentials, and Entra answers what it
        // answers for any wrong secret: 401 invalid_client AADSTS7000215.
        if owner != Owner::Tenant || secret != CLIENT_SECRET {
            return error(
                401,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
            );
        }
    } else if let Some(assertion) = param(&form, "client_assertion") {
        if param(&form, "client_assertion_type") != Some(JWT_BEARER)
            || assertion.split('.').count() != 3
        {
            return error(
                400,
                "invalid_client",
                50027,
                "JWT token is invalid or malformed.",
            );
        }
        match owner {
            // No certificate of a first-party app is registered here: the assertion's
            // signature cannot be validated (AADSTS700027).
            Owner::FirstParty => {
                return error(
                    401,
                    "invalid_client",
                    700027,
                    "Client assertion failed signature validation.",
                )
            }
            // Apps: a registered certificate or federated credential; managed identities: a
            // federated credential (none registered → AADSTS70021).
            Owner::Tenant | Owner::ManagedIdentity => {
                if let Err(refusal) =
                    crate::client_credentials::check_assertion(app, client_id, assertion)
                {
                    return refusal;
                }
            }
        }
    } else {
        return error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
    }
    let resource = match scope.strip_suffix("/.default") {
        Some(r) if !r.is_empty() && !scope.contains(' ') => r.to_string(),
        _ => {
            return error(
                400,
                "invalid_scope",
                1002012,
                &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            )
        }
    };
    if !resources::is_known(app, &resource) {
        return error(
            400,
            "invalid_resource",
            500011,
            resources::not_found_description(&resource).trim_start_matches("AADSTS500011: "),
        );
    }
    let lifetime = lock(&app.cfg)
        .entra_token_lifetime_secs
        .min(i64::MAX as u64) as i64;
    let Some(t) = token::issue(app, &sp_id, &resource, Some(lifetime)) else {
        return error(400, "unauthorized_client", 700016, "Application not found.");
    };
    let expires_in = t.expires_in.saturating_sub(1);
    Resp::json(
        200,
        &json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": t.access_token,
        }),
    )
}
