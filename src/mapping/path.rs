//! SCIM attribute paths as rules write them (`userName`, `name.givenName`,
//! `emails[type eq "work"].value`, `enterprise:department`, or with the full
//! schema URN), checked against the catalog, and read from a SCIM user.

use std::fmt;

use serde_json::{Map, Value};

use crate::scim::attributes::AttrType;
use crate::scim::resource::Unassigned;

use super::catalog::{starts_with_ignoring_case, AttrDef, Catalog, SchemaDef};
use super::error::{closest, did_you_mean};
use super::schema::is_attribute_name;

/// A checked path to one kind of value in a SCIM user.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScimPath {
    /// The schema URN, as the catalog spells it.
    pub schema: String,
    pub core: bool,
    /// The attribute, as its schema spells it.
    pub attr: String,
    pub filter: Option<ValueFilter>,
    pub sub: Option<String>,
    /// The type of the values the path names.
    pub kind: AttrType,
    /// The attribute holds a list.
    pub multi_valued: bool,
    pub complex: bool,
    /// Nobody may read it back (`password`).
    pub write_only: bool,
}

/// `[type eq "work"]`: selects the elements of a multi-valued attribute
/// whose sub-attribute equals a value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ValueFilter {
    pub attr: String,
    pub value: Value,
}

/// Which element of a multi-valued attribute feeds a single-valued field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Preference {
    /// The element marked `primary: true`.
    Primary,
    /// The first element of this `type`.
    Type(String),
}

/// Why a path was refused, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathError {
    pub problem: String,
    pub hint: Option<String>,
}

fn refuse(problem: impl Into<String>, hint: Option<String>) -> PathError {
    PathError {
        problem: problem.into(),
        hint,
    }
}

/// Attributes every resource carries, owned by the bridge.
const BRIDGE_OWNED: [&str; 4] = ["id", "meta", "schemas", "groups"];

