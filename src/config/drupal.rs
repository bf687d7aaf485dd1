//! The `drupal:` section: where Drupal is, how the bridge logs in, and how
//! hard it may push the site. It resolves into the Drupal client's own types
//! (`crate::drupal::settings`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{read_secret_file, ConfigError};
use crate::drupal::settings::{
    default_breaker_failures, default_breaker_open_secs, default_max_answer_bytes,
    default_max_concurrency, default_queue_limit, default_retries, default_retry_backoff_ms,
    ConcurrencyMode, DrupalAuth, DrupalAuthMode, DrupalLimits,
};
use crate::drupal::DrupalConnection;
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrupal {
    /// Drupal's base URL, e.g. `https://drupal.example.org`.
    base_url: String,
    auth: RawDrupalAuth,
    /// Whole-request timeout, in seconds. Default 10.
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
    /// TCP connect timeout, in seconds. Default 3.
    #[serde(default = "default_connect_timeout_secs")]
    connect_timeout_secs: u64,
    /// PEM file of certificate authorities trusted for Drupal's HTTPS besides
    /// the public ones, for a site whose certificate an internal CA signed.
    ca_file: Option<PathBuf>,
    /// `adaptive` (default): the bridge finds and follows the number of
    /// requests in flight at which Drupal serves the most without queueing;
    /// `fixed`: always `max_concurrency`.
    concurrency: Option<String>,
    /// Drupal requests in flight at once (fixed), or at most (adaptive); PHP
    /// sites fall over under load. Default 8 when fixed, 32 when adaptive.
    max_concurrency: Option<usize>,
    /// Requests that may wait for a free slot; past that the bridge answers
    /// 503 with Retry-After at once. Default 64.
    #[serde(default = "default_queue_limit")]
    queue_limit: usize,
    /// Further attempts after a failure, for reads and for writes that
    /// provably never reached Drupal. Default 2.
    #[serde(default = "default_retries")]
    retries: u32,
    /// First retry delay in milliseconds, doubled per attempt, jittered.
    /// Default 100.
    #[serde(default = "default_retry_backoff_ms")]
    retry_backoff_ms: u64,
    #[serde(default)]
    breaker: RawBreaker,
    /// The largest answer body the bridge reads from Drupal, in bytes; a
    /// longer answer is refused (503 with Retry-After) without being read
    /// further. Default 8388608 (8 MiB).
    #[serde(default = "default_max_answer_bytes")]
    max_answer_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreaker {
    /// Consecutive failed Drupal requests (unreachable, timeout, 5xx) that
    /// open the circuit. 0 switches the breaker off. Default 5.
    #[serde(default = "default_breaker_failures")]
    failures: u32,
    /// Seconds the circuit stays open (every request answered 503 at once)
    /// before one request probes Drupal again. Default 10.
    #[serde(default = "default_breaker_open_secs")]
    open_secs: u64,
}

impl Default for RawBreaker {
    fn default() -> Self {
        RawBreaker {
            failures: default_breaker_failures(),
            open_secs: default_breaker_open_secs(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDrupalAuth {
    /// `session` (default), `basic` or `oauth2`.
    #[serde(default)]
    mode: DrupalAuthMode,
    /// The Drupal account (session and basic modes).
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
    /// The `simple_oauth` consumer (oauth2 mode).
    client_id: Option<String>,
    client_secret: Option<Secret>,
    client_secret_file: Option<PathBuf>,
}

/// Below this, ordinary pages of users would be refused.
const MIN_ANSWER_BYTES: usize = 64 * 1024;

fn default_timeout_secs() -> u64 {
    10
}
fn default_connect_timeout_secs() -> u64 {
    3
}

#[derive(Debug, Clone)]
pub struct DrupalSettings {
    /// Base URL without a trailing slash.
    pub base_url: String,
    pub auth: DrupalAuth,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// The certificates of `ca_file`, each usable as a trust root.
    pub ca_certificates: Vec<reqwest::Certificate>,
    pub limits: DrupalLimits,
}

impl DrupalSettings {
    /// The bridge's Drupal credentials and session would cross a network
    /// unencrypted: `http://` to a host other than this one.
    pub fn is_cleartext_to_another_host(&self) -> bool {
        super::is_cleartext_to_another_host(&self.base_url)
    }
}

/// What to say when `is_cleartext_to_another_host`, and what to do about it.
pub const CLEARTEXT_WARNING: (&str, &str) = (
    "drupal.base_url is http:// to another host: the bridge's Drupal password and session cross the network unencrypted",
    "use https:// (drupal.ca_file trusts an internal CA), unless that network is private to the bridge and Drupal",
);

impl From<&DrupalSettings> for DrupalConnection {
    fn from(s: &DrupalSettings) -> Self {
        DrupalConnection {
            base_url: s.base_url.clone(),
            auth: s.auth.clone(),
            timeout: s.timeout,
            connect_timeout: s.connect_timeout,
            ca_certificates: s.ca_certificates.clone(),
            limits: s.limits.clone(),
        }
    }
}

impl RawDrupal {
    pub(super) fn resolve(self) -> Result<DrupalSettings, ConfigError> {
        let base_url = self.base_url.trim_end_matches('/').to_string();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "drupal.base_url: {base_url:?} must start with http:// or https://"
            )));
        }
        // The base URL is logged and reported; credentials in it would be too.
        if reqwest::Url::parse(&base_url)
            .is_ok_and(|url| !url.username().is_empty() || url.password().is_some())
        {
            return Err(ConfigError::Invalid(
                "drupal.base_url must not carry credentials (user:password@): put them under drupal.auth".into(),
            ));
        }
        let auth = self.auth.resolve()?;
        let ca_certificates = match &self.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let concurrency = match self.concurrency.as_deref() {
            None | Some("adaptive") => ConcurrencyMode::Adaptive,
            Some("fixed") => ConcurrencyMode::Fixed,
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "drupal.concurrency: {other:?} is neither adaptive (the default: the bridge finds Drupal's best concurrency, up to max_concurrency) nor fixed (always max_concurrency)"
                )))
            }
        };
        let max_concurrency = self
            .max_concurrency
            .unwrap_or_else(|| default_max_concurrency(concurrency));
        if self.max_answer_bytes < MIN_ANSWER_BYTES {
            return Err(ConfigError::Invalid(format!(
                "drupal.max_answer_bytes must be at least {MIN_ANSWER_BYTES}: a page of Drupal users takes hundreds of KB"
            )));
        }
        if max_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "drupal.max_concurrency must be at least 1".into(),
            ));
        }
        Ok(DrupalSettings {
            base_url,
            auth,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs.max(1)),
            ca_certificates,
            limits: DrupalLimits {
                concurrency,
                max_concurrency,
                queue_limit: self.queue_limit,
                retries: self.retries,
                retry_backoff: Duration::from_millis(self.retry_backoff_ms),
                breaker_failures: self.breaker.failures,
                breaker_open: Duration::from_secs(self.breaker.open_secs.max(1)),
                max_answer_bytes: self.max_answer_bytes,
            },
        })
    }
}

