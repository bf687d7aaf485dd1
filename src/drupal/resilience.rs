//! What keeps a slow or failing Drupal from taking the bridge down, and the
//! bridge from taking Drupal down: a limit on concurrent requests with a
//! bounded queue, a circuit breaker, and the retry policy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::Method;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::adaptive::{Outcome, Sample, Vegas};
use super::admission::{Decision, LimiterId, Ticket};
use super::error::DrupalError;
use super::settings::{ConcurrencyMode, DrupalLimits};

/// Longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// At most `limit` requests in flight; at most `queue_limit` waiting for a
/// slot, each no longer than `wait`. Past that: `Overloaded`. The limit is
/// fixed, or adaptive (`adaptive::Vegas`, up to `max_concurrency`).
///
/// Slots are handed out strictly in arrival order (tokio's semaphore is
/// fair, and `try_acquire` never overtakes a waiter), whatever the kind of
/// request: a read waits behind at most the requests that arrived before
/// it, never behind a stream of later writes, so no kind can starve
/// another. A login needs no slot of its own: it runs inside the slot of
/// the request that needed it.
///
/// The queue limit sheds whole SCIM requests (see `admission`): a call of
/// a request already let through queues whatever the queue's length (and
/// counts in it, so that new requests are refused meanwhile); one of a
/// request already refused is refused at once.
pub struct Limiter {
    id: LimiterId,
    slots: Semaphore,
    waiting: AtomicUsize,
    queue_limit: usize,
    in_flight: AtomicUsize,
    /// Slots to retire as they come back: the limit shrank while they were
    /// in use.
    debt: AtomicUsize,
    adaptive: Option<Mutex<Vegas>>,
    /// The limit when it is fixed.
    fixed: usize,
    /// The origin of the times the adaptive limit is given.
    epoch: Instant,
}

/// A slot: one request may be sent to Drupal while it is held. Report how
/// the request ended with `finish`; dropping it frees the slot either way.
pub struct Slot<'a> {
    limiter: &'a Limiter,
    permit: Option<SemaphorePermit<'a>>,
    started: Instant,
    in_flight: usize,
    generation: u64,
}

impl Slot<'_> {
    /// Feeds the request's latency and outcome to an adaptive limit (a
    /// fixed one ignores them).
    pub fn finish(self, op: &'static str, outcome: Option<Outcome>) {
        if let (Some(outcome), Some(_)) = (outcome, &self.limiter.adaptive) {
            self.limiter.record(Sample {
                op,
                latency: self.started.elapsed(),
                in_flight: self.in_flight,
                generation: self.generation,
                outcome,
                finished: self.limiter.epoch.elapsed(),
            });
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.limiter.in_flight.fetch_sub(1, Ordering::AcqRel);
        if let Some(permit) = self.permit.take() {
            let owed = self
                .limiter
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1));
            if owed.is_ok() {
                permit.forget();
            }
        }
    }
}

/// How a request's answer counts for the adaptive limit: `None` when it
/// tells nothing of Drupal's load (nothing reached Drupal, or the answer
/// could not be read).
pub fn outcome_for_limit<T>(outcome: &Result<T, DrupalError>) -> Option<Outcome> {
    match outcome {
        Ok(_) => Some(Outcome::Answered),
        Err(DrupalError::Timeout) => Some(Outcome::Overloaded),
        Err(DrupalError::Server {
            status: 429 | 503 | 504,
            ..
        }) => Some(Outcome::Overloaded),
        Err(
            DrupalError::NotFound
            | DrupalError::Validation(_)
            | DrupalError::EntityChanged(_)
            | DrupalError::Rejected { .. }
            | DrupalError::Forbidden(_)
            | DrupalError::ReadOnly,
        ) => Some(Outcome::Answered),
        Err(_) => None,
    }
}

impl Limiter {
    /// A fixed limit of `max_concurrency`.
    pub fn new(max_concurrency: usize, queue_limit: usize) -> Limiter {
        Limiter::with(max_concurrency.max(1), queue_limit, None)
    }

    /// An adaptive limit, never above `max_concurrency`.
    pub fn adaptive(max_concurrency: usize, queue_limit: usize) -> Limiter {
        let law = Vegas::new(max_concurrency);
        Limiter::with(law.limit(), queue_limit, Some(Mutex::new(law)))
    }

