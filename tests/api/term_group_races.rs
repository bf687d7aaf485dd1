//! Term-backed groups written at the same moment: a name is held by one
//! group at most, on one bridge (its writes that claim a name take turns)
//! and across replicas that share nothing but Drupal (each such write is
//! checked after it is made, and undone when another group has the name);
//! and a deleted group's id is never given to another group.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::startup::Application;
use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{
    patch_op, read, spawn_app_with, Answer, Options, TestApp, DRUPAL_PASSWORD, SCIM_JSON, TOKEN,
};
use crate::term_groups::{new_group, term_mapping};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Long enough for concurrent requests' checks to overlap their writes.
const LATENCY: Duration = Duration::from_millis(20);

async fn spawn() -> TestApp {
    spawn_app_with(Options {
        mapping: term_mapping(),
        ..Options::default()
    })
    .await
}

fn rename(name: &str) -> Value {
    patch_op(json!([{"op": "replace", "path": "displayName", "value": name}]))
}

/// The stand-in's terms called `name`, ignoring ASCII case.
fn terms_named(app: &TestApp, name: &str) -> Vec<(String, String)> {
    app.drupal
        .terms()
        .into_iter()
        .filter(|t| t.1.eq_ignore_ascii_case(name))
        .map(|t| (t.0, t.1))
        .collect()
}

fn succeeded(answer: &Answer) -> bool {
    matches!(answer.status, 200 | 201 | 204)
}

/// Every answer is a success or `409 uniqueness`; returns the successes.
fn wins(answers: &[Answer]) -> usize {
    for answer in answers.iter().filter(|a| !succeeded(a)) {
        answer.assert_scim_error(409, Some("uniqueness"));
    }
    answers.iter().filter(|a| succeeded(a)).count()
}

#[tokio::test]
async fn two_renames_onto_one_name_at_once_leave_one_group_of_that_name() {
    let app = spawn().await;
    let ta = new_group(&app, "ta0").await;
    let tb = new_group(&app, "tb0").await;
    let (ta, tb, twin) = (
        format!("/Groups/{ta}"),
        format!("/Groups/{tb}"),
        rename("Twin0"),
    );
    app.drupal.set_latency(LATENCY);
    let (a, b) = tokio::join!(app.patch(&ta, &twin), app.patch(&tb, &twin));
    assert_eq!(wins(&[a, b]), 1, "exactly one rename wins on one bridge");
    app.drupal.set_latency(Duration::ZERO);
    let found = app
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22twin0%22")
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    // The loser kept its name.
    assert_eq!(
        terms_named(&app, "ta0").len() + terms_named(&app, "tb0").len(),
        1
    );
}

#[tokio::test]
async fn many_renames_and_puts_onto_one_name_in_any_case_make_one_group() {
    let app = spawn().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(new_group(&app, &format!("c{i}")).await);
    }
    app.drupal.set_latency(LATENCY);
    let spellings = ["Collide", "COLLIDE", "collide"];
    let answers = join_all(ids.iter().enumerate().map(|(i, id)| {
        let app = &app;
        async move {
            app.patch(&format!("/Groups/{id}"), &rename(spellings[i % 3]))
                .await
        }
    }))
    .await;
    assert_eq!(wins(&answers), 1);
    assert_eq!(terms_named(&app, "collide").len(), 1);

    let answers = join_all(ids.iter().map(|id| {
        let app = &app;
        async move {
            app.put(
                &format!("/Groups/{id}"),
                &json!({"schemas": [GROUP], "displayName": "Collide2", "members": []}),
            )
            .await
        }
    }))
    .await;
    assert_eq!(wins(&answers), 1);
    assert_eq!(terms_named(&app, "collide2").len(), 1);
}