impl RawDrupalAuth {
    fn resolve(self) -> Result<DrupalAuth, ConfigError> {
        match self.mode {
            DrupalAuthMode::Session | DrupalAuthMode::Basic => {
                if self.client_id.is_some()
                    || self.client_secret.is_some()
                    || self.client_secret_file.is_some()
                {
                    return Err(ConfigError::Invalid(
                        "drupal.auth: client_id and client_secret belong to mode oauth2".into(),
                    ));
                }
                let username = self.username.unwrap_or_default();
                if username.trim().is_empty() {
                    return Err(ConfigError::Invalid(
                        "drupal.auth.username must not be empty".into(),
                    ));
                }
                let password = one_secret("password", self.password, self.password_file)?;
                Ok(match self.mode {
                    DrupalAuthMode::Basic => DrupalAuth::Basic { username, password },
                    _ => DrupalAuth::Session { username, password },
                })
            }
            DrupalAuthMode::OAuth2 => {
                if self.username.is_some()
                    || self.password.is_some()
                    || self.password_file.is_some()
                {
                    return Err(ConfigError::Invalid(
                        "drupal.auth: mode oauth2 takes client_id and client_secret; the Drupal account is the one configured on the simple_oauth consumer, not username and password".into(),
                    ));
                }
                let client_id = self.client_id.unwrap_or_default();
                if client_id.trim().is_empty() {
                    return Err(ConfigError::Invalid(
                        "drupal.auth.client_id is required for mode oauth2".into(),
                    ));
                }
                let client_secret =
                    one_secret("client_secret", self.client_secret, self.client_secret_file)?;
                Ok(DrupalAuth::OAuth2 {
                    client_id,
                    client_secret,
                })
            }
        }
    }
}

/// A secret given inline or as a file (one trailing newline ignored).
fn one_secret(
    key: &str,
    inline: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<Secret, ConfigError> {
    match (inline, file) {
        (Some(secret), None) => Ok(secret),
        (None, Some(path)) => Ok(Secret::new(
            read_secret_file(&format!("drupal.auth.{key}_file"), &path)?
                .trim_end_matches(['\r', '\n']),
        )),
        (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
            "drupal.auth: give either {key} or {key}_file, not both (look in the site, in `defaults:`, and in SCIM_BRIDGE__… environment variables; a site's own form replaces the other form from `defaults:`)"
        ))),
        (None, None) => Err(ConfigError::Invalid(format!(
            "drupal.auth: {key} or {key}_file is required"
        ))),
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let invalid =
        |why: String| ConfigError::Invalid(format!("drupal.ca_file: {}: {why}", path.display()));
    let text = std::fs::read(path).map_err(|e| invalid(format!("cannot be read: {e}")))?;
    crate::drupal::trust_roots(&text).map_err(invalid)
}