    fn with(limit: usize, queue_limit: usize, adaptive: Option<Mutex<Vegas>>) -> Limiter {
        Limiter {
            id: LimiterId::next(),
            slots: Semaphore::new(limit),
            waiting: AtomicUsize::new(0),
            queue_limit,
            in_flight: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
            adaptive,
            fixed: limit,
            epoch: Instant::now(),
        }
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether the adaptive limit saw requests queue inside Drupal in its
    /// last window (never with a fixed limit, which measures nothing).
    pub fn drupal_queues(&self) -> bool {
        self.adaptive.as_ref().is_some_and(|law| {
            law.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .drupal_queues()
        })
    }

    /// The concurrency limit in force now.
    pub fn current(&self) -> usize {
        match &self.adaptive {
            Some(law) => law.lock().unwrap_or_else(PoisonError::into_inner).limit(),
            None => self.fixed,
        }
    }

    /// A slot, waiting at most `wait` for one. `ticket`: the SCIM request
    /// the call serves, admitted or shed as a whole.
    #[cfg(test)]
    pub async fn acquire(
        &self,
        wait: Duration,
        ticket: Option<&Ticket>,
    ) -> Result<Slot<'_>, DrupalError> {
        self.acquire_admitted(wait, self.admit(ticket)).await
    }

    /// A slot, after [`Limiter::admit`] decided: taken at once, or waited
    /// for at most `wait` in the queue.
    pub async fn acquire_admitted<'l>(
        &'l self,
        wait: Duration,
        admitted: Result<Option<SemaphorePermit<'l>>, DrupalError>,
    ) -> Result<Slot<'l>, DrupalError> {
        let permit = match admitted? {
            Some(permit) => permit,
            None => {
                let permit = tokio::time::timeout(wait, self.slots.acquire()).await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match permit {
                    Ok(Ok(permit)) => permit,
                    // Timed out in the queue (or the semaphore closed, which it never is).
                    _ => return Err(DrupalError::Overloaded),
                }
            }
        };
        let in_flight = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let generation = self.adaptive.as_ref().map_or(0, |law| {
            law.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .generation()
        });
        Ok(Slot {
            limiter: self,
            permit: Some(permit),
            started: Instant::now(),
            in_flight,
            generation,
        })
    }

    /// A free slot, or `None` with a place taken in the queue, or
    /// `Overloaded`. Decided at once, under the ticket's lock: concurrent
    /// calls of one request get one decision.
    pub fn admit(
        &self,
        ticket: Option<&Ticket>,
    ) -> Result<Option<SemaphorePermit<'_>>, DrupalError> {
        let mut decision = ticket.map(Ticket::lock);
        // A ticket another site's limiter decided says nothing here.
        let own = decision.as_deref_mut().filter(|d| d.concerns(self.id));
        let admitted = match own.as_deref() {
            Some(Decision::Shed(_)) => return Err(DrupalError::Overloaded),
            Some(Decision::Admitted(_)) => true,
            _ => false,
        };
        let verdict = match self.slots.try_acquire() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_limit && !admitted {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    Err(DrupalError::Overloaded)
                } else {
                    Ok(None)
                }
            }
        };
        if let Some(decision) = own {
            *decision = match verdict {
                Ok(_) => Decision::Admitted(self.id),
                Err(_) => Decision::Shed(self.id),
            };
        }
        verdict
    }

    fn record(&self, sample: Sample) {
        let Some(law) = &self.adaptive else {
            return;
        };
        let change = law
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(sample);
        if let Some(change) = change {
            self.resize(change.from, change.to);
            tracing::info!(
                target: "drupal::limit",
                limit = change.to,
                previous = change.from,
                reason = change.reason.as_str(),
                queue = (change.queue * 10.0).round() / 10.0,
                rps = (change.rps * 10.0).round() / 10.0,
                "drupal concurrency limit"
            );
        }
    }

    /// Adds or retires slots. Called in the order the law decided.
    fn resize(&self, from: usize, to: usize) {
        if to > from {
            let mut grow = to - from;
            // Slots still owed from a shrink are simply kept.
            while grow > 0
                && self
                    .debt
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
                    .is_ok()
            {
                grow -= 1;
            }
            self.slots.add_permits(grow);
        } else {
            for _ in to..from {
                // A free slot is retired now; one in use when it comes back.
                match self.slots.try_acquire() {
                    Ok(permit) => permit.forget(),
                    Err(_) => {
                        self.debt.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One request is probing Drupal; the others are refused meanwhile.
    HalfOpen,
}

/// The breaker's state as watchers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerView {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerView {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerView::Closed => "closed",
            BreakerView::Open => "open",
            BreakerView::HalfOpen => "half_open",
        }
    }
}

/// Opens after `threshold` consecutive failures: requests are then answered
/// at once for `open_for`, after which one request probes Drupal. Its
/// success closes the breaker, its failure opens it again.
///
/// The wait a refused request is told (`CircuitOpen::retry_after`) is the
/// longest of the pause left and the largest `Retry-After` Drupal sent
/// while it kept failing: Drupal knows best when it is back, and the probe
/// the bridge sends earlier is only the bridge's own check.
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
    /// The largest `Retry-After` (seconds) of the failures since Drupal
    /// last answered, and when it was given.
    drupal_wait: Mutex<Option<(u64, Instant)>>,
    /// Whether `drupal_wait` holds a wait: a success, the common case,
    /// then has nothing to forget and takes no lock.
    waiting: std::sync::atomic::AtomicBool,
}

