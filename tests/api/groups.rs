//! /Groups over real HTTP against the Drupal stand-in: groups are the Drupal
//! roles the mapping exposes, members are the accounts holding them. Every
//! group request form of QUIRKS (Entra, Okta, OneLogin, JumpCloud) appears
//! here at least once.

use std::time::Instant;

use drupal_scim_bridge::standin::RoleSeed;
use serde_json::{json, Value};

use crate::helpers::{
    captured_logs, demo_site_with_text_fields, ids, mapping_with, patch_op, spawn_app,
    spawn_app_exposing_admins, spawn_app_with, url_encode, Options, TestApp,
};

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn members(app: &TestApp, group: &str) -> Vec<String> {
    let answer = app.get(&format!("/Groups/{group}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    ids(&answer.body, "members")
}

async fn patch_group(app: &TestApp, group: &str, operations: Value) -> crate::helpers::Answer {
    app.patch(&format!("/Groups/{group}"), &patch_op(operations))
        .await
}

#[tokio::test]
async fn the_demo_exposes_editor_and_engineering_and_never_administrator() {
    let app = spawn_app().await;
    let answer = app.get("/Groups").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 2);
    let groups = answer.body["Resources"].as_array().unwrap();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["editor", "engineering"]);
    assert_eq!(
        groups[0]["id"],
        app.drupal.role_uuid("editor").unwrap().as_str(),
        "a group's id is its role's UUID"
    );
    assert_eq!(groups[0]["members"], json!([]));
    assert_eq!(
        groups[0]["meta"]["location"],
        format!("{}/Groups/{}", app.base, groups[0]["id"].as_str().unwrap())
    );
    let admin = app.drupal.role_uuid("administrator").unwrap();
    app.get(&format!("/Groups/{admin}"))
        .await
        .assert_scim_error(404, None);
}

