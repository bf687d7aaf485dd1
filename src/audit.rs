//! The audit trail: one structured event per change the bridge makes in
//! Drupal (and per change it refused to protect an account), on the log
//! target `audit`, optionally appended to its own file (`audit.file`, JSON
//! lines), kept in memory (the last 100, for the status page) and counted
//! in the metrics. Reads are not audited.
//!
//! Provisioning reports what it changed through `record`; who asked (the
//! request id, the client, the site, the SCIM operation) comes from the
//! request's scope, which the HTTP layer opens around each SCIM request.
//! So provisioning needs no parameter for it, and the HTTP layer nothing of
//! Drupal.
//!
//! Durability: each event is one `write` of a whole line to a file opened
//! for appending, flushed at once, so a line is either written whole or not
//! at all, and a restart (or a crash of the bridge) loses none already
//! written: they are in the kernel's hands. The file is not fsynced per
//! event (a power cut may lose the last lines the OS had not written yet);
//! it is synced when reopened on SIGHUP.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::drupal::DrupalError;
use crate::metrics::Metrics;

/// Events kept in memory for the status page.
pub const RECENT: usize = 100;

/// What happened to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    UserCreated,
    UserUpdated,
    UserDeactivated,
    UserReactivated,
    /// SCIM DELETE under the `block` policy: blocked and hidden, kept.
    UserDeprovisioned,
    /// SCIM DELETE under the `delete` policy.
    UserDeleted,
    /// A term-backed group created, updated (renamed, or its externalId
    /// set) or deleted; the account fields name the group.
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    /// A member naming no account the bridge serves, left out of a group's
    /// change under `unknown_members: skip`.
    GroupMemberSkipped,
    /// A change refused because the account is protected (uid 1, a
    /// protected role).
    RefusedProtected,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::UserCreated => "user_created",
            EventKind::UserUpdated => "user_updated",
            EventKind::UserDeactivated => "user_deactivated",
            EventKind::UserReactivated => "user_reactivated",
            EventKind::UserDeprovisioned => "user_deprovisioned",
            EventKind::UserDeleted => "user_deleted",
            EventKind::GroupCreated => "group_created",
            EventKind::GroupUpdated => "group_updated",
            EventKind::GroupDeleted => "group_deleted",
            EventKind::GroupMemberAdded => "group_member_added",
            EventKind::GroupMemberRemoved => "group_member_removed",
            EventKind::GroupMemberSkipped => "group_member_skipped",
            EventKind::RefusedProtected => "refused_protected",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Drupal made the change.
    Ok,
    /// Drupal did not: it refused or failed the request, or the request
    /// never reached it. `detail` says why.
    Failed,
    /// The request may have reached Drupal, and no answer says what became
    /// of it (it timed out, the connection broke, the answer was garbled):
    /// Drupal may have made the change, or may still make it. `detail`
    /// says why.
    Unknown,
    /// The bridge refused it before asking Drupal.
    Refused,
    /// The site runs in dry run (`dry_run: true`): the write was logged and
    /// not sent, so Drupal holds nothing of it. Not `ok`, so that nothing
    /// reading the trail for the changes made (a filter on `ok`, a sum of
    /// `ok` events) takes it for one.
    DryRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
            Outcome::Refused => "refused",
            Outcome::DryRun => "dry_run",
        }
    }
}

/// The error a write ended with, as the audit trail records it: whether it
/// says the write may still have been applied.
pub trait WriteError: std::fmt::Display {
    /// The request may have reached Drupal, and no answer says whether
    /// Drupal carried it out.
    fn outcome_unknown(&self) -> bool {
        false
    }
}

impl WriteError for DrupalError {
    fn outcome_unknown(&self) -> bool {
        self.may_have_been_applied()
    }
}

impl WriteError for str {}

impl WriteError for String {}

impl<E: WriteError + ?Sized> WriteError for &E {
    fn outcome_unknown(&self) -> bool {
        (**self).outcome_unknown()
    }
}

