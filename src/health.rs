//! Readiness: whether this bridge can serve SCIM now, site by site. A
//! site is ready when its mapping is loaded, Drupal has not refused the
//! bridge's credentials for good (then it is not ready at once, whatever
//! answered before), its Drupal answered the
//! bridge's account within the last `health.drupal_within_secs` (when
//! nothing did, Drupal is asked once, with `GET /jsonapi`, which names the
//! account it ran as), and its circuit breaker is not open. Each site's
//! answer names every part that is not.
//!
//! The bridge as a whole is ready when at least one site is: a load
//! balancer must not take a replica out of rotation for all its sites
//! because one site's Drupal is down (every replica would be taken out at
//! once, for the same reason). Per-site probes ask for one site.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::Instrument;

use crate::drupal::resilience::BreakerView;
use crate::drupal::DrupalClient;
use crate::http::site::SiteRegistry;
use crate::metrics::{Metrics, SiteMetrics};

/// One part of readiness.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Part {
    pub ready: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub ready: bool,
    pub mapping: Part,
    pub drupal: Part,
    pub circuit_breaker: Part,
    /// The names of the parts that are not ready.
    pub not_ready: Vec<&'static str>,
}

/// Every site's readiness.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Overview {
    /// At least one site is ready.
    pub ready: bool,
    pub sites_ready: usize,
    pub sites_total: usize,
    /// The ids of the sites that are not ready.
    pub sites_not_ready: Vec<String>,
    pub sites: BTreeMap<String, Report>,
}

/// One site's probe of its Drupal: one at a time, so that a load balancer
/// asking often sends Drupal at most one request per `within`, however
/// many ask.
#[derive(Default)]
struct Probe {
    running: tokio::sync::Mutex<()>,
    /// When a probe last saw Drupal run a request as the bridge's account.
    confirmed: Mutex<Option<Instant>>,
}

pub struct Readiness {
    metrics: Arc<Metrics>,
    sites: Arc<SiteRegistry>,
    within: Duration,
    probes: Mutex<HashMap<Arc<str>, Arc<Probe>>>,
}

/// What one site's readiness is checked with.
struct SiteCheck<'a> {
    id: &'a str,
    drupal: DrupalClient,
    metrics: Arc<SiteMetrics>,
    probe: Arc<Probe>,
    within: Duration,
}

impl Readiness {
    pub fn new(metrics: Arc<Metrics>, sites: Arc<SiteRegistry>, within: Duration) -> Readiness {
        Readiness {
            metrics,
            sites,
            within,
            probes: Mutex::new(HashMap::new()),
        }
    }

    /// Several sites are served (`sites:`).
    pub fn is_multi_site(&self) -> bool {
        self.sites.is_multi_site()
    }

    fn probe(&self, id: &Arc<str>) -> Arc<Probe> {
        self.probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.clone())
            .or_default()
            .clone()
    }

    /// The readiness of the site `id`, if it is served.
    pub async fn check_site(&self, id: &str) -> Option<Report> {
        let (id, drupal) = self
            .sites
            .drupal_clients()
            .into_iter()
            .find(|(served, _)| &**served == id)?;
        Some(self.site_check(&id, drupal).check().await)
    }

    fn site_check<'a>(&self, id: &'a Arc<str>, drupal: DrupalClient) -> SiteCheck<'a> {
        SiteCheck {
            id,
            drupal,
            metrics: self.metrics.site(id),
            probe: self.probe(id),
            within: self.within,
        }
    }

    /// Every site's readiness, the sites' Drupals asked at once.
    pub async fn check(&self) -> Overview {
        let served = self.sites.drupal_clients();
        // A removed site's probe goes with it.
        self.probes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| served.iter().any(|(s, _)| s == id));
        let checks: Vec<_> = served
            .iter()
            .map(|(id, drupal)| self.site_check(id, drupal.clone()))
            .collect();
        let reports = futures_util::future::join_all(checks.iter().map(|c| c.check())).await;
        let sites: BTreeMap<String, Report> = served
            .iter()
            .map(|(id, _)| id.to_string())
            .zip(reports)
            .collect();
        let sites_ready = sites.values().filter(|r| r.ready).count();
        Overview {
            ready: sites_ready > 0,
            sites_ready,
            sites_total: sites.len(),
            sites_not_ready: sites
                .iter()
                .filter(|(_, r)| !r.ready)
                .map(|(id, _)| id.clone())
                .collect(),
            sites,
        }
    }
}

