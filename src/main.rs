//! drupal-scim-bridge: a SCIM 2.0 server in front of a Drupal site.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser, Subcommand};
use rand::distributions::{Alphanumeric, DistString};
use tracing::Instrument;

use drupal_scim_bridge::check;
use drupal_scim_bridge::config::{Settings, CLEARTEXT_JWKS_WARNING, CLEARTEXT_WARNING};
use drupal_scim_bridge::demo;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::preview::Preview;
use drupal_scim_bridge::reload;
use drupal_scim_bridge::site_reload::SitesReloader;
use drupal_scim_bridge::standin::{StandIn, StandInConfig};
use drupal_scim_bridge::startup::{check_drupal_credentials, check_groups, Application};
use drupal_scim_bridge::telemetry::{self, LogFormat};

/// mimalloc (v3) instead of the system allocator. A GET by id allocates and
/// frees some hundreds of small blocks (Drupal's JSON, the SCIM resource, the
/// two HTTP stacks' buffers): with glibc, malloc/free/realloc were about a
/// fifth of the bridge's instructions per request, and mimalloc cuts the
/// request from about 246,000 to 210,000 instructions (docs/PERFORMANCE.md,
/// "Instructions per GET by id"). Built with `no_thp`: by default mimalloc
/// asks the kernel for transparent huge pages on its arena, which made every
/// touched 2 MiB of it resident (about 25 MB more RSS from the start, 57-71 MB
/// peak under the list scenario against the 50 MB target); without them its
/// peak RSS is within a few MB of glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EXIT_CODES: &str = "\
Exit status:
  0  success (for check: no errors; warnings allowed)
  1  failure: the bridge could not start or stopped on an error, check found
     an error, or map was given an invalid mapping or user
  2  wrong usage: unknown command or option, missing argument";

const SERVE_HELP: &str = "\
Examples:
  drupal-scim-bridge serve --config /etc/scim-bridge/bridge.yaml
  drupal-scim-bridge serve --config bridge.yaml --dry-run --log-format json

Reloading the mapping: send SIGHUP (systemctl reload, kill -HUP <pid>), or
just save the mapping file: it is looked at every 2 seconds. A new mapping
is checked first; an invalid one is logged and the running one kept.

Exit status:
  0  stopped by SIGINT or SIGTERM after finishing in-flight requests
  1  could not start (configuration, mapping, address in use) or failed
  2  wrong usage";

const CHECK_HELP: &str = "\
Offline it validates the configuration and the mapping. Online it checks,
without changing anything on the site: Drupal is reachable; it accepts the
bridge's account (wrong credentials make Drupal answer as anonymous, not
401); JSON:API accepts writes; every custom field the mapping writes exists
on the user entity with a fitting type; every role the mapping uses and
every protected role exists. One line per finding, each saying what to do.
With sites:, every site is checked (its findings start with `site <id>:`),
or only the one --site names.

It also warns when the bridge's account holds more than it needs (uid 1,
the administrator role, bypass or administer site configuration). With
--fix-script it prints, instead, one shell script of the drush commands that
fix each error and warning (enable modules, allow JSON:API writes, create
fields and roles, a least-privileged role for the bridge); review it, then
run it in the Drupal site's root. Every drush command names its site
(--uri=<base_url>), so in a multisite it changes that site, not the default
one; with sites: and no --site, one script holds a part per site.

Examples:
  drupal-scim-bridge check --config /etc/scim-bridge/bridge.yaml
  drupal-scim-bridge check --config bridge.yaml --site physics
  drupal-scim-bridge check --config bridge.yaml --fix-script > fix-site.sh
  SCIM_BRIDGE__MAPPING=mappings/okta.yaml drupal-scim-bridge check --config bridge.yaml

Exit status:
  0  no errors (warnings may be listed)
  1  at least one error
  2  wrong usage";

