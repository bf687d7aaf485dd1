//! A user collection read in one pass: each item of `data` as the user
//! document's reader reads its `data`, `links.next.href`, `meta.count` and
//! `included`; the rest stepped over.
//!
//! The client reads a collection the reader declines into a `Value`, which
//! reads every string as text and every number: what this reader steps
//! over it checks as strictly (`strict`), so that it never reads bytes a
//! `Value` would refuse. Members the client reads and that are sent twice
//! (a `Value` keeps the last), items that are not objects, and a `data`
//! that is not an array (the client's errors) are left to the `Value` read.

use serde_json::Value;

use super::super::{UserCollection, UserResourceFields};
use super::Reader;

/// The user collection in `bytes`; `None` when a `Value` must decide.
pub(in crate::drupal::document) fn read_collection(bytes: &[u8]) -> Option<UserCollection> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        depth: 0,
        strict: true,
    };
    let collection = reader.collection()?;
    reader.ws();
    (reader.pos == bytes.len()).then_some(collection)
}

/// Sets `slot` to what `read` reads, unless it was set already.
fn once<T>(slot: &mut Option<T>, read: impl FnOnce() -> Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(read()?);
    Some(())
}

impl Reader<'_> {
    fn collection(&mut self) -> Option<UserCollection> {
        let (mut data, mut next_href, mut count, mut included) = (None, None, None, None);
        self.object(|reader, key| match &*key.name()? {
            b"data" => once(&mut data, || reader.items()),
            b"links" => once(&mut next_href, || reader.next_href()),
            b"meta" => once(&mut count, || reader.count()),
            b"included" => once(&mut included, || reader.value()),
            _ => {
                key.check()?;
                reader.skip()
            }
        })?;
        Some(UserCollection::from_parts(
            data?,
            next_href.flatten(),
            count.flatten(),
            included,
        ))
    }

    /// An array, from its `[` (after whitespace), each item read by `item`.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.peek()? == b']' {
            self.pos += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `data`: an array of resource objects.
    fn items(&mut self) -> Option<Vec<UserResourceFields>> {
        let mut items = Vec::new();
        self.array(|reader| {
            items.push(reader.resource()?);
            Some(())
        })?;
        Some(items)
    }

    /// `links`: its `next.href` when that is a string.
    fn next_href(&mut self) -> Option<Option<String>> {
        if self.peek()? != b'{' {
            return self.skip().map(|()| None);
        }
        let mut next = None;
        self.object(|reader, key| match &*key.name()? {
            b"next" => once(&mut next, || reader.href()),
            _ => {
                key.check()?;
                reader.skip()
            }
        })?;
        Some(next.flatten())
    }

    /// A link: its `href` when that is a string.
    fn href(&mut self) -> Option<Option<String>> {
        if self.peek()? != b'{' {
            return self.skip().map(|()| None);
        }
        let mut href = None;
        self.object(|reader, key| match &*key.name()? {
            b"href" => once(&mut href, || match reader.peek()? {
                b'"' => Some(Some(reader.string()?.text()?.into_owned())),
                _ => reader.skip().map(|()| None),
            }),
            _ => {
                key.check()?;
                reader.skip()
            }
        })?;
        Some(href.flatten())
    }

    /// `meta`: its `count`, as any value.
    fn count(&mut self) -> Option<Option<Value>> {
        if self.peek()? != b'{' {
            return self.skip().map(|()| None);
        }
        let mut count = None;
        self.object(|reader, key| match &*key.name()? {
            b"count" => once(&mut count, || reader.value()),
            _ => {
                key.check()?;
                reader.skip()
            }
        })?;
        Some(count)
    }
}
