//! In-memory state: the directory (service principals and app-role assignments) and the shared
//! application object every handler receives.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::arc::ArcState;
use crate::faults::FaultBook;
use crate::graph::throttle::Bucket;
use crate::platform_cache::PlatformCache;
use crate::seed;
use crate::stats::Stats;
use crate::util;
use crate::{EmulatorConfig, ServiceFabricEndpoint};

/// Date stamped on assignments that exist from the start.
const SEED_CREATED: &str = "2024-01-15T08:00:00Z";

#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub value: String,
    pub display_name: String,
    /// `allowedMemberTypes` contains `Application`.
    pub application: bool,
}

#[derive(Debug, Clone)]
pub enum SpKind {
    ManagedIdentity {
        user_assigned: bool,
        resource_id: String,
        attached: bool,
    },
    Application {
        resource_uri: String,
        owner_tenant: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct ServicePrincipal {
    /// Object id (lower-case GUID).
    pub id: String,
    pub app_id: String,
    pub display_name: String,
    pub kind: SpKind,
    pub app_roles: Vec<Role>,
    /// `None` = exists from the start (never subject to replication lag).
    pub created: Option<Instant>,
}

impl ServicePrincipal {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            SpKind::ManagedIdentity { .. } => "ManagedIdentity",
            SpKind::Application { .. } => "Application",
        }
    }

    pub fn alternative_names(&self) -> Vec<String> {
        match &self.kind {
            SpKind::ManagedIdentity {
                user_assigned,
                resource_id,
                ..
            } => {
                let explicit = if *user_assigned {
                    "isExplicit=True"
                } else {
                    "isExplicit=False"
                };
                vec![explicit.to_string(), resource_id.clone()]
            }
            SpKind::Application { .. } => Vec::new(),
        }
    }

    pub fn service_principal_names(&self) -> Vec<String> {
        match &self.kind {
            SpKind::ManagedIdentity { resource_id, .. } => {
                vec![self.app_id.clone(), resource_id.clone()]
            }
            SpKind::Application { resource_uri, .. } => {
                vec![resource_uri.clone(), self.app_id.clone()]
            }
        }
    }

    /// ARM resource id of a managed identity.
    pub fn mi_resource_id(&self) -> Option<&str> {
        match &self.kind {
            SpKind::ManagedIdentity { resource_id, .. } => Some(resource_id),
            SpKind::Application { .. } => None,
        }
    }

    pub fn attached(&self) -> bool {
        matches!(self.kind, SpKind::ManagedIdentity { attached: true, .. })
    }

    /// True when a requested token resource designates this service principal: its resource
    /// URI, appId or `api://appId` (case-insensitive, trailing '/' trimmed).
    pub fn matches_resource(&self, resource: &str) -> bool {
        let want = util::resource_key(resource);
        let app = self.app_id.to_ascii_lowercase();
        if want == app || want == format!("api://{app}") {
            return true;
        }
        matches!(&self.kind, SpKind::Application { resource_uri, .. } if util::resource_key(resource_uri) == want)
    }

