//! Microsoft Graph app-role management: find identities and resource APIs safely, grant /
//! revoke / set application permissions idempotently in bulk through `$batch`, audit
//! assignments, and a general request escape hatch.
//!
//! The engine does not depend on how tokens are obtained: a [`GraphClient`] is built from an
//! HTTP client, a clock, the Graph endpoint and a [`TokenProvider`]; [`execute`] adapts a
//! [`Context`] into a provider, tests use [`StaticToken`].
//!
//! Operations (JSON args are camelCase; output objects are streamed as `Event::Item` in
//! completion order; the return value is a summary
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
//! | `graph.request` | `{method?="GET", uri, body?, all?, headers?}` | the JSON body, or each element of every page's `value` with `all` |
//!
//! `error` in items is `null` or `{errorId, category, message}`.

pub mod batch;
pub mod client;
pub mod errors;
pub mod grouping;
pub mod model;
pub mod odata;
pub mod ops;
pub mod planner;
pub mod progress;
pub mod request;
mod resolve;

use futures::future::BoxFuture;
use serde_json::Value;

pub use crate::http::Transport;
pub use client::{ClientOptions, ClientStats, GraphClient, StaticToken, TokenProvider};

use crate::api::Services;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::EventSink;
use crate::secret::Secret;

/// Adapts a context into a [`TokenProvider`] (tokens for the context's Graph resource, cached
/// upstream).
struct ContextTokens<'a> {
    ctx: &'a Context,
    svc: &'a Services,
    sink: &'a dyn EventSink,
}

impl TokenProvider for ContextTokens<'_> {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret>> {
        Box::pin(async move {
            let token = self
                .ctx
                .token(Some(self.ctx.graph_resource()), false, self.svc, self.sink)
                .await?;
            Ok(token.secret)
        })
    }
}

/// Runs one `graph.*` operation for a context.
pub async fn execute(
    op: &str,
    ctx: &Context,
    args: &Value,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Value> {
    let tokens = ContextTokens { ctx, svc, sink };
    let client = GraphClient::with_transport(
        svc.service_transport.clone(),
        svc.clock.clone(),
        ctx.graph_endpoint().clone(),
        Box::new(tokens),
    );
    run(op, client, args, sink).await
}

/// Runs one `graph.*` operation with a ready client (the `context` argument is ignored). An
/// optional `concurrency` argument (1..=16) overrides the client's concurrency.
pub async fn run(
    op: &str,
    client: GraphClient<'_>,
    args: &Value,
    sink: &dyn EventSink,
) -> Result<Value> {
    let client = match args.get("concurrency") {
        None | Some(Value::Null) => client,
        Some(v) => {
            let n = v.as_u64().filter(|n| (1..=16).contains(n)).ok_or_else(|| {
                Error::invalid_argument(format!(
                    "concurrency must be an integer from 1 to 16, not {v}"
                ))
            })?;
            let options = ClientOptions {
                concurrency: n as usize,
                ..client.options().clone()
            };
            client.with_options(options)
        }
    };
    match op {
        "graph.appRoles" => ops::app_roles(&client, args, sink).await,
        "graph.grant" => ops::change(&client, planner::Mode::Grant, args, sink).await,
        "graph.revoke" => ops::change(&client, planner::Mode::Revoke, args, sink).await,
        "graph.set" => ops::change(&client, planner::Mode::Set, args, sink).await,
        "graph.assignments" => ops::assignments(&client, args, sink).await,
        "graph.permissionNames" => ops::permission_names(&client, args, sink).await,
        "graph.request" => request::request(&client, args, sink).await,
        other => Err(Error::invalid_argument(format!(
            "unknown engine operation '{other}'"
        ))),
    }
}
