//! The emulated ARM estate: subscriptions, resource groups, user-assigned identities (their
//! service principals live in the Graph directory), Automation accounts with their identity
//! blocks, and RBAC role assignments. Seeded from `seed.rs`; reset with the emulator.

use std::time::Instant;

use serde_json::{json, Value};

use crate::seed;
use crate::state::{Directory, ServicePrincipal, SpKind};

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub subscription: String,
    pub name: String,
    pub location: String,
}

/// ARM-side data of a user-assigned identity (the principal is in the directory).
#[derive(Debug, Clone)]
pub struct Identity {
    pub resource_id: String,
    pub subscription: String,
    pub group: String,
    pub name: String,
    pub location: String,
    pub tags: Value,
    pub principal_id: String,
    pub client_id: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub subscription: String,
    pub group: String,
    pub name: String,
    pub location: String,
    /// Object id of the system-assigned principal when switched on.
    pub system_principal: Option<String>,
    /// Resource ids of attached user-assigned identities.
    pub user_assigned: Vec<String>,
}

impl Account {
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Automation/automationAccounts/{}",
            self.subscription, self.group, self.name
        )
    }
}

/// Built-in roles of the small RBAC model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Contributor,
    Reader,
    ManagedIdentityOperator,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s.replace(' ', "").to_ascii_lowercase().as_str() {
            "contributor" | "owner" => Some(Role::Contributor),
            "reader" => Some(Role::Reader),
            "managedidentityoperator" => Some(Role::ManagedIdentityOperator),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Contributor => "Contributor",
            Role::Reader => "Reader",
            Role::ManagedIdentityOperator => "Managed Identity Operator",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoleAssignment {
    pub principal_id: String,
    pub role: Role,
    pub scope: String,
}

#[derive(Debug, Clone, Default)]
pub struct ArmState {
    pub subscriptions: Vec<Subscription>,
    pub groups: Vec<Group>,
    pub identities: Vec<Identity>,
    pub accounts: Vec<Account>,
    pub role_assignments: Vec<RoleAssignment>,
    /// Writes applied (PUT/PATCH/DELETE that changed something).
    pub writes: u64,
}

pub fn eq(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Programmatic location name: "UK South" → "uksouth".
pub fn location_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Locations the emulated subscription offers (programmatic name, display name).
pub const LOCATIONS: &[(&str, &str)] = &[
    ("uksouth", "UK South"),
    ("ukwest", "UK West"),
    ("westeurope", "West Europe"),
    ("northeurope", "North Europe"),
    ("eastus", "East US"),
    ("westus2", "West US 2"),
];

impl ArmState {
    /// The seed estate; also adds the ARM admin principals to the directory.
    pub fn seeded(dir: &mut Directory) -> ArmState {
        let sub = seed::SUBSCRIPTION_ID.to_string();
        let mut s = ArmState {
            subscriptions: vec![Subscription {
                id: sub.clone(),
                display_name: seed::SUBSCRIPTION_NAME.to_string(),
            }],
            ..Default::default()
        };
        for g in ["rg-automation", "rg-identity", "rg-other", "rg-apps"] {
            s.groups.push(Group {
                subscription: sub.clone(),
                name: g.to_string(),
                location: "uksouth".to_string(),
            });
        }
        for i in seed::IDENTITIES.iter().filter(|i| i.user_assigned) {
            let parts: Vec<&str> = i.resource_id.split('/').collect();
            if parts.len() != 9 || !parts[7].eq_ignore_ascii_case("userAssignedIdentities") {
                continue;
            }
            s.identities.push(Identity {
                resource_id: format!(
                    "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}",
                    parts[2], parts[4], parts[8]
                ),
                subscription: parts[2].to_string(),
                group: parts[4].to_string(),
                name: parts[8].to_string(),
                location: "uksouth".to_string(),
                tags: json!({}),
                principal_id: i.object_id.to_ascii_lowercase(),
                client_id: i.client_id.to_ascii_lowercase(),
            });
        }
        let attached: Vec<String> = s
            .identities
            .iter()
            .filter(|i| {
                dir.sp(&i.principal_id)
                    .is_some_and(ServicePrincipal::attached)
            })
            .map(|i| i.resource_id.clone())
            .collect();
        s.accounts.push(Account {
            subscription: sub.clone(),
            group: "rg-automation".to_string(),
            name: "aa-runbooks".to_string(),
            location: "uksouth".to_string(),
            system_principal: Some(seed::SYSTEM_IDENTITY.object_id.to_string()),
            user_assigned: attached,
        });
        let scope = format!("/subscriptions/{sub}");
        for (app, role, scope) in [
            (&seed::ARM_ADMIN, Role::Contributor, scope.clone()),
            (&seed::ARM_READER, Role::Reader, scope.clone()),
            (
                &seed::ARM_AUTOMATION_CONTRIBUTOR,
                Role::Reader,
                scope.clone(),
            ),
            (
                &seed::ARM_AUTOMATION_CONTRIBUTOR,
                Role::Contributor,
                format!("{scope}/resourceGroups/rg-automation"),
            ),
        ] {
            if dir.sp(app.object_id).is_none() {
                dir.sps.push(ServicePrincipal {
                    id: app.object_id.to_string(),
                    app_id: app.client_id.to_string(),
                    display_name: app.display_name.to_string(),
                    kind: SpKind::Application {
                        resource_uri: format!("api://{}", app.client_id),
                        owner_tenant: Some(seed::TENANT_ID.to_string()),
                    },
                    app_roles: Vec::new(),
                    created: None,
                });
                for value in app.graph_roles {
                    if let Some(role) = seed::GRAPH.roles.iter().find(|r| r.value == *value) {
                        dir.assignments.push(crate::state::Assignment {
                            id: format!("{}-{}", app.object_id, role.id),
                            principal_id: app.object_id.to_string(),
                            resource_id: seed::GRAPH.object_id.to_ascii_lowercase(),
                            app_role_id: role.id.to_string(),
                            created_date_time: "2024-01-15T08:00:00Z".to_string(),
                            created: None,
                        });
                    }
                }
            }
            s.role_assignments.push(RoleAssignment {
                principal_id: app.object_id.to_string(),
                role,
                scope,
            });
        }
        s
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| eq(&s.id, id))
    }

    pub fn group(&self, sub: &str, name: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| eq(&g.subscription, sub) && eq(&g.name, name))
    }

    pub fn identity(&self, resource_id: &str) -> Option<&Identity> {
        self.identities
            .iter()
            .find(|i| eq(&i.resource_id, resource_id))
    }

    pub fn account_mut(&mut self, sub: &str, group: &str, name: &str) -> Option<&mut Account> {
        self.accounts
            .iter_mut()
            .find(|a| eq(&a.subscription, sub) && eq(&a.group, group) && eq(&a.name, name))
    }

    pub fn to_json(&self) -> Value {
        json!({
            "subscriptions": self.subscriptions.iter().map(|s| json!({"subscriptionId": s.id, "displayName": s.display_name})).collect::<Vec<_>>(),
            "resourceGroups": self.groups.iter().map(|g| json!({"subscriptionId": g.subscription, "name": g.name, "location": g.location})).collect::<Vec<_>>(),
            "identities": self.identities.iter().map(identity_json).collect::<Vec<_>>(),
            "automationAccounts": self.accounts.iter().map(|a| account_json(a, self)).collect::<Vec<_>>(),
            "roleAssignments": self.role_assignments.iter().map(|r| json!({"principalId": r.principal_id, "role": r.role.name(), "scope": r.scope})).collect::<Vec<_>>(),
            "writes": self.writes,
        })
    }
}

