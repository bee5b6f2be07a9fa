//! Resolution of user input to directory objects — never first-match, never interpolation.
//!
//! - Identities: a GUID is an object id (R1), then an appId (R2); an ARM resource id is matched
//!   against `alternativeNames`; anything else is an exact display name. Zero matches →
//!   `NotFound`; several → `AmbiguousName` listing every candidate. Results are re-checked on the
//!   client side, so a server that widened a filter could never widen a lookup.
//! - Resources: aliases (Graph, Exchange, SharePoint, KeyVault, ARM…) and well-known first-party
//!   names resolve by their well-known appId; a GUID is an appId, then an object id; a URI is a
//!   `servicePrincipalNames` entry; anything else an exact, unique display name. Anything that
//!   looks first-party must be owned by Microsoft's tenant and carry the well-known appId.
//! - Permissions: role `value`s matched case-insensitively among roles that allow
//!   `Application`; unknown names get suggestions.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use uuid::Uuid;

use super::batch::{self, Completion, SubRequest};
use super::client::GraphClient;
use super::errors::Access;
use super::model::{
    page_values, AppRole, Assignment, ServicePrincipal, IDENTITY_SELECT, MICROSOFT_TENANT_ID,
    RESOURCE_SELECT,
};
use super::odata::{ApiPath, Filter};
use super::progress::Progress;
use crate::error::{Error, ErrorKind, Result};

/// A Microsoft first-party resource API.
#[derive(Debug, Clone, Copy)]
pub struct FirstParty {
    pub aliases: &'static [&'static str],
    pub names: &'static [&'static str],
    /// The first one is the public-cloud appId.
    pub app_ids: &'static [&'static str],
    /// Token audiences (servicePrincipalNames) users may type instead.
    pub uris: &'static [&'static str],
}

pub const FIRST_PARTY: &[FirstParty] = &[
    FirstParty {
        aliases: &["Graph", "MicrosoftGraph", "MSGraph"],
        names: &["Microsoft Graph"],
        app_ids: &["00000003-0000-0000-c000-000000000000"],
        uris: &[
            "https://graph.microsoft.com",
            "https://graph.microsoft.us",
            "https://dod-graph.microsoft.us",
            "https://microsoftgraph.chinacloudapi.cn",
        ],
    },
    FirstParty {
        aliases: &["Exchange", "ExchangeOnline"],
        names: &["Office 365 Exchange Online"],
        app_ids: &["00000002-0000-0ff1-ce00-000000000000"],
        uris: &[
            "https://outlook.office365.com",
            "https://outlook.office.com",
        ],
    },
    FirstParty {
        aliases: &["SharePoint", "SharePointOnline"],
        names: &["Office 365 SharePoint Online"],
        app_ids: &["00000003-0000-0ff1-ce00-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &["KeyVault", "AzureKeyVault"],
        names: &["Azure Key Vault"],
        app_ids: &[
            "cfa8b339-82a2-471a-a3c9-0fc0be7a4093",
            "7e7c393b-45d0-48b1-a35e-2905ddf8183c",
        ],
        uris: &[
            "https://vault.azure.net",
            "https://vault.usgovcloudapi.net",
            "https://vault.azure.cn",
        ],
    },
    FirstParty {
        aliases: &["ARM", "AzureServiceManagement", "AzureResourceManager"],
        names: &["Windows Azure Service Management API"],
        app_ids: &["797f4846-ba00-4fd7-ba43-dac1f8f63013"],
        uris: &[
            "https://management.azure.com",
            "https://management.core.windows.net",
        ],
    },
    FirstParty {
        aliases: &[],
        names: &["Windows Azure Active Directory"],
        app_ids: &["00000002-0000-0000-c000-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &[],
        names: &["Skype for Business Online"],
        app_ids: &["00000004-0000-0ff1-ce00-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &["PowerBI"],
        names: &["Power BI Service"],
        app_ids: &["00000009-0000-0000-c000-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &["Dataverse"],
        names: &["Dataverse", "Common Data Service"],
        app_ids: &["00000007-0000-0000-c000-000000000000"],
        uris: &[],
    },
    FirstParty {
        aliases: &[],
        names: &["Office 365 Management APIs"],
        app_ids: &["00b41c95-dab0-4487-9791-b9d2c32c80f2"],
        uris: &[],
    },
];

impl FirstParty {
    fn by_alias_or_name(input: &str) -> Option<&'static FirstParty> {
        FIRST_PARTY.iter().find(|f| {
            f.aliases
                .iter()
                .chain(f.names.iter())
                .chain(f.uris.iter())
                .any(|a| a.eq_ignore_ascii_case(input))
        })
    }
    fn by_app_id(app_id: &str) -> Option<&'static FirstParty> {
        FIRST_PARTY
            .iter()
            .find(|f| f.app_ids.iter().any(|a| a.eq_ignore_ascii_case(app_id)))
    }
    fn by_name(name: &str) -> Option<&'static FirstParty> {
        let name = name.trim();
        FIRST_PARTY
            .iter()
            .find(|f| f.names.iter().any(|a| a.eq_ignore_ascii_case(name)))
    }
    /// The appId for the cloud of `graph_host` (Key Vault differs in Azure Government).
    fn app_id_for(&self, graph_host: &str) -> &'static str {
        let gov =
            graph_host.ends_with(".microsoft.us") || graph_host.ends_with(".usgovcloudapi.net");
        match (gov, self.app_ids) {
            (true, [_, gov_id, ..]) => gov_id,
            (_, [first, ..]) => first,
            _ => "",
        }
    }
}

