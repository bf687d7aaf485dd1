//! Reloading the configuration while serving (SIGHUP): sites are added,
//! changed and removed; every other site keeps running untouched, with its
//! Drupal session, caches and breaker. A site whose new settings or mapping
//! are invalid keeps its previous ones, and the log says why. A reload
//! after which one credential would open two sites (the sites kept on
//! their previous settings counted) is refused whole. Bridge-wide keys
//! (`listen`, `audit.file`, ...) take a restart: a reload warns of them and
//! counts as failed. Requests in
//! flight finish on the site they started with (they hold its `Arc`).
//! Each site's mapping file is also watched, as `reload` does for one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::audit::AuditTrail;
use crate::config::{sites_apart, ConfigError, Settings, SiteSettings};
use crate::http::site::SiteRegistry;
use crate::metrics::{ConfigReload, Metrics};
use crate::reload::{reopen_audit, Hangups, MappingReloader};
use crate::sites;
use crate::startup::{check_drupal_credentials, check_groups};

/// What a reload did to one site.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SiteOutcome {
    Added,
    /// Built anew from changed settings.
    Changed,
    Removed,
    /// Settings unchanged; its mapping file was read again.
    Unchanged,
    /// The new settings (or mapping) are invalid: it runs as before. The text says why.
    KeptPrevious(String),
    /// A new site whose settings are invalid: not added. The text says why.
    NotAdded(String),
}

pub struct SitesReloader {
    config: PathBuf,
    /// `serve --dry-run`: every site, also those added later.
    force_dry_run: bool,
    registry: Arc<SiteRegistry>,
    /// Each served site's settings, and the watcher of its mapping file.
    sites: HashMap<String, (SiteSettings, MappingReloader)>,
    /// Told about every mapping reload and every site built anew, when given.
    metrics: Option<Arc<Metrics>>,
    /// Reopened on SIGHUP (logrotate), when given.
    audit: Option<Arc<AuditTrail>>,
    /// Unchanged sites whose refused credentials the last reload let try
    /// again: checked, as new sites are.
    retried: Vec<String>,
    /// The bridge-wide settings in force (those of start-up: listeners,
    /// audit file, port limits), without sites.
    bridge: Settings,
    /// The bridge-wide keys the file last read changes, which only a
    /// restart applies.
    restart_keys: Vec<&'static str>,
}

impl SitesReloader {
    /// `settings` (read from `config`) are what `registry` serves now.
    pub fn new(
        config: PathBuf,
        settings: &Settings,
        registry: Arc<SiteRegistry>,
        force_dry_run: bool,
    ) -> SitesReloader {
        let sites = settings
            .sites
            .iter()
            .filter_map(|site| {
                let state = registry.get(&site.id)?;
                let watcher = MappingReloader::new(state.provisioner.clone(), site.mapping.clone());
                Some((site.id.clone(), (site.clone(), watcher)))
            })
            .collect();
        let mut bridge = settings.clone();
        bridge.sites.clear();
        SitesReloader {
            config,
            force_dry_run,
            registry,
            sites,
            metrics: None,
            audit: None,
            retried: Vec::new(),
            bridge,
            restart_keys: Vec::new(),
        }
    }

    /// Reports each mapping reload to `metrics` and lets them observe the
    /// Drupal client of every site built anew; reopens `audit`'s file on
    /// SIGHUP, the signal logrotate sends.
    pub fn reporting_to(mut self, metrics: Arc<Metrics>, audit: Arc<AuditTrail>) -> Self {
        let sites = std::mem::take(&mut self.sites);
        self.sites = sites
            .into_iter()
            .map(|(id, (site, watcher))| {
                let watcher = watcher.reporting_to(metrics.site(&id), audit.clone());
                (id, (site, watcher))
            })
            .collect();
        self.metrics = Some(metrics);
        self.audit = Some(audit);
        self
    }

    fn watcher_for(&self, state: &crate::http::AppState, mapping: PathBuf) -> MappingReloader {
        let watcher = MappingReloader::new(state.provisioner.clone(), mapping);
        match (&self.metrics, &self.audit) {
            (Some(metrics), Some(audit)) => {
                // A site rebuilt keeps counting in its metrics; a new one
                // gets its own, reported from the next scrape.
                let site = metrics.site(&state.site);
                state.provisioner.drupal().observe(site.clone());
                site.mapping_loaded(&watcher.file());
                watcher.reporting_to(site, audit.clone())
            }
            _ => watcher,
        }
    }

