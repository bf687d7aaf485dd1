//! Builds the application from settings: every site (`crate::sites`), the
//! registry that holds them, the bridge's metrics, audit trail and
//! readiness, the SCIM server and the operator's listener. Port 0 works,
//! for tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{middleware, web, App, HttpServer};

use crate::audit::{AuditFileError, AuditTrail};
use crate::config::Settings;
use crate::drupal::DrupalClient;
use crate::health::Readiness;
use crate::http::site::SiteRegistry;
use crate::http::{self, AppState};
use crate::mapping::Mapping;
use crate::metrics::Metrics;
use crate::monitor::{self, Monitor};
use crate::provisioning::Provisioner;
use crate::sites::{self, SiteError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("site {id}: {source}")]
    Site {
        id: String,
        #[source]
        source: SiteError,
    },
    #[error(transparent)]
    Audit(#[from] AuditFileError),
}

pub struct Application {
    port: u16,
    server: Server,
    provisioner: Arc<Provisioner>,
    sites: Arc<SiteRegistry>,
    metrics: Arc<Metrics>,
    audit: Arc<AuditTrail>,
    /// The operator's listener (`metrics.listen`), when configured.
    monitor: Option<(u16, Server)>,
}

impl Application {
    /// Binds `settings.listen` and prepares the server (not yet running),
    /// every site with this mapping.
    pub fn build(settings: &Settings, mapping: Mapping) -> Result<Application, StartupError> {
        Self::with_listener(settings, mapping, Self::bind(settings)?)
    }

    /// Binds `settings.listen` and prepares the server (not yet running),
    /// each site with the mapping its `mapping:` file holds.
    pub fn build_from_files(settings: &Settings) -> Result<Application, StartupError> {
        Self::with_mapping_files(settings, Self::bind(settings)?)
    }

    fn bind(settings: &Settings) -> Result<TcpListener, StartupError> {
        TcpListener::bind(settings.listen).map_err(|source| StartupError::Bind {
            addr: settings.listen.to_string(),
            source,
        })
    }

