//! The JSON:API documents Drupal sends and receives for users and roles.

use serde::Deserialize;
use serde_json::{json, Map, Value};

mod attributes;
mod reader;

pub use attributes::{AttributeRef, Attributes};

/// JSON:API type of Drupal users.
pub const USER_TYPE: &str = "user--user";
/// JSON:API type of Drupal roles.
pub const ROLE_TYPE: &str = "user_role--user_role";

/// A role held by a user, as the `roles` relationship lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub id: String,
    /// The role's machine name (`meta.drupal_internal__target_id`).
    pub machine_name: String,
}

/// A Drupal user as JSON:API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct DrupalUser {
    pub id: String,
    pub attributes: Attributes,
    pub relationships: Map<String, Value>,
    pub roles: Vec<RoleRef>,
}

impl DrupalUser {
    /// Reads one resource object. `None` when it is not an object with an id.
    /// Relationships keep their `data` and `meta`, not their `links`.
    /// Takes the resource by value: its relationships move into the user;
    /// its attributes are copied into the compact [`Attributes`] (a
    /// collection the one-pass [`UserCollection::read`] leaves to a `Value`
    /// is read this way; users are otherwise read straight from Drupal's
    /// bytes).
    pub fn from_resource(resource: Value) -> Option<DrupalUser> {
        let Value::Object(mut resource) = resource else {
            return None;
        };
        let id = match resource.remove("id")? {
            Value::String(id) => id,
            _ => return None,
        };
        let object = |value: Option<Value>| match value {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let attributes = Attributes::from_map(object(resource.remove("attributes")));
        let mut relationships = object(resource.remove("relationships"));
        // As a typed read leaves them (UserDocument): nothing reads them.
        for relationship in relationships.values_mut() {
            if let Some(relationship) = relationship.as_object_mut() {
                relationship.remove("links");
            }
        }
        let roles = roles_of(&relationships);
        Some(DrupalUser {
            id,
            attributes,
            relationships,
            roles,
        })
    }

    /// Drupal answers with only `display_name` (or nothing) for accounts the
    /// caller may not see: the anonymous user, and every user when the
    /// bridge's credentials were not accepted (Drupal then runs the request
    /// as anonymous instead of answering 401).
    pub fn is_stripped(&self) -> bool {
        !self.attributes.contains_key("name")
    }

    pub fn uid(&self) -> Option<u64> {
        self.attributes.get_u64("drupal_internal__uid")
    }

    pub fn name(&self) -> Option<&str> {
        self.attributes.get_str("name")
    }

    /// Whether the document shows the account's roles: a `roles`
    /// relationship with a `data` list (empty for an account without
    /// any). Without it (the field hidden by a field access hook, renamed
    /// or disabled with JSON:API Extras, or left out of a sparse
    /// fieldset) no one can tell whether the account holds a protected role.
    pub fn shows_roles(&self) -> bool {
        self.relationships
            .get("roles")
            .and_then(|roles| roles.get("data"))
            .is_some_and(Value::is_array)
    }

    pub fn has_role(&self, machine_name: &str) -> bool {
        self.roles.iter().any(|r| r.machine_name == machine_name)
    }

    pub fn attribute_str(&self, field: &str) -> Option<&str> {
        self.attributes.get_str(field)
    }
}

/// A document holding one user (the answer to a read, a create or an
/// update), read straight from Drupal's bytes: of `data`, only what
/// [`DrupalUser`] keeps is built (and `included`, when an `include` asked
/// for it); the top-level `jsonapi` and `links`, `data.links` and each
/// relationship's `links` are skipped by the parser without being built. Reading whole documents into `Value`
/// and freeing them was the largest share of the bridge's work per read.
///
/// Read by [`UserDocument::from_slice`]: in one pass of the bridge's own
/// (`reader`), with this `Deserialize` as the definition it must match and
/// the fallback for whatever it leaves to serde_json.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct UserDocument {
    #[serde(default)]
    data: Option<UserResourceFields>,
    /// The resources an `include` asked for, when it asked.
    #[serde(default)]
    included: Option<Value>,
}

