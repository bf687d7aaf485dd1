//! Drupal's side of a rule: which user fields exist, and the JSON:API shape
//! of each field type's values, both ways.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::datetime;
use super::error::did_you_mean;
use crate::drupal::document::{AttributeRef, Attributes};
use crate::scim::caseless;

/// The Drupal field types a rule can fill, named by Drupal's field type
/// machine names. `string` is Drupal's "Text (plain)", 255 characters at
/// most; `string_long` is "Text (plain, long)"; `text` covers
/// `text_long` and `text_with_summary`; `date` and `datetime` are the two
/// settings of Drupal's `datetime` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    StringLong,
    Text,
    Boolean,
    Integer,
    ListString,
    ListInteger,
    Email,
    Telephone,
    Link,
    Date,
    Datetime,
    EntityReference,
    /// `pass`: written as `{"value": ..}`, never returned.
    #[serde(skip_deserializing)]
    Password,
    /// `created`, `changed`, `access`, `login`: RFC 3339 strings set by Drupal.
    #[serde(skip_deserializing)]
    Timestamp,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::StringLong => "string_long",
            FieldType::Text => "text",
            FieldType::Boolean => "boolean",
            FieldType::Integer => "integer",
            FieldType::ListString => "list_string",
            FieldType::ListInteger => "list_integer",
            FieldType::Email => "email",
            FieldType::Telephone => "telephone",
            FieldType::Link => "link",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::EntityReference => "entity_reference",
            FieldType::Password => "password",
            FieldType::Timestamp => "timestamp",
        }
    }
}

/// What a client may do with a base field through JSON:API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    ReadWrite,
    /// `pass`.
    WriteOnly,
    /// Set by Drupal itself.
    ReadOnly,
}

/// A field every Drupal user has.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BaseField {
    pub name: &'static str,
    pub field_type: FieldType,
    /// Drupal's own length limit, in characters.
    pub max_chars: Option<usize>,
    pub access: Access,
    /// Drupal refuses to empty it (or emptying it would do harm), so an
    /// update never clears it when its SCIM source is absent.
    pub never_cleared: bool,
}

const fn base(
    name: &'static str,
    field_type: FieldType,
    max_chars: Option<usize>,
    access: Access,
    never_cleared: bool,
) -> BaseField {
    BaseField {
        name,
        field_type,
        max_chars,
        access,
        never_cleared,
    }
}

impl BaseField {
    /// The account's login name: Drupal tells accounts apart by comparing
    /// it byte by byte (its unique index ignores case, not spelling), so
    /// a name is kept in Unicode normalization form C, the form IdPs send.
    /// Otherwise "Renée" written with a precomposed "é" and written with
    /// "e" and a combining accent would be two accounts that look the same
    /// wherever a person reads the name.
    fn is_identifier(&self) -> bool {
        self.name == "name"
    }
}

/// The user base fields of Drupal core reachable through JSON:API.
const BASE_FIELDS: [BaseField; 14] = [
    base("name", FieldType::String, Some(60), Access::ReadWrite, true),
    base("mail", FieldType::Email, Some(254), Access::ReadWrite, true),
    base("status", FieldType::Boolean, None, Access::ReadWrite, true),
    base("pass", FieldType::Password, None, Access::WriteOnly, true),
    base(
        "timezone",
        FieldType::String,
        Some(32),
        Access::ReadWrite,
        false,
    ),
    base(
        "langcode",
        FieldType::String,
        Some(12),
        Access::ReadWrite,
        true,
    ),
    base(
        "preferred_langcode",
        FieldType::String,
        Some(12),
        Access::ReadWrite,
        false,
    ),
    base(
        "preferred_admin_langcode",
        FieldType::String,
        Some(12),
        Access::ReadWrite,
        false,
    ),
    base(
        "init",
        FieldType::Email,
        Some(254),
        Access::ReadWrite,
        false,
    ),
    base(
        "display_name",
        FieldType::String,
        None,
        Access::ReadOnly,
        false,
    ),
    base(
        "created",
        FieldType::Timestamp,
        None,
        Access::ReadOnly,
        false,
    ),
    base(
        "changed",
        FieldType::Timestamp,
        None,
        Access::ReadOnly,
        false,
    ),
    base(
        "access",
        FieldType::Timestamp,
        None,
        Access::ReadOnly,
        false,
    ),
    base("login", FieldType::Timestamp, None, Access::ReadOnly, false),
];

