//! The IdP side of `scripts/bench-throughput`: `--concurrency` requests at
//! once, each phase over `--users` users: create them, deactivate them,
//! add them to a group; either through the bridge (SCIM) or directly
//! against Drupal's JSON:API (a session, as the bridge logs in), one Drupal
//! request per operation (the bridge also reads its list of accounts to
//! refuse once per `account_cache_secs`). Prints one line per phase, then
//! the CPU time this process used (the IdP's share of a shared machine):
//!
//! `phase=create ops=200 ok=200 secs=8.1 rps=24.7 p50_ms=160 p95_ms=310 errors=0 status_5xx=0`
//! `idp_cpu_s=0.84`
//!
//!   cargo run --release --example bench_throughput -- --target bridge \
//!     --url http://127.0.0.1:8080/scim/v2 --token T --group engineering \
//!     --concurrency 16 --users 200 --prefix run1
//!   cargo run --release --example bench_throughput -- --target direct \
//!     --url http://127.0.0.1:8888 --user admin --pass P --group engineering \
//!     --concurrency 16 --users 200 --prefix run2
//!
//! `--burn-us N` (direct only) also spends N microseconds of CPU on another
//! thread for every operation: a stand-in for the CPU a proxy on the same
//! machine takes from Drupal, to tell that cost from the proxy's behaviour.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use serde_json::{json, Value};

const SCIM: &str = "application/scim+json";
const JSONAPI: &str = "application/vnd.api+json";

#[derive(Clone)]
enum Target {
    Bridge { base: String },
    Direct { base: String },
}

struct Bench {
    /// One token per finished operation for the CPU burner, if any.
    burn: Option<std::sync::mpsc::Sender<()>>,
    http: reqwest::Client,
    target: Target,
    /// The group's SCIM id (bridge) or the role's UUID (direct).
    group: String,
}

/// What one request did: its status, and the new user's id for a create.
type Outcome = (u16, Option<String>);

impl Bench {
    async fn create(&self, name: &str) -> Result<Outcome, reqwest::Error> {
        match &self.target {
            Target::Bridge { base } => {
                let body = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name,
                    "externalId": format!("ext-{name}"),
                    "emails": [{"value": format!("{name}@example.org"), "type": "work", "primary": true}],
                    "active": true
                });
                let answer = self
                    .http
                    .post(format!("{base}/Users"))
                    .header(CONTENT_TYPE, SCIM)
                    .body(body.to_string())
                    .send()
                    .await?;
                let status = answer.status().as_u16();
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                Ok((status, body["id"].as_str().map(str::to_string)))
            }
            Target::Direct { base } => {
                let body = json!({"data": {"type": "user--user", "attributes": {
                    "name": name, "mail": format!("{name}@example.org"), "status": true,
                    "field_scim_external_id": format!("ext-{name}")
                }}});
                let answer = self
                    .http
                    .post(format!("{base}/jsonapi/user/user"))
                    .header(CONTENT_TYPE, JSONAPI)
                    .body(body.to_string())
                    .send()
                    .await?;
                let status = answer.status().as_u16();
                let body: Value = answer.json().await.unwrap_or(Value::Null);
                Ok((status, body["data"]["id"].as_str().map(str::to_string)))
            }
        }
    }

    async fn deactivate(&self, id: &str) -> Result<Outcome, reqwest::Error> {
        let request = match &self.target {
            Target::Bridge { base } => self
                .http
                .patch(format!("{base}/Users/{id}"))
                .header(CONTENT_TYPE, SCIM)
                .body(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "active", "value": false}]})
                    .to_string(),
                ),
            Target::Direct { base } => self
                .http
                .patch(format!("{base}/jsonapi/user/user/{id}"))
                .header(CONTENT_TYPE, JSONAPI)
                .body(
                    json!({"data": {"type": "user--user", "id": id, "attributes": {"status": false}}})
                        .to_string(),
                ),
        };
        let answer = request.send().await?;
        let status = answer.status().as_u16();
        answer.bytes().await?;
        Ok((status, None))
    }

    async fn add_to_group(&self, id: &str) -> Result<Outcome, reqwest::Error> {
        let group = &self.group;
        let request = match &self.target {
            Target::Bridge { base } => self
                .http
                .patch(format!("{base}/Groups/{group}"))
                .header(CONTENT_TYPE, SCIM)
                .body(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})
                    .to_string(),
                ),
            Target::Direct { base } => self
                .http
                .post(format!("{base}/jsonapi/user/user/{id}/relationships/roles"))
                .header(CONTENT_TYPE, JSONAPI)
                .body(json!({"data": [{"type": "user_role--user_role", "id": group}]}).to_string()),
        };
        let answer = request.send().await?;
        let status = answer.status().as_u16();
        answer.bytes().await?;
        Ok((status, None))
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Create,
    Deactivate,
    AddToGroup,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Create => "create",
            Phase::Deactivate => "deactivate",
            Phase::AddToGroup => "group-add",
        }
    }
}