    /// Reads the configuration again and applies it site by site. An
    /// unreadable file changes nothing. The outcome is counted in the
    /// metrics: a refused reload leaves older settings in force (a rotated
    /// token still accepted), which the log alone would not page anyone for.
    pub fn reload(&mut self) -> Result<Vec<(String, SiteOutcome)>, ConfigError> {
        let result = self.apply_file();
        let refused: Vec<&str> = match &result {
            Ok(outcomes) => outcomes
                .iter()
                .filter(|(_, o)| {
                    matches!(o, SiteOutcome::KeptPrevious(_) | SiteOutcome::NotAdded(_))
                })
                .map(|(id, _)| id.as_str())
                .collect(),
            Err(_) => Vec::new(),
        };
        if result.is_ok() && !refused.is_empty() {
            tracing::error!(
                sites = refused.join(","),
                "the configuration is reloaded in part: these sites run older settings than the file's (see the errors above)"
            );
        }
        if result.is_ok() && !self.restart_keys.is_empty() {
            tracing::warn!(
                keys = self.restart_keys.join(","),
                "these bridge-wide settings changed in the file and are not applied until the bridge is restarted; the sites' changes are applied"
            );
        }
        if let Some(metrics) = &self.metrics {
            // The file's settings are in force only when every site's
            // are and no bridge-wide key awaits a restart.
            let whole = result.is_ok() && refused.is_empty() && self.restart_keys.is_empty();
            metrics.config_reloaded(if whole {
                ConfigReload::Ok
            } else {
                ConfigReload::Failed
            });
        }
        result
    }

