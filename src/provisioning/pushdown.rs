//! Translates a SCIM filter into a Drupal JSON:API filter. Every part Drupal
//! can express is sent to Drupal; the rest is left to the bridge, which then
//! evaluates the whole SCIM filter on the candidates Drupal returns.
//!
//! `exact` says whether Drupal's answer IS the SCIM answer. When it is not,
//! Drupal's answer is a superset: a condition is only ever dropped or widened,
//! never narrowed, so no matching account is lost.

use chrono::DateTime;
use serde_json::Value;

use crate::drupal::{Caseless, Condition, Conjunction, Operator};
use crate::mapping::{FieldBinding, Mapping};
use crate::scim::attributes::{AttrMeta, AttrType, AttributeResolver};
use crate::scim::error::ScimError;
use crate::scim::filter::{CompValue, CompareOp, Filter};
use crate::scim::path::AttrPath;

// No text comparison Drupal makes is taken as SCIM's answer: its
// collation may be looser than SCIM's rule. MySQL and MariaDB's default
// (`utf8mb4_general_ci`) ignores accents as well as case, in `=`, `IN` and
// the LIKE operators alike: `name = 'jose'` finds "josé" (seen on a real
// Drupal 10.2 on MariaDB). The bridge cannot know the database, so every
// string comparison is a superset it re-checks with SCIM's rule (case
// ignored in every script unless `caseExact`, accents always significant).

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

/// `filter` (canonical) with each text it compares as the mapping stores
/// it: a rule that trims `userName` writes `"  ada "` as `ada`, and the
/// identity provider's lookup of `userName eq "  ada "` must find that
/// account, as Drupal's query (which goes through the same rule) does.
/// Texts of rules that do more than normalise stay as they are.
pub fn as_stored(filter: Filter, mapping: &Mapping) -> Filter {
    stored_under(filter, None, mapping)
}

