//! Why Microsoft Graph refused a request (403), said in the error itself: the request as a
//! method and path template, the least privileged permission(s) that allow it for this kind of
//! sign-in (application roles for an app or managed identity, delegated scopes for a user), the
//! others that also allow it, what the token that was sent holds, and the command that fixes it.
//! Graph's own code, message and request id stay in the error.
//!
//! Graph's 403 does not name the missing permission; Microsoft's permission data does
//! (`managed_identity_graph_permissions`), and the token's `roles` / `scp` claims say what the
//! caller holds. Every Graph 403 the engine sees is turned into one error here
//! ([`GraphClient::refusal`](super::client::GraphClient::refusal)).

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{json, Value};

use super::errors::{Access, GraphErrorInfo};
use crate::error::{Error, ErrorKind};
use crate::input::Input;
use crate::jwt::Claims;
use crate::token::iso8601;
use managed_identity_graph_permissions::{self as data, Method, Requirement, Scheme};

/// The tenant id of personal Microsoft accounts (tokens for them use the DelegatedPersonal
/// permissions).
const PERSONAL_ACCOUNTS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Longest list of held permissions spelled out in a message (the object has them all).
const HELD_SHOWN: usize = 8;

/// Why the request was refused, as far as the data and the token tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DenialCause {
    /// The token holds none of the permissions that allow the request.
    MissingPermission,
    /// The token holds a permission that should allow it: the refusal comes from elsewhere.
    HeldButRefused,
    /// No permission of the token's kind (application / delegated) allows the request.
    SchemeNotSupported,
    /// The permission data does not know this path (or this method on it).
    NotInPermissionData,
}

/// The facts of one refusal, for scripts (`TargetObject` of the error record).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Denial {
    /// `GET /auditLogs/signIns` (the template when the data knows the path).
    pub request: String,
    pub path_template: Option<String>,
    pub cause: DenialCause,
    /// `Application`, `DelegatedWork` or `DelegatedPersonal`.
    pub scheme: Option<&'static str>,
    /// The least privileged ways to be allowed (`A` or `A + B`).
    pub needed: Vec<String>,
    /// The other ways the data lists.
    pub also_allowed_by: Vec<String>,
    /// What the token holds (`roles` for an application, `scp` for a user).
    pub held: Vec<String>,
    /// The permissions of the recommended way that the token lacks.
    pub missing: Vec<String>,
    /// The way the token holds that should have allowed the request.
    pub held_allowing: Option<String>,
    /// The token's identity: its display name, else its account, else its client id.
    pub identity: Option<String>,
    pub identity_object_id: Option<String>,
    pub token_issued_at: Option<String>,
    pub token_expires_at: Option<String>,
    pub graph_error_code: Option<String>,
    pub graph_message: Option<String>,
    pub request_id: Option<String>,
}

/// The sign-in kind a token's claims show: a user's delegated scopes or app-only roles.
pub fn scheme_of(claims: &Claims) -> Scheme {
    let user = claims.has_scp || claims.idtyp.as_deref() == Some("user");
    if !user {
        Scheme::Application
    } else if claims.tid.as_deref() == Some(PERSONAL_ACCOUNTS_TENANT) {
        Scheme::DelegatedPersonal
    } else {
        Scheme::DelegatedWork
    }
}

/// What a token of `scheme` holds: roles for an application, scopes for a user.
pub fn held_by(claims: &Claims, scheme: Scheme) -> Vec<String> {
    if scheme == Scheme::Application {
        claims.roles.clone()
    } else {
        claims.scopes.clone()
    }
}

/// Text from a token or a server, made safe for one line of a message: control characters
/// dropped, at most 128 characters.
pub fn one_line(text: &str) -> String {
    bounded_line(text, 128)
}