#[tokio::test]
async fn entra_lookup_by_display_name_without_members_reads_no_user() {
    let app = spawn_app().await;
    app.seed_user_with_roles("ed", &["editor"]);
    app.drupal.clear_requests();
    let answer = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            url_encode("displayName eq \"Editor\"")
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 1);
    let group = &answer.body["Resources"][0];
    assert_eq!(group["displayName"], "editor");
    assert!(group.get("members").is_none(), "{group}");
    assert!(
        app.drupal
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/jsonapi/user/user")),
        "members left out are not read: {:?}",
        app.drupal.requests()
    );
    let by_id = app
        .get(&format!(
            "/Groups/{}?excludedAttributes=members",
            group["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(by_id.status, 200);
    assert!(by_id.body.get("members").is_none());
}

#[tokio::test]
async fn filters_paging_and_sorting_work_on_groups() {
    let app = spawn_app().await;
    let engineering = app.drupal.role_uuid("engineering").unwrap();
    for (filter, expected) in [
        ("displayName co \"gine\"", vec!["engineering"]),
        ("displayName sw \"ED\"", vec!["editor"]),
        (&*format!("id eq \"{engineering}\""), vec!["engineering"]),
        ("displayName eq \"nobody\"", vec![]),
    ] {
        let answer = app
            .get(&format!("/Groups?filter={}", url_encode(filter)))
            .await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        let names: Vec<&str> = answer.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap())
            .collect();
        assert_eq!(names, expected, "{filter}");
    }
    let member = app.seed_user_with_roles("eng", &["engineering"]);
    let by_member = app
        .get(&format!(
            "/Groups?attributes=displayName&filter={}",
            url_encode(&format!("members[value eq \"{member}\"]"))
        ))
        .await;
    assert_eq!(by_member.body["totalResults"], 1, "{}", by_member.body);
    assert_eq!(by_member.body["Resources"][0]["displayName"], "engineering");
    let second = app.get("/Groups?startIndex=2&count=1").await;
    assert_eq!(second.body["totalResults"], 2);
    assert_eq!(second.body["itemsPerPage"], 1);
    assert_eq!(second.body["Resources"][0]["displayName"], "engineering");
    let sorted = app
        .get("/Groups?sortBy=displayName&sortOrder=descending&attributes=displayName")
        .await;
    assert_eq!(sorted.body["Resources"][0]["displayName"], "engineering");
    assert!(sorted.body["Resources"][0].get("members").is_none());
    app.get("/Groups?filter=displayName%20eq")
        .await
        .assert_scim_error(400, Some("invalidFilter"));
}

#[tokio::test]
async fn members_are_read_across_drupals_pages_with_refs() {
    let app = spawn_app().await;
    let mut seeded = Vec::new();
    for i in 0..120 {
        seeded.push(app.seed_user_with_roles(&format!("ed-{i:03}"), &["editor"]));
    }
    app.seed_user_with_roles("not-an-editor", &["engineering"]);
    let editor = app.drupal.role_uuid("editor").unwrap();
    let answer = app.get(&format!("/Groups/{editor}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(ids(&answer.body, "members"), sorted(seeded));
    let first = &answer.body["members"][0];
    // RFC 7643 §8.7.1: a member has `value`, `$ref` and `type`, no `display`.
    assert_eq!(first.as_object().unwrap().len(), 3, "{first}");
    assert_eq!(first["type"], "User");
    assert_eq!(
        first["$ref"],
        format!("{}/Users/{}", app.base, first["value"].as_str().unwrap())
    );
}

#[tokio::test]
async fn post_links_a_listed_display_name_to_its_role_and_names_the_mapping_line_otherwise() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/Groups",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Engineering",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let engineering = app.drupal.role_uuid("engineering").unwrap();
    assert_eq!(answer.body["id"], engineering.as_str());
    assert_eq!(answer.body["displayName"], "engineering");
    assert_eq!(
        answer.header("location").unwrap(),
        format!("{}/Groups/{engineering}", app.base)
    );
    // Okta pushes the same group again: the same link, not a conflict.
    assert_eq!(app.group_id("engineering").await, engineering);

    app.drupal.clear_requests();
    let unknown = app
        .post(
            "/Groups",
            &json!({"displayName": "Sales Team", "members": []}),
        )
        .await;
    unknown.assert_scim_error(400, Some("invalidValue"));
    let detail = unknown.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("  - role: <machine name>\n    display_name: \"Sales Team\""),
        "{detail}"
    );
    assert!(detail.contains("cannot create roles"), "{detail}");
    assert!(app.drupal_writes().is_empty());
    app.post("/Groups", &json!({"members": []}))
        .await
        .assert_scim_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn entra_adds_and_removes_members_in_both_of_its_forms() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let cat = app.create_user("cat", "cat@example.org").await;

    let added = patch_group(
        &app,
        &group,
        json!([{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": ann}, {"$ref": null, "value": bob}, {"value": cat}]}]),
    )
    .await;
    assert_eq!(added.status, 204, "{}", added.body);
    assert_eq!(added.body, Value::Null);
    assert_eq!(app.roles_of("bob"), vec!["editor"]);
    // Adding a member who is already there is no error. Her copy went with
    // the write that changed her roles, so this one is written unread (the
    // list of accounts to refuse clears her), and Drupal keeps one role.
    app.drupal.clear_requests();
    let again = patch_group(
        &app,
        &group,
        json!([{"op": "Add", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    assert_eq!(again.status, 204, "{}", again.body);
    assert_eq!(
        app.drupal_writes(),
        [format!("POST /jsonapi/user/user/{ann}/relationships/roles")]
    );
    assert_eq!(app.roles_of("ann"), vec!["editor"]);

    // Default form: a value list on a path without filter removes only those.
    let removed = patch_group(
        &app,
        &group,
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": ann}]}]),
    )
    .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(
        members(&app, &group).await,
        sorted(vec![bob.clone(), cat.clone()])
    );
    // Flag form: a value filter in the path.
    let removed = patch_group(
        &app,
        &group,
        json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]),
    )
    .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert_eq!(members(&app, &group).await, vec![cat]);
    assert!(app.roles_of("ann").is_empty() && app.roles_of("bob").is_empty());
}

#[tokio::test]
async fn okta_push_renames_to_the_same_name_adds_without_type_removes_and_replaces() {
    let app = spawn_app().await;
    let group = app.group_id("engineering").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let cat = app.create_user("cat", "cat@example.org").await;

    let same_name = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "value": {"id": group, "displayName": "engineering"}}]),
    )
    .await;
    assert_eq!(same_name.status, 204, "{}", same_name.body);

    let add = patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members",
                "value": [{"value": bob, "display": "bob@example.org"}]}]),
    )
    .await;
    assert_eq!(add.status, 204, "{}", add.body);
    let remove_and_add = patch_group(
        &app,
        &group,
        json!([
            {"op": "remove", "path": format!("members[value eq \"{bob}\"]")},
            {"op": "add", "path": "members", "value": [{"value": ann, "display": "ann@example.org"}]}
        ]),
    )
    .await;
    assert_eq!(remove_and_add.status, 204, "{}", remove_and_add.body);
    assert_eq!(members(&app, &group).await, vec![ann.clone()]);

    // Members set exactly: 200 with the group, its members the list given
    // (the accounts were looked up anyway), without reading them again.
    app.drupal.clear_requests();
    let replace = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "path": "members",
                "value": [{"value": bob, "display": "x"}, {"value": cat, "display": "x"}]}]),
    )
    .await;
    assert_eq!(replace.status, 200, "{}", replace.body);
    assert_eq!(
        ids(&replace.body, "members"),
        sorted(vec![bob.clone(), cat.clone()])
    );
    assert!(replace.body["members"][0].get("display").is_none());
    let member_reads = |app: &TestApp| {
        app.drupal
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.query.contains("drupal_internal__target_id"))
            .count()
    };
    assert_eq!(member_reads(&app), 1, "{:?}", app.drupal.requests());
    assert_eq!(members(&app, &group).await, sorted(vec![bob, cat]));
    assert!(app.roles_of("ann").is_empty());

    let empty = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["members"], json!([]));
    assert!(members(&app, &group).await.is_empty());
    // The variant with the empty list inside a path-less replace.
    let variant = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "value": {"id": group, "displayName": "engineering", "members": []}}]),
    )
    .await;
    assert_eq!(variant.status, 200, "{}", variant.body);
    assert_eq!(variant.body["members"], json!([]));
}

