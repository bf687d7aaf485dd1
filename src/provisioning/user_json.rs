//! A user read by id, written straight into the bytes of the answer.
//!
//! The map path ([`render_user`](super::render_user), then the HTTP layer's
//! `$ref`s, `meta.location` and projection) builds the whole SCIM resource
//! as a `Map<String, Value>`, adds `groups`, `schemas`, `id` and `meta` to
//! it, serializes it twice (the `ETag`'s digest, then the body) and frees
//! it: a fifth of the bridge's own work on a read. Here the mapping's
//! members are built with their keys borrowed from the mapping
//! ([`Mapping::tree_from_drupal`]) and written once, with the rest around
//! them, in the order serde_json's map gives (sorted by key: its
//! `preserve_order` is off); the digest hashes the very text the map path
//! hashed, the body's own spans of it. The bytes and the `ETag` are the map
//! path's, byte for byte (tested against it for every shipped mapping, in
//! `http::users`).
//!
//! Whatever this writer does not do returns `None`, and the caller takes
//! the map path: a projection that would change the answer, and a mapping
//! that writes `groups`, `id`, `meta` or `schemas` itself.

use serde_json::Value;

use super::render::{version_stamp, weak_tag, Fnv1a};
use super::roles::RoleCatalog;
use super::term_names::{TermName, TermNames};
use crate::drupal::DrupalUser;
use crate::mapping::{Mapping, Members, Node};
use crate::scim::projection::Projection;
use crate::scim::schema::USER_URN;

/// A user's answer: its `ETag` and its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserJson {
    pub version: String,
    pub body: Vec<u8>,
}

/// The members the resource gets besides the mapping's, sorted.
const ADDED: [&str; 4] = ["groups", "id", "meta", "schemas"];

/// `user` as the answer to a read by id, with its `$ref`s and
/// `meta.location` under `base`; `None` when the map path must answer.
pub fn write_user(
    user: &DrupalUser,
    mapping: &Mapping,
    catalog: &RoleCatalog,
    names: &TermNames,
    base: &str,
    projection: &Projection,
) -> Option<UserJson> {
    let attributes = mapping.tree_from_drupal(&user.attributes, &user.relationships);
    if ADDED.iter().any(|key| attributes.contains_key(key)) {
        return None;
    }
    let present = |container: Option<&str>, name: &str| match container {
        None => ADDED.contains(&name) || attributes.contains_key(name),
        Some(urn) => attributes.contains_key(urn),
    };
    if !projection.leaves_alone(present) {
        return None;
    }
    // The groups as the version saw them: the roles' with their names,
    // then the terms' without (`render_user`); and as the answer shows
    // them: the terms' named, the gone ones left out (`name_groups`).
    let terms = super::Provisioner::term_group_refs(mapping, user);
    let term_names = names.names_of(&terms);
    let mut hashed: Vec<(&str, Option<&str>)> = catalog
        .groups_of(user)
        .map(|g| (g.id.as_str(), Some(g.display_name.as_str())))
        .collect();
    let mut groups = hashed.clone();
    for (id, name) in terms.iter().zip(&term_names) {
        hashed.push((id, None));
        match name {
            TermName::Named(name) => groups.push((id, Some(name))),
            TermName::Unknown => groups.push((id, None)),
            TermName::Gone => {}
        }
    }

    let mut out = Vec::with_capacity(1024);
    // Where each of the mapping's members was written, and where the
    // version goes: the digest needs the attributes' text first.
    let mut spans = Vec::with_capacity(attributes.len());
    let mut version_at = None;
    write_members(&mut out, &attributes, &mut spans, |out, key| {
        match key {
            "groups" if !groups.is_empty() => write_groups(out, &groups, Some(base)),
            "groups" => return false,
            "id" => write_str(out, &user.id),
            "meta" => version_at = Some(write_meta(out, user, base)),
            _ => write_schemas(out, &attributes),
        }
        true
    });

    // The digest: the text `render_user` hashed, the mapping's attributes
    // and `groups` (without `$ref`; no `schemas`, `id` or `meta`), in key
    // order. The attributes' text is the body's own.
    let mut digest = Fnv1a::default();
    let mut separator: &[u8] = b"{";
    let mut groups_pending = !hashed.is_empty();
    let mut groups_text = Vec::new();
    for ((key, _), span) in attributes.iter().zip(&spans) {
        if groups_pending && b"groups".as_slice() < key.as_bytes() {
            write_groups(&mut groups_text, &hashed, None);
            digest.add(separator);
            digest.add(b"\"groups\":");
            digest.add(&groups_text);
            separator = b",";
            groups_pending = false;
        }
        digest.add(separator);
        digest.add(out.get(span.clone()).unwrap_or_default());
        separator = b",";
    }
    if groups_pending {
        write_groups(&mut groups_text, &hashed, None);
        digest.add(separator);
        digest.add(b"\"groups\":");
        digest.add(&groups_text);
        separator = b",";
    }
    if separator == b"{" {
        digest.add(separator);
    }
    digest.add(b"}");
    let version = weak_tag(version_stamp(user), digest.0);

    // `meta.version`, where it belongs.
    let at = version_at?;
    let mut tag = Vec::with_capacity(version.len() + 4);
    write_str(&mut tag, &version);
    out.extend_from_slice(&tag);
    out.get_mut(at..)?.rotate_right(tag.len());
    Some(UserJson { version, body: out })
}

