//! Each shipped preset against its IdP's documented requests (tests/fixtures/idp):
//! the create body goes through the real SCIM parsing to the JSON:API
//! document the bridge sends, then the whole flow (create, PUT, PATCH) runs
//! over HTTP and the Drupal account is compared field by field.

use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::preview::Preview;
use serde_json::{json, Value};

use crate::helpers::{
    demo_site_with_text_fields, idp_fixture, read_mapping, spawn_app_with, Options, TestApp,
};

const EXTERNAL_ID: &str = "00ujl29u0le5T6Aj10h7";
const RANDOM: &str = "ab6490ee-1e48-479e-a20b-2d77186b5dd1";
const RANDOM2: &str = "fd0ea19b-0777-472c-9f96-4f70d2226f2e";
const RANDOM3: &str = "c6c2ae55-5b1f-4a3c-9b8e-2f6a1d0e7c44";

/// The body of a documented request, its placeholders filled in;
/// `extra` fills (or overrides) more of them.
fn idp_body(fixture: &str, extra: &[(&str, &str)]) -> Value {
    let mut text = idp_fixture(fixture);
    let defaults = [
        ("{externalId}", EXTERNAL_ID),
        ("{random}", RANDOM),
        ("{random2}", RANDOM2),
        ("{random3}", RANDOM3),
        ("{email}", "aaa.test@example.com"),
    ];
    for (placeholder, value) in extra.iter().chain(&defaults) {
        text = text.replace(placeholder, value);
    }
    let example: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    example["request"]["body"].clone()
}

/// A site with every custom field the presets write.
pub(crate) async fn spawn_preset(file: &str) -> TestApp {
    spawn_app_with(Options {
        standin: demo_site_with_text_fields(&[
            "field_first_name",
            "field_last_name",
            "field_job_title",
            "field_department",
            "field_display_name",
        ]),
        mapping: read_mapping(file),
        ..Options::default()
    })
    .await
}

/// Asserts the Drupal account named `name` holds `expected` (`pass` aside:
/// Drupal never shows it).
fn assert_account(app: &TestApp, name: &str, expected: &Value) {
    let account = app
        .drupal_user(name)
        .unwrap_or_else(|| panic!("no Drupal account {name}"));
    for (field, value) in expected.as_object().expect("expected fields") {
        if field != "pass" {
            assert_eq!(
                &account["attributes"][field], value,
                "{field} of {name}: {account}"
            );
        }
    }
}

/// Replays a documented create: the document the bridge sends is exactly
/// `expected`, and the account Drupal ends up with holds it. Returns the
/// running bridge and the new user's SCIM id.
async fn replay_create(preset: &str, fixture: &str, expected: Value) -> (TestApp, String) {
    let body = idp_body(fixture, &[]);
    let mapping = Mapping::parse(&read_mapping(preset), preset).expect("preset");
    let document = Preview::new(mapping)
        .expect("preset schemas")
        .to_drupal(&body.to_string())
        .expect("the documented body converts");
    assert_eq!(
        document,
        json!({"data": {"type": "user--user", "attributes": expected}}),
        "{preset} with {fixture}"
    );

    let app = spawn_preset(preset).await;
    let created = app.post("/Users", &body).await;
    assert_eq!(created.status, 201, "{fixture}: {}", created.body);
    let name = expected["name"].as_str().expect("name");
    assert_account(&app, name, &expected);
    let id = created.body["id"].as_str().expect("id").to_string();
    (app, id)
}

async fn replay_patch(app: &TestApp, id: &str, fixture: &str, extra: &[(&str, &str)]) {
    let answer = app
        .patch(&format!("/Users/{id}"), &idp_body(fixture, extra))
        .await;
    assert_eq!(answer.status, 200, "{fixture}: {}", answer.body);
}

