//! The `attributes` and `excludedAttributes` query parameters (RFC 7644
//! §3.4.2.5, §3.9) applied to a canonical resource before it is returned.
//!
//! Decisions the RFC leaves open:
//! - `schemas` and `returned: always` attributes (`id`) are always kept.
//!   `meta`'s sub-attributes are `returned: default` (RFC 7643 §3.1): it
//!   is left out when `attributes` does not name it (or one of them), and
//!   when `excludedAttributes` does.
//! - `returned: never` attributes (`password`) never appear, even when asked.
//! - `returned: request` attributes appear only when `attributes` names them.
//! - Names no schema of the resource type declares are ignored, so one
//!   client's extra names do not fail the request; names that are not
//!   attribute notation at all (`emails[type eq "work"]`) are `invalidValue`.
//! - When both parameters are given, `attributes` selects, then
//!   `excludedAttributes` removes.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::scim::attributes::Returned;
use crate::scim::error::ScimError;
use crate::scim::schema::{AttributeDef, ResourceSchema};

/// One attribute, one sub-attribute, or a whole extension object, in the
/// canonical spelling the resource uses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Extension(String),
    Attr {
        /// `None` for core attributes, else the extension URN that holds it.
        container: Option<String>,
        attr: String,
        sub: Option<String>,
    },
}

