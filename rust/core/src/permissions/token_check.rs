//! "Is the permission I was granted in my token yet?" (`Test-IdentityPermission`): for each
//! permission, Present (in the token requests use now), NotYetInToken (granted in the directory,
//! but the token predates the grant), NotGranted, or Unknown (not in the token, and the identity
//! may not read its own assignments).
//!
//! A managed identity's token keeps the `roles` it was issued with, and the platform's endpoint
//! caches it (IMDS up to 24 hours), so a role granted after it was issued shows up only in a
//! later token. Renewing goes through [`TokenProvider::renew`]: the module's cache is bypassed,
//! and where the platform lets a client skip its cache (App Service, Service Fabric) it is asked
//! to; elsewhere the answer says until when the platform may keep handing back the old token.
//! With a wait, renewals repeat with backoff until every permission is present or the time is up.

use std::collections::HashSet;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::data::Scheme;
use super::graph;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, EventSink};
use crate::graph::client::GraphClient;
use crate::graph::denied::{held_by, one_line, scheme_of, utc_time};
use crate::input::Input;
use crate::token::{iso8601, AccessToken, PlatformCache, RenewedToken, TokenProvider};

/// Longest list of permissions one call checks.
pub const MAX_PERMISSIONS: usize = 100;
/// First pause between renewals while waiting, doubled up to [`WAIT_STEP_MAX`].
const WAIT_STEP_FIRST: Duration = Duration::from_secs(2);
const WAIT_STEP_MAX: Duration = Duration::from_secs(30);

/// What to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCheck {
    /// Permission names (application roles for an app or managed identity, scopes for a user).
    pub permissions: Vec<String>,
    /// Ask for a new token first (bypassing the module's cache, and the platform's where it
    /// allows).
    pub refresh: bool,
    /// Renew with backoff until every permission is present, at most this long.
    pub wait: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenPermissionStatus {
    /// In the token requests use now.
    Present,
    /// Granted in the directory (or seen in a renewed token) but not in the token in use.
    NotYetInToken,
    /// Neither in the token nor granted.
    NotGranted,
    /// Not in the token; whether it is granted cannot be read with this identity's permissions.
    Unknown,
}

/// One row of `Test-IdentityPermission`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPermissionRow {
    pub permission: String,
    pub status: TokenPermissionStatus,
    pub in_token: bool,
    /// Assigned in the directory: `None` when not read (present in the token, a user's sign-in)
    /// or unreadable.
    pub in_directory: Option<bool>,
    pub identity: Option<String>,
    pub identity_object_id: Option<String>,
    /// `Application` (roles) or `DelegatedWork` / `DelegatedPersonal` (scopes).
    pub scheme: &'static str,
    /// The managed-identity source or sign-in that issued the token.
    pub source: Option<&'static str>,
    pub token_issued_at: Option<String>,
    pub token_expires_at: Option<String>,
    /// Until when the platform may keep handing back this token (its expiry), when the platform
    /// keeps a cache the client cannot skip.
    pub cached_until: Option<String>,
    pub reason: String,
}

/// Runs the check: rows in the order the permissions were given. With a wait, an error of kind
/// `Timeout` (its details carry the last rows) when the time runs out first.
pub async fn run(
    tokens: &dyn TokenProvider,
    client: &GraphClient<'_>,
    check: &TokenCheck,
    sink: &dyn EventSink,
) -> Result<Vec<TokenPermissionRow>> {
    let names = clean_names(&check.permissions)?;
    let clock = client.clock().clone();
    let Some(limit) = check.wait else {
        return Ok(round(tokens, client, &names, check.refresh, sink).await?.0);
    };
    let started = clock.now();
    let mut step = WAIT_STEP_FIRST;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let (rows, issuer) =
            round(tokens, client, &names, check.refresh || attempt > 1, sink).await?;
        let waiting: Vec<&TokenPermissionRow> = rows
            .iter()
            .filter(|r| r.status != TokenPermissionStatus::Present)
            .collect();
        let elapsed = clock.now().duration_since(started).unwrap_or_default();
        if waiting.is_empty() {
            progress(sink, &names, 100, "every permission is in the token", true);
            return Ok(rows);
        }
        if issuer == Some(PlatformCache::Fixed) {
            // Nothing can renew a token given to Connect-Identity: waiting cannot help.
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "this context holds a token given to Connect-Identity, which cannot be renewed, so waiting cannot bring a new role into it: get a new token and connect again",
            )
            .with_details(json!({ "rows": rows })));
        }
        if elapsed >= limit {
            progress(sink, &names, 100, "timed out", true);
            return Err(timed_out(&rows, &waiting, limit));
        }
        let percent = (elapsed.as_secs_f64() * 100.0 / limit.as_secs_f64().max(1.0)) as i32;
        let missing: Vec<&str> = waiting.iter().map(|r| r.permission.as_str()).collect();
        progress(
            sink,
            &names,
            percent.clamp(0, 99),
            &format!(
                "waiting for {} in a new token (attempt {attempt}, {} s of {} s)",
                missing.join(", "),
                elapsed.as_secs(),
                limit.as_secs()
            ),
            false,
        );
        let pause = step
            .min(limit.saturating_sub(elapsed))
            .max(Duration::from_millis(100));
        clock.sleep(pause).await;
        step = (step * 2).min(WAIT_STEP_MAX);
    }
}