#[tokio::test]
async fn entra_id_documented_create_and_patches_reach_drupal() {
    let name = format!("Test_User_{RANDOM}");
    let (app, id) = replay_create(
        "entra-id.yaml",
        "entra-02-create-user",
        json!({
            "name": name,
            "mail": format!("Test_User_{RANDOM2}@testuser.com"),
            "status": true,
            "field_scim_external_id": EXTERNAL_ID,
            "field_first_name": "givenName",
            "field_last_name": "familyName"
        }),
    )
    .await;

    replay_patch(&app, &id, "entra-05-patch-replace-work-email", &[]).await;
    assert_account(
        &app,
        &name,
        &json!({"mail": "updatedEmail@microsoft.com", "field_last_name": "updatedFamilyName"}),
    );

    replay_patch(&app, &id, "entra-06-patch-replace-multi-op", &[]).await;
    assert_account(
        &app,
        &name,
        &json!({
            "mail": "TestBcwqnm@test.microsoft.com",
            "field_first_name": "Gtfd",
            "field_last_name": "Pkqf",
            "field_scim_external_id": "Eqpj"
        }),
    );

    replay_patch(&app, &id, "entra-07-patch-replace-no-path-dotted-keys", &[]).await;
    assert_account(
        &app,
        &name,
        &json!({
            "mail": "TestMhvaes@test.microsoft.com",
            "field_first_name": "Kkom",
            "field_last_name": "Unua"
        }),
    );

    replay_patch(&app, &id, "entra-11-patch-disable-active-string-False", &[]).await;
    assert_account(&app, &name, &json!({"status": false}));

    replay_patch(&app, &id, "entra-10-patch-replace-userName", &[]).await;
    let renamed = format!("{RANDOM3}@testuser.com");
    assert_account(
        &app,
        &renamed,
        &json!({"mail": "TestMhvaes@test.microsoft.com", "status": false}),
    );
}

#[tokio::test]
async fn entra_id_older_example_with_nulls_and_the_typo_urn_creates_the_account() {
    replay_create(
        "entra-id.yaml",
        "entra-02b-create-user-null-attributes",
        json!({
            "name": "jyoung@testuser.com",
            "mail": "jyoung@Contoso.com",
            "status": true,
            "field_scim_external_id": "jyoung",
            "field_first_name": "Joy",
            "field_last_name": "Young"
        }),
    )
    .await;
}

#[tokio::test]
async fn entra_id_preset_keeps_an_address_sent_without_the_work_type() {
    let app = spawn_preset("entra-id.yaml").await;
    for (name, emails) in [
        ("notype", json!([{"value": "notype@example.org"}])),
        (
            "home",
            json!([{"value": "home@example.org", "type": "home"}]),
        ),
        (
            "other",
            json!([{"value": "other@example.org", "type": "other", "primary": true}]),
        ),
    ] {
        let created = app
            .post("/Users", &json!({"userName": name, "emails": emails}))
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let mail = format!("{name}@example.org");
        assert_account(&app, name, &json!({"mail": mail}));
        assert_eq!(
            created.body["emails"],
            json!([{"value": mail, "type": "work", "primary": true}])
        );
    }
}

