//! Term-backed groups (the mapping's `group_terms`): every group an IdP
//! sends is created, renamed and deleted as a taxonomy term, membership is
//! the users' `field_scim_groups`, and groups the mapping names grant roles.

use drupal_scim_bridge::standin::Answer;
use serde_json::{json, Value};

use crate::helpers::{
    ids, mapping_with, patch_op, spawn_app_with, url_encode, Options, TestApp, DRUPAL_PASSWORD,
};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The demo mapping, role-backed `editor` kept, term groups on, and three
/// named term groups: two grant `engineering`, one names the protected
/// `administrator` without `allow_protected`.
pub(crate) fn term_mapping() -> String {
    let groups = "  - {role: editor, display_name: editor}\n  - {display_name: Engineering, roles: [engineering]}\n  - {display_name: Builders, roles: [engineering]}\n  - {display_name: Admins, roles: [administrator]}";
    format!(
        "{}group_terms: {{}}\n",
        mapping_with("demo.yaml", groups, "  []")
    )
}

async fn spawn() -> TestApp {
    spawn_app_with(Options {
        mapping: term_mapping(),
        ..Options::default()
    })
    .await
}

async fn create_group(app: &TestApp, name: &str) -> Value {
    let answer = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": name, "members": []}),
        )
        .await;
    assert_eq!(answer.status, 201, "{name}: {}", answer.body);
    answer.body
}

/// Creates the group `name` and returns its id.
pub(crate) async fn new_group(app: &TestApp, name: &str) -> String {
    create_group(app, name).await["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

fn add_members(ids: &[&str]) -> Value {
    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    patch_op(json!([{"op": "add", "path": "members", "value": values}]))
}

fn remove_member(id: &str) -> Value {
    patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]))
}

#[tokio::test]
async fn any_group_is_created_read_listed_renamed_and_deleted() {
    let app = spawn().await;
    let created = create_group(&app, "Sales Team").await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        uuid::Uuid::parse_str(&id).unwrap().get_version_num(),
        4,
        "a random id"
    );
    assert_eq!(created["displayName"], "Sales Team");
    assert_eq!(created["members"], json!([]));
    assert!(created["meta"]["version"]
        .as_str()
        .unwrap()
        .starts_with("W/\""));
    // Kept unpublished: not readable by anonymous visitors.
    assert_eq!(
        app.drupal.terms(),
        vec![(id.clone(), "Sales Team".into(), false)]
    );

    let read = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["displayName"], "Sales Team");

    app.drupal.clear_requests();
    let found = app
        .get("/Groups?filter=displayName%20eq%20%22sales%20team%22&excludedAttributes=members")
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    // The lookup reads the terms of that name only.
    let term_reads: Vec<String> = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/jsonapi/taxonomy_term/"))
        .map(|r| r.query)
        .collect();
    assert_eq!(term_reads.len(), 1, "{term_reads:?}");
    assert!(
        term_reads[0].contains("sales%20team") || term_reads[0].contains("sales+team"),
        "{term_reads:?}"
    );
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    // Both kinds are listed: the role-backed editor and the term.
    let all = app.get("/Groups").await;
    assert_eq!(all.body["totalResults"], 2, "{}", all.body);

    let renamed = app
        .patch(
            &format!("/Groups/{id}"),
            &patch_op(json!([{"op": "replace", "value": {"id": id, "displayName": "Sales EMEA"}}])),
        )
        .await;
    assert!(
        renamed.status == 204 || renamed.status == 200,
        "{}",
        renamed.body
    );
    assert_eq!(app.drupal.terms()[0].1, "Sales EMEA");

    // The old name is free again, for a new group with an id of its own.
    let again = create_group(&app, "Sales Team").await;
    assert_ne!(again["id"], id.as_str());

    let deleted = app.delete(&format!("/Groups/{id}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    app.get(&format!("/Groups/{id}"))
        .await
        .assert_scim_error(404, None);
    assert_eq!(app.drupal.terms().len(), 1);
}

/// A role-backed group's name is taken for term groups too: a rename onto
/// it, in any case, is refused, so no list or filter shows two groups of
/// one name.
/// `meta.created` stays when a group is renamed: Drupal's JSON:API updates
/// make no new term revision, so `revision_created` keeps the create's
/// time while `changed` moves (recorded 340).
#[tokio::test]
async fn a_renamed_group_keeps_its_creation_time() {
    let app = spawn().await;
    let created = create_group(&app, "Field Sales").await;
    let id = created["id"].as_str().unwrap();
    let renamed = app
        .patch(
            &format!("/Groups/{id}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Field Sales EU"}])),
        )
        .await;
    assert!(renamed.status < 300, "{}", renamed.body);
    let read = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(read.body["displayName"], "Field Sales EU");
    assert_eq!(read.body["meta"]["created"], created["meta"]["created"]);
    let (created_at, modified_at) = (
        read.body["meta"]["created"].as_str().unwrap(),
        read.body["meta"]["lastModified"].as_str().unwrap(),
    );
    assert!(modified_at > created_at, "{}", read.body["meta"]);
}

/// Members live on the accounts: a membership change leaves the term's
/// `changed`, so `meta.lastModified` cannot serve a delta sync of groups.
/// Such a filter is refused rather than answered without the groups whose
/// members changed.
#[tokio::test]
async fn groups_cannot_be_filtered_on_last_modified() {
    let app = spawn().await;
    create_group(&app, "Delta Team").await;
    for filter in [
        r#"meta.lastModified gt "2000-01-01T00:00:00Z""#,
        r#"displayName eq "Delta Team" and not (meta.LASTMODIFIED lt "2000-01-01T00:00:00Z")"#,
        "meta.lastModified pr",
    ] {
        let answer = app
            .get(&format!("/Groups?filter={}", url_encode(filter)))
            .await;
        answer.assert_scim_error(400, Some("invalidFilter"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("membership change"), "{detail}");
    }
    let created = app
        .get(&format!(
            "/Groups?filter={}",
            url_encode(r#"meta.created gt "2000-01-01T00:00:00Z""#)
        ))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
}

#[tokio::test]
async fn a_term_group_cannot_take_a_role_backed_group_s_name() {
    let app = spawn().await;
    let writers = create_group(&app, "Writers").await;
    let id = writers["id"].as_str().unwrap();
    app.patch(
        &format!("/Groups/{id}"),
        &patch_op(json!([{"op": "replace", "path": "displayName", "value": "EDITOR"}])),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
    app.put(
        &format!("/Groups/{id}"),
        &json!({"schemas": [GROUP], "displayName": "Editor"}),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
    let found = app
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22editor%22")
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(
        app.get(&format!("/Groups/{id}")).await.body["displayName"],
        "Writers"
    );
}

/// Case is ignored in every script, not in ASCII only: "ÉQUIPE" is the
/// group "Équipe" for uniqueness, filters and the mapping's grants; accents
/// are not case.
#[tokio::test]
async fn names_differing_only_in_non_ascii_case_are_one_group() {
    let app = spawn_app_with(Options {
        mapping: format!(
            "{}group_terms: {{}}\n",
            mapping_with(
                "demo.yaml",
                "  - {display_name: Équipe, roles: [engineering]}",
                "  []"
            )
        ),
        ..Options::default()
    })
    .await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "ÉQUIPE", "members": [{"value": alice}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        app.roles_of("alice"),
        vec!["engineering".to_string()],
        "the mapping's entry names the group ignoring case"
    );
    for taken in ["Équipe", "équipe"] {
        app.post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": taken}),
        )
        .await
        .assert_scim_error(409, Some("uniqueness"));
    }
    let other = create_group(&app, "Ärzte").await;
    let other = other["id"].as_str().unwrap();
    app.patch(
        &format!("/Groups/{other}"),
        &patch_op(json!([{"op": "replace", "path": "displayName", "value": "équipe"}])),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
    let found = app
        .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22%C3%A4RZTE%22")
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], other);
    // Accents are not case: "Equipe" is another name.
    create_group(&app, "Equipe").await;
    // The final sigma is a sigma: "ΟΔΟΣ1" lowers to "οδος1", yet "οδοσ1"
    // is the same name in upper case; filters agree.
    create_group(&app, "ΟΔΟΣ1").await;
    for taken in ["οδοσ1", "οδος1", "Οδοσ1"] {
        app.post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": taken}),
        )
        .await
        .assert_scim_error(409, Some("uniqueness"));
    }
    let found = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            url_encode("displayName eq \"οδοσ1\"")
        ))
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
}

#[tokio::test]
async fn a_name_taken_in_any_case_is_409_and_concurrent_creates_make_one_group() {
    let app = spawn().await;
    create_group(&app, "Ops").await;
    app.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "OPS"}),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
    // A rename onto a taken name is refused too.
    let other = create_group(&app, "Dev").await;
    app.patch(
        &format!("/Groups/{}", other["id"].as_str().unwrap()),
        &patch_op(json!([{"op": "replace", "path": "displayName", "value": "ops"}])),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));

    let body = json!({"schemas": [GROUP], "displayName": "Racing"});
    let (a, b) = tokio::join!(app.post("/Groups", &body), app.post("/Groups", &body));
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", a.body, b.body);
    let racing = app
        .drupal
        .terms()
        .into_iter()
        .filter(|t| t.1 == "Racing")
        .count();
    assert_eq!(racing, 1);
}

