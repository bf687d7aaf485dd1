//! The shipped presets parse, and turn each IdP's documented create request
//! (in canonical form) into the Drupal document the site expects.

use serde_json::{json, Value};

use super::{mapping, object};
use crate::mapping::WritePurpose;

const PRESETS: [(&str, &str); 7] = [
    (
        "default.yaml",
        include_str!("../../../mappings/default.yaml"),
    ),
    (
        "entra-id.yaml",
        include_str!("../../../mappings/entra-id.yaml"),
    ),
    ("okta.yaml", include_str!("../../../mappings/okta.yaml")),
    (
        "onelogin.yaml",
        include_str!("../../../mappings/onelogin.yaml"),
    ),
    (
        "jumpcloud.yaml",
        include_str!("../../../mappings/jumpcloud.yaml"),
    ),
    ("google.yaml", include_str!("../../../mappings/google.yaml")),
    (
        "miniorange.yaml",
        include_str!("../../../mappings/miniorange.yaml"),
    ),
];

fn preset(name: &str) -> crate::mapping::Mapping {
    let (_, source) = PRESETS
        .iter()
        .find(|(file, _)| *file == name)
        .unwrap_or_else(|| panic!("no preset {name}"));
    mapping(source)
}

#[test]
fn every_preset_parses_and_links_accounts_by_user_name() {
    for (file, source) in PRESETS {
        let parsed = crate::mapping::Mapping::parse(source, file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.match_key().binding.drupal_field, "name", "{file}");
        let fields: Vec<String> = parsed.mapped_fields().into_iter().map(|f| f.name).collect();
        for required in ["name", "mail", "status"] {
            assert!(
                fields.iter().any(|f| f == required),
                "{file} does not map {required}"
            );
        }
    }
}

#[test]
fn every_preset_starts_with_a_header_naming_its_idp_and_drupal_side() {
    for (file, source) in PRESETS {
        let header: Vec<&str> = source.lines().take_while(|l| l.starts_with('#')).collect();
        assert!(header.len() >= 5, "{file} has no header comment");
        assert!(header.iter().any(|l| l.contains("Drupal side")), "{file}");
    }
}

#[test]
fn default_maps_only_stock_fields_and_the_external_id_field() {
    let default = preset("default.yaml");
    let fields: Vec<String> = default
        .mapped_fields()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "mail",
            "status",
            "field_scim_external_id",
            "preferred_langcode",
            "timezone"
        ]
    );
}

#[test]
fn entra_documented_create_becomes_the_expected_drupal_user() {
    // POST /Users of Entra's SCIM tutorial, in canonical form: `roles: []`
    // is gone (no empty lists), `meta` stays as the IdP sent it.
    let user = object(json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"
        }],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"}
    }));
    let write = preset("entra-id.yaml")
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "mail": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com",
            "status": true,
            "field_scim_external_id": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "field_first_name": "givenName",
            "field_last_name": "familyName"
        })
    );
    assert!(write.relationships.is_empty());
}

#[test]
fn entra_create_with_nulls_keeps_the_mail_as_sent() {
    // Entra's older example: nulls dropped in canonical form; the docs'
    // misplaced top-level department is not an enterprise attribute.
    let user = object(json!({
        "externalId": "jyoung",
        "userName": "jyoung@testuser.com",
        "active": true,
        "displayName": "Joy Young",
        "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "Young", "givenName": "Joy"}
    }));
    let write = preset("entra-id.yaml")
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "jyoung@testuser.com",
            "mail": "jyoung@Contoso.com",
            "status": true,
            "field_scim_external_id": "jyoung",
            "field_first_name": "Joy",
            "field_last_name": "Young"
        })
    );
}

#[test]
fn entra_and_miniorange_keep_an_address_sent_without_the_work_type() {
    for file in ["entra-id.yaml", "miniorange.yaml"] {
        address_without_the_work_type_is_kept(file);
    }
}

fn address_without_the_work_type_is_kept(file: &str) {
    for emails in [
        json!([{"value": "ann@x.example"}]),
        json!([{"value": "ann@x.example", "type": "home"}]),
        json!([{"value": "o@x.example", "type": "other"}, {"value": "ann@x.example", "primary": true}]),
    ] {
        let user = object(json!({"userName": "ann", "emails": emails}));
        let write = preset(file)
            .to_drupal(&user, WritePurpose::Create)
            .expect("valid");
        assert_eq!(
            write.attributes["mail"], "ann@x.example",
            "{file}: {emails}"
        );
    }
    // Entra's own: the work address, marked primary, over another one.
    let user = object(json!({"userName": "ann", "emails": [
        {"value": "h@x.example", "type": "home"},
        {"value": "w@x.example", "type": "work", "primary": true}]}));
    let write = preset(file)
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(write.attributes["mail"], "w@x.example", "{file}");
}

