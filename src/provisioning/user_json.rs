//! A user read by id, and a page of users listed, written straight into
//! the bytes of the answer.
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
//! A list page's users are written the same way, one after the other in
//! the `Resources` of a [`ListWriter`].
//!
//! Whatever this writer does not do returns `None`, and the caller takes
//! the map path (for a list page, the whole page): a projection that would
//! change the answer, and a mapping that writes `groups`, `id`, `meta` or
//! `schemas` itself.

use std::borrow::Borrow;

use serde_json::Value;

use super::render::{stamp_of, weak_tag_bytes, Fnv1a};
use super::roles::RoleCatalog;
use super::term_names::{TermName, TermNames};
use crate::drupal::DrupalUser;
use crate::mapping::{key_order, Mapping, Members, Node};
use crate::scim::list::ListWriter;
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
    let mut body = Vec::with_capacity(1024);
    let (tag, len) = write_user_into(&mut body, user, mapping, catalog, names, base, projection)?;
    let version = std::str::from_utf8(tag.get(..len)?).ok()?.to_string();
    Some(UserJson { version, body })
}

/// [`write_user`]'s body, appended to `out`; its `ETag` as
/// [`weak_tag_bytes`] gives it. `None` when the map path must answer, with
/// `out` holding part of the user past its old length: the caller drops it.
pub(super) fn write_user_into(
    out: &mut Vec<u8>,
    user: &DrupalUser,
    mapping: &Mapping,
    catalog: &RoleCatalog,
    names: &TermNames,
    base: &str,
    projection: &Projection,
) -> Option<([u8; 44], usize)> {
    let attributes = mapping.tree_from_drupal(&user.attributes, &user.relationships);
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

    // The digest: the text `render_user` hashed, the mapping's attributes
    // and `groups` (without `$ref`; no `schemas`, `id` or `meta`), in key
    // order, hashed as the body is written (the attributes' text is the
    // body's own). The version goes where `write_meta` says, afterwards.
    let mut hashed_groups = Vec::new();
    if !hashed.is_empty() {
        hashed_groups.extend_from_slice(b"\"groups\":");
        write_groups(&mut hashed_groups, &hashed, None);
    }
    let mut digest = Fnv1a::default();
    let mut version_at = None;
    let changed = user.attribute_str("changed");
    // The id is written twice (`id`, `meta.location`), looked at once.
    let id = Text::of(&user.id);
    let written = Written {
        attributes: &attributes,
        plain_keys: mapping.plain_keys(),
        hashed_groups: &hashed_groups,
    };
    let own_only = written.write(out, &mut digest, |out, key| {
        match key {
            "groups" if !groups.is_empty() => write_groups(out, &groups, Some(base)),
            "groups" => return false,
            "id" => {
                out.push(b'"');
                id.write(out);
                out.push(b'"');
            }
            "meta" => version_at = Some(write_meta(out, user, &id, changed, base)),
            _ => write_schemas(out, &attributes, written.plain_keys),
        }
        true
    });
    if !own_only {
        return None;
    }
    let (tag, len) = weak_tag_bytes(stamp_of(changed), digest.0);

    // `meta.version`, where it belongs: the tag as a JSON string, its two
    // `"` (its only characters to escape) escaped.
    let at = version_at?;
    let end = out.len();
    out.extend_from_slice(b"\"W/\\\"");
    out.extend_from_slice(tag.get(3..len - 1)?);
    out.extend_from_slice(b"\\\"\"");
    let written = out.len() - end;
    out.get_mut(at..)?.rotate_right(written);
    Some((tag, len))
}

/// A page of users as the `Resources` of a list query's answer, each as
/// [`write_user`] writes it (`meta.version` included), in the order given;
/// the caller finishes it with the counters. `None` when one of them needs
/// the map path, and the whole page takes it.
pub fn write_users<U: Borrow<DrupalUser>>(
    users: &[U],
    mapping: &Mapping,
    catalog: &RoleCatalog,
    names: &TermNames,
    base: &str,
    projection: &Projection,
) -> Option<ListWriter> {
    let mut list = ListWriter::with_capacity(256 + 1024 * users.len());
    for user in users {
        write_user_into(
            list.resource(),
            user.borrow(),
            mapping,
            catalog,
            names,
            base,
            projection,
        )?;
    }
    Some(list)
}

/// The mapping's members, and how to write them.
struct Written<'a> {
    attributes: &'a Members<'a>,
    /// No key of the mapping needs escaping ([`Mapping::plain_keys`]).
    plain_keys: bool,
    /// `"groups":[...]` as the digest sees it; empty without groups.
    hashed_groups: &'a [u8],
}