impl ScimPath {
    pub fn parse(text: &str, catalog: &Catalog) -> Result<ScimPath, PathError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(refuse(
                "the SCIM path is empty",
                Some("write an attribute such as `userName`".into()),
            ));
        }
        let (schema, prefix, rest) = split_schema(text, catalog)?;
        let name_end = rest.find(['[', '.']).unwrap_or(rest.len());
        let (name, mut tail) = rest.split_at(name_end);
        let Some(attr) = schema.attr(name) else {
            return Err(unknown_attribute(text, prefix, rest, schema, catalog));
        };
        let filter = match tail.strip_prefix('[') {
            Some(inside) => {
                let close = closing_bracket(inside)
                    .ok_or_else(|| refuse(format!("\"{text}\" has a `[` without its `]`"), None))?;
                tail = inside.get(close + 1..).unwrap_or("");
                Some(parse_filter(inside.get(..close).unwrap_or(""), attr, text)?)
            }
            None => None,
        };
        let sub = match tail.strip_prefix('.') {
            Some(sub_name) => Some(find_sub(sub_name, attr, prefix, text)?),
            None if tail.is_empty() => None,
            None => {
                return Err(refuse(
                    format!("unexpected \"{tail}\" at the end of \"{text}\""),
                    Some("a path is `attribute`, `attribute.subAttribute` or `attribute[type eq \"work\"].subAttribute`".into()),
                ))
            }
        };
        check_shape(attr, sub.as_ref(), text)?;
        Ok(ScimPath {
            schema: schema.urn.clone(),
            core: schema.is_core(),
            attr: attr.name.clone(),
            filter,
            kind: sub.as_ref().map_or(attr.kind, |s| s.kind),
            sub: sub.map(|s| s.name.clone()),
            multi_valued: attr.multi_valued,
            complex: attr.kind == AttrType::Complex,
            write_only: attr.write_only,
        })
    }

    /// Whether every key this path puts in a SCIM user (schema URN,
    /// attribute, sub-attribute, filter attribute) is written in JSON as it
    /// is: no `"`, `\\` or control character.
    pub fn has_plain_keys(&self) -> bool {
        let plain = |key: &str| !key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        plain(&self.schema)
            && plain(&self.attr)
            && self.sub.as_deref().is_none_or(plain)
            && self.filter.as_ref().is_none_or(|f| plain(&f.attr))
    }

    /// A path into a list of objects (`emails.value`), as opposed to a
    /// plain list (a multi-valued custom string).
    pub fn is_plural_complex(&self) -> bool {
        self.multi_valued && self.complex
    }

    /// Whether a PUT body unassigned the values this path names.
    pub fn unassigned_by(&self, unassigned: &Unassigned) -> bool {
        unassigned.covers(&self.schema, &self.attr, self.sub.as_deref())
    }

    /// Does this path name `attr[.sub]` of `schema` (`None` = core)?
    /// Names compare ignoring case; a bare multi-valued complex attribute
    /// stands for its `value`, as in SCIM filters.
    pub fn names(&self, schema: Option<&str>, attr: &str, sub: Option<&str>) -> bool {
        let schema_matches = schema.map_or(self.core, |s| s.eq_ignore_ascii_case(&self.schema));
        let sub = sub.or(self.is_plural_complex().then_some("value"));
        let sub_matches = match (sub, &self.sub) {
            (None, None) => true,
            (Some(wanted), Some(own)) => wanted.eq_ignore_ascii_case(own),
            _ => false,
        };
        schema_matches && attr.eq_ignore_ascii_case(&self.attr) && sub_matches
    }

    /// The values this path names in a SCIM user, in order. With
    /// `pick`, a multi-valued attribute yields only its preferred element.
    pub fn values(&self, user: &Map<String, Value>, pick: Option<&[Preference]>) -> Vec<Value> {
        let container = if self.core {
            Some(user)
        } else {
            get(user, &self.schema).and_then(Value::as_object)
        };
        let Some(value) = container.and_then(|c| get(c, &self.attr)) else {
            return Vec::new();
        };
        let found: Vec<&Value> = match (&self.sub, value) {
            (None, Value::Array(items)) => match pick {
                Some(_) => items.iter().take(1).collect(),
                None => items.iter().collect(),
            },
            (None, single) => vec![single],
            (Some(sub), _) => {
                let elements = self.elements(value);
                let with_sub: Vec<&Map<String, Value>> = elements
                    .into_iter()
                    .filter(|e| get(e, sub).is_some_and(|v| !v.is_null()))
                    .collect();
                let chosen = match pick {
                    Some(preferences) => preferred(&with_sub, preferences).into_iter().collect(),
                    None => with_sub,
                };
                chosen.into_iter().filter_map(|e| get(e, sub)).collect()
            }
        };
        found
            .into_iter()
            .filter(|v| !v.is_null())
            .cloned()
            .collect()
    }

    /// The objects of a complex attribute that pass the filter. A lone
    /// object where a list belongs is taken as a list of one (OneLogin).
    fn elements<'u>(&self, value: &'u Value) -> Vec<&'u Map<String, Value>> {
        let all: Vec<&Map<String, Value>> = match value {
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            Value::Object(single) => vec![single],
            _ => Vec::new(),
        };
        all.into_iter()
            .filter(|e| self.filter.as_ref().is_none_or(|f| f.matches(e)))
            .collect()
    }
}

impl ValueFilter {
    fn matches(&self, element: &Map<String, Value>) -> bool {
        get(element, &self.attr).is_some_and(|v| loosely_equal(v, &self.value))
    }
}

/// SCIM's default comparison: strings ignore case (RFC 7643 §2.1,
/// `caseExact` false), booleans may arrive as strings.
pub(super) fn loosely_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y),
        (Value::String(s), Value::Bool(b)) | (Value::Bool(b), Value::String(s)) => {
            s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        _ => a == b,
    }
}

fn preferred<'e>(
    elements: &[&'e Map<String, Value>],
    preferences: &[Preference],
) -> Option<&'e Map<String, Value>> {
    preferences
        .iter()
        .find_map(|preference| {
            elements.iter().copied().find(|e| match preference {
                Preference::Primary => {
                    get(e, "primary").is_some_and(|p| loosely_equal(p, &Value::Bool(true)))
                }
                Preference::Type(wanted) => {
                    get(e, "type").is_some_and(|t| loosely_equal(t, &Value::String(wanted.clone())))
                }
            })
        })
        .or_else(|| elements.first().copied())
}

