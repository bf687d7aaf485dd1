//! Parses the body of a POST or PUT into the canonical resource: attribute
//! names in schema spelling, extension attributes under their canonical URN,
//! multi-valued attributes as arrays, booleans as booleans, and nothing
//! unassigned.
//!
//! Tolerance, because IdPs deviate (each case is named in the tests):
//! - `null`, `""`, `[]` and `{}` count as unassigned (RFC 7643 §2.5) and are
//!   dropped, so an empty string never reaches the store as a value;
//! - attributes no schema of the resource type declares, and read-only ones
//!   (`id`, `meta`, `groups`) that IdPs echo, are dropped silently; `schemas`
//!   is dropped because the server renders its own;
//! - `"True"`/`"False"` in any case become booleans; a single value for a
//!   multi-valued attribute becomes a one-element array, and a one-element
//!   array for a single-valued one becomes its element; a bare value for a
//!   complex attribute with a `value` sub-attribute (Entra's `manager`)
//!   becomes `{"value": ..}`.
//!
//! A value of the wrong JSON type for a known attribute is an error.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::scim::attributes::{AttrType, AttributeResolver, Mutability};
use crate::scim::error::ScimError;
use crate::scim::schema::{AttributeDef, ResourceSchema, SchemaDef};

/// Parses an incoming resource body against the schemas of its resource type.
pub fn parse_resource(
    body: &Value,
    schema: &ResourceSchema,
) -> Result<Map<String, Value>, ScimError> {
    parse_replacement(body, schema).map(|replacement| replacement.resource)
}

/// The body of a PUT: the canonical resource, and what the body unassigns
/// on purpose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replacement {
    pub resource: Map<String, Value>,
    pub unassigned: Unassigned,
}

/// The writable attributes a body carries without a value (`null`, `""`,
/// `[]`, `{}`): RFC 7644 §3.5.1 lets a PUT "specify "null" for a
/// single-valued attribute, or an empty array "[]" for a multi-valued
/// attribute, to clear all values", where an attribute left out may keep
/// the server's value. Read-only attributes (`groups`, `id`) are not here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unassigned(Vec<UnassignedAttr>);

/// One attribute a body unassigns: a whole extension (`attr` `None`), an
/// attribute, or one sub-attribute of a single-valued complex one
/// (`"name": {"givenName": null}`). Names as the schema spells them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnassignedAttr {
    pub schema: String,
    pub attr: Option<String>,
    pub sub: Option<String>,
}

impl Unassigned {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the body unassigned the value at `attr[.sub]` of `schema`
    /// (itself, or an attribute or extension holding it). Names compare
    /// ignoring case.
    pub fn covers(&self, schema: &str, attr: &str, sub: Option<&str>) -> bool {
        self.0.iter().any(|u| {
            u.schema.eq_ignore_ascii_case(schema)
                && u.attr
                    .as_deref()
                    .is_none_or(|a| a.eq_ignore_ascii_case(attr))
                && u.sub
                    .as_deref()
                    .is_none_or(|s| sub.is_some_and(|own| own.eq_ignore_ascii_case(s)))
        })
    }

    fn push(&mut self, schema: &str, attr: Option<&str>, sub: Option<&str>) {
        self.0.push(UnassignedAttr {
            schema: schema.to_string(),
            attr: attr.map(str::to_string),
            sub: sub.map(str::to_string),
        });
    }
}

/// [`parse_resource`], keeping what the body unassigns (see [`Unassigned`]).
pub fn parse_replacement(body: &Value, schema: &ResourceSchema) -> Result<Replacement, ScimError> {
    let members = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("the resource must be a JSON object"))?;
    let mut parsed = Parsed::default();
    let mut named = NamedOnce::default();
    for (key, value) in members {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(target) = schema.schema(key) {
            let members = extension_members(target, value)?;
            if members.is_empty() && target.id != schema.core().id {
                parsed.unassigned.push(&target.id, None, None);
            }
            for (name, value) in members {
                named.resource_key(schema, target, name, value, || {
                    format!("\"{}\" inside \"{}\"", spelled_key(name), spelled_key(key))
                })?;
                parsed.put(schema, target, name, value)?;
            }
        } else if let Some((target, name)) = schema.split_qualified(key) {
            named.resource_key(schema, target, name, value, || {
                format!("\"{}\"", spelled_key(key))
            })?;
            parsed.put(schema, target, name, value)?;
        } else {
            named.resource_key(schema, schema.core(), key, value, || {
                format!("\"{}\"", spelled_key(key))
            })?;
            parsed.put(schema, schema.core(), key, value)?;
        }
    }
    let unassigned = std::mem::take(&mut parsed.unassigned);
    let resource = parsed.finish(schema)?;
    refuse_several_primaries(&resource, None)?;
    Ok(Replacement {
        resource,
        unassigned,
    })
}

/// The attributes one JSON object names, however each is spelled: a bare
/// name (`displayName`), the URN-qualified name
/// (`urn:ietf:params:scim:schemas:core:2.0:User:displayName`), a member of
/// the schema's URN object (`"urn:…:User": {"displayName": …}`), and a
/// dotted path (`name.givenName`) or the sub-attribute of the complex
/// attribute (`"name": {"givenName": …}`) all name one attribute (RFC 7644
/// §3.10, §3.5.2). Two of them in one object would leave one value to be
/// dropped silently; they are refused (`invalidSyntax`), naming the
/// attribute, before anything is written.
///
/// The spellings are resolved as the parser of a POST or PUT body
/// ([`parse_replacement`]) and of a PATCH value (`patch::apply_fields`)
/// resolve them. A repeat in the same spelling, or in another case, is
/// refused earlier, where the body is read (`http::json_body`).
#[derive(Debug, Default)]
pub(crate) struct NamedOnce {
    /// How the object first spelled each part of an attribute.
    given: HashMap<(String, String, Part), String>,
}

