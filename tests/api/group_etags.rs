//! Group versions over HTTP (RFC 7644 §3.14), for both kinds of group:
//! `ETag` and `meta.version` on every answer that shows a group with its
//! members, a version that moves when the members or the name do,
//! `If-Match` on PUT, PATCH and DELETE answered 412 before any write, and
//! `If-None-Match` on GET answered 304. An answer without members has no
//! version: it would cost reading them.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{add_member, patch_op, spawn_app_with, Options, TestApp};
use crate::term_groups::term_mapping;

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// A version no group has.
const STALE: &str = "W/\"nope\"";

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The mapping's role-backed `editor`.
    Role,
    /// A taxonomy term, created by POST.
    Term,
}

const KINDS: [Kind; 2] = [Kind::Role, Kind::Term];

/// The bridge with term groups on and the role-backed group `editor`.
async fn spawn() -> TestApp {
    spawn_app_with(Options {
        mapping: term_mapping(),
        ..Options::default()
    })
    .await
}

/// The group's name: a role-backed group keeps the mapping's.
fn name_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Role => "editor",
        Kind::Term => "Sales Team",
    }
}

/// POSTs the group of `kind` (linking the role, creating the term); its
/// answer.
async fn create(app: &TestApp, kind: Kind) -> Value {
    let answer = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": name_of(kind), "members": []}),
        )
        .await;
    assert_eq!(answer.status, 201, "{kind:?}: {}", answer.body);
    assert_versioned(&answer.body, answer.header("etag"));
    answer.body
}

/// `meta.version` is a weak tag, sent as the `ETag` header too.
fn assert_versioned(body: &Value, etag: Option<&str>) -> String {
    let version = body["meta"]["version"]
        .as_str()
        .unwrap_or_else(|| panic!("a version: {body}"));
    assert!(version.starts_with("W/\""), "{version}");
    assert_eq!(etag, Some(version), "{body}");
    version.to_string()
}

/// The account reads Drupal was sent since its requests were last cleared.
fn member_reads(app: &TestApp) -> Vec<String> {
    app.drupal
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/jsonapi/user/user"))
        .map(|r| r.path)
        .collect()
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().expect("an id").to_string()
}

/// The group's current version, read by GET.
async fn version_of(app: &TestApp, id: &str) -> String {
    let read = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_versioned(&read.body, read.header("etag"))
}

fn put_body(kind: Kind, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": [GROUP], "displayName": name_of(kind), "members": members})
}

/// The members Drupal holds for the group: the accounts with the role or
/// a reference to the term.
fn held_by(app: &TestApp, kind: Kind, id: &str, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|name| match kind {
            Kind::Role => app.roles_of(name).iter().any(|r| r == "editor"),
            Kind::Term => app.drupal.group_refs(name).iter().any(|r| r == id),
        })
        .map(|name| name.to_string())
        .collect()
}

#[tokio::test]
async fn every_answer_showing_the_group_carries_its_version_as_etag() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");

        let put = app.put(&path, &put_body(kind, &[&ann])).await;
        assert_eq!(put.status, 200, "{kind:?}: {}", put.body);
        let put_version = assert_versioned(&put.body, put.header("etag"));
        // The answer to a write names the version a read then gives.
        assert_eq!(version_of(&app, &id).await, put_version, "{kind:?}");

        let patched = app
            .patch(
                &path,
                &patch_op(json!([{"op": "replace", "path": "members", "value": []}])),
            )
            .await;
        assert_eq!(patched.status, 200, "{kind:?}: {}", patched.body);
        let patch_version = assert_versioned(&patched.body, patched.header("etag"));
        assert_ne!(patch_version, put_version, "{kind:?}");
        assert_eq!(version_of(&app, &id).await, patch_version, "{kind:?}");

        // A list shows each group's version in it.
        let listed = app.get("/Groups").await;
        let entry = listed.body["Resources"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|g| g["id"] == json!(id))
            .cloned()
            .expect("listed");
        assert_eq!(entry["meta"]["version"], json!(patch_version), "{kind:?}");
    }
}

#[tokio::test]
async fn the_version_changes_when_members_are_added_or_removed_and_on_a_rename() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");
        let empty = version_of(&app, &id).await;
        assert_eq!(version_of(&app, &id).await, empty, "{kind:?}: stable");

        let added = app.patch(&path, &add_member(&ann)).await;
        assert!(added.status < 300, "{kind:?}: {}", added.body);
        let with_ann = version_of(&app, &id).await;
        assert_ne!(with_ann, empty, "{kind:?}: a member added");

        let removed = app
            .patch(
                &path,
                &patch_op(
                    json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
                ),
            )
            .await;
        assert!(removed.status < 300, "{kind:?}: {}", removed.body);
        let without = version_of(&app, &id).await;
        assert_ne!(without, with_ann, "{kind:?}: a member removed");

        if let Kind::Term = kind {
            let renamed = app
                .patch(
                    &path,
                    &patch_op(
                        json!([{"op": "replace", "path": "displayName", "value": "Sales EMEA"}]),
                    ),
                )
                .await;
            assert_eq!(renamed.status, 200, "{}", renamed.body);
            let after = assert_versioned(&renamed.body, renamed.header("etag"));
            assert_ne!(after, without, "a rename");
            assert_eq!(version_of(&app, &id).await, after);
        }
    }
}

