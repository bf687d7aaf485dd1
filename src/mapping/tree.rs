//! Assembles the canonical SCIM user from what the rules read back from
//! Drupal: nested objects, extension objects under their URN, and elements
//! of multi-valued attributes merged by identity (`type: work`). Its keys
//! are borrowed from the mapping instead of copied, with a map's behaviour
//! (members sorted by key, a second insert replaces the first): answers
//! written straight into bytes use the tree as it is, and everything that
//! needs a `Map<String, Value>` (PATCH, PUT, lists) turns it into one.

use serde_json::{Map, Value};

use super::path::{Preference, ScimPath};
use super::rule::Rule;

/// A value of the user: a value read from Drupal, or an object or list
/// the rules built.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'r> {
    Leaf(Value),
    Object(Members<'r>),
    Array(Vec<Node<'r>>),
}

/// An object's members, sorted by key as `serde_json::Map` sorts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members<'r>(Vec<(&'r str, Node<'r>)>);

impl Node<'_> {
    /// The `Value` this node stands for, moving what it holds.
    pub fn into_value(self) -> Value {
        match self {
            Node::Leaf(value) => value,
            Node::Array(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Node::Object(members) => Value::Object(members.into_map()),
        }
    }
}

impl<'r> Members<'r> {
    /// The members as a `Map`, moving what they hold.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
            .into_iter()
            .map(|(key, node)| (key.to_string(), node.into_value()))
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'r str, &Node<'r>)> + '_ {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Node<'r>> {
        self.find(key)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| v)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|(k, _)| k.as_bytes().cmp(key.as_bytes()))
    }

    /// `Map::insert`: replaces the value of a key already there.
    fn insert(&mut self, key: &'r str, value: Node<'r>) {
        match self.find(key) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    /// `map.entry(key).or_insert_with(empty)`.
    fn entry(&mut self, key: &'r str, empty: fn() -> Node<'r>) -> &mut Node<'r> {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key, empty()));
                i
            }
        };
        // `i` is in bounds: found, or just inserted there.
        &mut self.0[i].1
    }

    fn object(&mut self, key: &'r str) -> Option<&mut Members<'r>> {
        match self.entry(key, || Node::Object(Members::default())) {
            Node::Object(members) => Some(members),
            _ => None,
        }
    }

    fn list(&mut self, key: &'r str) -> Option<&mut Vec<Node<'r>>> {
        match self.entry(key, || Node::Array(Vec::new())) {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// The elements of one multi-valued attribute that rules of one identity
/// fill, so that two rules (`.value`, `.display`) fill the same elements.
#[derive(Debug)]
struct Placed<'r> {
    schema: &'r str,
    attr: &'r str,
    identity: Option<(&'r str, Value)>,
    primary: bool,
    positions: Vec<usize>,
}

#[derive(Debug, Default)]
pub(super) struct TreeUser<'r> {
    out: Members<'r>,
    placed: Vec<Placed<'r>>,
}

impl<'r> TreeUser<'r> {
    /// Room for `members` members at the top, so that the list is not
    /// grown three times on every read.
    pub fn with_capacity(members: usize) -> TreeUser<'r> {
        TreeUser {
            out: Members(Vec::with_capacity(members)),
            placed: Vec::new(),
        }
    }

    /// Adds what `rule` read (never empty values: nothing is written then).
    pub fn put(&mut self, rule: &'r Rule, path: &'r ScimPath, values: Vec<Value>) {
        if values.is_empty() {
            return;
        }
        let container = if path.core {
            &mut self.out
        } else {
            match self.out.object(&path.schema) {
                Some(extension) => extension,
                None => return,
            }
        };
        match (&path.sub, path.multi_valued) {
            (None, false) => {
                if let Some(first) = values.into_iter().next() {
                    container.insert(&path.attr, Node::Leaf(first));
                }
            }
            (None, true) => {
                if let Some(list) = container.list(&path.attr) {
                    list.extend(values.into_iter().map(Node::Leaf));
                }
            }
            (Some(sub), false) => {
                if let Some(object) = container.object(&path.attr) {
                    if let Some(first) = values.into_iter().next() {
                        object.insert(sub, Node::Leaf(first));
                    }
                }
            }
            (Some(sub), true) => {
                let identity = element_identity(rule, path);
                let primary = rule.marks_primary();
                let Some(list) = container.list(&path.attr) else {
                    return;
                };
                let slot = match self.placed.iter().position(|p| {
                    p.schema == path.schema
                        && p.attr == path.attr
                        && p.primary == primary
                        && p.identity == identity
                }) {
                    Some(slot) => slot,
                    None => {
                        self.placed.push(Placed {
                            schema: &path.schema,
                            attr: &path.attr,
                            identity,
                            primary,
                            positions: Vec::new(),
                        });
                        self.placed.len() - 1
                    }
                };
                let Some(Placed {
                    positions,
                    identity,
                    ..
                }) = self.placed.get_mut(slot)
                else {
                    return;
                };
                for (i, value) in values.into_iter().enumerate() {
                    match positions.get(i).and_then(|p| list.get_mut(*p)) {
                        Some(Node::Object(element)) => element.insert(sub, Node::Leaf(value)),
                        _ => {
                            let mut element = Members::default();
                            element.insert(sub, Node::Leaf(value));
                            if let Some((attr, marker)) = identity {
                                element.insert(attr, Node::Leaf(marker.clone()));
                            }
                            if primary && i == 0 && !list.iter().any(is_primary) {
                                element.insert("primary", Node::Leaf(Value::Bool(true)));
                            }
                            positions.push(list.len());
                            list.push(Node::Object(element));
                        }
                    }
                }
            }
        }
    }

    pub fn finish(self) -> Members<'r> {
        self.out
    }
}

/// `Rule::element_identity`, borrowing the key.
fn element_identity<'r>(rule: &'r Rule, path: &'r ScimPath) -> Option<(&'r str, Value)> {
    if !path.is_plural_complex() {
        return None;
    }
    if let Some(filter) = &path.filter {
        return Some((&filter.attr, filter.value.clone()));
    }
    rule.prefer.iter().find_map(|p| match p {
        Preference::Type(t) => Some(("type", Value::String(t.clone()))),
        Preference::Primary => None,
    })
}

