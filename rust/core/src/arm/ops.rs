//! The ARM operations, typed, and how one runs for a context: a client on the context's ARM
//! endpoint with tokens for its ARM audience, the subscription resolved, the result as rows.

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::automation::{self, SetIdentity};
use super::client::ArmClient;
use super::identities::{self, NewIdentity};
use super::subscription;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::{Event, EventSink};
use crate::graph::TokenProvider;
use crate::secret::Secret;
use crate::services::Services;

/// One ARM operation; `subscription` overrides the context's default subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmOperation {
    pub subscription: Option<String>,
    pub kind: ArmOperationKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmOperationKind {
    NewIdentity(NewIdentity),
    GetIdentity {
        name: Option<String>,
        resource_group: Option<String>,
    },
    RemoveIdentity {
        name: String,
        resource_group: String,
        what_if: bool,
    },
    GetAutomationIdentity {
        resource_group: String,
        account: String,
    },
    SetAutomationIdentity(SetIdentity),
}

/// Tokens for the context's ARM audience (cached upstream like Graph's).
struct ArmTokens<'a> {
    ctx: &'a Context,
    svc: &'a Services,
    sink: &'a dyn EventSink,
}

impl TokenProvider for ArmTokens<'_> {
    fn bearer(&self) -> BoxFuture<'_, Result<Secret>> {
        Box::pin(async move {
            let resource = self.ctx.arm().resource.clone();
            let token = self
                .ctx
                .token(Some(&resource), false, self.svc, self.sink)
                .await?;
            Ok(token.secret)
        })
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::internal(format!("cannot encode a result: {e}")))
}

/// Runs one operation; every row is also streamed as an `Item`. Returns `{count}`.
pub async fn execute(
    operation: ArmOperation,
    ctx: &Context,
    svc: &Services,
    sink: &dyn EventSink,
) -> Result<Value> {
    let client = ArmClient::new(
        svc.service_transport.clone(),
        svc.clock.clone(),
        ctx.arm().endpoint.clone(),
        Box::new(ArmTokens { ctx, svc, sink }),
    );
    run(
        operation,
        ctx.arm().subscription_id.as_deref(),
        &client,
        sink,
    )
    .await
}

/// Runs one operation with a ready client (tests).
pub async fn run(
    operation: ArmOperation,
    default_subscription: Option<&str>,
    client: &ArmClient<'_>,
    sink: &dyn EventSink,
) -> Result<Value> {
    let sub = subscription::resolve(
        client,
        operation.subscription.as_deref(),
        default_subscription,
    )
    .await?;
    let rows: Vec<Value> = match &operation.kind {
        ArmOperationKind::NewIdentity(a) => {
            vec![to_json(&identities::create(client, &sub, a).await?)?]
        }
        ArmOperationKind::GetIdentity {
            name,
            resource_group,
        } => identities::get(client, &sub, name.as_deref(), resource_group.as_deref())
            .await?
            .iter()
            .map(to_json)
            .collect::<Result<_>>()?,
        ArmOperationKind::RemoveIdentity {
            name,
            resource_group,
            what_if,
        } => vec![to_json(
            &identities::remove(client, &sub, name, resource_group, *what_if).await?,
        )?],
        ArmOperationKind::GetAutomationIdentity {
            resource_group,
            account,
        } => vec![to_json(
            &automation::get(client, &sub, resource_group, account).await?,
        )?],
        ArmOperationKind::SetAutomationIdentity(a) => {
            vec![to_json(&automation::set(client, &sub, a).await?)?]
        }
    };
    let count = rows.len();
    for item in rows {
        sink.emit(Event::Item { item });
    }
    Ok(serde_json::json!({ "count": count, "subscriptionId": sub, "requests": client.requests() }))
}
