//! The paths around `/{endpoint}/{id}`: which reach the handlers, with
//! which id, and which get the scope's "no such endpoint" answer. The id
//! routes are matched without a regular expression (`http::by_id`); these
//! answers are the ones the regular expression's routes gave.

use serde_json::Value;

use super::helpers::{captured_logs, read, spawn_app, TOKEN};

fn detail(body: &Value) -> &str {
    body["detail"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn only_one_segment_after_the_endpoint_is_an_id() {
    let app = spawn_app().await;
    let id = app.create_user("routed", "routed@example.org").await;
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    for path in [
        "/Users/".to_string(),
        format!("/Users/{id}/"),
        format!("/Users/{id}/x"),
        "/Users//".to_string(),
        format!("/Usersx/{id}"),
        "/Usersx".to_string(),
        "/Groups/".to_string(),
        "/Groups/a/b".to_string(),
        "/Groupsx".to_string(),
    ] {
        let answer = app.get(&path).await;
        answer.assert_scim_error(404, None);
        assert!(
            detail(&answer.body).starts_with("No SCIM endpoint at GET "),
            "{path}: {}",
            answer.body
        );
        assert!(
            detail(&answer.body).contains(&path),
            "{path}: {}",
            answer.body
        );
    }
    // Each method of an id route, and the 405 of the others.
    let answer = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    for endpoint in ["/Users", "/Groups"] {
        let answer = app
            .request(reqwest::Method::OPTIONS, &format!("{endpoint}/x"), None)
            .await;
        answer.assert_scim_error(405, None);
        assert_eq!(
            answer.header("allow"),
            Some("GET, HEAD, PUT, PATCH, DELETE")
        );
        assert!(detail(&answer.body).starts_with("OPTIONS is not supported on"));
    }
    // The static routes still come first.
    let answer = app.get("/Users/.search").await;
    answer.assert_scim_error(405, None);
    assert_eq!(answer.header("allow"), Some("POST"));
    let answer = app.get("/Groups/.search").await;
    assert_eq!(answer.header("allow"), Some("POST"));
}

#[tokio::test]
async fn the_id_is_percent_decoded_as_before() {
    let app = spawn_app().await;
    for (sent, seen) in [
        ("caf%C3%A9", "café"),
        ("a%2Fb", "a/b"),
        ("a%20b", "a b"),
        ("a+b", "a+b"),
        ("%41", "A"),
    ] {
        for endpoint in ["/Users", "/Groups"] {
            let answer = app.get(&format!("{endpoint}/{sent}")).await;
            answer.assert_scim_error(404, None);
            let said = detail(&answer.body);
            assert!(
                said.contains(&format!("with id {seen} "))
                    || said.contains(&format!("with id \"{seen}\" ")),
                "{endpoint}/{sent}: {}",
                answer.body
            );
        }
    }
}

/// An id whose percent-encoding decodes to bytes that are no UTF-8 text
/// (`%FF`, a Latin-1 `%E9`, a cut sequence) is refused with 400 saying so,
/// for every method, not looked up as U+FFFD ("No user with id �").
#[tokio::test]
async fn an_id_whose_percent_encoding_is_not_utf8_is_a_400() {
    let app = spawn_app().await;
    app.log_in().await;
    let user = serde_json::json!({"userName": "x", "emails": [{"value": "x@example.org"}]});
    let group = serde_json::json!({"displayName": "x"});
    let patch = serde_json::json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    for sent in ["%FF", "caf%E9", "%C3", "a%C3%28b"] {
        for (endpoint, body) in [("/Users", &user), ("/Groups", &group)] {
            let path = format!("{endpoint}/{sent}");
            for (method, body) in [
                (reqwest::Method::GET, None),
                (reqwest::Method::PUT, Some(body)),
                (reqwest::Method::PATCH, Some(&patch)),
                (reqwest::Method::DELETE, None),
            ] {
                let answer = app.request(method.clone(), &path, body).await;
                answer.assert_scim_error(400, None);
                let said = detail(&answer.body);
                assert!(
                    said.contains("percent-encoding") && said.contains("UTF-8"),
                    "{method} {path}: {}",
                    answer.body
                );
                assert!(!said.contains('\u{fffd}'), "{method} {path}: {said}");
            }
        }
        let answer = app.get(&format!("/Schemas/{sent}")).await;
        answer.assert_scim_error(400, None);
    }
    assert_eq!(app.drupal.request_count(), 0);
}

#[tokio::test]
async fn the_request_log_names_the_id_route_by_its_pattern() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let marker = "route-marker-5c1d";
    for path in [
        format!("/Users/{marker}"),
        format!("/Groups/{marker}-g"),
        format!("/Users/{marker}-x/y"),
    ] {
        let answer = read(
            app.client
                .get(format!("{}{path}", app.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 404, "{}", answer.body);
    }
    let contents = logs.contents();
    let routes_of = |needle: &str| -> Vec<String> {
        contents
            .lines()
            .filter(|l| l.contains(needle))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|l| l["span"]["route"].as_str().map(str::to_string))
            .collect()
    };
    let users = routes_of(&format!("/Users/{marker}\""));
    let users = if users.is_empty() {
        routes_of(&format!("\"{marker}\""))
    } else {
        users
    };
    assert!(!users.is_empty(), "{contents}");
    assert!(
        users.iter().all(|r| r == "/scim/v2/Users/{id}"),
        "{users:?}"
    );
    let groups = routes_of(&format!("{marker}-g"));
    assert!(!groups.is_empty());
    assert!(
        groups.iter().all(|r| r == "/scim/v2/Groups/{id}"),
        "{groups:?}"
    );
    let none = routes_of(&format!("{marker}-x/y"));
    assert!(!none.is_empty());
    assert!(
        none.iter()
            .all(|r| r == &format!("/scim/v2/Users/{marker}-x/y")),
        "{none:?}"
    );
}
