//! Drupal saves a user entity whole: a JSON:API PATCH of a user, and a
//! POST, PATCH or DELETE of one of its relationships, loads the entity,
//! applies the change and saves every field. Two such writes at once
//! overwrite each other: the later save puts back the fields as its load
//! saw them, and the earlier one's change is lost (both answered 2xx).
//!
//! The stand-in otherwise handles each request in one step under the
//! site's lock, so it could not lose a write. When a latency is set
//! (`StandInHandle::set_latency`), a user write here loads the entity as
//! the request arrives, waits out the latency, then applies its change to
//! what it loaded and saves that whole, as Drupal does. (Drupal sometimes
//! refuses the later save instead, with its EntityChanged constraint,
//! when the other save moved `changed` to a later second; that is not
//! imitated: the stand-in only loses the write.)

use super::documents::USERS_PATH;
use super::model::User;
use super::state::Site;
use super::taxonomy::GROUPS_FIELD;

/// The user entity as a write loaded it when it arrived.
pub(crate) struct Loaded(User);

/// The e-mail addresses of the accounts as a user create or PATCH found
/// them when it arrived, by uid. Drupal's check that an address is free
/// (`UserMailUnique`) reads the database while it validates, and no
/// unique index stands behind it: two creates of one address validated at
/// once both pass and both are saved (seen on a real Drupal 10.2). With a
/// latency the stand-in validates against what the write found then.
pub(crate) type MailsSeen = std::collections::BTreeMap<u64, String>;

/// [`MailsSeen`] for a user create or PATCH, else `None`.
pub(crate) fn mails_seen(site: &Site, method: &str, path: &str) -> Option<MailsSeen> {
    let creates = method == "POST" && path.trim_end_matches('/') == USERS_PATH;
    let patches = method == "PATCH"
        && path
            .strip_prefix(USERS_PATH)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'));
    (creates || patches).then(|| {
        site.users
            .iter()
            .filter_map(|(uid, u)| u.mail.clone().map(|mail| (*uid, mail)))
            .collect()
    })
}

/// The UUID of the user a request to `path` saves, if it saves one.
fn written_user<'a>(method: &str, path: &'a str) -> Option<&'a str> {
    if !matches!(method, "PATCH" | "POST" | "DELETE") {
        return None;
    }
    let rest = path.strip_prefix(USERS_PATH)?.strip_prefix('/')?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [id] if method != "POST" => Some(*id),
        [id, "relationships", "roles" | GROUPS_FIELD] => Some(*id),
        _ => None,
    }
    .filter(|id| !id.is_empty())
}

/// The entity a write to `path` loads as it arrives, if it is a user write.
pub(crate) fn load(site: &Site, method: &str, path: &str) -> Option<Loaded> {
    let uuid = written_user(method, path)?;
    site.user_by_uuid(uuid).cloned().map(Loaded)
}

/// Puts the loaded entity back in place of the stored one, so that the
/// write applies its change to it and saves it whole; returns what was
/// stored, for [`settle`]. `None` when the account is gone meanwhile.
pub(crate) fn restore_loaded(site: &mut Site, loaded: Loaded) -> Option<User> {
    let Loaded(user) = loaded;
    let stored = site.users.get(&user.uid)?.clone();
    site.users.insert(user.uid, user);
    Some(stored)
}

/// After the write: a refused one saved nothing, so what was stored stays;
/// a saved one stays as saved (over whatever was stored), with `changed`
/// never going back.
pub(crate) fn settle(site: &mut Site, stored: User, status: u16) {
    if !(200..300).contains(&status) {
        site.users.insert(stored.uid, stored);
        return;
    }
    if let Some(saved) = site.users.get_mut(&stored.uid) {
        saved.changed = saved.changed.max(stored.changed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_writes_are_the_entity_and_relationship_writes() {
        let user = "/jsonapi/user/user/abc";
        assert_eq!(written_user("PATCH", user), Some("abc"));
        assert_eq!(written_user("DELETE", user), Some("abc"));
        assert_eq!(written_user("POST", user), None);
        assert_eq!(written_user("GET", user), None);
        for path in [
            "/jsonapi/user/user/abc/relationships/roles",
            "/jsonapi/user/user/abc/relationships/field_scim_groups",
        ] {
            for method in ["POST", "PATCH", "DELETE"] {
                assert_eq!(written_user(method, path), Some("abc"), "{method} {path}");
            }
            assert_eq!(written_user("GET", path), None);
        }
        assert_eq!(written_user("POST", "/jsonapi/user/user"), None);
        assert_eq!(written_user("PATCH", "/jsonapi/user/user/"), None);
        assert_eq!(
            written_user("PATCH", "/jsonapi/user_role/user_role/x"),
            None
        );
    }
}