fn parse_guid(text: &str) -> Option<Uuid> {
    let t = text.trim();
    // Accept the hyphenated and braced forms users copy from portals; not the 32-hex form.
    if t.len() == 36 || (t.len() == 38 && t.starts_with('{') && t.ends_with('}')) {
        Uuid::parse_str(t).ok()
    } else {
        None
    }
}

/// Resolves the resource API's service principal (with its app roles) and checks that anything
/// presenting itself as a Microsoft first-party API really is one.
pub async fn resolve_resource(
    client: &GraphClient<'_>,
    input: Option<&str>,
) -> Result<ServicePrincipal> {
    let input = input
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("Graph");
    let what = format!("looking up the resource '{input}'");
    let host = client.base().host_str().unwrap_or("").to_ascii_lowercase();
    let mut expected = FirstParty::by_alias_or_name(input);
    let sp = if let Some(fp) = expected {
        let app_id = parse_guid(fp.app_id_for(&host))
            .ok_or_else(|| Error::internal("bad well-known appId"))?;
        get_optional(
            client,
            ApiPath::new("servicePrincipals").alternate_key("appId", app_id),
            &what,
        )
        .await?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "The service principal of '{}' (appId {app_id}) does not exist in this tenant.",
                    fp.names[0]
                ),
            )
        })?
    } else if let Some(g) = parse_guid(input) {
        expected = FirstParty::by_app_id(&g.to_string());
        match get_optional(
            client,
            ApiPath::new("servicePrincipals").alternate_key("appId", g),
            &what,
        )
        .await?
        {
            Some(sp) => sp,
            None => get_optional(client, ApiPath::new("servicePrincipals").id(g), &what)
                .await?
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::NotFound,
                        format!("No service principal has the appId or object id '{g}'."),
                    )
                })?,
        }
    } else {
        let by_uri = input.contains("://");
        let filter = if by_uri {
            Filter::any_eq("servicePrincipalNames", input)
        } else {
            Filter::eq("displayName", input)
        };
        let path = ApiPath::new("servicePrincipals")
            .filter(filter)
            .select(RESOURCE_SELECT);
        let mut found = Vec::new();
        client
            .get_pages(
                client.url(&path)?,
                Default::default(),
                Access::Read,
                &what,
                |page| found.extend(page),
            )
            .await?;
        let mut candidates = Vec::new();
        for v in &found {
            let sp = ServicePrincipal::from_value(v)?;
            let matches = if by_uri {
                sp.service_principal_names
                    .iter()
                    .flatten()
                    .any(|n| n.eq_ignore_ascii_case(input))
            } else {
                sp.name().eq_ignore_ascii_case(input)
            };
            if matches {
                candidates.push(sp);
            }
        }
        match candidates.len() {
            0 => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("No service principal is named '{input}'. Use an alias (Graph, Exchange, SharePoint, KeyVault, ARM), an appId or an object id."),
                ))
            }
            1 => candidates.remove(0),
            _ => return Err(ambiguous(input, &candidates)),
        }
    };
    let expected = expected
        .or_else(|| FirstParty::by_name(sp.name()))
        .or_else(|| sp.app_id.as_deref().and_then(FirstParty::by_app_id));
    if let Some(fp) = expected {
        check_first_party(&sp, fp)?;
    }
    Ok(sp)
}

