//! The real Drupal site `scripts/real-drupal up` serves, read from the
//! environment it writes (target/real-drupal/<db>/env), and the bridge
//! started in front of it.

use std::net::TcpListener;
use std::process::Command;
use std::sync::OnceLock;

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::startup::Application;
use serde_json::{json, Value};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::helpers::{read, url_encode, Answer, SCIM_JSON, TOKEN};

pub const JSON_API: &str = "application/vnd.api+json";

#[derive(Clone, Debug)]
pub struct Site {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub db: String,
    pub admin_user: String,
    pub admin_pass: String,
    pub bridge_user: String,
    pub bridge_pass: String,
    /// The Drupal code base (for drush).
    pub root: String,
    /// scripts/real-drupal, to stop and start the server.
    pub script: String,
}

/// The site, or `None` after saying loudly why the test does not run.
/// With `REAL_DRUPAL_REQUIRED=1` (scripts/test) a missing site fails.
pub fn site() -> Option<Site> {
    static SITE: OnceLock<Result<Site, String>> = OnceLock::new();
    let found = SITE.get_or_init(|| {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        Ok(Site {
            url: var("REAL_DRUPAL_URL")?,
            db: var("REAL_DRUPAL_DB").unwrap_or_else(|_| "sqlite".into()),
            admin_user: var("REAL_DRUPAL_ADMIN_USER")?,
            admin_pass: var("REAL_DRUPAL_ADMIN_PASS")?,
            bridge_user: var("REAL_DRUPAL_BRIDGE_USER")?,
            bridge_pass: var("REAL_DRUPAL_BRIDGE_PASS")?,
            root: var("REAL_DRUPAL_ROOT")?,
            script: var("REAL_DRUPAL_SCRIPT")?,
        })
    });
    match found {
        Ok(site) => Some(site.clone()),
        Err(why) => {
            if std::env::var("REAL_DRUPAL_REQUIRED").as_deref() == Ok("1") {
                panic!("REAL_DRUPAL_REQUIRED=1 but {why}");
            }
            // Once per run, and past the test harness's output capture
            // (which takes only print!/eprint!), so that it shows.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "real-Drupal tests SKIPPED: {why} (run scripts/real-drupal test, or scripts/real-drupal up and source target/real-drupal/<db>/env)"
                );
            });
            None
        }
    }
}

/// Ordinary tests share the site; a test that stops it or makes it
/// read-only holds it alone.
fn gate() -> &'static RwLock<()> {
    static GATE: OnceLock<RwLock<()>> = OnceLock::new();
    GATE.get_or_init(|| RwLock::new(()))
}

pub async fn shared() -> RwLockReadGuard<'static, ()> {
    gate().read().await
}

pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    gate().write().await
}