impl Written<'_> {
    /// `{...}`: the members of `attributes` and those of [`ADDED`] that
    /// `added` writes (it writes the value of `key` and says whether it
    /// did), all in key order; `digest` gets the text of the attributes'
    /// members and the hashed groups in that order, in braces. `false`
    /// when the attributes hold a member of [`ADDED`] (the mapping wrote it
    /// itself): the map path answers then.
    fn write(
        &self,
        out: &mut Vec<u8>,
        digest: &mut Fnv1a,
        mut added: impl FnMut(&mut Vec<u8>, &str) -> bool,
    ) -> bool {
        out.push(b'{');
        let mut first = true;
        let mut separator: &[u8] = b"{";
        let mut extra = ADDED.iter().peekable();
        let mut own = self.attributes.iter().peekable();
        loop {
            let take_extra = match (extra.peek(), own.peek()) {
                (Some(e), Some((k, _))) => match key_order(e, k) {
                    std::cmp::Ordering::Less => true,
                    std::cmp::Ordering::Greater => false,
                    std::cmp::Ordering::Equal => return false,
                },
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
                if *key == "groups" && !self.hashed_groups.is_empty() {
                    digest.add(separator);
                    digest.add(self.hashed_groups);
                    separator = b",";
                }
                // The keys of `ADDED` need no escaping.
                write_key::<true>(out, key);
                if !added(out, key) {
                    out.truncate(mark);
                    continue;
                }
            } else {
                let Some((key, value)) = own.next() else {
                    break;
                };
                let start = out.len();
                if self.plain_keys {
                    write_key::<true>(out, key);
                    write_node::<true>(out, value);
                } else {
                    write_key::<false>(out, key);
                    write_node::<false>(out, value);
                }
                digest.add(separator);
                digest.add(out.get(start..).unwrap_or_default());
                separator = b",";
            }
            first = false;
        }
        out.push(b'}');
        if separator == b"{" {
            digest.add(separator);
        }
        digest.add(b"}");
        true
    }
}

/// `"key":`, escaped unless `PLAIN` says it needs no escaping.
fn write_key<const PLAIN: bool>(out: &mut Vec<u8>, key: &str) {
    if PLAIN {
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
    } else {
        write_str(out, key);
        out.push(b':');
    }
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
            write_member(out, b"\"display\":", display);
        }
        out.extend_from_slice(b"\"type\":\"direct\",\"value\":");
        write_str(out, id);
        out.push(b'}');
    }
    out.push(b']');
}

/// `"key":"text",`: a member that is not the object's last.
fn write_member(out: &mut Vec<u8>, key: &[u8], text: &str) {
    out.extend_from_slice(key);
    write_str(out, text);
    out.push(b',');
}

/// `meta`: `created`, `lastModified`, `location`, `resourceType`, and
/// `version` up to its value, which goes where this returns.
fn write_meta(
    out: &mut Vec<u8>,
    user: &DrupalUser,
    id: &Text,
    changed: Option<&str>,
    base: &str,
) -> usize {
    out.push(b'{');
    if let Some(created) = user
        .attribute_str("created")
        .and_then(super::render::scim_date_time)
    {
        write_member(out, b"\"created\":", created);
    }
    if let Some(changed) = changed.and_then(super::render::scim_date_time) {
        write_member(out, b"\"lastModified\":", changed);
    }
    out.extend_from_slice(b"\"location\":\"");
    escape_into(out, base);
    out.extend_from_slice(b"/Users/");
    id.write(out);
    out.extend_from_slice(b"\",\"resourceType\":\"User\",\"version\":");
    let at = out.len();
    out.push(b'}');
    at
}

/// A text written more than once, checked for characters to escape once.
struct Text<'a> {
    text: &'a str,
    plain: bool,
}

