//! Typed settings: a YAML file overlaid by `SCIM_BRIDGE__*` environment
//! variables, parsed once at start-up. Unknown keys are errors, secrets can
//! come from files and never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Environment variables `SCIM_BRIDGE__SECTION__KEY` override file keys.
pub const ENV_PREFIX: &str = "SCIM_BRIDGE";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration {origin}: {source}")]
    Load {
        origin: String,
        #[source]
        source: config::ConfigError,
    },
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: cannot read secret file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A value that must never appear in logs or error bodies.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The settings as written in the file (secrets may still be file references).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    /// Address the SCIM server listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    listen: String,
    scim: RawScim,
    drupal: RawDrupal,
    /// Path of the mapping YAML. Default `mappings/default.yaml`.
    #[serde(default = "default_mapping")]
    mapping: PathBuf,
    /// What SCIM DELETE does: `block` (default) or `delete`.
    #[serde(default)]
    deprovision: DeprovisionPolicy,
    /// Boolean user field that marks accounts deprovisioned by SCIM DELETE
    /// under the `block` policy. Default `field_scim_deprovisioned`.
    #[serde(default = "default_deprovisioned_field")]
    deprovisioned_field: String,
    /// Holders of these roles (and uid 1) are never changed. Default `[administrator]`.
    #[serde(default = "default_protected_roles")]
    protected_roles: Vec<String>,
    /// How long a counted `totalResults` is reused, in seconds. Default 10.
    #[serde(default = "default_count_cache_secs")]
    count_cache_secs: u64,
    /// Log every Drupal write instead of sending it (`serve --dry-run`).
    #[serde(default)]
    dry_run: bool,
    /// How long the list of Drupal roles is reused, in seconds; a group or
    /// role the list lacks refreshes it at once. Default 300.
    #[serde(default = "default_role_cache_secs")]
    role_cache_secs: u64,
    /// How long an account the bridge just read or wrote decides whether a
    /// PUT or a PATCH that does not depend on its values may be written
    /// without reading it again, in seconds. 0 reads before every write.
    /// Default 10.
    #[serde(default = "default_account_cache_secs")]
    account_cache_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScim {
    /// Bearer tokens the identity providers present.
    #[serde(default)]
    tokens: Vec<Secret>,
    /// A file holding one token per line (e.g. a mounted secret).
    token_file: Option<PathBuf>,
    /// Public base URL of the SCIM API (for `Location` and `meta.location`)
    /// when the bridge sits behind a proxy; default: taken from each request.
    public_url: Option<String>,
    /// Largest accepted request body, in bytes. Default 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: usize,
    /// Also accept JWT bearer tokens an OAuth issuer signs (Entra's OAuth
    /// option), instead of or next to static tokens.
    jwt: Option<RawJwt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwt {
    /// Required `iss` claim, e.g. `https://sts.windows.net/<tenant id>/`.
    issuer: String,
    /// Accepted `aud` claims.
    audience: Vec<String>,
    /// Where the issuer publishes its signing keys (JWKS), fetched at first
    /// use and again when a token names an unknown key.
    jwks_url: Option<String>,
    /// PEM public keys (RSA or EC), for issuers whose keys are copied in.
    #[serde(default)]
    public_key_files: Vec<PathBuf>,
    /// Clock skew tolerated on `exp` / `nbf`, in seconds. Default 60.
    #[serde(default = "default_leeway_secs")]
    leeway_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrupal {
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
    /// Drupal requests in flight at once; PHP sites fall over under load.
    /// Default 8.
    #[serde(default = "default_max_concurrency")]
    max_concurrency: usize,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
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
struct RawDrupalAuth {
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

/// How the bridge authenticates to Drupal.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DrupalAuthMode {
    /// Log in once through core's JSON login route and reuse the session
    /// cookie: Drupal checks the password hash once, not per request.
    #[default]
    Session,
    /// HTTP basic auth on every request (core `basic_auth` module).
    Basic,
    /// OAuth2 client credentials against the `simple_oauth` module.
    #[serde(rename = "oauth2")]
    OAuth2,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionPolicy {
    /// Block the account, keep it and its content, hide it from SCIM.
    #[default]
    Block,
    /// Send a JSON:API DELETE (the site's account-cancellation method decides).
    Delete,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_mapping() -> PathBuf {
    PathBuf::from("mappings/default.yaml")
}
fn default_deprovisioned_field() -> String {
    "field_scim_deprovisioned".into()
}
fn default_protected_roles() -> Vec<String> {
    vec!["administrator".into()]
}
fn default_count_cache_secs() -> u64 {
    10
}
fn default_role_cache_secs() -> u64 {
    300
}
fn default_account_cache_secs() -> u64 {
    10
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_leeway_secs() -> u64 {
    60
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_connect_timeout_secs() -> u64 {
    3
}
fn default_max_concurrency() -> usize {
    8
}
fn default_queue_limit() -> usize {
    64
}
fn default_retries() -> u32 {
    2
}
fn default_retry_backoff_ms() -> u64 {
    100
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_open_secs() -> u64 {
    10
}

/// Settings after parsing: every secret resolved, every address checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub scim: ScimSettings,
    pub drupal: DrupalSettings,
    pub mapping: PathBuf,
    pub policy: PolicySettings,
    /// Drupal writes are logged, not sent; reads go through.
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub struct ScimSettings {
    pub tokens: Vec<Secret>,
    pub jwt: Option<JwtSettings>,
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: Vec<String>,
    pub jwks_url: Option<String>,
    /// PEM texts of the configured public keys.
    pub public_keys: Vec<String>,
    pub leeway: Duration,
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

impl DrupalSettings {
    /// The bridge's Drupal credentials and session would cross a network
    /// unencrypted: `http://` to a host other than this one.
    pub fn is_cleartext_to_another_host(&self) -> bool {
        let Ok(url) = reqwest::Url::parse(&self.base_url) else {
            return false;
        };
        // IPv6 hosts come bracketed.
        let host = url.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let local = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        url.scheme() == "http" && !local
    }
}

/// What to say when `is_cleartext_to_another_host`, and what to do about it.
pub const CLEARTEXT_WARNING: (&str, &str) = (
    "drupal.base_url is http:// to another host: the bridge's Drupal password and session cross the network unencrypted",
    "use https:// (drupal.ca_file trusts an internal CA), unless that network is private to the bridge and Drupal",
);

/// How hard the bridge may push Drupal, and how it copes with failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrupalLimits {
    pub max_concurrency: usize,
    pub queue_limit: usize,
    pub retries: u32,
    pub retry_backoff: Duration,
    /// Consecutive failures that open the circuit; 0 = no breaker.
    pub breaker_failures: u32,
    pub breaker_open: Duration,
}

impl Default for DrupalLimits {
    fn default() -> Self {
        DrupalLimits {
            max_concurrency: default_max_concurrency(),
            queue_limit: default_queue_limit(),
            retries: default_retries(),
            retry_backoff: Duration::from_millis(default_retry_backoff_ms()),
            breaker_failures: default_breaker_failures(),
            breaker_open: Duration::from_secs(default_breaker_open_secs()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub deprovision: DeprovisionPolicy,
    pub deprovisioned_field: String,
    pub protected_roles: Vec<String>,
    pub count_cache: Duration,
    pub role_cache: Duration,
    pub account_cache: Duration,
}

impl Settings {
    /// Reads `path`, overlays the environment, resolves secrets.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let file = config::File::from(path).format(config::FileFormat::Yaml);
        Self::build(file, &path.display().to_string(), environment())
    }

    /// Parses settings from YAML text (used by `demo` and tests), with the
    /// same environment overlay as a file.
    pub fn from_yaml(yaml: &str) -> Result<Settings, ConfigError> {
        let text = config::File::from_str(yaml, config::FileFormat::Yaml);
        Self::build(text, "(inline)", environment())
    }

    fn build<S>(
        file: S,
        origin: &str,
        environment: config::Environment,
    ) -> Result<Settings, ConfigError>
    where
        S: config::Source + Send + Sync + 'static,
    {
        let raw: RawSettings = config::Config::builder()
            .add_source(file)
            .add_source(environment)
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|source| ConfigError::Load {
                origin: origin.to_string(),
                source,
            })?;
        raw.resolve()
    }
}

fn environment() -> config::Environment {
    config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("scim.tokens")
        .with_list_parse_key("protected_roles")
}

impl RawSettings {
    fn resolve(self) -> Result<Settings, ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "listen: {:?} is not an address like 127.0.0.1:8080",
                self.listen
            ))
        })?;

        let mut tokens: Vec<Secret> = self
            .scim
            .tokens
            .into_iter()
            .filter(|t| !t.expose().trim().is_empty())
            .collect();
        if let Some(path) = &self.scim.token_file {
            let text = read_secret_file(path)?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Secret::new),
            );
        }
        let jwt = self.scim.jwt.map(RawJwt::resolve).transpose()?;
        if tokens.is_empty() && jwt.is_none() {
            return Err(ConfigError::Invalid(
                "scim: no bearer token configured; set scim.tokens, scim.token_file or scim.jwt"
                    .into(),
            ));
        }
        if let Some(short) = tokens.iter().find(|t| t.expose().len() < 16) {
            let _ = short;
            return Err(ConfigError::Invalid(
                "scim: every bearer token must be at least 16 characters long".into(),
            ));
        }

        let base_url = self.drupal.base_url.trim_end_matches('/').to_string();
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
        let auth = self.drupal.auth.resolve()?;
        let ca_certificates = match &self.drupal.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        if self.drupal.max_concurrency == 0 {
            return Err(ConfigError::Invalid(
                "drupal.max_concurrency must be at least 1".into(),
            ));
        }
        if !is_field_name(&self.deprovisioned_field) {
            return Err(ConfigError::Invalid(format!(
                "deprovisioned_field: {:?} is not a Drupal field machine name",
                self.deprovisioned_field
            )));
        }

        Ok(Settings {
            listen,
            scim: ScimSettings {
                tokens,
                jwt,
                public_url: self
                    .scim
                    .public_url
                    .map(|u| u.trim_end_matches('/').to_string()),
                max_body_bytes: self.scim.max_body_bytes,
            },
            drupal: DrupalSettings {
                base_url,
                auth,
                timeout: Duration::from_secs(self.drupal.timeout_secs.max(1)),
                connect_timeout: Duration::from_secs(self.drupal.connect_timeout_secs.max(1)),
                ca_certificates,
                limits: DrupalLimits {
                    max_concurrency: self.drupal.max_concurrency,
                    queue_limit: self.drupal.queue_limit,
                    retries: self.drupal.retries,
                    retry_backoff: Duration::from_millis(self.drupal.retry_backoff_ms),
                    breaker_failures: self.drupal.breaker.failures,
                    breaker_open: Duration::from_secs(self.drupal.breaker.open_secs.max(1)),
                },
            },
            mapping: self.mapping,
            policy: PolicySettings {
                deprovision: self.deprovision,
                deprovisioned_field: self.deprovisioned_field,
                protected_roles: self.protected_roles,
                count_cache: Duration::from_secs(self.count_cache_secs),
                role_cache: Duration::from_secs(self.role_cache_secs),
                account_cache: Duration::from_secs(self.account_cache_secs),
            },
            dry_run: self.dry_run,
        })
    }
}

impl RawJwt {
    fn resolve(self) -> Result<JwtSettings, ConfigError> {
        if self.audience.is_empty() {
            return Err(ConfigError::Invalid(
                "scim.jwt.audience: name at least one accepted audience".into(),
            ));
        }
        if self.jwks_url.is_none() && self.public_key_files.is_empty() {
            return Err(ConfigError::Invalid(
                "scim.jwt: set jwks_url or public_key_files, so tokens can be verified".into(),
            ));
        }
        let public_keys = self
            .public_key_files
            .iter()
            .map(|p| read_secret_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(JwtSettings {
            issuer: self.issuer,
            audience: self.audience,
            jwks_url: self.jwks_url,
            public_keys,
            leeway: Duration::from_secs(self.leeway_secs),
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
            read_secret_file(&path)?.trim_end_matches(['\r', '\n']),
        )),
        (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
            "drupal.auth: give either {key} or {key}_file, not both"
        ))),
        (None, None) => Err(ConfigError::Invalid(format!(
            "drupal.auth: {key} or {key}_file is required"
        ))),
    }
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ConfigError> {
    let invalid =
        |why: String| ConfigError::Invalid(format!("drupal.ca_file: {}: {why}", path.display()));
    let text = std::fs::read(path).map_err(|e| invalid(format!("cannot be read: {e}")))?;
    crate::drupal::trust_roots(&text).map_err(invalid)
}

fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
scim:
  tokens: ["0123456789abcdef-token"]
drupal:
  base_url: https://drupal.example.org/
  auth:
    username: scim-bridge
    password: "s3cret-password"
"#;

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let s = Settings::from_yaml(MINIMAL).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.drupal.base_url, "https://drupal.example.org");
        assert_eq!(s.policy.deprovision, DeprovisionPolicy::Block);
        assert_eq!(s.policy.protected_roles, vec!["administrator".to_string()]);
        assert_eq!(s.mapping, PathBuf::from("mappings/default.yaml"));
        assert!(!s.dry_run, "writes reach Drupal unless asked otherwise");
    }

    fn with_environment(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::build(
            config::File::from_str(MINIMAL, config::FileFormat::Yaml),
            "(test)",
            environment().source(Some(vars)),
        )
    }

    #[test]
    fn environment_variables_override_file_keys_at_any_depth() {
        let s = with_environment(&[
            ("SCIM_BRIDGE__DRUPAL__BASE_URL", "https://other.example.org"),
            ("SCIM_BRIDGE__DRUPAL__AUTH__USERNAME", "bridge-from-env"),
            (
                "SCIM_BRIDGE__SCIM__TOKENS",
                "env-token-0123456789,env-token-abcdefghij",
            ),
            ("SCIM_BRIDGE__PROTECTED_ROLES", "administrator,site_admin"),
            ("SCIM_BRIDGE__DEPROVISION", "delete"),
            ("SCIM_BRIDGE__LISTEN", "0.0.0.0:9090"),
        ])
        .unwrap();
        assert_eq!(s.drupal.base_url, "https://other.example.org");
        assert_eq!(s.drupal.auth.account(), "bridge-from-env");
        assert_eq!(s.scim.tokens.len(), 2);
        assert_eq!(
            s.policy.protected_roles,
            vec!["administrator", "site_admin"]
        );
        assert_eq!(s.policy.deprovision, DeprovisionPolicy::Delete);
        assert_eq!(s.listen.to_string(), "0.0.0.0:9090");
    }

    #[test]
    fn an_unknown_environment_key_is_refused_like_an_unknown_file_key() {
        let err = with_environment(&[("SCIM_BRIDGE__DRUPAL__BASE_ULR", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("base_ulr"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let yaml = format!("{MINIMAL}\nnosuchkey: 1\n");
        let err = Settings::from_yaml(&yaml).unwrap_err().to_string();
        assert!(err.contains("nosuchkey"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = Settings::from_yaml(MINIMAL).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cret-password"));
        assert!(!debug.contains("0123456789abcdef-token"));
    }

    #[test]
    fn secrets_are_read_from_files() {
        let dir = std::env::temp_dir().join(format!("scim-bridge-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pw");
        let tok = dir.join("tok");
        std::fs::write(&pw, "from-file-pw\n").unwrap();
        std::fs::write(&tok, "token-from-file-0001\n\ntoken-from-file-0002\n").unwrap();
        let yaml = format!(
            "scim:\n  token_file: {}\ndrupal:\n  base_url: http://d\n  auth:\n    username: u\n    password_file: {}\n",
            tok.display(),
            pw.display()
        );
        let s = Settings::from_yaml(&yaml).unwrap();
        assert_eq!(
            s.drupal.auth,
            DrupalAuth::Session {
                username: "u".into(),
                password: Secret::new("from-file-pw")
            }
        );
        assert_eq!(s.scim.tokens.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_ca_file_must_be_readable_and_hold_a_pem_certificate() {
        let dir = std::env::temp_dir().join(format!("scim-bridge-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let with_ca = |path: &Path| {
            let yaml = MINIMAL.replace(
                "  auth:",
                &format!("  ca_file: {}\n  auth:", path.display()),
            );
            Settings::from_yaml(&yaml).map(|s| s.drupal.ca_certificates)
        };
        let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/ca.pem");
        assert_eq!(with_ca(&ca).unwrap().len(), 1);

        let refused = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            with_ca(&path).unwrap_err().to_string()
        };
        let err = refused(
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        );
        assert!(
            err.contains("drupal.ca_file") && err.contains("no PEM certificate"),
            "{err}"
        );
        let err = refused(
            "garbled.pem",
            "-----BEGIN CERTIFICATE-----\nMIIBaaaa\n-----END CERTIFICATE-----\n",
        );
        assert!(err.contains("not usable"), "{err}");

        let err = with_ca(&dir.join("missing.pem")).unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
        assert!(Settings::from_yaml(MINIMAL)
            .unwrap()
            .drupal
            .ca_certificates
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plain_http_is_flagged_only_towards_another_host() {
        let cleartext = |url: &str| {
            let yaml = MINIMAL.replace("https://drupal.example.org/", url);
            Settings::from_yaml(&yaml)
                .unwrap()
                .drupal
                .is_cleartext_to_another_host()
        };
        assert!(cleartext("http://drupal.example.org"));
        assert!(cleartext("http://10.0.0.5:8080/intranet"));
        assert!(cleartext("http://drupal"));
        assert!(!cleartext("https://drupal.example.org"));
        assert!(!cleartext("http://127.0.0.1:8081"));
        assert!(!cleartext("http://localhost/drupal"));
        assert!(!cleartext("http://[::1]:8081"));
    }

    #[test]
    fn a_base_url_with_credentials_is_refused_without_repeating_them() {
        let yaml = MINIMAL.replace(
            "https://drupal.example.org/",
            "https://admin:hunter2-secret@drupal.example.org/",
        );
        let err = Settings::from_yaml(&yaml).unwrap_err().to_string();
        assert!(err.contains("must not carry credentials"), "{err}");
        assert!(!err.contains("hunter2-secret"), "{err}");
    }

    #[test]
    fn short_tokens_and_missing_passwords_are_refused() {
        let short = MINIMAL.replace("0123456789abcdef-token", "short");
        assert!(Settings::from_yaml(&short)
            .unwrap_err()
            .to_string()
            .contains("16"));
        let no_pw = MINIMAL.replace("    password: \"s3cret-password\"\n", "");
        assert!(Settings::from_yaml(&no_pw)
            .unwrap_err()
            .to_string()
            .contains("password"));
    }

    #[test]
    fn session_is_the_default_auth_mode_and_limits_have_defaults() {
        let s = Settings::from_yaml(MINIMAL).unwrap();
        assert_eq!(s.drupal.auth.mode(), DrupalAuthMode::Session);
        assert_eq!(s.drupal.limits, DrupalLimits::default());
        assert_eq!(s.drupal.limits.max_concurrency, 8);
    }

    #[test]
    fn oauth2_takes_a_client_and_refuses_a_password() {
        let oauth = MINIMAL.replace(
            "    username: scim-bridge\n    password: \"s3cret-password\"\n",
            "    mode: oauth2\n    client_id: bridge\n    client_secret: oauth-secret\n",
        );
        let s = Settings::from_yaml(&oauth).unwrap();
        assert_eq!(
            s.drupal.auth,
            DrupalAuth::OAuth2 {
                client_id: "bridge".into(),
                client_secret: Secret::new("oauth-secret")
            }
        );
        assert!(!format!("{s:?}").contains("oauth-secret"));
        let mixed = MINIMAL.replace(
            "  auth:\n",
            "  auth:\n    mode: oauth2\n    client_id: c\n    client_secret: s\n",
        );
        assert!(Settings::from_yaml(&mixed)
            .unwrap_err()
            .to_string()
            .contains("client_id and client_secret"));
        let no_secret = MINIMAL.replace(
            "    username: scim-bridge\n    password: \"s3cret-password\"\n",
            "    mode: oauth2\n    client_id: bridge\n",
        );
        assert!(Settings::from_yaml(&no_secret)
            .unwrap_err()
            .to_string()
            .contains("client_secret"));
    }

    #[test]
    fn limits_and_breaker_are_read_and_zero_concurrency_is_refused() {
        let yaml = MINIMAL.replace(
            "  auth:\n",
            "  max_concurrency: 2\n  queue_limit: 5\n  retries: 0\n  breaker:\n    failures: 3\n    open_secs: 7\n  auth:\n",
        );
        let s = Settings::from_yaml(&yaml).unwrap();
        assert_eq!(s.drupal.limits.max_concurrency, 2);
        assert_eq!(s.drupal.limits.queue_limit, 5);
        assert_eq!(s.drupal.limits.retries, 0);
        assert_eq!(s.drupal.limits.breaker_failures, 3);
        assert_eq!(s.drupal.limits.breaker_open, Duration::from_secs(7));
        let zero = MINIMAL.replace("  auth:\n", "  max_concurrency: 0\n  auth:\n");
        assert!(Settings::from_yaml(&zero).is_err());
    }

    #[test]
    fn delete_policy_is_parsed() {
        let yaml = format!("{MINIMAL}deprovision: delete\n");
        let s = Settings::from_yaml(&yaml).unwrap();
        assert_eq!(s.policy.deprovision, DeprovisionPolicy::Delete);
        let bad = format!("{MINIMAL}deprovision: shred\n");
        assert!(Settings::from_yaml(&bad).is_err());
    }
}