/// Runs one phase over `items` with `concurrency` workers; returns the
/// created ids (create phase) in item order.
async fn run(
    bench: &Arc<Bench>,
    phase: Phase,
    items: Arc<Vec<String>>,
    concurrency: usize,
) -> Vec<Option<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new(vec![None; items.len()]));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(items.len())));
    let statuses = Arc::new(Mutex::new(HashMap::<u16, usize>::new()));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (bench, items, next) = (bench.clone(), items.clone(), next.clone());
            let (results, latencies, statuses) =
                (results.clone(), latencies.clone(), statuses.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let at = Instant::now();
                    let outcome = match phase {
                        Phase::Create => bench.create(item).await,
                        Phase::Deactivate => bench.deactivate(item).await,
                        Phase::AddToGroup => bench.add_to_group(item).await,
                    };
                    let took = at.elapsed();
                    let (status, id) = outcome.unwrap_or((0, None));
                    lock(&latencies).push(took);
                    *lock(&statuses).entry(status).or_default() += 1;
                    lock(&results)[i] = id;
                    if let Some(burn) = &bench.burn {
                        let _ = burn.send(());
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let secs = started.elapsed().as_secs_f64();
    let mut latencies = lock(&latencies).clone();
    latencies.sort();
    let statuses = lock(&statuses).clone();
    let ok = statuses
        .iter()
        .filter(|(s, _)| (200..300).contains(*s))
        .map(|(_, n)| n)
        .sum::<usize>();
    let errors = items.len() - ok;
    let server = statuses
        .iter()
        .filter(|(s, _)| **s >= 500 || **s == 0)
        .map(|(_, n)| n)
        .sum::<usize>();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let mut other: Vec<_> = statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s))
        .map(|(s, n)| format!("{s}x{n}"))
        .collect();
    other.sort();
    println!(
        "phase={} ops={} ok={ok} secs={secs:.1} rps={:.1} p50_ms={:.0} p95_ms={:.0} errors={errors} status_5xx={server} statuses={}",
        phase.name(),
        items.len(),
        ok as f64 / secs,
        pct(0.50),
        pct(0.95),
        if other.is_empty() { "-".to_string() } else { other.join(",") },
    );
    let results = lock(&results).clone();
    results
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn arg(args: &HashMap<String, String>, name: &str) -> String {
    match args.get(name) {
        Some(v) => v.clone(),
        None => {
            eprintln!("bench_throughput: --{name} is required");
            std::process::exit(2);
        }
    }
}

