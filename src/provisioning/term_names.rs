//! The names of term-backed groups, for the `display` of a user's `groups`.
//! A user's document holds only the UUIDs of its terms; reads of users ask
//! Drupal to include the terms' names in the same answer (`include=<field>`,
//! recorded: case 354), so naming costs no request. The names are kept here
//! so that the answer to a write, which Drupal sends without them, names
//! the groups too, and so that a reference whose term is gone (deleted
//! behind the bridge's back: Drupal keeps showing its UUID, recorded 381)
//! is left out rather than shown as a group that answers 404.
//!
//! `display` is added after the user's `version` is computed: a name known
//! to one replica and not yet to another must not make `If-Match` fail.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use super::render::ScimUser;
use super::Provisioner;
use crate::drupal::{referenced_terms, DrupalError, DrupalUser, Include};
use crate::mapping::GroupTerms;

/// Names kept at most; past it the map starts over (every read refills it).
const CAPACITY: usize = 100_000;

/// What the bridge last learnt of a term.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    Named(String),
    /// Referenced by a user, but Drupal did not include it: deleted.
    Gone,
}

/// A term of a user's groups as an answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TermName {
    /// Shown with this `display`.
    Named(String),
    /// Left out.
    Gone,
    /// Shown without `display`.
    Unknown,
}

#[derive(Default)]
pub struct TermNames {
    terms: Mutex<HashMap<String, Known>>,
}

impl TermNames {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Known>) -> T) -> T {
        // Every change is one insert: a poisoned lock is still consistent.
        let mut terms = self.terms.lock().unwrap_or_else(PoisonError::into_inner);
        if terms.len() > CAPACITY {
            terms.clear();
        }
        f(&mut terms)
    }

    /// A term read or written: its name now.
    pub fn learn(&self, id: &str, name: &str) {
        self.with(|t| t.insert(id.to_ascii_lowercase(), Known::Named(name.to_string())));
    }

    /// A term deleted by the bridge.
    pub fn forget(&self, id: &str) {
        self.with(|t| t.insert(id.to_ascii_lowercase(), Known::Gone));
    }

    /// Learns from a read of `users` that included their terms of `terms`
    /// (`included`): each included term's name, and every term referenced
    /// but not included is gone.
    pub fn learn_included(&self, terms: &GroupTerms, users: &[&DrupalUser], included: &[Value]) {
        let term_type = format!("taxonomy_term--{}", terms.vocabulary);
        let names: HashMap<String, &str> = included
            .iter()
            .filter(|r| r.get("type").and_then(Value::as_str) == Some(term_type.as_str()))
            .filter_map(|r| {
                let id = r.get("id")?.as_str()?;
                let name = r.get("attributes")?.get("name")?.as_str()?;
                Some((id.to_ascii_lowercase(), name))
            })
            .collect();
        self.with(|known| {
            for user in users {
                for id in referenced_terms(&user.relationships, &terms.user_field) {
                    let entry = match names.get(&id) {
                        Some(name) => Known::Named((*name).to_string()),
                        None => Known::Gone,
                    };
                    known.insert(id, entry);
                }
            }
        });
    }

    /// What is known of each of the terms `ids` (lower case, as
    /// `referenced_terms` gives them), for [`super::write_user`]: what
    /// [`TermNames::name_groups`] would do with each.
    pub(super) fn names_of(&self, ids: &[String]) -> Vec<TermName> {
        if ids.is_empty() {
            return Vec::new();
        }
        self.with(|known| {
            ids.iter()
                .map(|id| match known.get(&id.to_ascii_lowercase()) {
                    Some(Known::Named(name)) => TermName::Named(name.clone()),
                    Some(Known::Gone) => TermName::Gone,
                    None => TermName::Unknown,
                })
                .collect()
        })
    }

    /// Adds `display` to the user's term-backed groups whose name is known,
    /// and leaves out those whose term is gone. Role-backed groups carry
    /// their `display` already.
    pub fn name_groups(&self, user: &mut ScimUser) {
        let Some(Value::Array(groups)) = user.resource.get_mut("groups") else {
            return;
        };
        self.with(|known| {
            groups.retain_mut(|group| {
                if group.get("display").is_some() {
                    return true;
                }
                let Some(id) = group.get("value").and_then(Value::as_str) else {
                    return true;
                };
                match known.get(&id.to_ascii_lowercase()) {
                    Some(Known::Named(name)) => {
                        if let Value::Object(group) = group {
                            group.insert("display".into(), Value::String(name.clone()));
                        }
                        true
                    }
                    Some(Known::Gone) => false,
                    None => true,
                }
            })
        });
        if groups.is_empty() {
            user.resource.remove("groups");
        }
    }
}

