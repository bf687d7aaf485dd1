//! Typed settings: a YAML file overlaid by `SCIM_BRIDGE__*` environment
//! variables, parsed once at start-up. Unknown keys are errors, secrets can
//! come from files and never print. One file per section: `scim` (who may
//! call the bridge), `drupal` (the site and how to reach it), `policy` (what
//! the bridge may change), `sites` (many sites behind one bridge).

mod apart;
mod drupal;
mod explain;
mod ip_range;
mod policy;
mod scim;
mod server;
mod sites;
mod telemetry;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::mapping::document::NodePath;

pub use self::apart::sites_apart;
pub use self::drupal::{DrupalSettings, CLEARTEXT_WARNING};
pub(crate) use self::explain::not_one_of;
pub use self::explain::Place;
pub use self::ip_range::IpRange;
pub use self::policy::{DeprovisionPolicy, GroupPatchReads, PolicySettings, UnknownMembers};
pub use self::scim::{
    ClientCredential, JwtSettings, ScimClient, ScimSettings, CLEARTEXT_JWKS_WARNING,
    DEFAULT_CLIENT, JWT_CLIENT,
};
pub use self::server::ServerSettings;
pub use self::telemetry::{AuditSettings, HealthSettings, MetricsSettings};
pub use crate::drupal::settings::{ConcurrencyMode, DrupalAuth, DrupalAuthMode, DrupalLimits};
pub use crate::secret::Secret;

use self::drupal::RawDrupal;
use self::explain::{attribute, explain, Sources, Within, FROM_VARIABLE};
use self::scim::RawScim;
use self::server::RawServer;
use self::telemetry::{RawAudit, RawHealth, RawMetrics};

/// Whether `url` is `http://` to a host other than this one: what is sent
/// or fetched there crosses a network unencrypted and unauthenticated.
fn is_cleartext_to_another_host(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
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
    /// A key written wrong: where (the file's line and column, or the
    /// variables that set it), in which site, its path, and what is wrong
    /// with it, with what would be right.
    #[error("configuration: {place}: {}{key}: {problem}", site_prefix(.site))]
    Key {
        place: Place,
        site: Option<String>,
        key: String,
        problem: String,
    },
    /// `place`: the key naming the file, after its site's `sites[<id>]: `.
    #[error("configuration: {place}: cannot read secret file {path}: {source}")]
    SecretFile {
        place: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn site_prefix(site: &Option<String>) -> String {
    site.as_ref().map(|s| format!("{s}: ")).unwrap_or_default()
}

impl ConfigError {
    /// The error is about a value an environment variable set, not the
    /// file: the fix is to that variable.
    pub fn from_environment(&self) -> bool {
        matches!(
            self,
            ConfigError::Key {
                place: Place::Environment(_),
                ..
            }
        )
    }
}

/// The site id of a configuration without `sites:`.
pub const DEFAULT_SITE: &str = "default";

/// The file's top level: the server's own keys, and either one site's
/// settings or `sites:` (with `defaults:`).
#[derive(Debug, Deserialize)]
struct RawTop {
    /// Address the SCIM server listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    listen: String,
    sites: Option<Vec<config::Value>>,
    defaults: Option<config::Value>,
    /// Prometheus metrics and the status page, on their own address; one
    /// for the whole bridge, whatever the number of sites.
    // An `Option`: a section holding only comments (YAML null) is absent.
    #[serde(default)]
    metrics: Option<RawMetrics>,
    /// What `/readyz` asks of Drupal.
    // An `Option`: a section holding only comments (YAML null) is absent.
    #[serde(default)]
    health: Option<RawHealth>,
    /// Deadlines and limits of the SCIM port (one port for every site).
    #[serde(default)]
    server: RawServer,
    /// The audit trail's file (one for every site; each event names its site).
    // An `Option`: a section holding only comments (YAML null) is absent.
    #[serde(default)]
    audit: Option<RawAudit>,
}

/// The top-level keys that belong to the bridge, not to a site.
const BRIDGE_KEYS: [&str; 7] = [
    "listen", "sites", "defaults", "server", "metrics", "health", "audit",
];

/// One site's settings as written in the file (secrets may still be file
/// references): the top level of a single-site file, or an entry of
/// `sites:` laid over `defaults:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
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
    /// A group member that names no account the bridge serves: `refuse`
    /// the request (default) or `skip` that member.
    #[serde(default)]
    unknown_members: UnknownMembers,
    /// How many Drupal reads (50 members each) a group PATCH may spend to
    /// answer with the whole group; past them it answers 204. Default 0:
    /// only members known without reading.
    #[serde(default)]
    group_patch_reads: GroupPatchReads,
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

/// Reports a mistake of `defaults:` (an unknown key, a value of the wrong
/// type) as `defaults`', not as the first site's that inherits it. Laid
/// over placeholders of the keys every site must give, and which
/// `defaults:` may leave to the sites, the block must read as a site's
/// settings; a key it leaves to the sites (`missing field`) is no mistake.
fn check_defaults(defaults: &config::Value, sources: &Sources) -> Result<(), ConfigError> {
    use config::{Map, Value, ValueKind};
    let table = |entries: Vec<(&str, Value)>| {
        Value::new(
            None,
            ValueKind::Table(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>(),
            ),
        )
    };
    let placeholders = table(vec![
        ("scim", table(vec![])),
        (
            "drupal",
            table(vec![
                ("base_url", Value::from("https://defaults.invalid")),
                ("auth", table(vec![])),
            ]),
        ),
    ]);
    let (Ok(base), Ok(over)) = (placeholders.into_table(), defaults.clone().into_table()) else {
        // `sites::entries` says what is wrong with a defaults: that is no block.
        return Ok(());
    };
    let merged = Value::new(None, ValueKind::Table(sites::merge(base, over)));
    let within = Within {
        site: None,
        prefixes: vec![NodePath::root().key("defaults")],
        more_keys: &[],
    };
    match merged.clone().try_deserialize::<RawSite>() {
        Err(config::ConfigError::NotFound(_)) => Ok(()),
        Err(e) if !e.to_string().starts_with("missing field") => {
            Err(match explain(e, &merged, sources, &within) {
                ConfigError::Key {
                    place,
                    site,
                    key,
                    problem,
                } => ConfigError::Key {
                    place,
                    site,
                    key: format!("defaults.{key}"),
                    problem,
                },
                other => other,
            })
        }
        _ => Ok(()),
    }
}

/// Settings after parsing: every secret resolved, every address checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// One entry per site, in the file's order; a file without `sites:`
    /// has one, with the id `DEFAULT_SITE`.
    pub sites: Vec<SiteSettings>,
    /// The file lists `sites:`: each is served at `/sites/{id}/scim/v2`
    /// (else the one site is at `/scim/v2`).
    pub multi_site: bool,
    /// Deadlines and limits of the SCIM port.
    pub server: ServerSettings,
    pub metrics: MetricsSettings,
    pub health: HealthSettings,
    pub audit: AuditSettings,
}

/// Everything about one site: who may call it, where its Drupal is, its
/// mapping and policy.
#[derive(Debug, Clone)]
pub struct SiteSettings {
    /// `[a-z0-9-]+`; `DEFAULT_SITE` without `sites:`.
    pub id: String,
    pub scim: ScimSettings,
    pub drupal: DrupalSettings,
    pub mapping: PathBuf,
    pub policy: PolicySettings,
    /// Drupal writes are logged, not sent; reads go through.
    pub dry_run: bool,
    /// The site's settings as written (after `defaults:`), to tell on a
    /// reload whether the site changed.
    source: Written,
}

/// A site's settings as written; they may hold secrets, so `Debug` does
/// not show them.
#[derive(Clone, PartialEq)]
struct Written(config::Value);

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(as written)")
    }
}

