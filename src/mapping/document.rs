//! Positions in the mapping's YAML text.
//!
//! The YAML library reports a line and column only with an error, at the node
//! where the error was raised. So a node is located by parsing the text once
//! more with a visitor that walks down to that node and fails there; the
//! error then carries the node's position. This keeps positions exact for
//! every YAML style (block, flow, quoted, anchors) without a second parser.

use std::convert::Infallible;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::{did_you_mean, Diagnostic, Item, MappingError, Section};

/// A node of the mapping document: `rules[2].transforms[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodePath(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl NodePath {
    pub fn root() -> NodePath {
        NodePath::default()
    }

    /// Entry `index` (0-based) of a top-level section.
    pub fn entry(section: Section, index: usize) -> NodePath {
        NodePath::root().key(section.key()).index(index)
    }

    pub fn key(&self, key: &str) -> NodePath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        NodePath(segs)
    }

    pub fn index(&self, index: usize) -> NodePath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        NodePath(segs)
    }

    /// The section entry this node belongs to, if any.
    pub fn entry_of(&self) -> Option<(Section, usize)> {
        match self.0.as_slice() {
            [Seg::Key(key), Seg::Index(index), ..] => section_named(key).map(|s| (s, *index)),
            _ => None,
        }
    }
}

fn section_named(key: &str) -> Option<Section> {
    [
        Section::Rule,
        Section::Schema,
        Section::Group,
        Section::RoleRule,
    ]
    .into_iter()
    .find(|s| s.key() == key)
}

/// 1-based line and column of the node `path` points at, only if the YAML
/// `source` has that node (the configuration's messages, which must not
/// point at a neighbour).
pub(crate) fn position_of(source: &str, path: &NodePath) -> Option<(usize, usize)> {
    let document: serde_yaml_ng::Value = serde_yaml_ng::from_str(source).ok()?;
    let mut node = &document;
    for seg in &path.0 {
        node = match seg {
            Seg::Key(key) => node.get(key.as_str())?,
            Seg::Index(index) => node.get(*index)?,
        };
    }
    Some(locate(source, path))
}

/// 1-based line and column of the node `path` points at. When the node is
/// missing, the nearest enclosing node that exists is reported.
pub(super) fn locate(source: &str, path: &NodePath) -> (usize, usize) {
    let de = serde_yaml_ng::Deserializer::from_str(source);
    Walk { path: &path.0 }
        .deserialize(de)
        .err()
        .and_then(|err| err.location())
        .map_or((1, 1), |l| (l.line(), l.column()))
}

/// Walks to a node and fails there, so that the error carries its position.
struct Walk<'p> {
    path: &'p [Seg],
}

const HERE: &str = "here";

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Every scalar lands in a default `visit_*`, which fails: the failure
        // at the scalar is exactly what locates it.
        f.write_str(HERE)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if let Some((Seg::Key(wanted), rest)) = self.path.split_first() {
            while let Some(key) = map.next_key::<String>()? {
                if key == *wanted {
                    return map.next_value_seed(Walk { path: rest });
                }
                map.next_value::<IgnoredAny>()?;
            }
        }
        Err(de::Error::custom(HERE))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some((Seg::Index(wanted), rest)) = self.path.split_first() {
            let mut index = 0;
            while index < *wanted {
                if seq.next_element::<IgnoredAny>()?.is_none() {
                    return Err(de::Error::custom(HERE));
                }
                index += 1;
            }
            if seq.next_element_seed(Walk { path: rest })?.is_some() {
                return Ok(());
            }
        }
        Err(de::Error::custom(HERE))
    }
}

/// A seed that fails at the node it is given, with its message: lets a
/// `Deserialize` impl report a problem at a value rather than at the mapping
/// that holds it. It never produces a value, hence `Infallible`.
pub(super) struct FailAt(pub String);

