//! The ARM operations, typed, and how one runs with a client: the subscription resolved, the
//! result as rows. The protocol edge builds the client for a context.

use std::sync::Arc;

use serde::Serialize;

use super::automation::{self, SetIdentity};
use super::client::ArmClient;
use super::identities::{self, NewIdentity};
use super::subscription;
use crate::error::Result;
use crate::events::{Event, EventSink, Row};

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

/// What an operation did, beside its rows (serialized camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmSummary {
    pub count: usize,
    pub subscription_id: String,
    /// HTTP requests sent to ARM, retries included.
    pub requests: u64,
}

/// Runs one operation with a ready client; every row is also streamed as an `Item`.
pub async fn run(
    operation: ArmOperation,
    default_subscription: Option<&str>,
    client: &ArmClient<'_>,
    sink: &dyn EventSink,
) -> Result<ArmSummary> {
    let sub = subscription::resolve(
        client,
        operation.subscription.as_deref(),
        default_subscription,
    )
    .await?;
    let rows: Vec<Arc<dyn Row>> = match &operation.kind {
        ArmOperationKind::NewIdentity(a) => {
            vec![Arc::new(identities::create(client, &sub, a).await?)]
        }
        ArmOperationKind::GetIdentity {
            name,
            resource_group,
        } => identities::get(client, &sub, name.as_deref(), resource_group.as_deref())
            .await?
            .into_iter()
            .map(|row| Arc::new(row) as Arc<dyn Row>)
            .collect(),
        ArmOperationKind::RemoveIdentity {
            name,
            resource_group,
            what_if,
        } => vec![Arc::new(
            identities::remove(client, &sub, name, resource_group, *what_if).await?,
        )],
        ArmOperationKind::GetAutomationIdentity {
            resource_group,
            account,
        } => vec![Arc::new(
            automation::get(client, &sub, resource_group, account).await?,
        )],
        ArmOperationKind::SetAutomationIdentity(a) => {
            vec![Arc::new(automation::set(client, &sub, a).await?)]
        }
    };
    let count = rows.len();
    for item in rows {
        sink.emit(Event::Item { item });
    }
    Ok(ArmSummary {
        count,
        subscription_id: sub,
        requests: client.requests(),
    })
}
