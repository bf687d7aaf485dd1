//! Every fault the stand-in can inject, with the SCIM answer the IdP gets
//! and the recovery; the concurrency limit; the circuit breaker.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{spawn_app_with, Options, TestApp};

async fn app_with(extra: &str) -> TestApp {
    let app = spawn_app_with(Options {
        extra_config: extra.to_string(),
        ..Options::default()
    })
    .await;
    app.log_in().await;
    app
}

fn count(app: &TestApp, method: &str) -> usize {
    app.drupal
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path.starts_with("/jsonapi"))
        .count()
}

fn deactivate() -> serde_json::Value {
    json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})
}

#[tokio::test]
async fn a_read_that_meets_a_5xx_is_retried_and_succeeds() {
    let app = app_with("").await;
    app.drupal.fail_next(2, 503);
    let answer = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 1);
    assert_eq!(count(&app, "GET"), 3, "two failures, then success");
}

#[tokio::test]
async fn a_read_that_keeps_failing_is_503_with_retry_after_and_recovers() {
    let app = app_with("").await;
    app.drupal.fail_next(3, 500);
    let answer = app.filter_users("userName eq \"admin\"").await;
    answer.assert_scim_error(503, None);
    assert_eq!(answer.header("retry-after"), Some("30"));
    assert_eq!(count(&app, "GET"), 3, "the first try and two retries");
    assert_eq!(app.filter_users("userName eq \"admin\"").await.status, 200);
}

#[tokio::test]
async fn a_write_that_meets_a_5xx_is_503_and_not_repeated() {
    let app = app_with("").await;
    // Just created, so the bridge writes without reading it first: the
    // fault meets the write.
    let id = app.create_user("hal", "hal@example.org").await;
    app.drupal.clear_requests();
    app.drupal.fail_next(1, 500);
    let answer = app.patch(&format!("/Users/{id}"), &deactivate()).await;
    answer.assert_scim_error(503, None);
    assert_eq!(
        count(&app, "PATCH"),
        1,
        "a write that may have run is not resent"
    );
    assert_eq!(
        app.drupal_user("hal").unwrap()["attributes"]["status"],
        true
    );
    let again = app.patch(&format!("/Users/{id}"), &deactivate()).await;
    assert_eq!(again.status, 200, "the IdP's own retry succeeds");
}

#[tokio::test]
async fn a_connection_reset_on_a_read_is_retried() {
    let app = app_with("").await;
    app.drupal.reset_connections_next(1);
    let answer = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(count(&app, "GET"), 2);
}

#[tokio::test]
async fn a_connection_reset_on_a_create_is_never_resent_blindly() {
    let app = app_with("").await;
    app.drupal.reset_connections_next(1);
    let body = json!({"userName": "jon", "emails": [{"value": "jon@example.org"}]});
    let answer = app.post("/Users", &body).await;
    // The stand-in dropped the request unhandled: the bridge looks the
    // account up by the id it chose, finds nothing, and says so.
    answer.assert_scim_error(503, None);
    assert_eq!(count(&app, "POST"), 1, "the create was sent once");
    assert!(app.drupal_user("jon").is_none());
    assert_eq!(app.post("/Users", &body).await.status, 201, "recovered");
}

#[tokio::test]
async fn a_malformed_body_on_a_read_is_retried() {
    let app = app_with("").await;
    app.drupal.malformed_body_next(1);
    let answer = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(count(&app, "GET"), 2);
}

#[tokio::test]
async fn a_malformed_body_on_a_write_is_503_with_retry_after_and_nothing_is_repeated() {
    let app = app_with("").await;
    let id = app.create_user("kai", "kai@example.org").await;
    app.drupal.clear_requests();
    app.drupal.malformed_body_next(1);
    let answer = app.patch(&format!("/Users/{id}"), &deactivate()).await;
    // Transient, as a connection cut at the same point would be.
    answer.assert_scim_error(503, None);
    assert!(answer.header("retry-after").is_some());
    assert_eq!(count(&app, "PATCH"), 1);
    assert_eq!(
        app.drupal_user("kai").unwrap()["attributes"]["status"],
        false,
        "Drupal did apply it; a retry of the PATCH would be harmless but is not sent"
    );
}

