//! Many sites in one bridge: memory, start-up time, and whether one site
//! under heavy load slows the others. Starts N Drupal stand-ins in this
//! process and the bridge (`target/release/drupal-scim-bridge serve`) as
//! its own process serving all of them through `sites:`, so that the
//! bridge's memory is measured alone.
//!
//!   cargo build --release && cargo run --release --example multi_site_bench -- 100 20
//!
//! Arguments: sites (default 100), seconds per phase (default 20), the busy
//! site's Drupal latency in ms (default 50) and its clients (default 72).
//! The quiet sites (all but the first) get 200 requests per second in all,
//! round-robin, at a fixed rate (`GET /Users?filter=userName eq ...`,
//! one Drupal request each). Phases: quiet traffic alone, the same with the
//! busy site saturated (its clients loop without pause: with the default
//! 8 Drupal slots, a 64-deep queue and a 50 ms Drupal, its limit and queue
//! stay full), and quiet traffic alone again. Prints the bridge's resident
//! memory, its start-up time, and the quiet sites' latency per phase.

// Not production code: a failed unwrap is a failed run or test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drupal_scim_bridge::standin::{StandIn, StandInConfig};

const PASSWORD: &str = "admin-password";
const QUIET_RATE: u64 = 200;

fn token(n: usize) -> String {
    format!("bench-token-site-{n:03}-0123456789")
}

fn site_id(n: usize) -> String {
    format!("site-{n:03}")
}

struct Bridge(Child);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// VmRSS and VmHWM of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Quiet traffic at a fixed rate for `duration`; the latencies in ms.
async fn quiet_traffic(
    client: &reqwest::Client,
    root: &str,
    sites: usize,
    duration: Duration,
) -> (Vec<f64>, u64) {
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / QUIET_RATE));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    let mut n = 0usize;
    while Instant::now() < until {
        ticks.tick().await;
        let site = 1 + n % (sites - 1);
        n += 1;
        let url = format!(
            "{root}/sites/{}/scim/v2/Users?filter=userName%20eq%20%22user{}%22",
            site_id(site),
            n % 50
        );
        let (client, token) = (client.clone(), token(site));
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let ok = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            (started.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok((ms, true)) => latencies.push(ms),
            _ => failed += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    (latencies, failed)
}

fn report(phase: &str, latencies: &[f64], failed: u64) -> f64 {
    let p50 = percentile(latencies, 0.5);
    println!(
        "{phase:<34} quiet requests {:>6}  failed {failed:>3}  p50 {p50:>6.2} ms  p90 {:>6.2} ms  p99 {:>7.2} ms",
        latencies.len(),
        percentile(latencies, 0.9),
        percentile(latencies, 0.99)
    );
    p50
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or_else(|_| panic!("not a number: {a}")))
        .collect();
    let sites = args.first().copied().unwrap_or(100).max(2) as usize;
    let seconds = args.get(1).copied().unwrap_or(20);
    let busy_latency = Duration::from_millis(args.get(2).copied().unwrap_or(50));
    let busy_clients = args.get(3).copied().unwrap_or(72) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(sites, seconds, busy_latency, busy_clients));
}