impl Target {
    /// Whether this target names `attr` (in `container`) as a whole, or
    /// which sub-attribute of it it names.
    fn selects(&self, container: Option<&str>, attr: &str) -> Option<Option<&str>> {
        match self {
            Target::Attr {
                container: c,
                attr: a,
                sub,
            } if c.as_deref() == container && a == attr => Some(sub.as_deref()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    include: Option<Vec<Target>>,
    exclude: Vec<Target>,
    returns: Arc<SchemaReturns>,
}

/// What a resource type's schemas alone decide of a projection: the
/// attributes by their `returned` characteristic, and the extensions.
/// Computed once per schema ([`ResourceSchema::returns`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaReturns {
    always: Vec<Target>,
    never: Vec<Target>,
    request: Vec<Target>,
    extensions: Vec<String>,
}

impl SchemaReturns {
    pub(crate) fn of(schema: &ResourceSchema) -> SchemaReturns {
        SchemaReturns {
            always: returned_as(schema, Returned::Always),
            never: returned_as(schema, Returned::Never),
            request: returned_as(schema, Returned::Request),
            extensions: schema.extensions().iter().map(|s| s.id.clone()).collect(),
        }
    }
}

impl Projection {
    /// Reads the comma-separated parameters against the resource type's schemas.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        schema: &ResourceSchema,
    ) -> Result<Projection, ScimError> {
        // A list of only unknown names still replaces the default set.
        let include = attributes
            .filter(|raw| raw.split(',').any(|name| !name.trim().is_empty()))
            .map(|raw| parse_names("attributes", raw, schema))
            .transpose()?;
        Ok(Projection {
            include,
            exclude: excluded
                .map(|raw| parse_names("excludedAttributes", raw, schema))
                .transpose()?
                .unwrap_or_default(),
            returns: Arc::clone(schema.returns()),
        })
    }

    pub fn apply(&self, resource: &mut Map<String, Value>) {
        for target in &self.returns.never {
            remove(resource, target);
        }
        match &self.include {
            Some(include) => self.retain_only(resource, include),
            None => {
                for target in &self.returns.request {
                    remove(resource, target);
                }
            }
        }
        for target in self
            .exclude
            .iter()
            .filter(|t| !self.returns.always.contains(t))
        {
            remove(resource, target);
        }
    }

    /// Whether [`Projection::apply`] would leave a resource unchanged whose
    /// attributes `present` reports (`present(None, name)`: a top-level
    /// member; `present(Some(urn), name)`: a member of that extension
    /// object): no `attributes` or `excludedAttributes` was given, and no
    /// `returned: never` or `returned: request` attribute is present. A
    /// writer that does not apply projections may answer only then. It
    /// errs on the side of `false`: a sub-attribute counts as present when
    /// its attribute is.
    pub fn leaves_alone(&self, present: impl Fn(Option<&str>, &str) -> bool) -> bool {
        self.include.is_none()
            && self.exclude.is_empty()
            && self
                .returns
                .never
                .iter()
                .chain(&self.returns.request)
                .all(|target| match target {
                    Target::Extension(urn) => !present(None, urn),
                    Target::Attr {
                        container, attr, ..
                    } => !present(container.as_deref(), attr),
                })
    }

    /// Whether the core attribute `attr` (canonical name) can appear in the
    /// answer at all, so that a server can skip computing it: `members` of
    /// a large group when the IdP asked to leave them out.
    pub fn keeps(&self, attr: &str) -> bool {
        let names = |target: &Target, whole_only: bool| match target {
            Target::Attr {
                container: None,
                attr: name,
                sub,
            } => name == attr && (!whole_only || sub.is_none()),
            _ => false,
        };
        if self.returns.never.iter().any(|t| names(t, true)) {
            return false;
        }
        if self.returns.always.iter().any(|t| names(t, true)) {
            return true;
        }
        let selected = match &self.include {
            Some(include) => include.iter().any(|t| names(t, false)),
            None => !self.returns.request.iter().any(|t| names(t, true)),
        };
        selected && !self.exclude.iter().any(|t| names(t, true))
    }

    fn retain_only(&self, resource: &mut Map<String, Value>, include: &[Target]) {
        let keep: Vec<&Target> = include.iter().chain(&self.returns.always).collect();
        resource.retain(|key, value| {
            if key == "schemas" {
                return true;
            }
            if !self.returns.extensions.contains(key) {
                return retain_attr(&keep, None, key, value);
            }
            if keep
                .iter()
                .any(|t| matches!(t, Target::Extension(urn) if urn == key))
            {
                return true;
            }
            match value {
                Value::Object(members) => {
                    members.retain(|attr, value| retain_attr(&keep, Some(key), attr, value));
                    !members.is_empty()
                }
                _ => false,
            }
        });
    }
}

/// Keeps `value` whole, keeps some of its sub-attributes, or says to drop it.
fn retain_attr(keep: &[&Target], container: Option<&str>, attr: &str, value: &mut Value) -> bool {
    let mut subs = Vec::new();
    for selected in keep.iter().filter_map(|t| t.selects(container, attr)) {
        match selected {
            None => return true,
            Some(sub) => subs.push(sub),
        }
    }
    if subs.is_empty() {
        return false;
    }
    retain_subs(value, |name| subs.contains(&name));
    !is_empty(value)
}

/// Filters the sub-attributes of a complex value, or of each element of a
/// multi-valued one, dropping elements left empty.
fn retain_subs(value: &mut Value, keep: impl Fn(&str) -> bool) {
    match value {
        Value::Object(members) => members.retain(|name, _| keep(name)),
        Value::Array(items) => {
            for item in items.iter_mut() {
                if let Value::Object(members) = item {
                    members.retain(|name, _| keep(name));
                }
            }
            items.retain(|item| !is_empty(item));
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(members) => members.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn remove(resource: &mut Map<String, Value>, target: &Target) {
    let (container, attr, sub) = match target {
        Target::Extension(urn) => {
            resource.remove(urn);
            return;
        }
        Target::Attr {
            container,
            attr,
            sub,
        } => (container, attr, sub),
    };
    let members = match container {
        None => Some(&mut *resource),
        Some(urn) => resource.get_mut(urn).and_then(Value::as_object_mut),
    };
    if let Some(members) = members {
        match sub {
            None => {
                members.remove(attr);
            }
            Some(sub) => {
                if let Some(value) = members.get_mut(attr) {
                    retain_subs(value, |name| name != sub);
                    if is_empty(value) {
                        members.remove(attr);
                    }
                }
            }
        }
    }
    if let Some(urn) = container {
        if resource.get(urn).is_some_and(is_empty) {
            resource.remove(urn);
        }
    }
}

/// Every attribute and sub-attribute of the resource type whose `returned`
/// characteristic is `returned`.
fn returned_as(schema: &ResourceSchema, returned: Returned) -> Vec<Target> {
    let core = schema
        .common()
        .iter()
        .chain(&schema.core().attributes)
        .map(|a| (None, a));
    let extensions = schema.extensions().iter().flat_map(|ext| {
        ext.attributes
            .iter()
            .map(move |a| (Some(ext.id.as_str()), a))
    });
    let mut targets = Vec::new();
    for (container, attr) in core.chain(extensions) {
        let target = |sub: Option<&AttributeDef>| Target::Attr {
            container: container.map(str::to_string),
            attr: attr.name.clone(),
            sub: sub.map(|s| s.name.clone()),
        };
        if attr.returned == returned {
            targets.push(target(None));
        }
        for sub in attr
            .sub_attributes
            .iter()
            .filter(|s| s.returned == returned)
        {
            targets.push(target(Some(sub)));
        }
    }
    targets
}

fn parse_names(param: &str, raw: &str, schema: &ResourceSchema) -> Result<Vec<Target>, ScimError> {
    let mut targets = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        targets.extend(parse_name(param, name, schema)?);
    }
    Ok(targets)
}

/// Resolves one name in attribute notation (RFC 7644 §3.10); `None` when
/// no schema of the resource type declares it.
fn parse_name(
    param: &str,
    name: &str,
    schema: &ResourceSchema,
) -> Result<Option<Target>, ScimError> {
    if let Some(extension) = schema.schema(name).filter(|s| s.id != schema.core().id) {
        return Ok(Some(Target::Extension(extension.id.clone())));
    }
    let (urn, path) = match schema.split_qualified(name) {
        Some((owner, rest)) => (Some(owner.id.as_str()), rest),
        // An unknown or bare schema URN: not ours to judge.
        None if name.contains(':') => return Ok(None),
        None => (None, name),
    };
    let (attr_name, sub_name) = match path.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (path, None),
    };
    if !is_attr_name(attr_name) || !sub_name.is_none_or(is_attr_name) {
        return Err(ScimError::invalid_value(format!(
            "{param}: '{name}' is not an attribute name"
        )));
    }
    let Some((owner, attr)) = schema.attribute(urn, attr_name) else {
        return Ok(None);
    };
    let sub = match sub_name.map(|s| attr.sub_attribute(s)) {
        None => None,
        Some(Some(sub)) => Some(sub.name.clone()),
        Some(None) => return Ok(None),
    };
    let container = (owner.id != schema.core().id).then(|| owner.id.clone());
    Ok(Some(Target::Attr {
        container,
        attr: attr.name.clone(),
        sub,
    }))
}

/// RFC 7643 §2.1 ATTRNAME, plus the `$ref` sub-attribute name.
fn is_attr_name(name: &str) -> bool {
    let mut chars = name.chars();
    name == "$ref"
        || (chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::attributes::AttrType;
    use crate::scim::schema::{SchemaDef, ENTERPRISE_USER_URN};
    use serde_json::json;

    fn stored_user() -> Map<String, Value> {
        let user = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_URN],
            "id": "u-1",
            "externalId": "ext-1",
            "userName": "jyoung@testuser.com",
            "password": "secret",
            "name": {"givenName": "Joy", "familyName": "Young"},
            "emails": [
                {"value": "jyoung@Contoso.com", "type": "work", "primary": true},
                {"type": "home"}
            ],
            "active": true,
            ENTERPRISE_USER_URN: {"department": "Sales", "employeeNumber": "7"},
            "meta": {"resourceType": "User", "location": "https://x/Users/u-1"}
        });
        match user {
            Value::Object(obj) => obj,
            _ => unreachable!(),
        }
    }