/// Drupal's limit on field machine names.
const MAX_FIELD_NAME: usize = 32;

/// Checks a Drupal field name: a known base field, or a custom field
/// `field_*`. Returns the base field, if it is one.
pub(super) fn check_field_name(
    name: &str,
) -> Result<Option<&'static BaseField>, (String, Option<String>)> {
    let base_names = BASE_FIELDS.iter().map(|f| f.name);
    if let Some(field) = BASE_FIELDS.iter().find(|f| f.name == name) {
        return Ok(Some(field));
    }
    if name.is_empty() {
        return Err(("the Drupal field name is empty".into(), None));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        let cleaned: String = name
            .chars()
            .map(|c| match c {
                'A'..='Z' => c.to_ascii_lowercase(),
                'a'..='z' | '0'..='9' => c,
                _ => '_',
            })
            .collect();
        return Err((
            format!("\"{name}\" is not a Drupal field name: machine names use only a-z, 0-9 and _"),
            Some(format!("did you mean \"{cleaned}\"?")),
        ));
    }
    if name == "roles" {
        return Err((
            "roles are not filled by rules".into(),
            Some("list the roles to expose under `groups:` and grant roles from attributes with `role_rules:`".into()),
        ));
    }
    if let Some(custom) = name.strip_prefix("field_") {
        if custom.is_empty() {
            return Err(("\"field_\" needs a name after the prefix".into(), None));
        }
        if name.len() > MAX_FIELD_NAME {
            return Err((
                format!("\"{name}\" is longer than the {MAX_FIELD_NAME} characters Drupal allows for a field name"),
                Some("use the machine name shown under Account settings › Manage fields".into()),
            ));
        }
        return Ok(None);
    }
    let hint = did_you_mean(name, base_names).unwrap_or_else(|| {
        format!("custom fields start with `field_` (did you mean \"field_{name}\"?)")
    });
    Err((format!("unknown Drupal user field \"{name}\""), Some(hint)))
}

/// The Drupal end of a rule.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Target {
    pub field: String,
    pub field_type: FieldType,
    pub multiple: bool,
    /// `entity_reference`: the JSON:API type of the referenced entities,
    /// `taxonomy_term--department`.
    pub reference_type: Option<String>,
    /// `text`: the text format written with the value.
    pub text_format: Option<String>,
    pub base: Option<&'static BaseField>,
}

impl Target {
    pub fn is_relationship(&self) -> bool {
        self.field_type == FieldType::EntityReference
    }

    pub fn max_chars(&self) -> Option<usize> {
        self.base.and_then(|b| b.max_chars)
    }

    /// The field's JSON:API value for `values` (never empty).
    pub fn encode(&self, values: &[Value]) -> Result<Value, String> {
        let items = values
            .iter()
            .map(|v| self.encode_item(v))
            .collect::<Result<Vec<_>, _>>()?;
        let value = if self.multiple {
            Value::Array(items)
        } else {
            items.into_iter().next().unwrap_or(Value::Null)
        };
        Ok(self.wrap(value))
    }

    /// The JSON:API value that empties the field.
    pub fn cleared(&self) -> Value {
        self.wrap(if self.multiple {
            Value::Array(Vec::new())
        } else {
            Value::Null
        })
    }

    fn wrap(&self, value: Value) -> Value {
        if self.is_relationship() {
            json!({ "data": value })
        } else {
            value
        }
    }

    /// The most characters Drupal stores in the field, where the field's
    /// kind fixes it: the base fields' own limits, and the storage of the
    /// custom field types with a fixed size (a `string` field holds 255
    /// characters unless its settings say fewer, which Drupal itself then
    /// enforces). `string_long` and `text` have no limit.
    pub fn write_limit(&self) -> Option<usize> {
        if let Some(max) = self.max_chars() {
            return Some(max);
        }
        match self.field_type {
            FieldType::String => Some(255),
            FieldType::Email => Some(254),
            FieldType::ListString => Some(255),
            FieldType::Telephone => Some(256),
            FieldType::Link => Some(2048),
            _ => None,
        }
    }

    /// `text` of `value`, refused before any request when longer than the
    /// field holds: a 70 000-character name would otherwise reach Drupal
    /// and, through the lookups that follow a refusal, URLs no web server
    /// accepts.
    fn bounded_text(&self, value: &Value) -> Result<String, String> {
        let written = self.canonical(self.storable_text(value)?);
        match self.write_limit() {
            Some(max) if written.chars().count() > max => Err(format!(
                "{} holds at most {max} characters; \"{}\" is longer",
                self.field,
                crate::untrusted::quote(&written)
            )),
            _ => Ok(written),
        }
    }