impl SiteSettings {
    /// Whether reloading would build this site anew: its settings, or a
    /// secret file they name, changed. (`drupal.ca_file`'s content is read
    /// again only when the site changes otherwise.)
    pub fn same_as(&self, other: &SiteSettings) -> bool {
        self.id == other.id
            && self.source == other.source
            && self.scim == other.scim
            && self.drupal.auth == other.drupal.auth
    }
}

impl Settings {
    /// The site `id`, if configured.
    pub fn site(&self, id: &str) -> Option<&SiteSettings> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// The bridge-wide keys whose values in `file` differ from these
    /// settings'. They are set up once at start-up (the listeners, the
    /// audit file, the status page's token, the port's limits), so a
    /// reload cannot apply them: they need a restart.
    pub fn restart_keys(&self, file: &Settings) -> Vec<&'static str> {
        let (a, b) = (self, file);
        [
            ("listen", a.listen == b.listen),
            (
                "server.header_timeout_secs",
                a.server.header_timeout == b.server.header_timeout,
            ),
            (
                "server.body_timeout_secs",
                a.server.body_timeout == b.server.body_timeout,
            ),
            (
                "server.max_connections",
                a.server.max_connections == b.server.max_connections,
            ),
            ("metrics.listen", a.metrics.listen == b.metrics.listen),
            (
                "metrics.status_token",
                a.metrics.status_token == b.metrics.status_token,
            ),
            (
                "health.drupal_within_secs",
                a.health.drupal_within == b.health.drupal_within,
            ),
            ("audit.file", a.audit.file == b.audit.file),
        ]
        .into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
    }

    /// Every site's `dry_run` (for `serve --dry-run`).
    pub fn force_dry_run(&mut self) {
        for site in &mut self.sites {
            site.dry_run = true;
        }
    }

    /// Reads `path`, overlays the environment, resolves secrets.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let file = config::File::from(path).format(config::FileFormat::Yaml);
        // Read once more for the positions of keys in messages (`config`
        // keeps none); unreadable, the messages go without.
        let text = std::fs::read_to_string(path).ok();
        let sources = Sources {
            file: &path.display().to_string(),
            text: text.as_deref(),
        };
        Self::build(file, &sources, environment())
    }

    /// Parses settings from YAML text (used by `demo` and tests), with the
    /// same environment overlay as a file.
    pub fn from_yaml(yaml: &str) -> Result<Settings, ConfigError> {
        let text = config::File::from_str(yaml, config::FileFormat::Yaml);
        let sources = Sources {
            file: "(inline)",
            text: Some(yaml),
        };
        Self::build(text, &sources, environment())
    }

    fn build<S>(
        file: S,
        sources: &Sources,
        environment: config::Environment,
    ) -> Result<Settings, ConfigError>
    where
        S: config::Source + Send + Sync + 'static,
    {
        let parsed = Self::parse(file, sources, environment)?;
        let (sites, parsed) = parsed.take_sites();
        let sites = sites
            .into_iter()
            .map(|(_, site)| site)
            .collect::<Result<Vec<_>, _>>()?;
        sites_apart(&sites.iter().collect::<Vec<_>>())?;
        Ok(parsed.with_sites(sites))
    }

    /// Reads `path` as `load` does, but a site whose settings are invalid
    /// does not refuse the whole file: it is left out of the settings and
    /// named with its error, so that a reload can keep that site as it was
    /// and still apply every other site's change.
    pub fn load_for_reload(path: &Path) -> Result<Reloaded, ConfigError> {
        let file = config::File::from(path).format(config::FileFormat::Yaml);
        let text = std::fs::read_to_string(path).ok();
        let sources = Sources {
            file: &path.display().to_string(),
            text: text.as_deref(),
        };
        let parsed = Self::parse(file, &sources, environment())?;
        let (all, parsed) = parsed.take_sites();
        let mut sites = Vec::new();
        let mut invalid = Vec::new();
        for (id, site) in all {
            match site {
                Ok(site) => sites.push(site),
                Err(e) => invalid.push((id, e)),
            }
        }
        // Whether the sites stay apart is decided on the settings in force
        // after the reload, which keep a refused site's previous ones
        // (`SitesReloader`).
        Ok(Reloaded {
            settings: parsed.with_sites(sites),
            invalid,
        })
    }

    fn parse<S>(
        file: S,
        sources: &Sources,
        environment: config::Environment,
    ) -> Result<Parsed, ConfigError>
    where
        S: config::Source + Send + Sync + 'static,
    {
        let load = |source| ConfigError::Load {
            origin: sources.file.to_string(),
            source,
        };
        let environment = NamedEnvironment(environment);
        environment.refuse_site_keys()?;
        // The merged tree as built, each value keeping where it came from
        // (the file, or the variable that set it), so that a wrong value
        // is reported with its origin.
        let whole: config::Value = config::Config::builder()
            .add_source(file)
            .add_source(environment)
            .build()
            .map(|c| c.cache)
            .map_err(load)?;
        let mut top: RawTop = whole
            .clone()
            .try_deserialize()
            .map_err(|e| explain(e, &whole, sources, &Within::top()))?;
        // `sites` and `defaults` as built, not as deserialized: the values
        // keep their origins (a variable's name) for the messages.
        if let config::ValueKind::Table(table) = &whole.kind {
            if top.defaults.is_some() {
                top.defaults = table.get("defaults").cloned();
            }
            if let Some(Ok(sites)) = table.get("sites").map(|s| s.clone().into_array()) {
                top.sites = Some(sites);
            }
        }
        let at_top = |e| attribute(e, &whole, sources, &Within::top());
        let listen: SocketAddr = top
            .listen
            .parse()
            .map_err(|_| {
                ConfigError::Invalid(format!(
                    "listen: {:?} is not an address like 127.0.0.1:8080",
                    top.listen
                ))
            })
            .map_err(at_top)?;
        let server = top.server.resolve().map_err(at_top)?;
        let metrics = top.metrics.unwrap_or_default().resolve().map_err(at_top)?;
        let health = top.health.unwrap_or_default().resolve().map_err(at_top)?;
        let audit = top.audit.unwrap_or_default().resolve();
        let Some(sites) = top.sites else {
            if top.defaults.is_some() {
                return Err(ConfigError::Key {
                    place: explain::place(&whole, "defaults", sources, &Within::top()),
                    site: None,
                    key: "defaults".into(),
                    problem: "is shared by the entries of sites:; without sites:, write the site's settings at the top level (from the environment: SCIM_BRIDGE__<KEY>, without DEFAULTS__)".into(),
                });
            }
            let mut table = whole.into_table().map_err(load)?;
            for key in BRIDGE_KEYS {
                table.remove(key);
            }
            let source = config::Value::new(None, config::ValueKind::Table(table));
            let within = Within {
                site: None,
                prefixes: vec![NodePath::root()],
                more_keys: &BRIDGE_KEYS,
            };
            let raw: RawSite = source
                .clone()
                .try_deserialize()
                .map_err(|e| explain(e, &source, sources, &within))?;
            return Ok(Parsed {
                listen,
                server,
                metrics,
                health,
                audit,
                sites: vec![(
                    DEFAULT_SITE.to_string(),
                    raw.resolve(DEFAULT_SITE.to_string(), source.clone())
                        .map_err(|e| attribute(e, &source, sources, &within)),
                )],
                multi_site: false,
            });
        };
        let mut strays: Vec<&String> = match &whole.kind {
            config::ValueKind::Table(table) => table
                .keys()
                .filter(|k| !BRIDGE_KEYS.contains(&k.as_str()))
                .collect(),
            _ => Vec::new(),
        };
        strays.sort();
        let own = BRIDGE_KEYS.join(", ");
        // Every key the environment alone set is named at once, with the
        // variable that would set it for every site; a key written in the
        // file is the file's mistake, at its line.
        let places: Vec<(&String, Place)> = strays
            .iter()
            .map(|key| (*key, explain::place(&whole, key, sources, &Within::top())))
            .collect();
        if let Some((key, place)) = places
            .iter()
            .find(|(_, place)| matches!(place, Place::File { .. }))
        {
            return Err(ConfigError::Key {
                place: place.clone(),
                site: None,
                key: key.to_string(),
                problem: format!(
                    "with sites:, the top level holds only the bridge's own keys ({own}); move {key} into defaults: (for every site) or into a site"
                ),
            });
        }
        if !places.is_empty() {
            let variables: Vec<String> = places
                .iter()
                .flat_map(|(_, place)| match place {
                    Place::Environment(variables) => variables.clone(),
                    Place::File { .. } => Vec::new(),
                })
                .collect();
            let instead: Vec<String> = variables
                .iter()
                .map(|v| {
                    v.replacen(
                        &format!("{ENV_PREFIX}__"),
                        &format!("{ENV_PREFIX}__DEFAULTS__"),
                        1,
                    )
                })
                .collect();
            let keys: Vec<&str> = places.iter().map(|(key, _)| key.as_str()).collect();
            let sets = if variables.len() == 1 {
                "this variable sets"
            } else {
                "these variables set"
            };
            return Err(ConfigError::Key {
                place: Place::Environment(variables),
                site: None,
                key: keys.join(", "),
                problem: format!(
                    "with sites:, the top level holds only the bridge's own keys ({own}), and {} one site's keys there; for every site use {} instead, or write each site's value in its entry of the file (the systemd unit: see deploy/systemd)",
                    sets,
                    instead.join(", ")
                ),
            });
        }
        if let Some(defaults) = &top.defaults {
            check_defaults(defaults, sources)?;
        }
        let sites = sites::entries(sites, top.defaults)?
            .into_iter()
            .enumerate()
            .map(|(n, entry)| {
                let id = entry.id.clone();
                let within = Within {
                    site: Some(format!("sites[{}]", entry.id)),
                    prefixes: vec![
                        NodePath::root().key("sites").index(n),
                        NodePath::root().key("defaults"),
                    ],
                    more_keys: &[],
                };
                let site = entry
                    .value
                    .clone()
                    .try_deserialize::<RawSite>()
                    .map_err(|e| explain(e, &entry.value, sources, &within))
                    .and_then(|raw| {
                        raw.resolve(entry.id.clone(), entry.value.clone())
                            .map_err(|e| attribute(e, &entry.value, sources, &within))
                    })
                    .map_err(|e| match e {
                        ConfigError::Invalid(m) => {
                            ConfigError::Invalid(format!("sites[{}]: {m}", entry.id))
                        }
                        ConfigError::SecretFile {
                            place,
                            path,
                            source,
                        } => ConfigError::SecretFile {
                            place: format!("sites[{}]: {place}", entry.id),
                            path,
                            source,
                        },
                        other => other,
                    });
                (id, site)
            })
            .collect();
        Ok(Parsed {
            listen,
            server,
            metrics,
            health,
            audit,
            sites,
            multi_site: true,
        })
    }
}

