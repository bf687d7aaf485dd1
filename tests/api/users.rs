//! /Users over real HTTP against the Drupal stand-in.

use serde_json::{json, Value};

use crate::helpers::{patch_op, spawn_app, spawn_app_with, url_encode, Options};

#[tokio::test]
async fn create_user_answers_201_with_location_and_writes_an_active_drupal_account() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ada",
                "externalId": "ext-ada",
                "emails": [{"value": "ada@example.org", "type": "work", "primary": true}]
            }),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    assert_eq!(
        answer.header("location").unwrap(),
        format!("{}/Users/{id}", app.base)
    );
    assert_eq!(
        answer.header("content-type").unwrap(),
        "application/scim+json"
    );
    assert_eq!(answer.body["userName"], "ada");
    assert_eq!(answer.body["active"], true);
    assert_eq!(answer.body["emails"][0]["value"], "ada@example.org");
    assert_eq!(answer.body["meta"]["resourceType"], "User");
    assert!(answer.body["meta"]["version"]
        .as_str()
        .unwrap()
        .starts_with("W/"));

    let drupal = app.drupal_user("ada").expect("written to Drupal");
    assert_eq!(drupal["id"], id);
    assert_eq!(
        drupal["attributes"]["status"], true,
        "status sent explicitly"
    );
    assert_eq!(drupal["attributes"]["mail"], "ada@example.org");
    assert_eq!(drupal["attributes"]["field_scim_external_id"], "ext-ada");
}

#[tokio::test]
async fn create_with_active_false_creates_a_blocked_account() {
    let app = spawn_app().await;
    let answer = app
        .post("/Users", &json!({"userName": "blocked", "active": false, "emails": [{"value": "b@example.org"}]}))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["active"], false);
    assert_eq!(
        app.drupal_user("blocked").unwrap()["attributes"]["status"],
        false
    );
}

#[tokio::test]
async fn duplicate_user_name_is_a_uniqueness_conflict_and_writes_nothing_new() {
    let app = spawn_app().await;
    app.create_user("bob", "bob@example.org").await;
    let before = app.drupal.user_count();
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "BOB", "emails": [{"value": "other@example.org"}]}),
        )
        .await;
    answer.assert_scim_error(409, Some("uniqueness"));
    assert!(
        answer.body["detail"].as_str().unwrap().contains("BOB"),
        "{}",
        answer.body
    );
    assert_eq!(app.drupal.user_count(), before);
}

#[tokio::test]
async fn invalid_email_is_rejected_with_drupals_reason() {
    let app = spawn_app().await;
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "eve", "emails": [{"value": "not-an-email"}]}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("not a valid email"),
        "{}",
        answer.body
    );
    assert!(app.drupal_user("eve").is_none());
}

#[tokio::test]
async fn bad_input_never_reaches_drupal() {
    let app = spawn_app().await;
    app.drupal.clear_requests();
    app.post("/Users", &json!({"emails": [{"value": "x@example.org"}]}))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    app.post("/Users", &json!({"userName": 42}))
        .await
        .assert_scim_error(400, Some("invalidValue"));
    let raw = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(crate::helpers::TOKEN)
        .header("Content-Type", "application/scim+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    crate::helpers::read(raw)
        .await
        .assert_scim_error(400, Some("invalidSyntax"));
    app.patch(
        "/Users/00000000-0000-4000-8000-000000000000",
        &json!({"Operations": []}),
    )
    .await
    .assert_scim_error(400, Some("invalidSyntax"));
    app.filter_users("userName eq")
        .await
        .assert_scim_error(400, Some("invalidFilter"));
    assert_eq!(app.drupal.request_count(), 0, "{:?}", app.drupal.requests());
}

#[tokio::test]
async fn get_by_id_returns_the_user_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let id = app.create_user("carol", "carol@example.org").await;
    let answer = app.get(&format!("/Users/{id}")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["id"], id.as_str());
    assert_eq!(answer.body["userName"], "carol");
    assert!(answer.header("etag").unwrap().starts_with("W/"));

    app.get("/Users/11111111-2222-4333-8444-555555555555")
        .await
        .assert_scim_error(404, None);
    app.drupal.clear_requests();
    app.get("/Users/not-a-uuid")
        .await
        .assert_scim_error(404, None);
    assert_eq!(
        app.drupal.request_count(),
        0,
        "a malformed id needs no Drupal call"
    );
}

