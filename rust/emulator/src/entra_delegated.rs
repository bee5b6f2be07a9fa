//! Entra's delegated (user) flows for admins signing in: device code, authorization code with
//! PKCE through a browser-followable `/authorize`, refresh tokens, and OpenID discovery. Every
//! user sign-in is the seed's admin user; tokens carry `scp` instead of `roles`.
//!
//! Public clients need no secret; any GUID client id is accepted (Connect-MgGraph's default is
//! `seed::GRAPH_CLI_CLIENT_ID`). Codes, device codes and refresh tokens live in memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::entra::error;
use crate::resources;
use crate::seed;
use crate::state::{lock, App};
use crate::token;
use crate::util::{self, param, Req, Resp};

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Scopes that name no resource permission.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// What the emulated user does on the `/authorize` page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthorizeOutcome {
    #[default]
    Approve,
    Deny,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// The next poll answers `slow_down`, then it is pending again.
    SlowDown,
}

struct DeviceGrant {
    user_code: String,
    client_id: String,
    scopes: Scopes,
    created: Instant,
    status: DeviceStatus,
}

struct AuthCode {
    client_id: String,
    redirect_uri: String,
    scopes: Scopes,
    challenge: Option<(String, String)>,
    /// The `/authorize` request's `nonce`, copied into the id_token (as Entra does).
    nonce: Option<String>,
    /// Issuer of the id_token: on the origin `/authorize` was asked at.
    issuer: String,
    created: Instant,
}

struct RefreshGrant {
    client_id: String,
    /// Permissions consented per resource key.
    consented: Vec<String>,
}

/// Codes and grants handed out to users.
#[derive(Default)]
pub struct DelegatedState {
    devices: HashMap<String, DeviceGrant>,
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshGrant>,
}

impl DelegatedState {
    pub fn clear(&mut self) {
        *self = DelegatedState::default();
    }
}

/// A parsed `scope` parameter: one resource, its permissions, and the OpenID extras.
#[derive(Clone, Debug, Default)]
struct Scopes {
    resource: String,
    permissions: Vec<String>,
    openid: bool,
    offline: bool,
}

