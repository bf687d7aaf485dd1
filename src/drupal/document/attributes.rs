//! A user's JSON:API `attributes`, kept compact: every key and every string
//! value in one text buffer, numbers and booleans inline, and only objects
//! and arrays (a text field's `{value, format}`, `pass`, multi-valued
//! fields) as `serde_json::Value`. Reading some twenty attributes into a
//! `Map<String, Value>` cost a `String` and a tree insert per key and an
//! allocation per string value, built and freed on every read; this costs
//! two allocations (the buffer and the entry list) for the usual user.
//!
//! Nothing is left out: every attribute Drupal sent is kept, and
//! [`Attributes::get`] gives it back as the `Value` the map held.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// The `attributes` of a JSON:API resource object. A key sent twice keeps
/// its last value, as a JSON object read into a map does.
#[derive(Clone, Default)]
pub struct Attributes {
    /// Keys and string values, one after the other.
    text: String,
    entries: Vec<(Span, Item)>,
}

/// A range of [`Attributes::text`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    start: u32,
    end: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Null,
    Bool(bool),
    Number(Number),
    Str(Span),
    /// An object or an array.
    Other(Box<Value>),
}

/// An attribute's value, borrowed from [`Attributes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttributeRef<'a> {
    Null,
    Bool(bool),
    Number(&'a Number),
    Str(&'a str),
    /// An object or an array.
    Other(&'a Value),
}

impl AttributeRef<'_> {
    /// The value as a `serde_json::Value` of its own.
    pub fn to_value(self) -> Value {
        match self {
            AttributeRef::Null => Value::Null,
            AttributeRef::Bool(b) => Value::Bool(b),
            AttributeRef::Number(n) => Value::Number(n.clone()),
            AttributeRef::Str(s) => Value::String(s.to_string()),
            AttributeRef::Other(v) => v.clone(),
        }
    }
}

impl Attributes {
    /// No attributes at all (what a non-object `attributes` member reads as).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.item(key).is_some()
    }

    /// The attribute `key`, borrowed.
    pub fn get_ref(&self, key: &str) -> Option<AttributeRef<'_>> {
        self.item(key).map(|item| self.view(item))
    }

    /// The attribute `key` as the `Value` a map of the attributes would hold.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.get_ref(key).map(AttributeRef::to_value)
    }

    /// The attribute `key` when it is a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.item(key)? {
            Item::Str(span) => Some(self.slice(*span)),
            _ => None,
        }
    }

    /// The attribute `key` when it is a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match self.item(key)? {
            Item::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The attribute `key` when it is a non-negative integer.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        match self.item(key)? {
            Item::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// Every attribute, in the order Drupal sent them (a key sent twice
    /// appears twice; [`Attributes::get`] sees the last).
    pub fn iter(&self) -> impl Iterator<Item = (&str, AttributeRef<'_>)> {
        self.entries
            .iter()
            .map(|(key, item)| (self.slice(*key), self.view(item)))
    }

    /// The attributes as a map of values.
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(key, value)| (key.to_string(), value.to_value()))
            .collect()
    }

    /// Attributes read from a map of values (a resource already read as
    /// `Value`, as in a user collection).
    pub fn from_map(map: Map<String, Value>) -> Attributes {
        // Sized at once: a list page copies a hundred users this way.
        let text_len = map
            .iter()
            .map(|(key, value)| key.len() + value.as_str().map_or(0, str::len))
            .sum();
        let mut out = Attributes {
            text: String::with_capacity(text_len),
            entries: Vec::with_capacity(map.len()),
        };
        for (key, value) in map {
            let key = out.push_text(&key);
            let item = match value {
                Value::Null => Item::Null,
                Value::Bool(b) => Item::Bool(b),
                Value::Number(n) => Item::Number(n),
                Value::String(s) => Item::Str(out.push_text(&s)),
                other => Item::Other(Box::new(other)),
            };
            out.entries.push((key, item));
        }
        out
    }

    /// Attributes from their text and entries, as the one-pass reader
    /// (`super::reader`) builds them; `None` unless the text is UTF-8.
    pub(super) fn from_parts(text: Vec<u8>, entries: Vec<(Span, Item)>) -> Option<Attributes> {
        Some(Attributes {
            text: String::from_utf8(text).ok()?,
            entries,
        })
    }

    fn item(&self, key: &str) -> Option<&Item> {
        // Lengths first: most names differ in length, and this runs for
        // every attribute the mapping reads.
        let text = self.text.as_bytes();
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| {
                k.end.saturating_sub(k.start) as usize == key.len()
                    && text.get(k.start as usize..k.end as usize) == Some(key.as_bytes())
            })
            .map(|(_, item)| item)
    }

    fn view<'a>(&'a self, item: &'a Item) -> AttributeRef<'a> {
        match item {
            Item::Null => AttributeRef::Null,
            Item::Bool(b) => AttributeRef::Bool(*b),
            Item::Number(n) => AttributeRef::Number(n),
            Item::Str(span) => AttributeRef::Str(self.slice(*span)),
            Item::Other(value) => AttributeRef::Other(value),
        }
    }

    fn slice(&self, span: Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    fn push_text(&mut self, s: &str) -> Span {
        push_text(&mut self.text, s)
    }
}

