//! The schema registry as data (RFC 7643 §6, §7): attribute definitions,
//! schemas, resource types, their lookup for one resource type, and their
//! `/Schemas` and `/ResourceTypes` renderings. The built-in User, Enterprise
//! User and Group schemas live in `builtin`; custom schemas are built from
//! the same public types at runtime.

mod builtin;

use serde_json::{json, Map, Value};

use crate::scim::attributes::{AttrMeta, AttrType, AttributeResolver, Mutability, Returned};
use crate::scim::list::ListResponse;
use crate::scim::projection::SchemaReturns;

pub use builtin::common_attributes;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SCHEMA_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// Where a schema URN that an IdP spells its own way really points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AliasTarget {
    /// The core schema of whichever resource type the request addresses: the
    /// SCIM 1.x "core" URN named one schema for Users and Groups alike.
    Core,
    Schema(&'static str),
}

/// The URN spellings identity providers send instead of the RFC 7643 ones.
const URN_ALIASES: [(&str, AliasTarget); 5] = [
    // OneLogin's SCIM JSON templates.
    ("urn:scim:schemas:core:1.0", AliasTarget::Core),
    ("urn:scim:schemas:core:2.0", AliasTarget::Core),
    (
        "urn:scim:schemas:extension:enterprise:1.0",
        AliasTarget::Schema(ENTERPRISE_USER_URN),
    ),
    (
        "urn:scim:schemas:extension:enterprise:2.0",
        AliasTarget::Schema(ENTERPRISE_USER_URN),
    ),
    // The typo in Microsoft Entra's provisioning documentation.
    (
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
        AliasTarget::Schema(ENTERPRISE_USER_URN),
    ),
];

fn alias_target(urn: &str) -> Option<AliasTarget> {
    URN_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(urn))
        .map(|(_, target)| *target)
}

/// RFC 7643 §7 `uniqueness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute or sub-attribute with every RFC 7643 §7 characteristic.
/// `AttributeDef::new` gives the RFC §2.2 defaults; the chained setters
/// change one characteristic each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDef {
    pub name: String,
    pub kind: AttrType,
    pub multi_valued: bool,
    pub description: String,
    pub required: bool,
    pub canonical_values: Vec<String>,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub sub_attributes: Vec<AttributeDef>,
    pub reference_types: Vec<String>,
}

impl AttributeDef {
    pub fn new(name: impl Into<String>, kind: AttrType) -> Self {
        AttributeDef {
            name: name.into(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            sub_attributes: Vec::new(),
            reference_types: Vec::new(),
        }
    }

    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    pub fn multi_valued(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    pub fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }
    pub fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    pub fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }
    pub fn canonical_values(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| v.to_string()).collect();
        self
    }
    pub fn sub_attributes(mut self, subs: Vec<AttributeDef>) -> Self {
        self.sub_attributes = subs;
        self
    }
    pub fn reference_types(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|t| t.to_string()).collect();
        self
    }

    /// Case-insensitive sub-attribute lookup (RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        find_attribute(&self.sub_attributes, name)
    }

    /// The narrow view that filters, PATCH and parsing work with.
    pub fn meta(&self) -> AttrMeta {
        AttrMeta {
            name: self.name.clone(),
            kind: self.kind,
            multi_valued: self.multi_valued,
            case_exact: self.case_exact,
            mutability: self.mutability,
            returned: self.returned,
            required: self.required,
        }
    }

    /// The RFC 7643 §7 representation. Empty lists that do not apply to the
    /// type are left out rather than rendered as `null`.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("name".into(), json!(self.name));
        obj.insert("type".into(), json!(self.kind.name()));
        obj.insert("multiValued".into(), json!(self.multi_valued));
        obj.insert("description".into(), json!(self.description));
        obj.insert("required".into(), json!(self.required));
        if !self.canonical_values.is_empty() {
            obj.insert("canonicalValues".into(), json!(self.canonical_values));
        }
        obj.insert("caseExact".into(), json!(self.case_exact));
        obj.insert("mutability".into(), json!(mutability_name(self.mutability)));
        obj.insert("returned".into(), json!(returned_name(self.returned)));
        obj.insert("uniqueness".into(), json!(uniqueness_name(self.uniqueness)));
        if self.kind == AttrType::Complex {
            let subs: Vec<Value> = self.sub_attributes.iter().map(Self::to_json).collect();
            obj.insert("subAttributes".into(), Value::Array(subs));
        }
        if self.kind == AttrType::Reference {
            obj.insert("referenceTypes".into(), json!(self.reference_types));
        }
        Value::Object(obj)
    }
}

