//! ARM's answers, typed: the resources and statuses the operations read, as Graph's objects are
//! in `graph/model.rs`. Parsed leniently, as an ARM answer has always been read here: unknown
//! fields are ignored, and a field that is missing, `null` or of another type reads as absent
//! (an odd answer degrades to empty fields, never to a panic or a lost row).

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// Any JSON as `T`, or `T::default()` when it does not fit.
pub fn parse<T: DeserializeOwned + Default>(value: &Value) -> T {
    T::deserialize(value).unwrap_or_default()
}

/// A field read leniently: of another type than `T` it is `T::default()`.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Value::deserialize(deserializer).map(|v| parse(&v))
}

/// An object's entries, each read leniently (an odd entry keeps its key, with empty fields);
/// anything but an object is no entries.
fn lenient_entries<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    deserializer: D,
) -> Result<BTreeMap<String, T>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Object(entries) => entries.iter().map(|(k, v)| (k.clone(), parse(v))).collect(),
        _ => BTreeMap::new(),
    })
}

/// A user-assigned identity (`Microsoft.ManagedIdentity/userAssignedIdentities`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct IdentityResource {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub name: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub location: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub properties: IdentityProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IdentityProperties {
    #[serde(deserialize_with = "lenient")]
    pub client_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub principal_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub tenant_id: Option<String>,
}

/// An Automation account (`Microsoft.Automation/automationAccounts`): only its identities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AutomationAccountResource {
    #[serde(deserialize_with = "lenient")]
    pub identity: Option<ResourceIdentity>,
}

/// A resource's `identity` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResourceIdentity {
    /// `None`, `SystemAssigned`, `UserAssigned` or `SystemAssigned, UserAssigned`.
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub principal_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub tenant_id: Option<String>,
    /// Keyed by resource id.
    #[serde(deserialize_with = "lenient_entries")]
    pub user_assigned_identities: BTreeMap<String, UserAssignedIdentity>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UserAssignedIdentity {
    #[serde(deserialize_with = "lenient")]
    pub client_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub principal_id: Option<String>,
}

/// One entry of `GET /subscriptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionResource {
    #[serde(deserialize_with = "lenient")]
    pub subscription_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub display_name: Option<String>,
}

/// One page of a list (`value`, `nextLink`); its entries stay JSON until read as a resource.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Page {
    #[serde(deserialize_with = "lenient")]
    pub value: Vec<Value>,
    #[serde(deserialize_with = "lenient")]
    pub next_link: Option<String>,
}

/// ARM's error document: `{"error": {"code", "message"}}`, or (a few resource providers) the
/// same object at the top level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorDocument {
    #[serde(deserialize_with = "lenient")]
    pub error: Option<ErrorBody>,
    #[serde(flatten)]
    pub top: ErrorBody,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    #[serde(deserialize_with = "lenient")]
    pub code: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub message: Option<String>,
}

impl ErrorDocument {
    /// The nested error object when there is one, else the top level.
    pub fn body(self) -> ErrorBody {
        self.error.unwrap_or(self.top)
    }
}

/// A long-running operation's status document (`Azure-AsyncOperation`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OperationStatus {
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    /// ARM's error object, kept whole for the error's details.
    pub error: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_of_another_type_read_as_absent() {
        let r: IdentityResource = parse(&json!({
            "id": 7, "name": "a", "location": ["x"],
            "properties": {"clientId": "c", "principalId": null, "tenantId": {"x": 1}}
        }));
        assert_eq!(r.id, None);
        assert_eq!(r.name.as_deref(), Some("a"));
        assert_eq!(r.location, None);
        assert_eq!(r.properties.client_id.as_deref(), Some("c"));
        assert_eq!(r.properties.principal_id, None);
        assert_eq!(r.properties.tenant_id, None);
    }

    #[test]
    fn answers_that_are_not_objects_read_as_empty() {
        for v in [json!(null), json!("x"), json!([1, 2]), json!(1.5e308)] {
            assert_eq!(parse::<IdentityResource>(&v), IdentityResource::default());
            assert_eq!(
                parse::<AutomationAccountResource>(&v),
                AutomationAccountResource::default()
            );
        }
        let a: AutomationAccountResource = parse(
            &json!({"identity": {"userAssignedIdentities": "not a map", "type": "SystemAssigned"}}),
        );
        let identity = a.identity.expect("identity");
        assert!(identity.user_assigned_identities.is_empty());
        assert_eq!(identity.kind.as_deref(), Some("SystemAssigned"));
    }

    #[test]
    fn error_documents_nested_or_flat() {
        let nested: ErrorDocument =
            parse(&json!({"error": {"code": "A", "message": "m"}, "code": "top"}));
        assert_eq!(nested.body().code.as_deref(), Some("A"));
        let flat: ErrorDocument = parse(&json!({"code": "B", "message": 3}));
        let body = flat.body();
        assert_eq!((body.code.as_deref(), body.message), (Some("B"), None));
        let odd: ErrorDocument = parse(&json!({"error": "text", "code": "C"}));
        assert_eq!(odd.body().code.as_deref(), Some("C"));
    }

    #[test]
    fn one_odd_user_assigned_entry_keeps_the_others() {
        let a: AutomationAccountResource = parse(&json!({"identity": {"userAssignedIdentities": {
            "/x/a": {"clientId": "ca", "principalId": "pa"},
            "/x/b": 42
        }}}));
        let map = a.identity.expect("identity").user_assigned_identities;
        assert_eq!(map.len(), 2);
        assert_eq!(map["/x/a"].client_id.as_deref(), Some("ca"));
        assert_eq!(map["/x/b"], UserAssignedIdentity::default());
    }
}
