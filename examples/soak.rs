//! Soak run: mixed identity-provider traffic against the release bridge,
//! running in its own process, in front of the Drupal stand-in (in this
//! process), with Drupal failures injected, for a long time at a fixed
//! request rate. Every 30 s it prints the resident memory of the bridge's
//! process and of this one (stand-in and client) separately, and at the end
//! a summary: answers by operation and status, and the answers no injected
//! fault explains. The stand-in's data stays bounded: every user and group
//! created is deleted again, under `deprovision: delete`.
//!
//!   cargo build --release --example soak --bin drupal-scim-bridge
//!   target/release/examples/soak [SECONDS] [WORKERS] [REQUESTS_PER_SECOND]
//!
//! The bridge binary is `target/release/drupal-scim-bridge` (next to the
//! `examples` directory), or `$BRIDGE_BIN`. `scripts/soak` runs it (default
//! one hour). Only 127.0.0.1 is used.

// A measuring tool, not the bridge: a setup that fails aborts the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drupal_scim_bridge::standin::{CancelMethod, StandIn, StandInConfig, StandInHandle};
use serde_json::{json, Value};

const TOKEN: &str = "soak-token-0123456789abcdef";
const PASSWORD: &str = "soak-admin-password";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// Answers until this long after an injected fault ended may be its doing:
/// retries with back-off, then the circuit breaker's 10 s open period.
const FAULT_WINDOW: Duration = Duration::from_secs(12);
/// One fault every this long, in turn.
const FAULT_EVERY: Duration = Duration::from_secs(30);
/// Memory is sampled this often.
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Tally {
    by_answer: BTreeMap<(String, u16), u64>,
    unexplained_count: u64,
    unexplained: Vec<String>,
}

struct Run {
    base: String,
    client: reqwest::Client,
    tally: Mutex<Tally>,
    /// Until when answers may be an injected fault's doing.
    faulty_until: Mutex<Option<Instant>>,
    sequence: AtomicU64,
    requests: AtomicU64,
    /// One tick per request: the same rate over the whole run.
    pace: tokio::sync::Mutex<tokio::time::Interval>,
}

impl Run {
    fn fault_explains(&self) -> bool {
        self.faulty_until
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until)
    }

    fn fault(&self, lasting: Duration) {
        *self.faulty_until.lock().unwrap() = Some(Instant::now() + lasting + FAULT_WINDOW);
    }

    async fn call(
        &self,
        op: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.pace.lock().await.tick().await;
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
                self.note(op, 0, &format!("transport error: {e}"), false);
                return (0, Value::Null);
            }
        };
        self.note(op, status, &body.to_string(), self.expected(status));
        if op == "bulk" && status == 200 {
            // Each operation's own answer counts as well.
            for result in body["Operations"].as_array().into_iter().flatten() {
                let inner = result["status"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| result["status"].as_u64().map(|n| n as u16))
                    .unwrap_or(0);
                let what = format!("{} {}", result["method"], result["response"]);
                let op = format!("bulk.{}", result["method"].as_str().unwrap_or("?"));
                self.note(&op, inner, &what, self.expected(inner));
            }
        }
        (status, body)
    }

    fn expected(&self, status: u16) -> bool {
        match status {
            200..=299 => true,
            // A lost answer: the create happened (the lookup finds it), or
            // the account went with a delete whose answer was lost.
            404 | 409 => self.fault_explains(),
            502 | 503 => self.fault_explains(),
            _ => false,
        }
    }

    fn note(&self, op: &str, status: u16, what: &str, expected: bool) {
        let mut tally = self.tally.lock().unwrap();
        *tally.by_answer.entry((op.into(), status)).or_insert(0) += 1;
        if !expected {
            tally.unexplained_count += 1;
            if tally.unexplained.len() < 50 {
                tally.unexplained.push(format!(
                    "{op} {status}: {}",
                    what.chars().take(300).collect::<String>()
                ));
            }
        }
    }
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH], "Operations": operations})
}

fn filtered(resource: &str, filter: &str) -> String {
    format!("/{resource}?filter={}", urlencode(filter))
}