impl Scopes {
    /// `https://graph.microsoft.com/User.Read openid` or `User.Read` (Graph is the default
    /// resource); every permission must name the same resource (else AADSTS28000).
    fn parse(scope: &str) -> Result<Scopes, Resp> {
        let mut s = Scopes::default();
        for item in scope.split_whitespace() {
            if OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(item)) {
                s.openid |= item.eq_ignore_ascii_case("openid");
                s.offline |= item.eq_ignore_ascii_case("offline_access");
                continue;
            }
            let (resource, permission) = match item.rfind('/') {
                Some(i) if i > 0 => (&item[..i], &item[i + 1..]),
                _ => (seed::GRAPH_RESOURCE, item),
            };
            if permission.is_empty() {
                return Err(invalid_scope(scope));
            }
            if s.resource.is_empty() {
                s.resource = resource.to_string();
            } else if util::resource_key(&s.resource) != util::resource_key(resource) {
                return Err(error(
                    400,
                    "invalid_scope",
                    28000,
                    "Provided value for the input parameter scope is not valid because it contains more than one resource.",
                ));
            }
            s.permissions.push(permission.to_string());
        }
        if s.resource.is_empty() {
            s.resource = seed::GRAPH_RESOURCE.to_string();
            s.permissions.push("User.Read".to_string());
        }
        Ok(s)
    }

    fn scp(&self, consented: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.permissions {
            if p == ".default" {
                for c in consented {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
                if out.is_empty() {
                    out.push("User.Read".to_string());
                }
            } else if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }
}

fn invalid_scope(scope: &str) -> Resp {
    error(
        400,
        "invalid_scope",
        70011,
        &format!("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
    )
}

fn random_token(bytes: usize) -> String {
    let mut raw = Vec::new();
    while raw.len() < bytes {
        raw.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    raw.truncate(bytes);
    util::b64url(&raw)
}

fn user_code() -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
    uuid::Uuid::new_v4().as_bytes()[..9]
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The origin (`scheme://host[:port]`) a request was sent to; the plain base URL for internal
/// requests that carry none.
fn origin<'a>(app: &'a App, req: &'a Req) -> &'a str {
    if req.origin.is_empty() {
        &app.base_url
    } else {
        &req.origin
    }
}

/// `{origin}/{tenant}/v2.0`: discovery's `issuer` and the id_token's `iss` (they must match).
fn issuer_v2(origin: &str) -> String {
    format!("{origin}/{}/v2.0", seed::TENANT_ID)
}

/// What an id_token carries besides the user: issuer and the `/authorize` nonce.
struct IdTokenContext<'a> {
    issuer: String,
    nonce: Option<&'a str>,
}

/// The token response of a user sign-in; records the refresh token.
fn user_tokens(
    app: &App,
    client_id: &str,
    scopes: &Scopes,
    consented: &[String],
    id: IdTokenContext<'_>,
) -> Resp {
    if !resources::is_known(app, &scopes.resource) {
        return error(
            400,
            "invalid_resource",
            500011,
            resources::not_found_description(&scopes.resource).trim_start_matches("AADSTS500011: "),
        );
    }
    let scp = scopes.scp(consented);
    let lifetime = lock(&app.cfg)
        .entra_token_lifetime_secs
        .min(i64::MAX as u64) as i64;
    let t = token::mint_user(
        &seed::ADMIN_USER,
        client_id,
        &scopes.resource,
        &scp,
        lifetime,
    );
    let resource = scopes.resource.trim_end_matches('/');
    let mut granted: Vec<String> = scp.iter().map(|p| format!("{resource}/{p}")).collect();
    let expires_in = t.expires_in.saturating_sub(1);
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": t.access_token,
    });
    if scopes.openid {
        granted.extend(["openid".to_string(), "profile".to_string()]);
        body["id_token"] = json!(token::id_token(
            &seed::ADMIN_USER,
            client_id,
            &id.issuer,
            id.nonce,
            lifetime
        ));
    }
    if scopes.offline {
        granted.push("offline_access".to_string());
        let rt = random_token(48);
        let mut all = consented.to_vec();
        for p in &scp {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        lock(&app.delegated).refresh.insert(
            rt.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                consented: all,
            },
        );
        body["refresh_token"] = json!(rt);
    }
    body["scope"] = json!(granted.join(" "));
    Resp::json(200, &body)
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (form `client_id`, `scope`).
pub fn device_code(app: &App, req: &Req) -> Resp {
    if req.method != "POST" {
        return error(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let form = util::parse_form(&String::from_utf8_lossy(&req.body));
    let Some(client_id) = param(&form, "client_id").filter(|c| util::is_guid(c)) else {
        return error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let scopes = match Scopes::parse(param(&form, "scope").unwrap_or_default()) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (interval, lifetime) = {
        let cfg = lock(&app.cfg);
        (cfg.device_code_interval_secs, cfg.device_code_lifetime_secs)
    };
    let device_code = random_token(48);
    let code = user_code();
    let verification_uri = format!("{}/devicelogin", origin(app, req));
    lock(&app.delegated).devices.insert(
        device_code.clone(),
        DeviceGrant {
            user_code: code.clone(),
            client_id: client_id.to_string(),
            scopes,
            created: Instant::now(),
            status: DeviceStatus::Pending,
        },
    );
    Resp::json(
        200,
        &json!({
            "user_code": code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": lifetime,
            "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {code} to authenticate."),
        }),
    )
}

/// `POST /_emulator/deviceCode {"userCode"?, "outcome": "approve"|"deny"|"slowDown"}`: what the
/// user does with a pending code (the latest one when `userCode` is absent).
pub fn control_device_code(app: &App, v: &Value) -> Result<Value, String> {
    let status = match v
        .get("outcome")
        .and_then(Value::as_str)
        .unwrap_or("approve")
    {
        "approve" => DeviceStatus::Approved,
        "deny" => DeviceStatus::Denied,
        "slowDown" => DeviceStatus::SlowDown,
        other => return Err(format!("unknown outcome '{other}'")),
    };
    let wanted = v.get("userCode").and_then(Value::as_str);
    let mut state = lock(&app.delegated);
    let grant = state
        .devices
        .values_mut()
        .filter(|g| matches!(g.status, DeviceStatus::Pending | DeviceStatus::SlowDown))
        .filter(|g| wanted.is_none_or(|w| g.user_code.eq_ignore_ascii_case(w)))
        .max_by_key(|g| g.created)
        .ok_or("no pending device code")?;
    grant.status = status;
    Ok(json!({"userCode": grant.user_code, "status": format!("{status:?}")}))
}

fn device_grant(app: &App, req: &Req, form: &[(String, String)]) -> Resp {
    let Some(device_code) = param(form, "device_code") else {
        return error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'device_code'.",
        );
    };
    let lifetime = Duration::from_secs(lock(&app.cfg).device_code_lifetime_secs);
    let (client_id, scopes, status, created) = {
        let mut state = lock(&app.delegated);
        let Some(g) = state.devices.get_mut(device_code) else {
            return error(
                400,
                "bad_verification_code",
                70000,
                "The provided device code is not valid.",
            );
        };
        let status = g.status;
        if status == DeviceStatus::SlowDown {
            g.status = DeviceStatus::Pending;
        }
        (g.client_id.clone(), g.scopes.clone(), status, g.created)
    };
    if param(form, "client_id") != Some(client_id.as_str()) {
        return error(
            400,
            "invalid_grant",
            70000,
            "The device code was issued to another client.",
        );
    }
    if created.elapsed() >= lifetime {
        lock(&app.delegated).devices.remove(device_code);
        return error(400, "expired_token", 70019, "Verification code expired.");
    }
    match status {
        DeviceStatus::Pending => error(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ),
        DeviceStatus::SlowDown => error(400, "slow_down", 70016, "Polling too fast. Slow down."),
        DeviceStatus::Denied => {
            lock(&app.delegated).devices.remove(device_code);
            error(
                400,
                "authorization_declined",
                70000,
                "The user declined the authorization request.",
            )
        }
        DeviceStatus::Approved => {
            lock(&app.delegated).devices.remove(device_code);
            let id = IdTokenContext {
                issuer: issuer_v2(origin(app, req)),
                nonce: None,
            };
            user_tokens(app, &client_id, &scopes, &[], id)
        }
    }
}

fn is_loopback_redirect(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| {
        u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
    })
}

/// HTML-escapes text for an attribute value.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Entra's `response_mode=form_post` answer: a 200 HTML page whose form POSTs the fields to
/// `redirect_uri` as soon as it loads.
fn form_post(redirect_uri: &str, fields: &[(&str, String)]) -> Resp {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\" />",
                html_escape(k),
                html_escape(v)
            )
        })
        .collect();
    let page = format!(
        "<html><head><title>Working...</title></head><body onload=\"document.forms[0].submit()\">\
         <form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}\
         <noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript>\
         </form></body></html>",
        html_escape(redirect_uri)
    );
    Resp::text(200, "text/html; charset=utf-8", &page).header("Cache-Control", "no-store")
}

