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
//!
//! An answer never waits for Drupal longer than [`PROBE_WAIT`]: a probe of
//! Drupal runs in the background, one per site at a time, bounded by its
//! own deadline. A site whose probe has not ended by then is not ready
//! (its Drupal does not answer in time), and the probe goes on, so that a
//! later answer has its outcome. A Drupal that accepts connections and
//! never answers would otherwise hold every `/readyz` for
//! `drupal.timeout_secs`, past the orchestrator's own timeout, which takes
//! every replica out of rotation for all its sites.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::Instrument;

use crate::drupal::resilience::BreakerView;
use crate::drupal::{ClientId, DrupalClient};
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

/// How long an answer waits for a probe of Drupal from the probe's start
/// (it started it, or found it running): well under the timeouts orchestrators give a readiness probe
/// (Kubernetes 1 s by default, Compose's file here 3 s).
pub const PROBE_WAIT: Duration = Duration::from_millis(500);

/// One site's probe of its Drupal: one at a time, so that a load balancer
/// asking often sends Drupal at most one request at a time and, while
/// Drupal answers, one per `within`, however many ask. A site rebuilt by a
/// reload (a new client) gets a probe of its own.
struct Probe {
    /// The client probed, named without keeping it alive: a client a
    /// reload replaced is dropped (and its session ended) at once, not at
    /// this site's next readiness check.
    drupal: ClientId,
    state: Mutex<ProbeState>,
    /// Woken when a probe ends.
    ended: tokio::sync::Notify,
}

#[derive(Default)]
struct ProbeState {
    /// When a probe last saw Drupal run a request as the bridge's account,
    /// and how long Drupal took.
    confirmed: Option<(Instant, Duration)>,
    /// When the probe in flight started.
    running: Option<Instant>,
    /// What the last probe that ended found, when it was not the
    /// bridge's account answering.
    failed: Option<Part>,
}

impl Probe {
    fn new(drupal: &DrupalClient) -> Probe {
        Probe {
            drupal: drupal.id(),
            state: Mutex::new(ProbeState::default()),
            ended: tokio::sync::Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ProbeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long the probe of `drupal` may take at most: a request, a login
    /// and the request again (a stale session), each bounded by the
    /// client's timeout. Past it the probe counts as failed.
    fn deadline(drupal: &DrupalClient) -> Duration {
        drupal.timeout() * 3
    }

    /// Starts a probe of `drupal` (this probe's client) in the background,
    /// unless one is running.
    fn start(self: &Arc<Probe>, site: &str, drupal: &DrupalClient) {
        {
            let mut state = self.state();
            if state.running.is_some() {
                return;
            }
            state.running = Some(Instant::now());
        }
        let running = Running(self.clone());
        let drupal = drupal.clone();
        tokio::spawn(
            async move {
                let probe = &running.0;
                let started = Instant::now();
                let deadline = Probe::deadline(&drupal);
                let outcome = tokio::time::timeout(deadline, ask(&drupal)).await;
                let mut state = probe.state();
                match outcome {
                    Ok(Ok(())) => {
                        state.confirmed = Some((Instant::now(), started.elapsed()));
                        state.failed = None;
                    }
                    Ok(Err(part)) => state.failed = Some(part),
                    Err(_) => {
                        state.failed = Some(Part {
                            ready: false,
                            detail: format!(
                                "Drupal did not answer the bridge's account within {} s",
                                deadline.as_secs()
                            ),
                        })
                    }
                }
            }
            .instrument(tracing::info_span!("readiness", site)),
        );
    }
}

/// A probe in flight: ended when dropped, however its task ends.
struct Running(Arc<Probe>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.state().running = None;
        self.0.ended.notify_waiters();
    }
}

/// Asks Drupal who the bridge's account is: `Ok` when Drupal ran the
/// request as that account, else the part to report.
async fn ask(drupal: &DrupalClient) -> Result<(), Part> {
    let mut answer = drupal.whoami().await;
    if matches!(answer, Ok(None)) {
        // A stale session (expired, or Drupal restarted with fresh
        // sessions) was just dropped: the next call logs in again.
        answer = drupal.whoami().await;
    }
    match answer {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Part {
            ready: false,
            detail: "Drupal answers, but not as the bridge's account: its credentials are not accepted (check drupal.auth)".into(),
        }),
        Err(e) => Err(Part {
            ready: false,
            detail: format!("cannot reach Drupal as the bridge's account: {e}"),
        }),
    }
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