fn check_first_party(sp: &ServicePrincipal, fp: &FirstParty) -> Result<()> {
    let owner = sp.app_owner_organization_id.as_deref().unwrap_or("");
    let app_id = sp.app_id.as_deref().unwrap_or("");
    let looks_like = if FirstParty::by_name(sp.name()).is_some() {
        sp.name()
    } else {
        fp.names[0]
    };
    let details = json!({
        "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name,
        "appOwnerOrganizationId": sp.app_owner_organization_id,
        "expectedAppIds": fp.app_ids, "expectedOwner": MICROSOFT_TENANT_ID,
    });
    if !owner.eq_ignore_ascii_case(MICROSOFT_TENANT_ID) {
        let owner = if owner.is_empty() { "(none)" } else { owner };
        return Err(Error::new(
            ErrorKind::UntrustedResource,
            format!(
                "The service principal '{}' (appId {app_id}, id {}) is named '{looks_like}' but is owned by tenant {owner}, \
                 not Microsoft ({MICROSOFT_TENANT_ID}); refusing to use it.",
                sp.name(),
                sp.id
            ),
        )
        .with_details(details));
    }
    if !fp.app_ids.iter().any(|a| a.eq_ignore_ascii_case(app_id)) {
        return Err(Error::new(
            ErrorKind::UntrustedResource,
            format!(
                "The service principal '{}' (id {}) is named '{looks_like}' but its appId is {app_id}, not the well-known {}; refusing to use it.",
                sp.name(),
                sp.id,
                fp.app_ids.join(" or ")
            ),
        )
        .with_details(details));
    }
    Ok(())
}

/// GET a single service principal; 404 → `None`.
async fn get_optional(
    client: &GraphClient<'_>,
    path: ApiPath,
    what: &str,
) -> Result<Option<ServicePrincipal>> {
    let url = client.url(&path.select(RESOURCE_SELECT))?;
    let resp = client
        .send(reqwest::Method::GET, url, Default::default(), None)
        .await?;
    if resp.status == 404 {
        return Ok(None);
    }
    let body = super::client::check(&resp, Access::Read, what)?;
    ServicePrincipal::from_value(&body).map(Some)
}

fn ambiguous(input: &str, candidates: &[ServicePrincipal]) -> Error {
    let list: Vec<String> = candidates.iter().map(ServicePrincipal::describe).collect();
    let details: Vec<Value> = candidates
        .iter()
        .map(|c| json!({"id": c.id, "appId": c.app_id, "displayName": c.display_name, "servicePrincipalType": c.service_principal_type}))
        .collect();
    Error::new(
        ErrorKind::AmbiguousName,
        format!(
            "The name '{input}' matches {} service principals: {}. Pass the object id (or the ARM resource id) instead.",
            candidates.len(),
            list.join("; ")
        ),
    )
    .with_details(json!({ "candidates": details }))
}

// ---------------------------------------------------------------------------------------------
// Permissions

