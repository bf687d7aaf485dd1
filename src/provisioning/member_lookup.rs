//! Coalesced account look-ups for membership changes. Before it writes a
//! membership, the bridge reads the accounts concerned, to refuse unknown,
//! deprovisioned and protected ones. Entra ID sends one member per PATCH,
//! so a big sync is thousands of concurrent one-account reads; here they
//! share `id IN (...)` reads, as a DataLoader does:
//!
//! - idle (no read of the same kind in flight), a look-up reads at once,
//!   alone: no added delay;
//! - while a read is in flight and Drupal is saturated (requests wait for
//!   a slot under the concurrency limit, or the adaptive limit saw them
//!   queue inside Drupal in its last window: a read sent now would wait
//!   either way), later look-ups gather into the next batch, which is read
//!   when a read ends, or at once when it is full (one Drupal page of ids);
//! - while Drupal is not busy, a look-up reads at once, taking along the
//!   look-ups gathered so far: a read that would not queue is not held
//!   back behind another (at low IdP concurrency that wait would only add
//!   a read's latency to each change, and save Drupal nothing it lacked);
//! - a look-up only joins a batch that has not been sent yet, so every
//!   answer was read after the request that asked for it arrived: nothing
//!   is served from an older read;
//! - a batch's failure is the failure of every look-up in it, and only of
//!   those; an id Drupal does not return is absent from that caller's
//!   answer alone.
//!
//! The read runs in the future of one of the batch's callers, not in a
//! spawned task, so it counts against that request (request log, call
//! counts) and uses its worker's connections. If that caller goes away
//! (its client disconnected), another caller of the batch reads instead;
//! if none is left, the batch is dropped and the next one goes.
//!
//! Batches of different kinds (`K`: here the fields read, which a mapping
//! reload may change) never mix. Each site has its own provisioner, hence
//! its own look-ups. A batch read is one call of `fetch`, that is one
//! Drupal request through the site's concurrency limit.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use tokio::sync::Notify;

use super::membership::{member_fields, MEMBER_WRITE_CONCURRENCY};
use super::{Provisioner, ProvisioningError};
use crate::drupal::{Condition, DrupalError, DrupalUser, Operator};

type Result<T> = std::result::Result<T, ProvisioningError>;

/// Ids per batch: one Drupal page (`page[limit]` is capped at 50).
pub(super) const BATCH_IDS: usize = 50;

type Found<V> = Arc<HashMap<String, V>>;
type Answer<T, E> = std::result::Result<T, E>;

/// Look-ups of values by id, coalesced across concurrent callers.
pub(super) struct MemberLookup<K, V, E> {
    max_ids: usize,
    state: Mutex<State<K, V, E>>,
}

struct State<K, V, E> {
    lanes: HashMap<K, Lane>,
    batches: HashMap<u64, Batch<K, V, E>>,
    next_batch: u64,
}

/// The batches of one kind.
#[derive(Default)]
struct Lane {
    /// Batches sent or due to be sent and not finished.
    reading: usize,
    /// The batch gathering look-ups until a read ends.
    gathering: Option<u64>,
}

struct Batch<K, V, E> {
    kind: K,
    ids: BTreeSet<String>,
    phase: Phase<V, E>,
    /// Callers waiting for this batch (its reader included).
    callers: usize,
    changed: Arc<Notify>,
}

enum Phase<V, E> {
    /// Taking look-ups; not sent.
    Gathering,
    /// To be read by the first caller that sees it.
    Due,
    /// A caller is reading it.
    Reading,
    Done(Answer<Found<V>, E>),
}

/// What a caller does next.
enum Step<V, E> {
    Wait,
    /// The batch is gone: read alone.
    Lost,
    Read(Vec<String>),
    Done(Answer<Found<V>, E>),
}

