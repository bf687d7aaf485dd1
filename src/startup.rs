//! Builds the application from settings: one Drupal client, the
//! provisioning service, the actix server. Port 0 works, for tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App};

use crate::config::Settings;
use crate::drupal::{DrupalClient, DrupalError};
use crate::http::jwt::{JwtError, JwtVerifier};
use crate::http::{self, AppState};
use crate::mapping::Mapping;
use crate::provisioning::Provisioner;
use crate::scim::schema::SchemaError;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up the Drupal client: {0}")]
    Drupal(#[from] DrupalError),
    #[error("scim.jwt: {0}")]
    Jwt(#[from] JwtError),
    #[error("the mapping's schemas do not fit the built-in ones: {0}")]
    Schemas(#[from] SchemaError),
}

pub struct Application {
    port: u16,
    server: Server,
    provisioner: Arc<Provisioner>,
}

impl Application {
    /// Binds `settings.listen` and prepares the server (not yet running).
    pub fn build(settings: &Settings, mapping: Mapping) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(settings.listen).map_err(|source| StartupError::Bind {
            addr: settings.listen.to_string(),
            source,
        })?;
        Self::with_listener(settings, mapping, listener)
    }

    pub fn with_listener(
        settings: &Settings,
        mapping: Mapping,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen.to_string(),
            source,
        })?;
        let drupal = DrupalClient::new((&settings.drupal).into())?.with_dry_run(settings.dry_run);
        if settings.dry_run {
            tracing::warn!(
                "dry run: every Drupal write is logged and not sent; reads go to Drupal"
            );
        }
        let provisioner = Arc::new(Provisioner::new(
            drupal,
            Arc::new(mapping),
            settings.policy.clone(),
        )?);
        let jwt = settings
            .scim
            .jwt
            .as_ref()
            .map(JwtVerifier::new)
            .transpose()?;
        let state = web::Data::new(AppState {
            provisioner: provisioner.clone(),
            tokens: settings.scim.tokens.clone(),
            jwt,
            public_base: http::PublicBase {
                public_url: settings.scim.public_url.clone(),
                trusted_proxies: settings.scim.trusted_proxies.clone(),
                listen: addr.to_string(),
            },
        });
        let max_body = settings.scim.max_body_bytes;
        let deadline = web::Data::new(http::BodyDeadline(settings.server.body_timeout));
        let server = http::scim_port::serve(listener, &settings.server, move || {
            App::new()
                .wrap(middleware::from_fn(http::body_deadline))
                .wrap(middleware::from_fn(http::log_requests))
                .app_data(state.clone())
                .app_data(deadline.clone())
                .configure(|cfg| http::configure(cfg, max_body))
        })
        .map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        Ok(Application {
            port: addr.port(),
            server,
            provisioner,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The service behind the routes: for start-up checks, and for swapping
    /// its mapping on reload.
    pub fn provisioner(&self) -> Arc<Provisioner> {
        self.provisioner.clone()
    }

    /// Stops the server gracefully (in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT / SIGTERM (actix finishes in-flight requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Logs loudly when Drupal does not accept the bridge's account. Drupal
/// answers wrong credentials as if the caller were anonymous, so this is the
/// only early sign.
pub async fn check_drupal_credentials(client: &DrupalClient) {
    match client.whoami().await {
        Ok(Some(_)) => tracing::info!(drupal = client.base_url(), "Drupal accepts the bridge's account"),
        Ok(None) => tracing::error!(
            drupal = client.base_url(),
            "Drupal does not accept the bridge's credentials (requests run as anonymous): check drupal.auth; after 5 failed logins Drupal blocks the account for 6 hours"
        ),
        Err(e) => tracing::warn!(drupal = client.base_url(), error = %e, "cannot check the bridge's Drupal credentials now"),
    }
}

/// Reads Drupal's roles once at start-up, so that what is wrong with the
/// mapping's groups (a role missing in Drupal, a protected role refused or
/// exposed on purpose, no permission to list roles) is logged before the
/// first identity provider request, not during it.
pub async fn check_groups(provisioner: &Provisioner) {
    if let Err(e) = provisioner.check_groups().await {
        tracing::warn!(error = %e, "cannot read Drupal's roles now; the SCIM groups are checked again on the first request that needs them");
    }
}