/// What of an attribute a key names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Part {
    /// The attribute itself.
    Whole,
    /// One sub-attribute (lower-cased): by a dotted path, or as a member
    /// of the complex attribute's object.
    Sub(String),
    /// Every sub-attribute: the attribute given with a value that is not
    /// an object of sub-attributes (`null`, a list).
    EverySub,
    /// Some sub-attribute, given alone by a dotted path.
    SomeSub,
}

/// One attribute a key names, canonical names as the schema spells them.
pub(crate) struct Naming<'a> {
    /// The URN of the attribute's schema.
    pub schema: &'a str,
    pub is_core: bool,
    pub attr: &'a str,
    /// A sub-attribute, when the key is a dotted path to it.
    pub sub: Option<&'a str>,
}

impl Naming<'_> {
    /// How a detail names the attribute (or its sub-attribute `sub`).
    fn shown(&self, sub: Option<&str>) -> String {
        let path = match sub {
            Some(sub) => format!("{}.{sub}", self.attr),
            None => self.attr.to_string(),
        };
        match self.is_core {
            true => path,
            false => format!("{}:{path}", self.schema),
        }
    }
}

impl NamedOnce {
    /// Records one key of the object: it names `naming`, and was spelled
    /// as `spelled` says. `subs`, when the key names a single-valued
    /// complex attribute whole and its value is an object: the
    /// sub-attributes that object sets (canonical name, and the key that
    /// spelled it). Any other value (`null`, an empty object) sets every
    /// sub-attribute.
    pub(crate) fn name(
        &mut self,
        naming: &Naming<'_>,
        subs: Option<&[(&str, &str)]>,
        spelled: &dyn Fn() -> String,
    ) -> Result<(), ScimError> {
        match (naming.sub, subs) {
            (Some(sub), _) => {
                self.conflicts(naming, &Part::EverySub, Some(sub), spelled)?;
                self.once(
                    naming,
                    Part::Sub(sub.to_ascii_lowercase()),
                    Some(sub),
                    spelled,
                )?;
                self.mark(naming, Part::SomeSub, spelled);
            }
            (None, Some(subs)) if !subs.is_empty() => {
                self.once(naming, Part::Whole, None, spelled)?;
                for (sub, key) in subs {
                    let inside = || format!("\"{}\" inside {}", spelled_key(key), spelled());
                    self.once(
                        naming,
                        Part::Sub(sub.to_ascii_lowercase()),
                        Some(sub),
                        &inside,
                    )?;
                }
                self.mark(naming, Part::SomeSub, spelled);
            }
            (None, _) => {
                self.once(naming, Part::Whole, None, spelled)?;
                self.conflicts(naming, &Part::SomeSub, None, spelled)?;
                self.mark(naming, Part::EverySub, spelled);
            }
        }
        Ok(())
    }

    /// [`Self::name`] for a key of a POST or PUT body, or of its schema's
    /// URN object: `name` (bare, or the rest of a URN-qualified key, maybe
    /// a dotted path) in `target`, as [`Parsed::put`] resolves it. A name
    /// no schema declares names nothing (the parser drops it).
    fn resource_key(
        &mut self,
        schema: &ResourceSchema,
        target: &SchemaDef,
        name: &str,
        value: &Value,
        spelled: impl Fn() -> String,
    ) -> Result<(), ScimError> {
        let (owner, attr, sub) = match schema.attribute(Some(&target.id), name) {
            Some((owner, attr)) => (owner, attr, None),
            None => {
                let Some((attr, sub)) = name.split_once('.') else {
                    return Ok(());
                };
                let Some((owner, attr)) = schema.attribute(Some(&target.id), attr) else {
                    return Ok(());
                };
                let Some(sub) = attr.sub_attribute(sub) else {
                    return Ok(());
                };
                (owner, attr, Some(sub.name.as_str()))
            }
        };
        let subs: Option<Vec<(&str, &str)>> = match value {
            Value::Object(members) if attr.kind == AttrType::Complex && !attr.multi_valued => Some(
                members
                    .keys()
                    .filter_map(|key| Some((attr.sub_attribute(key)?.name.as_str(), key.as_str())))
                    .collect(),
            ),
            _ => None,
        };
        let naming = Naming {
            schema: &owner.id,
            is_core: owner.id == schema.core().id,
            attr: &attr.name,
            sub,
        };
        self.name(&naming, subs.as_deref(), &spelled)
    }

    /// Records `part` of the attribute, refusing it when the object named
    /// it already.
    fn once(
        &mut self,
        naming: &Naming<'_>,
        part: Part,
        sub: Option<&str>,
        spelled: &dyn Fn() -> String,
    ) -> Result<(), ScimError> {
        self.conflicts(naming, &part, sub, spelled)?;
        self.mark(naming, part, spelled);
        Ok(())
    }

