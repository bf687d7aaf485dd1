//! A user document read in one pass over its bytes, without serde's
//! machinery: the members [`UserDocument`] keeps are built, everything else
//! (`jsonapi`, `links`, each relationship's `links`) is only stepped over.
//! Reading a user through serde_json cost more than merely scanning the
//! document with it (`IgnoredAny`) would, and that alone was more than the
//! bridge's budget for the whole read.
//!
//! This reader is a fast path, not a second definition of what a user
//! document is: [`read`] gives `None` for anything it does not handle
//! exactly as the serde path does (a document that is not JSON, a member
//! of an unexpected shape, a key sent twice where serde refuses it, a
//! lone surrogate, invalid UTF-8 in a kept string, nesting deeper than
//! [`MAX_DEPTH`], ...), and the caller then reads the bytes with serde_json
//! ([`UserDocument`]'s `Deserialize`), which gives the answer or the error
//! it always gave. It is stricter than serde_json, never more lenient: a
//! document it accepts, serde_json accepts too, and reads to the same
//! document (the tests compare the two over recorded, generated and
//! corrupted documents).
//!
//! Values whose exact reading is serde_json's business (numbers other than
//! small non-negative integers, objects and arrays kept as `Value`, strings
//! with escapes) are handed to serde_json one by one, as the slice of the
//! document they occupy, after this reader checked their grammar.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::attributes::{Attributes, Item, Span};
use super::{Relationships, UserDocument, UserResourceFields, USER_TYPE};

mod collection;

pub(super) use collection::read_collection;

/// Containers deeper than this are left to serde_json (whose own limit is
/// 128, counted from the top): a value this reader accepted whole can then
/// never be one serde_json refuses for its depth, even when it is read on
/// its own from its slice.
const MAX_DEPTH: u32 = 64;

/// The user document in `bytes`; `None` when serde_json must decide.
pub(super) fn read(bytes: &[u8]) -> Option<UserDocument> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        depth: 0,
        strict: false,
    };
    let document = reader.document()?;
    reader.ws();
    (reader.pos == bytes.len()).then_some(document)
}

/// A string as it appears in the document: `bytes[start..end]`, between
/// its quotes.
#[derive(Clone, Copy)]
struct Str<'a> {
    bytes: &'a [u8],
    start: usize,
    end: usize,
    escaped: bool,
}

impl<'a> Str<'a> {
    /// Its bytes between the quotes, escapes undecoded.
    fn raw(self) -> &'a [u8] {
        self.bytes.get(self.start..self.end).unwrap_or_default()
    }

    /// The string's text, as serde_json reads it; `None` when serde_json
    /// would refuse it (invalid UTF-8, a lone surrogate).
    fn text(self) -> Option<Cow<'a, str>> {
        if self.escaped {
            // With its quotes, as serde_json reads it.
            let quoted = self.bytes.get(self.start.checked_sub(1)?..=self.end)?;
            return serde_json::from_slice::<String>(quoted)
                .ok()
                .map(Cow::Owned);
        }
        std::str::from_utf8(self.raw()).ok().map(Cow::Borrowed)
    }

    /// Whether serde_json would read the string as text.
    fn check(self) -> Option<()> {
        if !self.escaped && self.raw().is_ascii() {
            return Some(());
        }
        self.text().map(drop)
    }

    /// The string as a member name to match: its bytes, decoded when it
    /// has escapes.
    fn name(self) -> Option<Cow<'a, [u8]>> {
        if !self.escaped {
            return Some(Cow::Borrowed(self.raw()));
        }
        match self.text()? {
            Cow::Borrowed(text) => Some(Cow::Borrowed(text.as_bytes())),
            Cow::Owned(text) => Some(Cow::Owned(text.into_bytes())),
        }
    }
}

const ONES: u64 = u64::MAX / 255;
const HIGH: u64 = ONES << 7;

/// The high bit of each byte of `chunk` that is `"`, `\` or a control
/// character, and perhaps of bytes after the first such one (a borrow can
/// carry upwards): the lowest one set is exact.
fn stops(chunk: u64) -> u64 {
    let control = chunk.wrapping_sub(ONES * 0x20) & !chunk;
    let quote = chunk ^ (ONES * u64::from(b'"'));
    let quote = quote.wrapping_sub(ONES) & !quote;
    let backslash = chunk ^ (ONES * u64::from(b'\\'));
    let backslash = backslash.wrapping_sub(ONES) & !backslash;
    (control | quote | backslash) & HIGH
}