/// A member of a SCIM object, by exact name first, then ignoring case.
pub(super) fn get<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

impl fmt::Display for ScimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.core {
            write!(f, "{}:", self.schema)?;
        }
        f.write_str(&self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{} eq {}]", filter.attr, filter.value)?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// The schema a path names, the prefix as written (`enterprise:`), and the rest.
fn split_schema<'t, 'c>(
    text: &'t str,
    catalog: &'c Catalog,
) -> Result<(&'c SchemaDef, &'t str, &'t str), PathError> {
    let core = catalog.core();
    if starts_with_ignoring_case(text, "urn:") {
        return match catalog.by_urn_prefix(text) {
            Some((schema, split)) => Ok((
                schema,
                text.get(..split).unwrap_or(""),
                text.get(split..).unwrap_or(""),
            )),
            None => Err(refuse(
                format!("\"{text}\" does not start with a known schema URN"),
                Some(format!(
                    "declare the schema under `schemas:`, or use one of: {}",
                    known_prefixes(catalog)
                )),
            )),
        };
    }
    let head_end = text.find(['[', '.']).unwrap_or(text.len());
    match text.get(..head_end).unwrap_or(text).split_once(':') {
        Some((alias, _)) => {
            let schema = catalog.by_alias(alias).ok_or_else(|| {
                let hint = did_you_mean(alias, catalog.aliases())
                    .unwrap_or_else(|| format!("known prefixes: {}", known_prefixes(catalog)));
                refuse(format!("unknown schema prefix \"{alias}:\""), Some(hint))
            })?;
            let split = alias.len() + 1;
            Ok((
                schema,
                text.get(..split).unwrap_or(""),
                text.get(split..).unwrap_or(""),
            ))
        }
        None => Ok((core, "", text)),
    }
}

