//! The audit events of provisioning's writes: built from the account before
//! and after and from what was written, so each names the fields written,
//! `active` and the roles before and after, and never another value.

use serde_json::Value;

use super::ProvisioningError;
use crate::audit::{AuditEvent, Change, EventKind, WriteError};
use crate::drupal::{DrupalUser, RoleRef, TermVocabulary, TermWrite, UserWrite};

/// A write that failed in Drupal may have been carried out when Drupal's
/// error says so (see `DrupalError::may_have_been_applied`).
impl WriteError for ProvisioningError {
    fn outcome_unknown(&self) -> bool {
        match self {
            ProvisioningError::Drupal(e) => e.outcome_unknown(),
            _ => false,
        }
    }
}

/// Roles by machine name, as operators know them (the id when Drupal did
/// not send the machine name).
pub(super) fn role_names(roles: &[RoleRef]) -> Vec<String> {
    let mut names: Vec<String> = roles
        .iter()
        .map(|r| {
            if r.machine_name.is_empty() {
                r.id.clone()
            } else {
                r.machine_name.clone()
            }
        })
        .collect();
    names.sort();
    names
}

fn status(user: &DrupalUser) -> Option<bool> {
    user.attributes.get_bool("status")
}

/// The event of writing `write` to the account `before` (a create when
/// `None`), which Drupal answered with `after` when it succeeded.
pub(super) fn user_write(
    before: Option<&DrupalUser>,
    account_id: &str,
    write: &UserWrite,
    after: Option<&DrupalUser>,
) -> AuditEvent {
    let was = before.and_then(status);
    let written = write.attributes.get("status").and_then(Value::as_bool);
    let now = after.and_then(status).or(written).or(was);
    let kind = match (before, was, now) {
        (None, _, _) => EventKind::UserCreated,
        (Some(_), Some(true), Some(false)) => EventKind::UserDeactivated,
        (Some(_), Some(false), Some(true)) => EventKind::UserReactivated,
        _ => EventKind::UserUpdated,
    };
    let name = after
        .and_then(DrupalUser::name)
        .or_else(|| before.and_then(DrupalUser::name))
        .or_else(|| write.attributes.get("name").and_then(Value::as_str));
    let mut event = AuditEvent::new(kind, account_id, name);
    event.fields = written_fields(write);
    if written.is_some() {
        event.active = Some(Change {
            before: was,
            after: now,
        });
    }
    if write.relationships.contains_key("roles") {
        event.roles = Some(Change {
            before: before.map(|u| role_names(&u.roles)).unwrap_or_default(),
            after: after
                .map(|u| role_names(&u.roles))
                .unwrap_or_else(|| written_role_ids(write)),
        });
    }
    event
}

/// A write to an account not read first (see `write_guard`): what it held
/// before is unknown, so the event names what was written and, from
/// Drupal's answer, what the account holds now.
pub(super) fn unseen_user_write(
    account_id: &str,
    write: &UserWrite,
    after: Option<&DrupalUser>,
) -> AuditEvent {
    let written = write.attributes.get("status").and_then(Value::as_bool);
    let kind = match written {
        Some(false) => EventKind::UserDeactivated,
        Some(true) => EventKind::UserReactivated,
        None => EventKind::UserUpdated,
    };
    let mut event = AuditEvent::new(kind, account_id, after.and_then(DrupalUser::name));
    event.fields = written_fields(write);
    if written.is_some() {
        event.active = Some(Change {
            before: None,
            after: after.and_then(status).or(written),
        });
    }
    event
}

/// The names of the Drupal fields `write` sets (never their values).
fn written_fields(write: &UserWrite) -> Vec<String> {
    write
        .attributes
        .keys()
        .chain(write.relationships.keys())
        .cloned()
        .collect()
}

