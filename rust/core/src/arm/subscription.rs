//! The subscription an ARM operation works in: the one the caller names, else the context's
//! default (`Connect-Identity -SubscriptionId`), else the only one the caller can see; with
//! several visible, the error lists them.

use super::client::ArmClient;
use super::ids::check_subscription_id;
use super::resource::{self, SubscriptionResource};
use super::ResourceType;
use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;

pub async fn resolve(
    client: &ArmClient<'_>,
    explicit: Option<&str>,
    default: Option<&str>,
) -> Result<String> {
    if let Some(s) = explicit.map(str::trim).filter(|s| !s.is_empty()) {
        return check_subscription_id(s).map_err(|_| {
            Error::invalid_argument(format!(
                "{} '{s}' is not a subscription id (a GUID)",
                Input::SubscriptionId
            ))
        });
    }
    if let Some(s) = default {
        return Ok(s.to_string());
    }
    let url = client.url("/subscriptions", ResourceType::Subscriptions)?;
    let subs = client.list(url, "listing subscriptions").await?;
    let described: Vec<(String, String)> = subs
        .into_iter()
        .filter_map(|s| {
            let s: SubscriptionResource = resource::parse(&s);
            Some((s.subscription_id?, s.display_name.unwrap_or_default()))
        })
        .collect();
    match described.as_slice() {
        [(id, _)] => Ok(id.clone()),
        [] => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "the signed-in identity sees no subscription: give it a role on one, or pass {}",
                Input::SubscriptionId
            ),
        )),
        many => Err(Error::new(
            ErrorKind::AmbiguousName,
            format!(
                "the signed-in identity sees {} subscriptions; pass {} (or connect with it) to pick one: {}",
                many.len(),
                Input::SubscriptionId,
                many.iter()
                    .map(|(id, name)| format!("{id} ({name})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_details(serde_json::json!({"candidates": many.iter().map(|(id, _)| id).collect::<Vec<_>>()}))),
    }
}