#[tokio::test]
async fn named_groups_grant_roles_and_take_back_only_what_no_other_group_grants() {
    let app = spawn().await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let engineering = new_group(&app, "engineering").await;
    let builders = new_group(&app, "BUILDERS").await;
    let admins = new_group(&app, "Admins").await;
    let plain = new_group(&app, "Book Club").await;

    for group in [&engineering, &builders, &admins, &plain] {
        let answer = app
            .patch(&format!("/Groups/{group}"), &add_members(&[&alice]))
            .await;
        assert!(
            answer.status == 204 || answer.status == 200,
            "{}",
            answer.body
        );
    }
    assert_eq!(app.drupal.group_refs("alice").len(), 4);
    // engineering granted (once); administrator NOT: the entry lacks allow_protected.
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);

    let user = app.get(&format!("/Users/{alice}")).await;
    let groups: Vec<&str> = user.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["value"].as_str().unwrap())
        .collect();
    for group in [&engineering, &builders, &admins, &plain] {
        assert!(groups.contains(&group.as_str()), "{groups:?}");
    }
    let members = app.get(&format!("/Groups/{builders}")).await;
    assert_eq!(members.body["members"][0]["value"], alice.as_str());

    // Out of Engineering: Builders still grants engineering.
    app.patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);
    // Out of Builders too: nothing grants it any more.
    app.patch(&format!("/Groups/{builders}"), &remove_member(&alice))
        .await;
    assert!(app.roles_of("alice").is_empty());
    assert_eq!(
        app.drupal.group_refs("alice"),
        vec![admins.clone(), plain.clone()]
    );
}

#[tokio::test]
async fn protected_and_unknown_accounts_are_refused_before_any_write() {
    let app = spawn().await;
    let group = new_group(&app, "Engineering").await;
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let nobody = "00000000-0000-4000-8000-00000000beef";
    app.drupal.clear_requests();
    for (member, status) in [(boss.as_str(), 403), (nobody, 400)] {
        let answer = app
            .patch(&format!("/Groups/{group}"), &add_members(&[member]))
            .await;
        assert_eq!(answer.status, status, "{}", answer.body);
    }
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
    assert!(app.drupal.group_refs("boss").is_empty());
}

#[tokio::test]
async fn deleting_a_group_unlinks_its_members_and_takes_back_its_roles() {
    let app = spawn().await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let group = new_group(&app, "Engineering").await;
    app.patch(&format!("/Groups/{group}"), &add_members(&[&bob]))
        .await;
    assert_eq!(app.roles_of("bob"), vec!["engineering".to_string()]);
    app.drupal.clear_requests();
    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status, 204);
    assert!(app.drupal.group_refs("bob").is_empty());
    assert!(app.roles_of("bob").is_empty());
    assert!(app.drupal.terms().is_empty());
    // Unlinked before the term was deleted.
    let writes = app.drupal_writes();
    assert!(
        writes
            .last()
            .unwrap()
            .starts_with("DELETE /jsonapi/taxonomy_term/scim_groups/"),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_term_deleted_behind_the_bridges_back_breaks_neither_reads_nor_writes() {
    let app = spawn().await;
    let carol = app.create_user("carol", "carol@example.org").await;
    let gone = new_group(&app, "Gone").await;
    let kept = new_group(&app, "Kept").await;
    app.patch(&format!("/Groups/{gone}"), &add_members(&[&carol]))
        .await;
    assert!(app.drupal.delete_term(&gone));
    assert_eq!(app.get(&format!("/Users/{carol}")).await.status, 200);
    app.get(&format!("/Groups/{gone}"))
        .await
        .assert_scim_error(404, None);
    // Drupal refuses to save carol's list while it holds the dangling
    // reference; the bridge rewrites it whole.
    let answer = app
        .patch(&format!("/Groups/{kept}"), &add_members(&[&carol]))
        .await;
    assert!(
        answer.status == 204 || answer.status == 200,
        "{}",
        answer.body
    );
    assert_eq!(app.drupal.group_refs("carol"), vec![kept]);
}

/// Drupal validates the whole account on every relationship write that
/// saves it, the roles' included: while it references a term deleted in
/// Drupal, taking or granting a group's roles is refused too. A removal
/// takes the roles first, so without a repair there the IdP's removal
/// failed for good and the member kept the role.
#[tokio::test]
async fn a_member_referencing_a_deleted_term_loses_and_gains_roles_all_the_same() {
    let app = spawn().await;
    let carol = app.create_user("carol", "carol@example.org").await;
    let dave = app.create_user("dave", "dave@example.org").await;
    let engineering = new_group(&app, "Engineering").await;
    let gone = new_group(&app, "Gone").await;
    for group in [&engineering, &gone] {
        let added = app
            .patch(&format!("/Groups/{group}"), &add_members(&[&carol, &dave]))
            .await;
        assert!(added.status == 204 || added.status == 200, "{}", added.body);
    }
    assert_eq!(app.roles_of("carol"), vec!["engineering".to_string()]);
    assert!(app.drupal.delete_term(&gone));

    let removed = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&carol))
        .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert!(app.roles_of("carol").is_empty(), "the role is taken");
    assert!(app.drupal.group_refs("carol").is_empty());

    // A group rename that takes the role a name granted, and a re-add.
    let renamed = app
        .patch(
            &format!("/Groups/{engineering}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Platform"}])),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert!(
        app.roles_of("dave").is_empty(),
        "{:?}",
        app.roles_of("dave")
    );
    assert_eq!(app.drupal.group_refs("dave"), vec![engineering.clone()]);
    let back = app
        .patch(
            &format!("/Groups/{engineering}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Engineering"}])),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    assert_eq!(app.roles_of("dave"), vec!["engineering".to_string()]);
    let readded = app
        .patch(&format!("/Groups/{engineering}"), &add_members(&[&carol]))
        .await;
    assert!(
        readded.status == 204 || readded.status == 200,
        "{}",
        readded.body
    );
    assert_eq!(app.roles_of("carol"), vec!["engineering".to_string()]);
}

/// 200 with the whole group whenever its members are known without
/// reading them again, 204 when showing them would cost reads the change
/// did not need, 200 always when attributes are named; role-backed groups
/// answer alike (tests/api/groups.rs).
#[tokio::test]
async fn a_patch_answers_200_with_the_group_unless_that_costs_a_read_of_its_members() {
    let app = spawn().await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let ben = app.create_user("ben", "ben@example.org").await;
    let id = new_group(&app, "Answers").await;
    let path = format!("/Groups/{id}");
    let member_reads = |app: &TestApp| {
        app.drupal
            .requests()
            .iter()
            .filter(|r| {
                r.path.starts_with("/jsonapi/user/user") && r.query.contains("field_scim_groups.id")
            })
            .count()
    };

    // Some members added or removed: 204, nothing read back.
    app.drupal.clear_requests();
    let added = app.patch(&path, &add_members(&[&ann])).await;
    assert_eq!(added.status, 204, "{}", added.body);
    assert_eq!(member_reads(&app), 0, "{:?}", app.drupal.requests());
    assert_eq!(app.patch(&path, &remove_member(&ann)).await.status, 204);

    // Members replaced: 200, the members those given, read once (to know
    // whom to unlink), not again for the answer. Okta's `display` is
    // accepted and not echoed (RFC 7643 §8.7.1 gives members none).
    app.drupal.clear_requests();
    let replaced = app
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "path": "members",
                              "value": [{"value": ann, "display": "ann"}, {"value": ben}]}])),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    let mut members: Vec<&str> = replaced.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    members.sort();
    let mut expected = vec![ann.as_str(), ben.as_str()];
    expected.sort();
    assert_eq!(members, expected);
    for member in replaced.body["members"].as_array().unwrap() {
        assert!(member.get("display").is_none(), "{member}");
        assert_eq!(member["type"], "User");
        assert!(member["$ref"]
            .as_str()
            .unwrap()
            .ends_with(member["value"].as_str().unwrap()));
    }
    assert_eq!(member_reads(&app), 1, "{:?}", app.drupal.requests());

    // Every member removed (scim-sanity's check): 200, no members.
    let emptied = app
        .patch(
            &path,
            &patch_op(json!([{"op": "remove", "path": "members"}])),
        )
        .await;
    assert_eq!(emptied.status, 200, "{}", emptied.body);
    assert_eq!(emptied.body["members"], json!([]));
    assert!(app.drupal.group_refs("ann").is_empty());

    // A rename: 200 with the whole group.
    let renamed = app
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Answers 2"}])),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["displayName"], "Answers 2");
    assert_eq!(renamed.body["members"], json!([]));
    // Okta's echo of id and name before a push changes nothing: 204.
    app.drupal.clear_requests();
    let echo = app
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "value": {"id": id, "displayName": "Answers 2"}}])),
        )
        .await;
    assert_eq!(echo.status, 204, "{}", echo.body);
    assert_eq!(member_reads(&app), 0, "{:?}", app.drupal.requests());

    // Attributes named: 200 always, as RFC 7644 §3.5.2 wants.
    let asked = app
        .patch(&format!("{path}?attributes=members"), &add_members(&[&ben]))
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert_eq!(asked.body["members"][0]["value"], ben.as_str());
    let without = app
        .patch(
            &format!("{path}?excludedAttributes=members"),
            &remove_member(&ben),
        )
        .await;
    assert_eq!(without.status, 200, "{}", without.body);
    assert!(without.body.get("members").is_none(), "{}", without.body);
    assert_eq!(without.body["displayName"], "Answers 2");
}