/// The file read, each site's settings resolved or refused.
struct Parsed {
    listen: SocketAddr,
    server: ServerSettings,
    metrics: MetricsSettings,
    health: HealthSettings,
    audit: AuditSettings,
    sites: Vec<ParsedSite>,
    multi_site: bool,
}

/// A site's id, and its settings or why they are refused.
type ParsedSite = (String, Result<SiteSettings, ConfigError>);

impl Parsed {
    /// The sites, each resolved or refused, apart from the rest.
    fn take_sites(mut self) -> (Vec<ParsedSite>, Parsed) {
        (std::mem::take(&mut self.sites), self)
    }

    /// The settings, with these sites.
    fn with_sites(self, sites: Vec<SiteSettings>) -> Settings {
        Settings {
            listen: self.listen,
            sites,
            multi_site: self.multi_site,
            server: self.server,
            metrics: self.metrics,
            health: self.health,
            audit: self.audit,
        }
    }
}

/// `Settings::load_for_reload`'s answer.
#[derive(Debug)]
pub struct Reloaded {
    /// The file's settings, with only the sites whose settings are valid.
    pub settings: Settings,
    /// The sites left out, by id, and why.
    pub invalid: Vec<(String, ConfigError)>,
}

/// The keys of a site whose value is a list: from the environment,
/// `a,b,c` is a list of three (`a` a list of one), at the top level (one
/// site) and under `defaults` alike.
const LIST_KEYS: [&str; 5] = [
    "scim.tokens",
    "scim.trusted_proxies",
    "scim.jwt.audience",
    "scim.jwt.public_key_files",
    "protected_roles",
];

fn environment() -> config::Environment {
    LIST_KEYS.iter().fold(
        config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(","),
        |environment, key| {
            environment
                .with_list_parse_key(key)
                .with_list_parse_key(&format!("defaults.{key}"))
        },
    )
}

/// The environment overlay, each value marked as coming from its variable,
/// so that a message about it names the variable rather than the file.
#[derive(Debug, Clone)]
struct NamedEnvironment(config::Environment);

/// The variable that sets `key` (`defaults.scim.tokens`:
/// `SCIM_BRIDGE__DEFAULTS__SCIM__TOKENS`).
fn variable_of(key: &str) -> String {
    format!("{ENV_PREFIX}__{}", key.replace('.', "__").to_uppercase())
}