const MAP_HELP: &str = "\
Reads one user as JSON on standard input and prints what the mapping makes
of it, computed exactly as the bridge does, touching no server:
  - without --reverse: a SCIM user, as an IdP POSTs it, becomes the Drupal
    JSON:API document the bridge sends to create the account; a SCIM group
    (POST /Groups) shows the kind of group it becomes (a term or a role),
    the term document that creates it and the roles its members get;
  - with --reverse: a Drupal JSON:API user (GET /jsonapi/user/user/<uuid>)
    becomes the SCIM user the IdP reads back.

Examples:
  drupal-scim-bridge map --mapping mappings/okta.yaml < okta-user.json
  drupal-scim-bridge map --config bridge.yaml --site physics < okta-user.json
  curl -su admin https://drupal.example.org/jsonapi/user/user/<uuid> \\
    | drupal-scim-bridge map --mapping mappings/okta.yaml --reverse

Exit status:
  0  converted; the result is on standard output
  1  the mapping or the input is invalid; the reason is on standard error
  2  wrong usage";

#[derive(Parser)]
#[command(
    name = "drupal-scim-bridge",
    version,
    about = "Provision Drupal users and roles from an identity provider over SCIM 2.0",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Log output: `text` for people, `json` for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve SCIM in front of a real Drupal site.
    #[command(after_help = SERVE_HELP)]
    Serve {
        /// The bridge's YAML configuration (see deploy/bridge.example.yaml).
        #[arg(long)]
        config: PathBuf,
        /// Log every Drupal write in full (passwords redacted) instead of
        /// sending it; reads still reach Drupal. For trying a new mapping.
        #[arg(long)]
        dry_run: bool,
    },
    /// Try the bridge at once: starts it with a built-in Drupal stand-in.
    #[command(after_help = "\
Examples:
  drupal-scim-bridge demo --token my-long-demo-token-123
  drupal-scim-bridge demo --sites 2    # two stand-in sites behind one bridge

