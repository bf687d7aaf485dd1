//! Does the site have the fields the mapping writes, with a fitting type?
//! JSON:API publishes no field definitions to a plain client, so the answer
//! comes from what accounts show: a field no account lists does not exist;
//! `null` means one value, `[]` several; a value's JSON shape tells its type.

use std::borrow::Cow;

use serde_json::Value;

use super::fix_script::Remedy;
use super::Finding;
use crate::drupal::DrupalUser;
use crate::mapping::{FieldType, MappedField};

const TOPIC: &str = "field";
const MANAGE_FIELDS: &str = "Configuration › People › Account settings › Manage fields";

/// How one field appears in a sample of accounts.
#[derive(Debug, Default)]
struct Seen<'u> {
    as_attribute: Vec<Cow<'u, Value>>,
    as_relationship: Vec<Cow<'u, Value>>,
}

/// One finding about `field`, judged from `accounts` (full accounts only:
/// items Drupal stripped to `display_name` say nothing).
pub(super) fn compare(field: &MappedField, accounts: &[DrupalUser]) -> Finding {
    let mut seen = Seen::default();
    for account in accounts {
        if let Some(value) = account.attributes.get_ref(&field.name) {
            seen.as_attribute.push(Cow::from(value));
        }
        if let Some(data) = account
            .relationships
            .get(&field.name)
            .and_then(|r| r.get("data"))
        {
            seen.as_relationship.push(Cow::Borrowed(data));
        }
    }
    let name = &field.name;
    let rule = &field.rule;
    let wants_reference = field.field_type == FieldType::EntityReference;
    let values = match (wants_reference, &seen) {
        (
            _,
            Seen {
                as_attribute: a,
                as_relationship: r,
            },
        ) if a.is_empty() && r.is_empty() => {
            return Finding::error(
                TOPIC,
                format!("{name} does not exist on the user entity ({rule} writes it)"),
                format!(
                    "add it under {MANAGE_FIELDS} as {}, or delete the rule",
                    drupal_type_label(field.field_type)
                ),
            )
            .with_remedy(Remedy::CreateField {
                name: name.clone(),
                field_type: field.field_type,
                multiple: field.multiple,
                target_type: field.reference_type.clone(),
            });
        }
        (
            true,
            Seen {
                as_relationship: r, ..
            },
        ) if r.is_empty() => {
            return Finding::error(
                TOPIC,
                format!("{name} is not an entity reference on the site, but {rule} says `type: entity_reference`"),
                "set `type:` to the field's type (see mappings/README.md), or map another field",
            );
        }
        (
            false,
            Seen {
                as_attribute: a,
                as_relationship: r,
            },
        ) if a.is_empty() => {
            let target = r
                .iter()
                .flat_map(|data| items(data))
                .find_map(|item| item.get("type").and_then(Value::as_str))
                .unwrap_or("<the referenced type>");
            return Finding::error(
                TOPIC,
                format!(
                    "{name} is an entity reference on the site, but {rule} says `type: {}`",
                    field.field_type.name()
                ),
                format!("write `type: entity_reference` and `target: {target}` in {rule}"),
            );
        }
        (true, seen) => &seen.as_relationship,
        (false, seen) => &seen.as_attribute,
    };

    let site_multiple = values.iter().any(|v| v.is_array());
    if site_multiple && !field.multiple {
        return Finding::error(
            TOPIC,
            format!("{name} holds several values on the site, but {rule} writes one"),
            format!("add `multiple: true` to {rule}"),
        );
    }
    if !site_multiple && field.multiple {
        return Finding::error(
            TOPIC,
            format!("{name} holds one value on the site, but {rule} says `multiple: true`"),
            format!("remove `multiple: true` from {rule}, or use a `join` transform"),
        );
    }

    let Some(sample) = values.iter().flat_map(|v| items(v)).next() else {
        return Finding::warning(
            TOPIC,
            format!("{name} exists; its type cannot be verified because no account has a value in it yet"),
            format!("make sure it is {} ({rule})", drupal_type_label(field.field_type)),
        );
    };
    if let Some(problem) = mismatch(field, sample) {
        return Finding::error(TOPIC, problem, format!(
            "set `type:` in {rule} to the field's type (see mappings/README.md), or map another field"
        ));
    }
    Finding::ok(
        TOPIC,
        format!("{name} exists and holds {}", describe(sample)),
    )
}

