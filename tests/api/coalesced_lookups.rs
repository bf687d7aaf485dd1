//! Concurrent membership changes share their account checks: Entra sends
//! one member per PATCH, and the bridge reads the accounts concerned before
//! any write. Requests that arrive while such a read is in flight, with
//! Drupal busy, are checked together in the next `id IN (...)` read, each
//! still refused or applied on its own.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{patch_op, spawn_app_with, Answer, Options, TestApp};
use crate::term_groups::term_mapping;

/// Long enough that the requests fired together arrive while the first
/// check is still in flight, even on a busy machine.
const DRUPAL_LATENCY: Duration = Duration::from_millis(150);

/// Two requests at once to Drupal: the IdP's requests are more, so Drupal
/// is busy and checks gather.
const BUSY_DRUPAL: &str = "  concurrency: fixed\n  max_concurrency: 2\n";

/// Every account is read before its write, as for a site whose list of
/// accounts to refuse is too long to keep (see the bridge's write_guard),
/// or under role rules: a one-member add of an account not seen is
/// otherwise written unread, and there is nothing to share.
const READ_EVERY_MEMBER: &str = "account_cache_secs: 0\n";

fn reading_members() -> Options {
    Options {
        extra_config: READ_EVERY_MEMBER.into(),
        ..Options::default()
    }
}

fn busy_drupal(mapping: Option<String>) -> Options {
    let mut options = Options {
        extra_config: format!("{BUSY_DRUPAL}{READ_EVERY_MEMBER}"),
        ..Options::default()
    };
    if let Some(mapping) = mapping {
        options.mapping = mapping;
    }
    options
}

/// Entra's form: one member added per PATCH.
fn add_one(id: &str) -> Value {
    patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
}