/// Logs in through `/user/login?_format=json`: the session cookie and the
/// CSRF token every write needs.
async fn session(base: &str, user: &str, pass: &str) -> Result<HeaderMap, String> {
    let answer = reqwest::Client::new()
        .post(format!("{base}/user/login?_format=json"))
        .header(CONTENT_TYPE, "application/json")
        .body(json!({"name": user, "pass": pass}).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("SESS") || v.starts_with("SSESS"))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or("the login set no session cookie")?;
    let body: Value = answer.json().await.map_err(|e| e.to_string())?;
    let csrf = body["csrf_token"].as_str().ok_or("no csrf_token")?;
    let mut headers = HeaderMap::new();
    headers.insert(
        COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| e.to_string())?,
    );
    headers.insert(
        "x-csrf-token",
        HeaderValue::from_str(csrf).map_err(|e| e.to_string())?,
    );
    headers.insert("accept", HeaderValue::from_static(JSONAPI));
    Ok(headers)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: HashMap<String, String> = raw
        .chunks(2)
        .filter_map(|pair| match pair {
            [k, v] => Some((k.trim_start_matches("--").to_string(), v.clone())),
            _ => None,
        })
        .collect();
    let url = arg(&args, "url");
    let concurrency: usize = arg(&args, "concurrency")
        .parse()
        .map_err(|_| "--concurrency: a number")?;
    let users: usize = arg(&args, "users")
        .parse()
        .map_err(|_| "--users: a number")?;
    let prefix = arg(&args, "prefix");
    let group_name = arg(&args, "group");
    let (http, target, group) = match arg(&args, "target").as_str() {
        "bridge" => {
            let mut headers = HeaderMap::new();
            let token = format!("Bearer {}", arg(&args, "token"));
            headers.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&token).map_err(|e| e.to_string())?,
            );
            headers.insert("accept", HeaderValue::from_static(SCIM));
            let http = client(headers)?;
            let filter = format!("displayName eq \"{group_name}\"");
            let found: Value = http
                .get(format!("{url}/Groups"))
                .query(&[
                    ("filter", filter.as_str()),
                    ("excludedAttributes", "members"),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let id = found["Resources"][0]["id"]
                .as_str()
                .ok_or(format!("no SCIM group {group_name}: {found}"))?
                .to_string();
            (http, Target::Bridge { base: url }, id)
        }
        "direct" => {
            let headers = session(&url, &arg(&args, "user"), &arg(&args, "pass")).await?;
            let http = client(headers)?;
            let roles: Value = http
                .get(format!("{url}/jsonapi/user_role/user_role"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let id = roles["data"]
                .as_array()
                .and_then(|roles| {
                    roles.iter().find(|r| {
                        r["attributes"]["drupal_internal__id"].as_str() == Some(group_name.as_str())
                    })
                })
                .and_then(|r| r["id"].as_str())
                .ok_or(format!("no role {group_name}"))?
                .to_string();
            (http, Target::Direct { base: url }, id)
        }
        other => return Err(format!("--target {other}: bridge or direct")),
    };
    let burn_us: u64 = args
        .get("burn-us")
        .map_or(Ok(0), |v| v.parse())
        .map_err(|_| "--burn-us: a number of microseconds")?;
    let bench = Arc::new(Bench {
        burn: (burn_us > 0).then(|| burner(Duration::from_micros(burn_us))),
        http,
        target,
        group,
    });
    let names: Vec<String> = (0..users).map(|i| format!("{prefix}-{i}")).collect();
    let ids = run(&bench, Phase::Create, Arc::new(names), concurrency).await;
    let ids: Arc<Vec<String>> = Arc::new(ids.into_iter().flatten().collect());
    run(&bench, Phase::Deactivate, ids.clone(), concurrency).await;
    run(&bench, Phase::AddToGroup, ids, concurrency).await;
    println!("idp_cpu_s={:.2}", own_cpu_secs());
    Ok(())
}

/// A thread that spins for `each` per token it receives.
fn burner(each: Duration) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        while rx.recv().is_ok() {
            let until = Instant::now() + each;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    });
    tx
}

/// User and system CPU seconds this process has used.
fn own_cpu_secs() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn client(headers: HeaderMap) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())
}
