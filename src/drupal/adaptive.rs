//! The control law of the adaptive concurrency limit: how many requests the
//! bridge lets into Drupal at once, found from what Drupal's answers take.
//!
//! A Vegas limit (as in TCP Vegas and Netflix's concurrency-limits): Drupal
//! answers as fast as it can while a PHP worker is free for every request;
//! past that, requests wait for a worker and latency grows with the number
//! in flight while throughput does not. By Little's law, the requests
//! waiting inside Drupal are about `in_flight × (1 − baseline / latency)`,
//! where `baseline` is what a request takes when nothing waits. The limit
//! grows by one while that queue is below `alpha`, drops to the concurrency
//! Drupal actually serves (plus `alpha`) when it is above `beta`, and stays
//! otherwise: Drupal always has a request ready for a free worker, and never
//! a long queue.
//!
//! Refinements over the textbook law, each for something this bridge meets:
//! - Baselines are kept per operation: a user GET takes a fraction of a
//!   user POST, and one baseline for both would read every write as queueing.
//! - Latencies are judged per window (at least `limit` samples, and
//!   `MIN_WINDOW`), by their median ratio to the baseline: one slow answer
//!   (a login, a garbage collection, a noisy neighbour) moves nothing.
//! - Only requests admitted under the current limit count (a generation
//!   number), so a change is judged by its own effect, and one burst of
//!   overload answers lowers the limit once, not once per answer.
//! - An overload answer (timeout, 429, 503, 504) cuts the limit by a quarter
//!   at once, whatever the latencies say.
//! - The limit does not grow while the bridge does not use it (fewer than
//!   half its slots busy): the IdP, not Drupal, sets the pace then.
//! - Every `PROBE_EVERY` windows (and after the first) the limit is halved,
//!   again while answers get faster, and each operation's baseline becomes
//!   its median latency at the lowest limit: what it takes with nothing
//!   queued, on this machine as busy as it is now. A median, not the
//!   fastest answer: on a busy host the fastest answer is luck, and a
//!   baseline made of luck reads every ordinary answer as queueing. Probing
//!   also lets the baselines follow a site that became slower for good (a
//!   bigger database, a module enabled). Halving for a window or two in
//!   `PROBE_EVERY` costs about 1-2 % of throughput.
//! - The queue aimed at is at least 2 (more for larger limits): PHP's
//!   workers are kept busy only if the next request already waits when one
//!   finishes, and measured on a real Drupal, a limit at the worker count
//!   served about half of what one a few above it did.
//!
//! Pure: no clock, no I/O. The caller measures each request and feeds it in;
//! the tests feed in made-up latencies.

use std::collections::HashMap;
use std::time::Duration;

/// Fewest samples that make a window.
pub const MIN_WINDOW: usize = 8;
/// Windows between two baseline probes.
pub const PROBE_EVERY: u32 = 50;
/// The first limit, when the upper bound allows it: today's fixed default.
pub const INITIAL_LIMIT: usize = 8;

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
}

/// What a window showed, for the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub from: usize,
    pub to: usize,
    /// Estimated requests waiting inside Drupal.
    pub queue: f64,
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
    /// The limit is halved for one window to measure the baselines.
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
            Reason::ProbeStart => "probe",
            Reason::ProbeEnd => "probe-end",
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    ratios: Vec<f64>,
    in_flight_sum: usize,
    max_in_flight: usize,
    /// Latencies per operation, for a probe.
    latencies: HashMap<&'static str, Vec<Duration>>,
}

impl Window {
    fn len(&self) -> usize {
        self.ratios.len()
    }

    fn clear(&mut self) {
        self.ratios.clear();
        self.in_flight_sum = 0;
        self.max_in_flight = 0;
        self.latencies.clear();
    }
}

/// A probe in progress: the limit is halved window after window while the
/// answers keep getting faster, to see what a request takes unqueued.
#[derive(Debug)]
struct Probe {
    /// The limit to go back to.
    restore: usize,
    /// The previous window's typical (median) latency per operation.
    previous: HashMap<&'static str, Duration>,
    /// The lowest typical latency per operation over the whole probe.
    typical: HashMap<&'static str, Duration>,
}

/// What an operation takes when nothing queues.
#[derive(Debug, Clone, Copy)]
struct Baseline {
    latency: Duration,
    /// Measured by a probe (the median of a window at a low limit): kept
    /// until the next probe. Otherwise the fastest answer seen so far.
    probed: bool,
}

