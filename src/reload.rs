//! Reloading the mapping file while serving: on SIGHUP, and when the file
//! changes. A new mapping is checked completely before it replaces the old
//! one; requests already running finish with the mapping they started with,
//! and an invalid file leaves the running mapping in place.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};

use crate::audit::AuditTrail;
use crate::mapping::{Mapping, MappingError};
use crate::metrics::SiteMetrics;
use crate::provisioning::{Provisioner, UnfitMapping};

/// How often `serve` looks at the mapping file's modification time.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error("{file}: {source}")]
    Unfit {
        file: String,
        #[source]
        source: UnfitMapping,
    },
}

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

pub struct MappingReloader {
    provisioner: Arc<Provisioner>,
    path: PathBuf,
    /// The version last loaded or refused; `None` while the file is missing.
    seen: Option<Stamp>,
    /// Counts reloads and shows the mapping in use, when given.
    metrics: Option<Arc<SiteMetrics>>,
    /// Reopened on SIGHUP (logrotate), when given.
    audit: Option<Arc<AuditTrail>>,
}

impl MappingReloader {
    /// Watches `path`, whose current content the provisioner already runs.
    pub fn new(provisioner: Arc<Provisioner>, path: PathBuf) -> MappingReloader {
        let seen = stamp(&path);
        MappingReloader {
            provisioner,
            path,
            seen,
            metrics: None,
            audit: None,
        }
    }

    /// Reports each reload to the site's `metrics`, and reopens `audit`'s
    /// file on SIGHUP, the signal logrotate sends.
    pub fn reporting_to(mut self, metrics: Arc<SiteMetrics>, audit: Arc<AuditTrail>) -> Self {
        self.metrics = Some(metrics);
        self.audit = Some(audit);
        self
    }

    /// The file watched, as the log and the status page name it.
    pub fn file(&self) -> String {
        self.path.display().to_string()
    }

    /// Loads and checks the file, then swaps it in. On any error the
    /// running mapping stays, and the error says what to fix.
    pub fn reload(&mut self) -> Result<(), ReloadError> {
        self.seen = stamp(&self.path);
        let file = self.path.display().to_string();
        let outcome = Mapping::load_file(&self.path)
            .map_err(ReloadError::from)
            .and_then(|mapping| {
                self.provisioner
                    .replace_mapping(mapping)
                    .map_err(|source| match source {
                        // Placed in the file already (file:line:column).
                        UnfitMapping::Owned(e) => ReloadError::Mapping(e),
                        source => ReloadError::Unfit {
                            file: file.clone(),
                            source,
                        },
                    })
            });
        if let Some(metrics) = &self.metrics {
            match &outcome {
                Ok(()) => metrics.mapping_loaded(&file),
                Err(e) => metrics.reload_failed(&e.to_string()),
            }
        }
        match &outcome {
            Ok(()) => tracing::info!(mapping = file, "mapping reloaded; new requests use it"),
            Err(e) => tracing::error!(
                mapping = file,
                error = %e,
                "the changed mapping is not used; the bridge keeps running with the previous one"
            ),
        }
        outcome
    }

    /// Reloads if the file changed since it was last read; `None` when it
    /// did not (or is missing: a file being replaced is not an error yet).
    pub fn reload_if_changed(&mut self) -> Option<Result<(), ReloadError>> {
        let now = stamp(&self.path)?;
        if self.seen == Some(now) {
            return None;
        }
        Some(self.reload())
    }

    /// Reloads on every SIGHUP, and when a look every `interval` finds the
    /// file changed. Runs until the task is dropped.
    pub async fn watch(mut self, interval: Duration) {
        let mut hangups = Hangups::listen("the mapping file is still watched for changes");
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some(()) = hangups.next() => {
                    tracing::info!("SIGHUP: reopening the audit file and reloading the mapping");
                    reopen_audit(self.audit.as_deref());
                    // The outcome is logged by `reload`.
                    let _ = self.reload();
                }
                _ = ticks.tick() => {
                    let _ = self.reload_if_changed();
                }
            }
        }
    }
}

/// SIGHUP, the signal operators and logrotate send to reload.
pub(crate) struct Hangups(Option<tokio::signal::unix::Signal>);

impl Hangups {
    /// Listens for SIGHUP; when it cannot, says so and what still works.
    pub(crate) fn listen(still: &str) -> Hangups {
        match signal(SignalKind::hangup()) {
            Ok(stream) => Hangups(Some(stream)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; {still}");
                Hangups(None)
            }
        }
    }

    /// The next SIGHUP; never, when none can be received.
    pub(crate) async fn next(&mut self) -> Option<()> {
        match &mut self.0 {
            Some(stream) => stream.recv().await,
            None => std::future::pending().await,
        }
    }
}

/// Reopens the audit file (logrotate moved it), logging a failure.
pub(crate) fn reopen_audit(audit: Option<&AuditTrail>) {
    if let Some(audit) = audit {
        if let Err(e) = audit.reopen() {
            tracing::error!(error = %e, "cannot reopen the audit file; events still go to the previous one");
        }
    }
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}