#[tokio::test]
async fn put_replaces_name_external_id_and_members() {
    let app = spawn().await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let ben = app.create_user("ben", "ben@example.org").await;
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Team", "externalId": "ext-team",
                    "members": [{"value": ann}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["externalId"], "ext-team");
    assert_eq!(created.body["members"][0]["value"], ann.as_str());
    let id = created.body["id"].as_str().unwrap();
    let put = app
        .put(
            &format!("/Groups/{id}"),
            &json!({"schemas": [GROUP], "displayName": "Team B", "externalId": "ext-b",
                    "members": [{"value": ben}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["displayName"], "Team B");
    assert_eq!(put.body["externalId"], "ext-b");
    assert_eq!(put.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(put.body["members"][0]["value"], ben.as_str());
    let by_external = app
        .get("/Groups?filter=externalId%20eq%20%22ext-b%22")
        .await;
    assert_eq!(by_external.body["totalResults"], 1, "{}", by_external.body);
}

/// A user's `groups` name both kinds of group, read from the user's own
/// document: Drupal includes the terms' names in the same answer, so a
/// GET costs what it did, and a term deleted behind the bridge's back is
/// left out.
#[tokio::test]
async fn a_users_groups_name_term_groups_without_a_request_more() {
    let app = spawn().await;
    let ann = app.create_user("gann", "gann@example.org").await;
    let bob = app.create_user("gbob", "gbob@example.org").await;
    let sales = new_group(&app, "Sales").await;
    let gone = new_group(&app, "Gone soon").await;
    for id in [&sales, &gone] {
        app.patch(&format!("/Groups/{id}"), &add_members(&[&ann, &bob]))
            .await;
    }
    let editor = app.group_id("editor").await;
    app.patch(&format!("/Groups/{editor}"), &add_members(&[&ann]))
        .await;
    // Renamed in Drupal behind the bridge's back: the read shows the new
    // name, so it comes from Drupal's answer, not from what the bridge
    // remembers.
    assert!(app.drupal.rename_term(&sales, "Sales EMEA"));
    app.drupal.clear_requests();
    let read = app.get(&format!("/Users/{ann}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let sorted_groups = |body: &Value| {
        let mut groups = body["groups"].as_array().cloned().unwrap_or_default();
        groups.sort_by_key(|g| g["display"].as_str().unwrap_or_default().to_string());
        Value::Array(groups)
    };
    let base = &app.base;
    assert_eq!(
        sorted_groups(&read.body),
        json!([
            {"value": gone, "display": "Gone soon", "type": "direct",
             "$ref": format!("{base}/Groups/{gone}")},
            {"value": sales, "display": "Sales EMEA", "type": "direct",
             "$ref": format!("{base}/Groups/{sales}")},
            {"value": editor, "display": "editor", "type": "direct",
             "$ref": format!("{base}/Groups/{editor}")},
        ])
    );
    let user_reads: Vec<_> = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/jsonapi/user/user"))
        .collect();
    assert_eq!(user_reads.len(), 1, "{user_reads:?}");
    assert!(
        app.drupal
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/jsonapi/taxonomy_term")),
        "no term is read for the names: {:?}",
        app.drupal.requests()
    );
    let version = read.body["meta"]["version"].clone();

    // A list names them too, with one request for the page.
    assert!(app.drupal.delete_term(&gone));
    app.drupal.clear_requests();
    let listed = app.get("/Users?filter=userName%20sw%20%22g%22").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["totalResults"], 2, "{}", listed.body);
    for user in listed.body["Resources"].as_array().unwrap() {
        // The deleted term is left out; Drupal still shows its UUID.
        let names: Vec<&str> = user["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["display"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"Sales EMEA"), "{user}");
        assert!(!names.contains(&"Gone soon"), "{user}");
    }
    let list_reads = app
        .drupal
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/jsonapi/"))
        .count();
    assert_eq!(list_reads, 1, "{:?}", app.drupal.requests());

    // The answer to a write names the groups too, though Drupal's answer
    // to a write includes nothing; the version ignores the names.
    let patched = app
        .patch(
            &format!("/Users/{bob}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Bob G"}])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(
        patched.body["groups"].as_array().unwrap().len(),
        1,
        "{}",
        patched.body
    );
    assert_eq!(patched.body["groups"][0]["display"], "Sales EMEA");
    let again = app.get(&format!("/Users/{ann}")).await;
    assert_eq!(again.body["meta"]["version"], version, "{}", again.body);
}

#[tokio::test]
async fn users_are_filtered_by_their_term_groups() {
    let app = spawn().await;
    let ann = app.create_user("fann", "fann@example.org").await;
    app.create_user("fbob", "fbob@example.org").await;
    let group = new_group(&app, "Filtered").await;
    app.patch(&format!("/Groups/{group}"), &add_members(&[&ann]))
        .await;
    app.drupal.clear_requests();
    let found = app
        .get(&format!("/Users?filter=groups.value%20eq%20%22{group}%22"))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], ann.as_str());
    // Pushed down to Drupal as a filter on the reference field.
    assert!(app
        .drupal
        .requests()
        .iter()
        .any(|r| r.query.contains("field_scim_groups.id")));
}

/// `groups.value eq` finds a term group's members with one exact Drupal
/// filter, however many they are: no superset for the bridge to sift
/// (which it refuses past 1,000 accounts). Group ids are UUIDs in lower
/// case; the value is compared ignoring case, as `groups.value` is.
#[tokio::test]
async fn a_term_group_s_members_are_found_by_one_exact_filter() {
    use drupal_scim_bridge::standin::AccountSeed;
    let app = spawn().await;
    let seeds: Vec<AccountSeed> = (0..60)
        .map(|i| {
            let mut seed = AccountSeed::new(&format!("many{i}"));
            seed.mail = Some(format!("many{i}@example.org"));
            seed
        })
        .collect();
    let members = app.drupal.insert_users(&seeds).expect("seeds");
    app.create_user("outsider", "outsider@example.org").await;
    let group = new_group(&app, "Many").await;
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let added = app
        .patch(&format!("/Groups/{group}"), &add_members(&refs))
        .await;
    assert!(added.status == 204 || added.status == 200, "{}", added.body);
    for id in [group.clone(), group.to_uppercase()] {
        app.drupal.clear_requests();
        let found = app
            .get(&format!(
                "/Users?count=10&filter={}",
                url_encode(&format!("groups.value eq \"{id}\""))
            ))
            .await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!(found.body["totalResults"], 60, "{}", found.body);
        assert_eq!(found.body["Resources"].as_array().unwrap().len(), 10);
        let reads: Vec<String> = app
            .drupal
            .requests()
            .into_iter()
            .filter(|r| r.path.starts_with("/jsonapi/user/"))
            .map(|r| r.query)
            .collect();
        assert!(
            reads
                .iter()
                .all(|q| !q.contains("CONTAINS") && q.contains(&group)),
            "one exact filter, in lower case: {reads:?}"
        );
        assert!(
            reads[0].contains("page%5Blimit%5D=10"),
            "the page asked, not every member: {reads:?}"
        );
        // The page, then (once; it is cached) the count's probes.
        assert!(reads.len() <= 3, "{reads:?}");
    }
}

/// An `allow_protected` group may take back the protected role it granted,
/// from its own members only: an account that already holds one (the site's
/// administrator, whom the IdP never provisioned) is refused like every
/// protected account, so the group can never demote it, and a deactivation
/// or DELETE of it stays refused.
#[tokio::test]
async fn an_allow_protected_group_cannot_take_in_or_demote_an_administrator_it_did_not_make() {
    let app = spawn_app_with(Options {
        mapping: format!(
            "{}group_terms: {{}}\n",
            mapping_with(
                "demo.yaml",
                "  - {display_name: Site admins, roles: [administrator], allow_protected: true}",
                "  []"
            )
        ),
        ..Options::default()
    })
    .await;
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let group = new_group(&app, "Site admins").await;
    let path = format!("/Groups/{group}");
    let refused = app.patch(&path, &add_members(&[&boss])).await;
    refused.assert_scim_error(403, None);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("holds the protected role administrator"),
        "{}",
        refused.body
    );
    assert!(app.drupal.group_refs("boss").is_empty());
    // Okta's whole-list push: the administrator is no member, so keeps the role.
    let emptied = app
        .patch(
            &path,
            &patch_op(json!([{"op": "replace", "path": "members", "value": []}])),
        )
        .await;
    assert_eq!(emptied.status, 200, "{}", emptied.body);
    assert_eq!(app.roles_of("boss"), vec!["administrator".to_string()]);
    app.patch(
        &format!("/Users/{boss}"),
        &crate::helpers::set_active(false),
    )
    .await
    .assert_scim_error(403, None);
    app.delete(&format!("/Users/{boss}"))
        .await
        .assert_scim_error(403, None);

    // A member the group made an administrator is its own to demote.
    let eve = app.create_user("eve", "eve@example.org").await;
    let added = app.patch(&path, &add_members(&[&eve])).await;
    assert!(added.status == 204 || added.status == 200, "{}", added.body);
    assert_eq!(app.roles_of("eve"), vec!["administrator".to_string()]);
    // Added again (an IdP's retry), it is still the group's own member.
    let again = app.patch(&path, &add_members(&[&eve])).await;
    assert!(again.status == 204 || again.status == 200, "{}", again.body);
    let removed = app.patch(&path, &remove_member(&eve)).await;
    assert!(
        removed.status == 204 || removed.status == 200,
        "{}",
        removed.body
    );
    assert!(app.roles_of("eve").is_empty());
}

/// POST /Groups is one change for the identity provider: when a member's
/// write fails, what was written is undone (the members written, with the
/// roles the group granted them, then the term) and the answer is 503, so
/// the retry starts clean instead of meeting its own group (409).
#[tokio::test]
async fn a_create_whose_member_fails_is_undone_and_its_retry_starts_clean() {
    let app = spawn().await;
    let ann = app.create_user("cann", "cann@example.org").await;
    let bob = app.create_user("cbob", "cbob@example.org").await;
    let cid = app.create_user("ccid", "ccid@example.org").await;
    let failing = format!("/jsonapi/user/user/{bob}/relationships/field_scim_groups");
    app.drupal.fail_requests_to(&failing, 503);
    let body = json!({"schemas": [GROUP], "displayName": "Engineering", "externalId": "eng-1",
                      "members": [{"value": ann}, {"value": bob}, {"value": cid}]});
    let failed = app.post("/Groups", &body).await;
    failed.assert_scim_error(503, None);
    let detail = failed.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("was not created") && detail.contains(&bob),
        "{detail}"
    );
    assert!(app.drupal.terms().is_empty(), "{:?}", app.drupal.terms());
    for name in ["cann", "cbob", "ccid"] {
        assert!(app.drupal.group_refs(name).is_empty(), "{name}");
        assert!(
            app.roles_of(name).is_empty(),
            "{name}: {:?}",
            app.roles_of(name)
        );
    }
    app.drupal.stop_failing_requests_to(&failing);
    let created = app.post("/Groups", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    for name in ["cann", "cbob", "ccid"] {
        assert_eq!(
            app.roles_of(name),
            vec!["engineering".to_string()],
            "{name}"
        );
    }
}

/// When the undo fails too, the group stays: the bridge logs an error
/// naming it, and the same create sent again (same displayName, ignoring
/// case, and externalId) takes it over, its members those the retry names;
/// any other create of its name is still 409.
#[tokio::test]
async fn a_create_that_cannot_be_undone_is_taken_over_by_its_retry() {
    let logs = crate::helpers::captured_logs();
    let app = spawn().await;
    let ann = app.create_user("uann", "uann@example.org").await;
    let bob = app.create_user("ubob", "ubob@example.org").await;
    let failing = format!("/jsonapi/user/user/{bob}/relationships/field_scim_groups");
    app.drupal.fail_requests_to(&failing, 503);
    app.drupal
        .fail_requests_under("DELETE", "/jsonapi/taxonomy_term/", 503);
    let body = json!({"schemas": [GROUP], "displayName": "Stuck Team", "externalId": "stuck-1",
                      "members": [{"value": ann}, {"value": bob}]});
    let failed = app.post("/Groups", &body).await;
    failed.assert_scim_error(503, None);
    // The answer says what the retry does, not that some changes "stay".
    let detail = failed.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("could not be undone") && detail.contains("Send the same create again"),
        "{detail}"
    );
    let left = app.drupal.terms();
    assert_eq!(left.len(), 1, "{left:?}");
    let id = left[0].0.clone();
    assert!(
        logs.contents().contains(&id) && logs.contents().contains("could not be undone"),
        "the error names the group"
    );
    app.drupal.stop_failing_requests_to(&failing);
    app.drupal
        .stop_failing_requests_under("DELETE", "/jsonapi/taxonomy_term/");
    let other = json!({"schemas": [GROUP], "displayName": "Stuck Team", "externalId": "other"});
    app.post("/Groups", &other)
        .await
        .assert_scim_error(409, Some("uniqueness"));
    let mut retry = body.clone();
    retry["displayName"] = json!("STUCK TEAM");
    retry["members"] = json!([{"value": bob}]);
    let taken = app.post("/Groups", &retry).await;
    assert_eq!(taken.status, 201, "{}", taken.body);
    assert_eq!(taken.body["id"], id.as_str());
    assert_eq!(app.drupal.group_refs("ubob"), vec![id.clone()]);
    assert!(
        app.drupal.group_refs("uann").is_empty(),
        "members are the retry's"
    );
    // Taken over once: the next create of the name is a conflict again.
    app.post("/Groups", &body)
        .await
        .assert_scim_error(409, Some("uniqueness"));
}

