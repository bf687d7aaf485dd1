//! Request bodies: JSON:API documents turned into an edited copy of a user,
//! with Drupal's checks in Drupal's order (unknown fields 422, field access
//! 403, unknown related roles 404, then per-field primitive violations).

use serde_json::{Map, Value};

use super::config::FieldKind;
use super::errors::{ApiError, Failure, Violation};
use super::model::{User, UserField, ROLE_ANONYMOUS, ROLE_AUTHENTICATED};
use super::state::Site;

/// The resource object of a POST/PATCH body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceInput {
    /// `data.id` as text (`None` when absent).
    pub(crate) id: Option<String>,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) relationships: Map<String, Value>,
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Empty request body."));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request("Syntax error"))
}

pub(crate) fn parse_resource(body: &[u8]) -> Result<ResourceInput, ApiError> {
    let doc = parse_json(body)?;
    let data = doc.get("data").filter(|d| d.get("type").is_some());
    let Some(data) = data else {
        return Err(ApiError::bad_request(
            "Resource object must include a \"type\".",
        ));
    };
    let object = |key: &str| {
        data.get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let id = data.get("id").map(|id| match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    Ok(ResourceInput {
        id,
        attributes: object("attributes"),
        relationships: object("relationships"),
    })
}

/// The `id`s of a relationship body (`{"data": [{type, id}, ...]}`).
pub(crate) fn parse_identifiers(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let doc = parse_json(body)?;
    let Some(Value::Array(items)) = doc.get("data") else {
        return Err(ApiError::bad_request(
            "Invalid body payload for the relationship.",
        ));
    };
    Ok(identifier_ids(items))
}

fn identifier_ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| item.get("id"))
        .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string))
        .collect()
}

/// Role machine names for identifier ids; unknown ids are reported through
/// `unknown`. The locked roles are dropped like Drupal drops them.
pub(crate) fn resolve_roles(
    site: &Site,
    ids: &[String],
    unknown: impl Fn(&str) -> ApiError,
) -> Result<Vec<String>, ApiError> {
    let mut names: Vec<String> = Vec::new();
    for id in ids {
        let role = site.role_by_uuid(id).ok_or_else(|| unknown(id))?;
        let locked = role.machine_name == ROLE_AUTHENTICATED || role.machine_name == ROLE_ANONYMOUS;
        if !locked && !names.contains(&role.machine_name) {
            names.push(role.machine_name.clone());
        }
    }
    Ok(names)
}

/// Who writes and how, which decides field edit access.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteRules {
    /// "POST" or "PATCH" (used in access messages).
    pub(crate) method: &'static str,
    pub(crate) administers_users: bool,
    pub(crate) may_change_own_username: bool,
}

/// The edited account plus what validation still needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) draft: User,
    /// Primitive-type violations keyed by field position (Drupal validates fields in definition order).
    pub(crate) violations: Vec<(usize, Violation)>,
    pub(crate) existing_password: Option<String>,
    pub(crate) password_changed: bool,
}

/// Field position in the user entity definition (orders violations).
pub(crate) fn field_position(field: &UserField, custom: &[super::config::FieldSeed]) -> usize {
    match field {
        UserField::Id | UserField::Uid | UserField::DisplayName => 0,
        UserField::Langcode => 1,
        UserField::PreferredLangcode => 2,
        UserField::PreferredAdminLangcode => 3,
        UserField::Name => 4,
        UserField::Pass => 5,
        UserField::Mail => 6,
        UserField::Timezone => 7,
        UserField::Status => 8,
        UserField::Created => 9,
        UserField::Changed => 10,
        UserField::Access => 11,
        UserField::Login => 12,
        UserField::Init => 13,
        UserField::Roles => 14,
        UserField::DefaultLangcode => 15,
        UserField::Custom(name, _) => {
            16 + custom
                .iter()
                .position(|f| &f.name == name)
                .unwrap_or_default()
        }
    }
}

/// Drupal accepts a field either as its main value or as `{"value": ...}`.
fn main_value(value: &Value) -> &Value {
    match value {
        Value::Object(props) => props.get("value").unwrap_or(&Value::Null),
        other => other,
    }
}

