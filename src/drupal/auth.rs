//! How requests to Drupal authenticate: a session cookie from one login
//! (`session`), HTTP basic on every request (`basic`), or an OAuth2 bearer
//! token from `simple_oauth` (`oauth2`).
//!
//! Logins and token fetches are single-flight: concurrent requests wait for
//! the one in progress. A login refused for its credentials is never tried
//! again (Drupal's flood control locks the account after 5 failures): every
//! request then fails at once until a reload (which tries them once more,
//! changed or not) or a restart.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::{
    HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE,
};
use reqwest::StatusCode;
use serde_json::Value;

use super::error::DrupalError;
use super::observer::{LoginOutcome, ObserverSlot};
use super::settings::DrupalAuth;
use crate::secret::Secret;

const LOGIN_PATH: &str = "/user/login?_format=json";
/// Core's JSON logout (`user.logout.http`): POST, with the login's
/// `logout_token` as the `token` query argument (its CSRF check).
const LOGOUT_PATH: &str = "/user/logout?_format=json";
const TOKEN_PATH: &str = "/oauth/token";
const CSRF_HEADER: HeaderName = HeaderName::from_static("x-csrf-token");
/// How long the bridge waits before logging in again after Drupal's flood
/// control refused a login (trying sooner only prolongs nothing but noise).
const FLOOD_PAUSE: Duration = Duration::from_secs(60);
/// A token is renewed this long before it expires, at most.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// A token is used for this long at most, whatever lifetime Drupal gives
/// it: a day, far beyond Simple OAuth's default of 5 minutes.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long an answer that showed the login valid (a write, a user with
/// its name) vouches for the answers that cannot tell: an empty collection
/// is also all an anonymous caller gets for a filter on `name` or `mail`.
/// Past it, such an answer is checked with `GET /jsonapi` first.
pub const PROOF_WINDOW: Duration = Duration::from_secs(2);

/// What one request carries, and which login it came from.
#[derive(Clone)]
pub struct Credentials {
    /// Names made once, not parsed from text on every request.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Which session or token these are, so that a request that found them
    /// stale discards exactly these and not a newer login.
    generation: u64,
    /// Random, new with each login: see [`Credentials::cache_key`].
    cache_key: u64,
}

impl Credentials {
    pub fn apply(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (name, value) in &self.headers {
            request = request.header(name.clone(), value.clone());
        }
        request
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether these are a session cookie.
    pub fn is_session(&self) -> bool {
        self.headers.iter().any(|(name, _)| name == COOKIE)
    }

    /// A value no one else knows, new with each login, that the client
    /// puts in the filter of user collections. Drupal 10's dynamic page
    /// cache keeps the 403 it gives a caller whose session is gone for a
    /// filter on `roles` or `mail` ("not authorized to filter by…") and
    /// serves it to every later caller of that URL, the bridge's new login
    /// included, until its cache is cleared. With the key in the filter,
    /// the URLs of a new login are new to Drupal's cache, and no visitor
    /// can spoil them beforehand.
    pub fn cache_key(&self) -> u64 {
        self.cache_key
    }
}

/// The current login, shared by all requests.
struct Current {
    credentials: Credentials,
    /// When a token must be renewed; sessions have no known end.
    renew_at: Option<Instant>,
    /// A session's `logout_token`, to end it when the bridge is done with it.
    logout_token: Option<Secret>,
    /// When Drupal granted it.
    granted_at: Instant,
}

/// A session the bridge no longer uses, to be ended in Drupal
/// ([`end_session`]): its cookie and CSRF header, and its logout token.
pub(super) struct EndedSession {
    credentials: Credentials,
    logout_token: Secret,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Current>>,
    generation: u64,
    /// Why Drupal refused the credentials; set for good.
    refused: Option<String>,
    /// No login before this instant (flood control), and Drupal's words.
    paused_until: Option<Instant>,
    paused_why: String,
    /// The roles the last login said the account holds.
    own_roles: Option<Vec<String>>,
}

pub struct Authenticator {
    method: Method,
    state: RwLock<State>,
    /// The login last shown valid by an answer, and when.
    proven: std::sync::Mutex<Option<(u64, Instant)>>,
    /// Basic auth's [`Credentials::cache_key`]: there is no login to renew it.
    basic_cache_key: u64,
    /// Held while logging in: the single flight.
    login: tokio::sync::Mutex<()>,
    /// Basic credentials Drupal was asked about once since the start or
    /// the last reload (see [`Authenticator::check_basic_first`]).
    basic_asked: std::sync::atomic::AtomicBool,
    /// Told how each login ended.
    observer: Arc<ObserverSlot>,
    failures: std::sync::Mutex<FailureLog>,
    /// The largest login or token answer read (`drupal.max_answer_bytes`).
    max_answer_bytes: usize,
}

enum Method {
    Basic(HeaderValue),
    Login(Login),
}

/// The modes whose credentials come from a login and can go stale.
enum Login {
    Session { username: String, password: Secret },
    OAuth2 { client_id: String, secret: Secret },
}

impl Login {
    /// The login, and the status Drupal answered it with, if it did.
    async fn run(
        &self,
        http: &reqwest::Client,
        base_url: &str,
        limit: usize,
    ) -> (Result<Granted, LoginError>, Option<u16>) {
        let mut status = None;
        let outcome = match self {
            Login::Session { username, password } => {
                session_login(http, base_url, username, password, &mut status, limit).await
            }
            Login::OAuth2 { client_id, secret } => {
                fetch_token(http, base_url, client_id, secret, &mut status, limit).await
            }
        };
        (outcome, status)
    }

