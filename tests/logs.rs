//! What the logs say: one structured event per SCIM request and per Drupal
//! call, tied by a request id, and never a secret. A test binary of its own,
//! because it installs the process-wide log subscriber.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use base64::Engine;
use drupal_scim_bridge::telemetry::CapturedLogs;
use serde_json::json;

use helpers::{read, spawn_app, spawn_app_with, Options, DRUPAL_PASSWORD, TOKEN};
use serde_json::Value;

/// The logs of every test in this binary, at trace level.
fn captured() -> CapturedLogs {
    std::env::set_var("RUST_LOG", "trace");
    helpers::captured_logs()
}

fn events() -> Vec<Value> {
    captured()
        .contents()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn each_scim_request_logs_one_event_tied_to_its_drupal_calls() {
    captured();
    let app = spawn_app().await;
    app.warm_role_cache().await;
    // Put into Drupal directly: not seen, so the bridge reads the list of
    // accounts to refuse (the anonymous account's id, then the list)
    // before the write, and names the account from the write's answer.
    let id = app.seed_user("logged.user", "logged@example.org");
    app.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
    )
    .await;

    let events = events();
    let request = events
        .iter()
        .find(|e| {
            e["message"] == "scim request"
                && e["operation"] == "patch_user"
                && e["scim_target"] == id.as_str()
        })
        .unwrap_or_else(|| {
            panic!(
                "one event for the PATCH: {}",
                captured()
                    .contents()
                    .lines()
                    .filter(|l| l.contains("scim request"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    let span = &request["span"];
    assert_eq!(span["method"], "PATCH");
    assert_eq!(span["route"], "/scim/v2/Users/{id}");
    assert_eq!(
        span["user"], "logged.user",
        "the account's name, found by the bridge"
    );
    assert_eq!(request["status"], 200);
    assert_eq!(request["outcome"], "ok");
    assert!(request["latency_ms"].as_f64().is_some());
    let request_id = span["request_id"].as_str().unwrap();
    let drupal_calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "drupal call" && e["span"]["request_id"] == request_id)
        .collect();
    assert_eq!(
        drupal_calls.len(),
        3,
        "two reads and a write: {drupal_calls:?}"
    );
    assert!(drupal_calls
        .iter()
        .all(|c| c["latency_ms"].as_f64().is_some() && c["outcome"] == "ok"));
    let same_request: Vec<&Value> = events
        .iter()
        .filter(|e| e["message"] == "scim request" && e["span"]["request_id"] == request_id)
        .collect();
    assert_eq!(same_request.len(), 1);

    // Seen a moment ago, the account is written unread: still named.
    app.patch(
        &format!("/Users/{id}"),
        &json!({"Operations": [{"op": "replace", "path": "active", "value": true}]}),
    )
    .await;
    let later = self::events();
    let unread = later
        .iter()
        .rfind(|e| e["message"] == "scim request" && e["scim_target"] == id.as_str())
        .expect("an event for the second PATCH");
    assert_ne!(unread["span"]["request_id"], request_id);
    assert_eq!(unread["span"]["user"], "logged.user");
    let calls = later
        .iter()
        .filter(|e| {
            e["message"] == "drupal call" && e["span"]["request_id"] == unread["span"]["request_id"]
        })
        .count();
    assert_eq!(calls, 1, "the write alone");
}

#[tokio::test]
async fn secrets_never_reach_logs_or_response_bodies() {
    let logs = captured();

    let mut bodies = Vec::new();
    let app = spawn_app().await;
    let id = app.create_user("sam", "sam@example.org").await;
    bodies.push(app.get(&format!("/Users/{id}")).await.body.to_string());
    bodies.push(
        app.post(
            "/Users",
            &json!({"userName": "sam", "password": "Users-Own-Pa55word"}),
        )
        .await
        .body
        .to_string(),
    );
    bodies.push(
        app.patch(&format!("/Users/{id}"), &json!({"Operations": [{"op": "replace", "path": "password", "value": "Another-Pa55word"}]}))
            .await
            .body
            .to_string(),
    );
    app.drupal.fail_next(1, 500);
    bodies.push(app.get(&format!("/Users/{id}")).await.body.to_string());
    app.drupal.set_read_only(true);
    bodies.push(app.delete(&format!("/Users/{id}")).await.body.to_string());
    let wrong = read(
        app.client
            .get(format!("{}/Users", app.base))
            .bearer_auth(format!("{TOKEN}-almost"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    bodies.push(wrong.body.to_string());

    let refused = spawn_app_with(Options {
        drupal_password: "Wrong-Drupal-Pa55word".into(),
        ..Options::default()
    })
    .await;
    bodies.push(refused.get("/Users").await.body.to_string());

    let logged = logs.contents();
    assert!(logged.contains("scim request"), "the logs were captured");
    assert!(logged.contains("drupal call"), "Drupal calls were logged");
    let basic = |pw: &str| base64::engine::general_purpose::STANDARD.encode(format!("admin:{pw}"));
    let secrets = [
        TOKEN.to_string(),
        DRUPAL_PASSWORD.to_string(),
        basic(DRUPAL_PASSWORD),
        "Wrong-Drupal-Pa55word".to_string(),
        basic("Wrong-Drupal-Pa55word"),
        "Users-Own-Pa55word".to_string(),
        "Another-Pa55word".to_string(),
    ];
    for secret in &secrets {
        assert!(
            !logged.contains(secret.as_str()),
            "a secret reached the logs"
        );
        for body in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "a secret reached a response body: {body}"
            );
        }
    }
}

#[tokio::test]
async fn client_values_reach_the_json_log_escaped_and_decode_to_what_was_sent() {
    let logs = captured();
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let member = "json\u{7f}\u{202e}\u{2066}\u{2028}member";
    app.patch(
        &format!("/Groups/{group}"),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": member}]}]}),
    )
    .await;
    let text = logs.contents();
    let line = text
        .lines()
        .find(|l| l.contains("json") && l.contains("a membership change"))
        .unwrap_or_else(|| panic!("the failed member is logged: {text}"));
    for raw in ['\u{7f}', '\u{202e}', '\u{2066}', '\u{2028}'] {
        assert!(!line.contains(raw), "{raw:?} reached the log raw: {line}");
    }
    let event: Value = serde_json::from_str(line).expect("still one JSON object");
    assert!(
        event["member"]
            .as_str()
            .unwrap()
            .starts_with("json\u{7f}\u{202e}"),
        "{event}"
    );
}

#[tokio::test]
async fn a_long_id_or_path_is_logged_as_a_short_prefix_marked_as_cut() {
    captured();
    let app = spawn_app().await;
    let id = "q".repeat(5_000);
    app.get(&format!("/Users/{id}")).await;
    let path = "p".repeat(5_000);
    app.get(&format!("/{path}")).await;
    let events = events();
    let target = events
        .iter()
        .find(|e| {
            e["message"] == "scim request"
                && e["operation"] == "get_user"
                && e["scim_target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("qqq"))
        })
        .expect("the request event");
    let logged = target["scim_target"].as_str().unwrap();
    assert!(
        logged.len() < 400 && logged.ends_with("(5000 characters)"),
        "{logged}"
    );
    let route = events
        .iter()
        .find(|e| {
            e["message"] == "scim request"
                && e["span"]["route"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("/scim/v2/ppp"))
        })
        .expect("the request event");
    assert!(
        route["span"]["route"].as_str().unwrap().len() < 400,
        "{route}"
    );
    for line in captured().contents().lines() {
        assert!(!line.contains(&"q".repeat(300)), "a whole id in the log");
    }
}

#[tokio::test]
async fn members_left_out_of_a_group_make_one_warning_per_request() {
    captured();
    let app = spawn_app_with(Options {
        extra_config: "unknown_members: skip\n".into(),
        ..Options::default()
    })
    .await;
    let editor = app.group_id("editor").await;
    let members: Vec<Value> = (0..200)
        .map(|i| json!({"value": format!("nobody-{i:03}")}))
        .collect();
    let answer = app
        .patch(
            &format!("/Groups/{editor}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": members}]}),
        )
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let warnings: Vec<Value> = events()
        .into_iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("members naming no account"))
                && e["group"] == "editor"
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0]["skipped"], 200);
    let named = warnings[0]["members"].as_str().unwrap();
    assert_eq!(named.matches("nobody-").count(), 5, "{named}");
}