/// The bridge's own role (it may administer users and permissions) is
/// protected though the policy does not list it: a group naming it grants
/// nothing without `allow_protected`, so no member gets the bridge's power
/// (and with it the means to make itself an administrator). So is any role
/// holding "administer users" or "administer permissions".
#[tokio::test]
async fn the_bridge_s_own_role_and_roles_that_administer_users_are_protected() {
    use drupal_scim_bridge::standin::{AccountSeed, RoleSeed, StandInConfig};
    let mut standin = StandInConfig::demo(DRUPAL_PASSWORD);
    standin.roles.push(RoleSeed::new(
        "scim_bridge",
        "SCIM bridge",
        &["administer taxonomy"],
    ));
    standin.roles.push(RoleSeed::new(
        "people_admin",
        "People admin",
        &["administer users", "administer permissions"],
    ));
    standin.roles.push(RoleSeed::new(
        "user_manager",
        "User manager",
        &["administer users"],
    ));
    let mut bridge = AccountSeed::new("scim-bridge");
    bridge.password = Some("bridge-password-1".into());
    bridge.mail = Some("scim-bridge@example.org".into());
    bridge.roles = vec!["scim_bridge".into(), "people_admin".into()];
    standin.extra_accounts.push(bridge);
    let groups = "  - {role: people_admin, display_name: People}\n  - {display_name: Bridge, roles: [scim_bridge, engineering]}\n  - {display_name: Helpers, roles: [user_manager]}";
    let app = spawn_app_with(Options {
        standin,
        mapping: format!(
            "{}group_terms: {{}}\n",
            mapping_with("demo.yaml", groups, "  []")
        ),
        drupal_auth: Some(
            "    username: scim-bridge\n    password: \"bridge-password-1\"\n".into(),
        ),
        ..Options::default()
    })
    .await;
    let u = app.create_user("upstart", "upstart@example.org").await;
    for name in ["Bridge", "Helpers"] {
        let created = app
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": name, "members": [{"value": u}]}),
            )
            .await;
        assert_eq!(created.status, 201, "{name}: {}", created.body);
    }
    assert_eq!(
        app.roles_of("upstart"),
        vec!["engineering".to_string()],
        "neither the bridge's role nor one administering users"
    );
    // Not exposed as a role-backed group either.
    app.post(
        "/Groups",
        &json!({"schemas": [GROUP], "displayName": "People", "members": [{"value": u}]}),
    )
    .await
    .assert_scim_error(400, Some("invalidValue"));
    let warnings = app
        .provisioner
        .check_groups()
        .await
        .expect("roles")
        .join("\n");
    for part in [
        "\"scim_bridge\" is a role of the bridge's own Drupal account",
        "\"people_admin\" is a role of the bridge's own Drupal account",
        "\"user_manager\" has the permission \"administer users\"",
    ] {
        assert!(warnings.contains(part), "{part}: {warnings}");
    }
}

#[tokio::test]
async fn dry_run_creates_no_term_and_links_nobody() {
    let app = spawn_app_with(Options {
        mapping: term_mapping(),
        extra_config: "dry_run: true\n".into(),
        ..Options::default()
    })
    .await;
    let user = app.seed_user("dry", "dry@example.org");
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Dry", "members": [{"value": user}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["displayName"], "Dry");
    assert!(app.drupal.terms().is_empty());
    assert!(app.drupal.group_refs("dry").is_empty());
}

/// A bridge serving `term_mapping()` as the account `scim-bridge`, whose
/// role may create, edit and delete terms of the groups vocabulary but
/// lacks "administer taxonomy": Drupal leaves the unpublished groups out
/// of every list it reads.
async fn spawn_without_administer_taxonomy(extra: &str) -> TestApp {
    use drupal_scim_bridge::standin::{AccountSeed, RoleSeed, StandInConfig};
    let mut standin = StandInConfig::demo(DRUPAL_PASSWORD);
    standin.roles.push(RoleSeed::new(
        "scim_bridge",
        "SCIM bridge",
        &[
            "administer users",
            "administer permissions",
            "access content",
            "create terms in scim_groups",
            "edit terms in scim_groups",
            "delete terms in scim_groups",
        ],
    ));
    let mut bridge = AccountSeed::new("scim-bridge");
    bridge.password = Some("bridge-password-1".into());
    bridge.mail = Some("scim-bridge@example.org".into());
    bridge.roles = vec!["scim_bridge".into()];
    standin.extra_accounts.push(bridge);
    spawn_app_with(Options {
        standin,
        mapping: term_mapping(),
        drupal_auth: Some(
            "    username: scim-bridge\n    password: \"bridge-password-1\"\n".into(),
        ),
        extra_config: extra.into(),
        ..Options::default()
    })
    .await
}

/// Without "administer taxonomy" the name check saw no group and every
/// create of one name made another term. The read-back must show the term
/// written: it does not, so the create is undone and answered 502, naming
/// the permission, and no name is ever held twice.
#[tokio::test]
async fn a_bridge_that_cannot_list_unpublished_groups_creates_no_duplicates() {
    let app = spawn_without_administer_taxonomy("").await;
    let body = json!({"schemas": [GROUP], "displayName": "Twice", "members": []});
    for _ in 0..2 {
        let answer = app.post("/Groups", &body).await;
        if answer.status == 201 {
            // Created, then only if the bridge can find it again.
            let found = app
                .get("/Groups?filter=displayName%20eq%20%22Twice%22")
                .await;
            assert_eq!(found.body["totalResults"], 1, "{}", found.body);
            continue;
        }
        answer.assert_scim_error(502, None);
        let detail = answer.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("administer taxonomy"), "{detail}");
    }
    let named = app
        .drupal
        .terms()
        .into_iter()
        .filter(|(_, name, _)| name.eq_ignore_ascii_case("Twice"))
        .count();
    assert!(named <= 1, "{:?}", app.drupal.terms());
}