impl<K, V, E> MemberLookup<K, V, E>
where
    K: Eq + Hash + Clone,
    V: Clone,
    E: Clone,
{
    pub(super) fn new(max_ids: usize) -> MemberLookup<K, V, E> {
        MemberLookup {
            max_ids: max_ids.max(1),
            state: Mutex::new(State {
                lanes: HashMap::new(),
                batches: HashMap::new(),
                next_batch: 0,
            }),
        }
    }

    /// The values of `ids` (lower-case), read in a batch of kind `kind`
    /// with `fetch`, which gets the batch's ids and returns what Drupal
    /// has of them, keyed by lower-case id. Ids without a value are left
    /// out of the answer. `ids` beyond `max_ids` make a batch of their own.
    /// `busy`: Drupal is saturated (requests wait for a slot, or queue
    /// inside Drupal), so a read made now would queue; only then does a
    /// look-up wait for the read in flight.
    pub(super) async fn lookup<F, Fut>(
        &self,
        kind: K,
        ids: BTreeSet<String>,
        busy: bool,
        fetch: F,
    ) -> Answer<Vec<V>, E>
    where
        F: FnOnce(Vec<String>) -> Fut,
        Fut: Future<Output = Answer<HashMap<String, V>, E>>,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (batch, changed) = self.join(kind, &ids, busy);
        let mut caller = Caller {
            lookup: self,
            batch,
            reading: false,
            done: false,
        };
        let mut fetch = Some(fetch);
        let found = loop {
            // Created before the phase is looked at: a change made after
            // the look wakes it.
            let notified = changed.notified();
            // A caller reads at most once: it leaves with the answer.
            match self.step(batch, fetch.is_some()) {
                Step::Wait => notified.await,
                Step::Read(batch_ids) => {
                    let Some(fetch) = fetch.take() else {
                        continue;
                    };
                    caller.reading = true;
                    let result = fetch(batch_ids).await.map(Arc::new);
                    caller.reading = false;
                    self.finish(batch, result);
                }
                Step::Done(result) => {
                    caller.done = true;
                    break result;
                }
                Step::Lost => {
                    if let Some(fetch) = fetch.take() {
                        caller.done = true;
                        break fetch(ids.iter().cloned().collect()).await.map(Arc::new);
                    }
                    notified.await;
                }
            }
        };
        let found = found?;
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V, E>> {
        // Every change below is made whole under the lock; a panic cannot
        // leave it half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `ids` in a batch. With no read of this kind in flight, or when
    /// Drupal is not `busy`, the batch is read at once (taking along the
    /// look-ups gathered so far); else `ids` join the batch gathering.
    fn join(&self, kind: K, ids: &BTreeSet<String>, busy: bool) -> (u64, Arc<Notify>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let lane = state.lanes.entry(kind.clone()).or_default();
        let read_now = lane.reading == 0 || !busy;
        if let Some(gathering) = lane.gathering {
            if let Some(batch) = state.batches.get_mut(&gathering) {
                let fits = batch.ids.len() + ids.difference(&batch.ids).count() <= self.max_ids;
                if fits {
                    batch.ids.extend(ids.iter().cloned());
                    batch.callers += 1;
                    // Full, waiting for a read to end gains nothing.
                    if read_now || batch.ids.len() >= self.max_ids {
                        state.send(&kind, gathering);
                    }
                    return (gathering, state.signal_of(gathering));
                }
            }
            // Nearly full already: send it, and gather anew.
            state.send(&kind, gathering);
        }
        let phase = match read_now || ids.len() >= self.max_ids {
            true => Phase::Due,
            false => Phase::Gathering,
        };
        let due = matches!(phase, Phase::Due);
        let id = state.add_batch(kind.clone(), ids.clone(), phase);
        if let Some(lane) = state.lanes.get_mut(&kind) {
            match due {
                true => lane.reading += 1,
                false => lane.gathering = Some(id),
            }
        }
        (id, state.signal_of(id))
    }

    /// What the caller does next; it reads a due batch when `can_read`.
    fn step(&self, batch: u64, can_read: bool) -> Step<V, E> {
        let mut guard = self.lock();
        let Some(b) = guard.batches.get_mut(&batch) else {
            // Cannot happen while a caller counts in it; should it, the
            // caller reads for itself rather than wait for nothing.
            return Step::Lost;
        };
        match &b.phase {
            Phase::Gathering | Phase::Reading => Step::Wait,
            Phase::Due if !can_read => Step::Wait,
            Phase::Due => {
                b.phase = Phase::Reading;
                Step::Read(b.ids.iter().cloned().collect())
            }
            Phase::Done(result) => {
                let result = result.clone();
                guard.leave(batch);
                Step::Done(result)
            }
        }
    }

    /// Records a batch's answer, wakes its callers, and sends the batch
    /// gathered meanwhile.
    fn finish(&self, batch: u64, result: Answer<Found<V>, E>) {
        let mut guard = self.lock();
        let Some(b) = guard.batches.get_mut(&batch) else {
            return;
        };
        b.phase = Phase::Done(result);
        b.changed.notify_waiters();
        let kind = b.kind.clone();
        guard.read_ended(&kind);
    }
}

impl<K: Eq + Hash + Clone, V, E> State<K, V, E> {
    fn add_batch(&mut self, kind: K, ids: BTreeSet<String>, phase: Phase<V, E>) -> u64 {
        let id = self.next_batch;
        self.next_batch += 1;
        self.batches.insert(
            id,
            Batch {
                kind,
                ids,
                phase,
                callers: 1,
                changed: Arc::new(Notify::new()),
            },
        );
        id
    }

    fn signal_of(&self, batch: u64) -> Arc<Notify> {
        self.batches
            .get(&batch)
            .map_or_else(|| Arc::new(Notify::new()), |b| b.changed.clone())
    }

    /// Makes the gathering batch `batch` due to be read.
    fn send(&mut self, kind: &K, batch: u64) {
        let Some(lane) = self.lanes.get_mut(kind) else {
            return;
        };
        if lane.gathering == Some(batch) {
            lane.gathering = None;
        }
        let Some(b) = self.batches.get_mut(&batch) else {
            return;
        };
        lane.reading += 1;
        b.phase = Phase::Due;
        b.changed.notify_waiters();
    }

    /// A read of `kind` ended (or was given up): the batch gathered
    /// meanwhile goes.
    fn read_ended(&mut self, kind: &K) {
        let Some(lane) = self.lanes.get_mut(kind) else {
            return;
        };
        lane.reading = lane.reading.saturating_sub(1);
        match lane.gathering {
            Some(next) => self.send(kind, next),
            None if lane.reading == 0 => {
                self.lanes.remove(kind);
            }
            None => {}
        }
    }

    /// A caller leaves `batch`; the last one takes it away.
    fn leave(&mut self, batch: u64) {
        let Some(b) = self.batches.get_mut(&batch) else {
            return;
        };
        b.callers = b.callers.saturating_sub(1);
        if b.callers > 0 {
            return;
        }
        let Some(b) = self.batches.remove(&batch) else {
            return;
        };
        match b.phase {
            Phase::Done(_) => {}
            Phase::Gathering => {
                if let Some(lane) = self.lanes.get_mut(&b.kind) {
                    if lane.gathering == Some(batch) {
                        lane.gathering = None;
                    }
                    if lane.reading == 0 && lane.gathering.is_none() {
                        self.lanes.remove(&b.kind);
                    }
                }
            }
            // Nobody is left to read it: its turn passes.
            Phase::Due | Phase::Reading => self.read_ended(&b.kind),
        }
    }
}

/// A caller's place in a batch. Dropped before the answer came (the
/// request went away), it leaves the batch, and if it was reading, hands
/// the read to another caller.
struct Caller<'a, K: Eq + Hash + Clone, V, E> {
    lookup: &'a MemberLookup<K, V, E>,
    batch: u64,
    reading: bool,
    done: bool,
}

