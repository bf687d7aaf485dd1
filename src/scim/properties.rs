//! Property tests (proptest) of the SCIM input parsers: whatever a client
//! sends, parsing never panics and a refusal is a SCIM 400; what parses
//! prints back to text that parses to the same value; a PATCH applied
//! reads back as it says.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::filter::Filter;
use super::patch::{apply_patch, PatchRequest};
use super::path::PatchPath;
use super::resource::parse_resource;
use super::schema::ResourceSchema;

fn config() -> ProptestConfig {
    // Bounded so that every property test together stays within seconds
    // in CI; PROPTEST_CASES raises it for a longer hunt.
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

fn attribute() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "userName",
        "displayName",
        "name.givenName",
        "emails.value",
        "emails.type",
        "active",
        "externalId",
        "meta.lastModified",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    ])
}

/// Filter literals: any text (JSON-quoted), numbers, booleans, null.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| Value::String(s).to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        Just("null".to_string()),
    ]
}

fn comparison() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
    prop_oneof![
        (attribute(), op, literal()).prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        attribute().prop_map(|a| format!("{a} pr")),
    ]
}

/// Valid filters, nested with and, or, not, parentheses and value paths.
fn filter_text() -> impl Strategy<Value = String> {
    comparison().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
            (comparison()).prop_map(|c| format!("emails[{}]", c.replace("emails.", ""))),
        ]
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        attribute().prop_map(|a| Value::String(a.to_string())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        attribute().prop_map(str::to_string),
                        Just("name".to_string()),
                        Just("emails".to_string()),
                        Just("schemas".to_string()),
                        any::<String>()
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn is_client_error(e: &super::error::ScimError) -> bool {
    e.status == 400 && !e.detail.is_empty()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_parses_as_a_filter_or_is_refused_as_a_client_error(text in any::<String>()) {
        if let Err(e) = Filter::parse(&text) {
            prop_assert!(is_client_error(&e), "{e:?}");
        }
    }

    #[test]
    fn filters_print_back_to_text_that_parses_to_the_same_filter(text in filter_text()) {
        let parsed = Filter::parse(&text);
        prop_assume!(parsed.is_ok());
        let parsed = parsed.unwrap();
        let printed = parsed.to_string();
        prop_assert_eq!(Filter::parse(&printed), Ok(parsed), "{} printed as {}", text, printed);
    }

    #[test]
    fn any_text_parses_as_a_patch_path_or_is_refused_as_a_client_error(text in any::<String>()) {
        match PatchPath::parse(&text) {
            Ok(path) => prop_assert_eq!(PatchPath::parse(&path.to_string()), Ok(path)),
            Err(e) => prop_assert!(is_client_error(&e), "{e:?}"),
        }
    }

    #[test]
    fn patch_paths_print_back_to_the_same_path(
        attr in attribute(),
        filter in prop::option::of(comparison()),
        sub in prop::option::of(prop::sample::select(vec!["value", "type", "primary"])),
    ) {
        let text = match (&filter, sub) {
            (Some(f), Some(s)) => format!("emails[{}].{s}", f.replace("emails.", "")),
            (Some(f), None) => format!("emails[{}]", f.replace("emails.", "")),
            (None, _) => attr.to_string(),
        };
        if let Ok(path) = PatchPath::parse(&text) {
            prop_assert_eq!(PatchPath::parse(&path.to_string()), Ok(path));
        }
    }

    #[test]
    fn any_json_is_a_user_or_a_client_error(body in json_value()) {
        if let Err(e) = parse_resource(&body, &ResourceSchema::user()) {
            prop_assert!(is_client_error(&e), "{e:?}");
        }
    }

    #[test]
    fn any_json_is_a_patch_request_or_a_client_error_and_applies_or_is_refused(body in json_value()) {
        match PatchRequest::from_json(&body) {
            Ok(request) => {
                let mut user = Map::new();
                user.insert("userName".into(), json!("bob"));
                if let Err(e) = apply_patch(&mut user, &request, &ResourceSchema::user()) {
                    prop_assert!(e.status == 400 && !e.detail.is_empty(), "{e:?}");
                }
            }
            Err(e) => prop_assert!(is_client_error(&e), "{e:?}"),
        }
    }

    #[test]
    fn a_patch_applied_reads_back_as_it_says(given in any::<String>(), mail in any::<String>(), title in any::<String>()) {
        let mut user = Map::new();
        user.insert("userName".into(), json!("bob"));
        user.insert("title".into(), json!("old"));
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "replace", "path": "name.givenName", "value": given},
                {"op": "add", "path": "emails", "value": [{"value": mail, "type": "work"}]},
                {"op": "replace", "path": "title", "value": title},
                {"op": "remove", "path": "title"},
            ]
        });
        let request = PatchRequest::from_json(&body).unwrap();
        apply_patch(&mut user, &request, &ResourceSchema::user()).unwrap();
        // An empty string is unassigned, as in a POST or PUT body.
        if given.is_empty() {
            prop_assert!(!user.contains_key("name"));
        } else {
            prop_assert_eq!(&user["name"]["givenName"], &json!(given));
        }
        let emails = user["emails"].as_array().unwrap();
        prop_assert!(mail.is_empty() || emails.iter().any(|e| e["value"] == json!(mail)));
        prop_assert!(!user.contains_key("title"));
        prop_assert_eq!(&user["userName"], &json!("bob"));
    }
}