#[tokio::test]
async fn a_create_and_a_rename_of_one_name_at_once_make_one_group() {
    let app = spawn().await;
    // The rename reads its group first: the create starts a little later,
    // by as much as it takes for their checks and writes to overlap.
    for (round, delay) in [0u64, 10, 20, 30].into_iter().enumerate() {
        let other = new_group(&app, &format!("Before{round}")).await;
        let name = format!("Meeting{round}");
        let (create, path, to_name) = (
            json!({"schemas": [GROUP], "displayName": name}),
            format!("/Groups/{other}"),
            rename(&name.to_uppercase()),
        );
        app.drupal.set_latency(LATENCY);
        let (created, renamed) = tokio::join!(
            async {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                app.post("/Groups", &create).await
            },
            app.patch(&path, &to_name)
        );
        app.drupal.set_latency(Duration::ZERO);
        assert_eq!(wins(&[created, renamed]), 1, "round {round}");
        assert_eq!(terms_named(&app, &name).len(), 1, "round {round}");
    }
}

/// A second bridge on the stand-in of `app`, sharing nothing else.
struct Replica {
    base: String,
    client: reqwest::Client,
}

impl Replica {
    fn start(app: &TestApp, audit: &Path) -> Replica {
        let yaml = format!(
            "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: {}\n  timeout_secs: 2\n  connect_timeout_secs: 1\n  auth:\n    username: admin\n    password: \"{DRUPAL_PASSWORD}\"\naudit:\n  file: {}\n",
            app.drupal_base_url(),
            audit.display()
        );
        let settings = Settings::from_yaml(&yaml).unwrap();
        let mapping = Mapping::parse(&term_mapping(), "replica.yaml").unwrap();
        let replica = Application::with_listener(
            &settings,
            mapping,
            TcpListener::bind("127.0.0.1:0").unwrap(),
        )
        .unwrap();
        let base = format!("http://127.0.0.1:{}/scim/v2", replica.port());
        tokio::spawn(replica.run_until_stopped());
        Replica {
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Answer {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("Content-Type", SCIM_JSON)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        read(response).await
    }
}

fn audit_file() -> PathBuf {
    std::env::temp_dir().join(format!("bridge-race-audit-{}.jsonl", uuid::Uuid::new_v4()))
}

/// The group writes both bridges recorded under `group` (any case), as
/// (outcome, detail).
fn group_writes(files: &[&Path], group: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            let event: Value = serde_json::from_str(line).expect("one JSON object a line");
            let kind = event["event"].as_str().unwrap_or_default();
            if ["group_created", "group_updated"].contains(&kind)
                && event["group"]
                    .as_str()
                    .is_some_and(|g| g.eq_ignore_ascii_case(group))
            {
                let field = |k: &str| event[k].as_str().unwrap_or_default().to_string();
                found.push((field("outcome"), field("detail")));
            }
        }
    }
    found
}

/// A lost write that was made is recorded `failed`, saying it was undone;
/// only the winner's is `ok`.
fn assert_audited(files: &[&Path], group: &str, won: usize) {
    let writes = group_writes(files, group);
    let ok = writes.iter().filter(|(outcome, _)| outcome == "ok").count();
    assert_eq!(ok, won, "{group}: {writes:?}");
    for (outcome, detail) in writes.iter().filter(|(outcome, _)| outcome != "ok") {
        assert_eq!(outcome, "failed", "{group}: {writes:?}");
        assert!(
            detail.contains("undone") || detail.contains("deleted again"),
            "{group}: {writes:?}"
        );
    }
}

