//! The mapping file exactly as written: the serde model of the YAML. Unknown
//! keys are errors. Everything here is checked and compiled by `compile`.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::document::FailAt;
use super::error::did_you_mean;
use super::field::FieldType;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMapping {
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub match_key: Option<String>,
    #[serde(default)]
    pub schemas: Vec<RawSchema>,
    pub rules: Vec<RawRule>,
    #[serde(default)]
    pub groups: Vec<RawGroup>,
    #[serde(default)]
    pub role_rules: Vec<RawRoleRule>,
    #[serde(default)]
    pub group_terms: Option<RawGroupTerms>,
}

/// Where term-backed groups live in Drupal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroupTerms {
    #[serde(default)]
    pub vocabulary: Option<String>,
    #[serde(default)]
    pub user_field: Option<String>,
    /// `null` keeps no external id.
    #[serde(default = "default_external_id_field")]
    pub external_id_field: Option<String>,
    #[serde(default)]
    pub published: bool,
}

fn default_external_id_field() -> Option<String> {
    Some("field_scim_external_id".to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(default)]
    pub scim: Option<String>,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub constant: Option<Value>,
    pub drupal: String,
    #[serde(default, rename = "type")]
    pub field_type: Option<FieldType>,
    #[serde(default)]
    pub multiple: bool,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub transforms: Vec<RawTransform>,
    #[serde(default)]
    pub prefer: Vec<String>,
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default)]
    pub write_once: bool,
    #[serde(default)]
    pub when_absent: Option<WhenAbsent>,
}

/// Which way a rule carries values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Written to Drupal and read back (the default for `scim:` rules).
    Both,
    /// Written to Drupal, never read back (`pass`, templates, constants).
    ToDrupal,
    /// Read from Drupal, never written: a read-only attribute.
    FromDrupal,
}

impl Direction {
    pub fn writes(self) -> bool {
        self != Direction::FromDrupal
    }

    pub fn reads(self) -> bool {
        self != Direction::ToDrupal
    }
}

/// What an update does to a field whose SCIM source is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenAbsent {
    /// Empty the Drupal field: PUT replaces the whole user.
    Clear,
    /// Leave the Drupal field as it is.
    Keep,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchema {
    pub urn: String,
    pub name: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub attributes: Vec<RawAttribute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAttribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: RawAttrType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub mutability: Option<RawMutability>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub sub_attributes: Vec<RawAttribute>,
}

/// RFC 7643 §2.3 type names, spelled as the RFC spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum RawAttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Binary,
    Complex,
}

/// RFC 7643 §7 mutability names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) enum RawMutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    pub display_name: String,
    #[serde(default)]
    pub allow_protected: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoleRule {
    pub when: String,
    pub role: String,
}

/// One transform as written: `- trim` or `- truncate: 60`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RawTransform {
    Lowercase,
    Trim,
    Langcode,
    /// `truncate` alone means "the Drupal field's own limit".
    Truncate(Option<u64>),
    Default(Value),
    Map(Vec<(String, Value)>),
    Split(String),
    Join(String),
}

const BARE: [&str; 4] = ["lowercase", "trim", "langcode", "truncate"];
const ALL: [&str; 8] = [
    "lowercase",
    "trim",
    "langcode",
    "truncate",
    "default",
    "map",
    "split",
    "join",
];

fn unknown_transform(name: &str) -> String {
    let hint = did_you_mean(name, ALL).unwrap_or_else(|| format!("transforms: {}", ALL.join(", ")));
    format!("unknown transform `{name}` — {hint}")
}

impl<'de> Deserialize<'de> for RawTransform {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TransformVisitor)
    }
}

struct TransformVisitor;

impl<'de> Visitor<'de> for TransformVisitor {
    type Value = RawTransform;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a transform such as `trim` or `truncate: 60`")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<RawTransform, E> {
        match name {
            "lowercase" => Ok(RawTransform::Lowercase),
            "trim" => Ok(RawTransform::Trim),
            "langcode" => Ok(RawTransform::Langcode),
            "truncate" => Ok(RawTransform::Truncate(None)),
            "default" | "map" | "split" | "join" => Err(E::custom(format!(
                "transform `{name}` needs an argument — write it as `{name}: {}`",
                example_argument(name)
            ))),
            other => Err(E::custom(unknown_transform(other))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTransform, A::Error> {
        let Some(name) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "empty transform — write a transform name such as `trim`",
            ));
        };
        let transform = match name.as_str() {
            "truncate" => RawTransform::Truncate(Some(map.next_value()?)),
            "default" => RawTransform::Default(map.next_value()?),
            "map" => RawTransform::Map(map.next_value::<ValueTable>()?.0),
            "split" => RawTransform::Split(map.next_value()?),
            "join" => RawTransform::Join(map.next_value()?),
            bare if BARE.contains(&bare) => {
                let message =
                    format!("transform `{bare}` takes no argument — write it as `- {bare}`");
                match map.next_value_seed(FailAt(message))? {}
            }
            other => match map.next_value_seed(FailAt(unknown_transform(other)))? {},
        };
        if let Some(extra) = map.next_key::<String>()? {
            let message = format!(
                "one transform per list item, but `{extra}` follows `{name}` — put `{extra}` on its own `- ` line"
            );
            match map.next_value_seed(FailAt(message))? {}
        }
        Ok(transform)
    }
}

fn example_argument(name: &str) -> &'static str {
    match name {
        "default" => "<value>",
        "map" => "{from: to}",
        _ => "\",\"",
    }
}

/// The table of a `map` transform, in file order, refusing keys that differ
/// only by case (values are compared case-insensitively).
struct ValueTable(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for ValueTable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TableVisitor)
    }
}

struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = ValueTable;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of `SCIM value: Drupal value` pairs")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueTable, A::Error> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some((earlier, _)) = entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
                let message = format!(
                    "`{key}` is listed twice in this map (values are compared ignoring case, so it clashes with `{earlier}`) — keep one"
                );
                match map.next_value_seed(FailAt(message))? {}
            }
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(ValueTable(entries))
    }
}
