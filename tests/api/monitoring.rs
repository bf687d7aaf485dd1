//! What an operations team watches: the Prometheus metrics, readiness, the
//! audit trail and the status page, after the requests an IdP sends.

use std::net::TcpListener;

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::standin::{StandIn, StandInConfig};
use drupal_scim_bridge::startup::Application;
use serde_json::{json, Value};

use crate::helpers::{patch_op, spawn_app_with, Options, TestApp, DRUPAL_PASSWORD, TOKEN};

const MONITOR: &str = "metrics:\n  listen: 127.0.0.1:0\n";

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bridge-monitoring-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub async fn monitored(extra: &str) -> TestApp {
    spawn_app_with(Options {
        extra_config: format!("{MONITOR}{extra}"),
        ..Options::default()
    })
    .await
}

async fn text(app: &TestApp, path: &str) -> (u16, String) {
    let url = format!("{}{path}", app.monitor.as_ref().expect("metrics.listen"));
    let response = reqwest::get(url).await.expect("monitor answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

/// The value of one series in Prometheus text, 0 when absent.
pub fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or(0.0)
}

/// An IdP's life of one account: create, deactivate, reactivate, into a
/// group and out, a refused change to the site's first account, delete.
/// Returns the request ids of the writes, in order.
pub async fn idp_flow(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let created = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ada",
                "emails": [{"value": "ada@example.org", "primary": true}],
                "active": true
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    ids.push(request_id(&created.headers));
    let user = created.body["id"].as_str().expect("id").to_string();
    for active in [false, true] {
        let answer = app
            .patch(
                &format!("/Users/{user}"),
                &patch_op(json!([{"op": "replace", "path": "active", "value": active}])),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        ids.push(request_id(&answer.headers));
    }
    let group = app.group_id("editor").await;
    for op in [
        json!({"op": "add", "path": "members", "value": [{"value": user}]}),
        json!({"op": "remove", "path": format!("members[value eq \"{user}\"]")}),
    ] {
        let answer = app
            .patch(&format!("/Groups/{group}"), &patch_op(json!([op])))
            .await;
        assert!(
            answer.status == 200 || answer.status == 204,
            "{}",
            answer.body
        );
        ids.push(request_id(&answer.headers));
    }
    let admin = app.filter_users("userName eq \"admin\"").await;
    let admin = admin.body["Resources"][0]["id"]
        .as_str()
        .expect("admin id")
        .to_string();
    let refused = app
        .patch(
            &format!("/Users/{admin}"),
            &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    ids.push(request_id(&refused.headers));
    let deleted = app.delete(&format!("/Users/{user}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    ids.push(request_id(&deleted.headers));
    ids
}

fn request_id(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string()
}

#[tokio::test]
async fn metrics_count_an_idp_flow_under_bounded_labels() {
    let app = monitored("").await;
    idp_flow(&app).await;
    // One request without a token: counted, with no client.
    let refused = reqwest::get(format!("{}/Users", app.base))
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    // Bodies refused before they are read are counted under their
    // operation, not as requests without one.
    let garbled = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(crate::helpers::TOKEN)
        .header("Content-Type", crate::helpers::SCIM_JSON)
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(garbled.status(), 400);
    let garbled = app
        .client
        .patch(format!("{}/Groups/x", app.base))
        .bearer_auth(crate::helpers::TOKEN)
        .header("Content-Type", crate::helpers::SCIM_JSON)
        .body("[]")
        .send()
        .await
        .expect("answer");
    assert_eq!(garbled.status(), 400);
    // Health probes on the SCIM port are not SCIM requests.
    let root = app.base.trim_end_matches("/scim/v2");
    for probe in ["/healthz", "/readyz"] {
        let answer = reqwest::get(format!("{root}{probe}"))
            .await
            .expect("answer");
        assert_eq!(answer.status(), 200);
    }

    let (status, metrics) = text(&app, "/metrics").await;
    assert_eq!(status, 200);
    let scim = |op: &str, kind: &str, class: &str| {
        value(&metrics, &format!("scim_bridge_scim_requests_total{{site=\"default\",operation=\"{op}\",resource_type=\"{kind}\",status_class=\"{class}\",client=\"default\"}}"))
    };
    assert_eq!(scim("create_user", "User", "2xx"), 1.0, "{metrics}");
    assert_eq!(scim("patch_user", "User", "2xx"), 2.0);
    assert_eq!(scim("patch_user", "User", "4xx"), 1.0, "the refused change");
    assert_eq!(scim("patch_group", "Group", "2xx"), 2.0);
    assert_eq!(
        scim("create_user", "User", "4xx"),
        1.0,
        "the garbled create"
    );
    assert_eq!(
        scim("patch_group", "Group", "4xx"),
        1.0,
        "the garbled patch"
    );
    assert_eq!(scim("delete_user", "User", "2xx"), 1.0);
    assert_eq!(
        value(&metrics, "scim_bridge_scim_requests_total{site=\"none\",operation=\"none\",resource_type=\"none\",status_class=\"4xx\",client=\"none\"}"),
        1.0
    );
    assert!(
        !metrics.contains(
            "site=\"none\",operation=\"none\",resource_type=\"none\",status_class=\"2xx\""
        ),
        "{metrics}"
    );
    assert_eq!(
        value(&metrics, "scim_bridge_scim_request_duration_seconds_count{site=\"default\",operation=\"patch_user\",resource_type=\"User\"}"),
        3.0
    );
    assert!(
        value(&metrics, "scim_bridge_drupal_requests_per_scim_request_sum{site=\"default\",operation=\"create_user\",resource_type=\"User\"}") >= 1.0
    );
    let event = |kind: &str| {
        value(&metrics, &format!("scim_bridge_provisioning_events_total{{site=\"default\",event=\"{kind}\",client=\"default\"}}"))
    };
    for kind in [
        "user_created",
        "user_deactivated",
        "user_reactivated",
        "group_member_added",
        "group_member_removed",
        "refused_protected",
        "user_deprovisioned",
    ] {
        assert_eq!(event(kind), 1.0, "{kind}: {metrics}");
    }
    assert_eq!(event("user_updated"), 0.0);
    assert_eq!(
        value(
            &metrics,
            "scim_bridge_drupal_logins_total{site=\"default\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "scim_bridge_drupal_requests_total{site=\"default\",operation=\"create_user\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "scim_bridge_drupal_circuit_breaker_state{site=\"default\",state=\"closed\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "scim_bridge_drupal_circuit_breaker_state{site=\"default\",state=\"open\"}"
        ),
        0.0
    );
    assert!(
        value(
            &metrics,
            "scim_bridge_mapping_loaded_timestamp_seconds{site=\"default\"}"
        ) > 1.0e9
    );
    assert!(metrics.contains("scim_bridge_build_info{version=\""));
    // No user name or id is ever a label.
    assert!(!metrics.contains("\"ada"), "{metrics}");
    assert!(
        value(
            &metrics,
            "scim_bridge_drupal_concurrency_limit{site=\"default\"}"
        ) >= 1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn the_scim_port_serves_no_metrics() {
    let app = monitored("").await;
    let root = app.base.trim_end_matches("/scim/v2");
    let answer = reqwest::get(format!("{root}/metrics"))
        .await
        .expect("answer");
    assert_eq!(answer.status(), 404);
}

#[tokio::test]
async fn the_audit_file_holds_exactly_the_changes_of_an_idp_flow_and_survives_a_restart() {
    let dir = temp_dir();
    let file = dir.join("audit.jsonl");
    let audit = format!("audit:\n  file: {}\n", file.display());
    let app = monitored(&audit).await;
    let ids = idp_flow(&app).await;

    let text = std::fs::read_to_string(&file).expect("audit file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let summary: Vec<(String, String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or("").to_string(),
                l["operation"].as_str().unwrap_or("").to_string(),
                l["account_name"].as_str().unwrap_or("").to_string(),
                l["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = [
        ("user_created", "create_user", "ada", "ok"),
        ("user_deactivated", "patch_user", "ada", "ok"),
        ("user_reactivated", "patch_user", "ada", "ok"),
        ("group_member_added", "patch_group", "ada", "ok"),
        // Her copy went with the add's write, so the removal is written
        // unread (the list of accounts to refuse clears her): the event
        // names the account by id alone.
        ("group_member_removed", "patch_group", "", "ok"),
        ("refused_protected", "patch_user", "admin", "refused"),
        ("user_deprovisioned", "delete_user", "ada", "ok"),
    ]
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()));
    assert_eq!(summary, expected, "{text}");
    let logged_ids: Vec<&str> = lines
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        logged_ids,
        ids.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for line in &lines {
        assert_eq!(line["client"], "default", "{line}");
        assert_eq!(line["site"], "default", "{line}");
        assert!(
            line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(
            line["account_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
    }
    assert_eq!(lines[1]["active"], json!({"before": true, "after": false}));
    assert_eq!(lines[2]["active"], json!({"before": false, "after": true}));
    assert_eq!(lines[3]["group"], "editor");
    assert_eq!(lines[3]["roles"]["after"], json!(["editor"]));
    assert!(lines[5]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("uid 1")));
    assert!(!text.contains(DRUPAL_PASSWORD) && !text.contains(TOKEN));

    // A second bridge on the same file (a restart) appends; nothing written is lost.
    let again = monitored(&audit).await;
    again.create_user("grace", "grace@example.org").await;
    let after = std::fs::read_to_string(&file).expect("audit file");
    assert!(after.starts_with(&text), "the earlier lines are kept whole");
    assert_eq!(after.lines().count(), expected.len() + 1);
    assert!(after
        .lines()
        .last()
        .is_some_and(|l| l.contains("\"grace\"")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reads_are_not_audited() {
    let dir = temp_dir();
    let file = dir.join("audit.jsonl");
    let app = monitored(&format!("audit:\n  file: {}\n", file.display())).await;
    let answer = app.get("/Users").await;
    assert_eq!(answer.status, 200);
    app.get("/Groups").await;
    assert_eq!(
        std::fs::read_to_string(&file).expect("created at start"),
        ""
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bridge in front of a stand-in whose port stays the same across a
/// stop and a start, as a restarted Drupal's would.
async fn bridge_on(drupal_port: u16) -> (Application, String) {
    let yaml = format!(
        "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: http://127.0.0.1:{drupal_port}\n  timeout_secs: 1\n  connect_timeout_secs: 1\n  retries: 0\n  breaker:\n    failures: 2\n    open_secs: 1\n  auth:\n    username: admin\n    password: \"{DRUPAL_PASSWORD}\"\n{MONITOR}health:\n  drupal_within_secs: 1\n"
    );
    let settings = Settings::from_yaml(&yaml).expect("settings");
    let mapping = Mapping::parse(&crate::helpers::demo_roles_only(), "demo.yaml").expect("mapping");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let app = Application::with_listener(&settings, mapping, listener).expect("bridge");
    let monitor = format!("http://127.0.0.1:{}", app.monitor_port().expect("monitor"));
    (app, monitor)
}

async fn readyz(url: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{url}/readyz")).await.expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn readiness_goes_false_when_drupal_stops_and_true_when_it_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let standin = StandIn::start(StandInConfig::demo(DRUPAL_PASSWORD), listener).expect("stand-in");
    let (app, monitor) = bridge_on(port).await;
    let scim_root = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let (status, body) = readyz(&monitor).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true);
    assert!(body["mapping"]["detail"].is_string(), "{body}");
    let (status, body) = readyz(&scim_root).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"ready": true, "not_ready": []}), "{body}");
    let healthz = reqwest::get(format!("{scim_root}/healthz"))
        .await
        .expect("answer");
    assert_eq!(healthz.status(), 200);

    standin.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = readyz(&monitor).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["not_ready"], json!(["drupal"]), "{body}");
    assert!(
        body["drupal"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot reach")),
        "{body}"
    );
    // The SCIM port answers the same status, for load balancers, and which
    // parts are not ready, but not Drupal's address, its error or the
    // mapping file: anyone reaching the port may ask. The process lives.
    let (status, body) = readyz(&scim_root).await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"ready": false, "not_ready": ["drupal"]}),
        "{body}"
    );
    let healthz = reqwest::get(format!("{scim_root}/healthz"))
        .await
        .expect("answer");
    assert_eq!(healthz.status(), 200);
    // Failing again opens the breaker, which readiness names too.
    let (_, body) = readyz(&monitor).await;
    assert!(
        body["not_ready"]
            .as_array()
            .is_some_and(|n| n.contains(&json!("circuit_breaker"))),
        "{body}"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the same port again");
    let _back = StandIn::start(StandInConfig::demo(DRUPAL_PASSWORD), listener).expect("stand-in");
    // The breaker lets a probe through after open_secs.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = readyz(&monitor).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["not_ready"], json!([]));
}

#[tokio::test]
async fn the_status_page_shows_the_changes_and_filters_by_account() {
    let app = monitored("").await;
    idp_flow(&app).await;
    let (status, html) = text(&app, "/status").await;
    assert_eq!(status, 200);
    assert!(html.contains("Ready: serving SCIM."), "{html}");
    assert!(
        html.contains("user_deactivated") && html.contains(">ada<"),
        "{html}"
    );
    assert!(html.contains("<svg id=\"requests-chart\""));
    assert!(!html.contains("<script"));
    let (_, only_admin) = text(&app, "/status?account=admin").await;
    assert!(only_admin.contains("refused_protected"));
    assert!(!only_admin.contains("user_deactivated"), "{only_admin}");
}

/// Load balancers probe with HEAD as well as GET (RFC 9110 §9.1): the
/// health routes answer it on both listeners. And `?site=` on the SCIM
/// port tells no more than `/readyz` alone.
#[tokio::test]
async fn health_routes_answer_head_and_the_scim_port_tells_no_details_by_site() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _standin =
        StandIn::start(StandInConfig::demo(DRUPAL_PASSWORD), listener).expect("stand-in");
    let (app, monitor) = bridge_on(port).await;
    let scim_root = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    for url in [
        format!("{scim_root}/healthz"),
        format!("{scim_root}/readyz"),
        format!("{monitor}/healthz"),
        format!("{monitor}/readyz"),
        format!("{monitor}/metrics"),
        format!("{monitor}/status"),
    ] {
        let head = client.head(&url).send().await.expect("answer");
        assert_eq!(head.status(), 200, "HEAD {url}");
        assert!(head.text().await.unwrap().is_empty(), "HEAD {url}");
    }
    let by_site = reqwest::get(format!("{scim_root}/readyz?site=default"))
        .await
        .expect("answer");
    assert_eq!(by_site.status(), 200);
    let body: Value = by_site.json().await.expect("JSON");
    assert_eq!(body, json!({"ready": true, "not_ready": []}), "{body}");
}

/// The bridge's account is blocked in Drupal: its next login is refused,
/// and the bridge sends no further one. Readiness says so at once, not
/// once `health.drupal_within_secs` has passed since the last success.
#[tokio::test]
async fn readiness_goes_false_at_once_when_drupal_refuses_the_credentials_for_good() {
    let app = monitored("").await;
    app.log_in().await;
    let (status, body) = text(&app, "/readyz").await;
    assert_eq!(status, 200, "{body}");

    assert!(app.drupal.set_status("admin", false));
    app.drupal.expire_sessions();
    app.filter_users("userName eq \"admin\"")
        .await
        .assert_scim_error(502, None);

    let (status, body) = text(&app, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["not_ready"], json!(["drupal"]), "{body}");
    let detail = body["drupal"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("refused the bridge's credentials"),
        "{body}"
    );
}

/// A site in dry run sends Drupal nothing: its events say so (`dry_run`,
/// never `ok`), are counted apart from the changes made, and the status
/// page shows them as dry runs.
#[tokio::test]
async fn a_dry_run_is_audited_as_one_and_not_counted_as_a_change() {
    let dir = temp_dir();
    let file = dir.join("audit.jsonl");
    let app = monitored(&format!(
        "dry_run: true\naudit:\n  file: {}\n",
        file.display()
    ))
    .await;
    let created = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "ada", "emails": [{"value": "ada@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let grace = app.seed_user("grace", "grace@example.org");
    let patched = app
        .patch(
            &format!("/Users/{grace}"),
            &patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(app.drupal_writes(), Vec::<String>::new());

    let text_file = std::fs::read_to_string(&file).expect("audit file");
    let lines: Vec<Value> = text_file
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let summary: Vec<(&str, &str, &Value)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or(""),
                l["outcome"].as_str().unwrap_or(""),
                &l["dry_run"],
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("user_created", "dry_run", &json!(true)),
            ("user_deactivated", "dry_run", &json!(true)),
        ],
        "{text_file}"
    );

    let (_, metrics) = text(&app, "/metrics").await;
    for kind in ["user_created", "user_deactivated"] {
        assert_eq!(
            value(&metrics, &format!("scim_bridge_provisioning_events_total{{site=\"default\",event=\"{kind}\",client=\"default\"}}")),
            0.0,
            "{metrics}"
        );
        assert_eq!(
            value(&metrics, &format!("scim_bridge_provisioning_dry_run_events_total{{site=\"default\",event=\"{kind}\",client=\"default\"}}")),
            1.0,
            "{metrics}"
        );
    }
    let (_, html) = text(&app, "/status").await;
    assert!(html.contains(">dry run</span>"), "{html}");
    assert!(!html.contains("class=\"ok\">ok</span>"), "{html}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client's value cannot disguise an audit record or the status page:
/// a right-to-left override or a line separator in a userName is written
/// as an escape (valid JSON, decoding to the name) and shown escaped.
#[tokio::test]
async fn hidden_characters_of_a_client_are_escaped_in_the_audit_file_and_on_the_status_page() {
    let dir = temp_dir();
    let file = dir.join("audit.jsonl");
    let app = monitored(&format!("audit:\n  file: {}\n", file.display())).await;
    let name = "evil\u{202e}gpj.exe\u{2028}x";
    let created = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": name, "emails": [{"value": "evil@example.org"}]}),
        )
        .await;
    assert!(created.status >= 400, "{}", created.body);
    let written = std::fs::read_to_string(&file).expect("audit file");
    assert_eq!(written.lines().count(), 1, "{written}");
    for raw in ['\u{202e}', '\u{2028}'] {
        assert!(!written.contains(raw), "{raw:?} raw in {written}");
    }
    assert!(
        written.contains("\\u202e") && written.contains("\\u2028"),
        "{written}"
    );
    let line: Value = serde_json::from_str(written.trim_end()).expect("valid JSON");
    assert_eq!(line["account_name"], name, "decodes to the name sent");
    assert_eq!(line["outcome"], "failed");

    let (_, html) = text(&app, "/status").await;
    for raw in ['\u{202e}', '\u{2028}'] {
        assert!(!html.contains(raw), "{raw:?} raw in the status page");
    }
    assert!(html.contains("evil\\u202egpj.exe\\u2028x"), "{html}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scanner's requests to paths no route serves are answered 404 and
/// counted as requests of no site and no client, so that the alerts on
/// requests without a valid token see them; the path is never a label.
/// Health probes stay uncounted.
#[tokio::test]
async fn requests_no_route_serves_are_counted_without_their_path() {
    let app = monitored("").await;
    let root = app.base.trim_end_matches("/scim/v2");
    let paths = [
        "/",
        "/metrics",
        "/favicon.ico",
        "//sites/beta/scim/v2/Users",
        "/x",
        "/sites",
    ];
    for path in paths {
        let answer = reqwest::get(format!("{root}{path}")).await.expect("answer");
        assert_eq!(answer.status(), 404, "{path}");
    }
    for probe in ["/healthz", "/readyz"] {
        let answer = reqwest::get(format!("{root}{probe}"))
            .await
            .expect("answer");
        assert_eq!(answer.status(), 200);
    }
    let (_, metrics) = text(&app, "/metrics").await;
    assert_eq!(
        value(&metrics, "scim_bridge_scim_requests_total{site=\"none\",operation=\"none\",resource_type=\"none\",status_class=\"4xx\",client=\"none\"}"),
        paths.len() as f64,
        "{metrics}"
    );
    assert!(!metrics.contains("favicon"), "{metrics}");
    assert!(
        !metrics.contains("status_class=\"2xx\""),
        "health probes are not counted: {metrics}"
    );
}

/// The sum of every series of `family` (its name up to the labels).
fn total(metrics: &str, family: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter_map(|l| l.rsplit_once(' ')?.1.trim().parse::<f64>().ok())
        .sum()
}

/// A call the bridge refuses itself (the concurrency limit's queue is
/// full) never reached Drupal: it is counted in `drupal_shed_total`, not
/// in `drupal_requests_total` nor in the SCIM request's Drupal requests.
#[tokio::test]
async fn shed_calls_are_not_counted_as_drupal_requests() {
    let app = spawn_app_with(Options {
        extra_config: format!(
            "  concurrency: fixed\n  max_concurrency: 1\n  queue_limit: 0\n  retries: 0\n{MONITOR}"
        ),
        ..Options::default()
    })
    .await;
    app.log_in().await;
    let (_, before) = text(&app, "/metrics").await;
    let sent_before = app.drupal.request_count();
    app.drupal
        .set_latency(std::time::Duration::from_millis(300));
    let lists = (0..4).map(|_| app.filter_users("userName eq \"admin\""));
    let answers = futures_util::future::join_all(lists).await;
    app.drupal.set_latency(std::time::Duration::ZERO);
    let shed = answers.iter().filter(|a| a.status == 503).count();
    assert!(shed > 0 && shed < 4, "one slot, no queue: {shed} of 4 shed");
    let sent = (app.drupal.request_count() - sent_before) as f64;

    let (_, after) = text(&app, "/metrics").await;
    let delta = |family: &str| total(&after, family) - total(&before, family);
    assert!(!after.contains("outcome=\"shed\""), "{after}");
    assert_eq!(
        delta("scim_bridge_drupal_requests_total"),
        sent,
        "only what reached Drupal: {after}"
    );
    assert_eq!(
        delta("scim_bridge_drupal_shed_total"),
        shed as f64,
        "{after}"
    );
    assert!(
        after.contains("scim_bridge_drupal_shed_total{site=\"default\",operation=\"")
            && after.contains("reason=\"queue\"}"),
        "{after}"
    );
    assert_eq!(
        delta("scim_bridge_drupal_requests_per_scim_request_sum"),
        sent,
        "the shed SCIM requests made no Drupal request: {after}"
    );
}

/// Drupal's flood control pauses the bridge's logins for a minute: every
/// request is a 503 with the time left as `Retry-After` (temporary, not a
/// 502), and readiness says not ready, naming flood control.
#[tokio::test]
async fn a_flood_pause_is_a_503_with_the_time_left_and_not_ready() {
    let app = monitored("").await;
    app.drupal.rewrite_answers_to("POST", "/user/login", |answer| {
        answer.status = 403;
        answer.set_json(&json!({"message": "There have been more than 5 failed login attempts for this account. It is temporarily blocked. Try again later or request a new password."}));
    });
    for _ in 0..2 {
        let answer = app.filter_users("userName eq \"admin\"").await;
        answer.assert_scim_error(503, None);
        let wait: u64 = answer
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!((55..=60).contains(&wait), "{wait}");
    }
    // Nothing was sent while paused: no Drupal request, calls shed.
    let (_, metrics) = text(&app, "/metrics").await;
    assert!(
        metrics.contains("reason=\"login\"}"),
        "the paused calls are shed: {metrics}"
    );
    assert!(
        !metrics.contains("outcome=\"credentials\"}"),
        "no call reached Drupal: {metrics}"
    );
    let (status, body) = text(&app, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["not_ready"], json!(["drupal"]), "{body}");
    assert!(
        body["drupal"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("flood control")),
        "{body}"
    );
}
