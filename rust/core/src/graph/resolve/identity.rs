//! Identities → service principals (and their assignments when asked), resolved in one stream
//! of batches.

use std::collections::HashMap;

use uuid::Uuid;

use super::{ambiguous, parse_guid};
use crate::error::{Error, ErrorKind, Result};
use crate::graph::batch::{self, Completion, SubRequest};
use crate::graph::client::GraphClient;
use crate::graph::errors::Access;
use crate::graph::model::{page_values, Assignment, ServicePrincipal, IDENTITY_SELECT};
use crate::graph::odata::{ApiPath, Filter};
use crate::graph::progress::Progress;

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

/// "No service principal has …", with the replication hint when the input is a GUID: a principal
/// created moments ago (by another process or script) reaches Microsoft Graph only after directory
/// replication. Still fails at once.
fn not_found_message(text: &str, input: Option<&Input>) -> String {
    let mut message = format!("No service principal has the object id or appId '{text}'.");
    if matches!(input, Some(Input::Id(_))) {
        message.push_str(
            " If this principal was created in the last few minutes, it may still be replicating to Microsoft Graph: \
             pipe the command that created it into the grant (New-UserAssignedIdentity … | Grant-GraphAppRole …, \
             which waits for it), or retry in a minute.",
        );
    }
    message
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
    let (method, url) = (done.method.clone(), done.url.clone());
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
    let fail = |r: &batch::SubResponse| {
        client.refusal(&r.error_info(), method.as_str(), &url, Access::Read, &what)
    };
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
                                not_found_message(st.text.trim(), st.input.as_ref()),
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