/// The non-null items of a field value: the value, or its elements.
fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(elements) => elements.iter().filter(|e| !e.is_null()).collect(),
        single => vec![single],
    }
}

/// Why `sample`, one item of the field on the site, does not fit the rule.
fn mismatch(field: &MappedField, sample: &Value) -> Option<String> {
    let fits = match field.field_type {
        FieldType::String
        | FieldType::StringLong
        | FieldType::Email
        | FieldType::Telephone
        | FieldType::ListString => sample.is_string(),
        FieldType::Text => sample
            .get("value")
            .is_some_and(|v| v.is_string() || v.is_null()),
        FieldType::Boolean => sample.is_boolean(),
        FieldType::Integer | FieldType::ListInteger => sample.is_i64() || sample.is_u64(),
        FieldType::Link => sample.get("uri").is_some(),
        FieldType::Date => sample.as_str().is_some_and(is_date),
        FieldType::Datetime => sample.as_str().is_some_and(|s| s.contains('T')),
        FieldType::EntityReference => {
            let site_target = sample.get("type").and_then(Value::as_str);
            if let (Some(site), Some(wanted)) = (site_target, field.reference_type.as_deref()) {
                if site != wanted {
                    return Some(format!(
                        "{} references {site} on the site, but {} says `target: {wanted}`",
                        field.name, field.rule
                    ));
                }
            }
            true
        }
        // Base fields with a fixed type: nothing to compare.
        FieldType::Password | FieldType::Timestamp => true,
    };
    (!fits).then(|| {
        format!(
            "{} holds {} on the site, but {} says `type: {}`",
            field.name,
            describe(sample),
            field.rule,
            field.field_type.name()
        )
    })
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// What a field item looks like, in the words of Drupal's field types.
fn describe(sample: &Value) -> &'static str {
    match sample {
        Value::Bool(_) => "true/false values (Boolean)",
        Value::Number(_) => "numbers",
        Value::String(s) if is_date(s) => "dates",
        Value::String(s) if s.contains('T') && s.contains(':') => "dates with times",
        Value::String(_) => "text",
        Value::Object(o) if o.contains_key("uri") => "links",
        Value::Object(o) if o.contains_key("format") => "formatted text",
        Value::Object(o) if o.contains_key("id") => "entity references",
        _ => "values of another kind",
    }
}

