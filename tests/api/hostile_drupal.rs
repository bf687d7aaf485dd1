//! A broken or hostile Drupal (or a proxy rewriting its answers): answers
//! too long to hold, lifetimes no clock can hold, another account than the
//! one asked for, roles hidden, next links elsewhere, text too long to log.

use serde_json::json;

use super::helpers::*;

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

/// `expires_in` past what an `Instant` holds once panicked every request
/// (its connection dropped): the lifetime counts for a day at most.
#[tokio::test]
async fn a_token_lifetime_no_clock_can_hold_is_used_for_a_day_at_most() {
    for lifetime in [
        json!(18446744073709551615u64),
        json!(9300000000000000000u64),
    ] {
        let app = spawn_app_with(crate::drupal_auth::oauth_options("client-secret-1")).await;
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

/// `data` of `answer`, made to be the account `as_id` (with `name`, when
/// given): what a broken Drupal or a proxy mixing answers sends.
fn swap_user(answer: &mut drupal_scim_bridge::standin::Answer, as_id: &str, name: Option<&str>) {
    let mut body = answer.json();
    body["data"]["id"] = json!(as_id);
    if let Some(name) = name {
        body["data"]["attributes"]["name"] = json!(name);
        body["data"]["attributes"]["mail"] = json!(format!("{name}@example.org"));
    }
    answer.set_json(&body);
}

fn writes_to(app: &TestApp, path: &str) -> usize {
    app.drupal
        .requests()
        .iter()
        .filter(|r| r.method != "GET" && r.path.starts_with(path))
        .count()
}

/// A read of ada answered with bob's document is no answer about ada.
#[tokio::test]
async fn a_read_answered_with_another_account_is_a_bad_gateway() {
    let app = spawn_app().await;
    let ada = app.seed_user("ada", "ada@example.org");
    let bob = app.seed_user("bob", "bob@example.org");
    let swapped = bob.clone();
    app.drupal
        .rewrite_answers_to("GET", &format!("{USERS}/{ada}"), move |answer| {
            swap_user(answer, &swapped, Some("bob"))
        });
    let answer = app.get(&format!("/Users/{ada}")).await;
    answer.assert_scim_error(502, None);
    assert!(!answer.body.to_string().contains(&bob), "{}", answer.body);
}

/// A read-first PATCH of ada whose read names uid 1's UUID wrote uid 1.
/// Writes go to the account the bridge means; the broken read stops it.
#[tokio::test]
async fn a_read_naming_another_id_never_sends_a_write_there() {
    let app = spawn_app().await;
    let ada = app.seed_user("ada", "ada@example.org");
    let admin = app.drupal.user_by_name("admin").unwrap().id().to_string();
    let admin_state = |app: &TestApp| {
        let admin = app.drupal_user("admin").unwrap();
        (
            admin["attributes"]["status"].clone(),
            admin["attributes"]["name"].clone(),
            admin["attributes"]["changed"].clone(),
        )
    };
    let admin_before = admin_state(&app);
    let swapped = admin.clone();
    app.drupal
        .rewrite_answers_to("GET", &format!("{USERS}/{ada}"), move |answer| {
            swap_user(answer, &swapped, None)
        });
    app.drupal.clear_requests();
    let patch = patch_op(json!([
        {"op": "replace", "path": "displayName", "value": "Ada L."},
        {"op": "remove", "path": "name.givenName"}
    ]));
    let answer = app.patch(&format!("/Users/{ada}"), &patch).await;
    answer.assert_scim_error(502, None);
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada", "active": false, "emails": [{"value": "ada@example.org"}]});
    app.put(&format!("/Users/{ada}"), &put)
        .await
        .assert_scim_error(502, None);
    app.delete(&format!("/Users/{ada}"))
        .await
        .assert_scim_error(502, None);
    assert_eq!(writes_to(&app, USERS), 0, "{:?}", app.drupal.requests());
    assert_eq!(admin_state(&app), admin_before);
}

/// A create answered with bob's document: the bridge chose the new UUID,
/// so the answer is refused and the account looked up by that UUID.
#[tokio::test]
async fn a_create_answered_with_another_account_answers_the_account_created() {
    let app = spawn_app().await;
    let bob = app.seed_user("bob", "bob@example.org");
    let swapped = bob.clone();
    app.drupal.rewrite_answers_to("POST", USERS, move |answer| {
        swap_user(answer, &swapped, Some("bob"))
    });
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "carol", "emails": [{"value": "carol@example.org"}]}),
        )
        .await;
    let carol = app
        .drupal
        .user_by_name("carol")
        .expect("created")
        .id()
        .to_string();
    assert_ne!(carol, bob);
    if answer.status == 201 {
        assert_eq!(answer.body["id"], json!(carol), "{}", answer.body);
        assert_eq!(answer.body["userName"], json!("carol"));
    } else {
        answer.assert_scim_error(502, None);
    }
    assert!(!answer.body.to_string().contains(&bob));
}