/// `true`, `false`, or `none` when Drupal did not say.
fn shown(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "true",
        Some(false) => "false",
        None => "none",
    }
}

/// A value before and after the change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change<T> {
    pub before: T,
    pub after: T,
}

/// One change: the account and what changed, never a value of a field
/// other than `active` and the roles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub time: String,
    pub request_id: Option<String>,
    pub client: Option<String>,
    pub site: Option<String>,
    /// The SCIM operation, such as `patch_user`.
    pub operation: Option<&'static str>,
    pub event: EventKind,
    pub account_id: String,
    pub account_name: Option<String>,
    /// Names of the Drupal fields written (`pass` is named, never shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<Change<Option<bool>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Change<Vec<String>>>,
    /// The group (Drupal role) of a membership change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub outcome: Outcome,
    /// The site runs in dry run: nothing of this event reached Drupal
    /// (an `ok` is `dry_run`; a refusal or failure keeps its outcome).
    /// Written only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event about `account_id`, with the time now; the request's
    /// context is added by `record`.
    pub fn new(event: EventKind, account_id: &str, account_name: Option<&str>) -> AuditEvent {
        AuditEvent {
            time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            request_id: None,
            client: None,
            site: None,
            operation: None,
            event,
            account_id: account_id.to_string(),
            account_name: account_name.map(str::to_string),
            fields: Vec::new(),
            active: None,
            roles: None,
            group: None,
            outcome: Outcome::Ok,
            dry_run: false,
            detail: None,
        }
    }

    /// The event as a dry run's: marked, and `dry_run` where it would
    /// have been `ok`.
    fn mark_dry_run(&mut self) {
        self.dry_run = true;
        if self.outcome == Outcome::Ok {
            self.outcome = Outcome::DryRun;
        }
    }

    /// The write ended with `error`: `failed`, or `unknown` when the error
    /// says the request may have reached Drupal (a timeout): the audit
    /// trail must not say "not written" of a change Drupal may have made.
    pub fn failed(self, error: impl WriteError) -> AuditEvent {
        if error.outcome_unknown() {
            self.outcome_unknown(error)
        } else {
            self.ended(Outcome::Failed, error)
        }
    }

    /// The write's request may have reached Drupal, and nothing tells
    /// whether Drupal carried it out (whatever the error of a later look).
    pub fn outcome_unknown(self, error: impl WriteError) -> AuditEvent {
        self.ended(Outcome::Unknown, error)
    }

    fn ended(mut self, outcome: Outcome, detail: impl std::fmt::Display) -> AuditEvent {
        self.outcome = outcome;
        self.detail = Some(detail.to_string());
        self
    }

    pub fn refused(mut self, why: impl ToString) -> AuditEvent {
        self.outcome = Outcome::Refused;
        self.detail = Some(why.to_string());
        self
    }

    /// When it happened, for sorting and display.
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The event as one line of JSON. A client's value (a userName, a
    /// group's name, Drupal's error repeating it) cannot break the line or
    /// disguise the record: bidirectional controls, the line separators and
    /// every other invisible or control character are written as `\uXXXX`
    /// escapes (see `crate::untrusted`), which still decode to the value.
    fn to_line(&self) -> String {
        // A struct of strings, booleans and lists always serializes.
        let line = serde_json::to_string(self).unwrap_or_default();
        crate::untrusted::escape_line(&line).into_owned()
    }
}

/// Where this bridge's events go.
pub struct AuditTrail {
    file: Option<AuditFile>,
    recent: Mutex<VecDeque<Arc<AuditEvent>>>,
    metrics: Arc<Metrics>,
}

struct AuditFile {
    path: PathBuf,
    handle: Mutex<File>,
}

#[derive(Debug, thiserror::Error)]
#[error("audit.file {path}: {source}")]
pub struct AuditFileError {
    path: String,
    #[source]
    source: std::io::Error,
}