/// Resolves permission names (role values, case-insensitive; or role ids) to the resource's
/// application roles, de-duplicated, in input order. Unknown names fail with suggestions; roles
/// only users can hold fail with `PermissionNotGrantable`; so do disabled roles when `granting`.
pub fn resolve_permissions(
    resource: &ServicePrincipal,
    inputs: &[String],
    granting: bool,
) -> Result<Vec<AppRole>> {
    let roles = resource.roles();
    let mut out: Vec<AppRole> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut not_grantable: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for raw in inputs {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Error::invalid_argument("a permission name is empty"));
        }
        if !seen.insert(name.to_lowercase()) {
            continue;
        }
        let by_id = parse_guid(name);
        let matched: Vec<&AppRole> = roles
            .iter()
            .filter(|r| {
                r.value
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(name))
                    || Some(r.id) == by_id
            })
            .collect();
        match matched.iter().find(|r| r.for_applications()) {
            Some(role) if granting && !role.enabled() => not_grantable.push(format!(
                "'{}' of '{}' is disabled and cannot be granted",
                role.name(),
                resource.name()
            )),
            Some(role) => {
                if !out.iter().any(|r| r.id == role.id) {
                    out.push((*role).clone());
                }
            }
            None if !matched.is_empty() => not_grantable.push(format!(
                "'{}' of '{}' can be granted to users only (allowedMemberTypes: {}); it cannot be granted to a managed identity or application",
                matched[0].name(),
                resource.name(),
                matched[0].allowed_member_types.clone().unwrap_or_default().join(", ")
            )),
            None => unknown.push(name.to_string()),
        }
    }
    if !unknown.is_empty() {
        let grantable: Vec<&str> = roles
            .iter()
            .filter(|r| r.for_applications() && r.enabled())
            .filter_map(|r| r.value.as_deref())
            .collect();
        let mut parts = Vec::new();
        let mut suggestions = serde_json::Map::new();
        for name in &unknown {
            let s = suggest(name, &grantable, 3);
            let hint = if grantable.is_empty() {
                " It defines no application permissions.".to_string()
            } else if s.is_empty() {
                String::new()
            } else {
                format!(
                    " Did you mean {}?",
                    s.iter()
                        .map(|x| format!("'{x}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            parts.push(format!(
                "'{name}' is not an application permission of '{}'.{hint}",
                resource.name()
            ));
            suggestions.insert(name.clone(), json!(s));
        }
        return Err(Error::new(ErrorKind::UnknownPermission, parts.join(" "))
            .with_details(json!({"unknown": unknown, "suggestions": suggestions, "resource": resource.name()})));
    }
    if !not_grantable.is_empty() {
        return Err(Error::new(
            ErrorKind::PermissionNotGrantable,
            format!("{}.", not_grantable.join("; ")),
        ));
    }
    Ok(out)
}

/// Up to `n` close names: case-insensitive prefix matches first, then by edit distance
/// (optimal string alignment, so a transposition costs 1).
pub fn suggest(input: &str, candidates: &[&str], n: usize) -> Vec<String> {
    let a: Vec<char> = input.to_lowercase().chars().collect();
    let limit = (a.len() / 3).max(2);
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    for c in candidates {
        let b: Vec<char> = c.to_lowercase().chars().collect();
        if a.len() >= 3 && b.starts_with(&a) {
            scored.push((0, b.len(), c));
            continue;
        }
        let d = osa_distance(&a, &b);
        if d <= limit {
            scored.push((1 + d, b.len(), c));
        }
    }
    scored.sort();
    scored.dedup_by(|x, y| x.2 == y.2);
    scored
        .into_iter()
        .take(n)
        .map(|(_, _, c)| c.to_string())
        .collect()
}

fn osa_distance(a: &[char], b: &[char]) -> usize {
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// PowerShell-style wildcard match (`*`, `?`), case-insensitive. No pattern = match.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

// ---------------------------------------------------------------------------------------------
// Identities (batched)

/// Which of an identity's app-role assignments to read while resolving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentQuery {
    None,
    /// Only assignments on this resource (`$filter=resourceId eq {id}`).
    Resource(Uuid),
    All,
}

/// A resolved identity and (when asked) its current assignments.
#[derive(Debug, Clone)]
pub struct ResolvedIdentity {
    pub sp: ServicePrincipal,
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Clone)]
enum Input {
    Id(Uuid),
    Arm(String),
    Name(String),
}

#[derive(Debug)]
enum AssignState {
    Loading(Vec<Assignment>),
    Done(Vec<Assignment>),
    Missing,
    Failed(Error),
}

struct IdState {
    text: String,
    input: Option<Input>,
    sp: Option<ServicePrincipal>,
    candidates: Vec<ServicePrincipal>,
    error: Option<Error>,
    assignments: HashMap<Uuid, AssignState>,
    /// Already counted as finished (progress).
    counted: bool,
}

#[derive(Debug, Clone, Copy)]
enum Key {
    ById(usize),
    ByAppId(usize),
    Filter(usize),
    Assign(usize, Uuid),
}

