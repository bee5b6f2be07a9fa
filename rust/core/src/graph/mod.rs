//! Microsoft Graph app-role management: find identities and resource APIs safely, grant /
//! revoke / set application permissions idempotently in bulk through `$batch`, audit
//! assignments, and a general request escape hatch.
//!
//! The engine does not depend on how tokens are obtained: a [`GraphClient`] is built from an
//! HTTP client, a clock, the Graph endpoint and a [`TokenProvider`]; the FFI crate's protocol
//! edge gives it `context::ContextTokens`, tests a `StaticToken`.
//!
//! Operations (typed as [`GraphOperation`]; the protocol edge decodes them from the wire, where
//! args are camelCase; output objects are typed rows ([`ops::results`]: `ChangeResult`,
//! `AppRoleRow`, `AssignmentRow`) streamed as `Event::Item` in completion order; the
//! return value is an [`OperationSummary`]
//! `{requested, succeeded, failed, requests, batches, elapsedMs, byStatus?, items?}`):
//!
//! | op | args | items |
//! |---|---|---|
//! | `graph.appRoles` | `{resource?="Graph", name?}` (`name`: wildcard `*` `?`) | `{id, value, displayName, description, isEnabled, allowedMemberTypes, resource, resourceId, resourceAppId}` |
//! | `graph.grant` | `{identities, permissions, resource?, whatIf, concurrency?=4}` | `{identity, identityId, identityName, identityType, resource, resourceId, resourceAppId, permission, permissionId, status, assignmentId, error}`; status Granted / AlreadyGranted / WouldGrant / Failed |
//! | `graph.revoke` | same | same; status Revoked / NotAssigned / WouldRevoke / Failed |
//! | `graph.set` | same (`permissions` may be empty) | same; wanted roles as grant, extra roles as revoke |
//! | `graph.assignments` | `{identities, resource?}` | `{identity, identityId, identityName, resource, resourceId, resourceAppId, permission, permissionId, assignmentId, createdDateTime, error}` (a failed identity: one item with `error` set) |
//! | `graph.permissionNames` | `{resource?, prefix?}` | strings |
//! | `graph.report` | `{principalType?="ManagedIdentity"\|"Application"\|"All", riskTable? (JSON text), baseline? (JSON text), html?, summaryOnly?, concurrency?}` | [`report::row::ReportRow`]; the summary adds `principals, identitiesWithPermissions, assignments, byRisk[{riskLevel, assignments, identities}], byDrift?, failed, defaultRiskLevel, html?` |
//! | `graph.request` | `{method?="GET", uri, body?, all?, headers?}` | the JSON body, or each element of every page's `value` with `all` |
//!
//! `error` in items is `null` or `{errorId, category, message}`.

pub mod batch;
pub mod client;
pub mod denied;
pub mod errors;
pub mod first_party;
pub mod grouping;
pub mod model;
pub mod odata;
pub mod ops;
pub mod planner;
pub mod progress;
pub mod report;
pub mod request;
pub(crate) mod resolve;

pub use crate::http::Transport;
pub use client::{ClientOptions, ClientStats, GraphClient, Resend, StaticToken, TokenProvider};

use crate::error::Result;
use crate::events::EventSink;

pub use ops::{
    AppRoleRow, AppRolesQuery, AssignmentRow, AssignmentsQuery, ChangeArgs, ChangeRequest,
    ChangeResult, ChangeStatus, ChangeTarget, GrantPlan, OperationSummary, PermissionNamesQuery,
    ResourceRef,
};
pub use request::GraphRequest;

/// One Graph operation, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphOperation {
    AppRoles(AppRolesQuery),
    Grant(ChangeArgs),
    Revoke(ChangeArgs),
    Set(ChangeArgs),
    Assignments(AssignmentsQuery),
    PermissionNames(PermissionNamesQuery),
    Request(GraphRequest),
    Report(report::ReportQuery),
}

/// Runs one Graph operation with a ready client.
pub async fn run(
    operation: GraphOperation,
    concurrency: Option<usize>,
    client: GraphClient<'_>,
    sink: &dyn EventSink,
) -> Result<OperationSummary> {
    let client = match concurrency {
        None => client,
        Some(n) => {
            let options = ClientOptions {
                concurrency: n,
                ..client.options().clone()
            };
            client.with_options(options)
        }
    };
    match operation {
        GraphOperation::AppRoles(q) => ops::app_roles(&client, q, sink).await,
        GraphOperation::Grant(a) => ops::change(&client, planner::Mode::Grant, a, sink).await,
        GraphOperation::Revoke(a) => ops::change(&client, planner::Mode::Revoke, a, sink).await,
        GraphOperation::Set(a) => ops::change(&client, planner::Mode::Set, a, sink).await,
        GraphOperation::Assignments(q) => ops::assignments(&client, q, sink).await,
        GraphOperation::PermissionNames(q) => ops::permission_names(&client, q, sink).await,
        GraphOperation::Request(r) => request::request(&client, r, sink).await,
        GraphOperation::Report(q) => report::report(&client, q, sink).await,
    }
}
