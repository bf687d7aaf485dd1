//! What a search needs to know to push a SCIM comparison down to Drupal.

use serde_json::Value;

use super::field::{FieldType, Target};
use super::transform::Transform;

/// The Drupal field a SCIM attribute is stored in.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldBinding {
    pub drupal_field: String,
    pub field_type: FieldType,
    /// The field holds several values (a filter matches any of them).
    pub multiple: bool,
    target: Target,
    transforms: Vec<Transform>,
}

impl FieldBinding {
    pub(super) fn new(target: Target, transforms: Vec<Transform>) -> FieldBinding {
        FieldBinding {
            drupal_field: target.field.clone(),
            field_type: target.field_type,
            multiple: target.multiple,
            target,
            transforms,
        }
    }

    /// The JSON:API filter path: `mail`, `field_bio.value`, `field_manager.id`.
    pub fn filter_path(&self) -> String {
        self.target.filter_path()
    }

    /// A SCIM filter's text as this rule stores it, when the rule only
    /// normalises text (`trim`, `lowercase`, `langcode`, and the Unicode
    /// form of an identifier, see `Target::canonical`): the value an
    /// account read back shows for that text. `None` when that is the
    /// text itself, or the rule does more than normalise.
    pub fn stored_text(&self, scim_text: &str) -> Option<String> {
        if !self.transforms.iter().all(Transform::reads_back_as_stored) {
            return None;
        }
        let canonical = Value::String(self.target.canonical(scim_text.to_string()));
        let stored = self
            .transforms
            .iter()
            .filter(|t| t.normalizes())
            .fold(vec![canonical], |values, t| t.forward(values));
        match stored.as_slice() {
            [Value::String(text)] if text != scim_text => Some(text.clone()),
            _ => None,
        }
    }

    /// The Drupal value a SCIM filter literal stands for, as JSON (the
    /// caller formats it for the query string: `true` → `1`). `None` when
    /// the rule's transforms make the comparison impossible to push down
    /// (split, join, a literal longer than a truncation) or the literal does
    /// not fit the field.
    pub fn drupal_value_for(&self, scim_literal: &Value) -> Option<Value> {
        let value = self.transforms.iter().try_fold(
            self.target.canonical_value(scim_literal.clone()),
            |value, t| t.literal(value),
        )?;
        self.target.filter_value(&value)
    }
}

/// How an IdP user is linked to an existing Drupal account.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchKey {
    /// The SCIM attribute, spelled canonically: `userName`, `emails.value`.
    pub scim_attribute: String,
    pub binding: FieldBinding,
}
