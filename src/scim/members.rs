//! Group membership (RFC 7643 §4.2 `members`): a PATCH on a group lowered to
//! one typed change, without the current member list, so that a server can
//! add or remove members of a large group without reading it first.
//!
//! The forms identity providers send, all accepted:
//! - `add` on `members` with a list of `{"value": id}` (Entra adds `"$ref":
//!   null`, Okta adds `display` and no `type`), or a single object;
//! - `remove` on `members[value eq "id"]` (RFC form, Okta, Entra with its
//!   compatibility flag), also with `or` between several ids;
//! - `remove` on `members` with a value list (Entra's default form, JumpCloud):
//!   removes only the listed members, where the RFC would remove them all;
//! - `remove` on `members` without a value: every member goes; with an
//!   explicit `null` (in any operation) it is refused, not guessed at;
//! - `replace` on `members`, `[]` included (Okta's "push now" on an empty
//!   group), or path-less with `{"members": [...]}`;
//! - path-less `replace` of `displayName` and the read-only `id` (Okta sends
//!   both before every push); the caller checks that they are unchanged.

use std::collections::{BTreeSet, HashSet};

use serde_json::{Map, Value};

use super::attributes::AttributeResolver;
use super::error::ScimError;
use super::filter::{CompValue, CompareOp, Filter};
use super::patch::{
    in_operation, refuse_attributes_named_twice, PatchOpKind, PatchOperation, PatchRequest,
};
use super::path::{get_ci, AttrPath, ResolvedPath};
use super::resource::value_kind;
use crate::untrusted::quote;

/// What a request does to a group's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// These members join, those leave; everyone else stays.
    Delta {
        add: BTreeSet<String>,
        remove: BTreeSet<String>,
    },
    /// The members become exactly these.
    Exact(BTreeSet<String>),
}

impl Default for MembershipChange {
    fn default() -> Self {
        MembershipChange::Delta {
            add: BTreeSet::new(),
            remove: BTreeSet::new(),
        }
    }
}

impl MembershipChange {
    /// Folds one more step in, as if the steps ran in order. Ids are
    /// compared ignoring case, as the change is carried out: a later step
    /// on `abc` undoes an earlier one on `ABC`. The ids are kept as sent.
    fn add(&mut self, ids: Vec<String>) {
        match self {
            MembershipChange::Delta { add, remove } => {
                without(remove, &ids);
                add.extend(ids);
            }
            MembershipChange::Exact(members) => members.extend(ids),
        }
    }

    fn remove(&mut self, ids: Vec<String>) {
        match self {
            MembershipChange::Delta { add, remove } => {
                without(add, &ids);
                remove.extend(ids);
            }
            MembershipChange::Exact(members) => without(members, &ids),
        }
    }

    fn replace(&mut self, ids: Vec<String>) {
        *self = MembershipChange::Exact(ids.into_iter().collect());
    }

    /// Whether the change leaves the members as they are.
    pub fn is_empty(&self) -> bool {
        matches!(self, MembershipChange::Delta { add, remove } if add.is_empty() && remove.is_empty())
    }
}

/// Takes `ids` out of `set`, ignoring case: one pass over `set` per step,
/// none when it is empty.
fn without(set: &mut BTreeSet<String>, ids: &[String]) {
    if set.is_empty() || ids.is_empty() {
        return;
    }
    let gone: HashSet<String> = ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    set.retain(|id| !gone.contains(&id.to_ascii_lowercase()));
}

/// A group PATCH in typed form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPatch {
    /// Every `displayName` the request sets, in order.
    pub display_names: Vec<String>,
    /// Every `id` the request sets (a read-only attribute IdPs echo).
    pub ids: Vec<String>,
    pub members: MembershipChange,
    /// The last `externalId` the request sets (`Some(None)` removes it).
    /// Role-backed groups ignore it.
    pub external_id: Option<Option<String>>,
}

impl GroupPatch {
    /// Lowers a PatchOp request on a Group; `resolver` is the Group's schema.
    /// `meta` whole is accepted and ignored (IdPs echo it); one of its
    /// sub-attributes is read-only.
    pub fn from_request(
        request: &PatchRequest,
        resolver: &dyn AttributeResolver,
    ) -> Result<GroupPatch, ScimError> {
        let mut patch = GroupPatch::default();
        for (index, operation) in request.operations.iter().enumerate() {
            patch
                .apply(operation, resolver)
                .map_err(|e| in_operation(e, index))?;
        }
        Ok(patch)
    }