impl Provisioner {
    /// `include` for reads of users whose groups are shown: the terms of
    /// the groups field, their names only.
    /// None while the site lacks the field (see `group_field`).
    pub(super) fn term_include(&self) -> Option<Include> {
        if self.group_field.is_missing() {
            return None;
        }
        self.mapping().group_terms().map(|terms| Include {
            relationship: terms.user_field.clone(),
            resource_type: format!("taxonomy_term--{}", terms.vocabulary),
            fields: vec!["name".into()],
        })
    }

    /// Whether `error` is Drupal refusing a read's `include` of the groups
    /// field because the site has no such field: the caller reads again
    /// without it (see `group_field`).
    pub(super) fn absorb_missing_group_field(&self, error: &DrupalError) -> bool {
        self.mapping()
            .group_terms()
            .is_some_and(|terms| self.group_field.absorb_missing(error, &terms.user_field))
    }

    /// One user with the terms of its groups included (their names), or
    /// without them on a site that lacks the groups field.
    pub(super) async fn get_user_with_terms(
        &self,
        id: &str,
    ) -> Result<Option<(DrupalUser, Vec<Value>)>, DrupalError> {
        let include = self.term_include();
        match self.drupal.get_user_with(id, include.as_ref()).await {
            Err(e) if include.is_some() && self.absorb_missing_group_field(&e) => {
                self.drupal.get_user_with(id, None).await
            }
            read => read,
        }
    }

    /// Learns the names a read of `users` included.
    pub(super) fn learn_term_names(&self, users: &[&DrupalUser], included: &[Value]) {
        if let Some(terms) = self.mapping().group_terms() {
            self.term_names.learn_included(terms, users, included);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn terms() -> GroupTerms {
        GroupTerms {
            vocabulary: "scim_groups".into(),
            user_field: "field_scim_groups".into(),
            external_id_field: None,
            published: false,
        }
    }

    fn user(refs: &[&str]) -> DrupalUser {
        let data: Vec<Value> = refs
            .iter()
            .map(|id| json!({"type": "taxonomy_term--scim_groups", "id": id}))
            .collect();
        DrupalUser::from_resource(json!({
            "type": "user--user", "id": "u1", "attributes": {"name": "ann"},
            "relationships": {"field_scim_groups": {"data": data}}
        }))
        .expect("a user")
    }

    fn scim(groups: Value) -> ScimUser {
        let mut resource = serde_json::Map::new();
        resource.insert("groups".into(), groups);
        ScimUser {
            id: "u1".into(),
            resource,
            version: "W/\"1\"".into(),
        }
    }

    #[test]
    fn included_terms_name_the_groups_and_a_term_not_included_is_left_out() {
        let names = TermNames::default();
        let included = [json!({"type": "taxonomy_term--scim_groups", "id": "T1",
                               "attributes": {"name": "Sales"}})];
        names.learn_included(&terms(), &[&user(&["t1", "t2"])], &included);
        let mut answer = scim(json!([
            {"value": "role-1", "display": "Editors", "type": "direct"},
            {"value": "t1", "type": "direct"},
            {"value": "t2", "type": "direct"},
            {"value": "t3", "type": "direct"}
        ]));
        names.name_groups(&mut answer);
        assert_eq!(
            answer.resource["groups"],
            json!([
                {"value": "role-1", "display": "Editors", "type": "direct"},
                {"value": "t1", "display": "Sales", "type": "direct"},
                // Never seen: shown without a name rather than guessed.
                {"value": "t3", "type": "direct"}
            ])
        );
    }

    #[test]
    fn a_rename_and_a_delete_by_the_bridge_are_seen_at_once() {
        let names = TermNames::default();
        names.learn("t1", "Old");
        names.learn("t1", "New");
        names.learn("t2", "Doomed");
        names.forget("t2");
        let mut answer = scim(json!([{"value": "t1"}, {"value": "t2"}]));
        names.name_groups(&mut answer);
        assert_eq!(
            answer.resource["groups"],
            json!([{"value": "t1", "display": "New"}])
        );
        let mut only_gone = scim(json!([{"value": "t2"}]));
        names.name_groups(&mut only_gone);
        assert!(only_gone.resource.get("groups").is_none());
    }
}