fn classify(text: &str) -> Result<Input> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::invalid_argument("an identity is empty"));
    }
    if let Some(g) = parse_guid(t) {
        return Ok(Input::Id(g));
    }
    if t.get(..15)
        .is_some_and(|p| p.eq_ignore_ascii_case("/subscriptions/"))
    {
        return Ok(Input::Arm(t.trim_end_matches('/').to_string()));
    }
    Ok(Input::Name(t.to_string()))
}

fn assignments_path(id: Uuid, query: AssignmentQuery) -> ApiPath {
    let p = ApiPath::new("servicePrincipals")
        .id(id)
        .segment("appRoleAssignments");
    match query {
        AssignmentQuery::Resource(r) => p.filter(Filter::eq("resourceId", r)),
        _ => p,
    }
}

/// Resolves every input (in one stream of batches: SP lookups, then each SP's assignments,
/// following next links) and returns one outcome per input, in input order.
pub async fn resolve_identities(
    client: &GraphClient<'_>,
    inputs: &[String],
    query: AssignmentQuery,
    progress: &mut Progress<'_>,
) -> Vec<Result<ResolvedIdentity>> {
    let mut states: Vec<IdState> = inputs
        .iter()
        .map(|text| {
            let (input, error) = match classify(text) {
                Ok(i) => (Some(i), None),
                Err(e) => (None, Some(e)),
            };
            IdState {
                text: text.clone(),
                input,
                sp: None,
                candidates: Vec::new(),
                error,
                assignments: HashMap::new(),
                counted: false,
            }
        })
        .collect();
    let mut initial = Vec::new();
    for (i, st) in states.iter().enumerate() {
        match &st.input {
            Some(Input::Id(g)) => {
                initial.push((
                    Key::ById(i),
                    get(ApiPath::new("servicePrincipals")
                        .id(*g)
                        .select(IDENTITY_SELECT)),
                ));
                if query != AssignmentQuery::None {
                    // Speculative: most GUIDs are object ids; fetch the assignments in the same batch.
                    initial.push((Key::Assign(i, *g), get(assignments_path(*g, query))));
                }
            }
            Some(Input::Arm(arm)) => initial.push((
                Key::Filter(i),
                get(ApiPath::new("servicePrincipals")
                    .filter(Filter::any_eq("alternativeNames", arm.as_str()))
                    .select(IDENTITY_SELECT)),
            )),
            Some(Input::Name(name)) => initial.push((
                Key::Filter(i),
                get(ApiPath::new("servicePrincipals")
                    .filter(Filter::eq("displayName", name.as_str()))
                    .select(IDENTITY_SELECT)),
            )),
            None => {}
        }
    }
    let total = states.len();
    progress.update(0, total, "Resolving identities");
    let mut finished = 0usize;
    for st in states.iter_mut().filter(|s| s.input.is_none()) {
        st.counted = true;
        finished += 1;
    }
    let mut round = initial;
    for pass in 0..3 {
        if round.is_empty() {
            break;
        }
        batch::run(client, round, |key, done| {
            let (follow, identity_done) = on_read(client, &mut states, key, done, query, pass > 0);
            if identity_done {
                finished += 1;
                progress.update(finished.min(total), total, "Resolving identities");
            }
            follow
        })
        .await;
        // Identities whose assignments are not known yet (a speculative query that missed, or a
        // 404 from replication lag): read them again.
        round = Vec::new();
        if query != AssignmentQuery::None {
            for (i, st) in states.iter_mut().enumerate() {
                let Some(sp) = &st.sp else { continue };
                if st.error.is_some() {
                    continue;
                }
                let id = sp.id;
                match st.assignments.get(&id) {
                    Some(AssignState::Done(_)) | Some(AssignState::Failed(_)) => {}
                    _ => {
                        st.assignments.insert(id, AssignState::Loading(Vec::new()));
                        round.push((Key::Assign(i, id), get(assignments_path(id, query))));
                    }
                }
            }
        }
    }
    states
        .into_iter()
        .map(|st| {
            if let Some(e) = st.error {
                return Err(e);
            }
            let sp = st.sp.ok_or_else(|| Error::new(ErrorKind::NotFound, format!("'{}' was not found.", st.text)))?;
            let assignments = match query {
                AssignmentQuery::None => Vec::new(),
                _ => match st.assignments.into_iter().find(|(k, _)| *k == sp.id).map(|(_, v)| v) {
                    Some(AssignState::Done(list)) => list
                        .into_iter()
                        .filter(|a| match query {
                            AssignmentQuery::Resource(r) => a.resource_id == r,
                            _ => true,
                        })
                        .collect(),
                    Some(AssignState::Failed(e)) => return Err(e),
                    _ => {
                        return Err(Error::new(
                            ErrorKind::NotFound,
                            format!("The app role assignments of '{}' ({}) could not be read: the service principal was not found (it may still be replicating).", sp.name(), sp.id),
                        ))
                    }
                },
            };
            Ok(ResolvedIdentity { sp, assignments })
        })
        .collect()
}

