//! What the Drupal client reports about itself to whoever watches it (the
//! metrics, readiness). The client knows nothing of who that is: it calls
//! a `DrupalObserver` it was given, or nobody. A trait rather than a call
//! into the metrics module keeps this layer free of everything above it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How one Drupal call ended, as a bounded metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// Drupal has no such resource (404): an answer, not a failure.
    NotFound,
    /// Drupal refused the request (4xx other than 404, validation).
    Refused,
    /// The credentials were not accepted.
    Credentials,
    /// Drupal failed, timed out or was not reached.
    Failed,
}

/// Why the bridge answered a call itself instead of sending it (a shed
/// call is no Drupal request: it is reported apart, never as a call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// The concurrency limit's queue is full (or the request it serves
    /// was refused there), or the wait for a slot ran out.
    Queue,
    /// The circuit breaker is open.
    Circuit,
    /// Drupal's flood control blocks the bridge's logins for a while
    /// (`DrupalError::LoginPaused`): nothing is sent until it ends.
    Login,
}

impl ShedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ShedReason::Queue => "queue",
            ShedReason::Circuit => "circuit",
            ShedReason::Login => "login",
        }
    }
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::NotFound => "not_found",
            CallOutcome::Refused => "refused",
            CallOutcome::Credentials => "credentials",
            CallOutcome::Failed => "failed",
        }
    }
}

/// How a login to Drupal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Ok,
    /// Drupal refused the credentials.
    Refused,
    /// Drupal's flood control blocks the account.
    Flood,
    /// Drupal could not be asked (unreachable, failing).
    Error,
}

impl LoginOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Ok => "ok",
            LoginOutcome::Refused => "refused",
            LoginOutcome::Flood => "flood",
            LoginOutcome::Error => "error",
        }
    }
}

/// Told about every Drupal call, login and wait for a slot. Called on the
/// request's path: implementations must be quick and must not block.
pub trait DrupalObserver: Send + Sync {
    /// One call (`op` is the client's operation name, such as `get_user`)
    /// and its time including retries and waits. Only calls sent to
    /// Drupal: see `shed`.
    fn call(&self, op: &'static str, outcome: CallOutcome, latency: Duration);
    /// A call the bridge refused itself, sending nothing to Drupal.
    fn shed(&self, op: &'static str, reason: ShedReason);
    fn login(&self, outcome: LoginOutcome);
    /// A call had to wait `waited` for a slot under the concurrency limit.
    fn slot_waited(&self, waited: Duration);
    /// A call was refused a slot (queue full or waited too long).
    fn slot_refused(&self);
}

/// The observer a client was given, if any; shared by the client's parts.
#[derive(Default)]
pub struct ObserverSlot(OnceLock<Arc<dyn DrupalObserver>>);

impl ObserverSlot {
    /// Sets the observer; a second one is ignored (one client, one watcher).
    pub fn set(&self, observer: Arc<dyn DrupalObserver>) {
        let _ = self.0.set(observer);
    }

    pub fn get(&self) -> Option<&dyn DrupalObserver> {
        self.0.get().map(|o| o.as_ref())
    }
}