#[tokio::test]
async fn a_write_based_on_an_older_version_is_412_and_writes_nothing() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let bob = app.create_user("bob", "bob@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");
        let old = version_of(&app, &id).await;
        // Another client adds a member: the version read before is stale.
        let added = app.patch(&path, &add_member(&ann)).await;
        assert!(added.status < 300, "{kind:?}: {}", added.body);
        let current = version_of(&app, &id).await;

        app.drupal.clear_requests();
        for tag in [old.as_str(), STALE] {
            let headers = [("If-Match", tag)];
            let put = app
                .request_with(Method::PUT, &path, &headers, Some(&put_body(kind, &[&bob])))
                .await;
            put.assert_scim_error(412, None);
            let detail = put.body["detail"].as_str().unwrap_or_default();
            assert!(detail.contains(&current), "{kind:?}: {detail}");
            let renamed = app
                .request_with(
                    Method::PATCH,
                    &path,
                    &headers,
                    Some(&patch_op(json!([
                        {"op": "add", "path": "members", "value": [{"value": bob}]},
                        {"op": "replace", "path": "displayName", "value": name_of(kind)}
                    ]))),
                )
                .await;
            renamed.assert_scim_error(412, None);
            let deleted = app
                .request_with(Method::DELETE, &path, &headers, None)
                .await;
            deleted.assert_scim_error(412, None);
        }
        assert_eq!(app.drupal_writes(), Vec::<String>::new(), "{kind:?}");
        assert_eq!(
            held_by(&app, kind, &id, &["ann", "bob"]),
            ["ann"],
            "{kind:?}"
        );
        if let Kind::Term = kind {
            assert_eq!(
                app.drupal.terms(),
                vec![(id.clone(), "Sales Team".into(), false)]
            );
        }
        assert_eq!(version_of(&app, &id).await, current, "{kind:?}");
    }
}

#[tokio::test]
async fn the_current_version_or_a_star_lets_the_write_through() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let bob = app.create_user("bob", "bob@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");

        let current = version_of(&app, &id).await;
        let put = app
            .request_with(
                Method::PUT,
                &path,
                &[("If-Match", &current)],
                Some(&put_body(kind, &[&ann])),
            )
            .await;
        assert_eq!(put.status, 200, "{kind:?}: {}", put.body);
        assert_eq!(held_by(&app, kind, &id, &["ann", "bob"]), ["ann"]);

        // The strong spelling of the weak tag matches too.
        let current = version_of(&app, &id).await;
        let strong = current.trim_start_matches("W/").to_string();
        let patched = app
            .request_with(
                Method::PATCH,
                &path,
                &[("If-Match", &strong)],
                Some(&add_member(&bob)),
            )
            .await;
        assert!(patched.status < 300, "{kind:?}: {}", patched.body);
        assert_eq!(held_by(&app, kind, &id, &["ann", "bob"]), ["ann", "bob"]);

        let deleted = app
            .request_with(Method::DELETE, &path, &[("If-Match", "*")], None)
            .await;
        assert_eq!(deleted.status, 204, "{kind:?}: {}", deleted.body);
        assert!(held_by(&app, kind, &id, &["ann", "bob"]).is_empty());
    }
}

#[tokio::test]
async fn if_none_match_is_304_for_the_current_version_and_200_for_an_old_one() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");
        let old = version_of(&app, &id).await;
        let added = app.patch(&path, &add_member(&ann)).await;
        assert!(added.status < 300, "{kind:?}: {}", added.body);
        let current = version_of(&app, &id).await;

        // Entra's read, without members, made conditional: the members
        // are read to learn the version.
        for read in [path.clone(), format!("{path}?excludedAttributes=members")] {
            let cached = app
                .request_with(Method::GET, &read, &[("If-None-Match", &current)], None)
                .await;
            assert_eq!(cached.status, 304, "{kind:?} {read}: {}", cached.body);
            assert_eq!(cached.body, Value::Null);
            assert_eq!(cached.header("etag"), Some(current.as_str()));

            let stale = app
                .request_with(Method::GET, &read, &[("If-None-Match", &old)], None)
                .await;
            assert_eq!(stale.status, 200, "{kind:?} {read}: {}", stale.body);
            assert_eq!(stale.body["displayName"], name_of(kind));
            assert_eq!(assert_versioned(&stale.body, stale.header("etag")), current);
        }
    }
}