    fn apply(
        &mut self,
        operation: &PatchOperation,
        resolver: &dyn AttributeResolver,
    ) -> Result<(), ScimError> {
        let op = operation.op;
        let value = operation.value.as_ref();
        let Some(path) = &operation.path else {
            let Some(Value::Object(fields)) = value else {
                return Err(ScimError::invalid_value(format!(
                    "{op} without a \"path\" needs an object of attributes as its \"value\""
                )));
            };
            // `displayName` beside `urn:…:Group:displayName`: one attribute.
            refuse_attributes_named_twice(None, value, resolver)?;
            return fields.iter().try_for_each(|(key, value)| {
                let path = key_path(key)?;
                let name = attribute_name(&path, resolver)?;
                match &path.sub_attr {
                    Some(sub) => Err(sub_attribute_error(&name, sub, resolver)),
                    None => self.set(op, &name, value),
                }
            });
        };
        let name = attribute_name(&path.attr, resolver)?;
        let sub = path.sub_attr.as_ref().or(path.attr.sub_attr.as_ref());
        match (name.as_str(), &path.value_filter, sub) {
            ("members", Some(filter), None) if op == PatchOpKind::Remove => {
                self.members.remove(filtered_ids(filter)?);
                Ok(())
            }
            ("members", Some(_), None) => Err(ScimError::invalid_path(format!(
                "a value filter on members works with remove only, not with {op}"
            ))),
            ("members", _, Some(sub)) => Err(ScimError::mutability(format!(
                "members.{} cannot be changed: add or remove the member instead",
                quote(sub)
            ))),
            ("members", None, None) if op == PatchOpKind::Remove => {
                match value {
                    // RFC 7644 §3.5.2.2: no value at all removes every member.
                    None => self.members.replace(Vec::new()),
                    // Entra and JumpCloud: remove only the members listed.
                    Some(value) => self.members.remove(listed_members(op, value)?),
                }
                Ok(())
            }
            (_, Some(_), _) => Err(ScimError::invalid_path(format!(
                "\"{name}\" is not multi-valued, so it takes no value filter"
            ))),
            (_, None, None) => match (op, value) {
                (PatchOpKind::Remove, _) => self.remove(&name),
                (_, Some(value)) => self.set(op, &name, value),
                (_, None) => Err(ScimError::invalid_value(format!("{op} needs a \"value\""))),
            },
            (_, None, Some(sub)) => Err(sub_attribute_error(&name, sub, resolver)),
        }
    }

    /// An add or replace of one attribute with `value`.
    fn set(&mut self, op: PatchOpKind, name: &str, value: &Value) -> Result<(), ScimError> {
        match name {
            "members" if op == PatchOpKind::Add => self.members.add(listed_members(op, value)?),
            "members" => self.members.replace(listed_members(op, value)?),
            "displayName" => self.display_names.push(text(name, value)?),
            "id" => self.ids.push(text(name, value)?),
            "externalId" => {
                self.external_id = Some(match value {
                    Value::Null => None,
                    value => Some(text(name, value)?),
                })
            }
            "meta" | "schemas" => {}
            other => {
                return Err(ScimError::invalid_path(format!(
                    "\"{other}\" cannot be changed on a group"
                )))
            }
        }
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<(), ScimError> {
        match name {
            "members" => {
                self.members.replace(Vec::new());
                Ok(())
            }
            "externalId" => {
                self.external_id = Some(None);
                Ok(())
            }
            other => Err(ScimError::mutability(format!(
                "\"{other}\" cannot be removed from a group"
            ))),
        }
    }
}

/// The canonical name of a group attribute (`displayname`, a URN-qualified
/// `...:Group:displayName`, `schemas`).
fn attribute_name(path: &AttrPath, resolver: &dyn AttributeResolver) -> Result<String, ScimError> {
    if path.schema.is_none() && path.attr.eq_ignore_ascii_case("schemas") {
        return Ok("schemas".into());
    }
    let unknown = || {
        ScimError::invalid_path(format!(
            "a group has no attribute \"{}\"",
            crate::untrusted::quote(&path.to_string())
        ))
    };
    match path.resolve(resolver).map_err(|_| unknown())? {
        ResolvedPath::Attribute(target) => Ok(target.attr.name),
        ResolvedPath::Extension(_) => Err(unknown()),
    }
}

/// A key of a path-less operation's value, read as a path
/// (`displayName`, `meta.lastModified`).
fn key_path(key: &str) -> Result<AttrPath, ScimError> {
    AttrPath::parse(key).map_err(|_| {
        ScimError::invalid_path(format!(
            "a group has no attribute \"{}\"",
            crate::untrusted::quote(key)
        ))
    })
}

/// A write to the sub-attribute `sub` of the group attribute `name`: none
/// is writable. `meta`'s are read-only (RFC 7643 §3.1), `mutability` as
/// on users; a member's are changed by adding or removing the member.
fn sub_attribute_error(name: &str, sub: &str, resolver: &dyn AttributeResolver) -> ScimError {
    let known = resolver.resolve_sub(resolver.core_schema(), name, sub);
    match (name, known) {
        ("members", _) => ScimError::mutability(format!(
            "members.{} cannot be changed: add or remove the member instead",
            quote(sub)
        )),
        ("meta", Some(sub)) => ScimError::mutability(format!(
            "\"meta.{}\" is read-only and cannot be changed",
            sub.name
        )),
        _ => ScimError::invalid_path(format!(
            "\"{name}\" has no sub-attribute \"{}\"",
            quote(sub)
        )),
    }
}

fn text(name: &str, value: &Value) -> Result<String, ScimError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(ScimError::invalid_value(format!(
            "{name} must be a string, got {}",
            value_kind(other)
        ))),
    }
}