/// Drupal refusing (403) the list by which a name is checked: a 502 that
/// names the permission, not one that only says "permissions".
#[tokio::test]
async fn a_refused_name_check_names_the_permission_it_needs() {
    let app = spawn().await;
    app.drupal
        .fail_requests_to("/jsonapi/taxonomy_term/scim_groups", 403);
    let answer = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Refused", "members": []}),
        )
        .await;
    answer.assert_scim_error(502, None);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("administer taxonomy"), "{detail}");
    assert!(app.drupal.terms().is_empty());
}

/// A bridge serving `term_mapping()` with `extra` configuration and an
/// audit file; returns the file's path with it.
async fn spawn_audited(extra: &str) -> (TestApp, std::path::PathBuf) {
    let file =
        std::env::temp_dir().join(format!("bridge-term-audit-{}.jsonl", uuid::Uuid::new_v4()));
    let app = spawn_app_with(Options {
        mapping: term_mapping(),
        extra_config: format!("{extra}audit:\n  file: {}\n", file.display()),
        ..Options::default()
    })
    .await;
    (app, file)
}

/// One audit event in short: (event, account name or id, group, outcome).
type Event = (String, String, String, String);

/// The audit file's events in short, and the lines whole.
fn audit_events(file: &std::path::Path) -> (Vec<Event>, Vec<Value>) {
    let text = std::fs::read_to_string(file).expect("audit file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let field = |l: &Value, k: &str| l[k].as_str().unwrap_or("").to_string();
    let summary = lines
        .iter()
        .map(|l| {
            let account = l["account_name"]
                .as_str()
                .map_or_else(|| field(l, "account_id"), str::to_string);
            (
                field(l, "event"),
                account,
                field(l, "group"),
                field(l, "outcome"),
            )
        })
        .collect();
    (summary, lines)
}

fn events(expected: &[(&str, &str, &str, &str)]) -> Vec<Event> {
    expected
        .iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
        .collect()
}

#[tokio::test]
async fn term_group_changes_are_audited_with_the_roles_they_grant_and_take() {
    let (app, file) = spawn_audited("").await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let engineering = new_group(&app, "Engineering").await;
    let club = new_group(&app, "Book Club").await;
    for group in [&engineering, &club] {
        app.patch(&format!("/Groups/{group}"), &add_members(&[&alice]))
            .await;
    }
    // Renamed to a name the mapping does not list: its role goes.
    let renamed = app
        .patch(
            &format!("/Groups/{engineering}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "Sales"}])),
        )
        .await;
    assert!(renamed.status < 300, "{}", renamed.body);
    assert!(app.roles_of("alice").is_empty());
    let refused = app
        .patch(&format!("/Groups/{club}"), &add_members(&[&boss]))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(app.delete(&format!("/Groups/{club}")).await.status, 204);

    let (summary, lines) = audit_events(&file);
    assert_eq!(
        summary,
        events(&[
            ("user_created", "alice", "", "ok"),
            ("group_created", &engineering, "Engineering", "ok"),
            ("group_created", &club, "Book Club", "ok"),
            ("group_member_added", "alice", "Engineering", "ok"),
            ("group_member_added", "alice", "Book Club", "ok"),
            ("group_updated", &engineering, "Sales", "ok"),
            ("user_updated", "alice", "Sales", "ok"),
            ("refused_protected", "boss", "Book Club", "refused"),
            ("group_member_removed", "alice", "Book Club", "ok"),
            ("group_deleted", &club, "Book Club", "ok"),
        ]),
        "{lines:#?}"
    );
    // The role a group grants is shown granted, and taken by the rename;
    // a group granting nothing shows no roles.
    assert_eq!(
        lines[1]["fields"],
        json!(["name", "field_scim_external_id", "status"])
    );
    assert_eq!(
        lines[3]["roles"],
        json!({"before": [], "after": ["engineering"]})
    );
    assert_eq!(lines[4].get("roles"), None, "{}", lines[4]);
    assert_eq!(lines[5]["fields"], json!(["name"]));
    assert_eq!(
        lines[6]["roles"],
        json!({"before": ["engineering"], "after": []})
    );
    assert_eq!(lines[6]["fields"], json!(["roles"]));
    assert_eq!(lines[8].get("roles"), None, "{}", lines[8]);
    for line in &lines {
        assert_eq!(
            line["account_id"].as_str().map(str::len),
            Some(36),
            "{line}"
        );
    }
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn group_patch_reads_answers_a_small_group_whole_and_a_large_one_204() {
    let app = spawn_app_with(Options {
        mapping: term_mapping(),
        extra_config: "group_patch_reads: 1\n".into(),
        ..Options::default()
    })
    .await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let term = new_group(&app, "Engineering").await;
    let role = app.group_id("editor").await;
    let okta_echo = |id: &str, name: &str| {
        patch_op(json!([{"op": "replace", "value": {"id": id, "displayName": name}}]))
    };
    for (group, name) in [(&term, "Engineering"), (&role, "editor")] {
        let steps: [(Value, Vec<&str>); 4] = [
            (add_members(&[&alice, &bob]), vec![&alice, &bob]),
            (remove_member(&bob), vec![&alice]),
            (okta_echo(group, name), vec![&alice]),
            (add_members(&[&alice]), vec![&alice]),
        ];
        for (patch, after) in steps {
            let answer = app.patch(&format!("/Groups/{group}"), &patch).await;
            assert_eq!(answer.status, 200, "{name}: {patch}: {}", answer.body);
            let mut want: Vec<String> = after.iter().map(|id| id.to_string()).collect();
            want.sort();
            assert_eq!(
                ids(&answer.body, "members"),
                want,
                "{name}: {}",
                answer.body
            );
            assert_eq!(answer.body["displayName"], name);
            let read = app.get(&format!("/Groups/{group}")).await;
            assert_eq!(
                answer.body, read.body,
                "{name}: the answer is the group as a GET shows it"
            );
        }
        // A projection still decides what the answer shows.
        let projected = app
            .patch(
                &format!("/Groups/{group}?excludedAttributes=members"),
                &add_members(&[&bob]),
            )
            .await;
        assert_eq!(projected.status, 200, "{}", projected.body);
        assert_eq!(projected.body.get("members"), None, "{}", projected.body);
    }

    // Past one read (50 members) the answer is 204, and the read stops at
    // the first page: an identity provider filling a large group one
    // member a PATCH costs Drupal one read more per add, not a growing
    // number.
    let many: Vec<String> = (0..60)
        .map(|i| app.seed_user(&format!("m{i:02}"), &format!("m{i:02}@example.org")))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    for group in [&term, &role] {
        app.patch(&format!("/Groups/{group}"), &add_members(&many[..55]))
            .await;
        app.drupal.clear_requests();
        let answer = app
            .patch(&format!("/Groups/{group}"), &add_members(&many[55..56]))
            .await;
        assert_eq!(answer.status, 204, "{}", answer.body);
        let reads = app
            .drupal
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.starts_with("/jsonapi/user/user"))
            .count();
        // A role-backed group's one new member is written unread: the
        // list of accounts to refuse, read by the steps above, clears it.
        let member_checks = if group == &term { 1 } else { 0 };
        assert_eq!(
            reads,
            member_checks + 1,
            "the member check and one page: {:?}",
            app.drupal.requests()
        );
    }

    // The default answers an add of some members with 204, reading nothing back.
    let default = spawn().await;
    let carol = default.create_user("carol", "carol@example.org").await;
    let group = new_group(&default, "Sales").await;
    let answer = default
        .patch(&format!("/Groups/{group}"), &add_members(&[&carol]))
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
}

/// What the demo runs (README, "Conformance"): scim-sanity's add of a
/// member that names no user answers 200 with the group, which holds what
/// it held.
#[tokio::test]
async fn skip_with_always_answers_an_unknown_member_with_the_unchanged_group() {
    let app = spawn_app_with(Options {
        mapping: term_mapping(),
        extra_config: "unknown_members: skip\ngroup_patch_reads: 1\n".into(),
        ..Options::default()
    })
    .await;
    let alice = app.create_user("alice", "alice@example.org").await;
    for group in [
        new_group(&app, "Probe Group").await,
        app.group_id("editor").await,
    ] {
        app.patch(&format!("/Groups/{group}"), &add_members(&[&alice]))
            .await;
        app.drupal.clear_requests();
        let answer = app
            .patch(
                &format!("/Groups/{group}"),
                &add_members(&["fake-member-id"]),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(ids(&answer.body, "members"), vec![alice.clone()]);
        assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
        let emptied = app
            .patch(
                &format!("/Groups/{group}"),
                &patch_op(json!([{"op": "remove", "path": "members"}])),
            )
            .await;
        assert_eq!(emptied.status, 200, "{}", emptied.body);
        assert_eq!(ids(&emptied.body, "members"), Vec::<String>::new());
    }
}

#[tokio::test]
async fn unknown_members_skip_leaves_out_members_that_name_no_account() {
    let (app, file) = spawn_audited("unknown_members: skip\n").await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let group = new_group(&app, "Engineering").await;
    let editor = app.group_id("editor").await;

    // What a conformance suite sends: a member that names no user. Nothing
    // is written, and the answer is a success (204, as for every add of
    // members: the whole list is not known without reading it back).
    for target in [&group, &editor] {
        app.drupal.clear_requests();
        let answer = app
            .patch(
                &format!("/Groups/{target}"),
                &add_members(&["fake-member-id"]),
            )
            .await;
        assert_eq!(answer.status, 204, "{}", answer.body);
        assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
        let read = app.get(&format!("/Groups/{target}")).await;
        assert_eq!(read.body["members"], json!([]), "{}", read.body);
    }

    // With a real member: that one is written, the unknown one left out.
    let answer = app
        .patch(
            &format!("/Groups/{group}"),
            &add_members(&[&alice, "00000000-0000-4000-8000-00000000beef"]),
        )
        .await;
    assert!(answer.status < 300, "{}", answer.body);
    assert_eq!(app.drupal.group_refs("alice"), vec![group.clone()]);
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);

    // PUT and replace: the group holds exactly the members that exist.
    let put = app
        .put(
            &format!("/Groups/{group}"),
            &json!({"schemas": [GROUP], "displayName": "Engineering",
                    "members": [{"value": alice}, {"value": "nobody-at-all"}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    let members: Vec<&str> = put.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert_eq!(members, [alice.as_str()], "{}", put.body);

    // What is not unknown is still refused whole: a protected account, and
    // a group offered as a member.
    app.drupal.clear_requests();
    for (member, status) in [(boss.as_str(), 403), (editor.as_str(), 400)] {
        let answer = app
            .patch(
                &format!("/Groups/{editor}"),
                &add_members(&[member, "fake-member-id"]),
            )
            .await;
        assert_eq!(answer.status, status, "{}", answer.body);
        assert!(
            !answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("fake-member-id"),
            "only what is refused is named: {}",
            answer.body
        );
    }
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());

    let (summary, _) = audit_events(&file);
    let skipped: Vec<Event> = summary
        .into_iter()
        .filter(|(event, ..)| event == "group_member_skipped")
        .collect();
    assert_eq!(
        skipped,
        events(&[
            (
                "group_member_skipped",
                "fake-member-id",
                "Engineering",
                "refused"
            ),
            (
                "group_member_skipped",
                "fake-member-id",
                "editor",
                "refused"
            ),
            (
                "group_member_skipped",
                "00000000-0000-4000-8000-00000000beef",
                "Engineering",
                "refused"
            ),
            (
                "group_member_skipped",
                "nobody-at-all",
                "Engineering",
                "refused"
            ),
        ])
    );
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn by_default_a_member_naming_no_account_refuses_the_request_whole() {
    let app = spawn().await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let group = new_group(&app, "Engineering").await;
    app.drupal.clear_requests();
    let answer = app
        .patch(
            &format!("/Groups/{group}"),
            &add_members(&[&alice, "fake-member-id"]),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["scimType"], "invalidValue");
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("fake-member-id") && detail.contains("nothing was changed"),
        "{detail}"
    );
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

#[tokio::test]
async fn a_request_refused_for_a_member_creates_and_renames_nothing() {
    let app = spawn().await;
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let nobody = "00000000-0000-4000-8000-00000000beef";
    app.drupal.clear_requests();
    // A create with a member that may not or cannot be added: no group.
    for (member, status) in [(nobody, 400), (boss.as_str(), 403)] {
        let created = app
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": "Engineering",
                        "members": [{"value": member}]}),
            )
            .await;
        assert_eq!(created.status, status, "{}", created.body);
        assert!(app.drupal.terms().is_empty(), "{:?}", app.drupal.terms());
    }
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());

    // A rename with such a member, by PUT or by PATCH: the name stays.
    let id = new_group(&app, "Engineering").await;
    app.drupal.clear_requests();
    let put = app
        .put(
            &format!("/Groups/{id}"),
            &json!({"schemas": [GROUP], "displayName": "Platform",
                    "members": [{"value": nobody}]}),
        )
        .await;
    assert_eq!(put.status, 400, "{}", put.body);
    let patch = app
        .patch(
            &format!("/Groups/{id}"),
            &patch_op(json!([
                {"op": "replace", "path": "displayName", "value": "Platform"},
                {"op": "add", "path": "members", "value": [{"value": boss}]}
            ])),
        )
        .await;
    assert_eq!(patch.status, 403, "{}", patch.body);
    assert!(
        patch.body["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{}",
        patch.body
    );
    assert_eq!(app.drupal.terms()[0].1, "Engineering");
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());

    // The same requests with a member that can be added go through.
    let alice = app.create_user("alice", "alice@example.org").await;
    let put = app
        .put(
            &format!("/Groups/{id}"),
            &json!({"schemas": [GROUP], "displayName": "Platform",
                    "members": [{"value": alice}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(app.drupal.terms()[0].1, "Platform");
    assert_eq!(app.drupal.group_refs("alice"), vec![id.clone()]);
    let created = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "Builders",
                    "members": [{"value": alice}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(app.drupal.group_refs("alice").len(), 2);
}

/// An IdP looks a group up by the name it sent, in whichever Unicode
/// spelling: the lookup finds the group in the other spelling too, as
/// uniqueness does, or it would create the group again and meet a 409.
#[tokio::test]
async fn a_lookup_by_name_finds_the_group_in_either_unicode_spelling() {
    let app = spawn().await;
    let decomposed = new_group(&app, "E\u{301}cole-X").await;
    let composed = new_group(&app, "\u{c9}COLE-Y").await;
    for (name, id) in [("\u{c9}cole-X", &decomposed), ("e\u{301}cole-y", &composed)] {
        let found = app
            .get(&format!(
                "/Groups?excludedAttributes=members&filter={}",
                url_encode(&format!("displayName eq \"{name}\""))
            ))
            .await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!(found.body["totalResults"], 1, "{name}: {}", found.body);
        assert_eq!(found.body["Resources"][0]["id"], json!(id));
    }
}

/// A name in another Unicode spelling of a taken one ("E" and a combining
/// accent for "É") is the same name: 409, whichever spelling came first.
#[tokio::test]
async fn a_name_in_another_unicode_spelling_is_taken() {
    let app = spawn().await;
    new_group(&app, "\u{c9}quipe").await;
    new_group(&app, "Ventes").await;
    let decomposed = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "E\u{301}QUIPE"}),
        )
        .await;
    decomposed.assert_scim_error(409, Some("uniqueness"));
    // Kept in Drupal in the other spelling (made there by hand).
    let id = new_group(&app, "Ventes Nord").await;
    assert!(app.drupal.rename_term(&id, "Re\u{301}seau"));
    let composed = app
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "R\u{e9}seau"}),
        )
        .await;
    composed.assert_scim_error(409, Some("uniqueness"));
    assert_eq!(app.drupal.terms().len(), 3, "{:?}", app.drupal.terms());
}

#[tokio::test]
async fn a_group_name_drupal_cannot_keep_or_people_cannot_read_is_refused_first() {
    let app = spawn().await;
    app.drupal.clear_requests();
    for name in [
        "y".repeat(256),
        "line\nbreak".into(),
        "\u{202e}evil".into(),
        "Sal\u{2060}es".into(),
        "Sales\u{61c}".into(),
        "Sales\u{e0041}".into(),
    ] {
        let answer = app
            .post("/Groups", &json!({"schemas": [GROUP], "displayName": name}))
            .await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.body["scimType"], "invalidValue");
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .starts_with("displayName "),
            "{}",
            answer.body
        );
    }
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
    // 255 characters are kept whole.
    let longest = "é".repeat(255);
    let id = new_group(&app, &longest).await;
    assert_eq!(app.drupal.terms()[0].1, longest);
    let renamed = app
        .patch(
            &format!("/Groups/{id}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": "z".repeat(300)}])),
        )
        .await;
    assert_eq!(renamed.status, 400, "{}", renamed.body);
    assert_eq!(app.drupal.terms()[0].1, longest);
    // An externalId Drupal cannot keep, by PATCH too.
    app.drupal.clear_requests();
    let external = app
        .patch(
            &format!("/Groups/{id}"),
            &patch_op(json!([{"op": "add", "path": "externalId", "value": "e".repeat(256)}])),
        )
        .await;
    assert_eq!(external.status, 400, "{}", external.body);
    assert!(
        external.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("externalId is longer than 255"),
        "{}",
        external.body
    );
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

