//! `StandInHandle`: what tests and the demo may look at and change directly.

use std::time::Duration;

use serde_json::Value;

use super::config::{AccountSeed, CancelMethod, FieldSeed, RoleSeed};
use super::documents::UserView;
use super::model::{User, Visibility};
use super::server::{lock, SharedSite};
use super::state::{Clock, SeedError};
use super::LoggedRequest;

/// A user as uid 1 sees it through JSON:API: the resource object.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSnapshot(pub Value);

impl UserSnapshot {
    /// The UUID (`id`).
    pub fn id(&self) -> &str {
        self.0.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// An attribute by its JSON:API name (`status`, `mail`, `field_...`).
    pub fn attribute(&self, name: &str) -> Option<&Value> {
        self.0.get("attributes").and_then(|a| a.get(name))
    }

    /// Machine names of the held roles.
    pub fn roles(&self) -> Vec<String> {
        self.0
            .pointer("/relationships/roles/data")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| {
                        i.pointer("/meta/drupal_internal__target_id")
                            .and_then(Value::as_str)
                    })
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Cheap to clone; every clone sees and changes the same site.
#[derive(Clone)]
pub struct StandInHandle {
    pub(crate) site: SharedSite,
    pub(crate) base_url: String,
}

impl StandInHandle {
    /// The requests received since the last clear, oldest first (faulted
    /// ones included); only the latest 10 000 are kept.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.site).log.latest()
    }

    pub fn clear_requests(&self) {
        lock(&self.site).log.clear();
    }

    /// How many requests were received since the last clear.
    pub fn request_count(&self) -> usize {
        lock(&self.site).log.received()
    }

    /// `jsonapi.settings:read_only`.
    pub fn set_read_only(&self, read_only: bool) {
        lock(&self.site).read_only = read_only;
    }

    /// `user.settings:cancel_method`.
    pub fn set_cancel_method(&self, method: CancelMethod) {
        lock(&self.site).cancel_method = method;
    }

    /// Empties the flood table (failed login attempts).
    pub fn clear_flood(&self) {
        lock(&self.site).flood.clear();
    }

    /// Freezes the clock at these Unix seconds, or returns to the system clock with `None`.
    pub fn set_clock(&self, unix_seconds: Option<i64>) {
        lock(&self.site).clock = unix_seconds.map_or(Clock::System, Clock::Fixed);
    }

    /// Delay before every request is handled. With a delay, a write that
    /// saves a user (its PATCH or DELETE, a relationship write) loads the
    /// entity as it arrives and saves it whole after the delay, as Drupal
    /// does: two at once to one account lose one's change.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.site).faults.latency = latency;
    }

    /// From now on the site serves `workers` requests at once, each taking
    /// `service`; the others wait for a free worker, as on a PHP server
    /// with that many workers. Changeable at any time.
    pub fn set_capacity(&self, workers: usize, service: Duration) {
        lock(&self.site)
            .faults
            .workers
            .set(Some((workers, service)));
    }

    /// Lifts `set_capacity`: every request is served at once.
    pub fn unlimited_capacity(&self) {
        lock(&self.site).faults.workers.set(None);
    }

    /// Answers the next `count` requests with `status` and a Drupal-like error
    /// document, without handling them.
    pub fn fail_next(&self, count: u32, status: u16) {
        lock(&self.site).faults.fail_next(count, status);
    }

    /// Answers every request to `path` (e.g. one account's
    /// `/jsonapi/user/user/<uuid>/relationships/roles`) with `status`, from
    /// now on, without handling it.
    pub fn fail_requests_to(&self, path: &str, status: u16) {
        lock(&self.site).faults.fail_path(path, status);
    }

    /// Handles the next `method` request to `path` (e.g. a term create),
    /// then answers it with `status` instead: the write is applied, its
    /// answer lost.
    pub fn lose_answer_to(&self, method: &str, path: &str, status: u16) {
        lock(&self.site).faults.lose_answer(method, path, status);
    }

    /// Handles every `method` request to `path` (no query) from now on, and
    /// passes its answer through `rewrite` before sending it: a broken or
    /// hostile Drupal, or a proxy rewriting its answers.
    pub fn rewrite_answers_to(
        &self,
        method: &str,
        path: &str,
        rewrite: impl Fn(&mut super::Answer) + Send + Sync + 'static,
    ) {
        let rewrite = super::faults::Rewrite(std::sync::Arc::new(rewrite));
        lock(&self.site).faults.rewrite(method, path, Some(rewrite));
    }