    /// The operation and path of the login's call, as logged.
    fn call(&self) -> (&'static str, &'static str) {
        match self {
            Login::Session { .. } => ("login", LOGIN_PATH),
            Login::OAuth2 { .. } => ("token", TOKEN_PATH),
        }
    }
}

/// How often a failed login (Drupal unreachable, failing) is logged at
/// most: a site down for hours would otherwise log every attempt its
/// requests and readiness probes make. The next event counts those left
/// out (`unlogged`). Refusals stop logins, so each is logged.
const FAILED_LOGIN_LOG_EVERY: Duration = Duration::from_secs(10);

/// Failed logins not logged, since when one was.
#[derive(Default)]
struct FailureLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl Authenticator {
    pub fn new(auth: &DrupalAuth, max_answer_bytes: usize) -> Result<Authenticator, DrupalError> {
        let method = match auth {
            DrupalAuth::Basic { username, password } => {
                let encoded = STANDARD.encode(format!("{username}:{}", password.expose()));
                let mut value =
                    HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| {
                        DrupalError::Protocol(
                            "the Drupal username contains characters not allowed in an HTTP header"
                                .into(),
                        )
                    })?;
                // Keeps the header out of reqwest's own Debug output and logs.
                value.set_sensitive(true);
                Method::Basic(value)
            }
            DrupalAuth::Session { username, password } => Method::Login(Login::Session {
                username: username.clone(),
                password: password.clone(),
            }),
            DrupalAuth::OAuth2 {
                client_id,
                client_secret,
            } => Method::Login(Login::OAuth2 {
                client_id: client_id.clone(),
                secret: client_secret.clone(),
            }),
        };
        Ok(Authenticator {
            method,
            state: RwLock::new(State::default()),
            proven: std::sync::Mutex::new(None),
            basic_cache_key: rand::random(),
            login: tokio::sync::Mutex::new(()),
            basic_asked: std::sync::atomic::AtomicBool::new(false),
            observer: Arc::default(),
            failures: std::sync::Mutex::default(),
            max_answer_bytes,
        })
    }

    /// The roles (machine names) the account holds, as the last session
    /// login's answer said; `None` before one, and under `basic` and
    /// `oauth2`, whose logins do not say.
    pub fn own_roles(&self) -> Option<Vec<String>> {
        self.read().own_roles.clone()
    }

    /// Reports each login's outcome to the client's observer.
    pub(super) fn observed_by(mut self, observer: Arc<ObserverSlot>) -> Authenticator {
        self.observer = observer;
        self
    }