Exit status: 0 when stopped with Ctrl-C, 1 when it cannot start, 2 wrong usage.")]
    Demo {
        /// Where the SCIM API listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the Drupal stand-in listens.
        #[arg(long, default_value = "127.0.0.1:8081")]
        drupal_listen: SocketAddr,
        /// The SCIM bearer token (at least 16 characters); random if not given.
        #[arg(long)]
        token: Option<String>,
        /// Password of the stand-in's `admin` account.
        #[arg(long, default_value = "admin")]
        drupal_password: String,
        /// Delay the stand-in adds to every request, in milliseconds, to try
        /// the bridge against a site as slow as a real one (about 25-100 ms).
        #[arg(long, default_value_t = 0)]
        drupal_latency_ms: u64,
        /// Serve this many stand-in sites (`sites:`), each at
        /// /sites/site<N>/scim/v2 with its own random token (with --token,
        /// `<token>-site<N>`, easy to script but derived from one another);
        /// their stand-ins listen on --drupal-listen's port and the ports
        /// after it.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=50))]
        sites: Option<u16>,
        /// Also serve /metrics and the status page (/status) here.
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Put the demo's configuration in front of this existing Drupal
        /// site instead of the stand-in (prepared as `check` asks, with
        /// the scim_groups vocabulary); the account is --drupal-user with
        /// --drupal-password.
        #[arg(long, conflicts_with_all = ["sites", "drupal_latency_ms"])]
        drupal_url: Option<String>,
        /// The Drupal account the bridge signs in with.
        #[arg(long, default_value = "admin", requires = "drupal_url")]
        drupal_user: String,
    },
    /// Check the configuration, the mapping and the Drupal site before serving.
    #[command(after_help = CHECK_HELP)]
    Check {
        /// The bridge's YAML configuration; its `mapping` is checked too.
        #[arg(long)]
        config: PathBuf,
        /// Check only this site of the configuration's `sites:` (default: every site).
        #[arg(long)]
        site: Option<String>,
        /// Print, instead of the findings, a shell script of the drush
        /// commands that fix them, to review and run on the Drupal host.
        #[arg(long)]
        fix_script: bool,
    },
    /// Show what a mapping makes of one user or group (SCIM -> Drupal, or back).
    // One of --mapping and --config, not both: a usage error names both.
    #[command(
        after_help = MAP_HELP,
        group(ArgGroup::new("mapping_source").required(true).args(["mapping", "config"]))
    )]
    Map {
        /// The mapping file.
        #[arg(long)]
        mapping: Option<PathBuf>,
        /// Instead of --mapping: the mapping of a site of this configuration.
        #[arg(long)]
        config: Option<PathBuf>,
        /// With --config: the site of its `sites:` whose mapping to use.
        #[arg(long, requires = "config")]
        site: Option<String>,
        /// Convert a Drupal JSON:API user to SCIM instead.
        #[arg(long)]
        reverse: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The operator's commands print everything they found; the Drupal
    // client's own logs (the 404 of check's write probe, a refused login)
    // would only repeat it.
    let default_level = match cli.command {
        Command::Serve { .. } | Command::Demo { .. } => "info",
        Command::Check { .. } | Command::Map { .. } => "off",
    };
    if let Err(e) = telemetry::init(cli.log_format, telemetry::stderr(), default_level) {
        eprintln!("cannot start logging: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config, dry_run } => logged(serve(&config, dry_run).await),
            Command::Demo {
                listen,
                drupal_listen,
                token,
                drupal_password,
                drupal_latency_ms,
                sites,
                metrics_listen,
                drupal_url,
                drupal_user,
            } => {
                let latency = Duration::from_millis(drupal_latency_ms);
                match (sites, drupal_url) {
                    (None, Some(drupal_url)) => logged(
                        run_demo_in_front_of(ExistingSite {
                            listen,
                            token,
                            drupal_url,
                            drupal_user,
                            drupal_password,
                            metrics_listen,
                        })
                        .await,
                    ),
                    (None, None) => logged(
                        run_demo(DemoOptions {
                            listen,
                            drupal_listen,
                            token,
                            drupal_password,
                            drupal_latency: latency,
                            metrics_listen,
                        })
                        .await,
                    ),
                    (Some(count), _) => logged(
                        run_demo_sites(
                            listen,
                            drupal_listen,
                            count,
                            token,
                            drupal_password,
                            latency,
                            metrics_listen,
                        )
                        .await,
                    ),
                }
            }
            Command::Check {
                config,
                site,
                fix_script,
            } => Ok(run_check(&config, site.as_deref(), fix_script).await),
            Command::Map {
                mapping,
                config,
                site,
                reverse,
            } => mapping_file(mapping, config, site).and_then(|mapping| map(&mapping, reverse)),
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The server's failure also goes to the log, where its operators look.
fn logged(result: Result<(), String>) -> Result<ExitCode, String> {
    result
        .inspect_err(|message| tracing::error!("{message}"))
        .map(|()| ExitCode::SUCCESS)
}

async fn serve(config: &Path, dry_run: bool) -> Result<(), String> {
    let mut settings = Settings::load(config).map_err(|e| e.to_string())?;
    if dry_run {
        settings.force_dry_run();
    }
    let app = Application::build_from_files(&settings).map_err(|e| e.to_string())?;
    let registry = app.sites();
    for site in &settings.sites {
        if site.drupal.is_cleartext_to_another_host() {
            let (message, fix) = CLEARTEXT_WARNING;
            tracing::warn!(
                site = site.id,
                drupal = site.drupal.base_url,
                "{message}; {fix}"
            );
        }
        for (place, url) in site.scim.cleartext_jwks_urls() {
            let (message, fix) = CLEARTEXT_JWKS_WARNING;
            tracing::warn!(site = site.id, jwks_url = url, "{place} {message}; {fix}");
        }
        let Some(state) = registry.get(&site.id) else {
            continue;
        };
        let site_id = site.id.clone();
        // The server's own client: a check that logs in does so for the server.
        tokio::spawn(
            async move {
                let provisioner = state.provisioner.clone();
                check_drupal_credentials(provisioner.drupal()).await;
                check_groups(&provisioner).await;
            }
            .instrument(tracing::info_span!("site_check", site = site_id)),
        );
    }
    let reloader = SitesReloader::new(config.to_path_buf(), &settings, registry, dry_run)
        .reporting_to(app.metrics(), app.audit());
    if let Some(addr) = settings.metrics.listen {
        tracing::info!(listen = %addr, "serving /metrics, /status, /healthz and /readyz");
    }
    tokio::spawn(reloader.watch(reload::POLL_INTERVAL));
    if settings.multi_site {
        tracing::info!(listen = %settings.listen, sites = settings.sites.len(), "serving SCIM at /sites/<id>/scim/v2");
    } else {
        let drupal = settings
            .sites
            .first()
            .map(|s| s.drupal.base_url.as_str())
            .unwrap_or_default();
        tracing::info!(listen = %settings.listen, drupal, "serving SCIM at /scim/v2");
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn run_check(config: &Path, site: Option<&str>, fix_script: bool) -> ExitCode {
    let report = check::run(config, site).await;
    let code = if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if fix_script {
        if let Err(e) = to_stdout(&report.fix_script()) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        // The script usually goes to a file: say on the terminal why it
        // fixes nothing.
        if !report.checked_a_site() {
            for finding in report
                .findings
                .iter()
                .filter(|f| f.severity == check::Severity::Error)
            {
                eprintln!("{finding}");
            }
        }
    } else {
        let mut text = String::new();
        for finding in &report.findings {
            text.push_str(&format!("{finding}\n"));
        }
        text.push_str(&format!("{}\n", report.summary()));
        if let Err(e) = to_stdout(&text) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    code
}

/// Writes `text` to standard output, through its lock. A reader that went
/// away (`check ... | head -1`) is no failure: the command has nothing
/// more to say to it, and exits as it would have (`println!` would panic,
/// with status 101). Any other failure to write is one.
fn to_stdout(text: &str) -> Result<(), String> {
    match write_stdout(text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// The demo's banner. A closed standard output does not stop the demo,
/// which serves until stopped; the log says the banner, with its URL and
/// token, was not shown.
fn show_banner(banner: &str) {
    if let Err(e) = write_stdout(&format!("{banner}\n")) {
        tracing::warn!("the banner (URL and token) could not be shown on standard output: {e}");
    }
}

/// `--mapping`, or the mapping of `--site` (or the only site) of `--config`.
fn mapping_file(
    mapping: Option<PathBuf>,
    config: Option<PathBuf>,
    site: Option<String>,
) -> Result<PathBuf, String> {
    if let Some(mapping) = mapping {
        return Ok(mapping);
    }
    let Some(config) = config else {
        return Err("name a mapping with --mapping, or a configuration with --config".into());
    };
    let settings = Settings::load(&config).map_err(|e| e.to_string())?;
    let ids = || {
        settings
            .sites
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match (&site, settings.sites.as_slice()) {
        (Some(id), _) => settings.site(id).ok_or_else(|| {
            format!(
                "{} has no site {id:?}; its sites: {}",
                config.display(),
                ids()
            )
        })?,
        (None, [only]) => only,
        (None, _) => {
            return Err(format!(
                "{} serves several sites; name one with --site ({})",
                config.display(),
                ids()
            ))
        }
    };
    Ok(chosen.mapping.clone())
}

fn map(mapping: &Path, reverse: bool) -> Result<ExitCode, String> {
    let mapping = Mapping::load_file(mapping).map_err(|e| e.to_string())?;
    let preview = Preview::new(mapping).map_err(|e| e.to_string())?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    let output = if reverse {
        preview.to_scim(&input)
    } else {
        preview.to_drupal(&input)
    }
    .map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(&output).map_err(|e| e.to_string())?;
    to_stdout(&format!("{text}\n"))?;
    Ok(ExitCode::SUCCESS)
}

struct DemoOptions {
    listen: SocketAddr,
    drupal_listen: SocketAddr,
    token: Option<String>,
    drupal_password: String,
    drupal_latency: Duration,
    metrics_listen: Option<SocketAddr>,
}

/// `demo --drupal-url`: the demo's configuration, an existing site.
struct ExistingSite {
    listen: SocketAddr,
    token: Option<String>,
    drupal_url: String,
    drupal_user: String,
    drupal_password: String,
    metrics_listen: Option<SocketAddr>,
}

async fn run_demo_in_front_of(site: ExistingSite) -> Result<(), String> {
    let token = demo_token(site.token);
    let settings = demo::settings(
        site.listen,
        &site.drupal_url,
        &token,
        demo::Account {
            name: &site.drupal_user,
            password: &site.drupal_password,
        },
        site.metrics_listen,
    )
    .map_err(|e| e.to_string())?;
    let banner = demo::site_banner(&settings, &site.drupal_url, &token, &site.drupal_user);
    serve_demo(&settings, &banner).await
}

/// The token `demo` was given, or a random one.
fn demo_token(token: Option<String>) -> String {
    token.unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 32))
}

/// Serves the demo's mapping with `settings` until stopped, after
/// printing `banner`; the groups are checked in the background.
async fn serve_demo(settings: &Settings, banner: &str) -> Result<(), String> {
    let mapping = demo::mapping().map_err(|e| e.to_string())?;
    let app = Application::build(settings, mapping).map_err(|e| e.to_string())?;
    let provisioner = app.provisioner();
    tokio::spawn(async move { check_groups(&provisioner).await });
    show_banner(banner);
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn run_demo(options: DemoOptions) -> Result<(), String> {
    let DemoOptions {
        listen,
        drupal_listen,
        token,
        drupal_password,
        drupal_latency,
        metrics_listen,
    } = options;
    let token = demo_token(token);
    let drupal_listener = TcpListener::bind(drupal_listen)
        .map_err(|e| format!("cannot listen on {drupal_listen} for the Drupal stand-in: {e}"))?;
    let standin = StandIn::start(StandInConfig::demo(&drupal_password), drupal_listener)
        .map_err(|e| format!("cannot start the Drupal stand-in: {e}"))?;
    standin.handle().set_latency(drupal_latency);
    let settings = demo::settings(
        listen,
        &standin.base_url(),
        &token,
        demo::Account {
            name: "admin",
            password: &drupal_password,
        },
        metrics_listen,
    )
    .map_err(|e| e.to_string())?;
    let banner = demo::banner(&settings, &standin.base_url(), &token, &drupal_password);
    serve_demo(&settings, &banner).await
}

/// `demo --sites N`: N stand-in sites behind one bridge.
async fn run_demo_sites(
    listen: SocketAddr,
    drupal_listen: SocketAddr,
    count: u16,
    token: Option<String>,
    drupal_password: String,
    drupal_latency: Duration,
    metrics_listen: Option<SocketAddr>,
) -> Result<(), String> {
    let mut standins = Vec::new();
    let mut sites = Vec::new();
    for n in 1..=count {
        let mut addr = drupal_listen;
        addr.set_port(drupal_listen.port().saturating_add(n - 1));
        let listener = TcpListener::bind(addr)
            .map_err(|e| format!("cannot listen on {addr} for a Drupal stand-in: {e}"))?;
        let standin = StandIn::start(StandInConfig::demo(&drupal_password), listener)
            .map_err(|e| format!("cannot start a Drupal stand-in: {e}"))?;
        standin.handle().set_latency(drupal_latency);
        sites.push(demo::DemoSite {
            id: format!("site{n}"),
            drupal_url: standin.base_url(),
            // Drawn for each site: a token of one site tells nothing of
            // another's, as the isolation of sites promises.
            token: match &token {
                Some(token) => format!("{token}-site{n}"),
                None => demo_token(None),
            },
        });
        standins.push(standin);
    }
    let settings = demo::sites_settings(listen, &sites, &drupal_password, metrics_listen)
        .map_err(|e| e.to_string())?;
    let mapping = demo::mapping().map_err(|e| e.to_string())?;
    let app = Application::build(&settings, mapping).map_err(|e| e.to_string())?;
    let registry = app.sites();
    for id in registry.ids() {
        if let Some(state) = registry.get(&id) {
            tokio::spawn(
                async move { check_groups(&state.provisioner).await }
                    .instrument(tracing::info_span!("site_check", site = &*id)),
            );
        }
    }
    show_banner(&demo::sites_banner(&settings, &sites, &drupal_password));
    let served = app.run_until_stopped().await.map_err(|e| e.to_string());
    drop(standins);
    served
}
