//! Credentials a request presents, Drupal's flood control and cookie sessions.

use std::cell::Cell;
use std::collections::HashMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;

/// The session cookie name (Drupal derives `SESS<hash>` from the cookie domain).
pub(crate) const SESSION_COOKIE: &str = "SESS12ca17b49af2289436f303e0166030a2";
/// Seconds a session cookie lives (`session.storage.options:cookie_lifetime`).
pub(crate) const SESSION_LIFETIME: i64 = 2_000_000;

/// How a request tried to authenticate, as the request log reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKind {
    None,
    Basic { user: String },
    Cookie,
    Bearer,
}

/// What the request carries: basic credentials win over a session cookie,
/// but the cookie's presence still switches on the CSRF check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Presented {
    pub(crate) basic: Option<(String, String)>,
    pub(crate) session: Option<String>,
    /// An OAuth2 access token (`Authorization: Bearer`).
    pub(crate) bearer: Option<String>,
}

impl Presented {
    pub(crate) fn from_headers(authorization: Option<&str>, cookie: Option<&str>) -> Presented {
        Presented {
            basic: authorization.and_then(parse_basic),
            session: cookie.and_then(session_from_cookie),
            bearer: authorization.and_then(parse_bearer),
        }
    }

    pub(crate) fn kind(&self) -> AuthKind {
        match (&self.basic, &self.session) {
            _ if self.bearer.is_some() => AuthKind::Bearer,
            (Some((user, _)), _) => AuthKind::Basic { user: user.clone() },
            (None, Some(_)) => AuthKind::Cookie,
            (None, None) => AuthKind::None,
        }
    }

    /// Whether an authentication provider applies (no 401 challenge then).
    pub(crate) fn any(&self) -> bool {
        self.basic.is_some() || self.session.is_some() || self.bearer.is_some()
    }
}

fn parse_bearer(header: &str) -> Option<String> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

fn session_from_cookie(header: &str) -> Option<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A random token as Drupal writes them (43 URL-safe base64 characters).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `user.flood` defaults: 5 failures per account and IP in 6 h, 50 per IP in 1 h.
const USER_LIMIT: usize = 5;
const USER_WINDOW: i64 = 21_600;
const IP_LIMIT: usize = 50;
const IP_WINDOW: i64 = 3_600;

#[derive(Debug, Clone, PartialEq, Eq)]
enum FloodKey {
    Account { uid: u64, ip: String },
    Ip(String),
}

/// Failed login attempts (basic auth and the login form share one count).
#[derive(Debug, Default)]
pub(crate) struct Flood {
    events: Vec<(FloodKey, i64)>,
}

impl Flood {
    fn count(&self, key: &FloodKey, window: i64, now: i64) -> usize {
        self.events
            .iter()
            .filter(|(k, at)| k == key && *at > now - window)
            .count()
    }

    pub(crate) fn ip_allowed(&self, ip: &str, now: i64) -> bool {
        self.count(&FloodKey::Ip(ip.to_string()), IP_WINDOW, now) < IP_LIMIT
    }

    pub(crate) fn account_allowed(&self, uid: u64, ip: &str, now: i64) -> bool {
        let key = FloodKey::Account {
            uid,
            ip: ip.to_string(),
        };
        self.count(&key, USER_WINDOW, now) < USER_LIMIT
    }

    pub(crate) fn register_ip(&mut self, ip: &str, now: i64) {
        self.collect_garbage(now);
        self.events.push((FloodKey::Ip(ip.to_string()), now));
    }

    pub(crate) fn register_account(&mut self, uid: u64, ip: &str, now: i64) {
        self.collect_garbage(now);
        self.events.push((
            FloodKey::Account {
                uid,
                ip: ip.to_string(),
            },
            now,
        ));
    }

    pub(crate) fn clear_account(&mut self, uid: u64, ip: &str) {
        let key = FloodKey::Account {
            uid,
            ip: ip.to_string(),
        };
        self.events.retain(|(k, _)| *k != key);
    }