/// The role ids a write sets, when Drupal's answer is not there to name them.
fn written_role_ids(write: &UserWrite) -> Vec<String> {
    write
        .relationships
        .get("roles")
        .and_then(|r| r.get("data"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("id").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The event of a change refused because the account is protected.
pub(super) fn refused(user: &DrupalUser, why: &str) -> AuditEvent {
    AuditEvent::new(EventKind::RefusedProtected, &user.id, user.name()).refused(why)
}

/// [`refused`], for a change of `group`'s members.
pub(super) fn refused_in_group(user: &DrupalUser, why: &str, group: &str) -> AuditEvent {
    let mut event = refused(user, why);
    event.group = Some(group.to_string());
    event
}

/// A change of `user`'s roles: `grant` added to and `take` taken from
/// the roles it holds (role UUIDs, named by `name_of`). `None` when it
/// changes none.
pub(super) fn role_change(
    user: &DrupalUser,
    grant: &[String],
    take: &[String],
    name_of: impl Fn(&str) -> String,
) -> Option<Change<Vec<String>>> {
    if grant.is_empty() && take.is_empty() {
        return None;
    }
    let before = role_names(&user.roles);
    let taken: Vec<String> = take.iter().map(|id| name_of(id)).collect();
    let mut after: Vec<String> = before
        .iter()
        .filter(|r| !taken.contains(r))
        .cloned()
        .chain(grant.iter().map(|id| name_of(id)))
        .collect();
    after.sort();
    after.dedup();
    Some(Change { before, after })
}

/// The event of a change to a term-backed group itself: `account_id` is
/// the group's id, `group` its name (the new one after a rename), `fields`
/// the term fields written.
pub(super) fn group_change(
    kind: EventKind,
    id: &str,
    name: &str,
    write: Option<(&TermWrite, &TermVocabulary)>,
) -> AuditEvent {
    let mut event = AuditEvent::new(kind, id, None);
    event.group = Some(name.to_string());
    if let Some((write, vocabulary)) = write {
        if write.name.is_some() {
            event.fields.push("name".into());
        }
        if write.external_id.is_some() {
            event.fields.extend(vocabulary.external_id_field.clone());
        }
        if write.published.is_some() {
            event.fields.push("status".into());
        }
    }
    event
}

/// A member left out of a group's change because it names no account the
/// bridge serves (`unknown_members: skip`). The id is the client's, cut.
pub(super) fn skipped_member(member: &str, group: &str) -> AuditEvent {
    let mut event = AuditEvent::new(
        EventKind::GroupMemberSkipped,
        &crate::untrusted::quote(member),
        None,
    );
    event.group = Some(group.to_string());
    event.refused(
        "names no account this bridge serves; left out of the group (unknown_members: skip)",
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;
    use crate::audit::Outcome;

    fn user(active: bool) -> DrupalUser {
        DrupalUser::from_resource(json!({
            "id": "u-1",
            "attributes": {"name": "ada", "status": active, "pass": "x"},
        }))
        .unwrap()
    }

    #[test]
    fn a_status_going_false_is_a_deactivation_and_no_value_but_active_is_shown() {
        let mut attributes = Map::new();
        attributes.insert("status".into(), json!(false));
        attributes.insert("pass".into(), json!("new-secret"));
        let write = UserWrite {
            id: None,
            attributes,
            relationships: Map::new(),
        };
        let event = user_write(Some(&user(true)), "u-1", &write, Some(&user(false)));
        assert_eq!(event.event, EventKind::UserDeactivated);
        assert_eq!(event.outcome, Outcome::Ok);
        assert_eq!(event.fields, vec!["pass".to_string(), "status".to_string()]);
        let line = serde_json::to_string(&event).unwrap();
        assert!(!line.contains("new-secret"), "{line}");
        assert!(
            line.contains(r#""active":{"before":true,"after":false}"#),
            "{line}"
        );
    }

    #[test]
    fn a_role_change_names_the_roles_before_and_after_and_none_when_nothing_changes() {
        let mut held = user(true);
        held.roles = vec![RoleRef {
            id: "r-editor".into(),
            machine_name: "editor".into(),
        }];
        let name_of = |id: &str| id.trim_start_matches("r-").to_string();
        let granted = role_change(&held, &["r-engineering".into()], &[], name_of).unwrap();
        assert_eq!(granted.before, ["editor"]);
        assert_eq!(granted.after, ["editor", "engineering"]);
        let taken = role_change(&held, &[], &["r-editor".into()], name_of).unwrap();
        assert_eq!(taken.after, Vec::<String>::new());
        assert_eq!(role_change(&held, &[], &[], name_of), None);
    }

    #[test]
    fn a_group_change_names_the_term_fields_written() {
        let vocabulary = TermVocabulary {
            vocabulary: "scim_groups".into(),
            user_field: "field_scim_groups".into(),
            external_id_field: Some("field_scim_external_id".into()),
        };
        let rename = TermWrite {
            name: Some("Sales".into()),
            external_id: None,
            published: None,
        };
        let event = group_change(
            EventKind::GroupUpdated,
            "t-1",
            "Sales",
            Some((&rename, &vocabulary)),
        );
        assert_eq!(event.fields, ["name"]);
        assert_eq!(event.group.as_deref(), Some("Sales"));
        let create = TermWrite {
            name: Some("Sales".into()),
            external_id: Some(None),
            published: Some(false),
        };
        let event = group_change(
            EventKind::GroupCreated,
            "t-1",
            "Sales",
            Some((&create, &vocabulary)),
        );
        assert_eq!(event.fields, ["name", "field_scim_external_id", "status"]);
        assert!(group_change(EventKind::GroupDeleted, "t-1", "Sales", None)
            .fields
            .is_empty());
    }

    #[test]
    fn a_skipped_member_is_refused_and_its_id_cut() {
        let event = skipped_member(&"x".repeat(10_000), "Sales");
        assert_eq!(event.event, EventKind::GroupMemberSkipped);
        assert_eq!(event.outcome, Outcome::Refused);
        assert_eq!(event.group.as_deref(), Some("Sales"));
        assert!(event.account_id.len() < 1_000, "{}", event.account_id.len());
    }

    #[test]
    fn a_write_without_status_is_an_update() {
        let mut attributes = Map::new();
        attributes.insert("mail".into(), json!("a@example.org"));
        let write = UserWrite {
            id: None,
            attributes,
            relationships: Map::new(),
        };
        let event = user_write(Some(&user(true)), "u-1", &write, None).failed("refused");
        assert_eq!(event.event, EventKind::UserUpdated);
        assert_eq!(event.active, None);
        assert_eq!(event.outcome, Outcome::Failed);
    }

    #[test]
    fn a_write_that_may_have_reached_drupal_has_an_unknown_outcome_not_a_failed_one() {
        use crate::drupal::DrupalError;
        let write = UserWrite::default();
        let event = |e: &ProvisioningError| user_write(None, "u-1", &write, None).failed(e);
        let timeout = ProvisioningError::Drupal(DrupalError::Timeout);
        assert_eq!(event(&timeout).outcome, Outcome::Unknown);
        assert_eq!(
            event(&timeout).detail.as_deref(),
            Some("Drupal did not answer in time")
        );
        let gateway = DrupalError::Server {
            status: 504,
            detail: "Gateway Timeout".into(),
            retry_after: None,
        };
        assert_eq!(
            event(&ProvisioningError::Drupal(gateway)).outcome,
            Outcome::Unknown
        );
        for refused in [
            DrupalError::Forbidden("no".into()),
            DrupalError::Unreachable("refused".into()),
            DrupalError::Server {
                status: 500,
                detail: "error".into(),
                retry_after: None,
            },
            DrupalError::CircuitOpen { retry_after: 5 },
        ] {
            assert_eq!(
                event(&ProvisioningError::Drupal(refused.clone())).outcome,
                Outcome::Failed,
                "{refused}"
            );
            // As the membership writes pass it: Drupal's own error.
            assert_eq!(
                user_write(None, "u-1", &write, None)
                    .failed(&refused)
                    .outcome,
                Outcome::Failed
            );
        }
        assert_eq!(
            user_write(None, "u-1", &write, None)
                .failed(DrupalError::Timeout)
                .outcome,
            Outcome::Unknown
        );
        let line = serde_json::to_string(&event(&timeout)).unwrap();
        assert!(line.contains(r#""outcome":"unknown""#), "{line}");
    }
}