fn known_prefixes(catalog: &Catalog) -> String {
    catalog
        .aliases()
        .iter()
        .map(|a| format!("`{a}:`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_attribute(
    text: &str,
    prefix: &str,
    rest: &str,
    schema: &SchemaDef,
    catalog: &Catalog,
) -> PathError {
    let name = rest.split(['[', '.']).next().unwrap_or(rest);
    if schema.is_core() && BRIDGE_OWNED.iter().any(|o| o.eq_ignore_ascii_case(name)) {
        return refuse(
            format!("\"{name}\" is managed by the bridge, not by the mapping"),
            Some(match name {
                "groups" => "group membership comes from the `groups:` section".to_string(),
                _ => "delete this rule".to_string(),
            }),
        );
    }
    if !is_attribute_name(name) {
        return refuse(
            format!("\"{text}\" is not a SCIM attribute path"),
            Some("a path is `attribute`, `attribute.subAttribute` or `attribute[type eq \"work\"].subAttribute`".into()),
        );
    }
    let local: Vec<String> = schema
        .attrs
        .iter()
        .flat_map(|a| {
            if a.subs.is_empty() {
                vec![a.name.clone()]
            } else {
                a.subs
                    .iter()
                    .map(|s| format!("{}.{}", a.name, s.name))
                    .collect()
            }
        })
        .collect();
    let without_filter = match (rest.split_once('['), rest.rsplit_once(']')) {
        (Some((before, _)), Some((_, after))) => format!("{before}{after}"),
        _ => rest.to_string(),
    };
    let hint = closest(&without_filter, local.iter().map(String::as_str))
        .map(|best| format!("did you mean \"{prefix}{best}\"?"))
        .or_else(|| elsewhere(name, schema, catalog));
    refuse(format!("unknown SCIM attribute \"{text}\""), hint)
}

/// `department is in the enterprise extension: write enterprise:department`.
fn elsewhere(name: &str, schema: &SchemaDef, catalog: &Catalog) -> Option<String> {
    catalog
        .spellings()
        .into_iter()
        .find(|spelling| {
            let attr_part = spelling.rsplit(':').next().unwrap_or(spelling);
            let top = attr_part.split('.').next().unwrap_or(attr_part);
            top.eq_ignore_ascii_case(name) && *spelling != schema.qualified(top)
        })
        .map(|spelling| {
            let top = spelling.split('.').next().unwrap_or(&spelling).to_string();
            format!("\"{name}\" belongs to another schema: write \"{top}\"")
        })
}

/// The index of the `]` that closes a filter, skipping quoted text.
fn closing_bracket(inside: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inside.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ']' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_filter(inside: &str, attr: &AttrDef, text: &str) -> Result<ValueFilter, PathError> {
    if !(attr.multi_valued && attr.kind == AttrType::Complex) {
        return Err(refuse(
            format!(
                "\"{}\" is not a list of objects, so it takes no [filter]",
                attr.name
            ),
            Some(format!("write \"{}\" without the brackets", attr.name)),
        ));
    }
    let usage = format!(
        "select elements with `{}[type eq \"work\"]`: one sub-attribute, `eq`, and a quoted value or true/false",
        attr.name
    );
    let mut words = inside.trim().splitn(3, char::is_whitespace);
    let (Some(sub_name), Some(op), Some(literal)) = (words.next(), words.next(), words.next())
    else {
        return Err(refuse(
            format!("cannot read the filter in \"{text}\""),
            Some(usage),
        ));
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(refuse(
            format!(
                "the filter in \"{text}\" uses `{op}`; a mapping selects elements with `eq` only"
            ),
            Some(usage),
        ));
    }
    let sub = attr.sub(sub_name).ok_or_else(|| {
        let names: Vec<&str> = attr.subs.iter().map(|s| s.name.as_str()).collect();
        let hint = did_you_mean(sub_name, names.iter().copied())
            .unwrap_or_else(|| format!("{} has: {}", attr.name, names.join(", ")));
        refuse(
            format!("\"{}\" has no sub-attribute \"{sub_name}\"", attr.name),
            Some(hint),
        )
    })?;
    let literal = literal.trim();
    let value = match literal {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        quoted if quoted.starts_with('"') => serde_json::from_str::<String>(quoted)
            .map(Value::String)
            .map_err(|_| {
                refuse(
                    format!("the quoted value in \"{text}\" is not closed properly"),
                    Some(usage.clone()),
                )
            })?,
        bare => {
            return Err(refuse(
                format!("the value `{bare}` in \"{text}\" needs quotes"),
                Some(format!("write `{}[{} eq \"{bare}\"]`", attr.name, sub.name)),
            ))
        }
    };
    Ok(ValueFilter {
        attr: sub.name.clone(),
        value,
    })
}

fn find_sub<'a>(
    name: &str,
    attr: &'a AttrDef,
    prefix: &str,
    text: &str,
) -> Result<&'a AttrDef, PathError> {
    if attr.subs.is_empty() {
        return Err(refuse(
            format!("\"{}\" has no sub-attributes", attr.name),
            Some(format!("write \"{prefix}{}\"", attr.name)),
        ));
    }
    attr.sub(name).ok_or_else(|| {
        let names: Vec<&str> = attr.subs.iter().map(|s| s.name.as_str()).collect();
        let hint = match closest(name, names.iter().copied()) {
            Some(best) => format!(
                "did you mean \"{}\"?",
                text.replacen(&format!(".{name}"), &format!(".{best}"), 1)
            ),
            None => format!("{} has: {}", attr.name, names.join(", ")),
        };
        refuse(format!("unknown SCIM attribute \"{text}\""), Some(hint))
    })
}

fn check_shape(attr: &AttrDef, sub: Option<&&AttrDef>, text: &str) -> Result<(), PathError> {
    if attr.kind != AttrType::Complex || sub.is_some() {
        return Ok(());
    }
    let examples: Vec<String> = attr
        .subs
        .iter()
        .take(3)
        .map(|s| format!("{text}.{}", s.name))
        .collect();
    let what = if attr.multi_valued {
        "is a list of objects"
    } else {
        "is an object"
    };
    Err(refuse(
        format!("\"{text}\" {what}, not a single value"),
        Some(format!(
            "name one of its sub-attributes, such as {}",
            examples.join(", ")
        )),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_with_quotes_backslashes_or_controls_are_not_plain() {
        let path = parse("emails[type eq \"work\"].value").expect("a path");
        assert!(path.has_plain_keys());
        for odd in ["a\"b", "a\\b", "a\u{1}b"] {
            let mut with = path.clone();
            with.attr = odd.into();
            assert!(!with.has_plain_keys(), "{odd:?}");
            let mut with = path.clone();
            with.sub = Some(odd.into());
            assert!(!with.has_plain_keys(), "{odd:?}");
            let mut with = path.clone();
            with.schema = odd.into();
            assert!(!with.has_plain_keys(), "{odd:?}");
            let mut with = path.clone();
            if let Some(filter) = &mut with.filter {
                filter.attr = odd.into();
            }
            assert!(!with.has_plain_keys(), "{odd:?}");
        }
    }

    fn parse(text: &str) -> Result<ScimPath, PathError> {
        ScimPath::parse(text, &Catalog::new(&[]))
    }

    #[test]
    fn filtered_path_is_read_with_canonical_spelling() {
        let path = parse("Emails[Type eq \"work\"].VALUE").expect("valid");
        assert_eq!(path.to_string(), "emails[type eq \"work\"].value");
    }

    #[test]
    fn enterprise_alias_and_full_urn_name_the_same_attribute() {
        let short = parse("enterprise:department").expect("alias");
        let long = parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department")
            .expect("urn");
        assert_eq!(short, long);
    }

    #[test]
    fn a_typo_in_a_sub_attribute_suggests_the_right_one() {
        let err = parse("name.givenNam").expect_err("typo");
        assert_eq!(err.problem, "unknown SCIM attribute \"name.givenNam\"");
        assert_eq!(
            err.hint.as_deref(),
            Some("did you mean \"name.givenName\"?")
        );
    }

    #[test]
    fn an_enterprise_attribute_written_as_core_points_to_its_schema() {
        let err = parse("department").expect_err("not core");
        assert_eq!(
            err.hint.as_deref(),
            Some("\"department\" belongs to another schema: write \"enterprise:department\"")
        );
    }

    #[test]
    fn a_bare_complex_attribute_asks_for_a_sub_attribute() {
        let err = parse("emails").expect_err("complex");
        assert!(err.hint.is_some_and(|h| h.contains("emails.value")));
    }

    #[test]
    fn filter_with_an_unquoted_value_is_refused_with_the_quoted_form() {
        let err = parse("phoneNumbers[type eq mobile].value").expect_err("unquoted");
        assert_eq!(
            err.hint.as_deref(),
            Some("write `phoneNumbers[type eq \"mobile\"]`")
        );
    }

    #[test]
    fn values_pick_primary_then_type_then_first() {
        let path = parse("emails.value").expect("valid");
        let prefs = [Preference::Primary, Preference::Type("work".into())];
        let user = |emails: Value| {
            json!({ "emails": emails })
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        let both =
            user(json!([{"value": "h@x", "type": "home"}, {"value": "p@x", "primary": true}]));
        assert_eq!(path.values(&both, Some(&prefs)), vec![json!("p@x")]);
        let typed =
            user(json!([{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "Work"}]));
        assert_eq!(path.values(&typed, Some(&prefs)), vec![json!("w@x")]);
        let plain = user(json!([{"value": "a@x"}, {"value": "b@x"}]));
        assert_eq!(path.values(&plain, Some(&prefs)), vec![json!("a@x")]);
        assert_eq!(path.values(&plain, None).len(), 2);
    }

    #[test]
    fn values_follow_the_filter_and_read_extension_objects() {
        let user = json!({
            "phoneNumbers": [{"value": "1", "type": "work"}, {"value": "2", "type": "mobile"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m-1"}}
        });
        let user = user.as_object().cloned().unwrap_or_default();
        let mobile = parse("phoneNumbers[type eq \"mobile\"].value").expect("valid");
        assert_eq!(mobile.values(&user, None), vec![json!("2")]);
        let manager = parse("enterprise:manager.value").expect("valid");
        assert_eq!(manager.values(&user, None), vec![json!("m-1")]);
    }
}
