//! How the bridge authenticates to Drupal: one session login reused, a new
//! login when the session is gone, one login for many concurrent requests,
//! no second try of a wrong password; basic auth; OAuth2 tokens renewed
//! before they expire and after Drupal refuses them.

use std::time::Duration;

use drupal_scim_bridge::standin::{AuthKind, OAuthClientSeed, StandInConfig, StandInHandle};
use serde_json::json;

use crate::helpers::{spawn_app_with, Options, DRUPAL_PASSWORD};

fn logins(drupal: &StandInHandle) -> usize {
    drupal
        .requests()
        .iter()
        .filter(|r| r.path == "/user/login")
        .count()
}

fn token_requests(drupal: &StandInHandle) -> usize {
    drupal
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token")
        .count()
}

fn deactivate() -> serde_json::Value {
    json!({"Operations": [{"op": "replace", "path": "active", "value": false}]})
}

#[tokio::test]
async fn session_mode_logs_in_once_and_sends_the_cookie_on_reads_and_writes() {
    let app = spawn_app_with(Options::default()).await;
    let id = app.create_user("ana", "ana@example.org").await;
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    let patched = app.patch(&format!("/Users/{id}"), &deactivate()).await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);

    assert_eq!(logins(&app.drupal), 1);
    let jsonapi: Vec<_> = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/jsonapi"))
        .collect();
    assert!(jsonapi.len() >= 5);
    assert!(
        jsonapi.iter().all(|r| r.auth == AuthKind::Cookie),
        "no password on any JSON:API request: {jsonapi:?}"
    );
}