/// As [`one_line`], at most `max` characters.
fn bounded_line(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// `09:14 UTC` when `unix` falls on the same UTC day as `now`, else `2026-12-07 09:14 UTC`.
pub fn utc_time(unix: u64, now: u64) -> String {
    let Ok(at) = jiff::Timestamp::from_second(i64::try_from(unix).unwrap_or(i64::MAX)) else {
        return format!("{unix} (Unix time)");
    };
    let same_day = jiff::Timestamp::from_second(i64::try_from(now).unwrap_or(i64::MAX))
        .is_ok_and(|n| n.strftime("%F").to_string() == at.strftime("%F").to_string());
    if same_day {
        at.strftime("%H:%M UTC").to_string()
    } else {
        at.strftime("%F %H:%M UTC").to_string()
    }
}

/// The request's path as written (case kept), without scheme, host, version, query or
/// fragment (a query may carry a caller's filter values).
fn request_path(target: &str) -> String {
    let mut rest = target.trim();
    if let Some(i) = rest.find("://") {
        rest = &rest[i + 3..];
        rest = rest.find('/').map_or("", |j| &rest[j..]);
    }
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let mut segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .first()
        .is_some_and(|v| v.eq_ignore_ascii_case("v1.0") || v.eq_ignore_ascii_case("beta"))
    {
        segments.remove(0);
    }
    // Paths are long (site ids alone run past 100 characters): bounded, but not by a name's limit.
    bounded_line(&format!("/{}", segments.join("/")), 1024)
}

/// The template as the message shows it: the request's own spelling where a segment is literal
/// (the data spells some paths in lower case), the template's placeholders for ids.
fn shown_template(template: &str, request: &str) -> String {
    let t: Vec<&str> = template.split('/').collect();
    let r: Vec<&str> = request.split('/').collect();
    if t.len() != r.len() {
        return template.to_string();
    }
    t.iter()
        .zip(&r)
        .map(|(t, r)| {
            if !t.starts_with('{') && t.eq_ignore_ascii_case(r) {
                *r
            } else {
                *t
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_guid(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

fn list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

fn held_text(held: &[String], scheme: Scheme) -> String {
    let kind = if scheme == Scheme::Application {
        "application permissions"
    } else {
        "delegated permissions (scopes)"
    };
    if held.is_empty() {
        return format!("holds no {kind}");
    }
    let mut shown: Vec<String> = held.iter().take(HELD_SHOWN).map(|h| one_line(h)).collect();
    if held.len() > HELD_SHOWN {
        shown.push(format!("{} more", held.len() - HELD_SHOWN));
    }
    format!("holds {}", shown.join(", "))
}

fn scheme_words(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Application => "the application permission",
        Scheme::DelegatedWork => "the delegated permission (scope)",
        Scheme::DelegatedPersonal => "the delegated permission (scope) for personal accounts",
    }
}

/// The explained error for a 403 answer to `method target` (`target`: an absolute URL or a path
/// relative to the version root), sent with a token whose claims are `token` (`None`: not a
/// JWT, or no token known). `now`: Unix seconds. Other statuses: [`GraphErrorInfo::to_error`].
pub fn explain(
    info: &GraphErrorInfo,
    method: &str,
    target: &str,
    token: Option<&Claims>,
    access: Access,
    what: &str,
    now: u64,
) -> Error {
    let graph_said = {
        let text = info
            .message
            .as_deref()
            .map(one_line)
            .unwrap_or_else(|| "no error message".to_string());
        let mut s = format!(
            "Microsoft Graph answered: {} (HTTP {}",
            text.trim_end_matches('.'),
            info.status
        );
        if let Some(code) = &info.code {
            s.push(' ');
            s.push_str(&one_line(code));
        }
        if let Some(rid) = &info.request_id {
            s.push_str("; request-id ");
            s.push_str(&one_line(rid));
        }
        s.push(')');
        s
    };
    let method_name = one_line(method).to_ascii_uppercase();
    let allowing = match (Method::parse(&method_name), data::graph().ok()) {
        (Some(m), Some(table)) => table.allowing(m, target).filter(|a| !a.method_unknown()),
        _ => None,
    };
    let scheme = token.map(scheme_of).unwrap_or(Scheme::Application);
    let held = token.map(|c| held_by(c, scheme)).unwrap_or_default();
    let identity = token.and_then(|c| {
        c.app_displayname
            .as_deref()
            .or(c.account.as_deref())
            .or(c.appid.as_deref())
            .map(one_line)
    });
    let object_id = token.and_then(|c| c.oid.clone()).filter(|o| is_guid(o));
    let mut denial = Denial {
        request: format!("{method_name} {}", request_path(target)),
        path_template: None,
        cause: DenialCause::NotInPermissionData,
        scheme: token.map(|_| scheme.name()),
        needed: Vec::new(),
        also_allowed_by: Vec::new(),
        held: held.iter().map(|h| one_line(h)).collect(),
        missing: Vec::new(),
        held_allowing: None,
        identity: identity.clone(),
        identity_object_id: object_id.clone(),
        token_issued_at: token.and_then(|c| c.iat).and_then(iso8601),
        token_expires_at: token.and_then(|c| c.exp).and_then(iso8601),
        graph_error_code: info.code.as_deref().map(one_line),
        graph_message: info.message.as_deref().map(one_line),
        request_id: info.request_id.as_deref().map(one_line),
    };
    let Some(allowing) = allowing else {
        // Graph's error as it was, plus one sentence.
        let mut error = info.to_error(access, what);
        // Graph's text as one line (its message may hold line breaks).
        error.message = bounded_line(&error.message, 4000);
        error.message.push_str(&format!(
            " The permission data does not know {}, so the permission it needs cannot be named here.",
            denial.request
        ));
        return with_denial(error, info, &denial, None);
    };
    let template = shown_template(allowing.template(), &request_path(target));
    denial.request = format!("{method_name} {template}");
    denial.path_template = Some(template);
    let token_text = match token {
        Some(c) => {
            let mut t = String::from("this token");
            if let Some(name) = &identity {
                t.push_str(&format!(" of {name}"));
            }
            if let Some(iat) = c.iat {
                t.push_str(&format!(", issued {},", utc_time(iat, now)));
            }
            format!("{t} {}", held_text(&held, scheme))
        }
        None => "the token sent is not a JWT, so what it holds cannot be read".to_string(),
    };

    if !allowing.supports(scheme) {
        denial.cause = DenialCause::SchemeNotSupported;
        let other = if scheme == Scheme::Application {
            Scheme::DelegatedWork
        } else {
            Scheme::Application
        };
        denial.needed = allowing
            .least(other)
            .iter()
            .map(Requirement::display)
            .collect();
        let kind = if scheme == Scheme::Application {
            "application permission (app role)"
        } else {
            "delegated permission"
        };
        let message = format!(
            "Microsoft Graph refused {}: no {kind} allows this request, so no grant to this identity can make it work{}. {graph_said}.",
            denial.request,
            if denial.needed.is_empty() {
                String::new()
            } else {
                format!(
                    "; it needs a {} sign-in with {} {}",
                    if other == Scheme::Application { "app-only" } else { "user" },
                    scheme_words(other),
                    list(&denial.needed)
                )
            }
        );
        let action = if scheme == Scheme::Application {
            format!(
                "Call this API with a user's sign-in (Connect-Identity {}, in a browser or with {}), or use another API that supports application permissions.",
                Input::Scopes,
                Input::UseDeviceCode
            )
        } else {
            "Call this API with an app-only sign-in (a managed identity or an application) that holds the application permission.".to_string()
        };
        return with_denial(
            Error::new(ErrorKind::PermissionDenied, message),
            info,
            &denial,
            Some(action),
        );
    }

    let all = allowing.requirements(scheme);
    let least = allowing.least(scheme);
    denial.needed = least.iter().map(Requirement::display).collect();
    denial.also_allowed_by = all
        .iter()
        .filter(|r| !least.contains(r))
        .map(Requirement::display)
        .collect();
    let held_lower: HashSet<String> = held.iter().map(|h| h.to_ascii_lowercase()).collect();

    if let Some(holding) = token.and(allowing.satisfied_by(scheme, &held_lower)) {
        denial.cause = DenialCause::HeldButRefused;
        denial.held_allowing = Some(holding.display());
        let message = format!(
            "Microsoft Graph refused {}, although {token_text}, and {} allows this request: the cause is elsewhere, such as a resource-specific grant this identity lacks (Sites.Selected and other *.Selected permissions need the resource itself granted to the app), a scoped administrative role, or a Conditional Access or tenant policy. {graph_said}.",
            denial.request,
            holding.display()
        );
        let action = format!(
            "Check what else governs {}: the resource-specific grant for this identity (for Sites.Selected, the site's permissions), its scoped roles, and the tenant's policies.",
            denial.request
        );
        return with_denial(
            Error::new(ErrorKind::PermissionDenied, message),
            info,
            &denial,
            Some(action),
        );
    }

    denial.cause = DenialCause::MissingPermission;
    let recommended = allowing.recommended(scheme);
    denial.missing = recommended
        .as_ref()
        .map(|r| {
            r.permissions
                .iter()
                .filter(|p| !held_lower.contains(&p.to_ascii_lowercase()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let also = if denial.also_allowed_by.is_empty() {
        String::new()
    } else {
        format!(
            " (least privileged; also allowed by {})",
            list(&denial.also_allowed_by)
        )
    };
    let needs = format!(
        "{} needs {} {}{also}",
        denial.request,
        scheme_words(scheme),
        list(&denial.needed)
    );
    let missing_names = denial.missing.join(",");
    let (advice, action) = if scheme == Scheme::Application {
        let fix = match &object_id {
            Some(oid) if !missing_names.is_empty() => Some(format!(
                "Grant-GraphAppRole {} {oid} {} {missing_names}",
                Input::Identity,
                Input::Permission
            )),
            _ => None,
        };
        (
            format!(
                " Grant it, then use a new token: an app role granted after a token was issued is not in that token (Test-IdentityPermission {} {} {} tells whether it is granted yet and when a token will carry it).",
                Input::Permission,
                if missing_names.is_empty() { "<name>" } else { &missing_names },
                Input::Refresh
            ),
            fix,
        )
    } else {
        (
            format!(
                " Sign in again asking for the scope (Connect-Identity with {} {}); a tenant administrator may need to consent to it.",
                Input::Scopes,
                if missing_names.is_empty() { "<name>" } else { &missing_names }
            ),
            (!missing_names.is_empty())
                .then(|| {
                    format!(
                        "Connect-Identity {} {} {missing_names}",
                        Input::UseDeviceCode,
                        Input::Scopes
                    )
                }),
        )
    };
    let message = format!("{needs}; {token_text}. {graph_said}.{advice}");
    with_denial(
        Error::new(ErrorKind::PermissionDenied, message),
        info,
        &denial,
        action,
    )
}

/// Graph's details (`status`, `code`, `requestId`) plus `permission` (the [`Denial`]) and
/// `recommendedAction`.
fn with_denial(
    error: Error,
    info: &GraphErrorInfo,
    denial: &Denial,
    action: Option<String>,
) -> Error {
    let mut details = error.details.clone().unwrap_or_else(|| info.details());
    if !details.is_object() {
        details = json!({});
    }
    details["permission"] = serde_json::to_value(denial).unwrap_or(Value::Null);
    if let Some(a) = action {
        details["recommendedAction"] = json!(a);
    }
    let status = details.get("status").cloned();
    if status.is_none() {
        details["status"] = json!(403);
    }
    let mut error = error;
    error.kind = ErrorKind::PermissionDenied;
    error.details = Some(details);
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    const NOW: u64 = 1_796_000_000;

    fn refused() -> GraphErrorInfo {
        GraphErrorInfo::parse(
            403,
            &HeaderMap::new(),
            &json!({"error": {"code": "Authorization_RequestDenied",
                "message": "Insufficient privileges to complete the operation.",
                "innerError": {"request-id": "rid-7"}}}),
        )
    }

    fn app(roles: &[&str]) -> Claims {
        Claims {
            oid: Some("6f1c2a3b-0000-4000-8000-00000000aa01".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            iat: Some(NOW - 3600),
            exp: Some(NOW + 3600),
            app_displayname: Some("aa-ops-automation".into()),
            ..Claims::default()
        }
    }

    fn user(scopes: &[&str]) -> Claims {
        Claims {
            oid: Some("6f1c2a3b-0000-4000-8000-00000000bb01".into()),
            scopes: scopes.iter().map(|r| r.to_string()).collect(),
            has_scp: true,
            account: Some("ada@contoso.example".into()),
            iat: Some(NOW - 60),
            ..Claims::default()
        }
    }

    /// Graph's 403 to `GET path` sent with `token`.
    fn get(path: &str, token: Option<&Claims>) -> Error {
        explain(&refused(), "GET", path, token, Access::Other, "x", NOW)
    }

    fn facts(e: &Error) -> &Value {
        &e.details.as_ref().expect("details")["permission"]
    }

    #[test]
    fn an_application_token_lacking_the_permission_is_told_which_one() {
        let token = app(&["Directory.Read.All"]);
        let e = explain(
            &refused(),
            "GET",
            "https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=5",
            Some(&token),
            Access::Other,
            "GET /v1.0/auditLogs/signIns",
            NOW,
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message.starts_with("GET /auditLogs/signIns needs the application permission AuditLog.Read.All; this token of aa-ops-automation, issued "),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("this token of aa-ops-automation, issued "),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("holds Directory.Read.All"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("Insufficient privileges"),
            "{}",
            e.message
        );
        assert!(e.message.contains("rid-7"), "{}", e.message);
        assert!(!e.message.contains("$top"), "{}", e.message);
        let f = facts(&e);
        assert_eq!(f["Cause"], "MissingPermission");
        assert_eq!(f["Missing"], json!(["AuditLog.Read.All"]));
        assert_eq!(f["Held"], json!(["Directory.Read.All"]));
        assert_eq!(f["Scheme"], "Application");
        let d = e.details.as_ref().unwrap();
        // Placeholders here; the FFI edge renders them as -Identity and -Permission.
        assert_eq!(
            d["recommendedAction"],
            format!(
                "Grant-GraphAppRole {} 6f1c2a3b-0000-4000-8000-00000000aa01 {} AuditLog.Read.All",
                Input::Identity,
                Input::Permission
            )
        );
        assert_eq!(d["code"], "Authorization_RequestDenied");
        assert_eq!(d["requestId"], "rid-7");
    }

    #[test]
    fn a_delegated_token_lacking_the_scope_is_told_to_sign_in_again() {
        let token = user(&["User.Read"]);
        let e = get("/auditLogs/signIns", Some(&token));
        assert!(
            e.message
                .contains("the delegated permission (scope) AuditLog.Read.All"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("of ada@contoso.example"),
            "{}",
            e.message
        );
        assert!(e.message.contains("holds User.Read"), "{}", e.message);
        assert_eq!(facts(&e)["Scheme"], "DelegatedWork");
        assert!(e.details.as_ref().unwrap()["recommendedAction"]
            .as_str()
            .unwrap()
            .contains(&format!("{} AuditLog.Read.All", Input::Scopes)));
    }

    #[test]
    fn a_token_holding_an_allowing_permission_points_elsewhere() {
        let token = app(&["Sites.Selected"]);
        let e = get("http://127.0.0.1:4100/v1.0/sites/contoso.sharepoint.com,2f5c1a3e-6b7d-4e8f-9a0b-1c2d3e4f5a61,7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c61/lists/l-1/items/7/documentSetVersions", Some(&token));
        assert_eq!(facts(&e)["Cause"], "HeldButRefused");
        assert_eq!(
            facts(&e)["Request"],
            "GET /sites/{id}/lists/{id}/items/{id}/documentSetVersions"
        );
        assert_eq!(facts(&e)["HeldAllowing"], "Sites.Selected");
        assert!(
            e.message.contains("the cause is elsewhere"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("Insufficient privileges"),
            "{}",
            e.message
        );
    }

    #[test]
    fn an_unknown_path_keeps_graphs_error_and_says_so() {
        let token = app(&[]);
        let e = explain(
            &refused(),
            "GET",
            "/noSuchThing/at/all",
            Some(&token),
            Access::Other,
            "GET /noSuchThing",
            NOW,
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied);
        assert!(
            e.message.contains("Insufficient privileges"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("The permission data does not know GET /noSuchThing/at/all, so the permission it needs cannot be named here."), "{}", e.message);
        assert!(
            e.message
                .starts_with("Microsoft Graph refused GET /noSuchThing: Insufficient privileges"),
            "{}",
            e.message
        );
        assert_eq!(facts(&e)["Cause"], "NotInPermissionData");
    }

    #[test]
    fn a_request_no_application_permission_allows_says_so() {
        let token = app(&["Directory.Read.All"]);
        let e = get("/me/activities", Some(&token));
        assert_eq!(facts(&e)["Cause"], "SchemeNotSupported");
        assert!(
            e.message
                .contains("no application permission (app role) allows this request"),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("user sign-in with the delegated permission (scope)"),
            "{}",
            e.message
        );
        assert!(e.details.as_ref().unwrap()["recommendedAction"]
            .as_str()
            .unwrap()
            .contains("user's sign-in"));
    }

    #[test]
    fn an_opaque_token_still_names_the_needed_permission() {
        let e = get("/auditLogs/signIns", None);
        assert!(
            e.message
                .contains("needs the application permission AuditLog.Read.All"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("the token sent is not a JWT"),
            "{}",
            e.message
        );
        assert!(e
            .details
            .as_ref()
            .unwrap()
            .get("recommendedAction")
            .is_none());
    }

    #[test]
    fn server_and_token_text_is_one_line_and_bounded() {
        let mut token = app(&["A\u{7}.B\nC"]);
        token.app_displayname = Some(format!("evil\r\nname{}", "x".repeat(500)));
        let e = get("/auditLogs/signIns", Some(&token));
        assert!(
            !e.message.contains('\n') && !e.message.contains('\r') && !e.message.contains('\u{7}')
        );
        assert!(e.message.len() < 2000);
    }

    #[test]
    fn times_show_the_date_only_on_another_day() {
        assert_eq!(utc_time(NOW, NOW).len(), "09:14 UTC".len());
        assert_eq!(
            utc_time(NOW - 86_400 * 3, NOW).len(),
            "2026-12-07 09:14 UTC".len()
        );
        assert!(utc_time(u64::MAX, NOW).contains("Unix time"));
    }
}
