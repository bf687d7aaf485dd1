//! What `totalResults` costs at 10 000 and 100 000 users: the Drupal
//! requests a count takes and the wall time, against the built-in Drupal
//! stand-in. Core Drupal sends no count, so the bridge probes pages of ids at
//! doubling offsets and then bisects (about 2·log2(n/50) requests); a count
//! is then reused for `count_cache_secs`.
//!
//!     cargo bench --bench counting
//!
//! Prints a Markdown table (the figures in docs/counting.md).

// A benchmark harness: a setup that fails aborts the measurement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::demo;
use drupal_scim_bridge::standin::{AccountSeed, StandIn, StandInConfig, StandInHandle};
use drupal_scim_bridge::startup::Application;
use serde_json::Value;

const TOKEN: &str = "bench-token-0123456789abcdef";
const PASSWORD: &str = "bench-password";
/// Cold counts timed per query; the median is shown.
const RUNS: usize = 5;
/// Median of a page of 50 on the recorded Drupal 10 site (SQLite, 2 vCPU).
const RECORDED_DRUPAL_PAGE_MS: f64 = 129.5;

async fn start_bridge(standin: &StandIn, count_cache_secs: u64) -> String {
    let yaml = format!(
        "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: {}\n  timeout_secs: 60\n  auth:\n    username: admin\n    password: \"{PASSWORD}\"\ncount_cache_secs: {count_cache_secs}\n",
        standin.base_url()
    );
    let settings = Settings::from_yaml(&yaml).expect("bench settings");
    let mapping = demo::mapping().expect("demo mapping");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind bridge");
    let app = Application::with_listener(&settings, mapping, listener).expect("build bridge");
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// A site with `users` accounts besides admin; every other one blocked.
fn site(users: usize) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
    let standin = StandIn::start(StandInConfig::demo(PASSWORD), listener).expect("stand-in");
    let seeds: Vec<AccountSeed> = (0..users)
        .map(|i| {
            let mut seed = AccountSeed::new(&format!("user-{i:06}"));
            seed.mail = Some(format!("user-{i:06}@example.org"));
            seed.status = i % 2 == 0;
            seed
        })
        .collect();
    standin.handle().insert_users(&seeds).expect("seed users");
    standin
}

/// One list request: its totalResults, Drupal requests and wall time.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    drupal: &StandInHandle,
    query: &str,
) -> (u64, usize, Duration) {
    drupal.clear_requests();
    let started = Instant::now();
    let answer: Value = client
        .get(format!("{base}/Users?{query}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("bridge answers")
        .json()
        .await
        .expect("a list response");
    let elapsed = started.elapsed();
    let total = answer["totalResults"].as_u64().expect("totalResults");
    (total, drupal.request_count(), elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let client = reqwest::Client::new();
    println!("| users | query | totalResults | Drupal requests | wall time, stand-in (median of {RUNS}) | estimated on Drupal ({RECORDED_DRUPAL_PAGE_MS} ms a page) | walking every page instead | a count reused from the cache |");
    println!("|---|---|---|---|---|---|---|---|");
    for users in [10_000usize, 100_000] {
        let seeding = Instant::now();
        let standin = site(users);
        eprintln!("seeded {users} users in {:?}", seeding.elapsed());
        let drupal = standin.handle();
        let cold = start_bridge(&standin, 0).await;
        let warm = start_bridge(&standin, 60).await;
        for (label, query) in [
            ("every user", "count=1"),
            ("`active eq true`", "count=1&filter=active%20eq%20true"),
            (
                "`userName sw \"user-00\"`",
                "count=1&filter=userName%20sw%20%22user-00%22",
            ),
        ] {
            let mut times = Vec::new();
            let mut last = (0, 0);
            for _ in 0..RUNS {
                let (total, requests, elapsed) = measure(&client, &cold, &drupal, query).await;
                times.push(elapsed);
                last = (total, requests);
            }
            let (total, requests) = last;
            measure(&client, &warm, &drupal, query).await;
            let (_, cached_requests, cached_time) = measure(&client, &warm, &drupal, query).await;
            let walking = usize::try_from(total).unwrap_or(usize::MAX).div_ceil(50);
            println!(
                "| {users} | {label} | {total} | {requests} | {:.0} ms | {:.1} s | {walking} requests, {:.0} s | {cached_requests} request, {:.0} ms |",
                median(times).as_secs_f64() * 1000.0,
                requests as f64 * RECORDED_DRUPAL_PAGE_MS / 1000.0,
                walking as f64 * RECORDED_DRUPAL_PAGE_MS / 1000.0,
                cached_time.as_secs_f64() * 1000.0,
            );
        }
    }
}