/// `GET|POST /{tenant}/oauth2/v2.0/authorize?...`: the emulated user signs in at once and the
/// answer carries `code` and `state` (or, with `authorizeOutcome: "deny"`,
/// `error=access_denied`) to the loopback `redirect_uri`: a 302 with them in the query, or with
/// `response_mode=form_post` an auto-submitting HTML form that POSTs them there (as Entra does;
/// MSAL asks for form_post and its loopback listener refuses a code in a GET).
pub fn authorize(app: &App, req: &Req) -> Resp {
    let params = req.params();
    let p = |n: &str| param(&params, n).unwrap_or_default();
    let client_id = p("client_id");
    let redirect_uri = p("redirect_uri");
    if !util::is_guid(client_id) {
        return error(
            400,
            "invalid_request",
            900144,
            "The request must contain a valid 'client_id'.",
        );
    }
    if !is_loopback_redirect(redirect_uri) {
        // Entra shows an error page instead of redirecting to an unregistered URI.
        return error(
            400,
            "invalid_request",
            50011,
            &format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."),
        );
    }
    let state = p("state");
    let form_mode = p("response_mode").eq_ignore_ascii_case("form_post");
    let redirect = |query: Vec<(&str, String)>| {
        if form_mode {
            let mut fields = query;
            if !state.is_empty() {
                fields.push(("state", state.to_string()));
            }
            return form_post(redirect_uri, &fields);
        }
        let mut u = url::Url::parse(redirect_uri).expect("checked above");
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, &v);
            }
            if !state.is_empty() {
                q.append_pair("state", state);
            }
        }
        Resp::new(302).header("Location", u.as_str())
    };
    if p("response_type") != "code" {
        return redirect(vec![
            ("error", "unsupported_response_type".into()),
            (
                "error_description",
                "AADSTS700054: response_type 'code' is required.".into(),
            ),
        ]);
    }
    let scopes = match Scopes::parse(p("scope")) {
        Ok(s) => s,
        Err(_) => {
            return redirect(vec![
                ("error", "invalid_scope".into()),
                (
                    "error_description",
                    "AADSTS70011: The provided value for the input parameter 'scope' is not valid."
                        .into(),
                ),
            ])
        }
    };
    let challenge = match (p("code_challenge"), p("code_challenge_method")) {
        ("", _) => None,
        (c, "S256") => Some((c.to_string(), "S256".to_string())),
        (c, "" | "plain") => Some((c.to_string(), "plain".to_string())),
        _ => {
            return redirect(vec![
                ("error", "invalid_request".into()),
                (
                    "error_description",
                    "AADSTS501491: Invalid code_challenge_method.".into(),
                ),
            ])
        }
    };
    if lock(&app.cfg).authorize_outcome == AuthorizeOutcome::Deny {
        return redirect(vec![
            ("error", "access_denied".into()),
            (
                "error_description",
                "AADSTS65004: User declined to consent to access the app.".into(),
            ),
        ]);
    }
    let code = random_token(64);
    lock(&app.delegated).codes.insert(
        code.clone(),
        AuthCode {
            client_id: client_id.to_string(),
            redirect_uri: redirect_uri.to_string(),
            scopes,
            challenge,
            nonce: Some(p("nonce"))
                .filter(|n| !n.is_empty())
                .map(str::to_string),
            issuer: issuer_v2(origin(app, req)),
            created: Instant::now(),
        },
    );
    redirect(vec![("code", code)])
}