fn get(path: ApiPath) -> SubRequest {
    SubRequest::get(path.relative())
}

/// Handles one read; returns follow-up requests and whether this identity just finished
/// (for progress).
fn on_read(
    client: &GraphClient<'_>,
    states: &mut [IdState],
    key: Key,
    done: Completion,
    query: AssignmentQuery,
    final_pass: bool,
) -> (Vec<(Key, SubRequest)>, bool) {
    let idx = match key {
        Key::ById(i) | Key::ByAppId(i) | Key::Filter(i) | Key::Assign(i, _) => i,
    };
    let Some(st) = states.get_mut(idx) else {
        return (Vec::new(), false);
    };
    let follow = on_read_inner(client, st, key, done, query, final_pass);
    let newly = !st.counted && is_finished(st, query != AssignmentQuery::None);
    if newly {
        st.counted = true;
    }
    (follow, newly)
}

fn on_read_inner(
    client: &GraphClient<'_>,
    st: &mut IdState,
    key: Key,
    done: Completion,
    query: AssignmentQuery,
    final_pass: bool,
) -> Vec<(Key, SubRequest)> {
    let what = format!("looking up the identity '{}'", st.text);
    let mut follow = Vec::new();
    let want_assignments = query != AssignmentQuery::None;
    let response = match done.response {
        Ok(r) => r,
        Err(e) => {
            match key {
                Key::Assign(_, id) => {
                    st.assignments.insert(id, AssignState::Failed(e));
                }
                _ => st.error = Some(e),
            }
            return follow;
        }
    };
    let fail = |r: &super::batch::SubResponse| r.error_info().to_error(Access::Read, &what);
    match key {
        Key::ById(i) | Key::ByAppId(i) => {
            if response.is_success() {
                match ServicePrincipal::from_value(&response.body) {
                    Ok(sp) => {
                        if want_assignments && matches!(key, Key::ByAppId(_)) {
                            st.assignments
                                .insert(sp.id, AssignState::Loading(Vec::new()));
                            follow
                                .push((Key::Assign(i, sp.id), get(assignments_path(sp.id, query))));
                        }
                        st.sp = Some(sp);
                    }
                    Err(e) => st.error = Some(e),
                }
            } else if response.status == 404 {
                match (key, &st.input) {
                    (Key::ById(_), Some(Input::Id(g))) => {
                        follow.push((
                            Key::ByAppId(i),
                            get(ApiPath::new("servicePrincipals")
                                .alternate_key("appId", *g)
                                .select(IDENTITY_SELECT)),
                        ));
                    }
                    _ => {
                        st.error = Some(
                            Error::new(
                                ErrorKind::NotFound,
                                format!(
                                    "No service principal has the object id or appId '{}'.",
                                    st.text.trim()
                                ),
                            )
                            .with_details(response.error_info().details()),
                        )
                    }
                }
            } else {
                st.error = Some(fail(&response));
            }
        }
        Key::Filter(i) => {
            if !response.is_success() {
                st.error = Some(fail(&response));
            } else {
                match page_values(&response.body) {
                    Err(e) => st.error = Some(e),
                    Ok(values) => {
                        for v in values {
                            match ServicePrincipal::from_value(v) {
                                Ok(sp) => st.candidates.push(sp),
                                Err(e) => st.error = Some(e),
                            }
                        }
                        if let Some(link) = response.next_link() {
                            match client.relative_from_link(link) {
                                Ok(rel) => follow.push((Key::Filter(i), SubRequest::get(rel))),
                                Err(e) => st.error = Some(e),
                            }
                        } else if st.error.is_none() {
                            decide(st);
                            if let (Some(sp), true) = (&st.sp, want_assignments) {
                                st.assignments
                                    .insert(sp.id, AssignState::Loading(Vec::new()));
                                follow.push((
                                    Key::Assign(i, sp.id),
                                    get(assignments_path(sp.id, query)),
                                ));
                            }
                        }
                    }
                }
            }
        }
        Key::Assign(i, id) => {
            let state = if response.is_success() {
                let mut list = match st.assignments.remove(&id) {
                    Some(AssignState::Loading(l)) => l,
                    _ => Vec::new(),
                };
                let parsed: Result<Vec<Assignment>> = page_values(&response.body)
                    .and_then(|values| values.iter().map(Assignment::from_value).collect());
                match parsed {
                    Err(e) => AssignState::Failed(e),
                    Ok(items) => {
                        list.extend(items);
                        match response.next_link().map(|l| client.relative_from_link(l)) {
                            Some(Ok(rel)) => {
                                follow.push((Key::Assign(i, id), SubRequest::get(rel)));
                                AssignState::Loading(list)
                            }
                            Some(Err(e)) => AssignState::Failed(e),
                            None => AssignState::Done(list),
                        }
                    }
                }
            } else if response.status == 404 && !final_pass {
                AssignState::Missing
            } else {
                AssignState::Failed(fail(&response))
            };
            st.assignments.insert(id, state);
        }
    }
    follow
}

