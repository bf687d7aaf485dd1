//! Drupal users and roles rendered as SCIM User and Group resources.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::roles::{ExposedGroup, RoleCatalog};
use crate::drupal::DrupalUser;
use crate::mapping::Mapping;
use crate::scim::schema::{GROUP_URN, USER_URN};

/// A SCIM user on its way out. `meta.location` is added by the HTTP layer,
/// which knows the public URL.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimUser {
    pub id: String,
    pub resource: Map<String, Value>,
    /// Weak ETag from Drupal's `changed`.
    pub version: String,
}

/// `groups` lists the exposed groups the user holds, read from the user's
/// own `roles` relationship (no request of its own); `$ref` is added by the
/// HTTP layer with the public URL.
pub fn render_user(user: &DrupalUser, mapping: &Mapping, catalog: &RoleCatalog) -> ScimUser {
    let mut resource = mapping.from_drupal(&user.attributes, &user.relationships);
    let mut groups: Vec<Value> = catalog
        .groups_of(user)
        .map(|g| json!({"value": g.id, "display": g.display_name, "type": "direct"}))
        .collect();
    // Term-backed groups, read from the user's own reference field.
    groups.extend(
        super::Provisioner::term_group_refs(mapping, user)
            .into_iter()
            .map(|id| json!({"value": id, "type": "direct"})),
    );
    if !groups.is_empty() {
        resource.insert("groups".into(), Value::Array(groups));
    }
    let mut schemas = vec![Value::String(USER_URN.into())];
    schemas.extend(
        resource
            .keys()
            .filter(|k| k.starts_with("urn:"))
            .map(|k| Value::String(k.clone())),
    );
    let version = version_of(user, &resource);
    let mut meta = Map::new();
    meta.insert("resourceType".into(), json!("User"));
    if let Some(created) = user.attribute_str("created") {
        meta.insert("created".into(), json!(created));
    }
    if let Some(changed) = user.attribute_str("changed") {
        meta.insert("lastModified".into(), json!(changed));
    }
    meta.insert("version".into(), json!(version));
    resource.insert("schemas".into(), Value::Array(schemas));
    resource.insert("id".into(), Value::String(user.id.clone()));
    resource.insert("meta".into(), Value::Object(meta));
    ScimUser {
        id: user.id.clone(),
        resource,
        version,
    }
}

/// `W/"<changed>-<digest>"`: Drupal's `changed` (seconds) and a digest of
/// the SCIM attributes, because two writes within one second leave
/// `changed` alike and `If-Match` must still tell them apart.
fn version_of(user: &DrupalUser, resource: &Map<String, Value>) -> String {
    let stamp = version_stamp(user);
    // The JSON text is hashed as it is written: no copy of the resource and
    // no string of it on every read. Writing JSON of string-keyed values
    // into a writer that cannot fail cannot fail either.
    let mut digest = Fnv1a::default();
    let _ = serde_json::to_writer(&mut digest, resource);
    weak_tag(stamp, digest.0)
}

