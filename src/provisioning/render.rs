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
    if let Some(created) = user.attribute_str("created").and_then(scim_date_time) {
        meta.insert("created".into(), json!(created));
    }
    if let Some(changed) = user.attribute_str("changed").and_then(scim_date_time) {
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

/// `text` when it is a date and time as SCIM's `meta.created` and
/// `meta.lastModified` must be (RFC 3339, as Drupal writes them); `None`
/// for anything else Drupal sent, which `meta` then leaves out: both are
/// optional, and an account is not made unreadable by a broken stamp.
pub(super) fn scim_date_time(text: &str) -> Option<&str> {
    let valid = utc_seconds(text).is_some()
        || (text.as_bytes().get(10) == Some(&b'T') && DateTime::parse_from_rfc3339(text).is_ok());
    valid.then_some(text)
}

/// Drupal's `changed` in seconds, 0 when it is missing or unreadable.
pub(super) fn version_stamp(user: &DrupalUser) -> i64 {
    stamp_of(user.attribute_str("changed"))
}

/// [`version_stamp`] of a `changed` already looked up.
pub(super) fn stamp_of(changed: Option<&str>) -> i64 {
    changed
        .and_then(|c| {
            utc_seconds(c).or_else(|| DateTime::parse_from_rfc3339(c).ok().map(|t| t.timestamp()))
        })
        .unwrap_or(0)
}

/// Seconds of `YYYY-MM-DDTHH:MM:SS+00:00`, Drupal's own spelling of
/// `changed`, read without chrono (a sixth of the digest's cost); `None`
/// for anything else, which chrono reads as before. Only a text chrono
/// reads as exactly this instant is taken here: a real date, hours below
/// 24, minutes and seconds below 60 (chrono's leap second `:60` is left to
/// it).
fn utc_seconds(text: &str) -> Option<i64> {
    let b: &[u8; 25] = text.as_bytes().try_into().ok()?;
    let digits = |at: usize, n: usize| -> Option<i64> {
        b.get(at..at + n)?.iter().try_fold(0i64, |v, &d| {
            d.is_ascii_digit().then(|| v * 10 + i64::from(d - b'0'))
        })
    };
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && &b[19..] == b"+00:00";
    if !shape {
        return None;
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm; years 0-9999).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// `W/"<stamp>-<digest as 16 hex digits>"`, written by hand: `format!`
/// was a measurable part of every read.
pub(super) fn weak_tag(stamp: i64, digest: u64) -> String {
    let (tag, len) = weak_tag_bytes(stamp, digest);
    // ASCII only: always text.
    std::str::from_utf8(tag.get(..len).unwrap_or_default())
        .unwrap_or_default()
        .to_string()
}

/// The bytes of [`weak_tag`] (at most 44) and how many there are.
pub(super) fn weak_tag_bytes(stamp: i64, digest: u64) -> ([u8; 44], usize) {
    let mut tag = [0u8; 44];
    tag[..3].copy_from_slice(b"W/\"");
    let mut len = 3;
    if stamp < 0 {
        tag[len] = b'-';
        len += 1;
    }
    // The stamp's digits, written from the last.
    let rest = stamp.unsigned_abs();
    let count = rest.checked_ilog10().map_or(1, |log| log as usize + 1);
    let mut rest = rest;
    for slot in tag[len..len + count].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    len += count;
    tag[len] = b'-';
    len += 1;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, byte) in tag[len..len + 16]
        .chunks_exact_mut(2)
        .zip(digest.to_be_bytes())
    {
        pair[0] = HEX[usize::from(byte >> 4)];
        pair[1] = HEX[usize::from(byte & 0xf)];
    }
    len += 16;
    tag[len] = b'"';
    (tag, len + 1)
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
    fn drupal_stamps_are_read_as_chrono_reads_them() {
        let chrono = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp())
        };
        let mut texts = vec![
            "2024-01-01T00:00:00+00:00".to_string(),
            "1970-01-01T00:00:00+00:00".into(),
            "0000-01-01T00:00:00+00:00".into(),
            "9999-12-31T23:59:59+00:00".into(),
            "2024-02-29T12:00:00+00:00".into(),
            "2023-02-29T12:00:00+00:00".into(),
            "1900-02-29T12:00:00+00:00".into(),
            "2000-02-29T12:00:00+00:00".into(),
            "2024-04-31T12:00:00+00:00".into(),
            "2024-13-01T12:00:00+00:00".into(),
            "2024-00-01T12:00:00+00:00".into(),
            "2024-01-00T12:00:00+00:00".into(),
            "2024-01-01T24:00:00+00:00".into(),
            "2024-01-01T23:60:00+00:00".into(),
            "2016-12-31T23:59:60+00:00".into(),
            "2024-01-01t00:00:00+00:00".into(),
            "2024-01-01 00:00:00+00:00".into(),
            "2024-01-01T00:00:00+01:00".into(),
            "2024-01-01T00:00:00Z".into(),
            "2024-01-01T00:00:00.5+00:00".into(),
            "+024-01-01T00:00:00+00:00".into(),
            "2024-1-01T00:00:00+00:00".into(),
            "2026-11-28T11:50:57+00:00".into(),
            String::new(),
        ];
        // Every day of four years, one a leap year and one a century.
        for (year, days) in [(1999, 365), (2000, 366), (2100, 365), (2026, 365)] {
            let start = chrono(&format!("{year}-01-01T00:00:00+00:00")).expect("a date");
            for day in 0..days {
                let t = chrono::DateTime::from_timestamp(start + day * 86_400 + 3_723, 0)
                    .expect("an instant");
                texts.push(t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string());
            }
        }
        for text in &texts {
            assert_eq!(stamp_of(Some(text)), chrono(text).unwrap_or(0), "{text}");
            if utc_seconds(text).is_some() {
                assert_eq!(utc_seconds(text), chrono(text), "{text}");
            }
        }
        assert_eq!(stamp_of(None), 0);
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
    /// [`group_version`], also in `meta.version`; `None` when the members
    /// were not read (a group's version covers them, and reading a large
    /// group's members costs a Drupal request per 50 of them).
    pub version: Option<String>,
}