/// GET `path` on `app`, and the request id the bridge answered with.
async fn get_with_id(app: &helpers::TestApp, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    (response.status().as_u16(), id)
}

/// The login events (`op` `login` or `token`) in the span of `request_id`.
fn login_events(request_id: &str) -> Vec<Value> {
    events()
        .into_iter()
        .filter(|e| {
            e["message"] == "drupal call"
                && (e["op"] == "login" || e["op"] == "token")
                && e["span"]["request_id"] == request_id
        })
        .collect()
}

/// What no login event may hold: the password or client secret sent, the
/// session cookie, CSRF token or access token Drupal answered with.
fn assert_no_secret(event: &Value, secrets: &[&str]) {
    let text = event.to_string();
    for secret in secrets.iter().chain(&["SESS", "Bearer", "csrf", "eyJ"]) {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    let fields: Vec<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in &fields {
        assert!(
            [
                "timestamp",
                "level",
                "target",
                "message",
                "op",
                "method",
                "path",
                "outcome",
                "status",
                "error",
                "latency_ms",
                "mode",
                "unlogged_failures",
                "span",
                "spans",
            ]
            .contains(field),
            "an unexpected field {field}: {text}"
        );
    }
}

/// A login is a Drupal call like any other: one event with its method,
/// path, outcome, status and latency, in the span of the request that
/// needed it. Failures while Drupal is down are not each logged.
#[tokio::test]
async fn each_login_is_logged_as_a_drupal_call_without_its_secrets() {
    captured();
    let app = spawn_app().await;
    let (status, request_id) = get_with_id(&app, "/Users?count=1").await;
    assert_eq!(status, 200);
    let logins = login_events(&request_id);
    assert_eq!(logins.len(), 1, "{logins:#?}");
    let login = &logins[0];
    assert_eq!(login["method"], "POST", "{login}");
    assert_eq!(login["path"], "/user/login?_format=json", "{login}");
    assert_eq!(login["outcome"], "ok", "{login}");
    assert_eq!(login["status"], 200, "{login}");
    assert_eq!(login["mode"], "session", "{login}");
    assert!(login["latency_ms"].as_f64().is_some(), "{login}");
    assert_no_secret(login, &[DRUPAL_PASSWORD]);

    // Drupal fails its logins: three attempts (the request's retries),
    // one event.
    app.drupal.expire_sessions();
    app.drupal.fail_requests_to("/user/login", 500);
    let (status, failed_id) = get_with_id(&app, "/Users?count=1").await;
    assert_eq!(status, 503);
    let failed = login_events(&failed_id);
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["outcome"], "error", "{}", failed[0]);
    assert_eq!(failed[0]["status"], 500, "{}", failed[0]);
    assert_eq!(failed[0]["level"], "WARN", "{}", failed[0]);
    assert!(failed[0]["error"].is_string(), "{}", failed[0]);
    assert_no_secret(&failed[0], &[DRUPAL_PASSWORD]);
    // The next login counts the failures it did not log.
    app.drupal.stop_failing_requests_to("/user/login");
    let (status, next_id) = get_with_id(&app, "/Users?count=1").await;
    assert_eq!(status, 200);
    let next = login_events(&next_id);
    assert_eq!(next.len(), 1, "{next:#?}");
    assert_eq!(next[0]["outcome"], "ok", "{}", next[0]);
    assert_eq!(next[0]["unlogged_failures"], 2, "{}", next[0]);
}

