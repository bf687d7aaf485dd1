//! Bulk messages (RFC 7644 §3.7): the BulkRequest body read into typed
//! operations, `bulkId` references, and the BulkResponse rendered back.
//! What the operations do is the provisioning layer's business.

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::path::get_ci;

pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// How a value names the resource another operation of the request creates.
const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkMethod {
    Post,
    Put,
    Patch,
    Delete,
}

impl BulkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

/// One operation of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    pub method: BulkMethod,
    /// Required for POST: later operations refer to what it creates.
    pub bulk_id: Option<String>,
    /// `If-Match` for this operation.
    pub version: Option<String>,
    /// `/Users`, `/Groups`, or either with `/{id}`, relative to the SCIM
    /// base URL.
    pub path: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Errors tolerated before the remaining operations are skipped;
    /// `None`: every operation runs.
    pub fail_on_errors: Option<usize>,
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Reads a BulkRequest body. More than `max_operations` operations is
    /// 413, as §3.7.4 requires, naming the limit.
    pub fn from_json(body: &Value, max_operations: usize) -> Result<BulkRequest, ScimError> {
        let body = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
        if let Some(schemas) = get_ci(body, "schemas") {
            let named = schemas
                .as_array()
                .is_some_and(|s| s.iter().any(|u| u.as_str() == Some(BULK_REQUEST_URN)));
            if !named {
                return Err(ScimError::invalid_syntax(format!(
                    "a BulkRequest's schemas must include {BULK_REQUEST_URN}"
                )));
            }
        }
        let fail_on_errors = match get_ci(body, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|n| *n > 0)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        ScimError::invalid_value("failOnErrors must be a positive integer")
                    })?,
            ),
        };
        let operations = match get_ci(body, "Operations") {
            Some(Value::Array(operations)) => operations,
            Some(_) => return Err(ScimError::invalid_syntax("\"Operations\" must be a list")),
            None => {
                return Err(ScimError::invalid_syntax(
                    "the BulkRequest has no \"Operations\"",
                ))
            }
        };
        if operations.len() > max_operations {
            return Err(ScimError::payload_too_large(format!(
                "the request holds {} operations; maxOperations is {max_operations}",
                operations.len()
            )));
        }
        let operations = operations
            .iter()
            .enumerate()
            .map(|(index, operation)| {
                BulkOperation::from_json(operation).map_err(|e| ScimError {
                    detail: format!("Operations[{index}]: {}", e.detail),
                    ..e
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen: Vec<&str> = Vec::new();
        for id in operations.iter().filter_map(|o| o.bulk_id.as_deref()) {
            if seen.contains(&id) {
                return Err(ScimError::invalid_value(format!(
                    "the bulkId {} names more than one operation",
                    crate::untrusted::quote(id)
                )));
            }
            seen.push(id);
        }
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }
}

impl BulkOperation {
    fn from_json(operation: &Value) -> Result<BulkOperation, ScimError> {
        let fields = operation
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("an operation must be a JSON object"))?;
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get_ci(fields, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_syntax(format!(
                    "\"{name}\" must be a non-empty string"
                ))),
            }
        };
        let method = match text("method")?.map(|m| m.to_ascii_uppercase()).as_deref() {
            Some("POST") => BulkMethod::Post,
            Some("PUT") => BulkMethod::Put,
            Some("PATCH") => BulkMethod::Patch,
            Some("DELETE") => BulkMethod::Delete,
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                "the method {} cannot be used in a bulk request; use POST, PUT, PATCH or DELETE",
                crate::untrusted::quote(other)
            )))
            }
            None => return Err(ScimError::invalid_syntax("the operation has no \"method\"")),
        };
        let path = text("path")?
            .ok_or_else(|| ScimError::invalid_syntax("the operation has no \"path\""))?;
        let bulk_id = text("bulkId")?;
        if method == BulkMethod::Post && bulk_id.is_none() {
            return Err(ScimError::invalid_syntax(
                "a POST operation needs a \"bulkId\"",
            ));
        }
        let data = get_ci(fields, "data").filter(|d| !d.is_null()).cloned();
        if method != BulkMethod::Delete && data.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "a {} operation needs \"data\"",
                method.as_str()
            )));
        }
        Ok(BulkOperation {
            method,
            bulk_id,
            version: text("version")?,
            path,
            data,
        })
    }

    /// The bulkIds this operation refers to, in its path and its data.
    pub fn references(&self) -> Vec<String> {
        let mut found = Vec::new();
        collect_references(&Value::String(self.path.clone()), &mut found);
        if let Some(data) = &self.data {
            collect_references(data, &mut found);
        }
        found
    }

    /// The operation with every `bulkId:<id>` replaced by the id `resolve`
    /// gives; `Err` names a reference it cannot resolve.
    pub fn resolved(
        &self,
        resolve: impl Fn(&str) -> Option<String>,
    ) -> Result<BulkOperation, String> {
        let path = resolve_text(&self.path, &resolve)?;
        let data = self
            .data
            .as_ref()
            .map(|d| resolve_value(d, &resolve))
            .transpose()?;
        Ok(BulkOperation {
            path,
            data,
            ..self.clone()
        })
    }
}

