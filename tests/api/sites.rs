//! Many Drupal sites behind one bridge (`sites:`): each site at
//! `/sites/{id}/scim/v2` with its own Drupal, mapping and clients; the
//! credentials of one open no other, one failing site does not hold up the
//! others, and a reload adds, changes and removes sites.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drupal_scim_bridge::audit::AuditTrail;
use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::http::site::SiteRegistry;
use drupal_scim_bridge::metrics::Metrics;
use drupal_scim_bridge::site_reload::{SiteOutcome, SitesReloader};
use drupal_scim_bridge::standin::{StandIn, StandInConfig, StandInHandle};
use drupal_scim_bridge::startup::Application;
use serde_json::{json, Value};

use crate::helpers::{captured_logs, mapping_with, read, Answer, DRUPAL_PASSWORD, SCIM_JSON};

/// One site's Drupal stand-in and the token of its client `idp`.
struct SiteUnderTest {
    id: String,
    token: String,
    drupal: StandInHandle,
    drupal_url: String,
    _standin: StandIn,
}

/// The bridge serving several sites, from a configuration file on disk.
struct Sites {
    /// `http://127.0.0.1:<port>`
    root: String,
    sites: Vec<SiteUnderTest>,
    dir: PathBuf,
    config: PathBuf,
    registry: Arc<SiteRegistry>,
    settings: Settings,
    client: reqwest::Client,
    /// Top-level keys besides `listen`, `defaults` and `sites`.
    top: String,
    /// `http://127.0.0.1:<port>` of `metrics.listen`, when `top` sets it.
    monitor: Option<String>,
    metrics: Arc<Metrics>,
    audit: Arc<AuditTrail>,
    /// Stops the bridge.
    server: actix_web::dev::ServerHandle,
}

impl Drop for Sites {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn token_of(id: &str) -> String {
    format!("token-of-site-{id}-0123456789")
}

/// The demo mapping, exposing only the role `group` (as SCIM group `display`).
fn mapping_exposing(group: &str, display: &str) -> String {
    mapping_with(
        "demo.yaml",
        &format!("  - {{role: {group}, display_name: {display}}}"),
        "  []",
    )
}

fn start_standin() -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
    StandIn::start(StandInConfig::demo(DRUPAL_PASSWORD), listener).expect("start stand-in")
}

/// A site's entry of `sites:` with `extra` lines: indented 4 spaces,
/// they are the site's own keys; 6 spaces extend its `drupal:` block; 8
/// spaces its client list.
fn site_entry(id: &str, drupal_url: &str, mapping: &std::path::Path, extra: &str) -> String {
    let indent = extra.len() - extra.trim_start_matches(' ').len();
    let (own, drupal, clients) = match indent {
        4 => (extra, "", ""),
        6 => ("", extra, ""),
        _ => ("", "", extra),
    };
    format!(
        "  - id: {id}\n{own}    mapping: {}\n    drupal:\n      base_url: {drupal_url}\n{drupal}    scim:\n      clients:\n        - name: idp\n          token: \"{}\"\n{clients}",
        mapping.display(),
        token_of(id)
    )
}

const DEFAULTS: &str = "defaults:\n  drupal:\n    timeout_secs: 2\n    connect_timeout_secs: 1\n    auth:\n      username: admin\n      password: \"admin-password\"\n";

impl Sites {
    /// Sites `ids`, site `i` exposing the group `mappings[i]` if given
    /// (else `editor`); `extra[i]` lines go into site `i`'s entry.
    async fn start(ids: &[&str], extra: &[&str]) -> Sites {
        Sites::start_with(ids, extra, "").await
    }

    /// As `start`, with these top-level keys (`metrics:`, `audit:`, ...).
    async fn start_with(ids: &[&str], extra: &[&str], top: &str) -> Sites {
        let dir = std::env::temp_dir().join(format!("scim-bridge-sites-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut sites = Vec::new();
        let mut entries = String::new();
        for (n, id) in ids.iter().enumerate() {
            let standin = start_standin();
            let mapping = dir.join(format!("{id}.yaml"));
            let (role, display) = if n % 2 == 0 {
                ("editor", "Editors")
            } else {
                ("engineering", "Engineers")
            };
            std::fs::write(&mapping, mapping_exposing(role, display)).expect("mapping");
            entries.push_str(&site_entry(
                id,
                &standin.base_url(),
                &mapping,
                extra.get(n).copied().unwrap_or(""),
            ));
            sites.push(SiteUnderTest {
                id: id.to_string(),
                token: token_of(id),
                drupal: standin.handle(),
                drupal_url: standin.base_url(),
                _standin: standin,
            });
        }
        let config = dir.join("bridge.yaml");
        std::fs::write(
            &config,
            format!("listen: 127.0.0.1:0\n{top}{DEFAULTS}sites:\n{entries}"),
        )
        .expect("config");
        let settings = Settings::load(&config).expect("multi-site settings");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind bridge");
        let app = Application::with_mapping_files(&settings, listener).expect("build bridge");
        let root = format!("http://127.0.0.1:{}", app.port());
        let registry = app.sites();
        let monitor = app
            .monitor_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let (metrics, audit, server) = (app.metrics(), app.audit(), app.handle());
        tokio::spawn(app.run_until_stopped());
        Sites {
            root,
            sites,
            dir,
            config,
            registry,
            settings,
            client: reqwest::Client::new(),
            top: top.to_string(),
            monitor,
            metrics,
            audit,
            server,
        }
    }

    fn site(&self, id: &str) -> &SiteUnderTest {
        self.sites
            .iter()
            .find(|s| s.id == id)
            .expect("a site of the test")
    }

    fn url(&self, site: &str, path: &str) -> String {
        format!("{}/sites/{site}/scim/v2{path}", self.root)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        site: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(site, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", SCIM_JSON)
                .body(body.to_string());
        }
        read(request.send().await.expect("bridge answers")).await
    }

    /// GET with the site's own token.
    async fn get(&self, site: &str, path: &str) -> Answer {
        let token = self.site(site).token.clone();
        self.call(reqwest::Method::GET, site, path, Some(&token), None)
            .await
    }

    async fn create_user(&self, site: &str, token: &str, user_name: &str) -> Answer {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": format!("{user_name}@example.org"), "primary": true}],
        });
        self.call(
            reqwest::Method::POST,
            site,
            "/Users",
            Some(token),
            Some(&body),
        )
        .await
    }

    fn reloader(&self) -> SitesReloader {
        SitesReloader::new(
            self.config.clone(),
            &self.settings,
            self.registry.clone(),
            false,
        )
        .reporting_to(self.metrics.clone(), self.audit.clone())
    }
}