/// `{...}`: the members of `attributes` and those of [`ADDED`] that
/// `added` writes (it writes the value of `key` and says whether it did),
/// all in key order.
/// `spans` receives where each of the attributes' members (`"key":value`)
/// was written.
fn write_members(
    out: &mut Vec<u8>,
    attributes: &Members,
    spans: &mut Vec<std::ops::Range<usize>>,
    mut added: impl FnMut(&mut Vec<u8>, &str) -> bool,
) {
    out.push(b'{');
    let mut first = true;
    let mut extra = ADDED.iter().peekable();
    let mut own = attributes.iter().peekable();
    loop {
        let take_extra = match (extra.peek(), own.peek()) {
            (Some(e), Some((k, _))) => e.as_bytes() < k.as_bytes(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let mark = out.len();
        if !first {
            out.push(b',');
        }
        if take_extra {
            let Some(key) = extra.next() else { break };
            write_str(out, key);
            out.push(b':');
            if !added(out, key) {
                out.truncate(mark);
                continue;
            }
        } else {
            let Some((key, value)) = own.next() else {
                break;
            };
            let start = out.len();
            write_str(out, key);
            out.push(b':');
            write_node(out, value);
            spans.push(start..out.len());
        }
        first = false;
    }
    out.push(b'}');
}

/// Groups: `{"$ref"?, "display"?, "type", "value"}`, the `$ref` only with
/// a base.
fn write_groups(out: &mut Vec<u8>, groups: &[(&str, Option<&str>)], base: Option<&str>) {
    out.push(b'[');
    for (i, (id, display)) in groups.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if let Some(base) = base {
            out.extend_from_slice(b"\"$ref\":\"");
            escape_into(out, base);
            out.extend_from_slice(b"/Groups/");
            escape_into(out, id);
            out.extend_from_slice(b"\",");
        }
        if let Some(display) = display {
            out.extend_from_slice(b"\"display\":");
            write_str(out, display);
            out.push(b',');
        }
        out.extend_from_slice(b"\"type\":\"direct\",\"value\":");
        write_str(out, id);
        out.push(b'}');
    }
    out.push(b']');
}

/// `meta`: `created`, `lastModified`, `location`, `resourceType`, and
/// `version` up to its value, which goes where this returns.
fn write_meta(out: &mut Vec<u8>, user: &DrupalUser, base: &str) -> usize {
    out.push(b'{');
    if let Some(created) = user.attribute_str("created") {
        out.extend_from_slice(b"\"created\":");
        write_str(out, created);
        out.push(b',');
    }
    if let Some(changed) = user.attribute_str("changed") {
        out.extend_from_slice(b"\"lastModified\":");
        write_str(out, changed);
        out.push(b',');
    }
    out.extend_from_slice(b"\"location\":\"");
    escape_into(out, base);
    out.extend_from_slice(b"/Users/");
    escape_into(out, &user.id);
    out.extend_from_slice(b"\",\"resourceType\":\"User\",\"version\":");
    let at = out.len();
    out.push(b'}');
    at
}

/// The core schema, then each extension the attributes hold, in key order.
fn write_schemas(out: &mut Vec<u8>, attributes: &Members) {
    out.push(b'[');
    write_str(out, USER_URN);
    for (key, _) in attributes.iter().filter(|(k, _)| k.starts_with("urn:")) {
        out.push(b',');
        write_str(out, key);
    }
    out.push(b']');
}

/// `node` as `serde_json::to_writer` writes the `Value` the map path
/// builds of it.
fn write_node(out: &mut Vec<u8>, node: &Node) {
    match node {
        Node::Leaf(value) => write_value(out, value),
        Node::Text(text) => write_str(out, text),
        Node::Array(items) => write_array(out, items, write_node),
        Node::Object(members) => write_object(out, members.iter(), write_node),
    }
}

/// `value` as `serde_json::to_writer` writes it (compact; objects in their
/// map's order).
pub(super) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Numbers are serde_json's own writing (itoa, ryu). Writing into a
        // Vec cannot fail.
        Value::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => write_array(out, items, write_value),
        Value::Object(members) => write_object(
            out,
            members.iter().map(|(k, v)| (k.as_str(), v)),
            write_value,
        ),
    }
}

