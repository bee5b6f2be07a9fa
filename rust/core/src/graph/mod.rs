//! Microsoft Graph app-role management. (Skeleton: the Graph helper completes this module.)

use serde_json::Value;

use crate::api::Services;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::EventSink;

/// Runs one `graph.*` operation for a context.
pub async fn execute(op: &str, _ctx: &Context, _args: &Value, _svc: &Services, _sink: &dyn EventSink) -> Result<Value> {
    Err(Error::invalid_argument(format!("unknown engine operation '{op}'")))
}
