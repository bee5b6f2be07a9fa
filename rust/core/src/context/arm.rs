//! A context's Azure Resource Manager settings: the endpoint ARM calls go to
//! (`-ResourceManagerEndpoint`, HTTPS or http on loopback only), the token audience for it (the
//! endpoint's cloud, else the public cloud's `https://management.azure.com/`), and the default
//! subscription (`-SubscriptionId`). The same credential that yields Graph tokens yields these.

use url::Url;

use crate::credentials::cloud::Cloud;
use crate::error::Result;
use crate::input::Input;

pub const DEFAULT_RESOURCE_MANAGER_ENDPOINT: &str = "https://management.azure.com";
pub const DEFAULT_RESOURCE_MANAGER_RESOURCE: &str = "https://management.azure.com/";

/// ARM endpoint, token audience and default subscription of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSettings {
    pub endpoint: Url,
    pub resource: String,
    pub subscription_id: Option<String>,
}

impl Default for ArmSettings {
    fn default() -> Self {
        ArmSettings {
            endpoint: Url::parse(DEFAULT_RESOURCE_MANAGER_ENDPOINT).expect("constant URL"),
            resource: DEFAULT_RESOURCE_MANAGER_RESOURCE.to_string(),
            subscription_id: None,
        }
    }
}

impl ArmSettings {
    /// Validates `-ResourceManagerEndpoint` and `-SubscriptionId`.
    pub fn from_options(endpoint: Option<&str>, subscription_id: Option<&str>) -> Result<Self> {
        let endpoint = crate::http::validate_service_endpoint(
            endpoint.unwrap_or(DEFAULT_RESOURCE_MANAGER_ENDPOINT),
            Input::ResourceManagerEndpoint,
        )?;
        let resource = audience_for(&endpoint);
        let subscription_id = subscription_id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                crate::arm::ids::check_subscription_id(s).map_err(|_| {
                    crate::Error::invalid_argument(format!(
                        "{} '{s}' is not a subscription id (a GUID)",
                        Input::SubscriptionId
                    ))
                })
            })
            .transpose()?;
        Ok(ArmSettings {
            endpoint,
            resource,
            subscription_id,
        })
    }
}

/// The national cloud whose ARM endpoint this is gives the audience; any other endpoint (a
/// private cloud's proxy, the emulator) uses the public cloud's.
fn audience_for(endpoint: &Url) -> String {
    let host = endpoint.host_str().unwrap_or_default();
    for cloud in [Cloud::Global, Cloud::USGov, Cloud::China] {
        let arm = cloud.endpoints().resource_manager;
        if Url::parse(arm)
            .ok()
            .is_some_and(|u| u.host_str().is_some_and(|h| h.eq_ignore_ascii_case(host)))
        {
            return format!("{arm}/");
        }
    }
    DEFAULT_RESOURCE_MANAGER_RESOURCE.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn endpoints_audiences_and_subscriptions() {
        let d = ArmSettings::from_options(None, None).unwrap();
        assert_eq!(d.resource, "https://management.azure.com/");
        let gov =
            ArmSettings::from_options(Some("https://management.usgovcloudapi.net"), None).unwrap();
        assert_eq!(gov.resource, "https://management.usgovcloudapi.net/");
        let emu = ArmSettings::from_options(
            Some("http://127.0.0.1:5000"),
            Some("00000000-0000-0000-0000-0000000000AA"),
        )
        .unwrap();
        assert_eq!(emu.resource, "https://management.azure.com/");
        assert_eq!(
            emu.subscription_id.as_deref(),
            Some("00000000-0000-0000-0000-0000000000aa")
        );
        let e = ArmSettings::from_options(Some("http://arm.example"), None).unwrap_err();
        assert!(e
            .message
            .contains(&Input::ResourceManagerEndpoint.to_string()));
        let e = ArmSettings::from_options(None, Some("sub")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains(&Input::SubscriptionId.to_string()));
    }
}
