//! Azure Resource Manager: one small client beside `graph/` on the same [`Transport`]
//! (api-versions pinned per resource type, ARM error JSON, retries, long-running operations),
//! and the operations the module needs: user-assigned identities and Automation account
//! identities.
//!
//! Operations (args camelCase on the wire, every one with `context` and `subscriptionId?`;
//! rows streamed as `Item` events; the result is `{count, subscriptionId, requests}`):
//!
//! | op | args | items |
//! |---|---|---|
//! | `arm.newIdentity` | `{name, resourceGroupName, location, tags?, whatIf}` | identity row, status Created / Existing / WouldCreate |
//! | `arm.getIdentity` | `{name?, resourceGroupName?}` (`name`: wildcard) | identity rows |
//! | `arm.removeIdentity` | `{name, resourceGroupName, whatIf}` | identity row, status Removed / NotFound / WouldRemove |
//! | `arm.getAutomationIdentity` | `{automationAccountName, resourceGroupName}` | automation row |
//! | `arm.setAutomationIdentity` | `{automationAccountName, resourceGroupName, systemAssigned?, addUserAssigned?, removeUserAssigned?, whatIf}` | automation row, status Updated / Unchanged / WhatIf, `changes` lists the steps |
//!
//! Identity row: `{name, resourceGroupName, subscriptionId, location, clientId, principalId,
//! tenantId, resourceId, status}`. Automation row: `{automationAccountName, resourceGroupName,
//! subscriptionId, identityType, systemAssigned, principalId, tenantId, userAssigned:[{name,
//! resourceId, clientId, principalId}], changes, status}`.

pub mod api_version;
pub mod automation;
pub mod client;
pub mod errors;
pub mod identities;
pub mod ids;
pub mod lro;
pub mod model;
pub mod ops;
pub mod resource;
pub mod subscription;

pub use crate::http::Transport;
pub use api_version::ResourceType;
pub use client::{ArmClient, ArmClientOptions};
pub use errors::ArmErrorInfo;
pub use ops::{run, ArmOperation, ArmOperationKind, ArmSummary};

#[cfg(test)]
mod tests;
