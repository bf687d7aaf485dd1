//! Typed settings: a YAML file overlaid by `SCIM_BRIDGE__*` environment
//! variables, parsed once at start-up. Unknown keys are errors, secrets can
//! come from files and never print. One file per section: `scim` (who may
//! call the bridge), `drupal` (the site and how to reach it), `policy` (what
//! the bridge may change).

mod drupal;
mod ip_range;
mod policy;
mod scim;
mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use self::drupal::{DrupalSettings, CLEARTEXT_WARNING};
pub use self::ip_range::IpRange;
pub use self::policy::{DeprovisionPolicy, PolicySettings};
pub use self::scim::{JwtSettings, ScimSettings};
pub use self::server::ServerSettings;
pub use crate::drupal::settings::{DrupalAuth, DrupalAuthMode, DrupalLimits};
pub use crate::secret::Secret;

use self::drupal::RawDrupal;
use self::scim::RawScim;
use self::server::RawServer;

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

/// The settings as written in the file (secrets may still be file references).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    /// Address the SCIM server listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    listen: String,
    scim: RawScim,
    drupal: RawDrupal,
    /// Deadlines and limits of the SCIM port.
    #[serde(default)]
    server: RawServer,
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

/// Settings after parsing: every secret resolved, every address checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub scim: ScimSettings,
    pub server: ServerSettings,
    pub drupal: DrupalSettings,
    pub mapping: PathBuf,
    pub policy: PolicySettings,
    /// Drupal writes are logged, not sent; reads go through.
    pub dry_run: bool,
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
        .with_list_parse_key("scim.trusted_proxies")
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

        if !is_field_name(&self.deprovisioned_field) {
            return Err(ConfigError::Invalid(format!(
                "deprovisioned_field: {:?} is not a Drupal field machine name",
                self.deprovisioned_field
            )));
        }

        let scim = self.scim.resolve()?;
        let drupal = self.drupal.resolve()?;
        let server = self.server.resolve()?;
        Ok(Settings {
            listen,
            scim,
            server,
            drupal,
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

fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
