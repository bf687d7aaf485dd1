//! drupal-scim-bridge: a SCIM 2.0 server in front of a Drupal site.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rand::distributions::{Alphanumeric, DistString};

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::demo;
use drupal_scim_bridge::drupal::DrupalClient;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::standin::{StandIn, StandInConfig};
use drupal_scim_bridge::startup::{check_drupal_credentials, check_groups, Application};
use drupal_scim_bridge::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(
    name = "drupal-scim-bridge",
    version,
    about = "Provision Drupal users and roles from an identity provider over SCIM 2.0"
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
    ///
    /// Example: drupal-scim-bridge serve --config /etc/scim-bridge/bridge.yaml
    Serve {
        /// The bridge's YAML configuration (see deploy/bridge.example.yaml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Try the bridge at once: starts it with a built-in Drupal stand-in.
    ///
    /// Example: drupal-scim-bridge demo --token my-long-demo-token-123
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = telemetry::init(cli.log_format, telemetry::stderr()) {
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
            Command::Serve { config } => serve(config).await,
            Command::Demo {
                listen,
                drupal_listen,
                token,
                drupal_password,
            } => run_demo(listen, drupal_listen, token, drupal_password).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: PathBuf) -> Result<(), String> {
    let settings = Settings::load(&config).map_err(|e| e.to_string())?;
    let mapping = Mapping::load_file(&settings.mapping).map_err(|e| e.to_string())?;
    let app = Application::build(&settings, mapping).map_err(|e| e.to_string())?;
    let client = DrupalClient::new((&settings.drupal).into()).map_err(|e| e.to_string())?;
    let provisioner = app.provisioner();
    tokio::spawn(async move {
        check_drupal_credentials(&client).await;
        check_groups(&provisioner).await;
    });
    tracing::info!(listen = %settings.listen, drupal = settings.drupal.base_url, "serving SCIM at /scim/v2");
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

async fn run_demo(
    listen: SocketAddr,
    drupal_listen: SocketAddr,
    token: Option<String>,
    drupal_password: String,
) -> Result<(), String> {
    let token = token.unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::thread_rng(), 32));
    let drupal_listener = TcpListener::bind(drupal_listen)
        .map_err(|e| format!("cannot listen on {drupal_listen} for the Drupal stand-in: {e}"))?;
    let standin = StandIn::start(StandInConfig::demo(&drupal_password), drupal_listener)
        .map_err(|e| format!("cannot start the Drupal stand-in: {e}"))?;
    let settings = demo::settings(listen, &standin.base_url(), &token, &drupal_password)
        .map_err(|e| e.to_string())?;
    let mapping = demo::mapping().map_err(|e| e.to_string())?;
    let app = Application::build(&settings, mapping).map_err(|e| e.to_string())?;
    let provisioner = app.provisioner();
    tokio::spawn(async move { check_groups(&provisioner).await });
    println!(
        "{}",
        demo::banner(&settings, &standin.base_url(), &token, &drupal_password)
    );
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