fn pkce_ok(challenge: &Option<(String, String)>, verifier: Option<&str>) -> bool {
    match (challenge, verifier) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((c, m)), Some(v)) if m == "S256" => {
            let digest = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
            util::b64url(digest.as_ref()) == *c
        }
        (Some((c, _)), Some(v)) => c == v,
    }
}

fn code_grant(app: &App, form: &[(String, String)]) -> Resp {
    let code = param(form, "code").unwrap_or_default();
    let Some(grant) = lock(&app.delegated).codes.remove(code) else {
        return error(
            400,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        );
    };
    if grant.created.elapsed() >= CODE_LIFETIME {
        return error(
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        );
    }
    if param(form, "client_id") != Some(grant.client_id.as_str())
        || param(form, "redirect_uri") != Some(grant.redirect_uri.as_str())
    {
        return error(
            400,
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed.",
        );
    }
    if !pkce_ok(&grant.challenge, param(form, "code_verifier")) {
        return error(
            400,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
    }
    let id = IdTokenContext {
        issuer: grant.issuer.clone(),
        nonce: grant.nonce.as_deref(),
    };
    user_tokens(app, &grant.client_id, &grant.scopes, &[], id)
}

fn refresh_grant(app: &App, req: &Req, form: &[(String, String)]) -> Resp {
    let rt = param(form, "refresh_token").unwrap_or_default();
    let grant = lock(&app.delegated)
        .refresh
        .get(rt)
        .map(|g| (g.client_id.clone(), g.consented.clone()));
    let Some((client_id, consented)) = grant else {
        return error(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        );
    };
    if param(form, "client_id") != Some(client_id.as_str()) {
        return error(
            400,
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed.",
        );
    }
    let scopes = match Scopes::parse(param(form, "scope").unwrap_or("offline_access")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = IdTokenContext {
        issuer: issuer_v2(origin(app, req)),
        nonce: None,
    };
    user_tokens(app, &client_id, &scopes, &consented, id)
}

/// Token-endpoint grants of users: authorization code, refresh token, device code.
pub fn token_grant(app: &App, req: &Req, grant_type: &str, form: &[(String, String)]) -> Resp {
    match grant_type {
        "authorization_code" => code_grant(app, form),
        "refresh_token" => refresh_grant(app, req, form),
        _ => device_grant(app, req, form),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`: every endpoint on the scheme and
/// host that was asked (real Entra lists https endpoints on the host asked; MSAL refuses a
/// non-https token endpoint).
pub fn openid_configuration(app: &App, req: &Req) -> Resp {
    let origin = origin(app, req);
    let base = format!("{origin}/{}", seed::TENANT_ID);
    Resp::json(
        200,
        &json!({
            "issuer": issuer_v2(origin),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT],
            "code_challenge_methods_supported": ["plain", "S256"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }),
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`: emulator tokens are not really signed, so no keys.
pub fn keys() -> Resp {
    Resp::json(200, &json!({"keys": []}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parsing() {
        let s =
            Scopes::parse("https://graph.microsoft.com/Mail.Send User.Read offline_access openid")
                .unwrap();
        assert_eq!(s.resource, "https://graph.microsoft.com");
        assert_eq!(s.permissions, vec!["Mail.Send", "User.Read"]);
        assert!(s.openid && s.offline);
        assert!(Scopes::parse("https://a.example/x https://b.example/y").is_err());
        let d = Scopes::parse("https://vault.azure.net/.default").unwrap();
        assert_eq!(
            d.scp(&["user_impersonation".into()]),
            vec!["user_impersonation"]
        );
        assert_eq!(
            Scopes::parse("openid").unwrap().permissions,
            vec!["User.Read"]
        );
    }

    #[test]
    fn pkce() {
        // RFC 7636 appendix B.
        let challenge = Some((
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_string(),
            "S256".to_string(),
        ));
        assert!(pkce_ok(
            &challenge,
            Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        ));
        assert!(!pkce_ok(&challenge, Some("wrong")));
        assert!(!pkce_ok(&challenge, None));
    }
}