fn find_attribute<'a>(attrs: &'a [AttributeDef], name: &str) -> Option<&'a AttributeDef> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

fn mutability_name(mutability: Mutability) -> &'static str {
    match mutability {
        Mutability::ReadOnly => "readOnly",
        Mutability::ReadWrite => "readWrite",
        Mutability::Immutable => "immutable",
        Mutability::WriteOnly => "writeOnly",
    }
}

fn returned_name(returned: Returned) -> &'static str {
    match returned {
        Returned::Always => "always",
        Returned::Never => "never",
        Returned::Default => "default",
        Returned::Request => "request",
    }
}

fn uniqueness_name(uniqueness: Uniqueness) -> &'static str {
    match uniqueness {
        Uniqueness::None => "none",
        Uniqueness::Server => "server",
        Uniqueness::Global => "global",
    }
}

fn location(base_url: &str, endpoint: &str, id: &str) -> String {
    format!("{}/{endpoint}/{id}", base_url.trim_end_matches('/'))
}

/// One schema (RFC 7643 §7). The common attributes `id`, `externalId` and
/// `meta` are not listed here: §3.1 defines them for every resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaDef {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// Case-insensitive attribute lookup (RFC 7643 §2.1).
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        find_attribute(&self.attributes, name)
    }

    /// The RFC 7643 §7 / §8.7.1 representation served by `/Schemas/{id}`.
    pub fn to_json(&self, base_url: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA_URN],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(AttributeDef::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": location(base_url, "Schemas", &self.id),
            },
        })
    }
}

/// One resource type (RFC 7643 §6). `schema_extensions` pairs an extension
/// URN with whether resources of this type must carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTypeDef {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub description: String,
    pub schema: String,
    pub schema_extensions: Vec<(String, bool)>,
}

impl ResourceTypeDef {
    pub fn user() -> Self {
        ResourceTypeDef {
            id: "User".into(),
            name: "User".into(),
            endpoint: "/Users".into(),
            description: "User Account".into(),
            schema: USER_URN.into(),
            schema_extensions: vec![(ENTERPRISE_USER_URN.into(), false)],
        }
    }

    pub fn group() -> Self {
        ResourceTypeDef {
            id: "Group".into(),
            name: "Group".into(),
            endpoint: "/Groups".into(),
            description: "Group".into(),
            schema: GROUP_URN.into(),
            schema_extensions: Vec::new(),
        }
    }

    /// The RFC 7643 §6 / §8.6 representation served by `/ResourceTypes/{id}`.
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut body = json!({
            "schemas": [RESOURCE_TYPE_SCHEMA_URN],
            "id": self.id,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema,
            "meta": {
                "resourceType": "ResourceType",
                "location": location(base_url, "ResourceTypes", &self.id),
            },
        });
        if let (false, Some(obj)) = (self.schema_extensions.is_empty(), body.as_object_mut()) {
            let extensions: Vec<Value> = self
                .schema_extensions
                .iter()
                .map(|(urn, required)| json!({"schema": urn, "required": required}))
                .collect();
            obj.insert("schemaExtensions".into(), Value::Array(extensions));
        }
        body
    }
}

/// What one resource type can carry: its core schema, the common attributes
/// and its extension schemas. Lookups are case-insensitive and accept the
/// URN spellings of `URN_ALIASES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSchema {
    core: SchemaDef,
    extensions: Vec<SchemaDef>,
    common: Vec<AttributeDef>,
    /// What these schemas alone decide of every response's projection,
    /// worked out once here rather than on every request.
    returns: std::sync::Arc<SchemaReturns>,
}

