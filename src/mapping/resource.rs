//! Assembles the canonical SCIM user from what the rules read back from
//! Drupal: nested objects, extension objects under their URN, and elements
//! of multi-valued attributes merged by identity (`type: work`).

use serde_json::{Map, Value};

use super::path::ScimPath;
use super::rule::Rule;

#[derive(Debug, Default)]
pub(super) struct ScimUser<'r> {
    out: Map<String, Value>,
    /// For each (attribute, element identity): where its elements sit in
    /// the attribute's list, so that two rules (`.value`, `.display`) fill
    /// the same elements.
    placed: Vec<Placed<'r>>,
}

/// The elements of one multi-valued attribute that rules of one identity
/// fill. Compared field by field: formatting it into a string key cost
/// two `format!`s per element on every read.
#[derive(Debug)]
struct Placed<'r> {
    schema: &'r str,
    attr: &'r str,
    identity: Vec<(String, Value)>,
    primary: bool,
    positions: Vec<usize>,
}

impl<'r> ScimUser<'r> {
    /// Adds what `rule` read (never empty values: nothing is written then).
    pub fn put(&mut self, rule: &Rule, path: &'r ScimPath, values: Vec<Value>) {
        if values.is_empty() {
            return;
        }
        let container = if path.core {
            &mut self.out
        } else {
            match self
                .out
                .entry(path.schema.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
            {
                Some(extension) => extension,
                None => return,
            }
        };
        match (&path.sub, path.multi_valued) {
            (None, false) => {
                // The first value moves in: one-valued attributes take it.
                if let Some(first) = values.into_iter().next() {
                    container.insert(path.attr.clone(), first);
                }
            }
            (None, true) => {
                if let Some(list) = list_in(container, &path.attr) {
                    list.extend(values);
                }
            }
            (Some(sub), false) => {
                if let Some(object) = container
                    .entry(path.attr.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                {
                    if let Some(first) = values.into_iter().next() {
                        object.insert(sub.clone(), first);
                    }
                }
            }
            (Some(sub), true) => {
                let identity = rule.element_identity();
                let primary = rule.marks_primary();
                let Some(list) = list_in(container, &path.attr) else {
                    return;
                };
                let slot = match self.placed.iter().position(|p| {
                    p.schema == path.schema
                        && p.attr == path.attr
                        && p.primary == primary
                        && p.identity == identity
                }) {
                    Some(slot) => slot,
                    None => {
                        self.placed.push(Placed {
                            schema: &path.schema,
                            attr: &path.attr,
                            identity,
                            primary,
                            positions: Vec::new(),
                        });
                        self.placed.len() - 1
                    }
                };
                let Some(Placed {
                    positions,
                    identity,
                    ..
                }) = self.placed.get_mut(slot)
                else {
                    return;
                };
                for (i, value) in values.into_iter().enumerate() {
                    match positions
                        .get(i)
                        .and_then(|p| list.get_mut(*p))
                        .and_then(Value::as_object_mut)
                    {
                        Some(element) => {
                            element.insert(sub.clone(), value);
                        }
                        None => {
                            let mut element = Map::new();
                            element.insert(sub.clone(), value);
                            for (attr, marker) in identity.iter() {
                                element.insert(attr.clone(), marker.clone());
                            }
                            // SCIM allows one primary element per attribute.
                            if primary && i == 0 && !list.iter().any(is_primary) {
                                element.insert("primary".into(), Value::Bool(true));
                            }
                            positions.push(list.len());
                            list.push(Value::Object(element));
                        }
                    }
                }
            }
        }
    }

    pub fn finish(self) -> Map<String, Value> {
        self.out
    }
}

fn list_in<'m>(container: &'m mut Map<String, Value>, attr: &str) -> Option<&'m mut Vec<Value>> {
    container
        .entry(attr.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
}

fn is_primary(element: &Value) -> bool {
    element.get("primary") == Some(&Value::Bool(true))
}