    /// `text` as the field keeps it: an identifier in normalization form
    /// C (see [`BaseField::is_identifier`]), any other text as it is.
    pub fn canonical(&self, text: String) -> String {
        if !self.base.is_some_and(BaseField::is_identifier) {
            return text;
        }
        match caseless::nfc(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(normalized) => normalized,
        }
    }

    /// [`Target::canonical`] of a text value; other values as they are.
    /// Applied before a rule's transforms, so that they work on the form
    /// the field keeps (a `truncate` counts the characters of NFC, and
    /// never cuts a combining accent off its letter).
    pub fn canonical_value(&self, value: Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.canonical(text)),
            other => other,
        }
    }

    /// `text` of `value`, refused when it holds a character Drupal should
    /// not be given: NUL in any field (PostgreSQL cannot store it, and PHP
    /// functions refuse it), and any control character in an e-mail
    /// address, which RFC 5321 forbids but Drupal's validator lets through
    /// (a NUL in `mail` is stored, then fails the next account e-mail with
    /// a 500 on every write that sends one).
    fn storable_text(&self, value: &Value) -> Result<String, String> {
        let written = text(value)?;
        let refused = match self.field_type {
            FieldType::Email => written.chars().find(|c| c.is_control()),
            _ => written.chars().find(|&c| c == '\0'),
        };
        match refused {
            Some(c) => Err(format!(
                "{} cannot hold the control character U+{:04X}; \"{}\" holds one",
                self.field,
                u32::from(c),
                crate::untrusted::quote(&written)
            )),
            None => Ok(written),
        }
    }

    fn encode_item(&self, value: &Value) -> Result<Value, String> {
        match self.field_type {
            FieldType::String
            | FieldType::StringLong
            | FieldType::Email
            | FieldType::Telephone
            | FieldType::ListString => self.bounded_text(value).map(Value::String),
            FieldType::Text => {
                let format = self.text_format.as_deref().unwrap_or("plain_text");
                Ok(json!({ "value": self.storable_text(value)?, "format": format }))
            }
            FieldType::Boolean => boolean(value).map(Value::Bool),
            FieldType::Integer | FieldType::ListInteger => integer(value).map(Value::from),
            FieldType::Link => Ok(json!({ "uri": self.bounded_text(value)? })),
            FieldType::Date => {
                let written = text(value)?;
                datetime::drupal_date(&written)
                    .map(Value::String)
                    .ok_or_else(|| format!("\"{written}\" is not a date (YYYY-MM-DD)"))
            }
            FieldType::Datetime => {
                let written = text(value)?;
                datetime::drupal_datetime(&written)
                    .map(Value::String)
                    .ok_or_else(|| {
                        format!("\"{written}\" is not a date and time (YYYY-MM-DDTHH:MM:SSZ)")
                    })
            }
            FieldType::EntityReference => {
                let id = uuid(value)?;
                Ok(json!({ "type": self.reference_type, "id": id }))
            }
            FieldType::Password => Ok(json!({ "value": text(value)? })),
            FieldType::Timestamp => Err(format!("Drupal sets {} itself", self.field)),
        }
    }

    /// The field's values in a JSON:API resource, as plain scalars.
    pub fn decode(
        &self,
        attributes: &(impl AttributeSource + ?Sized),
        relationships: &Map<String, Value>,
    ) -> Vec<Value> {
        let raw = if self.is_relationship() {
            relationships
                .get(&self.field)
                .and_then(|r| r.get("data"))
                .map(Cow::Borrowed)
        } else {
            attributes.attribute(&self.field)
        };
        // Values read from compact attributes are owned already: they move
        // into the SCIM user instead of being copied again.
        match raw {
            None => Vec::new(),
            Some(Cow::Borrowed(Value::Array(items))) => items
                .iter()
                .filter_map(|item| self.decode_item(Cow::Borrowed(item)))
                .collect(),
            Some(Cow::Owned(Value::Array(items))) => items
                .into_iter()
                .filter_map(|item| self.decode_item(Cow::Owned(item)))
                .collect(),
            Some(item) if item.is_null() => Vec::new(),
            Some(item) => self.decode_item(item).into_iter().collect(),
        }
    }

    fn decode_item(&self, item: Cow<'_, Value>) -> Option<Value> {
        match self.field_type {
            FieldType::String
            | FieldType::StringLong
            | FieldType::Email
            | FieldType::Telephone
            | FieldType::ListString
            | FieldType::Timestamp => scalar(item),
            FieldType::Text => scalar(member_or_self(item, "value")),
            FieldType::Boolean => boolean(&item).ok().map(Value::Bool),
            FieldType::Integer | FieldType::ListInteger => integer(&item).ok().map(Value::from),
            FieldType::Link => scalar(member_or_self(item, "uri")),
            FieldType::Date => datetime::drupal_date(item.as_str()?).map(Value::String),
            FieldType::Datetime => datetime::scim_datetime(item.as_str()?).map(Value::String),
            FieldType::EntityReference => scalar(member(item, "id")?),
            FieldType::Password => None,
        }
    }
}