#[tokio::test]
async fn a_body_that_stalls_past_the_timeout_is_503_and_the_next_request_works() {
    let app = app_with("  retries: 0\n").await;
    app.drupal.slow_body_next(1, Duration::from_secs(3));
    let started = Instant::now();
    let answer = app.filter_users("userName eq \"admin\"").await;
    answer.assert_scim_error(503, None);
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "cut at the 2 s timeout"
    );
    assert_eq!(app.filter_users("userName eq \"admin\"").await.status, 200);
}

#[tokio::test]
async fn a_slow_body_within_the_timeout_is_waited_for() {
    let app = app_with("").await;
    app.drupal.slow_body_next(1, Duration::from_millis(300));
    let answer = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(count(&app, "GET"), 1);
}

#[tokio::test]
async fn past_the_concurrency_limit_and_queue_requests_get_503_at_once() {
    let app = app_with("  max_concurrency: 2\n  queue_limit: 2\n").await;
    app.drupal.set_latency(Duration::from_millis(600));
    let started = Instant::now();
    let requests = (0..8).map(|_| async {
        let answer = app.filter_users("userName eq \"admin\"").await;
        (answer, started.elapsed())
    });
    let answers = futures_util::future::join_all(requests).await;
    let served: Vec<_> = answers.iter().filter(|(a, _)| a.status == 200).collect();
    let refused: Vec<_> = answers.iter().filter(|(a, _)| a.status == 503).collect();
    assert_eq!(served.len(), 4, "two running, two queued");
    assert_eq!(refused.len(), 4);
    for (answer, at) in refused {
        answer.assert_scim_error(503, None);
        assert_eq!(answer.header("retry-after"), Some("1"));
        assert!(
            *at < Duration::from_millis(400),
            "refused at once, not after {at:?}"
        );
    }
    assert!(
        served
            .iter()
            .any(|(_, at)| *at >= Duration::from_millis(1200)),
        "the queued ones waited for a free slot"
    );
    assert_eq!(
        count(&app, "GET"),
        4,
        "Drupal saw only what the limit let through"
    );
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_failures_then_a_probe_closes_it() {
    let app = app_with("  retries: 0\n  breaker:\n    failures: 3\n    open_secs: 1\n").await;
    app.drupal.fail_next(3, 500);
    for _ in 0..3 {
        app.filter_users("userName eq \"admin\"")
            .await
            .assert_scim_error(503, None);
    }
    let sent = app.drupal.request_count();
    let started = Instant::now();
    let fast = app.filter_users("userName eq \"admin\"").await;
    fast.assert_scim_error(503, None);
    assert_eq!(
        fast.header("retry-after"),
        Some("30"),
        "at least 30 s, as for Drupal's own failures"
    );
    // Far below the 2 s timeout a Drupal call could take; the count below
    // is what proves no call was made.
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(app.drupal.request_count(), sent, "Drupal was left alone");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Drupal is back: the probe succeeds and closes the circuit, no restart.
    assert_eq!(app.filter_users("userName eq \"admin\"").await.status, 200);
    assert_eq!(app.filter_users("userName eq \"admin\"").await.status, 200);
}

/// Once open, the breaker passes on the largest wait Drupal asked for
/// while failing (within the hour), not only its own pause.
#[tokio::test]
async fn the_open_breaker_keeps_drupals_retry_after() {
    let app = app_with("  retries: 0\n  breaker:\n    failures: 2\n    open_secs: 1\n").await;
    app.drupal.set_failure_retry_after(Some("120"));
    app.drupal.fail_next(1, 429);
    let first = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(first.header("retry-after"), Some("120"));
    app.drupal.set_failure_retry_after(Some("7200"));
    app.drupal.fail_next(1, 503);
    let second = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(second.header("retry-after"), Some("3600"));
    let sent = app.drupal.request_count();
    let fast = app.filter_users("userName eq \"admin\"").await;
    fast.assert_scim_error(503, None);
    assert_eq!(app.drupal.request_count(), sent, "the breaker is open");
    assert_eq!(fast.header("retry-after"), Some("3600"));
}

#[tokio::test]
async fn a_failed_probe_keeps_the_breaker_open() {
    let app = app_with("  retries: 0\n  breaker:\n    failures: 2\n    open_secs: 1\n").await;
    app.drupal.fail_next(3, 503);
    for _ in 0..2 {
        app.filter_users("userName eq \"admin\"").await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.filter_users("userName eq \"admin\"")
        .await
        .assert_scim_error(503, None);
    let sent = app.drupal.request_count();
    app.filter_users("userName eq \"admin\"")
        .await
        .assert_scim_error(503, None);
    assert_eq!(
        app.drupal.request_count(),
        sent,
        "open again after the probe failed"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.filter_users("userName eq \"admin\"").await.status, 200);
}

/// The queue limit sheds whole SCIM requests, never parts of one: a group
/// PATCH becomes a lookup and one Drupal write per member, and once its
/// first call got through the queue its other calls wait their turn.
/// Every PATCH answered 503 changed nothing; every 2xx changed everything
/// (RFC 7644 §3.5.2: a PATCH is atomic).
#[tokio::test]
async fn a_group_patch_is_shed_whole_or_applied_whole_never_in_part() {
    let app = app_with(
        "  concurrency: fixed\n  max_concurrency: 2\n  queue_limit: 3\n  retries: 0\n  breaker:\n    failures: 0\n",
    )
    .await;
    let group = app.group_id("engineering").await;
    // Okta's push: remove one member, then add five.
    let pushes: Vec<(String, Vec<String>)> = (0..16)
        .map(|i| {
            app.seed_user_with_roles(&format!("leaving-{i}"), &["engineering"]);
            let joining = (0..5)
                .map(|j| app.seed_user_with_roles(&format!("joining-{i}-{j}"), &[]))
                .collect();
            (format!("leaving-{i}"), joining)
        })
        .collect();
    app.drupal.set_latency(Duration::from_millis(20));
    let patches = pushes.iter().map(|(leaving, joining)| {
        let app = &app;
        let group = &group;
        async move {
            let leaving_id = app.drupal_user(leaving).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            let value: Vec<_> = joining.iter().map(|id| json!({"value": id})).collect();
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "remove", "path": format!("members[value eq \"{leaving_id}\"]")},
                    {"op": "add", "path": "members", "value": value},
                ]
            });
            app.patch(&format!("/Groups/{group}"), &body).await
        }
    });
    let answers = futures_util::future::join_all(patches).await;
    app.drupal.set_latency(Duration::ZERO);

    let (mut applied, mut shed) = (0, 0);
    for (i, ((leaving, joining), answer)) in pushes.iter().zip(&answers).enumerate() {
        let left = !app.roles_of(leaving).contains(&"engineering".to_string());
        let joined = (0..joining.len())
            .filter(|j| {
                app.roles_of(&format!("joining-{i}-{j}"))
                    .contains(&"engineering".to_string())
            })
            .count();
        match answer.status {
            200..=299 => {
                applied += 1;
                assert!(
                    left && joined == 5,
                    "push {i} answered {} but left {left}, joined {joined}",
                    answer.status
                );
            }
            503 => {
                shed += 1;
                assert_eq!(answer.header("retry-after"), Some("1"), "{}", answer.body);
                assert!(
                    !left && joined == 0,
                    "push {i} answered 503 but changed Drupal (left {left}, joined {joined} of 5): {}",
                    answer.body
                );
            }
            other => panic!("push {i}: {other} {}", answer.body),
        }
    }
    assert!(applied > 0, "some pushes got through");
    assert!(shed > 0, "the queue limit shed some pushes");
}