/// SCIM DELETE (block) takes the account's term-backed groups, and the
/// roles only they granted, in the one write that blocks it: creating the
/// userName again reactivates the account with nothing of them, and
/// deleting a group later meets no reference to it.
#[tokio::test]
async fn deprovisioning_takes_the_term_groups_and_the_roles_they_granted() {
    let (app, file) = spawn_audited("").await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let engineering = new_group(&app, "Engineering").await;
    let club = new_group(&app, "Book Club").await;
    for group in [&engineering, &club] {
        let added = app
            .patch(&format!("/Groups/{group}"), &add_members(&[&alice]))
            .await;
        assert!(added.status < 300, "{}", added.body);
    }
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);
    assert_eq!(app.drupal.group_refs("alice").len(), 2);

    app.drupal.clear_requests();
    let deleted = app.delete(&format!("/Users/{alice}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(
        app.drupal_writes(),
        vec![format!("PATCH /jsonapi/user/user/{alice}")],
        "blocked, marked and stripped in one write"
    );
    let account = app.drupal_user("alice").expect("kept");
    assert_eq!(account["attributes"]["status"], false);
    assert!(app.drupal.group_refs("alice").is_empty());
    assert!(app.roles_of("alice").is_empty());
    for group in [&engineering, &club] {
        let read = app.get(&format!("/Groups/{group}")).await;
        assert_eq!(read.body["members"], json!([]), "{}", read.body);
    }

    let (summary, lines) = audit_events(&file);
    let (last, line) = (summary.last().unwrap(), lines.last().unwrap());
    assert_eq!(last.0, "user_deprovisioned", "{line}");
    assert!(
        line["fields"]
            .as_array()
            .unwrap()
            .contains(&json!("field_scim_groups")),
        "{line}"
    );
    assert_eq!(
        line["roles"],
        json!({"before": ["engineering"], "after": []}),
        "{line}"
    );

    // The same userName again: the same account, without its old groups.
    let again = app.create_user("alice", "alice@example.org").await;
    assert_eq!(again, alice);
    assert!(app.drupal.group_refs("alice").is_empty());
    assert!(app.roles_of("alice").is_empty());
    let user = app.get(&format!("/Users/{alice}")).await;
    assert!(user.body.get("groups").is_none(), "{}", user.body);

    let gone = app.delete(&format!("/Groups/{engineering}")).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert!(app.drupal.group_refs("alice").is_empty());
    let _ = std::fs::remove_file(&file);
}