impl NamedEnvironment {
    /// `sites:` is a list, which a variable cannot reach into (a variable
    /// `SCIM_BRIDGE__SITES__...` would replace it by a block).
    fn refuse_site_keys(&self) -> Result<(), ConfigError> {
        use config::Source;
        let keys = self.0.collect().map_err(|source| ConfigError::Load {
            origin: "(environment)".into(),
            source,
        })?;
        match keys
            .keys()
            .find(|k| k.as_str() == "sites" || k.starts_with("sites."))
        {
            Some(key) => Err(ConfigError::Key {
                place: Place::Environment(vec![variable_of(key)]),
                site: None,
                key: key.to_string(),
                problem: format!("the environment cannot set one site's keys (sites: is a list); set the value for every site with {ENV_PREFIX}__DEFAULTS__<KEY>, or write it in the site's entry of the file"),
            }),
            None => Ok(()),
        }
    }
}

impl config::Source for NamedEnvironment {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        fn marked(value: config::Value, origin: &String) -> config::Value {
            let kind = match value.kind {
                config::ValueKind::Array(items) => {
                    config::ValueKind::Array(items.into_iter().map(|v| marked(v, origin)).collect())
                }
                kind => kind,
            };
            config::Value::new(Some(origin), kind)
        }
        Ok(self
            .0
            .collect()?
            .into_iter()
            .map(|(key, value)| {
                let origin = format!("{FROM_VARIABLE}{}", variable_of(&key));
                (key, marked(value, &origin))
            })
            .collect())
    }
}

