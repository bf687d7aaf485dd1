//! The RFC 7644 §3.4.2.2 filter language: a bounded parser, a normalising
//! printer, schema validation, and evaluation against a canonical resource.
//!
//! Tolerances beyond the RFC: operators and `and`/`or`/`not` in any case, a
//! bare word as a comparison value (Entra sends `externalId eq jyoung`), `not`
//! without parentheses, and `emails[type eq "work"].value eq "x"`, read as
//! `emails[type eq "work" and value eq "x"]`.
//!
//! Evaluation semantics: a multi-valued attribute matches when any value does;
//! a complex attribute compared without a sub-attribute compares its `value`
//! sub-attribute (`emails co "example.com"`); `eq null` matches an absent
//! attribute and `ne null` a present one; `ne` is the negation of `eq`, so it
//! matches a missing attribute. Ordering operators on booleans, binaries and
//! complex attributes never match, and [`Filter::validate`] rejects them,
//! as it rejects a comparison value that cannot be of the attribute's type
//! (`userName eq true`; see `check_literal`).

use std::cmp::Ordering;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Number, Value};

use super::attributes::{AttrMeta, AttrType, AttributeResolver};
use super::error::ScimError;
use super::path::{get_ci, AttrPath, PathSyntaxError, ResolvedPath};