    pub fn role(&self, role_id: &str) -> Option<&Role> {
        self.app_roles
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(role_id))
    }

    /// Graph JSON of the whole object (`$select` is applied later).
    pub fn to_json(&self) -> Value {
        let (app_display_name, owner) = match &self.kind {
            SpKind::ManagedIdentity { .. } => (Value::Null, Value::Null),
            SpKind::Application { owner_tenant, .. } => {
                (json!(self.display_name), json!(owner_tenant))
            }
        };
        let roles: Vec<Value> = self
            .app_roles
            .iter()
            .map(|r| {
                json!({
                    "allowedMemberTypes": [if r.application { "Application" } else { "User" }],
                    "description": r.display_name,
                    "displayName": r.display_name,
                    "id": r.id,
                    "isEnabled": true,
                    "origin": "Application",
                    "value": r.value,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "deletedDateTime": null,
            "accountEnabled": true,
            "alternativeNames": self.alternative_names(),
            "appDisplayName": app_display_name,
            "appId": self.app_id,
            "appOwnerOrganizationId": owner,
            "appRoles": roles,
            "displayName": self.display_name,
            "servicePrincipalNames": self.service_principal_names(),
            "servicePrincipalType": self.type_name(),
            "tags": [],
        })
    }
}

#[derive(Debug, Clone)]
pub struct Assignment {
    pub id: String,
    pub principal_id: String,
    pub resource_id: String,
    pub app_role_id: String,
    pub created_date_time: String,
    /// `None` = exists from the start / created by the control API (no lag).
    pub created: Option<Instant>,
}

/// True when an object created at `created` is older than `lag_ms`.
pub fn settled(created: Option<Instant>, lag_ms: u64) -> bool {
    match created {
        None => true,
        Some(t) => lag_ms == 0 || t.elapsed() >= Duration::from_millis(lag_ms),
    }
}

/// The emulated directory.
#[derive(Debug, Default)]
pub struct Directory {
    pub sps: Vec<ServicePrincipal>,
    pub assignments: Vec<Assignment>,
    /// Where each service principal sits in `sps`, by lower-case id: a generated tenant has
    /// thousands, and every assignment shown names two of them.
    sp_positions: std::cell::RefCell<SpPositions>,
    /// Each principal's assignments (positions in `assignments`, in order), by lower-case id.
    assignment_positions: std::cell::RefCell<AssignmentPositions>,
}

/// A lookup table over `assignments` that checks itself: `assignments` is only pushed to,
/// removed from and retained, and assignment ids are never reused, so an unchanged length and
/// last id mean an unchanged list.
#[derive(Debug, Default)]
struct AssignmentPositions {
    len: usize,
    last_id: Option<String>,
    by_principal: std::collections::HashMap<String, Vec<usize>>,
}

/// A lookup table over `sps` that checks itself: `sps` is only pushed to and retained from, so
/// a position that no longer holds its id, or a length that changed, means "rebuild".
#[derive(Debug, Default)]
struct SpPositions {
    len: usize,
    by_id: std::collections::HashMap<String, usize>,
}

impl Directory {
    pub fn seeded(rng: &mut StdRng) -> Self {
        let mut dir = Directory::default();
        for i in seed::IDENTITIES {
            dir.sps.push(ServicePrincipal {
                id: i.object_id.to_ascii_lowercase(),
                app_id: i.client_id.to_ascii_lowercase(),
                display_name: i.display_name.to_string(),
                kind: SpKind::ManagedIdentity {
                    user_assigned: i.user_assigned,
                    resource_id: i.resource_id.to_string(),
                    attached: i.attached,
                },
                app_roles: Vec::new(),
                created: None,
            });
        }
        for r in seed::RESOURCES {
            dir.sps.push(ServicePrincipal {
                id: r.object_id.to_ascii_lowercase(),
                app_id: r.app_id.to_ascii_lowercase(),
                display_name: r.display_name.to_string(),
                kind: SpKind::Application {
                    resource_uri: r.resource_uri.to_string(),
                    owner_tenant: Some(r.owner_tenant.to_string()),
                },
                app_roles: r
                    .roles
                    .iter()
                    .map(|x| Role {
                        id: x.id.to_string(),
                        value: x.value.to_string(),
                        display_name: x.display_name.to_string(),
                        application: x.application,
                    })
                    .collect(),
                created: None,
            });
        }
        let graph_id = seed::GRAPH.object_id.to_ascii_lowercase();
        for i in seed::IDENTITIES {
            for value in i.graph_roles {
                if let Some(role) = seed::GRAPH.roles.iter().find(|r| r.value == *value) {
                    let principal = i.object_id.to_ascii_lowercase();
                    dir.assignments.push(Assignment {
                        id: assignment_id(&principal, rng),
                        principal_id: principal,
                        resource_id: graph_id.clone(),
                        app_role_id: role.id.to_string(),
                        created_date_time: SEED_CREATED.to_string(),
                        created: None,
                    });
                }
            }
        }
        dir
    }

    /// Any service principal by object id (ignores replication lag).
    /// The assignments `principal` holds, in list order.
    pub fn assignments_of(&self, principal: &str) -> Vec<&Assignment> {
        let mut positions = self.assignment_positions.borrow_mut();
        let last_id = self.assignments.last().map(|a| a.id.as_str());
        if positions.len != self.assignments.len() || positions.last_id.as_deref() != last_id {
            let mut by_principal: std::collections::HashMap<String, Vec<usize>> =
                std::collections::HashMap::new();
            for (i, a) in self.assignments.iter().enumerate() {
                by_principal
                    .entry(a.principal_id.to_ascii_lowercase())
                    .or_default()
                    .push(i);
            }
            *positions = AssignmentPositions {
                len: self.assignments.len(),
                last_id: last_id.map(str::to_string),
                by_principal,
            };
        }
        positions
            .by_principal
            .get(&principal.to_ascii_lowercase())
            .map(|found| {
                found
                    .iter()
                    .filter_map(|&i| self.assignments.get(i))
                    .filter(|a| a.principal_id.eq_ignore_ascii_case(principal))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn sp(&self, id: &str) -> Option<&ServicePrincipal> {
        let key = id.to_ascii_lowercase();
        let at = |i: usize| self.sps.get(i).filter(|s| s.id.eq_ignore_ascii_case(id));
        let mut positions = self.sp_positions.borrow_mut();
        if positions.len == self.sps.len() {
            if let Some(found) = positions.by_id.get(&key).and_then(|&i| at(i)) {
                return Some(found);
            }
        }
        // Stale (or the id is unknown): rebuild once, then answer from the fresh table.
        positions.by_id = self
            .sps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.to_ascii_lowercase(), i))
            .collect();
        positions.len = self.sps.len();
        positions.by_id.get(&key).and_then(|&i| at(i))
    }

    /// A service principal by object id, hidden while younger than `lag_ms`.
    pub fn sp_visible(&self, id: &str, lag_ms: u64) -> Option<&ServicePrincipal> {
        self.sp(id).filter(|s| settled(s.created, lag_ms))
    }

    pub fn sp_by_app_id(&self, app_id: &str) -> Option<&ServicePrincipal> {
        self.sps
            .iter()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }

    /// Role values `principal` holds on every service principal designated by `resource`,
    /// counting only assignments older than `lag_ms`.
    pub fn token_roles(&self, principal: &str, resource: &str, lag_ms: u64) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for res in self.sps.iter().filter(|s| s.matches_resource(resource)) {
            for a in self.assignments.iter().filter(|a| {
                a.principal_id.eq_ignore_ascii_case(principal)
                    && a.resource_id.eq_ignore_ascii_case(&res.id)
                    && settled(a.created, lag_ms)
            }) {
                if let Some(role) = res.role(&a.app_role_id) {
                    if !out.contains(&role.value) {
                        out.push(role.value.clone());
                    }
                }
            }
        }
        out
    }

    /// Graph JSON of an assignment.
    pub fn assignment_json(&self, a: &Assignment) -> Value {
        let name = |id: &str| {
            self.sp(id)
                .map(|s| json!(s.display_name))
                .unwrap_or(Value::Null)
        };
        json!({
            "id": a.id,
            "deletedDateTime": null,
            "appRoleId": a.app_role_id,
            "createdDateTime": a.created_date_time,
            "principalDisplayName": name(&a.principal_id),
            "principalId": a.principal_id,
            "principalType": "ServicePrincipal",
            "resourceDisplayName": name(&a.resource_id),
            "resourceId": a.resource_id,
        })
    }
}

/// Assignment id: 43-char unpadded base64url of the principal GUID in little-endian (Microsoft)
/// byte order followed by 16 random bytes.
pub fn assignment_id(principal_id: &str, rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 32];
    if let Ok(g) = uuid::Uuid::parse_str(principal_id) {
        bytes[..16].copy_from_slice(&g.to_bytes_le());
    }
    rng.fill_bytes(&mut bytes[16..]);
    util::b64url(&bytes)
}