    /// Ends `rewrite_answers_to` for `method` and `path`.
    pub fn stop_rewriting_answers_to(&self, method: &str, path: &str) {
        lock(&self.site).faults.rewrite(method, path, None);
    }

    /// Handles every `method` request to `path` from now on, but answers
    /// 200 with a body of `bytes` bytes (JSON that never ends), streamed
    /// without being held, with a `Content-Length` when `announced`. `0`
    /// stops it.
    pub fn pad_answers_to(&self, method: &str, path: &str, bytes: u64, announced: bool) {
        let padded = (bytes > 0).then_some(super::faults::Padded { bytes, announced });
        lock(&self.site).faults.pad(method, path, padded);
    }

    /// Answers every `method` request to a path starting with `prefix`
    /// (e.g. every term `DELETE`) with `status`, from now on, without
    /// handling it.
    pub fn fail_requests_under(&self, method: &str, prefix: &str, status: u16) {
        lock(&self.site).faults.fail_under(method, prefix, status);
    }

    /// Ends `fail_requests_under` for `method` and `prefix`.
    pub fn stop_failing_requests_under(&self, method: &str, prefix: &str) {
        lock(&self.site).faults.heal_under(method, prefix);
    }

    /// Ends `fail_requests_to` for `path`: its requests are handled again.
    pub fn stop_failing_requests_to(&self, path: &str) {
        lock(&self.site).faults.heal_path(path);
    }

    /// Holds every `method` request to `path` for `delay`, then handles it
    /// even if the client gave up meanwhile: a Drupal stopped (SIGSTOP)
    /// and resumed, which carries out the writes queued while it stood.
    /// `Duration::ZERO` stops holding them.
    pub fn hold_requests_to(&self, method: &str, path: &str, delay: Duration) {
        lock(&self.site).faults.hold(method, path, delay);
    }

    /// Drops the connection of the next `count` requests without an answer
    /// and without handling them.
    pub fn reset_connections_next(&self, count: u32) {
        lock(&self.site).faults.reset_next(count);
    }

    /// Handles the next `count` requests but cuts their response bodies in half.
    /// The next `count` requests are carried out, and each answered with
    /// an error of `status` instead of its result.
    pub fn fail_after_handling_next(&self, count: u32, status: u16) {
        lock(&self.site)
            .faults
            .fail_after_handling_next(count, status);
    }

    /// Handles the next `count` requests, then answers each with its own
    /// answer and a `Set-Cookie` deleting the session cookie: Drupal's
    /// session ended while the request ran (or a proxy dropped it), and the
    /// write may have been applied.
    pub fn end_session_after_handling_next(&self, count: u32) {
        lock(&self.site)
            .faults
            .end_session_after_handling_next(count);
    }

    /// Sends `Retry-After: value` with every injected failure answer
    /// (`fail_next`, `fail_requests_to`, `fail_after_handling_next`,
    /// `lose_answer_to`) from now on; `None` stops it.
    pub fn set_failure_retry_after(&self, value: Option<&str>) {
        lock(&self.site).faults.set_failure_retry_after(value);
    }

    pub fn malformed_body_next(&self, count: u32) {
        lock(&self.site).faults.malformed_next(count);
    }

    /// Sends the next `count` response bodies half at once and half after
    /// `delay` (the request itself is handled).
    pub fn slow_body_next(&self, count: u32, delay: Duration) {
        lock(&self.site).faults.slow_body_next(count, delay);
    }

    /// Ends every login session, as session expiry or garbage collection
    /// does: their cookies then run as anonymous.
    pub fn expire_sessions(&self) {
        lock(&self.site).sessions.clear();
    }

    /// How many login sessions are open (Drupal's `sessions` rows): a
    /// client that logs out ends its own.
    pub fn open_sessions(&self) -> usize {
        lock(&self.site).sessions.len()
    }

    /// Lifetime of OAuth2 access tokens issued from now on, in seconds
    /// (simple_oauth's default is 300).
    pub fn set_token_lifetime(&self, seconds: i64) {
        lock(&self.site).tokens.lifetime = seconds;
    }