fn as_text(value: &Value) -> Result<Option<String>, ()> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(b.then(|| "1".to_string())),
        Value::Array(_) | Value::Object(_) => Err(()),
    }
}

/// `PrimitiveTypeConstraint` for booleans: true/false, 0/1, "0"/"1".
fn as_bool(value: &Value) -> Result<bool, ()> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::String(s) if s == "0" => Ok(false),
        Value::String(s) if s == "1" => Ok(true),
        _ => Err(()),
    }
}

fn as_int(value: &Value) -> Result<i64, ()> {
    match value {
        Value::Number(n) => n.as_i64().ok_or(()),
        Value::String(s) => s.trim().parse().map_err(|_| ()),
        _ => Err(()),
    }
}

/// Timestamps are written as RFC 3339 strings (or Unix seconds).
fn as_timestamp(value: &Value) -> Result<i64, ()> {
    if let Value::String(s) = value {
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Ok(t.timestamp());
        }
    }
    as_int(value)
}

fn primitive(field: &UserField) -> Violation {
    Violation::new(
        &format!("{}.0.value", field.internal_name()),
        "This value should be of the correct primitive type.",
    )
}

/// Applies the attributes and roles of `input` to a copy of `original`.
pub(crate) fn apply(
    site: &Site,
    original: &User,
    input: &ResourceInput,
    rules: WriteRules,
) -> Result<Applied, Failure> {
    let mut fields = Vec::new();
    for (name, value) in &input.attributes {
        match UserField::from_public(name, &site.custom_fields) {
            Some(field) if !matches!(field, UserField::Id | UserField::Roles) => {
                fields.push((field, value))
            }
            _ => return Err(unknown_attribute(name)),
        }
    }
    let mut roles_data = None;
    let mut group_refs = None;
    for (name, value) in &input.relationships {
        if site.taxonomy && name == super::taxonomy::GROUPS_FIELD {
            group_refs = Some(super::taxonomy::body_refs(site, value)?);
            continue;
        }
        if name != "roles" {
            return Err(unknown_attribute(name));
        }
        roles_data = Some(
            value
                .get("data")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
    }
    let roles = match &roles_data {
        Some(items) => Some(resolve_roles(site, &identifier_ids(items), |id| {
            ApiError::new(
                404,
                format!("The resource identified by `user_role--user_role:{id}` (given as a relationship item) could not be found."),
            )
        })?),
        None => None,
    };

    let mut applied = Applied {
        draft: original.clone(),
        violations: Vec::new(),
        existing_password: None,
        password_changed: false,
    };
    for (field, value) in fields {
        check_edit_access(&field, value, original, rules)?;
        set_field(site, &mut applied, &field, value);
    }
    if let Some(roles) = roles {
        if !rules.administers_users && roles != original.roles {
            return Err(forbidden_field(rules.method, "roles").into());
        }
        applied.draft.roles = roles;
    }
    if let Some(refs) = group_refs {
        applied.draft.term_refs = refs;
    }
    Ok(applied)
}

fn unknown_attribute(name: &str) -> Failure {
    ApiError::new(
        422,
        format!("The attribute {name} does not exist on the user--user resource type."),
    )
    .into()
}

fn forbidden_field(method: &str, internal: &str) -> ApiError {
    ApiError::forbidden(format!(
        "The current user is not allowed to {method} the selected field ({internal})."
    ))
    .with_pointer(format!("/data/attributes/{internal}"))
}

fn check_edit_access(
    field: &UserField,
    value: &Value,
    original: &User,
    rules: WriteRules,
) -> Result<(), ApiError> {
    if *field == UserField::Uid {
        if rules.method == "PATCH" {
            return Err(ApiError::forbidden(
                "The current user is not allowed to PATCH the selected field (uid). The entity ID cannot be changed.",
            )
            .with_pointer("/data/attributes/uid"));
        }
        return Err(forbidden_field(rules.method, "uid"));
    }
    let unchanged =
        *field == UserField::Name && main_value(value).as_str() == Some(original.name.as_str());
    if rules.administers_users || unchanged || field.self_editable(rules.may_change_own_username) {
        return Ok(());
    }
    Err(forbidden_field(rules.method, field.internal_name()))
}

fn set_field(site: &Site, applied: &mut Applied, field: &UserField, raw: &Value) {
    let value = main_value(raw);
    let position = field_position(field, &site.custom_fields);
    let draft = &mut applied.draft;
    let outcome: Result<(), ()> = match field {
        UserField::Name => as_text(value).map(|v| draft.name = v.unwrap_or_default()),
        UserField::Mail => as_text(value).map(|v| draft.mail = v),
        UserField::Init => as_text(value).map(|v| draft.init = v),
        UserField::Timezone => {
            as_text(value).map(|v| draft.timezone = v.unwrap_or_else(|| "UTC".into()))
        }
        UserField::Langcode => {
            as_text(value).map(|v| draft.langcode = v.unwrap_or_else(|| "en".into()))
        }
        UserField::PreferredLangcode => as_text(value).map(|v| draft.preferred_langcode = v),
        UserField::PreferredAdminLangcode => {
            as_text(value).map(|v| draft.preferred_admin_langcode = v)
        }
        UserField::Status => as_bool(value).map(|v| draft.status = v),
        UserField::Created => as_timestamp(value).map(|v| draft.created = v),
        UserField::Access => as_timestamp(value).map(|v| draft.access = v),
        UserField::Login => as_timestamp(value).map(|v| draft.login = v),
        UserField::Pass => {
            applied.existing_password = raw
                .get("existing")
                .and_then(Value::as_str)
                .map(str::to_string);
            as_text(value).map(|v| {
                if let Some(password) = v {
                    draft.pass = Some(password);
                    applied.password_changed = true;
                }
            })
        }
        UserField::Custom(name, kind) => {
            set_custom(draft, name, *kind, value, &mut applied.violations, position)
        }
        // Computed or maintained by Drupal itself: written values are ignored.
        UserField::DisplayName | UserField::Changed | UserField::DefaultLangcode => Ok(()),
        UserField::Id | UserField::Uid | UserField::Roles => Ok(()),
    };
    if outcome.is_err() {
        applied.violations.push((position, primitive(field)));
    }
}

fn set_custom(
    draft: &mut User,
    name: &str,
    kind: FieldKind,
    value: &Value,
    violations: &mut Vec<(usize, Violation)>,
    position: usize,
) -> Result<(), ()> {
    let stored = match (kind, value) {
        (_, Value::Null) => Value::Null,
        (FieldKind::String { max_len }, _) => {
            let text = as_text(value)?.unwrap_or_default();
            if text.chars().count() > max_len {
                violations.push((
                    position,
                    Violation::new(
                        &format!("{name}.0.value"),
                        format!("{name}: may not be longer than {max_len} characters."),
                    ),
                ));
            }
            if text.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            }
        }
        (FieldKind::Boolean, _) => Value::Bool(as_bool(value)?),
        (FieldKind::Integer, _) => Value::from(as_int(value)?),
    };
    if stored.is_null() {
        draft.fields.remove(name);
    } else {
        draft.fields.insert(name.to_string(), stored);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::config::StandInConfig;
    use serde_json::json;

    fn site() -> Site {
        Site::new(&StandInConfig::demo("pw")).unwrap()
    }

    fn input(doc: Value) -> ResourceInput {
        parse_resource(doc.to_string().as_bytes()).unwrap()
    }

    const ADMIN: WriteRules = WriteRules {
        method: "PATCH",
        administers_users: true,
        may_change_own_username: false,
    };

    #[test]
    fn empty_and_broken_bodies_get_the_recorded_400_messages() {
        assert_eq!(
            parse_resource(b"").unwrap_err().detail,
            "Empty request body."
        );
        assert_eq!(
            parse_resource(b"this is { not json").unwrap_err().detail,
            "Syntax error"
        );
        assert_eq!(
            parse_resource(br#"{"name":"x"}"#).unwrap_err().detail,
            "Resource object must include a \"type\"."
        );
    }

    #[test]
    fn pass_may_be_a_string_or_an_object_with_existing() {
        let site = site();
        let user = User::new(5, "u".into(), "u".into(), 0);
        let plain = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"pass": "p1"}}})),
            ADMIN,
        )
        .unwrap();
        assert_eq!(plain.draft.pass.as_deref(), Some("p1"));
        let object = input(
            json!({"data": {"type": "x", "attributes": {"pass": {"value": "p2", "existing": "old"}}}}),
        );
        let applied = apply(&site, &user, &object, ADMIN).unwrap();
        assert_eq!(applied.draft.pass.as_deref(), Some("p2"));
        assert_eq!(applied.existing_password.as_deref(), Some("old"));
        assert!(applied.password_changed);
    }

    #[test]
    fn status_accepts_booleans_and_zero_one_but_not_words() {
        let site = site();
        let user = User::new(5, "u".into(), "u".into(), 0);
        let zero = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"status": 1}}})),
            ADMIN,
        )
        .unwrap();
        assert!(zero.draft.status && zero.violations.is_empty());
        let word = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"status": "false"}}})),
            ADMIN,
        )
        .unwrap();
        assert_eq!(
            word.violations,
            vec![(
                8,
                Violation::new(
                    "status.0.value",
                    "This value should be of the correct primitive type."
                )
            )]
        );
    }

    #[test]
    fn unknown_attributes_are_422_and_uid_is_403_with_a_pointer() {
        let site = site();
        let user = User::new(5, "u".into(), "u".into(), 0);
        let unknown = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"nosuchfield": 1}}})),
            ADMIN,
        );
        assert_eq!(unknown.unwrap_err().status(), 422);
        let uid = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"drupal_internal__uid": 9}}})),
            ADMIN,
        );
        match uid.unwrap_err() {
            Failure::Api(e) => assert_eq!(e.pointer.as_deref(), Some("/data/attributes/uid")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn roles_by_machine_name_are_not_found_and_authenticated_is_dropped() {
        let site = site();
        let user = User::new(5, "u".into(), "u".into(), 0);
        let by_name = input(
            json!({"data": {"type": "x", "relationships": {"roles": {"data": [{"type": "user_role--user_role", "id": "editor"}]}}}}),
        );
        assert_eq!(
            apply(&site, &user, &by_name, ADMIN).unwrap_err().status(),
            404
        );
        let authenticated = site.role_by_name("authenticated").unwrap().uuid.clone();
        let editor = site.role_by_name("editor").unwrap().uuid.clone();
        let ids = vec![authenticated, editor.clone(), editor];
        let names = resolve_roles(&site, &ids, |id| ApiError::bad_request(id)).unwrap();
        assert_eq!(names, vec!["editor"]);
    }

    #[test]
    fn a_plain_user_may_not_change_their_own_status() {
        let site = site();
        let user = User::new(5, "u".into(), "u".into(), 0);
        let rules = WriteRules {
            method: "PATCH",
            administers_users: false,
            may_change_own_username: false,
        };
        let status = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"status": true}}})),
            rules,
        );
        assert_eq!(status.unwrap_err().status(), 403);
        let timezone = apply(
            &site,
            &user,
            &input(json!({"data": {"type": "x", "attributes": {"timezone": "Europe/Paris"}}})),
            rules,
        );
        assert_eq!(timezone.unwrap().draft.timezone, "Europe/Paris");
    }

    #[test]
    fn custom_string_fields_are_length_checked_and_null_clears_them() {
        let site = site();
        let mut user = User::new(5, "u".into(), "u".into(), 0);
        user.fields
            .insert("field_scim_external_id".into(), json!("x"));
        let long = "e".repeat(256);
        let too_long =
            input(json!({"data": {"type": "x", "attributes": {"field_scim_external_id": long}}}));
        assert_eq!(
            apply(&site, &user, &too_long, ADMIN)
                .unwrap()
                .violations
                .len(),
            1
        );
        let cleared =
            input(json!({"data": {"type": "x", "attributes": {"field_scim_external_id": null}}}));
        assert!(apply(&site, &user, &cleared, ADMIN)
            .unwrap()
            .draft
            .fields
            .is_empty());
    }
}
