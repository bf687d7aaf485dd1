//! What the bridge costs in front of a real Drupal: the median and p95 of
//! four SCIM operations through the bridge, next to the same Drupal
//! request made directly with a session (cookie + CSRF token) and with
//! basic auth, and their ratios. Run by scripts/bench-real-drupal, which
//! brings the site up and passes its URL and credentials in the
//! environment (REAL_DRUPAL_*, as scripts/real-drupal writes them).
//!
//! The three ways are interleaved request by request, so a slow stretch
//! of the (shared, noisy) host hits all three alike; compare the ratios.
//! One request at a time: this is latency, not throughput.
//!
//!   cargo run --release --example bench_real_drupal -- [iterations]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::startup::Application;
use serde_json::{json, Value};

const TOKEN: &str = "bench-token-0123456789abcdef";
const JSON_API: &str = "application/vnd.api+json";
const SCIM_JSON: &str = "application/scim+json";
const USERS: &str = "/jsonapi/user/user";

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Env {
    url: String,
    user: String,
    pass: String,
}

fn env() -> Result<Env, Error> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| format!("{name} is not set: run scripts/bench-real-drupal"))
    };
    Ok(Env {
        url: var("REAL_DRUPAL_URL")?,
        user: var("REAL_DRUPAL_BRIDGE_USER")?,
        pass: var("REAL_DRUPAL_BRIDGE_PASS")?,
    })
}

/// How a request reaches Drupal.
enum Way {
    Bridge {
        base: String,
    },
    Session {
        url: String,
        cookie: String,
        csrf: String,
    },
    Basic {
        url: String,
        user: String,
        pass: String,
    },
}

const WAYS: [&str; 3] = ["bridge (SCIM)", "Drupal, session", "Drupal, basic auth"];
const OPERATIONS: [&str; 4] = [
    "GET /Users/{id}",
    "lookup by userName",
    "create",
    "deactivate",
];

struct Client {
    http: reqwest::Client,
    ways: [Way; 3],
}

impl Client {
    fn request(&self, way: &Way, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        match way {
            Way::Bridge { base } => self
                .http
                .request(method, format!("{base}{path}"))
                .bearer_auth(TOKEN),
            Way::Session { url, cookie, csrf } => self
                .http
                .request(method, format!("{url}{path}"))
                .header("Cookie", cookie)
                .header("X-CSRF-Token", csrf)
                .header("Accept", JSON_API),
            Way::Basic { url, user, pass } => self
                .http
                .request(method, format!("{url}{path}"))
                .basic_auth(user, Some(pass))
                .header("Accept", JSON_API),
        }
    }

    /// Sends, reads the whole answer, checks the status; the elapsed time.
    async fn timed(
        &self,
        request: reqwest::RequestBuilder,
        expected: u16,
    ) -> Result<(Duration, Value), Error> {
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        let elapsed = started.elapsed();
        if status != expected {
            return Err(format!(
                "expected {expected}, got {status}: {}",
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)?
        };
        Ok((elapsed, value))
    }

    /// Creates a user the given way; its id and the time taken.
    async fn create(&self, way: &Way, name: &str) -> Result<(Duration, String), Error> {
        let mail = format!("{name}@example.org");
        let (elapsed, body) = match way {
            Way::Bridge { .. } => {
                let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name, "externalId": format!("ext-{name}"),
                    "emails": [{"value": mail, "primary": true}], "active": true});
                let request = self
                    .request(way, reqwest::Method::POST, "/Users")
                    .header("Content-Type", SCIM_JSON)
                    .body(body.to_string());
                self.timed(request, 201).await?
            }
            _ => {
                let body = json!({"data": {"type": "user--user", "attributes": {
                    "name": name, "mail": mail, "status": true,
                    "field_scim_external_id": format!("ext-{name}")}}});
                let request = self
                    .request(way, reqwest::Method::POST, USERS)
                    .header("Content-Type", JSON_API)
                    .body(body.to_string());
                self.timed(request, 201).await?
            }
        };
        let id = match way {
            Way::Bridge { .. } => body["id"].as_str(),
            _ => body["data"]["id"].as_str(),
        }
        .ok_or("a create without an id")?
        .to_string();
        Ok((elapsed, id))
    }

    async fn get(&self, way: &Way, id: &str) -> Result<Duration, Error> {
        let path = match way {
            Way::Bridge { .. } => format!("/Users/{id}"),
            _ => format!("{USERS}/{id}"),
        };
        Ok(self
            .timed(self.request(way, reqwest::Method::GET, &path), 200)
            .await?
            .0)
    }

    async fn lookup(&self, way: &Way, name: &str) -> Result<Duration, Error> {
        let path = match way {
            Way::Bridge { .. } => format!("/Users?filter=userName%20eq%20%22{name}%22"),
            _ => format!("{USERS}?filter[name]={name}"),
        };
        let (elapsed, body) = self
            .timed(self.request(way, reqwest::Method::GET, &path), 200)
            .await?;
        let found = match way {
            Way::Bridge { .. } => body["totalResults"].as_u64(),
            _ => body["data"].as_array().map(|d| d.len() as u64),
        };
        if found != Some(1) {
            return Err(format!("lookup of {name} found {found:?}").into());
        }
        Ok(elapsed)
    }

    async fn deactivate(&self, way: &Way, id: &str) -> Result<Duration, Error> {
        let request = match way {
            Way::Bridge { .. } => self
                .request(way, reqwest::Method::PATCH, &format!("/Users/{id}"))
                .header("Content-Type", SCIM_JSON)
                .body(
                    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "active", "value": false}]})
                    .to_string(),
                ),
            _ => self
                .request(way, reqwest::Method::PATCH, &format!("{USERS}/{id}"))
                .header("Content-Type", JSON_API)
                .body(
                    json!({"data": {"type": "user--user", "id": id,
                        "attributes": {"status": false}}})
                    .to_string(),
                ),
        };
        Ok(self.timed(request, 200).await?.0)
    }
}