#[tokio::test]
async fn okta_documented_create_put_and_deactivation_reach_drupal() {
    let name = "test.user@okta.local";
    let (app, id) = replay_create(
        "okta.yaml",
        "okta-03-create-user",
        json!({
            "name": name,
            "mail": name,
            "status": true,
            "field_scim_external_id": EXTERNAL_ID,
            "pass": {"value": "1mz050nq"},
            "preferred_langcode": "en",
            "field_first_name": "Test",
            "field_last_name": "User"
        }),
    )
    .await;

    // A full PUT: what it leaves out is cleared, except what the preset keeps.
    let put = app
        .put(
            &format!("/Users/{id}"),
            &idp_body("okta-05-put-user", &[("{userId}", &id)]),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_account(
        &app,
        name,
        &json!({
            "status": true,
            "field_first_name": "Another",
            "field_last_name": "User",
            "field_scim_external_id": EXTERNAL_ID,
            "preferred_langcode": "en"
        }),
    );

    replay_patch(&app, &id, "okta-06-patch-deactivate", &[]).await;
    assert_account(&app, name, &json!({"status": false}));
    replay_patch(&app, &id, "okta-07-patch-reactivate", &[]).await;
    assert_account(&app, name, &json!({"status": true}));
}

#[tokio::test]
async fn onelogin_create_with_legacy_urns_put_and_single_object_emails_reach_drupal() {
    let name = "onelogin-test-user01";
    let (app, id) = replay_create(
        "onelogin.yaml",
        "onelogin-02-create-user-legacy-urns",
        json!({
            "name": name,
            "mail": "aaa.test@example.com",
            "status": true,
            "field_first_name": "AAA Test",
            "field_last_name": "User 01"
        }),
    )
    .await;

    let put = app
        .put(
            &format!("/Users/{id}?"),
            &idp_body("onelogin-03-put-user-trailing-question-mark", &[]),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_account(
        &app,
        name,
        &json!({"mail": "aaa.test@example.com", "field_last_name": "User 01"}),
    );

    replay_patch(
        &app,
        &id,
        "onelogin-04-patch-emails-single-object",
        &[("{email}", "aaa.new@example.com")],
    )
    .await;
    assert_account(&app, name, &json!({"mail": "aaa.new@example.com"}));
}

#[tokio::test]
async fn jumpcloud_create_with_title_and_department_reaches_drupal() {
    replay_create(
        "jumpcloud.yaml",
        "jumpcloud-01-create-user",
        json!({
            "name": "jane.doe",
            "mail": "jane.doe@example.com",
            "status": true,
            "field_first_name": "Jane",
            "field_last_name": "Doe",
            "field_job_title": "Site Reliability Engineer",
            "field_department": "Engineering"
        }),
    )
    .await;
}

#[tokio::test]
async fn google_create_with_the_email_as_user_name_reaches_drupal() {
    replay_create(
        "google.yaml",
        "google-01-create-user",
        json!({
            "name": "ada.lovelace@example.com",
            "mail": "ada.lovelace@example.com",
            "status": true,
            "field_first_name": "Ada",
            "field_last_name": "Lovelace"
        }),
    )
    .await;
}

#[tokio::test]
async fn miniorange_create_with_the_work_email_and_display_name_reaches_drupal() {
    replay_create(
        "miniorange.yaml",
        "miniorange-01-create-user",
        json!({
            "name": "grace.hopper",
            "mail": "grace.hopper@example.com",
            "status": true,
            "field_first_name": "Grace",
            "field_last_name": "Hopper",
            "field_display_name": "Grace Hopper"
        }),
    )
    .await;
}

/// A standard Drupal site has English alone: a locale whose language it
/// lacks is left out of the write (and logged), not made a 400 that every
/// later update of the user would repeat.
#[tokio::test]
async fn okta_locale_of_a_language_drupal_lacks_does_not_block_the_user() {
    let logs = crate::helpers::captured_logs();
    let app = spawn_preset("okta.yaml").await;
    let mut body = idp_body("okta-03-create-user", &[]);
    body["userName"] = json!("lena@okta.local");
    body["emails"][0]["value"] = json!("lena@okta.local");
    body["locale"] = json!("de-DE");
    let created = app.post("/Users", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_account(
        &app,
        "lena@okta.local",
        &json!({"field_first_name": "Test", "preferred_langcode": "en"}),
    );
    let id = created.body["id"].as_str().unwrap().to_string();

    body["id"] = json!(id);
    body["name"]["givenName"] = json!("Magdalena");
    let put = app.put(&format!("/Users/{id}"), &body).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_account(
        &app,
        "lena@okta.local",
        &json!({"field_first_name": "Magdalena", "preferred_langcode": "en"}),
    );

    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "value": {"locale": "de-DE", "name.familyName": "Klein"}}
                ]
            }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_account(
        &app,
        "lena@okta.local",
        &json!({"field_last_name": "Klein"}),
    );

    // An installed language is still written.
    let english = app
        .patch(
            &format!("/Users/{id}"),
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "locale", "value": "en-GB"}]
            }),
        )
        .await;
    assert_eq!(english.status, 200, "{}", english.body);

    let text = logs.contents();
    assert!(
        text.lines()
            .any(|l| l.contains("preferred language") && l.contains("\"de\"")),
        "a warning naming the language to install"
    );
}

