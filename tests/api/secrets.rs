//! A password a client sends is a secret: no answer and no log line repeats
//! it, whether the request is accepted or refused, and however it is
//! malformed (the Okta preset maps `password` to Drupal's `pass`).

use serde_json::{json, Value};

use crate::helpers::{captured_logs, patch_op, url_encode};
use crate::presets::spawn_preset;

const SECRET: &str = "PWSECRET";

/// Notes an answer that repeats the secret.
fn check(leaks: &mut Vec<String>, what: &str, status: u16, body: &Value) {
    let text = body.to_string();
    if text.contains(SECRET) {
        leaks.push(format!("{what}: {status} {text}"));
    }
}

#[tokio::test]
async fn a_password_is_repeated_by_no_answer_and_no_log_line() {
    let logs = captured_logs();
    let mut leaks = Vec::new();
    let app = spawn_preset("okta.yaml").await;
    let created = app
        .post(
            "/Users",
            &json!({"userName": "pwuser", "password": "PWSECRET-create-1",
                    "emails": [{"value": "pwuser@corp.example", "primary": true}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    check(&mut leaks, "create", created.status, &created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");

    let patches = [
        json!([{"op": "replace", "path": "password", "value": {"x": "PWSECRET-object"}}]),
        json!([{"op": "replace", "path": "password", "value": ["PWSECRET-array"]}]),
        json!([{"op": "replace", "path": "password", "value": 4_2}]),
        json!([{"op": "replace", "path": "password[value eq \"PWSECRET-filter\"]", "value": "x"}]),
        json!([{"op": "replace", "path": "password.sub\"PWSECRET-sub", "value": "x"}]),
        json!([{"op": "replace", "value": {"password": {"PWSECRET-key": 1}}}]),
        json!([{"op": "replace", "value": {"password": "PWSECRET-pathless", "userName": "bad#x"}}]),
        json!([{"op": "replace", "path": "password", "value": "PWSECRET-badmail"},
               {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "nope"}]),
    ];
    for operations in patches {
        let answer = app.patch(&path, &patch_op(operations.clone())).await;
        check(
            &mut leaks,
            &operations.to_string(),
            answer.status,
            &answer.body,
        );
    }
    let bodies = [
        json!({"userName": "bad#pw", "password": "PWSECRET-put"}),
        json!({"userName": "pw2", "password": {"v": "PWSECRET-object"}}),
        json!({"userName": "pw3", "password": ["PWSECRET-array"]}),
    ];
    for body in bodies {
        let put = app.put(&path, &body).await;
        check(&mut leaks, "put", put.status, &put.body);
        let post = app.post("/Users", &body).await;
        check(&mut leaks, "post", post.status, &post.body);
    }
    let bulk = app
        .post(
            "/Bulk",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "Operations": [{"method": "POST", "path": "/Users", "bulkId": "b1",
                                    "data": {"userName": "pw4", "password": ["PWSECRET-bulk"]}}]}),
        )
        .await;
    check(&mut leaks, "bulk", bulk.status, &bulk.body);
    for filter in [
        "password eq \"PWSECRET-filter-query\"",
        "userName eq \"x\" or password sw \"PWSECRET-filter-or\"",
        "password eq \"PWSECRET-unclosed",
    ] {
        let answer = app
            .get(&format!("/Users?filter={}", url_encode(filter)))
            .await;
        check(&mut leaks, filter, answer.status, &answer.body);
        let search = app.post("/Users/.search", &json!({"filter": filter})).await;
        check(&mut leaks, filter, search.status, &search.body);
    }
    let text = logs.contents();
    leaks.extend(
        text.lines()
            .filter(|l| l.contains(SECRET))
            .map(|l| format!("logged: {l}")),
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
}