/// The Drupal field type to create for a mapping type.
fn drupal_type_label(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::String => "Text (plain)",
        FieldType::StringLong => "Text (plain, long)",
        FieldType::Text => "Text (formatted)",
        FieldType::Boolean => "Boolean",
        FieldType::Integer => "Number (integer)",
        FieldType::ListString => "List (text)",
        FieldType::ListInteger => "List (integer)",
        FieldType::Email => "Email",
        FieldType::Telephone => "Telephone number",
        FieldType::Link => "Link",
        FieldType::Date => "Date (date only)",
        FieldType::Datetime => "Date (date and time)",
        FieldType::EntityReference => "Entity reference",
        FieldType::Password | FieldType::Timestamp => "a base field",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::Severity;
    use super::*;
    use crate::mapping::{Item, Section};

    fn field(name: &str, field_type: FieldType, multiple: bool) -> MappedField {
        MappedField {
            name: name.into(),
            field_type,
            multiple,
            reference_type: None,
            rule: Item {
                section: Section::Rule,
                number: 4,
                label: Some(format!("drupal: {name}")),
            },
        }
    }

    fn account(resource: Value) -> DrupalUser {
        DrupalUser::from_resource(resource).expect("resource")
    }

    fn judge(field: &MappedField, resources: Vec<Value>) -> Finding {
        let accounts: Vec<DrupalUser> = resources.into_iter().map(account).collect();
        compare(field, &accounts)
    }

    #[test]
    fn a_field_no_account_lists_is_missing_and_the_fix_names_the_drupal_type() {
        let finding = judge(
            &field("field_phone", FieldType::Telephone, false),
            vec![json!({"id": "a", "attributes": {"name": "ada"}})],
        );
        assert_eq!(finding.severity, Severity::Error);
        assert_eq!(
            finding.to_string(),
            "error   field: field_phone does not exist on the user entity (rule 4 (drupal: field_phone) writes it) — add it under Configuration › People › Account settings › Manage fields as Telephone number, or delete the rule"
        );
    }

    #[test]
    fn a_field_that_is_always_empty_exists_but_its_type_is_not_verifiable() {
        let finding = judge(
            &field("field_badge", FieldType::String, false),
            vec![json!({"id": "a", "attributes": {"name": "ada", "field_badge": null}})],
        );
        assert_eq!(finding.severity, Severity::Warning);
        assert!(finding.message.contains("cannot be verified"), "{finding}");
    }

    #[test]
    fn values_of_every_mapping_type_are_recognised() {
        let cases = [
            (FieldType::String, json!("x")),
            (FieldType::Email, json!("a@example.org")),
            (
                FieldType::Text,
                json!({"value": "x", "format": "plain_text"}),
            ),
            (FieldType::Boolean, json!(true)),
            (FieldType::Integer, json!(7)),
            (FieldType::ListInteger, json!(3)),
            (
                FieldType::Link,
                json!({"uri": "https://example.org", "title": null}),
            ),
            (FieldType::Date, json!("2024-05-01")),
            (FieldType::Datetime, json!("2024-05-01T21:30:00")),
        ];
        for (field_type, value) in cases {
            let finding = judge(
                &field("field_x", field_type, false),
                vec![json!({"id": "a", "attributes": {"name": "ada", "field_x": value}})],
            );
            assert_eq!(finding.severity, Severity::Ok, "{field_type:?}: {finding}");
        }
    }

    #[test]
    fn a_value_of_another_type_is_an_error_naming_both_types() {
        let finding = judge(
            &field("field_vip", FieldType::String, false),
            vec![
                json!({"id": "a", "attributes": {"name": "ada", "field_vip": null}}),
                json!({"id": "b", "attributes": {"name": "bob", "field_vip": true}}),
            ],
        );
        assert_eq!(finding.severity, Severity::Error);
        assert!(
            finding
                .message
                .contains("field_vip holds true/false values (Boolean) on the site, but rule 4 (drupal: field_vip) says `type: string`"),
            "{finding}"
        );
    }

    #[test]
    fn cardinality_differences_are_errors_both_ways() {
        let several = judge(
            &field("field_tags", FieldType::String, false),
            vec![json!({"id": "a", "attributes": {"name": "ada", "field_tags": []}})],
        );
        assert_eq!(several.severity, Severity::Error);
        assert!(several
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("multiple: true")));
        let one = judge(
            &field("field_tags", FieldType::String, true),
            vec![json!({"id": "a", "attributes": {"name": "ada", "field_tags": null}})],
        );
        assert_eq!(one.severity, Severity::Error);
        assert!(one.message.contains("holds one value"), "{one}");
    }

    #[test]
    fn references_are_looked_for_in_relationships_with_their_target_type() {
        let mut manager = field("field_manager", FieldType::EntityReference, false);
        manager.reference_type = Some("user--user".into());
        let referencing = |target: &str| {
            json!({"id": "a", "attributes": {"name": "ada"},
                   "relationships": {"field_manager": {"data": {"type": target, "id": "b"}}}})
        };
        assert_eq!(
            judge(&manager, vec![referencing("user--user")]).severity,
            Severity::Ok
        );
        let wrong_target = judge(&manager, vec![referencing("taxonomy_term--tags")]);
        assert_eq!(wrong_target.severity, Severity::Error);
        assert!(
            wrong_target.message.contains("taxonomy_term--tags"),
            "{wrong_target}"
        );

        let as_text = judge(
            &field("field_manager", FieldType::String, false),
            vec![referencing("user--user")],
        );
        assert_eq!(as_text.severity, Severity::Error);
        assert!(
            as_text
                .fix
                .as_deref()
                .is_some_and(|f| f.contains("target: user--user")),
            "{as_text}"
        );
    }
}
