//! What the Drupal client needs to know, as its own types: the
//! configuration module builds these; the client never reads the
//! configuration itself.

use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

/// How the bridge authenticates to Drupal.
// From text, so that a wrong mode is said as the other settings' values
// are, with the valid ones (serde's derive says "variant constructor").
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum DrupalAuthMode {
    /// Log in once through core's JSON login route and reuse the session
    /// cookie: Drupal checks the password hash once, not per request.
    #[default]
    Session,
    /// HTTP basic auth on every request (core `basic_auth` module).
    Basic,
    /// OAuth2 client credentials against the `simple_oauth` module.
    OAuth2,
}

impl TryFrom<String> for DrupalAuthMode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "session" => Ok(DrupalAuthMode::Session),
            "basic" => Ok(DrupalAuthMode::Basic),
            "oauth2" => Ok(DrupalAuthMode::OAuth2),
            _ => Err(crate::config::not_one_of(
                &value,
                &["session", "basic", "oauth2"],
            )),
        }
    }
}

/// The credentials of the chosen authentication mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrupalAuth {
    Session {
        username: String,
        password: Secret,
    },
    Basic {
        username: String,
        password: Secret,
    },
    OAuth2 {
        client_id: String,
        client_secret: Secret,
    },
}

impl DrupalAuth {
    /// Who the bridge acts as, for messages: the account, or the OAuth2
    /// client whose consumer names the account.
    pub fn account(&self) -> String {
        match self {
            DrupalAuth::Session { username, .. } | DrupalAuth::Basic { username, .. } => {
                username.clone()
            }
            DrupalAuth::OAuth2 { client_id, .. } => format!("of the OAuth2 client {client_id}"),
        }
    }

    pub fn mode(&self) -> DrupalAuthMode {
        match self {
            DrupalAuth::Session { .. } => DrupalAuthMode::Session,
            DrupalAuth::Basic { .. } => DrupalAuthMode::Basic,
            DrupalAuth::OAuth2 { .. } => DrupalAuthMode::OAuth2,
        }
    }
}

/// How the number of requests in flight to Drupal is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConcurrencyMode {
    /// Found and followed from Drupal's latencies, up to `max_concurrency`
    /// (`super::adaptive`).
    #[default]
    Adaptive,
    /// Always `max_concurrency`.
    Fixed,
}

/// How hard the bridge may push Drupal, and how it copes with failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrupalLimits {
    pub concurrency: ConcurrencyMode,
    /// The fixed limit, or the adaptive limit's upper bound.
    pub max_concurrency: usize,
    pub queue_limit: usize,
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Consecutive failures that open the circuit; 0 = no breaker.
    pub breaker_failures: u32,
    pub breaker_open: Duration,
    /// The largest answer body read from Drupal; a longer one is refused
    /// unread past this many bytes (`DrupalError::Unreadable`).
    pub max_answer_bytes: usize,
}

impl Default for DrupalLimits {
    fn default() -> Self {
        DrupalLimits {
            concurrency: ConcurrencyMode::default(),
            max_concurrency: default_max_concurrency(ConcurrencyMode::default()),
            queue_limit: default_queue_limit(),
            retries: default_retries(),
            retry_backoff: Duration::from_millis(default_retry_backoff_ms()),
            breaker_failures: default_breaker_failures(),
            breaker_open: Duration::from_secs(default_breaker_open_secs()),
            max_answer_bytes: default_max_answer_bytes(),
        }
    }
}

/// 8 when fixed (what suits a small PHP site); 32 as the adaptive limit's
/// upper bound, which it reaches only if Drupal keeps up.
pub(crate) fn default_max_concurrency(mode: ConcurrencyMode) -> usize {
    match mode {
        ConcurrencyMode::Fixed => 8,
        ConcurrencyMode::Adaptive => 32,
    }
}
pub(crate) fn default_queue_limit() -> usize {
    64
}
pub(crate) fn default_retries() -> u32 {
    2
}
pub(crate) fn default_retry_backoff_ms() -> u64 {
    100
}
pub(crate) fn default_breaker_failures() -> u32 {
    5
}
pub(crate) fn default_breaker_open_secs() -> u64 {
    10
}
/// 8 MiB. Drupal's largest answers to the bridge are pages of 50 users
/// with every field (about 4 KB each as core sends them, 200 KB a page;
/// tens of KB more with `included` terms) and the role list with its
/// permissions (some KB per role): this leaves a site with very large
/// accounts some forty times that, while a hostile or broken answer costs
/// at most this much memory per request in flight.
pub(crate) fn default_max_answer_bytes() -> usize {
    8 * 1024 * 1024
}