/// Concurrency gate for Graph HTTP requests (replaced when `maxConcurrency` changes).
pub struct Gate {
    pub limit: Option<usize>,
    pub sem: Arc<Semaphore>,
}

impl Gate {
    pub fn new(limit: Option<usize>) -> Self {
        Gate {
            limit,
            sem: Arc::new(Semaphore::new(
                limit
                    .unwrap_or(Semaphore::MAX_PERMITS)
                    .clamp(1, Semaphore::MAX_PERMITS),
            )),
        }
    }
}

/// Everything the handlers share.
pub struct App {
    pub base_url: String,
    /// `https://127.0.0.1:PORT` of the `--tls` listener, when there is one.
    pub https_base_url: Option<String>,
    /// `http://127.0.0.1:PORT` of Cloud Shell's fixed-port listener, when there is one.
    pub cloud_shell_base_url: Option<String>,
    pub service_fabric: ServiceFabricEndpoint,
    /// Configuration at start (restored by `POST /_emulator/reset`).
    pub initial: EmulatorConfig,
    pub cfg: Mutex<EmulatorConfig>,
    pub dir: Mutex<Directory>,
    pub faults: Mutex<FaultBook>,
    pub stats: Mutex<Stats>,
    pub throttle: Mutex<Option<Bucket>>,
    pub gate: Mutex<Gate>,
    /// Randomness for assignment ids.
    pub id_rng: Mutex<StdRng>,
    /// Tokens the managed-identity platform hands out again.
    pub platform_cache: Mutex<PlatformCache>,
    /// Azure Arc's token directory and outstanding keys.
    pub arc: Mutex<ArcState>,
    /// Certificates and federated credentials registered on clients.
    pub credentials: Mutex<crate::client_credentials::Credentials>,
    /// Device codes, authorization codes and refresh tokens of user sign-ins.
    pub delegated: Mutex<crate::entra_delegated::DelegatedState>,
    /// The emulated ARM estate (issue 11).
    pub arm: Mutex<crate::arm::ArmState>,
    arc_dir: std::path::PathBuf,
}