    fn apply_file(&mut self) -> Result<Vec<(String, SiteOutcome)>, ConfigError> {
        let reloaded = match Settings::load_for_reload(&self.config) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the configuration is not reloaded; every site keeps its settings");
                return Err(e);
            }
        };
        let mut settings = reloaded.settings;
        self.restart_keys = self.bridge.restart_keys(&settings);
        if settings.multi_site != self.registry.is_multi_site() {
            let e = ConfigError::Invalid(
                "switching between one site (no sites:) and sites: takes a restart; every site keeps its settings".into(),
            );
            tracing::error!(error = %e, "the configuration is not reloaded");
            return Err(e);
        }
        if self.force_dry_run {
            settings.force_dry_run();
        }
        let multi_site = settings.multi_site;
        let mut outcomes = Vec::new();
        for (id, error) in reloaded.invalid {
            let outcome = if self.sites.contains_key(&id) {
                tracing::error!(site = id, error = %error, "the site's new settings are invalid; it keeps its previous settings");
                SiteOutcome::KeptPrevious(error.to_string())
            } else {
                tracing::error!(site = id, error = %error, "the new site's settings are invalid; it is not added");
                SiteOutcome::NotAdded(error.to_string())
            };
            outcomes.push((id, outcome));
        }
        let listed: Vec<String> = settings
            .sites
            .iter()
            .map(|s| s.id.clone())
            .chain(outcomes.iter().map(|(id, _)| id.clone()))
            .collect();
        // Each site the file lists validly is unchanged, or built anew
        // here, not served until every check below passed.
        let mut unchanged = Vec::new();
        let mut built = Vec::new();
        for site in settings.sites {
            match self.sites.get(&site.id) {
                Some((current, _)) if current.same_as(&site) => unchanged.push(site.id),
                current => {
                    let was_served = current.is_some();
                    match sites::load(&site, multi_site) {
                        Ok(state) => built.push((site, state)),
                        Err(e) if was_served => {
                            tracing::error!(site = site.id, error = %e, "the site's new settings are not used; it keeps its previous settings");
                            outcomes.push((site.id, SiteOutcome::KeptPrevious(e.to_string())));
                        }
                        Err(e) => {
                            tracing::error!(site = site.id, error = %e, "the new site cannot be set up; it is not added");
                            outcomes.push((site.id, SiteOutcome::NotAdded(e.to_string())));
                        }
                    }
                }
            }
        }
        let removed: Vec<String> = self
            .sites
            .keys()
            .filter(|id| !listed.contains(id))
            .cloned()
            .collect();
        // The settings in force after this reload: the sites built anew,
        // and every other site still served as it was (a refused site
        // keeps its previous settings, its old token among them). They must
        // keep the sites apart as the file's must: a site given another's
        // old token while that one's change is refused would otherwise let
        // the token open both. Then nothing is applied.
        let in_force: Vec<&SiteSettings> = self
            .sites
            .iter()
            .filter(|(id, _)| !removed.contains(id) && !built.iter().any(|(s, _)| &s.id == *id))
            .map(|(_, (site, _))| site)
            .chain(built.iter().map(|(site, _)| site))
            .collect();
        if let Err(e) = sites_apart(&in_force) {
            tracing::error!(error = %e, "the configuration is not reloaded; every site keeps its settings");
            return Err(e);
        }
        for id in unchanged {
            // Drupal may accept the same credentials now (the password
            // reset, the account unblocked, flood control cleared): a
            // reload is what the refusal told the operator to do. One
            // login follows, not one per request.
            let retried = self
                .registry
                .get(&id)
                .is_some_and(|state| state.provisioner.drupal().retry_credentials());
            if retried {
                tracing::info!(
                    site = id,
                    "the site's Drupal credentials were refused (or flood-blocked); the reload lets the bridge try them once more"
                );
                self.retried.push(id.clone());
            }
            if let Some((_, watcher)) = self.sites.get_mut(&id) {
                // Logged by the watcher either way.
                let outcome = match watcher.reload() {
                    Ok(()) => SiteOutcome::Unchanged,
                    Err(e) => SiteOutcome::KeptPrevious(e.to_string()),
                };
                outcomes.push((id, outcome));
            }
        }
        for (site, state) in built {
            let was_served = self.sites.contains_key(&site.id);
            let watcher = self.watcher_for(&state, site.mapping.clone());
            self.registry.insert(Arc::new(state));
            tracing::info!(
                site = site.id,
                drupal = site.drupal.base_url,
                "{}",
                if was_served {
                    "site reloaded with its new settings; new requests use them"
                } else {
                    "site added"
                }
            );
            let id = site.id.clone();
            self.sites.insert(site.id.clone(), (site, watcher));
            outcomes.push((
                id,
                if was_served {
                    SiteOutcome::Changed
                } else {
                    SiteOutcome::Added
                },
            ));
        }
        for id in removed {
            self.sites.remove(&id);
            self.registry.remove(&id);
            if let Some(metrics) = &self.metrics {
                metrics.forget_site(&id);
            }
            tracing::info!(site = id, "site removed; its requests in flight finish");
            outcomes.push((id, SiteOutcome::Removed));
        }
        Ok(outcomes)
    }

    /// Reads every site's mapping file that changed since it was last read.
    pub fn reload_changed_mappings(&mut self) {
        for (id, (_, watcher)) in &mut self.sites {
            let span = tracing::info_span!("site_mapping", site = id.as_str());
            let _entered = span.enter();
            let _ = watcher.reload_if_changed();
        }
    }

    /// Checks the Drupal credentials and roles of each site built anew,
    /// and of each whose refused credentials it lets try again, in the
    /// background, as start-up does for every site.
    fn check_new_sites(&mut self, outcomes: &[(String, SiteOutcome)]) {
        let retried = std::mem::take(&mut self.retried);
        let built = outcomes
            .iter()
            .filter(|(_, o)| matches!(o, SiteOutcome::Added | SiteOutcome::Changed))
            .map(|(id, _)| id);
        for id in built.chain(&retried) {
            let Some(state) = self.registry.get(id) else {
                continue;
            };
            tokio::spawn(
                async move {
                    check_drupal_credentials(state.provisioner.drupal()).await;
                    check_groups(&state.provisioner).await;
                }
                .instrument(tracing::info_span!("site_check", site = id.as_str())),
            );
        }
    }

    /// Reloads the configuration on every SIGHUP, and each mapping file
    /// when a look every `interval` finds it changed. Runs until dropped.
    pub async fn watch(mut self, interval: Duration) {
        let mut hangups = Hangups::listen("the mapping files are still watched for changes");
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(()) = hangups.next() => {
                    tracing::info!("SIGHUP: reopening the audit file, reloading the configuration and the mappings");
                    reopen_audit(self.audit.as_deref());
                    // Each outcome is logged where it happens.
                    if let Ok(outcomes) = self.reload() {
                        self.check_new_sites(&outcomes);
                    }
                }
                _ = ticks.tick() => self.reload_changed_mappings(),
            }
        }
    }
}