fn is_primary(element: &Node) -> bool {
    matches!(element, Node::Object(members)
        if members.get("primary") == Some(&Node::Leaf(Value::Bool(true))))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::{Members, Node};
    use crate::mapping::Mapping;

    fn to_value(node: &Node) -> Value {
        match node {
            Node::Leaf(value) => value.clone(),
            Node::Array(items) => Value::Array(items.iter().map(to_value).collect()),
            Node::Object(members) => Value::Object(to_map(members)),
        }
    }

    fn to_map(members: &Members) -> Map<String, Value> {
        members
            .iter()
            .map(|(k, v)| (k.to_string(), to_value(v)))
            .collect()
    }

    /// Every mapped field of `mapping` filled (references too), with text
    /// that needs escaping.
    fn filled(mapping: &Mapping, value: &Value) -> (Map<String, Value>, Map<String, Value>) {
        let mut attributes = Map::new();
        let mut relationships = Map::new();
        for field in mapping.mapped_fields() {
            match &field.reference_type {
                Some(kind) => {
                    let item = json!({"type": kind, "id": "0b5b9b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"});
                    let data = if field.multiple {
                        json!([item, item])
                    } else {
                        item
                    };
                    relationships.insert(field.name, json!({ "data": data }));
                }
                None => {
                    attributes.insert(field.name, value.clone());
                }
            }
        }
        (attributes, relationships)
    }

    #[test]
    fn the_tree_holds_what_the_map_holds_for_every_shipped_mapping() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).expect("mappings/") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let mapping = Mapping::load_file(&path).expect("a mapping");
            for value in [
                json!("  Ann \"x\" \\ é 😀 "),
                json!(["a@example.org", "b@example.org"]),
                json!({"value": "v", "format": "plain_text"}),
                json!(true),
                json!(7),
                json!("2024-05-06T07:08:09+00:00"),
                Value::Null,
            ] {
                let (attributes, relationships) = filled(&mapping, &value);
                let map = mapping.from_drupal(&attributes, &relationships);
                let tree = mapping.tree_from_drupal(&attributes, &relationships);
                assert_eq!(to_map(&tree), map, "{} with {value}", path.display());
                // Keys in the map's order, not merely the same set.
                let keys: Vec<&str> = tree.iter().map(|(k, _)| k).collect();
                let map_keys: Vec<&str> = map.keys().map(String::as_str).collect();
                assert_eq!(keys, map_keys);
            }
            checked += 1;
        }
        assert!(checked >= 8, "{checked} mappings");
    }
}
