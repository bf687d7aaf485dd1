//! The site's data and settings behind one mutex: users, roles, sessions,
//! flood events, the clock, the request log and pending faults.

use std::collections::{BTreeMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::auth::{Flood, Presented, Sessions};
use super::config::{AccountSeed, CancelMethod, FieldSeed, RoleSeed, StandInConfig};
use super::faults::Faults;
use super::model::{Caller, Role, User, ROLE_ANONYMOUS, ROLE_AUTHENTICATED};
use super::oauth::{OAuthClientSeed, Tokens};
use super::request_log::RequestLog;
use super::taxonomy::Term;

/// Why seeding an account failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("the username {0} is already taken")]
    NameTaken(String),
    #[error("the uuid {0} is already in use")]
    UuidTaken(String),
    #[error("there is no role {0}")]
    UnknownRole(String),
    #[error("the role {0} already exists")]
    RoleTaken(String),
    #[error("there is no user field {0}")]
    UnknownField(String),
}

/// Where `now` comes from: the system clock or a time a test set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    System,
    Fixed(i64),
}

impl Clock {
    fn now(self) -> i64 {
        match self {
            Clock::Fixed(t) => t,
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default(),
        }
    }
}

/// Drupal refreshes `access` at most this often (`session_write_interval`).
const ACCESS_WRITE_INTERVAL: i64 = 180;

pub(crate) struct Site {
    /// While a write that arrived earlier is handled: the e-mail addresses
    /// as it found them (see `whole_saves::MailsSeen`).
    pub(crate) mails_at_arrival: Option<super::whole_saves::MailsSeen>,
    pub(crate) site_name: String,
    pub(crate) users: BTreeMap<u64, User>,
    next_uid: u64,
    pub(crate) roles: Vec<Role>,
    pub(crate) custom_fields: Vec<FieldSeed>,
    pub(crate) read_only: bool,
    pub(crate) cancel_method: CancelMethod,
    pub(crate) flood: Flood,
    pub(crate) sessions: Sessions,
    pub(crate) clock: Clock,
    pub(crate) log: RequestLog,
    pub(crate) faults: Faults,
    pub(crate) oauth_clients: Vec<OAuthClientSeed>,
    pub(crate) tokens: Tokens,
    /// Whether the site has the groups vocabulary and the users' reference
    /// field (`StandInConfig::taxonomy`).
    pub(crate) taxonomy: bool,
    pub(crate) terms: BTreeMap<u64, Term>,
    next_tid: u64,
    /// Users carry the standard profile's empty `user_picture` relationship.
    pub(crate) user_picture: bool,
    /// Text columns compare as MySQL and MariaDB's default collation
    /// (`utf8mb4_general_ci`) does: ignoring accents as well as case.
    pub(crate) accents_ignored: bool,
    /// Normalizations cached as a GET ends, when a test asks for it
    /// (`StandInHandle::cache_normalizations_late`).
    pub(crate) late_cache: Option<super::late_cache::LateCache>,
}

fn uuid_string(given: Option<Uuid>) -> String {
    given.unwrap_or_else(Uuid::new_v4).to_string()
}