fn group_names(answer: &Answer) -> Vec<String> {
    answer.body["Resources"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|g| g["displayName"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn each_site_provisions_its_own_drupal_with_its_own_mapping() {
    let sites = Sites::start(&["physics", "chem-2"], &[]).await;
    let token = sites.site("physics").token.clone();
    let created = sites.create_user("physics", &token, "ada").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("{}/Users/{id}", sites.url("physics", "")).as_str()),
        "Location follows the site's path"
    );
    assert_eq!(
        created.body["meta"]["location"],
        json!(sites.url("physics", &format!("/Users/{id}")))
    );
    assert!(sites.site("physics").drupal.user_by_name("ada").is_some());
    assert!(
        sites.site("chem-2").drupal.user_by_name("ada").is_none(),
        "the other site's Drupal is untouched"
    );
    assert_eq!(
        sites
            .get("chem-2", "/Users?filter=userName%20eq%20%22ada%22")
            .await
            .body["totalResults"],
        json!(0)
    );
    assert_eq!(
        group_names(&sites.get("physics", "/Groups").await),
        ["Editors"]
    );
    assert_eq!(
        group_names(&sites.get("chem-2", "/Groups").await),
        ["Engineers"]
    );
}

/// Below `/sites/{site}/scim/v2` the match holds the site as well as the
/// id: every by-id endpoint still reads its id (it once answered 404
/// "wrong number of parameters" to all of them).
#[tokio::test]
async fn every_by_id_endpoint_answers_below_a_site() {
    let sites = Sites::start(&["physics", "chem-2"], &[]).await;
    let token = sites.site("physics").token.clone();
    let created = sites.create_user("physics", &token, "ada").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (sites, token) = (&sites, token.clone());
        async move {
            sites
                .call(method, "physics", &path, Some(&token), body.as_ref())
                .await
        }
    };

    let read = call(reqwest::Method::GET, user.clone(), None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["userName"], "ada");
    // RFC 7644 §3.11: /Me below a site is 501 too, not "no endpoint".
    let me = call(reqwest::Method::GET, "/Me".into(), None).await;
    assert_eq!(me.status, 501, "{}", me.body);
    let patched = call(
        reqwest::Method::PATCH,
        user.clone(),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        ),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let held = sites.site("physics").drupal.user_by_name("ada").unwrap();
    assert_eq!(held.attribute("status"), Some(&json!(false)));
    let put = call(
        reqwest::Method::PUT,
        user.clone(),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada", "active": true,
            "emails": [{"value": "ada@example.org", "primary": true}]}),
        ),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["active"], true);
    // Another site's id space: the same id is no user of chem-2.
    let elsewhere = sites.get("chem-2", &user).await;
    elsewhere.assert_scim_error(404, None);

    let groups = sites.get("physics", "/Groups").await;
    let group = groups.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let group_path = format!("/Groups/{group}");
    let added = call(
        reqwest::Method::PATCH,
        group_path.clone(),
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}),
        ),
    )
    .await;
    assert!(matches!(added.status, 200 | 204), "{}", added.body);
    let group_read = call(reqwest::Method::GET, group_path, None).await;
    assert_eq!(group_read.status, 200, "{}", group_read.body);
    assert_eq!(group_read.body["members"][0]["value"], json!(id));

    for path in [
        "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
        "/ResourceTypes/User",
    ] {
        let answer = call(reqwest::Method::GET, path.to_string(), None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }

    let deleted = call(reqwest::Method::DELETE, user.clone(), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    call(reqwest::Method::GET, user, None)
        .await
        .assert_scim_error(404, None);
}

#[tokio::test]
async fn a_sites_credentials_open_no_other_site_and_show_nothing_of_it() {
    let sites = Sites::start(&["a", "b"], &[]).await;
    let token_a = sites.site("a").token.clone();
    let on_a = sites.get("a", "/Users").await;
    assert_eq!(on_a.status, 200, "{}", on_a.body);

    let get = |site: &'static str, token: Option<&'static str>| {
        let token = token.map(str::to_string);
        let sites = &sites;
        async move {
            sites
                .call(reqwest::Method::GET, site, "/Users", token.as_deref(), None)
                .await
        }
    };
    let token_a: &'static str = Box::leak(token_a.into_boxed_str());
    let a_on_b = get("b", Some(token_a)).await;
    a_on_b.assert_scim_error(401, None);
    assert!(a_on_b.header("www-authenticate").is_some());
    assert_eq!(
        sites.site("b").drupal.request_count(),
        0,
        "nothing reached site b's Drupal"
    );
    // An unknown site and a wrong token answer alike, with a token or without.
    let a_on_nowhere = get("nowhere", Some(token_a)).await;
    let wrong_on_b = get("b", Some("a-wrong-token-0123456789")).await;
    for other in [&a_on_nowhere, &wrong_on_b] {
        assert_eq!(other.status, a_on_b.status);
        assert_eq!(other.body, a_on_b.body);
        assert_eq!(
            other.header("www-authenticate"),
            a_on_b.header("www-authenticate")
        );
    }
    let bare_b = get("b", None).await;
    let bare_nowhere = get("nowhere", None).await;
    bare_b.assert_scim_error(401, None);
    assert_eq!(bare_nowhere.status, bare_b.status);
    assert_eq!(bare_nowhere.body, bare_b.body);
    // Even an unknown path under an unknown site: authentication first.
    let deep = sites
        .call(
            reqwest::Method::GET,
            "nowhere",
            "/Nope",
            Some(token_a),
            None,
        )
        .await;
    assert_eq!(deep.body, a_on_b.body);

    // With sites:, there is no default site at /scim/v2.
    let legacy = sites
        .client
        .get(format!("{}/scim/v2/Users", sites.root))
        .bearer_auth(token_a)
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 404);
}

