//! One compiled rule, and how it moves values each way.

use serde_json::{Map, Value};

use crate::scim::attributes::AttrType;
use crate::scim::resource::Unassigned;

use super::binding::FieldBinding;
use super::datetime;
use super::error::Item;
use super::field::{boolean, integer, text, AttributeSource, FieldType, Scalar, Target};
use super::path::{Preference, ScimPath};
use super::raw::{Direction, WhenAbsent};
use super::template::Template;
use super::transform::Transform;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Source {
    Attribute(ScimPath),
    Template(Template),
    Constant(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rule {
    /// How messages name the rule.
    pub item: Item,
    pub source: Source,
    pub target: Target,
    pub transforms: Vec<Transform>,
    /// `prefer:` as written; empty means "primary, else first".
    pub prefer: Vec<Preference>,
    /// A multi-valued source feeds one value: pick an element.
    pub picks: bool,
    pub direction: Direction,
    pub write_once: bool,
    pub when_absent: WhenAbsent,
}

impl Rule {
    pub fn scim_path(&self) -> Option<&ScimPath> {
        match &self.source {
            Source::Attribute(path) => Some(path),
            _ => None,
        }
    }

    /// Whether a PUT body unassigned what this rule reads (RFC 7644
    /// §3.5.1): its field is then cleared even where an attribute left out
    /// keeps it.
    pub fn unassigned_by(&self, unassigned: &Unassigned) -> bool {
        match &self.source {
            Source::Attribute(path) => path.unassigned_by(unassigned),
            Source::Template(template) => template.unassigned_by(unassigned),
            Source::Constant(_) => false,
        }
    }

    /// Drupal keeps a value in the field (`name`, `mail`, `status`, `pass`).
    pub fn never_cleared(&self) -> bool {
        self.target.base.is_some_and(|b| b.never_cleared)
    }

    fn pick_order(&self) -> &[Preference] {
        if self.prefer.is_empty() {
            &[Preference::Primary]
        } else {
            &self.prefer
        }
    }

    /// The values this rule writes to Drupal for `user`, transformed.
    /// Without `defaults`, `default` steps are skipped: an update that keeps
    /// an absent field must not overwrite it with the default.
    pub fn drupal_values(&self, user: &Map<String, Value>, defaults: bool) -> Vec<Value> {
        let values = match &self.source {
            Source::Attribute(path) => path.values(user, self.picks.then(|| self.pick_order())),
            Source::Template(template) => template
                .render(user)
                .map(Value::String)
                .into_iter()
                .collect(),
            Source::Constant(value) => vec![value.clone()],
        };
        let values = values
            .into_iter()
            .map(|v| self.target.canonical_value(v))
            .collect();
        self.transforms
            .iter()
            .filter(|t| defaults || !matches!(t, Transform::Default(_)))
            .fold(values, |values, t| t.forward(values))
    }

    /// The SCIM values this rule reads back from a Drupal user.
    pub fn scim_values(
        &self,
        attributes: &(impl AttributeSource + ?Sized),
        relationships: &Map<String, Value>,
    ) -> Vec<Value> {
        let Some(path) = self.scim_path() else {
            return Vec::new();
        };
        let values = self.target.decode(attributes, relationships);
        self.transforms
            .iter()
            .rev()
            .fold(values, |values, t| t.backward(values))
            .into_iter()
            .filter_map(|v| as_scim_type(v, path.kind))
            .collect()
    }

    /// [`Rule::scim_values`], borrowing the value when it is a string or a
    /// boolean that comes back as it is (no transform undone, no type
    /// converted): a read by id then builds no `Value` and no `Vec` for it.
    /// Always inlined into its one caller
    /// ([`super::Mapping::tree_from_drupal`]): left to itself, the compiler
    /// stopped inlining it when that caller's callers changed, and a call
    /// per rule cost a read by id 500 instructions (callgrind).
    #[inline(always)]
    pub fn scim_read<'a>(
        &self,
        attributes: &'a (impl AttributeSource + ?Sized),
        relationships: &Map<String, Value>,
    ) -> Read<'a> {
        let Some(path) = self.scim_path() else {
            return Read::Nothing;
        };
        if self.target.is_relationship() {
            return Read::Values(self.scim_values(attributes, relationships));
        }
        // Transforms undone on the way back, and the type a value gets,
        // are what `scim_values` does; a value they would leave alone is
        // taken as it is.
        let kept = || {
            self.transforms.iter().all(|t| {
                !matches!(
                    t,
                    Transform::Map(_) | Transform::Split(_) | Transform::Join(_)
                )
            })
        };
        match attributes.scalar(&self.target.field) {
            // `decode` reads nothing from an absent or null field, and no
            // transform undone makes something of nothing.
            Scalar::Absent => Read::Nothing,
            Scalar::Str(s)
                if self.target.field_type.reads_text_as_is()
                    && matches!(
                        path.kind,
                        AttrType::String | AttrType::Reference | AttrType::Binary
                    )
                    && kept() =>
            {
                Read::Text(s)
            }
            Scalar::Bool(b)
                if self.target.field_type == FieldType::Boolean
                    && path.kind == AttrType::Boolean
                    && kept() =>
            {
                Read::Bool(b)
            }
            _ => Read::Values(self.scim_values(attributes, relationships)),
        }
    }

    /// The sub-attributes that say which element of a multi-valued
    /// attribute this rule's values are: `type: work` from a filter or
    /// from `prefer`.
    pub fn element_identity(&self) -> Vec<(String, Value)> {
        let Some(path) = self.scim_path().filter(|p| p.is_plural_complex()) else {
            return Vec::new();
        };
        if let Some(filter) = &path.filter {
            return vec![(filter.attr.clone(), filter.value.clone())];
        }
        self.prefer
            .iter()
            .find_map(|p| match p {
                Preference::Type(t) => Some(vec![("type".to_string(), Value::String(t.clone()))]),
                Preference::Primary => None,
            })
            .unwrap_or_default()
    }

    /// The element this rule reads back is the primary one: it was picked
    /// as the primary on the way in.
    pub fn marks_primary(&self) -> bool {
        let Some(path) = self.scim_path().filter(|p| p.is_plural_complex()) else {
            return false;
        };
        let asked = self.prefer.first() == Some(&Preference::Primary);
        let by_default = self.prefer.is_empty() && self.picks && path.filter.is_none();
        asked || by_default
    }

    /// The `type` of the element this rule stands for, if it has one.
    pub fn element_type(&self) -> Option<String> {
        self.element_identity()
            .into_iter()
            .find(|(attr, _)| attr == "type")
            .and_then(|(_, value)| value.as_str().map(str::to_string))
    }

    pub fn binding(&self) -> FieldBinding {
        FieldBinding::new(self.target.clone(), self.transforms.clone())
    }
}

