//! The bridge's metrics, in Prometheus' conventions, and the small API the
//! other layers record them through.
//!
//! One `Metrics` per running bridge (not a process-wide registry): tests run
//! many bridges in one process, and each must count only its own requests.
//! Every series but `build_info` and the configuration's reloads (which
//! concern the file, all sites at once) carries the `site` it concerns:
//! each site has its own `SiteMetrics` (`Metrics::site`), and a scrape
//! reports the sites served at that moment, so a site removed by a reload
//! stops being reported. The layers reach them in the way that keeps each independent:
//! - the HTTP layer finds `Metrics` in the application data (`scim_request`);
//! - each site's Drupal client knows only its `DrupalObserver` trait, which
//!   `SiteMetrics` implements (calls, logins, waits for a slot);
//! - provisioning events come from the audit trail (`crate::audit`), which
//!   counts each event it records;
//! - the mapping reloader of each site is handed its `SiteMetrics`
//!   (`mapping_loaded`, `reload_failed`), and the configuration's reloader
//!   the `Metrics` (`config_reloaded`);
//! - the breaker, queue and limit gauges are read at each scrape from the
//!   Drupal clients of the sites served (`watch_sites`).
//!
//! Label values are bounded: operation and outcome names are fixed in the
//! code, site and client names come from the configuration. Never an id or
//! a user name.

pub mod history;

use crate::fixed_keys::FixedKeyMap;

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::drupal::observer::{CallOutcome, DrupalObserver, LoginOutcome, ShedReason};
use crate::drupal::resilience::BreakerView;
use crate::drupal::DrupalClient;
use history::History;

/// The content type of `render`'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The site of SCIM requests that named none the bridge knows (no valid
/// credentials), and of events without a site.
pub const NO_SITE: &str = "none";

/// The client of SCIM requests without valid credentials, in the logs,
/// the audit trail and the metrics; no configured client may be named so.
pub const NO_CLIENT: &str = "none";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScimLabels {
    operation: &'static str,
    resource_type: &'static str,
    status_class: &'static str,
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
struct ShedLabels {
    operation: &'static str,
    reason: &'static str,
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
    client: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A series without labels of its own (only `site`).
#[derive(Debug)]
struct NoLabels;

impl EncodeLabelSet for NoLabels {
    fn encode(&self, _encoder: LabelSetEncoder) -> Result<(), std::fmt::Error> {
        Ok(())
    }
}

/// A series' labels with `site` first.
struct WithSite<'a, L> {
    site: &'a str,
    labels: &'a L,
}

impl<L: EncodeLabelSet> EncodeLabelSet for WithSite<'_, L> {
    fn encode(&self, mut encoder: LabelSetEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeLabel;
        ("site", self.site).encode(encoder.encode_label())?;
        self.labels.encode(encoder)
    }
}

/// One site's series of one metric, by their other labels.
struct Series<L, M> {
    // FNV-1a: label sets are a few short names from the configuration and
    // the code, never chosen by a client.
    metrics: RwLock<FixedKeyMap<L, M>>,
    new: fn() -> M,
}

impl<L: Hash + Eq + Clone, M> Series<L, M> {
    fn new(new: fn() -> M) -> Self {
        Series {
            metrics: RwLock::new(HashMap::default()),
            new,
        }
    }

    fn with(&self, labels: &L, change: impl FnOnce(&M)) {
        let read = self.metrics.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(metric) = read.get(labels) {
            return change(metric);
        }
        drop(read);
        let mut write = self.metrics.write().unwrap_or_else(PoisonError::into_inner);
        change(write.entry(labels.clone()).or_insert_with(self.new));
    }

    fn encode(&self, site: &str, encoder: &mut MetricEncoder) -> Result<(), std::fmt::Error>
    where
        L: EncodeLabelSet,
        M: EncodeMetric,
    {
        let read = self.metrics.read().unwrap_or_else(PoisonError::into_inner);
        for (labels, metric) in read.iter() {
            metric.encode(encoder.encode_family(&WithSite { site, labels })?)?;
        }
        Ok(())
    }
}