#[tokio::test]
async fn named_clients_a_digest_token_and_a_read_only_client() {
    let logs = captured_logs();
    // sha256("auditor-token-0123456789")
    let digest = "f54bcd5121e1f2d396484aa3fa36a67cd009af3e3b66d42f0fc753005661b972";
    let auditor = format!(
        "        - name: auditor\n          token_sha256: {digest}\n          read_only: true\n"
    );
    let sites = Sites::start(&["a", "b"], &["", &auditor]).await;
    let token = "auditor-token-0123456789";
    // Computed, not trusted: the digest above must be this token's.
    use sha2::Digest as _;
    let computed: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(computed, digest);

    let read = sites
        .call(reqwest::Method::GET, "b", "/Users", Some(token), None)
        .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let search = sites
        .call(
            reqwest::Method::POST,
            "b",
            "/Users/.search",
            Some(token),
            Some(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})),
        )
        .await;
    assert_eq!(search.status, 200, "a search is a read: {}", search.body);
    let refused = sites.create_user("b", token, "grace").await;
    refused.assert_scim_error(403, None);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{}",
        refused.body
    );
    assert!(sites.site("b").drupal.user_by_name("grace").is_none());
    let delete = sites
        .call(
            reqwest::Method::DELETE,
            "b",
            "/Users/00000000-0000-4000-8000-000000000000",
            Some(token),
            None,
        )
        .await;
    delete.assert_scim_error(403, None);
    // The digest client is site b's: site a does not know it.
    sites
        .call(reqwest::Method::GET, "a", "/Users", Some(token), None)
        .await
        .assert_scim_error(401, None);
    // The full client of b writes.
    let writer = sites.site("b").token.clone();
    assert_eq!(sites.create_user("b", &writer, "grace").await.status, 201);

    // The request log names the site and the client.
    let events: Vec<Value> = logs
        .contents()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["message"] == "scim request" && e["span"]["site"] == "b")
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["span"]["client"] == "auditor" && e["status"] == 403),
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| e["span"]["client"] == "idp" && e["status"] == 201));
    assert!(
        !logs.contents().contains(token),
        "tokens never reach the log"
    );
}

