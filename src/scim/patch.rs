//! RFC 7644 §3.5.2 PATCH: reading a PatchOp body and applying it to a
//! canonical resource, all or nothing, with the tolerances real IdPs need.
//!
//! Beyond the letter of the RFC:
//! - `op` in any case, `Operations` in any case, `schemas` not checked;
//! - `"True"`/`"False"` strings for boolean attributes;
//! - a lone value for a multi-valued attribute is a one-element list, a
//!   one-element list for a single-valued attribute is that element, and a
//!   bare scalar for a complex attribute with a `value` sub-attribute is
//!   `{"value": scalar}` (Entra's `manager`);
//! - `null` members of a value are dropped (`"$ref": null`);
//! - add or replace on a filtered path that matches nothing creates the
//!   value the filter describes, when the filter is a conjunction of `eq`
//!   (Entra replaces `phoneNumbers[type eq "mobile"].value` of a user who
//!   has none; RFC 7644 §3.5.2.3 would answer `noTarget`, and the user's
//!   update would fail for good); otherwise `noTarget`;
//! - remove with a value removes only the values given (Entra's members);
//! - remove on a filtered path that matches nothing changes nothing, so a
//!   repeated removal is not an error; remove is also the one operation
//!   taking a value filter on a single-valued attribute (Entra's
//!   `manager[value eq "…"]`), which add and replace refuse (`invalidPath`);
//! - writing a read-only attribute with its current value is accepted and
//!   ignored (Okta sends the group's `id` back).
//!
//! `primary` (RFC 7643 §2.4, RFC 7644 §3.5.2): a value an operation writes
//! as primary takes the mark from the values it did not write; an operation
//! writing several primaries, and so any result holding two, is refused by
//! the check a POST or PUT body goes through.
//!
//! At most [`MAX_OPERATIONS`] operations per request. Applying them copies
//! the resource once, not once per operation, and finds values by hash, so
//! the cost grows with operations times the values of the attributes they
//! name, not with their square.
//!
//! Values of a multi-valued attribute are "the same" when their `value`
//! sub-attributes are equal and their `type`s do not differ; otherwise when
//! they are equal JSON. Adding a value that is already there merges the new
//! sub-attributes into it.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};

use chrono::DateTime;
use serde_json::{Map, Value};

use super::attributes::{AttrMeta, AttrType, AttributeResolver, Mutability, Returned};
use super::error::ScimError;
use super::filter::{parse_bool, CompValue, CompareOp, Filter};
use super::path::{get_ci, AttrPath, PatchPath, ResolvedAttr, ResolvedPatchPath, ResolvedPath};
use super::resource::{
    refuse_removed_required, refuse_several_primaries, spelled_key, NamedOnce, Naming,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchOpKind {
    Add,
    Replace,
    Remove,
}

impl fmt::Display for PatchOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchOpKind::Add => "add",
            PatchOpKind::Replace => "replace",
            PatchOpKind::Remove => "remove",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    pub op: PatchOpKind,
    pub path: Option<PatchPath>,
    /// `Some(Value::Null)` is an explicit null: replace with null clears.
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    pub operations: Vec<PatchOperation>,
}

/// What applying a request did.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// False when the resource came out identical: the caller writes nothing.
    pub changed: bool,
    /// The values an `add` or `replace` created because its `eq` filter
    /// matched none (the Entra tolerance), as they came out: the caller
    /// may refuse one its store cannot keep, since answering success for
    /// it would say a change was made that was not.
    pub created: Vec<CreatedValue>,
}

/// A value a filtered `add` or `replace` created (see [`PatchOutcome`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedValue {
    /// Canonical URN of the attribute's schema.
    pub schema: String,
    pub is_core: bool,
    /// The multi-valued attribute, as its schema spells it.
    pub attr: String,
    /// The filter that matched nothing, as the request wrote it.
    pub filter: String,
    /// The element created.
    pub value: Value,
}

/// The most operations one PATCH request may hold.
///
/// Identity providers send a handful: Entra ID one operation per changed
/// attribute (a few dozen at most, group members batched into one operation
/// of at most a few hundred values), Okta and OneLogin one or two. Values in
/// one operation's list (a group's `members`) are not operations and are not
/// counted. 1000 is far above any of them, yet keeps the work one request can
/// ask for small: every operation may look at every value of the attribute
/// it names, so the cost of a request grows with operations times values.
pub const MAX_OPERATIONS: usize = 1000;

/// RFC 7644 §3.12 has no error type for "too many operations": `tooMany` is
/// for a filter yielding too many results (GET and `/.search`). The list of
/// operations is a value the server does not accept, so `invalidValue`.
fn too_many_operations(count: usize) -> ScimError {
    ScimError::invalid_value(format!(
        "a PATCH request may hold at most {MAX_OPERATIONS} operations, and this one has {count}: \
         split it into several PATCH requests of at most {MAX_OPERATIONS} operations each \
         (the values listed in one operation, such as a group's members, do not count)"
    ))
}

/// Prefixes an error with the index of the operation it comes from.
pub(crate) fn in_operation(error: ScimError, index: usize) -> ScimError {
    ScimError {
        detail: format!("Operations[{index}]: {}", error.detail),
        ..error
    }
}

impl PatchRequest {
    /// Reads a PatchOp body. `schemas` is not checked: IdPs send legacy URNs
    /// or none, and the operations are understood without it.
    pub fn from_json(body: &Value) -> Result<PatchRequest, ScimError> {
        let body = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a PATCH body must be a JSON object"))?;
        let operations = match get_ci(body, "Operations") {
            Some(Value::Array(operations)) if operations.len() > MAX_OPERATIONS => {
                return Err(too_many_operations(operations.len()))
            }
            Some(Value::Array(operations)) if !operations.is_empty() => operations,
            Some(Value::Array(_)) => {
                return Err(ScimError::invalid_syntax("\"Operations\" is empty"))
            }
            Some(_) => return Err(ScimError::invalid_syntax("\"Operations\" must be a list")),
            None => {
                return Err(ScimError::invalid_syntax(
                    "the PATCH body has no \"Operations\"",
                ))
            }
        };
        let operations = operations
            .iter()
            .enumerate()
            .map(|(index, operation)| {
                PatchOperation::from_json(operation).map_err(|e| in_operation(e, index))
            })
            .collect::<Result<_, _>>()?;
        Ok(PatchRequest { operations })
    }

    /// True when the outcome does not depend on the current resource: every
    /// operation adds or replaces non-null values of single-valued,
    /// unfiltered, writable attributes. Such a request applied to a resource
    /// holding only its `id` yields every attribute it writes, so a caller
    /// can skip reading the resource. `id` counts as writable because the
    /// caller knows it (from the URL) and must seed it; Okta sends it back.
    pub fn is_state_independent(&self, resolver: &dyn AttributeResolver) -> bool {
        self.operations
            .iter()
            .all(|operation| operation.is_state_independent(resolver))
    }
}

impl PatchOperation {
    fn from_json(operation: &Value) -> Result<PatchOperation, ScimError> {
        let fields = operation
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("an operation must be a JSON object"))?;
        let op = match get_ci(fields, "op") {
            Some(Value::String(op)) => match op.to_ascii_lowercase().as_str() {
                "add" => PatchOpKind::Add,
                "replace" => PatchOpKind::Replace,
                "remove" => PatchOpKind::Remove,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "unknown op {:?}: expected add, replace or remove",
                        crate::untrusted::quote(op)
                    )))
                }
            },
            _ => {
                return Err(ScimError::invalid_syntax(
                    "\"op\" is missing or not a string",
                ))
            }
        };
        let path = match get_ci(fields, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(path)) if path.trim().is_empty() => None,
            Some(Value::String(path)) => Some(PatchPath::parse(path.trim())?),
            Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
        };
        let operation = PatchOperation {
            op,
            path,
            value: get_ci(fields, "value").cloned(),
        };
        operation.check_shape()?;
        Ok(operation)
    }

    /// The RFC's rules on which operations need a path and a value.
    fn check_shape(&self) -> Result<(), ScimError> {
        match (self.op, &self.path, &self.value) {
            (PatchOpKind::Remove, None, _) => Err(ScimError::no_target("remove needs a \"path\"")),
            (PatchOpKind::Add | PatchOpKind::Replace, _, None) => Err(ScimError::invalid_value(
                format!("{} needs a \"value\"", self.op),
            )),
            (PatchOpKind::Add | PatchOpKind::Replace, None, Some(value)) if !value.is_object() => {
                Err(ScimError::invalid_value(format!(
                    "{} without a \"path\" needs an object of attributes as its \"value\"",
                    self.op
                )))
            }
            _ => Ok(()),
        }
    }

    /// Applies the operation; the value it created, if its filter matched
    /// none (see [`PatchOutcome::created`]).
    fn apply(
        &self,
        resource: &mut Map<String, Value>,
        resolver: &dyn AttributeResolver,
    ) -> Result<Option<CreatedValue>, ScimError> {
        self.check_shape()?;
        let Some(path) = &self.path else {
            refuse_attributes_named_twice(None, self.value.as_ref(), resolver)?;
            return apply_fields(resource, self.op, None, self.value.as_ref(), resolver)
                .map(|()| None);
        };
        match path.resolve(resolver)? {
            ResolvedPatchPath::Extension(urn) => {
                refuse_attributes_named_twice(Some(&urn), self.value.as_ref(), resolver)?;
                apply_extension(resource, self.op, &urn, self.value.as_ref(), resolver)
                    .map(|()| None)
            }
            ResolvedPatchPath::Attribute {
                target,
                value_filter: Some(value_filter),
            } if !target.attr.multi_valued && self.op != PatchOpKind::Remove => {
                Err(ScimError::invalid_path(format!(
                    "\"{}\" is single-valued: a value filter ([{}]) selects values of a \
                 multi-valued attribute only (RFC 7644 §3.5.2); name the sub-attribute without \
                 a filter, e.g. \"{}.subAttribute\"",
                    target.attr.name,
                    crate::untrusted::quote(&value_filter.to_string()),
                    target.attr.name
                )))
            }
            ResolvedPatchPath::Attribute {
                target,
                value_filter,
            } => Change {
                op: self.op,
                target: &target,
                value_filter: value_filter.as_ref(),
                value: self.value.as_ref(),
            }
            .apply(resource, resolver),
        }
    }

    fn is_state_independent(&self, resolver: &dyn AttributeResolver) -> bool {
        let Some(value) = &self.value else {
            return false;
        };
        if self.op == PatchOpKind::Remove {
            return false;
        }
        match &self.path {
            None => fields_independent(None, value, resolver),
            Some(path) if path.value_filter.is_none() => match path.resolve(resolver) {
                Ok(ResolvedPatchPath::Extension(urn)) => {
                    fields_independent(Some(&urn), value, resolver)
                }
                Ok(ResolvedPatchPath::Attribute { target, .. }) => {
                    target_independent(&target, value)
                }
                Err(_) => false,
            },
            Some(_) => false,
        }
    }
}