    /// Refuses the attribute when the object named `part` of it already.
    fn conflicts(
        &self,
        naming: &Naming<'_>,
        part: &Part,
        sub: Option<&str>,
        spelled: &dyn Fn() -> String,
    ) -> Result<(), ScimError> {
        match self.given.get(&Self::key(naming, part.clone())) {
            Some(first) => Err(given_twice(&naming.shown(sub), first, &spelled())),
            None => Ok(()),
        }
    }

    fn mark(&mut self, naming: &Naming<'_>, part: Part, spelled: &dyn Fn() -> String) {
        self.given
            .entry(Self::key(naming, part))
            .or_insert_with(spelled);
    }

    fn key(naming: &Naming<'_>, part: Part) -> (String, String, Part) {
        (
            naming.schema.to_ascii_lowercase(),
            naming.attr.to_ascii_lowercase(),
            part,
        )
    }
}

/// A key of a body as a detail spells it. A key that resolves to an
/// attribute is made of the schema's names (in any case), so it is short;
/// cut all the same, should it not be.
pub(crate) fn spelled_key(key: &str) -> std::borrow::Cow<'_, str> {
    crate::untrusted::cut(key, 160)
}

/// One attribute named twice in one object, in two spellings.
fn given_twice(attribute: &str, first: &str, second: &str) -> ScimError {
    ScimError::invalid_syntax(format!(
        "the attribute \"{attribute}\" is given twice, as {first} and as {second}: a bare name, \
         the URN-qualified name, its schema's URN object and a dotted path all name one attribute \
         (RFC 7644 §3.10), so give it once"
    ))
}

/// RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more
/// than once" in a multi-valued attribute, core or extension.
///
/// The one check of the rule, for every way a resource is written: a POST or
/// PUT body (`before` is `None`), and the result of a PATCH (`before` is the
/// resource it was applied to). An attribute a PATCH left as it was is not
/// judged: its state is the account's, not the request's.
pub(crate) fn refuse_several_primaries(
    resource: &Map<String, Value>,
    before: Option<&Map<String, Value>>,
) -> Result<(), ScimError> {
    for (name, value) in resource {
        let earlier = before.and_then(|before| before.get(name));
        match value {
            Value::Array(items) if earlier != Some(value) => at_most_one_primary(name, items)?,
            // An extension object: its multi-valued attributes.
            Value::Object(members) if is_urn(name) => {
                let earlier = earlier.and_then(Value::as_object);
                for (member, value) in members {
                    let Value::Array(items) = value else { continue };
                    if earlier.and_then(|e| e.get(member)) != Some(value) {
                        at_most_one_primary(&format!("{name}:{member}"), items)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_urn(key: &str) -> bool {
    key.get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("urn:"))
}

fn at_most_one_primary(name: &str, items: &[Value]) -> Result<(), ScimError> {
    let primaries = items
        .iter()
        .filter(|item| item.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "{name}: {primaries} values are marked primary; at most one may be (RFC 7643 §2.4)"
        )));
    }
    Ok(())
}

/// The members of a URN-keyed object such as `"urn:...:enterprise:2.0:User": {..}`.
fn extension_members<'v>(
    target: &SchemaDef,
    value: &'v Value,
) -> Result<Vec<(&'v str, &'v Value)>, ScimError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(members) => Ok(members.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        other => Err(type_error(&target.id, "an object", other)),
    }
}

/// Attribute values sorted by the schema they belong to.
#[derive(Default)]
struct Parsed {
    core: Map<String, Value>,
    extensions: BTreeMap<String, Map<String, Value>>,
    unassigned: Unassigned,
}

impl Parsed {
    fn put(
        &mut self,
        schema: &ResourceSchema,
        target: &SchemaDef,
        name: &str,
        value: &Value,
    ) -> Result<(), ScimError> {
        let Some((owner, attr)) = schema.attribute(Some(&target.id), name) else {
            return match name.split_once('.') {
                Some((attr, sub)) => self.put_dotted(schema, target, attr, sub, value),
                None => Ok(()),
            };
        };
        if attr.mutability == Mutability::ReadOnly {
            return Ok(());
        }
        let given = value;
        let coerced = coerce(attr, given, &attr.name)?;
        match given.as_object().filter(|members| !members.is_empty()) {
            // `"name": {"givenName": null}`: that sub-attribute alone.
            Some(members) if attr.kind == AttrType::Complex && !attr.multi_valued => {
                for (name, sub_value) in members {
                    let Some(sub) = attr.sub_attribute(name) else {
                        continue;
                    };
                    if sub.mutability != Mutability::ReadOnly
                        && coerce(sub, sub_value, &sub.name)?.is_none()
                    {
                        self.unassigned
                            .push(&owner.id, Some(&attr.name), Some(&sub.name));
                    }
                }
            }
            _ if coerced.is_none() => self.unassigned.push(&owner.id, Some(&attr.name), None),
            _ => {}
        }
        let Some(value) = coerced else {
            return Ok(());
        };
        let members = if owner.id == schema.core().id {
            &mut self.core
        } else {
            self.extensions.entry(owner.id.clone()).or_default()
        };
        match (members.get_mut(&attr.name), value) {
            // Sub-attributes a dotted key gave already (`name.familyName`
            // before `name`): one object.
            (Some(Value::Object(earlier)), Value::Object(given)) => earlier.extend(given),
            (_, value) => {
                members.insert(attr.name.clone(), value);
            }
        }
        Ok(())
    }