/// Locks a mutex, recovering from poisoning (a panicking handler must not wedge the emulator).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn id_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ 0x6d69_2d65_6d75_6c61)
}

impl App {
    pub fn new(
        base_url: String,
        https_base_url: Option<String>,
        cloud_shell_base_url: Option<String>,
        service_fabric: ServiceFabricEndpoint,
        config: EmulatorConfig,
    ) -> std::io::Result<Self> {
        let mut rng = id_rng(config.random_seed);
        let mut dir = Directory::seeded(&mut rng);
        let arm = crate::arm::ArmState::seeded(&mut dir);
        let arc = ArcState::new(config.arc_token_dir.as_deref())?
            .with_client_paths(config.client_paths.clone());
        Ok(App {
            base_url,
            https_base_url,
            cloud_shell_base_url,
            service_fabric,
            arc_dir: arc.token_dir().to_path_buf(),
            arc: Mutex::new(arc),
            platform_cache: Mutex::new(PlatformCache::default()),
            delegated: Mutex::new(Default::default()),
            credentials: Mutex::new(Default::default()),
            initial: config.clone(),
            faults: Mutex::new(FaultBook::new(config.random_seed)),
            stats: Mutex::new(Stats::default()),
            throttle: Mutex::new(config.throttle.map(Bucket::new)),
            gate: Mutex::new(Gate::new(config.max_concurrency)),
            cfg: Mutex::new(config),
            dir: Mutex::new(dir),
            id_rng: Mutex::new(rng),
            arm: Mutex::new(arm),
        })
    }

    /// Canonical path of the Azure Arc agent token directory.
    pub fn arc_dir(&self) -> &std::path::Path {
        &self.arc_dir
    }

    pub fn config(&self) -> EmulatorConfig {
        lock(&self.cfg).clone()
    }

    pub fn new_assignment_id(&self, principal_id: &str) -> String {
        assignment_id(principal_id, &mut lock(&self.id_rng))
    }