#[tokio::test]
async fn a_rename_is_refused_because_drupal_cannot_rename_roles_and_nothing_is_written() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    app.drupal.clear_requests();
    let renamed = patch_group(
        &app,
        &group,
        json!([
            {"op": "add", "path": "members", "value": [{"value": ann}]},
            {"op": "Replace", "path": "displayName", "value": "Editors (new)"}
        ]),
    )
    .await;
    renamed.assert_scim_error(400, Some("mutability"));
    let detail = renamed.body["detail"].as_str().unwrap();
    assert!(detail.contains("cannot rename roles"), "{detail}");
    assert!(app.drupal_writes().is_empty());
    assert!(app.roles_of("ann").is_empty());
    let put = app
        .put(
            &format!("/Groups/{group}"),
            &json!({"displayName": "Other", "members": []}),
        )
        .await;
    put.assert_scim_error(400, Some("mutability"));
    let other_id = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "value": {"id": "someone-else", "displayName": "editor"}}]),
    )
    .await;
    other_id.assert_scim_error(400, Some("mutability"));
}

#[tokio::test]
async fn patch_answers_the_group_when_attributes_are_asked_for() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let answer = app
        .patch(
            &format!("/Groups/{group}?attributes=members"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ann}]}])),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(ids(&answer.body, "members"), vec![ann]);
    assert_eq!(answer.body["id"], group.as_str());
    assert!(answer.body.get("displayName").is_none());
}