/// How many bytes at the start of `bytes` surely need no escaping: all of
/// them, or up to the first eight-byte word that may hold one to escape.
/// Eight bytes at a time (the last word padded with `a`): a byte at a time
/// was a third of this writer's work, and most text has nothing to escape.
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut at = 0;
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        if needs_escape(u64::from_le_bytes(eight)) {
            return at;
        }
        at += 8;
    }
    let rest = words.remainder();
    let mut eight = [b'a'; 8];
    if let Some(head) = eight.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    if needs_escape(u64::from_le_bytes(eight)) {
        at
    } else {
        bytes.len()
    }
}

/// Whether one of the eight bytes of `word` is `"`, `\\` or below 0x20.
/// Never wrong when it says no (it may say yes for a byte above a
/// matching one, which only costs the byte-wise loop).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = has_zero(word ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(word ^ (ONES * u64::from(b'\\')));
    below_space | quote | backslash != 0
}

/// `[a,b,...]`, each item written by `each`.
fn write_array<T>(out: &mut Vec<u8>, items: &[T], each: fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}

/// `{"k":v,...}` in the members' order, each value written by `each`.
fn write_object<'a, T: 'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a str, &'a T)>,
    each: fn(&mut Vec<u8>, &T),
) {
    out.push(b'{');
    for (i, (key, item)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        each(out, item);
    }
    out.push(b'}');
}

fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    escape_into(out, text);
    out.push(b'"');
}

/// `text` escaped as serde_json escapes strings: `"` and `\`, and the
/// control characters below U+0020 (`\b \t \n \f \r` short, the others as
/// `\u00xx`); everything else, DEL and U+2028 included, as it is.
fn escape_into(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    let clean = clean_prefix(bytes);
    if clean == bytes.len() {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn written(value: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn every_ascii_character_is_escaped_as_serde_json_escapes_it() {
        for c in (0u8..=0x7f).map(char::from).chain(['\u{2028}', 'é', '😀']) {
            let text = format!("a{c}b{c}");
            assert_eq!(
                written(&Value::String(text.clone())),
                serde_json::to_string(&text).expect("json"),
                "{:?}",
                c
            );
        }
    }

    #[test]
    fn a_character_to_escape_is_found_at_every_place_of_a_long_text() {
        for c in (0u8..=0x7f).map(char::from).chain(['é', '\u{2028}']) {
            for at in 0..26 {
                let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(at).collect();
                text.push(c);
                text.push_str("0123456789ABCDEFGHIJ");
                assert_eq!(
                    written(&Value::String(text.clone())),
                    serde_json::to_string(&text).expect("json"),
                    "{c:?} at {at}"
                );
            }
        }
    }

    #[test]
    fn values_of_every_kind_are_written_as_serde_json_writes_them() {
        let value = json!({
            "z": null, "a": [true, false, 0, -7, 18446744073709551615u64, 2.5, 1e300, -0.0],
            "m": {"é": "\u{0}\u{1f}\"\\/", "": [], "e": {}}, "B": "x"
        });
        assert_eq!(written(&value), value.to_string());
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x7f]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_is_written_as_serde_json_writes_it(value in any_value()) {
            prop_assert_eq!(written(&value), value.to_string());
        }
    }
}
