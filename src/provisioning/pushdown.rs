//! Translates a SCIM filter into a Drupal JSON:API filter. Every part Drupal
//! can express is sent to Drupal; the rest is left to the bridge, which then
//! evaluates the whole SCIM filter on the candidates Drupal returns.
//!
//! `exact` says whether Drupal's answer IS the SCIM answer. When it is not,
//! Drupal's answer is a superset: a condition is only ever dropped or widened,
//! never narrowed, so no matching account is lost.

use chrono::DateTime;
use serde_json::Value;

use crate::drupal::{Condition, Operator};
use crate::mapping::{FieldBinding, Mapping};
use crate::scim::attributes::{AttrMeta, AttrType, AttributeResolver};
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::path::AttrPath;

/// Drupal's `name` compares case-insensitively with `=` on every database
/// (recorded); other fields do so only on some, so `=` on them is exact only
/// for case-exact SCIM attributes on case-sensitive databases. The bridge
/// cannot know the database, so it treats those as supersets.
const CASE_INSENSITIVE_FIELDS: &[&str] = &["name"];

#[derive(Debug, Clone, PartialEq)]
pub struct Pushdown {
    /// `None`: Drupal can narrow nothing; every account is a candidate.
    pub condition: Option<Condition>,
    pub exact: bool,
}

impl Pushdown {
    fn exact(condition: Condition) -> Pushdown {
        Pushdown {
            condition: Some(condition),
            exact: true,
        }
    }
    fn superset(condition: Condition) -> Pushdown {
        Pushdown {
            condition: Some(condition),
            exact: false,
        }
    }
    fn nothing() -> Pushdown {
        Pushdown {
            condition: None,
            exact: false,
        }
    }
}

/// `filter` must be canonical (see `Filter::canonicalize`).
pub fn translate(
    filter: &Filter,
    mapping: &Mapping,
    schema: &dyn AttributeResolver,
) -> Result<Pushdown, ScimError> {
    match filter {
        Filter::And(a, b) => {
            let (a, b) = (
                translate(a, mapping, schema)?,
                translate(b, mapping, schema)?,
            );
            Ok(match (a.condition, b.condition) {
                (Some(ca), Some(cb)) => Pushdown {
                    condition: Some(Condition::all(vec![ca, cb])),
                    exact: a.exact && b.exact,
                },
                (Some(c), None) | (None, Some(c)) => Pushdown::superset(c),
                (None, None) => Pushdown::nothing(),
            })
        }
        Filter::Or(a, b) => {
            let (a, b) = (
                translate(a, mapping, schema)?,
                translate(b, mapping, schema)?,
            );
            Ok(match (a.condition, b.condition) {
                (Some(ca), Some(cb)) => Pushdown {
                    condition: Some(Condition::any(vec![ca, cb])),
                    exact: a.exact && b.exact,
                },
                _ => Pushdown::nothing(),
            })
        }
        // Drupal's `<>` leaves out accounts without a value, which SCIM's
        // `not` keeps; the bridge evaluates negations itself.
        Filter::Not(inner) => {
            translate(inner, mapping, schema)?;
            Ok(Pushdown::nothing())
        }
        Filter::Present(path) => {
            let target = Target::of(path, None, mapping, schema)?;
            let condition = Condition::null_check(target.field.clone(), Operator::IsNotNull);
            // An empty string is "present" to Drupal but not to SCIM.
            Ok(if target.meta.kind == AttrType::String {
                Pushdown::superset(condition)
            } else {
                Pushdown::exact(condition)
            })
        }
        Filter::Compare { path, op, value } => {
            let target = Target::of(path, None, mapping, schema)?;
            Ok(target.compare(*op, value))
        }
        Filter::ValuePath { path, filter } => value_path(path, filter, mapping, schema),
    }
}

/// `emails[type eq "work" and value eq "x"]`: comparisons on sub-attributes
/// are pushed down where the mapping binds them; a `type eq` selects which
/// binding. Always a superset: the bridge re-checks the element.
fn value_path(
    parent: &AttrPath,
    filter: &Filter,
    mapping: &Mapping,
    schema: &dyn AttributeResolver,
) -> Result<Pushdown, ScimError> {
    let type_selector = type_selector(filter);
    let mut conditions = Vec::new();
    for conjunct in conjuncts(filter) {
        if let Filter::Compare { path, op, value } = conjunct {
            if path.attr.eq_ignore_ascii_case("type") {
                continue;
            }
            let sub = AttrPath {
                schema: parent.schema.clone(),
                attr: parent.attr.clone(),
                sub_attr: Some(path.attr.clone()),
            };
            if let Ok(target) = Target::of(&sub, type_selector.as_deref(), mapping, schema) {
                if let Some(c) = target.compare(*op, value).condition {
                    conditions.push(c);
                }
            }
        }
    }
    Ok(match conditions.len() {
        0 => Pushdown::nothing(),
        1 => Pushdown::superset(conditions.remove(0)),
        _ => Pushdown::superset(Condition::all(conditions)),
    })
}

fn conjuncts(filter: &Filter) -> Vec<&Filter> {
    match filter {
        Filter::And(a, b) => {
            let mut all = conjuncts(a);
            all.extend(conjuncts(b));
            all
        }
        other => vec![other],
    }
}

fn type_selector(filter: &Filter) -> Option<String> {
    conjuncts(filter).into_iter().find_map(|f| match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::String(t),
        } if path.attr.eq_ignore_ascii_case("type") => Some(t.clone()),
        _ => None,
    })
}

/// The Drupal field a SCIM path lands in, and how to compare there.
struct Target {
    field: String,
    meta: AttrMeta,
    convert: Conversion,
}