/// One IdP user's life: create, look up and filter, update (PATCH, PUT),
/// role and term groups in and out, list, deactivate, delete. Every fifth
/// life also sends a Bulk request; every tenth creates, renames (PUT) and
/// deletes a term group of its own.
async fn lifecycle(run: &Run, role_group: &str, term_group: &str) {
    use reqwest::Method;
    let n = run.sequence.fetch_add(1, Ordering::Relaxed);
    let name = format!("soak.{n}");
    let mail = format!("{name}@example.org");
    let (status, body) = run
        .call(
            "create",
            Method::POST,
            "/Users",
            Some(json!({
                "schemas": [USER],
                "userName": name, "externalId": format!("ext-{n}"),
                "name": {"givenName": "Soak", "familyName": format!("User {n}")},
                "emails": [{"value": mail, "primary": true}],
            })),
        )
        .await;
    let id = if status == 201 {
        body["id"].as_str().unwrap_or_default().to_string()
    } else {
        let (_, found) = run
            .call(
                "find",
                Method::GET,
                &filtered("Users", &format!("userName eq \"{name}\"")),
                None,
            )
            .await;
        match found["Resources"][0]["id"].as_str() {
            Some(id) => id.to_string(),
            None => return,
        }
    };
    let filters = [
        format!("externalId eq \"ext-{n}\""),
        format!("emails.value eq \"{mail}\""),
        format!("userName eq \"{name}\" and active eq true"),
        format!("userName sw \"{name}\" or externalId eq \"ext-{n}\""),
    ];
    let filter = &filters[(n % filters.len() as u64) as usize];
    run.call("filter", Method::GET, &filtered("Users", filter), None)
        .await;
    run.call("get", Method::GET, &format!("/Users/{id}"), None)
        .await;
    run.call(
        "patch",
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch(
            json!([{"op": "replace", "path": "name.givenName", "value": "Soaked"}]),
        )),
    )
    .await;
    run.call(
        "put",
        Method::PUT,
        &format!("/Users/{id}"),
        Some(json!({
        "schemas": [USER], "userName": name, "externalId": format!("ext-{n}"), "active": true,
        "emails": [{"value": mail, "primary": true}]})),
    )
    .await;
    let members =
        |op: &str| patch(json!([{"op": op, "path": "members", "value": [{"value": id}]}]));
    for (kind, group) in [("role", role_group), ("term", term_group)] {
        run.call(
            &format!("{kind}_group_add"),
            Method::PATCH,
            &format!("/Groups/{group}"),
            Some(members("add")),
        )
        .await;
    }
    run.call(
        "term_members",
        Method::GET,
        &filtered("Users", &format!("groups.value eq \"{term_group}\"")),
        None,
    )
    .await;
    run.call(
        "term_group_get",
        Method::GET,
        &format!("/Groups/{term_group}?excludedAttributes=members"),
        None,
    )
    .await;
    for (kind, group) in [("role", role_group), ("term", term_group)] {
        run.call(
            &format!("{kind}_group_remove"),
            Method::PATCH,
            &format!("/Groups/{group}"),
            Some(patch(
                json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
            )),
        )
        .await;
    }
    run.call("list", Method::GET, "/Users?startIndex=1&count=10", None)
        .await;
    run.call(
        "groups",
        Method::GET,
        "/Groups?excludedAttributes=members",
        None,
    )
    .await;
    run.call(
        "deactivate",
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(patch(
            json!([{"op": "replace", "value": {"active": false}}]),
        )),
    )
    .await;
    run.call("delete", Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    if n % 5 == 0 {
        bulk(run, n, term_group).await;
    }
    if n % 10 == 0 {
        term_group_life(run, n).await;
    }
}

/// A Bulk request: a user created, put in a term group by its bulkId and
/// deleted again.
async fn bulk(run: &Run, n: u64, term_group: &str) {
    let name = format!("soak.bulk.{n}");
    run.call(
        "bulk",
        reqwest::Method::POST,
        "/Bulk",
        Some(json!({"schemas": [BULK], "failOnErrors": 1, "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u",
             "data": {"schemas": [USER], "userName": name,
                      "emails": [{"value": format!("{name}@example.org")}]}},
            {"method": "PATCH", "path": format!("/Groups/{term_group}"),
             "data": patch(json!([{"op": "add", "path": "members", "value": [{"value": "bulkId:u"}]}]))},
            {"method": "DELETE", "path": "/Users/bulkId:u"},
        ]})),
    )
    .await;
}