impl<K: Eq + Hash + Clone, V, E> Drop for Caller<'_, K, V, E> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self
            .lookup
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.reading {
            if let Some(b) = state.batches.get_mut(&self.batch) {
                b.phase = Phase::Due;
                b.changed.notify_waiters();
            }
        }
        state.leave(self.batch);
    }
}

/// The account look-ups of one site: batches keyed by the fields read.
pub(super) type AccountLookup = MemberLookup<Vec<String>, DrupalUser, DrupalError>;

impl Provisioner {
    /// The visible accounts among `ids`, with the fields a membership
    /// decision needs. An account a user write could go to unread (seen
    /// whole less than `account_cache_secs` ago, and no account to refuse)
    /// is taken as seen: IdPs add an account to its groups right after
    /// creating or updating it. The others are read with the look-ups of
    /// concurrent requests (fifty ids per read), so that every refusal is
    /// decided from the account as Drupal holds it now.
    ///
    /// The account seen is trusted to make a write, never to skip one: one
    /// whose change `in_place` says is made already is read too, since
    /// Drupal may have changed it since (a role granted or taken there),
    /// and a change answered 2xx must be one Drupal holds.
    pub(super) async fn find_members(
        &self,
        ids: &[String],
        in_place: impl Fn(&DrupalUser) -> bool,
    ) -> Result<Vec<DrupalUser>> {
        let mut seen = Vec::new();
        let mut ids_to_read = Vec::new();
        for id in ids.iter().filter(|id| uuid::Uuid::parse_str(id).is_ok()) {
            let id = id.to_ascii_lowercase();
            match self.writable_seen(&id) {
                Some(user) if !in_place(&user) => seen.push(DrupalUser::clone(&user)),
                _ => ids_to_read.push(id),
            }
        }
        if ids_to_read.is_empty() {
            return Ok(seen);
        }
        let fields = member_fields(&self.mapping());
        let batches: Vec<Vec<DrupalUser>> = stream::iter(ids_to_read.chunks(BATCH_IDS))
            .map(|chunk| {
                let fields = &fields;
                self.accounts.lookup(
                    fields.clone(),
                    chunk.iter().cloned().collect(),
                    self.drupal.saturated(),
                    move |batch| async move {
                        let users = self
                            .read_users(
                                Condition::Field {
                                    path: "id".into(),
                                    op: Operator::In,
                                    values: batch,
                                },
                                fields.clone(),
                            )
                            .await?;
                        Ok(users
                            .into_iter()
                            .map(|u| (u.id.to_ascii_lowercase(), u))
                            .collect())
                    },
                )
            })
            .buffer_unordered(MEMBER_WRITE_CONCURRENCY)
            .try_collect()
            .await?;
        seen.extend(batches.into_iter().flatten());
        Ok(seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures_util::future::join_all;
    use tokio::sync::Semaphore;

    type Lookup = MemberLookup<&'static str, String, String>;

    /// Drupal has requests waiting: look-ups gather behind a read in flight.
    const BUSY: bool = true;

    /// A fake Drupal: every read is recorded; ids starting with `x` are
    /// unknown; a read containing `boom` fails; reads wait for `gate`.
    #[derive(Default)]
    struct Drupal {
        reads: Mutex<Vec<Vec<String>>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
    }

    impl Drupal {
        async fn read(
            &self,
            ids: Vec<String>,
            gate: Option<&Semaphore>,
        ) -> std::result::Result<HashMap<String, String>, String> {
            self.reads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(ids.clone());
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            match gate {
                Some(gate) => {
                    if let Ok(permit) = gate.acquire().await {
                        permit.forget();
                    }
                }
                None => tokio::task::yield_now().await,
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if ids.iter().any(|id| id == "boom") {
                return Err("drupal failed".into());
            }
            Ok(ids
                .into_iter()
                .filter(|id| !id.starts_with('x'))
                .map(|id| (id.clone(), format!("user {id}")))
                .collect())
        }

        fn reads(&self) -> Vec<Vec<String>> {
            self.reads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    fn ids(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|i| i.to_string()).collect()
    }

    /// Polls `f` once: whether it is still pending.
    async fn pending<F: Future + Unpin>(f: &mut F) -> bool {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx).is_pending())
        })
        .await
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    /// No lane and no batch left behind.
    fn assert_idle(lookup: &Lookup) {
        let state = lookup.lock();
        assert!(state.lanes.is_empty() && state.batches.is_empty());
    }

    #[tokio::test]
    async fn a_lone_lookup_reads_at_once_and_alone() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let found = lookup
            .lookup("k", ids(&["a", "xb"]), BUSY, |batch| {
                drupal.read(batch, None)
            })
            .await;
        assert_eq!(found, Ok(vec!["user a".to_string()]));
        assert_eq!(
            drupal.reads(),
            vec![vec!["a".to_string(), "xb".to_string()]]
        );
        // Nothing left behind: the next one is alone again.
        let found = lookup
            .lookup("k", ids(&["c"]), BUSY, |batch| drupal.read(batch, None))
            .await;
        assert_eq!(found, Ok(vec!["user c".to_string()]));
        assert_eq!(drupal.reads().len(), 2);
        assert_idle(&lookup);
    }

