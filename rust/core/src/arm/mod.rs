//! Azure Resource Manager: one small client beside `graph/` on the same [`Transport`]
//! (api-versions pinned per resource type, ARM error JSON, retries, long-running operations),
//! and the operations the module needs: user-assigned identities and Automation account
//! identities.

pub mod api_version;
pub mod client;
pub mod errors;
pub mod lro;

pub use crate::http::Transport;
pub use api_version::ResourceType;
pub use client::{ArmClient, ArmClientOptions};
pub use errors::ArmErrorInfo;

#[cfg(test)]
mod tests;