fn open_append(path: &Path) -> Result<File, AuditFileError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| AuditFileError {
            path: path.display().to_string(),
            source,
        })
}

impl AuditTrail {
    /// A trail writing to `file` too, when given (opened now: a path the
    /// bridge cannot write is an error at start-up, not a lost event later).
    pub fn new(file: Option<&Path>, metrics: Arc<Metrics>) -> Result<AuditTrail, AuditFileError> {
        let file = file
            .map(|path| {
                Ok::<_, AuditFileError>(AuditFile {
                    path: path.to_path_buf(),
                    handle: Mutex::new(open_append(path)?),
                })
            })
            .transpose()?;
        Ok(AuditTrail {
            file,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            metrics,
        })
    }

    /// Whether start-up could open `path` for appending, as `new` does,
    /// without writing to it: a file created to find out is removed.
    pub fn probe(path: &Path) -> Result<(), AuditFileError> {
        let existed = path.exists();
        drop(open_append(path)?);
        if !existed {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }

    /// Reopens the file (after logrotate moved it away); the old handle is
    /// synced first. On failure the old file stays in use.
    pub fn reopen(&self) -> Result<(), AuditFileError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let fresh = open_append(&file.path)?;
        let mut handle = file.handle.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = handle.sync_data();
        *handle = fresh;
        Ok(())
    }

    fn write(&self, event: AuditEvent) {
        let line = event.to_line();
        tracing::info!(
            target: "audit",
            request_id = event.request_id.as_deref().unwrap_or(""),
            client = event.client.as_deref().unwrap_or(""),
            site = event.site.as_deref().unwrap_or(""),
            operation = event.operation.unwrap_or(""),
            event = event.event.as_str(),
            account_id = event.account_id,
            account = event.account_name.as_deref().unwrap_or(""),
            fields = event.fields.join(","),
            active = event.active.as_ref().map(|a| format!("{} -> {}", shown(a.before), shown(a.after))).unwrap_or_default(),
            roles = event.roles.as_ref().map(|r| format!("[{}] -> [{}]", r.before.join(","), r.after.join(","))).unwrap_or_default(),
            group = event.group.as_deref().unwrap_or(""),
            outcome = event.outcome.as_str(),
            dry_run = event.dry_run,
            detail = event.detail.as_deref().unwrap_or(""),
            "audit"
        );
        if let Some(file) = &self.file {
            let mut handle = file.handle.lock().unwrap_or_else(PoisonError::into_inner);
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            if let Err(e) = handle.write_all(&bytes).and_then(|()| handle.flush()) {
                tracing::error!(file = %file.path.display(), error = %e, "cannot write the audit file; the event is in the log (target audit)");
            }
        }
        // Changes made, and refusals; not those Drupal may not have made.
        // A dry run's are counted apart: Drupal holds none of them.
        let site = event.site.as_deref().unwrap_or(crate::metrics::NO_SITE);
        let client = event.client.as_deref().unwrap_or("");
        match event.outcome {
            Outcome::Ok | Outcome::Refused if !event.dry_run => {
                self.metrics
                    .provisioning_event(event.event.as_str(), site, client);
            }
            Outcome::DryRun | Outcome::Refused if event.dry_run => {
                self.metrics
                    .dry_run_event(event.event.as_str(), site, client);
            }
            _ => {}
        }
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(Arc::new(event));
    }

    /// The last events, newest first; only those about `account` (its name
    /// or id, exactly) when given.
    pub fn recent(&self, account: Option<&str>) -> Vec<Arc<AuditEvent>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent
            .iter()
            .rev()
            .filter(|e| {
                account.is_none_or(|a| e.account_id == a || e.account_name.as_deref() == Some(a))
            })
            .cloned()
            .collect()
    }
}

/// Who asked for the changes of one SCIM request.
pub struct RequestScope {
    pub trail: Arc<AuditTrail>,
    pub request_id: String,
    /// Shared with the request's `Caller`: no copy per request.
    pub client: Arc<str>,
    pub site: Arc<str>,
    /// The site runs in dry run: its events are marked as such.
    dry_run: bool,
    operation: OnceLock<&'static str>,
}