/// The member ids a PATCH operation lists. An explicit `null` is refused
/// rather than read as "no members": a `remove` without a value empties the
/// group (RFC 7644 §3.5.2.2), and a client sending `null` may have meant
/// that or a list it failed to fill; guessing wrong takes a role from every
/// holder, or answers success for a change not made.
fn listed_members(op: PatchOpKind, value: &Value) -> Result<Vec<String>, ScimError> {
    if value.is_null() {
        return Err(ScimError::invalid_value(format!(
            "{op} on members with a null \"value\": to remove every member, send remove on \"members\" \
             and omit \"value\"; otherwise list the members, as in [{{\"value\": \"<user id>\"}}]"
        )));
    }
    member_ids(value)
}

/// The member ids of a `members` value: a list of `{"value": id}` objects,
/// one such object, or bare id strings. Members of any `type` but `User`
/// are refused: a group here holds users only.
pub fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items: &[Value] = match value {
        Value::Array(items) => items,
        Value::Null => &[],
        single => std::slice::from_ref(single),
    };
    items.iter().map(member_id).collect()
}

fn member_id(item: &Value) -> Result<String, ScimError> {
    let member: &Map<String, Value> = match item {
        Value::String(id) => return Ok(id.trim().to_string()),
        Value::Object(member) => member,
        other => {
            return Err(ScimError::invalid_value(format!(
                "a member must be an object such as {{\"value\": \"<user id>\"}}, got {}",
                value_kind(other)
            )))
        }
    };
    if let Some(kind) = get_ci(member, "type").and_then(Value::as_str) {
        if !kind.eq_ignore_ascii_case("User") {
            return Err(ScimError::invalid_value(format!(
                "a member of type \"{}\" is not supported: groups hold users only",
                quote(kind)
            )));
        }
    }
    match get_ci(member, "value") {
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => Err(ScimError::invalid_value(
            "a member needs its user id in \"value\"",
        )),
    }
}