fn collect_references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            let id = s
                .rsplit('/')
                .next()
                .and_then(|last| last.strip_prefix(BULK_ID_PREFIX));
            for id in id.into_iter().chain(quoted_references(s)) {
                if !found.iter().any(|f| f == id) {
                    found.push(id.to_string());
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, found)),
        Value::Object(members) => members.values().for_each(|v| collect_references(v, found)),
        _ => {}
    }
}

/// The ids of the `"bulkId:x"` string literals in `text`: a PATCH path's
/// value filter names a member made in the same request so
/// (`members[value eq "bulkId:x"]`).
fn quoted_references(text: &str) -> impl Iterator<Item = &str> {
    const QUOTED: &str = "\"bulkId:";
    text.match_indices(QUOTED).filter_map(move |(at, _)| {
        let rest = &text[at + QUOTED.len()..];
        rest.find('"')
            .map(|end| &rest[..end])
            .filter(|id| !id.is_empty())
    })
}

/// `bulkId:x` as a whole value, as the last segment of a path
/// (`/Users/bulkId:x`), or as a string literal in a path's value filter
/// (`members[value eq "bulkId:x"]`).
fn resolve_text(text: &str, resolve: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut text = text.to_string();
    let references: Vec<String> = quoted_references(&text).map(str::to_string).collect();
    for id in references {
        let resolved = resolve(&id).ok_or_else(|| id.clone())?;
        text = text.replace(
            &["\"", BULK_ID_PREFIX, &id, "\""].concat(),
            &["\"", &resolved, "\""].concat(),
        );
    }
    let (head, last) = match text.rsplit_once('/') {
        Some((head, last)) => (Some(head), last),
        None => (None, text.as_str()),
    };
    let Some(id) = last.strip_prefix(BULK_ID_PREFIX) else {
        return Ok(text);
    };
    let resolved = resolve(id).ok_or_else(|| id.to_string())?;
    Ok(match head {
        Some(head) => format!("{head}/{resolved}"),
        None => resolved,
    })
}

fn resolve_value(
    value: &Value,
    resolve: &impl Fn(&str) -> Option<String>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(resolve_text(s, resolve)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_value(v, resolve))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value(v, resolve)?)))
                .collect::<Result<Map<_, _>, String>>()?,
        ),
        other => other.clone(),
    })
}

/// What one operation did, as the BulkResponse shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkResult {
    pub method: BulkMethod,
    pub bulk_id: Option<String>,
    /// The resource's URL, when the operation reached one.
    pub location: Option<String>,
    pub version: Option<String>,
    pub status: u16,
    /// The error, for a failed operation.
    pub error: Option<ScimError>,
}

impl BulkResult {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("method".into(), json!(self.method.as_str()));
        if let Some(id) = &self.bulk_id {
            out.insert("bulkId".into(), json!(id));
        }
        if let Some(location) = &self.location {
            out.insert("location".into(), json!(location));
        }
        if let Some(version) = &self.version {
            out.insert("version".into(), json!(version));
        }
        out.insert("status".into(), json!(self.status.to_string()));
        if let Some(error) = &self.error {
            out.insert("response".into(), error.to_json());
        }
        Value::Object(out)
    }
}