    fn observed(&self, outcome: LoginOutcome) {
        if let Some(observer) = self.observer.get() {
            observer.login(outcome);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Basic credentials before their first use (after a start, or a
    /// reload that lets refused credentials try again): one request,
    /// alone, asks Drupal who they are (`ask`: whether Drupal runs them as
    /// anonymous), as a login would. Drupal counts each request with a
    /// wrong password as a failed login and locks the account after five:
    /// without this, the first requests sent at once, and the check that
    /// follows an anonymous answer, each cost one. A refusal then stops
    /// every request, as for a login refused. When Drupal cannot say now,
    /// the next request asks again. Nothing to do for logins.
    pub async fn check_basic_first<Fut>(&self, ask: impl FnOnce() -> Fut) -> Result<(), DrupalError>
    where
        Fut: std::future::Future<Output = Option<bool>>,
    {
        use std::sync::atomic::Ordering;
        if self.renews() {
            return Ok(());
        }
        if self.basic_asked.load(Ordering::Acquire) {
            return self.check_refused();
        }
        let _flight = self.login.lock().await;
        // Asked by another request while this one waited: its answer holds.
        if self.basic_asked.load(Ordering::Acquire) {
            return self.check_refused();
        }
        self.check_refused()?;
        match ask().await {
            Some(true) => {
                self.discard(0, "GET /jsonapi names no account for them");
                self.basic_asked.store(true, Ordering::Release);
                self.check_refused()
            }
            Some(false) => {
                self.basic_asked.store(true, Ordering::Release);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Whether a stale login can be replaced by a new one (basic auth has
    /// none: the same password every time).
    pub fn renews(&self) -> bool {
        !matches!(self.method, Method::Basic(_))
    }

    /// The credentials for the next request, logging in first when there
    /// is no valid login. Concurrent callers share one login.
    pub async fn credentials(
        &self,
        http: &reqwest::Client,
        base_url: &str,
    ) -> Result<Credentials, DrupalError> {
        let login = match &self.method {
            Method::Basic(value) => {
                self.check_refused()?;
                return Ok(Credentials {
                    headers: vec![(AUTHORIZATION, value.clone())],
                    generation: 0,
                    cache_key: self.basic_cache_key,
                });
            }
            Method::Login(login) => login,
        };
        if let Some(credentials) = self.valid()? {
            return Ok(credentials);
        }
        let _flight = self.login.lock().await;
        // Another request may have logged in while this one waited.
        if let Some(credentials) = self.valid()? {
            return Ok(credentials);
        }
        if let Some((retry_after, reason)) = self.paused() {
            return Err(DrupalError::LoginPaused {
                retry_after,
                reason,
            });
        }
        let started = Instant::now();
        let (outcome, status) = login.run(http, base_url, self.max_answer_bytes).await;
        self.log_call(login, &outcome, status, started.elapsed());
        let mut state = self.write();
        match outcome {
            Ok(Granted {
                headers,
                lifetime,
                roles,
                logout_token,
            }) => {
                if roles.is_some() {
                    state.own_roles = roles;
                }
                state.generation += 1;
                let credentials = Credentials {
                    headers,
                    generation: state.generation,
                    cache_key: rand::random(),
                };
                state.current = Some(Arc::new(Current {
                    credentials: credentials.clone(),
                    renew_at: lifetime.map(|l| renew_at(Instant::now(), l)),
                    logout_token,
                    granted_at: Instant::now(),
                }));
                state.paused_until = None;
                self.observed(LoginOutcome::Ok);
                Ok(credentials)
            }
            Err(LoginError::Refused(why)) => {
                self.observed(LoginOutcome::Refused);
                tracing::error!(
                    target: "drupal",
                    mode = self.mode_name(),
                    reason = why.as_str(),
                    "Drupal refused the bridge's credentials: the bridge sends no further login (Drupal locks an account after 5 failed logins); fix {} (or the account in Drupal), then reload (SIGHUP) or restart the bridge",
                    self.what_to_fix()
                );
                state.refused = Some(why.clone());
                Err(DrupalError::Credentials(why))
            }
            Err(LoginError::Flood(why)) => {
                self.observed(LoginOutcome::Flood);
                tracing::error!(
                    target: "drupal",
                    reason = why.as_str(),
                    "Drupal's flood control blocks the bridge's account (5 failed logins within 6 hours): clear it with `drush sql:query \"DELETE FROM flood\"` or wait; the bridge tries again in a minute"
                );
                state.paused_until = Some(Instant::now() + FLOOD_PAUSE);
                state.paused_why = why.clone();
                Err(DrupalError::LoginPaused {
                    retry_after: FLOOD_PAUSE.as_secs(),
                    reason: why,
                })
            }
            Err(LoginError::Failed(e)) => {
                self.observed(LoginOutcome::Error);
                Err(e)
            }
        }
    }

    /// One event per login, as for every other Drupal call: operation,
    /// method, path, outcome (`ok`, `refused`, `flood`, `error`, as the
    /// logins metric), Drupal's status, latency, in the span of the request
    /// that needed it (its request id). Never the request's body (the
    /// password or client secret) nor the answer (cookie, token): Drupal's
    /// message when it refused, the failure otherwise. Failures are logged
    /// at most every [`FAILED_LOGIN_LOG_EVERY`].
    fn log_call(
        &self,
        login: &Login,
        outcome: &Result<Granted, LoginError>,
        status: Option<u16>,
        elapsed: Duration,
    ) {
        let (op, path) = login.call();
        let path = crate::telemetry::shown_path(path);
        let mode = self.mode_name();
        // To 0.1 ms, as the other Drupal calls.
        let latency_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let (outcome, error) = match outcome {
            Ok(_) => {
                let unlogged = std::mem::take(&mut *failures).unlogged;
                tracing::info!(
                    target: "drupal",
                    op, method = "POST", path = &*path, outcome = "ok", status, latency_ms, mode,
                    unlogged_failures = (unlogged > 0).then_some(unlogged),
                    "drupal call"
                );
                return;
            }
            Err(LoginError::Refused(why)) => (LoginOutcome::Refused, why.clone()),
            Err(LoginError::Flood(why)) => (LoginOutcome::Flood, why.clone()),
            Err(LoginError::Failed(e)) => {
                if failures
                    .last
                    .is_some_and(|at| at.elapsed() < FAILED_LOGIN_LOG_EVERY)
                {
                    failures.unlogged += 1;
                    return;
                }
                (LoginOutcome::Error, e.to_string())
            }
        };
        let unlogged = std::mem::take(&mut failures.unlogged);
        failures.last = Some(Instant::now());
        tracing::warn!(
            target: "drupal",
            op, method = "POST", path = &*path, outcome = outcome.as_str(), status,
            error = %crate::untrusted::cut(&error, 512), latency_ms, mode,
            unlogged_failures = (unlogged > 0).then_some(unlogged),
            "drupal call"
        );
    }

    fn valid(&self) -> Result<Option<Credentials>, DrupalError> {
        let state = self.read();
        if let Some(why) = &state.refused {
            return Err(DrupalError::Credentials(why.clone()));
        }
        Ok(state
            .current
            .as_ref()
            .filter(|c| c.renew_at.is_none_or(|at| Instant::now() < at))
            .map(|c| c.credentials.clone()))
    }

    /// While Drupal's flood control pauses the bridge's logins: the seconds
    /// left (at least 1) and Drupal's words.
    pub fn paused(&self) -> Option<(u64, String)> {
        let state = self.read();
        let left = state.paused_until?.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        Some((left.as_secs_f64().ceil() as u64, state.paused_why.clone()))
    }

    /// Why Drupal refused the credentials for good, if it did: the bridge
    /// then sends no further login nor request with them, and can serve
    /// nothing until they are changed (a new client, on reload).
    pub fn refused(&self) -> Option<String> {
        self.read().refused.clone()
    }

    /// Lets the bridge try its credentials again (a reload, even with the
    /// same settings: the password reset in Drupal, the account unblocked,
    /// flood control cleared): forgets that Drupal refused them, and the
    /// flood control pause. The next request logs in once; a refusal then
    /// stops it as before. Whether there was anything to forget.
    pub fn try_again(&self) -> bool {
        self.basic_asked
            .store(false, std::sync::atomic::Ordering::Release);
        let mut state = self.write();
        let refused = state.refused.take().is_some();
        let paused = state.paused_until.take().is_some();
        refused || paused
    }

    fn check_refused(&self) -> Result<(), DrupalError> {
        match &self.read().refused {
            Some(why) => Err(DrupalError::Credentials(why.clone())),
            None => Ok(()),
        }
    }

    /// Drupal answered as if the request had no valid credentials. A session
    /// or token is dropped (the next request logs in again); basic
    /// credentials are refused for good, since resending a wrong password
    /// only walks the account into flood control.
    pub fn discard(&self, generation: u64, why: &str) {
        let mut state = self.write();
        if let Method::Basic(_) = self.method {
            if state.refused.is_none() {
                tracing::error!(
                    target: "drupal",
                    reason = why,
                    "Drupal does not accept the bridge's basic-auth credentials (it answers as to an anonymous caller): the bridge sends no further request, since Drupal locks an account after 5 failed logins; fix drupal.auth.username and the password, check the account is active and not flood-blocked, then reload (SIGHUP) or restart the bridge"
                );
                state.refused = Some(format!("Drupal answered as to an anonymous caller ({why})"));
                self.observed(LoginOutcome::Refused);
            }
            return;
        }
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.credentials.generation == generation)
        {
            tracing::info!(target: "drupal", reason = why, "the Drupal login is no longer valid; logging in again");
            state.current = None;
        }
    }

    /// The current session, taken out of use so that it can be ended in
    /// Drupal ([`end_session`]): the bridge is done with this client (a
    /// reload replaced it, the bridge stops). A request after this logs in
    /// anew. `None` without a session, or when Drupal gave no logout token.
    pub(super) fn take_session(&self) -> Option<EndedSession> {
        let mut state = self.write();
        let current = state.current.take_if(|c| c.logout_token.is_some())?;
        Some(EndedSession {
            credentials: current.credentials.clone(),
            logout_token: current.logout_token.clone()?,
        })
    }

    /// An answer showed the login `generation` valid just now.
    pub fn proven(&self, generation: u64) {
        *self.proven.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, Instant::now()));
    }

    /// Whether an answer showed the login `generation` valid less than
    /// [`PROOF_WINDOW`] ago.
    pub fn recently_proven(&self, generation: u64) -> bool {
        matches!(
            *self.proven.lock().unwrap_or_else(PoisonError::into_inner),
            Some((proven, at)) if proven == generation && at.elapsed() < PROOF_WINDOW
        )
    }

    /// Whether the login `generation` is the current one and Drupal granted
    /// it less than [`PROOF_WINDOW`] ago: an answer refused to it now is
    /// about the request or a permission, not a stale login.
    pub fn fresh(&self, generation: u64) -> bool {
        self.read().current.as_ref().is_some_and(|c| {
            c.credentials.generation == generation && c.granted_at.elapsed() < PROOF_WINDOW
        })
    }

    /// `discard` for whatever credentials are current: Drupal said, outside
    /// any one request, that it does not know the bridge's account.
    pub fn discard_current(&self, why: &str) {
        let generation = self
            .read()
            .current
            .as_ref()
            .map(|c| c.credentials.generation)
            .unwrap_or_default();
        self.discard(generation, why);
    }

    fn mode_name(&self) -> &'static str {
        match self.method {
            Method::Basic(_) => "basic",
            Method::Login(Login::Session { .. }) => "session",
            Method::Login(Login::OAuth2 { .. }) => "oauth2",
        }
    }

    fn what_to_fix(&self) -> &'static str {
        match self.method {
            Method::Login(Login::OAuth2 { .. }) => {
                "drupal.auth.client_id and client_secret (the simple_oauth consumer)"
            }
            _ => "drupal.auth.username and the password, and check the account is active",
        }
    }
}

/// Renew a token a fifth of its lifetime early, at most `TOKEN_MARGIN`.
fn margin(lifetime: Duration) -> Duration {
    (lifetime / 5).min(TOKEN_MARGIN)
}

/// When a token Drupal gave `lifetime` at `now` must be renewed. The
/// lifetime is Drupal's word (`expires_in`, a JWT's `exp`) and may be
/// anything up to `u64::MAX` seconds, which no `Instant` can hold: it
/// counts for at most [`MAX_TOKEN_LIFETIME`], and the sum is checked.
fn renew_at(now: Instant, lifetime: Duration) -> Instant {
    let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
    now.checked_add(lifetime.saturating_sub(margin(lifetime)))
        .unwrap_or(now)
}

/// What a login gave.
struct Granted {
    /// What each request carries.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// How long they last (a token's lifetime; sessions have no known end).
    lifetime: Option<Duration>,
    /// The roles (machine names) Drupal said the account holds (a session
    /// login's `current_user`).
    roles: Option<Vec<String>>,
    /// What ends a session (its `logout_token`).
    logout_token: Option<Secret>,
}

enum LoginError {
    /// The credentials are wrong or the account is blocked: never retried.
    Refused(String),
    /// Flood control: retried after a pause.
    Flood(String),
    /// Drupal could not be asked (down, slow, odd answer).
    Failed(DrupalError),
}

async fn send_login(
    request: reqwest::RequestBuilder,
    path: &str,
    limit: usize,
) -> Result<(StatusCode, reqwest::header::HeaderMap, Value), LoginError> {
    let response = request
        .send()
        .await
        .map_err(|e| LoginError::Failed(super::transport_error(&e)))?;
    if let Some(redirected) = super::redirected(&response) {
        return Err(LoginError::Failed(redirected));
    }
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = super::read_answer(response, limit, path)
        .await
        .map_err(LoginError::Failed)?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    // A success that is no JSON document (an HTML page: a maintenance
    // page, a proxy's or a cache's) is an answer the bridge could not
    // read, as on every other endpoint: transient (503 with Retry-After),
    // not a refusal of the bridge's account.
    if status.is_success() && !body.is_object() {
        let html = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
        return Err(LoginError::Failed(DrupalError::Unreadable(format!(
            "{path} answered {status} with {} where a JSON document was due",
            if html {
                "an HTML page"
            } else {
                "no JSON document"
            }
        ))));
    }
    Ok((status, headers, body))
}

fn server_failure(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    what: &str,
) -> LoginError {
    LoginError::Failed(
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            DrupalError::Server {
                status: status.as_u16(),
                detail: format!("{what} failed"),
                retry_after: super::retry_after(headers),
            }
        } else {
            DrupalError::Protocol(format!("{what} answered {status}"))
        },
    )
}

/// `POST /user/login?_format=json`: the session cookie and the CSRF token
/// unsafe requests need.
async fn session_login(
    http: &reqwest::Client,
    base_url: &str,
    username: &str,
    password: &Secret,
    answered: &mut Option<u16>,
    limit: usize,
) -> Result<Granted, LoginError> {
    let body = serde_json::json!({ "name": username, "pass": password.expose() });
    let request = http
        .post(format!("{base_url}{LOGIN_PATH}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .body(body.to_string());
    let (status, headers, body) = send_login(request, LOGIN_PATH, limit).await?;
    *answered = Some(status.as_u16());
    let message = crate::untrusted::cut(
        body.get("message")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        1024,
    )
    .into_owned();
    match status.as_u16() {
        200 => {}
        // Wrong name or password, or a blocked account.
        400 if !message.is_empty() => return Err(LoginError::Refused(message)),
        403 if message.contains("failed login attempts") => {
            return Err(LoginError::Flood(message))
        }
        404 => {
            return Err(LoginError::Failed(DrupalError::Protocol(
                "Drupal has no JSON login route (/user/login?_format=json): enable the core serialization module, or use drupal.auth.mode basic".into(),
            )))
        }
        _ => return Err(server_failure(status, &headers, "the login")),
    }
    let cookie = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with("SESS") || pair.starts_with("SSESS"))
        .ok_or_else(|| {
            // Drupal's login success always sets one: an answer without it
            // came from elsewhere (a cache, a proxy) or was cut, and the
            // next login may well get it.
            LoginError::Failed(DrupalError::Unreadable(
                "the login answer set no session cookie (a cache or proxy in front of Drupal may answer it, or drop Set-Cookie)".into(),
            ))
        })?;
    let csrf = body
        .get("csrf_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LoginError::Failed(DrupalError::Protocol(
                "the login answer carries no csrf_token".into(),
            ))
        })?;
    let mut cookie = HeaderValue::from_str(cookie).map_err(|_| {
        LoginError::Failed(DrupalError::Protocol("an unusable session cookie".into()))
    })?;
    cookie.set_sensitive(true);
    let mut csrf = HeaderValue::from_str(csrf)
        .map_err(|_| LoginError::Failed(DrupalError::Protocol("an unusable CSRF token".into())))?;
    csrf.set_sensitive(true);
    // Drupal's login answer names the account's roles; the bridge's own
    // roles are protected (see `RoleCatalog`).
    let roles = body
        .get("current_user")
        .and_then(|u| u.get("roles"))
        .and_then(Value::as_array)
        .map(|roles| {
            roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        });
    // Drupal 10 answers it; a site that does not only leaves the session
    // to Drupal's garbage collection.
    let logout_token = body
        .get("logout_token")
        .and_then(Value::as_str)
        .map(Secret::new);
    Ok(Granted {
        headers: vec![(COOKIE, cookie), (CSRF_HEADER, csrf)],
        lifetime: None,
        roles,
        logout_token,
    })
}

