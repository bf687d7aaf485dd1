//! Readiness: whether this bridge can serve SCIM now. It is ready when a
//! mapping is loaded, Drupal answered the bridge's account within the last
//! `health.drupal_within_secs` (when nothing did, Drupal is asked once,
//! with `GET /jsonapi`, which names the account it ran as), and the circuit
//! breaker is not open. The answer names every part that is not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::drupal::resilience::BreakerView;
use crate::drupal::DrupalClient;
use crate::metrics::Metrics;

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

pub struct Readiness {
    metrics: Arc<Metrics>,
    drupal: DrupalClient,
    within: Duration,
    /// One probe at a time: a load balancer asking often sends Drupal at
    /// most one request per `within`, however many ask.
    probe: tokio::sync::Mutex<()>,
    /// When a probe last saw Drupal run a request as the bridge's account.
    confirmed: std::sync::Mutex<Option<Instant>>,
}

impl Readiness {
    pub fn new(metrics: Arc<Metrics>, drupal: DrupalClient, within: Duration) -> Readiness {
        Readiness {
            metrics,
            drupal,
            within,
            probe: tokio::sync::Mutex::new(()),
            confirmed: std::sync::Mutex::new(None),
        }
    }

    fn fresh(&self) -> bool {
        let confirmed = *self
            .confirmed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        [self.metrics.last_drupal_ok(), confirmed]
            .into_iter()
            .flatten()
            .any(|at| at.elapsed() <= self.within)
    }

    pub async fn check(&self) -> Report {
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
            self.drupal_part().await
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
        let secs = self.within.as_secs();
        if self.fresh() {
            return Part {
                ready: true,
                detail: format!("answered the bridge's account within the last {secs} s"),
            };
        }
        let _probe = self.probe.lock().await;
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
                    .confirmed
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
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