impl<'a> Text<'a> {
    fn of(text: &'a str) -> Text<'a> {
        Text {
            text,
            plain: clean_prefix(text.as_bytes()) == text.len(),
        }
    }

    /// The text escaped, without its quotes.
    fn write(&self, out: &mut Vec<u8>) {
        if self.plain {
            out.extend_from_slice(self.text.as_bytes());
        } else {
            escape_into(out, self.text);
        }
    }
}

/// The core schema, then each extension the attributes hold, in key order.
fn write_schemas(out: &mut Vec<u8>, attributes: &Members, plain_keys: bool) {
    out.push(b'[');
    // The core schema's URN needs no escaping.
    out.push(b'"');
    out.extend_from_slice(USER_URN.as_bytes());
    out.push(b'"');
    for (key, _) in attributes.iter().filter(|(k, _)| k.starts_with("urn:")) {
        out.push(b',');
        if plain_keys {
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.push(b'"');
        } else {
            write_str(out, key);
        }
    }
    out.push(b']');
}

/// `node` as `serde_json::to_writer` writes the `Value` the map path
/// builds of it; keys as [`write_key`] writes them.
fn write_node<const PLAIN: bool>(out: &mut Vec<u8>, node: &Node) {
    match node {
        Node::Leaf(value) => write_value(out, value),
        Node::Text(text) => write_str(out, text),
        Node::Array(items) => write_array(out, items, write_node::<PLAIN>),
        Node::Object(members) => {
            out.push(b'{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_key::<PLAIN>(out, key);
                write_node::<PLAIN>(out, item);
            }
            out.push(b'}');
        }
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
/// Eight bytes at a time: a byte at a time was a third of this writer's
/// work, and most text has nothing to escape. Text shorter than a word is
/// read a byte at a time from [`ESCAPE`]; the tail of a longer one as the
/// last eight bytes, which overlap words already read (no padded copy).
fn clean_prefix(bytes: &[u8]) -> usize {
    if bytes.len() < 8 {
        return bytes
            .iter()
            .position(|&b| ESCAPE[usize::from(b)] != 0)
            .unwrap_or(bytes.len());
    }
    let mut at = 0;
    let mut words = bytes.chunks_exact(8);
    for word in words.by_ref() {
        if needs_escape(word_of(word)) {
            return at;
        }
        at += 8;
    }
    if words.remainder().is_empty() {
        return at;
    }
    let last = bytes.get(bytes.len() - 8..).map_or(u64::MAX, word_of);
    if needs_escape(last) {
        // The overlap was clean; the byte-wise loop finds the one after it.
        at
    } else {
        bytes.len()
    }
}

/// Eight bytes as a word (`u64::MAX`, which needs escaping, if not eight).
fn word_of(bytes: &[u8]) -> u64 {
    <[u8; 8]>::try_from(bytes).map_or(u64::MAX, u64::from_le_bytes)
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

/// How serde_json escapes each byte: 0 as it is; `u` as `\u00xx`; any
/// other as a backslash and that letter.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

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
        let escape = ESCAPE[usize::from(b)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
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
    fn a_character_to_escape_is_found_in_texts_of_every_length() {
        for c in (0u8..=0x7f).map(char::from).chain(['é', '\u{2028}']) {
            for len in 0..25 {
                for at in 0..=len {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    text.insert(at, c);
                    assert_eq!(
                        written(&Value::String(text.clone())),
                        serde_json::to_string(&text).expect("json"),
                        "{c:?} at {at} of {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn plain_keys_are_written_as_escaped_keys_are_for_every_shipped_mapping() {
        for (name, mapping) in crate::mapping::test_support::shipped_mappings() {
            assert!(mapping.plain_keys(), "{name}");
            let mut attributes = serde_json::Map::new();
            for field in mapping.mapped_fields() {
                attributes.insert(field.name, json!("a \"b\""));
            }
            let tree = mapping.tree_from_drupal(&attributes, &serde_json::Map::new());
            assert!(!tree.is_empty(), "{name}");
            for (key, node) in tree.iter() {
                let (mut plain, mut escaped) = (Vec::new(), Vec::new());
                write_key::<true>(&mut plain, key);
                write_node::<true>(&mut plain, node);
                write_key::<false>(&mut escaped, key);
                write_node::<false>(&mut escaped, node);
                assert_eq!(plain, escaped, "{name}");
            }
        }
        let mut out = Vec::new();
        write_key::<false>(&mut out, "a\"b");
        assert_eq!(out, b"\"a\\\"b\":");
    }

    proptest! {
        #[test]
        fn a_text_looked_at_once_is_written_as_it_is_escaped(text in any::<String>(), ascii in "[\\x00-\\x7f]{0,40}") {
            for text in [text, ascii] {
                let (mut once, mut escaped) = (Vec::new(), Vec::new());
                Text::of(&text).write(&mut once);
                escape_into(&mut escaped, &text);
                prop_assert_eq!(once, escaped);
            }
        }

        #[test]
        fn keys_are_ordered_as_a_map_orders_them(a in any::<String>(), b in any::<String>()) {
            prop_assert_eq!(key_order(&a, &b), a.as_bytes().cmp(b.as_bytes()));
            prop_assert_eq!(key_order(&a, &a), std::cmp::Ordering::Equal);
            let longer = format!("{a}x");
            prop_assert_eq!(key_order(&a, &longer), std::cmp::Ordering::Less);
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