#[tokio::test]
async fn onelogin_and_jumpcloud_patch_members_with_plain_value_lists() {
    let app = spawn_app().await;
    let group = app.group_id("engineering").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    // OneLogin: a plain RFC add.
    let add = patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    assert_eq!(add.status, 204, "{}", add.body);
    assert_eq!(app.roles_of("ann"), vec!["engineering"]);
    // JumpCloud: remove with a value list and no filter.
    let remove = patch_group(
        &app,
        &group,
        json!([{"op": "remove", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    assert_eq!(remove.status, 204, "{}", remove.body);
    assert!(app.roles_of("ann").is_empty());
}

#[tokio::test]
async fn a_null_members_value_is_refused_and_only_an_absent_one_removes_everyone() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let ann = app.seed_user_with_roles("ann", &["editor"]);
    let bob = app.seed_user_with_roles("bob", &["editor"]);
    let everyone = sorted(vec![ann.clone(), bob.clone()]);
    app.drupal.clear_requests();
    for operation in [
        json!({"op": "remove", "path": "members", "value": null}),
        json!({"op": "Remove", "path": "Members", "value": null}),
        json!({"op": "add", "path": "members", "value": null}),
        json!({"op": "replace", "path": "members", "value": null}),
        json!({"op": "replace", "value": {"members": null}}),
    ] {
        let answer = patch_group(&app, &group, json!([operation])).await;
        answer.assert_scim_error(400, Some("invalidValue"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(
            detail.contains("omit \"value\"") && detail.contains("list the members"),
            "{operation}: {detail}"
        );
        assert_eq!(members(&app, &group).await, everyone, "{operation}");
    }
    assert!(app.drupal_writes().is_empty(), "{:?}", app.drupal_writes());
    // An empty list changes nothing; no value at all removes every member.
    let none = patch_group(
        &app,
        &group,
        json!([{"op": "remove", "path": "members", "value": []}]),
    )
    .await;
    assert!(matches!(none.status, 200 | 204), "{}", none.body);
    assert_eq!(members(&app, &group).await, everyone);
    let all = patch_group(&app, &group, json!([{"op": "remove", "path": "members"}])).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["members"], json!([]));
    assert!(members(&app, &group).await.is_empty());
    assert!(app.roles_of("ann").is_empty() && app.roles_of("bob").is_empty());
}

#[tokio::test]
async fn members_value_ne_finds_groups_with_another_member_and_not_keeps_none() {
    let app = spawn_app().await;
    let ann = app.seed_user_with_roles("ann", &["editor", "engineering"]);
    app.seed_user_with_roles("bob", &["editor"]);
    let names = |answer: crate::helpers::Answer| -> Vec<String> {
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap().to_string())
            .collect()
    };
    let listed = |filter: String| {
        let app = &app;
        async move {
            app.get(&format!("/Groups?filter={}", url_encode(&filter)))
                .await
        }
    };
    // editor holds ann and bob, engineering only ann.
    assert_eq!(
        names(listed(format!("members.value ne \"{ann}\"")).await),
        ["editor"]
    );
    assert_eq!(
        names(listed(format!("not (members.value eq \"{ann}\")")).await),
        Vec::<String>::new()
    );
    let searched = app
        .post(
            "/Groups/.search",
            &json!({"filter": format!("members.value ne \"{ann}\"")}),
        )
        .await;
    assert_eq!(names(searched), ["editor"]);
    // A group with no member has no value that differs.
    app.patch(
        &format!("/Groups/{}", app.group_id("engineering").await),
        &patch_op(json!([{"op": "remove", "path": "members"}])),
    )
    .await;
    assert_eq!(
        names(listed(format!("members.value ne \"{ann}\"")).await),
        ["editor"]
    );
    assert_eq!(
        names(listed(format!("not (members.value eq \"{ann}\")")).await),
        ["engineering"]
    );
}

#[tokio::test]
async fn jumpcloud_connection_test_creates_and_deletes_a_user_and_a_group() {
    let app = spawn_app().await;
    let user = app.create_user("jc-test-user", "jc@example.org").await;
    let group = app.group_id("editor").await;
    let add = patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members", "value": [{"value": user}]}]),
    )
    .await;
    assert_eq!(add.status, 204, "{}", add.body);
    assert_eq!(app.delete(&format!("/Groups/{group}")).await.status, 204);
    assert_eq!(app.delete(&format!("/Users/{user}")).await.status, 204);
    assert!(app.roles_of("jc-test-user").is_empty());
}

#[tokio::test]
async fn put_replaces_the_members_and_answers_the_group() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let ann = app.create_user("ann", "ann@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    let old = app.seed_user_with_roles("old-editor", &["editor"]);
    let answer = app
        .put(
            &format!("/Groups/{group}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": group,
                "displayName": "editor",
                "members": [{"value": ann, "display": "ann"}, {"value": bob, "display": "bob"}]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(ids(&answer.body, "members"), sorted(vec![ann, bob]));
    assert!(
        app.roles_of("old-editor").is_empty(),
        "{old} left out, so removed"
    );
}

#[tokio::test]
async fn delete_takes_the_role_from_every_member_and_the_group_stays_empty() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    for i in 0..60 {
        app.seed_user_with_roles(&format!("ed-{i:02}"), &["editor", "engineering"]);
    }
    let answer = app.delete(&format!("/Groups/{group}")).await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        app.roles_of("ed-42"),
        vec!["engineering"],
        "other roles stay"
    );
    assert!(app.drupal_user("ed-42").is_some(), "users are not deleted");
    // The role stays in Drupal, so the group does too, without members.
    let after = app.get(&format!("/Groups/{group}")).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.body["members"], json!([]));
    assert!(app.drupal.role_uuid("editor").is_some());
}

#[tokio::test]
async fn protected_accounts_are_untouched_by_group_operations_and_named_in_the_error() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let admin = app.drupal.user_by_name("admin").unwrap().id().to_string();
    let boss = app.seed_user_with_roles("boss", &["administrator"]);
    let ann = app.create_user("ann", "ann@example.org").await;
    let answer = patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members",
                "value": [{"value": admin}, {"value": boss}, {"value": ann}]}]),
    )
    .await;
    answer.assert_scim_error(403, None);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&admin) && detail.contains(&boss),
        "{detail}"
    );
    assert!(detail.contains("nothing was changed"), "{detail}");
    assert!(app.roles_of("admin").is_empty());
    assert_eq!(app.roles_of("boss"), vec!["administrator"]);
    assert!(
        app.roles_of("ann").is_empty(),
        "refused whole before any write (RFC 7644 §3.5.2)"
    );
    let ann_only = patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    assert_eq!(ann_only.status, 204, "{}", ann_only.body);

    // A protected holder of the role keeps it through replace and delete.
    let senior = app.seed_user_with_roles("senior", &["administrator", "editor"]);
    let replace = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await;
    replace.assert_scim_error(403, None);
    assert!(replace.body["detail"].as_str().unwrap().contains(&senior));
    assert_eq!(
        app.roles_of("ann"),
        vec!["editor"],
        "refused whole: nothing changed"
    );
    assert_eq!(app.roles_of("senior"), vec!["administrator", "editor"]);
    app.delete(&format!("/Groups/{group}"))
        .await
        .assert_scim_error(403, None);
    assert_eq!(app.roles_of("senior"), vec!["administrator", "editor"]);
}