    /// A dotted key (`name.givenName`, RFC 7644 §3.10): the sub-attribute
    /// of a single-valued complex attribute, put as `"name": {"givenName":
    /// …}` would be. Unknown names are ignored, as unknown attributes are;
    /// a sub-attribute of a multi-valued attribute names no one value and
    /// is refused rather than dropped.
    fn put_dotted(
        &mut self,
        schema: &ResourceSchema,
        target: &SchemaDef,
        attr: &str,
        sub: &str,
        value: &Value,
    ) -> Result<(), ScimError> {
        let Some((_, def)) = schema.attribute(Some(&target.id), attr) else {
            return Ok(());
        };
        // Unknown, or read-only (`groups.value`): ignored, as the same
        // attribute given whole is (RFC 7643 §7).
        if def.kind != AttrType::Complex
            || def.mutability == Mutability::ReadOnly
            || def
                .sub_attribute(sub)
                .is_none_or(|s| s.mutability == Mutability::ReadOnly)
        {
            return Ok(());
        }
        if def.multi_valued {
            return Err(ScimError::invalid_path(format!(
                "\"{}\" names a sub-attribute of every value of the multi-valued attribute \"{}\": give the values as \"{}\": [{{…}}]",
                spelled_key(&format!("{attr}.{sub}")),
                def.name,
                def.name
            )));
        }
        let mut object = Map::new();
        object.insert(sub.to_string(), value.clone());
        self.put(schema, target, &def.name, &Value::Object(object))
    }

    fn finish(self, schema: &ResourceSchema) -> Result<Map<String, Value>, ScimError> {
        check_required(schema.core(), &self.core)?;
        let mut resource = self.core;
        for (urn, members) in self.extensions {
            if let Some(extension) = schema.schema(&urn) {
                check_required(extension, &members)?;
            }
            resource.insert(urn, Value::Object(members));
        }
        Ok(resource)
    }
}

fn check_required(schema: &SchemaDef, members: &Map<String, Value>) -> Result<(), ScimError> {
    match schema.attributes.iter().find(|a| {
        a.required && a.mutability != Mutability::ReadOnly && !members.contains_key(&a.name)
    }) {
        Some(missing) => Err(required(&missing.name)),
        None => Ok(()),
    }
}

fn required(name: &str) -> ScimError {
    ScimError::invalid_value(format!("{name} is required"))
}

/// A required attribute a PATCH would remove: `mutability`, as the bridge
/// has always answered a removal of `userName` ("not compatible with the
/// target attribute's ... current state", RFC 7644 §3.12).
fn required_removed(name: &str) -> ScimError {
    ScimError::mutability(format!(
        "{name} is required: a PATCH may replace it with a new value but not remove it (nor set it to null or \"\"). Nothing was changed."
    ))
}

/// The `required` rule of a POST or PUT body (see `check_required`) for the
/// result of a PATCH: an attribute the schema requires may not be removed
/// (by `remove`, or by a `replace` with null or ""), whether core or of an
/// extension the result still holds. Attributes the PATCH left as they were
/// are not judged.
pub(crate) fn refuse_removed_required(
    after: &Map<String, Value>,
    before: &Map<String, Value>,
    resolver: &dyn AttributeResolver,
) -> Result<(), ScimError> {
    let removed = |schema: Option<&str>, name: &str| {
        resolver
            .resolve(schema, name)
            .is_some_and(|(_, meta)| meta.required && meta.mutability != Mutability::ReadOnly)
    };
    for (name, value) in before {
        match (value, after.get(name)) {
            // An extension left out whole is one a body need not carry (as
            // `finish` checks only the extensions a body holds).
            (Value::Object(members), Some(Value::Object(later))) if is_urn(name) => {
                if let Some(gone) = members
                    .keys()
                    .find(|member| !later.contains_key(*member) && removed(Some(name), member))
                {
                    return Err(required_removed(gone));
                }
            }
            (Value::Object(_), _) if is_urn(name) => {}
            (_, None) if removed(None, name) => return Err(required_removed(name)),
            _ => {}
        }
    }
    Ok(())
}

/// Coerces one attribute's value; `None` means unassigned. `label` names the
/// attribute in errors (`name.givenName`).
fn coerce(attr: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    match value {
        Value::Array(items) if attr.multi_valued => {
            let mut values = Vec::new();
            for item in items {
                values.extend(coerce_one(attr, item, label)?);
            }
            Ok((!values.is_empty()).then_some(Value::Array(values)))
        }
        Value::Array(items) if items.len() <= 1 => match items.first() {
            // The element's own type is wrong: say what was sent, an array
            // (unwrapped, it would be named as if sent bare).
            Some(only) => coerce_one(attr, only, label).map_err(|e| {
                if e == type_error(label, expected(attr.kind), only) {
                    ScimError::invalid_value(format!(
                        "{label} must be {}, got an array holding {}",
                        expected(attr.kind),
                        value_kind(only)
                    ))
                } else {
                    e
                }
            }),
            None => Ok(None),
        },
        _ if attr.multi_valued => {
            Ok(coerce_one(attr, value, label)?.map(|v| Value::Array(vec![v])))
        }
        _ => coerce_one(attr, value, label),
    }
}

