//! National clouds: one table mapping `-Environment` to the authority host, the Microsoft Graph
//! endpoint and the Azure Resource Manager endpoint, and the validated authority
//! (`-AuthorityHost` / `AZURE_AUTHORITY_HOST` override) every Entra request is built from.
//!
//! Sources for the table: Azure.Identity's `AzureAuthorityHosts` (AzurePublicCloud,
//! AzureGovernment, AzureChina), Microsoft Graph "National cloud deployments"
//! (learn.microsoft.com/graph/deployments: graph.microsoft.us, dod-graph.microsoft.us,
//! microsoftgraph.chinacloudapi.cn) and Az PowerShell's `Get-AzEnvironment` (ResourceManagerUrl:
//! management.azure.com, management.usgovcloudapi.net, management.chinacloudapi.cn). USGovDoD
//! shares USGov's authority and Resource Manager; only Graph differs.

use url::Url;

use crate::error::{Error, Result};
use crate::http::validate_service_endpoint;
use crate::input::Input;

/// A Microsoft cloud (`-Environment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cloud {
    #[default]
    Global,
    USGov,
    USGovDoD,
    China,
}

/// The endpoints of one cloud (each without a trailing slash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudEndpoints {
    pub authority_host: &'static str,
    pub graph: &'static str,
    pub resource_manager: &'static str,
}

/// The table.
const CLOUDS: [(Cloud, &str, CloudEndpoints); 4] = [
    (
        Cloud::Global,
        "Global",
        CloudEndpoints {
            authority_host: "https://login.microsoftonline.com",
            graph: "https://graph.microsoft.com",
            resource_manager: "https://management.azure.com",
        },
    ),
    (
        Cloud::USGov,
        "USGov",
        CloudEndpoints {
            authority_host: "https://login.microsoftonline.us",
            graph: "https://graph.microsoft.us",
            resource_manager: "https://management.usgovcloudapi.net",
        },
    ),
    (
        Cloud::USGovDoD,
        "USGovDoD",
        CloudEndpoints {
            authority_host: "https://login.microsoftonline.us",
            graph: "https://dod-graph.microsoft.us",
            resource_manager: "https://management.usgovcloudapi.net",
        },
    ),
    (
        Cloud::China,
        "China",
        CloudEndpoints {
            authority_host: "https://login.chinacloudapi.cn",
            graph: "https://microsoftgraph.chinacloudapi.cn",
            resource_manager: "https://management.chinacloudapi.cn",
        },
    ),
];

impl Cloud {
    /// Parses `-Environment` (case-insensitive; `AzureCloud`, `AzureUSGovernment`,
    /// `AzureChinaCloud` as Az PowerShell names them are accepted too).
    pub fn parse(raw: &str) -> Result<Cloud> {
        let name = raw.trim();
        let alias = match name.to_ascii_lowercase().as_str() {
            "azurecloud" | "public" => Some(Cloud::Global),
            "azureusgovernment" => Some(Cloud::USGov),
            "azurechinacloud" => Some(Cloud::China),
            _ => None,
        };
        alias
            .or_else(|| {
                CLOUDS
                    .iter()
                    .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(c, _, _)| *c)
            })
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "{} '{name}' is not a known cloud; use Global, USGov, USGovDoD or China",
                    Input::Environment
                ))
            })
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn endpoints(self) -> CloudEndpoints {
        self.entry().2
    }

    fn entry(self) -> &'static (Cloud, &'static str, CloudEndpoints) {
        CLOUDS
            .iter()
            .find(|(c, _, _)| *c == self)
            .unwrap_or(&CLOUDS[0])
    }
}

/// Where Entra requests go: an authority host (validated: https, or http to loopback only) and
/// a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    host: Url,
    tenant: String,
}

