//! The api-version pinned per ARM resource type: a request never goes out without one, and the
//! version is chosen from the resource type, never from the caller.

/// The ARM resource types this module calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `Microsoft.ManagedIdentity/userAssignedIdentities`.
    UserAssignedIdentities,
    /// `Microsoft.Automation/automationAccounts`.
    AutomationAccounts,
    /// `/subscriptions` (list, get).
    Subscriptions,
    /// `Microsoft.Resources/resourceGroups`.
    ResourceGroups,
}

impl ResourceType {
    /// The pinned api-version.
    pub fn api_version(self) -> &'static str {
        match self {
            ResourceType::UserAssignedIdentities => "2023-01-31",
            ResourceType::AutomationAccounts => "2023-11-01",
            ResourceType::Subscriptions => "2022-12-01",
            ResourceType::ResourceGroups => "2022-09-01",
        }
    }

    /// The provider namespace and type as ARM spells them.
    pub fn provider_type(self) -> &'static str {
        match self {
            ResourceType::UserAssignedIdentities => {
                "Microsoft.ManagedIdentity/userAssignedIdentities"
            }
            ResourceType::AutomationAccounts => "Microsoft.Automation/automationAccounts",
            ResourceType::Subscriptions => "Microsoft.Resources/subscriptions",
            ResourceType::ResourceGroups => "Microsoft.Resources/resourceGroups",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_pinned_per_type() {
        assert_eq!(
            ResourceType::UserAssignedIdentities.api_version(),
            "2023-01-31"
        );
        assert_eq!(ResourceType::AutomationAccounts.api_version(), "2023-11-01");
        assert_eq!(ResourceType::Subscriptions.api_version(), "2022-12-01");
    }
}