#[tokio::test]
async fn a_refused_login_and_token_request_are_logged_without_their_secrets() {
    captured();
    let app = spawn_app_with(Options {
        drupal_password: "Refused-Drupal-Pa55word".into(),
        ..Options::default()
    })
    .await;
    let (status, request_id) = get_with_id(&app, "/Users?count=1").await;
    assert_eq!(status, 502);
    let refused = login_events(&request_id);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["outcome"], "refused", "{}", refused[0]);
    assert_eq!(refused[0]["status"], 400, "{}", refused[0]);
    assert_no_secret(&refused[0], &["Refused-Drupal-Pa55word"]);

    let mut standin = drupal_scim_bridge::standin::StandInConfig::demo(DRUPAL_PASSWORD);
    standin
        .oauth_clients
        .push(drupal_scim_bridge::standin::OAuthClientSeed {
            client_id: "scim-bridge".into(),
            secret: "Right-Client-Secret-1".into(),
            user: "admin".into(),
        });
    for (secret, outcome, status) in [
        ("Right-Client-Secret-1", "ok", 200),
        ("Wrong-Client-Secret-2", "refused", 401),
    ] {
        let app = spawn_app_with(Options {
            standin: standin.clone(),
            drupal_auth: Some(format!(
                "    mode: oauth2\n    client_id: scim-bridge\n    client_secret: {secret}\n"
            )),
            ..Options::default()
        })
        .await;
        let (_, request_id) = get_with_id(&app, "/Users?count=1").await;
        let events = login_events(&request_id);
        assert_eq!(events.len(), 1, "{events:#?}");
        let event = &events[0];
        assert_eq!(event["op"], "token", "{event}");
        assert_eq!(event["path"], "/oauth/token", "{event}");
        assert_eq!(event["outcome"], outcome, "{event}");
        assert_eq!(event["status"], status, "{event}");
        assert_eq!(event["mode"], "oauth2", "{event}");
        assert_no_secret(event, &[secret]);
    }
    let logged = captured().contents();
    for secret in [
        "Refused-Drupal-Pa55word",
        "Right-Client-Secret-1",
        "Wrong-Client-Secret-2",
    ] {
        assert!(!logged.contains(secret), "{secret} reached the logs");
    }
}