#[tokio::test]
async fn user_name_lookup_is_case_insensitive_and_one_drupal_request() {
    let app = spawn_app().await;
    for i in 0..60 {
        app.seed_user(
            &format!("filler-{i:02}"),
            &format!("filler-{i:02}@example.org"),
        );
    }
    let id = app.create_user("Dora.Explorer", "dora@example.org").await;
    app.drupal.clear_requests();
    let answer = app.filter_users("userName eq \"dora.explorer\"").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 1);
    assert_eq!(answer.body["Resources"][0]["id"], id.as_str());
    assert_eq!(app.drupal.request_count(), 1, "{:?}", app.drupal.requests());
}

#[tokio::test]
async fn lookups_by_external_id_and_email_find_one_user_in_one_request() {
    let app = spawn_app().await;
    let id = app.create_user("erin", "Erin@Example.org").await;
    for filter in [
        "externalId eq \"ext-erin\"",
        "emails.value eq \"erin@example.org\"",
        "emails[type eq \"work\"].value eq \"ERIN@example.org\"",
        "userName eq \"erin\" and active eq true",
    ] {
        app.drupal.clear_requests();
        let answer = app.filter_users(filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(answer.body["totalResults"], 1, "{filter}: {}", answer.body);
        assert_eq!(answer.body["Resources"][0]["id"], id.as_str(), "{filter}");
        assert_eq!(
            app.drupal.request_count(),
            1,
            "{filter}: {:?}",
            app.drupal.requests()
        );
    }
    let by_id = app.filter_users(&format!("id eq \"{id}\"")).await;
    assert_eq!(by_id.body["totalResults"], 1);
    let either = app
        .filter_users("userName eq \"erin\" or userName eq \"nobody\"")
        .await;
    assert_eq!(either.body["totalResults"], 1);
}

#[tokio::test]
async fn entra_probe_for_a_random_user_name_is_an_empty_list_not_404() {
    let app = spawn_app().await;
    let answer = app
        .get(&format!(
            "/Users?filter={}&aadOptscim062020",
            url_encode("userName eq \"1f2e3d4c-0000-4000-8000-123456789abc\"")
        ))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 0);
    assert_eq!(answer.body["Resources"], json!([]));
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
}

#[tokio::test]
async fn unsupported_filters_name_what_is_unsupported() {
    let app = spawn_app().await;
    let answer = app.filter_users("nickName eq \"x\"").await;
    answer.assert_scim_error(400, Some("invalidFilter"));
    assert!(answer.body["detail"].as_str().unwrap().contains("nickName"));
    let answer = app.filter_users("nosuch eq \"x\"").await;
    answer.assert_scim_error(400, Some("invalidFilter"));
}

#[tokio::test]
async fn paging_crosses_drupals_50_item_pages_and_counts_correctly() {
    let app = spawn_app().await;
    for i in 0..120 {
        app.seed_user(&format!("page-{i:03}"), &format!("page-{i:03}@example.org"));
    }
    // uid 1 (admin) is a user too.
    let all = app.get("/Users?startIndex=1&count=2").await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["totalResults"], 121);
    assert_eq!(all.body["itemsPerPage"], 2);
    assert_eq!(all.body["startIndex"], 1);

    let page = app.get("/Users?startIndex=41&count=100").await;
    assert_eq!(
        page.body["itemsPerPage"], 81,
        "{}",
        page.body["itemsPerPage"]
    );
    assert_eq!(page.body["totalResults"], 121);
    let names: Vec<&str> = page.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"page-039"));
    assert_eq!(names.last(), Some(&"page-119"));

    let beyond = app.get("/Users?startIndex=500&count=10").await;
    assert_eq!(beyond.body["totalResults"], 121);
    assert_eq!(beyond.body["Resources"], json!([]));
    let only_count = app.get("/Users?count=0").await;
    assert_eq!(only_count.body["totalResults"], 121);
    assert_eq!(only_count.body["itemsPerPage"], 0);
}