impl ResourceSchema {
    pub fn new(core: SchemaDef, extensions: Vec<SchemaDef>) -> Self {
        let mut schema = ResourceSchema {
            core,
            extensions,
            common: common_attributes(),
            returns: Default::default(),
        };
        schema.returns = std::sync::Arc::new(SchemaReturns::of(&schema));
        schema
    }

    pub(crate) fn returns(&self) -> &std::sync::Arc<SchemaReturns> {
        &self.returns
    }

    /// The names of the attributes and sub-attributes that are never
    /// returned (`password`): secrets that no answer or log line repeats.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.common
            .iter()
            .chain(&self.core.attributes)
            .chain(self.extensions.iter().flat_map(|e| &e.attributes))
            .flat_map(|a| std::iter::once(a).chain(&a.sub_attributes))
            .filter(|a| a.returned == Returned::Never)
            .map(|a| a.name.as_str())
    }

    /// Core User with the Enterprise User extension.
    pub fn user() -> Self {
        Self::new(SchemaDef::user(), vec![SchemaDef::enterprise_user()])
    }

    pub fn group() -> Self {
        Self::new(SchemaDef::group(), Vec::new())
    }

    pub fn core(&self) -> &SchemaDef {
        &self.core
    }

    pub fn extensions(&self) -> &[SchemaDef] {
        &self.extensions
    }

    /// `id`, `externalId` and `meta`, which belong to the core schema here.
    pub fn common(&self) -> &[AttributeDef] {
        &self.common
    }

    /// The schema of this resource type that `urn` names, alias or not.
    pub fn schema(&self, urn: &str) -> Option<&SchemaDef> {
        let canonical = match alias_target(urn) {
            Some(AliasTarget::Core) => return Some(&self.core),
            Some(AliasTarget::Schema(target)) => target,
            None => urn,
        };
        std::iter::once(&self.core)
            .chain(&self.extensions)
            .find(|s| s.id.eq_ignore_ascii_case(canonical))
    }

    /// Looks an attribute up in the schema `urn` names, or in the core
    /// schema and the common attributes when `urn` is `None`.
    pub fn attribute(&self, urn: Option<&str>, name: &str) -> Option<(&SchemaDef, &AttributeDef)> {
        let schema = match urn {
            Some(urn) => self.schema(urn)?,
            None => &self.core,
        };
        let common = if schema.id == self.core.id {
            find_attribute(&self.common, name)
        } else {
            None
        };
        common
            .or_else(|| schema.attribute(name))
            .map(|attr| (schema, attr))
    }

    /// Splits a URN-qualified attribute path such as
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`
    /// into its schema and the rest (`department`). The longest known URN
    /// wins, because one URN can be a prefix of another.
    pub fn split_qualified<'p>(&self, path: &'p str) -> Option<(&SchemaDef, &'p str)> {
        let known = std::iter::once(self.core.id.as_str())
            .chain(self.extensions.iter().map(|s| s.id.as_str()))
            .chain(URN_ALIASES.iter().map(|(alias, _)| *alias));
        let (urn, rest) = known
            .filter_map(|urn| {
                let prefix = path.get(..urn.len())?;
                let rest = path.get(urn.len()..)?.strip_prefix(':')?;
                (prefix.eq_ignore_ascii_case(urn) && !rest.is_empty()).then_some((urn, rest))
            })
            .max_by_key(|(urn, _)| urn.len())?;
        Some((self.schema(urn)?, rest))
    }
}

impl AttributeResolver for ResourceSchema {
    fn core_schema(&self) -> &str {
        &self.core.id
    }

    fn resolve(&self, schema: Option<&str>, attr: &str) -> Option<(String, AttrMeta)> {
        self.attribute(schema, attr)
            .map(|(schema, attr)| (schema.id.clone(), attr.meta()))
    }

    fn resolve_sub(&self, schema: &str, attr: &str, sub: &str) -> Option<AttrMeta> {
        self.attribute(Some(schema), attr)
            .and_then(|(_, attr)| attr.sub_attribute(sub))
            .map(AttributeDef::meta)
    }
}

/// A schema registry that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema {0} is declared more than once")]
    DuplicateSchema(String),
    #[error("resource type {0} is declared more than once")]
    DuplicateResourceType(String),
    #[error("resource type {resource_type} names the undeclared schema {urn}")]
    UnknownSchema { resource_type: String, urn: String },
    #[error("there is no resource type {0} to extend")]
    UnknownResourceType(String),
}

/// Every schema and resource type the server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRegistry {
    schemas: Vec<SchemaDef>,
    resource_types: Vec<(ResourceTypeDef, ResourceSchema)>,
}

impl SchemaRegistry {
    /// Builds a registry from data, checking that ids are unique and that
    /// every schema a resource type names is declared.
    pub fn new(
        schemas: Vec<SchemaDef>,
        resource_types: Vec<ResourceTypeDef>,
    ) -> Result<Self, SchemaError> {
        for (i, schema) in schemas.iter().enumerate() {
            if schemas
                .iter()
                .skip(i + 1)
                .any(|s| s.id.eq_ignore_ascii_case(&schema.id))
            {
                return Err(SchemaError::DuplicateSchema(schema.id.clone()));
            }
        }
        for (i, rt) in resource_types.iter().enumerate() {
            if resource_types
                .iter()
                .skip(i + 1)
                .any(|r| r.id.eq_ignore_ascii_case(&rt.id))
            {
                return Err(SchemaError::DuplicateResourceType(rt.id.clone()));
            }
            let named =
                std::iter::once(&rt.schema).chain(rt.schema_extensions.iter().map(|(u, _)| u));
            for urn in named {
                if !schemas.iter().any(|s| &s.id == urn) {
                    return Err(SchemaError::UnknownSchema {
                        resource_type: rt.id.clone(),
                        urn: urn.clone(),
                    });
                }
            }
        }
        Ok(Self::assemble(schemas, resource_types))
    }

    /// Core User (with the Enterprise User extension) and Group.
    pub fn builtin() -> Self {
        Self::assemble(
            vec![
                SchemaDef::user(),
                SchemaDef::enterprise_user(),
                SchemaDef::group(),
            ],
            vec![ResourceTypeDef::user(), ResourceTypeDef::group()],
        )
    }

    /// Pairs each resource type with its schemas; `new` has checked that
    /// they exist, so a missing one cannot occur here.
    fn assemble(schemas: Vec<SchemaDef>, resource_types: Vec<ResourceTypeDef>) -> Self {
        let find = |urn: &str| schemas.iter().find(|s| s.id == urn).cloned();
        let resource_types = resource_types
            .into_iter()
            .filter_map(|rt| {
                let core = find(&rt.schema)?;
                let extensions = rt
                    .schema_extensions
                    .iter()
                    .filter_map(|(u, _)| find(u))
                    .collect();
                Some((rt, ResourceSchema::new(core, extensions)))
            })
            .collect();
        SchemaRegistry {
            schemas,
            resource_types,
        }
    }

    /// This registry with `extensions` added as optional extension schemas
    /// of `resource_type` (the custom schemas a mapping declares).
    pub fn with_extensions(
        self,
        resource_type: &str,
        extensions: Vec<SchemaDef>,
    ) -> Result<Self, SchemaError> {
        let mut types: Vec<ResourceTypeDef> =
            self.resource_types.into_iter().map(|(rt, _)| rt).collect();
        let extended = types
            .iter_mut()
            .find(|rt| rt.id.eq_ignore_ascii_case(resource_type))
            .ok_or_else(|| SchemaError::UnknownResourceType(resource_type.to_string()))?;
        extended
            .schema_extensions
            .extend(extensions.iter().map(|s| (s.id.clone(), false)));
        let mut schemas = self.schemas;
        schemas.extend(extensions);
        Self::new(schemas, types)
    }

    pub fn schemas(&self) -> &[SchemaDef] {
        &self.schemas
    }

    pub fn resource_types(&self) -> impl Iterator<Item = &ResourceTypeDef> {
        self.resource_types.iter().map(|(rt, _)| rt)
    }

    /// The schemas of the resource type with this id (`User`, `Group`).
    pub fn resource_schema(&self, resource_type: &str) -> Option<&ResourceSchema> {
        self.resource_types
            .iter()
            .find(|(rt, _)| rt.id.eq_ignore_ascii_case(resource_type))
            .map(|(_, schema)| schema)
    }

    /// `GET /Schemas`: every schema, as a ListResponse (RFC 7644 §4).
    pub fn schemas_json(&self, base_url: &str) -> Value {
        let all = self.schemas.iter().map(|s| s.to_json(base_url)).collect();
        ListResponse::complete(all).into_json()
    }

    /// `GET /Schemas/{id}`; ids compare case-insensitively and may be aliases.
    pub fn schema_json(&self, id: &str, base_url: &str) -> Option<Value> {
        let canonical = match alias_target(id) {
            Some(AliasTarget::Schema(target)) => target,
            _ => id,
        };
        self.schemas
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(canonical))
            .map(|s| s.to_json(base_url))
    }

    /// `GET /ResourceTypes`, as a ListResponse (RFC 7644 §4).
    pub fn resource_types_json(&self, base_url: &str) -> Value {
        let all = self
            .resource_types()
            .map(|rt| rt.to_json(base_url))
            .collect();
        ListResponse::complete(all).into_json()
    }

    /// `GET /ResourceTypes/{id}`.
    pub fn resource_type_json(&self, id: &str, base_url: &str) -> Option<Value> {
        self.resource_types()
            .find(|rt| rt.id.eq_ignore_ascii_case(id))
            .map(|rt| rt.to_json(base_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://idm.example.org/scim/v2/";

    fn contains_null(value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Array(items) => items.iter().any(contains_null),
            Value::Object(obj) => obj.values().any(contains_null),
            _ => false,
        }
    }

    fn attribute_names(schema: &SchemaDef) -> Vec<&str> {
        schema.attributes.iter().map(|a| a.name.as_str()).collect()
    }

    #[test]
    fn core_user_schema_declares_every_rfc_7643_user_attribute() {
        let user = SchemaDef::user();
        assert_eq!(
            attribute_names(&user),
            [
                "userName",
                "name",
                "displayName",
                "nickName",
                "profileUrl",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "timezone",
                "active",
                "password",
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "groups",
                "entitlements",
                "roles",
                "x509Certificates",
            ]
        );
        let name = user.attribute("name").unwrap();
        let subs: Vec<&str> = name
            .sub_attributes
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            subs,
            [
                "formatted",
                "familyName",
                "givenName",
                "middleName",
                "honorificPrefix",
                "honorificSuffix"
            ]
        );
    }

    #[test]
    fn password_is_write_only_and_never_returned() {
        let user = SchemaDef::user();
        let password = user.attribute("password").unwrap();
        assert_eq!(password.mutability, Mutability::WriteOnly);
        assert_eq!(password.returned, Returned::Never);
    }

    #[test]
    fn groups_of_a_user_are_read_only_and_user_name_is_required_and_unique() {
        let user = SchemaDef::user();
        assert_eq!(
            user.attribute("groups").unwrap().mutability,
            Mutability::ReadOnly
        );
        let user_name = user.attribute("userName").unwrap();
        assert!(user_name.required);
        assert_eq!(user_name.uniqueness, Uniqueness::Server);
    }

    #[test]
    fn enterprise_extension_declares_manager_as_complex_with_reference() {
        let enterprise = SchemaDef::enterprise_user();
        assert_eq!(
            attribute_names(&enterprise),
            [
                "employeeNumber",
                "costCenter",
                "organization",
                "division",
                "department",
                "manager"
            ]
        );
        let manager = enterprise.attribute("manager").unwrap();
        assert_eq!(manager.kind, AttrType::Complex);
        assert_eq!(
            manager.sub_attribute("$REF").unwrap().reference_types,
            ["User"]
        );
    }

    #[test]
    fn group_schema_requires_display_name_and_has_members() {
        let group = SchemaDef::group();
        assert!(group.attribute("displayName").unwrap().required);
        let members = group.attribute("members").unwrap();
        assert!(members.multi_valued);
        assert!(members.sub_attribute("value").is_some());
    }

    #[test]
    fn resolve_is_case_insensitive_and_returns_canonical_spelling() {
        let users = ResourceSchema::user();
        let (urn, meta) = users.resolve(None, "USERNAME").unwrap();
        assert_eq!(urn, USER_URN);
        assert_eq!(meta.name, "userName");
    }

    #[test]
    fn resolve_without_urn_does_not_find_extension_attributes() {
        let users = ResourceSchema::user();
        assert!(users.resolve(None, "department").is_none());
    }

    #[test]
    fn resolve_with_enterprise_urn_finds_department() {
        let users = ResourceSchema::user();
        let (urn, meta) = users
            .resolve(Some(ENTERPRISE_USER_URN), "Department")
            .unwrap();
        assert_eq!(urn, ENTERPRISE_USER_URN);
        assert_eq!(meta.name, "department");
    }

    #[test]
    fn resolve_accepts_onelogin_and_entra_enterprise_urn_spellings() {
        let users = ResourceSchema::user();
        for alias in [
            "urn:scim:schemas:extension:enterprise:1.0",
            "urn:scim:schemas:extension:enterprise:2.0",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
        ] {
            let (urn, _) = users.resolve(Some(alias), "department").unwrap();
            assert_eq!(urn, ENTERPRISE_USER_URN, "alias {alias}");
        }
    }

    #[test]
    fn resolve_accepts_onelogin_legacy_core_urns_as_core_user() {
        let users = ResourceSchema::user();
        for alias in ["urn:scim:schemas:core:1.0", "urn:scim:schemas:core:2.0"] {
            let (urn, meta) = users.resolve(Some(alias), "username").unwrap();
            assert_eq!(urn, USER_URN);
            assert_eq!(meta.name, "userName");
        }
    }

    #[test]
    fn legacy_core_urn_means_the_core_schema_of_the_addressed_resource_type() {
        let groups = ResourceSchema::group();
        let (urn, meta) = groups
            .resolve(Some("urn:scim:schemas:core:1.0"), "displayname")
            .unwrap();
        assert_eq!(urn, GROUP_URN);
        assert_eq!(meta.name, "displayName");
    }

    #[test]
    fn resolve_finds_common_attributes_in_the_core_schema_only() {
        let users = ResourceSchema::user();
        assert_eq!(
            users.resolve(None, "ID").unwrap().1.returned,
            Returned::Always
        );
        assert_eq!(
            users.resolve(None, "externalid").unwrap().1.name,
            "externalId"
        );
        assert!(users.resolve(Some(ENTERPRISE_USER_URN), "id").is_none());
    }

    #[test]
    fn resolve_sub_finds_meta_last_modified_and_name_given_name() {
        let users = ResourceSchema::user();
        let modified = users.resolve_sub(USER_URN, "meta", "LASTMODIFIED").unwrap();
        assert_eq!(modified.kind, AttrType::DateTime);
        let given = users.resolve_sub(USER_URN, "name", "givenname").unwrap();
        assert_eq!(given.name, "givenName");
        assert!(users.resolve_sub(USER_URN, "name", "nope").is_none());
    }

    #[test]
    fn resolve_with_a_urn_of_another_resource_type_finds_nothing() {
        let groups = ResourceSchema::group();
        assert!(groups
            .resolve(Some(ENTERPRISE_USER_URN), "department")
            .is_none());
        assert!(groups.resolve(Some(USER_URN), "userName").is_none());
    }

    #[test]
    fn split_qualified_separates_the_urn_from_the_attribute() {
        let users = ResourceSchema::user();
        let (schema, rest) = users
            .split_qualified(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            )
            .unwrap();
        assert_eq!(schema.id, ENTERPRISE_USER_URN);
        assert_eq!(rest, "manager.value");
        let (schema, rest) = users
            .split_qualified("urn:ietf:params:scim:schemas:core:2.0:User:userName")
            .unwrap();
        assert_eq!(schema.id, USER_URN);
        assert_eq!(rest, "userName");
    }

    #[test]
    fn split_qualified_accepts_the_entra_typo_urn_and_rejects_plain_names() {
        let users = ResourceSchema::user();
        let (schema, rest) = users
            .split_qualified("urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department")
            .unwrap();
        assert_eq!(schema.id, ENTERPRISE_USER_URN);
        assert_eq!(rest, "department");
        assert!(users.split_qualified("department").is_none());
        assert!(users.split_qualified(ENTERPRISE_USER_URN).is_none());
    }

    #[test]
    fn schemas_json_is_a_list_response_with_meta_locations_and_no_nulls() {
        let body = SchemaRegistry::builtin().schemas_json(BASE);
        assert!(!contains_null(&body));
        assert_eq!(body["totalResults"], 3);
        let user = &body["Resources"][0];
        assert_eq!(user["schemas"], json!([SCHEMA_SCHEMA_URN]));
        assert_eq!(user["id"], USER_URN);
        assert_eq!(user["meta"]["resourceType"], "Schema");
        assert_eq!(
            user["meta"]["location"],
            format!("https://idm.example.org/scim/v2/Schemas/{USER_URN}")
        );
    }

    #[test]
    fn schema_json_renders_attribute_characteristics_in_rfc_spelling() {
        let body = SchemaRegistry::builtin()
            .schema_json(USER_URN, BASE)
            .unwrap();
        let emails = &body["attributes"][12];
        assert_eq!(emails["name"], "emails");
        assert_eq!(emails["type"], "complex");
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["mutability"], "readWrite");
        assert_eq!(emails["returned"], "default");
        assert_eq!(emails["uniqueness"], "none");
        assert_eq!(
            emails["subAttributes"][2]["canonicalValues"],
            json!(["work", "home", "other"])
        );
        let password = &body["attributes"][11];
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
        assert_eq!(body["attributes"][4]["referenceTypes"], json!(["external"]));
    }

    #[test]
    fn schema_json_finds_schemas_by_alias_and_answers_none_for_unknown_ids() {
        let registry = SchemaRegistry::builtin();
        let typo = registry
            .schema_json(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0User",
                BASE,
            )
            .unwrap();
        assert_eq!(typo["id"], ENTERPRISE_USER_URN);
        assert!(registry.schema_json("urn:example:nothing", BASE).is_none());
    }

    #[test]
    fn resource_types_json_lists_user_with_enterprise_extension_and_group_without() {
        let body = SchemaRegistry::builtin().resource_types_json(BASE);
        assert!(!contains_null(&body));
        assert_eq!(body["totalResults"], 2);
        let user = &body["Resources"][0];
        assert_eq!(user["schemas"], json!([RESOURCE_TYPE_SCHEMA_URN]));
        assert_eq!(user["endpoint"], "/Users");
        assert_eq!(user["schema"], USER_URN);
        assert_eq!(
            user["schemaExtensions"],
            json!([{"schema": ENTERPRISE_USER_URN, "required": false}])
        );
        assert_eq!(
            user["meta"]["location"],
            "https://idm.example.org/scim/v2/ResourceTypes/User"
        );
        assert!(body["Resources"][1].get("schemaExtensions").is_none());
    }

    #[test]
    fn resource_type_json_finds_one_by_id() {
        let registry = SchemaRegistry::builtin();
        let group = registry.resource_type_json("group", BASE).unwrap();
        assert_eq!(group["endpoint"], "/Groups");
        assert_eq!(group["meta"]["resourceType"], "ResourceType");
        assert!(registry.resource_type_json("Device", BASE).is_none());
    }

    #[test]
    fn builtin_registry_is_what_new_builds_from_the_builtin_data() {
        let built = SchemaRegistry::new(
            vec![
                SchemaDef::user(),
                SchemaDef::enterprise_user(),
                SchemaDef::group(),
            ],
            vec![ResourceTypeDef::user(), ResourceTypeDef::group()],
        )
        .unwrap();
        assert_eq!(built, SchemaRegistry::builtin());
        assert_eq!(built.resource_schema("User"), Some(&ResourceSchema::user()));
    }

    #[test]
    fn custom_schema_built_from_data_is_served_and_resolved() {
        let badge_urn = "urn:example:params:scim:schemas:extension:badge:2.0:User";
        let badge = SchemaDef {
            id: badge_urn.into(),
            name: "Badge".into(),
            description: "Door badge".into(),
            attributes: vec![AttributeDef::new("badgeNumber", AttrType::Integer).describe("Number")],
        };
        let mut users = ResourceTypeDef::user();
        users.schema_extensions.push((badge_urn.into(), true));
        let registry = SchemaRegistry::new(
            vec![SchemaDef::user(), SchemaDef::enterprise_user(), badge],
            vec![users],
        )
        .unwrap();
        let (urn, meta) = registry
            .resource_schema("user")
            .unwrap()
            .resolve(Some(badge_urn), "BADGENUMBER")
            .unwrap();
        assert_eq!(urn, badge_urn);
        assert_eq!(meta.kind, AttrType::Integer);
        let rendered = registry.schema_json(badge_urn, BASE).unwrap();
        assert_eq!(rendered["attributes"][0]["type"], "integer");
        assert_eq!(
            registry.resource_type_json("User", BASE).unwrap()["schemaExtensions"][1],
            json!({"schema": badge_urn, "required": true})
        );
    }

    #[test]
    fn extensions_added_to_the_builtin_registry_are_served_and_resolved() {
        let badge_urn = "urn:example:params:scim:schemas:extension:badge:2.0:User";
        let badge = SchemaDef {
            id: badge_urn.into(),
            name: "Badge".into(),
            description: String::new(),
            attributes: vec![AttributeDef::new("badgeNumber", AttrType::String)],
        };
        let registry = SchemaRegistry::builtin()
            .with_extensions("User", vec![badge.clone()])
            .unwrap();
        assert!(registry.schema_json(badge_urn, BASE).is_some());
        assert_eq!(
            registry.resource_type_json("User", BASE).unwrap()["schemaExtensions"][1],
            json!({"schema": badge_urn, "required": false})
        );
        let users = registry.resource_schema("User").unwrap();
        assert!(users.resolve(Some(badge_urn), "badgenumber").is_some());
        assert_eq!(
            SchemaRegistry::builtin().with_extensions("Device", vec![badge.clone()]),
            Err(SchemaError::UnknownResourceType("Device".into()))
        );
        let group_urn_again = SchemaDef {
            id: GROUP_URN.into(),
            ..badge
        };
        assert_eq!(
            SchemaRegistry::builtin().with_extensions("User", vec![group_urn_again]),
            Err(SchemaError::DuplicateSchema(GROUP_URN.into()))
        );
    }

    #[test]
    fn registry_rejects_resource_types_naming_undeclared_schemas() {
        let error = SchemaRegistry::new(vec![SchemaDef::user()], vec![ResourceTypeDef::user()])
            .unwrap_err();
        assert_eq!(
            error,
            SchemaError::UnknownSchema {
                resource_type: "User".into(),
                urn: ENTERPRISE_USER_URN.into()
            }
        );
    }

    #[test]
    fn registry_rejects_duplicate_schema_and_resource_type_ids() {
        let twice = SchemaRegistry::new(vec![SchemaDef::group(), SchemaDef::group()], vec![]);
        assert_eq!(twice, Err(SchemaError::DuplicateSchema(GROUP_URN.into())));
        let twice = SchemaRegistry::new(
            vec![SchemaDef::group()],
            vec![ResourceTypeDef::group(), ResourceTypeDef::group()],
        );
        assert_eq!(
            twice,
            Err(SchemaError::DuplicateResourceType("Group".into()))
        );
    }
}