    /// The site's probe, new when the site's client is (a reload rebuilt
    /// it): what the old client's probe saw says nothing of the new one.
    fn probe(&self, id: &Arc<str>, drupal: &DrupalClient) -> Arc<Probe> {
        let mut probes = self.probes.lock().unwrap_or_else(PoisonError::into_inner);
        match probes.get(id) {
            Some(probe) if probe.drupal.names(drupal) => probe.clone(),
            _ => {
                let probe = Arc::new(Probe::new(drupal));
                probes.insert(id.clone(), probe.clone());
                probe
            }
        }
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
            probe: self.probe(id, &drupal),
            drupal,
            metrics: self.metrics.site(id),
            within: self.within,
        }
    }

    /// Every site's readiness, the sites' Drupals asked at once: within
    /// [`PROBE_WAIT`], however slow any of them is.
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
    /// When Drupal last answered the bridge's account, by a SCIM request's
    /// call or a probe, if within the window.
    fn answered(&self) -> Option<Instant> {
        let confirmed = self.probe.state().confirmed.map(|(at, _)| at);
        [self.metrics.last_drupal_ok(), confirmed]
            .into_iter()
            .flatten()
            .max()
            .filter(|at| at.elapsed() <= self.within)
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
        // A pause, not for good: every request fails until it ends.
        if let Some((left, why)) = self.drupal.login_paused() {
            return Part {
                ready: false,
                detail: format!(
                    "Drupal's flood control blocks the bridge's account ({why}); the bridge logs in again in {left} s (clear it with `drush sql:query \"DELETE FROM flood\"`)"
                ),
            };
        }
        let secs = self.within.as_secs();
        let recent = Part {
            ready: true,
            detail: format!("answered the bridge's account within the last {secs} s"),
        };
        if let Some(at) = self.answered() {
            // Asked ahead of time, in the background: a Drupal that
            // answers slowly stays ready for as long as it answers.
            if at.elapsed() > self.within * 3 / 4 {
                self.probe.start(self.id, &self.drupal);
            }
            return recent;
        }
        // Created before the probe starts, so that its end is not missed.
        let ended = self.probe.ended.notified();
        // Another probe may have just succeeded.
        if self.answered().is_some() {
            return recent;
        }
        let asked = Instant::now();
        self.probe.start(self.id, &self.drupal);
        // Up to PROBE_WAIT from the probe's start: a probe found running
        // longer is not waited for again by every answer.
        let since = self.probe.state().running;
        if let Some(since) = since {
            let _ = tokio::time::timeout(PROBE_WAIT.saturating_sub(since.elapsed()), ended).await;
        }
        let state = self.probe.state();
        match (state.confirmed, state.running, &state.failed) {
            (Some((at, took)), _, _) if at >= asked => Part {
                ready: true,
                detail: format!(
                    "answered the bridge's account just now ({} ms)",
                    took.as_millis()
                ),
            },
            (Some((at, _)), _, _) if at.elapsed() <= self.within => recent,
            (_, Some(since), previous) => Part {
                ready: false,
                detail: format!(
                    "Drupal has not answered the readiness probe within {} ms (it runs on, for {} ms now){}",
                    PROBE_WAIT.as_millis(),
                    since.elapsed().as_millis(),
                    previous
                        .as_ref()
                        .map(|p| format!("; the previous probe: {}", p.detail))
                        .unwrap_or_default()
                ),
            },
            (_, None, Some(failed)) => failed.clone(),
            (_, None, None) => Part {
                ready: false,
                detail: "Drupal has not answered the bridge's account".into(),
            },
        }
    }
}