/// A term group's life: created, renamed by PUT, deleted.
async fn term_group_life(run: &Run, n: u64) {
    use reqwest::Method;
    let (status, body) = run
        .call(
            "term_group_create",
            Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": format!("Soak churn {n}"), "members": []})),
        )
        .await;
    let Some(id) = body["id"].as_str().filter(|_| status == 201) else {
        return;
    };
    run.call(
        "term_group_put",
        Method::PUT,
        &format!("/Groups/{id}"),
        Some(json!({"schemas": [GROUP], "displayName": format!("Soak churn {n} renamed"), "members": []})),
    )
    .await;
    run.call(
        "term_group_filter",
        Method::GET,
        &filtered(
            "Groups",
            &format!("displayName eq \"Soak churn {n} renamed\""),
        ),
        None,
    )
    .await;
    run.call(
        "term_group_delete",
        Method::DELETE,
        &format!("/Groups/{id}"),
        None,
    )
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

/// A Drupal failure every `FAULT_EVERY`, in turn: 503s, 500s, reset
/// connections, a malformed answer, a slow answer, a slow site for a while,
/// and the site down (every request 503, maintenance mode) for 10 s.
async fn inject_faults(drupal: StandInHandle, run: Arc<Run>, until: Instant) {
    let mut turn = 0u32;
    while Instant::now() + FAULT_EVERY < until {
        tokio::time::sleep(FAULT_EVERY).await;
        match turn % 7 {
            0 => {
                run.fault(Duration::ZERO);
                drupal.fail_next(3, 503);
            }
            1 => {
                run.fault(Duration::ZERO);
                drupal.fail_next(2, 500);
            }
            2 => {
                run.fault(Duration::ZERO);
                drupal.reset_connections_next(2);
            }
            3 => {
                run.fault(Duration::ZERO);
                drupal.malformed_body_next(1);
            }
            4 => {
                run.fault(Duration::from_secs(3));
                drupal.slow_body_next(1, Duration::from_secs(3));
            }
            5 => {
                run.fault(Duration::from_secs(2));
                drupal.set_latency(Duration::from_millis(300));
                tokio::time::sleep(Duration::from_secs(2)).await;
                drupal.set_latency(Duration::ZERO);
                run.fault(Duration::ZERO);
            }
            _ => {
                run.fault(Duration::from_secs(10));
                drupal.fail_next(u32::MAX, 503);
                tokio::time::sleep(Duration::from_secs(10)).await;
                drupal.fail_next(0, 503);
                run.fault(Duration::ZERO);
            }
        }
        turn += 1;
    }
}

/// A `/proc/<pid>/status` figure in KiB: `VmRSS`, or its parts `RssAnon`
/// (the heap, stacks) and `RssFile` (the program's code and libraries as
/// far as they were paged in).
fn status_kib(pid: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kib(pid: &str) -> u64 {
    status_kib(pid, "VmRSS:")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the release bridge in its own process, its log in `log`.
fn start_bridge(drupal_url: &str, port: u16, dir: &std::path::Path) -> Child {
    let binary = std::env::var_os("BRIDGE_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("drupal-scim-bridge")
        });
    let mapping = dir.join("mapping.yaml");
    std::fs::write(
        &mapping,
        // demo.yaml keeps groups as terms (`group_terms: {}`).
        include_str!("../mappings/demo.yaml"),
    )
    .unwrap();
    let config = dir.join("bridge.yaml");
    let yaml = json!({
        "listen": format!("127.0.0.1:{port}"),
        "mapping": mapping,
        "scim": {"tokens": [TOKEN]},
        "drupal": {"base_url": drupal_url, "timeout_secs": 5,
                   "auth": {"mode": "session", "username": "admin", "password": PASSWORD}},
        "deprovision": "delete",
    });
    std::fs::write(&config, yaml.to_string()).unwrap();
    let log = std::fs::File::create(dir.join("bridge.log")).unwrap();
    let mut command = Command::new(&binary);
    // Warnings and errors only (the faults' traces), unless RUST_LOG says
    // otherwise: a line per request would write some 180 MB an hour.
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "warn");
    }
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()))
}