impl Authority {
    /// `host_override` (`-AuthorityHost` / `AZURE_AUTHORITY_HOST`) wins over the cloud's host.
    /// Both are validated before any request is made.
    pub fn new(cloud: Cloud, host_override: Option<&str>, tenant: &str) -> Result<Authority> {
        let raw = host_override
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .unwrap_or(cloud.endpoints().authority_host);
        let mut host = validate_service_endpoint(raw, crate::input::Input::AuthorityHost)?;
        if host.query().is_some() || host.fragment().is_some() {
            return Err(Error::invalid_argument(format!(
                "{} '{raw}' must not have a query or fragment",
                Input::AuthorityHost
            )));
        }
        let path = host.path().trim_end_matches('/').to_string();
        host.set_path(&format!("{path}/"));
        Ok(Authority {
            host,
            tenant: validate_tenant(tenant)?,
        })
    }

    pub fn host(&self) -> &Url {
        &self.host
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// `{host}/{tenant}/oauth2/v2.0/token`.
    pub fn token_endpoint(&self) -> Url {
        self.endpoint("oauth2/v2.0/token")
    }

    /// `{host}/{tenant}/oauth2/v2.0/devicecode`.
    pub fn device_code_endpoint(&self) -> Url {
        self.endpoint("oauth2/v2.0/devicecode")
    }

    /// `{host}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_endpoint(&self) -> Url {
        self.endpoint("oauth2/v2.0/authorize")
    }

    fn endpoint(&self, leaf: &str) -> Url {
        let mut url = self.host.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}/{}/{leaf}", self.tenant));
        url
    }
}

/// A tenant is a GUID, a domain name or one of `organizations`/`common`/`consumers`: letters,
/// digits, `.`, `-` (so it can never change the URL's path).
pub fn validate_tenant(raw: &str) -> Result<String> {
    let tenant = raw.trim();
    if tenant.is_empty() {
        return Err(Error::invalid_argument(format!(
            "{} must not be empty",
            Input::TenantId
        )));
    }
    if tenant.len() > 256
        || !tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        || tenant.starts_with('.')
    {
        return Err(Error::invalid_argument(format!(
            "{} '{tenant}' is not a tenant id or domain name",
            Input::TenantId
        )));
    }
    Ok(tenant.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn the_table_maps_every_cloud() {
        assert_eq!(Cloud::parse("global").unwrap(), Cloud::Global);
        assert_eq!(Cloud::parse("AzureUSGovernment").unwrap(), Cloud::USGov);
        assert_eq!(Cloud::parse("USGovDoD").unwrap(), Cloud::USGovDoD);
        assert_eq!(Cloud::parse(" China ").unwrap(), Cloud::China);
        assert_eq!(
            Cloud::parse("Mars").unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
        let dod = Cloud::USGovDoD.endpoints();
        assert_eq!(dod.graph, "https://dod-graph.microsoft.us");
        assert_eq!(dod.authority_host, Cloud::USGov.endpoints().authority_host);
        assert_eq!(
            Cloud::China.endpoints().resource_manager,
            "https://management.chinacloudapi.cn"
        );
        assert_eq!(Cloud::USGov.name(), "USGov");
    }

    #[test]
    fn authority_endpoints() {
        let a = Authority::new(Cloud::Global, None, "contoso.onmicrosoft.com").unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let a = Authority::new(Cloud::China, Some("http://127.0.0.1:8080/base/"), "t1").unwrap();
        assert_eq!(
            a.device_code_endpoint().as_str(),
            "http://127.0.0.1:8080/base/t1/oauth2/v2.0/devicecode"
        );
        assert_eq!(
            a.authorize_endpoint().as_str(),
            "http://127.0.0.1:8080/base/t1/oauth2/v2.0/authorize"
        );
        let a = Authority::new(Cloud::USGov, Some(""), "t").unwrap();
        assert_eq!(a.host().as_str(), "https://login.microsoftonline.us/");
    }

    #[test]
    fn plain_http_off_loopback_and_odd_tenants_are_refused() {
        let e = Authority::new(Cloud::Global, Some("http://login.example.com"), "t").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("AuthorityHost"), "{}", e.message);
        assert!(Authority::new(Cloud::Global, Some("https://h/?x=1"), "t").is_err());
        for bad in ["", "a/b", "../x", "t?x", "a b", ".x"] {
            assert!(validate_tenant(bad).is_err(), "{bad}");
        }
        assert!(validate_tenant("7d1f3c2a-5b4e-4c6d-8e9f-0a1b2c3d4e5f").is_ok());
    }
}