#[tokio::test]
async fn an_answer_without_members_has_no_version_and_reads_no_members() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");
        let added = app.patch(&path, &add_member(&ann)).await;
        assert!(added.status < 300, "{kind:?}: {}", added.body);

        app.drupal.clear_requests();
        let read = app.get(&format!("{path}?excludedAttributes=members")).await;
        assert_eq!(read.status, 200, "{kind:?}: {}", read.body);
        assert_eq!(read.body["displayName"], name_of(kind));
        assert_eq!(read.body.get("members"), None);
        assert_eq!(read.body["meta"].get("version"), None, "{kind:?}");
        assert_eq!(read.header("etag"), None, "{kind:?}");
        assert_eq!(member_reads(&app), Vec::<String>::new(), "{kind:?}");

        let listed = app.get("/Groups?excludedAttributes=members").await;
        for group in listed.body["Resources"].as_array().expect("a list") {
            assert_eq!(group["meta"].get("version"), None, "{group}");
        }
    }
}

/// A bulk operation's `version` is its `If-Match` (RFC 7644 §3.7).
#[tokio::test]
async fn a_bulk_operation_with_an_older_version_is_412_and_writes_nothing() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let id = id_of(&create(&app, kind).await);
        app.drupal.clear_requests();
        let answer = app
            .post(
                "/Bulk",
                &json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "Operations": [{
                        "method": "PATCH", "path": format!("/Groups/{id}"), "version": STALE,
                        "data": add_member(&ann)
                    }]
                }),
            )
            .await;
        assert_eq!(answer.status, 200, "{kind:?}: {}", answer.body);
        assert_eq!(
            answer.body["Operations"][0]["status"], "412",
            "{kind:?}: {}",
            answer.body
        );
        assert_eq!(app.drupal_writes(), Vec::<String>::new(), "{kind:?}");
        assert!(held_by(&app, kind, &id, &["ann"]).is_empty());
    }
}

/// Two writes conditional on one version, sent together: one passes and
/// the other gets 412 (RFC 7644 §3.14). Before, both passed their checks
/// before either wrote, and the group ended with the members of neither.
#[tokio::test]
async fn two_writes_conditional_on_one_version_do_not_both_pass() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let bob = app.create_user("bob", "bob@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");
        let version = version_of(&app, &id).await;
        app.drupal
            .set_latency(std::time::Duration::from_millis(100));
        let headers = [("If-Match", version.as_str())];
        let (with_ann, with_bob) = (put_body(kind, &[&ann]), put_body(kind, &[&bob]));
        let (one, other) = tokio::join!(
            app.request_with(Method::PUT, &path, &headers, Some(&with_ann)),
            app.request_with(Method::PUT, &path, &headers, Some(&with_bob)),
        );
        app.drupal.set_latency(std::time::Duration::ZERO);
        let mut statuses = [one.status, other.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 412],
            "{kind:?}: {} / {}",
            one.body,
            other.body
        );
        let held = held_by(&app, kind, &id, &["ann", "bob"]);
        assert_eq!(
            held.len(),
            1,
            "{kind:?}: one PUT's members, not both: {held:?}"
        );
    }
}

/// `If-None-Match` on a write (RFC 7232 §3.2): `*` (the group exists, which
/// needs no read of its members) or the current version is 412, nothing
/// written; an older version lets the write through.
#[tokio::test]
async fn if_none_match_on_a_write_is_412_for_a_star_or_the_current_version() {
    for kind in KINDS {
        let app = spawn().await;
        let ann = app.create_user("ann", "ann@example.org").await;
        let id = id_of(&create(&app, kind).await);
        let path = format!("/Groups/{id}");
        let current = version_of(&app, &id).await;
        for condition in ["*", current.as_str()] {
            app.drupal.clear_requests();
            let headers = [("If-None-Match", condition)];
            for (method, body) in [
                (Method::PUT, Some(put_body(kind, &[&ann]))),
                (Method::PATCH, Some(add_member(&ann))),
                (Method::DELETE, None),
            ] {
                let answer = app
                    .request_with(method.clone(), &path, &headers, body.as_ref())
                    .await;
                answer.assert_scim_error(412, None);
                let detail = answer.body["detail"].as_str().unwrap();
                assert!(
                    detail.contains("If-None-Match") && detail.contains(&id),
                    "{kind:?} {method} {condition}: {detail}"
                );
            }
            assert_eq!(app.drupal_writes(), Vec::<String>::new(), "{kind:?}");
            if condition == "*" {
                assert_eq!(member_reads(&app), Vec::<String>::new(), "{kind:?}");
            }
        }
        assert!(held_by(&app, kind, &id, &["ann"]).is_empty(), "{kind:?}");

        let added = app
            .request_with(
                Method::PATCH,
                &path,
                &[("If-None-Match", STALE)],
                Some(&add_member(&ann)),
            )
            .await;
        assert!(added.status < 300, "{kind:?}: {}", added.body);
        assert_eq!(held_by(&app, kind, &id, &["ann"]), ["ann"], "{kind:?}");
    }
}
