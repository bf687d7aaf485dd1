//! The control law of the adaptive concurrency limit: how many requests the
//! bridge lets into Drupal at once, found from what Drupal's answers take
//! and how many of them come back per second.
//!
//! A Vegas limit (as in TCP Vegas and Netflix's concurrency-limits), checked
//! by throughput. Drupal answers as fast as it can while a PHP worker is
//! free for every request; past that, requests wait for a worker and
//! latency grows with the number in flight while throughput does not. By
//! Little's law, the requests waiting inside Drupal are about
//! `in_flight × (1 − baseline / latency)`, where `baseline` is what a
//! request takes when nothing waits. The limit grows while that queue is
//! below `alpha`, drops to the concurrency Drupal actually serves (plus
//! `alpha`) when it is above `beta`, and stays otherwise.
//!
//! Latency alone misjudges PHP's built-in server on a small machine: a
//! limit a few above the one Vegas picks served up to a third more on a
//! real Drupal (its workers wait on SQLite and the disk, not only on the
//! cores), with nothing in the latencies to say so. So every move the
//! latencies suggest is also judged by the answers per second it brings
//! (Gradient2 in concurrency-limits keeps a queue allowance for the same
//! reason; a throughput check is the direct form of it):
//!
//! - A cut for queueing is undone if the next window serves `CUT_LOSS`
//!   less than the one that caused it while Drupal's queue is below
//!   `alpha` (its workers may wait for work; with a queue they never do,
//!   and a loss is noise), and queueing cuts then stay above it for
//!   `FLOOR_WINDOWS` windows.
//! - While the queue sits between `alpha` and `beta` (no signal either
//!   way), every `EXPLORE_EVERY` windows the limit tries a step up, kept
//!   only if throughput rose (by `RAISE_GAIN`), tried less often after
//!   each try that did not pay.
//!
//! Refinements over the textbook law, each for something this bridge meets:
//! - Baselines are kept per operation: a user GET takes a fraction of a
//!   user POST, and one baseline for both would read every write as queueing.
//! - Latencies are judged per window (at least `limit` samples, and
//!   `MIN_WINDOW`), by their median ratio to the baseline: one slow answer
//!   (a login, a garbage collection, a noisy neighbour) moves nothing. A
//!   baseline is the lowest window median of its operation: a median, not
//!   the fastest answer, which on a busy host is luck, and a baseline made
//!   of luck reads every ordinary answer as queueing.
//! - There is no probe at the start: the first windows give the baselines,
//!   and while latency stays flat the limit grows by a quarter a window
//!   (slow start). Had the site queued from the first request, the
//!   baselines are too high and the limit runs higher than it need: the
//!   throughput is the same, and the first probe corrects it.
//! - Every `PROBE_EVERY` windows the limit is halved, again while answers
//!   get faster but never below a quarter of it, and each operation's
//!   baseline becomes its median latency at the lowest limit: what it takes
//!   with little queued, on this machine as busy as it is now. Probing lets
//!   the baselines follow a site that became slower for good (a bigger
//!   database, a module enabled); a probe costs a few windows in
//!   `PROBE_EVERY`.
//! - Only requests admitted under the current limit count (a generation
//!   number), so a change is judged by its own effect, and one burst of
//!   overload answers lowers the limit once, not once per answer.
//! - An overload answer (timeout, 429, 503, 504) cuts the limit by a quarter
//!   at once, whatever the latencies or the throughput say.
//! - The limit does not grow while the bridge does not use it (fewer than
//!   half its slots busy): the IdP, not Drupal, sets the pace then.
//! - The queue aimed at is at least 3 (more for larger limits, as Netflix's
//!   `3·log10(limit)` and `6·log10(limit)`): PHP's workers are kept busy
//!   only if the next request already waits when one finishes.
//!
//! Pure: no clock, no I/O. The caller measures each request and feeds it in
//! with the time it ended; the tests feed in made-up latencies and times.

use std::time::Duration;

use crate::fixed_keys::FixedKeyMap;

/// Fewest samples that make a window.
pub const MIN_WINDOW: usize = 8;
/// Windows between two baseline probes (none before the first of them).
pub const PROBE_EVERY: u32 = 50;
/// The first limit, when the upper bound allows it: today's fixed default.
pub const INITIAL_LIMIT: usize = 8;
/// A cut for queueing that loses more than this share of the answers per
/// second is undone: the lower limit would leave throughput on the table.
pub const CUT_LOSS: f64 = 0.1;
/// A higher limit tried in the hold band is kept only if it serves at
/// least this share more: on a plateau, where it only adds queue, it goes.
pub const RAISE_GAIN: f64 = 0.03;
/// Windows for which the limit an undone cut went back to is a floor for
/// later queueing cuts (not for overload cuts).
pub const FLOOR_WINDOWS: u32 = 20;
/// Busy windows in the hold band before a higher limit is tried; doubled
/// (up to `MAX_EXPLORE_EVERY`) each time a try loses throughput.
pub const EXPLORE_EVERY: u32 = 4;
pub const MAX_EXPLORE_EVERY: u32 = 32;