/// Creates a term in the groups' vocabulary behind the bridge's back (as
/// Drupal's administrator); returns its UUID.
async fn term_behind_the_bridge(app: &TestApp, name: &str) -> String {
    let base = app.drupal_base_url();
    let answer = reqwest::Client::new()
        .post(format!("{base}/jsonapi/taxonomy_term/scim_groups"))
        .basic_auth("admin", Some(DRUPAL_PASSWORD))
        .header("Content-Type", "application/vnd.api+json")
        .body(
            json!({"data": {"type": "taxonomy_term--scim_groups",
                            "attributes": {"name": name}}})
            .to_string(),
        )
        .send()
        .await
        .expect("the stand-in answers");
    assert_eq!(answer.status(), 201);
    let body: Value = answer.json().await.expect("a document");
    body["data"]["id"].as_str().expect("an id").to_string()
}

/// A group offered as a member (a term group's id or a role-backed
/// group's, to a group of either kind, by PATCH or POST) refuses the whole
/// request with 400 naming it as a group, under `unknown_members: refuse`
/// and `skip` alike; nothing is written.
#[tokio::test]
async fn a_group_offered_as_a_member_refuses_the_request_whole_in_both_modes() {
    for setting in ["", "unknown_members: skip\n"] {
        let app = spawn_app_with(Options {
            mapping: term_mapping(),
            extra_config: setting.into(),
            ..Options::default()
        })
        .await;
        let alice = app.create_user("alice", "alice@example.org").await;
        let engineering = new_group(&app, "Engineering").await;
        let club = new_group(&app, "Book Club").await;
        let editor = app.group_id("editor").await;
        let unlearnt = term_behind_the_bridge(&app, "Made in Drupal").await;
        let terms_before = app.drupal.terms().len();

        // The term made in Drupal is read (by id) when first offered to
        // the term group, and known from then on: offered alone to the
        // role-backed group, it is not written to as an account.
        let offers = [
            (&engineering, club.as_str()),
            (&engineering, editor.as_str()),
            (&engineering, unlearnt.as_str()),
            (&editor, club.as_str()),
            (&editor, unlearnt.as_str()),
            (&editor, editor.as_str()),
        ];
        for (target, offered) in offers {
            app.drupal.clear_requests();
            for members in [
                vec![offered],
                vec![alice.as_str(), offered, "fake-member-id"],
            ] {
                let answer = app
                    .patch(&format!("/Groups/{target}"), &add_members(&members))
                    .await;
                answer.assert_scim_error(400, Some("invalidValue"));
                let detail = answer.body["detail"].as_str().unwrap();
                assert!(
                    detail.contains(offered)
                        && detail.contains("it is a group")
                        && detail.contains("nothing was changed"),
                    "{setting:?} {target} <- {offered}: {detail}"
                );
                if members.len() == 1 {
                    assert!(!detail.contains("no such user"), "{detail}");
                }
            }
            assert!(
                app.drupal_writes().is_empty(),
                "{setting:?}: {:?}",
                app.drupal_writes()
            );
        }
        assert!(app.drupal.group_refs("alice").is_empty());
        assert!(app.roles_of("alice").is_empty());

        for (name, offered) in [("New Team", &club), ("editor", &unlearnt)] {
            app.drupal.clear_requests();
            let created = app
                .post(
                    "/Groups",
                    &json!({"schemas": [GROUP], "displayName": name,
                            "members": [{"value": alice}, {"value": offered}]}),
                )
                .await;
            created.assert_scim_error(400, Some("invalidValue"));
            assert!(
                created.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("it is a group"),
                "{}",
                created.body
            );
            assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
        }
        assert_eq!(app.drupal.terms().len(), terms_before, "no group created");

        // A member that is an account costs no look-up of groups.
        app.drupal.clear_requests();
        let added = app
            .patch(&format!("/Groups/{editor}"), &add_members(&[&alice]))
            .await;
        assert!(added.status < 300, "{}", added.body);
        assert!(
            !app.drupal
                .requests()
                .iter()
                .any(|r| r.path.starts_with("/jsonapi/taxonomy_term/")),
            "{:?}",
            app.drupal.requests()
        );
        assert_eq!(app.roles_of("alice"), vec!["editor".to_string()]);
    }
}

/// A member change whose reference was written but whose role write
/// failed (503) is repaired by the identity provider's retry of the same
/// change: the reference is already as asked, the roles are set anyway.
#[tokio::test]
async fn a_retry_sets_the_roles_a_failed_role_write_left_behind() {
    let app = spawn().await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let engineering = new_group(&app, "Engineering").await;
    let roles_path = format!("/jsonapi/user/user/{alice}/relationships/roles");

    // Add: the reference is written, the role's POST fails.
    app.drupal.fail_requests_to(&roles_path, 503);
    let failed = app
        .patch(&format!("/Groups/{engineering}"), &add_members(&[&alice]))
        .await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(app.drupal.group_refs("alice"), vec![engineering.clone()]);
    assert!(app.roles_of("alice").is_empty());
    app.drupal.stop_failing_requests_to(&roles_path);
    let retried = app
        .patch(&format!("/Groups/{engineering}"), &add_members(&[&alice]))
        .await;
    assert!(
        retried.status == 204 || retried.status == 200,
        "{}",
        retried.body
    );
    assert_eq!(app.drupal.group_refs("alice"), vec![engineering.clone()]);
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);

    // Remove: the role's DELETE fails, so the reference, written last,
    // is left in place and the account still shows as a member.
    app.drupal.fail_requests_to(&roles_path, 503);
    let failed = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(app.drupal.group_refs("alice"), vec![engineering.clone()]);
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);
    app.drupal.stop_failing_requests_to(&roles_path);
    let retried = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert!(
        retried.status == 204 || retried.status == 200,
        "{}",
        retried.body
    );
    assert!(app.drupal.group_refs("alice").is_empty());
    assert!(app.roles_of("alice").is_empty());

    // Once consistent, a repeated removal writes nothing.
    app.drupal.clear_requests();
    let again = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert!(again.status == 204 || again.status == 200, "{}", again.body);
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

/// Drupal wrote the term but its answer was lost (a failing Drupal or
/// gateway, a cut-off body): the bridge chose the UUID, finds the group by
/// it and answers 201 with it, so the identity provider's retry is not
/// met by its own group's name (409).
#[tokio::test]
async fn a_group_create_whose_answer_is_lost_is_found_by_its_uuid() {
    let app = spawn().await;
    let terms = "/jsonapi/taxonomy_term/scim_groups";
    for (i, status) in [500u16, 502, 503, 504, 0].into_iter().enumerate() {
        let name = format!("Lost {i}");
        match status {
            0 => app.drupal.malformed_body_next(1),
            _ => app.drupal.lose_answer_to("POST", terms, status),
        }
        let made = app
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": name, "members": []}),
            )
            .await;
        assert_eq!(made.status, 201, "{status}: {}", made.body);
        assert_eq!(made.body["displayName"], name.as_str());
        let kept: Vec<_> = app
            .drupal
            .terms()
            .into_iter()
            .filter(|(_, n, _)| *n == name)
            .collect();
        assert_eq!(kept.len(), 1, "{status}: {kept:?}");
        assert_eq!(made.body["id"], kept[0].0.as_str());
        let retried = app
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": name, "members": []}),
            )
            .await;
        assert_eq!(retried.status, 409, "a second create is still refused");
    }
}