impl FieldType {
    /// Whether [`Target::decode`] gives a string attribute of this type
    /// back as the same string.
    pub fn reads_text_as_is(self) -> bool {
        matches!(
            self,
            FieldType::String
                | FieldType::StringLong
                | FieldType::Email
                | FieldType::Telephone
                | FieldType::ListString
                | FieldType::Timestamp
                | FieldType::Text
                | FieldType::Link
        )
    }
}

impl Target {
    /// The JSON:API filter path that compares this field's value.
    pub fn filter_path(&self) -> String {
        match self.field_type {
            FieldType::Text => format!("{}.value", self.field),
            FieldType::Link => format!("{}.uri", self.field),
            FieldType::EntityReference => format!("{}.id", self.field),
            _ => self.field.clone(),
        }
    }

    /// The value a JSON:API filter on [`Target::filter_path`] compares
    /// with; `None` when the value cannot be compared.
    pub fn filter_value(&self, value: &Value) -> Option<Value> {
        match self.field_type {
            FieldType::Password => None,
            FieldType::Timestamp => datetime::epoch_seconds(&text(value).ok()?).map(Value::from),
            // Compared as written, whatever its length: the Drupal URL's
            // own limit guards the request (`drupal::MAX_URL_BYTES`).
            FieldType::Text
            | FieldType::Link
            | FieldType::String
            | FieldType::StringLong
            | FieldType::Email
            | FieldType::Telephone
            | FieldType::ListString => text(value).ok().map(|t| Value::String(self.canonical(t))),
            FieldType::EntityReference => uuid(value).ok().map(Value::String),
            _ => self.encode_item(value).ok(),
        }
    }
}

fn scalar(item: Cow<'_, Value>) -> Option<Value> {
    match item.as_ref() {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Some(item.into_owned()),
        _ => None,
    }
}

/// The member `key` of an object.
fn member<'a>(item: Cow<'a, Value>, key: &str) -> Option<Cow<'a, Value>> {
    match item {
        Cow::Borrowed(value) => value.get(key).map(Cow::Borrowed),
        Cow::Owned(Value::Object(mut object)) => object.remove(key).map(Cow::Owned),
        Cow::Owned(_) => None,
    }
}

/// The member `key` of an object that has it, else the item itself.
fn member_or_self<'a>(item: Cow<'a, Value>, key: &str) -> Cow<'a, Value> {
    match item {
        Cow::Borrowed(value) => Cow::Borrowed(value.get(key).unwrap_or(value)),
        Cow::Owned(Value::Object(mut object)) => match object.remove(key) {
            Some(value) => Cow::Owned(value),
            None => Cow::Owned(Value::Object(object)),
        },
        owned => owned,
    }
}

/// Where [`Target::decode`] reads a Drupal user's attributes: the compact
/// attributes of a user read from Drupal, or a map of values (tests, and
/// what the bridge itself would write).
pub trait AttributeSource {
    /// The attribute `name`, borrowed when the source holds a `Value`.
    fn attribute(&self, name: &str) -> Option<Cow<'_, Value>>;

    /// The attribute `name` when it is absent, `null`, a string or a
    /// boolean, borrowed: a read by id takes most values this way, without
    /// a `Value` (and its `String`) built per attribute.
    /// [`Scalar::Other`] for anything else, which [`AttributeSource::attribute`]
    /// then reads.
    fn scalar(&self, name: &str) -> Scalar<'_> {
        match self.attribute(name) {
            None | Some(Cow::Borrowed(Value::Null)) => Scalar::Absent,
            Some(Cow::Borrowed(Value::String(s))) => Scalar::Str(s),
            Some(Cow::Borrowed(Value::Bool(b))) => Scalar::Bool(*b),
            Some(_) => Scalar::Other,
        }
    }
}

