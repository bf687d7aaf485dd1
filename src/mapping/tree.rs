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
    /// A string borrowed from the Drupal user (or the mapping): the
    /// `Value::String` it stands for, without its copy.
    Text(&'r str),
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
            Node::Text(text) => Value::String(text.to_string()),
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
        self.0.binary_search_by(|(k, _)| key_order(k, key))
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
        // Room for the one value most lists get, without growing.
        match self.entry(key, || Node::Array(Vec::with_capacity(1))) {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Keys in `serde_json::Map`'s order (bytewise), compared in place: most
/// differ in their first byte, and `Ord` for slices calls `memcmp`.
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// The elements of one multi-valued attribute that rules of one identity
/// fill, so that two rules (`.value`, `.display`) fill the same elements.
#[derive(Debug)]
struct Placed<'r> {
    schema: &'r str,
    attr: &'r str,
    identity: Option<(&'r str, Marker<'r>)>,
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
    pub fn put(
        &mut self,
        rule: &'r Rule,
        path: &'r ScimPath,
        values: impl IntoIterator<Item = Node<'r>>,
    ) {
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
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
                if let Some(first) = values.next() {
                    container.insert(&path.attr, first);
                }
            }
            (None, true) => {
                if let Some(list) = container.list(&path.attr) {
                    list.extend(values);
                }
            }
            (Some(sub), false) => {
                if let Some(object) = container.object(&path.attr) {
                    if let Some(first) = values.next() {
                        object.insert(sub, first);
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
                        && same_identity(p.identity.as_ref(), identity.as_ref())
                }) {
                    Some(slot) => slot,
                    None => {
                        if self.placed.capacity() == 0 {
                            self.placed = Vec::with_capacity(2);
                        }
                        self.placed.push(Placed {
                            schema: &path.schema,
                            attr: &path.attr,
                            identity,
                            primary,
                            positions: Vec::with_capacity(1),
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
                for (i, value) in values.enumerate() {
                    match positions.get(i).and_then(|p| list.get_mut(*p)) {
                        Some(Node::Object(element)) => element.insert(sub, value),
                        _ => {
                            let mut element = Members(Vec::with_capacity(3));
                            element.insert(sub, value);
                            if let Some((attr, marker)) = identity {
                                element.insert(attr, marker.node());
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

/// The value that marks an element's identity (`type: work`), borrowed
/// from the mapping.
#[derive(Debug, Clone, Copy)]
enum Marker<'r> {
    /// A filter's value.
    Value(&'r Value),
    /// A `prefer` type: the string value it stands for.
    Text(&'r str),
}

impl<'r> Marker<'r> {
    /// As a value: `Value::String` for a text.
    fn as_text(self) -> Option<&'r str> {
        match self {
            Marker::Value(Value::String(s)) => Some(s),
            Marker::Text(s) => Some(s),
            Marker::Value(_) => None,
        }
    }

    fn node(self) -> Node<'r> {
        match self {
            Marker::Value(Value::String(text)) => Node::Text(text),
            Marker::Text(text) => Node::Text(text),
            Marker::Value(value) => Node::Leaf(value.clone()),
        }
    }
}

/// Identities compared as the values they stand for.
fn same_identity(a: Option<&(&str, Marker)>, b: Option<&(&str, Marker)>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some((a_attr, a)), Some((b_attr, b))) => {
            a_attr == b_attr
                && match (a.as_text(), b.as_text(), a, b) {
                    (Some(a), Some(b), _, _) => a == b,
                    (None, None, Marker::Value(a), Marker::Value(b)) => a == b,
                    _ => false,
                }
        }
        _ => false,
    }
}

/// `Rule::element_identity`, borrowing the key and the value.
fn element_identity<'r>(rule: &'r Rule, path: &'r ScimPath) -> Option<(&'r str, Marker<'r>)> {
    if !path.is_plural_complex() {
        return None;
    }
    if let Some(filter) = &path.filter {
        return Some((&filter.attr, Marker::Value(&filter.value)));
    }
    rule.prefer.iter().find_map(|p| match p {
        Preference::Type(t) => Some(("type", Marker::Text(t))),
        Preference::Primary => None,
    })
}

fn is_primary(element: &Node) -> bool {
    matches!(element, Node::Object(members)
        if members.get("primary") == Some(&Node::Leaf(Value::Bool(true))))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::{Members, Node};
    use crate::drupal::document::Attributes;
    use crate::mapping::rule::Read;
    use crate::mapping::test_support::{drupal_value, shipped_mappings};
    use crate::mapping::Mapping;

    fn to_value(node: &Node) -> Value {
        match node {
            Node::Leaf(value) => value.clone(),
            Node::Text(text) => Value::String(text.to_string()),
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

    /// Rules of every field type, SCIM type and transform.
    const EVERY_KIND: &str = r#"
schemas:
  - urn: urn:example:params:scim:schemas:extension:acme:2.0:User
    name: AcmeUser
    alias: acme
    attributes:
      - {name: vip, type: boolean}
      - {name: level, type: integer}
      - {name: ratio, type: decimal}
      - {name: birthday, type: dateTime}
      - {name: hired, type: dateTime}
      - {name: note, type: string}
      - {name: tags, type: string, multi_valued: true}
      - {name: seen, type: dateTime}
      - {name: flag, type: string}
rules:
  - {scim: userName, drupal: name, transforms: [trim, {truncate: 3}]}
  - {scim: title, drupal: field_title, transforms: [{map: {Boss: b, Staff: s}}]}
  - {scim: displayName, drupal: field_bio, type: text, format: basic_html}
  - {scim: "acme:vip", drupal: field_vip, type: boolean}
  - {scim: "acme:flag", drupal: field_flag, type: boolean}
  - {scim: "acme:level", drupal: field_level, type: integer}
  - {scim: "acme:ratio", drupal: field_ratio}
  - {scim: "acme:note", drupal: field_note, type: string_long, transforms: [lowercase, {default: none}]}
  - {scim: "acme:tags", drupal: field_tags, transforms: [{join: ","}]}
  - {scim: userType, drupal: field_kind, type: list_string, transforms: [{split: ", "}], multiple: true}
  - {scim: 'emails[type eq "home"].value', drupal: field_home_mail, type: email}
  - {scim: emails.value, prefer: [primary, work], drupal: mail}
  - {scim: 'phoneNumbers[type eq "work"].value', drupal: field_phone, type: telephone}
  - {scim: profileUrl, drupal: field_site, type: link}
  - {scim: "acme:birthday", drupal: field_birthday, type: date}
  - {scim: "acme:hired", drupal: field_hired, type: datetime}
  - {scim: "acme:seen", drupal: access}
  - {scim: nickName, drupal: created}
  - {scim: name.givenName, drupal: field_first_name}
  - {scim: active, drupal: status}
  - {scim: preferredLanguage, drupal: preferred_langcode, transforms: [langcode]}
  - {scim: password, drupal: pass}
"#;

    fn every_mapping() -> Vec<(String, Mapping)> {
        let mut found = shipped_mappings();
        found.push((
            "every kind".into(),
            Mapping::parse(EVERY_KIND, "test.yaml").expect("the test mapping"),
        ));
        found
    }

    /// What `scim_read` read, as the values `scim_values` gives.
    fn as_values(read: Read) -> Vec<Value> {
        match read {
            Read::Nothing => Vec::new(),
            Read::Text(text) => vec![Value::String(text.to_string())],
            Read::Bool(b) => vec![Value::Bool(b)],
            Read::Values(values) => values,
        }
    }

    proptest! {
        /// The borrowed reading gives what `scim_values` gives, from a map
        /// and from a user's compact attributes, for every rule: a string
        /// or boolean taken as it is must be exactly the value it stands for.
        #[test]
        fn a_rule_reads_what_its_values_are(value in drupal_value()) {
            for (name, mapping) in every_mapping() {
                for rule in mapping.rules.iter().filter(|r| r.scim_path().is_some()) {
                    let mut map = Map::new();
                    map.insert(rule.target.field.clone(), value.clone());
                    let compact = Attributes::from_map(map.clone());
                    let none = Map::new();
                    let empty = Attributes::default();
                    let expected = rule.scim_values(&map, &none);
                    prop_assert_eq!(&rule.scim_values(&compact, &none), &expected);
                    prop_assert_eq!(
                        as_values(rule.scim_read(&map, &none)),
                        expected.clone(),
                        "{} {:?}", name, rule.item
                    );
                    prop_assert_eq!(
                        as_values(rule.scim_read(&compact, &none)),
                        expected,
                        "{} {:?}", name, rule.item
                    );
                    prop_assert_eq!(as_values(rule.scim_read(&empty, &none)), Vec::<Value>::new());
                }
            }
        }
    }

    #[test]
    fn strings_and_booleans_are_borrowed_where_they_come_back_as_they_are() {
        let mapping = Mapping::parse(EVERY_KIND, "test.yaml").expect("the test mapping");
        let rule = |field: &str| {
            mapping
                .rules
                .iter()
                .find(|r| r.target.field == field)
                .expect("a rule")
        };
        let map: Map<String, Value> = serde_json::from_value(json!({
            "field_first_name": "Ann", "status": false, "field_title": "b",
            "field_birthday": "2024-05-06", "field_flag": true, "field_note": "x",
        }))
        .expect("a map");
        let none = Map::new();
        assert_eq!(
            rule("field_first_name").scim_read(&map, &none),
            Read::Text("Ann")
        );
        assert_eq!(rule("field_note").scim_read(&map, &none), Read::Text("x"));
        assert_eq!(rule("status").scim_read(&map, &none), Read::Bool(false));
        // Undone, converted or typed otherwise: read as values.
        assert_eq!(
            rule("field_title").scim_read(&map, &none),
            Read::Values(vec![json!("Boss")])
        );
        assert_eq!(
            rule("field_birthday").scim_read(&map, &none),
            Read::Values(vec![json!("2024-05-06T00:00:00Z")])
        );
        assert_eq!(
            rule("field_flag").scim_read(&map, &none),
            Read::Values(vec![json!("true")])
        );
    }

    #[test]
    fn element_identities_compare_as_the_values_they_stand_for() {
        use super::{same_identity, Marker};
        let work = json!("work");
        let one = json!(1);
        let also_one = json!(1);
        let cases = [
            (
                ("type", Marker::Value(&work)),
                ("type", Marker::Text("work")),
                true,
            ),
            (
                ("type", Marker::Text("work")),
                ("type", Marker::Text("work")),
                true,
            ),
            (
                ("type", Marker::Text("work")),
                ("type", Marker::Text("home")),
                false,
            ),
            (
                ("type", Marker::Text("work")),
                ("kind", Marker::Text("work")),
                false,
            ),
            (
                ("type", Marker::Value(&one)),
                ("type", Marker::Value(&also_one)),
                true,
            ),
            (
                ("type", Marker::Value(&one)),
                ("type", Marker::Text("1")),
                false,
            ),
        ];
        for (a, b, same) in cases {
            let owned = |(k, m): (&str, Marker)| (k.to_string(), to_value(&m.node()));
            assert_eq!(owned(a) == owned(b), same, "{a:?} {b:?}");
            assert_eq!(same_identity(Some(&a), Some(&b)), same, "{a:?} {b:?}");
            assert_eq!(same_identity(Some(&b), Some(&a)), same, "{a:?} {b:?}");
            assert!(!same_identity(Some(&a), None));
        }
        assert!(same_identity(None, None));
    }

    /// `from_drupal` as it was built before values were borrowed: every
    /// rule's `scim_values` put as owned leaves.
    fn owned_tree(
        mapping: &Mapping,
        attributes: &Map<String, Value>,
        relationships: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut user = super::TreeUser::default();
        for rule in mapping.rules.iter().filter(|r| r.direction.reads()) {
            if let Some(path) = rule.scim_path() {
                let values = rule.scim_values(attributes, relationships);
                user.put(rule, path, values.into_iter().map(Node::Leaf));
            }
        }
        user.finish().into_map()
    }

    #[test]
    fn borrowed_values_build_the_user_owned_values_built() {
        for (name, mapping) in every_mapping() {
            for value in [
                json!("  Ann \"x\" \\ é 😀 "),
                json!(["a@example.org", "b@example.org"]),
                json!({"value": "v", "format": "plain_text"}),
                json!(true),
                json!(false),
                json!(7),
                json!("2024-05-06T07:08:09+00:00"),
                json!("work"),
                Value::Null,
            ] {
                let (attributes, relationships) = filled(&mapping, &value);
                let compact = Attributes::from_map(attributes.clone());
                let expected = owned_tree(&mapping, &attributes, &relationships);
                assert_eq!(
                    mapping.from_drupal(&attributes, &relationships),
                    expected,
                    "{name} with {value}"
                );
                assert_eq!(
                    mapping.from_drupal(&compact, &relationships),
                    expected,
                    "{name} with {value}"
                );
            }
        }
    }

    #[test]
    fn the_tree_holds_what_the_map_holds_for_every_shipped_mapping() {
        for (name, mapping) in shipped_mappings() {
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
                assert_eq!(to_map(&tree), map, "{name} with {value}");
                // Keys in the map's order, not merely the same set.
                let keys: Vec<&str> = tree.iter().map(|(k, _)| k).collect();
                let map_keys: Vec<&str> = map.keys().map(String::as_str).collect();
                assert_eq!(keys, map_keys);
            }
        }
    }
}