/// The members of a user resource object the bridge reads. Each is read
/// as any JSON value, so that a document of an unexpected shape is judged
/// as [`DrupalUser::from_resource`] judges it, not refused by the parser.
#[derive(Debug, PartialEq, Deserialize)]
struct UserResourceFields {
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(default)]
    id: Option<Value>,
    /// Read compactly (see [`Attributes`]); `null` reads as none.
    #[serde(default)]
    attributes: Option<Attributes>,
    #[serde(default)]
    relationships: Relationships,
}

/// `data.relationships`: each relationship's `data` and `meta`, which is
/// all the bridge reads of them; their `links` (two URLs each) are skipped.
/// Anything but an object reads as no relationships, as in
/// [`DrupalUser::from_resource`].
#[derive(Debug, Default, PartialEq)]
struct Relationships(Map<String, Value>);

impl<'de> Deserialize<'de> for Relationships {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Relationships;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON:API relationships")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Map::new();
                while let Some(name) = map.next_key::<String>()? {
                    let Relationship(value) = map.next_value()?;
                    out.insert(name, value);
                }
                Ok(Relationships(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Relationships::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Relationships::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Relationships::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Relationships::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Relationships::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Relationships::default())
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Relationships::default())
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// One relationship: an object without its `links`, anything else as it is.
struct Relationship(Value);

impl<'de> Deserialize<'de> for Relationship {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Relationship;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON:API relationship")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Map::new();
                while let Some(MemberName(key)) = map.next_key()? {
                    match key {
                        Some(key) => {
                            out.insert(key, map.next_value()?);
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Relationship(Value::Object(out)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Relationship(Value::Array(items)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Relationship(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Relationship(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Relationship(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Relationship(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Relationship(Value::String(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Relationship(Value::Null))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// A relationship's member name; `None` for `links`, which is skipped
/// without its name being copied.
struct MemberName(Option<String>);

impl<'de> Deserialize<'de> for MemberName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = MemberName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E>(self, v: &str) -> Result<MemberName, E> {
                Ok(MemberName((v != "links").then(|| v.to_string())))
            }
        }
        deserializer.deserialize_str(Visit)
    }
}

impl UserDocument {
    /// Reads a document from Drupal's bytes: in one pass of its own
    /// (`reader`) when it can, else by serde_json, which then gives the
    /// document or the error it always gave. The two read every document
    /// the reader reads to the same `UserDocument`.
    pub fn from_slice(bytes: &[u8]) -> serde_json::Result<UserDocument> {
        match reader::read(bytes) {
            Some(document) => Ok(document),
            None => serde_json::from_slice(bytes),
        }
    }

    /// The document's `included` resources; none when it has none.
    pub fn take_included(&mut self) -> Vec<Value> {
        match self.included.take() {
            Some(Value::Array(included)) => included,
            _ => Vec::new(),
        }
    }

    /// The user in `data`; `None` when there is none, or it has no id.
    pub fn into_user(self) -> Option<DrupalUser> {
        self.data?.into_user()
    }

    /// `data.type`, when it is text.
    pub fn resource_type(&self) -> Option<&str> {
        self.data.as_ref()?.kind.as_ref()?.as_str()
    }

    /// Whether Drupal sent the user with only `display_name`, as it does
    /// for anonymous callers (see [`DrupalUser::is_stripped`]).
    pub fn is_stripped_user(&self) -> bool {
        self.data
            .as_ref()
            .is_some_and(UserResourceFields::is_stripped_user)
    }

    /// Whether Drupal sent a user with its `name`, which it shows no
    /// anonymous caller.
    pub fn shows_user(&self) -> bool {
        self.data
            .as_ref()
            .is_some_and(|data| data.kind.as_ref().and_then(Value::as_str) == Some(USER_TYPE))
            && !self.is_stripped_user()
    }
}

impl UserResourceFields {
    /// The user; `None` when it has no id.
    fn into_user(self) -> Option<DrupalUser> {
        let Some(Value::String(id)) = self.id else {
            return None;
        };
        let attributes = self.attributes.unwrap_or_default();
        let relationships = self.relationships.0;
        let roles = roles_of(&relationships);
        Some(DrupalUser {
            id,
            attributes,
            relationships,
            roles,
        })
    }

    /// A user (by its type) without `name`: sent with only `display_name`.
    fn is_stripped_user(&self) -> bool {
        self.kind.as_ref().and_then(Value::as_str) == Some(USER_TYPE)
            && self
                .attributes
                .as_ref()
                .is_none_or(|a| !a.contains_key("name"))
    }
}

/// A user collection (the answer to `GET /jsonapi/user/user?...`) read in
/// one pass straight from Drupal's bytes by [`UserCollection::read`]: each
/// item as [`UserDocument`]'s reader reads `data`, `links.next.href`,
/// `meta.count` and `included`; everything else is stepped over. Reading
/// the whole collection into a `Value` first was the largest share of the
/// bridge's work for a lookup by `userName`, the IdPs' most frequent
/// request.
///
/// A fast path only: it holds exactly what reading the same bytes into a
/// `Value` gives the client (`None` from [`UserCollection::read`] for
/// anything it does not read exactly so, and the client then reads a
/// `Value` as before).
#[derive(Debug, PartialEq)]
pub struct UserCollection {
    /// `data`'s items in order, each as its user; `None` for an item
    /// without an id (see [`DrupalUser::from_resource`]).
    pub users: Vec<Option<DrupalUser>>,
    /// Whether `data` has items and every one is a user with only
    /// `display_name`, as Drupal sends them to anonymous callers.
    pub stripped_user_data: bool,
    /// `links.next.href`, when it is a string.
    pub next_href: Option<String>,
    /// `meta.count`, as sent.
    pub count: Option<Value>,
    /// `included`, when it is an array.
    pub included: Vec<Value>,
}

impl UserCollection {
    /// The collection in `bytes` (the whole of them, a JSON object with a
    /// `data` array of objects); `None` when the bytes must be read into a
    /// `Value` instead, which then gives the answer or the error it always
    /// gave.
    pub fn read(bytes: &[u8]) -> Option<UserCollection> {
        reader::read_collection(bytes)
    }

    fn from_parts(
        data: Vec<UserResourceFields>,
        next_href: Option<String>,
        count: Option<Value>,
        included: Option<Value>,
    ) -> UserCollection {
        let stripped_user_data =
            !data.is_empty() && data.iter().all(UserResourceFields::is_stripped_user);
        UserCollection {
            users: data
                .into_iter()
                .map(UserResourceFields::into_user)
                .collect(),
            stripped_user_data,
            next_href,
            count,
            included: match included {
                Some(Value::Array(included)) => included,
                _ => Vec::new(),
            },
        }
    }
}

/// The ids (lower case) a relationship holds: its `data`, a list, one
/// identifier or `null`; `None` when it has no `data`. Drupal's
/// placeholders for a target that is gone (`missing`) or not stored
/// (`virtual`) are left out.
pub fn relationship_ids(relationship: &Value) -> Option<Vec<String>> {
    let items: &[Value] = match relationship.get("data")? {
        Value::Array(items) => items,
        Value::Null => &[],
        item => std::slice::from_ref(item),
    };
    Some(
        items
            .iter()
            .filter_map(|i| i.get("id").and_then(Value::as_str))
            .filter(|id| *id != "missing" && *id != "virtual")
            .map(str::to_ascii_lowercase)
            .collect(),
    )
}

fn roles_of(relationships: &Map<String, Value>) -> Vec<RoleRef> {
    relationships
        .get("roles")
        .and_then(|r| r.get("data"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(role_ref).collect())
        .unwrap_or_default()
}

fn role_ref(item: &Value) -> Option<RoleRef> {
    Some(RoleRef {
        id: item.get("id")?.as_str()?.to_string(),
        machine_name: item
            .get("meta")
            .and_then(|m| m.get("drupal_internal__target_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// A role (config entity) as JSON:API returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrupalRole {
    pub id: String,
    pub machine_name: String,
    pub label: String,
    pub is_admin: bool,
    /// The permissions it grants (listed to accounts that may administer
    /// permissions).
    pub permissions: Vec<String>,
}

impl DrupalRole {
    pub fn from_resource(resource: &Value) -> Option<DrupalRole> {
        let attributes = resource.get("attributes")?;
        Some(DrupalRole {
            id: resource.get("id")?.as_str()?.to_string(),
            machine_name: attributes.get("drupal_internal__id")?.as_str()?.to_string(),
            label: attributes
                .get("label")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            is_admin: attributes
                .get("is_admin")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            permissions: attributes
                .get("permissions")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// What the bridge writes to a user: changed attributes and relationships.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserWrite {
    /// A client-chosen UUID for creates, so that a create whose answer was
    /// lost can be looked up instead of repeated.
    pub id: Option<String>,
    pub attributes: Map<String, Value>,
    pub relationships: Map<String, Value>,
}

impl UserWrite {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.relationships.is_empty()
    }

    pub fn to_document(&self) -> Value {
        let mut data = Map::new();
        data.insert("type".into(), Value::String(USER_TYPE.into()));
        if let Some(id) = &self.id {
            data.insert("id".into(), Value::String(id.clone()));
        }
        if !self.attributes.is_empty() {
            data.insert("attributes".into(), Value::Object(self.attributes.clone()));
        }
        if !self.relationships.is_empty() {
            data.insert(
                "relationships".into(),
                Value::Object(self.relationships.clone()),
            );
        }
        json!({ "data": data })
    }
}

/// The `roles` relationship value for a set of role UUIDs.
pub fn roles_relationship(role_ids: &[String]) -> Value {
    json!({
        "data": role_ids
            .iter()
            .map(|id| json!({"type": ROLE_TYPE, "id": id}))
            .collect::<Vec<_>>()
    })
}

/// One entry of a JSON:API `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub detail: String,
    /// `source.pointer`, e.g. `/data/attributes/name`.
    pub pointer: Option<String>,
}

/// Reads the `errors` member of a JSON:API error document.
pub fn api_errors(body: &Value) -> Vec<ApiError> {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .map(|e| ApiError {
                    status: e
                        .get("status")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0),
                    detail: e
                        .get("detail")
                        .and_then(Value::as_str)
                        .or_else(|| e.get("title").and_then(Value::as_str))
                        .unwrap_or_default()
                        .to_string(),
                    pointer: e
                        .get("source")
                        .and_then(|s| s.get("pointer"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_resource_reads_roles_with_machine_names() {
        let resource = json!({
            "type": "user--user",
            "id": "ace00159-50ff-4954-86f0-5300315c33f3",
            "attributes": {"name": "alice", "drupal_internal__uid": 3, "status": true},
            "relationships": {"roles": {"data": [
                {"type": "user_role--user_role", "id": "8320", "meta": {"drupal_internal__target_id": "editor"}}
            ]}}
        });
        let user = DrupalUser::from_resource(resource).unwrap();
        assert_eq!(user.uid(), Some(3));
        assert!(user.has_role("editor"));
        assert!(!user.is_stripped());
    }

    #[test]
    fn anonymous_answers_are_recognised_as_stripped() {
        let resource =
            json!({"type": "user--user", "id": "x", "attributes": {"display_name": "Anonymous"}});
        assert!(DrupalUser::from_resource(resource).unwrap().is_stripped());
    }

    #[test]
    fn error_documents_yield_detail_and_pointer() {
        let body = json!({"errors": [{"title": "Unprocessable Content", "status": "422",
            "detail": "name: The username bob is already taken.",
            "source": {"pointer": "/data/attributes/name"}}]});
        let errors = api_errors(&body);
        assert_eq!(errors[0].status, 422);
        assert_eq!(errors[0].pointer.as_deref(), Some("/data/attributes/name"));
    }

    #[test]
    fn writes_only_carry_what_changes() {
        let mut w = UserWrite::default();
        assert!(w.is_empty());
        w.attributes.insert("status".into(), json!(false));
        let doc = w.to_document();
        assert_eq!(doc["data"]["type"], "user--user");
        assert!(doc["data"].get("relationships").is_none());
    }
}
