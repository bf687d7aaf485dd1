//! Dry run: every write the bridge would send to Drupal is logged in full
//! (passwords redacted) and answered here instead, as Drupal would answer
//! it; reads still go to Drupal. For trying a new mapping on a live site.

use reqwest::Method;
use serde_json::{Map, Value};

use super::{DrupalClient, DrupalError};

/// What a redacted secret reads as in the log.
const REDACTED: &str = "[redacted]";

/// Logs the write and makes up Drupal's answer: a created user echoes the
/// document (with the UUID the bridge chose), an updated user is the
/// current one with the change applied, everything else is `204 No
/// Content`.
pub(super) async fn pretend_write(
    client: &DrupalClient,
    op: &'static str,
    method: &Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, DrupalError> {
    let logged = body.map(redacted).unwrap_or(Value::Null);
    tracing::info!(
        target: "drupal",
        op, method = %method, path, dry_run = true, document = %logged,
        "drupal write not sent (dry run)"
    );
    let Some(body) = body.filter(|_| !path.contains("/relationships/")) else {
        return Ok(Value::Null);
    };
    let sent = body.get("data").cloned().unwrap_or(Value::Null);
    if *method == Method::POST {
        return Ok(document(created(sent)));
    }
    if *method == Method::PATCH {
        // Reads go through: the answer is the real account plus the change.
        let current = Box::pin(client.call("get_user", Method::GET, path, None)).await?;
        let current = current.get("data").cloned().unwrap_or(Value::Null);
        return Ok(document(merged(current, &sent)));
    }
    Ok(Value::Null)
}

fn document(data: Value) -> Value {
    let mut doc = Map::new();
    doc.insert("data".into(), data);
    Value::Object(doc)
}

/// The resource Drupal would create: the one sent, with an id, and without
/// the password Drupal never returns.
fn created(mut sent: Value) -> Value {
    if let Some(resource) = sent.as_object_mut() {
        if !resource.contains_key("id") {
            let id = uuid::Uuid::new_v4().to_string();
            resource.insert("id".into(), Value::String(id));
        }
        // Drupal shows a new account's roles, none when none were sent.
        if resource.get("type").and_then(Value::as_str) == Some(super::document::USER_TYPE) {
            let relationships = resource
                .entry("relationships")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(relationships) = relationships.as_object_mut() {
                relationships
                    .entry("roles")
                    .or_insert_with(|| serde_json::json!({"data": []}));
            }
        }
    }
    without_password(sent)
}

/// `current` with the attributes and relationships of `change` put over it.
fn merged(mut current: Value, change: &Value) -> Value {
    for member in ["attributes", "relationships"] {
        let Some(changed) = change.get(member).and_then(Value::as_object) else {
            continue;
        };
        if let Some(target) = current.get_mut(member).and_then(Value::as_object_mut) {
            target.extend(changed.clone());
        }
    }
    without_password(current)
}

fn without_password(mut resource: Value) -> Value {
    if let Some(attributes) = resource
        .get_mut("attributes")
        .and_then(Value::as_object_mut)
    {
        attributes.remove("pass");
    }
    resource
}

/// The document as it may be logged: every `pass` value replaced.
fn redacted(document: &Value) -> Value {
    match document {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, value)| {
                    let value = if key == "pass" {
                        Value::String(REDACTED.into())
                    } else {
                        redacted(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn passwords_are_redacted_in_any_form_and_nothing_else_is() {
        let sent = json!({"data": {"type": "user--user", "attributes": {
            "name": "ada", "pass": {"value": "s3cret", "existing": "old"}, "mail": "a@example.org"
        }}});
        let logged = redacted(&sent).to_string();
        assert!(
            !logged.contains("s3cret") && !logged.contains("old"),
            "{logged}"
        );
        assert_eq!(
            redacted(&sent)["data"]["attributes"],
            json!({"name": "ada", "pass": REDACTED, "mail": "a@example.org"})
        );
        let plain = json!({"data": {"attributes": {"pass": "s3cret"}}});
        assert_eq!(redacted(&plain)["data"]["attributes"]["pass"], REDACTED);
    }

    #[test]
    fn a_created_user_keeps_the_chosen_uuid_and_loses_the_password() {
        let sent = json!({"type": "user--user", "id": "0d6c4c8e-8d53-4c5e-9b0e-3f0c1f9f6a11",
            "attributes": {"name": "ada", "pass": {"value": "s3cret"}}});
        assert_eq!(
            created(sent),
            json!({"type": "user--user", "id": "0d6c4c8e-8d53-4c5e-9b0e-3f0c1f9f6a11",
                "attributes": {"name": "ada"}, "relationships": {"roles": {"data": []}}})
        );
        let without_id = created(json!({"type": "user--user", "attributes": {"name": "bob"}}));
        assert!(without_id["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
    }

    #[test]
    fn an_updated_user_is_the_current_one_with_the_change_on_top() {
        let current = json!({"type": "user--user", "id": "u1",
            "attributes": {"name": "ada", "mail": "old@example.org", "status": true},
            "relationships": {"roles": {"data": []}}});
        let change = json!({"type": "user--user", "id": "u1",
            "attributes": {"mail": "new@example.org", "pass": {"value": "x"}}});
        assert_eq!(
            merged(current, &change),
            json!({"type": "user--user", "id": "u1",
                "attributes": {"name": "ada", "mail": "new@example.org", "status": true},
                "relationships": {"roles": {"data": []}}})
        );
    }
}