#[tokio::test]
async fn unknown_deprovisioned_and_group_members_are_refused_as_bad_values() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let gone = app.create_user("gone", "gone@example.org").await;
    assert_eq!(app.delete(&format!("/Users/{gone}")).await.status, 204);
    let other_group = app.drupal.role_uuid("engineering").unwrap();
    let nobody = "00000000-0000-4000-8000-00000000beef";
    let answer = patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members",
                "value": [{"value": gone}, {"value": nobody}, {"value": other_group}, {"value": "not-a-uuid"}]}]),
    )
    .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("nothing was changed"), "{detail}");
    for id in [gone.as_str(), nobody, other_group.as_str(), "not-a-uuid"] {
        assert!(detail.contains(id), "{id} in {detail}");
    }
    assert!(detail.contains("groups hold users only"), "{detail}");
    assert!(app.roles_of("gone").is_empty());
    // Removing someone who is not there is no error.
    let remove = patch_group(
        &app,
        &group,
        json!([{"op": "remove", "path": format!("members[value eq \"{nobody}\"]")}]),
    )
    .await;
    assert_eq!(remove.status, 204, "{}", remove.body);
    patch_group(
        &app,
        &group,
        json!([{"op": "add", "path": "members", "value": [{"value": "x", "type": "Group"}]}]),
    )
    .await
    .assert_scim_error(400, Some("invalidValue"));
    app.get("/Groups/00000000-0000-4000-8000-000000000000")
        .await
        .assert_scim_error(404, None);
}

/// Steps on one member in two cases are steps on one member: the last
/// wins, as for steps in one case (RFC 7644 §3.5.2: in order).
#[tokio::test]
async fn a_later_step_on_a_member_in_another_case_undoes_an_earlier_one() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let id = app.create_user("two-cases", "two-cases@example.org").await;
    let answer = patch_group(
        &app,
        &group,
        json!([
            {"op": "add", "path": "members", "value": [{"value": id.to_uppercase()}]},
            {"op": "remove", "path": format!("members[value eq \"{id}\"]")}
        ]),
    )
    .await;
    assert!(answer.status < 300, "{}", answer.body);
    assert!(app.roles_of("two-cases").is_empty());
    assert!(!members(&app, &group).await.contains(&id));
}