/// A request the breaker let through; report its outcome with `record`.
/// Dropped without a record (the caller went away), a probe reopens the
/// breaker so that the next request probes again.
pub struct Admission<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Admission<'_> {
    /// `failed`: Drupal is down or failing (not a refusal of this request).
    pub fn record(self, failed: bool) {
        self.record_with(failed, None);
    }

    /// As `record`, with the `Retry-After` (seconds) Drupal's failure
    /// carried, if it carried one.
    pub fn record_with(mut self, failed: bool, retry_after: Option<u64>) {
        self.recorded = true;
        self.breaker.note_wait(failed, retry_after);
        self.breaker.record(self.probe, failed);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            self.breaker.set(BreakerState::Open {
                until: Instant::now(),
            });
        }
    }
}

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Breaker {
        Breaker {
            threshold,
            open_for,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
            drupal_wait: Mutex::new(None),
            waiting: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Keeps the largest wait Drupal asked for while it fails; forgets it
    /// when Drupal answers.
    fn note_wait(&self, failed: bool, retry_after: Option<u64>) {
        if !failed && !self.waiting.load(Ordering::Acquire) {
            return;
        }
        let mut wait = self
            .drupal_wait
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !failed {
            *wait = None;
            self.waiting.store(false, Ordering::Release);
            return;
        }
        if let Some(secs) = retry_after {
            let now = Instant::now();
            let left = wait.map_or(0, |(secs, at)| secs.saturating_sub(at.elapsed().as_secs()));
            if secs >= left {
                *wait = Some((secs, now));
                self.waiting.store(true, Ordering::Release);
            }
        }
    }

    /// What a refused request is told to wait: at least `left`, and what is
    /// left of the wait Drupal asked for.
    fn wait(&self, left: Duration) -> u64 {
        let drupal = self
            .drupal_wait
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(0, |(secs, at)| secs.saturating_sub(at.elapsed().as_secs()));
        left.as_secs().max(1).max(drupal)
    }

    fn set(&self, state: BreakerState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// The state now. An open breaker whose pause is over shows as
    /// half-open: the next request probes Drupal.
    pub fn view(&self) -> BreakerView {
        match *self.state.lock().unwrap_or_else(PoisonError::into_inner) {
            BreakerState::Closed { .. } => BreakerView::Closed,
            BreakerState::Open { until } if Instant::now() < until => BreakerView::Open,
            BreakerState::Open { .. } | BreakerState::HalfOpen => BreakerView::HalfOpen,
        }
    }

    pub fn admit(&self) -> Result<Admission<'_>, DrupalError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let probe = match *state {
            BreakerState::Closed { .. } => false,
            BreakerState::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(DrupalError::CircuitOpen {
                        retry_after: self.wait(until - now),
                    });
                }
                *state = BreakerState::HalfOpen;
                tracing::info!(target: "drupal", "circuit half-open: probing Drupal with the next request");
                true
            }
            BreakerState::HalfOpen => {
                return Err(DrupalError::CircuitOpen {
                    retry_after: self.wait(Duration::ZERO),
                });
            }
        };
        Ok(Admission {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    fn record(&self, probe: bool, failed: bool) {
        if self.threshold == 0 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match (*state, failed) {
            (BreakerState::HalfOpen, false) if probe => {
                tracing::info!(target: "drupal", "circuit closed: Drupal answers again");
                BreakerState::Closed { failures: 0 }
            }
            (BreakerState::HalfOpen, true) if probe => self.open(),
            (BreakerState::Closed { .. }, false) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, true) if failures + 1 >= self.threshold => {
                self.open()
            }
            (BreakerState::Closed { failures }, true) => BreakerState::Closed {
                failures: failures + 1,
            },
            // Requests admitted before the breaker opened finish meanwhile.
            (other, _) => other,
        };
        *state = next;
    }

    fn open(&self) -> BreakerState {
        tracing::error!(
            target: "drupal",
            open_secs = self.open_for.as_secs(),
            "circuit open: Drupal keeps failing; the bridge answers 503 at once and probes Drupal again later"
        );
        BreakerState::Open {
            until: Instant::now() + self.open_for,
        }
    }
}