    fn project(attributes: Option<&str>, excluded: Option<&str>) -> Value {
        let projection = Projection::parse(attributes, excluded, &ResourceSchema::user()).unwrap();
        let mut user = stored_user();
        projection.apply(&mut user);
        Value::Object(user)
    }

    #[test]
    fn keeps_tells_whether_an_attribute_can_be_in_the_answer() {
        let group = ResourceSchema::group();
        let keeps = |attributes: Option<&str>, excluded: Option<&str>| {
            Projection::parse(attributes, excluded, &group)
                .unwrap()
                .keeps("members")
        };
        assert!(keeps(None, None));
        assert!(!keeps(None, Some("members")));
        assert!(keeps(None, Some("members.display")));
        assert!(!keeps(Some("displayName"), None));
        assert!(keeps(Some("members.value"), None));
        let user = Projection::parse(Some("userName"), None, &ResourceSchema::user()).unwrap();
        assert!(user.keeps("id"), "returned: always");
        assert!(!user.keeps("password"), "returned: never");
    }

    #[test]
    fn default_projection_drops_only_the_password() {
        let mut expected = stored_user();
        expected.remove("password");
        assert_eq!(project(None, None), Value::Object(expected));
    }

    #[test]
    fn password_never_appears_even_when_asked_for() {
        let projected = project(Some("password,userName"), None);
        assert!(projected.get("password").is_none());
        assert_eq!(projected["userName"], "jyoung@testuser.com");
    }