impl RequestScope {
    pub fn new(
        trail: Arc<AuditTrail>,
        request_id: String,
        client: Arc<str>,
        site: Arc<str>,
    ) -> Self {
        RequestScope {
            trail,
            request_id,
            client,
            site,
            dry_run: false,
            operation: OnceLock::new(),
        }
    }

    /// The request is served by a site in dry run (`dry_run: true`): the
    /// writes it makes are logged, not sent, and its events say so.
    pub fn in_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }
}

tokio::task_local! {
    static SCOPE: Arc<RequestScope>;
}

/// Runs `work` (one SCIM request) with `scope` as the origin of its events.
pub async fn within<F: Future>(scope: RequestScope, work: F) -> F::Output {
    SCOPE.scope(Arc::new(scope), work).await
}

/// Names the SCIM operation of the request being served.
pub fn set_operation(operation: &'static str) {
    let _ = SCOPE.try_with(|scope| scope.operation.set(operation));
}

/// Records `event` with the current request's origin. Outside a request
/// (nothing writes there today) it still goes to the log.
pub fn record(mut event: AuditEvent) {
    let recorded = SCOPE.try_with(|scope| {
        event.request_id = Some(scope.request_id.clone());
        event.client = Some(scope.client.to_string());
        event.site = Some(scope.site.to_string());
        event.operation = scope.operation.get().copied();
        if scope.dry_run {
            event.mark_dry_run();
        }
        scope.trail.write(event.clone());
    });
    if recorded.is_err() {
        tracing::info!(target: "audit", event = event.event.as_str(), account_id = event.account_id, outcome = event.outcome.as_str(), "audit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(file: Option<&Path>) -> Arc<AuditTrail> {
        Arc::new(AuditTrail::new(file, Arc::new(Metrics::new())).unwrap())
    }

    fn scope(trail: &Arc<AuditTrail>) -> RequestScope {
        RequestScope::new(
            trail.clone(),
            "req-1".into(),
            "okta".into(),
            "default".into(),
        )
    }

    #[tokio::test]
    async fn events_carry_the_request_origin_and_go_to_the_file_as_json_lines() {
        let dir = std::env::temp_dir().join(format!("audit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let trail = trail(Some(&path));
        within(scope(&trail), async {
            set_operation("patch_user");
            let mut event = AuditEvent::new(EventKind::UserDeactivated, "u-1", Some("ada"));
            event.fields = vec!["status".into()];
            event.active = Some(Change {
                before: Some(true),
                after: Some(false),
            });
            record(event);
        })
        .await;
        let text = std::fs::read_to_string(&path).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["client"], "okta");
        assert_eq!(line["operation"], "patch_user");
        assert_eq!(line["event"], "user_deactivated");
        assert_eq!(line["active"]["after"], false);
        assert_eq!(line["outcome"], "ok");
        // Moved away by logrotate, then reopened: the next line goes to a new file.
        std::fs::rename(&path, dir.join("audit.jsonl.1")).unwrap();
        trail.reopen().unwrap();
        within(scope(&trail), async {
            record(AuditEvent::new(EventKind::UserUpdated, "u-2", Some("bob")));
        })
        .await;
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_last_hundred_are_kept_newest_first_and_filter_by_account() {
        let trail = trail(None);
        within(scope(&trail), async {
            for n in 0..105 {
                record(AuditEvent::new(
                    EventKind::UserUpdated,
                    &format!("u-{n}"),
                    Some(&format!("user{}", n % 2)),
                ));
            }
        })
        .await;
        let all = trail.recent(None);
        assert_eq!(all.len(), RECENT);
        assert_eq!(all[0].account_id, "u-104");
        assert_eq!(trail.recent(Some("user1")).len(), 50);
        assert_eq!(trail.recent(Some("u-7")).len(), 1);
    }
}