/// The account checks Drupal served: collection reads of users by id.
fn account_reads(app: &TestApp) -> Vec<String> {
    app.drupal
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/jsonapi/user/user")
        .map(|r| percent_decode(&r.query))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                let hex = std::str::from_utf8(hex).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

async fn patch_all(app: &TestApp, group: &str, members: &[String]) -> Vec<Answer> {
    let path = format!("/Groups/{group}");
    join_all(members.iter().map(|id| {
        let path = &path;
        async move { app.patch(path, &add_one(id)).await }
    }))
    .await
}

#[tokio::test]
async fn concurrent_single_member_adds_share_account_reads_and_are_refused_one_by_one() {
    let app = spawn_app_with(busy_drupal(None)).await;
    let group = app.group_id("editor").await;
    let mut members: Vec<String> = (0..16)
        .map(|i| app.seed_user(&format!("member{i:02}"), &format!("m{i}@example.org")))
        .collect();
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let nobody = "00000000-0000-4000-8000-00000000beef".to_string();
    members.push(boss.clone());
    members.push(nobody.clone());
    app.warm_role_cache().await;
    app.drupal.clear_requests();
    app.drupal.set_latency(DRUPAL_LATENCY);

    let answers = patch_all(&app, &group, &members).await;

    for (i, answer) in answers[..16].iter().enumerate() {
        assert_eq!(answer.status, 204, "member{i:02}: {}", answer.body);
        assert_eq!(app.roles_of(&format!("member{i:02}")), vec!["editor"]);
    }
    answers[16].assert_scim_error(403, None);
    assert!(answers[16].body["detail"].as_str().unwrap().contains(&boss));
    answers[17].assert_scim_error(400, Some("invalidValue"));
    assert!(answers[17].body["detail"]
        .as_str()
        .unwrap()
        .contains(&nobody));
    assert_eq!(app.roles_of("boss"), vec!["administrator"]);

    let reads = account_reads(&app);
    // Typically four or five: the first three alone (no request waited
    // for Drupal yet), the others gathered meanwhile.
    assert!(
        reads.len() <= 8,
        "18 checks took {} reads: {reads:#?}",
        reads.len()
    );
    assert!(
        reads.iter().all(|q| q.contains("[operator]=IN")),
        "{reads:#?}"
    );
    // Every member was looked up, in some read, and only once.
    for id in &members {
        let in_reads = reads.iter().filter(|q| q.contains(id.as_str())).count();
        assert_eq!(in_reads, 1, "{id} in {reads:#?}");
    }
    let writes = app.drupal_writes();
    assert_eq!(writes.len(), 16, "{writes:#?}");
}

#[tokio::test]
async fn changes_drupal_has_room_for_read_their_accounts_at_once_and_alone() {
    let app = spawn_app_with(reading_members()).await;
    let group = app.group_id("editor").await;
    let members: Vec<String> = (0..4)
        .map(|i| app.seed_user(&format!("member{i}"), &format!("m{i}@example.org")))
        .collect();
    app.warm_role_cache().await;
    app.drupal.clear_requests();
    let lone = patch_all(&app, &group, &members[..1]).await;
    assert_eq!(lone[0].status, 204, "{}", lone[0].body);
    assert_eq!(account_reads(&app).len(), 1);

    // Four at once, under a limit of eight: nothing waits for Drupal, so
    // no check waits for another's.
    app.drupal.clear_requests();
    app.drupal.set_latency(DRUPAL_LATENCY);
    let answers = patch_all(&app, &group, &members[1..]).await;
    assert!(answers.iter().all(|a| a.status == 204));
    let reads = account_reads(&app);
    assert_eq!(reads.len(), 3, "{reads:#?}");
    for id in &members[1..] {
        assert_eq!(reads.iter().filter(|q| q.contains(id.as_str())).count(), 1);
    }
    for i in 0..4 {
        assert_eq!(app.roles_of(&format!("member{i}")), vec!["editor"]);
    }
}

#[tokio::test]
async fn a_failed_shared_read_fails_the_requests_it_checked_with_retry_after() {
    let app = spawn_app_with(reading_members()).await;
    let group = app.group_id("editor").await;
    let members: Vec<String> = (0..6)
        .map(|i| app.seed_user(&format!("member{i}"), &format!("m{i}@example.org")))
        .collect();
    app.warm_role_cache().await;
    app.drupal.set_latency(DRUPAL_LATENCY);
    app.drupal.fail_requests_to("/jsonapi/user/user", 503);
    let answers = patch_all(&app, &group, &members).await;
    for answer in &answers {
        assert!(
            matches!(answer.status, 502 | 503),
            "{} {}",
            answer.status,
            answer.body
        );
        assert!(answer.header("retry-after").is_some(), "{}", answer.body);
    }
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

#[tokio::test]
async fn term_backed_groups_share_account_reads_too() {
    let app = spawn_app_with(busy_drupal(Some(term_mapping()))).await;
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": "Sales Team", "members": []}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let group = created.body["id"].as_str().unwrap().to_string();
    let members: Vec<String> = (0..8)
        .map(|i| app.seed_user(&format!("seller{i}"), &format!("s{i}@example.org")))
        .collect();
    // One change first, so the group and the roles are read and cached.
    let first = patch_all(&app, &group, &members[..1]).await;
    assert_eq!(first[0].status, 204, "{}", first[0].body);
    app.drupal.clear_requests();
    app.drupal.set_latency(DRUPAL_LATENCY);

    let answers = patch_all(&app, &group, &members[1..]).await;
    for answer in &answers {
        assert_eq!(answer.status, 204, "{}", answer.body);
    }
    for i in 0..8 {
        assert_eq!(
            app.drupal.group_refs(&format!("seller{i}")),
            vec![group.clone()]
        );
    }
    let checks: Vec<String> = account_reads(&app)
        .into_iter()
        .filter(|q| q.contains("[path]=id") && q.contains("[operator]=IN"))
        .collect();
    assert!(checks.len() < 7, "7 checks took {checks:#?}");
}