/// Applies every operation to a copy of `resource` and writes the copy back
/// only when all succeeded and something changed.
pub fn apply_patch(
    resource: &mut Map<String, Value>,
    request: &PatchRequest,
    resolver: &dyn AttributeResolver,
) -> Result<PatchOutcome, ScimError> {
    let mut working = resource.clone();
    let mut created = Vec::new();
    for (index, operation) in request.operations.iter().enumerate() {
        created.extend(
            operation
                .apply(&mut working, resolver)
                .map_err(|e| in_operation(e, index))?,
        );
    }
    // The rules a POST or PUT body is held to, on what the PATCH made.
    refuse_several_primaries(&working, Some(resource))?;
    refuse_removed_required(&working, resource, resolver)?;
    let changed = working != *resource;
    if changed {
        *resource = working;
    }
    Ok(PatchOutcome { changed, created })
}

/// Resolves a key of a path-less value object (`name.givenName`, a
/// URN-qualified attribute, or an extension URN), or of an extension object.
fn field_path(
    extension: Option<&str>,
    key: &str,
    resolver: &dyn AttributeResolver,
) -> Result<ResolvedPath, ScimError> {
    let mut path = AttrPath::parse(key).map_err(|e| {
        ScimError::invalid_path(format!(
            "invalid attribute name {:?} {e}",
            crate::untrusted::quote(key)
        ))
    })?;
    if let Some(urn) = extension {
        if path.schema.is_some() {
            return Err(ScimError::invalid_path(format!(
                "{:?} cannot be nested in \"{urn}\"",
                crate::untrusted::quote(key)
            )));
        }
        path.schema = Some(urn.to_string());
    }
    path.resolve(resolver)
        .map_err(|e| ScimError::invalid_path(e.to_string()))
}

/// Refuses a value object (of a path-less operation, or of one on an
/// extension URN) that names one attribute twice in two spellings, keys
/// resolved as [`apply_fields`] resolves them: `displayName` beside
/// `urn:…:User:displayName`, `name.givenName` beside `"name": {"givenName":
/// …}`, an attribute beside its schema's URN object holding it (see
/// [`NamedOnce`]). Keys that resolve to nothing are left to `apply_fields`
/// to refuse.
pub(crate) fn refuse_attributes_named_twice(
    extension: Option<&str>,
    value: Option<&Value>,
    resolver: &dyn AttributeResolver,
) -> Result<(), ScimError> {
    let Some(Value::Object(fields)) = value else {
        return Ok(());
    };
    name_fields(&mut NamedOnce::default(), extension, fields, None, resolver)
}

/// The keys of `fields` into `named`; `within` spells the URN object
/// holding them, if any.
fn name_fields(
    named: &mut NamedOnce,
    extension: Option<&str>,
    fields: &Map<String, Value>,
    within: Option<&str>,
    resolver: &dyn AttributeResolver,
) -> Result<(), ScimError> {
    for (key, value) in fields {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let spelled = || match within {
            Some(urn) => format!("\"{}\" inside \"{}\"", spelled_key(key), spelled_key(urn)),
            None => format!("\"{}\"", spelled_key(key)),
        };
        match field_path(extension, key, resolver) {
            Ok(ResolvedPath::Extension(urn)) => {
                if let Value::Object(members) = value {
                    name_fields(named, Some(&urn), members, Some(key), resolver)?;
                }
            }
            Ok(ResolvedPath::Attribute(target)) => {
                // The sub-attributes an object sets on a single-valued
                // complex attribute.
                let subs: Option<Vec<(String, &str)>> = match value {
                    Value::Object(members)
                        if target.sub.is_none()
                            && target.attr.kind == AttrType::Complex
                            && !target.attr.multi_valued =>
                    {
                        Some(
                            members
                                .keys()
                                .filter_map(|k| {
                                    let sub = resolver.resolve_sub(
                                        &target.schema,
                                        &target.attr.name,
                                        k,
                                    )?;
                                    Some((sub.name, k.as_str()))
                                })
                                .collect(),
                        )
                    }
                    _ => None,
                };
                let subs: Option<Vec<(&str, &str)>> = subs
                    .as_ref()
                    .map(|subs| subs.iter().map(|(s, k)| (s.as_str(), *k)).collect());
                let naming = Naming {
                    schema: &target.schema,
                    is_core: target.is_core,
                    attr: &target.attr.name,
                    sub: target.sub.as_ref().map(|sub| sub.name.as_str()),
                };
                named.name(&naming, subs.as_deref(), &spelled)?;
            }
            // Refused by `apply_fields`, with its reason.
            Err(_) => {}
        }
    }
    Ok(())
}

/// A path-less operation, or one on an extension URN: each key is a path.
fn apply_fields(
    resource: &mut Map<String, Value>,
    op: PatchOpKind,
    extension: Option<&str>,
    value: Option<&Value>,
    resolver: &dyn AttributeResolver,
) -> Result<(), ScimError> {
    let Some(Value::Object(fields)) = value else {
        return Err(ScimError::invalid_value(format!(
            "{op} needs an object of attributes as its \"value\""
        )));
    };
    for (key, value) in fields {
        // Clients that serialise a whole resource or extension object send
        // its `schemas` too; it names no attribute to change.
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        match field_path(extension, key, resolver)? {
            ResolvedPath::Extension(urn) => {
                apply_extension(resource, op, &urn, Some(value), resolver)?
            }
            ResolvedPath::Attribute(target) => Change {
                op,
                target: &target,
                value_filter: None,
                value: Some(value),
            }
            .apply(resource, resolver)
            .map(|_| ())?,
        }
    }
    Ok(())
}

fn apply_extension(
    resource: &mut Map<String, Value>,
    op: PatchOpKind,
    urn: &str,
    value: Option<&Value>,
    resolver: &dyn AttributeResolver,
) -> Result<(), ScimError> {
    match (op, value) {
        (PatchOpKind::Remove, None) => {
            set_ci(resource, urn, None);
            Ok(())
        }
        (_, Some(Value::Object(_))) => apply_fields(resource, op, Some(urn), value, resolver),
        _ => Err(ScimError::invalid_path(format!(
            "unknown attribute or extension \"{}\"",
            crate::untrusted::quote(urn)
        ))),
    }
}

fn fields_independent(
    extension: Option<&str>,
    value: &Value,
    resolver: &dyn AttributeResolver,
) -> bool {
    let Value::Object(fields) = value else {
        return false;
    };
    fields
        .iter()
        .all(|(key, value)| match field_path(extension, key, resolver) {
            Ok(ResolvedPath::Extension(urn)) => fields_independent(Some(&urn), value, resolver),
            Ok(ResolvedPath::Attribute(target)) => target_independent(&target, value),
            Err(_) => false,
        })
}

fn target_independent(target: &ResolvedAttr, value: &Value) -> bool {
    let writable = |meta: &AttrMeta| {
        matches!(
            meta.mutability,
            Mutability::ReadWrite | Mutability::WriteOnly
        )
    };
    let known_id = target.is_core && target.attr.name == "id";
    !value.is_null()
        && !target.attr.multi_valued
        && (known_id || (writable(&target.attr) && target.sub.as_ref().is_none_or(writable)))
}

/// One operation on one attribute.
struct Change<'a> {
    op: PatchOpKind,
    target: &'a ResolvedAttr,
    value_filter: Option<&'a Filter>,
    value: Option<&'a Value>,
}

