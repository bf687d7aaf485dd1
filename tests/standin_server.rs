//! The stand-in over HTTP: the request log, the handle's knobs, injected
//! faults and concurrent clients.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use drupal_scim_bridge::standin::{
    AccountSeed, AuthKind, CancelMethod, RoleSeed, StandIn, StandInConfig,
};
use serde_json::{json, Value};

const JSONAPI: &str = "application/vnd.api+json";

fn start() -> StandIn {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    StandIn::start(StandInConfig::demo("adminpass"), listener).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn try_create_user(drupal: &StandIn, name: &str) -> reqwest::Result<reqwest::Response> {
    let body = json!({"data": {"type": "user--user", "attributes": {"name": name, "mail": format!("{name}@example.com"), "status": true}}});
    client()
        .post(format!("{}/jsonapi/user/user", drupal.base_url()))
        .basic_auth("admin", Some("adminpass"))
        .header("Content-Type", JSONAPI)
        .body(body.to_string())
        .send()
        .await
}

async fn create_user(drupal: &StandIn, name: &str) -> reqwest::Response {
    try_create_user(drupal, name).await.unwrap()
}

#[tokio::test]
async fn every_request_is_logged_with_its_auth_kind() {
    let drupal = start();
    let handle = drupal.handle();
    client()
        .get(format!(
            "{}/jsonapi/user/user?filter[name]=admin",
            drupal.base_url()
        ))
        .basic_auth("admin", Some("adminpass"))
        .send()
        .await
        .unwrap();
    client()
        .get(format!("{}/jsonapi", drupal.base_url()))
        .send()
        .await
        .unwrap();
    let log = handle.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/jsonapi/user/user");
    assert_eq!(log[0].query, "filter[name]=admin");
    assert_eq!(
        log[0].auth,
        AuthKind::Basic {
            user: "admin".into()
        }
    );
    assert_eq!(log[1].auth, AuthKind::None);
    handle.clear_requests();
    assert_eq!(handle.request_count(), 0);
    drupal.stop().await;
}

#[tokio::test]
async fn a_created_user_is_visible_through_the_handle_with_links_on_the_real_port() {
    let drupal = start();
    let response = create_user(&drupal, "alice").await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let snapshot = drupal.handle().user_by_name("ALICE").unwrap();
    assert_eq!(
        location,
        format!("{}/jsonapi/user/user/{}", drupal.base_url(), snapshot.id())
    );
    assert_eq!(snapshot.attribute("status"), Some(&Value::Bool(true)));
    assert_eq!(drupal.handle().user_count(), 2);
    drupal.stop().await;
}

#[tokio::test]
async fn seeded_users_page_through_the_collection_fifty_at_a_time() {
    let drupal = start();
    let handle = drupal.handle();
    for n in 0..120 {
        handle
            .insert_user(AccountSeed::new(&format!("seed-{n:03}")))
            .unwrap();
    }
    let mut url = Some(format!(
        "{}/jsonapi/user/user?filter[status]=1&sort=name",
        drupal.base_url()
    ));
    let mut seen = 0;
    let mut pages = 0;
    while let Some(next) = url {
        let doc: Value = client()
            .get(&next)
            .basic_auth("admin", Some("adminpass"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen += doc["data"].as_array().unwrap().len();
        pages += 1;
        url = doc
            .pointer("/links/next/href")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    assert_eq!((seen, pages), (121, 3));
    drupal.stop().await;
}

#[tokio::test]
async fn delete_under_the_delete_cancel_method_frees_the_name() {
    let drupal = start();
    let handle = drupal.handle();
    handle.set_cancel_method(CancelMethod::Delete);
    let uuid = handle.insert_user(AccountSeed::new("victim")).unwrap();
    let response = client()
        .delete(format!("{}/jsonapi/user/user/{uuid}", drupal.base_url()))
        .basic_auth("admin", Some("adminpass"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert!(handle.user_by_name("victim").is_none());
    drupal.stop().await;
}

#[tokio::test]
async fn failed_requests_answer_the_status_without_changing_anything() {
    let drupal = start();
    let handle = drupal.handle();
    handle.fail_next(2, 503);
    for _ in 0..2 {
        let response = create_user(&drupal, "bob").await;
        assert_eq!(response.status().as_u16(), 503);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["errors"][0]["status"], "503");
    }
    assert!(handle.user_by_name("bob").is_none());
    assert_eq!(create_user(&drupal, "bob").await.status().as_u16(), 201);
    assert_eq!(handle.request_count(), 3);
    drupal.stop().await;
}

#[tokio::test]
async fn reset_connections_fail_on_the_client_side_and_change_nothing() {
    let drupal = start();
    let handle = drupal.handle();
    handle.reset_connections_next(1);
    // The connection drops before a status line is written.
    assert!(try_create_user(&drupal, "carol").await.is_err());
    assert!(handle.user_by_name("carol").is_none());
    assert_eq!(create_user(&drupal, "carol").await.status().as_u16(), 201);
    drupal.stop().await;
}

#[tokio::test]
async fn malformed_bodies_still_carry_out_the_write() {
    let drupal = start();
    let handle = drupal.handle();
    handle.malformed_body_next(1);
    let response = create_user(&drupal, "dave").await;
    assert_eq!(response.status().as_u16(), 201);
    assert!(response.json::<Value>().await.is_err());
    assert!(handle.user_by_name("dave").is_some());
    drupal.stop().await;
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let drupal = start();
    drupal.handle().set_latency(Duration::from_millis(150));
    let started = Instant::now();
    client()
        .get(format!("{}/jsonapi", drupal.base_url()))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    drupal.stop().await;
}

/// As Drupal does, a user write loads the account as it arrives and saves
/// it whole: with a latency, two PATCHes of different fields sent at once
/// both answer 200, and the later save puts back the field the earlier one
/// set. One after the other, both stay; a refused write saves nothing.
#[tokio::test]
async fn with_a_latency_concurrent_user_writes_overwrite_each_other_as_in_drupal() {
    let drupal = start();
    let handle = drupal.handle();
    let id = create_user(&drupal, "whole")
        .await
        .json::<Value>()
        .await
        .unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = |attributes: Value| {
        let body = json!({"data": {"type": "user--user", "id": id, "attributes": attributes}});
        client()
            .patch(format!("{}/jsonapi/user/user/{id}", drupal.base_url()))
            .basic_auth("admin", Some("adminpass"))
            .header("Content-Type", JSONAPI)
            .body(body.to_string())
            .send()
    };
    handle.set_latency(Duration::from_millis(100));
    let (first, second) = tokio::join!(
        patch(json!({"field_first_name": "A"})),
        patch(json!({"field_last_name": "B"}))
    );
    assert_eq!(first.unwrap().status().as_u16(), 200);
    assert_eq!(second.unwrap().status().as_u16(), 200);
    let user = handle.user_by_name("whole").unwrap();
    let kept = [
        user.attribute("field_first_name"),
        user.attribute("field_last_name"),
    ]
    .iter()
    .filter(|v| v.is_some_and(|v| !v.is_null()))
    .count();
    assert_eq!(kept, 1, "one change lost: {:?}", user.0["attributes"]);
    patch(json!({"field_first_name": "A"})).await.unwrap();
    patch(json!({"field_last_name": "B"})).await.unwrap();
    let refused = patch(json!({"mail": "not an address"})).await.unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let user = handle.user_by_name("whole").unwrap();
    assert_eq!(user.attribute("field_first_name"), Some(&json!("A")));
    assert_eq!(user.attribute("field_last_name"), Some(&json!("B")));
    assert_eq!(user.attribute("mail"), Some(&json!("whole@example.com")));
    drupal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_clients_each_create_their_user() {
    let drupal = start();
    let base = drupal.base_url();
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let base = base.clone();
            tokio::spawn(async move {
                let body = json!({"data": {"type": "user--user", "attributes": {"name": format!("c{n}"), "mail": format!("c{n}@example.com")}}});
                reqwest::Client::new()
                    .post(format!("{base}/jsonapi/user/user"))
                    .basic_auth("admin", Some("adminpass"))
                    .header("Content-Type", JSONAPI)
                    .body(body.to_string())
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 201);
    }
    assert_eq!(drupal.handle().user_count(), 33);
    drupal.stop().await;
}

#[tokio::test]
async fn session_login_then_csrf_protected_write() {
    let drupal = start();
    let login = client()
        .post(format!("{}/user/login?_format=json", drupal.base_url()))
        .header("Content-Type", "application/json")
        .body(r#"{"name":"admin","pass":"adminpass"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = login.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!({"data": {"type": "user--user", "attributes": {"name": "eve"}}}).to_string();
    let post = |csrf: Option<&str>| {
        let mut request = client()
            .post(format!("{}/jsonapi/user/user", drupal.base_url()))
            .header("Content-Type", JSONAPI)
            .header("Cookie", cookie.clone())
            .body(body.clone());
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status().as_u16(), 403);
    assert_eq!(post(Some(&token)).await.unwrap().status().as_u16(), 201);
    assert_eq!(
        drupal.handle().requests().last().unwrap().auth,
        AuthKind::Cookie
    );
    drupal.stop().await;
}

async fn get_json(drupal: &StandIn, path_and_query: &str) -> Value {
    client()
        .get(format!("{}{path_and_query}", drupal.base_url()))
        .basic_auth("admin", Some("adminpass"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn users_are_found_by_a_list_of_uuids_with_the_in_operator_on_id() {
    let drupal = start();
    let handle = drupal.handle();
    let ann = handle.insert_user(AccountSeed::new("ann")).unwrap();
    let ben = handle.insert_user(AccountSeed::new("ben")).unwrap();
    handle.insert_user(AccountSeed::new("cat")).unwrap();
    let doc = get_json(
        &drupal,
        &format!(
            "/jsonapi/user/user?filter[ids][condition][path]=id&filter[ids][condition][operator]=IN\
             &filter[ids][condition][value][]={ann}&filter[ids][condition][value][]={}\
             &fields[user--user]=name,drupal_internal__uid,roles",
            ben.to_uppercase()
        ),
    )
    .await;
    let names: Vec<&str> = doc["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ann", "ben"], "{doc}");
    assert!(
        doc["data"][0]["relationships"]["roles"].is_object(),
        "{doc}"
    );
    drupal.stop().await;
}

#[tokio::test]
async fn a_role_added_through_the_handle_is_listed_and_grantable() {
    let drupal = start();
    let handle = drupal.handle();
    let uuid = handle
        .add_role(RoleSeed::new("auditor", "Auditor", &[]))
        .unwrap();
    assert_eq!(handle.role_uuid("auditor"), Some(uuid.clone()));
    assert!(handle
        .add_role(RoleSeed::new("auditor", "Again", &[]))
        .is_err());
    let roles = get_json(&drupal, "/jsonapi/user_role/user_role").await;
    assert!(roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == uuid.as_str()));
    drupal.stop().await;
}

#[tokio::test]
async fn a_failing_path_fails_every_request_to_it_and_no_other() {
    let drupal = start();
    let handle = drupal.handle();
    let uuid = handle.insert_user(AccountSeed::new("flaky")).unwrap();
    let path = format!("/jsonapi/user/user/{uuid}/relationships/roles");
    handle.fail_requests_to(&path, 500);
    let editor = handle.role_uuid("editor").unwrap();
    for _ in 0..2 {
        let response = client()
            .post(format!("{}{path}", drupal.base_url()))
            .basic_auth("admin", Some("adminpass"))
            .header("Content-Type", JSONAPI)
            .body(json!({"data": [{"type": "user_role--user_role", "id": editor}]}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 500);
    }
    assert!(handle.user_by_name("flaky").unwrap().roles().is_empty());
    assert_eq!(create_user(&drupal, "steady").await.status().as_u16(), 201);
    drupal.stop().await;
}