/// The same failed role write, retried as the whole member list (a PUT, as
/// Okta pushes a group): the kept member gets the role the group grants.
#[tokio::test]
async fn a_put_retry_sets_the_roles_a_failed_role_write_left_behind() {
    let app = spawn().await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let engineering = new_group(&app, "Engineering").await;
    let roles_path = format!("/jsonapi/user/user/{alice}/relationships/roles");
    app.drupal.fail_requests_to(&roles_path, 503);
    let failed = app
        .patch(&format!("/Groups/{engineering}"), &add_members(&[&alice]))
        .await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert!(app.roles_of("alice").is_empty());
    app.drupal.stop_failing_requests_to(&roles_path);
    let put = app
        .put(
            &format!("/Groups/{engineering}"),
            &json!({"schemas": [GROUP], "displayName": "Engineering",
                    "members": [{"value": alice}, {"value": bob}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);
    assert_eq!(app.roles_of("bob"), vec!["engineering".to_string()]);
    // Once consistent, the same PUT writes nothing.
    app.drupal.clear_requests();
    let again = app
        .put(
            &format!("/Groups/{engineering}"),
            &json!({"schemas": [GROUP], "displayName": "Engineering",
                    "members": [{"value": alice}, {"value": bob}]}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
}

/// A removal whose role write fails leaves the member in the group (the
/// reference is written after the roles), so the identity provider's
/// retry as the whole member list, which leaves the member out, removes
/// both: the role does not outlive the membership.
#[tokio::test]
async fn a_whole_list_retry_takes_the_role_of_a_member_whose_removal_failed() {
    let app = spawn().await;
    let alice = app.create_user("alice", "alice@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let engineering = new_group(&app, "Engineering").await;
    let added = app
        .patch(
            &format!("/Groups/{engineering}"),
            &add_members(&[&alice, &bob]),
        )
        .await;
    assert!(added.status < 300, "{}", added.body);
    assert_eq!(app.roles_of("alice"), vec!["engineering".to_string()]);

    let roles_path = format!("/jsonapi/user/user/{alice}/relationships/roles");
    app.drupal.fail_requests_to(&roles_path, 503);
    let failed = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(app.drupal.group_refs("alice"), vec![engineering.clone()]);
    let shown = app.get(&format!("/Groups/{engineering}")).await;
    let members: Vec<&str> = shown.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    assert!(members.contains(&alice.as_str()), "{}", shown.body);
    app.drupal.stop_failing_requests_to(&roles_path);

    // Okta's retry: the whole list, without alice.
    let put = app
        .put(
            &format!("/Groups/{engineering}"),
            &json!({"schemas": [GROUP], "displayName": "Engineering",
                    "members": [{"value": bob}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert!(app.drupal.group_refs("alice").is_empty());
    assert!(app.roles_of("alice").is_empty());
    assert_eq!(app.roles_of("bob"), vec!["engineering".to_string()]);

    // The reference's DELETE failing after the role went: the member is
    // still listed without the role, and the retry removes the reference.
    let added = app
        .patch(&format!("/Groups/{engineering}"), &add_members(&[&alice]))
        .await;
    assert!(added.status < 300, "{}", added.body);
    let refs_path = format!("/jsonapi/user/user/{alice}/relationships/field_scim_groups");
    app.drupal.fail_requests_to(&refs_path, 503);
    let failed = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert_eq!(app.drupal.group_refs("alice"), vec![engineering.clone()]);
    assert!(app.roles_of("alice").is_empty());
    app.drupal.stop_failing_requests_to(&refs_path);
    let retried = app
        .patch(&format!("/Groups/{engineering}"), &remove_member(&alice))
        .await;
    assert!(retried.status < 300, "{}", retried.body);
    assert!(app.drupal.group_refs("alice").is_empty());
    assert!(app.roles_of("alice").is_empty());
}

/// Renames the group `id` to `name` over SCIM.
async fn rename(app: &TestApp, id: &str, name: &str) {
    let renamed = app
        .patch(
            &format!("/Groups/{id}"),
            &patch_op(json!([{"op": "replace", "path": "displayName", "value": name}])),
        )
        .await;
    assert!(
        renamed.status == 200 || renamed.status == 204,
        "{}",
        renamed.body
    );
}

/// Drupal's JSON:API cache can keep a term's normalization from a read
/// that ended after the term's rename: a user's read then includes the
/// term with its old name (and the same `changed`). The bridge mends it,
/// in a user's read and in a list, and names the group as it renamed it.
#[tokio::test]
async fn a_users_groups_name_a_renamed_group_though_drupal_includes_a_stale_copy() {
    let app = spawn().await;
    let ann = app.create_user("lann", "lann@example.org").await;
    let sales = new_group(&app, "Sales").await;
    app.patch(&format!("/Groups/{sales}"), &add_members(&[&ann]))
        .await;
    rename(&app, &sales, "Sales EMEA").await;
    let stale = |answer: &mut Answer| {
        let mut body = answer.json();
        if let Some(Value::Array(items)) = body.get_mut("included") {
            for item in items {
                item["attributes"]["name"] = json!("Sales");
            }
        }
        answer.set_json(&body);
    };
    app.drupal
        .rewrite_answers_to("GET", &format!("/jsonapi/user/user/{ann}"), stale);
    app.drupal
        .rewrite_answers_to("GET", "/jsonapi/user/user", stale);
    let names = |user: &Value| -> Vec<String> {
        user["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["display"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let term = format!("/jsonapi/taxonomy_term/scim_groups/{sales}");
    for path in [
        format!("/Users/{ann}"),
        "/Users?filter=userName%20eq%20%22lann%22".to_string(),
    ] {
        app.drupal.clear_requests();
        let read = app.get(&path).await;
        assert_eq!(read.status, 200, "{}", read.body);
        let user = match read.body.get("Resources") {
            Some(listed) => listed[0].clone(),
            None => read.body.clone(),
        };
        assert_eq!(names(&user), vec!["Sales EMEA"], "{}", read.body);
        let mends: Vec<_> = app
            .drupal
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path == term)
            .collect();
        assert_eq!(mends.len(), 1, "{path}: {:?}", app.drupal.requests());
    }
}

/// A mend Drupal cannot carry out now (5xx) fails the read, to be retried;
/// one Drupal refuses for good leaves the read as Drupal shows it, and the
/// resource is not mended again.
#[tokio::test]
async fn a_stale_read_whose_mend_drupal_refuses_is_answered_as_drupal_shows_it() {
    let app = spawn().await;
    let sales = new_group(&app, "Sales").await;
    rename(&app, &sales, "Sales EMEA").await;
    let term = format!("/jsonapi/taxonomy_term/scim_groups/{sales}");
    app.drupal
        .rewrite_answers_to("GET", &term, |answer: &mut Answer| {
            let mut body = answer.json();
            body["data"]["attributes"]["name"] = json!("Sales");
            answer.set_json(&body);
        });
    let patches = |app: &TestApp| {
        app.drupal
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.path == term)
            .count()
    };
    let path = format!("/Groups/{sales}");
    app.drupal
        .fail_requests_under("PATCH", "/jsonapi/taxonomy_term/", 503);
    let read = app.get(&path).await;
    assert_eq!(read.status, 503, "{}", read.body);
    assert!(
        read.headers.contains_key("retry-after"),
        "{:?}",
        read.headers
    );

    app.drupal
        .stop_failing_requests_under("PATCH", "/jsonapi/taxonomy_term/");
    app.drupal
        .fail_requests_under("PATCH", "/jsonapi/taxonomy_term/", 422);
    app.drupal.clear_requests();
    let read = app.get(&path).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["displayName"], "Sales", "as Drupal shows it");
    assert_eq!(patches(&app), 1, "{:?}", app.drupal.requests());
    let again = app.get(&path).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(
        patches(&app),
        1,
        "not mended again: {:?}",
        app.drupal.requests()
    );
}

/// A term group names a refused member as the client sent it, in the
/// answer and the log, though ids are compared ignoring case.
#[tokio::test]
async fn a_refused_member_of_a_term_group_is_named_as_it_was_sent() {
    let logs = crate::helpers::captured_logs();
    let app = spawn().await;
    let group = new_group(&app, "Case Keepers").await;
    let answer = app
        .patch(
            &format!("/Groups/{group}"),
            &add_members(&["ABC-Not-A-User"]),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("add ABC-Not-A-User: no such user"),
        "{detail}"
    );
    let text = logs.contents();
    assert!(
        text.lines()
            .any(|l| l.contains("a membership change")
                && l.contains("\"member\":\"ABC-Not-A-User\"")),
        "{text}"
    );
    // A create's members too: refused before the term is made.
    crate::helpers::create_names_an_unknown_member_as_sent(&app, "Case Makers").await;
}

/// A group's attribute given twice in two spellings (bare, URN-qualified,
/// inside the Group schema's URN object) is refused naming it, and
/// nothing is written, in a POST, a PUT and a path-less PATCH.
#[tokio::test]
async fn a_group_attribute_given_in_two_spellings_is_refused_and_nothing_written() {
    let app = spawn().await;
    let group = new_group(&app, "Spelled").await;
    let qualified = format!("{GROUP}:displayName");
    let refused = |answer: &crate::helpers::Answer| {
        answer.assert_scim_error(400, Some("invalidSyntax"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("displayName"), "{detail}");
    };
    refused(
        &app.post(
            "/Groups",
            &json!({"displayName": "Spelled Two", GROUP: {"displayName": "Spelled Three"}}),
        )
        .await,
    );
    refused(
        &app.post(
            "/Groups",
            &json!({"displayName": "Spelled Two", &qualified: "Spelled Three"}),
        )
        .await,
    );
    refused(
        &app.put(
            &format!("/Groups/{group}"),
            &json!({"displayName": "Spelled", &qualified: "Renamed"}),
        )
        .await,
    );
    refused(
        &app.patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "replace", "value": {"displayName": "Renamed", &qualified: "Spelled"}}])),
        )
        .await,
    );
    let listed = app
        .get(&format!(
            "/Groups?filter={}",
            url_encode(r#"displayName sw "Spelled""#)
        ))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["totalResults"], 1, "{}", listed.body);
    assert_eq!(listed.body["Resources"][0]["id"], group.as_str());
    assert_eq!(listed.body["Resources"][0]["displayName"], "Spelled");
    // Once, in either spelling, is a rename.
    let renamed = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "replace", "value": {&qualified: "Spelled Once"}}])),
        )
        .await;
    assert!(renamed.status < 300, "{}", renamed.body);
}