fn progress(sink: &dyn EventSink, names: &[String], percent: i32, status: &str, completed: bool) {
    sink.emit(Event::Progress {
        activity: format!("Waiting for {} in this identity's token", names.join(", ")),
        status: status.to_string(),
        percent,
        completed,
    });
}

fn timed_out(
    rows: &[TokenPermissionRow],
    waiting: &[&TokenPermissionRow],
    limit: Duration,
) -> Error {
    let states: Vec<String> = waiting
        .iter()
        .map(|r| format!("{} is {:?} ({})", r.permission, r.status, r.reason))
        .collect();
    Error::new(
        ErrorKind::Timeout,
        format!(
            "after {} s, not every permission is in this identity's token: {}",
            limit.as_secs(),
            states.join("; ")
        ),
    )
    .with_details(json!({ "rows": rows }))
}

/// Trims, drops empties and case-insensitive duplicates; refuses names that are no Graph
/// permission (with suggestions) and over-long lists.
fn clean_names(given: &[String]) -> Result<Vec<String>> {
    let data = graph()?;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    for raw in given {
        let name = raw.trim();
        if name.is_empty() || !seen.insert(name.to_ascii_lowercase()) {
            continue;
        }
        let Some(known) = data.permission(name) else {
            let candidates: Vec<&str> = data.permissions.iter().map(|p| p.name.as_str()).collect();
            let close = crate::names::suggest(name, &candidates, 3);
            return Err(Error::new(
                ErrorKind::UnknownPermission,
                format!(
                    "'{}' is not a Microsoft Graph permission{}",
                    one_line(name),
                    if close.is_empty() {
                        String::new()
                    } else {
                        format!("; did you mean {}?", close.join(", "))
                    }
                ),
            ));
        };
        names.push(known.name.clone());
    }
    if names.is_empty() {
        return Err(Error::invalid_argument(
            "name at least one permission to check",
        ));
    }
    if names.len() > MAX_PERMISSIONS {
        return Err(Error::invalid_argument(format!(
            "at most {MAX_PERMISSIONS} permissions can be checked at once"
        )));
    }
    Ok(names)
}