impl<L: Hash + Eq + Clone + Default, M: Default> Default for Series<L, M> {
    fn default() -> Self {
        Series::new(M::default)
    }
}

fn one<M: EncodeMetric>(
    metric: &M,
    site: &str,
    encoder: &mut MetricEncoder,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_family(&WithSite {
        site,
        labels: &NoLabels,
    })?)
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

fn latency_buckets() -> Histogram {
    // 5 ms to about 10 s: Drupal answers in 25-100 ms, a slow site in seconds.
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn count_buckets() -> Histogram {
    Histogram::new([0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 50.0, 100.0])
}

/// One site's metrics: what its SCIM clients asked, what its Drupal
/// answered, and its mapping. Its Drupal client reports to it.
pub struct SiteMetrics {
    id: Arc<str>,
    /// The bridge's last hour, which every site adds to.
    history: Arc<History>,
    scim_requests: Series<ScimLabels, Counter>,
    scim_duration: Series<ScimKind, Histogram>,
    drupal_per_scim: Series<ScimKind, Histogram>,
    drupal_requests: Series<DrupalLabels, Counter>,
    drupal_shed: Series<ShedLabels, Counter>,
    drupal_duration: Series<OperationLabel, Histogram>,
    logins: Series<OutcomeLabel, Counter>,
    slot_wait: Histogram,
    slot_refused: Counter,
    provisioning: Series<EventLabels, Counter>,
    dry_run_events: Series<EventLabels, Counter>,
    reloads: Series<OutcomeLabel, Counter>,
    mapping_loaded: Gauge<f64, AtomicU64>,
    last_drupal_ok: Mutex<Option<Instant>>,
    mapping: Mutex<MappingInfo>,
}

impl SiteMetrics {
    fn new(id: Arc<str>, history: Arc<History>) -> SiteMetrics {
        SiteMetrics {
            id,
            history,
            scim_requests: Series::new(Counter::default),
            scim_duration: Series::new(latency_buckets),
            drupal_per_scim: Series::new(count_buckets),
            drupal_requests: Series::new(Counter::default),
            drupal_shed: Series::new(Counter::default),
            drupal_duration: Series::new(latency_buckets),
            logins: Series::new(Counter::default),
            slot_wait: latency_buckets(),
            slot_refused: Counter::default(),
            provisioning: Series::new(Counter::default),
            dry_run_events: Series::new(Counter::default),
            reloads: Series::new(Counter::default),
            mapping_loaded: Gauge::default(),
            last_drupal_ok: Mutex::new(None),
            mapping: Mutex::new(MappingInfo::default()),
        }
    }

    /// The site's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn scim_request(&self, request: &ScimRequest<'_>) {
        let resource_type = resource_type(request.operation);
        self.scim_requests.with(
            &ScimLabels {
                operation: request.operation,
                resource_type,
                status_class: status_class(request.status),
                client: request.client.to_string(),
            },
            |c| {
                c.inc();
            },
        );
        let kind = ScimKind {
            operation: request.operation,
            resource_type,
        };
        self.scim_duration
            .with(&kind, |h| h.observe(request.latency.as_secs_f64()));
        self.drupal_per_scim
            .with(&kind, |h| h.observe(request.drupal_requests as f64));
        self.history.scim_request(request.status);
    }

    /// A change made in Drupal, or one refused to protect an account.
    pub fn provisioning_event(&self, event: &'static str, client: &str) {
        self.provisioning.with(
            &EventLabels {
                event,
                client: client.to_string(),
            },
            |c| {
                c.inc();
            },
        );
    }

    /// A change a site in dry run would have made (nothing was sent to
    /// Drupal), or a refusal there: never counted as a change made.
    pub fn dry_run_event(&self, event: &'static str, client: &str) {
        self.dry_run_events.with(
            &EventLabels {
                event,
                client: client.to_string(),
            },
            |c| {
                c.inc();
            },
        );
    }

    /// The mapping in `file` is now the one in use. The first load is no
    /// reload, but it starts both outcomes' series at 0, so that the first
    /// failure is an increase an alert sees.
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
        if first {
            self.reloads
                .with(&OutcomeLabel { outcome: "failed" }, |_| {});
        }
        self.reloads.with(&OutcomeLabel { outcome: "ok" }, |c| {
            if !first {
                c.inc();
            }
        });
    }

    /// A changed mapping was refused; the previous one stays in use.
    pub fn reload_failed(&self, error: &str) {
        self.reloads.with(&OutcomeLabel { outcome: "failed" }, |c| {
            c.inc();
        });
        let mut info = self.mapping.lock().unwrap_or_else(PoisonError::into_inner);
        info.last_error = Some(error.to_string());
    }

    pub fn mapping_info(&self) -> MappingInfo {
        self.mapping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// When the site's Drupal last answered a call of the bridge's account.
    pub fn last_drupal_ok(&self) -> Option<Instant> {
        *self
            .last_drupal_ok
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl DrupalObserver for SiteMetrics {
    fn call(&self, op: &'static str, outcome: CallOutcome, latency: Duration) {
        self.drupal_requests.with(
            &DrupalLabels {
                operation: op,
                outcome: outcome.as_str(),
            },
            |c| {
                c.inc();
            },
        );
        self.drupal_duration
            .with(&OperationLabel { operation: op }, |h| {
                h.observe(latency.as_secs_f64())
            });
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

    fn shed(&self, op: &'static str, reason: ShedReason) {
        self.drupal_shed.with(
            &ShedLabels {
                operation: op,
                reason: reason.as_str(),
            },
            |c| {
                c.inc();
            },
        );
    }

    fn login(&self, outcome: LoginOutcome) {
        self.logins.with(
            &OutcomeLabel {
                outcome: outcome.as_str(),
            },
            |c| {
                c.inc();
            },
        );
    }

    fn slot_waited(&self, waited: Duration) {
        self.slot_wait.observe(waited.as_secs_f64());
    }

    fn slot_refused(&self) {
        self.slot_refused.inc();
    }
}

/// The sites served now, each with its Drupal client.
type LiveSites = dyn Fn() -> Vec<(Arc<str>, DrupalClient)> + Send + Sync;

struct Sites {
    by_id: RwLock<BTreeMap<Arc<str>, Arc<SiteMetrics>>>,
    live: OnceLock<Box<LiveSites>>,
}

/// One site as a scrape reports it.
struct Reported {
    metrics: Arc<SiteMetrics>,
    drupal: Option<DrupalClient>,
}

impl Sites {
    /// The sites served (with `none`, the requests of no site), or every
    /// site known when nobody said which are served.
    fn reported(&self) -> Vec<Reported> {
        // Asked before the lock is taken: it reads the site registry's.
        let served = self.live.get().map(|live| live());
        let by_id = self.by_id.read().unwrap_or_else(PoisonError::into_inner);
        let Some(served) = served else {
            return by_id
                .values()
                .map(|metrics| Reported {
                    metrics: metrics.clone(),
                    drupal: None,
                })
                .collect();
        };
        let mut served: BTreeMap<Arc<str>, DrupalClient> = served.into_iter().collect();
        by_id
            .iter()
            .filter_map(|(id, metrics)| {
                let drupal = served.remove(id);
                (drupal.is_some() || &**id == NO_SITE).then(|| Reported {
                    metrics: metrics.clone(),
                    drupal,
                })
            })
            .collect()
    }
}

/// Encodes every site's series at a scrape.
struct SiteCollector(Arc<Sites>);

impl std::fmt::Debug for SiteCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteCollector")
    }
}

/// One metric: its descriptor, then each site's series.
fn family(
    encoder: &mut DescriptorEncoder,
    (name, help, unit, kind): (&str, &str, Option<&Unit>, MetricType),
    sites: &[Reported],
    each: impl Fn(&Reported, &mut MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, unit, kind)?;
    for site in sites {
        each(site, &mut metric)?;
    }
    Ok(())
}

impl Collector for SiteCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge, Histogram};
        let sites = self.0.reported();
        let seconds = Unit::Seconds;
        let e = &mut encoder;
        family(
            e,
            ("scim_requests", "SCIM requests answered, by site, operation, resource type, status class and client", None, Counter),
            &sites,
            |s, m| s.metrics.scim_requests.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            (
                "scim_request_duration",
                "Time to answer a SCIM request",
                Some(&seconds),
                Histogram,
            ),
            &sites,
            |s, m| s.metrics.scim_duration.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            (
                "drupal_requests_per_scim_request",
                "Drupal requests made to answer one SCIM request",
                None,
                Histogram,
            ),
            &sites,
            |s, m| s.metrics.drupal_per_scim.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            ("drupal_requests", "Drupal JSON:API calls by site, operation and outcome (retries included in one call)", None, Counter),
            &sites,
            |s, m| s.metrics.drupal_requests.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            ("drupal_shed", "Drupal calls the bridge refused itself, sending nothing (reason: queue, the concurrency limit's queue; circuit, the open circuit breaker), by site and operation; not in drupal_requests", None, Counter),
            &sites,
            |s, m| s.metrics.drupal_shed.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            (
                "drupal_request_duration",
                "Time of one Drupal call, retries and waits included",
                Some(&seconds),
                Histogram,
            ),
            &sites,
            |s, m| s.metrics.drupal_duration.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            (
                "drupal_logins",
                "Logins to Drupal by site and outcome (ok, refused, flood, error)",
                None,
                Counter,
            ),
            &sites,
            |s, m| s.metrics.logins.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            ("drupal_circuit_breaker_state", "1 for the circuit breaker's current state (closed, open, half_open), 0 for the others", None, Gauge),
            &sites,
            |s, m| {
                let Some(drupal) = &s.drupal else { return Ok(()) };
                let current = drupal.breaker_state();
                for state in [BreakerView::Closed, BreakerView::Open, BreakerView::HalfOpen] {
                    m.encode_family(&WithSite {
                        site: &s.metrics.id,
                        labels: &StateLabel { state: state.as_str() },
                    })?
                    .encode_gauge(&i64::from(state == current))?;
                }
                Ok(())
            },
        )?;
        family(
            e,
            ("drupal_concurrency_limit", "Drupal calls allowed in flight now: the limit drupal.concurrency keeps (fixed, or found from Drupal's latency)", None, Gauge),
            &sites,
            |s, m| {
                let Some(drupal) = &s.drupal else { return Ok(()) };
                let limit = i64::try_from(drupal.concurrency_limit()).unwrap_or(i64::MAX);
                m.encode_family(&WithSite { site: &s.metrics.id, labels: &NoLabels })?
                    .encode_gauge(&limit)
            },
        )?;
        family(
            e,
            (
                "drupal_slot_waiting",
                "Drupal calls waiting now for a slot under drupal.max_concurrency",
                None,
                Gauge,
            ),
            &sites,
            |s, m| {
                let Some(drupal) = &s.drupal else {
                    return Ok(());
                };
                let waiting = i64::try_from(drupal.waiting_for_slot()).unwrap_or(i64::MAX);
                m.encode_family(&WithSite {
                    site: &s.metrics.id,
                    labels: &NoLabels,
                })?
                .encode_gauge(&waiting)
            },
        )?;
        family(
            e,
            (
                "drupal_slot_wait",
                "Time Drupal calls that had to queue waited for a slot",
                Some(&seconds),
                Histogram,
            ),
            &sites,
            |s, m| match s.drupal {
                Some(_) => one(&s.metrics.slot_wait, &s.metrics.id, m),
                None => Ok(()),
            },
        )?;
        family(
            e,
            (
                "drupal_slot_refusals",
                "Drupal calls refused a slot (queue full or waited too long), answered 503",
                None,
                Counter,
            ),
            &sites,
            |s, m| match s.drupal {
                Some(_) => one(&s.metrics.slot_refused, &s.metrics.id, m),
                None => Ok(()),
            },
        )?;
        family(
            e,
            ("provisioning_events", "Changes made in Drupal by site, kind and client, and refusals that protected an account", None, Counter),
            &sites,
            |s, m| s.metrics.provisioning.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            ("provisioning_dry_run_events", "Changes a site in dry run (dry_run: true) would have made in Drupal, and its refusals, by site, kind and client: nothing of them was sent to Drupal", None, Counter),
            &sites,
            |s, m| s.metrics.dry_run_events.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            (
                "mapping_reloads",
                "Mapping reloads by site and outcome (ok, failed: the previous mapping is kept)",
                None,
                Counter,
            ),
            &sites,
            |s, m| s.metrics.reloads.encode(&s.metrics.id, m),
        )?;
        family(
            e,
            (
                "mapping_loaded_timestamp_seconds",
                "When the site's mapping in use was loaded (Unix time)",
                None,
                Gauge,
            ),
            &sites,
            |s, m| {
                if s.metrics.mapping_info().loaded_at.is_none() {
                    return Ok(());
                }
                one(&s.metrics.mapping_loaded, &s.metrics.id, m)
            },
        )?;
        Ok(())
    }
}