/// The JSON log events warning of `member`'s refused change.
fn member_warnings(logs: &drupal_scim_bridge::telemetry::CapturedLogs, member: &str) -> Vec<Value> {
    logs.contents()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("a membership change"))
                && e["member"]
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case(member))
        })
        .collect()
}

/// Member ids are compared ignoring case, but what the answer and the log
/// name is the member as the client sent it, not its lower-cased form: the
/// client finds its own value there.
#[tokio::test]
async fn a_refused_member_is_named_as_it_was_sent() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    // Not an id: read, found to be no account.
    // An id of no account the bridge has seen: written without a read,
    // Drupal's 404 tells.
    // And a line break in it, which the log escapes.
    for sent in [
        "ABC-Not-A-User",
        "0000DEAD-0000-4000-8000-00000000BEEF",
        "Evil\nINFO Forged",
    ] {
        let answer = patch_group(
            &app,
            &group,
            json!([{"op": "add", "path": "members", "value": [{"value": sent}]}]),
        )
        .await;
        answer.assert_scim_error(400, Some("invalidValue"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("add {sent}: no such user")),
            "{detail}"
        );
        let logged = member_warnings(&logs, sent);
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert_eq!(logged[0]["member"], sent);
    }
    // A group create's members too.
    crate::helpers::create_names_an_unknown_member_as_sent(&app, "engineering").await;
    // Left out under `unknown_members: skip`: the warning names it as sent.
    let skipping = spawn_app_with(Options {
        extra_config: "unknown_members: skip\n".into(),
        ..Options::default()
    })
    .await;
    let editor = skipping.group_id("editor").await;
    let answer = patch_group(
        &skipping,
        &editor,
        json!([{"op": "add", "path": "members", "value": [{"value": "Skipped-MIXED-Case"}]}]),
    )
    .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let text = logs.contents();
    assert!(
        text.lines()
            .any(|l| l.contains("members naming no account") && l.contains("Skipped-MIXED-Case")),
        "{text}"
    );
}

#[tokio::test]
async fn a_thousand_member_patch_completes_and_reports_the_members_drupal_failed() {
    let logs = captured_logs();
    let app = spawn_app().await;
    let group = app.group_id("engineering").await;
    let users: Vec<String> = (0..1000)
        .map(|i| app.seed_user_with_roles(&format!("bulk-{i:04}"), &[]))
        .collect();
    let failing = [&users[7], &users[500], &users[999]];
    for id in failing {
        app.drupal
            .fail_requests_to(&format!("/jsonapi/user/user/{id}/relationships/roles"), 500);
    }
    let value: Vec<Value> = users.iter().map(|id| json!({"value": id})).collect();
    app.drupal.clear_requests();
    let started = Instant::now();
    let answer = patch_group(
        &app,
        &group,
        json!([{"op": "Add", "path": "members", "value": value}]),
    )
    .await;
    let elapsed = started.elapsed();
    let requests = app.drupal.requests();

    answer.assert_scim_error(503, None);
    assert!(answer.header("retry-after").is_some());
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("3 of 1000") && detail.contains("other 997 were applied"),
        "{detail}"
    );
    for id in failing.iter().map(|s| s.as_str()) {
        assert!(detail.contains(id), "{id} in {detail}");
        assert!(logs.contents().contains(id), "{id} is logged");
    }
    let holders = members(&app, &group).await;
    assert_eq!(holders.len(), 997, "nothing written is lost");
    assert!(failing.iter().all(|id| !holders.contains(id)));

    let lookups = requests.iter().filter(|r| r.method == "GET").count();
    let writes = requests.iter().filter(|r| r.method == "POST").count();
    assert!(
        lookups <= 22,
        "batched lookups, not one per member: {lookups}"
    );
    assert_eq!(writes, 1000, "one relationship request per member");
    eprintln!("1,000-member PATCH: {elapsed:?}, {lookups} lookups, {writes} writes");
}