/// How a SCIM literal becomes the Drupal value to compare with.
enum Conversion {
    Identity,
    UnixSeconds,
    /// Through the mapping rule; `None` when its transforms cannot be
    /// reversed for the literal.
    Mapped(FieldBinding),
}

impl Conversion {
    fn apply(&self, literal: &Value) -> Option<Value> {
        match self {
            Conversion::Identity => Some(literal.clone()),
            Conversion::UnixSeconds => unix_seconds(literal),
            Conversion::Mapped(binding) => binding.drupal_value_for(literal),
        }
    }
}

impl Target {
    fn of(
        path: &AttrPath,
        type_selector: Option<&str>,
        mapping: &Mapping,
        schema: &dyn AttributeResolver,
    ) -> Result<Target, ScimError> {
        let meta = attribute_meta(path, schema)?;
        if path.schema.is_none() && path.sub_attr.is_none() && path.attr == "id" {
            return Ok(Target {
                field: "id".into(),
                meta,
                convert: Conversion::Identity,
            });
        }
        if path.schema.is_none() && path.attr == "meta" {
            let field = match path.sub_attr.as_deref() {
                Some("lastModified") => "changed",
                Some("created") => "created",
                _ => return Err(unfilterable(path)),
            };
            return Ok(Target {
                field: field.into(),
                meta,
                convert: Conversion::UnixSeconds,
            });
        }
        let binding = mapping
            .binding_for(
                path.schema.as_deref(),
                &path.attr,
                path.sub_attr.as_deref(),
                type_selector,
            )
            .ok_or_else(|| unfilterable(path))?;
        Ok(Target {
            field: binding.filter_path(),
            meta,
            convert: Conversion::Mapped(binding),
        })
    }

    fn compare(&self, op: CompareOp, value: &CompValue) -> Pushdown {
        let literal = value.to_json();
        let Some(drupal_value) = self.convert.apply(&literal).and_then(|v| query_value(&v)) else {
            return Pushdown::nothing();
        };
        let field = self.field.clone();
        let cond = |op: Operator| Condition::field(field.clone(), op, drupal_value.clone());
        match self.meta.kind {
            AttrType::Boolean | AttrType::Integer | AttrType::Decimal => match op {
                CompareOp::Eq => Pushdown::exact(cond(Operator::Eq)),
                CompareOp::Ne => Pushdown::exact(Condition::any(vec![
                    cond(Operator::NotEq),
                    Condition::null_check(field.clone(), Operator::IsNull),
                ])),
                CompareOp::Gt => Pushdown::exact(cond(Operator::Gt)),
                CompareOp::Ge => Pushdown::exact(cond(Operator::Ge)),
                CompareOp::Lt => Pushdown::exact(cond(Operator::Lt)),
                CompareOp::Le => Pushdown::exact(cond(Operator::Le)),
                _ => Pushdown::nothing(),
            },
            // Drupal stores seconds; SCIM may compare fractions, so the
            // bridge re-checks.
            AttrType::DateTime => match op {
                CompareOp::Eq => Pushdown::superset(cond(Operator::Eq)),
                CompareOp::Gt | CompareOp::Ge => Pushdown::superset(cond(Operator::Ge)),
                CompareOp::Lt | CompareOp::Le => Pushdown::superset(cond(Operator::Le)),
                _ => Pushdown::nothing(),
            },
            AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
                let like = |op: Operator| {
                    // LIKE-based operators ignore case on every Drupal database.
                    if self.meta.case_exact {
                        Pushdown::superset(cond(op))
                    } else {
                        Pushdown::exact(cond(op))
                    }
                };
                let ci_equality = CASE_INSENSITIVE_FIELDS.contains(&self.field.as_str());
                match op {
                    CompareOp::Eq if ci_equality && !self.meta.case_exact => {
                        Pushdown::exact(cond(Operator::Eq))
                    }
                    CompareOp::Eq if self.meta.case_exact => Pushdown::superset(cond(Operator::Eq)),
                    // Case-insensitive equality where `=` may be
                    // case-sensitive: widen to CONTAINS, re-check here.
                    CompareOp::Eq => Pushdown::superset(cond(Operator::Contains)),
                    CompareOp::Sw => like(Operator::StartsWith),
                    CompareOp::Ew => like(Operator::EndsWith),
                    CompareOp::Co => like(Operator::Contains),
                    _ => Pushdown::nothing(),
                }
            }
        }
    }
}

fn attribute_meta(path: &AttrPath, schema: &dyn AttributeResolver) -> Result<AttrMeta, ScimError> {
    let (urn, meta) = schema
        .resolve(path.schema.as_deref(), &path.attr)
        .ok_or_else(|| unfilterable(path))?;
    match &path.sub_attr {
        Some(sub) => schema
            .resolve_sub(&urn, &path.attr, sub)
            .ok_or_else(|| unfilterable(path)),
        None => Ok(meta),
    }
}

fn unfilterable(path: &AttrPath) -> ScimError {
    ScimError::invalid_filter(format!(
        "the attribute {path} cannot be filtered on: the bridge's mapping does not store it in a Drupal field"
    ))
}

/// Drupal stores `created` / `changed` as Unix seconds and compares an
/// RFC 3339 string as text, silently matching nothing (recorded).
fn unix_seconds(value: &Value) -> Option<Value> {
    let text = value.as_str()?;
    let instant = DateTime::parse_from_rfc3339(text).ok()?;
    Some(Value::from(instant.timestamp()))
}

/// JSON:API filter values are query-string text; booleans are 1 / 0
/// (`true` / `false` words match nothing, recorded).
fn query_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1".into() } else { "0".into() }),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