impl Site {
    pub(crate) fn new(config: &StandInConfig) -> Result<Site, SeedError> {
        let built_in = [
            (ROLE_ANONYMOUS, "Anonymous user"),
            (ROLE_AUTHENTICATED, "Authenticated user"),
        ];
        let mut roles: Vec<Role> = built_in
            .iter()
            .map(|(name, label)| Role {
                machine_name: name.to_string(),
                label: label.to_string(),
                uuid: uuid_string(None),
                is_admin: Some(false),
                permissions: vec!["access content".to_string()],
                weight: 0,
            })
            .collect();
        for (weight, role) in roles.iter_mut().enumerate() {
            role.weight = weight as i64;
        }
        let mut site = Site {
            mails_at_arrival: None,
            site_name: config.site_name.clone(),
            users: BTreeMap::new(),
            next_uid: 1,
            roles,
            custom_fields: config.user_fields.clone(),
            read_only: config.read_only,
            cancel_method: config.cancel_method,
            flood: Flood::default(),
            sessions: Sessions::default(),
            clock: Clock::System,
            log: RequestLog::default(),
            faults: Faults::default(),
            oauth_clients: config.oauth_clients.clone(),
            tokens: Tokens::default(),
            taxonomy: config.taxonomy,
            terms: BTreeMap::new(),
            next_tid: 1,
            user_picture: false,
            accents_ignored: false,
            late_cache: None,
        };
        for seed in &config.roles {
            site.insert_role(seed)?;
        }
        let now = site.now();
        let anonymous = User::new(0, uuid_string(config.anonymous_uuid), String::new(), now);
        site.users.insert(0, anonymous);
        let admin = AccountSeed {
            name: config.admin.name.clone(),
            password: Some(config.admin.password.clone()),
            mail: Some(config.admin.mail.clone()),
            uuid: config.admin_uuid,
            status: true,
            ..AccountSeed::default()
        };
        site.insert_seed(&admin)?;
        if let Some(user) = site.users.get_mut(&1) {
            user.init = user.mail.clone();
        }
        for seed in &config.extra_accounts {
            site.insert_seed(seed)?;
        }
        Ok(site)
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The `changed` value for a write: now, but always past the previous one
    /// so every write to an account is visible (and orderable) to clients.
    pub(crate) fn next_changed(&self, previous: i64) -> i64 {
        self.now().max(previous + 1)
    }

    pub(crate) fn allocate_uid(&mut self) -> u64 {
        let uid = self.next_uid;
        self.next_uid += 1;
        uid
    }

    pub(crate) fn set_next_tid(&mut self, tid: u64) {
        self.next_tid = tid;
    }

    pub(crate) fn allocate_tid(&mut self) -> u64 {
        let tid = self.next_tid;
        self.next_tid += 1;
        tid
    }

    /// Term UUIDs compare ignoring case, like user UUIDs on SQLite.
    pub(crate) fn term_by_uuid(&self, uuid: &str) -> Option<&Term> {
        self.terms
            .values()
            .find(|t| t.uuid.eq_ignore_ascii_case(uuid))
    }

    pub(crate) fn user_by_uuid(&self, uuid: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.uuid.eq_ignore_ascii_case(uuid))
    }

    /// Usernames compare case-insensitively (the column has a NOCASE collation).
    pub(crate) fn user_by_name(&self, name: &str) -> Option<&User> {
        let wanted = name.to_lowercase();
        self.users
            .values()
            .find(|u| !u.is_anonymous() && u.name.to_lowercase() == wanted)
    }