fn stored_under(filter: Filter, parent: Option<&AttrPath>, mapping: &Mapping) -> Filter {
    let boxed = |f: Box<Filter>| Box::new(stored_under(*f, parent, mapping));
    match filter {
        Filter::Compare {
            path,
            op,
            value: CompValue::String(text),
        } => {
            // In a value filter (`emails[value eq …]`) the path names a
            // sub-attribute of the filtered one.
            let (schema, attr, sub) = match parent {
                Some(parent) => (parent.schema.as_deref(), &parent.attr, Some(&*path.attr)),
                None => (path.schema.as_deref(), &path.attr, path.sub_attr.as_deref()),
            };
            let text = mapping
                .binding_for(schema, attr, sub, None)
                .and_then(|b| b.stored_text(&text))
                .unwrap_or(text);
            Filter::Compare {
                path,
                op,
                value: CompValue::String(text),
            }
        }
        Filter::And(a, b) => Filter::And(boxed(a), boxed(b)),
        Filter::Or(a, b) => Filter::Or(boxed(a), boxed(b)),
        Filter::Not(f) => Filter::Not(boxed(f)),
        Filter::ValuePath { path, filter } => {
            let inner = Box::new(stored_under(*filter, Some(&path), mapping));
            Filter::ValuePath {
                path,
                filter: inner,
            }
        }
        other => other,
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
                    condition: Some(both(ca, cb)),
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
                    condition: Some(either(ca, cb)),
                    exact: a.exact && b.exact,
                },
                _ => Pushdown::nothing(),
            })
        }
        // `not (x pr)`: no value. Exact as IS NULL where Drupal cannot
        // hold an empty value that SCIM counts as absent (strings can).
        Filter::Not(inner) => match inner.as_ref() {
            // `not (name pr)`: no stored sub-attribute with a value; the
            // bridge evaluates it (the rendered `name` is what counts).
            Filter::Present(path) if stored_parts(path, mapping, schema)?.is_some() => {
                Ok(Pushdown::nothing())
            }
            Filter::Present(path) => {
                let target = Target::of(path, None, mapping, schema)?;
                Ok(if target.meta.kind == AttrType::String {
                    Pushdown::nothing()
                } else {
                    Pushdown::exact(Condition::null_check(target.field, Operator::IsNull))
                })
            }
            // Drupal's `<>` leaves out accounts without a value, which
            // SCIM's `not` keeps; the bridge evaluates other negations.
            _ => {
                translate(inner, mapping, schema)?;
                Ok(Pushdown::nothing())
            }
        },
        // RFC 7644 §3.4.2.2: a complex attribute is present when one of
        // its sub-attributes is: the OR of those the mapping stores, re-
        // checked by the bridge.
        Filter::Present(path) if stored_parts(path, mapping, schema)?.is_some() => {
            let parts = stored_parts(path, mapping, schema)?.unwrap_or_default();
            let mut any = None;
            for part in parts {
                any = match (
                    any,
                    translate(&Filter::Present(part), mapping, schema)?.condition,
                ) {
                    (None, c) => Some(c),
                    (Some(Some(a)), Some(b)) => Some(Some(either(a, b))),
                    (Some(_), _) => Some(None),
                };
            }
            Ok(match any.flatten() {
                Some(condition) => Pushdown::superset(condition),
                None => Pushdown::nothing(),
            })
        }
        Filter::Present(path) => {
            let Some(target) = Target::of_or_rendered(path, mapping, schema)? else {
                return Ok(Pushdown::nothing());
            };
            let condition = Condition::null_check(target.field.clone(), Operator::IsNotNull);
            // An empty string is "present" to Drupal but not to SCIM.
            Ok(if target.meta.kind == AttrType::String {
                Pushdown::superset(condition)
            } else {
                Pushdown::exact(condition)
            })
        }
        // `ne` on a multi-valued attribute is "any value differs", which a
        // Drupal `<>` (with or without IS NULL) states only for some
        // storage; the bridge evaluates it.
        Filter::Compare {
            path,
            op: CompareOp::Ne,
            ..
        } if multi_valued(path, schema) => {
            Target::of_or_rendered(path, mapping, schema)?;
            Ok(Pushdown::nothing())
        }
        Filter::Compare { path, op, value } => {
            Ok(match Target::of_or_rendered(path, mapping, schema)? {
                Some(target) => target.compare(*op, value),
                None => Pushdown::nothing(),
            })
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

/// `a OR b` as one flat OR group, where equalities on the same field
/// become one `IN`: `userName eq "a" or userName eq "b"` is `name IN (a, b)`.
/// `IN` compares exactly as `=` does in Drupal, so exactness is unchanged.
fn either(a: Condition, b: Condition) -> Condition {
    let mut members: Vec<Condition> = Vec::new();
    for condition in disjuncts(a).into_iter().chain(disjuncts(b)) {
        let Some((path, values)) = equality(&condition) else {
            members.push(condition);
            continue;
        };
        let same_field = members
            .iter_mut()
            .find(|m| equality(m).is_some_and(|(p, _)| p == path));
        match same_field {
            Some(Condition::Field {
                op,
                values: existing,
                ..
            }) => {
                *op = Operator::In;
                for v in values {
                    if !existing.contains(v) {
                        existing.push(v.clone());
                    }
                }
            }
            _ => members.push(condition),
        }
    }
    if members.len() == 1 {
        members.remove(0)
    } else {
        Condition::any(members)
    }
}

/// `a AND b` as one flat group: nested groups of the same conjunction
/// would grow one level per term, and Drupal limits how deep groups nest.
fn both(a: Condition, b: Condition) -> Condition {
    let conjuncts = |c: Condition| match c {
        Condition::Group {
            conjunction: Conjunction::And,
            members,
        } => members,
        other => vec![other],
    };
    let mut members = conjuncts(a);
    members.extend(conjuncts(b));
    Condition::all(members)
}

fn disjuncts(condition: Condition) -> Vec<Condition> {
    match condition {
        Condition::Group {
            conjunction: Conjunction::Or,
            members,
        } => members,
        other => vec![other],
    }
}

/// The field and values of an `=` or `IN` condition.
fn equality(condition: &Condition) -> Option<(&str, &[String])> {
    match condition {
        Condition::Field {
            path,
            op: Operator::Eq | Operator::In,
            values,
        } => Some((path, values)),
        _ => None,
    }
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
    /// A term group's id (a UUID), in lower case: see [`Target::compare`].
    GroupId,
    UnixSeconds,
    /// Through the mapping rule; `None` when its transforms cannot be
    /// reversed for the literal.
    Mapped(FieldBinding),
}

impl Conversion {
    fn apply(&self, literal: &Value) -> Option<Value> {
        match self {
            Conversion::Identity => Some(literal.clone()),
            Conversion::GroupId => literal
                .as_str()
                .map(|id| Value::String(id.to_ascii_lowercase())),
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
        // A user's term-backed groups are its reference field to their
        // terms, which Drupal filters by the term's UUID (recorded 370).
        if path.schema.is_none()
            && path.attr.eq_ignore_ascii_case("groups")
            && path
                .sub_attr
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("value"))
        {
            if let Some(terms) = mapping.group_terms() {
                return Ok(Target {
                    field: format!("{}.id", terms.user_field),
                    meta,
                    convert: Conversion::GroupId,
                });
            }
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

    /// The target, or `None` for a sub-attribute that no rule stores but the
    /// mapping renders with its parent (`emails.type` of the mapped
    /// `emails.value`): the bridge evaluates those itself, as it does
    /// `emails[type eq "work"]`.
    fn of_or_rendered(
        path: &AttrPath,
        mapping: &Mapping,
        schema: &dyn AttributeResolver,
    ) -> Result<Option<Target>, ScimError> {
        match Target::of(path, None, mapping, schema) {
            Ok(target) => Ok(Some(target)),
            Err(_) if path.sub_attr.is_some() && parent_is_mapped(path, mapping) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn compare(&self, op: CompareOp, value: &CompValue) -> Pushdown {
        let literal = value.to_json();
        let Some(drupal_value) = self.convert.apply(&literal).and_then(|v| query_value(&v)) else {
            return Pushdown::nothing();
        };
        let field = self.field.clone();
        let cond = |op: Operator| Condition::field(field.clone(), op, drupal_value.clone());
        // Group ids are UUIDs in lower case (Drupal's and the bridge's
        // alike), and the value is lower-cased too: `=` finds exactly the
        // members on every database, with one filter however many they
        // are, ignoring case as `groups.value` does.
        if matches!(self.convert, Conversion::GroupId) && op == CompareOp::Eq {
            return Pushdown::exact(cond(Operator::Eq));
        }
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
            AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex
                if !self.meta.case_exact
                    && matches!(
                        op,
                        CompareOp::Eq | CompareOp::Sw | CompareOp::Ew | CompareOp::Co
                    ) =>
            {
                // Case ignored: in ASCII Drupal does it, beyond ASCII not
                // on every database (then asked by the value's other runs).
                // `=` on a field may be case-sensitive (`mail`), so `eq`
                // is asked as CONTAINS except on `name`, whose `=` ignores
                // case on every database (recorded).
                let drupal_op = match op {
                    CompareOp::Eq if self.field == "name" => Operator::Eq,
                    CompareOp::Eq => Operator::Contains,
                    CompareOp::Sw => Operator::StartsWith,
                    CompareOp::Ew => Operator::EndsWith,
                    _ => Operator::Contains,
                };
                match Condition::ignoring_case(&field, drupal_op, &drupal_value) {
                    Caseless::Exact(c) | Caseless::Superset(c) => Pushdown::superset(c),
                    Caseless::Unnarrowed => Pushdown::nothing(),
                }
            }
            AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
                match op {
                    // LIKE-based operators ignore case on every Drupal
                    // database; `=` may too: both narrow, the bridge
                    // re-checks.
                    CompareOp::Eq => Pushdown::superset(cond(Operator::Eq)),
                    CompareOp::Sw => Pushdown::superset(cond(Operator::StartsWith)),
                    CompareOp::Ew => Pushdown::superset(cond(Operator::EndsWith)),
                    CompareOp::Co => Pushdown::superset(cond(Operator::Contains)),
                    _ => Pushdown::nothing(),
                }
            }
        }
    }
}

/// Refuses a filter on a `$ref` (`members.$ref pr`, `members[$ref co
/// "Users"]`, `groups.$ref`): the bridge writes `$ref`s into its answers
/// from the public URL after the query, so no resource it filters holds
/// one, and the filter would silently match nothing.
pub fn refuse_refs(filter: &Filter) -> Result<(), ScimError> {
    let is_ref = |name: &str| name.eq_ignore_ascii_case("$ref");
    let named = match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            refuse_refs(a)?;
            return refuse_refs(b);
        }
        Filter::Not(inner) => return refuse_refs(inner),
        Filter::Compare { path, .. } | Filter::Present(path) => {
            path.sub_attr.as_deref().is_some_and(is_ref) || is_ref(&path.attr)
        }
        Filter::ValuePath { path, filter } => {
            let mut inner = false;
            visit_paths(filter, &mut |p| inner |= is_ref(&p.attr));
            if inner {
                return Err(ScimError::invalid_filter(format!(
                    "{path}[$ref ...] cannot be filtered on: $ref is written into answers, not stored; filter on {path}.value instead"
                )));
            }
            false
        }
    };
    if named {
        return Err(ScimError::invalid_filter(
            "$ref cannot be filtered on: it is written into answers, not stored; filter on value instead",
        ));
    }
    Ok(())
}

fn visit_paths(filter: &Filter, visit: &mut dyn FnMut(&AttrPath)) {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            visit_paths(a, visit);
            visit_paths(b, visit);
        }
        Filter::Not(inner) => visit_paths(inner, visit),
        Filter::Compare { path, .. } | Filter::Present(path) => visit(path),
        Filter::ValuePath { path, filter } => {
            visit(path);
            visit_paths(filter, visit);
        }
    }
}

