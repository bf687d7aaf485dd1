//! Soak run: mixed identity-provider traffic against the bridge in front of
//! the Drupal stand-in, with Drupal failures injected, for a long time. Every
//! few seconds it prints the process's resident memory (bridge, stand-in
//! and this client share the process; the stand-in's data stays bounded
//! since every user created is deleted again, under `deprovision: delete`),
//! and at the end a summary: answers by operation and status, and the
//! answers no injected fault explains.
//!
//!   cargo run --release --example soak -- [SECONDS] [WORKERS]
//!
//! `scripts/soak` runs it (default one hour). Only 127.0.0.1 is used.

// A measuring tool, not the bridge: a setup that fails aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::standin::{CancelMethod, StandIn, StandInConfig, StandInHandle};
use drupal_scim_bridge::startup::Application;
use serde_json::{json, Value};

const TOKEN: &str = "soak-token-0123456789abcdef";
const PASSWORD: &str = "soak-admin-password";
/// Answers within this long after a fault was injected may be its doing.
const FAULT_WINDOW: Duration = Duration::from_secs(8);

#[derive(Default)]
struct Tally {
    by_answer: BTreeMap<(String, u16), u64>,
    unexplained: Vec<String>,
}

struct Run {
    base: String,
    client: reqwest::Client,
    tally: Mutex<Tally>,
    last_fault: Mutex<Option<Instant>>,
    sequence: AtomicU64,
    requests: AtomicU64,
}

impl Run {
    async fn call(
        &self,
        op: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .json(&body);
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let (status, body) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                (status, body)
            }
            Err(e) => {
                self.note(op, 0, &format!("transport error: {e}"));
                return (0, Value::Null);
            }
        };
        let explained_by_fault = self
            .last_fault
            .lock()
            .unwrap()
            .is_some_and(|t| t.elapsed() < FAULT_WINDOW);
        let expected = match status {
            200..=299 => true,
            // A lost answer retried by the IdP: the create happened, or the
            // account went away with the first delete.
            404 | 409 => explained_by_fault,
            502 | 503 => explained_by_fault,
            _ => false,
        };
        if expected {
            self.tally
                .lock()
                .unwrap()
                .by_answer
                .entry((op.into(), status))
                .and_modify(|n| *n += 1)
                .or_insert(1);
        } else {
            self.note(op, status, &body.to_string());
        }
        (status, body)
    }

    fn note(&self, op: &str, status: u16, what: &str) {
        let mut tally = self.tally.lock().unwrap();
        *tally.by_answer.entry((op.into(), status)).or_insert(0) += 1;
        if tally.unexplained.len() < 50 {
            tally.unexplained.push(format!(
                "{op} {status}: {}",
                what.chars().take(300).collect::<String>()
            ));
        }
    }
}

/// One IdP user's life: create, look up, update, group in and out, delete.
async fn lifecycle(run: &Run, group: &str) {
    use reqwest::Method;
    let n = run.sequence.fetch_add(1, Ordering::Relaxed);
    let name = format!("soak.{n}");
    let (status, body) = run
        .call(
            "create",
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": name, "externalId": format!("ext-{n}"),
                "name": {"givenName": "Soak", "familyName": format!("User {n}")},
                "emails": [{"value": format!("{name}@example.org"), "primary": true}],
            })),
        )
        .await;
    let id = if status == 201 {
        body["id"].as_str().unwrap_or_default().to_string()
    } else {
        let filter = format!("userName eq \"{name}\"");
        let (_, found) = run
            .call(
                "find",
                Method::GET,
                &format!("/Users?filter={}", urlencode(&filter)),
                None,
            )
            .await;
        match found["Resources"][0]["id"].as_str() {
            Some(id) => id.to_string(),
            None => return,
        }
    };
    let filter = format!("externalId eq \"ext-{n}\"");
    run.call(
        "filter",
        Method::GET,
        &format!("/Users?filter={}", urlencode(&filter)),
        None,
    )
    .await;
    run.call("get", Method::GET, &format!("/Users/{id}"), None)
        .await;
    run.call(
        "patch",
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": "Soaked"}]})),
    )
    .await;
    run.call(
        "put",
        Method::PUT,
        &format!("/Users/{id}"),
        Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name, "active": true,
        "emails": [{"value": format!("{name}@example.org"), "primary": true}]})),
    )
    .await;
    let members = |op: &str| {
        json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": op, "path": "members", "value": [{"value": id}]}]})
    };
    run.call(
        "group_add",
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(members("add")),
    )
    .await;
    run.call(
        "group_remove",
        Method::PATCH,
        &format!("/Groups/{group}"),
        Some(members("remove")),
    )
    .await;
    run.call("list", Method::GET, "/Users?startIndex=1&count=10", None)
        .await;
    run.call("delete", Method::DELETE, &format!("/Users/{id}"), None)
        .await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Drupal failure every `every`, in turn: 503s, reset connections,