/// Replicas do not share their turns: the check after each write keeps a
/// name to one group. Both writes may lose (each sees the other); never
/// may both win, and a lost rename leaves the group its old name.
#[tokio::test]
async fn renames_and_creates_on_two_replicas_at_once_never_duplicate_a_name() {
    let (first_audit, second_audit) = (audit_file(), audit_file());
    let app = spawn_app_with(Options {
        mapping: term_mapping(),
        extra_config: format!("audit:\n  file: {}\n", first_audit.display()),
        ..Options::default()
    })
    .await;
    let other = Replica::start(&app, &second_audit);
    let audits = [first_audit.as_path(), second_audit.as_path()];
    for round in 0..4 {
        let (a_name, b_name) = (format!("ra{round}"), format!("rb{round}"));
        let a = new_group(&app, &a_name).await;
        let b = new_group(&app, &b_name).await;
        let twin = format!("Twin{round}");
        let (a_path, b_path) = (format!("/Groups/{a}"), format!("/Groups/{b}"));
        let (a_rename, b_rename) = (rename(&twin), rename(&twin.to_uppercase()));
        app.drupal.set_latency(LATENCY);
        let (x, y) = tokio::join!(
            app.patch(&a_path, &a_rename),
            other.send(reqwest::Method::PATCH, &b_path, &b_rename),
        );
        let (x_won, y_won) = (succeeded(&x), succeeded(&y));
        let won = wins(&[x, y]);
        app.drupal.set_latency(Duration::ZERO);
        assert!(won <= 1, "round {round}: both renames won");
        assert_eq!(terms_named(&app, &twin).len(), won, "round {round}");
        assert_eq!(terms_named(&app, &a_name).len(), usize::from(!x_won));
        assert_eq!(terms_named(&app, &b_name).len(), usize::from(!y_won));
        assert_audited(&audits, &twin, won);

        // A create racing a rename.
        let mixed = format!("Mixed{round}");
        let create = json!({"schemas": [GROUP], "displayName": mixed});
        let (path, to_mixed) = (if x_won { b_path } else { a_path }, rename(&mixed));
        app.drupal.set_latency(LATENCY);
        let (x, y) = tokio::join!(
            other.send(reqwest::Method::POST, "/Groups", &create),
            app.patch(&path, &to_mixed),
        );
        let won = wins(&[x, y]);
        app.drupal.set_latency(Duration::ZERO);
        assert!(won <= 1, "round {round}: a create and a rename both won");
        assert_eq!(terms_named(&app, &mixed).len(), won, "round {round}");
        assert_audited(&audits, &mixed, won);
    }
    for file in audits {
        let _ = std::fs::remove_file(file);
    }
}

/// Two creates of one name on two replicas: at most one group (both may
/// lose: a retry makes it), and once it exists both are refused.
#[tokio::test]
async fn two_replicas_creating_one_name_at_once_make_one_group_at_most() {
    let app = spawn().await;
    let audit = audit_file();
    let other = Replica::start(&app, &audit);
    let body = json!({"schemas": [GROUP], "displayName": "Replicated"});
    let mut made = 0;
    for round in 0..4 {
        app.drupal.set_latency(LATENCY);
        let (a, b) = tokio::join!(
            app.post("/Groups", &body),
            other.send(reqwest::Method::POST, "/Groups", &body),
        );
        made += wins(&[a, b]);
        app.drupal.set_latency(Duration::ZERO);
        assert!(made <= 1, "round {round}: a second group of one name");
        assert_eq!(terms_named(&app, "Replicated").len(), made, "round {round}");
    }
    if made == 0 {
        assert_eq!(app.post("/Groups", &body).await.status, 201);
    }
    let (a, b) = tokio::join!(
        app.post("/Groups", &body),
        other.send(reqwest::Method::POST, "/Groups", &body),
    );
    assert_eq!(wins(&[a, b]), 0);
    assert_eq!(terms_named(&app, "Replicated").len(), 1);
    let _ = std::fs::remove_file(audit);
}
/// RFC 7643 §3.1: an id is never reassigned. A delayed retry of the old
/// DELETE must not delete the new group of that name.
#[tokio::test]
async fn a_deleted_group_s_id_is_never_given_to_a_new_group() {
    let app = spawn().await;
    let old = new_group(&app, "Racers").await;
    let gone = app.delete(&format!("/Groups/{old}")).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    let new = new_group(&app, "Racers").await;
    assert_ne!(new, old, "the deleted group's id was given to the new one");
    app.get(&format!("/Groups/{old}"))
        .await
        .assert_scim_error(404, None);
    app.delete(&format!("/Groups/{old}"))
        .await
        .assert_scim_error(404, None);
    let still = app.get(&format!("/Groups/{new}")).await;
    assert_eq!(still.status, 200, "{}", still.body);
    assert_eq!(still.body["displayName"], "Racers");
}