impl Site {
    /// `drush <args>` on the site; its standard output.
    pub fn drush(&self, args: &[&str]) -> String {
        let output = Command::new("php")
            .args(["-d", "memory_limit=1024M", "vendor/bin/drush"])
            .arg(format!("--root={}/web", self.root))
            .args(args)
            .current_dir(&self.root)
            .output()
            .expect("run drush");
        assert!(
            output.status.success(),
            "drush {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn php(&self, code: &str) -> String {
        self.drush(&["php:eval", code])
    }

    pub fn config_set(&self, name: &str, key: &str, value: &str) {
        self.drush(&["config:set", "-y", name, key, value]);
    }

    /// Really deletes these accounts (whatever the cancel method), so that
    /// a test starts from a site without them.
    pub fn delete_users(&self, names: &[&str]) {
        let list = serde_json::to_string(names).unwrap();
        self.php(&format!(
            r#"$s = \Drupal::entityTypeManager()->getStorage("user");
$ids = $s->getQuery()->accessCheck(FALSE)->condition("name", {list}, "IN")->condition("uid", 1, ">")->execute();
$s->delete($s->loadMultiple($ids));"#
        ));
    }

    /// Really deletes the accounts whose names match these SQL LIKE
    /// patterns, then the scim_groups terms whose names do: what an earlier
    /// run of a flow with fixed names left behind.
    pub fn forget(&self, users_like: &[&str], groups_like: &[&str]) {
        let users = serde_json::to_string(users_like).unwrap();
        let groups = serde_json::to_string(groups_like).unwrap();
        self.php(&format!(
            r#"$s = \Drupal::entityTypeManager()->getStorage("user");
foreach ({users} as $p) {{
  $ids = $s->getQuery()->accessCheck(FALSE)->condition("name", $p, "LIKE")->condition("uid", 1, ">")->execute();
  $s->delete($s->loadMultiple($ids));
}}
$t = \Drupal::entityTypeManager()->getStorage("taxonomy_term");
foreach ({groups} as $p) {{
  $ids = $t->getQuery()->accessCheck(FALSE)->condition("vid", "scim_groups")->condition("name", $p, "LIKE")->execute();
  $t->delete($t->loadMultiple($ids));
}}"#
        ));
    }

    /// Rows of Drupal's flood table for failed logins of this account
    /// (`user.http_login`: the JSON login route's event; 5 lock it).
    pub fn failed_logins(&self, name: &str) -> u64 {
        let out = self.php(&format!(
            r#"$a = user_load_by_name({name:?});
if (!$a || !\Drupal::database()->schema()->tableExists("flood")) {{ echo 0; return; }}
echo \Drupal::database()->select("flood", "f")->condition("event", "user.http_login")
  ->condition("identifier", $a->id() . "-%", "LIKE")->countQuery()->execute()->fetchField();"#
        ));
        out.trim().parse().expect("a count")
    }

    /// Forgets the failed logins from 127.0.0.1 (Drupal refuses every
    /// login from an address after 50 in an hour), so that tests that fail
    /// logins on purpose can run again and again against one site.
    pub fn forget_failed_logins(&self) {
        self.php(
            r#"if (\Drupal::database()->schema()->tableExists("flood")) { \Drupal::database()->delete("flood")->condition("event", ["user.failed_login_ip", "user.http_login"], "IN")->execute(); }"#,
        );
    }

    /// How many sessions of this account Drupal holds.
    pub fn sessions_of(&self, name: &str) -> u64 {
        let out = self.php(&format!(
            r#"$a = user_load_by_name({name:?}); echo \Drupal::database()->select("sessions", "s")->condition("uid", $a->id())->countQuery()->execute()->fetchField();"#
        ));
        out.trim().parse().expect("a count")
    }

    /// The bridge's Drupal sessions end, as when they expire.
    pub fn end_sessions_of(&self, name: &str) {
        self.php(&format!(
            r#"$a = user_load_by_name({name:?}); \Drupal::database()->delete("sessions")->condition("uid", $a->id())->execute();"#
        ));
    }

    /// scripts/real-drupal <command> for this site's database, off the
    /// test's runtime thread: the bridge under test runs on it and must
    /// keep answering (and keep its connections) meanwhile.
    pub async fn script(&self, command: &str) {
        let (script, db, command) = (self.script.clone(), self.db.clone(), command.to_string());
        let status = tokio::task::spawn_blocking(move || {
            Command::new(&script)
                .args([command.as_str(), "--db", &db])
                .status()
                .expect("run scripts/real-drupal")
        })
        .await
        .expect("scripts/real-drupal ran");
        assert!(status.success(), "scripts/real-drupal failed");
    }

    /// A JSON:API request as the site's admin (uid 1), over basic auth.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let client = reqwest::Client::new();
        let mut request = client
            .request(method, format!("{}{path}", self.url))
            .basic_auth(&self.admin_user, Some(&self.admin_pass))
            .header("Accept", JSON_API);
        if let Some(body) = body {
            request = request
                .header("Content-Type", JSON_API)
                .body(body.to_string());
        }
        read(request.send().await.expect("Drupal answers")).await
    }