/// The same for a term-backed group: a read of one group answered with
/// another term is refused, and no write goes to the other term.
#[tokio::test]
async fn a_term_read_answered_with_another_term_is_a_bad_gateway() {
    let app = spawn_app_with(Options {
        mapping: super::term_groups::term_mapping(),
        ..Options::default()
    })
    .await;
    let group = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": []});
    let ops = app.post("/Groups", &group("Ops")).await;
    let sales = app.post("/Groups", &group("Sales")).await;
    let (ops, sales) = (
        ops.body["id"].as_str().unwrap().to_string(),
        sales.body["id"].as_str().unwrap().to_string(),
    );
    let terms = "/jsonapi/taxonomy_term/scim_groups";
    let swapped = sales.clone();
    app.drupal
        .rewrite_answers_to("GET", &format!("{terms}/{ops}"), move |answer| {
            let mut body = answer.json();
            body["data"]["id"] = json!(swapped);
            answer.set_json(&body);
        });
    app.get(&format!("/Groups/{ops}"))
        .await
        .assert_scim_error(502, None);
    app.drupal.clear_requests();
    let rename = patch_op(json!([{"op": "replace", "path": "displayName", "value": "Ops 2"}]));
    let answer = app.patch(&format!("/Groups/{ops}"), &rename).await;
    assert_ne!(answer.status / 100, 2, "{}", answer.body);
    assert_eq!(writes_to(&app, &format!("{terms}/{sales}")), 0);
    assert!(app
        .drupal
        .terms()
        .iter()
        .any(|(_, name, _)| name == "Sales"));
}

/// ada holds administrator, so SCIM writes are refused (403); once every
/// read of ada leaves `relationships.roles` out (JSON:API Extras renaming
/// or disabling it, a field access hook), the bridge cannot tell, and
/// refuses every write with 502 naming the cause, rather than take the
/// account for one without a protected role.
#[tokio::test]
async fn an_account_whose_roles_drupal_hides_is_not_written() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let ada = app.seed_user_with_roles("ada-hidden", &["administrator"]);
    let deactivate = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    let depends = patch_op(json!([{"op": "remove", "path": "name.givenName"}]));
    app.patch(&format!("/Users/{ada}"), &depends)
        .await
        .assert_scim_error(403, None);
    let hide = |answer: &mut drupal_scim_bridge::standin::Answer| {
        let mut body = answer.json();
        if let Some(relationships) = body["data"]["relationships"].as_object_mut() {
            relationships.remove("roles");
        }
        answer.set_json(&body);
    };
    let path = format!("{USERS}/{ada}");
    app.drupal.rewrite_answers_to("GET", &path, hide);
    app.drupal.rewrite_answers_to("PATCH", &path, hide);
    let before = app.drupal_user("ada-hidden").unwrap();
    app.drupal.clear_requests();
    let put = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada-hidden", "active": false, "emails": [{"value": "ada-hidden@example.org"}]});
    for answer in [
        app.put(&format!("/Users/{ada}"), &put).await,
        app.patch(&format!("/Users/{ada}"), &depends).await,
        app.patch(&format!("/Users/{ada}"), &deactivate).await,
        app.delete(&format!("/Users/{ada}")).await,
    ] {
        answer.assert_scim_error(502, None);
        assert!(
            answer.body["detail"].as_str().unwrap().contains("roles"),
            "{}",
            answer.body
        );
    }
    assert_eq!(writes_to(&app, USERS), 0, "{:?}", app.drupal.requests());
    let after = app.drupal_user("ada-hidden").unwrap();
    assert_eq!(
        after["attributes"]["status"],
        before["attributes"]["status"]
    );
    assert_eq!(
        app.roles_of("ada-hidden"),
        vec!["administrator".to_string()]
    );
    assert!(logs
        .contents()
        .contains("does not show the roles of the account"));
    // Reads still answer.
    assert_eq!(app.get(&format!("/Users/{ada}")).await.status, 200);
}