#[tokio::test]
async fn a_failing_site_does_not_slow_another() {
    let busy_limits = "      max_concurrency: 2\n      queue_limit: 4\n      retries: 0\n      breaker:\n        failures: 0\n";
    let sites = Sites::start(&["slow", "quiet"], &[busy_limits, ""]).await;
    // Both sessions exist before the test: log-ins are not what is measured.
    assert_eq!(sites.get("slow", "/Users?count=1").await.status, 200);
    assert_eq!(sites.get("quiet", "/Users?count=1").await.status, 200);
    let slow = &sites.site("slow").drupal;
    slow.set_latency(Duration::from_millis(1500));
    slow.fail_next(10_000, 500);

    // Twenty IdP requests at once on the slow, failing site.
    let load: Vec<_> = (0..20)
        .map(|n| {
            let client = sites.client.clone();
            let url = sites.url("slow", &format!("/Users?filter=userName%20eq%20%22u{n}%22"));
            let token = sites.site("slow").token.clone();
            tokio::spawn(async move {
                client
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Meanwhile the quiet site answers at its own pace.
    let mut slowest = Duration::ZERO;
    for n in 0..10 {
        let started = Instant::now();
        let answer = sites
            .get(
                "quiet",
                &format!("/Users?filter=userName%20eq%20%22q{n}%22"),
            )
            .await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let statuses: Vec<u16> = futures_util::future::join_all(load)
        .await
        .into_iter()
        .map(|r| r.unwrap_or(0))
        .collect();
    assert!(
        statuses.iter().all(|s| *s == 502 || *s == 503),
        "the slow site fails as a failing Drupal does: {statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "its own queue overflowed: {statuses:?}"
    );
    // Each of the slow site's requests waits 1.5 s for its Drupal; the quiet
    // site's never wait for them.
    assert!(
        slowest < Duration::from_millis(1000),
        "the quiet site's slowest request took {slowest:?}"
    );
}

#[tokio::test]
async fn a_reload_adds_changes_and_removes_sites_and_keeps_a_broken_one() {
    let sites = Sites::start(&["keep", "gone"], &[]).await;
    assert_eq!(sites.get("keep", "/Users").await.status, 200);
    assert_eq!(sites.get("gone", "/Users").await.status, 200);
    let kept = sites.registry.get("keep").expect("served");

    // "gone" removed, "new" added on its own stand-in; "keep" unchanged.
    let standin = start_standin();
    let new_mapping = sites.dir.join("new.yaml");
    std::fs::write(&new_mapping, mapping_exposing("engineering", "Staff")).unwrap();
    let keep_entry = site_entry(
        "keep",
        &sites.site("keep").drupal_url.clone(),
        &sites.dir.join("keep.yaml"),
        "",
    );
    let new_entry = site_entry("new", &standin.base_url(), &new_mapping, "");
    write_config(&sites, &format!("{keep_entry}{new_entry}"));
    // A request in flight on "gone" when it is removed finishes on it.
    sites
        .site("gone")
        .drupal
        .set_latency(Duration::from_millis(800));
    let in_flight = {
        let request = sites
            .client
            .get(sites.url("gone", "/Users?filter=userName%20eq%20%22x%22"))
            .bearer_auth(token_of("gone"));
        tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut reloader = sites.reloader();
    let mut outcomes = reloader.reload().expect("reloaded");
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("gone".to_string(), SiteOutcome::Removed),
            ("keep".to_string(), SiteOutcome::Unchanged),
            ("new".to_string(), SiteOutcome::Added),
        ]
    );
    assert!(
        Arc::ptr_eq(&kept, &sites.registry.get("keep").unwrap()),
        "an unchanged site is not rebuilt: its session and caches stay"
    );
    assert_eq!(sites.get("keep", "/Users").await.status, 200);
    sites
        .get("gone", "/Users")
        .await
        .assert_scim_error(401, None);
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the request in flight finished on the removed site"
    );
    let on_new = sites
        .call(
            reqwest::Method::GET,
            "new",
            "/Groups",
            Some(&token_of("new")),
            None,
        )
        .await;
    assert_eq!(on_new.status, 200, "{}", on_new.body);
    assert_eq!(group_names(&on_new), ["Staff"]);

    // A broken change to "new" keeps its previous settings; "keep" is untouched.
    let broken = site_entry("new", "not a url", &new_mapping, "");
    write_config(&sites, &format!("{keep_entry}{broken}"));
    let outcomes = reloader.reload().expect("reloaded");
    let new = outcomes.iter().find(|(id, _)| id == "new").unwrap();
    assert!(
        matches!(&new.1, SiteOutcome::KeptPrevious(why) if why.contains("base_url")),
        "{outcomes:?}"
    );
    let still = sites
        .call(
            reqwest::Method::GET,
            "new",
            "/Groups",
            Some(&token_of("new")),
            None,
        )
        .await;
    assert_eq!(still.status, 200, "{}", still.body);
    assert!(Arc::ptr_eq(&kept, &sites.registry.get("keep").unwrap()));

    // A changed site is rebuilt: a new token takes over from the old.
    let rotated = site_entry(
        "keep",
        &sites.site("keep").drupal_url.clone(),
        &sites.dir.join("keep.yaml"),
        "",
    )
    .replace(&token_of("keep"), "rotated-token-0123456789");
    write_config(&sites, &format!("{rotated}{new_entry}"));
    let outcomes = reloader.reload().expect("reloaded");
    assert!(outcomes.contains(&("keep".to_string(), SiteOutcome::Changed)));
    sites
        .get("keep", "/Users")
        .await
        .assert_scim_error(401, None);
    let rotated = sites
        .call(
            reqwest::Method::GET,
            "keep",
            "/Users",
            Some("rotated-token-0123456789"),
            None,
        )
        .await;
    assert_eq!(rotated.status, 200);
    drop(standin);
}

/// Rewrites the test's configuration with these `sites:` entries.
/// Waits up to 5 s for `done`.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn logouts(drupal: &StandInHandle) -> usize {
    drupal
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/user/logout")
        .count()
}

#[tokio::test]
async fn a_site_a_reload_rebuilds_or_removes_ends_its_drupal_session() {
    let sites = Sites::start(&["keep", "gone", "same"], &[]).await;
    for id in ["keep", "gone", "same"] {
        assert_eq!(sites.get(id, "/Users").await.status, 200);
        assert_eq!(sites.site(id).drupal.open_sessions(), 1, "{id} logged in");
    }
    // Readiness keeps what it saw of each site's client, not the client.
    let ready = sites
        .client
        .get(format!("{}/readyz", sites.root))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let entry = |id: &str| {
        site_entry(
            id,
            &sites.site(id).drupal_url.clone(),
            &sites.dir.join(format!("{id}.yaml")),
            "",
        )
    };
    let rotated = entry("keep").replace(&token_of("keep"), "rotated-token-0123456789");
    write_config(&sites, &format!("{rotated}{}", entry("same")));
    let mut reloader = sites.reloader();
    reloader.reload().expect("reloaded");
    for id in ["keep", "gone"] {
        let drupal = &sites.site(id).drupal;
        assert!(
            eventually(|| drupal.open_sessions() == 0).await,
            "{id}: the old session is ended in Drupal"
        );
        assert_eq!(logouts(drupal), 1, "{id}");
    }
    let same = &sites.site("same").drupal;
    assert_eq!(
        same.open_sessions(),
        1,
        "an unchanged site keeps its session"
    );
    assert_eq!(logouts(same), 0);
    // The rebuilt site logs in anew on its next request.
    let rebuilt = sites
        .call(
            reqwest::Method::GET,
            "keep",
            "/Users",
            Some("rotated-token-0123456789"),
            None,
        )
        .await;
    assert_eq!(rebuilt.status, 200, "{}", rebuilt.body);
    assert_eq!(sites.site("keep").drupal.open_sessions(), 1);
}

#[tokio::test]
async fn a_stopping_bridge_ends_every_drupal_session_it_opened() {
    let sites = Sites::start(&["one", "two"], &[]).await;
    for id in ["one", "two"] {
        assert_eq!(sites.get(id, "/Users").await.status, 200);
        assert_eq!(sites.site(id).drupal.open_sessions(), 1);
    }
    sites.server.stop(true).await;
    for id in ["one", "two"] {
        let drupal = &sites.site(id).drupal;
        assert!(
            eventually(|| drupal.open_sessions() == 0).await,
            "{id}: the session is ended in Drupal once the bridge stops"
        );
        assert_eq!(logouts(drupal), 1, "{id}");
    }
}

fn write_config(sites: &Sites, entries: &str) {
    let next = sites.dir.join("bridge.yaml.new");
    std::fs::write(
        &next,
        format!(
            "listen: 127.0.0.1:0\n{}{DEFAULTS}sites:\n{entries}",
            sites.top
        ),
    )
    .unwrap();
    std::fs::rename(&next, &sites.config).unwrap();
}

#[tokio::test]
async fn dry_run_is_a_setting_of_each_site() {
    let sites = Sites::start(&["trial", "live"], &["    dry_run: true\n", ""]).await;
    for id in ["trial", "live"] {
        let token = sites.site(id).token.clone();
        let created = sites.create_user(id, &token, "noor").await;
        assert_eq!(created.status, 201, "{id}: {}", created.body);
    }
    assert!(
        sites.site("trial").drupal.user_by_name("noor").is_none(),
        "the dry-run site sends no write"
    );
    assert!(sites.site("live").drupal.user_by_name("noor").is_some());
}

/// GET on the operator's listener (or the SCIM port): status and body.
async fn fetch(base: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{base}{path}"))
        .await
        .expect("answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

async fn readyz(base: &str, query: &str) -> (u16, Value) {
    let (status, body) = fetch(base, &format!("/readyz{query}")).await;
    (status, serde_json::from_str(&body).expect("JSON"))
}

#[tokio::test]
async fn metrics_readiness_status_and_audit_follow_each_site() {
    let dir = std::env::temp_dir().join(format!("scim-bridge-audit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let audit_file = dir.join("audit.jsonl");
    let top = format!(
        "metrics:\n  listen: 127.0.0.1:0\naudit:\n  file: {}\n",
        audit_file.display()
    );
    let sites = Sites::start_with(&["up", "down"], &[breaker_lines(), breaker_lines()], &top).await;
    let monitor = sites.monitor.clone().expect("metrics.listen");

    let up = sites.site("up").token.clone();
    assert_eq!(sites.create_user("up", &up, "ada").await.status, 201);
    // "down"'s Drupal fails until its breaker opens.
    sites.site("down").drupal.fail_next(10_000, 500);
    for _ in 0..3 {
        let answer = sites.get("down", "/Users?count=1").await;
        assert!(answer.status >= 500, "{}", answer.body);
    }

    let (status, metrics) = fetch(&monitor, "/metrics").await;
    assert_eq!(status, 200);
    let value = |series: &str| crate::monitoring::value(&metrics, series);
    let breaker = |site: &str, state: &str| {
        value(&format!(
            "scim_bridge_drupal_circuit_breaker_state{{site=\"{site}\",state=\"{state}\"}}"
        ))
    };
    assert_eq!(breaker("down", "open"), 1.0, "{metrics}");
    assert_eq!(breaker("down", "closed"), 0.0, "{metrics}");
    assert_eq!(breaker("up", "closed"), 1.0, "{metrics}");
    assert_eq!(breaker("up", "open"), 0.0, "{metrics}");
    assert!(calls(&metrics, "down", "failed") >= 1.0, "{metrics}");
    assert_eq!(calls(&metrics, "up", "failed"), 0.0, "{metrics}");
    assert!(calls(&metrics, "up", "ok") >= 2.0, "{metrics}");
    assert_eq!(
        value(
            r#"scim_bridge_scim_requests_total{site="up",operation="create_user",resource_type="User",status_class="2xx",client="idp"}"#
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        value(
            r#"scim_bridge_provisioning_events_total{site="up",event="user_created",client="idp"}"#
        ),
        1.0,
        "{metrics}"
    );
    assert!(!metrics.contains(r#"scim_bridge_provisioning_events_total{site="down""#));
    for site in ["up", "down"] {
        assert!(
            value(&format!(
                "scim_bridge_drupal_concurrency_limit{{site=\"{site}\"}}"
            )) >= 1.0,
            "{metrics}"
        );
        assert!(
            value(&format!(
                "scim_bridge_mapping_loaded_timestamp_seconds{{site=\"{site}\"}}"
            )) > 1.0e9,
            "{metrics}"
        );
        assert!(
            metrics.contains(&format!(
                "scim_bridge_drupal_slot_waiting{{site=\"{site}\"}} 0"
            )),
            "{metrics}"
        );
    }
    assert!(
        value(r#"scim_bridge_drupal_logins_total{site="up",outcome="ok"}"#) >= 1.0,
        "{metrics}"
    );

    // One site down does not take the bridge out of rotation; each site
    // answers for itself.
    let (status, body) = readyz(&monitor, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sites_ready"], 1, "{body}");
    assert_eq!(body["sites_total"], 2, "{body}");
    assert_eq!(body["sites_not_ready"], json!(["down"]), "{body}");
    assert_eq!(body["sites"]["up"]["ready"], true, "{body}");
    assert!(
        body["sites"]["down"]["not_ready"]
            .as_array()
            .is_some_and(|parts| parts.contains(&json!("circuit_breaker"))),
        "{body}"
    );
    let (status, body) = readyz(&monitor, "?site=up").await;
    assert_eq!((status, &body["ready"]), (200, &json!(true)), "{body}");
    let (status, body) = readyz(&monitor, "?site=down").await;
    assert_eq!((status, &body["ready"]), (503, &json!(false)), "{body}");
    assert_eq!(readyz(&monitor, "?site=nowhere").await.0, 404);
    // The SCIM port, which anyone may reach, counts sites without naming them.
    let (status, body) = readyz(&sites.root, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ready": true, "sites_ready": 1, "sites_total": 2})
    );
    // Refused on the SCIM port, as every error there: a SCIM error document.
    let (status, body) = readyz(&sites.root, "?site=up").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("operator")),
        "{body}"
    );

    // The status page shows every site, the one not ready first.
    let (status, html) = fetch(&monitor, "/status").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("1 of 2 sites serve SCIM; not ready: down."),
        "{html}"
    );
    let (Some(down), Some(up)) = (html.find("id=\"site-down\""), html.find("id=\"site-up\""))
    else {
        panic!("a section per site: {html}");
    };
    assert!(down < up, "{html}");
    assert!(
        html.contains("<td>up</td><td>idp</td><td>create_user</td>"),
        "{html}"
    );

    // The audit trail names the site of each change.
    let audit = std::fs::read_to_string(&audit_file).expect("audit file");
    let events: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["site"], "up");
    assert_eq!(events[0]["event"], "user_created");

    // No site ready: the bridge is not.
    sites.site("up").drupal.fail_next(10_000, 500);
    for _ in 0..2 {
        sites.get("up", "/Users?count=1").await;
    }
    let (status, body) = readyz(&monitor, "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["sites_not_ready"], json!(["down", "up"]), "{body}");
    assert_eq!(readyz(&sites.root, "").await.0, 503);

    // A reload removes "down" and adds "fresh": the scrape follows.
    let standin = start_standin();
    let fresh_mapping = sites.dir.join("fresh.yaml");
    std::fs::write(&fresh_mapping, mapping_exposing("editor", "Editors")).unwrap();
    let up_entry = site_entry(
        "up",
        &sites.site("up").drupal_url.clone(),
        &sites.dir.join("up.yaml"),
        breaker_lines(),
    );
    let fresh_entry = site_entry("fresh", &standin.base_url(), &fresh_mapping, "");
    write_config(&sites, &format!("{up_entry}{fresh_entry}"));
    let mut outcomes = sites.reloader().reload().expect("reloaded");
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("down".to_string(), SiteOutcome::Removed),
            ("fresh".to_string(), SiteOutcome::Added),
            ("up".to_string(), SiteOutcome::Unchanged),
        ]
    );
    let fresh = sites
        .call(
            reqwest::Method::GET,
            "fresh",
            "/Users",
            Some(&token_of("fresh")),
            None,
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    let (_, metrics) = fetch(&monitor, "/metrics").await;
    assert!(!metrics.contains("site=\"down\""), "{metrics}");
    let value = |series: &str| crate::monitoring::value(&metrics, series);
    assert_eq!(
        value(r#"scim_bridge_drupal_circuit_breaker_state{site="fresh",state="closed"}"#),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        value(r#"scim_bridge_drupal_circuit_breaker_state{site="up",state="open"}"#),
        1.0,
        "{metrics}"
    );
    assert!(calls(&metrics, "fresh", "ok") >= 1.0, "{metrics}");
    assert!(
        value(r#"scim_bridge_mapping_loaded_timestamp_seconds{site="fresh"}"#) > 1.0e9,
        "{metrics}"
    );
    let (status, body) = readyz(&monitor, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sites_not_ready"], json!(["up"]), "{body}");
    assert_eq!(readyz(&monitor, "?site=down").await.0, 404);
    drop(standin);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reload the bridge refuses keeps the previous settings in force: a
/// token rotated to revoke a leaked one is then still accepted. The scrape
/// must show it (a failed reload counted, the settings marked stale) until a
/// reload applies the file whole; the mapping's own reloads are another
/// matter and do not move.
#[tokio::test]
async fn a_refused_configuration_reload_shows_in_the_metrics_until_one_succeeds() {
    let top = "metrics:\n  listen: 127.0.0.1:0\n";
    let sites = Sites::start_with(&["main"], &[], top).await;
    let monitor = sites.monitor.clone().expect("metrics.listen");
    let scrape = || async {
        let (status, metrics) = fetch(&monitor, "/metrics").await;
        assert_eq!(status, 200);
        metrics
    };
    let value = |metrics: &str, series: &str| crate::monitoring::value(metrics, series);
    let failed = r#"scim_bridge_config_reloads_total{outcome="failed"}"#;
    let ok = r#"scim_bridge_config_reloads_total{outcome="ok"}"#;
    let fresh = "scim_bridge_config_last_reload_successful";
    let metrics = scrape().await;
    assert_eq!(value(&metrics, failed), 0.0, "{metrics}");
    assert_eq!(value(&metrics, fresh), 1.0, "{metrics}");
    let started = value(
        &metrics,
        "scim_bridge_config_last_reload_success_timestamp_seconds",
    );
    assert!(started > 1.0e9, "{metrics}");

    let mapping = sites.dir.join("main.yaml");
    let drupal_url = sites.site("main").drupal_url.clone();
    let entry = site_entry("main", &drupal_url, &mapping, "");
    let token_file = sites.dir.join("rotated-token");
    std::fs::write(&token_file, "short\n").unwrap();
    let short_token = sites_entry_with_token_file(&entry, &token_file);
    assert_ne!(short_token, entry);
    let broken = [
        // Not YAML: the whole file is refused.
        ("invalid YAML", None),
        // The site's token file holds a token under 16 characters.
        ("a short token", Some(short_token)),
        (
            "an ftp:// base URL",
            Some(site_entry("main", "ftp://drupal.example.org", &mapping, "")),
        ),
    ];
    let mut reloader = sites.reloader();
    for (n, (what, entry)) in broken.into_iter().enumerate() {
        match entry {
            Some(entry) => write_config(&sites, &entry),
            None => std::fs::write(&sites.config, "sites: [unclosed\n  - id: main\n").unwrap(),
        }
        let _ = reloader.reload();
        let metrics = scrape().await;
        assert_eq!(value(&metrics, failed), (n + 1) as f64, "{what}: {metrics}");
        assert_eq!(value(&metrics, fresh), 0.0, "{what}: {metrics}");
        assert_eq!(value(&metrics, ok), 0.0, "{what}: {metrics}");
        assert!(
            !metrics
                .contains(r#"scim_bridge_mapping_reloads_total{site="main",outcome="failed"} 1"#),
            "{what}: the mapping did not change: {metrics}"
        );
        // The previous settings still serve, the old token included.
        assert_eq!(sites.get("main", "/Users").await.status, 200, "{what}");
    }

    // A reload that applies the file clears the signal.
    std::fs::write(&token_file, "rotated-token-0123456789\n").unwrap();
    write_config(&sites, &sites_entry_with_token_file(&entry, &token_file));
    let outcomes = reloader.reload().expect("reloaded");
    assert_eq!(outcomes, [("main".to_string(), SiteOutcome::Changed)]);
    let metrics = scrape().await;
    assert_eq!(value(&metrics, ok), 1.0, "{metrics}");
    assert_eq!(value(&metrics, fresh), 1.0, "{metrics}");
    assert!(
        value(
            &metrics,
            "scim_bridge_config_last_reload_success_timestamp_seconds"
        ) >= started,
        "{metrics}"
    );
    sites
        .get("main", "/Users")
        .await
        .assert_scim_error(401, None);
}

/// `entry` with its client's token read from `file`.
fn sites_entry_with_token_file(entry: &str, file: &std::path::Path) -> String {
    entry.replace(
        &format!("token: \"{}\"", token_of("main")),
        &format!("token_file: {}", file.display()),
    )
}

fn breaker_lines() -> &'static str {
    "      retries: 0\n      breaker:\n        failures: 2\n        open_secs: 60\n"
}

/// A site's Drupal calls with this outcome, all operations together.
fn calls(metrics: &str, site: &str, outcome: &str) -> f64 {
    let prefix = format!("scim_bridge_drupal_requests_total{{site=\"{site}\",");
    let outcome = format!("outcome=\"{outcome}\"}}");
    metrics
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(&outcome))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Group versions below a site: the `ETag` of a site's group, `If-Match`
/// and `If-None-Match` checked against that site's Drupal.
#[tokio::test]
async fn group_versions_are_checked_below_a_site() {
    let sites = Sites::start(&["physics", "chem-2"], &[]).await;
    let token = sites.site("physics").token.clone();
    let created = sites.create_user("physics", &token, "ada").await;
    assert_eq!(created.status, 201, "{}", created.body);
    let ada = created.body["id"].as_str().unwrap().to_string();
    let groups = sites.get("physics", "/Groups").await;
    let group = groups.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Groups/{group}");
    let call =
        |method: reqwest::Method, headers: Vec<(&'static str, String)>, body: Option<Value>| {
            let (sites, token, path) = (&sites, token.clone(), path.clone());
            async move {
                let mut request = sites
                    .client
                    .request(method, sites.url("physics", &path))
                    .bearer_auth(token);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                if let Some(body) = body {
                    request = request
                        .header("Content-Type", SCIM_JSON)
                        .body(body.to_string());
                }
                read(request.send().await.expect("bridge answers")).await
            }
        };
    let read_group = call(reqwest::Method::GET, vec![], None).await;
    assert_eq!(read_group.status, 200, "{}", read_group.body);
    let old = read_group.body["meta"]["version"]
        .as_str()
        .expect("a version")
        .to_string();
    assert_eq!(read_group.header("etag"), Some(old.as_str()));

    let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": ada}]}]});
    let added = call(
        reqwest::Method::PATCH,
        vec![("If-Match", old.clone())],
        Some(add.clone()),
    )
    .await;
    assert!(matches!(added.status, 200 | 204), "{}", added.body);
    let held = sites.site("physics").drupal.user_by_name("ada").unwrap();
    assert!(held.roles().contains(&"editor".to_string()));

    sites.site("physics").drupal.clear_requests();
    let stale = call(
        reqwest::Method::DELETE,
        vec![("If-Match", old.clone())],
        None,
    )
    .await;
    stale.assert_scim_error(412, None);
    let writes: Vec<String> = sites
        .site("physics")
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path != "/user/login")
        .map(|r| r.path)
        .collect();
    assert_eq!(writes, Vec::<String>::new());

    let current = call(reqwest::Method::GET, vec![], None).await;
    let version = current.body["meta"]["version"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(version, old);
    let cached = call(
        reqwest::Method::GET,
        vec![("If-None-Match", version.clone())],
        None,
    )
    .await;
    assert_eq!(cached.status, 304, "{}", cached.body);
    assert_eq!(cached.header("etag"), Some(version.as_str()));
}

/// A Drupal that accepts connections and never answers: its address, and
/// how many connections it took.
fn silent_drupal() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        // Held open, never read nor answered.
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, accepted)
}

/// `/readyz` on `base`, and how long it took.
async fn timed_readyz(base: &str, query: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (status, body) = readyz(base, query).await;
    (status, body, started.elapsed())
}

/// A site whose Drupal never answers, and one that answers slowly, added
/// by a reload: `/readyz` still answers at once on both ports, for the
/// bridge and for each site, and the silent Drupal is asked once however
/// often readiness is. Orchestrators give a probe 1 to 5 s: an answer that
/// waited for `drupal.timeout_secs` would take every replica out of
/// rotation for all its sites.
#[tokio::test]
async fn readiness_answers_at_once_whatever_a_sites_drupal_does() {
    let top = "metrics:\n  listen: 127.0.0.1:0\nhealth:\n  drupal_within_secs: 1\n";
    let sites = Sites::start_with(&["up", "slow"], &[], top).await;
    let monitor = sites.monitor.clone().expect("metrics.listen");
    assert_eq!(sites.get("up", "/Users?count=1").await.status, 200);
    assert_eq!(sites.get("slow", "/Users?count=1").await.status, 200);
    sites
        .site("slow")
        .drupal
        .set_latency(Duration::from_millis(1500));

    let (silent, accepted) = silent_drupal();
    let entry = |id: &str| {
        site_entry(
            id,
            &sites.site(id).drupal_url.clone(),
            &sites.dir.join(format!("{id}.yaml")),
            "",
        )
    };
    // drupal.timeout_secs 10, the default, for the silent site.
    let hang = site_entry(
        "hang",
        &silent,
        &sites.dir.join("up.yaml"),
        "      timeout_secs: 10\n",
    );
    write_config(&sites, &format!("{}{}{hang}", entry("up"), entry("slow")));
    let outcomes = sites.reloader().reload().expect("reloaded");
    assert!(
        outcomes.contains(&("hang".to_string(), SiteOutcome::Added)),
        "{outcomes:?}"
    );
    // Every site's last answer is older than drupal_within_secs.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let bound = Duration::from_millis(900);
    for round in 0..3 {
        let (status, body, took) = timed_readyz(&monitor, "").await;
        assert!(took < bound, "round {round}: /readyz took {took:?}: {body}");
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(body["sites"]["up"]["ready"], true, "{body}");
        assert_eq!(body["sites"]["hang"]["ready"], false, "{body}");

        let (status, body, took) = timed_readyz(&sites.root, "").await;
        assert!(took < bound, "round {round}: SCIM port took {took:?}");
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(body["sites_total"], 3, "{body}");

        let (status, body, took) = timed_readyz(&monitor, "?site=hang").await;
        assert!(took < bound, "round {round}: ?site=hang took {took:?}");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["not_ready"], json!(["drupal"]), "{body}");
        assert!(
            body["drupal"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("has not answered the readiness probe")),
            "{body}"
        );

        let (status, body, took) = timed_readyz(&monitor, "?site=up").await;
        assert!(took < bound, "round {round}: ?site=up took {took:?}");
        assert_eq!(status, 200, "{body}");

        let (_, body, took) = timed_readyz(&monitor, "?site=slow").await;
        assert!(
            took < bound,
            "round {round}: ?site=slow took {took:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The status page reads the same readiness.
    let started = Instant::now();
    let (status, _) = fetch(&monitor, "/status").await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    // One probe at a time: the one login still waiting for its answer.
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the silent Drupal is asked once, however often readiness is"
    );
    // The other sites serve SCIM meanwhile.
    assert_eq!(sites.get("up", "/Users?count=1").await.status, 200);
}

/// Logins a site's Drupal stand-in received.
fn logins_to(drupal: &StandInHandle) -> usize {
    drupal
        .requests()
        .iter()
        .filter(|r| r.path == "/user/login")
        .count()
}

/// Drupal refused the bridge's password (changed in Drupal): readiness
/// tells the operator to fix it and reload. Fixed in Drupal, the file is
/// right again, unchanged: a reload must let the site log in again, once,
/// and not only a change of some other key of the site.
#[tokio::test]
async fn a_reload_lets_a_site_try_its_refused_credentials_once_more() {
    let top = "metrics:\n  listen: 127.0.0.1:0\n";
    let sites = Sites::start_with(&["main", "other"], &[], top).await;
    let monitor = sites.monitor.clone().expect("metrics.listen");
    assert_eq!(sites.get("main", "/Users?count=1").await.status, 200);
    let drupal = &sites.site("main").drupal;

    // The bridge's password changed in Drupal, its sessions cleared.
    assert!(drupal.set_password("admin", "changed-in-drupal"));
    drupal.expire_sessions();
    sites
        .get("main", "/Users?count=1")
        .await
        .assert_scim_error(502, None);
    let (status, body) = readyz(&monitor, "?site=main").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["drupal"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("reload or restart")),
        "{body}"
    );
    let refused = logins_to(drupal);

    // Reloaded while the password is still wrong: one login, refused
    // again, then none however many requests come.
    let mut reloader = sites.reloader();
    let outcomes = reloader.reload().expect("reloaded");
    assert!(outcomes.contains(&("main".to_string(), SiteOutcome::Unchanged)));
    for _ in 0..4 {
        sites
            .get("main", "/Users?count=1")
            .await
            .assert_scim_error(502, None);
    }
    assert_eq!(logins_to(drupal), refused + 1, "one login, not a storm");

    // Restored in Drupal: the file is right again. The same settings.
    assert!(drupal.set_password("admin", DRUPAL_PASSWORD));
    let outcomes = reloader.reload().expect("reloaded");
    assert!(outcomes.contains(&("main".to_string(), SiteOutcome::Unchanged)));
    for _ in 0..3 {
        let answer = sites.get("main", "/Users?count=1").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(logins_to(drupal), refused + 2, "one login serves them all");
    let (status, body) = readyz(&monitor, "?site=main").await;
    assert_eq!(status, 200, "{body}");

    // A reload with nothing refused keeps the session: no login.
    reloader.reload().expect("reloaded");
    assert_eq!(sites.get("main", "/Users?count=1").await.status, 200);
    assert_eq!(logins_to(drupal), refused + 2);
}

/// The settings in force after a reload that refuses one site's change
/// must still keep the sites apart: here site `p` is given `q`'s token
/// while `q`'s own change (a new token) is refused for its mapping, so
/// `q` would keep that token too. The whole reload is refused.
#[tokio::test]
async fn a_partial_reload_that_would_let_one_token_open_two_sites_is_refused() {
    let top = "metrics:\n  listen: 127.0.0.1:0\n";
    let sites = Sites::start_with(&["p", "q"], &[], top).await;
    let monitor = sites.monitor.clone().expect("metrics.listen");
    let broken_mapping = sites.dir.join("broken.yaml");
    std::fs::write(&broken_mapping, "rules: [unclosed\n").unwrap();
    let p_entry = site_entry(
        "p",
        &sites.site("p").drupal_url.clone(),
        &sites.dir.join("p.yaml"),
        "",
    )
    .replace(&token_of("p"), &token_of("q"));
    let q_entry = site_entry(
        "q",
        &sites.site("q").drupal_url.clone(),
        &broken_mapping,
        "",
    )
    .replace(&token_of("q"), "q-new-token-0123456789");
    write_config(&sites, &format!("{p_entry}{q_entry}"));
    let logs = captured_logs();
    let error = sites
        .reloader()
        .reload()
        .expect_err("the reload is refused")
        .to_string();
    let logs = logs.contents();
    assert!(
        error.contains("sites") && error.contains(" p") && error.contains(" q"),
        "{error}"
    );
    assert!(error.contains("one bearer token opens both"), "{error}");
    assert!(!error.contains(&token_of("q")), "no token in the message");
    assert!(logs.contains("the configuration is not reloaded"), "{logs}");
    // Nothing changed: each token still opens its own site only.
    assert_eq!(sites.get("p", "/Users").await.status, 200);
    assert_eq!(sites.get("q", "/Users").await.status, 200);
    let q_token = token_of("q");
    sites
        .call(reqwest::Method::GET, "p", "/Users", Some(&q_token), None)
        .await
        .assert_scim_error(401, None);
    let (_, metrics) = fetch(&monitor, "/metrics").await;
    let value = |series: &str| crate::monitoring::value(&metrics, series);
    assert_eq!(
        value(r#"scim_bridge_config_reloads_total{outcome="failed"}"#),
        1.0,
        "{metrics}"
    );
    assert_eq!(value("scim_bridge_config_last_reload_successful"), 0.0);
}

/// A bridge-wide key (here `server.max_connections`) changed in the file
/// is not applied by a reload: said in the log, and the metrics say the
/// settings in force are not the file's until the file is changed back.
#[tokio::test]
async fn a_changed_bridge_wide_key_is_reported_as_needing_a_restart() {
    let top = "metrics:\n  listen: 127.0.0.1:0\n";
    let sites = Sites::start_with(&["main"], &[], top).await;
    let monitor = sites.monitor.clone().expect("metrics.listen");
    let entry = site_entry(
        "main",
        &sites.site("main").drupal_url.clone(),
        &sites.dir.join("main.yaml"),
        "",
    );
    let write = |server: &str| {
        std::fs::write(
            &sites.config,
            format!("listen: 127.0.0.1:0\n{top}{server}{DEFAULTS}sites:\n{entry}"),
        )
        .unwrap();
    };
    write("server:\n  max_connections: 7\n");
    let mut reloader = sites.reloader();
    let logs = captured_logs();
    let outcomes = reloader.reload();
    let logs = logs.contents();
    assert_eq!(
        outcomes.expect("the sites are reloaded"),
        [("main".to_string(), SiteOutcome::Unchanged)]
    );
    assert!(
        logs.contains("server.max_connections") && logs.contains("restarted"),
        "{logs}"
    );
    let scrape = || async { fetch(&monitor, "/metrics").await.1 };
    let metrics = scrape().await;
    let value = |metrics: &str, series: &str| crate::monitoring::value(metrics, series);
    assert_eq!(
        value(&metrics, "scim_bridge_config_last_reload_successful"),
        0.0,
        "{metrics}"
    );
    assert_eq!(
        value(
            &metrics,
            r#"scim_bridge_config_reloads_total{outcome="ok"}"#
        ),
        0.0,
        "{metrics}"
    );
    // Changed back, the file is the settings in force again.
    write("");
    reloader.reload().expect("reloaded");
    let metrics = scrape().await;
    assert_eq!(
        value(&metrics, "scim_bridge_config_last_reload_successful"),
        1.0,
        "{metrics}"
    );
}

/// Two sites in front of one Drupal, each logging in as its own account:
/// one site's identity provider must not block, rename or demote the
/// account the other logs in as, which would lock that site out as
/// surely as its own (found by an outside tester with `deactivate`).
#[tokio::test]
async fn a_site_cannot_change_the_account_another_site_on_its_drupal_logs_in_as() {
    use drupal_scim_bridge::standin::{AccountSeed, RoleSeed};
    let dir = std::env::temp_dir().join(format!("scim-bridge-sites-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let standin = start_standin();
    let drupal = standin.handle();
    drupal
        .add_role(RoleSeed::new(
            "scim_bridge",
            "SCIM bridge",
            &["administer users", "access user profiles"],
        ))
        .expect("role");
    let mut ids = Vec::new();
    for name in ["bridge-alpha", "bridge-beta"] {
        let mut seed = AccountSeed::new(name);
        seed.password = Some(format!("{name}-password"));
        seed.roles = vec!["scim_bridge".into()];
        ids.push(drupal.insert_user(seed).expect("bridge account"));
    }
    let mapping = dir.join("mapping.yaml");
    std::fs::write(&mapping, mapping_exposing("editor", "Editors")).expect("mapping");
    let mut entries = String::new();
    for id in ["alpha", "beta"] {
        entries.push_str(&site_entry(
            id,
            &standin.base_url(),
            &mapping,
            &format!("      auth:\n        username: bridge-{id}\n        password: \"bridge-{id}-password\"\n"),
        ));
    }
    let config = dir.join("bridge.yaml");
    std::fs::write(
        &config,
        format!("listen: 127.0.0.1:0\n{DEFAULTS}sites:\n{entries}"),
    )
    .expect("config");
    let settings = Settings::load(&config).expect("multi-site settings");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind bridge");
    let app = Application::with_mapping_files(&settings, listener).expect("build bridge");
    let root = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let patch = |site: &str, id: &str, operations: Value| {
        client
            .patch(format!("{root}/sites/{site}/scim/v2/Users/{id}"))
            .bearer_auth(token_of(site))
            .header("Content-Type", SCIM_JSON)
            .body(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": operations})
                .to_string(),
            )
            .send()
    };

    for (site, other, name) in [
        ("beta", &ids[0], "bridge-alpha"),
        ("alpha", &ids[1], "bridge-beta"),
    ] {
        let answer = read(
            patch(
                site,
                other,
                json!([{"op": "replace", "path": "active", "value": false}]),
            )
            .await
            .expect("bridge answers"),
        )
        .await;
        assert_eq!(answer.status, 403, "{site}: {}", answer.body);
        let renamed = read(
            patch(
                site,
                other,
                json!([{"op": "replace", "path": "userName", "value": "taken-over"}]),
            )
            .await
            .expect("bridge answers"),
        )
        .await;
        assert_eq!(renamed.status, 403, "{site}: {}", renamed.body);
        let account = drupal.user_by_name(name).expect("still there");
        assert_eq!(account.attribute("status"), Some(&json!(true)), "{site}");
        let deleted = read(
            client
                .delete(format!("{root}/sites/{site}/scim/v2/Users/{other}"))
                .bearer_auth(token_of(site))
                .send()
                .await
                .expect("bridge answers"),
        )
        .await;
        assert_eq!(deleted.status, 403, "{site}: {}", deleted.body);
        assert!(drupal.user_by_name(name).is_some(), "{site}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