/// One look: the token in use (renewed when asked), then the directory for what it lacks. Also
/// how the token's issuer caches, when it was renewed.
async fn round(
    tokens: &dyn TokenProvider,
    client: &GraphClient<'_>,
    names: &[String],
    renew: bool,
    sink: &dyn EventSink,
) -> Result<(Vec<TokenPermissionRow>, Option<PlatformCache>)> {
    let renewal: Option<RenewedToken> = if renew {
        Some(tokens.renew().await?)
    } else {
        None
    };
    let token: AccessToken = match &renewal {
        Some(r) => r.token.clone(),
        None => tokens.current().await?,
    };
    let now = client.clock().now_unix();
    let claims = token.claims.clone().unwrap_or_default();
    let scheme = scheme_of(&claims);
    let held: HashSet<String> = held_by(&claims, scheme)
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let lacking = names
        .iter()
        .any(|n| !held.contains(&n.to_ascii_lowercase()));

    // The directory, for an app-only identity whose token lacks something.
    let mut directory: Option<HashSet<String>> = None;
    let mut unreadable: Option<String> = None;
    if lacking && scheme == Scheme::Application {
        match claims.oid.as_deref().filter(|o| uuid::Uuid::parse_str(o).is_ok()) {
            Some(oid) => match super::held_app_roles(client, oid, sink).await {
                Ok(h) => {
                    directory = Some(h.permissions.iter().map(|p| p.to_ascii_lowercase()).collect())
                }
                Err(e) if e.kind == ErrorKind::PermissionDenied => {
                    unreadable = Some(
                        "this identity may not read its own app role assignments (that needs Application.Read.All)"
                            .to_string(),
                    )
                }
                Err(e) if e.kind == ErrorKind::NotFound => {
                    unreadable =
                        Some("the directory has no service principal with the token's object id".to_string())
                }
                Err(e) => return Err(e),
            },
            None => unreadable = Some("the token names no object id".to_string()),
        }
    }

    let identity = claims
        .app_displayname
        .as_deref()
        .or(claims.account.as_deref())
        .or(claims.appid.as_deref())
        .map(one_line);
    let issued = claims.iat.map(|t| utc_time(t, now));
    let platform = renewal.as_ref().map(|r| r.platform_cache);
    let issuer = platform.unwrap_or_else(|| tokens.platform_cache());
    let cached_until = (issuer == PlatformCache::Kept)
        .then(|| iso8601(token.expires_on))
        .flatten();
    let facts = Facts {
        issued: issued.clone(),
        expires: utc_time(token.expires_on, now),
        source: token.source,
        issuer,
        renewal: renewal.as_ref(),
    };
    let rows = names
        .iter()
        .map(|name| {
            let lower = name.to_ascii_lowercase();
            let in_token = held.contains(&lower);
            let in_directory = directory.as_ref().map(|d| d.contains(&lower));
            let (status, reason) = if in_token {
                (
                    TokenPermissionStatus::Present,
                    match &issued {
                        Some(at) => format!("in the token issued {at}"),
                        None => "in the token".to_string(),
                    },
                )
            } else if scheme != Scheme::Application {
                (
                    TokenPermissionStatus::NotGranted,
                    format!(
                        "not among this sign-in's delegated permissions (scp); sign in again asking for it (Connect-Identity with {} {name}); a tenant administrator may need to consent",
                        Input::Scopes
                    ),
                )
            } else {
                match in_directory {
                    Some(true) => (TokenPermissionStatus::NotYetInToken, facts.not_yet(name)),
                    Some(false) => (
                        TokenPermissionStatus::NotGranted,
                        match claims.oid.as_deref() {
                            Some(oid) => format!(
                                "not assigned to this identity; grant it with Grant-GraphAppRole {} {} {} {name}",
                                Input::Identity,
                                one_line(oid),
                                Input::Permission
                            ),
                            None => "not assigned to this identity".to_string(),
                        },
                    ),
                    None => (
                        TokenPermissionStatus::Unknown,
                        format!(
                            "not in the token{}, and {}, so whether it is granted cannot be told; {}",
                            issued
                                .as_deref()
                                .map(|i| format!(" issued {i}"))
                                .unwrap_or_default(),
                            unreadable.as_deref().unwrap_or("the directory was not read"),
                            if renewal.is_some() {
                                "a new token did not carry it either".to_string()
                            } else {
                                format!("{} asks for a new token", Input::Refresh)
                            }
                        ),
                    ),
                }
            };
            TokenPermissionRow {
                permission: name.clone(),
                status,
                in_token,
                in_directory,
                identity: identity.clone(),
                identity_object_id: claims.oid.as_deref().map(one_line),
                scheme: scheme.name(),
                source: token.source,
                token_issued_at: claims.iat.and_then(iso8601),
                token_expires_at: iso8601(token.expires_on),
                cached_until: match status {
                    TokenPermissionStatus::NotYetInToken | TokenPermissionStatus::Unknown => {
                        cached_until.clone()
                    }
                    _ => None,
                },
                reason,
            }
        })
        .collect();
    Ok((rows, platform))
}

/// What the NotYetInToken reason says about the token and its issuer.
struct Facts<'a> {
    issued: Option<String>,
    expires: String,
    source: Option<&'static str>,
    /// How the token's issuer caches it.
    issuer: PlatformCache,
    renewal: Option<&'a RenewedToken>,
}

impl Facts<'_> {
    fn not_yet(&self, name: &str) -> String {
        let issued = self
            .issued
            .as_deref()
            .map(|i| format!(" issued {i}"))
            .unwrap_or_default();
        let head = format!("granted in the directory, but the token{issued} predates the grant");
        let source = self.source.unwrap_or("the token's issuer");
        let tail = match self.renewal.map(|r| (r.platform_cache, r.same_as_before)) {
            None if self.issuer == PlatformCache::Kept => format!(
                "; {source} may keep handing back its cached token until it expires at {}; run Test-IdentityPermission {} {name} {} to ask for a new one",
                self.expires,
                Input::Permission,
                Input::Refresh
            ),
            None => format!(
                "; run Test-IdentityPermission {} {name} {} to ask for a new token",
                Input::Permission,
                Input::Refresh
            ),
            Some((PlatformCache::Kept, true)) => format!(
                "; a new token was asked for, and {source} handed back its cached one: it may do so until the token expires at {}",
                self.expires
            ),
            Some((PlatformCache::Kept, false)) => format!(
                "; even the new token from {source} lacks it: a grant takes minutes to reach new tokens, and {source} may hand back this one until it expires at {}",
                self.expires
            ),
            Some((PlatformCache::Replaceable { asked: true }, _)) => format!(
                "; {source} was asked to replace its cached token, and the new one lacks it too: a grant takes minutes to reach new tokens (use {})",
                Input::Wait
            ),
            Some((PlatformCache::Replaceable { asked: false }, _)) => format!(
                "; {source} issued a new token that lacks it: a grant takes minutes to reach new tokens (use {})",
                Input::Wait
            ),
            Some((PlatformCache::None, _)) => format!(
                "; a new token from Microsoft Entra ID lacks it too: a grant takes minutes to reach new tokens (use {})",
                Input::Wait
            ),
            Some((PlatformCache::Fixed, _)) => {
                "; this context holds a token given to Connect-Identity, which cannot be renewed: get a new token and connect again".to_string()
            }
        };
        format!("{head}{tail}")
    }
}