fn is_finished(st: &IdState, want_assignments: bool) -> bool {
    if st.error.is_some() {
        return true;
    }
    match &st.sp {
        None => false,
        Some(sp) => {
            !want_assignments
                || matches!(
                    st.assignments.get(&sp.id),
                    Some(AssignState::Done(_)) | Some(AssignState::Failed(_))
                )
        }
    }
}

/// Picks the unique candidate whose name (or alternative name) really equals the input.
fn decide(st: &mut IdState) {
    let candidates = std::mem::take(&mut st.candidates);
    let matching: Vec<ServicePrincipal> = match &st.input {
        Some(Input::Arm(arm)) => candidates
            .into_iter()
            .filter(|c| {
                c.alternative_names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_end_matches('/').eq_ignore_ascii_case(arm))
            })
            .collect(),
        Some(Input::Name(name)) => candidates
            .into_iter()
            .filter(|c| c.name().eq_ignore_ascii_case(name))
            .collect(),
        _ => candidates,
    };
    let mut unique: Vec<ServicePrincipal> = Vec::new();
    for c in matching {
        if !unique.iter().any(|u| u.id == c.id) {
            unique.push(c);
        }
    }
    match unique.len() {
        0 => {
            let message = match &st.input {
                Some(Input::Arm(arm)) => {
                    format!("No managed identity has the resource id '{arm}'.")
                }
                _ => format!("No service principal is named '{}'.", st.text.trim()),
            };
            st.error = Some(Error::new(ErrorKind::NotFound, message));
        }
        1 => st.sp = unique.pop(),
        _ => st.error = Some(ambiguous(st.text.trim(), &unique)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(id: u128, value: &str, types: &[&str]) -> AppRole {
        AppRole {
            id: Uuid::from_u128(id),
            value: Some(value.into()),
            display_name: None,
            description: None,
            is_enabled: Some(true),
            allowed_member_types: Some(types.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn graph() -> ServicePrincipal {
        ServicePrincipal {
            id: Uuid::from_u128(1),
            app_id: Some("00000003-0000-0000-c000-000000000000".into()),
            display_name: Some("Microsoft Graph".into()),
            service_principal_type: Some("Application".into()),
            alternative_names: None,
            app_roles: Some(vec![
                role(10, "Mail.Send", &["Application"]),
                role(11, "Mail.Read", &["Application"]),
                role(12, "Mail.ReadWrite", &["Application"]),
                role(13, "User.Read.All", &["Application", "User"]),
                role(14, "Tasks.ReadWrite.Shared", &["User"]),
            ]),
            app_owner_organization_id: Some(MICROSOFT_TENANT_ID.into()),
            service_principal_names: None,
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn permissions_resolve_case_insensitively_and_dedupe() {
        let roles = resolve_permissions(
            &graph(),
            &names(&["mail.send", "MAIL.SEND", "user.read.all"]),
            true,
        )
        .unwrap();
        let values: Vec<String> = roles.iter().map(AppRole::name).collect();
        assert_eq!(values, ["Mail.Send", "User.Read.All"]);
        let by_id =
            resolve_permissions(&graph(), &names(&[&Uuid::from_u128(11).to_string()]), true)
                .unwrap();
        assert_eq!(by_id[0].name(), "Mail.Read");
    }

    #[test]
    fn unknown_permission_suggests_close_names() {
        let e = resolve_permissions(&graph(), &names(&["Mail.Sned"]), true).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownPermission);
        assert!(
            e.message.contains("Did you mean 'Mail.Send'"),
            "{}",
            e.message
        );
        assert_eq!(
            e.details.unwrap()["suggestions"]["Mail.Sned"][0],
            "Mail.Send"
        );
        assert_eq!(
            suggest(
                "mail.",
                &["Mail.Send", "Mail.Read", "Mail.ReadWrite", "User.Read.All"],
                3
            ),
            ["Mail.Read", "Mail.Send", "Mail.ReadWrite"]
        );
        assert!(suggest("Zzzzzz", &["Mail.Send"], 3).is_empty());
    }

    #[test]
    fn user_only_roles_are_not_grantable() {
        let e =
            resolve_permissions(&graph(), &names(&["Tasks.ReadWrite.Shared"]), true).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PermissionNotGrantable);
        assert!(e.message.contains("users only"));
    }

    #[test]
    fn first_party_checks() {
        let fp = FirstParty::by_alias_or_name("graph").unwrap();
        assert!(check_first_party(&graph(), fp).is_ok());
        let mut fake = graph();
        fake.app_owner_organization_id = Some("0badc0de-0000-4000-8000-00000000f00d".into());
        let e = check_first_party(&fake, fp).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UntrustedResource);
        assert!(
            e.message
                .contains("is named 'Microsoft Graph' but is owned by tenant 0badc0de"),
            "{}",
            e.message
        );
        let mut wrong_app = graph();
        wrong_app.app_id = Some("d15ea5ed-0000-4000-8000-00000000bad1".into());
        assert_eq!(
            check_first_party(&wrong_app, fp).unwrap_err().kind,
            ErrorKind::UntrustedResource
        );
        let kv = FirstParty::by_alias_or_name("KEYVAULT").unwrap();
        assert_eq!(
            kv.app_id_for("graph.microsoft.us"),
            "7e7c393b-45d0-48b1-a35e-2905ddf8183c"
        );
        assert_eq!(
            kv.app_id_for("graph.microsoft.com"),
            "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("mail.*", "Mail.Send"));
        assert!(wildcard_match("*read*", "User.Read.All"));
        assert!(wildcard_match("Mail.Sen?", "Mail.Send"));
        assert!(!wildcard_match("Mail.Sen?", "Mail.Sends"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("a*b", "acbx"));
        assert!(wildcard_match("a*b*c", "aXbYbZc"));
    }

    #[test]
    fn identity_inputs_are_classified() {
        assert!(matches!(
            classify(" 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b01 "),
            Ok(Input::Id(_))
        ));
        assert!(
            matches!(classify("/SUBSCRIPTIONS/x/resourceGroups/y/"), Ok(Input::Arm(a)) if a == "/SUBSCRIPTIONS/x/resourceGroups/y")
        );
        assert!(matches!(classify("O'Brien-func"), Ok(Input::Name(_))));
        assert!(matches!(
            classify("9f8e7d6c5b4a439281706f5e4d3c2b01"),
            Ok(Input::Name(_))
        ));
        assert_eq!(classify("  ").unwrap_err().kind, ErrorKind::InvalidArgument);
        // Multi-byte characters around the prefix boundary never panic.
        assert!(matches!(classify("/subscriptionsé/x"), Ok(Input::Name(_))));
        assert!(matches!(classify("ééééééééé"), Ok(Input::Name(_))));
    }
}