    pub(crate) fn clear(&mut self) {
        self.events.clear();
    }

    /// Forgets events past the longest window, as Drupal's flood service
    /// does on cron (each event expires with its window): without it every
    /// failed login was kept for as long as the process lived.
    fn collect_garbage(&mut self, now: i64) {
        let longest = USER_WINDOW.max(IP_WINDOW);
        self.events.retain(|(_, at)| *at > now - longest);
    }
}

/// A logged-in cookie session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) uid: u64,
    /// The token `/user/login` returns (Drupal's legacy `rest` key).
    pub(crate) login_csrf_token: String,
    /// The token `/session/token` returns.
    pub(crate) header_csrf_token: String,
    pub(crate) logout_token: String,
    /// When it was opened: its cookie expires `SESSION_LIFETIME` later.
    opened: i64,
    /// The `Sessions::uses` count at its last use, for evicting the
    /// least recently used.
    last_used: Cell<u64>,
}

impl Session {
    pub(crate) fn accepts_csrf(&self, token: &str) -> bool {
        token == self.login_csrf_token || token == self.header_csrf_token
    }
}

/// At most this many sessions are kept; opening one more ends the least
/// recently used. Drupal keeps sessions in its database until PHP's session
/// garbage collection; the stand-in keeps them in memory, and every user
/// cancellation opens one (the batch runs in a session) that no client uses
/// again: unbounded, a long run grew by some 350 bytes per DELETE.
const KEPT_SESSIONS: usize = 1_000;

#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: HashMap<String, Session>,
    /// Sessions opened or used so far: a clock for `Session::last_used`.
    uses: Cell<u64>,
}