/// ARM JSON of a user-assigned identity.
pub fn identity_json(i: &Identity) -> Value {
    json!({
        "id": i.resource_id,
        "name": i.name,
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "location": i.location,
        "tags": i.tags,
        "properties": {
            "tenantId": seed::TENANT_ID,
            "principalId": i.principal_id,
            "clientId": i.client_id,
        }
    })
}

/// ARM JSON of an Automation account (identity block included).
pub fn account_json(a: &Account, s: &ArmState) -> Value {
    let mut kinds = Vec::new();
    if a.system_principal.is_some() {
        kinds.push("SystemAssigned");
    }
    if !a.user_assigned.is_empty() {
        kinds.push("UserAssigned");
    }
    let mut identity = json!({
        "type": if kinds.is_empty() { "None".to_string() } else { kinds.join(", ") },
        "tenantId": seed::TENANT_ID,
    });
    if let Some(p) = &a.system_principal {
        identity["principalId"] = json!(p);
    }
    if !a.user_assigned.is_empty() {
        let mut map = serde_json::Map::new();
        for rid in &a.user_assigned {
            let v = match s.identity(rid) {
                Some(i) => json!({"principalId": i.principal_id, "clientId": i.client_id}),
                None => json!({}),
            };
            map.insert(rid.clone(), v);
        }
        identity["userAssignedIdentities"] = Value::Object(map);
    }
    json!({
        "id": a.resource_id(),
        "name": a.name,
        "type": "Microsoft.Automation/AutomationAccounts",
        "location": a.location,
        "identity": identity,
        "properties": {"state": "Ok"},
    })
}

/// A new managed-identity principal in the directory (reaches Graph after the replication lag).
pub fn new_principal(
    dir: &mut Directory,
    name: &str,
    resource_id: &str,
    user_assigned: bool,
) -> (String, String) {
    let id = crate::util::new_guid();
    let app_id = crate::util::new_guid();
    dir.sps.push(ServicePrincipal {
        id: id.clone(),
        app_id: app_id.clone(),
        display_name: name.to_string(),
        kind: SpKind::ManagedIdentity {
            user_assigned,
            resource_id: resource_id.to_string(),
            attached: !user_assigned,
        },
        app_roles: Vec::new(),
        created: Some(Instant::now()),
    });
    (id, app_id)
}

/// Deletes a principal and every app-role assignment it holds.
pub fn delete_principal(dir: &mut Directory, id: &str) {
    dir.sps.retain(|s| !s.id.eq_ignore_ascii_case(id));
    dir.assignments
        .retain(|a| !a.principal_id.eq_ignore_ascii_case(id));
}

/// Marks a user-assigned principal attached (or not) to the emulated Automation host.
pub fn set_attached(dir: &mut Directory, id: &str, value: bool) {
    if let Some(sp) = dir.sps.iter_mut().find(|s| s.id.eq_ignore_ascii_case(id)) {
        if let SpKind::ManagedIdentity { attached, .. } = &mut sp.kind {
            *attached = value;
        }
    }
}