/// Coerces one value (one element, for a multi-valued attribute).
fn coerce_one(attr: &AttributeDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    match (attr.kind, value) {
        (_, Value::Null) => Ok(None),
        (_, Value::String(s)) if s.is_empty() => Ok(None),
        (AttrType::Complex, Value::Object(members)) => coerce_complex(attr, members, label),
        (AttrType::Complex, Value::String(_) | Value::Number(_) | Value::Bool(_)) => {
            match attr.sub_attribute("value") {
                Some(sub) => Ok(coerce_one(sub, value, &format!("{label}.{}", sub.name))?
                    .map(|v| Value::Object(Map::from_iter([(sub.name.clone(), v)])))),
                None => Err(type_error(label, "an object", value)),
            }
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_))
        | (AttrType::Boolean, Value::Bool(_))
        | (AttrType::Decimal, Value::Number(_)) => Ok(Some(value.clone())),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            Ok(Some(value.clone()))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Some(Value::Bool(true)))
        }
        (AttrType::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Some(Value::Bool(false)))
        }
        (AttrType::DateTime, Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(_) => Ok(Some(value.clone())),
            Err(_) => Err(ScimError::invalid_value(format!(
                "{label} must be an RFC 3339 dateTime, got '{}'",
                crate::untrusted::quote(s)
            ))),
        },
        (kind, _) => Err(type_error(label, expected(kind), value)),
    }
}

