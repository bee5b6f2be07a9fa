//! Pure planning: given what an identity holds on a resource and what the caller wants, decide
//! per (identity, permission) what to do. No I/O; the operations turn actions into requests.

use uuid::Uuid;

use super::model::{AppRole, Assignment};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Grant,
    Revoke,
    /// Exactly the wanted set: grant missing, revoke extra.
    Set,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Already held; nothing to write.
    AlreadyGranted { assignment_id: String },
    /// Create the assignment.
    Grant,
    /// Not held; nothing to delete.
    NotAssigned,
    /// Delete these assignments (normally exactly one).
    Revoke { assignment_ids: Vec<String> },
}

/// One output row to be: a permission of one identity and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub role_id: Uuid,
    /// The resource's own spelling of the role value (or the role id when the resource no
    /// longer defines it).
    pub permission: String,
    pub action: Action,
}

/// Plans one identity. `wanted` are resolved roles (de-duplicated); `current` the identity's
/// assignments on the resource; `all_roles` the resource's roles (to name extra assignments).
pub fn plan(
    mode: Mode,
    wanted: &[AppRole],
    current: &[Assignment],
    all_roles: &[AppRole],
) -> Vec<Planned> {
    let held = |role: Uuid| -> Vec<String> {
        current
            .iter()
            .filter(|a| a.app_role_id == role)
            .map(|a| a.id.clone())
            .collect()
    };
    let mut out = Vec::new();
    for role in wanted {
        let ids = held(role.id);
        let action = match mode {
            Mode::Grant | Mode::Set => match ids.into_iter().next() {
                Some(assignment_id) => Action::AlreadyGranted { assignment_id },
                None => Action::Grant,
            },
            Mode::Revoke if ids.is_empty() => Action::NotAssigned,
            Mode::Revoke => Action::Revoke {
                assignment_ids: ids,
            },
        };
        out.push(Planned {
            role_id: role.id,
            permission: role.name(),
            action,
        });
    }
    if mode == Mode::Set {
        let mut extra: Vec<Uuid> = Vec::new();
        for a in current {
            if !wanted.iter().any(|r| r.id == a.app_role_id) && !extra.contains(&a.app_role_id) {
                extra.push(a.app_role_id);
            }
        }
        for role_id in extra {
            let permission = all_roles
                .iter()
                .find(|r| r.id == role_id)
                .map(AppRole::name)
                .unwrap_or_else(|| role_id.to_string());
            out.push(Planned {
                role_id,
                permission,
                action: Action::Revoke {
                    assignment_ids: held(role_id),
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(n: u128, v: &str) -> AppRole {
        AppRole {
            id: Uuid::from_u128(n),
            value: Some(v.into()),
            display_name: None,
            description: None,
            is_enabled: None,
            allowed_member_types: Some(vec!["Application".into()]),
        }
    }

    fn assignment(id: &str, role: u128) -> Assignment {
        Assignment {
            id: id.into(),
            app_role_id: Uuid::from_u128(role),
            resource_id: Uuid::from_u128(99),
            principal_id: None,
            resource_display_name: None,
            created_date_time: None,
        }
    }

    #[test]
    fn grant_is_idempotent() {
        let all = [role(1, "A"), role(2, "B")];
        let p = plan(Mode::Grant, &all, &[assignment("x1", 1)], &all);
        assert_eq!(
            p[0].action,
            Action::AlreadyGranted {
                assignment_id: "x1".into()
            }
        );
        assert_eq!(p[1].action, Action::Grant);
    }

    #[test]
    fn revoke_missing_is_not_assigned() {
        let all = [role(1, "A"), role(2, "B")];
        let p = plan(
            Mode::Revoke,
            &all,
            &[assignment("x1", 1), assignment("x1b", 1)],
            &all,
        );
        assert_eq!(
            p[0].action,
            Action::Revoke {
                assignment_ids: vec!["x1".into(), "x1b".into()]
            }
        );
        assert_eq!(p[1].action, Action::NotAssigned);
    }

    #[test]
    fn set_grants_missing_and_revokes_extra() {
        let all = [role(1, "A"), role(2, "B"), role(3, "C")];
        let current = [
            assignment("x1", 1),
            assignment("x3", 3),
            assignment("x9", 9),
        ];
        let p = plan(Mode::Set, &all[..2], &current, &all);
        assert_eq!(p.len(), 4);
        assert_eq!(
            (p[0].permission.as_str(), &p[0].action),
            (
                "A",
                &Action::AlreadyGranted {
                    assignment_id: "x1".into()
                }
            )
        );
        assert_eq!(
            (p[1].permission.as_str(), &p[1].action),
            ("B", &Action::Grant)
        );
        assert_eq!(
            (p[2].permission.as_str(), &p[2].action),
            (
                "C",
                &Action::Revoke {
                    assignment_ids: vec!["x3".into()]
                }
            )
        );
        // A role the resource no longer defines is named by its id.
        assert_eq!(p[3].permission, Uuid::from_u128(9).to_string());
        // Empty wanted set = revoke everything.
        assert!(plan(Mode::Set, &[], &current, &all)
            .iter()
            .all(|x| matches!(x.action, Action::Revoke { .. })));
    }
}