const PRESETS: [&str; 6] = [
    "entra-id.yaml",
    "okta.yaml",
    "onelogin.yaml",
    "jumpcloud.yaml",
    "miniorange.yaml",
    "google.yaml",
];

/// Every IdP preset takes any group its IdP pushes (JumpCloud's connection
/// test creates one), as a taxonomy term: created, filled, found by name,
/// emptied and deleted as the IdPs do it.
#[tokio::test]
async fn every_preset_takes_the_groups_its_idp_pushes() {
    for preset in PRESETS {
        let app = spawn_preset(preset).await;
        let user = app
            .post(
                "/Users",
                &json!({"userName": "grace", "emails": [{"value": "grace@example.org", "primary": true}]}),
            )
            .await;
        assert_eq!(user.status, 201, "{preset}: {}", user.body);
        let member = user.body["id"].as_str().unwrap().to_string();
        let created = app
            .post(
                "/Groups",
                &json!({"displayName": "Pushed Group", "members": []}),
            )
            .await;
        assert_eq!(created.status, 201, "{preset}: {}", created.body);
        let id = created.body["id"].as_str().unwrap().to_string();
        let added = app
            .patch(
                &format!("/Groups/{id}"),
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "Add", "path": "members", "value": [{"value": member}]}]}),
            )
            .await;
        assert!(
            added.status == 204 || added.status == 200,
            "{preset}: {}",
            added.body
        );
        let found = app
            .get("/Groups?filter=displayName%20eq%20%22pushed%20group%22")
            .await;
        assert_eq!(
            found.body["totalResults"],
            json!(1),
            "{preset}: {}",
            found.body
        );
        assert_eq!(
            found.body["Resources"][0]["members"][0]["value"],
            json!(member),
            "{preset}"
        );
        let emptied = app
            .patch(
                &format!("/Groups/{id}"),
                &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "members", "value": []}]}),
            )
            .await;
        assert!(
            emptied.status == 204 || emptied.status == 200,
            "{preset}: {}",
            emptied.body
        );
        assert_eq!(
            app.delete(&format!("/Groups/{id}")).await.status,
            204,
            "{preset}"
        );
        assert_eq!(
            app.get(&format!("/Groups/{id}")).await.status,
            404,
            "{preset}"
        );
    }
}

/// A site that has not set up the vocabulary still provisions users with a
/// preset; a pushed group is refused with what to set up.
#[tokio::test]
async fn a_preset_in_front_of_a_site_without_the_vocabulary_still_provisions_users() {
    let mut standin = demo_site_with_text_fields(&[
        "field_first_name",
        "field_last_name",
        "field_job_title",
        "field_department",
        "field_display_name",
    ]);
    standin.taxonomy = false;
    let app = spawn_app_with(Options {
        standin,
        mapping: read_mapping("entra-id.yaml"),
        ..Options::default()
    })
    .await;
    let user = app
        .post(
            "/Users",
            &json!({"userName": "grace@contoso.com", "emails": [{"value": "grace@contoso.com", "type": "work", "primary": true}]}),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.body);
    let id = user.body["id"].as_str().unwrap();
    let read = app.get(&format!("/Users/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    let found = app
        .get("/Users?filter=userName%20eq%20%22grace%40contoso.com%22")
        .await;
    assert_eq!(found.body["totalResults"], json!(1), "{}", found.body);
    let off = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    let group = app
        .post("/Groups", &json!({"displayName": "Pushed Group"}))
        .await;
    group.assert_scim_error(502, None);
    let detail = group.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("no taxonomy vocabulary scim_groups"),
        "{detail}"
    );
    assert_eq!(app.delete(&format!("/Users/{id}")).await.status, 204);
}