/// `POST /user/logout?_format=json&token=…` with the session's cookie:
/// Drupal deletes the session, instead of keeping it in its `sessions`
/// table, valid, until its garbage collection. One event, as for every
/// Drupal call, never naming the token; a failure is only logged (the
/// session then ends as it did before, with Drupal's garbage collection).
pub(super) async fn end_session(http: &reqwest::Client, base_url: &str, session: EndedSession) {
    let started = Instant::now();
    let url = format!(
        "{base_url}{LOGOUT_PATH}&token={}",
        form_encode(session.logout_token.expose())
    );
    let sent = session
        .credentials
        .apply(http.post(url).header(ACCEPT, "application/json"))
        .send()
        .await;
    let latency_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let path = crate::telemetry::shown_path(LOGOUT_PATH);
    match sent {
        Ok(answer) if answer.status().is_success() => tracing::info!(
            target: "drupal",
            op = "logout", method = "POST", path = &*path, outcome = "ok",
            status = answer.status().as_u16(), latency_ms, mode = "session",
            "drupal call"
        ),
        Ok(answer) => tracing::warn!(
            target: "drupal",
            op = "logout", method = "POST", path = &*path, outcome = "error",
            status = answer.status().as_u16(), latency_ms, mode = "session",
            "drupal call: Drupal did not end the bridge's old session; it ends with Drupal's session garbage collection"
        ),
        Err(e) => tracing::warn!(
            target: "drupal",
            op = "logout", method = "POST", path = &*path, outcome = "error",
            error = %super::transport_error(&e), latency_ms, mode = "session",
            "drupal call: Drupal did not end the bridge's old session; it ends with Drupal's session garbage collection"
        ),
    }
}