/// How a reload of the configuration file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigReload {
    /// Every site runs what the file (and its mapping files) say.
    Ok,
    /// Something was refused: the whole file (every site keeps its
    /// settings), or one site's settings or mapping (that site keeps its
    /// previous ones; a new site is not added); or a bridge-wide key
    /// (`listen`, `audit.file`, ...) changed, which only a restart
    /// applies. The log says what.
    Failed,
}

impl ConfigReload {
    fn as_str(self) -> &'static str {
        match self {
            ConfigReload::Ok => "ok",
            ConfigReload::Failed => "failed",
        }
    }
}

/// The configuration file's reloads (SIGHUP). Bridge-wide, not per site: a
/// file that does not load concerns every site, and a new site refused is
/// not served, so a series of its own would never be reported.
#[derive(Default)]
struct ConfigReloads {
    reloads: Family<OutcomeLabel, Counter>,
    /// 1 while the settings in force are the file's, 0 from a refused
    /// reload until one succeeds.
    last_successful: Gauge,
    last_success: Gauge<f64, AtomicU64>,
}

pub struct Metrics {
    registry: Registry,
    sites: Arc<Sites>,
    history: Arc<History>,
    config: ConfigReloads,
    /// Requests the HTTP codec refused before the bridge read them.
    http_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("scim_bridge");
        let sites = Arc::new(Sites {
            by_id: RwLock::new(BTreeMap::new()),
            live: OnceLock::new(),
        });
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The bridge's version; always 1", build);
        registry.register_collector(Box::new(SiteCollector(sites.clone())));
        let config = ConfigReloads::default();
        // Both outcomes from 0, so that the first failure is an increase.
        for outcome in [ConfigReload::Ok, ConfigReload::Failed] {
            drop(config.reloads.get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            }));
        }
        // The bridge starts on the configuration it was built from.
        config.last_successful.set(1);
        config.last_success.set(unix_now());
        registry.register(
            "config_reloads",
            "Reloads of the configuration file (SIGHUP) by outcome: ok, or failed (the whole file, or a site's settings or mapping, was refused and the previous settings kept; or a bridge-wide key changed, which takes a restart)",
            config.reloads.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "1 when the settings in force are the configuration file's (start-up, or the last reload applied everything); 0 after a refused reload, until one succeeds: a token rotation or password change in the file is not in force; 0 too after a reload found a bridge-wide key (listen, server, metrics, health, audit) changed, until a restart",
            config.last_successful.clone(),
        );
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "When the configuration in force was last applied whole, at start-up or by a reload (Unix time)",
            config.last_success.clone(),
        );
        let http_refused = Counter::default();
        registry.register(
            "http_requests_refused",
            "Requests the HTTP codec refused before the bridge read them (not valid HTTP: 400; headers too large or too many: 431; headers too slow: 408), each answered with a SCIM error; the codec's own log of them is off by default",
            http_refused.clone(),
        );
        Metrics {
            registry,
            sites,
            history: Arc::default(),
            config,
            http_refused,
        }
    }

    /// The counter of requests the HTTP codec refused, for the SCIM
    /// port's sockets (`http::scim_port`).
    pub fn http_refused(&self) -> Counter {
        self.http_refused.clone()
    }

    /// A reload of the configuration file ended so.
    pub fn config_reloaded(&self, outcome: ConfigReload) {
        self.config
            .reloads
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
        match outcome {
            ConfigReload::Ok => {
                self.config.last_successful.set(1);
                self.config.last_success.set(unix_now());
            }
            ConfigReload::Failed => {
                self.config.last_successful.set(0);
            }
        }
    }

    /// The metrics of the site `id`, created on first use. Its Drupal
    /// client reports to them (`DrupalClient::observe`); a site rebuilt by
    /// a reload keeps counting in the same ones.
    pub fn site(&self, id: &str) -> Arc<SiteMetrics> {
        if let Some(site) = self
            .sites
            .by_id
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return site.clone();
        }
        self.sites
            .by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id.into())
            .or_insert_with_key(|id| Arc::new(SiteMetrics::new(id.clone(), self.history.clone())))
            .clone()
    }

    /// Forgets a removed site's metrics (a scrape already leaves out every
    /// site `watch_sites` does not name).
    pub fn forget_site(&self, id: &str) {
        self.sites
            .by_id
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// At each scrape, `served` names the sites served and their Drupal
    /// clients: only their series are reported, and their breaker, queue
    /// and limit are read from their clients. Set once.
    pub fn watch_sites(
        &self,
        served: impl Fn() -> Vec<(Arc<str>, DrupalClient)> + Send + Sync + 'static,
    ) {
        let _ = self.sites.live.set(Box::new(served));
    }

    pub fn scim_request(&self, request: &ScimRequest<'_>) {
        self.site(request.site).scim_request(request);
    }

    /// A change made in Drupal for `site`, or one refused to protect an account.
    pub fn provisioning_event(&self, event: &'static str, site: &str, client: &str) {
        self.site(site).provisioning_event(event, client);
    }

    /// A change a site in dry run would have made, or a refusal there.
    pub fn dry_run_event(&self, event: &'static str, site: &str, client: &str) {
        self.site(site).dry_run_event(event, client);
    }

    /// Per-minute totals of the last hour, all sites together.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The Prometheus text (OpenMetrics) of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
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
        let site = metrics.site("default");
        site.call("create_user", CallOutcome::Ok, Duration::from_millis(30));
        site.login(LoginOutcome::Refused);
        metrics.provisioning_event("user_created", "default", "okta");
        let text = metrics.render();
        assert!(text.contains(r#"scim_bridge_scim_requests_total{site="default",operation="create_user",resource_type="User",status_class="2xx",client="okta"} 1"#), "{text}");
        assert!(
            text.contains(
                "scim_bridge_scim_request_duration_seconds_bucket{le=\"0.005\",site=\"default\","
            ),
            "{text}"
        );
        assert!(text.contains(r#"scim_bridge_drupal_requests_per_scim_request_sum{site="default",operation="create_user",resource_type="User"} 3.0"#), "{text}");
        assert!(
            text.contains(
                r#"scim_bridge_drupal_requests_total{site="default",operation="create_user",outcome="ok"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"scim_bridge_drupal_logins_total{site="default",outcome="refused"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"scim_bridge_provisioning_events_total{site="default",event="user_created",client="okta"} 1"#), "{text}");
        assert!(
            text.contains(r#"scim_bridge_build_info{version=""#),
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE scim_bridge_drupal_requests counter")
                .count(),
            1,
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn each_site_counts_its_own_and_only_the_served_sites_are_reported() {
        let metrics = Metrics::new();
        metrics
            .site("a")
            .call("get_user", CallOutcome::Ok, Duration::from_millis(5));
        metrics
            .site("b")
            .call("get_user", CallOutcome::Failed, Duration::from_millis(5));
        metrics.site("b").slot_refused();
        let text = metrics.render();
        for series in [
            r#"scim_bridge_drupal_requests_total{site="a",operation="get_user",outcome="ok"} 1"#,
            r#"scim_bridge_drupal_requests_total{site="b",operation="get_user",outcome="failed"} 1"#,
        ] {
            assert!(text.contains(series), "{series}: {text}");
        }
        assert!(!text.contains(r#"{site="a",operation="get_user",outcome="failed"}"#));
        // Once told which sites are served, only those are reported (and
        // `none`, the requests of no site).
        metrics.scim_request(&ScimRequest {
            operation: "none",
            status: 401,
            site: NO_SITE,
            client: "none",
            latency: Duration::from_millis(1),
            drupal_requests: 0,
        });
        metrics.watch_sites(Vec::new);
        let text = metrics.render();
        assert!(!text.contains("site=\"a\""), "{text}");
        assert!(!text.contains("site=\"b\""), "{text}");
        assert!(
            text.contains(r#"scim_bridge_scim_requests_total{site="none",operation="none""#),
            "{text}"
        );
    }

    #[test]
    fn the_first_load_is_no_reload_and_a_failure_keeps_the_loaded_mapping() {
        let metrics = Metrics::new();
        let site = metrics.site("default");
        site.mapping_loaded("a.yaml");
        // No reload yet, but both series exist: Prometheus' increase() sees
        // the first failure only as a change from a value it scraped.
        let text = metrics.render();
        for outcome in ["ok", "failed"] {
            assert!(
                text.contains(&format!(
                    "scim_bridge_mapping_reloads_total{{site=\"default\",outcome=\"{outcome}\"}} 0"
                )),
                "{text}"
            );
        }
        site.reload_failed("bad");
        site.mapping_loaded("a.yaml");
        let text = metrics.render();
        assert!(
            text.contains(
                r#"scim_bridge_mapping_reloads_total{site="default",outcome="failed"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"scim_bridge_mapping_reloads_total{site="default",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"scim_bridge_mapping_loaded_timestamp_seconds{site="default"} "#),
            "{text}"
        );
        assert_eq!(site.mapping_info().last_error, None);
    }

    #[test]
    fn a_refused_configuration_reload_is_counted_and_marks_the_settings_stale_until_one_succeeds() {
        let metrics = Metrics::new();
        let text = metrics.render();
        for series in [
            r#"scim_bridge_config_reloads_total{outcome="ok"} 0"#,
            r#"scim_bridge_config_reloads_total{outcome="failed"} 0"#,
            "scim_bridge_config_last_reload_successful 1",
            "scim_bridge_config_last_reload_success_timestamp_seconds ",
        ] {
            assert!(text.contains(series), "{series}: {text}");
        }
        metrics.config_reloaded(ConfigReload::Failed);
        let text = metrics.render();
        assert!(
            text.contains(r#"scim_bridge_config_reloads_total{outcome="failed"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("scim_bridge_config_last_reload_successful 0"),
            "{text}"
        );
        metrics.config_reloaded(ConfigReload::Ok);
        let text = metrics.render();
        assert!(
            text.contains(r#"scim_bridge_config_reloads_total{outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("scim_bridge_config_last_reload_successful 1"),
            "{text}"
        );
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