    /// Restores seed data, start configuration, faults and statistics; empties the platform
    /// token cache and withdraws outstanding Arc keys.
    pub fn reset(&self) {
        let config = self.initial.clone();
        let mut rng = id_rng(config.random_seed);
        let mut dir = Directory::seeded(&mut rng);
        *lock(&self.arm) = crate::arm::ArmState::seeded(&mut dir);
        *lock(&self.dir) = dir;
        *lock(&self.id_rng) = rng;
        *lock(&self.faults) = FaultBook::new(config.random_seed);
        *lock(&self.stats) = Stats::default();
        *lock(&self.throttle) = config.throttle.map(Bucket::new);
        *lock(&self.gate) = Gate::new(config.max_concurrency);
        *lock(&self.cfg) = config;
        lock(&self.platform_cache).clear();
        lock(&self.arc).forget_keys();
        lock(&self.delegated).clear();
        lock(&self.credentials).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sp_lookup_follows_pushes_and_removals() {
        let mut rng = id_rng(3);
        let mut dir = Directory::seeded(&mut rng);
        let first = dir.sps[0].id.clone();
        let last = dir.sps.last().expect("seeded").id.clone();
        assert_eq!(
            dir.sp(&first.to_ascii_uppercase()).map(|s| &s.id),
            Some(&first)
        );
        assert_eq!(dir.sp(&last).map(|s| &s.id), Some(&last));
        // Remove the first and push a copy of the last under a new id: same length, shifted.
        let mut extra = dir.sps.last().expect("seeded").clone();
        extra.id = "00000000-0000-4000-8000-00000000beef".into();
        dir.sps.retain(|s| s.id != first);
        dir.sps.push(extra);
        assert!(dir.sp(&first).is_none(), "a removed principal is gone");
        assert_eq!(
            dir.sp(&last).map(|s| &s.id),
            Some(&last),
            "a shifted one is found"
        );
        assert!(
            dir.sp("00000000-0000-4000-8000-00000000BEEF").is_some(),
            "a pushed one is found"
        );
        assert!(dir.sp("not-an-id").is_none());
    }

    #[test]
    fn assignments_of_follows_pushes_and_removals() {
        let mut rng = id_rng(4);
        let mut dir = Directory::seeded(&mut rng);
        let holder = dir.assignments[0].principal_id.clone();
        let scan = |d: &Directory| {
            d.assignments
                .iter()
                .filter(|a| a.principal_id.eq_ignore_ascii_case(&holder))
                .map(|a| a.id.clone())
                .collect::<Vec<_>>()
        };
        let ids = |found: Vec<&Assignment>| found.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert_eq!(
            ids(dir.assignments_of(&holder.to_ascii_uppercase())),
            scan(&dir)
        );
        // Remove one and push another for the same principal: same length, new last id.
        let mut extra = dir.assignments[0].clone();
        extra.id = "new-assignment".into();
        dir.assignments.remove(0);
        dir.assignments.push(extra);
        assert_eq!(ids(dir.assignments_of(&holder)), scan(&dir));
        assert!(ids(dir.assignments_of(&holder)).contains(&"new-assignment".to_string()));
        dir.assignments.retain(|a| a.principal_id != holder);
        assert!(dir.assignments_of(&holder).is_empty());
    }

    #[test]
    fn assignment_id_shape() {
        let mut rng = id_rng(1);
        let id = assignment_id(seed::SYSTEM_IDENTITY.object_id, &mut rng);
        assert_eq!(id.len(), 43);
        let bytes = util::b64url_decode(&id).unwrap();
        let g = uuid::Uuid::from_bytes_le(bytes[..16].try_into().unwrap());
        assert_eq!(g.to_string(), seed::SYSTEM_IDENTITY.object_id);
    }

    #[test]
    fn seed_roles() {
        let dir = Directory::seeded(&mut id_rng(0));
        let roles = dir.token_roles(
            seed::SYSTEM_IDENTITY.object_id,
            "https://graph.microsoft.com/",
            0,
        );
        assert_eq!(
            roles,
            vec!["Application.Read.All", "AppRoleAssignment.ReadWrite.All"]
        );
        assert!(dir
            .token_roles(
                seed::SYSTEM_IDENTITY.object_id,
                "https://vault.azure.net",
                0
            )
            .is_empty());
        assert_eq!(
            dir.token_roles(seed::SYSTEM_IDENTITY.object_id, seed::GRAPH.app_id, 0)
                .len(),
            2
        );
    }
}