/// Longest filter accepted, in characters.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not` and value paths accepted.
pub const MAX_FILTER_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `path pr`: present and not empty.
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `path[filter]`: some value of a complex attribute matches `filter`,
    /// whose paths name sub-attributes of `path`.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value (`compValue` of RFC 7644).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    String(String),
    Number(Number),
    Boolean(bool),
    Null,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn from_word(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// `gt`, `ge`, `lt`, `le`: meaningless on booleans, binaries and complex values.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    /// Whether `actual` compared to the filter value as `ordering` satisfies the
    /// operator. `ne`, `co`, `sw` and `ew` are not decided by an ordering.
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            CompareOp::Eq => ordering == Ordering::Equal,
            CompareOp::Gt => ordering == Ordering::Greater,
            CompareOp::Ge => ordering != Ordering::Less,
            CompareOp::Lt => ordering == Ordering::Less,
            CompareOp::Le => ordering != Ordering::Greater,
            CompareOp::Ne | CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl CompValue {
    /// Reads a bare word: `true`/`false`/`null` in any case, a JSON number, or
    /// else a string (the Entra leniency).
    fn from_word(word: &str) -> CompValue {
        match word.to_ascii_lowercase().as_str() {
            "true" => CompValue::Boolean(true),
            "false" => CompValue::Boolean(false),
            "null" => CompValue::Null,
            _ => match serde_json::from_str::<Number>(word) {
                Ok(number) => CompValue::Number(number),
                Err(_) => CompValue::String(word.to_string()),
            },
        }
    }

    /// The value as text, for comparisons with string attributes: a bare
    /// `externalId eq 12345` still compares as a string.
    fn as_text(&self) -> Option<String> {
        match self {
            CompValue::String(s) => Some(s.clone()),
            CompValue::Number(n) => Some(n.to_string()),
            CompValue::Boolean(b) => Some(b.to_string()),
            CompValue::Null => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            CompValue::Boolean(b) => Some(*b),
            CompValue::String(s) => parse_bool(s),
            CompValue::Number(_) | CompValue::Null => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            CompValue::Number(n) => n.as_f64(),
            CompValue::String(s) => s.trim().parse().ok(),
            CompValue::Boolean(_) | CompValue::Null => None,
        }
    }

    /// The value as JSON, e.g. to build an element from `type eq "work"`.
    pub fn to_json(&self) -> Value {
        match self {
            CompValue::String(s) => Value::String(s.clone()),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::Boolean(b) => Value::Bool(*b),
            CompValue::Null => Value::Null,
        }
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Value`'s Display writes a JSON literal, escapes included.
        self.to_json().fmt(f)
    }
}

/// `"True"`/`"False"` in any case, as Entra sends booleans.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Where a filter's paths are looked up: at the top of a resource, or among
/// the sub-attributes of one value of a complex attribute (inside `[...]`).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Resource,
    Element { schema: &'a str, parent: &'a str },
}

/// Why a filter does not fit the schema it is checked against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SchemaMismatch {
    /// An unknown attribute, or a comparison the attribute's kind rules out.
    #[error("{0}")]
    Path(String),
    /// A comparison value that cannot be of the attribute's type
    /// (`userName eq true`): `invalidFilter` wherever the filter stands.
    #[error("\"{path}\" cannot be compared with {value}{by}: {reason}")]
    Literal {
        path: String,
        value: String,
        /// ` by "gt"`, when the operator is what rules the value out.
        by: String,
        reason: String,
    },
}

impl From<String> for SchemaMismatch {
    fn from(detail: String) -> Self {
        SchemaMismatch::Path(detail)
    }
}

impl Filter {
    /// Parses a filter; errors are `invalidFilter` and give a character offset.
    pub fn parse(text: &str) -> Result<Filter, ScimError> {
        let length = text.chars().count();
        if length > MAX_FILTER_LEN {
            return Err(ScimError::invalid_filter(format!(
                "invalid filter: it is {length} characters long, the limit is {MAX_FILTER_LEN}"
            )));
        }
        let mut parser = Parser::new(text, "filter");
        parser
            .filter_to_end()
            .map_err(|e| ScimError::invalid_filter(format!("invalid filter {e}")))
    }

    /// Whether a canonical resource matches. Unknown attributes count as absent;
    /// call [`Filter::validate`] first to reject them.
    pub fn matches(&self, resource: &Map<String, Value>, resolver: &dyn AttributeResolver) -> bool {
        self.eval(resource, Scope::Resource, resolver)
    }

    /// Whether one value of the complex attribute `parent` of `schema` matches
    /// a value filter (`type eq "work"` of `emails[type eq "work"]`).
    pub fn matches_element(
        &self,
        element: &Map<String, Value>,
        schema: &str,
        parent: &str,
        resolver: &dyn AttributeResolver,
    ) -> bool {
        self.eval(element, Scope::Element { schema, parent }, resolver)
    }

    /// Rejects unknown attributes and comparisons the schema makes meaningless.
    pub fn validate(&self, resolver: &dyn AttributeResolver) -> Result<(), ScimError> {
        self.canonicalize(resolver).map(|_| ())
    }

    /// The same filter with canonical attribute names (core attributes
    /// unqualified, extension attributes under their canonical URN), for
    /// callers that translate filters into other query languages.
    pub fn canonicalize(&self, resolver: &dyn AttributeResolver) -> Result<Filter, ScimError> {
        self.canonical(Scope::Resource, resolver)
            .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))
    }

    /// [`Filter::canonicalize`] for a value filter of the complex attribute
    /// `parent`; the error names the problem, the caller picks its scimType.
    pub(crate) fn canonicalize_for_element(
        &self,
        schema: &str,
        parent: &str,
        resolver: &dyn AttributeResolver,
    ) -> Result<Filter, SchemaMismatch> {
        self.canonical(Scope::Element { schema, parent }, resolver)
    }

    fn canonical(
        &self,
        scope: Scope<'_>,
        resolver: &dyn AttributeResolver,
    ) -> Result<Filter, SchemaMismatch> {
        Ok(match self {
            Filter::Compare { path, op, value } => {
                let (canonical, meta) = comparable(path, scope, resolver)?;
                let unordered = matches!(meta.kind, AttrType::Boolean | AttrType::Binary);
                if op.is_ordering() && unordered {
                    return Err(format!(
                        "\"{op}\" cannot order the {:?} attribute \"{canonical}\"",
                        meta.kind
                    )
                    .into());
                }
                check_literal(&canonical, &meta, *op, value)?;
                Filter::Compare {
                    path: canonical,
                    op: *op,
                    value: value.clone(),
                }
            }
            Filter::Present(path) => Filter::Present(lookup(path, scope, resolver)?.0),
            Filter::And(left, right) => Filter::And(
                Box::new(left.canonical(scope, resolver)?),
                Box::new(right.canonical(scope, resolver)?),
            ),
            Filter::Or(left, right) => Filter::Or(
                Box::new(left.canonical(scope, resolver)?),
                Box::new(right.canonical(scope, resolver)?),
            ),
            Filter::Not(inner) => Filter::Not(Box::new(inner.canonical(scope, resolver)?)),
            Filter::ValuePath { path, filter } => {
                if let Scope::Element { parent, .. } = scope {
                    return Err(format!(
                        "value filters cannot nest (\"{path}\" inside \"{parent}\")"
                    )
                    .into());
                }
                let (canonical, schema, meta) = lookup(path, scope, resolver)?;
                if meta.kind != AttrType::Complex || canonical.sub_attr.is_some() {
                    return Err(format!(
                        "\"{canonical}\" is not a complex attribute, so it takes no value filter"
                    )
                    .into());
                }
                let inner = filter.canonical(
                    Scope::Element {
                        schema: &schema,
                        parent: &meta.name,
                    },
                    resolver,
                )?;
                Filter::ValuePath {
                    path: canonical,
                    filter: Box::new(inner),
                }
            }
        })
    }

    fn eval(
        &self,
        object: &Map<String, Value>,
        scope: Scope<'_>,
        resolver: &dyn AttributeResolver,
    ) -> bool {
        match self {
            Filter::Compare { path, op, value } => {
                let (meta, values, multi_valued) =
                    match operand(path, object, scope, resolver, true) {
                        Some(found) => found,
                        None => return *op == CompareOp::Ne,
                    };
                match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => values.is_empty(),
                    (CompareOp::Ne, CompValue::Null) => !values.is_empty(),
                    (_, CompValue::Null) => false,
                    // RFC 7644 §3.4.2.2: any value that differs; with no
                    // value, none does (`not (x eq v)` says "none equals").
                    (CompareOp::Ne, _) if multi_valued => values
                        .iter()
                        .any(|v| !compare(&meta, v, CompareOp::Eq, value)),
                    // A single value: absent counts as different.
                    (CompareOp::Ne, _) => !values
                        .iter()
                        .any(|v| compare(&meta, v, CompareOp::Eq, value)),
                    _ => values.iter().any(|v| compare(&meta, v, *op, value)),
                }
            }
            Filter::Present(path) => operand(path, object, scope, resolver, false)
                .is_some_and(|(_, values, _)| values.iter().any(|v| !is_empty(v))),
            Filter::And(left, right) => {
                left.eval(object, scope, resolver) && right.eval(object, scope, resolver)
            }
            Filter::Or(left, right) => {
                left.eval(object, scope, resolver) || right.eval(object, scope, resolver)
            }
            Filter::Not(inner) => !inner.eval(object, scope, resolver),
            Filter::ValuePath { path, filter } => {
                let Scope::Resource = scope else { return false };
                let Ok(ResolvedPath::Attribute(attr)) = path.resolve(resolver) else {
                    return false;
                };
                flatten(attr.value(object)).into_iter().any(|element| {
                    element.as_object().is_some_and(|element| {
                        filter.matches_element(element, &attr.schema, &attr.attr.name, resolver)
                    })
                })
            }
        }
    }
}

/// Canonical path, schema URN and metadata of a path in `scope`.
fn lookup(
    path: &AttrPath,
    scope: Scope<'_>,
    resolver: &dyn AttributeResolver,
) -> Result<(AttrPath, String, AttrMeta), String> {
    match scope {
        Scope::Resource => match path.resolve(resolver) {
            Ok(ResolvedPath::Attribute(attr)) => {
                Ok((attr.path(), attr.schema.clone(), attr.target().clone()))
            }
            Ok(ResolvedPath::Extension(urn)) => Err(format!(
                "unknown attribute \"{}\"",
                crate::untrusted::quote(&urn)
            )),
            Err(unknown) => Err(unknown.to_string()),
        },
        Scope::Element { schema, parent } => {
            let meta = (path.schema.is_none() && path.sub_attr.is_none())
                .then(|| resolver.resolve_sub(schema, parent, &path.attr))
                .flatten()
                .ok_or_else(|| {
                    format!(
                        "unknown attribute \"{}\"",
                        crate::untrusted::quote(&format!("{parent}.{path}"))
                    )
                })?;
            let canonical = AttrPath {
                schema: None,
                attr: meta.name.clone(),
                sub_attr: None,
            };
            Ok((canonical, schema.to_string(), meta))
        }
    }
}

/// Like [`lookup`], but a complex attribute stands for its `value`
/// sub-attribute, as in RFC 7644's `emails co "example.com"`.
fn comparable(
    path: &AttrPath,
    scope: Scope<'_>,
    resolver: &dyn AttributeResolver,
) -> Result<(AttrPath, AttrMeta), String> {
    let (canonical, schema, meta) = lookup(path, scope, resolver)?;
    if meta.kind != AttrType::Complex {
        return Ok((canonical, meta));
    }
    let value = resolver
        .resolve_sub(&schema, &meta.name, "value")
        .ok_or_else(|| {
            format!("the complex attribute \"{canonical}\" needs a sub-attribute to compare")
        })?;
    Ok((canonical, value))
}

/// The metadata and values a path designates in `object`, and whether it
/// designates a multi-valued attribute (or a sub-attribute of one). With
/// `through_value`, a complex attribute yields its `value` sub-attributes.
fn operand<'v>(
    path: &AttrPath,
    object: &'v Map<String, Value>,
    scope: Scope<'_>,
    resolver: &dyn AttributeResolver,
    through_value: bool,
) -> Option<(AttrMeta, Vec<&'v Value>, bool)> {
    let mut multi_valued = false;
    let (meta, values) = match scope {
        Scope::Resource => {
            let ResolvedPath::Attribute(attr) = path.resolve(resolver).ok()? else {
                return None;
            };
            multi_valued = attr.attr.multi_valued;
            let whole = attr.value(object);
            match attr.sub {
                Some(sub) => {
                    let values = sub_values(whole, &sub.name);
                    (sub, values)
                }
                None if through_value && attr.attr.kind == AttrType::Complex => {
                    let value = resolver.resolve_sub(&attr.schema, &attr.attr.name, "value")?;
                    let values = sub_values(whole, &value.name);
                    (value, values)
                }
                None => (attr.attr, flatten(whole)),
            }
        }
        Scope::Element { schema, parent } => {
            if path.schema.is_some() || path.sub_attr.is_some() {
                return None;
            }
            let meta = resolver.resolve_sub(schema, parent, &path.attr)?;
            let values = flatten(get_ci(object, &meta.name));
            (meta, values)
        }
    };
    let multi_valued = multi_valued || meta.multi_valued;
    Some((meta, values, multi_valued))
}

/// The values of an attribute: the elements of an array, or the value itself.
fn flatten(value: Option<&Value>) -> Vec<&Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter(|v| !v.is_null()).collect(),
        Some(single) => vec![single],
    }
}

fn sub_values<'v>(whole: Option<&'v Value>, sub: &str) -> Vec<&'v Value> {
    flatten(whole)
        .into_iter()
        .filter_map(Value::as_object)
        .flat_map(|element| flatten(get_ci(element, sub)))
        .collect()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.iter().all(is_empty),
        Value::Object(members) => members.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

fn compare(meta: &AttrMeta, actual: &Value, op: CompareOp, expected: &CompValue) -> bool {
    match meta.kind {
        AttrType::Boolean => {
            let actual = match actual {
                Value::Bool(b) => Some(*b),
                Value::String(s) => parse_bool(s),
                _ => None,
            };
            op == CompareOp::Eq && actual.is_some() && actual == expected.as_bool()
        }
        AttrType::Complex => false,
        AttrType::Integer | AttrType::Decimal => {
            let actual = match actual {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match (actual, expected.as_f64()) {
                (Some(a), Some(e)) => a
                    .partial_cmp(&e)
                    .is_some_and(|ordering| op.accepts(ordering)),
                _ => false,
            }
        }
        AttrType::DateTime => match (
            instant(actual.as_str()),
            instant(expected.as_text().as_deref()),
        ) {
            (Some(a), Some(e))
                if op != CompareOp::Co && op != CompareOp::Sw && op != CompareOp::Ew =>
            {
                op.accepts(a.cmp(&e))
            }
            _ => compare_text(meta.case_exact, actual, op, expected),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            compare_text(meta.case_exact, actual, op, expected)
        }
    }
}

/// Refuses a comparison value that cannot be of the attribute's type, so a
/// typo is an error instead of a filter that silently matches nothing.
///
/// RFC 7644 §3.4.2.2 types the comparison value as JSON does (`compValue =
/// false / null / true / number / string`) and makes `eq` "identical": a
/// string attribute compared with `true` or `5` can match nothing, and is
/// refused as an unsupported "attribute and filter comparison combination"
/// (§3.12, `invalidFilter`). Kept lenient, as the resource parser is:
/// `"True"`/`"False"` for booleans (Entra), a number in quotes for a
/// number, and a bare word or a number for a string (Entra's `externalId
/// eq jyoung`; ids and employee numbers sent unquoted).
///
/// `null` is RFC 7643 §2.5's "unassigned": `eq null` matches an attribute
/// without a value and `ne null` one with a value, for every type, as the
/// RFC makes null and absence one state. Only `eq` and `ne` take it: `co`,
/// `sw`, `ew` and the ordering operators have no meaning for it.
fn check_literal(
    path: &AttrPath,
    meta: &AttrMeta,
    op: CompareOp,
    value: &CompValue,
) -> Result<(), SchemaMismatch> {
    let mismatch = |by: String, reason: String| SchemaMismatch::Literal {
        path: path.to_string(),
        value: crate::untrusted::quote(&value.to_string()).to_string(),
        by,
        reason,
    };
    if *value == CompValue::Null {
        return match op {
            CompareOp::Eq | CompareOp::Ne => Ok(()),
            _ => Err(mismatch(
                format!(" by \"{op}\""),
                "only eq and ne take null (\"eq null\": no value; \"ne null\": a value)".into(),
            )),
        };
    }
    let fits = match (meta.kind, value) {
        (AttrType::DateTime, CompValue::String(s)) => instant(Some(s)).is_some(),
        (AttrType::Boolean, CompValue::Boolean(_)) => true,
        (AttrType::Boolean, CompValue::String(s)) => parse_bool(s).is_some(),
        (AttrType::Integer | AttrType::Decimal, CompValue::Number(_)) => true,
        (AttrType::Integer | AttrType::Decimal, CompValue::String(s)) => {
            s.trim().parse::<f64>().is_ok()
        }
        // A number is taken as its text: IdPs send ids and employee
        // numbers unquoted (`externalId eq 12345`).
        (
            AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex,
            CompValue::String(_) | CompValue::Number(_),
        ) => true,
        _ => false,
    };
    if fits {
        return Ok(());
    }
    let expected = match meta.kind {
        AttrType::DateTime => {
            "an RFC 3339 date and time such as \"2026-01-31T12:00:00Z\"".to_string()
        }
        AttrType::Boolean => "true or false".to_string(),
        AttrType::Integer | AttrType::Decimal => "a number".to_string(),
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => {
            format!(
                "a string: write it in double quotes, as in {}",
                Value::String(value.as_text().unwrap_or_default())
            )
        }
    };
    Err(mismatch(String::new(), format!("it takes {expected}")))
}

fn instant(text: Option<&str>) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text?).ok()
}

fn compare_text(case_exact: bool, actual: &Value, op: CompareOp, expected: &CompValue) -> bool {
    let actual = match actual {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    let Some(expected) = expected.as_text() else {
        return false;
    };
    let (actual, expected) = if case_exact {
        (actual, expected)
    } else {
        (
            super::caseless::fold(&actual),
            super::caseless::fold(&expected),
        )
    };
    match op {
        CompareOp::Co => actual.contains(&expected),
        CompareOp::Sw => actual.starts_with(&expected),
        CompareOp::Ew => actual.ends_with(&expected),
        _ => op.accepts(actual.cmp(&expected)),
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, Precedence::Or)
    }
}

/// Binding strength, weakest first, to print only the parentheses needed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    Or,
    And,
    Atom,
}