    #[tokio::test]
    async fn lookups_made_during_a_read_share_the_next_one_and_each_gets_its_own() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        let callers: Vec<String> = (0..16).map(|i| format!("u{i:02}")).collect();
        let answers = join_all(callers.iter().map(|id| {
            let (lookup, drupal, gate) = (&lookup, &drupal, &gate);
            async move {
                lookup
                    .lookup("k", ids(&[id]), BUSY, |batch| {
                        drupal.read(batch, Some(gate))
                    })
                    .await
            }
        }));
        let release = async {
            settle().await;
            // The first read is in flight; the other fifteen wait for it.
            assert_eq!(drupal.reads().len(), 1);
            gate.add_permits(100);
        };
        let (answers, ()) = tokio::join!(answers, release);
        for (id, answer) in callers.iter().zip(&answers) {
            assert_eq!(answer, &Ok(vec![format!("user {id}")]));
        }
        let reads = drupal.reads();
        assert_eq!(reads.len(), 2, "{reads:?}");
        assert_eq!(reads[0], vec!["u00".to_string()]);
        assert_eq!(reads[1].len(), 15);
        assert_idle(&lookup);
    }

    #[tokio::test]
    async fn a_full_batch_is_read_without_waiting_for_the_read_in_flight() {
        let lookup = Lookup::new(4);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        let answers = join_all((0..8).map(|i| {
            let (lookup, drupal, gate) = (&lookup, &drupal, &gate);
            async move {
                lookup
                    .lookup("k", ids(&[&format!("u{i}")]), BUSY, |batch| {
                        drupal.read(batch, Some(gate))
                    })
                    .await
            }
        }));
        let release = async {
            settle().await;
            // One alone, one full batch of four; three more gather.
            assert_eq!(drupal.reads().len(), 2);
            assert_eq!(drupal.most_in_flight.load(Ordering::SeqCst), 2);
            gate.add_permits(100);
        };
        let (answers, ()) = tokio::join!(answers, release);
        assert!(answers.iter().all(|a| a.as_ref().map(Vec::len) == Ok(1)));
        let sizes: Vec<usize> = drupal.reads().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, 4, 3]);
    }

    #[tokio::test]
    async fn a_failed_read_fails_its_callers_only_and_unknown_ids_are_absent() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        let run = |wanted: &'static [&'static str]| {
            let (lookup, drupal, gate) = (&lookup, &drupal, &gate);
            async move {
                lookup
                    .lookup("k", ids(wanted), BUSY, |batch| {
                        drupal.read(batch, Some(gate))
                    })
                    .await
            }
        };
        // The first read goes alone and succeeds; the next two share a
        // read that fails for both; a later one reads alone again.
        let first = run(&["a"]);
        let joined = async {
            settle().await;
            tokio::join!(run(&["boom"]), run(&["xunknown", "b"]))
        };
        let release = async {
            settle().await;
            settle().await;
            gate.add_permits(100);
        };
        let (first, (boom, other), ()) = tokio::join!(first, joined, release);
        assert_eq!(first, Ok(vec!["user a".to_string()]));
        assert_eq!(boom, Err("drupal failed".to_string()));
        assert_eq!(other, Err("drupal failed".to_string()));
        // The lane is free again: a later lookup is unaffected.
        let later = run(&["xunknown", "b"]).await;
        assert_eq!(later, Ok(vec!["user b".to_string()]));
    }

    #[tokio::test]
    async fn kinds_never_share_a_read() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        let answers = join_all(["k1", "k2", "k1", "k2"].into_iter().enumerate().map(
            |(i, kind)| {
                let (lookup, drupal, gate) = (&lookup, &drupal, &gate);
                async move {
                    lookup
                        .lookup(kind, ids(&[&format!("u{i}")]), BUSY, |batch| {
                            drupal.read(batch, Some(gate))
                        })
                        .await
                }
            },
        ));
        let release = async {
            settle().await;
            gate.add_permits(100);
        };
        let (answers, ()) = tokio::join!(answers, release);
        assert!(answers.iter().all(|a| a.as_ref().map(Vec::len) == Ok(1)));
        let mut reads = drupal.reads();
        reads.sort();
        assert_eq!(
            reads,
            vec![
                vec!["u0".to_string()],
                vec!["u1".to_string()],
                vec!["u2".to_string()],
                vec!["u3".to_string()]
            ]
        );
    }

    #[tokio::test]
    async fn a_reader_that_goes_away_hands_the_read_to_another_caller() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        // Occupies the lane, so the next two gather into one batch.
        let first = lookup.lookup("k", ids(&["a"]), BUSY, |batch| {
            drupal.read(batch, Some(&gate))
        });
        let mut first = Box::pin(first);
        assert!(pending(&mut first).await);
        let mut second = Box::pin(lookup.lookup("k", ids(&["b"]), BUSY, |batch| {
            drupal.read(batch, Some(&gate))
        }));
        let mut third =
            Box::pin(lookup.lookup("k", ids(&["c"]), BUSY, |batch| drupal.read(batch, None)));
        assert!(pending(&mut second).await);
        assert!(pending(&mut third).await);
        // The first read ends; the second caller starts reading the batch
        // and stalls at the gate; then its request goes away.
        gate.add_permits(1);
        assert_eq!(first.await, Ok(vec!["user a".to_string()]));
        assert!(pending(&mut second).await);
        assert_eq!(drupal.reads().len(), 2);
        drop(second);
        // The third reads the batch again, itself, and gets its answer.
        let third = tokio::time::timeout(Duration::from_secs(5), third).await;
        assert_eq!(third.ok(), Some(Ok(vec!["user c".to_string()])));
        assert_eq!(drupal.reads().len(), 3);
        assert_idle(&lookup);
    }

    #[tokio::test]
    async fn a_batch_whose_callers_all_went_away_frees_the_lane() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        let mut first = Box::pin(lookup.lookup("k", ids(&["a"]), BUSY, |batch| {
            drupal.read(batch, Some(&gate))
        }));
        assert!(pending(&mut first).await);
        let mut gathered =
            Box::pin(lookup.lookup("k", ids(&["b"]), BUSY, |batch| drupal.read(batch, None)));
        assert!(pending(&mut gathered).await);
        drop(gathered);
        drop(first);
        assert_idle(&lookup);
        // Idle again: the next reads at once.
        let found = lookup
            .lookup("k", ids(&["c"]), BUSY, |batch| drupal.read(batch, None))
            .await;
        assert_eq!(found, Ok(vec!["user c".to_string()]));
    }

    #[tokio::test]
    async fn when_drupal_is_not_busy_a_lookup_reads_at_once_with_what_gathered() {
        let lookup = Lookup::new(50);
        let drupal = Drupal::default();
        let gate = Semaphore::new(0);
        let mut first = Box::pin(lookup.lookup("k", ids(&["a"]), BUSY, |batch| {
            drupal.read(batch, Some(&gate))
        }));
        assert!(pending(&mut first).await);
        let mut gathered = Box::pin(lookup.lookup("k", ids(&["b"]), BUSY, |batch| {
            drupal.read(batch, Some(&gate))
        }));
        assert!(pending(&mut gathered).await);
        assert_eq!(drupal.reads().len(), 1);
        // Drupal has room: no waiting for the read in flight.
        let mut at_once = Box::pin(lookup.lookup("k", ids(&["c"]), !BUSY, |batch| {
            drupal.read(batch, Some(&gate))
        }));
        assert!(pending(&mut at_once).await);
        assert_eq!(
            drupal.reads(),
            vec![
                vec!["a".to_string()],
                vec!["b".to_string(), "c".to_string()]
            ]
        );
        gate.add_permits(100);
        let (first, gathered, at_once) = tokio::join!(first, gathered, at_once);
        assert_eq!(first, Ok(vec!["user a".to_string()]));
        assert_eq!(gathered, Ok(vec!["user b".to_string()]));
        assert_eq!(at_once, Ok(vec!["user c".to_string()]));
        assert_eq!(drupal.reads().len(), 2);
        // With no batch gathering, a look-up while Drupal has room reads
        // alone, whatever is in flight.
        let closed = Semaphore::new(0);
        let mut slow = Box::pin(lookup.lookup("k", ids(&["e"]), BUSY, |batch| {
            drupal.read(batch, Some(&closed))
        }));
        assert!(pending(&mut slow).await);
        let alone = lookup
            .lookup("k", ids(&["f"]), !BUSY, |batch| drupal.read(batch, None))
            .await;
        assert_eq!(alone, Ok(vec!["user f".to_string()]));
        assert_eq!(drupal.reads().last(), Some(&vec!["f".to_string()]));
        drop(slow);
    }
}