    /// Revokes every OAuth2 access token issued so far.
    pub fn revoke_tokens(&self) {
        lock(&self.site).tokens.revoke_all();
    }

    pub fn user_by_name(&self, name: &str) -> Option<UserSnapshot> {
        let site = lock(&self.site);
        let user = site.user_by_name(name)?;
        let view = UserView {
            base: &self.base_url,
            roles: &site.roles,
            custom_fields: &site.custom_fields,
            fieldset: None,
            taxonomy: false,
            user_picture: false,
        };
        let full = Visibility::Full {
            administers_users: true,
            own: false,
        };
        Some(UserSnapshot(view.resource(user, full).to_value()))
    }

    /// The group terms (`scim_groups`), as `(uuid, name, published)` in tid order.
    pub fn terms(&self) -> Vec<(String, String, bool)> {
        lock(&self.site)
            .terms
            .values()
            .map(|t| (t.uuid.clone(), t.name.clone(), t.status))
            .collect()
    }

    /// Deletes a group term out of band, as an editor in Drupal's UI would:
    /// users keep referencing it. `false` when there was none.
    pub fn delete_term(&self, uuid: &str) -> bool {
        let mut site = lock(&self.site);
        let tid = site.term_by_uuid(uuid).map(|t| t.tid);
        tid.is_some_and(|tid| site.terms.remove(&tid).is_some())
    }

    /// Renames a group term out of band, as an editor in Drupal's UI
    /// would. `false` when there was none.
    pub fn rename_term(&self, uuid: &str, name: &str) -> bool {
        let mut site = lock(&self.site);
        let tid = site.term_by_uuid(uuid).map(|t| t.tid);
        match tid.and_then(|tid| site.terms.get_mut(&tid)) {
            Some(term) => {
                term.name = name.to_string();
                true
            }
            None => false,
        }
    }

    /// Clears an account's cached normalization, as any cache clear would:
    /// a reference to a deleted term then reads `missing` (recorded 386d).
    pub fn invalidate_user_cache(&self, name: &str) -> bool {
        let mut site = lock(&self.site);
        let Some(mut user) = site.user_by_name(name).cloned() else {
            return false;
        };
        super::taxonomy::refresh_cache(&site, &mut user);
        site.users.insert(user.uid, user);
        true
    }

    /// Turns the taxonomy part of the site (the `scim_groups` and `tags`
    /// vocabularies, the users' `field_scim_groups`) on or off, as adding
    /// or removing the module and fields would; terms are kept.
    pub fn set_taxonomy(&self, on: bool) {
        lock(&self.site).taxonomy = on;
    }

    /// Adds a user field, as a site builder would.
    pub fn add_user_field(&self, field: FieldSeed) {
        lock(&self.site).custom_fields.push(field);
    }

    /// Compares user names and e-mail addresses as a Drupal on MySQL or
    /// MariaDB with its default collation (`utf8mb4_general_ci`) does:
    /// ignoring accents as well as case, in filters and in the unique
    /// index on names ("jose" is "josé"), instead of as on SQLite.
    /// With `on`, JSON:API's normalization cache is filled as a GET ends,
    /// after its answer, as Drupal 10 does: every save of a user or term
    /// that a read of it (since its last save) preceded leaves that read's
    /// copy to be served, in reads and collections, until its next save.
    /// The worst case of a race a loaded site runs often.
    pub fn cache_normalizations_late(&self, on: bool) {
        lock(&self.site).late_cache = on.then(Default::default);
    }

    pub fn set_accents_ignored(&self, on: bool) {
        lock(&self.site).accents_ignored = on;
    }

    /// Gives users the standard profile's `user_picture` field (empty).
    pub fn set_user_picture(&self, on: bool) {
        lock(&self.site).user_picture = on;
    }

    /// Sets the next term id, so that ids match a recording.
    pub fn set_next_tid(&self, tid: u64) {
        lock(&self.site).set_next_tid(tid);
    }

    /// Replaces a role's permissions out of band; `false` when there is no such role.
    pub fn set_role_permissions(&self, machine_name: &str, permissions: &[&str]) -> bool {
        let mut site = lock(&self.site);
        match site
            .roles
            .iter_mut()
            .find(|r| r.machine_name == machine_name)
        {
            Some(role) => {
                role.permissions = permissions.iter().map(|p| p.to_string()).collect();
                true
            }
            None => false,
        }
    }