/// Drupal's `changed` in seconds, 0 when it is missing or unreadable.
pub(super) fn version_stamp(user: &DrupalUser) -> i64 {
    user.attribute_str("changed")
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// `W/"<stamp>-<digest as 16 hex digits>"`, written by hand: `format!`
/// was a measurable part of every read.
pub(super) fn weak_tag(stamp: i64, digest: u64) -> String {
    // Bytes, not `String::push` a character at a time (a tenth of it).
    let mut tag = Vec::with_capacity(44);
    tag.extend_from_slice(b"W/\"");
    if stamp < 0 {
        tag.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut rest = stamp.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    tag.extend_from_slice(&digits[at..]);
    tag.push(b'-');
    let mut hex = [0u8; 16];
    for (i, slot) in hex.iter_mut().enumerate() {
        let nibble = ((digest >> ((15 - i) * 4)) & 0xf) as u8;
        *slot = if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + nibble - 10
        };
    }
    tag.extend_from_slice(&hex);
    tag.push(b'"');
    // ASCII only: always text.
    String::from_utf8(tag).unwrap_or_default()
}

/// FNV-1a, 64 bits: stable across runs and builds, which a version must be.
pub(super) struct Fnv1a(pub(super) u64);

impl Fnv1a {
    pub(super) fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.add(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(changed: &str, mail: &str) -> DrupalUser {
        DrupalUser::from_resource(json!({
            "type": "user--user",
            "id": "5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7e",
            "attributes": {"name": "ann", "mail": mail, "status": true, "changed": changed}
        }))
        .expect("a user resource")
    }

    fn mapping() -> Mapping {
        Mapping::parse(
            "rules:\n  - {scim: userName, drupal: name}\n  - {scim: emails.value, drupal: mail}\n",
            "test.yaml",
        )
        .expect("test mapping")
    }

    #[test]
    fn the_version_is_a_weak_tag_of_changed_and_the_attributes() {
        let rendered = render_user(
            &user("2024-01-01T00:00:00+00:00", "a@x.org"),
            &mapping(),
            &RoleCatalog::empty(),
        );
        assert!(
            rendered.version.starts_with("W/\"1704067200-"),
            "{}",
            rendered.version
        );
        assert_eq!(
            rendered.resource["meta"]["version"],
            json!(rendered.version)
        );
    }

    #[test]
    fn a_change_within_the_same_second_gives_a_new_version() {
        let before = render_user(
            &user("2024-01-01T00:00:00+00:00", "a@x.org"),
            &mapping(),
            &RoleCatalog::empty(),
        );
        let again = render_user(
            &user("2024-01-01T00:00:00+00:00", "a@x.org"),
            &mapping(),
            &RoleCatalog::empty(),
        );
        let after = render_user(
            &user("2024-01-01T00:00:00+00:00", "b@x.org"),
            &mapping(),
            &RoleCatalog::empty(),
        );
        assert_eq!(before.version, again.version);
        assert_ne!(before.version, after.version);
    }

    #[test]
    fn weak_tags_are_written_as_format_would() {
        for stamp in [0, 7, 1_704_067_200, -1, -86_400, i64::MAX, i64::MIN] {
            for digest in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
                assert_eq!(
                    weak_tag(stamp, digest),
                    format!("W/\"{stamp}-{digest:016x}\"")
                );
            }
        }
    }

    #[test]
    fn the_digest_is_fnv1a_of_the_json_text_so_versions_survive_an_upgrade() {
        let drupal_user = user("2024-01-01T00:00:00+00:00", "a@x.org");
        let resource = mapping().from_drupal(&drupal_user.attributes, &drupal_user.relationships);
        let text = Value::Object(resource.clone()).to_string();
        let expected = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        assert_eq!(
            version_of(&drupal_user, &resource),
            format!("W/\"1704067200-{expected:016x}\"")
        );
    }
}

/// A SCIM group on its way out; `meta.location` and the members' `$ref`
/// are added by the HTTP layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimGroup {
    pub id: String,
    pub resource: Map<String, Value>,
}

/// A group's `members` as RFC 7643 §8.7.1 defines them: `value` (the
/// account's id) and `type`; the HTTP layer adds `$ref`. There is no
/// `display`: the Group schema gives members none (a client's is accepted
/// and ignored), so a member comes back exactly as an IdP sent it.
pub fn render_members<'a>(ids: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(
        ids.into_iter()
            .map(|id| json!({"value": id, "type": "User"}))
            .collect(),
    )
}

/// The ids of `members`, in their order, for [`render_members`].
pub fn member_ids(members: &[DrupalUser]) -> Vec<&str> {
    members.iter().map(|u| u.id.as_str()).collect()
}

/// `members` is `None` when the client left them out (they were not read).
pub fn render_group(group: &ExposedGroup, members: Option<&[&str]>) -> ScimGroup {
    let mut resource = Map::new();
    resource.insert("schemas".into(), json!([GROUP_URN]));
    resource.insert("id".into(), json!(group.id));
    resource.insert("displayName".into(), json!(group.display_name));
    if let Some(members) = members {
        resource.insert("members".into(), render_members(members.iter().copied()));
    }
    resource.insert("meta".into(), json!({"resourceType": "Group"}));
    ScimGroup {
        id: group.id.clone(),
        resource,
    }
}