/// The adaptive limit's state.
#[derive(Debug)]
pub struct Vegas {
    max: usize,
    limit: usize,
    generation: u64,
    baselines: HashMap<&'static str, Baseline>,
    window: Window,
    /// Windows since the last probe.
    windows: u32,
    probe: Option<Probe>,
}

impl Vegas {
    /// Starts at `INITIAL_LIMIT` (or `max` when that is lower); never above
    /// `max`. The first window is followed by a probe, which finds the
    /// baselines of a site that was busy from the start.
    pub fn new(max: usize) -> Vegas {
        let max = max.max(1);
        Vegas {
            max,
            limit: INITIAL_LIMIT.min(max),
            generation: 0,
            baselines: HashMap::new(),
            window: Window::default(),
            windows: PROBE_EVERY - 1,
            probe: None,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Requests admitted now carry this generation in their sample.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The queue inside Drupal that is short enough to grow further. At
    /// least two: a worker that finishes must find the next request
    /// already waiting, even when the bridge's own reaction is slowed by a
    /// busy machine.
    fn alpha(&self) -> f64 {
        (2.0 * (self.limit as f64).log10()).max(2.0)
    }

    /// The queue inside Drupal that is too long.
    fn beta(&self) -> f64 {
        (4.0 * (self.limit as f64).log10()).max(4.0)
    }

    /// Takes one finished request; returns the change of limit it caused.
    pub fn record(&mut self, sample: Sample) -> Option<Change> {
        if sample.generation != self.generation {
            // Admitted under another limit: it says nothing of this one.
            return None;
        }
        if sample.outcome == Outcome::Overloaded {
            let from = self.probe.take().map_or(self.limit, |p| p.restore);
            let to = (from * 3 / 4).max(1);
            return Some(self.set(from, to, 0.0, Reason::Overload));
        }
        let baseline = self
            .baselines
            .entry(sample.op)
            .and_modify(|b| {
                if !b.probed {
                    b.latency = b.latency.min(sample.latency);
                }
            })
            .or_insert(Baseline {
                latency: sample.latency,
                probed: false,
            });
        let ratio = ratio(sample.latency, baseline.latency);
        let window = &mut self.window;
        window.ratios.push(ratio);
        window.in_flight_sum += sample.in_flight;
        window.max_in_flight = window.max_in_flight.max(sample.in_flight);
        window
            .latencies
            .entry(sample.op)
            .or_default()
            .push(sample.latency);
        if window.len() < self.limit.max(MIN_WINDOW) {
            return None;
        }
        match self.probe.take() {
            Some(probe) => Some(self.probe_window(probe)),
            None => self.close_window(),
        }
    }

    fn close_window(&mut self) -> Option<Change> {
        let window = &mut self.window;
        let n = window.len();
        let median = median(&mut window.ratios);
        let in_flight = window.in_flight_sum as f64 / n as f64;
        let busy = window.max_in_flight * 2 >= self.limit;
        // Requests waiting in Drupal, by Little's law.
        let queue = in_flight * (1.0 - 1.0 / median);
        let typical = typical(std::mem::take(&mut window.latencies));
        self.windows += 1;
        let from = self.limit;
        let change = if queue > self.beta() {
            // What Drupal serves at once without queueing, plus a little
            // queue so that no worker waits for the next request; never
            // below half, so that one noisy window cannot collapse it.
            let serving = in_flight / median;
            let to = ((serving + self.alpha()).ceil() as usize)
                .max(from / 2)
                .min(from - 1)
                .max(1);
            Some(self.set(from, to, queue, Reason::Queueing))
        } else if queue < self.alpha() && busy && from < self.max {
            Some(self.set(from, from + 1, queue, Reason::Headroom))
        } else {
            self.window.clear();
            None
        };
        if self.windows < PROBE_EVERY || self.limit == 1 {
            return change;
        }
        self.windows = 0;
        let restore = self.limit;
        self.probe = Some(Probe {
            restore,
            previous: typical.clone(),
            typical,
        });
        Some(self.set(from, restore / 2, queue, Reason::ProbeStart))
    }

    /// A window of a probe: halve again while answers got faster by a
    /// sixth or more, else take the lowest typical latencies as baselines and go
    /// back to the limit before the probe.
    fn probe_window(&mut self, mut probe: Probe) -> Change {
        let now = typical(std::mem::take(&mut self.window.latencies));
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
        if faster && from > 1 {
            probe.previous = now;
            self.probe = Some(probe);
            return self.set(from, from / 2, 0.0, Reason::ProbeStart);
        }
        // Lower or higher than the old ones: a site can become slower.
        self.baselines
            .extend(probe.typical.into_iter().map(|(op, latency)| {
                let probed = true;
                (op, Baseline { latency, probed })
            }));
        self.set(from, probe.restore, 0.0, Reason::ProbeEnd)
    }

    /// Moves to limit `to` under a new generation, with an empty window.
    fn set(&mut self, from: usize, to: usize, queue: f64, reason: Reason) -> Change {
        let to = to.clamp(1, self.max);
        self.limit = to;
        self.generation += 1;
        self.window.clear();
        Change {
            from,
            to,
            queue,
            reason,
        }
    }
}

fn ratio(latency: Duration, baseline: Duration) -> f64 {
    let baseline = baseline.as_secs_f64();
    if baseline <= 0.0 {
        return 1.0;
    }
    (latency.as_secs_f64() / baseline).max(1.0)
}

/// The median latency of each operation.
fn typical(latencies: HashMap<&'static str, Vec<Duration>>) -> HashMap<&'static str, Duration> {
    latencies
        .into_iter()
        .filter_map(|(op, mut all)| {
            all.sort_unstable();
            Some((op, *all.get(all.len() / 2)?))
        })
        .collect()
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

    /// Runs the law for `windows` windows of a closed loop that keeps the
    /// limit busy (an IdP with `demand` requests at once).
    fn drive(law: &mut Vegas, site: &Site, demand: usize, windows: usize) -> Vec<usize> {
        let mut trace = Vec::new();
        for _ in 0..windows {
            let in_flight = law.limit().min(demand);
            for _ in 0..law.limit().max(MIN_WINDOW) {
                let generation = law.generation();
                law.record(Sample {
                    op: "create_user",
                    latency: site.latency(in_flight),
                    in_flight,
                    generation,
                    outcome: Outcome::Answered,
                });
            }
            trace.push(law.limit());
        }
        trace
    }

    fn settled(trace: &[usize]) -> usize {
        // The most common value of the last stretch (probes halve it briefly).
        let tail = &trace[trace.len() - 20..];
        let mut counts = HashMap::new();
        for limit in tail {
            *counts.entry(*limit).or_insert(0) += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(limit, count)| (*count, *limit))
            .map(|(limit, _)| limit)
            .unwrap_or(0)
    }

    fn site(workers: usize) -> Site {
        Site {
            workers,
            service: Duration::from_millis(50),
        }
    }

    #[test]
    fn it_converges_a_little_above_the_workers_from_below_and_above() {
        for workers in [1, 2, 4, 8, 16, 32] {
            let mut law = Vegas::new(64);
            let trace = drive(&mut law, &site(workers), 1000, 200);
            let limit = settled(&trace);
            assert!(
                limit >= workers && limit <= workers + 6,
                "{workers} workers: settled on {limit}: {trace:?}"
            );
        }
    }

    #[test]
    fn it_backs_off_when_the_site_loses_workers_and_grows_when_it_gains_them() {
        let mut law = Vegas::new(64);
        let settled_16 = settled(&drive(&mut law, &site(16), 1000, 150));
        assert!((16..=22).contains(&settled_16), "{settled_16}");
        let trace = drive(&mut law, &site(4), 1000, 150);
        let settled_4 = settled(&trace);
        assert!((4..=9).contains(&settled_4), "{settled_4}: {trace:?}");
        assert!(
            trace.iter().position(|l| *l <= 10).is_some_and(|at| at < 5),
            "backs off within a few windows: {trace:?}"
        );
        let settled_12 = settled(&drive(&mut law, &site(12), 1000, 200));
        assert!((12..=18).contains(&settled_12), "{settled_12}");
    }

    #[test]
    fn a_site_saturated_from_the_first_request_is_found_within_a_few_windows() {
        let mut law = Vegas::new(64);
        let trace = drive(&mut law, &site(1), 1000, 12);
        assert!(
            trace.last().is_some_and(|l| *l <= 5),
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
            let mut law = Vegas::new(64);
            let mut trace = Vec::new();
            for _ in 0..300 {
                let in_flight = law.limit();
                for _ in 0..law.limit().max(MIN_WINDOW) {
                    let generation = law.generation();
                    law.record(Sample {
                        op: "create_user",
                        latency: site.latency(in_flight).mul_f64(noise()),
                        in_flight,
                        generation,
                        outcome: Outcome::Answered,
                    });
                }
                trace.push(law.limit());
            }
            let limit = settled(&trace);
            assert!(
                limit >= workers && limit <= workers + 8,
                "{workers} workers: settled on {limit}: {trace:?}"
            );
        }
    }

    #[test]
    fn it_never_exceeds_the_upper_bound_nor_goes_below_one() {
        let mut law = Vegas::new(5);
        let trace = drive(&mut law, &site(64), 1000, 50);
        assert!(trace.iter().all(|l| *l <= 5));
        assert_eq!(settled(&trace), 5);
        let mut law = Vegas::new(64);
        for _ in 0..40 {
            let generation = law.generation();
            law.record(Sample {
                op: "get_user",
                latency: Duration::from_millis(5),
                in_flight: 1,
                generation,
                outcome: Outcome::Overloaded,
            });
        }
        assert_eq!(law.limit(), 1);
    }

    #[test]
    fn it_does_not_grow_while_the_idp_leaves_it_idle() {
        let mut law = Vegas::new(64);
        let trace = drive(&mut law, &site(32), 2, 100);
        assert!(trace.iter().all(|l| *l <= INITIAL_LIMIT), "{trace:?}");
    }

    #[test]
    fn an_overload_answer_cuts_once_per_generation() {
        let mut law = Vegas::new(64);
        let generation = law.generation();
        let overloaded = Sample {
            op: "create_user",
            latency: Duration::from_secs(10),
            in_flight: 8,
            generation,
            outcome: Outcome::Overloaded,
        };
        let change = law.record(overloaded).map(|c| (c.to, c.reason));
        assert_eq!(change, Some((6, Reason::Overload)));
        // The rest of the burst was admitted under the old limit.
        assert_eq!(law.record(overloaded), None);
        assert_eq!(law.limit(), 6);
    }

    #[test]
    fn a_slow_operation_is_not_read_as_queueing_behind_a_fast_one() {
        // Reads take 10 ms, writes 80 ms, both without any queue: the limit
        // must not fall.
        let mut law = Vegas::new(64);
        for round in 0..400 {
            let generation = law.generation();
            let in_flight = law.limit();
            let (op, ms) = if round % 2 == 0 {
                ("get_user", 10)
            } else {
                ("create_user", 80)
            };
            law.record(Sample {
                op,
                latency: Duration::from_millis(ms),
                in_flight,
                generation,
                outcome: Outcome::Answered,
            });
        }
        assert!(law.limit() > INITIAL_LIMIT, "{}", law.limit());
    }

    #[test]
    fn one_slow_answer_in_a_window_moves_nothing() {
        let mut law = Vegas::new(8);
        let s = site(8);
        let mut changes = Vec::new();
        for i in 0..8 {
            let generation = law.generation();
            let latency = if i == 3 {
                Duration::from_secs(2)
            } else {
                s.latency(8)
            };
            changes.extend(law.record(Sample {
                op: "get_user",
                latency,
                in_flight: 8,
                generation,
                outcome: Outcome::Answered,
            }));
        }
        // The first window only starts the first probe.
        assert!(
            changes.iter().all(|c| c.reason == Reason::ProbeStart),
            "{changes:?}"
        );
    }

    #[test]
    fn probes_refresh_the_baseline_after_the_site_became_slower_for_good() {
        let mut law = Vegas::new(64);
        settled(&drive(&mut law, &site(8), 1000, 100));
        // Every request now takes four times as long, without a queue:
        // after the next probe the limit must find its level again.
        let slower = Site {
            workers: 8,
            service: Duration::from_millis(200),
        };
        let trace = drive(&mut law, &slower, 1000, 3 * PROBE_EVERY as usize);
        let limit = settled(&trace);
        assert!((8..=14).contains(&limit), "{limit}: {trace:?}");
    }

    #[test]
    fn a_probe_halves_the_limit_for_one_window_only() {
        let mut law = Vegas::new(64);
        let trace = drive(&mut law, &site(8), 1000, 4 * PROBE_EVERY as usize);
        let tail = &trace[trace.len() - 2 * PROBE_EVERY as usize..];
        let low = tail.iter().filter(|l| **l < 8).count();
        assert!(
            (1..=6).contains(&low),
            "probes are brief and rare: {low} low windows in {tail:?}"
        );
    }
}