/// A group's version (RFC 7644 §3.14): `W/"<digest>"`, FNV-1a of what the
/// group shows, `displayName`, `externalId` and the members' ids sorted.
/// Neither a role nor a term records a change of its members (they are
/// the accounts' references), so the version is made from what is shown
/// rather than from a stamp of Drupal's: any change of the three is a new
/// version, and the same group read twice has the same one, whatever
/// order Drupal lists its members in.
pub(super) fn group_version(
    display_name: &str,
    external_id: Option<&str>,
    members: &[&str],
) -> String {
    let mut sorted = members.to_vec();
    sorted.sort_unstable();
    // The JSON text of the three, hashed as it is written: unambiguous
    // whatever characters the name holds.
    let mut digest = Fnv1a::default();
    let _ = serde_json::to_writer(&mut digest, &(display_name, external_id, sorted));
    format!("W/\"{:016x}\"", digest.0)
}

/// `meta` of a group: `resourceType`, then `extra` (stamps), then `version`
/// when the members were read; the version is returned too.
pub(super) fn group_meta(
    display_name: &str,
    external_id: Option<&str>,
    members: Option<&[&str]>,
    mut extra: Map<String, Value>,
) -> (Value, Option<String>) {
    let mut meta = Map::new();
    meta.insert("resourceType".into(), json!("Group"));
    meta.append(&mut extra);
    let version = members.map(|ids| group_version(display_name, external_id, ids));
    if let Some(version) = &version {
        meta.insert("version".into(), json!(version));
    }
    (Value::Object(meta), version)
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

/// `members` is `None` when the client left them out (they were not read);
/// the group then has no version.
pub fn render_group(group: &ExposedGroup, members: Option<&[&str]>) -> ScimGroup {
    let mut resource = Map::new();
    resource.insert("schemas".into(), json!([GROUP_URN]));
    resource.insert("id".into(), json!(group.id));
    resource.insert("displayName".into(), json!(group.display_name));
    if let Some(members) = members {
        resource.insert("members".into(), render_members(members.iter().copied()));
    }
    let (meta, version) = group_meta(&group.display_name, None, members, Map::new());
    resource.insert("meta".into(), meta);
    ScimGroup {
        id: group.id.clone(),
        resource,
        version,
    }
}