    /// Every site with the mapping its `mapping:` file holds.
    pub fn with_mapping_files(
        settings: &Settings,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let sites = settings
            .sites
            .iter()
            .map(|site| {
                sites::load(site, settings.multi_site).map_err(|source| StartupError::Site {
                    id: site.id.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::serve(settings, sites, listener)
    }

    /// Every site with this mapping (for the demo and the tests).
    pub fn with_listener(
        settings: &Settings,
        mapping: Mapping,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let sites = settings
            .sites
            .iter()
            .map(|site| {
                sites::build(site, mapping.clone(), settings.multi_site).map_err(|source| {
                    StartupError::Site {
                        id: site.id.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::serve(settings, sites, listener)
    }

    fn serve(
        settings: &Settings,
        sites: Vec<AppState>,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen.to_string(),
            source,
        })?;
        let sites: Vec<Arc<AppState>> = sites.into_iter().map(Arc::new).collect();
        let max_body = sites.iter().map(|s| s.max_body_bytes).max().unwrap_or(0);
        let Some(provisioner) = sites.first().map(|s| s.provisioner.clone()) else {
            return Err(StartupError::Bind {
                addr: addr.to_string(),
                source: std::io::Error::other("no site configured"),
            });
        };
        let metrics = Arc::new(Metrics::new());
        // Each site's Drupal client reports to the site's own metrics.
        for site in &sites {
            site.provisioner.drupal().observe(metrics.site(&site.site));
        }
        for site in &settings.sites {
            metrics
                .site(&site.id)
                .mapping_loaded(&site.mapping.display().to_string());
        }
        let registry = Arc::new(SiteRegistry::new(settings.multi_site, sites));
        // A scrape reports the sites served then, with their breakers and queues.
        let served = registry.clone();
        metrics.watch_sites(move || served.drupal_clients());
        let audit = Arc::new(AuditTrail::new(
            settings.audit.file.as_deref(),
            metrics.clone(),
        )?);
        let readiness = Arc::new(Readiness::new(
            metrics.clone(),
            registry.clone(),
            settings.health.drupal_within,
        ));
        let monitor = settings
            .metrics
            .listen
            .map(|addr| {
                let data = web::Data::new(Monitor {
                    metrics: metrics.clone(),
                    audit: audit.clone(),
                    readiness: readiness.clone(),
                    status_token: settings.metrics.status_token.clone(),
                });
                let readiness = web::Data::from(readiness.clone());
                let bind = |source| StartupError::Bind {
                    addr: addr.to_string(),
                    source,
                };
                let listener = TcpListener::bind(addr).map_err(bind)?;
                let port = listener.local_addr().map_err(bind)?.port();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(readiness.clone())
                        .configure(monitor::configure)
                })
                .workers(1)
                .shutdown_timeout(5)
                .listen(listener)
                .map_err(bind)?
                .run();
                Ok::<_, StartupError>((port, server))
            })
            .transpose()?;
        let multi_site = settings.multi_site;
        let data = web::Data::from(registry.clone());
        let metrics_data = web::Data::from(metrics.clone());
        let audit_data = web::Data::from(audit.clone());
        let readiness_data = web::Data::from(readiness);
        let deadline = web::Data::new(http::BodyDeadline(settings.server.body_timeout));
        let refused = metrics.http_refused();
        let server = http::scim_port::serve(listener, &settings.server, refused, move || {
            App::new()
                .wrap(middleware::from_fn(http::body_deadline))
                .wrap(middleware::from_fn(http::log_requests))
                // Outermost: a request after a closing answer runs nothing.
                .wrap(middleware::from_fn(http::refuse_after_close))
                .app_data(data.clone())
                .app_data(deadline.clone())
                .app_data(metrics_data.clone())
                .app_data(audit_data.clone())
                .app_data(readiness_data.clone())
                // For load balancers, beside the SCIM routes' /healthz.
                .route(
                    "/readyz",
                    monitor::get_or_head().to(monitor::readyz_on_scim_port),
                )
                .configure(|cfg| http::configure(cfg, max_body, multi_site))
        })
        .map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        Ok(Application {
            port: addr.port(),
            server,
            provisioner,
            sites: registry,
            metrics,
            audit,
            monitor,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The first site's service (the only one without `sites:`): for
    /// start-up checks, and for swapping its mapping on reload.
    pub fn provisioner(&self) -> Arc<Provisioner> {
        self.provisioner.clone()
    }

    /// Every site served, by id; a reload changes its entries.
    pub fn sites(&self) -> Arc<SiteRegistry> {
        self.sites.clone()
    }

    /// Stops the server gracefully (in-flight requests finish).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The operator's listener's port, when `metrics.listen` is set.
    pub fn monitor_port(&self) -> Option<u16> {
        self.monitor.as_ref().map(|(port, _)| *port)
    }

    /// This bridge's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// This bridge's audit trail (reopened on SIGHUP).
    pub fn audit(&self) -> Arc<AuditTrail> {
        self.audit.clone()
    }

    /// Serves until SIGINT / SIGTERM (actix finishes in-flight requests).
    /// The operator's listener stops with the SCIM server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Nothing here keeps a site alive: one a reload replaces goes (and
        // ends its Drupal session) once its requests in flight finish.
        let Application {
            server,
            sites,
            monitor,
            provisioner,
            ..
        } = self;
        drop(provisioner);
        let monitor = monitor.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let outcome = server.await;
        if let Some(handle) = monitor {
            handle.stop(true).await;
        }
        log_out_of_drupal(&sites).await;
        outcome
    }
}

/// How long a stopping bridge waits for Drupal to end its sessions.
const LOG_OUT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Ends every site's Drupal session, at once, once the last request has
/// been answered: a stopped bridge leaves no valid session behind in
/// Drupal's `sessions` table. A Drupal slower than [`LOG_OUT_WAIT`] keeps
/// its sessions until its garbage collection, as before.
async fn log_out_of_drupal(sites: &SiteRegistry) {
    let clients: Vec<DrupalClient> = sites
        .ids()
        .iter()
        .filter_map(|id| sites.get(id))
        .map(|state| state.provisioner.drupal().clone())
        .collect();
    let all = futures_util::future::join_all(clients.iter().map(DrupalClient::log_out));
    if tokio::time::timeout(LOG_OUT_WAIT, all).await.is_err() {
        tracing::warn!("Drupal did not end every session of the bridge in time; they end with Drupal's session garbage collection");
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