    #[test]
    fn blank_attributes_parameter_means_the_default_set() {
        assert_eq!(project(Some(" , "), None), project(None, None));
    }

    #[test]
    fn attributes_keeps_named_attributes_plus_id_and_schemas() {
        let projected = project(Some("userName"), None);
        let keys: Vec<&String> = projected.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "schemas", "userName"]);
    }

    #[test]
    fn meta_or_one_of_its_sub_attributes_is_kept_when_named() {
        let projected = project(Some("userName,meta"), None);
        assert_eq!(projected["meta"]["resourceType"], "User");
        assert_eq!(projected["meta"]["location"], "https://x/Users/u-1");
        let projected = project(Some("userName,META.location"), None);
        let meta: Vec<&String> = projected["meta"].as_object().unwrap().keys().collect();
        assert_eq!(meta, ["location"]);
    }

    #[test]
    fn attribute_names_match_case_insensitively_and_with_spaces() {
        let projected = project(Some(" USERNAME , Active "), None);
        assert_eq!(projected["userName"], "jyoung@testuser.com");
        assert_eq!(projected["active"], true);
        assert!(projected.get("emails").is_none());
    }

    #[test]
    fn attributes_with_a_sub_attribute_keeps_only_that_sub_attribute() {
        let projected = project(Some("name.givenName"), None);
        assert_eq!(projected["name"], json!({"givenName": "Joy"}));
    }

    #[test]
    fn attributes_with_a_multi_valued_sub_attribute_keeps_it_in_each_element() {
        let projected = project(Some("emails.value"), None);
        assert_eq!(
            projected["emails"],
            json!([{"value": "jyoung@Contoso.com"}])
        );
    }

    #[test]
    fn attributes_naming_two_sub_attributes_of_one_attribute_keeps_both() {
        let projected = project(Some("emails.value,emails.type"), None);
        assert_eq!(
            projected["emails"],
            json!([{"value": "jyoung@Contoso.com", "type": "work"}, {"type": "home"}])
        );
    }

    #[test]
    fn attributes_with_a_urn_qualified_extension_attribute_keeps_only_it() {
        let projected = project(
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            None,
        );
        assert_eq!(
            projected[ENTERPRISE_USER_URN],
            json!({"department": "Sales"})
        );
        assert!(projected.get("userName").is_none());
    }

    #[test]
    fn attributes_with_the_extension_urn_keeps_the_whole_extension() {
        let projected = project(Some("urn:scim:schemas:extension:enterprise:2.0"), None);
        assert_eq!(
            projected[ENTERPRISE_USER_URN],
            json!({"department": "Sales", "employeeNumber": "7"})
        );
    }

    #[test]
    fn attributes_not_naming_the_extension_drops_it() {
        assert!(project(Some("userName"), None)
            .get(ENTERPRISE_USER_URN)
            .is_none());
    }

    #[test]
    fn unqualified_extension_attribute_name_is_ignored() {
        let projected = project(Some("department"), None);
        assert!(projected.get(ENTERPRISE_USER_URN).is_none());
        assert_eq!(projected["id"], "u-1");
    }

    #[test]
    fn excluded_attributes_removes_named_attributes() {
        let projected = project(None, Some("emails,name.familyName"));
        assert!(projected.get("emails").is_none());
        assert_eq!(projected["name"], json!({"givenName": "Joy"}));
        assert_eq!(projected["userName"], "jyoung@testuser.com");
    }

    #[test]
    fn excluded_attributes_cannot_remove_id() {
        assert_eq!(project(None, Some("id"))["id"], "u-1");
    }

    #[test]
    fn excluded_meta_is_removed() {
        assert!(project(None, Some("meta")).get("meta").is_none());
    }

    #[test]
    fn excluding_the_last_extension_attributes_removes_the_extension_object() {
        let projected = project(
            None,
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
        );
        assert!(projected.get(ENTERPRISE_USER_URN).is_none());
    }

    #[test]
    fn excluding_the_extension_urn_removes_the_extension_object() {
        let projected = project(None, Some(ENTERPRISE_USER_URN));
        assert!(projected.get(ENTERPRISE_USER_URN).is_none());
        assert_eq!(projected["userName"], "jyoung@testuser.com");
    }

    #[test]
    fn both_parameters_select_then_remove() {
        let projected = project(Some("userName,emails"), Some("emails.primary"));
        assert_eq!(projected["userName"], "jyoung@testuser.com");
        assert_eq!(
            projected["emails"],
            json!([{"value": "jyoung@Contoso.com", "type": "work"}, {"type": "home"}])
        );
        assert!(projected.get("name").is_none());
    }

    #[test]
    fn entra_excluded_members_drops_members_from_a_group() {
        let projection =
            Projection::parse(None, Some("members"), &ResourceSchema::group()).unwrap();
        let mut group = match json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "g-1",
            "displayName": "displayName",
            "members": [{"value": "u-1"}]
        }) {
            Value::Object(obj) => obj,
            _ => unreachable!(),
        };
        projection.apply(&mut group);
        assert!(!group.contains_key("members"));
        assert_eq!(group["displayName"], "displayName");
        assert_eq!(group["id"], "g-1");
    }

    #[test]
    fn unknown_names_are_ignored() {
        let projected = project(
            Some("shoeSize,name.nope,http://schemas.microsoft.com/x:y"),
            Some("shoeSize"),
        );
        let keys: Vec<&String> = projected.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "schemas"]);
    }

    #[test]
    fn names_that_are_not_attribute_notation_are_invalid_value() {
        let error = Projection::parse(
            Some("emails[type eq \"work\"]"),
            None,
            &ResourceSchema::user(),
        )
        .unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value(
                "attributes: 'emails[type eq \"work\"]' is not an attribute name"
            )
        );
        let error =
            Projection::parse(None, Some("name.given.name"), &ResourceSchema::user()).unwrap_err();
        assert!(error.detail.starts_with("excludedAttributes"));
    }

    #[test]
    fn request_returned_attributes_appear_only_when_asked_for() {
        let mut user_schema = SchemaDef::user();
        user_schema
            .attributes
            .push(AttributeDef::new("auditTrail", AttrType::String).returned(Returned::Request));
        let schema = ResourceSchema::new(user_schema, Vec::new());
        let stored = || {
            let mut user = stored_user();
            user.insert("auditTrail".into(), json!("created by IdP"));
            user
        };
        let mut by_default = stored();
        Projection::parse(None, None, &schema)
            .unwrap()
            .apply(&mut by_default);
        assert!(!by_default.contains_key("auditTrail"));
        let mut asked = stored();
        Projection::parse(Some("auditTrail"), None, &schema)
            .unwrap()
            .apply(&mut asked);
        assert_eq!(asked["auditTrail"], "created by IdP");
    }
}
