//! Property tests (proptest) of the mapping's value transforms: any value
//! goes through without a panic, and each transform keeps its promise.

use proptest::prelude::*;
use serde_json::Value;

use super::transform::Transform;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn texts(values: &[Value]) -> Vec<&str> {
    values.iter().filter_map(Value::as_str).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_transform_takes_any_value_both_ways(
        values in prop::collection::vec(value(), 0..4),
        max in 0usize..80,
        separator in "[,; |]{1,2}",
    ) {
        for t in [
            Transform::Lowercase,
            Transform::Trim,
            Transform::Langcode,
            Transform::Truncate(max),
            Transform::Default(Value::String("x".into())),
            Transform::Split(separator.clone()),
            Transform::Join(separator.clone()),
        ] {
            let forward = t.forward(values.clone());
            let _ = t.backward(forward);
            for v in &values {
                let _ = t.literal(v.clone());
            }
        }
    }

    #[test]
    fn truncate_keeps_at_most_its_characters(text in any::<String>(), max in 0usize..80) {
        let out = Transform::Truncate(max).forward(vec![Value::String(text.clone())]);
        for t in texts(&out) {
            prop_assert!(t.chars().count() <= max);
            prop_assert!(text.starts_with(t));
        }
    }

    #[test]
    fn lowercase_and_trim_are_idempotent(text in any::<String>()) {
        for t in [Transform::Lowercase, Transform::Trim] {
            let once = t.forward(vec![Value::String(text.clone())]);
            let twice = t.forward(once.clone());
            prop_assert_eq!(once, twice);
        }
    }

    #[test]
    fn trim_leaves_no_surrounding_white_space(text in any::<String>()) {
        for t in texts(&Transform::Trim.forward(vec![Value::String(text)])) {
            prop_assert_eq!(t, t.trim());
            prop_assert!(!t.is_empty());
        }
    }
}