#[tokio::test]
async fn attributes_and_excluded_attributes_shape_the_answer() {
    let app = spawn_app().await;
    let id = app.create_user("fay", "fay@example.org").await;
    let only = app.get(&format!("/Users/{id}?attributes=userName")).await;
    assert_eq!(only.body["userName"], "fay");
    assert!(only.body.get("emails").is_none());
    assert_eq!(only.body["id"], id.as_str());
    // `meta` is returned by default only (RFC 7643 §3.1): left out unless
    // named; the version stays in the ETag header.
    assert!(only.body.get("meta").is_none(), "{}", only.body);
    assert!(only.headers.contains_key("etag"), "{:?}", only.headers);
    let dated = app
        .get(&format!(
            "/Users/{id}?attributes=userName,meta.lastModified"
        ))
        .await;
    let meta: Vec<&String> = dated.body["meta"].as_object().unwrap().keys().collect();
    assert_eq!(meta, ["lastModified"], "{}", dated.body);
    let without = app
        .get(&format!("/Users/{id}?excludedAttributes=emails"))
        .await;
    assert!(without.body.get("emails").is_none());
    assert_eq!(without.body["userName"], "fay");
}

#[tokio::test]
async fn put_replaces_the_user_and_omitted_active_keeps_the_account_active() {
    let app = spawn_app().await;
    let id = app.create_user("gus", "gus@example.org").await;
    let answer = app
        .put(
            &format!("/Users/{id}?"),
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": id,
                "userName": "gus.renamed",
                "emails": [{"value": "gus.new@example.org", "primary": true}]
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["userName"], "gus.renamed");
    assert_eq!(answer.body["active"], true);
    let drupal = app.drupal_user("gus.renamed").unwrap();
    assert_eq!(drupal["attributes"]["mail"], "gus.new@example.org");
    assert_eq!(drupal["attributes"]["status"], true);
}

#[tokio::test]
async fn put_with_null_clears_what_an_omitted_attribute_keeps() {
    let app = spawn_app().await;
    let id = app.create_user("put1", "put1@example.org").await;
    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "value": {"timezone": "Europe/Paris"}}])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let email = json!([{"value": "put1@example.org", "type": "work", "primary": true}]);
    // Left out: kept (Okta's PUT carries no externalId).
    let kept = app
        .put(
            &format!("/Users/{id}"),
            &json!({"userName": "put1", "emails": email}),
        )
        .await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(kept.body["externalId"], "ext-put1");
    assert_eq!(kept.body["timezone"], "Europe/Paris");
    // Given as null: cleared (RFC 7644 §3.5.1).
    let cleared = app
        .put(
            &format!("/Users/{id}"),
            &json!({"userName": "put1", "emails": email, "externalId": null,
                    "timezone": null, "preferredLanguage": null, "name": {"givenName": null}}),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert!(cleared.body.get("externalId").is_none(), "{}", cleared.body);
    let drupal = app.drupal_user("put1").unwrap();
    assert_eq!(drupal["attributes"]["field_scim_external_id"], Value::Null);
    // Drupal puts the site's default time zone back (user_user_presave).
    assert_eq!(drupal["attributes"]["timezone"], "UTC");
    assert_eq!(drupal["attributes"]["mail"], "put1@example.org");
    assert_eq!(drupal["attributes"]["status"], true);
}

