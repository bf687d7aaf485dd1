//! How steady this machine's cores are while a benchmark runs. On each core a
//! fixed loop of about 20 µs runs every 2 ms, timed in the thread's own CPU
//! time, so being preempted by another thread does not count; a run that
//! takes more than 3 times the fastest is slow. On a virtual machine whose
//! host lends its cores to others, stretches of tens of milliseconds run
//! 10-20 times slower. A request served then is that much slower too, so a
//! latency tail measured during them says more about the host than about the
//! program. `scripts/bench-load` runs this beside each fixed-rate run.
//!
//!   cargo run --release --example slowdown_meter -- 10
//!
//! After the given seconds it prints one line: the share of slow runs (%),
//! and the longest stretch of slow runs in a row on one core (ms).

// A measuring tool, not the bridge: a setup that fails aborts the measurement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_millis(2);
const PROBE: Duration = Duration::from_micros(20);
const SLOW_FACTOR: f64 = 3.0;

fn main() {
    let seconds: f64 = match std::env::args().nth(1).map(|s| s.parse()) {
        Some(Ok(s)) => s,
        _ => {
            eprintln!("usage: slowdown_meter SECONDS");
            std::process::exit(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let meters: Vec<_> = (0..cores)
        .map(|core| std::thread::spawn(move || measure(core, until)))
        .collect();
    let (mut runs, mut slow, mut longest) = (0, 0, Duration::ZERO);
    for meter in meters {
        let core = meter.join().expect("a meter thread");
        runs += core.runs;
        slow += core.slow;
        longest = longest.max(core.longest_stretch);
    }
    println!(
        "{:.2} {:.0}",
        100.0 * slow as f64 / runs.max(1) as f64,
        longest.as_secs_f64() * 1000.0
    );
}

struct Core {
    runs: u64,
    slow: u64,
    longest_stretch: Duration,
}

fn measure(core: usize, until: Instant) -> Core {
    pin_to(core);
    let iterations = calibrate();
    let fastest = (0..50)
        .map(|_| {
            std::thread::sleep(PERIOD);
            probe(iterations)
        })
        .min()
        .unwrap_or(PROBE);
    let mut result = Core {
        runs: 0,
        slow: 0,
        longest_stretch: Duration::ZERO,
    };
    let mut stretch_started: Option<Instant> = None;
    while Instant::now() < until {
        let took = probe(iterations);
        result.runs += 1;
        if took.as_secs_f64() > SLOW_FACTOR * fastest.as_secs_f64() {
            result.slow += 1;
            let started = *stretch_started.get_or_insert_with(Instant::now);
            result.longest_stretch = result.longest_stretch.max(started.elapsed());
        } else {
            stretch_started = None;
        }
        std::thread::sleep(PERIOD);
    }
    result
}

/// Loop iterations that take about `PROBE` on this core.
fn calibrate() -> u64 {
    let mut iterations = 1_000;
    loop {
        let took = probe(iterations);
        if took >= PROBE {
            return (iterations as f64 * PROBE.as_secs_f64() / took.as_secs_f64()) as u64;
        }
        iterations *= 2;
    }
}

/// CPU time this thread spends on a fixed amount of arithmetic.
fn probe(iterations: u64) -> Duration {
    let started = thread_cpu_time();
    let mut x: u64 = 1;
    for _ in 0..iterations {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
    }
    std::hint::black_box(x);
    thread_cpu_time().saturating_sub(started)
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn pin_to(core: usize) {
    // SAFETY: the set is zeroed, then one core is added to it before it is
    // passed by reference; 0 is this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
