//! A broken or hostile Drupal (or a proxy rewriting its answers): answers
//! too long to hold, lifetimes no clock can hold, another account than the
//! one asked for, roles hidden, next links elsewhere, text too long to log.

use serde_json::json;

use super::helpers::*;
use drupal_scim_bridge::standin::{OAuthClientSeed, StandInConfig};

const USERS: &str = "/jsonapi/user/user";

fn capped(bytes: usize) -> Options {
    Options {
        extra_config: format!("  max_answer_bytes: {bytes}\n"),
        ..Options::default()
    }
}

/// An 800 MB answer is refused after the cap: announced by its
/// Content-Length at once, else once the cap is read. The IdP gets 503
/// with Retry-After, as for any unreadable answer, and the log says how
/// long the answer was.
#[tokio::test]
async fn an_answer_longer_than_the_cap_is_refused_without_being_held() {
    let logs = captured_logs();
    let app = spawn_app_with(capped(1 << 20)).await;
    let id = app.seed_user("ada-long", "ada-long@example.org");
    app.log_in().await;
    let path = format!("{USERS}/{id}");
    for announced in [true, false] {
        app.drupal
            .pad_answers_to("GET", &path, 800_000_000, announced);
        let started = std::time::Instant::now();
        let answer = app.get(&format!("/Users/{id}")).await;
        answer.assert_scim_error(503, None);
        assert!(answer.header("Retry-After").is_some());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "not read to its end: {:?}",
            started.elapsed()
        );
    }
    let text = logs.contents();
    assert!(
        text.contains("longer than drupal.max_answer_bytes")
            && text.contains("\"bytes\":800000000"),
        "the size seen is logged"
    );
    app.drupal.pad_answers_to("GET", &path, 0, false);
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
}

/// A page of 50 users with every field is well within the default cap.
#[tokio::test]
async fn the_default_cap_reads_full_pages_of_users() {
    let app = spawn_app().await;
    for n in 0..60 {
        app.seed_user(&format!("page-{n:02}"), &format!("page-{n:02}@example.org"));
    }
    let answer = app.get("/Users?count=100").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body["Resources"].as_array().unwrap().len() > 60);
}

#[test]
fn the_cap_is_a_setting_with_a_floor() {
    let yaml = |extra: &str| {
        format!("scim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: http://127.0.0.1:1\n  auth:\n    username: a\n    password: b\n{extra}")
    };
    let settings = drupal_scim_bridge::config::Settings::from_yaml(&yaml("")).unwrap();
    assert_eq!(settings.sites[0].drupal.limits.max_answer_bytes, 8 << 20);
    let settings =
        drupal_scim_bridge::config::Settings::from_yaml(&yaml("  max_answer_bytes: 100000\n"))
            .unwrap();
    assert_eq!(settings.sites[0].drupal.limits.max_answer_bytes, 100_000);
    let error = drupal_scim_bridge::config::Settings::from_yaml(&yaml("  max_answer_bytes: 10\n"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("max_answer_bytes"), "{error}");
}

fn oauth_options() -> Options {
    let mut standin = StandInConfig::demo(DRUPAL_PASSWORD);
    standin.oauth_clients.push(OAuthClientSeed {
        client_id: "scim-bridge".into(),
        secret: "client-secret-1".into(),
        user: "admin".into(),
    });
    Options {
        standin,
        drupal_auth: Some(
            "    mode: oauth2\n    client_id: scim-bridge\n    client_secret: client-secret-1\n"
                .into(),
        ),
        ..Options::default()
    }
}

/// `expires_in` past what an `Instant` holds once panicked every request
/// (its connection dropped): the lifetime counts for a day at most.
#[tokio::test]
async fn a_token_lifetime_no_clock_can_hold_is_used_for_a_day_at_most() {
    for lifetime in [
        json!(18446744073709551615u64),
        json!(9300000000000000000u64),
    ] {
        let app = spawn_app_with(oauth_options()).await;
        app.drupal
            .rewrite_answers_to("POST", "/oauth/token", move |answer| {
                let mut body = answer.json();
                body["expires_in"] = lifetime.clone();
                answer.set_json(&body);
            });
        for _ in 0..2 {
            let answer = app.filter_users("userName eq \"admin\"").await;
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        let tokens = app
            .drupal
            .requests()
            .iter()
            .filter(|r| r.path == "/oauth/token")
            .count();
        assert_eq!(tokens, 1, "the token is reused");
    }
}
