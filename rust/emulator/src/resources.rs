//! Which token resources exist. Real managed-identity endpoints and Entra refuse a resource
//! (audience) no service principal in the tenant answers to: IMDS with 400 `invalid_resource`
//! (AADSTS500011), App Service/Automation with a 500, Entra with 400 `invalid_resource`.
//!
//! Known here: every service principal in the emulated directory (resource URI, appId,
//! `api://appId`; the seed has Graph, Exchange, SharePoint, Key Vault, ARM) and the common Azure
//! resources below, which exist as first-party service principals in every real tenant.
//! Comparison is case-insensitive with trailing '/' trimmed, as Entra matches identifier URIs.

use crate::state::{lock, App};
use crate::util;

/// First-party resource URIs present in every tenant (besides the seed's service principals).
const WELL_KNOWN: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://graph.microsoft.com",
    "https://graph.windows.net",
    "https://vault.azure.net",
    "https://managedhsm.azure.net",
    "https://storage.azure.com",
    "https://database.windows.net",
    "https://ossrdbms-aad.database.windows.net",
    "https://servicebus.azure.net",
    "https://eventhubs.azure.net",
    "https://cognitiveservices.azure.com",
    "https://monitor.azure.com",
    "https://api.loganalytics.io",
    "https://digitaltwins.azure.net",
    "https://outlook.office365.com",
    "https://outlook.office.com",
    "https://manage.office.com",
    "https://api.applicationinsights.io",
    "https://kusto.kusto.windows.net",
    "https://app.azconfig.io",
    "https://datalake.azure.net",
    "https://batch.core.windows.net",
    "https://dev.azuresynapse.net",
    "https://api.fabric.microsoft.com",
    "https://analysis.windows.net/powerbi/api",
];

/// Host suffixes whose per-account URLs are valid audiences (Storage and Service Bus accept
/// `https://<account>.blob.core.windows.net` and the like).
const WELL_KNOWN_HOST_SUFFIXES: &[&str] = &[
    ".blob.core.windows.net",
    ".queue.core.windows.net",
    ".table.core.windows.net",
    ".file.core.windows.net",
    ".dfs.core.windows.net",
    ".servicebus.windows.net",
    ".sharepoint.com",
];

fn well_known(resource: &str) -> bool {
    let key = util::resource_key(resource);
    if WELL_KNOWN.iter().any(|w| *w == key) {
        return true;
    }
    let Some(host) = key.strip_prefix("https://") else {
        return false;
    };
    let host = host.split('/').next().unwrap_or_default();
    WELL_KNOWN_HOST_SUFFIXES
        .iter()
        .any(|suffix| host.len() > suffix.len() && host.ends_with(suffix))
}

/// True when `resource` names a service principal of the directory or a well-known Azure
/// resource.
pub fn is_known(app: &App, resource: &str) -> bool {
    well_known(resource)
        || lock(&app.dir)
            .sps
            .iter()
            .any(|s| s.matches_resource(resource))
}

/// AADSTS500011 text, as Entra (and IMDS relaying it) words it.
pub fn not_found_description(resource: &str) -> String {
    format!(
        "AADSTS500011: The resource principal named {resource} was not found in the tenant named {}. \
         This can happen if the application has not been installed by the administrator of the tenant \
         or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
        crate::seed::TENANT_NAME
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_forms() {
        assert!(well_known("https://management.azure.com/"));
        assert!(well_known("HTTPS://Vault.Azure.Net"));
        assert!(well_known("https://acct.blob.core.windows.net/"));
        assert!(!well_known("https://.blob.core.windows.net"));
        assert!(!well_known("https://managements.azure.com"));
        assert!(!well_known("https://evil.example/x.blob.core.windows.net"));
        assert!(!well_known("api://unknown"));
    }
}