/// For a single-valued complex attribute named without a sub-attribute
/// (`name`), the paths of its sub-attributes the mapping stores; `None`
/// for any other path. A complex attribute with none stored cannot be
/// filtered on.
fn stored_parts(
    path: &AttrPath,
    mapping: &Mapping,
    schema: &dyn AttributeResolver,
) -> Result<Option<Vec<AttrPath>>, ScimError> {
    if path.sub_attr.is_some() {
        return Ok(None);
    }
    let Some((urn, meta)) = schema.resolve(path.schema.as_deref(), &path.attr) else {
        return Ok(None);
    };
    if meta.kind != AttrType::Complex || meta.multi_valued {
        return Ok(None);
    }
    let mut parts: Vec<AttrPath> = Vec::new();
    for mapped in mapping.mapped_attributes() {
        let Some(sub) = mapped.sub_attr else { continue };
        let same = mapped.schema.eq_ignore_ascii_case(&urn)
            && mapped.attr.eq_ignore_ascii_case(&meta.name)
            && schema.resolve_sub(&urn, &meta.name, &sub).is_some();
        let part = AttrPath {
            schema: path.schema.clone(),
            attr: path.attr.clone(),
            sub_attr: Some(sub),
        };
        if same && !parts.contains(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return Err(unfilterable(path));
    }
    Ok(Some(parts))
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

/// Whether `path` names a multi-valued attribute or a sub-attribute of one.
fn multi_valued(path: &AttrPath, schema: &dyn AttributeResolver) -> bool {
    schema
        .resolve(path.schema.as_deref(), &path.attr)
        .is_some_and(|(urn, meta)| {
            meta.multi_valued
                || path.sub_attr.as_ref().is_some_and(|sub| {
                    schema
                        .resolve_sub(&urn, &path.attr, sub)
                        .is_some_and(|sub| sub.multi_valued)
                })
        })
}

fn parent_is_mapped(path: &AttrPath, mapping: &Mapping) -> bool {
    mapping
        .binding_for(path.schema.as_deref(), &path.attr, Some("value"), None)
        .is_some()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::ResourceSchema;

    const MAPPING: &str = r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: emails.value, prefer: [primary, work], drupal: mail}
  - {scim: active, drupal: status}
  - {scim: externalId, drupal: field_scim_external_id}
  - {scim: title, drupal: field_title}
  - {scim: nickName, drupal: field_nick, transforms: [lowercase]}
  - {scim: 'phoneNumbers[type eq "mobile"].value', drupal: field_mobile, type: telephone}
"#;

    fn translated(filter: &str) -> Result<Pushdown, ScimError> {
        let mapping = Mapping::parse(MAPPING, "test.yaml").expect("test mapping");
        let schema = ResourceSchema::user();
        let canonical = Filter::parse(filter)?.canonicalize(&schema)?;
        translate(&canonical, &mapping, &schema)
    }

    fn exact(filter: &str) -> Condition {
        let pushdown = translated(filter).expect("translates");
        assert!(pushdown.exact, "{filter} should be exact: {pushdown:?}");
        pushdown.condition.expect("a condition")
    }

    fn superset(filter: &str) -> Condition {
        let pushdown = translated(filter).expect("translates");
        assert!(
            !pushdown.exact,
            "{filter} should be a superset: {pushdown:?}"
        );
        pushdown.condition.expect("a condition")
    }

    fn nothing(filter: &str) {
        assert_eq!(translated(filter).expect("translates"), Pushdown::nothing());
    }

    #[test]
    fn texts_are_compared_as_the_rules_store_them() {
        let mapping = Mapping::parse(
            &format!(
                "{MAPPING}  - {{scim: displayName, drupal: field_dn, transforms: [trim, {{map: {{a: b}}}}]}}\n  - {{scim: name.givenName, drupal: field_given, transforms: [trim]}}\n"
            ),
            "test.yaml",
        )
        .expect("test mapping");
        let schema = ResourceSchema::user();
        let stored = |filter: &str| {
            let canonical = Filter::parse(filter)
                .unwrap()
                .canonicalize(&schema)
                .unwrap();
            as_stored(canonical, &mapping).to_string()
        };
        // Normalising rules: lowercase, trim (in a value path too).
        assert_eq!(stored(r#"nickName eq "AdA""#), r#"nickName eq "ada""#);
        assert_eq!(
            stored(r#"not (name[givenName sw " Ad"])"#),
            stored(r#"not (name[givenName sw "Ad"])"#)
        );
        // Rules without a transform, or that map values, keep the text.
        assert_eq!(stored(r#"userName eq " Ada ""#), r#"userName eq " Ada ""#);
        assert_eq!(stored(r#"displayName eq " a ""#), r#"displayName eq " a ""#);
        assert_eq!(stored("nickName pr"), "nickName pr");
    }

    #[test]
    fn sub_attributes_rendered_with_a_mapped_parent_are_evaluated_by_the_bridge() {
        nothing("emails.type eq \"work\"");
        nothing("emails.primary eq true");
        assert!(
            translated("name.givenName eq \"x\"").is_err(),
            "not mapped at all"
        );
    }

    #[test]
    fn long_chains_stay_one_flat_group() {
        let chain = |op: &str| {
            (0..40)
                .map(|i| format!("title eq \"t{i}\""))
                .collect::<Vec<_>>()
                .join(op)
        };
        for op in [" and ", " or "] {
            let pushdown = translated(&chain(op)).expect("translates");
            match pushdown.condition {
                Some(Condition::Group { members, .. }) => {
                    assert!(
                        members.iter().all(|m| matches!(m, Condition::Field { .. })),
                        "{op}: {members:?}"
                    );
                }
                other => panic!("{op}: {other:?}"),
            }
        }
    }

    fn field(path: &str, op: Operator, value: &str) -> Condition {
        Condition::field(path, op, value)
    }

    fn is_in(path: &str, values: &[&str]) -> Condition {
        Condition::Field {
            path: path.into(),
            op: Operator::In,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// Drupal's `name =` ignores case on every database, and on MySQL or
    /// MariaDB accents too (`utf8mb4_general_ci`): "jose" finds "josé".
    /// Asked with `=`, re-checked by the bridge.
    #[test]
    fn user_name_equality_is_asked_with_equals_and_rechecked() {
        assert_eq!(
            superset(r#"userName eq "Ann""#),
            field("name", Operator::Eq, "Ann")
        );
        assert_eq!(
            superset(r#"userName eq "jose""#),
            field("name", Operator::Eq, "jose")
        );
    }

    /// Drupal on SQLite ignores case in ASCII only: "ÉMILE" would not
    /// find "émile". Such a value is asked for by its other runs, and the
    /// bridge compares the candidates.
    #[test]
    fn values_with_letters_cased_beyond_ascii_are_asked_by_their_other_runs() {
        assert_eq!(
            superset(r#"userName eq "ÉMILE.X""#),
            field("name", Operator::Contains, "MILE.X")
        );
        assert_eq!(
            superset(r#"userName sw "José Mü""#),
            Condition::all(vec![
                field("name", Operator::Contains, "Jos"),
                field("name", Operator::Contains, "M"),
            ])
        );
        assert_eq!(
            superset(r#"emails.value co "ÉQUIPE@""#),
            field("mail", Operator::Contains, "QUIPE@")
        );
        nothing(r#"userName eq "É""#);
        // Scripts without case, digits and signs are asked as written,
        // and re-checked all the same.
        assert_eq!(
            superset(r#"userName eq "田中-42""#),
            field("name", Operator::Eq, "田中-42")
        );
    }

    #[test]
    fn string_operators_become_like_operators_rechecked_by_the_bridge() {
        assert_eq!(
            superset(r#"userName sw "an""#),
            field("name", Operator::StartsWith, "an")
        );
        assert_eq!(
            superset(r#"userName ew "nn""#),
            field("name", Operator::EndsWith, "nn")
        );
        assert_eq!(
            superset(r#"userName co "n""#),
            field("name", Operator::Contains, "n")
        );
        assert_eq!(
            superset(r#"title co "Eng""#),
            field("field_title", Operator::Contains, "Eng")
        );
    }

    #[test]
    fn case_insensitive_equality_on_a_field_that_may_compare_case_sensitively_widens_to_contains() {
        assert_eq!(
            superset(r#"emails.value eq "Ann@Example.org""#),
            field("mail", Operator::Contains, "Ann@Example.org")
        );
    }

    #[test]
    fn case_exact_attributes_are_narrowed_by_drupal_and_rechecked_by_the_bridge() {
        assert_eq!(
            superset(r#"externalId eq "X1""#),
            field("field_scim_external_id", Operator::Eq, "X1")
        );
        assert_eq!(
            superset(r#"externalId sw "X""#),
            field("field_scim_external_id", Operator::StartsWith, "X")
        );
    }

    #[test]
    fn booleans_compare_as_one_and_zero_and_ne_keeps_accounts_without_a_value() {
        assert_eq!(exact("active eq true"), field("status", Operator::Eq, "1"));
        assert_eq!(exact("active eq false"), field("status", Operator::Eq, "0"));
        assert_eq!(
            exact("active ne true"),
            Condition::any(vec![
                field("status", Operator::NotEq, "1"),
                Condition::null_check("status", Operator::IsNull),
            ])
        );
    }

    #[test]
    fn dates_become_unix_seconds_and_ordering_is_widened_to_whole_seconds() {
        assert_eq!(
            superset(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#),
            field("changed", Operator::Ge, "1704067200")
        );
        assert_eq!(
            superset(r#"meta.created le "2024-01-01T01:00:00+01:00""#),
            field("created", Operator::Le, "1704067200")
        );
        assert_eq!(
            superset(r#"meta.created eq "2024-01-01T00:00:00.5Z""#),
            field("created", Operator::Eq, "1704067200")
        );
    }

    #[test]
    fn presence_is_is_not_null_and_exact_only_where_empty_strings_cannot_occur() {
        assert_eq!(
            exact("active pr"),
            Condition::null_check("status", Operator::IsNotNull)
        );
        assert_eq!(
            superset("title pr"),
            Condition::null_check("field_title", Operator::IsNotNull)
        );
    }

    #[test]
    fn literals_pass_through_the_rules_transforms() {
        assert_eq!(
            superset(r#"nickName co "ANN""#),
            field("field_nick", Operator::Contains, "ann")
        );
    }

    #[test]
    fn operators_drupal_cannot_express_for_strings_are_left_to_the_bridge() {
        nothing(r#"userName ne "ann""#);
        nothing(r#"userName gt "ann""#);
    }

    #[test]
    fn and_of_exact_parts_is_exact_and_an_unexpressible_part_leaves_a_superset() {
        assert_eq!(
            exact("active eq true and active pr"),
            Condition::all(vec![
                field("status", Operator::Eq, "1"),
                Condition::null_check("status", Operator::IsNotNull),
            ])
        );
        assert_eq!(
            superset(r#"userName eq "ann" and active eq true"#),
            Condition::all(vec![
                field("name", Operator::Eq, "ann"),
                field("status", Operator::Eq, "1"),
            ])
        );
        assert_eq!(
            superset(r#"userName eq "ann" and not (title pr)"#),
            field("name", Operator::Eq, "ann")
        );
    }

    #[test]
    fn or_with_an_unexpressible_side_cannot_narrow_anything() {
        nothing(r#"userName eq "ann" or not (title pr)"#);
    }

    /// `ne` on a multi-valued attribute means "a value differs"; a Drupal
    /// `<> OR IS NULL` would also find accounts with no value.
    #[test]
    fn ne_on_a_multi_valued_attribute_is_evaluated_by_the_bridge() {
        let mapping = Mapping::parse(
            &format!("{MAPPING}  - {{scim: 'emails[type eq \"work\"].primary', drupal: field_work_primary}}\n"),
            "test.yaml",
        )
        .expect("test mapping");
        let schema = ResourceSchema::user();
        let canonical = Filter::parse("emails.primary ne true")
            .and_then(|f| f.canonicalize(&schema))
            .unwrap();
        assert_eq!(
            translate(&canonical, &mapping, &schema).unwrap(),
            Pushdown::nothing()
        );
        nothing(r#"emails.value ne "a@x.org""#);
        nothing(r#"emails ne "a@x.org""#);
        assert_eq!(
            exact("active ne false"),
            Condition::any(vec![
                field("status", Operator::NotEq, "0"),
                Condition::null_check("status", Operator::IsNull),
            ])
        );
    }

    #[test]
    fn negations_are_evaluated_by_the_bridge_except_absence_of_a_non_string() {
        nothing(r#"not (userName eq "ann")"#);
        nothing("not (title pr)");
        assert_eq!(
            exact("not (active pr)"),
            Condition::null_check("status", Operator::IsNull)
        );
    }

    #[test]
    fn equalities_on_one_field_joined_by_or_become_one_in() {
        assert_eq!(
            superset(r#"userName eq "a" or userName eq "b" or userName eq "c""#),
            is_in("name", &["a", "b", "c"])
        );
        assert_eq!(
            superset(r#"userName eq "a" or (userName eq "b" or userName eq "a")"#),
            is_in("name", &["a", "b"])
        );
        assert_eq!(
            superset(r#"externalId eq "x" or externalId eq "y""#),
            is_in("field_scim_external_id", &["x", "y"])
        );
    }

    #[test]
    fn or_across_fields_is_one_flat_or_group() {
        assert_eq!(
            superset(r#"userName eq "a" or active eq false or userName eq "b""#),
            Condition::any(vec![
                is_in("name", &["a", "b"]),
                field("status", Operator::Eq, "0"),
            ])
        );
        assert_eq!(
            superset(r#"userName eq "a" or emails.value eq "a@x.org""#),
            Condition::any(vec![
                field("name", Operator::Eq, "a"),
                field("mail", Operator::Contains, "a@x.org"),
            ])
        );
    }

    #[test]
    fn and_binds_tighter_than_or_so_in_never_merges_across_and() {
        assert_eq!(
            superset(r#"userName eq "a" or userName eq "b" and active eq false"#),
            Condition::any(vec![
                field("name", Operator::Eq, "a"),
                Condition::all(vec![
                    field("name", Operator::Eq, "b"),
                    field("status", Operator::Eq, "0"),
                ]),
            ])
        );
        assert_eq!(
            superset(r#"(userName eq "a" or userName eq "b") and active eq true"#),
            Condition::all(vec![
                is_in("name", &["a", "b"]),
                field("status", Operator::Eq, "1"),
            ])
        );
    }

    #[test]
    fn value_filters_push_their_sub_attribute_comparisons_and_recheck_the_element() {
        assert_eq!(
            superset(r#"emails[type eq "work" and value co "@ex.org"]"#),
            field("mail", Operator::Contains, "@ex.org")
        );
        assert_eq!(
            superset(r#"phoneNumbers[type eq "mobile" and value sw "+33"]"#),
            field("field_mobile", Operator::StartsWith, "+33")
        );
        nothing(r#"emails[type eq "work"]"#);
    }

    #[test]
    fn urn_qualified_paths_translate_like_short_ones() {
        assert_eq!(
            superset(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ann""#),
            field("name", Operator::Eq, "ann")
        );
    }

    #[test]
    fn presence_of_a_complex_attribute_is_presence_of_any_stored_part() {
        const NAMES: &str = r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: name.givenName, drupal: field_given}
  - {scim: name.familyName, drupal: field_family}
"#;
        let mapping = Mapping::parse(NAMES, "test.yaml").expect("test mapping");
        let schema = ResourceSchema::user();
        let translated = |filter: &str| {
            let canonical = Filter::parse(filter)?.canonicalize(&schema)?;
            translate(&canonical, &mapping, &schema)
        };
        let pushdown = translated(r#"name pr and userName sw "a""#).expect("translates");
        assert!(!pushdown.exact);
        assert_eq!(
            pushdown.condition,
            Some(Condition::all(vec![
                Condition::any(vec![
                    Condition::null_check("field_given", Operator::IsNotNull),
                    Condition::null_check("field_family", Operator::IsNotNull),
                ]),
                field("name", Operator::StartsWith, "a"),
            ]))
        );
        assert_eq!(
            translated("not (name pr)").expect("translates"),
            Pushdown::nothing()
        );
        // Stored nowhere in this mapping.
        assert!(translated("name pr").is_ok());
        assert!(super::translate(
            &Filter::parse("name pr")
                .unwrap()
                .canonicalize(&schema)
                .unwrap(),
            &Mapping::parse(MAPPING, "test.yaml").unwrap(),
            &schema
        )
        .is_err());
    }

    #[test]
    fn attributes_the_mapping_does_not_store_cannot_be_filtered_on() {
        let e = translated(r#"displayName eq "Ann""#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("displayName"), "{}", e.detail);
    }
}