#[tokio::test]
async fn put_emptying_the_mail_or_the_status_is_refused_as_a_patch_removing_them_is() {
    let app = spawn_app().await;
    // One the bridge wrote a moment ago (written without a read) and one it
    // never saw (read first).
    let seen = app.create_user("put2", "put2@example.org").await;
    let unseen = app.seed_user("put3", "put3@example.org");
    for (id, name) in [(seen, "put2"), (unseen, "put3")] {
        let mail = format!("{name}@example.org");
        app.drupal.clear_requests();
        let patch = app
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{"op": "replace", "path": "emails", "value": []}])),
            )
            .await;
        patch.assert_scim_error(400, Some("mutability"));
        let put = app
            .put(
                &format!("/Users/{id}"),
                &json!({"userName": name, "emails": []}),
            )
            .await;
        put.assert_scim_error(400, Some("mutability"));
        assert_eq!(put.body["detail"], patch.body["detail"]);
        let active = app
            .put(
                &format!("/Users/{id}"),
                &json!({"userName": name, "emails": [{"value": mail}], "active": null}),
            )
            .await;
        active.assert_scim_error(400, Some("mutability"));
        assert_eq!(app.drupal_writes(), Vec::<String>::new());
        let drupal = app.drupal_user(name).unwrap();
        assert_eq!(drupal["attributes"]["mail"], mail.as_str());
        assert_eq!(drupal["attributes"]["status"], true);
    }
}

#[tokio::test]
async fn a_time_zone_drupal_does_not_know_is_refused_as_the_real_drupal_refuses_it() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({"userName": "tz1", "emails": [{"value": "tz1@example.org"}],
                    "timezone": "Mars/Olympus"}),
        )
        .await;
    created.assert_scim_error(400, Some("invalidValue"));
    assert!(app.drupal_user("tz1").is_none());
    let id = app.create_user("tz2", "tz2@example.org").await;
    for zone in ["Mars/Olympus", "europe/paris"] {
        let patched = app
            .patch(
                &format!("/Users/{id}"),
                &patch_op(json!([{"op": "replace", "path": "timezone", "value": zone}])),
            )
            .await;
        patched.assert_scim_error(400, Some("invalidValue"));
        let detail = patched.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("not a valid choice"), "{detail}");
    }
    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "timezone", "value": "Europe/Paris"}])),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["timezone"], "Europe/Paris");
}

#[tokio::test]
async fn patch_that_changes_nothing_writes_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("hal", "hal@example.org").await;
    app.drupal.clear_requests();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &patch_op(json!([{"op": "replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn patch_operations_are_all_or_nothing() {
    let app = spawn_app().await;
    let id = app.create_user("ivy", "ivy@example.org").await;
    app.drupal.clear_requests();
    let answer = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"Operations": [
                {"op": "replace", "path": "userName", "value": "ivy2"},
                {"op": "replace", "path": "id", "value": "other"}
            ]}),
        )
        .await;
    answer.assert_scim_error(400, Some("mutability"));
    assert!(app.drupal_user("ivy").is_some());
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_mapping_without_groups_reads_a_user_in_one_drupal_request() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        mapping: std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/mappings/default.yaml"
        ))
        .unwrap(),
        ..crate::helpers::Options::default()
    })
    .await;
    let id = app.create_user("solo", "solo@example.org").await;
    app.drupal.clear_requests();
    assert_eq!(app.get(&format!("/Users/{id}")).await.status, 200);
    assert_eq!(app.drupal.request_count(), 1, "{:?}", app.drupal.requests());
}

#[tokio::test]
async fn a_user_name_longer_than_drupal_allows_is_refused_not_cut() {
    let app = spawn_app().await;
    let long = format!("{}@example.org", "a".repeat(64));
    let answer = app
        .post(
            "/Users",
            &json!({"userName": long, "emails": [{"value": "long@example.org"}]}),
        )
        .await;
    answer.assert_scim_error(400, Some("invalidValue"));
    assert!(
        answer.body["detail"].as_str().unwrap().contains("60"),
        "{}",
        answer.body
    );
    let lookup = app.filter_users(&format!("userName eq \"{long}\"")).await;
    assert_eq!(lookup.status, 200, "the IdP's lookup still answers");
    assert_eq!(lookup.body["totalResults"], 0);
}