    /// The UUIDs of the group terms an account references (deleted ones as
    /// `missing`), in delta order.
    pub fn group_refs(&self, name: &str) -> Vec<String> {
        let site = lock(&self.site);
        site.user_by_name(name)
            .map(|u| {
                u.term_refs
                    .iter()
                    .map(|r| {
                        site.terms
                            .get(&r.tid)
                            .map_or_else(|| "missing".to_string(), |t| t.uuid.clone())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Accounts on the site, not counting the anonymous user.
    pub fn user_count(&self) -> usize {
        lock(&self.site)
            .users
            .values()
            .filter(|u| !u.is_anonymous())
            .count()
    }

    pub fn role_uuid(&self, machine_name: &str) -> Option<String> {
        lock(&self.site)
            .role_by_name(machine_name)
            .map(|r| r.uuid.clone())
    }

    /// Adds a role directly, as a site administrator would in Drupal's UI
    /// (JSON:API cannot create roles); returns its UUID.
    pub fn add_role(&self, seed: RoleSeed) -> Result<String, SeedError> {
        lock(&self.site).insert_role(&seed)
    }

    /// Deletes a role as a site administrator would in Drupal's UI (JSON:API
    /// cannot): Drupal also deletes every account's reference to it
    /// (`UserStorage::deleteRoleReferences`, no save: `changed` stays).
    /// `false` when there is no such role.
    pub fn delete_role(&self, machine_name: &str) -> bool {
        let mut site = lock(&self.site);
        let before = site.roles.len();
        site.roles.retain(|r| r.machine_name != machine_name);
        if site.roles.len() == before {
            return false;
        }
        for user in site.users.values_mut() {
            user.roles.retain(|r| r != machine_name);
        }
        true
    }

    /// Creates an account directly (no request, no log entry); returns its UUID.
    pub fn insert_user(&self, seed: AccountSeed) -> Result<String, SeedError> {
        lock(&self.site).insert_seed(&seed)
    }

    /// Creates many accounts directly, quickly (see `Site::insert_seeds`);
    /// returns their UUIDs.
    pub fn insert_users(&self, seeds: &[AccountSeed]) -> Result<Vec<String>, SeedError> {
        lock(&self.site).insert_seeds(seeds)
    }

    /// Removes an account outright; `false` when there was none.
    pub fn delete_user(&self, uuid: &str) -> bool {
        let mut site = lock(&self.site);
        let uid = site
            .user_by_uuid(uuid)
            .filter(|u| !u.is_anonymous())
            .map(|u| u.uid);
        uid.is_some_and(|uid| site.users.remove(&uid).is_some())
    }

    /// Sets an account's password out of band; `false` when there is no such account.
    pub fn set_password(&self, name: &str, password: &str) -> bool {
        self.edit_user(name, |user| user.pass = Some(password.to_string()))
    }

    /// Grants a role out of band, as a site administrator would in Drupal's
    /// UI; `false` when there is no such account.
    pub fn grant_role(&self, name: &str, machine_name: &str) -> bool {
        self.edit_user(name, |user| {
            if !user.roles.iter().any(|r| r == machine_name) {
                user.roles.push(machine_name.to_string());
            }
        })
    }

    /// Takes every role and group from an account out of band, as a site
    /// administrator would in Drupal's UI; `false` when there is no such
    /// account.
    pub fn clear_roles_and_groups(&self, name: &str) -> bool {
        self.edit_user(name, |user| {
            user.roles.clear();
            user.term_refs.clear();
        })
    }

    /// Blocks or unblocks an account out of band, as a site administrator
    /// would in Drupal's UI; `false` when there is no such account.
    pub fn set_status(&self, name: &str, active: bool) -> bool {
        self.edit_user(name, |user| user.status = active)
    }

    /// Changes an account as a save in Drupal would, `changed` included.
    fn edit_user(&self, name: &str, edit: impl FnOnce(&mut User)) -> bool {
        let mut site = lock(&self.site);
        let Some(uid) = site.user_by_name(name).map(|u| u.uid) else {
            return false;
        };
        let previous = site.users.get(&uid).map(|u| u.changed).unwrap_or_default();
        let changed = site.next_changed(previous);
        match site.users.get_mut(&uid) {
            Some(user) => {
                edit(user);
                user.changed = changed;
                true
            }
            None => false,
        }
    }
}
