//! No secret — the SCIM bearer token, the Drupal password, or the basic-auth
//! header made from it — ever appears in a log line or a response body,
//! whatever goes wrong. A test binary of its own, because it installs the
//! process-wide log subscriber.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use base64::Engine;
use drupal_scim_bridge::telemetry::{self, CapturedLogs, LogFormat};
use serde_json::json;

use helpers::{read, spawn_app, spawn_app_with, Options, DRUPAL_PASSWORD, TOKEN};

#[tokio::test]
async fn secrets_never_reach_logs_or_response_bodies() {
    std::env::set_var("RUST_LOG", "trace");
    let logs = CapturedLogs::default();
    telemetry::init(LogFormat::Json, logs.clone()).expect("subscriber");

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