#[tokio::test]
async fn users_carry_the_exposed_groups_they_hold_read_only() {
    let app = spawn_app().await;
    let id = app.seed_user_with_roles("multi", &["editor", "administrator", "engineering"]);
    let answer = app.get(&format!("/Users/{id}")).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let editor = app.drupal.role_uuid("editor").unwrap();
    let groups = answer.body["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "administrator is not a group: {groups:?}");
    let first = groups
        .iter()
        .find(|g| g["value"] == editor.as_str())
        .unwrap();
    assert_eq!(
        first,
        &json!({"value": editor, "display": "editor", "type": "direct",
                "$ref": format!("{}/Groups/{editor}", app.base)})
    );
    let listed = app.filter_users("userName eq \"multi\"").await;
    assert_eq!(
        listed.body["Resources"][0]["groups"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let plain = app.create_user("plain", "plain@example.org").await;
    let answer = app.get(&format!("/Users/{plain}")).await;
    assert!(answer.body.get("groups").is_none(), "{}", answer.body);
    // Okta echoes groups in a PUT: ignored, the roles stay as they are.
    let put = app
        .put(
            &format!("/Users/{plain}"),
            &json!({"userName": "plain", "emails": [{"value": "plain@example.org", "primary": true}],
                    "groups": [{"value": editor}]}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert!(app.roles_of("plain").is_empty());
    app.patch(
        &format!("/Users/{plain}"),
        &patch_op(json!([{"op": "add", "path": "groups", "value": [{"value": editor}]}])),
    )
    .await
    .assert_scim_error(400, Some("mutability"));
}

#[tokio::test]
async fn role_rules_grant_and_revoke_their_roles_from_attributes_and_leave_others_alone() {
    let mapping = mapping_with(
        "demo.yaml",
        "  - {role: editor, display_name: editor}\n  - {role: engineering, display_name: engineering}",
        "  - when: enterprise:department eq \"Engineering\"\n    role: engineering",
    )
    .replacen(
        "\nrules:\n",
        "\nrules:\n  - scim: enterprise:department\n    drupal: field_department\n",
        1,
    );
    let app = spawn_app_with(Options {
        standin: demo_site_with_text_fields(&["field_department"]),
        mapping,
        ..Options::default()
    })
    .await;
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let created = app
        .post(
            "/Users",
            &json!({"userName": "eng", "emails": [{"value": "eng@example.org"}],
                    ENTERPRISE: {"department": "engineering"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(app.roles_of("eng"), vec!["engineering"]);
    assert_eq!(created.body["groups"][0]["display"], "engineering");
    let id = created.body["id"].as_str().unwrap().to_string();
    let editor = app.group_id("editor").await;
    patch_group(
        &app,
        &editor,
        json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
    )
    .await;
    let moved = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace",
                "path": format!("{ENTERPRISE}:department"), "value": "Sales"}])),
        )
        .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert_eq!(
        app.roles_of("eng"),
        vec!["editor"],
        "engineering revoked, editor kept"
    );
    let back = app
        .put(
            &format!("/Users/{id}"),
            &json!({"userName": "eng", "emails": [{"value": "eng@example.org"}],
                    ENTERPRISE: {"department": "Engineering"}}),
        )
        .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let mut roles = app.roles_of("eng");
    roles.sort();
    assert_eq!(roles, vec!["editor", "engineering"]);
}

#[tokio::test]
async fn protected_roles_are_exposed_only_when_the_mapping_says_so_and_startup_warns() {
    let refused = spawn_app_with(Options {
        mapping: mapping_with(
            "demo.yaml",
            "  - {role: administrator, display_name: Admins}\n  - {role: ghost, display_name: Ghosts}\n  - {role: editor, display_name: editor}",
            "  []",
        ),
        ..Options::default()
    })
    .await;
    let warnings = refused.provisioner.check_groups().await.unwrap();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("administrator") && warnings[0].contains("NOT exposed"));
    assert!(warnings[1].contains("ghost") && warnings[1].contains("does not exist"));
    let listed = refused.get("/Groups").await;
    assert_eq!(listed.body["totalResults"], 1);
    let answer = refused
        .post("/Groups", &json!({"displayName": "admins"}))
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    assert!(answer.body["detail"]
        .as_str()
        .unwrap()
        .contains("allow_protected: true"));

    let allowed = spawn_app_exposing_admins().await;
    let warnings = allowed.provisioner.check_groups().await.unwrap();
    assert!(warnings[0].contains("IS exposed"), "{warnings:?}");
    let group = allowed.group_id("Admins").await;
    let ann = allowed.create_user("ann", "ann@example.org").await;
    let add = patch_group(
        &allowed,
        &group,
        json!([{"op": "add", "path": "members", "value": [{"value": ann}]}]),
    )
    .await;
    assert_eq!(add.status, 204, "{}", add.body);
    // Revoking what was granted this way works: the group's own role does
    // not make its members protected.
    let remove = patch_group(
        &allowed,
        &group,
        json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}]),
    )
    .await;
    assert_eq!(remove.status, 204, "{}", remove.body);
    assert!(allowed.roles_of("ann").is_empty());
}

