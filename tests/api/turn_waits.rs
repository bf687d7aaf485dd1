//! A write waiting for its account's turn (another write to the same
//! account is running) waits no longer than one Drupal request may take
//! (`drupal.timeout_secs`, 2 s here): past that it is answered 503 with
//! `Retry-After`, nothing written. And a write whose client went away
//! while it waited is not sent.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::helpers::{spawn_app, TestApp, TOKEN};

fn replace(path: &str, value: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "path": path, "value": value}]})
}

/// The PATCHes of the account `id` Drupal received.
fn patches_of(app: &TestApp, id: &str) -> usize {
    let path = format!("/jsonapi/user/user/{id}");
    app.drupal
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path == path)
        .count()
}

#[tokio::test]
async fn writes_queued_behind_slow_ones_give_up_within_the_drupal_timeout() {
    let app = spawn_app().await;
    let id = app.create_user("turns-bob", "turns-bob@example.org").await;
    app.drupal.hold_requests_to(
        "PATCH",
        &format!("/jsonapi/user/user/{id}"),
        Duration::from_millis(1500),
    );
    app.drupal.clear_requests();
    let started = Instant::now();
    let answers = futures_util::future::join_all((0..5).map(|i| {
        let app = &app;
        let id = &id;
        async move {
            let answer = app
                .patch(
                    &format!("/Users/{id}"),
                    &replace("name.givenName", json!(format!("Bob {i}"))),
                )
                .await;
            (answer, started.elapsed())
        }
    }))
    .await;
    let elapsed = started.elapsed();
    let answers: Vec<_> = answers
        .into_iter()
        .map(|(a, at)| (a.status, a.header("retry-after").is_some(), a.body, at))
        .collect();
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(ok + refused.len(), 5, "{answers:?}");
    assert!(ok >= 1, "{answers:?}");
    assert!(
        refused.len() >= 2,
        "the later ones waited past 2 s: {answers:?}"
    );
    for (_, retry_after, body, at) in &refused {
        assert!(*retry_after, "{body}");
        assert!(*at < Duration::from_millis(3000), "refused after {at:?}");
        assert!(body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was written"));
    }
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert_eq!(
        patches_of(&app, &id),
        ok,
        "only the answered writes were sent"
    );
}

#[tokio::test]
async fn a_write_whose_client_left_while_it_waited_is_not_sent() {
    let app = spawn_app().await;
    let id = app.create_user("turns-amy", "turns-amy@example.org").await;
    app.drupal.hold_requests_to(
        "PATCH",
        &format!("/jsonapi/user/user/{id}"),
        Duration::from_millis(1500),
    );
    app.drupal.clear_requests();
    let (path, body) = (
        format!("/Users/{id}"),
        replace("name.givenName", json!("Slow")),
    );
    let slow = app.patch(&path, &body);
    let leaving = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let addr = app
            .base
            .trim_start_matches("http://")
            .trim_end_matches("/scim/v2")
            .to_string();
        let body = replace("active", json!(false)).to_string();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "PATCH /scim/v2/Users/{id} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // The client gives up, as `curl -m` does, while the write waits.
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(stream);
    };
    let (slow, ()) = tokio::join!(slow, leaving);
    assert_eq!(slow.status, 200, "{}", slow.body);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(patches_of(&app, &id), 1, "{:?}", app.drupal.requests());
    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(user.body["active"], true, "{}", user.body);
    assert_eq!(user.body["name"]["givenName"], "Slow", "{}", user.body);
}