/// What [`Rule::scim_read`] read back.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Read<'a> {
    Nothing,
    /// One string, borrowed from the Drupal user.
    Text(&'a str),
    Bool(bool),
    /// What [`Rule::scim_values`] gives (never empty values either way:
    /// nothing is written then).
    Values(Vec<Value>),
}

/// A value read from Drupal, in the type the SCIM attribute declares;
/// `None` when it cannot be one.
fn as_scim_type(value: Value, kind: AttrType) -> Option<Value> {
    match kind {
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(_) => Some(value),
            other => text(&other).ok().map(Value::String),
        },
        AttrType::Boolean => boolean(&value).ok().map(Value::Bool),
        AttrType::Integer => integer(&value).ok().map(Value::from),
        AttrType::Decimal => match &value {
            Value::Number(_) => Some(value),
            Value::String(s) => s
                .trim()
                .parse::<serde_json::Number>()
                .ok()
                .map(Value::Number),
            _ => None,
        },
        AttrType::DateTime => datetime::scim_datetime(value.as_str()?).map(Value::String),
        AttrType::Complex => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn drupal_values_are_converted_to_the_scim_attribute_type() {
        assert_eq!(as_scim_type(json!(7), AttrType::String), Some(json!("7")));
        assert_eq!(
            as_scim_type(json!("1"), AttrType::Boolean),
            Some(json!(true))
        );
        assert_eq!(
            as_scim_type(json!("42"), AttrType::Integer),
            Some(json!(42))
        );
        assert_eq!(
            as_scim_type(json!("2.5"), AttrType::Decimal),
            Some(json!(2.5))
        );
        assert_eq!(
            as_scim_type(json!("2024-05-01"), AttrType::DateTime),
            Some(json!("2024-05-01T00:00:00Z"))
        );
        assert_eq!(as_scim_type(json!("soon"), AttrType::DateTime), None);
    }
}