/// Which failures are tried again, and how long to wait first.
pub struct RetryPolicy {
    retries: u32,
    backoff: Duration,
}

impl RetryPolicy {
    pub fn new(retries: u32, backoff: Duration) -> RetryPolicy {
        RetryPolicy { retries, backoff }
    }

    /// The pause before attempt `attempt + 1`, when `error` after `attempt`
    /// attempts may be retried. Reads are retried after any failure that is
    /// not a refusal; writes only when the request provably never reached
    /// Drupal (the connection was never made), or Drupal refused it
    /// because the entity changed meanwhile (it saved nothing). None once the pause would
    /// end after `deadline`.
    pub fn pause(
        &self,
        method: &Method,
        error: &DrupalError,
        attempt: u32,
        deadline: Instant,
    ) -> Option<Duration> {
        if attempt > self.retries {
            return None;
        }
        let retryable = match error {
            // Refused before anything was saved, whatever the method.
            DrupalError::Unreachable(_) | DrupalError::EntityChanged(_) => true,
            DrupalError::Timeout
            | DrupalError::ConnectionLost(_)
            | DrupalError::Server { .. }
            | DrupalError::Protocol(_)
            | DrupalError::Unreadable(_) => method == Method::GET,
            _ => false,
        };
        if !retryable {
            return None;
        }
        let ceiling = self
            .backoff
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(MAX_BACKOFF);
        // "Equal jitter": at least half the ceiling, so retries do spread out
        // but never come back at once.
        let half = ceiling / 2;
        let pause = half + rand::thread_rng().gen_range(Duration::ZERO..=half);
        (Instant::now() + pause < deadline).then_some(pause)
    }
}

/// The three together, as `DrupalClient::call` uses them.
pub struct Resilience {
    pub limiter: Limiter,
    pub breaker: Breaker,
    pub retry: RetryPolicy,
}