/// Stops the bridge as a service manager does (SIGTERM, so that a heap
/// profiler wrapped around it through `BRIDGE_BIN` writes its output), and
/// kills it if it has not stopped within a minute.
fn stop(bridge: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(bridge.id().to_string())
        .status();
    let asked = Instant::now();
    while asked.elapsed() < Duration::from_secs(60) {
        if let Ok(Some(_)) = bridge.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = bridge.kill();
    let _ = bridge.wait();
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3600);
    let workers: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(4);
    let rate: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(40);

    let standin = StandIn::start(
        StandInConfig::demo(PASSWORD),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .unwrap();
    // SCIM DELETE under `deprovision: delete` removes the account only when
    // Drupal's cancel method deletes (its default only blocks): so the
    // stand-in's data stays bounded.
    standin.handle().set_cancel_method(CancelMethod::Delete);
    let dir = std::env::temp_dir().join(format!("scim-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut bridge = start_bridge(&standin.base_url(), port, &dir);
    let bridge_pid = bridge.id().to_string();
    eprintln!(
        "# bridge pid {bridge_pid}, log {}",
        dir.join("bridge.log").display()
    );

    let mut pace = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let run = Arc::new(Run {
        base: format!("http://127.0.0.1:{port}/scim/v2"),
        client: reqwest::Client::new(),
        tally: Mutex::new(Tally::default()),
        faulty_until: Mutex::new(None),
        sequence: AtomicU64::new(0),
        requests: AtomicU64::new(0),
        pace: tokio::sync::Mutex::new(pace),
    });
    let ready = Instant::now();
    loop {
        let (status, _) = run
            .call(
                "ready",
                reqwest::Method::GET,
                "/ServiceProviderConfig",
                None,
            )
            .await;
        if status == 200 {
            break;
        }
        assert!(
            ready.elapsed() < Duration::from_secs(120),
            "the bridge did not start"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run.tally.lock().unwrap().by_answer.clear();
    run.tally.lock().unwrap().unexplained.clear();
    run.tally.lock().unwrap().unexplained_count = 0;
    let (_, role_group) = run
        .call(
            "link_group",
            reqwest::Method::POST,
            "/Groups",
            Some(json!({"schemas": [GROUP], "displayName": "editor"})),
        )
        .await;
    let role_group = role_group["id"]
        .as_str()
        .expect("the editor group")
        .to_string();
    let mut term_groups = Vec::new();
    for w in 0..workers {
        let (_, group) = run
            .call(
                "term_group_create",
                reqwest::Method::POST,
                "/Groups",
                Some(json!({"schemas": [GROUP], "displayName": format!("Soak team {w}"), "members": []})),
            )
            .await;
        term_groups.push(group["id"].as_str().expect("a term group").to_string());
    }

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    tokio::spawn(inject_faults(standin.handle(), run.clone(), until));
    let mut tasks = Vec::new();
    for term_group in term_groups {
        let run = run.clone();
        let role_group = role_group.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                lifecycle(&run, &role_group, &term_group).await;
            }
        }));
    }
    println!("# t_s bridge_rss_kib standin_client_rss_kib requests unexplained drupal_accounts drupal_terms bridge_anon_kib bridge_file_kib");
    let mut samples = Vec::new();
    let sample = |t: f64| {
        let bridge_rss = rss_kib(&bridge_pid);
        let own = rss_kib("self");
        let tally = run.tally.lock().unwrap();
        println!(
            "{t:.0} {bridge_rss} {own} {} {} {} {} {} {}",
            run.requests.load(Ordering::Relaxed),
            tally.unexplained_count,
            standin.handle().user_count(),
            standin.handle().terms().len(),
            status_kib(&bridge_pid, "RssAnon:"),
            status_kib(&bridge_pid, "RssFile:"),
        );
        bridge_rss
    };
    samples.push(sample(0.0));
    while Instant::now() < until {
        tokio::time::sleep(SAMPLE_EVERY.min(until.saturating_duration_since(Instant::now()))).await;
        samples.push(sample(started.elapsed().as_secs_f64()));
    }
    for task in tasks {
        let _ = task.await;
    }
    stop(&mut bridge);
    let tally = run.tally.lock().unwrap();
    println!("# answers by operation and status:");
    for ((op, status), n) in &tally.by_answer {
        println!("#   {op} {status}: {n}");
    }
    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    for ((op, status), n) in &tally.by_answer {
        if !op.starts_with("bulk.") {
            *by_status.entry(*status).or_insert(0) += n;
        }
    }
    println!("# HTTP answers by status: {by_status:?}");
    let tenth = (samples.len() / 10).max(1);
    let early = samples.iter().take(tenth).sum::<u64>() / tenth as u64;
    let late = samples.iter().rev().take(tenth).sum::<u64>() / tenth as u64;
    println!(
        "# {} requests in {:.0} s; bridge RSS first tenth {early} KiB, last tenth {late} KiB, max {} KiB; {} Drupal accounts left",
        run.requests.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        samples.iter().max().unwrap_or(&0),
        standin.handle().user_count(),
    );
    println!("# unexplained answers: {}", tally.unexplained_count);
    for line in &tally.unexplained {
        println!("#   {line}");
    }
}
