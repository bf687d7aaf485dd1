//! Member changes of term groups that grant roles, made at the same moment
//! (as Entra ID sends them: one member per PATCH, many at once): each
//! member's roles stay in step with its memberships, whatever order the
//! writes run in. A member's roles are decided under its account's turn,
//! from the account as it is then; and a rename, which changes what the
//! group grants, runs alone on its group.

use std::time::Duration;

use drupal_scim_bridge::standin::AccountSeed;
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::helpers::{patch_op, spawn_app_with, Answer, Options, TestApp};
use crate::term_groups::{new_group, term_mapping};

/// Long enough for concurrent requests' reads to overlap others' writes.
const LATENCY: Duration = Duration::from_millis(5);
/// The identity provider's connections (the tester ran 16).
const CLIENTS: usize = 16;

/// PATCHes of `(path, body)`, `CLIENTS` at a time, in this order.
async fn send_all(app: &TestApp, patches: Vec<(String, Value)>) -> Vec<Answer> {
    stream::iter(patches)
        .map(|(path, body)| async move { app.patch(&path, &body).await })
        .buffer_unordered(CLIENTS)
        .collect()
        .await
}

async fn spawn() -> TestApp {
    spawn_app_with(Options {
        mapping: term_mapping(),
        ..Options::default()
    })
    .await
}

/// Accounts `prefix0`, `prefix1`… straight in Drupal; their UUIDs.
fn seed(app: &TestApp, prefix: &str, n: usize) -> Vec<(String, String)> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let seeds: Vec<AccountSeed> = names
        .iter()
        .map(|name| {
            let mut seed = AccountSeed::new(name);
            seed.mail = Some(format!("{name}@example.org"));
            seed
        })
        .collect();
    let ids = app.drupal.insert_users(&seeds).expect("seeds");
    names.into_iter().zip(ids).collect()
}

/// Entra's one-member add.
fn add(id: &str) -> Value {
    patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": id}]}]))
}

/// Entra's one-member removal.
fn remove(id: &str) -> Value {
    patch_op(json!([{"op": "Remove", "path": "members", "value": [{"value": id}]}]))
}

fn succeeded(answer: &Answer) -> bool {
    matches!(answer.status, 200 | 204)
}

/// Groups A and B both grant `engineering`; every member of A moves to B,
/// the removals and the additions all at once: every one still holds
/// `engineering`, which B grants.
#[tokio::test]
async fn members_moved_at_once_between_two_groups_granting_a_role_keep_it() {
    let app = spawn().await;
    let users = seed(&app, "mover", 40);
    let a = new_group(&app, "Engineering").await;
    let b = new_group(&app, "Builders").await;
    let all: Vec<Value> = users.iter().map(|(_, id)| json!({"value": id})).collect();
    let filled = app
        .patch(
            &format!("/Groups/{a}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": all}])),
        )
        .await;
    assert!(succeeded(&filled), "{}", filled.body);
    app.drupal.set_latency(LATENCY);
    let patches = users
        .iter()
        .flat_map(|(_, id)| {
            [
                (format!("/Groups/{a}"), remove(id)),
                (format!("/Groups/{b}"), add(id)),
            ]
        })
        .collect();
    let answers = send_all(&app, patches).await;
    app.drupal.set_latency(Duration::ZERO);
    for answer in &answers {
        assert!(succeeded(answer), "{}", answer.body);
    }
    let lacking: Vec<&str> = users
        .iter()
        .filter(|(name, _)| {
            app.drupal.group_refs(name) != vec![b.clone()]
                || !app.roles_of(name).contains(&"engineering".to_string())
        })
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        lacking.is_empty(),
        "in B without engineering, or still in A: {lacking:?}"
    );
}

/// Add, remove, add, remove, add of one member of one group, all at once:
/// whichever order they run in, the member holds the role exactly when it
/// is a member.
#[tokio::test]
async fn one_member_added_and_removed_at_once_holds_the_role_exactly_when_a_member() {
    let app = spawn().await;
    let users = seed(&app, "flip", 8);
    let group = new_group(&app, "Engineering").await;
    let path = format!("/Groups/{group}");
    app.drupal.set_latency(LATENCY);
    for round in 0..4 {
        let patches = users
            .iter()
            .flat_map(|(_, id)| {
                (0..5).map(|i| match i % 2 {
                    0 => (path.clone(), add(id)),
                    _ => (path.clone(), remove(id)),
                })
            })
            .collect();
        let answers = send_all(&app, patches).await;
        for answer in &answers {
            assert!(succeeded(answer), "round {round}: {}", answer.body);
        }
        for (name, _) in &users {
            let member = app.drupal.group_refs(name) == vec![group.clone()];
            let holds = app.roles_of(name).contains(&"engineering".to_string());
            assert_eq!(
                member, holds,
                "round {round}: {name} member {member}, holds engineering {holds}"
            );
        }
    }
}

/// Members added one by one while the group is renamed to a name that
/// grants `engineering`: every member ends up holding it.
#[tokio::test]
async fn a_rename_that_grants_a_role_racing_additions_reaches_every_member() {
    let app = spawn().await;
    let users = seed(&app, "joiner", 40);
    let group = new_group(&app, "Neutral").await;
    let path = format!("/Groups/{group}");
    app.drupal.set_latency(LATENCY);
    let adds = send_all(
        &app,
        users
            .iter()
            .map(|(_, id)| (path.clone(), add(id)))
            .collect(),
    );
    let rename = async {
        tokio::time::sleep(Duration::from_millis(15)).await;
        app.patch(
            &path,
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Engineering"}])),
        )
        .await
    };
    let (answers, renamed) = tokio::join!(adds, rename);
    app.drupal.set_latency(Duration::ZERO);
    assert!(succeeded(&renamed), "{}", renamed.body);
    for answer in &answers {
        assert!(succeeded(answer), "{}", answer.body);
    }
    let lacking: Vec<&str> = users
        .iter()
        .filter(|(name, _)| !app.roles_of(name).contains(&"engineering".to_string()))
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(
        lacking.is_empty(),
        "members without engineering: {lacking:?}"
    );
}