#[test]
fn entra_user_reads_back_with_the_work_email_marked_primary() {
    let attributes = object(json!({
        "name": "jyoung@testuser.com",
        "mail": "jyoung@Contoso.com",
        "status": false,
        "field_scim_external_id": "jyoung",
        "field_first_name": "Joy",
        "field_last_name": "Young",
        "field_job_title": null,
        "field_department": "Sales"
    }));
    let user = preset("entra-id.yaml").from_drupal(&attributes, &serde_json::Map::new());
    assert_eq!(
        Value::Object(user),
        json!({
            "userName": "jyoung@testuser.com",
            "emails": [{"value": "jyoung@Contoso.com", "type": "work", "primary": true}],
            "active": false,
            "externalId": "jyoung",
            "name": {"givenName": "Joy", "familyName": "Young"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
        })
    );
}

#[test]
fn okta_documented_create_becomes_the_expected_drupal_user() {
    // POST /Users of Okta's SCIM 2.0 reference, in canonical form:
    // `groups: []` is gone.
    let user = object(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "password": "1mz050nq",
        "active": true
    }));
    let write = preset("okta.yaml")
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "test.user@okta.local",
            "mail": "test.user@okta.local",
            "status": true,
            "field_scim_external_id": "00ujl29u0le5T6Aj10h7",
            "pass": {"value": "1mz050nq"},
            "preferred_langcode": "en",
            "field_first_name": "Test",
            "field_last_name": "User"
        })
    );
}

#[test]
fn okta_documented_put_without_active_or_password_keeps_status_and_password() {
    // Okta's PUT example, with `active` removed: the status must survive.
    let user = object(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "23a35c27-23d3-4c03-b4c5-6443c09e7173",
        "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "Excited", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work", "display": "test.user@okta.local"}],
        "meta": {"resourceType": "User"}
    }));
    let write = preset("okta.yaml")
        .to_drupal(&user, WritePurpose::Update)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "test.user@okta.local",
            "mail": "test.user@okta.local",
            "field_first_name": "Another",
            "field_last_name": "User"
        })
    );
}

#[test]
fn onelogin_create_with_legacy_urns_becomes_the_expected_drupal_user() {
    // OneLogin's create, in canonical form; the stray space of its
    // familyName is trimmed.
    let user = object(json!({
        "schemas": ["urn:scim:schemas:core:2.0", "urn:scim:schemas:extension:enterprise:2.0"],
        "userName": "onelogin-test-user01",
        "name": {"familyName": " User 01", "givenName": "AAA Test"},
        "emails": [{"value": "aaa.test@example.com", "primary": true, "type": "work"}],
        "active": true
    }));
    let write = preset("onelogin.yaml")
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "onelogin-test-user01",
            "mail": "aaa.test@example.com",
            "status": true,
            "field_first_name": "AAA Test",
            "field_last_name": "User 01"
        })
    );
}

#[test]
fn long_user_principal_names_are_refused_uncut_naming_drupals_limit() {
    // Cut, a name could never be found again by userName; sent, Drupal
    // would refuse it. The bridge refuses it before any request.
    let upn = format!("{}@contoso.onmicrosoft.com", "a".repeat(64));
    let user = object(json!({"userName": upn, "active": true}));
    let err = preset("entra-id.yaml")
        .to_drupal(&user, WritePurpose::Create)
        .unwrap_err()
        .to_string();
    assert!(err.contains("name holds at most 60 characters"), "{err}");
    assert!(err.contains("(88 characters)"), "quoted cut: {err}");
}

#[test]
fn control_characters_are_refused_in_e_mail_addresses_and_nul_everywhere() {
    let write = |user: Value| {
        preset("entra-id.yaml")
            .to_drupal(&object(user), WritePurpose::Create)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    for mail in [
        "a\u{0}b@example.org",
        "ab\u{7}@example.org",
        "a\tb@example.org",
        "a\u{85}b@example.org",
    ] {
        let err = write(json!({"userName": "ann", "emails": [{"value": mail, "type": "work", "primary": true}]}))
            .unwrap_err();
        assert!(
            err.contains("mail cannot hold the control character U+"),
            "{err}"
        );
    }
    let err = write(
        json!({"userName": "ann\u{0}", "emails": [{"value": "ann@example.org", "type": "work"}]}),
    )
    .unwrap_err();
    assert!(
        err.contains("name cannot hold the control character U+0000"),
        "{err}"
    );
    let err = write(json!({"userName": "ann", "name": {"givenName": "A\u{0}"}})).unwrap_err();
    assert!(err.contains("U+0000"), "{err}");
    // What is not NUL stays the site's to judge outside e-mail addresses.
    write(json!({"userName": "ann", "name": {"givenName": "A\tB"}, "emails": [{"value": "ann@example.org", "type": "work"}]}))
        .unwrap();
}
