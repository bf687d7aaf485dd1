//! Starts the real bridge on a random port in front of the in-process Drupal
//! stand-in, and calls it over HTTP as an identity provider would.

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::provisioning::Provisioner;
use drupal_scim_bridge::standin::{
    AccountSeed, FieldKind, FieldSeed, StandIn, StandInConfig, StandInHandle,
};
use drupal_scim_bridge::startup::Application;
use drupal_scim_bridge::telemetry::{self, CapturedLogs, LogFormat};
use serde_json::{json, Value};

// Here rather than beside the tests: every test binary that includes these
// helpers gets it.
#[path = "tls_front.rs"]
pub mod tls_front;

pub const TOKEN: &str = "test-token-0123456789abcdef";
pub const DRUPAL_PASSWORD: &str = "admin-password";
pub const SCIM_JSON: &str = "application/scim+json";

pub struct TestApp {
    /// `http://127.0.0.1:<port>/scim/v2`
    pub base: String,
    pub drupal: StandInHandle,
    pub client: reqwest::Client,
    /// The service behind the routes: for start-up checks, and for swapping
    /// its mapping as a reload does.
    pub provisioner: Arc<Provisioner>,
    /// `http://127.0.0.1:<port>` of the operator's listener, when the
    /// test configured `metrics.listen`.
    pub monitor: Option<String>,
    _standin: StandIn,
}

/// Knobs a test may turn before the bridge starts.
pub struct Options {
    pub standin: StandInConfig,
    /// Extra YAML appended to the bridge's configuration.
    pub extra_config: String,
    /// Extra YAML inside its `scim:` section (indented two spaces).
    pub scim_config: String,
    pub mapping: String,
    pub drupal_password: String,
    /// The `drupal.auth` block's lines; default: session login as admin
    /// with `drupal_password`.
    pub drupal_auth: Option<String>,
    /// Reach the stand-in over HTTPS, through `tls_front`.
    pub over_https: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            standin: StandInConfig::demo(DRUPAL_PASSWORD),
            extra_config: String::new(),
            scim_config: String::new(),
            mapping: demo_roles_only(),
            drupal_password: DRUPAL_PASSWORD.into(),
            drupal_auth: None,
            over_https: false,
        }
    }
}

/// The demo site plus plain text user fields (255 characters, Drupal's
/// default), such as mappings write names and job titles into.
pub fn demo_site_with_text_fields(fields: &[&str]) -> StandInConfig {
    let mut site = StandInConfig::demo(DRUPAL_PASSWORD);
    for field in fields {
        site.user_fields.push(FieldSeed {
            name: field.to_string(),
            kind: FieldKind::String { max_len: 255 },
        });
    }
    site
}