impl Sessions {
    /// Opens a session and returns its id; drops the sessions whose cookie
    /// has expired and, beyond `KEPT_SESSIONS`, the least recently used.
    pub(crate) fn open(&mut self, uid: u64, now: i64) -> String {
        self.by_id.retain(|_, s| s.opened + SESSION_LIFETIME > now);
        while self.by_id.len() >= KEPT_SESSIONS {
            let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.last_used.get())
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            self.by_id.remove(&oldest);
        }
        let id = random_token();
        let session = Session {
            uid,
            login_csrf_token: random_token(),
            header_csrf_token: random_token(),
            logout_token: random_token(),
            opened: now,
            last_used: Cell::new(self.tick()),
        };
        self.by_id.insert(id.clone(), session);
        id
    }

    fn tick(&self) -> u64 {
        let next = self.uses.get() + 1;
        self.uses.set(next);
        next
    }

    /// The session with this id; counts as a use of it.
    pub(crate) fn get(&self, id: &str) -> Option<&Session> {
        let session = self.by_id.get(id)?;
        session.last_used.set(self.tick());
        Some(session)
    }

    pub(crate) fn close(&mut self, id: &str) {
        self.by_id.remove(id);
    }

    pub(crate) fn clear(&mut self) {
        self.by_id.clear();
    }

    /// Cancelling an account ends its sessions.
    pub(crate) fn close_all_of(&mut self, uid: u64) {
        self.by_id.retain(|_, s| s.uid != uid);
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

/// The `Set-Cookie` value that deletes the session cookie, as Drupal sends
/// it to a cookie whose session is gone.
pub(crate) fn deleted_session_cookie() -> String {
    format!("{SESSION_COOKIE}=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; path=/; HttpOnly")
}

/// The `Set-Cookie` value for a session id.
pub(crate) fn session_cookie(id: &str, now: i64) -> String {
    let expires = chrono::DateTime::from_timestamp(now + SESSION_LIFETIME, 0)
        .map(|t| t.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default();
    format!("{SESSION_COOKIE}={id}; expires={expires}; Max-Age={SESSION_LIFETIME}; path=/; HttpOnly; SameSite=Lax")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_decoded_and_wins_over_a_cookie_for_the_log() {
        let presented = Presented::from_headers(
            Some("Basic YWRtaW46YWRtaW5wYXNz"),
            Some(&format!("other=1; {SESSION_COOKIE}=abc")),
        );
        assert_eq!(presented.basic, Some(("admin".into(), "adminpass".into())));
        assert_eq!(presented.session.as_deref(), Some("abc"));
        assert_eq!(
            presented.kind(),
            AuthKind::Basic {
                user: "admin".into()
            }
        );
    }

    #[test]
    fn a_cookie_with_another_name_is_not_a_session() {
        let presented = Presented::from_headers(None, Some("SESSdeadbeef=nosuchsession"));
        assert!(!presented.any());
        assert_eq!(presented.kind(), AuthKind::None);
    }

    #[test]
    fn five_failures_block_the_account_from_that_ip_only() {
        let mut flood = Flood::default();
        for _ in 0..5 {
            flood.register_account(1, "127.0.0.1", 100);
        }
        assert!(!flood.account_allowed(1, "127.0.0.1", 101));
        assert!(flood.account_allowed(1, "10.0.0.1", 101));
        assert!(flood.account_allowed(2, "127.0.0.1", 101));
        assert!(flood.account_allowed(1, "127.0.0.1", 100 + USER_WINDOW));
        flood.clear();
        assert!(flood.account_allowed(1, "127.0.0.1", 101));
    }

    #[test]
    fn sessions_accept_both_csrf_tokens_and_close_with_their_account() {
        let mut sessions = Sessions::default();
        let id = sessions.open(2, 0);
        let session = sessions.get(&id).cloned().unwrap();
        assert!(session.accepts_csrf(&session.login_csrf_token));
        assert!(session.accepts_csrf(&session.header_csrf_token));
        assert!(!session.accepts_csrf("forged"));
        sessions.close_all_of(2);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn sessions_are_bounded_and_the_least_recently_used_goes_first() {
        let mut sessions = Sessions::default();
        let kept = sessions.open(1, 0);
        for _ in 0..KEPT_SESSIONS * 3 {
            sessions.open(2, 0);
            // The bridge's own session stays in use all along.
            assert!(sessions.get(&kept).is_some());
        }
        assert_eq!(sessions.len(), KEPT_SESSIONS);
        assert!(sessions.get(&kept).is_some(), "the session in use was kept");
        let idle = sessions.open(2, 0);
        for _ in 0..KEPT_SESSIONS {
            sessions.open(2, 0);
            sessions.get(&kept);
        }
        assert!(
            sessions.get(&idle).is_none(),
            "the idle session was evicted"
        );
    }

    #[test]
    fn a_session_ends_when_its_cookie_expires() {
        let mut sessions = Sessions::default();
        let old = sessions.open(1, 0);
        sessions.open(1, SESSION_LIFETIME - 1);
        assert!(sessions.get(&old).is_some());
        sessions.open(1, SESSION_LIFETIME);
        assert!(sessions.get(&old).is_none());
        assert_eq!(sessions.len(), 2);
    }

    #[test]
    fn flood_events_past_their_window_are_forgotten() {
        let mut flood = Flood::default();
        for at in 0..1_000 {
            flood.register_ip("127.0.0.1", at);
        }
        assert!(!flood.ip_allowed("127.0.0.1", 1_000));
        let later = 1_000 + USER_WINDOW;
        flood.register_account(1, "127.0.0.1", later);
        assert_eq!(flood.events.len(), 1, "only the new event is kept");
        assert!(flood.ip_allowed("127.0.0.1", later));
    }

    #[test]
    fn session_cookie_has_the_recorded_attributes() {
        let cookie = session_cookie("abc", 0);
        assert!(cookie.starts_with(&format!("{SESSION_COOKIE}=abc; expires=")));
        assert!(cookie.ends_with("Max-Age=2000000; path=/; HttpOnly; SameSite=Lax"));
    }
}