impl Change<'_> {
    fn apply(
        &self,
        resource: &mut Map<String, Value>,
        resolver: &dyn AttributeResolver,
    ) -> Result<Option<CreatedValue>, ScimError> {
        // The value is moved out, not copied: a failed operation fails the
        // whole request, whose working copy is then dropped. Only attributes
        // that may not change keep a copy to compare with.
        let before = take(resource, self.target);
        let guarded = self.is_guarded().then(|| before.clone());
        let mut created = None;
        let after = match (&self.target.sub, self.value_filter) {
            (None, None) => self.whole(before, resolver)?,
            (Some(sub), None) if !self.target.attr.multi_valued => {
                self.sub_of_single(before, sub, resolver)?
            }
            _ => self.elements(before, resolver, &mut created)?,
        };
        if let Some(before) = guarded {
            self.check_mutability(&before, &after)?;
        }
        store(resource, self.target, after);
        Ok(created.map(|value| CreatedValue {
            schema: self.target.schema.clone(),
            is_core: self.target.is_core,
            attr: self.target.attr.name.clone(),
            filter: self
                .value_filter
                .map(ToString::to_string)
                .unwrap_or_default(),
            value,
        }))
    }

    /// Whether the attribute or sub-attribute written is read-only or
    /// immutable, so that a change must be refused.
    fn is_guarded(&self) -> bool {
        std::iter::once(&self.target.attr)
            .chain(&self.target.sub)
            .any(|meta| {
                matches!(
                    meta.mutability,
                    Mutability::ReadOnly | Mutability::Immutable
                )
            })
    }

    fn check_mutability(
        &self,
        before: &Option<Value>,
        after: &Option<Value>,
    ) -> Result<(), ScimError> {
        if before == after {
            return Ok(());
        }
        for meta in std::iter::once(&self.target.attr).chain(&self.target.sub) {
            match meta.mutability {
                Mutability::ReadOnly => {
                    return Err(ScimError::mutability(format!(
                        "\"{}\" is read-only and cannot be changed",
                        self.target
                    )))
                }
                Mutability::Immutable if before.is_some() => {
                    return Err(ScimError::mutability(format!(
                        "\"{}\" is immutable and already has a value",
                        self.target
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The client's value normalised for `meta`; `None` is no value.
    fn normalized(
        &self,
        meta: &AttrMeta,
        resolver: &dyn AttributeResolver,
    ) -> Result<Option<Value>, ScimError> {
        match self.value {
            Some(value) => normalize(value, meta, &self.target.schema, resolver),
            None => Ok(None),
        }
    }

    /// The operation on the attribute as a whole.
    fn whole(
        &self,
        before: Option<Value>,
        resolver: &dyn AttributeResolver,
    ) -> Result<Option<Value>, ScimError> {
        let attr = &self.target.attr;
        let new = self.normalized(attr, resolver)?;
        Ok(match (self.op, new) {
            (PatchOpKind::Add, None) => before,
            (PatchOpKind::Remove, _) if self.value.is_none() => None,
            (PatchOpKind::Remove, None) => before,
            (PatchOpKind::Remove, Some(unwanted)) => {
                self.without_values(before, &unwanted, resolver)
            }
            (_, Some(Value::Array(new))) if self.op == PatchOpKind::Add => {
                non_empty_list(self.with_values(before, new, resolver))
            }
            // A replacement list is the request's alone: its primaries are
            // judged, not settled, by `refuse_several_primaries`.
            (_, Some(Value::Array(new))) => non_empty_list(new),
            // RFC 7644 §3.5.2.3: a complex value replaces the sub-attributes given.
            (_, Some(new)) if attr.kind == AttrType::Complex => Some(merge(before, new)),
            (_, new) => new,
        })
    }

    /// `name.givenName`: a sub-attribute of a single-valued complex attribute.
    fn sub_of_single(
        &self,
        before: Option<Value>,
        sub: &AttrMeta,
        resolver: &dyn AttributeResolver,
    ) -> Result<Option<Value>, ScimError> {
        let mut object = match before {
            Some(Value::Object(object)) => object,
            _ => Map::new(),
        };
        match (self.op, self.normalized(sub, resolver)?) {
            (PatchOpKind::Add | PatchOpKind::Replace, Some(value)) => {
                set_ci(&mut object, &sub.name, Some(value))
            }
            (PatchOpKind::Add, None) => {}
            (PatchOpKind::Replace | PatchOpKind::Remove, _) => set_ci(&mut object, &sub.name, None),
        }
        Ok((!object.is_empty()).then_some(Value::Object(object)))
    }

    /// A value filter, or a sub-attribute of a multi-valued attribute (which
    /// selects every value): the operation on each selected value.
    fn elements(
        &self,
        before: Option<Value>,
        resolver: &dyn AttributeResolver,
        created: &mut Option<Value>,
    ) -> Result<Option<Value>, ScimError> {
        let attr = &self.target.attr;
        let mut elements = match before {
            Some(Value::Array(elements)) => elements,
            Some(single) => vec![single],
            None => Vec::new(),
        };
        let selected: Vec<usize> = elements
            .iter()
            .enumerate()
            .filter(|(_, element)| self.selects(element, resolver))
            .map(|(index, _)| index)
            .collect();
        let written = if selected.is_empty() && self.op != PatchOpKind::Remove {
            let new = self.update_element(self.seed(resolver)?, resolver)?;
            if self.value_filter.is_some() && !is_empty_value(&new) {
                *created = Some(new.clone());
            }
            elements.push(new);
            vec![elements.len() - 1]
        } else {
            for index in &selected {
                if let Some(element) = elements.get_mut(*index) {
                    *element = self.update_element(std::mem::take(element), resolver)?;
                }
            }
            selected
        };
        settle_primary(&mut elements, &written);
        // Removed values were left as nulls so that indices stayed valid.
        elements.retain(|element| !is_empty_value(element));
        Ok(if attr.multi_valued {
            non_empty_list(elements)
        } else {
            elements.pop()
        })
    }

    fn selects(&self, element: &Value, resolver: &dyn AttributeResolver) -> bool {
        let Some(value_filter) = self.value_filter else {
            return true;
        };
        element.as_object().is_some_and(|element| {
            value_filter.matches_element(
                element,
                &self.target.schema,
                &self.target.attr.name,
                resolver,
            )
        })
    }

    /// The value a filter of `eq` comparisons describes, to be created when
    /// nothing matches (Entra: `emails[type eq "work"].value` on a user
    /// without a work email).
    fn seed(&self, resolver: &dyn AttributeResolver) -> Result<Value, ScimError> {
        let mut seed = Map::new();
        if let Some(value_filter) = self.value_filter {
            if !collect_equalities(value_filter, &mut seed) {
                return Err(ScimError::no_target(format!(
                    "no value of \"{}\" matches [{value_filter}], and the filter does not describe one to create",
                    self.target.attr.name
                )));
            }
        }
        let element = single_valued(&self.target.attr);
        Ok(normalize(
            &Value::Object(seed),
            &element,
            &self.target.schema,
            resolver,
        )?
        .unwrap_or(Value::Null))
    }

    /// The operation on one value; `Value::Null` means the value is removed.
    fn update_element(
        &self,
        element: Value,
        resolver: &dyn AttributeResolver,
    ) -> Result<Value, ScimError> {
        let mut object = match element {
            Value::Object(object) => object,
            _ => Map::new(),
        };
        match (&self.target.sub, self.op) {
            (Some(sub), PatchOpKind::Remove) => set_ci(&mut object, &sub.name, None),
            (Some(sub), _) => match self.normalized(sub, resolver)? {
                Some(value) => set_ci(&mut object, &sub.name, Some(value)),
                None if self.op == PatchOpKind::Replace => set_ci(&mut object, &sub.name, None),
                None => {}
            },
            (None, PatchOpKind::Remove) => return Ok(Value::Null),
            (None, op) => {
                let new = self.normalized(&single_valued(&self.target.attr), resolver)?;
                return Ok(match (op, new) {
                    (PatchOpKind::Add, Some(new)) => merge(Some(Value::Object(object)), new),
                    (PatchOpKind::Add, None) => Value::Object(object),
                    (_, new) => new.unwrap_or(Value::Null),
                });
            }
        }
        Ok(Value::Object(object))
    }

    /// Add on a multi-valued attribute: new values are appended, values
    /// already there take the new sub-attributes.
    fn with_values(
        &self,
        before: Option<Value>,
        new: Vec<Value>,
        resolver: &dyn AttributeResolver,
    ) -> Vec<Value> {
        let case_exact = self.value_case_exact(resolver);
        let mut list = into_list(before);
        // An index costs more to build than a few scans of the list: one
        // value added per operation (the usual case) is one scan.
        let mut index = (new.len() > FEW_VALUES).then(|| ValueIndex::new(&list, case_exact));
        let mut written = Vec::new();
        for item in new {
            let found = match &index {
                Some(index) => index.find(&list, &item),
                None => list
                    .iter()
                    .position(|existing| same_value(existing, &item, case_exact)),
            };
            match found {
                Some(at) => {
                    let mut item = item;
                    // The stored `value` is the identity: keep its spelling.
                    if let Value::Object(members) = &mut item {
                        set_ci(members, "value", None);
                    }
                    if let Some(existing) = list.get_mut(at) {
                        *existing = merge(Some(std::mem::take(existing)), item);
                    }
                    written.push(at);
                }
                None => {
                    if let Some(index) = &mut index {
                        index.insert(&item, list.len());
                    }
                    list.push(item);
                    written.push(list.len() - 1);
                }
            }
        }
        settle_primary(&mut list, &written);
        list
    }

    /// Remove with a value (Entra's members): only the values given go.
    fn without_values(
        &self,
        before: Option<Value>,
        unwanted: &Value,
        resolver: &dyn AttributeResolver,
    ) -> Option<Value> {
        let case_exact = self.value_case_exact(resolver);
        let unwanted = into_list(Some(unwanted.clone()));
        let index = (unwanted.len() > FEW_VALUES).then(|| ValueIndex::new(&unwanted, case_exact));
        let is_unwanted = |value: &Value| match &index {
            Some(index) => index.find(&unwanted, value).is_some(),
            None => unwanted.iter().any(|u| same_value(value, u, case_exact)),
        };
        match before {
            Some(Value::Array(mut list)) => {
                list.retain(|value| !is_unwanted(value));
                non_empty_list(list)
            }
            Some(single) if is_unwanted(&single) => None,
            other => other,
        }
    }

    fn value_case_exact(&self, resolver: &dyn AttributeResolver) -> bool {
        resolver
            .resolve_sub(&self.target.schema, &self.target.attr.name, "value")
            .is_some_and(|value| value.case_exact)
    }
}

/// `a eq x and b eq y` as `{a: x, b: y}`; false for any other filter.
fn collect_equalities(filter: &Filter, seed: &mut Map<String, Value>) -> bool {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if *value != CompValue::Null && path.schema.is_none() && path.sub_attr.is_none() => {
            seed.insert(path.attr.clone(), value.to_json());
            true
        }
        Filter::And(left, right) => {
            collect_equalities(left, seed) && collect_equalities(right, seed)
        }
        _ => false,
    }
}

fn single_valued(meta: &AttrMeta) -> AttrMeta {
    AttrMeta {
        multi_valued: false,
        ..meta.clone()
    }
}

/// Brings a client's value into canonical form for `meta`; `None` is no value.
fn normalize(
    value: &Value,
    meta: &AttrMeta,
    schema: &str,
    resolver: &dyn AttributeResolver,
) -> Result<Option<Value>, ScimError> {
    if meta.multi_valued {
        let element = single_valued(meta);
        // OneLogin sends a lone object for a multi-valued attribute.
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut list = Vec::new();
        let mut seen = EqualValues::default();
        for item in items {
            if let Some(item) = normalize(item, &element, schema, resolver)? {
                if seen.find(&list, &item).is_none() {
                    seen.insert(&item, list.len());
                    list.push(item);
                }
            }
        }
        return Ok(non_empty_list(list));
    }
    match value {
        // Unassigned, as in a POST or PUT body (`parse_resource`): an empty
        // string never reaches the store as a value.
        Value::Null => Ok(None),
        Value::String(text) if text.is_empty() => Ok(None),
        // Entra sends `manager` as a one-element list.
        Value::Array(items) => match items.as_slice() {
            [] => Ok(None),
            [only] => normalize(only, meta, schema, resolver),
            _ => Err(ScimError::invalid_value(format!(
                "\"{}\" takes a single value, not a list of {}",
                meta.name,
                items.len()
            ))),
        },
        Value::Object(members) if meta.kind == AttrType::Complex => {
            let mut object = Map::new();
            for (key, member) in members {
                let sub = resolver
                    .resolve_sub(schema, &meta.name, key)
                    .ok_or_else(|| {
                        ScimError::invalid_path(format!(
                            "unknown attribute \"{}.{}\"",
                            meta.name,
                            crate::untrusted::quote(key)
                        ))
                    })?;
                if let Some(member) = normalize(member, &sub, schema, resolver)? {
                    object.insert(sub.name, member);
                }
            }
            Ok((!object.is_empty()).then_some(Value::Object(object)))
        }
        // Entra sends `manager` as a bare id.
        scalar
            if meta.kind == AttrType::Complex
                && resolver.resolve_sub(schema, &meta.name, "value").is_some() =>
        {
            let wrapped = Value::Object(Map::from_iter([("value".to_string(), scalar.clone())]));
            normalize(&wrapped, meta, schema, resolver)
        }
        scalar => normalize_simple(scalar, meta).map(Some),
    }
}

fn normalize_simple(value: &Value, meta: &AttrMeta) -> Result<Value, ScimError> {
    let accepted = match (meta.kind, value) {
        (AttrType::Boolean, Value::Bool(_)) => Some(value.clone()),
        // Entra sends booleans as "True" / "False".
        (AttrType::Boolean, Value::String(text)) => parse_bool(text).map(Value::Bool),
        (AttrType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(value.clone()),
        (AttrType::Decimal, Value::Number(_)) => Some(value.clone()),
        (AttrType::DateTime, Value::String(text)) if DateTime::parse_from_rfc3339(text).is_ok() => {
            Some(value.clone())
        }
        (AttrType::String | AttrType::Reference | AttrType::Binary, Value::String(_)) => {
            Some(value.clone())
        }
        _ => None,
    };
    accepted.ok_or_else(|| {
        let kind = format!("{:?}", meta.kind).to_lowercase();
        // A value never returned (`password`) is a secret: not repeated.
        if meta.returned == Returned::Never {
            return ScimError::invalid_value(format!(
                "the value given for \"{}\" is not a valid {kind} (not repeated here: \"{}\" is never shown)",
                meta.name, meta.name
            ));
        }
        ScimError::invalid_value(format!(
            "{} is not a valid value for \"{}\" ({kind})",
            crate::untrusted::quote(&value.to_string()),
            meta.name,
        ))
    })
}

/// `new`'s members over `before`'s when both are objects; otherwise `new`.
fn merge(before: Option<Value>, new: Value) -> Value {
    match (before, new) {
        (Some(Value::Object(mut merged)), Value::Object(new)) => {
            for (key, value) in new {
                set_ci(&mut merged, &key, Some(value));
            }
            Value::Object(merged)
        }
        (_, new) => new,
    }
}

fn same_value(a: &Value, b: &Value, value_case_exact: bool) -> bool {
    match (identity_text(a), identity_text(b)) {
        (Some(x), Some(y)) => {
            let same = if value_case_exact || x == y {
                x == y
            } else if x.is_ascii() && y.is_ascii() {
                x.eq_ignore_ascii_case(&y)
            } else {
                x.to_lowercase() == y.to_lowercase()
            };
            let types_agree = match (member_text(a, "type"), member_text(b, "type")) {
                (Some(x), Some(y)) => x.eq_ignore_ascii_case(&y),
                _ => true,
            };
            same && types_agree
        }
        _ => a == b,
    }
}

/// A member of an object value as text (a non-string as its JSON).
fn member_text<'v>(value: &'v Value, name: &str) -> Option<Cow<'v, str>> {
    match value.as_object().and_then(|object| get_ci(object, name))? {
        Value::String(text) => Some(Cow::Borrowed(text)),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// The `value` sub-attribute that tells values of a multi-valued attribute apart.
fn identity_text(value: &Value) -> Option<Cow<'_, str>> {
    member_text(value, "value")
}

/// Up to this many values, scanning a list for each is cheaper than indexing it.
const FEW_VALUES: usize = 8;

/// Finds, in a list of values, one [`same_value`] as a given value without
/// comparing it with every value: values with a `value` sub-attribute by
/// that text (case folded), the others by a hash of the whole value.
struct ValueIndex {
    case_exact: bool,
    by_value: HashMap<String, Vec<usize>>,
    whole: EqualValues,
}

impl ValueIndex {
    fn new(list: &[Value], case_exact: bool) -> ValueIndex {
        let mut index = ValueIndex {
            case_exact,
            by_value: HashMap::new(),
            whole: EqualValues::default(),
        };
        for (at, value) in list.iter().enumerate() {
            index.insert(value, at);
        }
        index
    }

    /// Records that `list[at]` is `value`; `at` grows from call to call.
    fn insert(&mut self, value: &Value, at: usize) {
        match identity_text(value) {
            Some(text) => self
                .by_value
                .entry(text.to_lowercase())
                .or_default()
                .push(at),
            None => self.whole.insert(value, at),
        }
    }

    /// The first index of `list` (as recorded) holding a value the same as `value`.
    fn find(&self, list: &[Value], value: &Value) -> Option<usize> {
        match identity_text(value) {
            Some(text) => self
                .by_value
                .get(&text.to_lowercase())?
                .iter()
                .copied()
                .find(|at| {
                    list.get(*at)
                        .is_some_and(|there| same_value(there, value, self.case_exact))
                }),
            None => self.whole.find(list, value),
        }
    }
}

/// Finds a value equal (`==`) to a given one in a list by hash.
#[derive(Default)]
struct EqualValues {
    hasher: RandomState,
    by_hash: HashMap<u64, Vec<usize>>,
}

impl EqualValues {
    fn hash(&self, value: &Value) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hash_value(value, &mut hasher);
        hasher.finish()
    }

    fn insert(&mut self, value: &Value, at: usize) {
        let hash = self.hash(value);
        self.by_hash.entry(hash).or_default().push(at);
    }

    fn find(&self, list: &[Value], value: &Value) -> Option<usize> {
        self.by_hash
            .get(&self.hash(value))?
            .iter()
            .copied()
            .find(|at| list.get(*at) == Some(value))
    }
}

/// A hash agreeing with `==` on JSON values (objects iterate in key order).
fn hash_value(value: &Value, hasher: &mut impl Hasher) {
    match value {
        Value::Null => hasher.write_u8(0),
        Value::Bool(b) => {
            hasher.write_u8(1);
            b.hash(hasher);
        }
        Value::Number(n) => {
            hasher.write_u8(2);
            if let Some(n) = n.as_u64() {
                n.hash(hasher);
            } else if let Some(n) = n.as_i64() {
                n.hash(hasher);
            } else if let Some(n) = n.as_f64() {
                // 0.0 == -0.0
                (if n == 0.0 { 0.0f64 } else { n }).to_bits().hash(hasher);
            }
        }
        Value::String(text) => {
            hasher.write_u8(3);
            text.hash(hasher);
        }
        Value::Array(items) => {
            hasher.write_u8(4);
            items.len().hash(hasher);
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Object(members) => {
            hasher.write_u8(5);
            members.len().hash(hasher);
            for (key, member) in members {
                key.hash(hasher);
                hash_value(member, hasher);
            }
        }
    }
}

/// RFC 7644 §3.5.2: a value written as primary takes the mark from the
/// values the operation did not write ("the server SHALL set primary to
/// false for any existing values"). Values the operation wrote keep theirs:
/// when it wrote several primaries, the request itself breaks RFC 7643 §2.4,
/// and [`refuse_several_primaries`] refuses the result.
fn settle_primary(list: &mut [Value], written: &[usize]) {
    let is_primary = |value: &Value| value.get("primary") == Some(&Value::Bool(true));
    if !written.iter().any(|i| list.get(*i).is_some_and(is_primary)) {
        return;
    }
    let mut was_written = vec![false; list.len()];
    for index in written {
        if let Some(mark) = was_written.get_mut(*index) {
            *mark = true;
        }
    }
    for (value, written) in list.iter_mut().zip(was_written) {
        if let (false, Value::Object(object)) = (written, value) {
            object.remove("primary");
        }
    }
}

fn into_list(value: Option<Value>) -> Vec<Value> {
    match value {
        Some(Value::Array(list)) => list,
        Some(single) => vec![single],
        None => Vec::new(),
    }
}

fn non_empty_list(list: Vec<Value>) -> Option<Value> {
    (!list.is_empty()).then_some(Value::Array(list))
}

fn is_empty_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(object) => object.is_empty(),
        _ => false,
    }
}

/// Sets (or with `None` removes) a member, replacing any differently-cased key.
fn set_ci(object: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    object.retain(|key, _| !key.eq_ignore_ascii_case(name));
    if let Some(value) = value {
        object.insert(name.to_string(), value);
    }
}

/// Moves an attribute's value out of the resource (case-insensitively).
fn take(resource: &mut Map<String, Value>, target: &ResolvedAttr) -> Option<Value> {
    let container = if target.is_core {
        resource
    } else {
        let key = ci_key(resource, &target.schema)?;
        resource.get_mut(&key)?.as_object_mut()?
    };
    let key = ci_key(container, &target.attr.name)?;
    container.remove(&key)
}

/// The key `get_ci` would find `name` under.
fn ci_key(object: &Map<String, Value>, name: &str) -> Option<String> {
    if object.contains_key(name) {
        return Some(name.to_string());
    }
    object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

/// Writes an attribute's new value where a canonical resource keeps it;
/// an extension object left empty goes away.
fn store(resource: &mut Map<String, Value>, target: &ResolvedAttr, value: Option<Value>) {
    if target.is_core {
        set_ci(resource, &target.attr.name, value);
        return;
    }
    let mut extension = match ci_key(resource, &target.schema).and_then(|key| resource.remove(&key))
    {
        Some(Value::Object(extension)) => extension,
        _ => Map::new(),
    };
    set_ci(&mut extension, &target.attr.name, value);
    let kept = (!extension.is_empty()).then_some(Value::Object(extension));
    set_ci(resource, &target.schema, kept);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::path::test_support::{
        group_resolver, user_resolver, TestResolver, ENTERPRISE,
    };
    use serde_json::json;

    const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn body(operations: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": operations})
    }

    fn try_patch(
        resource: &mut Map<String, Value>,
        body: Value,
        resolver: &dyn AttributeResolver,
    ) -> Result<PatchOutcome, ScimError> {
        apply_patch(resource, &PatchRequest::from_json(&body)?, resolver)
    }

    /// Applies `body` to `resource` and returns the result; the patch must succeed.
    fn patched(resource: Value, body: Value, resolver: &dyn AttributeResolver) -> Value {
        let mut resource = object(resource);
        try_patch(&mut resource, body, resolver).unwrap_or_else(|e| panic!("{}", e.detail));
        Value::Object(resource)
    }

    fn patch_error(resource: Value, body: Value, resolver: &dyn AttributeResolver) -> ScimError {
        let mut resource = object(resource);
        let original = resource.clone();
        let err = try_patch(&mut resource, body, resolver).unwrap_err();
        assert_eq!(
            resource, original,
            "a failed PATCH must leave the resource as it was"
        );
        err
    }

    fn parse_error(body: Value) -> ScimError {
        PatchRequest::from_json(&body).unwrap_err()
    }

    fn jensen() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "id": "2819c223",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood"}],
            ENTERPRISE: {"department": "Tour", "manager": {"value": "26118915", "displayName": "John Smith"}},
            "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z"}
        })
    }

    fn group() -> Value {
        json!({
            "id": "e9e30dba",
            "displayName": "Tour Guides",
            "members": [
                {"value": "2819c223", "display": "Babs Jensen"},
                {"value": "902c246b", "display": "Mandy Pepperidge"}
            ]
        })
    }

    fn member_ids(group: &Value) -> Vec<&str> {
        group["members"]
            .as_array()
            .map(|members| {
                members
                    .iter()
                    .map(|m| m["value"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    // --- reading the body ---

    #[test]
    fn op_names_are_matched_case_insensitively() {
        let request = PatchRequest::from_json(&body(json!([
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {"op": "REPLACE", "path": "title", "value": "x"},
            {"op": "Remove", "path": "title"}
        ])))
        .unwrap();
        let ops: Vec<PatchOpKind> = request.operations.iter().map(|o| o.op).collect();
        assert_eq!(
            ops,
            [PatchOpKind::Add, PatchOpKind::Replace, PatchOpKind::Remove]
        );
    }

    #[test]
    fn missing_or_legacy_schemas_and_odd_key_case_are_accepted() {
        for raw in [
            json!({"Operations": [{"op": "add", "path": "nickName", "value": "B"}]}),
            json!({"schemas": ["urn:scim:schemas:core:1.0"], "operations": [{"OP": "add", "Path": "nickName", "Value": "B"}]}),
        ] {
            let request = PatchRequest::from_json(&raw).unwrap();
            assert_eq!(request.operations.len(), 1);
            assert_eq!(request.operations[0].value, Some(json!("B")));
        }
    }

    #[test]
    fn body_without_operations_is_invalid_syntax() {
        for raw in [
            json!({"schemas": [PATCH_OP]}),
            body(json!([])),
            body(json!({})),
            json!([]),
        ] {
            assert_eq!(parse_error(raw).scim_type, Some(ScimType::InvalidSyntax));
        }
    }

    #[test]
    fn unknown_op_is_invalid_syntax_naming_the_operation() {
        let err = parse_error(body(
            json!([{"op": "add", "path": "title", "value": "x"}, {"op": "merge", "value": {}}]),
        ));
        assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(
            err.detail,
            "Operations[1]: unknown op \"merge\": expected add, replace or remove"
        );
    }

    #[test]
    fn remove_without_path_is_no_target() {
        let err = parse_error(body(json!([{"op": "remove", "value": {"title": "x"}}])));
        assert_eq!(err.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn add_or_replace_without_value_is_invalid_value() {
        for op in ["add", "Replace"] {
            let err = parse_error(body(json!([{"op": op, "path": "title"}])));
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{op}");
        }
        let err = parse_error(body(json!([{"op": "replace", "value": "x"}])));
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn malformed_path_is_invalid_path() {
        let err = parse_error(body(
            json!([{"op": "remove", "path": "emails[type eq \"work\""}]),
        ));
        assert_eq!(err.scim_type, Some(ScimType::InvalidPath));
        assert!(err.detail.contains("expected \"]\""), "{}", err.detail);
    }

    // --- Entra ID ---

    #[test]
    fn entra_replace_of_filtered_work_email_and_family_name_updates_in_place() {
        let user = patched(
            jensen(),
            body(json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ])),
            &user_resolver(),
        );
        assert_eq!(
            user["emails"],
            json!([
                {"value": "updatedEmail@microsoft.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ])
        );
        assert_eq!(
            user["name"],
            json!({"givenName": "Barbara", "familyName": "updatedFamilyName"})
        );
    }

    #[test]
    fn entra_six_replace_operations_apply_together_including_an_enterprise_urn_path() {
        let user = patched(
            jensen(),
            body(json!([
                {"op": "Replace", "path": "displayName", "value": "Pvlo"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "TestBcwqnm@test.microsoft.com"},
                {"op": "Replace", "path": "name.givenName", "value": "Gtfd"},
                {"op": "Replace", "path": "name.familyName", "value": "Pkqf"},
                {"op": "Replace", "path": "externalId", "value": "Eqpj"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "Eqpj"}
            ])),
            &user_resolver(),
        );
        assert_eq!(user["displayName"], "Pvlo");
        assert_eq!(user["emails"][0]["value"], "TestBcwqnm@test.microsoft.com");
        assert_eq!(
            user["name"],
            json!({"givenName": "Gtfd", "familyName": "Pkqf"})
        );
        assert_eq!(user["externalId"], "Eqpj");
        assert_eq!(user[ENTERPRISE]["employeeNumber"], "Eqpj");
        assert_eq!(user[ENTERPRISE]["department"], "Tour");
    }

    #[test]
    fn entra_pathless_replace_reads_dotted_and_urn_keys_as_paths() {
        let user = patched(
            jensen(),
            body(json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "TestMhvaes@test.microsoft.com"},
                {"op": "replace", "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
                }}
            ])),
            &user_resolver(),
        );
        assert_eq!(user["displayName"], "Bjfe");
        assert_eq!(
            user["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(user[ENTERPRISE]["employeeNumber"], "Aklq");
        assert_eq!(user["emails"][0]["value"], "TestMhvaes@test.microsoft.com");
    }

    #[test]
    fn pathless_value_with_an_extension_urn_key_sets_the_extension_attributes() {
        let user = patched(
            json!({"userName": "b"}),
            body(
                json!([{"op": "add", "value": {ENTERPRISE: {"Department": "Sales", "manager": "m1"}}}]),
            ),
            &user_resolver(),
        );
        assert_eq!(
            user[ENTERPRISE],
            json!({"department": "Sales", "manager": {"value": "m1"}})
        );
    }

    #[test]
    fn path_naming_the_extension_urn_sets_its_attributes() {
        let user = patched(
            jensen(),
            body(json!([{"op": "replace", "path": ENTERPRISE, "value": {"department": "Sales"}}])),
            &user_resolver(),
        );
        assert_eq!(user[ENTERPRISE]["department"], "Sales");
        let user = patched(
            jensen(),
            body(json!([{"op": "remove", "path": ENTERPRISE}])),
            &user_resolver(),
        );
        assert!(user.get(ENTERPRISE).is_none());
    }

    #[test]
    fn schemas_inside_a_value_object_names_nothing_to_change() {
        let user = patched(
            jensen(),
            body(json!([
                {"op": "add", "path": ENTERPRISE,
                 "value": {"schemas": [ENTERPRISE], "department": "Sales"}},
                {"op": "replace",
                 "value": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "nickName": "Bab"}}
            ])),
            &user_resolver(),
        );
        assert_eq!(user[ENTERPRISE]["department"], "Sales");
        assert_eq!(user["nickName"], "Bab");
        assert_eq!(user["schemas"], jensen()["schemas"]);
    }

    #[test]
    fn entra_capitalised_add_sets_a_single_valued_attribute() {
        let user = patched(
            jensen(),
            body(json!([{"op": "Add", "path": "nickName", "value": "Babs"}])),
            &user_resolver(),
        );
        assert_eq!(user["nickName"], "Babs");
    }

    #[test]
    fn entra_manager_as_a_one_element_list_becomes_the_manager_object() {
        let user = patched(
            json!({"userName": "b"}),
            body(
                json!([{"op": "Add", "path": "manager", "value": [{"$ref": "http://.../scim/Users/m1", "value": "m1"}]}]),
            ),
            &user_resolver(),
        );
        assert_eq!(
            user[ENTERPRISE]["manager"],
            json!({"$ref": "http://.../scim/Users/m1", "value": "m1"})
        );
    }

    #[test]
    fn entra_manager_as_a_bare_id_becomes_a_value_object() {
        let user = patched(
            json!({"userName": "b"}),
            body(
                json!([{"op": "Replace", "path": format!("{ENTERPRISE}:manager"), "value": "m2"}]),
            ),
            &user_resolver(),
        );
        assert_eq!(user[ENTERPRISE]["manager"], json!({"value": "m2"}));
    }

    #[test]
    fn entra_manager_removal_by_value_filter_on_a_single_valued_attribute() {
        let removed = patched(
            jensen(),
            body(json!([{"op": "Remove", "path": "manager[value eq \"26118915\"]"}])),
            &user_resolver(),
        );
        assert_eq!(removed[ENTERPRISE], json!({"department": "Tour"}));
        let kept = patched(
            jensen(),
            body(json!([{"op": "Remove", "path": "manager[value eq \"someone-else\"]"}])),
            &user_resolver(),
        );
        assert_eq!(kept[ENTERPRISE]["manager"]["value"], "26118915");
    }

    #[test]
    fn entra_rename_replaces_user_name() {
        let user = patched(
            jensen(),
            body(json!([{"op": "Replace", "path": "userName", "value": "new@testuser.com"}])),
            &user_resolver(),
        );
        assert_eq!(user["userName"], "new@testuser.com");
    }

    #[test]
    fn entra_string_false_disables_the_user() {
        let user = patched(
            jensen(),
            body(json!([{"op": "Replace", "path": "active", "value": "False"}])),
            &user_resolver(),
        );
        assert_eq!(user["active"], json!(false));
    }

    #[test]
    fn entra_string_booleans_inside_a_pathless_object_become_booleans() {
        let user = patched(
            jensen(),
            body(json!([{"op": "replace", "value": {"active": "False"}}])),
            &user_resolver(),
        );
        assert_eq!(user["active"], json!(false));
        let user = patched(
            user,
            body(json!([{"op": "replace", "value": {"active": "TRUE"}}])),
            &user_resolver(),
        );
        assert_eq!(user["active"], json!(true));
    }

    #[test]
    fn entra_boolean_false_in_both_op_spellings_disables_the_user() {
        for raw in [
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}),
            json!({"Operations": [{"op": "Replace", "path": "active", "value": false}], "schemas": [PATCH_OP]}),
        ] {
            assert_eq!(
                patched(jensen(), raw, &user_resolver())["active"],
                json!(false)
            );
        }
    }

    #[test]
    fn other_strings_for_a_boolean_are_invalid_value() {
        let err = patch_error(
            jensen(),
            body(json!([{"op": "replace", "path": "active", "value": "no"}])),
            &user_resolver(),
        );
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(err.detail.contains("\"active\""), "{}", err.detail);
    }

    #[test]
    fn entra_add_on_a_filtered_path_without_a_match_creates_the_value() {
        let user = patched(
            json!({"userName": "b", "emails": [{"value": "b@home.org", "type": "home"}]}),
            body(json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "b@work.com"},
                {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
                {"op": "replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"}
            ])),
            &user_resolver(),
        );
        assert_eq!(
            user["emails"],
            json!([{"value": "b@home.org", "type": "home"}, {"type": "work", "value": "b@work.com"}])
        );
        assert_eq!(
            user["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 555"}])
        );
        assert_eq!(
            user["addresses"],
            json!([{"type": "work", "formatted": "1 Main St"}])
        );
    }

    #[test]
    fn the_values_a_filter_matching_nothing_created_are_reported() {
        let mut user =
            object(json!({"userName": "b", "emails": [{"value": "b@x.org", "type": "work"}]}));
        let request = body(json!([
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "c@x.org"},
            {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@x.org"},
            {"op": "remove", "path": "phoneNumbers[type eq \"mobile\"]"}
        ]));
        let outcome = apply_patch(
            &mut user,
            &PatchRequest::from_json(&request).unwrap(),
            &user_resolver(),
        )
        .unwrap();
        assert_eq!(
            outcome.created,
            vec![CreatedValue {
                schema: "urn:ietf:params:scim:schemas:core:2.0:User".into(),
                is_core: true,
                attr: "emails".into(),
                filter: "type eq \"home\"".into(),
                value: json!({"type": "home", "value": "h@x.org"}),
            }]
        );
    }

    #[test]
    fn remove_on_a_filtered_path_without_a_match_changes_nothing() {
        let mut resource = object(jensen());
        let outcome = try_patch(
            &mut resource,
            body(json!([{"op": "remove", "path": "emails[value eq \"gone@x.org\"]"}])),
            &user_resolver(),
        )
        .unwrap();
        assert_eq!(
            outcome,
            PatchOutcome {
                changed: false,
                created: Vec::new()
            }
        );
        assert_eq!(Value::Object(resource), jensen());
    }

    #[test]
    fn a_value_filter_on_a_single_valued_attribute_is_invalid_path() {
        let user = json!({"userName": "a", "name": {"givenName": "Alice", "familyName": "Smith"}});
        for operation in [
            json!({"op": "replace", "path": "name[givenName eq \"Bob\"].familyName", "value": "Jones"}),
            json!({"op": "replace", "path": "name[givenName eq \"Alice\"].familyName", "value": "Jones"}),
            json!({"op": "add", "path": "name[givenName eq \"Bob\"]", "value": {"familyName": "Jones"}}),
            json!({"op": "replace", "path": format!("{ENTERPRISE}:manager[value eq \"m\"].value"), "value": "n"}),
        ] {
            let err = patch_error(
                user.clone(),
                body(json!([operation.clone()])),
                &user_resolver(),
            );
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{operation}");
            assert!(err.detail.contains("is single-valued"), "{}", err.detail);
        }
    }

    #[test]
    fn more_operations_than_the_limit_are_refused_before_any_is_read() {
        let operation = json!({"op": "add", "path": "nickName", "value": "x"});
        let at_limit = body(Value::Array(vec![operation.clone(); MAX_OPERATIONS]));
        assert_eq!(
            PatchRequest::from_json(&at_limit).unwrap().operations.len(),
            MAX_OPERATIONS
        );
        // One over, even of operations that would not parse.
        let mut over = vec![operation; MAX_OPERATIONS];
        over.push(json!("not an operation"));
        let err = parse_error(body(Value::Array(over)));
        assert_eq!(err.status, 400);
        assert_eq!(err.scim_type, Some(ScimType::InvalidValue));
        assert!(
            err.detail
                .contains(&format!("at most {MAX_OPERATIONS} operations"))
                && err
                    .detail
                    .contains(&format!("this one has {}", MAX_OPERATIONS + 1))
                && err.detail.contains("split it"),
            "{}",
            err.detail
        );
    }

    #[test]
    fn many_operations_and_many_values_give_the_results_one_at_a_time_would() {
        // One value per operation, some repeated in another case: the
        // repeats merge into the first, as a scan of the list would find.
        let mut operations: Vec<Value> = (0..300)
            .map(|i| json!({"op": "add", "path": "emails", "value": [{"value": format!("e{i}@x.org")}]}))
            .collect();
        operations.push(json!({"op": "add", "path": "emails", "value": [{"value": "E7@X.ORG", "type": "home"}]}));
        operations.push(json!({"op": "remove", "path": "emails", "value": [{"value": "e8@x.org"}, {"value": "e9@x.org"}, {"value": "E9@X.org"}]}));
        operations.push(json!({"op": "replace", "path": "emails[value eq \"e10@x.org\"].type", "value": "other"}));
        let user = patched(
            json!({"userName": "b"}),
            body(Value::Array(operations)),
            &user_resolver(),
        );
        let emails = user["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 298);
        assert_eq!(emails[7], json!({"value": "e7@x.org", "type": "home"}));
        assert_eq!(emails[8]["value"], "e10@x.org");
        assert_eq!(emails[8]["type"], "other");
        // A list repeating values in one operation keeps one of each.
        let values: Vec<Value> = (0..2000)
            .map(|i| json!({"type": "work", "value": format!("v{}@x.org", i % 1000)}))
            .collect();
        let user = patched(
            json!({"userName": "b"}),
            body(json!([{"op": "add", "path": "emails", "value": values}])),
            &user_resolver(),
        );
        assert_eq!(user["emails"].as_array().unwrap().len(), 1000);
    }

    #[test]
    fn replace_on_a_filter_that_cannot_describe_a_value_is_no_target() {
        let err = patch_error(
            jensen(),
            body(
                json!([{"op": "replace", "path": "emails[value co \"@nowhere\"].type", "value": "other"}]),
            ),
            &user_resolver(),
        );
        assert_eq!(err.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn entra_group_add_members_drops_null_refs() {
        let group = patched(
            group(),
            body(
                json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u3"}]}]),
            ),
            &group_resolver(),
        );
        assert_eq!(group["members"][2], json!({"value": "u3"}));
    }

    #[test]
    fn adding_a_member_already_present_changes_nothing() {
        let mut resource = object(group());
        let outcome = try_patch(
            &mut resource,
            body(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "2819C223"}]}])),
            &group_resolver(),
        )
        .unwrap();
        assert!(!outcome.changed);
        assert_eq!(Value::Object(resource), group());
    }

    #[test]
    fn entra_group_rename_replaces_display_name_and_keeps_members() {
        let group = patched(
            group(),
            body(
                json!([{"op": "Replace", "path": "displayName", "value": "1879db59updatedDisplayName"}]),
            ),
            &group_resolver(),
        );
        assert_eq!(group["displayName"], "1879db59updatedDisplayName");
        assert_eq!(member_ids(&group), ["2819c223", "902c246b"]);
    }

    #[test]
    fn entra_remove_members_with_a_value_list_removes_only_those() {
        let group = patched(
            group(),
            body(
                json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "2819c223"}]}]),
            ),
            &group_resolver(),
        );
        assert_eq!(member_ids(&group), ["902c246b"]);
    }

    #[test]
    fn entra_remove_member_by_filter_path_removes_only_that_member() {
        let group = patched(
            group(),
            body(json!([{"op": "remove", "path": "members[value eq \"902c246b\"]"}])),
            &group_resolver(),
        );
        assert_eq!(member_ids(&group), ["2819c223"]);
    }

    #[test]
    fn removing_a_member_that_is_not_there_changes_nothing() {
        let mut resource = object(group());
        let outcome = try_patch(
            &mut resource,
            body(json!([{"op": "remove", "path": "members[value eq \"gone\"]"}])),
            &group_resolver(),
        )
        .unwrap();
        assert!(!outcome.changed);
    }

    // --- Okta ---

    #[test]
    fn okta_pathless_replace_deactivates_and_reactivates() {
        let user = patched(
            jensen(),
            body(json!([{"op": "replace", "value": {"active": false}}])),
            &user_resolver(),
        );
        assert_eq!(user["active"], json!(false));
        let user = patched(
            user,
            body(json!([{"op": "replace", "value": {"active": true}}])),
            &user_resolver(),
        );
        assert_eq!(user["active"], json!(true));
    }

    #[test]
    fn okta_rename_with_the_current_id_ignores_the_id() {
        let group = patched(
            group(),
            body(
                json!([{"op": "replace", "value": {"id": "e9e30dba", "displayName": "Test SCIMv2"}}]),
            ),
            &group_resolver(),
        );
        assert_eq!(group["displayName"], "Test SCIMv2");
        assert_eq!(group["id"], "e9e30dba");
    }

    #[test]
    fn okta_rename_to_the_current_name_changes_nothing() {
        let mut resource = object(group());
        let outcome = try_patch(
            &mut resource,
            body(json!([{"op": "replace", "value": {"id": "e9e30dba", "displayName": "Tour Guides"}}])),
            &group_resolver(),
        )
        .unwrap();
        assert!(!outcome.changed);
    }

    #[test]
    fn okta_rename_with_a_different_id_is_a_mutability_error() {
        let err = patch_error(
            group(),
            body(
                json!([{"op": "replace", "value": {"id": "other", "displayName": "Test SCIMv2"}}]),
            ),
            &group_resolver(),
        );
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
        assert_eq!(
            err.detail,
            "Operations[0]: \"id\" is read-only and cannot be changed"
        );
    }

    #[test]
    fn okta_add_member_with_display_appends_it() {
        let group = patched(
            group(),
            body(
                json!([{"op": "add", "path": "members", "value": [{"value": "u3", "display": "test.user@okta.local"}]}]),
            ),
            &group_resolver(),
        );
        assert_eq!(member_ids(&group), ["2819c223", "902c246b", "u3"]);
        assert_eq!(group["members"][2]["display"], "test.user@okta.local");
    }

    #[test]
    fn okta_remove_and_add_in_one_request_apply_in_order() {
        let group = patched(
            group(),
            body(json!([
                {"op": "remove", "path": "members[value eq \"902c246b\"]"},
                {"op": "add", "path": "members", "value": [{"value": "u3", "display": "test.user@okta.local"}]}
            ])),
            &group_resolver(),
        );
        assert_eq!(member_ids(&group), ["2819c223", "u3"]);
    }

    #[test]
    fn okta_replace_members_sets_exactly_the_given_members() {
        let group = patched(
            group(),
            body(json!([{"op": "replace", "path": "members", "value": [
                {"value": "u3", "display": "test.user@okta.local"},
                {"value": "u4", "display": "test.user@okta.local"}
            ]}])),
            &group_resolver(),
        );
        assert_eq!(member_ids(&group), ["u3", "u4"]);
    }

    #[test]
    fn okta_replace_members_with_an_empty_list_empties_the_group() {
        let group = patched(
            group(),
            body(json!([{"op": "replace", "path": "members", "value": []}])),
            &group_resolver(),
        );
        assert_eq!(
            group,
            json!({"id": "e9e30dba", "displayName": "Tour Guides"})
        );
        let pathless = patched(
            self::group(),
            body(
                json!([{"op": "replace", "value": {"id": "e9e30dba", "displayName": "Tour Guides", "members": []}}]),
            ),
            &group_resolver(),
        );
        assert_eq!(pathless, group);
    }

    // --- OneLogin ---

    #[test]
    fn onelogin_single_email_object_becomes_a_one_element_list() {
        let user = patched(
            jensen(),
            body(
                json!([{"op": "replace", "path": "emails", "value": {"value": "new@example.com", "primary": true, "type": "work"}}]),
            ),
            &user_resolver(),
        );
        assert_eq!(
            user["emails"],
            json!([{"value": "new@example.com", "primary": true, "type": "work"}])
        );
        let pathless = patched(
            jensen(),
            body(
                json!([{"op": "replace", "value": {"emails": {"value": "new@example.com", "primary": true, "type": "work"}}}]),
            ),
            &user_resolver(),
        );
        assert_eq!(pathless["emails"], user["emails"]);
    }

    #[test]
    fn onelogin_add_member_to_an_empty_group() {
        let group = patched(
            json!({"id": "g", "displayName": "G"}),
            body(json!([{"op": "add", "path": "members", "value": [{"value": "u1"}]}])),
            &group_resolver(),
        );
        assert_eq!(group["members"], json!([{"value": "u1"}]));
    }

    // --- RFC 7644 §3.5.2 ---

    #[test]
    fn rfc_add_member_with_display_and_ref() {
        let member = json!({"display": "Babs Jensen", "$ref": "https://example.com/v2/Users/u9", "value": "u9"});
        let group = patched(
            group(),
            body(json!([{"op": "add", "path": "members", "value": [member.clone()]}])),
            &group_resolver(),
        );
        assert_eq!(group["members"][2], member);
    }

    #[test]
    fn rfc_pathless_add_appends_emails_and_sets_nickname_case_insensitively() {
        let user = patched(
            json!({"userName": "b", "emails": [{"value": "bjensen@example.com", "type": "work"}]}),
            body(
                json!([{"op": "add", "value": {"emails": [{"value": "babs@jensen.org", "type": "home"}], "nickname": "Babs"}}]),
            ),
            &user_resolver(),
        );
        assert_eq!(
            user,
            json!({"userName": "b", "nickName": "Babs", "emails": [
                {"value": "bjensen@example.com", "type": "work"},
                {"value": "babs@jensen.org", "type": "home"}
            ]})
        );
    }

    #[test]
    fn rfc_remove_all_members() {
        let group = patched(
            group(),
            body(json!([{"op": "remove", "path": "members"}])),
            &group_resolver(),
        );
        assert!(group.get("members").is_none());
    }

    #[test]
    fn rfc_replace_work_address_replaces_the_matching_value() {
        let address = json!({"type": "work", "streetAddress": "911 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "formatted": "911 Universal City Plaza\nHollywood, CA 91608 US", "primary": true});
        let user = patched(
            jensen(),
            body(
                json!([{"op": "replace", "path": "addresses[type eq \"work\"]", "value": address.clone()}]),
            ),
            &user_resolver(),
        );
        assert_eq!(user["addresses"], json!([address]));
    }

    #[test]
    fn rfc_replace_street_of_the_work_address_keeps_its_other_parts() {
        let user = patched(
            jensen(),
            body(
                json!([{"op": "replace", "path": "addresses[type eq \"work\"].streetAddress", "value": "1010 Broadway Ave"}]),
            ),
            &user_resolver(),
        );
        assert_eq!(
            user["addresses"],
            json!([{"type": "work", "streetAddress": "1010 Broadway Ave", "locality": "Hollywood"}])
        );
    }

    #[test]
    fn rfc_pathless_replace_replaces_the_whole_email_list() {
        let emails = json!([{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}]);
        let user = patched(
            json!({"userName": "b", "emails": [{"value": "old@example.com", "type": "other"}]}),
            body(
                json!([{"op": "replace", "value": {"emails": emails.clone(), "nickname": "Babs"}}]),
            ),
            &user_resolver(),
        );
        assert_eq!(user["emails"], emails);
        assert_eq!(user["nickName"], "Babs");
    }

    #[test]
    fn rfc_remove_by_complex_filter_removes_only_matching_values() {
        let user = patched(
            jensen(),
            body(
                json!([{"op": "remove", "path": "emails[type eq \"work\" and value ew \"example.com\"]"}]),
            ),
            &user_resolver(),
        );
        assert_eq!(
            user["emails"],
            json!([{"value": "babs@jensen.org", "type": "home"}])
        );
    }

    #[test]
    fn replace_of_a_complex_attribute_keeps_sub_attributes_not_given() {
        let user = patched(
            jensen(),
            body(json!([{"op": "replace", "path": "name", "value": {"familyName": "Doe"}}])),
            &user_resolver(),
        );
        assert_eq!(
            user["name"],
            json!({"givenName": "Barbara", "familyName": "Doe"})
        );
    }

    #[test]
    fn removing_the_last_sub_attribute_removes_the_attribute() {
        let user = patched(
            json!({"userName": "b", "name": {"givenName": "B"}}),
            body(json!([{"op": "remove", "path": "name.givenName"}])),
            &user_resolver(),
        );
        assert_eq!(user, json!({"userName": "b"}));
    }

    #[test]
    fn removing_a_sub_attribute_of_matching_values_keeps_the_values() {
        let user = patched(
            jensen(),
            body(json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}])),
            &user_resolver(),
        );
        assert_eq!(
            user["emails"][0],
            json!({"value": "bjensen@example.com", "type": "work"})
        );
    }

    #[test]
    fn replace_with_null_clears_the_attribute() {
        let user = patched(
            jensen(),
            body(json!([{"op": "replace", "path": "userName", "value": null}])),
            &user_resolver(),
        );
        assert!(user.get("userName").is_none());
    }

    const TWO_PRIMARY_EMAILS: &str =
        "emails: 2 values are marked primary; at most one may be (RFC 7643 §2.4)";

    #[test]
    fn one_operation_writing_two_primary_values_is_refused_as_a_post_would_be() {
        let two = json!([{"value": "q4@x.org", "primary": true}, {"value": "q5@x.org", "primary": "True"}]);
        for operation in [
            json!({"op": "add", "path": "emails", "value": two.clone()}),
            json!({"op": "replace", "path": "emails", "value": two.clone()}),
            json!({"op": "add", "value": {"emails": two.clone()}}),
            json!({"op": "replace", "value": {"emails": two.clone()}}),
        ] {
            let err = patch_error(jensen(), body(json!([operation.clone()])), &user_resolver());
            assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{operation}");
            assert_eq!(err.detail, TWO_PRIMARY_EMAILS, "{operation}");
        }
        // The same detail as a POST body with two primaries.
        let post = crate::scim::resource::parse_resource(
            &json!({"userName": "b", "emails": two}),
            &crate::scim::schema::ResourceSchema::user(),
        )
        .unwrap_err();
        assert_eq!(post.detail, TWO_PRIMARY_EMAILS);
    }

    #[test]
    fn a_filter_or_sub_attribute_path_making_several_values_primary_is_refused() {
        for operation in [
            json!({"op": "replace", "path": "emails.primary", "value": true}),
            json!({"op": "replace", "path": "emails[value co \"@\"].primary", "value": true}),
            json!({"op": "replace", "path": "emails[value co \"@\"]", "value": {"primary": true}}),
        ] {
            let err = patch_error(jensen(), body(json!([operation.clone()])), &user_resolver());
            assert_eq!(err.detail, TWO_PRIMARY_EMAILS, "{operation}");
        }
    }

    #[test]
    fn each_operation_adding_a_primary_takes_the_mark_from_the_values_before_it() {
        let user = patched(
            jensen(),
            body(json!([
                {"op": "add", "path": "emails", "value": [{"value": "a@x.org", "primary": true}]},
                {"op": "add", "value": {"emails": [{"value": "b@x.org", "primary": true}]}}
            ])),
            &user_resolver(),
        );
        let primaries: Vec<&Value> = user["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == json!(true))
            .map(|e| &e["value"])
            .collect();
        assert_eq!(primaries, [&json!("b@x.org")]);
    }

    #[test]
    fn every_multi_valued_attribute_with_primary_holds_one_primary_after_a_patch() {
        let schema = crate::scim::schema::ResourceSchema::user();
        for attr in [
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            // Addresses have no `value`: they are told apart by `type`.
            let item = |n: &str, primary: bool| match attr {
                "addresses" => json!({"type": n, "locality": n, "primary": primary}),
                _ => json!({"value": n, "type": n, "primary": primary}),
            };
            let current = json!({"userName": "b", attr: [item("work", true)]});
            // One new primary: the add wins over the value already primary.
            let one = patched(
                current.clone(),
                body(json!([{"op": "add", "path": attr, "value": [item("home", true)]}])),
                &schema,
            );
            let marks: Vec<&Value> = one[attr]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| &v["primary"])
                .collect();
            assert_eq!(marks, [&Value::Null, &json!(true)], "{attr}: {one}");
            // Two new primaries in one request: refused, whichever the op.
            for op in ["add", "replace"] {
                let err = patch_error(
                    current.clone(),
                    body(
                        json!([{"op": op, "path": attr, "value": [item("home", true), item("other", true)]}]),
                    ),
                    &schema,
                );
                assert_eq!(err.scim_type, Some(ScimType::InvalidValue), "{attr} {op}");
                assert_eq!(
                    err.detail,
                    format!(
                        "{attr}: 2 values are marked primary; at most one may be (RFC 7643 §2.4)"
                    )
                );
            }
        }
    }

    #[test]
    fn two_primaries_the_patch_did_not_touch_are_not_its_fault() {
        let user = patched(
            json!({"userName": "b", "emails": [
                {"value": "a@x.org", "primary": true},
                {"value": "b@x.org", "primary": true}
            ]}),
            body(json!([{"op": "replace", "path": "title", "value": "x"}])),
            &user_resolver(),
        );
        assert_eq!(user["title"], "x");
    }

    #[test]
    fn a_new_primary_value_clears_primary_on_the_others() {
        let user = patched(
            jensen(),
            body(
                json!([{"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "other", "primary": true}]}]),
            ),
            &user_resolver(),
        );
        let primaries: Vec<&str> = user["emails"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["primary"] == json!(true))
            .map(|e| e["value"].as_str().unwrap())
            .collect();
        assert_eq!(primaries, ["new@example.com"]);
        assert_eq!(
            user["emails"][0],
            json!({"value": "bjensen@example.com", "type": "work"})
        );
    }

    #[test]
    fn primary_set_through_a_filtered_path_clears_primary_on_the_others() {
        let user = patched(
            jensen(),
            body(
                json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]),
            ),
            &user_resolver(),
        );
        assert_eq!(user["emails"][0].get("primary"), None);
        assert_eq!(user["emails"][1]["primary"], json!(true));
    }

    // --- errors and atomicity ---

    #[test]
    fn unknown_attribute_is_invalid_path() {
        for operation in [
            json!({"op": "add", "path": "favouriteColour", "value": "blue"}),
            json!({"op": "replace", "value": {"favouriteColour": "blue"}}),
            json!({"op": "add", "path": "emails", "value": [{"value": "a@b", "colour": "blue"}]}),
        ] {
            let err = patch_error(jensen(), body(json!([operation])), &user_resolver());
            assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{}", err.detail);
            assert!(err.detail.contains("olour"), "{}", err.detail);
        }
    }

    #[test]
    fn a_path_filter_value_of_the_wrong_type_is_invalid_filter() {
        for path in [
            "emails[value eq true]",
            "emails[value eq false].type",
            "emails[primary eq \"yes\"]",
            "emails[type sw null]",
        ] {
            let err = patch_error(
                jensen(),
                body(json!([{"op": "replace", "path": path, "value": {"value": "x@y.org"}}])),
                &user_resolver(),
            );
            assert_eq!(
                err.scim_type,
                Some(ScimType::InvalidFilter),
                "{path}: {}",
                err.detail
            );
            assert!(err.detail.contains("cannot be compared"), "{}", err.detail);
        }
        // An unknown sub-attribute is still a bad path.
        let err = patch_error(
            jensen(),
            body(json!([{"op": "remove", "path": "emails[colour eq \"blue\"]"}])),
            &user_resolver(),
        );
        assert_eq!(err.scim_type, Some(ScimType::InvalidPath), "{}", err.detail);
    }

    #[test]
    fn a_required_attribute_cannot_be_removed_as_a_post_cannot_leave_it_out() {
        let schema = crate::scim::schema::ResourceSchema::user();
        for operation in [
            json!({"op": "remove", "path": "userName"}),
            json!({"op": "replace", "path": "userName", "value": null}),
            json!({"op": "replace", "path": "userName", "value": ""}),
            json!({"op": "replace", "value": {"userName": ""}}),
        ] {
            let err = patch_error(jensen(), body(json!([operation.clone()])), &schema);
            assert_eq!(err.scim_type, Some(ScimType::Mutability), "{operation}");
            assert!(
                err.detail
                    .starts_with("userName is required: a PATCH may replace it"),
                "{operation}: {}",
                err.detail
            );
        }
        // A user without one (as Drupal may show it) is not the patch's fault.
        let user = patched(
            json!({"id": "u", "title": "t"}),
            body(json!([{"op": "replace", "path": "title", "value": "x"}])),
            &schema,
        );
        assert_eq!(user["title"], "x");
    }

    #[test]
    fn a_required_extension_attribute_cannot_be_removed_while_the_extension_stays() {
        use crate::scim::schema::{AttributeDef, ResourceSchema, SchemaDef};
        let mut number = AttributeDef::new("number", AttrType::String);
        number.required = true;
        let badge = SchemaDef {
            id: "urn:example:badge".into(),
            name: "Badge".into(),
            description: String::new(),
            attributes: vec![number, AttributeDef::new("colour", AttrType::String)],
        };
        let schema = ResourceSchema::new(SchemaDef::user(), vec![badge]);
        let user = json!({"userName": "b", "urn:example:badge": {"number": "7", "colour": "red"}});
        for operation in [
            json!({"op": "remove", "path": "urn:example:badge:number"}),
            json!({"op": "replace", "path": "urn:example:badge:number", "value": ""}),
        ] {
            let err = patch_error(user.clone(), body(json!([operation.clone()])), &schema);
            assert_eq!(err.scim_type, Some(ScimType::Mutability), "{operation}");
            assert!(
                err.detail.starts_with("number is required"),
                "{}",
                err.detail
            );
        }
        // Without the extension at all, as a PUT may leave it out.
        let gone = patched(
            user,
            body(json!([{"op": "remove", "path": "urn:example:badge"}])),
            &schema,
        );
        assert_eq!(gone, json!({"userName": "b"}));
    }

    #[test]
    fn an_empty_string_is_unassigned_as_in_a_post_body() {
        let user = patched(
            jensen(),
            body(json!([
                {"op": "replace", "path": "name.givenName", "value": ""},
                {"op": "add", "path": "emails", "value": [{"value": "", "type": "other"}]},
                {"op": "replace", "value": {"nickName": ""}}
            ])),
            &user_resolver(),
        );
        assert_eq!(user["name"], json!({"familyName": "Jensen"}));
        assert!(user["emails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["value"] != json!("")));
        assert!(user.get("nickName").is_none());
    }

    #[test]
    fn read_only_attributes_cannot_change() {
        for operation in [
            json!({"op": "replace", "path": "id", "value": "other"}),
            json!({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}),
            json!({"op": "add", "path": "groups", "value": [{"value": "g1"}]}),
            json!({"op": "remove", "path": "id"}),
        ] {
            let err = patch_error(jensen(), body(json!([operation.clone()])), &user_resolver());
            assert_eq!(err.scim_type, Some(ScimType::Mutability), "{operation}");
        }
    }

    #[test]
    fn immutable_values_can_be_set_once() {
        let group = patched(
            json!({"displayName": "G"}),
            body(json!([{"op": "add", "path": "members[value eq \"u1\"].value", "value": "u1"}])),
            &group_resolver(),
        );
        assert_eq!(group["members"], json!([{"value": "u1"}]));
        let err = patch_error(
            group,
            body(json!([{"op": "replace", "path": "members.value", "value": "u2"}])),
            &group_resolver(),
        );
        assert_eq!(err.scim_type, Some(ScimType::Mutability));
    }

    #[test]
    fn wrong_json_types_are_invalid_value() {
        for (path, value) in [
            ("userName", json!(42)),
            ("active", json!(1)),
            ("emails", json!([{"value": "a@b", "primary": "maybe"}])),
            ("meta.created", json!("yesterday")),
            (
                "urn:example:params:scim:schemas:extension:metrics:2.0:User:loginCount",
                json!(1.5),
            ),
            ("userName", json!(["a", "b"])),
        ] {
            let err = patch_error(
                jensen(),
                body(json!([{"op": "replace", "path": path, "value": value}])),
                &user_resolver(),
            );
            assert_eq!(
                err.scim_type,
                Some(ScimType::InvalidValue),
                "{path}: {}",
                err.detail
            );
        }
    }

    #[test]
    fn a_failing_operation_leaves_the_resource_untouched() {
        let err = patch_error(
            jensen(),
            body(json!([
                {"op": "replace", "path": "displayName", "value": "changed"},
                {"op": "replace", "path": "userName", "value": 42}
            ])),
            &user_resolver(),
        );
        assert_eq!(
            err.detail,
            "Operations[1]: 42 is not a valid value for \"userName\" (string)"
        );
    }

    #[test]
    fn a_patch_that_sets_current_values_reports_no_change() {
        let mut resource = object(jensen());
        let outcome = try_patch(
            &mut resource,
            body(json!([
                {"op": "replace", "path": "active", "value": "True"},
                {"op": "replace", "path": "name.givenName", "value": "Barbara"},
                {"op": "add", "path": "emails", "value": {"value": "babs@jensen.org", "type": "home"}}
            ])),
            &user_resolver(),
        )
        .unwrap();
        assert_eq!(
            outcome,
            PatchOutcome {
                changed: false,
                created: Vec::new()
            }
        );
        let outcome = try_patch(
            &mut resource,
            body(json!([{"op": "add", "path": "title", "value": "x"}])),
            &user_resolver(),
        )
        .unwrap();
        assert!(outcome.changed);
        assert_eq!(resource["title"], "x");
    }

    // --- state independence ---

    fn independent(operations: Value, resolver: &TestResolver) -> bool {
        PatchRequest::from_json(&body(operations))
            .unwrap()
            .is_state_independent(resolver)
    }

    #[test]
    fn single_valued_writes_are_state_independent() {
        let users = user_resolver();
        assert!(independent(
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
            &users
        ));
        assert!(independent(
            json!([{"op": "replace", "value": {"active": false}}]),
            &users
        ));
        assert!(independent(
            json!([{"op": "replace", "value": {"displayName": "B", "name.givenName": "K", format!("{ENTERPRISE}:employeeNumber"): "7"}}]),
            &users
        ));
        assert!(independent(
            json!([{"op": "Add", "path": "manager", "value": [{"value": "m1"}]}]),
            &users
        ));
        assert!(independent(
            json!([{"op": "replace", "value": {"id": "g", "displayName": "new"}}]),
            &group_resolver()
        ));
    }

    #[test]
    fn removals_lists_filters_nulls_and_read_only_writes_depend_on_state() {
        let users = user_resolver();
        for operations in [
            json!([{"op": "remove", "path": "title"}]),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@b"}]),
            json!([{"op": "add", "path": "emails", "value": [{"value": "a@b"}]}]),
            json!([{"op": "replace", "path": "title", "value": null}]),
            json!([{"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
            json!([{"op": "replace", "path": "active", "value": false}, {"op": "remove", "path": "title"}]),
            json!([{"op": "replace", "path": "nosuch", "value": "x"}]),
        ] {
            assert!(!independent(operations.clone(), &users), "{operations}");
        }
        assert!(!independent(
            json!([{"op": "replace", "path": "members", "value": []}]),
            &group_resolver()
        ));
    }

    #[test]
    fn state_independent_request_applied_to_an_id_only_resource_yields_its_writes() {
        let request = PatchRequest::from_json(&body(json!([
            {"op": "replace", "value": {"id": "g", "displayName": "Test SCIMv2"}}
        ])))
        .unwrap();
        assert!(request.is_state_independent(&group_resolver()));
        let mut seeded = object(json!({"id": "g"}));
        apply_patch(&mut seeded, &request, &group_resolver()).unwrap();
        assert_eq!(
            Value::Object(seeded),
            json!({"id": "g", "displayName": "Test SCIMv2"})
        );
    }
}
