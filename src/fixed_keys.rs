//! Hash maps whose keys come from the code or the configuration, never from
//! a client: operation names, metric label sets, site ids. Their hasher is
//! FNV-1a, unseeded. SipHash, the standard library's default, is keyed at
//! random so that a client cannot choose keys that all collide (HashDoS);
//! these tables hold no key a client chose, so that protection buys nothing
//! here, and SipHash cost several times FNV-1a on every request. A lookup
//! with a client's text (a site id in the URL) only reads the table: how
//! long it probes depends on the keys stored, which the configuration set.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a, 64 bits.
#[derive(Default)]
pub struct Fnv1aHasher(u64);

impl Hasher for Fnv1aHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// Builds [`Fnv1aHasher`]s.
pub type FixedKeys = BuildHasherDefault<Fnv1aHasher>;

/// A `HashMap` of keys from the code or the configuration (see the module).
pub type FixedKeyMap<K, V> = HashMap<K, V, FixedKeys>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn it_is_fnv1a() {
        // The published FNV-1a 64 test vectors.
        let hash = |bytes: &[u8]| {
            let mut h = Fnv1aHasher::default();
            h.write(bytes);
            h.finish()
        };
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
        // Pieces hash as their concatenation.
        let mut h = Fnv1aHasher::default();
        h.write(b"foo");
        h.write(b"bar");
        assert_eq!(h.finish(), hash(b"foobar"));
        assert_ne!(
            FixedKeys::default().hash_one("get_user"),
            FixedKeys::default().hash_one("create_user")
        );
    }

    #[test]
    fn maps_find_what_they_hold() {
        let mut map: FixedKeyMap<&str, u32> = FixedKeyMap::default();
        for (i, key) in ["get_user", "create_user", "default", ""]
            .iter()
            .enumerate()
        {
            map.insert(key, i as u32);
        }
        assert_eq!(map.get("create_user"), Some(&1));
        assert_eq!(map.get(""), Some(&3));
        assert_eq!(map.get("nobody"), None);
    }
}
