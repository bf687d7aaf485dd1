//! An ordered JSON tree. Drupal lists attributes in field-definition order and
//! `serde_json::Map` (without `preserve_order`) would sort them, so documents
//! are built with this type and serialised as written.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    /// A leaf (or a sub-tree whose key order does not matter).
    Leaf(Value),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub(crate) fn null() -> Json {
        Json::Leaf(Value::Null)
    }

    pub(crate) fn object<K: Into<String>>(members: Vec<(K, Json)>) -> Json {
        Json::Object(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Appends a member to an object (no-op on other variants).
    pub(crate) fn push(&mut self, key: &str, value: Json) {
        if let Json::Object(members) = self {
            members.push((key.to_string(), value));
        }
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        // Serialising an in-memory tree with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Leaf(value) => value.serialize(serializer),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Leaf(Value::String(s.to_string()))
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Leaf(Value::String(s))
    }
}

impl From<Option<String>> for Json {
    fn from(s: Option<String>) -> Json {
        s.map_or_else(Json::null, Json::from)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Leaf(Value::Bool(b))
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Leaf(Value::from(n))
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        Json::Leaf(Value::from(n))
    }
}

impl From<Value> for Json {
    fn from(v: Value) -> Json {
        Json::Leaf(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_serialise_in_insertion_order_not_alphabetically() {
        let doc = Json::object(vec![("zeta", Json::from(1i64)), ("alpha", Json::from("a"))]);
        assert_eq!(
            String::from_utf8(doc.to_bytes()).unwrap(),
            r#"{"zeta":1,"alpha":"a"}"#
        );
    }

    #[test]
    fn nested_arrays_and_nulls_round_trip_to_values() {
        let doc = Json::object(vec![(
            "a",
            Json::Array(vec![Json::null(), Json::from(true)]),
        )]);
        assert_eq!(doc.to_value(), serde_json::json!({"a": [null, true]}));
    }
}