/// An attribute as [`AttributeSource::scalar`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar<'a> {
    /// Not there, or `null`: no value either way.
    Absent,
    Str(&'a str),
    Bool(bool),
    /// A number, an object or a list.
    Other,
}

impl AttributeSource for Map<String, Value> {
    fn attribute(&self, name: &str) -> Option<Cow<'_, Value>> {
        self.get(name).map(Cow::Borrowed)
    }
}

impl AttributeSource for Attributes {
    fn attribute(&self, name: &str) -> Option<Cow<'_, Value>> {
        self.get_ref(name).map(Cow::from)
    }

    fn scalar(&self, name: &str) -> Scalar<'_> {
        match self.get_ref(name) {
            None | Some(AttributeRef::Null) => Scalar::Absent,
            Some(AttributeRef::Str(s)) => Scalar::Str(s),
            Some(AttributeRef::Bool(b)) => Scalar::Bool(b),
            Some(AttributeRef::Number(_) | AttributeRef::Other(_)) => Scalar::Other,
        }
    }
}

/// A SCIM value as text: strings as they are, numbers and booleans spelled out.
pub(super) fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a single value, got {}", kind(other))),
    }
}

/// Booleans, `"true"`/`"false"` in any case (Entra sends `"False"`), and 0/1.
pub(super) fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") || s.trim() == "1" => Ok(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") || s.trim() == "0" => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        other => Err(format!("{other} is not a boolean (true or false)")),
    }
}

pub(super) fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{value} is not a whole number"))
}

fn uuid(value: &Value) -> Result<String, String> {
    let id = text(value)?;
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    let hex = id.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    if hex && groups == [8, 4, 4, 4, 12] {
        Ok(id)
    } else {
        Err(format!(
            "\"{id}\" is not a UUID, and entity references are written by UUID"
        ))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_field_names_are_recognised_and_typos_get_a_suggestion() {
        assert_eq!(
            check_field_name("mail").ok().flatten().map(|f| f.name),
            Some("mail")
        );
        let (problem, hint) = check_field_name("mial").expect_err("typo");
        assert_eq!(problem, "unknown Drupal user field \"mial\"");
        assert_eq!(hint.as_deref(), Some("did you mean \"mail\"?"));
    }

    #[test]
    fn custom_field_names_must_be_machine_names_with_the_field_prefix() {
        assert_eq!(check_field_name("field_first_name"), Ok(None));
        let (_, hint) = check_field_name("Field-First").expect_err("not a machine name");
        assert_eq!(hint.as_deref(), Some("did you mean \"field_first\"?"));
        let (_, hint) = check_field_name("department").expect_err("no prefix");
        assert!(hint.is_some_and(|h| h.contains("field_department")));
        assert!(check_field_name("field_this_name_is_far_too_long_for_drupal").is_err());
    }

    #[test]
    fn boolean_accepts_entra_strings_and_numbers_but_not_words() {
        assert_eq!(boolean(&json!("False")), Ok(false));
        assert_eq!(boolean(&json!(1)), Ok(true));
        assert!(boolean(&json!("maybe")).is_err());
    }

    fn target(field: &str) -> Target {
        Target {
            field: field.into(),
            field_type: FieldType::String,
            multiple: false,
            reference_type: None,
            text_format: None,
            base: check_field_name(field).unwrap(),
        }
    }

    #[test]
    fn the_account_name_alone_is_kept_in_normalization_form_c() {
        let decomposed = json!("Rene\u{301}e");
        let name = target("name");
        assert_eq!(
            name.encode(std::slice::from_ref(&decomposed)),
            Ok(json!("Ren\u{e9}e"))
        );
        assert_eq!(name.filter_value(&decomposed), Some(json!("Ren\u{e9}e")));
        assert_eq!(name.canonical("Ren\u{e9}e".into()), "Ren\u{e9}e");
        // Other text is kept byte for byte: only the name identifies.
        let other = target("field_nickname");
        assert_eq!(
            other.encode(std::slice::from_ref(&decomposed)),
            Ok(decomposed.clone())
        );
        assert_eq!(other.filter_value(&decomposed), Some(decomposed));
    }

    #[test]
    fn uuid_check_refuses_a_machine_name() {
        assert!(uuid(&json!("8320440e-6115-48fc-bfd4-0ce20990c699")).is_ok());
        assert!(uuid(&json!("editor")).is_err());
    }
}