/// How one request to Drupal ended, for the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Drupal answered (success or a refusal of this request): the latency
    /// is Drupal's.
    Answered,
    /// Drupal is overloaded: a timeout, 429, 503 or 504.
    Overloaded,
}

/// One finished request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// What the request was (`get_user`, `create_user`, ...): each has its
    /// own baseline.
    pub op: &'static str,
    /// From leaving the bridge's queue to Drupal's last byte.
    pub latency: Duration,
    /// Requests in flight when this one started, itself included.
    pub in_flight: usize,
    /// The generation the request was admitted under.
    pub generation: u64,
    pub outcome: Outcome,
    /// When it ended, from any fixed origin: gives the answers per second.
    pub finished: Duration,
}

/// What a window showed, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub from: usize,
    pub to: usize,
    /// Estimated requests waiting inside Drupal.
    pub queue: f64,
    /// Answers per second in the window that decided (0 when unknown).
    pub rps: f64,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Latency stays near the baseline: room for more.
    Headroom,
    /// Latency climbed: requests queue inside Drupal.
    Queueing,
    /// Drupal answered that it is overloaded.
    Overload,
    /// The queue is between `alpha` and `beta`: a higher limit is tried.
    Explore,
    /// The last move lost answers per second: it is undone.
    Throughput,
    /// The limit is halved for a window to measure the baselines.
    ProbeStart,
    /// The probe is over: the limit is back.
    ProbeEnd,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Headroom => "headroom",
            Reason::Queueing => "queueing",
            Reason::Overload => "overload",
            Reason::Explore => "explore",
            Reason::Throughput => "throughput",
            Reason::ProbeStart => "probe",
            Reason::ProbeEnd => "probe-end",
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    latencies: Vec<(&'static str, Duration)>,
    in_flight_sum: usize,
    max_in_flight: usize,
    first: Option<Duration>,
    last: Duration,
    /// Answers to requests admitted under an earlier limit that came
    /// after the window's first: Drupal served them too, in between.
    earlier: usize,
}

impl Window {
    fn len(&self) -> usize {
        self.latencies.len()
    }

    fn push(&mut self, sample: &Sample) {
        self.latencies.push((sample.op, sample.latency));
        self.in_flight_sum += sample.in_flight;
        self.max_in_flight = self.max_in_flight.max(sample.in_flight);
        self.first = Some(
            self.first
                .map_or(sample.finished, |f| f.min(sample.finished)),
        );
        self.last = self.last.max(sample.finished);
    }

    /// An answer to a request admitted under an earlier limit.
    fn push_earlier(&mut self, sample: &Sample) {
        if self.first.is_some_and(|first| sample.finished > first) {
            self.earlier += 1;
            self.last = self.last.max(sample.finished);
        }
    }

    /// Answers per second between the window's first and last answer,
    /// whatever limit they were admitted under (Drupal need not answer in
    /// order); `None` when they came at once.
    fn rps(&self) -> Option<f64> {
        let span = self.last.saturating_sub(self.first?).as_secs_f64();
        let answers = self.len() + self.earlier;
        (span > 0.0 && answers > 1).then(|| (answers - 1) as f64 / span)
    }

    /// The median latency of each operation.
    fn typical(&self) -> FixedKeyMap<&'static str, Duration> {
        let mut all: FixedKeyMap<&'static str, Vec<Duration>> = FixedKeyMap::default();
        for (op, latency) in &self.latencies {
            all.entry(op).or_default().push(*latency);
        }
        all.into_iter()
            .filter_map(|(op, mut latencies)| {
                latencies.sort_unstable();
                Some((op, *latencies.get(latencies.len() / 2)?))
            })
            .collect()
    }

    fn clear(&mut self) {
        *self = Window::default();
    }
}

/// A probe in progress: the limit is halved window after window while the
/// answers keep getting faster, down to `floor`, to see what a request
/// takes with little queued.
#[derive(Debug)]
struct Probe {
    /// The limit to go back to.
    restore: usize,
    /// The lowest limit the probe may go to.
    floor: usize,
    /// The previous window's typical (median) latency per operation.
    previous: FixedKeyMap<&'static str, Duration>,
    /// The lowest typical latency per operation over the whole probe.
    typical: FixedKeyMap<&'static str, Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Cut,
    Raise,
}

/// A move judged by the next window's answers per second.
#[derive(Debug, Clone, Copy)]
struct Trial {
    kind: Move,
    /// The limit to go back to.
    from: usize,
    /// Answers per second at `from`.
    rps: f64,
}

/// A limit whose cut cost throughput: queueing cuts stay at or above it
/// until window `until`, or until the site serves less than `rps` there
/// (then it has become slower, and the cut may be right after all).
#[derive(Debug, Clone, Copy)]
struct Floor {
    limit: usize,
    until: u32,
    rps: f64,
}