#[tokio::test]
async fn roles_are_read_once_per_ttl_and_again_when_a_group_is_missing() {
    let app = spawn_app_with(Options {
        mapping: mapping_with(
            "demo.yaml",
            "  - {role: editor, display_name: editor}\n  - {role: auditor, display_name: Auditors}",
            "  []",
        ),
        ..Options::default()
    })
    .await;
    let role_lists = |app: &TestApp| {
        app.drupal
            .requests()
            .iter()
            .filter(|r| r.path == "/jsonapi/user_role/user_role")
            .count()
    };
    for _ in 0..3 {
        assert_eq!(
            app.get("/Groups?excludedAttributes=members").await.body["totalResults"],
            1
        );
    }
    assert_eq!(role_lists(&app), 1, "cached between requests");
    // An administrator creates the role in Drupal; the next push finds it.
    let auditor = app
        .drupal
        .add_role(RoleSeed::new("auditor", "Auditor", &[]))
        .unwrap();
    let linked = app
        .post("/Groups", &json!({"displayName": "auditors"}))
        .await;
    assert_eq!(linked.status, 201, "{}", linked.body);
    assert_eq!(linked.body["id"], auditor.as_str());
    assert_eq!(role_lists(&app), 2, "refreshed once, on the miss");
}

#[tokio::test]
async fn discovery_states_group_support_honestly() {
    let app = spawn_app().await;
    let types = app.get("/ResourceTypes/Group").await;
    assert_eq!(types.status, 200, "{}", types.body);
    assert_eq!(types.body["endpoint"], "/Groups");
    assert!(types.body["description"]
        .as_str()
        .unwrap()
        .contains("Drupal roles"));
    let schema = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
        .await;
    let display_name = schema.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "displayName")
        .unwrap()
        .clone();
    assert_eq!(display_name["mutability"], "immutable");
    let config = app.get("/ServiceProviderConfig").await;
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["bulk"]["supported"], true);
    // Okta's connection test.
    let okta = app.get("/Groups?startIndex=1&count=100").await;
    assert_eq!(okta.status, 200);
    assert!(okta.body["totalResults"].is_u64());
}

/// `meta` and its sub-attributes are read-only, on groups as on users: a
/// PATCH of `meta.lastModified` is 400 `mutability`, not `invalidPath` (the
/// path names an attribute the Group schema has), and nothing is written.
#[tokio::test]
async fn a_patch_of_a_meta_sub_attribute_is_a_mutability_error_as_on_users() {
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    app.drupal.clear_requests();
    for operations in [
        json!([{"op": "replace", "path": "meta.lastModified", "value": "2020-01-01T00:00:00Z"}]),
        json!([{"op": "add", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}]),
        json!([{"op": "remove", "path": "meta.version"}]),
        json!([{"op": "replace", "value": {"meta.lastModified": "2020-01-01T00:00:00Z"}}]),
    ] {
        let answer = patch_group(&app, &group, operations.clone()).await;
        answer.assert_scim_error(400, Some("mutability"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("read-only"), "{operations}: {detail}");
        assert!(detail.contains("meta."), "{operations}: {detail}");
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    // A sub-attribute meta does not have is still no path.
    let answer = patch_group(
        &app,
        &group,
        json!([{"op": "replace", "path": "meta.nosuch", "value": "x"}]),
    )
    .await;
    answer.assert_scim_error(400, Some("invalidPath"));
}