impl Filter {
    fn write(&self, f: &mut fmt::Formatter<'_>, context: Precedence) -> fmt::Result {
        let (own, left, right, keyword) = match self {
            Filter::Compare { path, op, value } => return write!(f, "{path} {op} {value}"),
            Filter::Present(path) => return write!(f, "{path} pr"),
            Filter::Not(inner) => return write!(f, "not ({inner})"),
            Filter::ValuePath { path, filter } => return write!(f, "{path}[{filter}]"),
            Filter::And(left, right) => (Precedence::And, left, right, "and"),
            Filter::Or(left, right) => (Precedence::Or, left, right, "or"),
        };
        let parenthesised = own < context;
        if parenthesised {
            f.write_str("(")?;
        }
        left.write(f, own)?;
        write!(f, " {keyword} ")?;
        // Both operators associate to the left: a right operand of the same
        // strength needs parentheses to keep its grouping.
        let stronger = if own == Precedence::Or {
            Precedence::And
        } else {
            Precedence::Atom
        };
        right.write(f, stronger)?;
        if parenthesised {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Splits `attrPath [ "[" valFilter "]" ] [ "." subAttr ]` for PATCH paths.
pub(crate) fn parse_patch_path(
    text: &str,
) -> Result<(AttrPath, Option<Filter>, Option<String>), PathSyntaxError> {
    let mut parser = Parser::new(text, "path");
    parser.skip_whitespace();
    let (attr, _) = parser.path()?;
    let mut value_filter = None;
    let mut sub_attr = None;
    if parser.peek() == Some('[') {
        value_filter = Some(parser.bracketed(&attr)?);
        if parser.peek() == Some('.') {
            sub_attr = Some(parser.sub_attribute()?);
        }
    }
    parser.skip_whitespace();
    parser.expect_end()?;
    Ok((attr, value_filter, sub_attr))
}

/// Recursive descent over characters: `or` binds weakest, then `and`, then
/// `not`, parentheses and value paths.
struct Parser {
    /// "filter" or "path", for "found the end of the ...".
    what: &'static str,
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

type Parsed<T> = Result<T, PathSyntaxError>;

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

impl Parser {
    fn new(text: &str, what: &'static str) -> Parser {
        Parser {
            what,
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }

    fn error<T>(&self, at: usize, message: impl Into<String>) -> Parsed<T> {
        Err(PathSyntaxError {
            offset: at,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The next run of non-delimiter characters, with its offset; does not consume.
    fn peek_word(&self) -> (String, usize) {
        let rest = self.chars.get(self.pos..).unwrap_or_default();
        let word = rest.iter().take_while(|c| !is_delimiter(**c)).collect();
        (word, self.pos)
    }

    fn word(&mut self) -> (String, usize) {
        let (word, start) = self.peek_word();
        self.pos += word.chars().count();
        (word, start)
    }

    /// What the user sees at the current position, for error messages.
    fn found(&self) -> String {
        match self.peek() {
            None => format!("the end of the {}", self.what),
            Some(c) if is_delimiter(c) && !c.is_whitespace() => format!("\"{c}\""),
            Some(_) => format!("\"{}\"", crate::untrusted::quote(&self.peek_word().0)),
        }
    }

    fn expect_end(&self) -> Parsed<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.error(
                self.pos,
                format!("expected the end, found {}", self.found()),
            ),
        }
    }

    fn enter(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return self.error(
                self.pos,
                format!("nested deeper than {MAX_FILTER_DEPTH} levels"),
            );
        }
        Ok(())
    }

    fn filter_to_end(&mut self) -> Parsed<Filter> {
        self.skip_whitespace();
        if self.peek().is_none() {
            return self.error(0, "the filter is empty");
        }
        let filter = self.or()?;
        match self.peek() {
            None => Ok(filter),
            Some(_) => self.error(
                self.pos,
                format!(
                    "expected \"and\", \"or\" or the end of the filter, found {}",
                    self.found()
                ),
            ),
        }
    }

    /// Consumes `keyword` (case-insensitive) when it is the next word.
    fn keyword(&mut self, keyword: &str) -> bool {
        self.skip_whitespace();
        let (word, _) = self.peek_word();
        let matched = word.eq_ignore_ascii_case(keyword);
        if matched {
            self.pos += word.chars().count();
        }
        matched
    }

    fn or(&mut self) -> Parsed<Filter> {
        let mut left = self.and()?;
        while self.keyword("or") {
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Parsed<Filter> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Parsed<Filter> {
        self.skip_whitespace();
        if self.peek() == Some('(') {
            let open = self.pos;
            self.enter()?;
            self.pos += 1;
            let inner = self.or()?;
            self.skip_whitespace();
            if self.peek() != Some(')') {
                return self.error(
                    self.pos,
                    format!(
                        "expected \")\" to close the \"(\" at {open}, found {}",
                        self.found()
                    ),
                );
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(inner);
        }
        let (word, _) = self.peek_word();
        let after = self.chars.get(self.pos + word.chars().count()).copied();
        if word.eq_ignore_ascii_case("not") && after.is_some_and(|c| c.is_whitespace() || c == '(')
        {
            self.pos += word.chars().count();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.attribute_expression()
    }

    fn path(&mut self) -> Parsed<(AttrPath, usize)> {
        let (text, start) = self.word();
        if text.is_empty() {
            return self.error(
                start,
                format!("expected an attribute path, found {}", self.found()),
            );
        }
        let path = AttrPath::parse(&text).map_err(|e| PathSyntaxError {
            offset: start + e.offset,
            message: e.message,
        })?;
        Ok((path, start))
    }

    /// `"[" valFilter "]"`, the opening bracket being the next character.
    fn bracketed(&mut self, attr: &AttrPath) -> Parsed<Filter> {
        let open = self.pos;
        self.enter()?;
        self.pos += 1;
        let inner = self.or()?;
        self.skip_whitespace();
        if self.peek() != Some(']') {
            return self.error(
                self.pos,
                format!(
                    "expected \"]\" to close the \"[\" of \"{attr}\" at {open}, found {}",
                    self.found()
                ),
            );
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(inner)
    }

    /// `"." subAttr` right after a value filter.
    fn sub_attribute(&mut self) -> Parsed<String> {
        self.pos += 1;
        let (name, start) = self.word();
        let path = AttrPath::parse(&name).map_err(|e| PathSyntaxError {
            offset: start + e.offset,
            message: e.message,
        })?;
        if path.schema.is_some() || path.sub_attr.is_some() {
            return self.error(
                start,
                format!("expected a sub-attribute name, found \"{name}\""),
            );
        }
        Ok(path.attr)
    }

    fn attribute_expression(&mut self) -> Parsed<Filter> {
        let (path, _) = self.path()?;
        if self.peek() != Some('[') {
            let label = path.to_string();
            return self.comparison(path, &label);
        }
        let inner = self.bracketed(&path)?;
        if self.peek() != Some('.') {
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        // `emails[type eq "work"].value eq "x"`: fold the comparison into the value filter.
        let sub = self.sub_attribute()?;
        let label = format!("{path}[{inner}].{sub}");
        let sub_path = AttrPath {
            schema: None,
            attr: sub,
            sub_attr: None,
        };
        let comparison = self.comparison(sub_path, &label)?;
        Ok(Filter::ValuePath {
            path,
            filter: Box::new(Filter::And(Box::new(inner), Box::new(comparison))),
        })
    }

    /// `op value` or `pr` after the path printed as `label`.
    fn comparison(&mut self, path: AttrPath, label: &str) -> Parsed<Filter> {
        self.skip_whitespace();
        let (word, at) = self.peek_word();
        if word.eq_ignore_ascii_case("pr") {
            self.pos += word.chars().count();
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_word(&word) else {
            return self.error(
                at,
                format!(
                    "expected a comparison operator after \"{label}\", found {}",
                    self.found()
                ),
            );
        };
        self.pos += word.chars().count();
        self.skip_whitespace();
        let value = self.comp_value(op)?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self, op: CompareOp) -> Parsed<CompValue> {
        if self.peek() == Some('"') {
            return self.string().map(CompValue::String);
        }
        let (word, at) = self.word();
        if word.is_empty() {
            return self.error(
                at,
                format!("expected a value after \"{op}\", found {}", self.found()),
            );
        }
        Ok(CompValue::from_word(&word))
    }

    /// A JSON string literal, escapes decoded by the JSON parser.
    fn string(&mut self) -> Parsed<String> {
        let start = self.pos;
        let mut end = start + 1;
        loop {
            match self.chars.get(end) {
                None => return self.error(start, "unterminated string"),
                Some('\\') => end += 2,
                Some('"') => break,
                Some(_) => end += 1,
            }
        }
        let literal: String = self
            .chars
            .get(start..=end)
            .unwrap_or_default()
            .iter()
            .collect();
        match serde_json::from_str::<String>(&literal) {
            Ok(text) => {
                self.pos = end + 1;
                Ok(text)
            }
            Err(e) => self.error(start, format!("invalid string {literal}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::path::test_support::{group_resolver, user_resolver, ENTERPRISE, METRICS};
    use serde_json::json;

    fn parse(text: &str) -> Filter {
        Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.detail))
    }

    fn error(text: &str) -> String {
        let err = Filter::parse(text).unwrap_err();
        assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
        err.detail
    }

    fn cmp(path: &str, op: CompareOp, value: CompValue) -> Filter {
        Filter::Compare {
            path: AttrPath::parse(path).unwrap(),
            op,
            value,
        }
    }

    fn s(text: &str) -> CompValue {
        CompValue::String(text.to_string())
    }

    fn barbara() -> Map<String, Value> {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "Bjensen",
            "userName": "bjensen@example.com",
            "name": {"familyName": "O'Malley", "givenName": "Barbara"},
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "meta": {"lastModified": "2011-05-13T04:42:34Z", "created": "2010-01-23T04:56:22Z"},
            ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "26118915"}},
            METRICS: {"loginCount": 42, "score": 7.5}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn matches(text: &str) -> bool {
        let filter = parse(text);
        filter
            .validate(&user_resolver())
            .unwrap_or_else(|e| panic!("{text}: {}", e.detail));
        filter.matches(&barbara(), &user_resolver())
    }

    #[test]
    fn values_that_cannot_be_of_the_attributes_type_are_refused() {
        for text in [
            "meta.lastModified gt \"not a date\"",
            "meta.created eq true",
            "meta.created lt 5",
            "active eq 5",
            "active eq \"maybe\"",
            "userName eq true",
            "emails.value eq false",
            "emails[value eq true]",
            "emails[type eq \"work\" and primary eq \"yes\"]",
            "title co null",
            "userName gt null",
            "meta.lastModified ge null",
            &format!("{ENTERPRISE}:employeeNumber eq false"),
            &format!("{METRICS}:loginCount eq \"many\""),
            &format!("{METRICS}:loginCount gt true"),
        ] {
            let err = parse(text).validate(&user_resolver()).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(crate::scim::error::ScimType::InvalidFilter),
                "{text}"
            );
            assert!(
                err.detail.contains("cannot be compared"),
                "{text}: {}",
                err.detail
            );
        }
        for text in [
            "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
            "active eq \"True\"",
            "active eq False",
            "userName eq 5",
            "externalId eq 12345",
            "title eq null",
            "title ne null",
            "meta.lastModified eq null",
            "active ne null",
            "userName eq bjensen",
            "externalId eq \"12345\"",
            &format!("{METRICS}:loginCount eq \"42\""),
            &format!("{METRICS}:loginCount ge 4.5"),
        ] {
            parse(text)
                .validate(&user_resolver())
                .unwrap_or_else(|e| panic!("{text}: {}", e.detail));
        }
    }

    #[test]
    fn a_wrong_type_error_names_the_attribute_and_the_type_it_takes() {
        let detail = |text: &str| parse(text).validate(&user_resolver()).unwrap_err().detail;
        assert_eq!(
            detail("userName eq true"),
            "invalid filter: \"userName\" cannot be compared with true: it takes a string: write it in double quotes, as in \"true\""
        );
        assert_eq!(
            detail("meta.created gt \"yesterday\""),
            "invalid filter: \"meta.created\" cannot be compared with \"yesterday\": it takes an RFC 3339 date and time such as \"2026-01-31T12:00:00Z\""
        );
        assert_eq!(
            detail("title sw null"),
            "invalid filter: \"title\" cannot be compared with null by \"sw\": only eq and ne take null (\"eq null\": no value; \"ne null\": a value)"
        );
        let groups = parse("displayName eq false")
            .validate(&group_resolver())
            .unwrap_err();
        assert_eq!(groups.scim_type, Some(ScimType::InvalidFilter));
        assert!(groups
            .detail
            .contains("\"displayName\" cannot be compared with false"));
    }

    #[test]
    fn comparison_parses_path_operator_and_string() {
        assert_eq!(
            parse("userName eq \"bjensen\""),
            cmp("userName", CompareOp::Eq, s("bjensen"))
        );
    }

    #[test]
    fn every_operator_parses_in_any_case() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("NE", CompareOp::Ne),
            ("Co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("EW", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("Ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("LE", CompareOp::Le),
        ] {
            assert_eq!(
                parse(&format!("title {word} \"x\"")),
                cmp("title", op, s("x"))
            );
        }
        assert_eq!(
            parse("title PR"),
            Filter::Present(AttrPath::parse("title").unwrap())
        );
    }

    #[test]
    fn literal_values_are_typed() {
        assert_eq!(
            parse("active eq true"),
            cmp("active", CompareOp::Eq, CompValue::Boolean(true))
        );
        assert_eq!(
            parse("active eq FALSE"),
            cmp("active", CompareOp::Eq, CompValue::Boolean(false))
        );
        assert_eq!(
            parse("title eq null"),
            cmp("title", CompareOp::Eq, CompValue::Null)
        );
        assert_eq!(
            parse("x gt 1.5e2"),
            cmp(
                "x",
                CompareOp::Gt,
                CompValue::Number(serde_json::from_str("1.5e2").unwrap())
            )
        );
        assert_eq!(
            parse("x lt -3"),
            cmp("x", CompareOp::Lt, CompValue::Number((-3).into()))
        );
    }

    #[test]
    fn entra_unquoted_value_is_a_string() {
        assert_eq!(
            parse("externalId eq jyoung"),
            cmp("externalId", CompareOp::Eq, s("jyoung"))
        );
    }

    #[test]
    fn string_values_decode_json_escapes() {
        let filter = parse(r#"displayName eq "a \"quoted\" \\ \u00e9\n\/""#);
        assert_eq!(
            filter,
            cmp("displayName", CompareOp::Eq, s("a \"quoted\" \\ \u{e9}\n/"))
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let a = || cmp("a", CompareOp::Eq, s("1"));
        let b = || cmp("b", CompareOp::Eq, s("2"));
        let c = || cmp("c", CompareOp::Eq, s("3"));
        let and = |l: Filter, r: Filter| Filter::And(Box::new(l), Box::new(r));
        let or = |l: Filter, r: Filter| Filter::Or(Box::new(l), Box::new(r));
        assert_eq!(
            parse(r#"a eq "1" or b eq "2" and c eq "3""#),
            or(a(), and(b(), c()))
        );
        assert_eq!(
            parse(r#"a eq "1" and b eq "2" or c eq "3""#),
            or(and(a(), b()), c())
        );
        assert_eq!(
            parse(r#"a eq "1" and (b eq "2" or c eq "3")"#),
            and(a(), or(b(), c()))
        );
        assert_eq!(
            parse(r#"a eq "1" AND b eq "2" Or c eq "3""#),
            or(and(a(), b()), c())
        );
    }

    #[test]
    fn not_binds_tighter_than_and() {
        let filter = parse(r#"not (a eq "1") and b pr"#);
        let Filter::And(left, _) = filter else {
            panic!("{filter:?}")
        };
        assert!(matches!(*left, Filter::Not(_)));
        assert_eq!(
            parse(r#"NOT a eq "1""#),
            Filter::Not(Box::new(cmp("a", CompareOp::Eq, s("1"))))
        );
    }

    #[test]
    fn extra_whitespace_is_tolerated() {
        assert_eq!(
            parse("  ( userName   eq  \"x\" )  and\ttitle pr "),
            parse("userName eq \"x\" and title pr")
        );
    }

    #[test]
    fn value_path_parses_with_its_inner_filter() {
        let filter = parse(r#"emails[type eq "work" and value co "@example.com"]"#);
        let Filter::ValuePath { path, filter } = filter else {
            panic!()
        };
        assert_eq!(path.attr, "emails");
        assert!(matches!(*filter, Filter::And(..)));
    }

    #[test]
    fn sub_attribute_after_value_path_folds_into_the_value_filter() {
        assert_eq!(
            parse(r#"emails[type eq "work"].value eq "x@y""#),
            parse(r#"emails[type eq "work" and value eq "x@y"]"#)
        );
    }

    #[test]
    fn display_reprints_a_normalised_filter_that_parses_back() {
        for (input, printed) in [
            (r#"USERNAME EQ "bjensen""#, r#"USERNAME eq "bjensen""#),
            (
                r#"a eq 1 or (b pr and not(c eq jyoung))"#,
                r#"a eq 1 or b pr and not (c eq "jyoung")"#,
            ),
            (r#"(a pr or b pr) and c pr"#, r#"(a pr or b pr) and c pr"#),
            (r#"a pr and (b pr and c pr)"#, r#"a pr and (b pr and c pr)"#),
            (
                r#"emails[type eq "work"].value co "\"""#,
                r#"emails[type eq "work" and value co "\""]"#,
            ),
            (
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
                r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            ),
        ] {
            let filter = parse(input);
            assert_eq!(filter.to_string(), printed);
            assert_eq!(parse(printed), filter, "{printed}");
        }
    }

    #[test]
    fn every_rfc_7644_example_filter_parses() {
        for text in [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ] {
            parse(text)
                .validate(&user_resolver())
                .unwrap_or_else(|e| panic!("{text}: {}", e.detail));
        }
    }

    #[test]
    fn rfc_7644_example_filters_evaluate_against_a_user() {
        assert!(matches(r#"userName eq "BJENSEN@example.com""#));
        assert!(matches(r#"name.familyName co "o'malley""#));
        assert!(matches(r#"userName sw "bj""#));
        assert!(!matches(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#
        ));
        assert!(matches(r#"title pr"#));
        assert!(!matches(r#"nickName pr"#));
        assert!(matches(r#"meta.lastModified gt "2011-05-13T00:00:00Z""#));
        assert!(matches(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
        assert!(!matches(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
        assert!(matches(r#"meta.lastModified le "2011-05-13T04:42:34Z""#));
        assert!(matches(r#"title pr and userType eq "Employee""#));
        assert!(matches(r#"title pr or userType eq "Intern""#));
        assert!(matches(
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#
        ));
        assert!(matches(
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#
        ));
        assert!(!matches(
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#
        ));
        assert!(matches(
            r#"userType eq "Employee" and (emails.type eq "work")"#
        ));
        assert!(matches(
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#
        ));
        assert!(!matches(
            r#"emails[type eq "home" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
        ));
    }

    #[test]
    fn idp_lookup_filters_parse_and_match() {
        let user = json!({"userName": "Test.User@Okta.Local", "externalId": "jyoung"});
        let user = user.as_object().unwrap();
        let group = json!({"displayName": "Group1"});
        let group = group.as_object().unwrap();
        for (text, resource, resolver, expected) in [
            (
                r#"userName eq "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee""#,
                user,
                user_resolver(),
                false,
            ),
            (
                r#"userName eq "test.user@okta.local""#,
                user,
                user_resolver(),
                true,
            ),
            (
                r#"userName eq "onelogin-test-user01""#,
                user,
                user_resolver(),
                false,
            ),
            (r#"externalId eq jyoung"#, user, user_resolver(), true),
            (r#"externalId eq JYOUNG"#, user, user_resolver(), false),
            (r#"displayName eq "Group1""#, group, group_resolver(), true),
            (
                r#"displayName eq "displayName""#,
                group,
                group_resolver(),
                false,
            ),
        ] {
            let filter = parse(text);
            filter.validate(&resolver).unwrap();
            assert_eq!(filter.matches(resource, &resolver), expected, "{text}");
        }
    }

    #[test]
    fn entra_and_of_equalities_matches_only_when_both_hold() {
        let user = json!({"userName": "a", "externalId": "b"});
        let user = user.as_object().unwrap();
        assert!(parse(r#"userName eq "A" and externalId eq "b""#).matches(user, &user_resolver()));
        assert!(!parse(r#"userName eq "A" and externalId eq "c""#).matches(user, &user_resolver()));
    }

    #[test]
    fn case_exact_attributes_compare_case_sensitively() {
        assert!(matches(r#"externalId eq "Bjensen""#));
        assert!(!matches(r#"externalId eq "bjensen""#));
        assert!(!matches(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
        assert!(matches(r#"title eq "TOUR GUIDE""#));
    }

    #[test]
    fn string_operators_compare_as_the_rfc_describes() {
        assert!(matches(r#"title co "ur gu""#));
        assert!(matches(r#"title sw "TOUR""#));
        assert!(matches(r#"title ew "guide""#));
        assert!(!matches(r#"title ew "tour""#));
        assert!(matches(r#"title ne "Driver""#));
        assert!(!matches(r#"title ne "tour guide""#));
        assert!(matches(r#"title gt "Tour""#));
        assert!(matches(r#"title lt "Zoo""#));
        assert!(matches(r#"title ge "tour guide""#));
        assert!(matches(r#"title le "tour guide""#));
    }

    #[test]
    fn numbers_compare_numerically() {
        assert!(matches(&format!("{METRICS}:loginCount gt 9")));
        assert!(matches(&format!("{METRICS}:loginCount eq 42.0")));
        assert!(matches(&format!("{METRICS}:score lt 10")));
        assert!(!matches(&format!("{METRICS}:score ge 7.6")));
        assert!(matches(&format!("{METRICS}:loginCount le \"42\"")));
        assert!(!matches(&format!("{METRICS}:loginCount co 4")));
    }

    #[test]
    fn date_times_compare_as_instants_across_offsets() {
        assert!(matches(
            r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#
        ));
        assert!(matches(r#"meta.created lt "2010-01-23T05:00:00+00:00""#));
        assert!(!matches(r#"meta.created gt "2010-01-23T06:56:22+01:00""#));
    }

    #[test]
    fn booleans_compare_only_for_equality() {
        assert!(matches("active eq true"));
        assert!(matches(r#"active eq "True""#));
        assert!(!matches("active eq false"));
        assert!(matches("active ne false"));
        let filter = parse("active gt false");
        assert!(!filter.matches(&barbara(), &user_resolver()));
        let err = filter.validate(&user_resolver()).unwrap_err();
        assert!(err.detail.contains("\"gt\" cannot order"), "{}", err.detail);
    }

    #[test]
    fn missing_attributes_match_ne_and_eq_null_only() {
        assert!(matches(r#"nickName ne "x""#));
        assert!(!matches(r#"nickName eq "x""#));
        assert!(matches("nickName eq null"));
        assert!(!matches("title eq null"));
        assert!(matches("title ne null"));
        assert!(!matches(r#"nickName gt "a""#));
    }

    #[test]
    fn presence_requires_a_non_empty_value() {
        let user = json!({"title": "", "emails": [{"type": "work"}], "name": {"givenName": "B"}});
        let user = user.as_object().unwrap();
        let present = |text: &str| parse(text).matches(user, &user_resolver());
        assert!(!present("title pr"));
        assert!(present("emails pr"));
        assert!(!present("emails.value pr"));
        assert!(present("emails.type pr"));
        assert!(present("name pr"));
        assert!(!present("name.familyName pr"));
    }

    #[test]
    fn multi_valued_sub_attribute_matches_when_any_value_matches() {
        assert!(matches(r#"emails.value eq "babs@jensen.org""#));
        assert!(matches(r#"emails.type eq "home""#));
        assert!(!matches(r#"emails.type eq "other""#));
    }

    /// RFC 7644 §3.4.2.2: a comparison on a multi-valued attribute matches
    /// when any value satisfies it, `ne` included; `not (... eq ...)` is
    /// still "none is". With no value at all, nothing satisfies `ne`.
    #[test]
    fn ne_on_a_multi_valued_attribute_matches_when_any_value_differs() {
        assert!(matches(r#"emails.value ne "babs@jensen.org""#));
        assert!(matches(r#"emails ne "babs@jensen.org""#));
        assert!(!matches(r#"not (emails.value eq "babs@jensen.org")"#));
        let check = |resource: Value, text: &str, resolver: &dyn AttributeResolver| {
            parse(text).matches(resource.as_object().unwrap(), resolver)
        };
        let users = user_resolver();
        let one =
            json!({"emails": [{"value": "a@x.org"}], "groups": [{"value": "g1"}, {"value": "g2"}]});
        assert!(!check(one.clone(), r#"emails.value ne "A@x.org""#, &users));
        assert!(check(one.clone(), r#"emails.value ne "b@x.org""#, &users));
        assert!(check(one.clone(), r#"groups.value ne "g1""#, &users));
        assert!(!check(one.clone(), r#"not (groups.value eq "g1")"#, &users));
        let bare = json!({"userName": "x"});
        assert!(!check(bare.clone(), r#"emails.value ne "a@x.org""#, &users));
        assert!(!check(bare.clone(), r#"groups.value ne "g1""#, &users));
        assert!(check(bare.clone(), r#"not (groups.value eq "g1")"#, &users));
        assert!(
            check(bare, r#"title ne "x""#, &users),
            "single-valued: unchanged"
        );
        let groups = group_resolver();
        let with = |ids: &[&str]| json!({"displayName": "g", "members": ids.iter().map(|id| json!({"value": id})).collect::<Vec<_>>()});
        let ne_u = r#"members.value ne "u""#;
        assert!(check(with(&["u", "v"]), ne_u, &groups));
        assert!(!check(with(&["u"]), ne_u, &groups));
        assert!(!check(with(&[]), ne_u, &groups));
        assert!(check(with(&["v"]), ne_u, &groups));
        let not_u = r#"not (members.value eq "u")"#;
        assert!(!check(with(&["u", "v"]), not_u, &groups));
        assert!(check(with(&[]), not_u, &groups));
        // Inside a value filter each element is one value, as before.
        assert!(matches(r#"emails[value ne "babs@jensen.org"]"#));
        assert!(check(
            with(&["u", "v"]),
            r#"members[value ne "u"]"#,
            &groups
        ));
        assert!(!check(with(&["u"]), r#"members[value ne "u"]"#, &groups));
    }

    #[test]
    fn value_path_requires_one_element_to_match_every_condition() {
        assert!(matches(r#"emails[type eq "work" and primary eq true]"#));
        assert!(!matches(r#"emails[type eq "home" and primary eq true]"#));
        assert!(matches(r#"emails[type eq "work"].value ew "example.com""#));
        assert!(!matches(r#"emails[type eq "home"].value ew "example.com""#));
    }

    #[test]
    fn not_negates_its_operand() {
        assert!(matches(r#"not (title eq "x")"#));
        assert!(!matches(r#"not (title pr)"#));
    }

    #[test]
    fn extension_attributes_match_qualified_and_unqualified() {
        assert!(matches(&format!(
            r#"{ENTERPRISE}:employeeNumber eq "701984""#
        )));
        assert!(matches(&format!(
            r#"{ENTERPRISE}:manager.value eq "26118915""#
        )));
        assert!(matches(r#"manager eq "26118915""#));
        assert!(!matches(r#"department pr"#));
    }

    #[test]
    fn canonicalize_rewrites_names_for_translation() {
        let filter = parse(
            r#"USERNAME eq "x" and EMAILS[TYPE eq "work"] and urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:DEPARTMENT pr"#,
        );
        let canonical = filter.canonicalize(&user_resolver()).unwrap();
        assert_eq!(
            canonical.to_string(),
            format!(r#"userName eq "x" and emails[type eq "work"] and {ENTERPRISE}:department pr"#)
        );
    }

    #[test]
    fn validate_names_unknown_attributes() {
        for (text, named) in [
            (r#"nosuch eq "x""#, "\"nosuch\""),
            (r#"name.nosuch pr"#, "\"name.nosuch\""),
            (r#"emails[kind eq "work"]"#, "\"emails.kind\""),
            (r#"title[value eq "x"]"#, "\"title\""),
            (r#"emails[type[value eq "x"]]"#, "cannot nest"),
            (r#"name eq "x""#, "needs a sub-attribute"),
        ] {
            let err = parse(text).validate(&user_resolver()).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidFilter));
            assert!(err.detail.contains(named), "{text}: {}", err.detail);
        }
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        assert_eq!(
            error(r#"userName eqq "bjensen""#),
            r#"invalid filter at 9: expected a comparison operator after "userName", found "eqq""#
        );
        assert_eq!(
            error(r#"userName eq"#),
            r#"invalid filter at 11: expected a value after "eq", found the end of the filter"#
        );
        assert_eq!(
            error(r#"(userName pr"#),
            r#"invalid filter at 12: expected ")" to close the "(" at 0, found the end of the filter"#
        );
        assert_eq!(
            error(r#"userName pr title pr"#),
            r#"invalid filter at 12: expected "and", "or" or the end of the filter, found "title""#
        );
        assert_eq!(
            error(r#"title eq "abc"#),
            "invalid filter at 9: unterminated string"
        );
        assert!(error(r#"title eq "\q""#).starts_with("invalid filter at 9: invalid string"));
        assert_eq!(error("   "), "invalid filter at 0: the filter is empty");
        assert_eq!(
            error(r#"userName pr and"#),
            r#"invalid filter at 15: expected an attribute path, found the end of the filter"#
        );
        assert_eq!(
            error(r#"emails[type eq "work""#),
            r#"invalid filter at 21: expected "]" to close the "[" of "emails" at 6, found the end of the filter"#
        );
        assert!(
            error(r#"1user eq "x""#).starts_with("invalid filter at 0: expected an attribute name")
        );
        assert!(error(r#"title eq "x")"#).contains("found \")\""));
    }

    #[test]
    fn filters_longer_than_the_limit_are_rejected() {
        let long = format!("title eq \"{}\"", "x".repeat(MAX_FILTER_LEN));
        assert!(error(&long).contains("the limit is 4096"));
        let fits = format!("title eq \"{}\"", "x".repeat(MAX_FILTER_LEN - 12));
        assert!(Filter::parse(&fits).is_ok());
    }

    #[test]
    fn filters_nested_deeper_than_the_limit_are_rejected() {
        let nested = |depth: usize| format!("{}title pr{}", "(".repeat(depth), ")".repeat(depth));
        assert!(Filter::parse(&nested(MAX_FILTER_DEPTH)).is_ok());
        assert!(error(&nested(MAX_FILTER_DEPTH + 1)).contains("nested deeper than 32 levels"));
        let nots = format!("{}title pr", "not ".repeat(MAX_FILTER_DEPTH + 1));
        assert!(error(&nots).contains("nested deeper than 32 levels"));
    }
}