/// Appends `s` to `text`; its place there. Attributes beyond 4 GiB of text
/// cannot arrive (the Drupal answer's size is bounded far below that); were
/// one to, its span would read as empty rather than wrap.
fn push_text(text: &mut String, s: &str) -> Span {
    let start = text.len();
    text.push_str(s);
    Span::of(start, text.len())
}

impl Span {
    /// `start..end` of the text.
    pub(super) fn of(start: usize, end: usize) -> Span {
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }
}

impl From<Map<String, Value>> for Attributes {
    fn from(map: Map<String, Value>) -> Self {
        Attributes::from_map(map)
    }
}

impl PartialEq for Attributes {
    /// Equal when they hold the same attributes, however they were read.
    fn eq(&self, other: &Self) -> bool {
        self.to_map() == other.to_map()
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    /// An object is read attribute by attribute; anything else (which
    /// Drupal never sends) reads as no attributes, as before.
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AttributesVisitor)
    }
}

struct AttributesVisitor;

impl<'de> Visitor<'de> for AttributesVisitor {
    type Value = Attributes;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON:API attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
        // A Drupal user's attributes: some 20 keys and 400 bytes of text.
        let mut out = Attributes {
            text: String::with_capacity(512),
            entries: Vec::with_capacity(24),
        };
        while let Some(key) = map.next_key_seed(TextSeed(&mut out.text))? {
            let item = map.next_value_seed(ItemSeed(&mut out.text))?;
            out.entries.push((key, item));
        }
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Attributes, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Attributes::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Attributes, E> {
        Ok(Attributes::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Attributes, E> {
        Ok(Attributes::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Attributes, E> {
        Ok(Attributes::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Attributes, E> {
        Ok(Attributes::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Attributes, E> {
        Ok(Attributes::default())
    }
    fn visit_unit<E>(self) -> Result<Attributes, E> {
        Ok(Attributes::default())
    }
}

/// A key, appended to the text buffer.
struct TextSeed<'t>(&'t mut String);

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = Span;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Span, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an attribute name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
        Ok(push_text(self.0, v))
    }
}

/// A value: strings appended to the text buffer, objects and arrays read
/// as `Value`, exactly as `Value` itself reads them.
struct ItemSeed<'t>(&'t mut String);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Item;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Item, E> {
        Ok(Item::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
        Ok(Item::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Item, E> {
        Ok(Item::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
        Ok(Number::from_f64(v).map_or(Item::Null, Item::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Item, E> {
        Ok(Item::Str(push_text(self.0, v)))
    }
    fn visit_unit<E>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }
    fn visit_none<E>(self) -> Result<Item, E> {
        Ok(Item::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Item, D::Error> {
        self.deserialize(deserializer)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
        let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Item::Other(Box::new(value)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Item, A::Error> {
        let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Item::Other(Box::new(value)))
    }
}

/// A borrowed value, for callers that take `Cow<Value>`.
impl<'a> From<AttributeRef<'a>> for Cow<'a, Value> {
    fn from(value: AttributeRef<'a>) -> Self {
        match value {
            AttributeRef::Other(v) => Cow::Borrowed(v),
            other => Cow::Owned(other.to_value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(text: &str) -> Attributes {
        serde_json::from_str(text).expect("attributes")
    }

    #[test]
    fn attributes_read_from_text_are_the_map_read_from_it() {
        let text = r#"{"display_name": "alice", "drupal_internal__uid": 3, "name": "al\"ice\u00e9",
            "mail": "alice@example.com", "status": true, "init": null, "big": 18446744073709551615,
            "neg": -4, "ratio": 2.5, "pass": {"value": "x", "pre_hashed": false},
            "field_tags": ["a", {"b": [1, null]}], "": "empty key", "dup": 1, "dup": "last"}"#;
        let attributes = read(text);
        let map: Map<String, Value> = serde_json::from_str(text).expect("map");
        assert_eq!(attributes.to_map(), map);
        for (key, value) in &map {
            assert_eq!(attributes.get(key).as_ref(), Some(value), "{key}");
        }
        assert_eq!(attributes.get_str("name"), Some("al\"iceé"));
        assert_eq!(attributes.get_u64("drupal_internal__uid"), Some(3));
        assert_eq!(attributes.get_bool("status"), Some(true));
        assert_eq!(attributes.get("dup"), Some(json!("last")));
        assert_eq!(attributes.get("init"), Some(Value::Null));
        assert!(attributes.contains_key("init"));
        assert!(!attributes.contains_key("missing"));
        assert_eq!(attributes.get("missing"), None);
        assert_eq!(attributes.get_str("status"), None);
        assert_eq!(Attributes::from_map(map.clone()), attributes);
        assert_eq!(Attributes::from_map(map.clone()).to_map(), map);
    }

    #[test]
    fn attributes_read_from_a_value_are_those_read_from_text() {
        let value = json!({"name": "a", "n": 1, "t": {"value": "v"}, "x": null});
        let from_value: Attributes = serde_json::from_value(value.clone()).expect("attributes");
        assert_eq!(Value::Object(from_value.to_map()), value);
    }

    #[test]
    fn anything_but_an_object_reads_as_no_attributes() {
        for text in ["[]", "[1, {\"a\": 2}]", "3", "\"s\"", "true", "-1", "1.5"] {
            assert!(read(text).is_empty(), "{text}");
        }
    }
}