async fn login(http: &reqwest::Client, env: &Env) -> Result<(String, String), Error> {
    let response = http
        .post(format!("{}/user/login?_format=json", env.url))
        .header("Content-Type", "application/json")
        .body(json!({"name": env.user, "pass": env.pass}).to_string())
        .send()
        .await?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .ok_or("the login set no cookie")?
        .to_string();
    let body: Value = response.json().await?;
    let csrf = body["csrf_token"]
        .as_str()
        .ok_or("the login gave no csrf_token")?
        .to_string();
    Ok((cookie, csrf))
}

fn start_bridge(env: &Env) -> Result<String, Error> {
    let yaml = format!(
        "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: {}\n  auth:\n    username: {}\n    password: \"{}\"\n",
        env.url, env.user, env.pass
    );
    let settings = Settings::from_yaml(&yaml)?;
    let mapping_path = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/default.yaml");
    let mapping = Mapping::parse(&std::fs::read_to_string(mapping_path)?, "default.yaml")?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let app = Application::with_listener(&settings, mapping, listener)?;
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok(base)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100);
    let env = env()?;
    let http = reqwest::Client::new();
    let (cookie, csrf) = login(&http, &env).await?;
    let client = Client {
        http,
        ways: [
            Way::Bridge {
                base: start_bridge(&env)?,
            },
            Way::Session {
                url: env.url.clone(),
                cookie,
                csrf,
            },
            Way::Basic {
                url: env.url.clone(),
                user: env.user.clone(),
                pass: env.pass.clone(),
            },
        ],
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let run = &run[..6];
    // times[operation][way]
    let mut times: Vec<Vec<Vec<Duration>>> = vec![vec![Vec::new(); 3]; 4];
    let warmup = 5;
    for i in 0..warmup + iterations {
        for (w, way) in client.ways.iter().enumerate() {
            let name = format!("bench-{run}-{w}-{i}");
            let (create, id) = client.create(way, &name).await?;
            let get = client.get(way, &id).await?;
            let lookup = client.lookup(way, &name).await?;
            let deactivate = client.deactivate(way, &id).await?;
            if i >= warmup {
                for (op, t) in [get, lookup, create, deactivate].into_iter().enumerate() {
                    times[op][w].push(t);
                }
            }
        }
    }
    println!(
        "{iterations} of each, one at a time, interleaved; Drupal at {} (names bench-{run}-*)",
        env.url
    );
    println!(
        "{:<20} {:>22} {:>22} {:>22} {:>10} {:>10}",
        "operation", WAYS[0], WAYS[1], WAYS[2], "÷session", "÷basic"
    );
    println!(
        "{:<20} {:>22} {:>22} {:>22}",
        "", "median / p95 ms", "median / p95 ms", "median / p95 ms"
    );
    for (op, name) in OPERATIONS.iter().enumerate() {
        let mut cells = Vec::new();
        let mut medians = Vec::new();
        for samples in &mut times[op] {
            samples.sort();
            let (median, p95) = (percentile(samples, 0.5), percentile(samples, 0.95));
            medians.push(ms(median));
            cells.push(format!("{:.1} / {:.1}", ms(median), ms(p95)));
        }
        println!(
            "{:<20} {:>22} {:>22} {:>22} {:>10.2} {:>10.2}",
            name,
            cells[0],
            cells[1],
            cells[2],
            medians[0] / medians[1],
            medians[0] / medians[2]
        );
    }
    Ok(())
}
