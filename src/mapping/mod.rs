//! The mapping file: which SCIM user attribute fills which Drupal user field,
//! and back. It is read once at start-up into an immutable [`Mapping`];
//! applying it is pure (no I/O), so it is shared freely between requests.
//!
//! The file format is documented in `mappings/README.md`.

mod binding;
mod catalog;
mod compile;
mod datetime;
pub(crate) mod document;
pub(crate) mod error;
mod field;
mod groups;
mod path;
#[cfg(test)]
mod properties;
mod raw;
mod rule;
mod schema;
mod template;
mod transform;
mod tree;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::scim::caseless;
use crate::scim::resource::Unassigned;

pub use binding::{FieldBinding, MatchKey};
pub use error::{Diagnostic, Item, MappingError, Section};
pub use field::{AttributeSource, FieldType};
pub use groups::{GroupExposure, GroupGrant, GroupTerms};
pub use schema::{CustomAttribute, CustomSchema};
pub use tree::{key_order, Members, Node};

use groups::RoleRule;
use raw::WhenAbsent;
use rule::{Read, Rule, Source};

/// A checked, compiled mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    rules: Vec<Rule>,
    match_key: MatchKey,
    custom_schemas: Vec<CustomSchema>,
    groups: Vec<GroupExposure>,
    group_grants: Vec<GroupGrant>,
    group_terms: Option<GroupTerms>,
    role_rules: Vec<RoleRule>,
    /// See [`Mapping::plain_keys`].
    plain_keys: bool,
    /// The file as read, so that a problem found once the mapping meets a
    /// site's settings is placed (file, line, column) like a load error.
    origin: Arc<Origin>,
}

/// The text a mapping was compiled from, and the name messages give it.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    file: String,
    source: String,
}

/// One SCIM value a rule connects to a Drupal field: what `/Schemas`
/// publishes, so a client knows which attributes the bridge keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedAttribute {
    /// The schema URN as the catalog spells it.
    pub schema: String,
    pub attr: String,
    pub sub_attr: Option<String>,
    /// Shown to the IdP on reads.
    pub reads: bool,
    /// Written to Drupal.
    pub writes: bool,
    /// The `type` of the element of a multi-valued attribute it stands for.
    pub element_type: Option<String>,
    /// The element read back is marked `primary`.
    pub marks_primary: bool,
}

/// A Drupal field as the mapping uses it, for comparing with a real site.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedField {
    pub name: String,
    pub field_type: FieldType,
    pub multiple: bool,
    /// For `entity_reference`: the JSON:API type of the referenced entities.
    pub reference_type: Option<String>,
    /// The first rule that names the field, for messages.
    pub rule: Item,
}

/// Why a user is written: some rules apply only when the account is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePurpose {
    /// POST: absent sources leave fields out, Drupal's defaults apply.
    Create,
    /// PUT or PATCH of the whole user: absent sources clear their fields
    /// (unless the rule keeps them), write-once fields are left alone.
    Update,
}

/// The `attributes` and `relationships` members of a Drupal `user--user`
/// JSON:API document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrupalWrite {
    pub attributes: Map<String, Value>,
    pub relationships: Map<String, Value>,
}

impl Mapping {
    /// Refuses the mapping when a rule writes `field`, which the site's
    /// settings give to the bridge: `owner` says what writes it and what a
    /// rule writing it would do, `hint` how to fix it.
    pub fn refuse_writes_to(
        &self,
        field: &str,
        owner: &str,
        hint: &str,
    ) -> Result<(), MappingError> {
        match self
            .rules
            .iter()
            .position(|r| r.direction.writes() && r.target.field == field)
        {
            Some(index) => Err(error::Problem::new(
                document::NodePath::entry(Section::Rule, index).key("drupal"),
                format!("it writes {field}, {owner}"),
            )
            .hint(hint)
            .into_error(&self.origin.source, &self.origin.file)),
            None => Ok(()),
        }
    }