/// The ids a `members[...]` filter selects: `value eq "id"`, or several
/// joined by `or`. Other filters would need the member list to evaluate.
fn filtered_ids(filter: &Filter) -> Result<Vec<String>, ScimError> {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(id),
        } if path.schema.is_none()
            && path.sub_attr.is_none()
            && path.attr.eq_ignore_ascii_case("value") =>
        {
            Ok(vec![id.trim().to_string()])
        }
        Filter::Or(left, right) => {
            let mut ids = filtered_ids(left)?;
            ids.extend(filtered_ids(right)?);
            Ok(ids)
        }
        other => Err(ScimError::invalid_filter(format!(
            "members[{}] is not supported: select members by id, as in members[value eq \"<user id>\"]",
            quote(&other.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_about_a_member_do_not_repeat_what_the_client_sent_whole() {
        let long = "x".repeat(10_000);
        for value in [
            json!([{"value": "u1", "type": long}]),
            json!([[long.clone()]]),
            json!([{"value": [long.clone()]}]),
        ] {
            let e = member_ids(&value).unwrap_err();
            assert!(e.detail.len() < 500, "{}", e.detail);
        }
    }
    use crate::scim::error::ScimType;
    use crate::scim::schema::ResourceSchema;

    fn lower(body: Value) -> Result<GroupPatch, ScimError> {
        let request = PatchRequest::from_json(&body)?;
        GroupPatch::from_request(&request, &ResourceSchema::group())
    }

    /// `meta` and its sub-attributes are read-only (RFC 7643 §3.1), as on
    /// users: writing one is `mutability`, in a path or a path-less value.
    #[test]
    fn a_meta_sub_attribute_is_read_only() {
        for operation in [
            json!({"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}),
            json!({"op": "add", "path": "META.created", "value": "2020-01-01T00:00:00Z"}),
            json!({"op": "remove", "path": "meta.version"}),
            json!({"op": "replace", "value": {"meta.lastModified": "2020-01-01T00:00:00Z"}}),
        ] {
            let e = lower(json!({"Operations": [operation.clone()]})).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(ScimType::Mutability),
                "{operation}: {}",
                e.detail
            );
            assert!(e.detail.contains("read-only"), "{operation}: {}", e.detail);
        }
        let e = lower(
            json!({"Operations": [{"op": "replace", "path": "meta.lastModified", "value": "x"}]}),
        )
        .unwrap_err();
        assert!(e.detail.contains("\"meta.lastModified\""), "{}", e.detail);
        // The whole `meta` IdPs echo is still accepted and ignored.
        assert_eq!(
            ops(json!([{"op": "replace", "value": {"meta": {"resourceType": "Group"}}}])),
            GroupPatch::default()
        );
    }

    fn ops(operations: Value) -> GroupPatch {
        lower(json!({"Operations": operations})).expect("valid patch")
    }

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn delta(add: &[&str], remove: &[&str]) -> MembershipChange {
        MembershipChange::Delta {
            add: set(add),
            remove: set(remove),
        }
    }

    #[test]
    fn entra_add_with_null_ref_and_capitalised_op_adds_the_members() {
        let patch = ops(json!([{"op": "Add", "path": "members",
            "value": [{"$ref": null, "value": "u1"}, {"value": "u2"}]}]));
        assert_eq!(patch.members, delta(&["u1", "u2"], &[]));
    }

    #[test]
    fn okta_add_with_display_and_no_type_adds_the_member() {
        let patch = ops(json!([{"op": "add", "path": "members",
            "value": [{"value": "u1", "display": "a@b"}]}]));
        assert_eq!(patch.members, delta(&["u1"], &[]));
    }

    #[test]
    fn remove_with_a_value_list_removes_only_those_members() {
        let patch = ops(json!([{"op": "Remove", "path": "members",
            "value": [{"$ref": null, "value": "u1"}]}]));
        assert_eq!(patch.members, delta(&[], &["u1"]));
    }

    #[test]
    fn remove_by_value_filter_removes_that_member_and_or_lists_several() {
        let patch = ops(json!([{"op": "remove", "path": "members[value eq \"u1\"]"}]));
        assert_eq!(patch.members, delta(&[], &["u1"]));
        let patch =
            ops(json!([{"op": "remove", "path": "members[value eq \"u1\" or value eq \"u2\"]"}]));
        assert_eq!(patch.members, delta(&[], &["u1", "u2"]));
    }

    #[test]
    fn a_later_step_on_a_member_in_another_case_undoes_an_earlier_one() {
        let patch = ops(json!([
            {"op": "add", "path": "members", "value": [{"value": "ABC-1"}, {"value": "u2"}]},
            {"op": "remove", "path": "members[value eq \"abc-1\"]"}
        ]));
        assert_eq!(patch.members, delta(&["u2"], &["abc-1"]));
        let patch = ops(json!([
            {"op": "remove", "path": "members[value eq \"abc-1\"]"},
            {"op": "add", "path": "members", "value": [{"value": "ABC-1"}]}
        ]));
        assert_eq!(patch.members, delta(&["ABC-1"], &[]));
        let patch = ops(json!([
            {"op": "replace", "path": "members", "value": [{"value": "ABC-1"}, {"value": "u2"}]},
            {"op": "remove", "path": "members[value eq \"abc-1\"]"}
        ]));
        assert_eq!(patch.members, MembershipChange::Exact(set(&["u2"])));
    }

    #[test]
    fn remove_without_value_or_filter_removes_every_member() {
        let patch = ops(json!([{"op": "remove", "path": "members"}]));
        assert_eq!(patch.members, MembershipChange::Exact(set(&[])));
    }

    #[test]
    fn a_null_members_value_is_refused_and_an_empty_list_changes_nothing() {
        for operation in [
            json!({"op": "remove", "path": "members", "value": null}),
            json!({"op": "add", "path": "members", "value": null}),
            json!({"op": "replace", "path": "members", "value": null}),
            json!({"op": "add", "value": {"members": null}}),
        ] {
            let e = lower(json!({"Operations": [operation]})).unwrap_err();
            assert_eq!(e.status, 400, "{operation}");
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{operation}");
            assert!(e.detail.contains("omit \"value\""), "{}", e.detail);
        }
        let patch = ops(json!([{"op": "remove", "path": "members", "value": []}]));
        assert!(patch.members.is_empty());
    }

    #[test]
    fn replace_with_an_empty_list_empties_the_group() {
        let patch = ops(json!([{"op": "replace", "path": "members", "value": []}]));
        assert_eq!(patch.members, MembershipChange::Exact(set(&[])));
    }

    #[test]
    fn okta_path_less_rename_carries_the_name_and_the_echoed_id() {
        let patch = ops(json!([{"op": "replace",
            "value": {"id": "g1", "displayName": "Test SCIMv2"}}]));
        assert_eq!(patch.display_names, vec!["Test SCIMv2".to_string()]);
        assert_eq!(patch.ids, vec!["g1".to_string()]);
        assert!(patch.members.is_empty());
    }

    #[test]
    fn path_less_replace_with_members_replaces_them() {
        let patch = ops(json!([{"op": "replace",
            "value": {"displayName": "x", "members": [{"value": "u1"}]}}]));
        assert_eq!(patch.members, MembershipChange::Exact(set(&["u1"])));
    }

    #[test]
    fn steps_fold_in_order() {
        let patch = ops(json!([
            {"op": "remove", "path": "members[value eq \"u2\"]"},
            {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
            {"op": "remove", "path": "members", "value": [{"value": "u1"}]}
        ]));
        assert_eq!(patch.members, delta(&["u2"], &["u1"]));
        let patch = ops(json!([
            {"op": "replace", "path": "members", "value": [{"value": "u1"}]},
            {"op": "add", "path": "members", "value": [{"value": "u2"}]},
            {"op": "remove", "path": "members[value eq \"u1\"]"}
        ]));
        assert_eq!(patch.members, MembershipChange::Exact(set(&["u2"])));
    }

    #[test]
    fn displayname_path_and_urn_qualified_keys_are_read() {
        let patch = ops(json!([
            {"op": "Replace", "path": "displayname", "value": "New"},
            {"op": "replace", "value": {"urn:ietf:params:scim:schemas:core:2.0:Group:displayName": "Other"}}
        ]));
        assert_eq!(
            patch.display_names,
            vec!["New".to_string(), "Other".to_string()]
        );
    }

    #[test]
    fn external_id_is_carried_for_term_groups() {
        let patch = ops(json!([{"op": "replace", "path": "externalId", "value": "e1"}]));
        assert_eq!(patch.external_id, Some(Some("e1".to_string())));
        let removed = ops(json!([{"op": "remove", "path": "externalId"}]));
        assert_eq!(removed.external_id, Some(None));
        assert!(removed.members.is_empty() && removed.display_names.is_empty());
    }

    #[test]
    fn group_members_and_unknown_attributes_are_refused_with_the_operation_index() {
        let nested = lower(json!({"Operations": [
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "add", "path": "members", "value": [{"value": "g2", "type": "Group"}]}
        ]}))
        .unwrap_err();
        assert_eq!(nested.status, 400);
        assert!(
            nested.detail.starts_with("Operations[1]:"),
            "{}",
            nested.detail
        );
        let unknown = lower(json!({"Operations": [
            {"op": "replace", "path": "nickName", "value": "x"}
        ]}))
        .unwrap_err();
        assert_eq!(
            unknown.scim_type,
            Some(crate::scim::error::ScimType::InvalidPath)
        );
        let by_display = lower(json!({"Operations": [
            {"op": "remove", "path": "members[display eq \"a\"]"}
        ]}))
        .unwrap_err();
        assert_eq!(
            by_display.scim_type,
            Some(crate::scim::error::ScimType::InvalidFilter)
        );
        let member_without_id = lower(
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"display": "a"}]}]}),
        )
        .unwrap_err();
        assert!(member_without_id.detail.contains("value"));
    }
}