/// The place of the first `"`, `\\` or control character at or after
/// `from`; the end of `bytes` when there is none. A word at a time, two
/// words at a time past the first (links' URLs, long values).
#[inline(always)]
fn stop_at(bytes: &[u8], from: usize) -> usize {
    let Some(rest) = bytes.get(from..) else {
        return bytes.len();
    };
    if let Some(Ok(word)) = rest.get(..8).map(<[u8; 8]>::try_from) {
        let found = stops(u64::from_le_bytes(word));
        if found != 0 {
            return from + (found.trailing_zeros() / 8) as usize;
        }
        return stop_after_word(bytes, from + 8);
    }
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map_or(bytes.len(), |at| from + at)
}

/// [`stop_at`] past a first word without a stop.
fn stop_after_word(bytes: &[u8], from: usize) -> usize {
    let rest = bytes.get(from..).unwrap_or_default();
    let mut at = from;
    let mut pairs = rest.chunks_exact(16);
    for pair in &mut pairs {
        let (Ok(low), Ok(high)) = (
            <[u8; 8]>::try_from(&pair[..8]),
            <[u8; 8]>::try_from(&pair[8..]),
        ) else {
            break;
        };
        let (low, high) = (
            stops(u64::from_le_bytes(low)),
            stops(u64::from_le_bytes(high)),
        );
        if low | high != 0 {
            return at
                + if low != 0 {
                    (low.trailing_zeros() / 8) as usize
                } else {
                    8 + (high.trailing_zeros() / 8) as usize
                };
        }
        at += 16;
    }
    pairs
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map_or(bytes.len(), |i| at + i)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
    /// Whether what is stepped over must be what serde_json reads into a
    /// `Value` (every string text, every number in range), not merely
    /// what it skips.
    strict: bool,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// A string, from its opening quote (after whitespace): escapes
    /// checked as serde_json checks them, control characters refused.
    #[inline(always)]
    fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.pos = stop_at(self.bytes, self.pos);
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    return Some(Str {
                        bytes: self.bytes,
                        start,
                        end,
                        escaped,
                    });
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    /// An escape, from its backslash: one serde_json accepts.
    fn escape(&mut self) -> Option<()> {
        self.pos += 1;
        match *self.bytes.get(self.pos)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
            b'u' => {
                let hex = self.bytes.get(self.pos + 1..self.pos + 5)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                self.pos += 5;
            }
            _ => return None,
        }
        Some(())
    }

    /// A number's grammar, as JSON has it; the slice it occupies.
    fn number(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match *self.bytes.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        // "01" and "1x": serde_json stops after the number and then finds
        // no separator; left to it.
        if let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            return None;
        }
        self.bytes.get(start..self.pos)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// An object, from its `{` (after whitespace), each member's value
    /// read by `member` from after the colon.
    fn object(&mut self, mut member: impl FnMut(&mut Self, Str<'a>) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek()? == b'}' {
            self.pos += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Steps over any value, checking its grammar. A loop, not a
    /// descent: which containers are open is a stack of bits (an object
    /// is a 1), [`MAX_DEPTH`] of them at most.
    fn skip(&mut self) -> Option<()> {
        if self.strict {
            self.skip_as::<true>()
        } else {
            self.skip_as::<false>()
        }
    }

    /// [`Reader::skip`], strict or not.
    fn skip_as<const STRICT: bool>(&mut self) -> Option<()> {
        let mut open: u64 = 0;
        let mut depth = 0u32;
        loop {
            // A value.
            match self.peek()? {
                b'"' => self.skipped_string::<STRICT>()?,
                open_byte @ (b'{' | b'[') => {
                    self.pos += 1;
                    self.enter()?;
                    depth += 1;
                    open = open << 1 | u64::from(open_byte == b'{');
                    let close = if open_byte == b'{' { b'}' } else { b']' };
                    if self.peek()? != close {
                        if open & 1 == 1 {
                            self.skipped_string::<STRICT>()?;
                            self.eat(b':')?;
                        }
                        continue;
                    }
                    self.pos += 1;
                    self.depth -= 1;
                    depth -= 1;
                    open >>= 1;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.skipped_number::<STRICT>()?,
            }
            // What follows a value: the end, the next member or item, or
            // the end of its container.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let in_object = open & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if in_object {
                            self.skipped_string::<STRICT>()?;
                            self.eat(b':')?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                self.pos += 1;
                self.depth -= 1;
                depth -= 1;
                open >>= 1;
            }
        }
    }

    /// A string stepped over (a value or a member name).
    #[inline(always)]
    fn skipped_string<const STRICT: bool>(&mut self) -> Option<()> {
        let string = self.string()?;
        if STRICT {
            string.check()?;
        }
        Some(())
    }

    /// A number stepped over: when strict, one serde_json reads into a
    /// `Value` (not `1e400`).
    #[inline(always)]
    fn skipped_number<const STRICT: bool>(&mut self) -> Option<()> {
        let number = self.number()?;
        if STRICT && !(number.len() <= 18 && number.iter().all(u8::is_ascii_digit)) {
            serde_json::from_slice::<Value>(number).ok()?;
        }
        Some(())
    }

    /// Any value, read as serde_json reads it into a `Value`.
    fn value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => {
                let string = self.string()?;
                // A user's type, made without a UTF-8 check.
                if !string.escaped && string.raw() == USER_TYPE.as_bytes() {
                    return Some(Value::String(USER_TYPE.to_owned()));
                }
                Some(Value::String(string.text()?.into_owned()))
            }
            b'n' => self.literal(b"null").map(|()| Value::Null),
            b't' => self.literal(b"true").map(|()| Value::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Value::Bool(false)),
            b'[' if self.bytes.get(self.pos + 1) == Some(&b']') => {
                self.pos += 2;
                Some(Value::Array(Vec::new()))
            }
            _ => {
                let start = self.pos;
                self.skip()?;
                serde_json::from_slice(self.bytes.get(start..self.pos)?).ok()
            }
        }
    }

    /// An attribute's value, strings as spans of the attributes' text,
    /// which starts at `origin` of the document; strings with escapes are
    /// decoded into `decoded`, their spans set later.
    fn item(
        &mut self,
        origin: usize,
        decoded: &mut Vec<(usize, bool, String)>,
        entry: usize,
    ) -> Option<Item> {
        match self.peek()? {
            b'"' => {
                let string = self.string()?;
                if string.escaped {
                    decoded.push((entry, false, string.text()?.into_owned()));
                }
                Some(Item::Str(Span::of(
                    string.start - origin,
                    string.end - origin,
                )))
            }
            b'n' => self.literal(b"null").map(|()| Item::Null),
            b't' => self.literal(b"true").map(|()| Item::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Item::Bool(false)),
            b'{' | b'[' => Some(Item::Other(Box::new(self.value()?))),
            _ => {
                let number = self.number()?;
                // Small non-negative integers (uids, counts) as serde_json
                // reads them; anything else by serde_json itself.
                if number.len() <= 18 && number.iter().all(u8::is_ascii_digit) {
                    let n = number
                        .iter()
                        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                    return Some(Item::Number(Number::from(n)));
                }
                match serde_json::from_slice(number).ok()? {
                    Value::Number(n) => Some(Item::Number(n)),
                    _ => None,
                }
            }
        }
    }

    fn document(&mut self) -> Option<UserDocument> {
        let mut data = None;
        let mut included = None;
        self.object(|reader, key| {
            match &*key.name()? {
                b"data" => {
                    if data.is_some() {
                        return None;
                    }
                    data = Some(match reader.peek()? {
                        b'n' => reader.literal(b"null").map(|()| None)?,
                        _ => Some(reader.resource()?),
                    });
                }
                b"included" => {
                    if included.is_some() {
                        return None;
                    }
                    included = Some(reader.value()?);
                }
                _ => {
                    // serde reads the names of members it skips as text.
                    key.check()?;
                    reader.skip()?;
                }
            }
            Some(())
        })?;
        Some(UserDocument {
            data: data.flatten(),
            included: included.filter(|v| !v.is_null()),
        })
    }

    fn resource(&mut self) -> Option<UserResourceFields> {
        let (mut kind, mut id, mut attributes, mut relationships) = (None, None, None, None);
        self.object(|reader, key| {
            match &*key.name()? {
                b"type" | b"id" => {
                    let slot = if &*key.name()? == b"id" {
                        &mut id
                    } else {
                        &mut kind
                    };
                    if slot.is_some() {
                        return None;
                    }
                    *slot = Some(reader.value()?);
                }
                b"attributes" => {
                    if attributes.is_some() {
                        return None;
                    }
                    attributes = Some(match reader.peek()? {
                        b'n' => reader.literal(b"null").map(|()| None)?,
                        _ => Some(reader.attributes()?),
                    });
                }
                b"relationships" => {
                    if relationships.is_some() {
                        return None;
                    }
                    relationships = Some(reader.relationships()?);
                }
                _ => {
                    key.check()?;
                    reader.skip()?;
                }
            }
            Some(())
        })?;
        Some(UserResourceFields {
            kind: kind.filter(|v: &Value| !v.is_null()),
            id: id.filter(|v: &Value| !v.is_null()),
            attributes: attributes.flatten(),
            relationships: relationships.unwrap_or_default(),
        })
    }

    /// `attributes`, an object (anything else is left to serde). Their
    /// text is the object's own bytes, copied whole, each key and string
    /// value a span of it; a string with escapes is decoded after them.
    /// Every byte of the object is in a string serde_json would read as
    /// text or in JSON's ASCII punctuation, numbers and literals, so the
    /// copy is UTF-8 exactly when serde_json would read every string.
    fn attributes(&mut self) -> Option<Attributes> {
        self.peek()?;
        let origin = self.pos;
        let mut entries = Vec::with_capacity(24);
        let mut decoded = Vec::new();
        self.object(|reader, key| {
            let entry = entries.len();
            if key.escaped {
                decoded.push((entry, true, key.text()?.into_owned()));
            }
            let span = Span::of(key.start - origin, key.end - origin);
            let item = reader.item(origin, &mut decoded, entry)?;
            entries.push((span, item));
            Some(())
        })?;
        let raw = self.bytes.get(origin..self.pos)?;
        let mut text =
            Vec::with_capacity(raw.len() + decoded.iter().map(|(_, _, s)| s.len()).sum::<usize>());
        text.extend_from_slice(raw);
        for (entry, is_key, string) in decoded {
            let span = Span::of(text.len(), text.len() + string.len());
            text.extend_from_slice(string.as_bytes());
            let (key, item) = entries.get_mut(entry)?;
            if is_key {
                *key = span;
            } else {
                *item = Item::Str(span);
            }
        }
        Attributes::from_parts(text, entries)
    }

    /// `relationships`, an object (anything else is left to serde): each
    /// relationship's members but `links`.
    fn relationships(&mut self) -> Option<Relationships> {
        let mut out = Map::new();
        self.object(|reader, name| {
            let name = name.text()?.into_owned();
            let relationship = if reader.peek()? == b'{' {
                let mut members = Map::new();
                reader.object(|reader, key| {
                    let key = match &*key.name()? {
                        b"links" => return reader.skip(),
                        // JSON:API's names, made without a UTF-8 check.
                        b"data" => "data".to_owned(),
                        b"meta" => "meta".to_owned(),
                        _ => key.text()?.into_owned(),
                    };
                    let value = reader.value()?;
                    members.insert(key, value);
                    Some(())
                })?;
                Value::Object(members)
            } else {
                reader.value()?
            };
            out.insert(name, relationship);
            Some(())
        })?;
        Some(Relationships(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drupal::recordings::{corruptions, php_encoded, recorded_bodies};

    /// What serde_json reads `bytes` to, the reference.
    fn by_serde(bytes: &[u8]) -> serde_json::Result<UserDocument> {
        serde_json::from_slice(bytes)
    }

    /// Whatever this reader reads, serde_json reads too, to the same
    /// document: every attribute in its order (duplicates included),
    /// every relationship, `included`. Whether it read it.
    fn agrees(bytes: &[u8]) -> bool {
        let Some(fast) = read(bytes) else {
            return false;
        };
        let reference = by_serde(bytes).unwrap_or_else(|e| {
            panic!(
                "read what serde_json refuses ({e}): {}",
                String::from_utf8_lossy(bytes)
            )
        });
        assert_eq!(fast, reference, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(
            format!("{fast:?}"),
            format!("{reference:?}"),
            "{}",
            String::from_utf8_lossy(bytes)
        );
        true
    }
    /// The bodies of the recorded real-Drupal answers that hold one user.
    fn recorded_users() -> Vec<(String, Value)> {
        let out = recorded_bodies(|case| case["response"]["body"]["data"]["type"] == "user--user");
        assert!(out.len() > 50, "recorded user documents: {}", out.len());
        out
    }

    #[test]
    fn recorded_user_documents_are_read_as_serde_json_reads_them() {
        for (case, body) in recorded_users() {
            for bytes in [
                serde_json::to_vec(&body).unwrap(),
                serde_json::to_vec_pretty(&body).unwrap(),
                php_encoded(&body),
            ] {
                assert!(agrees(&bytes), "{case}: not read");
            }
        }
    }

    /// A user document with a bit of everything: escapes in keys and
    /// values, numbers of every kind, nested values, a duplicate
    /// attribute, relationships with links, meta and odd members.
    const VARIED: &str = r#"{"jsonapi":{"version":"1.0","meta":{"links":{"self":{"href":"http:\/\/jsonapi.org\/format\/1.0\/"}}}},
 "data":{"type":"user--user","id":"5b0c1e8e-0b49-4bd4-9b1b-53c3e38c0a4c",
  "links":{"self":{"href":"http://d/jsonapi/user/user/5b0c"}},
  "attributes":{"name":"j\u00f6rg \"jo\" \\ \/ \ud83d\ude00","mail":"jo@example.com","status":true,
   "drupal_internal__uid":42,"big":18446744073709551615,"bigger":18446744073709551616,"neg":-7,
   "zero":0,"minus_zero":-0,"ratio":2.5,"exp":1e3,"small":-1.25E-2,"init":null,"off":false,
   "pass":{"value":"x","pre_hashed":false},"field_tags":["a",{"b":[1,null,"\u0000"]}],
   "f\u0069eld_escaped_key":"v","":"empty key","d\u00e9j\u00e0":"vu","dup":1,"dup":"last",
   "long":"0123456789abcdef0123456789abcdef0123456789abcdef","tab":"a\tb\nc\r\b\f",
   "jp":"日本語","emptystr":"","empty_obj":{},"empty_arr":[]},
  "relationships":{"roles":{"data":[{"type":"user_role--user_role","id":"r1","meta":{"drupal_internal__target_id":"editor"}}],
    "links":{"related":{"href":"http://d/r"},"self":{"href":"http://d/s"}}},
   "field_manager":{"data":null,"meta":{"m":1},"links":{}},
   "odd":[1,"two",null,{"links":3}],"str":"s","num":-1.5,"t":true,"n":null,
   "dup":{"data":[]},"dup":{"data":[],"data":null,"l\u0069nks":{}}}},
 "links":{"self":{"href":"http://d/jsonapi/user/user/5b0c"}},
 "included":[{"type":"user_role--user_role","id":"r1","attributes":{"label":"Editor"}}]}"#;

    #[test]
    fn a_document_with_every_kind_of_value_is_read_as_serde_json_reads_it() {
        assert!(agrees(VARIED.as_bytes()));
        let value: Value = serde_json::from_str(VARIED).unwrap();
        assert!(agrees(&serde_json::to_vec_pretty(&value).unwrap()));
        assert!(agrees(&php_encoded(&value)));
        let user = read(VARIED.as_bytes()).unwrap().into_user().unwrap();
        assert_eq!(user.attributes.get_str("name"), Some("jörg \"jo\" \\ / 😀"));
        assert_eq!(user.attributes.get_str("field_escaped_key"), Some("v"));
        assert_eq!(user.attributes.get_str("déjà"), Some("vu"));
        assert_eq!(user.attributes.get_u64("drupal_internal__uid"), Some(42));
        assert_eq!(user.attributes.get("dup"), Some(Value::from("last")));
        assert!(user.has_role("editor"));
        assert_eq!(
            user.relationships["dup"],
            serde_json::json!({"data": null}),
            "links skipped by its decoded name, the last data kept"
        );
    }

    #[test]
    fn documents_of_other_shapes_or_not_json_are_left_to_serde_json() {
        for text in [
            // Members serde refuses twice, or reads otherwise.
            r#"{"data":null,"data":null}"#,
            r#"{"included":[],"included":[]}"#,
            r#"{"data":{"id":"x","id":"y"}}"#,
            r#"{"data":{"type":"user--user","attributes":{},"attributes":{}}}"#,
            r#"{"data":{"relationships":{},"relationships":{}}}"#,
            r#"{"data":{"attributes":[]}}"#,
            r#"{"data":{"relationships":null}}"#,
            r#"{"data":["user--user","x"]}"#,
            r#"["data"]"#,
            "null",
            // Not JSON, or not what serde_json reads as text.
            r#"{"data":{"attributes":{"name":"a",}}}"#,
            r#"{"data":{"attributes":{"n":01}}}"#,
            r#"{"data":{"attributes":{"n":1.}}}"#,
            r#"{"data":{"attributes":{"n":-}}}"#,
            r#"{"data":{"attributes":{"n":1e400}}}"#,
            r#"{"data":{"attributes":{"n":"\ud800"}}}"#,
            r#"{"data":{"attributes":{"n":"\x"}}}"#,
            r#"{"data":{"attributes":{"n":"\u12"}}}"#,
            r#"{"data":{"attributes":{"n":tru}}}"#,
            r#"{"data":{} } x"#,
            r#"{"data":{}"#,
            "{\"data\":{\"attributes\":{\"n\":\"a\u{1}b\"}}}",
            "\u{feff}{}",
        ] {
            assert!(read(text.as_bytes()).is_none(), "{text}");
        }
        // Invalid UTF-8 in a string that is kept, and in a name serde
        // reads as text though it skips the member.
        for bytes in [
            &b"{\"data\":{\"attributes\":{\"n\":\"\xff\"}}}"[..],
            b"{\"data\":{\"attributes\":{\"\xc3\":1}}}",
            b"{\"data\":{\"attributes\":{\"a\":\"\xc3\",\"b\":\"\xa9\"}}}",
            b"{\"\xff\":1,\"data\":null}",
        ] {
            assert!(read(bytes).is_none(), "{}", String::from_utf8_lossy(bytes));
            assert!(by_serde(bytes).is_err());
        }
        // Invalid UTF-8 in what serde skips without reading it as text is
        // read, as serde_json reads it.
        assert!(agrees(b"{\"links\":{\"self\":\"\xff\"},\"data\":null}"));
        // Nesting: this reader stops well before serde_json's limit.
        let deep = |n: usize| {
            format!(
                r#"{{"data":{{"attributes":{{"a":{}1{}}}}}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(agrees(deep(60).as_bytes()));
        assert!(read(deep(70).as_bytes()).is_none());
        assert!(by_serde(deep(70).as_bytes()).is_ok());
        assert!(by_serde(deep(200).as_bytes()).is_err());
    }

    #[test]
    fn what_it_reads_from_a_corrupted_document_serde_json_reads_alike() {
        // Every byte deleted, replaced and preceded by each byte
        // `corruptions` tries: most are refused by both; the rest must read
        // alike.
        let base = br#"{"jsonapi":{"v":"1"},"data":{"type":"user--user","id":"u1","links":{"self":{"href":"h"}},"attributes":{"name":"a\"b\u00e9","n":12,"f":-1.5e2,"t":true,"x":null,"o":{"k":[1,"s"]}},"relationships":{"roles":{"data":[{"type":"r","id":"1","meta":{"drupal_internal__target_id":"e"}}],"links":{"self":{"href":"l"}}}}},"included":[]}"#;
        assert!(agrees(base));
        let variants = corruptions(base);
        let tried = variants.len();
        let read_count = variants.iter().filter(|v| agrees(v)).count();
        // Whitespace before every token, a digit in every number and
        // string, ...: a good share reads.
        assert!(read_count > tried / 20, "{read_count} of {tried}");
    }

    #[test]
    fn the_end_of_a_string_is_found_at_every_length_and_place() {
        // Each kind of stop at every place of strings of every length up
        // to past two words, against a byte-by-byte search.
        for len in 0..40 {
            for stop in [b'"', b'\\', 0x00, 0x1f] {
                for at in 0..=len {
                    let mut bytes: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    if at < len {
                        bytes[at] = stop;
                    }
                    for from in 0..=bytes.len() {
                        let expected = bytes[from..]
                            .iter()
                            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                            .map_or(bytes.len(), |i| from + i);
                        assert_eq!(stop_at(&bytes, from), expected, "{bytes:?} from {from}");
                    }
                }
            }
        }
        // Bytes beyond ASCII (also those that are a stop plus 0x80) and
        // just above the control characters are no stops, wherever they
        // are in a word.
        let others: Vec<u8> = [
            0x20u8, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0x9f, 0xa0, 0xa2, 0xdc, 0xff,
        ]
        .into_iter()
        .chain("é日本語😀".bytes())
        .collect();
        for start in 0..others.len() {
            let bytes = [&others[start..], &others[..start], b"\"x"].concat();
            assert_eq!(stop_at(&bytes, 0), bytes.len() - 2, "{bytes:?}");
        }
    }
}