/// `POST /oauth/token` with the client credentials grant.
async fn fetch_token(
    http: &reqwest::Client,
    base_url: &str,
    client_id: &str,
    secret: &Secret,
    answered: &mut Option<u16>,
    limit: usize,
) -> Result<Granted, LoginError> {
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        form_encode(client_id),
        form_encode(secret.expose())
    );
    let request = http
        .post(format!("{base_url}{TOKEN_PATH}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(form);
    let (status, headers, body) = send_login(request, TOKEN_PATH, limit).await?;
    *answered = Some(status.as_u16());
    if status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED {
        let why = body
            .get("error_description")
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .map_or("the token endpoint refused the client".into(), |why| {
                crate::untrusted::cut(why, 1024).into_owned()
            });
        return Err(LoginError::Refused(why));
    }
    if status == StatusCode::NOT_FOUND {
        return Err(LoginError::Failed(DrupalError::Protocol(
            "Drupal has no /oauth/token: is the simple_oauth module enabled?".into(),
        )));
    }
    if !status.is_success() {
        return Err(server_failure(status, &headers, "the token request"));
    }
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LoginError::Failed(DrupalError::Protocol(
                "the token answer carries no access_token".into(),
            ))
        })?;
    let lifetime = body
        .get("expires_in")
        .and_then(Value::as_u64)
        .map(Duration::from_secs)
        .or_else(|| jwt_lifetime(token));
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        LoginError::Failed(DrupalError::Protocol("an unusable access token".into()))
    })?;
    value.set_sensitive(true);
    Ok(Granted {
        headers: vec![(AUTHORIZATION, value)],
        lifetime,
        roles: None,
        logout_token: None,
    })
}