    /// Reads and compiles a mapping file; messages name the file as given.
    pub fn load_file(path: &Path) -> Result<Mapping, MappingError> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path).map_err(|source| MappingError::Unreadable {
            file: file.clone(),
            source,
        })?;
        Mapping::parse(&source, &file)
    }

    /// Compiles mapping text; `origin` names it in messages.
    pub fn parse(source: &str, origin: &str) -> Result<Mapping, MappingError> {
        let raw: raw::RawMapping = serde_yaml_ng::from_str(source)
            .map_err(|e| document::yaml_error(&e, source, origin))?;
        let origin = Arc::new(Origin {
            file: origin.to_string(),
            source: source.to_string(),
        });
        compile::compile(&raw, origin.clone())
            .map_err(|problem| problem.into_error(&origin.source, &origin.file))
    }

    /// The Drupal attributes and relationships for a canonical SCIM user.
    ///
    /// On [`WritePurpose::Update`] the user must be the whole resource (as
    /// after PUT, or after applying a PATCH to the current user): a field
    /// whose source is absent is cleared, except fields Drupal requires
    /// (`name`, `mail`), `status` (a PUT without `active` must not block
    /// anyone) and rules with `when_absent: keep`; those are left out, and
    /// their `default` is not applied either.
    pub fn to_drupal(
        &self,
        user: &Map<String, Value>,
        purpose: WritePurpose,
    ) -> Result<DrupalWrite, MappingError> {
        self.write(user, purpose, None)
    }

    /// The write of a PUT (an update): [`Mapping::to_drupal`], except that
    /// a field whose source the body `unassigned` (`null`, `[]`) is
    /// cleared even where the rule keeps an absent one (RFC 7644 §3.5.1).
    /// A field Drupal keeps a value in ([`Mapping::never_cleared`]) gets
    /// `null` then, which the caller refuses where the account holds a
    /// value, as a PATCH `remove` of it is refused.
    pub fn to_drupal_replacing(
        &self,
        user: &Map<String, Value>,
        unassigned: &Unassigned,
    ) -> Result<DrupalWrite, MappingError> {
        self.write(user, WritePurpose::Update, Some(unassigned))
    }

    fn write(
        &self,
        user: &Map<String, Value>,
        purpose: WritePurpose,
        unassigned: Option<&Unassigned>,
    ) -> Result<DrupalWrite, MappingError> {
        let mut out = DrupalWrite::default();
        for rule in self.rules.iter().filter(|r| r.direction.writes()) {
            if rule.write_once && purpose == WritePurpose::Update {
                continue;
            }
            let cleared = purpose == WritePurpose::Update
                && unassigned.is_some_and(|u| rule.unassigned_by(u));
            let keeps_absent =
                purpose == WritePurpose::Update && rule.when_absent == WhenAbsent::Keep && !cleared;
            // A default would make a value of the `null` that clears a
            // field Drupal never empties; the caller judges that `null`.
            let defaults = !(keeps_absent || (cleared && rule.never_cleared()));
            let values = rule.drupal_values(user, defaults);
            let value = if !values.is_empty() {
                rule.target
                    .encode(&values)
                    .map_err(|problem| MappingError::Value {
                        item: rule.item.clone(),
                        problem,
                    })?
            } else if purpose == WritePurpose::Update && !keeps_absent {
                rule.target.cleared()
            } else {
                continue;
            };
            let members = if rule.target.is_relationship() {
                &mut out.relationships
            } else {
                &mut out.attributes
            };
            members.insert(rule.target.field.clone(), value);
        }
        Ok(out)
    }

    /// The write of an update that sets only the core attributes in `set`
    /// (top-level, single-valued, simple, each with a value), when it
    /// depends on no other value of the account: every key feeds rules of
    /// its own, reading it alone (no template, no write-once rule, no
    /// field another rule also writes). `None` otherwise: the caller then
    /// computes the write from the account as Drupal holds it.
    pub fn write_of_own(&self, set: &Map<String, Value>) -> Option<DrupalWrite> {
        let mut out = DrupalWrite::default();
        for (key, value) in set {
            if value.is_null() || value.is_array() || value.is_object() {
                return None;
            }
            let mut feeds = false;
            for rule in self.rules.iter().filter(|r| r.direction.writes()) {
                let own = match &rule.source {
                    Source::Attribute(path) => path.core && path.attr.eq_ignore_ascii_case(key),
                    Source::Template(template) if template.reads(key) => return None,
                    _ => false,
                };
                if !own {
                    continue;
                }
                let path = rule.scim_path()?;
                if path.sub.is_some()
                    || path.filter.is_some()
                    || path.multi_valued
                    || path.complex
                    || rule.write_once
                {
                    return None;
                }
                let shared = self
                    .rules
                    .iter()
                    .filter(|r| r.direction.writes())
                    .any(|other| {
                        other.target.field == rule.target.field
                            && other
                                .scim_path()
                                .is_none_or(|p| !p.core || !p.attr.eq_ignore_ascii_case(key))
                    });
                if shared {
                    return None;
                }
                let values = rule.drupal_values(set, false);
                if values.is_empty() {
                    return None;
                }
                let encoded = rule.target.encode(&values).ok()?;
                let members = match rule.target.is_relationship() {
                    true => &mut out.relationships,
                    false => &mut out.attributes,
                };
                members.insert(rule.target.field.clone(), encoded);
                feeds = true;
            }
            if !feeds {
                return None;
            }
        }
        Some(out)
    }

    /// The canonical SCIM user for a Drupal user's JSON:API `attributes`
    /// and `relationships`: only the mapped attributes, never `null`.
    pub fn from_drupal(
        &self,
        attributes: &(impl AttributeSource + ?Sized),
        relationships: &Map<String, Value>,
    ) -> Map<String, Value> {
        self.tree_from_drupal(attributes, relationships).into_map()
    }

    /// [`Mapping::from_drupal`] with keys borrowed from the mapping: the
    /// same members, for writing straight into bytes.
    /// Strings and booleans that come back as Drupal holds them are
    /// borrowed from `attributes`, not copied.
    pub fn tree_from_drupal<'r>(
        &'r self,
        attributes: &'r (impl AttributeSource + ?Sized),
        relationships: &Map<String, Value>,
    ) -> Members<'r> {
        let mut user = tree::TreeUser::with_capacity(self.rules.len());
        for rule in self.rules.iter().filter(|r| r.direction.reads()) {
            if let Some(path) = rule.scim_path() {
                match rule.scim_read(attributes, relationships) {
                    Read::Nothing => {}
                    Read::Text(text) => user.put(rule, path, [Node::Text(text)]),
                    Read::Bool(b) => user.put(rule, path, [Node::Leaf(Value::Bool(b))]),
                    Read::Values(values) => {
                        user.put(rule, path, values.into_iter().map(Node::Leaf))
                    }
                }
            }
        }
        user.finish()
    }

    /// Whether no key of [`Mapping::tree_from_drupal`]'s members (schema
    /// URNs, attribute and sub-attribute names, filter attributes, `type`,
    /// `primary`) needs escaping in JSON: a writer may then copy them.
    pub fn plain_keys(&self) -> bool {
        self.plain_keys
    }

    /// The Drupal field a SCIM filter attribute is stored in, for pushing a
    /// comparison down to Drupal. `schema` is the attribute's schema URN
    /// (`None` for core); names compare ignoring case; `type_filter` is the
    /// `type` a value filter selects (`emails[type eq "work"].value`).
    /// `None` when no rule reads the attribute back, or several do.
    pub fn binding_for(
        &self,
        schema: Option<&str>,
        attr: &str,
        sub_attr: Option<&str>,
        type_filter: Option<&str>,
    ) -> Option<FieldBinding> {
        let mut found = self.rules.iter().filter(|rule| {
            rule.direction.reads()
                && rule
                    .scim_path()
                    .is_some_and(|p| p.names(schema, attr, sub_attr))
                && type_filter.is_none_or(|wanted| {
                    rule.element_type()
                        .is_some_and(|own| own.eq_ignore_ascii_case(wanted))
                })
        });
        match (found.next(), found.next()) {
            (Some(rule), None) => Some(rule.binding()),
            _ => None,
        }
    }

    /// The SCIM attribute and Drupal field that link an IdP user to an
    /// existing Drupal account.
    pub fn match_key(&self) -> &MatchKey {
        &self.match_key
    }

    /// Every SCIM attribute a rule names directly (not through a template),
    /// in rule order.
    pub fn mapped_attributes(&self) -> Vec<MappedAttribute> {
        self.rules
            .iter()
            .filter_map(|rule| {
                let path = rule.scim_path()?;
                Some(MappedAttribute {
                    schema: path.schema.clone(),
                    attr: path.attr.clone(),
                    sub_attr: path.sub.clone(),
                    reads: rule.direction.reads() && !path.write_only,
                    writes: rule.direction.writes(),
                    element_type: rule.element_type(),
                    marks_primary: rule.marks_primary(),
                })
            })
            .collect()
    }

    /// Every SCIM attribute the mapping keeps, for `/Schemas`: those rules
    /// name directly ([`Mapping::mapped_attributes`]), and those written
    /// only through a template's placeholders (`{name.givenName}`), which
    /// are accepted and written as any other, never read back.
    pub fn advertised_attributes(&self) -> Vec<MappedAttribute> {
        let mut attributes = self.mapped_attributes();
        for rule in self.rules.iter().filter(|r| r.direction.writes()) {
            let Source::Template(template) = &rule.source else {
                continue;
            };
            for path in template.placeholders() {
                let element_type = path
                    .filter
                    .as_ref()
                    .filter(|f| f.attr.eq_ignore_ascii_case("type"))
                    .and_then(|f| f.value.as_str().map(str::to_string));
                attributes.push(MappedAttribute {
                    schema: path.schema.clone(),
                    attr: path.attr.clone(),
                    sub_attr: path.sub.clone(),
                    reads: false,
                    writes: true,
                    element_type,
                    marks_primary: false,
                });
            }
        }
        attributes
    }

    /// Whether a SCIM `password` reaches Drupal on every write that carries
    /// one (a PUT or PATCH as well as a create): RFC 7643 §5
    /// `changePassword`. A write-once rule sets it on create only.
    pub fn changes_password(&self) -> bool {
        self.rules.iter().any(|rule| {
            rule.direction.writes()
                && !rule.write_once
                && rule.scim_path().is_some_and(|p| p.write_only)
        })
    }

    /// Whether the mapped Drupal field may never be emptied (`name`, `mail`,
    /// `status`): Drupal refuses it, or emptying it would do harm.
    pub fn never_cleared(&self, drupal_field: &str) -> bool {
        self.rules.iter().any(|rule| {
            rule.target.field == drupal_field && rule.target.base.is_some_and(|b| b.never_cleared)
        })
    }

    /// Every mapped Drupal field with what the site must hold for it, once
    /// each, in the order of the rules.
    pub fn mapped_fields(&self) -> Vec<MappedField> {
        let mut fields: Vec<MappedField> = Vec::new();
        for rule in &self.rules {
            if fields.iter().any(|f| f.name == rule.target.field) {
                continue;
            }
            fields.push(MappedField {
                name: rule.target.field.clone(),
                field_type: rule.target.field_type,
                multiple: rule.target.multiple,
                reference_type: rule.target.reference_type.clone(),
                rule: rule.item.clone(),
            });
        }
        fields
    }

    /// The custom SCIM schemas the file declares.
    pub fn custom_schemas(&self) -> &[CustomSchema] {
        &self.custom_schemas
    }

    /// The Drupal roles exposed as SCIM groups.
    pub fn exposed_groups(&self) -> &[GroupExposure] {
        &self.groups
    }

    /// Term-backed groups the mapping names, with the roles they grant.
    pub fn group_grants(&self) -> &[GroupGrant] {
        &self.group_grants
    }

    /// The grant of the term-backed group called `display_name` (ignoring case).
    pub fn grant_for(&self, display_name: &str) -> Option<&GroupGrant> {
        let name = display_name.trim();
        self.group_grants
            .iter()
            .find(|g| caseless::same(&g.display_name, name))
    }

    /// Where term-backed groups live; `None` serves role-backed groups only.
    pub fn group_terms(&self) -> Option<&GroupTerms> {
        self.group_terms.as_ref()
    }

    /// The roles the role rules grant to `user`.
    pub fn roles_for(&self, user: &Map<String, Value>) -> BTreeSet<String> {
        self.role_rules
            .iter()
            .filter(|r| r.condition.holds_for(user))
            .map(|r| r.role.clone())
            .collect()
    }

    /// Every role some role rule can grant: the roles whose assignment the
    /// rules manage (and which the start-up check compares with the
    /// protected roles).
    pub fn rule_roles(&self) -> BTreeSet<&str> {
        self.role_rules.iter().map(|r| r.role.as_str()).collect()
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