    pub(crate) fn role_by_uuid(&self, uuid: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.uuid == uuid)
    }

    pub(crate) fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.machine_name == name)
    }

    pub(crate) fn has_permission(&self, caller: &Caller, permission: &str) -> bool {
        caller.has_permission(&self.roles, permission)
    }

    /// Adds a role, as an administrator does under People › Roles; it comes
    /// last (the highest weight). Returns its UUID.
    pub(crate) fn insert_role(&mut self, seed: &RoleSeed) -> Result<String, SeedError> {
        if self.role_by_name(&seed.machine_name).is_some() {
            return Err(SeedError::RoleTaken(seed.machine_name.clone()));
        }
        let uuid = uuid_string(seed.uuid);
        self.roles.push(Role {
            machine_name: seed.machine_name.clone(),
            label: seed.label.clone(),
            uuid: uuid.clone(),
            is_admin: seed.is_admin.then_some(true),
            permissions: seed.permissions.clone(),
            weight: self.roles.len() as i64,
        });
        Ok(uuid)
    }

    pub(crate) fn insert_seed(&mut self, seed: &AccountSeed) -> Result<String, SeedError> {
        if self.user_by_name(&seed.name).is_some() {
            return Err(SeedError::NameTaken(seed.name.clone()));
        }
        let uuid = uuid_string(seed.uuid);
        if self.user_by_uuid(&uuid).is_some() {
            return Err(SeedError::UuidTaken(uuid));
        }
        self.add_seeded(seed, uuid)
    }

    /// Creates many accounts, checking names and UUIDs against sets built
    /// once rather than against every account for each one, so that a
    /// benchmark can seed 100 000 accounts. Stops at the first refused seed;
    /// the ones before it stay.
    pub(crate) fn insert_seeds(&mut self, seeds: &[AccountSeed]) -> Result<Vec<String>, SeedError> {
        let mut names: HashSet<String> = self
            .users
            .values()
            .filter(|u| !u.is_anonymous())
            .map(|u| u.name.to_lowercase())
            .collect();
        let mut uuids: HashSet<String> = self
            .users
            .values()
            .map(|u| u.uuid.to_ascii_lowercase())
            .collect();
        seeds
            .iter()
            .map(|seed| {
                if !names.insert(seed.name.to_lowercase()) {
                    return Err(SeedError::NameTaken(seed.name.clone()));
                }
                let uuid = uuid_string(seed.uuid);
                if !uuids.insert(uuid.to_ascii_lowercase()) {
                    return Err(SeedError::UuidTaken(uuid));
                }
                self.add_seeded(seed, uuid)
            })
            .collect()
    }

    /// Creates the account of a seed whose name and UUID are free.
    fn add_seeded(&mut self, seed: &AccountSeed, uuid: String) -> Result<String, SeedError> {
        if let Some(unknown) = seed.roles.iter().find(|r| self.role_by_name(r).is_none()) {
            return Err(SeedError::UnknownRole(unknown.clone()));
        }
        if let Some(unknown) = seed
            .fields
            .keys()
            .find(|f| !self.custom_fields.iter().any(|c| &c.name == *f))
        {
            return Err(SeedError::UnknownField(unknown.clone()));
        }
        let uid = self.allocate_uid();
        let mut user = User::new(uid, uuid.clone(), seed.name.clone(), self.now());
        user.mail = seed.mail.clone();
        user.pass = seed.password.clone();
        user.status = seed.status;
        user.roles = seed.roles.clone();
        user.fields = seed.fields.clone();
        self.users.insert(uid, user);
        Ok(uuid)
    }

    /// Resolves who the request runs as, following `basic_auth` then the
    /// cookie provider: bad credentials, blocked accounts and flood-blocked
    /// accounts all run as anonymous.
    pub(crate) fn authenticate(&mut self, presented: &Presented, ip: &str) -> Caller {
        let now = self.now();
        let caller = match (&presented.basic, &presented.session) {
            _ if presented.bearer.is_some() => presented
                .bearer
                .as_deref()
                .and_then(|token| self.tokens.user_of(token, now))
                .and_then(|uid| self.users.get(&uid))
                .filter(|user| user.status)
                .map(Caller::for_user),
            (Some((name, pass)), _) => self.basic_login(name, pass, ip, now),
            (None, Some(session_id)) => self
                .sessions
                .get(session_id)
                .and_then(|s| self.users.get(&s.uid))
                .filter(|user| user.status)
                .map(Caller::for_user),
            (None, None) => None,
        };
        match caller {
            Some(caller) => {
                if let Some(user) = self.users.get_mut(&caller.uid) {
                    if now - user.access > ACCESS_WRITE_INTERVAL {
                        user.access = now;
                    }
                }
                caller
            }
            None => Caller::anonymous(),
        }
    }

    fn basic_login(&mut self, name: &str, pass: &str, ip: &str, now: i64) -> Option<Caller> {
        if self.flood.ip_allowed(ip, now) {
            let account = self.user_by_name(name).filter(|u| u.status).cloned();
            if let Some(account) = account {
                if self.flood.account_allowed(account.uid, ip, now) {
                    if account.pass.as_deref() == Some(pass) {
                        self.flood.clear_account(account.uid, ip);
                        return Some(Caller::for_user(&account));
                    }
                    self.flood.register_account(account.uid, ip, now);
                }
            }
        }
        self.flood.register_ip(ip, now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        let mut config = StandInConfig::demo("adminpass");
        config.extra_accounts.push(AccountSeed {
            password: Some("pw".into()),
            roles: vec!["editor".into()],
            ..AccountSeed::new("carol")
        });
        Site::new(&config).unwrap()
    }

    fn basic(name: &str, pass: &str) -> Presented {
        Presented {
            basic: Some((name.into(), pass.into())),
            session: None,
            bearer: None,
        }
    }

    #[test]
    fn seeding_creates_anonymous_admin_and_extra_accounts_in_uid_order() {
        let site = site();
        let names: Vec<&str> = site.users.values().map(|u| u.name.as_str()).collect();
        assert_eq!(names, vec!["", "admin", "carol"]);
        assert_eq!(site.users[&1].init.as_deref(), Some("admin@example.com"));
    }

    #[test]
    fn built_in_roles_come_first_and_weights_follow_the_order() {
        let site = site();
        let names: Vec<&str> = site.roles.iter().map(|r| r.machine_name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "anonymous",
                "authenticated",
                "administrator",
                "editor",
                "engineering"
            ]
        );
        assert_eq!(site.role_by_name("editor").map(|r| r.weight), Some(3));
        assert_eq!(site.role_by_name("editor").and_then(|r| r.is_admin), None);
    }

    #[test]
    fn seeding_many_checks_names_against_existing_and_new_accounts() {
        let mut site = site();
        let seeds = [AccountSeed::new("dan"), AccountSeed::new("eve")];
        assert_eq!(site.insert_seeds(&seeds).map(|ids| ids.len()), Ok(2));
        assert!(site.user_by_name("eve").is_some());
        assert_eq!(
            site.insert_seeds(&[AccountSeed::new("fay"), AccountSeed::new("FAY")]),
            Err(SeedError::NameTaken("FAY".into()))
        );
        assert_eq!(
            site.insert_seeds(&[AccountSeed::new("Carol")]),
            Err(SeedError::NameTaken("Carol".into()))
        );
    }

    #[test]
    fn seeding_a_taken_name_in_other_case_fails() {
        let mut site = site();
        assert_eq!(
            site.insert_seed(&AccountSeed::new("CAROL")),
            Err(SeedError::NameTaken("CAROL".into()))
        );
    }

    #[test]
    fn correct_basic_credentials_authenticate_and_wrong_ones_run_as_anonymous() {
        let mut site = site();
        assert_eq!(site.authenticate(&basic("Carol", "pw"), "ip").uid, 2);
        assert_eq!(site.authenticate(&basic("carol", "nope"), "ip").uid, 0);
        assert_eq!(site.authenticate(&basic("ghost", "x"), "ip").uid, 0);
    }

    #[test]
    fn a_blocked_account_runs_as_anonymous_even_with_its_password() {
        let mut site = site();
        if let Some(carol) = site.users.get_mut(&2) {
            carol.status = false;
        }
        assert_eq!(site.authenticate(&basic("carol", "pw"), "ip").uid, 0);
    }

    #[test]
    fn after_five_failures_the_correct_password_runs_as_anonymous_until_cleared() {
        let mut site = site();
        for _ in 0..5 {
            site.authenticate(&basic("carol", "wrong"), "ip");
        }
        assert_eq!(site.authenticate(&basic("carol", "pw"), "ip").uid, 0);
        assert_eq!(site.authenticate(&basic("admin", "adminpass"), "ip").uid, 1);
        site.flood.clear();
        assert_eq!(site.authenticate(&basic("carol", "pw"), "ip").uid, 2);
    }

    #[test]
    fn changed_always_moves_past_the_previous_value() {
        let mut site = site();
        site.clock = Clock::Fixed(100);
        assert_eq!(site.next_changed(50), 100);
        assert_eq!(site.next_changed(100), 101);
    }
}