/// The adaptive limit's state.
#[derive(Debug)]
pub struct Vegas {
    max: usize,
    limit: usize,
    generation: u64,
    /// What each operation takes with little queued.
    baselines: FixedKeyMap<&'static str, Duration>,
    window: Window,
    /// Windows closed so far.
    windows: u32,
    /// Windows since the last probe (or the start).
    since_probe: u32,
    probe: Option<Probe>,
    trial: Option<Trial>,
    /// Queueing cuts stay at or above this limit for a while.
    floor: Option<Floor>,
    /// Busy windows in the hold band since the last move.
    steady: u32,
    explore_every: u32,
    /// The median latency over baseline of the last window.
    last_ratio: f64,
    /// Requests waiting inside Drupal in the last window (Little's law).
    last_queue: f64,
}

impl Vegas {
    /// Starts at `INITIAL_LIMIT` (or `max` when that is lower); never above
    /// `max`.
    pub fn new(max: usize) -> Vegas {
        let max = max.max(1);
        Vegas {
            max,
            limit: INITIAL_LIMIT.min(max),
            generation: 0,
            baselines: FixedKeyMap::default(),
            window: Window::default(),
            windows: 0,
            since_probe: 0,
            probe: None,
            trial: None,
            floor: None,
            steady: 0,
            explore_every: EXPLORE_EVERY,
            last_ratio: 1.0,
            last_queue: 0.0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether Drupal's own queue held a request or more in the last
    /// window: a request sent now would wait inside Drupal for a worker.
    pub fn drupal_queues(&self) -> bool {
        self.last_queue >= 1.0
    }

    /// Requests admitted now carry this generation in their sample.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The queue inside Drupal that is short enough to grow further. At
    /// least three: a worker that finishes must find the next request
    /// already waiting, even when the bridge's own reaction is slowed by a
    /// busy machine.
    fn alpha(&self) -> f64 {
        (3.0 * (self.limit as f64).log10()).max(3.0)
    }

    /// The queue inside Drupal that is too long.
    fn beta(&self) -> f64 {
        (6.0 * (self.limit as f64).log10()).max(6.0)
    }

    /// Takes one finished request; returns the change of limit it caused.
    pub fn record(&mut self, sample: Sample) -> Option<Change> {
        if sample.generation != self.generation {
            // Admitted under another limit: its latency says nothing of
            // this one, but Drupal's throughput counts it.
            if sample.outcome == Outcome::Answered {
                self.window.push_earlier(&sample);
            }
            return None;
        }
        if sample.outcome == Outcome::Overloaded {
            let from = self.probe.take().map_or(self.limit, |p| p.restore);
            // Whatever throughput said: Drupal refuses work.
            self.trial = None;
            self.floor = None;
            let to = (from * 3 / 4).max(1);
            return Some(self.set(from, to, 0.0, 0.0, Reason::Overload));
        }
        self.window.push(&sample);
        if self.window.len() < self.limit.max(MIN_WINDOW) {
            return None;
        }
        self.windows += 1;
        match self.probe.take() {
            Some(probe) => Some(self.probe_window(probe)),
            None => self.close_window(),
        }
    }

    fn close_window(&mut self) -> Option<Change> {
        self.since_probe += 1;
        let typical = self.window.typical();
        // A kind of request seen for the first time (a sync moving from
        // creates to deactivations) waits in the same queue as the others:
        // its baseline is its median over the queueing they show now, or
        // showed in the last window, not its median as if nothing queued.
        let mut known: Vec<f64> = self
            .window
            .latencies
            .iter()
            .filter_map(|(op, latency)| {
                let baseline = self.baselines.get(op)?;
                Some(ratio(*latency, Some(*baseline)))
            })
            .collect();
        let queueing = if known.is_empty() {
            self.last_ratio
        } else {
            median(&mut known)
        };
        for (op, latency) in &typical {
            self.baselines
                .entry(op)
                .and_modify(|b| *b = (*b).min(*latency))
                .or_insert_with(|| latency.div_f64(queueing.max(1.0)));
        }
        let window = &self.window;
        let n = window.len();
        let mut ratios: Vec<f64> = window
            .latencies
            .iter()
            .map(|(op, latency)| ratio(*latency, self.baselines.get(op).copied()))
            .collect();
        let median = median(&mut ratios);
        self.last_ratio = median;
        let in_flight = window.in_flight_sum as f64 / n as f64;
        let busy = window.max_in_flight * 2 >= self.limit;
        let rps = window.rps();
        // Requests waiting in Drupal, by Little's law.
        let queue = in_flight * (1.0 - 1.0 / median);
        self.last_queue = queue;
        let from = self.limit;
        let shown_rps = rps.unwrap_or(0.0);

        // The last move, judged by what it served.
        if let (Some(trial), Some(now)) = (self.trial.take(), rps) {
            let enough = match trial.kind {
                Move::Cut => trial.rps * (1.0 - CUT_LOSS),
                Move::Raise => trial.rps * (1.0 + RAISE_GAIN),
            };
            // A cut is to blame for a loss only if Drupal's workers may now
            // wait for work: with a queue still inside Drupal they never
            // do, and the loss is noise or a site that became slower.
            let to_blame = trial.kind == Move::Raise || queue < self.alpha();
            if now < enough && to_blame {
                match trial.kind {
                    Move::Cut => {
                        self.floor = Some(Floor {
                            limit: trial.from,
                            until: self.windows + FLOOR_WINDOWS,
                            rps: trial.rps,
                        });
                    }
                    Move::Raise => {
                        self.explore_every = (self.explore_every * 2).min(MAX_EXPLORE_EVERY);
                    }
                }
                return Some(self.set(from, trial.from, queue, now, Reason::Throughput));
            }
            if trial.kind == Move::Raise {
                self.explore_every = EXPLORE_EVERY;
            }
        }
        if self.floor.is_some_and(|floor| {
            self.windows >= floor.until || rps.is_some_and(|rps| rps < floor.rps * (1.0 - CUT_LOSS))
        }) {
            self.floor = None;
        }

        let (alpha, beta) = (self.alpha(), self.beta());
        let decision = if queue > beta {
            // What Drupal serves at once without queueing, plus a little
            // queue so that no worker waits for the next request; never
            // below half, so that one noisy window cannot collapse it, nor
            // below a limit whose cut cost throughput lately.
            let serving = in_flight / median;
            let floor = self.floor.map_or(1, |floor| floor.limit);
            let to = ((serving + alpha).ceil() as usize)
                .max(from / 2)
                .max(floor)
                .max(1);
            (to < from).then_some((to, Reason::Queueing))
        } else if busy && from < self.max && queue < alpha {
            // Slow start while latency is flat, one at a time near alpha.
            let step = if queue < 1.0 { (from / 4).max(1) } else { 1 };
            Some((from + step, Reason::Headroom))
        } else if busy && from < self.max {
            // Between alpha and beta the latencies say nothing more: try
            // a higher limit now and then, and let throughput judge it.
            self.steady += 1;
            (self.steady >= self.explore_every)
                .then_some((from + (from / 4).max(1), Reason::Explore))
        } else {
            None
        };
        if let Some((to, reason)) = decision {
            let kind = match reason {
                Reason::Queueing => Some(Move::Cut),
                Reason::Explore => Some(Move::Raise),
                _ => None,
            };
            self.trial = kind.zip(rps).map(|(kind, rps)| Trial { kind, from, rps });
            return Some(self.set(from, to, queue, shown_rps, reason));
        }
        if self.since_probe >= PROBE_EVERY && from > 1 {
            self.since_probe = 0;
            let floor = (from / 4).max(2).min(from / 2).max(1);
            self.probe = Some(Probe {
                restore: from,
                floor,
                previous: typical.clone(),
                typical,
            });
            return Some(self.set(from, from / 2, queue, shown_rps, Reason::ProbeStart));
        }
        self.window.clear();
        None
    }

    /// A window of a probe: halve again while answers got faster by a
    /// sixth or more (and the floor allows), else take the lowest typical
    /// latencies as baselines and go back to the limit before the probe.
    fn probe_window(&mut self, mut probe: Probe) -> Change {
        let now = self.window.typical();
        let rps = self.window.rps().unwrap_or(0.0);
        let mut speedups: Vec<f64> = now
            .iter()
            .filter_map(|(op, fast)| {
                let before = probe.previous.get(op)?;
                Some(before.as_secs_f64() / fast.as_secs_f64().max(1e-9))
            })
            .collect();
        let faster = !speedups.is_empty() && median(&mut speedups) >= 1.2;
        for (op, fast) in &now {
            probe
                .typical
                .entry(op)
                .and_modify(|f| *f = (*f).min(*fast))
                .or_insert(*fast);
        }
        let from = self.limit;
        if faster && from / 2 >= probe.floor {
            probe.previous = now;
            self.probe = Some(probe);
            return self.set(from, from / 2, 0.0, rps, Reason::ProbeStart);
        }
        // Lower or higher than the old ones: a site can become slower.
        self.baselines.extend(probe.typical);
        self.steady = 0;
        self.set(from, probe.restore, 0.0, rps, Reason::ProbeEnd)
    }

    /// Moves to limit `to` under a new generation, with an empty window.
    fn set(&mut self, from: usize, to: usize, queue: f64, rps: f64, reason: Reason) -> Change {
        let to = to.clamp(1, self.max);
        self.limit = to;
        self.generation += 1;
        self.steady = 0;
        self.window.clear();
        Change {
            from,
            to,
            queue,
            rps,
            reason,
        }
    }
}

fn ratio(latency: Duration, baseline: Option<Duration>) -> f64 {
    let baseline = baseline.map_or(0.0, |b| b.as_secs_f64());
    if baseline <= 0.0 {
        return 1.0;
    }
    (latency.as_secs_f64() / baseline).max(1.0)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 1.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PHP site with `workers` workers, each request taking `service`
    /// alone: past `workers` requests at once, each waits its turn, so
    /// latency grows in proportion to the requests in flight.
    struct Site {
        workers: usize,
        service: Duration,
    }

    impl Site {
        fn latency(&self, in_flight: usize) -> Duration {
            let share = in_flight.max(self.workers) as f64 / self.workers as f64;
            self.service.mul_f64(share)
        }
    }

    fn site(workers: usize) -> Site {
        Site {
            workers,
            service: Duration::from_millis(50),
        }
    }

    /// The law and a clock: a closed loop whose answers come back evenly,
    /// `in_flight` per latency (Little's law).
    struct Run {
        law: Vegas,
        now: Duration,
        changes: Vec<Change>,
    }

    impl Run {
        fn new(max: usize) -> Run {
            Run {
                law: Vegas::new(max),
                now: Duration::ZERO,
                changes: Vec::new(),
            }
        }

        /// One answer of `op` taking `latency`, `in_flight` at once, the
        /// site serving `rps` answers a second.
        fn answer(&mut self, op: &'static str, latency: Duration, in_flight: usize, rps: f64) {
            self.now += Duration::from_secs_f64(1.0 / rps);
            let generation = self.law.generation();
            self.changes.extend(self.law.record(Sample {
                op,
                latency,
                in_flight,
                generation,
                outcome: Outcome::Answered,
                finished: self.now,
            }));
        }

        /// At 8, a baseline window, then one where latency grew eightfold
        /// and the throughput fell to 20 a second: cut to 4 for queueing.
        fn cut_from_8_to_4() -> Run {
            let mut run = Run::new(8);
            run.window(MS(50), 8, 160.0);
            assert_eq!(run.window(MS(400), 8, 20.0), 4);
            run
        }

        /// One window of answers all alike; returns the limit after it.
        fn window(&mut self, latency: Duration, in_flight: usize, rps: f64) -> usize {
            for _ in 0..self.law.limit().max(MIN_WINDOW) {
                self.answer("create_user", latency, in_flight, rps);
            }
            self.law.limit()
        }

        /// `windows` windows of a closed loop that keeps the limit busy (an
        /// IdP with `demand` requests at once) against `site`.
        fn drive(&mut self, site: &Site, demand: usize, windows: usize) -> Vec<usize> {
            self.drive_with(demand, windows, |in_flight| {
                let latency = site.latency(in_flight);
                (latency, in_flight as f64 / latency.as_secs_f64())
            })
        }

        /// As `drive`, with the latency and answers per second at each
        /// concurrency given by `at`.
        fn drive_with(
            &mut self,
            demand: usize,
            windows: usize,
            mut at: impl FnMut(usize) -> (Duration, f64),
        ) -> Vec<usize> {
            let mut trace = Vec::new();
            for _ in 0..windows {
                let in_flight = self.law.limit().min(demand);
                for _ in 0..self.law.limit().max(MIN_WINDOW) {
                    let (latency, rps) = at(in_flight);
                    self.answer("create_user", latency, in_flight, rps);
                }
                trace.push(self.law.limit());
            }
            trace
        }

        fn reasons(&self) -> Vec<Reason> {
            self.changes.iter().map(|c| c.reason).collect()
        }
    }

    fn settled(trace: &[usize]) -> usize {
        // The most common value of the last stretch (probes and tries move
        // it briefly).
        let tail = &trace[trace.len() - 20..];
        let mut counts = std::collections::HashMap::new();
        for limit in tail {
            *counts.entry(*limit).or_insert(0) += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(limit, count)| (*count, *limit))
            .map(|(limit, _)| limit)
            .unwrap_or(0)
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn it_converges_a_little_above_the_workers_from_below_and_above() {
        for workers in [1, 2, 4, 8, 16, 32] {
            let mut run = Run::new(64);
            let trace = run.drive(&site(workers), 1000, 200);
            let limit = settled(&trace);
            // The queue aimed at is 3-6 at small limits, 9 at 40.
            assert!(
                limit >= workers && limit <= workers + 10,
                "{workers} workers: settled on {limit}: {trace:?}"
            );
        }
    }

    #[test]
    fn it_says_drupal_queues_only_when_its_last_window_saw_a_queue_inside_drupal() {
        let mut run = Run::new(64);
        assert!(!run.law.drupal_queues(), "nothing measured yet");
        // Room to spare: 4 in flight on 8 workers answer as fast as one.
        run.drive(&site(8), 4, 5);
        assert!(!run.law.drupal_queues(), "{:?}", run.changes);
        // Saturated: one worker, the IdP keeps 16 at once; the law settles
        // a few above one worker, so requests wait inside Drupal.
        run.drive(&site(1), 16, 60);
        assert!(run.law.drupal_queues(), "{:?}", run.changes);
        // The load goes: answers as fast as the baseline again.
        run.drive(&site(64), 2, 5);
        assert!(!run.law.drupal_queues(), "{:?}", run.changes);
    }

    #[test]
    fn it_starts_without_a_probe_and_grows_by_quarters_while_latency_stays_flat() {
        let mut run = Run::new(64);
        let trace = run.drive(&site(64), 1000, 6);
        assert_eq!(trace, [10, 12, 15, 18, 22, 27], "{:?}", run.changes);
        assert!(run.reasons().iter().all(|r| *r == Reason::Headroom));
    }

    #[test]
    fn the_first_probe_comes_after_probe_every_windows_and_stops_at_a_quarter() {
        // One worker: every halving makes answers faster, so only the
        // floor stops the probe.
        let mut run = Run::new(16);
        let slow = Site {
            workers: 1,
            service: MS(10),
        };
        // A site whose latency grows with the load but whose baseline was
        // taken at 16 in flight: no queue is seen, the limit stays at 16.
        let mut start = Run::new(16);
        start.law.limit = 16;
        let trace = start.drive_with(1000, PROBE_EVERY as usize + 4, |_| (MS(160), 100.0));
        let first_probe = start
            .changes
            .iter()
            .position(|c| c.reason == Reason::ProbeStart);
        assert_eq!(first_probe, Some(0), "{:?}", start.changes);
        assert!(trace[..PROBE_EVERY as usize - 1].iter().all(|l| *l == 16));
        // Now a site that gets faster at every halving.
        run.law.limit = 16;
        run.drive(&slow, 1000, PROBE_EVERY as usize + 6);
        let probes: Vec<usize> = run
            .changes
            .iter()
            .filter(|c| c.reason == Reason::ProbeStart)
            .map(|c| c.to)
            .collect();
        assert!(!probes.is_empty(), "{:?}", run.changes);
        assert!(
            probes.iter().all(|l| *l >= 4),
            "never below a quarter of 16: {:?}",
            run.changes
        );
    }

    #[test]
    fn a_queueing_cut_that_costs_throughput_is_undone_and_holds_for_a_while() {
        let mut run = Run::new(8);
        // The baseline: 50 ms at 8 in flight, 160 a second.
        assert_eq!(run.window(MS(50), 8, 160.0), 8);
        // Answers take 8 times as long at the same rate: a queue of 7 > 6.
        assert_eq!(run.window(MS(400), 8, 20.0), 4);
        assert_eq!(run.changes.last().map(|c| c.reason), Some(Reason::Queueing));
        // At 4, Drupal serves 15 a second instead of 20: back to 8.
        assert_eq!(run.window(MS(60), 4, 15.0), 8);
        assert_eq!(
            run.changes.last().map(|c| c.reason),
            Some(Reason::Throughput)
        );
        // The same latencies do not cut below 8 for FLOOR_WINDOWS windows.
        for _ in 1..FLOOR_WINDOWS {
            assert_eq!(run.window(MS(400), 8, 20.0), 8);
        }
        assert_eq!(run.window(MS(400), 8, 20.0), 4, "the floor has expired");
    }

    #[test]
    fn a_floor_goes_when_the_site_serves_less_than_when_it_was_set() {
        // The window that caused the cut still had the answers of a faster
        // site (40 a second): the cut looks costly and is undone, but the
        // site now serves 20 at 8 too, so the floor must not keep it there.
        let mut run = Run::new(8);
        run.window(MS(50), 8, 160.0);
        assert_eq!(run.window(MS(400), 8, 40.0), 4);
        assert_eq!(run.window(MS(60), 4, 20.0), 8);
        assert_eq!(run.window(MS(400), 8, 20.0), 4, "{:?}", run.changes);
    }

    #[test]
    fn a_queueing_cut_that_keeps_throughput_is_kept() {
        let mut run = Run::cut_from_8_to_4();
        // 19 a second at 4, with no queue left: within CUT_LOSS of 20,
        // kept (and, latency flat, it grows again by one).
        assert_eq!(run.window(MS(55), 4, 19.0), 5);
        assert_eq!(
            run.reasons(),
            [Reason::Queueing, Reason::Headroom],
            "{:?}",
            run.changes
        );
    }

    #[test]
    fn a_loss_while_drupal_still_queues_is_not_blamed_on_the_cut() {
        let mut run = Run::cut_from_8_to_4();
        // 15 a second at 4, but requests still queue inside Drupal (3.5):
        // its workers never wait for work, so the cut is not to blame.
        assert_eq!(run.window(MS(400), 4, 15.0), 4, "{:?}", run.changes);
        assert_eq!(run.changes.len(), 1, "{:?}", run.changes);
    }

    #[test]
    fn answers_to_requests_admitted_before_a_cut_count_for_its_throughput() {
        // Drupal need not answer in order: after a cut to 4, answers to the
        // requests admitted at 8 come between those admitted at 4. Drupal
        // still serves 20 a second: the cut is kept.
        let mut run = Run::cut_from_8_to_4();
        let earlier = run.law.generation() - 1;
        for _ in 0..MIN_WINDOW {
            run.now += MS(50);
            run.law.record(Sample {
                op: "create_user",
                latency: MS(400),
                in_flight: 8,
                generation: earlier,
                outcome: Outcome::Answered,
                finished: run.now,
            });
            run.answer("create_user", MS(55), 4, 20.0);
        }
        // Kept (and, no queue left, grown by one), not undone.
        assert_eq!(
            run.reasons(),
            [Reason::Queueing, Reason::Headroom],
            "{:?}",
            run.changes
        );
    }

    #[test]
    fn between_alpha_and_beta_it_tries_a_higher_limit_kept_only_if_throughput_holds() {
        let mut run = Run::new(64);
        run.law.limit = 16;
        // The baseline, from a window not busy enough to grow.
        assert_eq!(run.window(MS(50), 7, 140.0), 16);
        // A queue of 16 × (1 − 1/1.6) = 6, between alpha (3.6) and beta
        // (7.2): the limit holds, then tries 20.
        for _ in 1..EXPLORE_EVERY {
            assert_eq!(run.window(MS(80), 16, 200.0), 16);
        }
        assert_eq!(run.window(MS(80), 16, 200.0), 20);
        assert_eq!(run.changes.last().map(|c| c.reason), Some(Reason::Explore));
        // 20 serves more: kept (its queue, 7.5, is below beta, 7.8).
        assert_eq!(run.window(MS(80), 20, 220.0), 20);
        // The next try (25) serves less: undone, and the one after waits
        // twice as long.
        for _ in 1..EXPLORE_EVERY {
            run.window(MS(80), 20, 220.0);
        }
        assert_eq!(run.law.limit(), 25);
        assert_eq!(run.window(MS(130), 25, 190.0), 20);
        assert_eq!(
            run.changes.last().map(|c| c.reason),
            Some(Reason::Throughput)
        );
        let mut held = 0;
        while run.window(MS(80), 20, 220.0) == 20 {
            held += 1;
        }
        assert_eq!(held, 2 * EXPLORE_EVERY - 1, "{:?}", run.changes);
    }

    #[test]
    fn a_site_whose_throughput_keeps_rising_past_the_latency_knee_gets_the_higher_limit() {
        // As PHP's built-in server on a small machine: latency grows past 4
        // in flight as if 4 workers were all, but throughput keeps rising
        // until 12, by a half (requests wait on the disk, not only on the
        // cores). Latencies alone settle at 10, serving 8 % less than 12.
        let at = |in_flight: usize| {
            let n = in_flight as f64;
            let rps = 40.0 * n.min(4.0) + 10.0 * (n.min(12.0) - 4.0).max(0.0);
            (Duration::from_secs_f64(n / rps), rps)
        };
        let mut run = Run::new(64);
        let trace = run.drive_with(1000, 300, at);
        let limit = settled(&trace);
        assert!((11..=16).contains(&limit), "settled on {limit}: {trace:?}");
    }

    #[test]
    fn it_backs_off_when_the_site_loses_workers_and_grows_when_it_gains_them() {
        let mut run = Run::new(64);
        let settled_16 = settled(&run.drive(&site(16), 1000, 150));
        assert!((16..=24).contains(&settled_16), "{settled_16}");
        let trace = run.drive(&site(4), 1000, 150);
        let settled_4 = settled(&trace);
        assert!((4..=10).contains(&settled_4), "{settled_4}: {trace:?}");
        assert!(
            trace.iter().position(|l| *l <= 12).is_some_and(|at| at < 5),
            "backs off within a few windows: {trace:?}"
        );
        let settled_12 = settled(&run.drive(&site(12), 1000, 200));
        assert!((12..=20).contains(&settled_12), "{settled_12}");
    }

    #[test]
    fn a_site_saturated_from_the_first_request_is_found_by_the_first_probe() {
        // One worker: the first windows, at 8 in flight, take 8 times what
        // a request alone takes for the baseline, so the limit runs high
        // (the throughput is the same) until the probe measures at 3.
        let mut run = Run::new(64);
        let trace = run.drive(&site(1), 1000, PROBE_EVERY as usize + 20);
        let before = settled(&trace[..PROBE_EVERY as usize - 1]);
        let after = *trace.last().unwrap_or(&0);
        assert!(
            after <= 8 && after < before,
            "one worker, the first probe finds the baseline: {trace:?}"
        );
    }

    #[test]
    fn on_a_busy_host_noise_is_not_read_as_queueing() {
        // Each answer takes up to 2.5 times its due, at random, as on a
        // host whose cores are shared: the limit must still settle above
        // the workers, not at one.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut noise = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            1.0 + 1.5 * (seed % 1000) as f64 / 1000.0
        };
        for workers in [2, 4, 8] {
            let site = site(workers);
            let mut run = Run::new(64);
            let trace = run.drive_with(1000, 300, |in_flight| {
                let latency = site.latency(in_flight).mul_f64(noise());
                (latency, in_flight as f64 / latency.as_secs_f64())
            });
            let limit = settled(&trace);
            assert!(
                limit >= workers && limit <= workers + 10,
                "{workers} workers: settled on {limit}: {trace:?}"
            );
        }
    }

    #[test]
    fn it_never_exceeds_the_upper_bound_nor_goes_below_one() {
        let mut run = Run::new(5);
        let trace = run.drive(&site(64), 1000, 50);
        assert!(trace.iter().all(|l| *l <= 5));
        assert_eq!(settled(&trace), 5);
        let mut law = Vegas::new(64);
        for _ in 0..40 {
            let generation = law.generation();
            law.record(Sample {
                op: "get_user",
                latency: MS(5),
                in_flight: 1,
                generation,
                outcome: Outcome::Overloaded,
                finished: Duration::ZERO,
            });
        }
        assert_eq!(law.limit(), 1);
    }

    #[test]
    fn it_does_not_grow_while_the_idp_leaves_it_idle() {
        let mut run = Run::new(64);
        let trace = run.drive(&site(32), 2, 100);
        assert!(trace.iter().all(|l| *l <= INITIAL_LIMIT), "{trace:?}");
    }

    #[test]
    fn an_overload_answer_cuts_once_per_generation_even_below_a_floor() {
        let mut run = Run::new(16);
        run.law.limit = 16;
        assert_eq!(run.window(MS(50), 7, 140.0), 16);
        assert_eq!(run.window(MS(400), 16, 40.0), 8);
        assert_eq!(run.window(MS(60), 8, 30.0), 16, "a floor of 16");
        let generation = run.law.generation();
        let overloaded = Sample {
            op: "create_user",
            latency: Duration::from_secs(10),
            in_flight: 16,
            generation,
            outcome: Outcome::Overloaded,
            finished: run.now,
        };
        let change = run.law.record(overloaded).map(|c| (c.to, c.reason));
        assert_eq!(change, Some((12, Reason::Overload)));
        // The rest of the burst was admitted under the old limit.
        assert_eq!(run.law.record(overloaded), None);
        assert_eq!(run.law.limit(), 12);
        // The floor is gone: queueing cuts it further.
        assert_eq!(run.window(MS(400), 12, 30.0), 6, "{:?}", run.changes);
    }

    #[test]
    fn a_new_kind_of_request_is_measured_against_the_queue_the_others_show() {
        let mut run = Run::new(64);
        run.law.limit = 16;
        assert_eq!(run.window(MS(50), 7, 140.0), 16);
        // Creates take 2.5 times their baseline: a queue of 9.6, cut.
        let law_at = |run: &mut Run, op: &'static str, ms: u64| {
            let limit = run.law.limit();
            for _ in 0..limit.max(MIN_WINDOW) {
                run.answer(op, MS(ms), limit, 100.0);
            }
            run.law.limit()
        };
        assert_eq!(law_at(&mut run, "create_user", 125), 11);
        // The sync moves on to reads, never seen before, as queued as the
        // creates were: not read as an empty queue (which would grow the
        // limit by a quarter), but as the same queue.
        assert!(law_at(&mut run, "get_user", 25) <= 11, "{:?}", run.changes);
        assert!(!run.reasons().contains(&Reason::Headroom));
        // Reads next to creates: the creates tell how queued Drupal is.
        let mut run = Run::new(64);
        run.law.limit = 16;
        run.window(MS(50), 7, 140.0);
        for _ in 0..8 {
            run.answer("create_user", MS(100), 16, 100.0);
            run.answer("update_user", MS(40), 16, 100.0);
        }
        assert_eq!(run.law.baselines.get("update_user"), Some(&MS(20)));
    }

    #[test]
    fn a_slow_operation_is_not_read_as_queueing_behind_a_fast_one() {
        // Reads take 10 ms, writes 80 ms, both without any queue: the limit
        // must not fall.
        let mut run = Run::new(64);
        for round in 0..400 {
            let in_flight = run.law.limit();
            let (op, ms) = if round % 2 == 0 {
                ("get_user", 10)
            } else {
                ("create_user", 80)
            };
            run.answer(op, MS(ms), in_flight, 100.0);
        }
        assert!(run.law.limit() > INITIAL_LIMIT, "{}", run.law.limit());
    }

    #[test]
    fn one_slow_answer_in_a_window_moves_nothing() {
        let mut run = Run::new(8);
        let s = site(8);
        for i in 0..8 {
            let latency = if i == 3 {
                Duration::from_secs(2)
            } else {
                s.latency(8)
            };
            run.answer("get_user", latency, 8, 160.0);
        }
        assert!(run.changes.is_empty(), "{:?}", run.changes);
    }

    #[test]
    fn probes_refresh_the_baseline_after_the_site_became_slower_for_good() {
        let mut run = Run::new(64);
        run.drive(&site(8), 1000, 100);
        // Every request now takes four times as long, without a queue:
        // after the next probe the limit must find its level again.
        let slower = Site {
            workers: 8,
            service: MS(200),
        };
        let trace = run.drive(&slower, 1000, 3 * PROBE_EVERY as usize);
        let limit = settled(&trace);
        assert!((8..=16).contains(&limit), "{limit}: {trace:?}");
    }

    #[test]
    fn probes_and_tries_are_brief_and_rare() {
        let mut run = Run::new(64);
        let trace = run.drive(&site(8), 1000, 4 * PROBE_EVERY as usize);
        let tail = &trace[trace.len() - 2 * PROBE_EVERY as usize..];
        let low = tail.iter().filter(|l| **l < 8).count();
        assert!(
            (1..=6).contains(&low),
            "probes are brief and rare: {low} low windows in {tail:?}"
        );
        let settled = settled(tail);
        let away = tail.iter().filter(|l| **l != settled).count();
        assert!(
            away <= tail.len() / 4,
            "mostly at {settled}: {away} windows elsewhere in {tail:?}"
        );
    }
}