#[tokio::test]
async fn the_anonymous_accounts_uuid_is_not_a_user_and_no_credential_alarm() {
    let anonymous = uuid::Uuid::new_v4();
    let mut options = crate::helpers::Options::default();
    options.standin.anonymous_uuid = Some(anonymous);
    let app = crate::helpers::spawn_app_with(options).await;
    app.get(&format!("/Users/{anonymous}"))
        .await
        .assert_scim_error(404, None);
    app.delete(&format!("/Users/{anonymous}"))
        .await
        .assert_scim_error(404, None);
}

/// Drupal's "already taken" check ignores case in ASCII only while its
/// unique index on names ignores it in every script, so a name differing
/// from another account's only in non-ASCII case makes Drupal answer 500
/// (recorded on SQLite and MariaDB; the stand-in does the same). The IdP
/// gets the 409 `uniqueness` of any taken name, not a 503 it would retry
/// for ever.
#[tokio::test]
async fn a_user_name_taken_in_non_ascii_case_is_409_not_503() {
    let app = spawn_app().await;
    app.create_user("ÉMILE", "emile1@example.org").await;
    let again = app
        .post(
            "/Users",
            &json!({"userName": "émile", "emails": [{"value": "emile2@example.org"}]}),
        )
        .await;
    again.assert_scim_error(409, Some("uniqueness"));
    assert!(
        again.body["detail"].as_str().unwrap().contains("émile"),
        "{}",
        again.body
    );
    let other = app.create_user("other", "other@example.org").await;
    app.patch(
        &format!("/Users/{other}"),
        &patch_op(json!([{"op": "replace", "path": "userName", "value": "émile"}])),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
    // Renaming an account to its own name in another case is no clash.
    let own = app
        .patch(
            &format!("/Users/{other}"),
            &patch_op(json!([{"op": "replace", "path": "userName", "value": "OTHER"}])),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

/// Two renames to one name at once both pass Drupal's "already taken"
/// check; the second then breaks the unique index and Drupal answers 500
/// (the stand-in's answer is rewritten to the one MariaDB gives). The 409
/// must not say the other account's name differs in case or accents: here
/// it is the very same name.
#[tokio::test]
async fn a_name_taken_by_a_concurrent_rename_is_409_without_claiming_the_names_differ() {
    let app = spawn_app().await;
    app.create_user("carol", "carol@example.org").await;
    let bob = app.create_user("bob", "bob@example.org").await;
    app.drupal.rewrite_answers_to(
        "PATCH",
        &format!("/jsonapi/user/user/{bob}"),
        |answer: &mut drupal_scim_bridge::standin::Answer| {
            answer.status = 500;
            answer.set_json(&json!({"errors": [{"title": "Internal Server Error", "status": "500",
                "detail": "SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate entry 'carol-en' for key 'user__name'"}]}));
        },
    );
    let answer = app
        .patch(
            &format!("/Users/{bob}"),
            &patch_op(json!([{"op": "replace", "path": "userName", "value": "carol"}])),
        )
        .await;
    answer.assert_scim_error(409, Some("uniqueness"));
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(detail.contains("carol"), "{detail}");
    assert!(!detail.contains("it differs only"), "{detail}");
    assert!(detail.contains("identical"), "{detail}");
}

/// Unicode writes one name two ways: "Renée" with a precomposed "é"
/// (NFC, as IdPs send it) or with "e" and a combining accent (NFD, as
/// macOS file names and some directories hold it). Drupal compares names
/// byte by byte, so both spellings would become two accounts that look the
/// same at a login prompt. Names are kept in NFC, so the second spelling
/// is the first account's name.
#[tokio::test]
async fn a_user_name_in_another_unicode_spelling_is_the_same_name() {
    let app = spawn_app().await;
    let decomposed = "Rene\u{301}e";
    let composed = "Ren\u{e9}e";
    let created = app
        .post(
            "/Users",
            &json!({"userName": decomposed, "emails": [{"value": "renee@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], composed, "kept in NFC");
    let id = created.body["id"].as_str().unwrap().to_string();

    let again = app
        .post(
            "/Users",
            &json!({"userName": composed, "emails": [{"value": "other@example.org"}]}),
        )
        .await;
    again.assert_scim_error(409, Some("uniqueness"));

    for spelling in [decomposed, composed] {
        let filter = format!("userName eq \"{spelling}\"");
        let found = app
            .get(&format!("/Users?filter={}", url_encode(&filter)))
            .await;
        assert_eq!(
            found.body["totalResults"], 1,
            "{spelling:?}: {}",
            found.body
        );
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    }

    let other = app.create_user("other", "other@example.org").await;
    app.patch(
        &format!("/Users/{other}"),
        &patch_op(json!([{"op": "replace", "path": "userName", "value": decomposed}])),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
}

/// A rule that truncates the name counts the characters of the name's
/// NFC form: the NFD spelling of a 60-character name (61 code points) lost
/// its accent to `truncate: 60`, and the filter, which normalised first,
/// no longer found it (an outside tester).
#[tokio::test]
async fn a_truncating_rule_cuts_the_name_as_kept_not_its_accent() {
    let mapping = crate::helpers::demo_roles_only().replace(
        "  - scim: userName\n    drupal: name\n    transforms: [trim]\n",
        "  - scim: userName\n    drupal: name\n    transforms: [trim, {truncate: 60}]\n",
    );
    assert!(mapping.contains("truncate: 60"), "the rule was replaced");
    let app = spawn_app_with(Options {
        mapping,
        ..Options::default()
    })
    .await;
    let stem = "a".repeat(59);
    let decomposed = format!("{stem}e\u{301}");
    let composed = format!("{stem}\u{e9}");
    let created = app
        .post(
            "/Users",
            &json!({"userName": decomposed, "emails": [{"value": "long@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], composed.as_str());
    for spelling in [&decomposed, &composed] {
        let filter = format!("userName eq \"{spelling}\"");
        let found = app
            .get(&format!("/Users?filter={}", url_encode(&filter)))
            .await;
        assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    }
    app.post(
        "/Users",
        &json!({"userName": composed, "emails": [{"value": "long2@example.org"}]}),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));
}

/// RFC 7643 gives userName `caseExact: false`, in every script. Drupal on
/// SQLite ignores case in ASCII only (the stand-in does the same): the
/// IdP's lookup before a create, and its create after a deprovisioning,
/// must still find "émile.x" as "ÉMILE.X".
#[tokio::test]
async fn user_names_cased_beyond_ascii_are_found_and_revived_in_any_case() {
    let app = spawn_app().await;
    let id = app.create_user("émile.X", "emile@example.org").await;
    for spelling in ["ÉMILE.X", "émile.x", "Émile.X"] {
        let filter = format!("userName eq \"{spelling}\"");
        let found = app
            .get(&format!("/Users?filter={}", url_encode(&filter)))
            .await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!(found.body["totalResults"], 1, "{spelling}: {}", found.body);
        assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    }
    // A name that only shares the other letters is not a match.
    let other = app
        .get(&format!(
            "/Users?filter={}",
            url_encode("userName eq \"ÈMILE.X\"")
        ))
        .await;
    assert_eq!(other.body["totalResults"], 0, "{}", other.body);

    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
    let again = app
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "ÉMILE.X",
                "emails": [{"value": "emile@example.org", "primary": true}],
            }),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(
        again.body["id"],
        id.as_str(),
        "the deprovisioned account comes back"
    );
    assert_eq!(again.body["active"], true);
}