impl<'de> DeserializeSeed<'de> for FailAt {
    type Value = Infallible;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Infallible, D::Error> {
        // The error must come from inside the visitor: only then does the
        // YAML library stamp it with this node's position.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FailAt {
    type Value = Infallible;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_none<E: de::Error>(self) -> Result<Infallible, E> {
        Err(E::custom(self.0))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Infallible, A::Error> {
        Err(de::Error::custom(self.0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Infallible, A::Error> {
        Err(de::Error::custom(self.0))
    }
}

/// `rule 3 (scim: name.givenName)`: the label comes from the source text,
/// so it shows the entry exactly as written, even when it failed to parse.
pub(super) fn item(source: &str, section: Section, index: usize) -> Item {
    let entry = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(source)
        .ok()
        .and_then(|doc| doc.get(section.key())?.get(index).cloned());
    let label = entry.and_then(|entry| {
        section.label_keys().iter().find_map(|key| {
            let text = match entry.get(*key)? {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some(format!("{key}: {}", shorten(&text)))
        })
    });
    Item {
        section,
        number: index + 1,
        label,
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// Turns the YAML library's error into a diagnostic: position, the entry it
/// belongs to, the problem, and a hint on how to fix it.
pub(super) fn yaml_error(err: &serde_yaml_ng::Error, source: &str, file: &str) -> MappingError {
    let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
    let full = err.to_string();
    let text = full.replacen(&format!(" at line {line} column {column}"), "", 1);
    let (path, message) = split_path(&text);
    let (problem, hint) = match message.split_once(" — ") {
        Some((problem, hint)) => (problem.to_string(), Some(hint.to_string())),
        None => explain(message, path),
    };
    let item = path
        .and_then(entry_in_path)
        .map(|(section, index)| item(source, section, index));
    MappingError::Invalid(Box::new(Diagnostic {
        file: file.to_string(),
        line,
        column,
        item,
        problem,
        hint,
    }))
}

const TOP_KEYS: [&str; 6] = [
    "version",
    "match_key",
    "schemas",
    "rules",
    "groups",
    "role_rules",
];

/// Splits `rules[2].scim: message` into the document path and the message.
fn split_path(text: &str) -> (Option<&str>, &str) {
    let starts_with_path = TOP_KEYS.iter().any(|key| {
        text.strip_prefix(key)
            .is_some_and(|rest| rest.starts_with(['[', '.', ':']))
    });
    match text.split_once(": ") {
        Some((path, message)) if starts_with_path => (Some(path), message),
        _ => (None, text),
    }
}

fn entry_in_path(path: &str) -> Option<(Section, usize)> {
    let (key, rest) = path.split_once('[')?;
    let (index, _) = rest.split_once(']')?;
    Some((section_named(key)?, index.parse().ok()?))
}

/// The YAML library's own messages, reworded where serde's wording is
/// jargon, with a hint on how to fix them.
fn explain(message: &str, path: Option<&str>) -> (String, Option<String>) {
    let quoted = backticked(message);
    let unknown_key = message.starts_with("unknown field");
    if unknown_key || message.starts_with("unknown variant") {
        if let Some((wanted, allowed)) = quoted.split_first() {
            let (what, problem) = if unknown_key {
                ("keys", format!("unknown key `{wanted}`"))
            } else {
                ("values", format!("unknown value `{wanted}`"))
            };
            let hint = did_you_mean(wanted, allowed.iter().copied())
                .unwrap_or_else(|| format!("allowed {what} here: {}", allowed.join(", ")));
            return (problem, Some(hint));
        }
    }
    (message.to_string(), hint_for(message, path, &quoted))
}

fn hint_for(message: &str, path: Option<&str>, quoted: &[&str]) -> Option<String> {
    if message.starts_with("missing field") {
        let field = quoted.first()?;
        return Some(match *field {
            "drupal" => {
                "every rule names the Drupal field it fills: add `drupal: <field name>`".to_string()
            }
            "rules" => {
                "a mapping needs a `rules:` list; start from mappings/default.yaml".to_string()
            }
            other => format!("add `{other}: ...`"),
        });
    }
    if message.starts_with("duplicate field") {
        return Some("each key may appear only once in an entry; delete one of them".into());
    }
    if message.starts_with("invalid type: map, expected a string") {
        let what = if path.is_some_and(|p| p.ends_with("template")) {
            "a template starts with `{`, which YAML reads as a mapping"
        } else {
            "a value starting with `{` is read as a YAML mapping"
        };
        return Some(format!("{what}; put the value in quotes"));
    }
    if message.starts_with("invalid type: unit value") {
        return Some("this key has no value; give it one or delete the key".into());
    }
    if message.contains("expected a sequence") {
        return Some("write a list, one `- item` per line".into());
    }
    if message.contains("tab character") || message.contains("cannot start any token") {
        return Some(
            "indent with spaces, never tabs, and quote values that start with `@`, `%` or a backtick"
                .into(),
        );
    }
    if message.contains("did not find expected")
        || message.contains("mapping values are not allowed")
        || message.contains("could not find expected")
    {
        return Some(
            "check the indentation of this line against the one before, and quote values that contain `: `"
                .into(),
        );
    }
    if message.starts_with("EOF while parsing") {
        return Some("the file is empty; start from mappings/default.yaml".into());
    }
    None
}

/// The `quoted` words of a serde message, in order.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
version: 1
rules:
  - scim: userName
    drupal: name
  - scim: emails[type eq \"work\"].value
    drupal: mail
    transforms: [trim, {truncate: 60}]
";

    #[test]
    fn locate_finds_a_scalar_value_in_a_block_sequence() {
        let at = NodePath::entry(Section::Rule, 1).key("drupal");
        assert_eq!(locate(DOC, &at), (6, 13));
    }

    #[test]
    fn locate_finds_an_element_of_a_flow_sequence() {
        let at = NodePath::entry(Section::Rule, 1).key("transforms").index(1);
        assert_eq!(locate(DOC, &at), (7, 24));
    }

    #[test]
    fn locate_falls_back_to_the_enclosing_mapping_when_a_key_is_missing() {
        let at = NodePath::entry(Section::Rule, 0).key("transforms");
        assert_eq!(locate(DOC, &at), (3, 5));
    }

    #[test]
    fn item_label_shows_the_source_as_written() {
        let found = item(DOC, Section::Rule, 1);
        assert_eq!(
            found.to_string(),
            "rule 2 (scim: emails[type eq \"work\"].value)"
        );
    }

    #[test]
    fn split_path_separates_the_document_path_from_the_message() {
        assert_eq!(
            split_path("rules[0].scm: unknown field"),
            (Some("rules[0].scm"), "unknown field")
        );
        assert_eq!(split_path("did not find: x"), (None, "did not find: x"));
    }
}