    /// The account with this name, as JSON:API shows it to the admin.
    pub async fn user(&self, name: &str) -> Option<Value> {
        let answer = self
            .admin(
                reqwest::Method::GET,
                &format!("/jsonapi/user/user?filter[name]={}", url_encode(name)),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let data = answer.body["data"].as_array().expect("data").clone();
        assert!(data.len() <= 1, "{name}: {} accounts", data.len());
        data.into_iter().next()
    }

    /// How many accounts carry exactly this name (case-insensitively, as
    /// Drupal compares names).
    pub async fn count_named(&self, name: &str) -> usize {
        let answer = self
            .admin(
                reqwest::Method::GET,
                &format!("/jsonapi/user/user?filter[name]={}", url_encode(name)),
                None,
            )
            .await;
        answer.body["data"].as_array().map_or(0, Vec::len)
    }

    /// Machine names of the roles the account holds.
    pub async fn roles_of(&self, name: &str) -> Vec<String> {
        let user = self.user(name).await.unwrap_or_else(|| panic!("no {name}"));
        let mut roles: Vec<String> = user["relationships"]["roles"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["meta"]["drupal_internal__target_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        roles.sort();
        roles
    }

    /// Puts an account straight into Drupal; returns its UUID.
    pub async fn create_user(&self, name: &str, roles: &[&str]) -> String {
        let roles_data: Vec<Value> = {
            let mut out = Vec::new();
            for role in roles {
                out.push(json!({"type": "user_role--user_role", "id": self.role_uuid(role).await}));
            }
            out
        };
        let answer = self
            .admin(
                reqwest::Method::POST,
                "/jsonapi/user/user",
                Some(json!({"data": {"type": "user--user",
                    "attributes": {"name": name, "mail": format!("{name}@example.org"), "status": true},
                    "relationships": {"roles": {"data": roles_data}}}})),
            )
            .await;
        assert_eq!(answer.status, 201, "create {name}: {}", answer.body);
        answer.body["data"]["id"].as_str().unwrap().to_string()
    }

    pub async fn role_uuid(&self, role: &str) -> String {
        let answer = self
            .admin(
                reqwest::Method::GET,
                &format!("/jsonapi/user_role/user_role?filter[drupal_internal__id]={role}"),
                None,
            )
            .await;
        answer.body["data"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no role {role}: {}", answer.body))
            .to_string()
    }
}

/// The bridge (`serve`) in front of the real site, logged in as scim-bridge.
pub struct Bridge {
    /// `http://127.0.0.1:<port>/scim/v2`
    pub base: String,
    pub client: reqwest::Client,
    /// Stops it; `served` ends once it has stopped (sessions ended).
    server: actix_web::dev::ServerHandle,
    served: tokio::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
}

pub struct BridgeOptions {
    pub mapping: String,
    /// Extra top-level YAML.
    pub extra_config: String,
    /// Extra lines inside `drupal:` (indented two spaces).
    pub drupal_config: String,
    /// The `drupal.auth` block's lines; default: session as scim-bridge.
    pub auth: Option<String>,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            mapping: crate::helpers::demo_roles_only(),
            extra_config: String::new(),
            drupal_config: String::new(),
            auth: None,
        }
    }
}

impl Bridge {
    pub async fn start(site: &Site, options: BridgeOptions) -> Bridge {
        let auth = options.auth.unwrap_or_else(|| {
            format!(
                "    username: {}\n    password: \"{}\"\n",
                site.bridge_user, site.bridge_pass
            )
        });
        let yaml = format!(
            "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: {}\n  timeout_secs: 20\n  connect_timeout_secs: 2\n{}  auth:\n{auth}{}",
            site.url, options.drupal_config, options.extra_config
        );
        let settings = Settings::from_yaml(&yaml).expect("bridge settings");
        let mapping = Mapping::parse(&options.mapping, "test-mapping.yaml").expect("mapping");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind bridge");
        let app = Application::with_listener(&settings, mapping, listener).expect("build bridge");
        let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
        let server = app.handle();
        let served = tokio::spawn(app.run_until_stopped());
        Bridge {
            base,
            client: reqwest::Client::new(),
            server,
            served: tokio::sync::Mutex::new(Some(served)),
        }
    }

    /// Stops the bridge as SIGTERM does, and waits until it has.
    pub async fn stop(&self) {
        self.server.stop(true).await;
        if let Some(served) = self.served.lock().await.take() {
            served.await.expect("served").expect("stopped cleanly");
        }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("Content-Type", SCIM_JSON)
                .body(body.to_string());
        }
        read(request.send().await.expect("bridge answers")).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.request(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    pub async fn filter_users(&self, filter: &str) -> Answer {
        self.get(&format!("/Users?filter={}", url_encode(filter)))
            .await
    }

    pub async fn create_user(&self, user_name: &str) -> String {
        let mail = if user_name.contains('@') {
            user_name.to_string()
        } else {
            format!("{user_name}@example.org")
        };
        let answer = self
            .post(
                "/Users",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name, "externalId": format!("ext-{user_name}"),
                    "emails": [{"value": mail, "primary": true}],
                    "active": true}),
            )
            .await;
        assert_eq!(answer.status, 201, "create {user_name}: {}", answer.body);
        answer.body["id"].as_str().unwrap().to_string()
    }
}