/// The BulkResponse document.
pub fn bulk_response(results: &[BulkResult]) -> Value {
    json!({
        "schemas": [BULK_RESPONSE_URN],
        "Operations": results.iter().map(BulkResult::to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(operations: Value) -> Result<BulkRequest, ScimError> {
        BulkRequest::from_json(
            &json!({"schemas": [BULK_REQUEST_URN], "Operations": operations}),
            10,
        )
    }

    #[test]
    fn operations_are_read_with_their_method_path_bulk_id_version_and_data() {
        let parsed = BulkRequest::from_json(
            &json!({
                "schemas": [BULK_REQUEST_URN],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "q1", "data": {"userName": "a"}},
                    {"method": "delete", "path": "/Users/b7c1", "version": "W/\"1-2\""}
                ]
            }),
            10,
        )
        .unwrap();
        assert_eq!(parsed.fail_on_errors, Some(1));
        assert_eq!(parsed.operations[0].method, BulkMethod::Post);
        assert_eq!(parsed.operations[0].bulk_id.as_deref(), Some("q1"));
        assert_eq!(parsed.operations[1].method, BulkMethod::Delete);
        assert_eq!(parsed.operations[1].version.as_deref(), Some("W/\"1-2\""));
        assert_eq!(parsed.operations[1].data, None);
    }

    #[test]
    fn more_operations_than_allowed_is_413_naming_the_limit() {
        let operations: Vec<Value> = (0..11)
            .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
            .collect();
        let e = request(Value::Array(operations)).unwrap_err();
        assert_eq!(e.status, 413);
        assert!(e.detail.contains("maxOperations is 10"), "{}", e.detail);
    }

    #[test]
    fn a_long_method_or_bulk_id_is_quoted_cut_not_echoed_whole() {
        let long = "X".repeat(10_000);
        let e = request(json!([{"method": long, "path": "/Users"}])).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.len() < 300, "{}", e.detail);
        assert!(e.detail.contains("10000 characters"), "{}", e.detail);
        let e = request(json!([
            {"method": "POST", "path": "/Users", "bulkId": long, "data": {}},
            {"method": "POST", "path": "/Users", "bulkId": long, "data": {}}
        ]))
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.len() < 300, "{}", e.detail);
        assert!(e.detail.contains("more than one"), "{}", e.detail);
    }

    #[test]
    fn malformed_operations_say_which_and_why() {
        for (operations, expected) in [
            (
                json!([{"method": "POST", "path": "/Users", "data": {}}]),
                "bulkId",
            ),
            (json!([{"method": "GET", "path": "/Users"}]), "GET"),
            (json!([{"method": "PUT", "path": "/Users/1"}]), "data"),
            (json!([{"method": "DELETE"}]), "path"),
        ] {
            let e = request(operations).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.detail.starts_with("Operations[0]"), "{}", e.detail);
            assert!(e.detail.contains(expected), "{}", e.detail);
        }
        let e = request(json!([
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": {}},
            {"method": "POST", "path": "/Users", "bulkId": "x", "data": {}}
        ]))
        .unwrap_err();
        assert!(e.detail.contains("more than one"), "{}", e.detail);
        let e = BulkRequest::from_json(&json!({"schemas": ["urn:x"], "Operations": []}), 10)
            .unwrap_err();
        assert!(e.detail.contains(BULK_REQUEST_URN), "{}", e.detail);
    }

    #[test]
    fn bulk_id_references_in_a_patch_paths_value_filter_are_resolved() {
        let operation = request(json!([{
            "method": "PATCH",
            "path": "/Groups/bulkId:g1",
            "data": {"Operations": [{"op": "remove", "path": "members[value eq \"bulkId:u2\"]"}]}
        }]))
        .unwrap()
        .operations
        .remove(0);
        assert_eq!(operation.references(), vec!["g1", "u2"]);
        let resolved = operation
            .resolved(|id| Some(format!("uuid-of-{id}")))
            .unwrap();
        assert_eq!(resolved.path, "/Groups/uuid-of-g1");
        assert_eq!(
            resolved.data.unwrap()["Operations"][0]["path"],
            "members[value eq \"uuid-of-u2\"]"
        );
        let unknown = operation.resolved(|id| (id == "g1").then(|| "g".to_string()));
        assert_eq!(unknown.unwrap_err(), "u2");
    }

    #[test]
    fn bulk_id_references_in_path_and_data_are_found_and_resolved() {
        let operation = request(json!([{
            "method": "PATCH",
            "path": "/Users/bulkId:alice",
            "data": {"Operations": [{"op": "add", "path": "members",
                                      "value": [{"value": "bulkId:bob"}, {"value": "plain"}]}]}
        }]))
        .unwrap()
        .operations
        .remove(0);
        assert_eq!(operation.references(), vec!["alice", "bob"]);
        let resolved = operation
            .resolved(|id| Some(format!("uuid-of-{id}")))
            .unwrap();
        assert_eq!(resolved.path, "/Users/uuid-of-alice");
        assert_eq!(
            resolved.data.unwrap()["Operations"][0]["value"],
            json!([{"value": "uuid-of-bob"}, {"value": "plain"}])
        );
        let unresolved = operation.resolved(|id| (id == "alice").then(|| "a".to_string()));
        assert_eq!(unresolved.unwrap_err(), "bob");
    }

    #[test]
    fn the_response_shows_status_as_text_and_errors_as_scim_errors() {
        let body = bulk_response(&[
            BulkResult {
                method: BulkMethod::Post,
                bulk_id: Some("q1".into()),
                location: Some("https://b.example/scim/v2/Users/1".into()),
                version: Some("W/\"1-2\"".into()),
                status: 201,
                error: None,
            },
            BulkResult {
                method: BulkMethod::Delete,
                bulk_id: None,
                location: None,
                version: None,
                status: 404,
                error: Some(ScimError::not_found("gone")),
            },
        ]);
        assert_eq!(body["schemas"], json!([BULK_RESPONSE_URN]));
        assert_eq!(body["Operations"][0]["status"], "201");
        assert_eq!(body["Operations"][0]["bulkId"], "q1");
        assert_eq!(body["Operations"][1]["response"]["status"], "404");
        assert!(body["Operations"][1].get("location").is_none());
    }
}