impl Resilience {
    pub fn new(limits: &DrupalLimits) -> Resilience {
        Resilience {
            limiter: match limits.concurrency {
                ConcurrencyMode::Fixed => Limiter::new(limits.max_concurrency, limits.queue_limit),
                ConcurrencyMode::Adaptive => {
                    Limiter::adaptive(limits.max_concurrency, limits.queue_limit)
                }
            },
            breaker: Breaker::new(limits.breaker_failures, limits.breaker_open),
            retry: RetryPolicy::new(limits.retries, limits.retry_backoff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn reads_are_retried_after_failures_writes_only_when_never_sent() {
        let policy = RetryPolicy::new(2, Duration::from_millis(10));
        let server = DrupalError::Server {
            status: 503,
            detail: String::new(),
            retry_after: None,
        };
        assert!(policy.pause(&Method::GET, &server, 1, far()).is_some());
        assert!(policy
            .pause(&Method::GET, &DrupalError::Timeout, 1, far())
            .is_some());
        assert!(policy.pause(&Method::PATCH, &server, 1, far()).is_none());
        assert!(policy
            .pause(&Method::POST, &DrupalError::Timeout, 1, far())
            .is_none());
        let refused = DrupalError::Unreachable("connection refused".into());
        assert!(policy.pause(&Method::POST, &refused, 1, far()).is_some());
        assert!(policy
            .pause(&Method::GET, &DrupalError::NotFound, 1, far())
            .is_none());
        assert!(
            policy.pause(&Method::GET, &server, 3, far()).is_none(),
            "two retries, then no more"
        );
        assert!(
            policy
                .pause(&Method::GET, &server, 1, Instant::now())
                .is_none(),
            "never past the deadline"
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy::new(20, Duration::from_millis(100));
        let server = DrupalError::Timeout;
        for _ in 0..50 {
            let first = policy.pause(&Method::GET, &server, 1, far()).unwrap();
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.pause(&Method::GET, &server, 3, far()).unwrap();
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.pause(&Method::GET, &server, 15, far()).unwrap();
            assert!(late <= MAX_BACKOFF);
        }
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_a_probe_closes_it() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        breaker.admit().unwrap().record(true);
        breaker.admit().unwrap().record(false);
        breaker.admit().unwrap().record(true);
        assert!(breaker.admit().is_ok(), "a success in between resets");
        breaker.admit().unwrap().record(true);
        assert!(matches!(
            breaker.admit(),
            Err(DrupalError::CircuitOpen { .. })
        ));
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.admit().unwrap();
        assert!(
            breaker.admit().is_err(),
            "one probe at a time; the rest fail fast"
        );
        probe.record(true);
        assert!(breaker.admit().is_err(), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        breaker.admit().unwrap().record(false);
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn the_open_breaker_asks_for_drupals_largest_wait() {
        let breaker = Breaker::new(2, Duration::from_millis(30));
        breaker.admit().unwrap().record_with(true, Some(120));
        breaker.admit().unwrap().record_with(true, Some(7200));
        let wait = |b: &Breaker| match b.admit() {
            Err(DrupalError::CircuitOpen { retry_after }) => retry_after,
            _ => panic!("the breaker should be open"),
        };
        assert!(wait(&breaker) >= 7199, "{}", wait(&breaker));
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.admit().unwrap();
        assert!(wait(&breaker) >= 7199, "half-open too");
        probe.record(false);
        breaker.admit().unwrap().record(true);
        breaker.admit().unwrap().record(true);
        assert_eq!(wait(&breaker), 1, "a success forgets Drupal's wait");
    }

    #[test]
    fn a_probe_abandoned_by_its_caller_lets_the_next_request_probe() {
        let breaker = Breaker::new(1, Duration::from_millis(1));
        breaker.admit().unwrap().record(true);
        std::thread::sleep(Duration::from_millis(5));
        drop(breaker.admit().unwrap());
        assert!(breaker.admit().is_ok());
    }

    #[test]
    fn a_zero_threshold_never_opens() {
        let breaker = Breaker::new(0, Duration::from_secs(60));
        for _ in 0..10 {
            breaker.admit().unwrap().record(true);
        }
        assert!(breaker.admit().is_ok());
    }

    #[tokio::test]
    async fn past_the_queue_limit_requests_are_refused_at_once() {
        let limiter = Limiter::new(1, 1);
        let held = limiter.acquire(Duration::from_secs(1), None).await.unwrap();
        let queued = limiter.acquire(Duration::from_millis(200), None);
        let refused = async {
            // Let the first waiter take the only queue place.
            tokio::time::sleep(Duration::from_millis(20)).await;
            limiter.acquire(Duration::from_secs(1), None).await
        };
        let (queued, refused) = tokio::join!(queued, refused);
        assert!(matches!(refused, Err(DrupalError::Overloaded)));
        assert!(
            matches!(queued, Err(DrupalError::Overloaded)),
            "the queue wait is bounded too"
        );
        drop(held);
        assert!(limiter
            .acquire(Duration::from_millis(10), None)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn a_request_let_through_queues_past_the_limit_and_one_refused_stays_refused() {
        let limiter = Limiter::new(1, 1);
        let admitted = Ticket::default();
        let refused = Ticket::default();
        let held = limiter
            .acquire(Duration::from_secs(1), Some(&admitted))
            .await
            .unwrap();
        let other = async {
            limiter
                .acquire(Duration::from_millis(300), None)
                .await
                .map(drop)
        };
        let more = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            // The queue's one place is taken: a new request is refused...
            let shed = limiter
                .acquire(Duration::from_secs(1), Some(&refused))
                .await;
            assert!(matches!(shed, Err(DrupalError::Overloaded)));
            // ...but the request holding the slot queues its next call.
            let next = limiter.acquire(Duration::from_secs(1), Some(&admitted));
            let release = async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(held);
            };
            let (next, ()) = tokio::join!(next, release);
            next.map(drop)
        };
        let (other, next) = tokio::join!(other, more);
        assert!(other.is_ok() && next.is_ok());
        assert!(
            matches!(
                limiter
                    .acquire(Duration::from_secs(1), Some(&refused))
                    .await,
                Err(DrupalError::Overloaded)
            ),
            "a refused request sends nothing, even with a slot free"
        );
        let another_site = Limiter::new(1, 0);
        assert!(another_site
            .acquire(Duration::ZERO, Some(&refused))
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn slots_go_in_arrival_order_whatever_the_kind_of_request() {
        let limiter = std::sync::Arc::new(Limiter::new(1, 16));
        let held = limiter.acquire(Duration::from_secs(1), None).await.unwrap();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        // A stream of writes, a read among them, more writes after it.
        for name in ["write-1", "write-2", "read", "write-3", "write-4"] {
            let (limiter, order) = (limiter.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let slot = limiter.acquire(Duration::from_secs(5), None).await.unwrap();
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(slot);
            }));
            // Let each one queue before the next arrives.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["write-1", "write-2", "read", "write-3", "write-4"],
            "no later write overtakes the read"
        );
    }

    #[tokio::test]
    async fn an_adaptive_limit_that_shrinks_retires_slots_as_they_come_back() {
        let limiter = Limiter::adaptive(32, 0);
        assert_eq!(limiter.current(), 8);
        let mut slots = Vec::new();
        for _ in 0..8 {
            slots.push(limiter.acquire(Duration::ZERO, None).await.unwrap());
        }
        assert!(matches!(
            limiter.acquire(Duration::ZERO, None).await,
            Err(DrupalError::Overloaded)
        ));
        // Drupal answers 503: the limit falls by a quarter while every slot
        // is in use.
        slots
            .pop()
            .unwrap()
            .finish("create_user", Some(Outcome::Overloaded));
        assert_eq!(limiter.current(), 6);
        slots.clear();
        let mut again = Vec::new();
        for _ in 0..6 {
            again.push(limiter.acquire(Duration::ZERO, None).await.unwrap());
        }
        assert!(
            limiter.acquire(Duration::ZERO, None).await.is_err(),
            "six slots, not eight"
        );
    }

    #[tokio::test]
    async fn an_adaptive_limit_that_grows_adds_slots() {
        let limiter = Limiter::adaptive(32, 0);
        // Answers as fast at eight at once as the first window: room for
        // more.
        for _ in 0..40 {
            let mut slots = Vec::new();
            let limit = limiter.current();
            for _ in 0..limit {
                slots.push(limiter.acquire(Duration::ZERO, None).await.unwrap());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            for slot in slots {
                slot.finish("get_user", Some(Outcome::Answered));
            }
        }
        let limit = limiter.current();
        assert!(limit > 8, "{limit}");
        let mut slots = Vec::new();
        for _ in 0..limit {
            slots.push(limiter.acquire(Duration::ZERO, None).await.unwrap());
        }
        assert!(limiter.acquire(Duration::ZERO, None).await.is_err());
    }

    #[test]
    fn only_answers_that_reflect_drupals_load_feed_the_limit() {
        let answer: Result<(), DrupalError> = Err(DrupalError::NotFound);
        assert_eq!(outcome_for_limit(&answer), Some(Outcome::Answered));
        for status in [429, 503, 504] {
            let overloaded: Result<(), DrupalError> = Err(DrupalError::Server {
                status,
                detail: String::new(),
                retry_after: None,
            });
            assert_eq!(outcome_for_limit(&overloaded), Some(Outcome::Overloaded));
        }
        let bug: Result<(), DrupalError> = Err(DrupalError::Server {
            status: 500,
            detail: String::new(),
            retry_after: None,
        });
        assert_eq!(outcome_for_limit(&bug), None, "a PHP error is no overload");
        let refused: Result<(), DrupalError> = Err(DrupalError::Unreachable("x".into()));
        assert_eq!(outcome_for_limit(&refused), None);
    }
}
