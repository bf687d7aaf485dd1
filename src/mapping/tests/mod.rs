//! Whole-file tests: mapping files in, Drupal documents and SCIM users out.

mod apply;
mod errors;
mod presets;

use serde_json::{Map, Value};

use super::Mapping;

/// A JSON object literal as a map; tests only.
fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn mapping(source: &str) -> Mapping {
    Mapping::parse(source, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

/// The message a bad mapping is refused with.
fn refusal(source: &str) -> String {
    match Mapping::parse(source, "mappings/test.yaml") {
        Ok(_) => panic!("the mapping was accepted"),
        Err(e) => e.to_string(),
    }
}