/// A write made without a read (the account seen a moment ago) whose
/// answer shows a protected role, or no roles, is logged as an error.
#[tokio::test]
async fn a_write_answer_showing_a_protected_role_is_logged() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let id = app
        .create_user("gwen-granted", "gwen-granted@example.org")
        .await;
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    app.drupal.grant_role("gwen-granted", "administrator");
    let deactivate = patch_op(json!([{"op": "replace", "path": "active", "value": false}]));
    assert_eq!(
        app.patch(&format!("/Users/{id}"), &deactivate).await.status,
        200
    );
    assert!(logs
        .contents()
        .lines()
        .any(|l| l.contains("gwen-granted") && l.contains("\"level\":\"ERROR\"")));
    // The next write reads, and refuses.
    app.patch(&format!("/Users/{id}"), &deactivate)
        .await
        .assert_scim_error(403, None);
}

/// The lookup's answer carries a next link elsewhere, with a query that
/// drops the filter: the bridge asks for its own next page (its filter, the
/// next offset) on its own base URL, and answers the lookup alone.
#[tokio::test]
async fn a_next_link_only_says_a_next_page_exists() {
    let app = spawn_app().await;
    app.seed_user("ada", "ada@example.org");
    for n in 0..5 {
        app.seed_user(&format!("other-{n}"), &format!("other-{n}@example.org"));
    }
    app.log_in().await;
    app.drupal.rewrite_answers_to("GET", USERS, |answer| {
        let mut body = answer.json();
        body["links"]["next"] =
            json!({"href": "http://attacker.example:9999/whatever?page[limit]=50&sort=name"});
        answer.set_json(&body);
    });
    let answer = app.filter_users("userName eq \"ada\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], json!(1), "{}", answer.body);
    let names: Vec<&str> = answer.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ada"]);
    let lists: Vec<String> = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.path == USERS)
        .map(|r| r.query)
        .collect();
    assert!(!lists.is_empty());
    for query in &lists {
        assert!(
            query.contains("ada"),
            "every page keeps the filter: {query}"
        );
    }
}

/// An item Drupal lists twice counts once, in a lookup and in a list.
#[tokio::test]
async fn an_item_listed_twice_counts_once() {
    let app = spawn_app().await;
    app.seed_user("ada", "ada@example.org");
    app.log_in().await;
    app.drupal.rewrite_answers_to("GET", USERS, |answer| {
        let mut body = answer.json();
        if let Some(first) = body["data"].as_array().and_then(|d| d.first()).cloned() {
            body["data"].as_array_mut().unwrap().push(first);
        }
        answer.set_json(&body);
    });
    let answer = app.filter_users("userName eq \"ada\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], json!(1), "{}", answer.body);
    assert_eq!(answer.body["Resources"].as_array().unwrap().len(), 1);
    let all = app.get("/Users").await;
    assert_eq!(all.status, 200, "{}", all.body);
    let mut ids: Vec<&str> = all.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let listed = ids.len();
    assert_eq!(all.body["totalResults"], json!(listed));
    ids.dedup();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), listed, "{}", all.body);
}

/// A Drupal that answers every page with the same items and a next link
/// is not read forever.
#[tokio::test]
async fn the_same_page_over_and_over_ends_the_read() {
    let app = spawn_app().await;
    app.seed_user("ada", "ada@example.org");
    app.log_in().await;
    let first = std::sync::Arc::new(std::sync::Mutex::new(None::<serde_json::Value>));
    app.drupal.rewrite_answers_to("GET", USERS, move |answer| {
        let mut kept = first.lock().unwrap();
        let mut body = kept.get_or_insert_with(|| answer.json()).clone();
        body["links"]["next"] = json!({"href": "http://d/jsonapi/user/user?page[offset]=50"});
        answer.set_json(&body);
    });
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        app.get("/Users?filter=userName%20sw%20%22a%22"),
    )
    .await
    .expect("the read ends");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        app.drupal.request_count() < 20,
        "{}",
        app.drupal.request_count()
    );
}

