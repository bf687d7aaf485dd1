//! The bridge's metrics, in Prometheus' conventions, and the small API the
//! other layers record them through.
//!
//! One `Metrics` per running bridge (not a process-wide registry): tests run
//! many bridges in one process, and each must count only its own requests.
//! The layers reach it in the way that keeps each independent:
//! - the HTTP layer finds it in the application data (`scim_request`);
//! - the Drupal client knows only its `DrupalObserver` trait, which
//!   `Metrics` implements (calls, logins, waits for a slot);
//! - provisioning events come from the audit trail (`crate::audit`), which
//!   counts each event it records;
//! - the mapping reloader is handed it (`mapping_loaded`, `reload_failed`).
//!
//! Label values are bounded: operation and outcome names are fixed in the
//! code, site and client names come from the configuration. Never an id or
//! a user name.

pub mod history;

use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::drupal::observer::{CallOutcome, DrupalObserver, LoginOutcome};
use crate::drupal::resilience::BreakerView;
use crate::drupal::DrupalClient;
use history::History;

/// The content type of `render`'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScimLabels {
    operation: &'static str,
    resource_type: &'static str,
    status_class: &'static str,
    site: String,
    client: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScimKind {
    operation: &'static str,
    resource_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DrupalLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
    site: String,
    client: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A SCIM request as the request log saw it.
pub struct ScimRequest<'a> {
    pub operation: &'static str,
    pub status: u16,
    pub site: &'a str,
    pub client: &'a str,
    pub latency: Duration,
    pub drupal_requests: usize,
}

/// What the status page and `/readyz` read besides the counters.
#[derive(Debug, Clone, Default)]
pub struct MappingInfo {
    pub file: String,
    pub loaded_at: Option<SystemTime>,
    /// The last reload's error, while the previous mapping is kept.
    pub last_error: Option<String>,
}

pub struct Metrics {
    registry: Registry,
    scim_requests: Family<ScimLabels, Counter>,
    scim_duration: Family<ScimKind, Histogram>,
    drupal_per_scim: Family<ScimKind, Histogram>,
    drupal_requests: Family<DrupalLabels, Counter>,
    drupal_duration: Family<OperationLabel, Histogram>,
    logins: Family<OutcomeLabel, Counter>,
    breaker: Family<StateLabel, Gauge>,
    slot_waiting: Gauge,
    concurrency_limit: Gauge,
    slot_wait: Histogram,
    slot_refused: Counter,
    provisioning: Family<EventLabels, Counter>,
    reloads: Family<OutcomeLabel, Counter>,
    mapping_loaded: Gauge<f64, AtomicU64>,
    drupal: OnceLock<DrupalClient>,
    last_drupal_ok: Mutex<Option<Instant>>,
    mapping: Mutex<MappingInfo>,
    history: History,
}

