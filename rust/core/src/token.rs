//! An access token as the engine holds it. (Skeleton: the MI helper completes this file.)

use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    /// Unix seconds.
    pub expires_on: u64,
    /// Unix seconds when a proactive refresh should start.
    pub refresh_on: u64,
    pub resource: String,
    pub token_type: String,
}