fn coerce_complex(
    attr: &AttributeDef,
    members: &Map<String, Value>,
    label: &str,
) -> Result<Option<Value>, ScimError> {
    let mut out = Map::new();
    for (name, value) in members {
        let Some(sub) = attr.sub_attribute(name) else {
            continue;
        };
        if sub.mutability == Mutability::ReadOnly {
            continue;
        }
        if let Some(value) = coerce(sub, value, &format!("{label}.{}", sub.name))? {
            out.insert(sub.name.clone(), value);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

fn expected(kind: AttrType) -> &'static str {
    match kind {
        AttrType::Boolean => "a boolean",
        AttrType::Integer => "an integer",
        AttrType::Decimal => "a number",
        AttrType::Complex => "an object",
        AttrType::String | AttrType::DateTime | AttrType::Binary | AttrType::Reference => {
            "a string"
        }
    }
}

fn type_error(label: &str, expected: &str, got: &Value) -> ScimError {
    let got = value_kind(got);
    ScimError::invalid_value(format!("{label} must be {expected}, got {got}"))
}

/// What kind of JSON value a client sent, for an error detail that must
/// not repeat the value itself (it may be megabytes).
pub(crate) fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_primary_values_are_refused() {
        let body = json!({"userName": "x", "emails": [
            {"value": "a@x.org", "primary": true},
            {"value": "b@x.org", "primary": "True"}
        ]});
        let err = parse_resource(&body, &ResourceSchema::user()).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.detail.contains("emails"), "{}", err.detail);
    }

    #[test]
    fn two_primary_values_of_an_extension_attribute_are_refused() {
        let mut badges = AttributeDef::new("badges", AttrType::Complex).sub_attributes(vec![
            AttributeDef::new("value", AttrType::String),
            AttributeDef::new("primary", AttrType::Boolean),
        ]);
        badges.multi_valued = true;
        let acme = SchemaDef {
            id: "urn:example:acme".into(),
            name: "Acme".into(),
            description: String::new(),
            attributes: vec![badges],
        };
        let schema = ResourceSchema::new(SchemaDef::user(), vec![acme]);
        let body = json!({"userName": "x", "urn:example:acme": {"badges": [
            {"value": "a", "primary": true}, {"value": "b", "primary": true}
        ]}});
        assert_eq!(
            parse_resource(&body, &schema).unwrap_err().detail,
            "urn:example:acme:badges: 2 values are marked primary; at most one may be (RFC 7643 §2.4)"
        );
    }
    use crate::scim::schema::ENTERPRISE_USER_URN;
    use serde_json::json;

    fn user(body: Value) -> Result<Map<String, Value>, ScimError> {
        parse_resource(&body, &ResourceSchema::user())
    }

    fn group(body: Value) -> Result<Map<String, Value>, ScimError> {
        parse_resource(&body, &ResourceSchema::group())
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(obj) => obj,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn entra_create_user_drops_meta_schemas_and_empty_roles() {
        let body = json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "externalId": "{externalId}",
            "userName": "Test_User_{random}",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_{random2}@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": []
        });
        let expected = object(json!({
            "externalId": "{externalId}",
            "userName": "Test_User_{random}",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_{random2}@testuser.com"}],
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"}
        }));
        assert_eq!(user(body).unwrap(), expected);
    }

    #[test]
    fn entra_create_user_with_nulls_typo_urn_and_top_level_enterprise_keys_is_accepted() {
        let body = json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
            ],
            "externalId": "jyoung",
            "userName": "jyoung@testuser.com",
            "active": true,
            "addresses": null,
            "displayName": "Joy Young",
            "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
            "meta": {"resourceType": "User"},
            "name": {"familyName": "Young", "givenName": "Joy"},
            "phoneNumbers": null,
            "preferredLanguage": null,
            "title": null,
            "department": null,
            "manager": null
        });
        let expected = object(json!({
            "externalId": "jyoung",
            "userName": "jyoung@testuser.com",
            "active": true,
            "displayName": "Joy Young",
            "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
            "name": {"familyName": "Young", "givenName": "Joy"}
        }));
        assert_eq!(user(body).unwrap(), expected);
    }

    #[test]
    fn okta_create_user_keeps_password_and_drops_read_only_groups() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "User"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test User",
            "locale": "en-US",
            "externalId": "{externalId}",
            "groups": [],
            "password": "1mz050nq",
            "active": true
        });
        let parsed = user(body).unwrap();
        assert_eq!(parsed["password"], "1mz050nq");
        assert_eq!(parsed["locale"], "en-US");
        assert!(!parsed.contains_key("groups"));
        assert!(!parsed.contains_key("schemas"));
        assert_eq!(parsed.len(), 8);
    }

    #[test]
    fn okta_put_user_ignores_echoed_id_groups_and_meta() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "{userId}",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [{
                "primary": true,
                "value": "test.user@okta.local",
                "type": "work",
                "display": "test.user@okta.local"
            }],
            "active": true,
            "groups": [],
            "meta": {"resourceType": "User"}
        });
        let expected = object(json!({
            "userName": "test.user@okta.local",
            "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
            "emails": [{
                "primary": true,
                "value": "test.user@okta.local",
                "type": "work",
                "display": "test.user@okta.local"
            }],
            "active": true
        }));
        assert_eq!(user(body).unwrap(), expected);
    }

    fn onelogin_user_body() -> Value {
        json!({
            "schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
            "userName": "onelogin-test-user01",
            "name": {"familyName": " User 01", "givenName": "AAA Test"},
            "emails": [{"value": "{email}", "primary": true, "type": "work"}],
            "active": true
        })
    }

    #[test]
    fn onelogin_create_user_with_legacy_urns_keeps_the_leading_space() {
        let parsed = user(onelogin_user_body()).unwrap();
        assert_eq!(parsed["userName"], "onelogin-test-user01");
        assert_eq!(parsed["name"]["familyName"], " User 01");
        assert_eq!(parsed["emails"][0]["value"], "{email}");
        assert_eq!(parsed["active"], true);
        assert_eq!(parsed.len(), 4);
    }

    #[test]
    fn onelogin_put_user_parses_like_its_create() {
        // The PUT body OneLogin sends is the create body again.
        let parsed = user(onelogin_user_body()).unwrap();
        assert_eq!(
            parsed,
            object(json!({
                "userName": "onelogin-test-user01",
                "name": {"familyName": " User 01", "givenName": "AAA Test"},
                "emails": [{"value": "{email}", "primary": true, "type": "work"}],
                "active": true
            }))
        );
    }

    #[test]
    fn entra_create_group_ignores_the_microsoft_urn_and_meta() {
        let body = json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:Group",
                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
            ],
            "externalId": "{externalId}",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"}
        });
        let expected = object(json!({"externalId": "{externalId}", "displayName": "displayName"}));
        assert_eq!(group(body).unwrap(), expected);
    }

    #[test]
    fn okta_create_group_drops_the_empty_members_list() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Test SCIMv2",
            "members": []
        });
        assert_eq!(
            group(body).unwrap(),
            object(json!({"displayName": "Test SCIMv2"}))
        );
    }

    #[test]
    fn okta_put_group_keeps_members_and_drops_their_display_and_the_id() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "{groupId}",
            "displayName": "SCIM_test1",
            "members": [
                {"value": "{userId}", "display": "bob@ad.oktatest.com"},
                {"value": "{userId2}", "display": "pete@ad.oktatest.com"}
            ]
        });
        // RFC 7643 §8.7.1 gives members no `display`: Okta's is ignored.
        let expected = object(json!({
            "displayName": "SCIM_test1",
            "members": [{"value": "{userId}"}, {"value": "{userId2}"}]
        }));
        assert_eq!(group(body).unwrap(), expected);
    }

    #[test]
    fn attribute_names_are_rewritten_to_schema_spelling() {
        let parsed = user(json!({
            "USERNAME": "a",
            "Name": {"GIVENNAME": "A"},
            "Emails": [{"VALUE": "a@b.c", "Primary": true}]
        }))
        .unwrap();
        assert_eq!(
            parsed,
            object(
                json!({"userName": "a", "name": {"givenName": "A"}, "emails": [{"value": "a@b.c", "primary": true}]})
            )
        );
    }

    #[test]
    fn enterprise_object_under_any_urn_spelling_lands_under_the_canonical_urn() {
        for urn in [
            ENTERPRISE_USER_URN,
            "urn:scim:schemas:extension:enterprise:1.0",
            "urn:scim:schemas:extension:enterprise:2.0",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
            "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER",
        ] {
            let parsed =
                user(json!({"userName": "a", urn: {"Department": "Sales", "employeeNumber": "7"}}))
                    .unwrap();
            assert_eq!(
                parsed[ENTERPRISE_USER_URN],
                json!({"department": "Sales", "employeeNumber": "7"}),
                "urn {urn}"
            );
        }
    }

    #[test]
    fn urn_qualified_top_level_keys_merge_into_the_extension_object() {
        let parsed = user(json!({
            "userName": "a",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "x",
            ENTERPRISE_USER_URN: {"costCenter": "42"}
        }))
        .unwrap();
        assert_eq!(
            parsed[ENTERPRISE_USER_URN],
            json!({"department": "x", "costCenter": "42"})
        );
    }

    #[test]
    fn urn_qualified_core_attribute_is_a_core_attribute() {
        let parsed =
            user(json!({"urn:ietf:params:scim:schemas:core:2.0:User:userName": "a"})).unwrap();
        assert_eq!(parsed, object(json!({"userName": "a"})));
    }

    #[test]
    fn one_attribute_in_two_spellings_is_invalid_syntax_naming_it() {
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        for (body, named) in [
            (
                json!({"userName": "a", format!("{core}:userName"): "b"}),
                "\"userName\"",
            ),
            (
                json!({"userName": "a", core: {"USERNAME": "b"}}),
                "\"userName\"",
            ),
            (
                json!({"userName": "a", "name": {"givenName": "x"}, "name.givenName": "y"}),
                "\"name.givenName\"",
            ),
            (
                json!({"userName": "a", "name": null, format!("{core}:name.givenName"): "y"}),
                "\"name\"",
            ),
            (
                json!({"userName": "a", ENTERPRISE_USER_URN: {"department": "x"},
                       "urn:scim:schemas:extension:enterprise:1.0:department": "y"}),
                "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"",
            ),
        ] {
            let e = user(body.clone()).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidSyntax),
                "{body}"
            );
            assert!(e.detail.contains(named), "{body}: {}", e.detail);
        }
    }

    #[test]
    fn each_attribute_once_in_any_spelling_is_accepted() {
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        let parsed = user(json!({
            format!("{core}:userName"): "a",
            core: {"displayName": "D"},
            "name": {"familyName": "F"},
            "name.givenName": "G",
            "nosuch": 1,
            format!("{core}:nosuch"): 2,
            ENTERPRISE_USER_URN: {"department": "x"},
            format!("{ENTERPRISE_USER_URN}:costCenter"): "42"
        }))
        .unwrap();
        assert_eq!(parsed["displayName"], "D");
        assert_eq!(parsed["name"], json!({"familyName": "F", "givenName": "G"}));
        assert_eq!(
            parsed[ENTERPRISE_USER_URN],
            json!({"department": "x", "costCenter": "42"})
        );
    }

    #[test]
    fn enterprise_attributes_at_the_top_level_are_dropped() {
        let parsed =
            user(json!({"userName": "a", "department": "Sales", "manager": "m-1"})).unwrap();
        assert_eq!(parsed, object(json!({"userName": "a"})));
    }

    #[test]
    fn manager_as_a_bare_string_becomes_a_value_object() {
        let parsed =
            user(json!({"userName": "a", ENTERPRISE_USER_URN: {"manager": "m-1"}})).unwrap();
        assert_eq!(
            parsed[ENTERPRISE_USER_URN]["manager"],
            json!({"value": "m-1"})
        );
    }

    #[test]
    fn manager_display_name_is_read_only_and_dropped() {
        let parsed = user(json!({
            "userName": "a",
            ENTERPRISE_USER_URN: {"manager": {"value": "m-1", "displayName": "Boss"}}
        }))
        .unwrap();
        assert_eq!(
            parsed[ENTERPRISE_USER_URN]["manager"],
            json!({"value": "m-1"})
        );
    }

    #[test]
    fn extension_object_with_only_nulls_is_left_out() {
        let parsed =
            user(json!({"userName": "a", ENTERPRISE_USER_URN: {"department": null}})).unwrap();
        assert!(!parsed.contains_key(ENTERPRISE_USER_URN));
    }

    #[test]
    fn extension_urn_with_a_non_object_value_is_invalid_value() {
        let error = user(json!({"userName": "a", ENTERPRISE_USER_URN: "Sales"})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value(format!(
                "{ENTERPRISE_USER_URN} must be an object, got a string"
            ))
        );
    }

    #[test]
    fn entra_boolean_strings_become_booleans_in_any_case() {
        assert_eq!(
            user(json!({"userName": "a", "active": "False"})).unwrap()["active"],
            false
        );
        assert_eq!(
            user(json!({"userName": "a", "active": "TRUE"})).unwrap()["active"],
            true
        );
        let parsed =
            user(json!({"userName": "a", "emails": [{"value": "a@b.c", "primary": "true"}]}))
                .unwrap();
        assert_eq!(parsed["emails"][0]["primary"], true);
    }

    #[test]
    fn other_strings_for_a_boolean_are_invalid_value() {
        let error = user(json!({"userName": "a", "active": "yes"})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("active must be a boolean, got a string")
        );
    }

    #[test]
    fn onelogin_single_email_object_becomes_a_one_element_array() {
        let parsed =
            user(json!({"userName": "a", "emails": {"value": "a@b.c", "type": "work"}})).unwrap();
        assert_eq!(
            parsed["emails"],
            json!([{"value": "a@b.c", "type": "work"}])
        );
    }

    #[test]
    fn one_element_array_for_a_single_valued_attribute_becomes_its_element() {
        let parsed = user(json!({
            "userName": "a",
            ENTERPRISE_USER_URN: {"manager": [{"value": "m-1", "$ref": "../Users/m-1"}]}
        }))
        .unwrap();
        assert_eq!(
            parsed[ENTERPRISE_USER_URN]["manager"],
            json!({"value": "m-1", "$ref": "../Users/m-1"})
        );
    }

    #[test]
    fn wrong_json_type_on_a_known_attribute_names_attribute_and_type() {
        let error = user(json!({"userName": 42})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("userName must be a string, got a number")
        );
        let error = user(json!({"userName": "a", "name": "Joy"})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("name must be an object, got a string")
        );
        let error = user(json!({"userName": "a", "displayName": ["A", "B"]})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("displayName must be a string, got an array")
        );
    }

    /// A one-element array for a single-valued attribute is unwrapped; when
    /// its element is of the wrong type, the detail says what was sent (an
    /// array), not the element's type as if it had been sent bare.
    #[test]
    fn a_one_element_array_of_the_wrong_type_is_named_as_an_array() {
        let error = user(json!({"userName": "u", "name": ["x"]})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("name must be an object, got an array holding a string")
        );
        let error = user(json!({"userName": "u", "displayName": [5]})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("displayName must be a string, got an array holding a number")
        );
        // A sub-attribute's own error is about that sub-attribute.
        let error = user(json!({"userName": "u", "name": [{"givenName": true}]})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("name.givenName must be a string, got a boolean")
        );
    }

    #[test]
    fn wrong_json_type_on_a_sub_attribute_names_its_full_path() {
        let error = user(json!({"userName": "a", "name": {"givenName": true}})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("name.givenName must be a string, got a boolean")
        );
        let error = user(json!({"userName": "a", "emails": [{"value": {"x": 1}}]})).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("emails.value must be a string, got an object")
        );
    }

    #[test]
    fn unknown_sub_attributes_are_dropped() {
        let parsed =
            user(json!({"userName": "a", "name": {"givenName": "A", "nickname": "x"}})).unwrap();
        assert_eq!(parsed["name"], json!({"givenName": "A"}));
    }

    #[test]
    fn missing_user_name_is_invalid_value() {
        let error = user(json!({"displayName": "A"})).unwrap_err();
        assert_eq!(error, ScimError::invalid_value("userName is required"));
    }

    #[test]
    fn a_replacement_names_what_its_body_unassigns_and_not_what_it_leaves_out() {
        let body = json!({
            "userName": "a",
            "externalId": null,
            "emails": [],
            "name": {"givenName": null, "familyName": "B"},
            "groups": [],
            "id": null,
            ENTERPRISE_USER_URN: null,
            "urn:ietf:params:scim:schemas:core:2.0:User:timezone": ""
        });
        let put = parse_replacement(&body, &ResourceSchema::user()).unwrap();
        let core = "urn:ietf:params:scim:schemas:core:2.0:User";
        let u = &put.unassigned;
        assert!(u.covers(core, "externalId", None));
        assert!(u.covers(core, "emails", Some("value")));
        assert!(u.covers(core, "name", Some("givenName")));
        assert!(!u.covers(core, "name", Some("familyName")));
        assert!(u.covers(core, "timezone", None));
        assert!(u.covers(ENTERPRISE_USER_URN, "department", None));
        // Read-only, and left out: never cleared.
        assert!(!u.covers(core, "groups", None));
        assert!(!u.covers(core, "id", None));
        assert!(!u.covers(core, "preferredLanguage", None));
        assert_eq!(put.resource["name"], json!({"familyName": "B"}));
        assert!(put.resource.get("emails").is_none());
    }

    #[test]
    fn empty_or_null_user_name_counts_as_missing() {
        assert_eq!(
            user(json!({"userName": ""})).unwrap_err().detail,
            "userName is required"
        );
        assert_eq!(
            user(json!({"userName": null})).unwrap_err().detail,
            "userName is required"
        );
    }

    #[test]
    fn missing_group_display_name_is_invalid_value() {
        let error = group(json!({"members": []})).unwrap_err();
        assert_eq!(error, ScimError::invalid_value("displayName is required"));
    }

    #[test]
    fn empty_strings_and_empty_objects_are_dropped() {
        let parsed = user(
            json!({"userName": "a", "nickName": "", "name": {"givenName": ""}, "emails": [{}]}),
        )
        .unwrap();
        assert_eq!(parsed, object(json!({"userName": "a"})));
    }

    #[test]
    fn body_that_is_not_an_object_is_invalid_syntax() {
        let error = user(json!([{"userName": "a"}])).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_syntax("the resource must be a JSON object")
        );
    }

    #[test]
    fn custom_schema_integer_and_date_time_attributes_are_type_checked() {
        let badge = SchemaDef {
            id: "urn:example:badge".into(),
            name: "Badge".into(),
            description: String::new(),
            attributes: vec![
                AttributeDef::new("number", AttrType::Integer),
                AttributeDef::new("issued", AttrType::DateTime),
            ],
        };
        let schema = ResourceSchema::new(crate::scim::schema::SchemaDef::user(), vec![badge]);
        let ok = json!({"userName": "a", "urn:example:badge": {"number": 7, "issued": "2024-05-01T10:00:00Z"}});
        assert_eq!(
            parse_resource(&ok, &schema).unwrap()["urn:example:badge"]["number"],
            7
        );
        let fraction = json!({"userName": "a", "urn:example:badge:number": 7.5});
        assert_eq!(
            parse_resource(&fraction, &schema).unwrap_err().detail,
            "number must be an integer, got a number"
        );
        let bad_date = json!({"userName": "a", "urn:example:badge:issued": "yesterday"});
        assert_eq!(
            parse_resource(&bad_date, &schema).unwrap_err().detail,
            "issued must be an RFC 3339 dateTime, got 'yesterday'"
        );
    }
}