fn latency_buckets() -> Histogram {
    // 5 ms to about 10 s: Drupal answers in 25-100 ms, a slow site in seconds.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn count_buckets() -> Histogram {
    Histogram::new([0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 50.0, 100.0])
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut root = Registry::with_prefix("scim_bridge");
        let metrics = Metrics {
            registry: Registry::default(),
            scim_requests: Family::default(),
            scim_duration: Family::new_with_constructor(latency_buckets),
            drupal_per_scim: Family::new_with_constructor(count_buckets),
            drupal_requests: Family::default(),
            drupal_duration: Family::new_with_constructor(latency_buckets),
            logins: Family::default(),
            breaker: Family::default(),
            slot_waiting: Gauge::default(),
            concurrency_limit: Gauge::default(),
            slot_wait: latency_buckets(),
            slot_refused: Counter::default(),
            provisioning: Family::default(),
            reloads: Family::default(),
            mapping_loaded: Gauge::default(),
            drupal: OnceLock::new(),
            last_drupal_ok: Mutex::new(None),
            mapping: Mutex::new(MappingInfo::default()),
            history: History::default(),
        };
        root.register(
            "scim_requests",
            "SCIM requests answered, by operation, resource type and status class",
            metrics.scim_requests.clone(),
        );
        root.register_with_unit(
            "scim_request_duration",
            "Time to answer a SCIM request",
            Unit::Seconds,
            metrics.scim_duration.clone(),
        );
        root.register(
            "drupal_requests_per_scim_request",
            "Drupal requests made to answer one SCIM request",
            metrics.drupal_per_scim.clone(),
        );
        root.register(
            "drupal_requests",
            "Drupal JSON:API calls by operation and outcome (retries included in one call)",
            metrics.drupal_requests.clone(),
        );
        root.register_with_unit(
            "drupal_request_duration",
            "Time of one Drupal call, retries and waits included",
            Unit::Seconds,
            metrics.drupal_duration.clone(),
        );
        root.register(
            "drupal_logins",
            "Logins to Drupal by outcome (ok, refused, flood, error)",
            metrics.logins.clone(),
        );
        root.register(
            "drupal_circuit_breaker_state",
            "1 for the circuit breaker's current state (closed, open, half_open), 0 for the others",
            metrics.breaker.clone(),
        );
        root.register(
            "drupal_concurrency_limit",
            "Drupal calls allowed in flight now: the limit drupal.concurrency keeps (fixed, or found from Drupal's latency)",
            metrics.concurrency_limit.clone(),
        );
        root.register(
            "drupal_slot_waiting",
            "Drupal calls waiting now for a slot under drupal.max_concurrency",
            metrics.slot_waiting.clone(),
        );
        root.register_with_unit(
            "drupal_slot_wait",
            "Time Drupal calls that had to queue waited for a slot",
            Unit::Seconds,
            metrics.slot_wait.clone(),
        );
        root.register(
            "drupal_slot_refusals",
            "Drupal calls refused a slot (queue full or waited too long), answered 503",
            metrics.slot_refused.clone(),
        );
        root.register(
            "provisioning_events",
            "Changes made in Drupal by kind, and refusals that protected an account",
            metrics.provisioning.clone(),
        );
        root.register(
            "mapping_reloads",
            "Mapping reloads by outcome (ok, failed: the previous mapping is kept)",
            metrics.reloads.clone(),
        );
        root.register(
            "mapping_loaded_timestamp_seconds",
            "When the mapping in use was loaded (Unix time)",
            metrics.mapping_loaded.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        root.register("build_info", "The bridge's version; always 1", build);
        Metrics {
            registry: root,
            ..metrics
        }
    }

    /// Samples the Drupal client's breaker and queue at each scrape.
    pub fn watch_drupal(&self, client: &DrupalClient) {
        let _ = self.drupal.set(client.clone());
    }

    /// The client watched, for the status page and readiness.
    pub fn drupal(&self) -> Option<&DrupalClient> {
        self.drupal.get()
    }

    pub fn scim_request(&self, request: &ScimRequest<'_>) {
        let resource_type = resource_type(request.operation);
        self.scim_requests
            .get_or_create(&ScimLabels {
                operation: request.operation,
                resource_type,
                status_class: status_class(request.status),
                site: request.site.to_string(),
                client: request.client.to_string(),
            })
            .inc();
        let kind = ScimKind {
            operation: request.operation,
            resource_type,
        };
        self.scim_duration
            .get_or_create(&kind)
            .observe(request.latency.as_secs_f64());
        self.drupal_per_scim
            .get_or_create(&kind)
            .observe(request.drupal_requests as f64);
        self.history.scim_request(request.status);
    }

    /// A change made in Drupal, or one refused to protect an account.
    pub fn provisioning_event(&self, event: &'static str, site: &str, client: &str) {
        self.provisioning
            .get_or_create(&EventLabels {
                event,
                site: site.to_string(),
                client: client.to_string(),
            })
            .inc();
    }

    /// The mapping in `file` is now the one in use.
    pub fn mapping_loaded(&self, file: &str) {
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.mapping_loaded.set(secs);
        let mut info = self.mapping.lock().unwrap_or_else(PoisonError::into_inner);
        let first = info.loaded_at.is_none();
        *info = MappingInfo {
            file: file.to_string(),
            loaded_at: Some(now),
            last_error: None,
        };
        drop(info);
        if !first {
            self.reloads
                .get_or_create(&OutcomeLabel { outcome: "ok" })
                .inc();
        }
    }

    /// A changed mapping was refused; the previous one stays in use.
    pub fn reload_failed(&self, error: &str) {
        self.reloads
            .get_or_create(&OutcomeLabel { outcome: "failed" })
            .inc();
        let mut info = self.mapping.lock().unwrap_or_else(PoisonError::into_inner);
        info.last_error = Some(error.to_string());
    }

    pub fn mapping_info(&self) -> MappingInfo {
        self.mapping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// When Drupal last answered a call of the bridge's account.
    pub fn last_drupal_ok(&self) -> Option<Instant> {
        *self
            .last_drupal_ok
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Per-minute totals of the last hour.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The breaker's state now, when a client is watched.
    pub fn breaker(&self) -> Option<BreakerView> {
        self.drupal.get().map(DrupalClient::breaker_state)
    }

    /// The Prometheus text (OpenMetrics) of every metric.
    pub fn render(&self) -> String {
        if let Some(client) = self.drupal.get() {
            let current = client.breaker_state();
            for state in [
                BreakerView::Closed,
                BreakerView::Open,
                BreakerView::HalfOpen,
            ] {
                self.breaker
                    .get_or_create(&StateLabel {
                        state: state.as_str(),
                    })
                    .set(i64::from(state == current));
            }
            self.slot_waiting
                .set(i64::try_from(client.waiting_for_slot()).unwrap_or(i64::MAX));
            self.concurrency_limit
                .set(i64::try_from(client.concurrency_limit()).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl DrupalObserver for Metrics {
    fn call(&self, op: &'static str, outcome: CallOutcome, latency: Duration) {
        self.drupal_requests
            .get_or_create(&DrupalLabels {
                operation: op,
                outcome: outcome.as_str(),
            })
            .inc();
        self.drupal_duration
            .get_or_create(&OperationLabel { operation: op })
            .observe(latency.as_secs_f64());
        self.history.drupal_call(latency);
        // `whoami` succeeds for an anonymous caller too: readiness asks it
        // itself and reads the account from its answer.
        if matches!(outcome, CallOutcome::Ok | CallOutcome::NotFound) && op != "whoami" {
            *self
                .last_drupal_ok
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }

    fn login(&self, outcome: LoginOutcome) {
        self.logins
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    fn slot_waited(&self, waited: Duration) {
        self.slot_wait.observe(waited.as_secs_f64());
    }

    fn slot_refused(&self) {
        self.slot_refused.inc();
    }
}

/// The SCIM resource type an operation concerns, as a label.
pub fn resource_type(operation: &str) -> &'static str {
    if operation.ends_with("_user") || operation.ends_with("_users") {
        "User"
    } else if operation.ends_with("_group") || operation.ends_with("_groups") {
        "Group"
    } else if operation == "bulk" {
        "Bulk"
    } else if operation == "none" {
        "none"
    } else {
        "discovery"
    }
}

/// `2xx`, `3xx`, `4xx` or `5xx`.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_under_bounded_labels_and_follows_prometheus_names() {
        let metrics = Metrics::new();
        metrics.scim_request(&ScimRequest {
            operation: "create_user",
            status: 201,
            site: "default",
            client: "okta",
            latency: Duration::from_millis(40),
            drupal_requests: 3,
        });
        metrics.call("create_user", CallOutcome::Ok, Duration::from_millis(30));
        metrics.login(LoginOutcome::Refused);
        metrics.provisioning_event("user_created", "default", "okta");
        let text = metrics.render();
        assert!(text.contains(r#"scim_bridge_scim_requests_total{operation="create_user",resource_type="User",status_class="2xx",site="default",client="okta"} 1"#), "{text}");
        assert!(
            text.contains("scim_bridge_scim_request_duration_seconds_bucket{"),
            "{text}"
        );
        assert!(text.contains(r#"scim_bridge_drupal_requests_per_scim_request_sum{operation="create_user",resource_type="User"} 3.0"#), "{text}");
        assert!(
            text.contains(
                r#"scim_bridge_drupal_requests_total{operation="create_user",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"scim_bridge_drupal_logins_total{outcome="refused"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"scim_bridge_provisioning_events_total{event="user_created",site="default",client="okta"} 1"#), "{text}");
        assert!(
            text.contains(r#"scim_bridge_build_info{version=""#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn the_first_load_is_no_reload_and_a_failure_keeps_the_loaded_mapping() {
        let metrics = Metrics::new();
        metrics.mapping_loaded("a.yaml");
        assert!(!metrics.render().contains("mapping_reloads_total{"));
        metrics.reload_failed("bad");
        metrics.mapping_loaded("a.yaml");
        let text = metrics.render();
        assert!(
            text.contains(r#"scim_bridge_mapping_reloads_total{outcome="failed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"scim_bridge_mapping_reloads_total{outcome="ok"} 1"#),
            "{text}"
        );
        assert_eq!(metrics.mapping_info().last_error, None);
    }

    #[test]
    fn operations_name_their_resource_type() {
        assert_eq!(resource_type("patch_user"), "User");
        assert_eq!(resource_type("search_groups"), "Group");
        assert_eq!(resource_type("bulk"), "Bulk");
        assert_eq!(resource_type("get_schema"), "discovery");
        assert_eq!(status_class(503), "5xx");
    }
}