#[tokio::test]
async fn an_expired_session_is_replaced_by_one_new_login_for_reads_and_writes() {
    let app = spawn_app_with(Options::default()).await;
    let id = app.create_user("ben", "ben@example.org").await;
    assert_eq!(logins(&app.drupal), 1);

    app.drupal.expire_sessions();
    let read = app.get(&format!("/Users/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["userName"], "ben");
    assert_eq!(logins(&app.drupal), 2);

    app.drupal.expire_sessions();
    app.drupal.clear_requests();
    // The write's read runs anonymously first: stripped data, new login.
    let write = app.patch(&format!("/Users/{id}"), &deactivate()).await;
    assert_eq!(write.status, 200, "{}", write.body);
    assert_eq!(
        app.drupal_user("ben").unwrap()["attributes"]["status"],
        false
    );
    assert_eq!(logins(&app.drupal), 1);
}

#[tokio::test]
async fn a_write_refused_for_a_lost_session_is_sent_again_after_a_new_login() {
    let app = spawn_app_with(Options::default()).await;
    app.log_in().await;
    app.drupal.expire_sessions();
    let created = app
        .post(
            "/Users",
            &json!({"userName": "cal", "emails": [{"value": "cal@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let methods: Vec<(String, String)> = app
        .drupal
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(
        methods,
        vec![
            ("POST".to_string(), "/jsonapi/user/user".to_string()),
            ("POST".to_string(), "/user/login".to_string()),
            ("POST".to_string(), "/jsonapi/user/user".to_string()),
        ],
        "refused (403, nothing written), one login, sent again"
    );
    assert_eq!(app.drupal.user_count(), 2);
}

#[tokio::test]
async fn concurrent_requests_wait_for_a_single_login() {
    let app = spawn_app_with(Options::default()).await;
    app.drupal.set_latency(Duration::from_millis(100));
    let requests = (0..16).map(|_| app.filter_users("userName eq \"admin\""));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(logins(&app.drupal), 1);

    app.drupal.expire_sessions();
    app.drupal.clear_requests();
    let requests = (0..16).map(|_| app.filter_users("userName eq \"admin\""));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!(logins(&app.drupal), 1, "one new login for all of them");
}

#[tokio::test]
async fn a_wrong_password_is_tried_once_then_every_request_is_a_bad_gateway() {
    let app = spawn_app_with(Options {
        drupal_password: "wrong-password".into(),
        ..Options::default()
    })
    .await;
    for _ in 0..6 {
        let answer = app.filter_users("userName eq \"admin\"").await;
        answer.assert_scim_error(502, None);
        assert!(answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("credentials"));
    }
    assert_eq!(logins(&app.drupal), 1, "flood control never reached");
    assert_eq!(app.drupal.request_count(), 1, "nothing else was sent");
}

#[tokio::test]
async fn basic_mode_sends_the_password_on_every_request_and_keeps_no_cookie() {
    let app = spawn_app_with(Options {
        drupal_auth: Some(format!(
            "    mode: basic\n    username: admin\n    password: \"{DRUPAL_PASSWORD}\"\n"
        )),
        ..Options::default()
    })
    .await;
    let id = app.create_user("dan", "dan@example.org").await;
    // DELETE answers set a cookie; keeping it would make Drupal ask for CSRF tokens.
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let again = app.create_user("dan2", "dan2@example.org").await;
    assert_eq!(
        app.patch(&format!("/Users/{again}"), &deactivate())
            .await
            .status,
        200
    );
    assert_eq!(logins(&app.drupal), 0);
    assert!(app.drupal.requests().iter().all(|r| r.auth
        == AuthKind::Basic {
            user: "admin".into()
        }));
}

#[tokio::test]
async fn basic_mode_with_a_wrong_password_stops_at_the_first_anonymous_answer() {
    let app = spawn_app_with(Options {
        drupal_auth: Some("    mode: basic\n    username: admin\n    password: nope\n".into()),
        ..Options::default()
    })
    .await;
    let id = app.seed_user("eve", "eve@example.org");
    // Requests sent at once: Drupal counts each request with a wrong
    // password as a failed login (five lock the account), so the
    // credentials are tried once, alone, by asking Drupal who they are.
    let path = format!("/Users/{id}");
    let answers = futures_util::future::join_all((0..3).map(|_| app.get(&path))).await;
    for answer in answers {
        answer.assert_scim_error(502, None);
    }
    let sent = app.drupal.request_count();
    assert_eq!(sent, 1, "{:?}", app.drupal.requests());
    assert_eq!(
        app.drupal.requests()[0].path,
        "/jsonapi",
        "who the bridge is"
    );
    app.get(&format!("/Users/{id}"))
        .await
        .assert_scim_error(502, None);
    app.post(
        "/Users",
        &json!({"userName": "fay", "emails": [{"value": "fay@example.org"}]}),
    )
    .await
    .assert_scim_error(502, None);
    assert_eq!(app.drupal.request_count(), sent, "no further password sent");
}

#[tokio::test]
async fn basic_mode_survives_a_read_of_the_anonymous_account() {
    let anonymous = uuid::Uuid::new_v4();
    let mut standin = StandInConfig::demo(DRUPAL_PASSWORD);
    standin.anonymous_uuid = Some(anonymous);
    let app = spawn_app_with(Options {
        standin,
        drupal_auth: Some(format!(
            "    mode: basic\n    username: admin\n    password: \"{DRUPAL_PASSWORD}\"\n"
        )),
        ..Options::default()
    })
    .await;
    app.get(&format!("/Users/{anonymous}"))
        .await
        .assert_scim_error(404, None);
    let id = app.create_user("after", "after@example.org").await;
    assert_eq!(
        app.get(&format!("/Users/{id}")).await.status,
        200,
        "credentials still in use"
    );
}

#[tokio::test]
async fn basic_mode_with_a_wrong_password_stops_after_a_lookup_and_a_refused_create() {
    let app = spawn_app_with(Options {
        drupal_auth: Some("    mode: basic\n    username: admin\n    password: nope\n".into()),
        ..Options::default()
    })
    .await;
    // The IdP's create flow: look the user up (anonymous sees nothing), then create.
    let lookup = app.filter_users("userName eq \"gil\"").await;
    assert!(
        lookup.status == 200 || lookup.status == 502,
        "{}",
        lookup.body
    );
    app.post(
        "/Users",
        &json!({"userName": "gil", "emails": [{"value": "gil@example.org"}]}),
    )
    .await
    .assert_scim_error(502, None);
    // The role list (which an anonymous caller gets empty, like an account
    // without 'administer permissions'), the lookup, the create, and one
    // check of who the bridge is: fewer than the 5 failures after which
    // Drupal locks the account. (`serve` checks at start-up, before any.)
    let sent = app.drupal.request_count();
    assert!(sent <= 4, "{:?}", app.drupal.requests());
    for _ in 0..3 {
        app.post(
            "/Users",
            &json!({"userName": "gil", "emails": [{"value": "gil@example.org"}]}),
        )
        .await
        .assert_scim_error(502, None);
    }
    assert_eq!(app.drupal.request_count(), sent, "no further password sent");
}

pub(crate) fn oauth_options(secret: &str) -> Options {
    let mut standin = StandInConfig::demo(DRUPAL_PASSWORD);
    standin.oauth_clients.push(OAuthClientSeed {
        client_id: "scim-bridge".into(),
        secret: "client-secret-1".into(),
        user: "admin".into(),
    });
    Options {
        standin,
        drupal_auth: Some(format!(
            "    mode: oauth2\n    client_id: scim-bridge\n    client_secret: {secret}\n"
        )),
        ..Options::default()
    }
}

#[tokio::test]
async fn oauth2_fetches_one_token_and_sends_it_as_a_bearer() {
    let app = spawn_app_with(oauth_options("client-secret-1")).await;
    let id = app.create_user("gus", "gus@example.org").await;
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    assert_eq!(
        app.patch(&format!("/Users/{id}"), &deactivate())
            .await
            .status,
        200
    );
    assert_eq!(token_requests(&app.drupal), 1);
    assert!(app
        .drupal
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/jsonapi"))
        .all(|r| r.auth == AuthKind::Bearer));
}

#[tokio::test]
async fn an_oauth2_token_is_renewed_before_it_expires() {
    let app = spawn_app_with(oauth_options("client-secret-1")).await;
    app.drupal.set_token_lifetime(2);
    app.log_in().await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let answer = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(answer.status, 200);
    let paths: Vec<String> = app.drupal.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec!["/oauth/token".to_string(), "/jsonapi/user/user".to_string()],
        "renewed ahead of expiry: Drupal never refused the old token"
    );
}

#[tokio::test]
async fn a_token_drupal_refuses_is_replaced_and_the_request_sent_again() {
    let app = spawn_app_with(oauth_options("client-secret-1")).await;
    app.log_in().await;
    app.drupal.revoke_tokens();
    let answer = app.filter_users("userName eq \"admin\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(token_requests(&app.drupal), 1);
    assert_eq!(
        app.drupal.request_count(),
        3,
        "401, token, the request again"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_tried_once() {
    let app = spawn_app_with(oauth_options("wrong-secret")).await;
    for _ in 0..3 {
        app.filter_users("userName eq \"admin\"")
            .await
            .assert_scim_error(502, None);
    }
    assert_eq!(app.drupal.request_count(), 1);
}

#[tokio::test]
async fn a_login_that_meets_a_5xx_is_retried_even_for_a_write() {
    let app = spawn_app_with(Options::default()).await;
    app.drupal.fail_next(1, 503);
    let created = app
        .post(
            "/Users",
            &json!({"userName": "hoa", "emails": [{"value": "hoa@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let paths: Vec<String> = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/jsonapi/user_role"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        paths,
        [
            "POST /user/login",
            "POST /user/login",
            "POST /jsonapi/user/user"
        ],
        "the create itself was sent once"
    );
}

#[tokio::test]
async fn a_lookup_refused_to_a_lost_session_logs_in_again() {
    let app = spawn_app_with(Options::default()).await;
    app.create_user("ivy", "ivy@example.org").await;
    app.drupal.expire_sessions();
    app.drupal.clear_requests();
    // Anonymous callers may not filter on mail: Drupal answers 403.
    let found = app
        .filter_users("emails.value eq \"ivy@example.org\"")
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(logins(&app.drupal), 1);
}

/// A lost session makes Drupal answer a filter on `name` as to an
/// anonymous caller: an empty collection, not an error, but one whose
/// answer deletes the session cookie. The bridge does not take it for "no
/// such user" (an IdP would create the user again, or see its import
/// empty): it logs in again and repeats the lookup, even a moment after a
/// write showed the session valid.
#[tokio::test]
async fn an_empty_lookup_under_a_lost_session_logs_in_again() {
    let app = spawn_app_with(Options::default()).await;
    app.create_user("uma", "uma@example.org").await;
    app.drupal.expire_sessions();
    app.drupal.clear_requests();
    let found = app.filter_users("userName eq \"uma\"").await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(logins(&app.drupal), 1);

    // A real miss costs no more requests.
    app.drupal.clear_requests();
    let missing = app.filter_users("userName eq \"nobody\"").await;
    assert_eq!(missing.body["totalResults"], 0, "{}", missing.body);
    assert_eq!(app.drupal.request_count(), 1, "{:?}", app.drupal.requests());
}

/// Basic credentials have no session whose end Drupal would announce: an
/// account blocked in Drupal just gets anonymous answers, and a lookup an
/// empty collection. The bridge asks `GET /jsonapi` who it is before it
/// believes an empty answer, even a moment after a write, and stops at
/// the anonymous one (a 502, not "no such user").
#[tokio::test]
async fn basic_mode_does_not_take_an_anonymous_empty_lookup_for_a_miss() {
    let app = spawn_app_with(Options {
        drupal_auth: Some(format!(
            "    mode: basic\n    username: admin\n    password: {DRUPAL_PASSWORD}\n"
        )),
        ..Options::default()
    })
    .await;
    app.create_user("wes", "wes@example.org").await;
    // A real miss: the lookup, and the question.
    app.drupal.clear_requests();
    let missing = app.filter_users("userName eq \"nobody\"").await;
    assert_eq!(missing.body["totalResults"], 0, "{}", missing.body);
    assert_eq!(app.drupal.request_count(), 2, "{:?}", app.drupal.requests());

    // Blocked right after a write: the next lookup already stops.
    app.create_user("xia", "xia@example.org").await;
    assert!(app.drupal.set_status("admin", false));
    let lookup = app.filter_users("userName eq \"wes\"").await;
    lookup.assert_scim_error(502, None);
    assert!(
        app.drupal.requests().iter().any(|r| r.path == "/jsonapi"),
        "GET /jsonapi asked: {:?}",
        app.drupal.requests()
    );
}

/// Drupal's dynamic page cache keeps the 403 it gives a lost session for
/// a filter on `roles` and serves it to later callers of the same URL.
/// The bridge's filters carry a key new with each login, so the URLs of a
/// new login are not the ones the lost session spoiled.
#[tokio::test]
async fn each_login_filters_users_with_urls_of_its_own() {
    let app = spawn_app_with(Options::default()).await;
    app.create_user("vic", "vic@example.org").await;
    let filtered = |drupal: &StandInHandle| -> Vec<String> {
        drupal
            .requests()
            .into_iter()
            .filter(|r| r.path == "/jsonapi/user/user" && r.query.contains("filter"))
            .map(|r| r.query)
            .collect()
    };
    app.drupal.clear_requests();
    app.filter_users("userName eq \"vic\"").await;
    let first = filtered(&app.drupal);
    assert!(!first.is_empty());
    let key = |query: &str| {
        query
            .split('&')
            .find(|pair| pair.starts_with("filter%5Blogin"))
            .map(|pair| pair.split("%5D").next().unwrap_or_default().to_string())
    };
    let first_key = key(&first[0]).expect("a login's key in the filter");
    app.drupal.expire_sessions();
    app.drupal.clear_requests();
    tokio::time::sleep(drupal_scim_bridge::drupal::PROOF_WINDOW).await;
    let found = app.filter_users("userName eq \"vic\"").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    let after: Vec<String> = filtered(&app.drupal)
        .iter()
        .filter_map(|q| key(q))
        .collect();
    assert!(
        after.contains(&first_key),
        "the lost session's request: {after:?}"
    );
    assert!(
        after.iter().any(|k| *k != first_key),
        "the new login's request has a key of its own: {after:?}"
    );
}

/// A login answered with an HTML page (a maintenance page, a proxy's), or
/// with a JSON success that sets no session cookie, is an answer the bridge
/// could not read: 503 with `Retry-After: 30`, as on every other endpoint,
/// not a 502 blaming the bridge's account. Drupal's well-formed refusal
/// stays a 502.
#[tokio::test]
async fn a_login_answered_with_html_or_without_a_cookie_is_a_503_to_retry() {
    let app = spawn_app_with(Options::default()).await;
    app.drupal
        .rewrite_answers_to("POST", "/user/login", |answer| {
            answer.status = 200;
            answer
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("set-cookie"));
            answer.set_header("Content-Type", "text/html; charset=UTF-8");
            answer.body = b"<html><body>Site under maintenance</body></html>".to_vec();
        });
    let answer = app.filter_users("userName eq \"admin\"").await;
    answer.assert_scim_error(503, None);
    assert_eq!(answer.header("retry-after"), Some("30"), "{}", answer.body);

    app.drupal
        .rewrite_answers_to("POST", "/user/login", |answer| {
            answer
                .headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("set-cookie"));
        });
    let answer = app.filter_users("userName eq \"admin\"").await;
    answer.assert_scim_error(503, None);
    assert_eq!(answer.header("retry-after"), Some("30"), "{}", answer.body);

    app.drupal.stop_rewriting_answers_to("POST", "/user/login");
    assert_eq!(app.filter_users("userName eq \"admin\"").await.status, 200);
}
