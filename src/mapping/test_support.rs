//! What the tests of several layers need of mappings: the shipped mappings
//! and values of every shape a Drupal field may hold.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::Mapping;

/// Every mapping in `mappings/`, by file name, in name order.
pub(crate) fn shipped_mappings() -> Vec<(String, Mapping)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings");
    let mut found: Vec<(String, Mapping)> = std::fs::read_dir(dir)
        .expect("mappings/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .map(|path| {
            let mapping = Mapping::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
            (path.display().to_string(), mapping)
        })
        .collect();
    assert!(found.len() >= 8, "the shipped mappings: {}", found.len());
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// A value for any Drupal field: right for some field types, wrong for
/// others (the mapping leaves out what it cannot read), with texts that
/// need escaping, look like other types, or are empty.
pub(crate) fn drupal_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        any::<String>(),
        "[\\x00-\\x7f]{0,12}",
        Just("  Ann \"the\" \\ Ünïcødé 😀\u{2028}\t\n ".to_string()),
        Just("2024-05-06".to_string()),
        Just("2024-05-06T07:08:09+02:00".to_string()),
        Just("42".to_string()),
        Just("2.50".to_string()),
        Just("true".to_string()),
        Just("FALSE".to_string()),
        Just("0".to_string()),
        Just("boss".to_string()),
        Just("b".to_string()),
        Just("a, b,,c".to_string()),
        Just("en-US".to_string()),
        Just(String::new()),
        Just("   ".to_string()),
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        Just(json!(1)),
        (-1e6f64..1e6).prop_map(Value::from),
        text.clone().prop_map(Value::String),
        prop::collection::vec(text.clone().prop_map(Value::String), 0..4).prop_map(Value::Array),
        text.clone()
            .prop_map(|t| json!({"value": t, "format": "basic_html"})),
        prop::collection::vec(any::<bool>().prop_map(Value::Bool), 0..3).prop_map(Value::Array),
        prop::collection::vec(text.clone().prop_map(|t| json!({"value": t})), 0..4)
            .prop_map(Value::Array),
        text.prop_map(|t| json!({"uri": t, "title": ""})),
    ]
}