impl SiteCheck<'_> {
    fn fresh(&self) -> bool {
        let confirmed = *self
            .probe
            .confirmed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        [self.metrics.last_drupal_ok(), confirmed]
            .into_iter()
            .flatten()
            .any(|at| at.elapsed() <= self.within)
    }

    async fn check(&self) -> Report {
        let info = self.metrics.mapping_info();
        let mapping = match (&info.loaded_at, &info.last_error) {
            (None, _) => Part {
                ready: false,
                detail: "no mapping loaded".into(),
            },
            (Some(_), None) => Part {
                ready: true,
                detail: format!("{} loaded", info.file),
            },
            // The previous mapping still serves: ready, but say so.
            (Some(_), Some(error)) => Part {
                ready: true,
                detail: format!(
                    "{} in use; the changed file was refused: {error}",
                    info.file
                ),
            },
        };
        let breaker = self.drupal.breaker_state();
        let circuit_breaker = Part {
            ready: breaker != BreakerView::Open,
            detail: match breaker {
                BreakerView::Closed => "closed".into(),
                BreakerView::HalfOpen => "half open: the next request probes Drupal".into(),
                BreakerView::Open => {
                    "open: Drupal kept failing; SCIM requests are answered 503 at once".into()
                }
            },
        };
        let drupal = if breaker == BreakerView::Open {
            Part {
                ready: false,
                detail: "not asked while the circuit breaker is open".into(),
            }
        } else {
            self.drupal_part()
                .instrument(tracing::info_span!("readiness", site = self.id))
                .await
        };
        let mut not_ready = Vec::new();
        for (name, part) in [
            ("mapping", &mapping),
            ("drupal", &drupal),
            ("circuit_breaker", &circuit_breaker),
        ] {
            if !part.ready {
                not_ready.push(name);
            }
        }
        Report {
            ready: not_ready.is_empty(),
            mapping,
            drupal,
            circuit_breaker,
            not_ready,
        }
    }

    async fn drupal_part(&self) -> Part {
        // Before any recent success counts: the bridge sends Drupal nothing
        // more with credentials it refused, so every request fails from now
        // until they are changed.
        if let Some(why) = self.drupal.credentials_refused() {
            return Part {
                ready: false,
                detail: format!(
                    "Drupal refused the bridge's credentials for good ({why}); the bridge sends no further login: fix drupal.auth, then reload or restart"
                ),
            };
        }
        let secs = self.within.as_secs();
        if self.fresh() {
            return Part {
                ready: true,
                detail: format!("answered the bridge's account within the last {secs} s"),
            };
        }
        let _probe = self.probe.running.lock().await;
        // Another probe may have just succeeded.
        if self.fresh() {
            return Part {
                ready: true,
                detail: format!("answered the bridge's account within the last {secs} s"),
            };
        }
        let started = Instant::now();
        let mut answer = self.drupal.whoami().await;
        if matches!(answer, Ok(None)) {
            // A stale session (expired, or Drupal restarted with fresh
            // sessions) was just dropped: the next call logs in again.
            answer = self.drupal.whoami().await;
        }
        match answer {
            Ok(Some(_)) => {
                *self
                    .probe
                    .confirmed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                Part {
                ready: true,
                detail: format!(
                    "answered the bridge's account just now ({} ms)",
                    started.elapsed().as_millis()
                ),
            }
            }
            Ok(None) => Part {
                ready: false,
                detail: "Drupal answers, but not as the bridge's account: its credentials are not accepted (check drupal.auth)".into(),
            },
            Err(e) => Part {
                ready: false,
                detail: format!("cannot reach Drupal as the bridge's account: {e}"),
            },
        }
    }
}