/// A PATCH request body (RFC 7644 §3.5.2) with these operations.
/// The `value` of each item of the multi-valued `attr` (`members`,
/// `groups`) of a SCIM answer, sorted.
pub fn ids(body: &Value, attr: &str) -> Vec<String> {
    let mut ids: Vec<String> = body[attr]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// A randomised test's seed (`<PREFIX>_SEED`, else random) and length
/// (`<PREFIX>_REQUESTS`, else `default`), printed so that a failure can be
/// replayed.
pub fn seeded_run(prefix: &str, what: &str, default: usize) -> (u64, usize) {
    let seed: u64 = std::env::var(format!("{prefix}_SEED"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let requests: usize = std::env::var(format!("{prefix}_REQUESTS"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    println!("{what}: seed {seed} ({requests} requests); replay with {prefix}_SEED={seed}");
    (seed, requests)
}

pub fn patch_op(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// The text of a request an IdP documents, in `tests/fixtures/idp/`.
pub fn idp_fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/idp/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A mapping file shipped in `mappings/`.
pub fn read_mapping(file: &str) -> String {
    std::fs::read_to_string(format!("{}/mappings/{file}", env!("CARGO_MANIFEST_DIR")))
        .expect("mapping file")
}

#[path = "../common/demo_mapping.rs"]
mod demo_mapping;
pub use demo_mapping::demo_roles_only;

/// `mappings/<file>` with its `group_terms`, `groups` and `role_rules` sections
/// replaced (none kept: add `group_terms` back to keep groups as terms).
pub fn mapping_with(file: &str, groups: &str, role_rules: &str) -> String {
    let shipped = read_mapping(file);
    // Everything from the first group section on is replaced: the presets'
    // `group_terms` comes before `groups`, the demo's after `role_rules`.
    let rules_end = ["\ngroup_terms:", "\ngroups:"]
        .iter()
        .filter_map(|key| shipped.find(key))
        .min()
        .expect("a groups section");
    format!(
        "{}\ngroups:\n{groups}\nrole_rules:\n{role_rules}\n",
        &shipped[..rules_end]
    )
}

/// Everything the bridge logs in this test process (all tests share it),
/// as JSON lines; `RUST_LOG` set before the first call raises the level.
pub fn captured_logs() -> CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        telemetry::init(LogFormat::Json, logs.clone(), "info").expect("one subscriber per process");
        logs
    })
    .clone()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// The demo mapping with Drupal's administrator role exposed as the group
/// "Admins" (`allow_protected`), so that SCIM can make accounts protected.
pub async fn spawn_app_exposing_admins() -> TestApp {
    spawn_app_with(Options {
        mapping: mapping_with(
            "demo.yaml",
            "  - {role: administrator, display_name: Admins, allow_protected: true}",
            "  []",
        ),
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let standin_listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
    let standin = StandIn::start(options.standin, standin_listener).expect("start stand-in");
    let auth = options.drupal_auth.unwrap_or_else(|| {
        format!(
            "    username: admin\n    password: \"{}\"\n",
            options.drupal_password
        )
    });
    let base_url = if options.over_https {
        let upstream = standin.base_url().replacen("http://", "", 1);
        format!("https://{}", tls_front::start(upstream).await)
    } else {
        standin.base_url()
    };
    let yaml = format!(
        "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\n{}drupal:\n  base_url: {base_url}\n  timeout_secs: 2\n  connect_timeout_secs: 1\n  auth:\n{auth}{}",
        options.scim_config, options.extra_config
    );
    let settings = Settings::from_yaml(&yaml).expect("test settings");
    let mapping = Mapping::parse(&options.mapping, "test-mapping.yaml").expect("test mapping");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind bridge");
    let app = Application::with_listener(&settings, mapping, listener).expect("build bridge");
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    let provisioner = app.provisioner();
    let monitor = app
        .monitor_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        drupal: standin.handle(),
        client: reqwest::Client::new(),
        provisioner,
        monitor,
        _standin: standin,
    }
}

/// A response, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error document with this status (and scimType).
    pub fn assert_scim_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(
            self.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], json!(status.to_string()));
        match scim_type {
            Some(t) => assert_eq!(self.body["scimType"], json!(t), "body: {}", self.body),
            None => assert!(self.body.get("scimType").is_none(), "body: {}", self.body),
        }
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "a detail a person can act on: {}",
            self.body
        );
    }
}

impl TestApp {
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        self.request_with(method, path, &[], body).await
    }

    /// A request with extra headers, such as `If-Match`.
    pub async fn request_with(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(TOKEN);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", SCIM_JSON)
                .body(body.to_string());
        }
        read(request.send().await.expect("bridge answers")).await
    }

    /// The stand-in's own base URL, for requests made behind the bridge.
    pub fn drupal_base_url(&self) -> String {
        self._standin.base_url()
    }

    /// Makes the bridge log in to Drupal (one cheap read), so that faults
    /// injected afterwards hit the request under test, not the login.
    pub async fn log_in(&self) {
        let answer = self.filter_users("userName eq \"admin\"").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        self.drupal.clear_requests();
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.request(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// GET /Users?filter=<filter>, percent-encoded as IdPs send it.
    pub async fn filter_users(&self, filter: &str) -> Answer {
        let encoded: String = url_encode(filter);
        self.get(&format!("/Users?filter={encoded}")).await
    }

    /// The Drupal account with this name, as JSON:API shows it.
    pub fn drupal_user(&self, name: &str) -> Option<Value> {
        self.drupal.user_by_name(name).map(|snapshot| snapshot.0)
    }

    /// Puts an active account straight into Drupal; returns its UUID.
    pub fn seed_user(&self, name: &str, mail: &str) -> String {
        let mut seed = AccountSeed::new(name);
        seed.mail = Some(mail.to_string());
        self.drupal.insert_user(seed).expect("seed user")
    }

    /// Machine names of the roles the account holds in Drupal.
    pub fn roles_of(&self, name: &str) -> Vec<String> {
        self.drupal
            .user_by_name(name)
            .map(|u| u.roles())
            .unwrap_or_default()
    }

    /// Puts an account holding `roles` straight into Drupal; returns its UUID.
    pub fn seed_user_with_roles(&self, name: &str, roles: &[&str]) -> String {
        let mut seed = AccountSeed::new(name);
        seed.mail = Some(format!("{name}@example.org"));
        seed.roles = roles.iter().map(|r| r.to_string()).collect();
        self.drupal.insert_user(seed).expect("seed user")
    }

    /// The id of the group with this displayName (links it with POST).
    pub async fn group_id(&self, display_name: &str) -> String {
        let answer = self
            .post(
                "/Groups",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": display_name}),
            )
            .await;
        assert_eq!(answer.status, 201, "link {display_name}: {}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
    }

    /// The requests the stand-in received that are not GETs, as
    /// `METHOD path` (the session login changes no data).
    pub fn drupal_writes(&self) -> Vec<String> {
        self.drupal
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.path != "/user/login")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Reads Drupal's roles into the bridge's cache (they are read once per
    /// TTL), so that a test can count the requests of one operation alone.
    pub async fn warm_role_cache(&self) {
        let answer = self.get("/Groups?excludedAttributes=members").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }

    /// Creates a user and returns its id.
    pub async fn create_user(&self, user_name: &str, email: &str) -> String {
        let answer = self
            .post(
                "/Users",
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name,
                    "externalId": format!("ext-{user_name}"),
                    "emails": [{"value": email, "type": "work", "primary": true}],
                    "active": true
                }),
            )
            .await;
        assert_eq!(answer.status, 201, "create {user_name}: {}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        headers,
        body,
    }
}

pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PATCH that sets `active`, as Entra and Okta deactivate.
pub fn set_active(active: bool) -> Value {
    patch_op(json!([{"op": "replace", "path": "active", "value": active}]))
}

/// "METHOD path" of the user requests that reached the stand-in since the
/// last clear.
pub fn made(app: &TestApp) -> Vec<String> {
    app.drupal
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/jsonapi/user/user"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Entra's form: one member added per PATCH.
pub fn add_member(id: &str) -> Value {
    patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
}

/// A group create naming a member no account has, in mixed case: refused
/// before anything is made, the detail naming the member as it was sent.
pub async fn create_names_an_unknown_member_as_sent(app: &TestApp, display_name: &str) {
    let answer = app
        .post(
            "/Groups",
            &json!({"displayName": display_name, "members": [{"value": "XYZ-Not-A-User"}]}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("add XYZ-Not-A-User: no such user"),
        "{detail}"
    );
}