async fn run(sites: usize, seconds: u64, busy_latency: Duration, busy_clients: usize) {
    let phase = Duration::from_secs(seconds);
    let standins: Vec<StandIn> = (0..sites)
        .map(|_| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
            StandIn::start(StandInConfig::demo(PASSWORD), listener).expect("stand-in")
        })
        .collect();
    standins[0].handle().set_latency(busy_latency);

    let dir = std::env::temp_dir().join(format!("scim-bridge-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // The demo mapping with role-backed groups alone, as this figure was
    // always measured (mappings/demo.yaml also keeps groups as terms).
    let mapping = dir.join("mapping.yaml");
    let demo = include_str!("../mappings/demo.yaml");
    let roles_only: String = demo
        .lines()
        .filter(|line| !line.starts_with("group_terms:"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&mapping, roles_only).expect("mapping");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut yaml = format!(
        "listen: 127.0.0.1:{port}\ndefaults:\n  mapping: {}\n  drupal:\n    auth:\n      username: admin\n      password: \"{PASSWORD}\"\nsites:\n",
        mapping.display()
    );
    for (n, standin) in standins.iter().enumerate() {
        yaml.push_str(&format!(
            "  - id: {}\n    drupal: {{base_url: \"{}\"}}\n    scim: {{tokens: [\"{}\"]}}\n",
            site_id(n),
            standin.base_url(),
            token(n)
        ));
    }
    let config = dir.join("bridge.yaml");
    std::fs::write(&config, yaml).expect("write config");

    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("drupal-scim-bridge")))
        .filter(|b| b.exists())
        .expect("build the bridge first: cargo build --release");
    let started = Instant::now();
    let bridge = Bridge(
        Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the bridge"),
    );
    let pid = bridge.0.id();
    let root = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let probe = format!(
        "{root}/sites/{}/scim/v2/ServiceProviderConfig",
        site_id(sites - 1)
    );
    loop {
        let answer = client
            .get(&probe)
            .bearer_auth(token(sites - 1))
            .send()
            .await;
        if answer.is_ok_and(|a| a.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the bridge did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let startup = started.elapsed();
    // Start-up also checks each site's credentials and roles in the background.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (idle_rss, _) = memory_mib(pid);

    // One request per site: every site logged in, its caches filled.
    for n in 0..sites {
        let url = format!("{root}/sites/{}/scim/v2/Users?count=1", site_id(n));
        let _ = client.get(url).bearer_auth(token(n)).send().await;
    }
    let (warm_rss, _) = memory_mib(pid);

    println!("sites: {sites}; bridge pid {pid}");
    println!(
        "start-up: {:.0} ms until the last site answers",
        startup.as_secs_f64() * 1000.0
    );
    println!("memory: {idle_rss:.1} MiB resident after start-up, {warm_rss:.1} MiB once every site has logged in and served a request");

    let (before, failed) = quiet_traffic(&client, &root, sites, phase).await;
    let idle_p50 = report("busy site idle", &before, failed);

    let stop = Arc::new(AtomicBool::new(false));
    let busy_done = Arc::new(AtomicU64::new(0));
    let busy_refused = Arc::new(AtomicU64::new(0));
    let busy: Vec<_> = (0..busy_clients)
        .map(|c| {
            let (client, stop) = (client.clone(), stop.clone());
            let (done, refused) = (busy_done.clone(), busy_refused.clone());
            let url = format!(
                "{root}/sites/{}/scim/v2/Users?filter=userName%20eq%20%22busy{c}%22",
                site_id(0)
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).bearer_auth(token(0)).send().await {
                        Ok(r) if r.status() == 200 => done.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    busy_done.store(0, Ordering::Relaxed);
    busy_refused.store(0, Ordering::Relaxed);
    let (during, failed) = quiet_traffic(&client, &root, sites, phase).await;
    let busy_p50 = report("busy site saturated", &during, failed);
    let (rss_busy, peak) = memory_mib(pid);
    stop.store(true, Ordering::Relaxed);
    for task in busy {
        let _ = task.await;
    }
    println!(
        "  busy site: {:.0} answered/s, {} refused (503) in the phase; bridge {rss_busy:.1} MiB resident, {peak:.1} MiB peak",
        busy_done.load(Ordering::Relaxed) as f64 / seconds as f64,
        busy_refused.load(Ordering::Relaxed)
    );

    let (after, failed) = quiet_traffic(&client, &root, sites, phase).await;
    let after_p50 = report("busy site idle again", &after, failed);
    println!(
        "quiet p50, busy saturated / busy idle: {:.3} (before) {:.3} (after)",
        busy_p50 / idle_p50,
        busy_p50 / after_p50
    );
    drop(bridge);
    let _ = std::fs::remove_dir_all(&dir);
    drop(standins);
}