/// A 400 with a 500,000-character detail: what is logged and answered is
/// cut to a bounded length.
#[tokio::test]
async fn drupals_long_text_is_cut_before_it_is_logged() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let id = app.seed_user("ada-verbose", "ada-verbose@example.org");
    app.log_in().await;
    let marker = "verbose-detail-";
    let long = format!("{marker}{}", "x".repeat(500_000));
    app.drupal
        .rewrite_answers_to("GET", &format!("{USERS}/{id}"), move |answer| {
            answer.status = 400;
            answer.set_json(
                &json!({"errors": [{"status": "400", "title": "Bad Request", "detail": long}]}),
            );
        });
    let answer = app.get(&format!("/Users/{id}")).await;
    answer.assert_scim_error(502, None);
    assert!(
        answer.body.to_string().len() < 4_000,
        "{}",
        answer.body.to_string().len()
    );
    let text = logs.contents();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(marker)).collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(line.len() < 4_000, "a log line of {} bytes", line.len());
    }
}

/// A redirect tells the IdP only that Drupal redirected; the target (which
/// may name internal hosts) is logged, cut.
#[tokio::test]
async fn a_redirects_target_is_logged_cut_and_not_told_to_the_idp() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let id = app.seed_user("ada-moved", "ada-moved@example.org");
    app.log_in().await;
    let target = format!("https://internal-host.corp.example/{}", "p".repeat(3000));
    app.drupal
        .rewrite_answers_to("GET", &format!("{USERS}/{id}"), move |answer| {
            answer.status = 301;
            answer.set_header("Location", &target);
        });
    let answer = app.get(&format!("/Users/{id}")).await;
    answer.assert_scim_error(502, None);
    assert!(
        !answer.body.to_string().contains("internal-host"),
        "{}",
        answer.body
    );
    let text = logs.contents();
    let logged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("internal-host.corp.example"))
        .collect();
    assert!(!logged.is_empty(), "the target is logged");
    assert!(logged.iter().all(|l| l.len() < 2_000));
}

/// `attributes.created: "not-a-date"` is no SCIM dateTime: meta leaves it
/// out (the rest of the account is shown).
#[tokio::test]
async fn a_created_that_is_not_a_date_is_left_out_of_meta() {
    let app = spawn_app().await;
    let id = app.seed_user("ada-dated", "ada-dated@example.org");
    let garble = |answer: &mut drupal_scim_bridge::standin::Answer| {
        let mut body = answer.json();
        let data = match body["data"].as_array_mut() {
            Some(items) => items.iter_mut().collect::<Vec<_>>(),
            None => vec![&mut body["data"]],
        };
        for item in data {
            item["attributes"]["created"] = json!("not-a-date");
            item["attributes"]["changed"] = json!("yesterday");
        }
        answer.set_json(&body);
    };
    app.drupal
        .rewrite_answers_to("GET", &format!("{USERS}/{id}"), garble);
    app.drupal.rewrite_answers_to("GET", USERS, garble);
    for answer in [
        app.get(&format!("/Users/{id}")).await.body,
        app.filter_users("userName eq \"ada-dated\"").await.body["Resources"][0].clone(),
    ] {
        assert_eq!(answer["userName"], json!("ada-dated"), "{answer}");
        assert!(answer["meta"].get("created").is_none(), "{answer}");
        assert!(answer["meta"].get("lastModified").is_none(), "{answer}");
        assert!(answer["meta"]["version"].is_string());
    }
}

/// A Drupal answering a full page of new accounts at every offset: the
/// count behind `totalResults` gives up (502) after a bounded number of
/// probes instead of doubling its offset until it overflows.
#[tokio::test]
async fn a_count_over_pages_that_never_end_gives_up() {
    let app = spawn_app().await;
    app.seed_user("ada", "ada@example.org");
    app.log_in().await;
    let kept = std::sync::Arc::new(std::sync::Mutex::new(None::<serde_json::Value>));
    app.drupal.rewrite_answers_to("GET", USERS, move |answer| {
        let mut body = answer.json();
        let mut kept = kept.lock().unwrap();
        if kept.is_none() {
            *kept = body["data"].as_array().and_then(|d| d.first()).cloned();
        }
        let Some(first) = kept.clone() else {
            return;
        };
        let page: Vec<serde_json::Value> = (0..50)
            .map(|_| {
                let mut item = first.clone();
                item["id"] = json!(uuid::Uuid::new_v4().to_string());
                item
            })
            .collect();
        body["data"] = json!(page);
        body["links"]["next"] = json!({"href": "http://d/jsonapi/user/user?page[offset]=50"});
        answer.set_json(&body);
    });
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.get("/Users?count=1"),
    )
    .await
    .expect("the count ends");
    answer.assert_scim_error(502, None);
    assert!(
        app.drupal.request_count() < 40,
        "{}",
        app.drupal.request_count()
    );
}