impl RawSite {
    fn resolve(self, id: String, source: config::Value) -> Result<SiteSettings, ConfigError> {
        if !is_field_name(&self.deprovisioned_field) {
            return Err(ConfigError::Invalid(format!(
                "deprovisioned_field: {:?} is not a Drupal field machine name",
                self.deprovisioned_field
            )));
        }

        let scim = self.scim.resolve()?;
        let drupal = self.drupal.resolve()?;
        Ok(SiteSettings {
            id,
            scim,
            drupal,
            mapping: self.mapping,
            policy: PolicySettings {
                deprovision: self.deprovision,
                deprovisioned_field: self.deprovisioned_field,
                protected_roles: self.protected_roles,
                count_cache: Duration::from_secs(self.count_cache_secs),
                role_cache: Duration::from_secs(self.role_cache_secs),
                account_cache: Duration::from_secs(self.account_cache_secs),
                unknown_members: self.unknown_members,
                group_patch_reads: self.group_patch_reads,
            },
            dry_run: self.dry_run,
            source: Written(source),
        })
    }
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The text of the secret file `path`, which the key `place` names.
fn read_secret_file(place: &str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::SecretFile {
        place: place.to_string(),
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
    fn one_token_may_open_one_site_only() {
        let yaml = |b: &str| {
            format!(
                "defaults:\n  drupal:\n    base_url: https://drupal.example.org/\n    auth: {{username: scim-bridge, password: \"s3cret-password\"}}\nsites:\n  - id: alpha\n    scim: {{tokens: [\"alpha-token-0123456789\"]}}\n  - id: beta\n    scim:\n{b}"
            )
        };
        let own = yaml("      tokens: [\"beta-token-0123456789\"]\n");
        assert!(Settings::from_yaml(&own).is_ok());
        let shared = yaml("      tokens: [\"alpha-token-0123456789\"]\n");
        let digest = format!(
            "      clients:\n        - name: idp\n          token_sha256: \"{}\"\n",
            {
                use sha2::{Digest, Sha256};
                Sha256::digest(b"alpha-token-0123456789")
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            }
        );
        for text in [shared, yaml(&digest)] {
            let err = Settings::from_yaml(&text).unwrap_err().to_string();
            assert!(err.contains("sites alpha and beta"), "{err}");
            assert!(
                !err.contains("alpha-token"),
                "the token is never named: {err}"
            );
        }
    }

    /// Two sites `a` and `b` under `defaults`, with `a_extra` / `b_extra`
    /// as each site's own lines (indented 4 spaces).
    fn two_sites(defaults: &str, a_extra: &str, b_extra: &str) -> String {
        format!(
            "defaults:\n  drupal:\n    auth: {{username: scim-bridge, password: \"s3cret-password\"}}\n{defaults}sites:\n  - id: a\n    drupal: {{base_url: \"https://a.example.org\"}}\n{a_extra}  - id: b\n    drupal: {{base_url: \"https://b.example.org\"}}\n{b_extra}"
        )
    }

    fn jwt_key() -> String {
        format!(
            "{}/tests/fixtures/jwt/issuer-public.pem",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    fn one_jwt_may_open_one_site_only() {
        let key = jwt_key();
        let shared = format!(
            "  scim:\n    jwt: {{issuer: \"https://iss.example/\", audience: [aud1], public_key_files: [\"{key}\"]}}\n"
        );
        let err = Settings::from_yaml(&two_sites(&shared, "", ""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sites a and b: one JWT opens both")
                && err.contains("\"aud1\"")
                && err.contains("its own audience")
                && err.contains("Secret Token"),
            "{err}"
        );
        // One audience in common is enough.
        let overlapping = two_sites(
            &shared,
            "",
            "    scim:\n      jwt: {audience: [aud2, aud1]}\n",
        );
        assert!(Settings::from_yaml(&overlapping).is_err());
        // A client's jwt counts as scim.jwt does.
        let client = two_sites(
            &shared,
            "    scim:\n      jwt: {audience: [aud-a]}\n",
            &format!("    scim:\n      jwt: {{audience: [aud-b]}}\n      clients:\n        - name: entra\n          jwt: {{issuer: \"https://iss.example/\", audience: [aud-a], public_key_files: [\"{key}\"]}}\n"),
        );
        let err = Settings::from_yaml(&client).unwrap_err().to_string();
        assert!(err.contains("sites a and b"), "{err}");
        // Each its own audience, or another issuer (compared exactly, as
        // the verifier does): apart.
        let own = two_sites(
            &shared,
            "    scim:\n      jwt: {audience: [aud-a]}\n",
            "    scim:\n      jwt: {audience: [aud-b]}\n",
        );
        assert!(Settings::from_yaml(&own).is_ok());
        let other_issuer = two_sites(
            &shared,
            "",
            "    scim:\n      jwt: {issuer: \"https://iss.example\"}\n",
        );
        assert!(Settings::from_yaml(&other_issuer).is_ok());
        // No JWT setting accepts any audience: it must name one.
        let none = two_sites(
            &shared.replace("audience: [aud1], ", ""),
            "    scim:\n      jwt: {audience: [aud-a]}\n",
            "",
        );
        let err = Settings::from_yaml(&none).unwrap_err().to_string();
        assert!(
            err.contains("sites[b]") && err.contains("audience"),
            "{err}"
        );
    }

    #[test]
    fn each_site_needs_its_own_public_url() {
        let tokens = "    scim: {tokens: [\"a-token-0123456789\"]}\n";
        let b_tokens = "    scim: {tokens: [\"b-token-0123456789\"]}\n";
        let shared = "  scim:\n    public_url: https://scim.example.org/scim/v2\n";
        let err = Settings::from_yaml(&two_sites(shared, tokens, b_tokens))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sites a and b")
                && err.contains("same Location")
                && err.contains("https://scim.example.org/sites/{site}/scim/v2"),
            "{err}"
        );
        let with_site = "  scim:\n    public_url: https://scim.example.org/sites/{site}/scim/v2\n";
        assert!(Settings::from_yaml(&two_sites(with_site, tokens, b_tokens)).is_ok());
        let explicit = |token: &str, url: &str| {
            format!("    scim: {{tokens: [\"{token}-token-0123456789\"], public_url: \"{url}\"}}\n")
        };
        let same = two_sites(
            "",
            &explicit("a", "https://scim.example.org/scim/v2"),
            &explicit("b", "https://scim.example.org/scim/v2/"),
        );
        let err = Settings::from_yaml(&same).unwrap_err().to_string();
        assert!(
            err.contains("sites a and b") && err.contains("give each site its own"),
            "{err}"
        );
        let apart = two_sites(
            "",
            &explicit("a", "https://a.example.org/scim/v2"),
            &explicit("b", "https://b.example.org/scim/v2"),
        );
        assert!(Settings::from_yaml(&apart).is_ok());
        // One site alone may take a URL without {site}.
        let one = format!(
            "defaults:\n  drupal:\n    auth: {{username: u, password: p}}\n{shared}sites:\n  - id: a\n    drupal: {{base_url: \"https://a.example.org\"}}\n{tokens}"
        );
        assert!(Settings::from_yaml(&one).is_ok());
    }

    fn sites_with_environment(yaml: &str, vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::build(
            config::File::from_str(yaml, config::FileFormat::Yaml),
            &Sources {
                file: "(test)",
                text: Some(yaml),
            },
            environment().source(Some(vars)),
        )
    }

    #[test]
    fn lists_from_the_environment_reach_defaults() {
        let yaml = two_sites(
            "",
            "    scim: {tokens: [\"a-token-0123456789\"]}\n",
            "    scim: {tokens: [\"b-token-0123456789\"]}\n",
        );
        let s = sites_with_environment(
            &yaml,
            &[(
                "SCIM_BRIDGE__DEFAULTS__PROTECTED_ROLES",
                "administrator,editor",
            )],
        )
        .unwrap();
        assert_eq!(
            s.site("b").unwrap().policy.protected_roles,
            ["administrator", "editor"]
        );
        let s = sites_with_environment(
            &yaml,
            &[("SCIM_BRIDGE__DEFAULTS__PROTECTED_ROLES", "administrator")],
        )
        .unwrap();
        assert_eq!(
            s.site("a").unwrap().policy.protected_roles,
            ["administrator"]
        );
        let s = sites_with_environment(
            &two_sites("", "", ""),
            &[(
                "SCIM_BRIDGE__DEFAULTS__SCIM__TOKENS",
                "env-token-0123456789,env-token-abcdefghij",
            )],
        );
        // Two sites inheriting the same tokens would share them.
        let err = s.unwrap_err().to_string();
        assert!(err.contains("one bearer token opens both"), "{err}");
        let one_site = "defaults:\n  drupal:\n    auth: {username: u, password: p}\nsites:\n  - id: a\n    drupal: {base_url: \"https://a.example.org\"}\n";
        let s = sites_with_environment(
            one_site,
            &[(
                "SCIM_BRIDGE__DEFAULTS__SCIM__TOKENS",
                "env-token-0123456789,env-token-abcdefghij",
            )],
        )
        .unwrap();
        assert_eq!(s.sites[0].scim.tokens.len(), 2);
    }

    #[test]
    fn a_wrong_value_from_the_environment_names_its_variable() {
        let err = sites_with_environment(
            &two_sites(
                "",
                "    scim: {tokens: [\"a-token-0123456789\"]}\n",
                "    scim: {tokens: [\"b-token-0123456789\"]}\n",
            ),
            &[("SCIM_BRIDGE__DEFAULTS__COUNT_CACHE_SECS", "ten")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("environment variable SCIM_BRIDGE__DEFAULTS__COUNT_CACHE_SECS"),
            "{err}"
        );
        let err = with_environment(&[("SCIM_BRIDGE__COUNT_CACHE_SECS", "ten")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable SCIM_BRIDGE__COUNT_CACHE_SECS"),
            "{err}"
        );
        // A site's entry is out of the environment's reach: said so.
        let err = sites_with_environment(
            &two_sites("", "", ""),
            &[("SCIM_BRIDGE__SITES__0__PROTECTED_ROLES", "x")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("SCIM_BRIDGE__SITES__0__PROTECTED_ROLES")
                && err.contains("SCIM_BRIDGE__DEFAULTS__"),
            "{err}"
        );
    }

    #[test]
    fn a_key_set_by_the_environment_is_named_with_its_variable() {
        let err = with_environment(&[("SCIM_BRIDGE__DRUPAL__BASEURL", "http://x")]).unwrap_err();
        assert!(err.from_environment(), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("environment variable SCIM_BRIDGE__DRUPAL__BASEURL: drupal.baseurl: ")
                && err.contains("did you mean \"base_url\"")
                && !err.contains("(test)"),
            "{err}"
        );
        let yaml = two_sites(
            "",
            "    scim: {tokens: [\"a-token-0123456789\"]}\n",
            "    scim: {tokens: [\"b-token-0123456789\"]}\n",
        );
        // The systemd unit's single-site variables, with a sites: file.
        let err = sites_with_environment(
            &yaml,
            &[
                ("SCIM_BRIDGE__SCIM__TOKEN_FILE", "token"),
                ("SCIM_BRIDGE__DRUPAL__AUTH__PASSWORD_FILE", "pw"),
            ],
        )
        .unwrap_err();
        assert!(err.from_environment(), "{err}");
        let err = err.to_string();
        assert!(
            err.contains("environment variables SCIM_BRIDGE__DRUPAL__AUTH__PASSWORD_FILE, SCIM_BRIDGE__SCIM__TOKEN_FILE: drupal, scim: ")
                && err.contains("use SCIM_BRIDGE__DEFAULTS__DRUPAL__AUTH__PASSWORD_FILE, SCIM_BRIDGE__DEFAULTS__SCIM__TOKEN_FILE instead")
                && !err.contains("move drupal into defaults"),
            "{err}"
        );
        let err = sites_with_environment(&yaml, &[("SCIM_BRIDGE__DEPROVISION", "delete")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable SCIM_BRIDGE__DEPROVISION: deprovision: "),
            "{err}"
        );
        // The same key written in the file is the file's, at its line.
        let err = Settings::from_yaml(&format!("{yaml}deprovision: delete\n")).unwrap_err();
        assert!(!err.from_environment(), "{err}");
        assert!(
            err.to_string().contains("(inline):11:14: deprovision: ")
                && err.to_string().contains("move deprovision into defaults"),
            "{err}"
        );
    }

    #[test]
    fn a_value_refused_after_reading_is_said_where_it_was_written() {
        let err = with_environment(&[("SCIM_BRIDGE__DRUPAL__BASE_URL", "ftp://x")]).unwrap_err();
        assert!(err.from_environment(), "{err}");
        assert!(
            err.to_string()
                .contains("environment variable SCIM_BRIDGE__DRUPAL__BASE_URL: drupal.base_url: \"ftp://x\" must start with"),
            "{err}"
        );
        let err = Settings::from_yaml(&MINIMAL.replace("https://drupal.example.org/", "ftp://x"))
            .unwrap_err();
        assert!(!err.from_environment(), "{err}");
        assert!(
            err.to_string()
                .contains("(inline):5:13: drupal.base_url: \"ftp://x\" must start with"),
            "{err}"
        );
        let broken = TWO_SITES.replace("https://chem.example.org", "ftp://chem");
        let err = Settings::from_yaml(&broken).unwrap_err().to_string();
        assert!(
            err.contains("(inline):22:17: sites[chem]: drupal.base_url: "),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_key_or_value_is_said_at_its_line_with_the_valid_ones_and_the_closest() {
        let mode = MINIMAL.replace("  auth:\n", "  auth:\n    mode: sesion\n");
        let err = Settings::from_yaml(&mode).unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration: (inline):7:11: drupal.auth.mode: \"sesion\" is not valid: write session, basic or oauth2 — did you mean \"session\"?"
        );
        let typo = MINIMAL.replace("base_url", "base_ulr");
        let err = Settings::from_yaml(&typo).unwrap_err().to_string();
        assert!(
            err.starts_with("configuration: (inline):5:13: drupal.base_ulr: is not a key here — did you mean \"base_url\"? Valid keys: "),
            "{err}"
        );
        // At the top level, the bridge's own keys are valid too.
        let err = Settings::from_yaml(&format!("{MINIMAL}lisen: 127.0.0.1:1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("(inline):9:8: lisen: "), "{err}");
        assert!(err.contains("did you mean \"listen\""), "{err}");
        for key in BRIDGE_KEYS {
            assert!(err.contains(key), "{key}: {err}");
        }
        let err = Settings::from_yaml(&format!("{MINIMAL}deprovision: blok\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(inline):9:14: deprovision: \"blok\" is not valid: write block or delete — did you mean \"block\"?"),
            "{err}"
        );
        // A site's key is found in its entry, a default's in defaults:.
        let unknown = TWO_SITES.replace("    deprovision: delete", "    deprovison: delete");
        let err = Settings::from_yaml(&unknown).unwrap_err().to_string();
        assert!(
            err.contains("(inline):20:17: sites[chem]: deprovison: is not a key here — did you mean \"deprovision\"?"),
            "{err}"
        );
        let wrong = TWO_SITES.replace("timeout_secs: 4", "timeout_secs: four");
        let err = Settings::from_yaml(&wrong).unwrap_err().to_string();
        assert!(
            err.contains("(inline):8:19: defaults.drupal.timeout_secs: "),
            "{err}"
        );
    }

    #[test]
    fn a_mistake_in_defaults_is_reported_there() {
        let yaml = two_sites(
            "",
            "    scim: {tokens: [\"a-token-0123456789\"]}\n",
            "    scim: {tokens: [\"b-token-0123456789\"]}\n",
        )
        .replace(
            "password: \"s3cret-password\"",
            "pasword: \"s3cret-password\"",
        );
        let err = Settings::from_yaml(&yaml).unwrap_err().to_string();
        assert!(
            err.contains("defaults.drupal.auth.pasword: is not a key here")
                && err.contains("did you mean \"password\"")
                && !err.contains("sites[a]"),
            "{err}"
        );
        // Keys defaults leaves to the sites are no mistake of defaults.
        let jwt = two_sites(
            &format!(
                "  scim:\n    jwt: {{issuer: \"https://iss.example/\", public_key_files: [\"{}\"]}}\n",
                jwt_key()
            ),
            "    scim:\n      jwt: {audience: [aud-a]}\n",
            "    scim:\n      jwt: {audience: [aud-b]}\n",
        );
        assert!(Settings::from_yaml(&jwt).is_ok());
        // A typo in a site's own entry is the site's.
        let own = two_sites(
            "",
            "    scim: {tokens: [\"a-token-0123456789\"]}\n    deprovison: delete\n",
            "    scim: {tokens: [\"b-token-0123456789\"]}\n",
        );
        let err = Settings::from_yaml(&own).unwrap_err().to_string();
        assert!(
            err.contains("sites[a]") && err.contains("deprovison"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_secret_file_names_its_site_and_key() {
        let yaml = two_sites(
            "",
            "    scim: {tokens: [\"a-token-0123456789\"]}\n",
            "    scim: {token_file: /nonexistent/missing_tok}\n",
        );
        let err = Settings::from_yaml(&yaml).unwrap_err().to_string();
        assert!(
            err.contains(
                "sites[b]: scim.token_file: cannot read secret file /nonexistent/missing_tok"
            ),
            "{err}"
        );
        let pw = MINIMAL.replace(
            "password: \"s3cret-password\"",
            "password_file: /nonexistent/pw",
        );
        let err = Settings::from_yaml(&pw).unwrap_err().to_string();
        assert!(
            err.contains("drupal.auth.password_file: cannot read"),
            "{err}"
        );
    }

    #[test]
    fn bridge_wide_changes_are_named_as_needing_a_restart() {
        let s = Settings::from_yaml(MINIMAL).unwrap();
        assert!(s
            .restart_keys(&Settings::from_yaml(MINIMAL).unwrap())
            .is_empty());
        let changed = Settings::from_yaml(&format!(
            "listen: 127.0.0.1:9999\naudit: {{file: /tmp/x.jsonl}}\nserver: {{max_connections: 5}}\n{MINIMAL}"
        ))
        .unwrap();
        assert_eq!(
            s.restart_keys(&changed),
            ["listen", "server.max_connections", "audit.file"]
        );
    }

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let s = Settings::from_yaml(MINIMAL).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sites[0].drupal.base_url, "https://drupal.example.org");
        assert_eq!(s.sites[0].policy.deprovision, DeprovisionPolicy::Block);
        assert_eq!(
            s.sites[0].policy.protected_roles,
            vec!["administrator".to_string()]
        );
        assert_eq!(s.sites[0].mapping, PathBuf::from("mappings/default.yaml"));
        assert_eq!(
            s.sites[0].policy.unknown_members,
            UnknownMembers::Refuse,
            "a member naming no account refuses the request unless asked otherwise"
        );
        assert!(
            !s.sites[0].dry_run,
            "writes reach Drupal unless asked otherwise"
        );
    }

    fn with_environment(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::build(
            config::File::from_str(MINIMAL, config::FileFormat::Yaml),
            &Sources {
                file: "(test)",
                text: Some(MINIMAL),
            },
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
        assert_eq!(s.sites[0].drupal.base_url, "https://other.example.org");
        assert_eq!(s.sites[0].drupal.auth.account(), "bridge-from-env");
        assert_eq!(s.sites[0].scim.tokens.len(), 2);
        assert_eq!(
            s.sites[0].policy.protected_roles,
            vec!["administrator", "site_admin"]
        );
        assert_eq!(s.sites[0].policy.deprovision, DeprovisionPolicy::Delete);
        assert_eq!(s.listen.to_string(), "0.0.0.0:9090");
    }

    #[test]
    fn unknown_members_is_set_in_defaults_and_overridden_per_site() {
        let yaml = TWO_SITES
            .replace("defaults:\n", "defaults:\n  unknown_members: skip\n")
            .replace(
                "    deprovision: delete\n",
                "    deprovision: delete\n    unknown_members: refuse\n",
            );
        let s = Settings::from_yaml(&yaml).unwrap();
        assert_eq!(
            s.site("physics").unwrap().policy.unknown_members,
            UnknownMembers::Skip
        );
        assert_eq!(
            s.site("chem").unwrap().policy.unknown_members,
            UnknownMembers::Refuse
        );
    }

    #[test]
    fn unknown_members_is_refuse_or_skip_and_nothing_else() {
        let with =
            |value: &str| Settings::from_yaml(&format!("{MINIMAL}unknown_members: {value}\n"));
        assert_eq!(
            with("skip").unwrap().sites[0].policy.unknown_members,
            UnknownMembers::Skip
        );
        assert_eq!(
            with("refuse").unwrap().sites[0].policy.unknown_members,
            UnknownMembers::Refuse
        );
        let err = with("ignore").unwrap_err().to_string();
        assert!(err.contains("ignore") && err.contains("skip"), "{err}");
    }

    /// The shipped examples parse, each key with the value they document
    /// as the default where they set one; their secret files are written
    /// to a temporary directory first.
    /// The systemd unit's variables, over the shipped `sites:` example:
    /// the unit must not set one site's keys at the top level.
    #[test]
    fn the_systemd_unit_s_environment_fits_a_sites_file() {
        let dir = std::env::temp_dir().join(format!("bridge-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "scim_token",
            "drupal_password",
            "physics_scim_token",
            "chemistry_drupal_password",
            "chemistry_scim_token",
        ] {
            std::fs::write(dir.join(name), format!("a-unit-secret-{name}-0123456789\n")).unwrap();
        }
        let secrets = format!("{}/", dir.display());
        let unit = include_str!("../../deploy/systemd/drupal-scim-bridge.service");
        let vars: Vec<(String, String)> = unit
            .lines()
            .filter_map(|line| line.strip_prefix("Environment="))
            .filter_map(|assignment| assignment.split_once('='))
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .map(|(name, value)| (name.to_string(), value.replace("%d/", &secrets)))
            .collect();
        assert!(!vars.is_empty(), "the unit sets the bridge's variables");
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let yaml =
            include_str!("../../deploy/sites.example.yaml").replace("/run/secrets/", &secrets);
        let settings = sites_with_environment(&yaml, &vars);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(settings.unwrap().multi_site);
    }

    #[test]
    fn the_shipped_example_configurations_parse() {
        let dir = std::env::temp_dir().join(format!("bridge-examples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "scim_token",
            "drupal_password",
            "physics_scim_token",
            "chemistry_drupal_password",
            "chemistry_scim_token",
        ] {
            // Each file its own secret: one token may open one site only.
            std::fs::write(
                dir.join(name),
                format!("an-example-secret-{name}-0123456789\n"),
            )
            .unwrap();
        }
        let secrets = format!("{}/", dir.display());
        for (file, text) in [
            (
                "bridge.example.yaml",
                include_str!("../../deploy/bridge.example.yaml"),
            ),
            (
                "sites.example.yaml",
                include_str!("../../deploy/sites.example.yaml"),
            ),
        ] {
            let text = text.replace("/run/secrets/", &secrets);
            let settings = Settings::from_yaml(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            for site in &settings.sites {
                assert_eq!(
                    site.policy.unknown_members,
                    UnknownMembers::Refuse,
                    "{file}"
                );
                assert_eq!(site.policy.group_patch_reads.reads(), 0, "{file}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn group_patch_reads_is_0_by_default_and_bounded() {
        let with =
            |value: &str| Settings::from_yaml(&format!("{MINIMAL}group_patch_reads: {value}\n"));
        let reads = |s: Settings| s.sites[0].policy.group_patch_reads.reads();
        assert_eq!(reads(Settings::from_yaml(MINIMAL).unwrap()), 0);
        assert_eq!(reads(with("1").unwrap()), 1);
        assert_eq!(reads(with("200").unwrap()), 200);
        let err = with("201").unwrap_err().to_string();
        assert!(err.contains("201") && err.contains("at most 200"), "{err}");
        assert!(with("always").is_err());
        assert!(with("-1").is_err());
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
            s.sites[0].drupal.auth,
            DrupalAuth::Session {
                username: "u".into(),
                password: Secret::new("from-file-pw")
            }
        );
        assert_eq!(s.sites[0].scim.tokens.len(), 2);
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
            Settings::from_yaml(&yaml).map(|s| s.sites[0].drupal.ca_certificates.clone())
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
        assert!(Settings::from_yaml(MINIMAL).unwrap().sites[0]
            .drupal
            .ca_certificates
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plain_http_is_flagged_only_towards_another_host() {
        let cleartext = |url: &str| {
            let yaml = MINIMAL.replace("https://drupal.example.org/", url);
            Settings::from_yaml(&yaml).unwrap().sites[0]
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
        assert_eq!(s.sites[0].drupal.auth.mode(), DrupalAuthMode::Session);
        assert_eq!(s.sites[0].drupal.limits, DrupalLimits::default());
        assert_eq!(
            s.sites[0].drupal.limits.concurrency,
            ConcurrencyMode::Adaptive
        );
        assert_eq!(s.sites[0].drupal.limits.max_concurrency, 32);
    }

    #[test]
    fn a_fixed_limit_defaults_to_8_and_an_unknown_mode_is_refused() {
        let fixed = MINIMAL.replace("  auth:\n", "  concurrency: fixed\n  auth:\n");
        let s = Settings::from_yaml(&fixed).unwrap();
        assert_eq!(s.sites[0].drupal.limits.concurrency, ConcurrencyMode::Fixed);
        assert_eq!(s.sites[0].drupal.limits.max_concurrency, 8);
        let bounded = MINIMAL.replace(
            "  auth:\n",
            "  concurrency: adaptive\n  max_concurrency: 12\n  auth:\n",
        );
        assert_eq!(
            Settings::from_yaml(&bounded).unwrap().sites[0]
                .drupal
                .limits
                .max_concurrency,
            12
        );
        let unknown = MINIMAL.replace("  auth:\n", "  concurrency: gradient\n  auth:\n");
        let error = Settings::from_yaml(&unknown).unwrap_err().to_string();
        assert!(
            error.contains("adaptive") && error.contains("fixed"),
            "{error}"
        );
    }

    #[test]
    fn oauth2_takes_a_client_and_refuses_a_password() {
        let oauth = MINIMAL.replace(
            "    username: scim-bridge\n    password: \"s3cret-password\"\n",
            "    mode: oauth2\n    client_id: bridge\n    client_secret: oauth-secret\n",
        );
        let s = Settings::from_yaml(&oauth).unwrap();
        assert_eq!(
            s.sites[0].drupal.auth,
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
        assert_eq!(s.sites[0].drupal.limits.max_concurrency, 2);
        assert_eq!(s.sites[0].drupal.limits.queue_limit, 5);
        assert_eq!(s.sites[0].drupal.limits.retries, 0);
        assert_eq!(s.sites[0].drupal.limits.breaker_failures, 3);
        assert_eq!(
            s.sites[0].drupal.limits.breaker_open,
            Duration::from_secs(7)
        );
        let zero = MINIMAL.replace("  auth:\n", "  max_concurrency: 0\n  auth:\n");
        assert!(Settings::from_yaml(&zero).is_err());
    }

    #[test]
    fn delete_policy_is_parsed() {
        let yaml = format!("{MINIMAL}deprovision: delete\n");
        let s = Settings::from_yaml(&yaml).unwrap();
        assert_eq!(s.sites[0].policy.deprovision, DeprovisionPolicy::Delete);
        let bad = format!("{MINIMAL}deprovision: shred\n");
        assert!(Settings::from_yaml(&bad).is_err());
    }

    const TWO_SITES: &str = r#"
listen: 127.0.0.1:9000
defaults:
  mapping: mappings/shared.yaml
  scim:
    public_url: https://scim.example.org/sites/{site}/scim/v2
  drupal:
    timeout_secs: 4
    auth:
      username: scim-bridge
      password: "shared-password-1"
sites:
  - id: physics
    drupal:
      base_url: https://physics.example.org
    scim:
      tokens: ["physics-token-0123456789"]
  - id: chem
    mapping: mappings/chem.yaml
    deprovision: delete
    drupal:
      base_url: https://chem.example.org
      auth:
        password: "chem-password-1"
    scim:
      clients:
        - name: okta
          token_sha256: f54bcd5121e1f2d396484aa3fa36a67cd009af3e3b66d42f0fc753005661b972
          read_only: true
"#;

    #[test]
    fn sites_take_their_defaults_and_override_them() {
        let s = Settings::from_yaml(TWO_SITES).unwrap();
        assert!(s.multi_site);
        assert_eq!(s.listen.to_string(), "127.0.0.1:9000");
        let ids: Vec<&str> = s.sites.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["physics", "chem"]);
        let physics = s.site("physics").unwrap();
        let chem = s.site("chem").unwrap();
        assert_eq!(physics.mapping, PathBuf::from("mappings/shared.yaml"));
        assert_eq!(chem.mapping, PathBuf::from("mappings/chem.yaml"));
        assert_eq!(physics.drupal.timeout, Duration::from_secs(4));
        assert_eq!(chem.drupal.auth.account(), "scim-bridge");
        assert_eq!(
            chem.drupal.auth,
            DrupalAuth::Session {
                username: "scim-bridge".into(),
                password: Secret::new("chem-password-1")
            }
        );
        assert_eq!(physics.policy.deprovision, DeprovisionPolicy::Block);
        assert_eq!(chem.policy.deprovision, DeprovisionPolicy::Delete);
        assert_eq!(chem.scim.clients[0].name, "okta");
        assert!(chem.scim.clients[0].read_only);
        assert!(matches!(
            chem.scim.clients[0].credential,
            ClientCredential::Sha256(_)
        ));
        assert!(!format!("{s:?}").contains("shared-password-1"));
        assert!(physics.same_as(&physics.clone()));
        assert!(!physics.same_as(chem));
    }

    #[test]
    fn a_file_without_sites_is_the_default_site() {
        let s = Settings::from_yaml(MINIMAL).unwrap();
        assert!(!s.multi_site);
        assert_eq!(s.sites.len(), 1);
        assert_eq!(s.sites[0].id, DEFAULT_SITE);
    }

    #[test]
    fn with_sites_the_top_level_holds_no_site_settings() {
        let yaml = format!("{TWO_SITES}deprovision: delete\n");
        let err = Settings::from_yaml(&yaml).unwrap_err().to_string();
        assert!(
            err.contains("deprovision") && err.contains("defaults"),
            "{err}"
        );
        let yaml = format!("{MINIMAL}defaults:\n  mapping: x.yaml\n");
        let err = Settings::from_yaml(&yaml).unwrap_err().to_string();
        assert!(err.contains("without sites:"), "{err}");
    }

    #[test]
    fn an_invalid_site_is_named_and_a_reload_keeps_the_others() {
        let broken = TWO_SITES.replace("https://chem.example.org", "ftp://chem");
        let err = Settings::from_yaml(&broken).unwrap_err().to_string();
        assert!(err.contains("sites[chem]"), "{err}");
        let unknown = TWO_SITES.replace("    deprovision: delete", "    deprovison: delete");
        let err = Settings::from_yaml(&unknown).unwrap_err().to_string();
        assert!(
            err.contains("sites[chem]") && err.contains("deprovison"),
            "{err}"
        );

        let dir =
            std::env::temp_dir().join(format!("scim-bridge-sites-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bridge.yaml");
        std::fs::write(&path, &broken).unwrap();
        let reloaded = Settings::load_for_reload(&path).unwrap();
        assert_eq!(reloaded.settings.sites.len(), 1);
        assert_eq!(reloaded.settings.sites[0].id, "physics");
        assert_eq!(reloaded.invalid.len(), 1);
        assert_eq!(reloaded.invalid[0].0, "chem");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn named_clients_need_one_credential_and_their_own_name_and_token() {
        let with_clients = |clients: &str| {
            let yaml = MINIMAL.replace(
                "  tokens: [\"0123456789abcdef-token\"]\n",
                &format!("  tokens: [\"0123456789abcdef-token\"]\n  clients:\n{clients}"),
            );
            Settings::from_yaml(&yaml).map_err(|e| e.to_string())
        };
        let ok = with_clients("    - name: okta\n      token: okta-token-0123456789\n").unwrap();
        assert_eq!(ok.sites[0].scim.clients[0].name, "okta");
        assert!(!ok.sites[0].scim.clients[0].read_only);
        let err = with_clients("    - name: okta\n").unwrap_err();
        assert!(err.contains("exactly one of"), "{err}");
        let err = with_clients(
            "    - name: okta\n      token: okta-token-0123456789\n      token_sha256: abc\n",
        )
        .unwrap_err();
        assert!(err.contains("exactly one of"), "{err}");
        let err = with_clients("    - name: okta\n      token_sha256: abc\n").unwrap_err();
        assert!(err.contains("64 hexadecimal"), "{err}");
        let err =
            with_clients("    - name: default\n      token: other-token-0123456789\n").unwrap_err();
        assert!(err.contains("used twice"), "{err}");
        let err =
            with_clients("    - name: okta\n      token: 0123456789abcdef-token\n").unwrap_err();
        assert!(err.contains("its own token"), "{err}");
        assert!(!err.contains("0123456789abcdef-token"), "{err}");
        let err =
            with_clients("    - name: none\n      token: other-token-0123456789\n").unwrap_err();
        assert!(err.contains("\"none\" is reserved"), "{err}");
        let err = with_clients("    - name: okta\n      token: short\n").unwrap_err();
        assert!(err.contains("16"), "{err}");
        let err = with_clients("    - name: \"bad name\"\n      token: okta-token-0123456789\n")
            .unwrap_err();
        assert!(err.contains("letters"), "{err}");
    }
}