/// What is left of a JWT's life, from its `exp` claim (the signature is
/// Drupal's business: the bridge only schedules the renewal).
fn jwt_lifetime(token: &str) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let left = exp.checked_sub(chrono::Utc::now().timestamp())?;
    u64::try_from(left).ok().map(Duration::from_secs)
}

fn form_encode(text: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    utf8_percent_encode(text, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_lifetime_comes_from_its_exp_claim() {
        let exp = chrono::Utc::now().timestamp() + 300;
        let payload = URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{exp}}}"));
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.c2ln");
        let left = jwt_lifetime(&token).unwrap();
        assert!(left > Duration::from_secs(290) && left <= Duration::from_secs(300));
        assert_eq!(jwt_lifetime("not-a-jwt"), None);
    }

    /// Drupal's `expires_in` is any JSON number: the largest ones once
    /// overflowed `Instant` and panicked every request.
    #[test]
    fn any_lifetime_drupal_gives_a_token_renews_it_within_a_day() {
        let now = Instant::now();
        for secs in [u64::MAX, 9_300_000_000_000_000_000, 1 << 40, 86_401] {
            let at = renew_at(now, Duration::from_secs(secs));
            assert_eq!(at - now, MAX_TOKEN_LIFETIME - TOKEN_MARGIN, "{secs}");
        }
        assert_eq!(
            renew_at(now, Duration::from_secs(300)) - now,
            Duration::from_secs(270)
        );
        assert_eq!(renew_at(now, Duration::ZERO), now);
        let payload = URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{}}}", i64::MIN));
        assert_eq!(jwt_lifetime(&format!("h.{payload}.s")), None);
    }

    #[test]
    fn tokens_are_renewed_early_but_not_too_early() {
        assert_eq!(margin(Duration::from_secs(300)), Duration::from_secs(30));
        assert_eq!(margin(Duration::from_secs(10)), Duration::from_secs(2));
    }

    #[test]
    fn a_refusal_is_forgotten_when_the_bridge_tries_again() {
        let auth = Authenticator::new(
            &DrupalAuth::Basic {
                username: "bridge".into(),
                password: Secret::new("reset-in-drupal"),
            },
            1 << 20,
        )
        .unwrap();
        assert!(!auth.try_again(), "nothing to forget");
        auth.discard(0, "a stripped read");
        assert!(auth.refused().is_some());
        assert!(auth.try_again());
        assert!(auth.refused().is_none());
        assert!(auth.check_refused().is_ok());
    }

    #[test]
    fn basic_credentials_refused_once_are_never_sent_again() {
        let auth = Authenticator::new(
            &DrupalAuth::Basic {
                username: "bridge".into(),
                password: Secret::new("wrong"),
            },
            1 << 20,
        )
        .unwrap();
        assert!(auth.check_refused().is_ok());
        auth.discard(0, "a stripped read");
        assert!(matches!(
            auth.check_refused(),
            Err(DrupalError::Credentials(_))
        ));
    }
}