/// malformed answers, slow answers, a slow site for a while.
async fn inject_faults(drupal: StandInHandle, run: Arc<Run>, every: Duration, until: Instant) {
    let mut turn = 0u32;
    while Instant::now() + every < until {
        tokio::time::sleep(every).await;
        *run.last_fault.lock().unwrap() = Some(Instant::now());
        match turn % 5 {
            0 => drupal.fail_next(3, 503),
            1 => drupal.reset_connections_next(2),
            2 => drupal.malformed_body_next(1),
            3 => drupal.slow_body_next(1, Duration::from_secs(3)),
            _ => {
                drupal.set_latency(Duration::from_millis(300));
                tokio::time::sleep(Duration::from_secs(2)).await;
                drupal.set_latency(Duration::ZERO);
                *run.last_fault.lock().unwrap() = Some(Instant::now());
            }
        }
        turn += 1;
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3600);
    let workers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let until = Instant::now() + Duration::from_secs(seconds);

    let standin = StandIn::start(
        StandInConfig::demo(PASSWORD),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap();
    // SCIM DELETE under `deprovision: delete` removes the account only when
    // Drupal's cancel method deletes (its default only blocks): so the
    // stand-in's data stays bounded and the memory measured is the bridge's
    // own growth, if any.
    standin.handle().set_cancel_method(CancelMethod::Delete);
    let yaml = json!({
        "listen": "127.0.0.1:0",
        "scim": {"tokens": [TOKEN]},
        "drupal": {"base_url": standin.base_url(), "timeout_secs": 5,
                   "auth": {"mode": "session", "username": "admin", "password": PASSWORD}},
        "deprovision": "delete",
    })
    .to_string();
    let settings = Settings::from_yaml(&yaml).unwrap();
    let mapping =
        Mapping::parse(include_str!("../mappings/demo.yaml"), "mappings/demo.yaml").unwrap();
    let app = Application::with_listener(
        &settings,
        mapping,
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run_until_stopped());

    let run = Arc::new(Run {
        base,
        client: reqwest::Client::new(),
        tally: Mutex::new(Tally::default()),
        last_fault: Mutex::new(None),
        sequence: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    });
    let (_, group) = run
        .call(
            "link_group",
            reqwest::Method::POST,
            "/Groups",
            Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "editor"})),
        )
        .await;
    let group = group["id"].as_str().expect("the editor group").to_string();

    let started = Instant::now();
    tokio::spawn(inject_faults(
        standin.handle(),
        run.clone(),
        Duration::from_secs(15),
        until,
    ));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let run = run.clone();
        let group = group.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                lifecycle(&run, &group).await;
            }
        }));
    }
    println!("# t_s rss_kib requests unexplained drupal_accounts");
    let mut samples = Vec::new();
    while Instant::now() < until {
        tokio::time::sleep(
            Duration::from_secs(5).min(until.saturating_duration_since(Instant::now())),
        )
        .await;
        let rss = rss_kib();
        let unexplained = run.tally.lock().unwrap().unexplained.len();
        println!(
            "{:.0} {rss} {} {unexplained} {}",
            started.elapsed().as_secs_f64(),
            run.requests.load(Ordering::Relaxed),
            standin.handle().user_count()
        );
        samples.push(rss);
    }
    for task in tasks {
        let _ = task.await;
    }
    let tally = run.tally.lock().unwrap();
    println!("# answers by operation and status:");
    for ((op, status), n) in &tally.by_answer {
        println!("#   {op} {status}: {n}");
    }
    let tenth = (samples.len() / 10).max(1);
    let early = samples.iter().take(tenth).sum::<u64>() / tenth as u64;
    let late = samples.iter().rev().take(tenth).sum::<u64>() / tenth as u64;
    println!(
        "# {} requests in {:.0} s; RSS first tenth {early} KiB, last tenth {late} KiB, max {} KiB; {} Drupal accounts left",
        run.requests.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        samples.iter().max().unwrap_or(&0),
        standin.handle().user_count(),
    );
    println!("# unexplained answers: {}", tally.unexplained.len());
    for line in &tally.unexplained {
        println!("#   {line}");
    }
}
