//! Applying mappings: SCIM users to Drupal documents and back.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{mapping, object};
use crate::mapping::{FieldType, WritePurpose};
use crate::scim::attributes::{AttrType, Mutability, Returned};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:example:params:scim:schemas:extension:acme:2.0:User";
const MANAGER: &str = "0b5b9b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const TEAM_A: &str = "11111111-2222-4333-8444-555555555555";
const TEAM_B: &str = "66666666-7777-4888-8999-000000000000";

/// One rule per Drupal field type, from a custom schema where SCIM has no
/// attribute of the right type.
const EVERY_TYPE: &str = r#"
schemas:
  - urn: urn:example:params:scim:schemas:extension:acme:2.0:User
    name: AcmeUser
    alias: acme
    attributes:
      - {name: vip, type: boolean}
      - {name: level, type: integer}
      - {name: floor, type: integer}
      - {name: birthday, type: dateTime}
      - {name: hired, type: dateTime}
      - {name: teams, type: string, multi_valued: true}
rules:
  - {scim: userName, drupal: name}
  - {scim: title, drupal: field_title}
  - {scim: displayName, drupal: field_bio, type: text, format: basic_html}
  - {scim: "acme:vip", drupal: field_vip, type: boolean}
  - {scim: "acme:level", drupal: field_level, type: integer}
  - {scim: userType, drupal: field_kind, type: list_string}
  - {scim: "acme:floor", drupal: field_floor, type: list_integer}
  - {scim: 'emails[type eq "home"].value', drupal: field_home_mail, type: email}
  - {scim: 'phoneNumbers[type eq "work"].value', drupal: field_phone, type: telephone}
  - {scim: phoneNumbers.value, drupal: field_phones, type: telephone, multiple: true}
  - {scim: profileUrl, drupal: field_site, type: link}
  - {scim: "acme:birthday", drupal: field_birthday, type: date}
  - {scim: "acme:hired", drupal: field_hired, type: datetime}
  - {scim: "enterprise:manager.value", drupal: field_manager, type: entity_reference, target: user--user}
  - {scim: "acme:teams", drupal: field_teams, type: entity_reference, target: taxonomy_term--team, multiple: true}
"#;

fn every_type_user() -> Map<String, Value> {
    object(json!({
        "userName": "ann",
        "title": "Engineer",
        "displayName": "Ann Example",
        "userType": "staff",
        "profileUrl": "https://example.com/ann",
        "emails": [{"value": "ann@home.example", "type": "home"}],
        "phoneNumbers": [
            {"value": "+1 555 0100", "type": "work"},
            {"value": "+1 555 0199", "type": "mobile"}
        ],
        ENTERPRISE: {"manager": {"value": MANAGER}},
        ACME: {
            "vip": true,
            "level": 3,
            "floor": 12,
            "birthday": "1990-05-01T00:00:00Z",
            "hired": "2024-03-01T01:30:00+02:00",
            "teams": [TEAM_A, TEAM_B]
        }
    }))
}

#[test]
fn every_field_type_is_written_in_its_json_api_shape() {
    let write = mapping(EVERY_TYPE)
        .to_drupal(&every_type_user(), WritePurpose::Create)
        .expect("valid user");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "ann",
            "field_title": "Engineer",
            "field_bio": {"value": "Ann Example", "format": "basic_html"},
            "field_vip": true,
            "field_level": 3,
            "field_kind": "staff",
            "field_floor": 12,
            "field_home_mail": "ann@home.example",
            "field_phone": "+1 555 0100",
            "field_phones": ["+1 555 0100", "+1 555 0199"],
            "field_site": {"uri": "https://example.com/ann"},
            "field_birthday": "1990-05-01",
            "field_hired": "2024-02-29T23:30:00"
        })
    );
    assert_eq!(
        Value::Object(write.relationships),
        json!({
            "field_manager": {"data": {"type": "user--user", "id": MANAGER}},
            "field_teams": {"data": [
                {"type": "taxonomy_term--team", "id": TEAM_A},
                {"type": "taxonomy_term--team", "id": TEAM_B}
            ]}
        })
    );
}

#[test]
fn every_field_type_is_read_back_from_a_drupal_response() {
    // Shaped as Drupal returns them: processed text, link options, meta.
    let attributes = object(json!({
        "name": "ann",
        "field_title": "Engineer",
        "field_bio": {"value": "Ann Example", "format": "basic_html", "processed": "<p>Ann Example</p>"},
        "field_vip": true,
        "field_level": 3,
        "field_kind": "staff",
        "field_floor": 12,
        "field_home_mail": "ann@home.example",
        "field_phone": "+1 555 0100",
        "field_phones": ["+1 555 0100", "+1 555 0199"],
        "field_site": {"uri": "https://example.com/ann", "title": "", "options": []},
        "field_birthday": "1990-05-01",
        "field_hired": "2024-02-29T23:30:00"
    }));
    let relationships = object(json!({
        "field_manager": {"data": {"type": "user--user", "id": MANAGER, "meta": {"drupal_internal__target_id": 7}}},
        "field_teams": {"data": [
            {"type": "taxonomy_term--team", "id": TEAM_A},
            {"type": "taxonomy_term--team", "id": TEAM_B}
        ]}
    }));
    let user = mapping(EVERY_TYPE).from_drupal(&attributes, &relationships);
    assert_eq!(
        Value::Object(user),
        json!({
            "userName": "ann",
            "title": "Engineer",
            "displayName": "Ann Example",
            "userType": "staff",
            "profileUrl": "https://example.com/ann",
            "emails": [{"value": "ann@home.example", "type": "home"}],
            "phoneNumbers": [
                {"value": "+1 555 0100", "type": "work"},
                {"value": "+1 555 0100"},
                {"value": "+1 555 0199"}
            ],
            ENTERPRISE: {"manager": {"value": MANAGER}},
            ACME: {
                "vip": true,
                "level": 3,
                "floor": 12,
                "birthday": "1990-05-01T00:00:00Z",
                "hired": "2024-02-29T23:30:00Z",
                "teams": [TEAM_A, TEAM_B]
            }
        })
    );
}

#[test]
fn a_value_that_does_not_fit_its_field_is_an_error_naming_the_rule() {
    let mut user = every_type_user();
    user.insert("profileUrl".into(), json!("https://example.com"));
    if let Some(acme) = user.get_mut(ACME).and_then(Value::as_object_mut) {
        acme.insert("level".into(), json!("three"));
    }
    let err = mapping(EVERY_TYPE)
        .to_drupal(&user, WritePurpose::Create)
        .expect_err("not a number");
    assert_eq!(
        err.to_string(),
        "rule 5 (scim: acme:level): \"three\" is not a whole number"
    );
}

#[test]
fn an_entity_reference_by_machine_name_is_refused() {
    let mut user = every_type_user();
    user.insert(ENTERPRISE.into(), json!({"manager": {"value": "bob"}}));
    let err = mapping(EVERY_TYPE)
        .to_drupal(&user, WritePurpose::Create)
        .expect_err("not a uuid");
    assert_eq!(
        err.to_string(),
        "rule 14 (scim: enterprise:manager.value): \"bob\" is not a UUID, and entity references are written by UUID"
    );
}

const TRANSFORMS: &str = r#"
schemas:
  - urn: urn:example:params:scim:schemas:extension:acme:2.0:User
    name: AcmeUser
    alias: acme
    attributes:
      - {name: tags, type: string}
rules:
  - scim: userName
    drupal: name
    transforms: [trim, lowercase, truncate]
  - scim: nickName
    drupal: field_nick
    transforms:
      - truncate: 5
  - template: "{name.givenName} {name.familyName}"
    drupal: field_full_name
  - constant: Europe/Paris
    drupal: timezone
  - scim: enterprise:department
    drupal: field_department
    transforms:
      - map: {Engineering: eng, R&D: eng, Sales: sales}
      - default: none
  - scim: acme:tags
    drupal: field_tags
    multiple: true
    transforms:
      - split: ","
  - scim: emails.value
    drupal: field_all_mail
    transforms:
      - join: ", "
  - scim: preferredLanguage
    drupal: preferred_langcode
    transforms: [langcode]
"#;

#[test]
fn every_transform_shapes_the_value_written_to_drupal() {
    let user = object(json!({
        "userName": "  Ann.Example@Corp.example  ",
        "nickName": "Annabelle",
        "name": {"givenName": "Ann", "familyName": "Example"},
        "emails": [{"value": "a@x.example"}, {"value": "b@x.example"}],
        "preferredLanguage": "pt-BR",
        ENTERPRISE: {"department": "r&d"},
        ACME: {"tags": "blue, green,,red"}
    }));
    let write = mapping(TRANSFORMS)
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "ann.example@corp.example",
            "field_nick": "Annab",
            "field_full_name": "Ann Example",
            "timezone": "Europe/Paris",
            "field_department": "eng",
            "field_tags": ["blue", "green", "red"],
            "field_all_mail": "a@x.example, b@x.example",
            "preferred_langcode": "pt-br"
        })
    );
}

#[test]
fn truncation_counts_characters_not_bytes() {
    let user = object(json!({"userName": "é".repeat(70)}));
    let write = mapping(TRANSFORMS)
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(write.attributes.get("name"), Some(&json!("é".repeat(60))));
}

#[test]
fn default_fills_in_for_an_absent_source() {
    let write = mapping(TRANSFORMS)
        .to_drupal(&object(json!({"userName": "ann"})), WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        write.attributes.get("field_department"),
        Some(&json!("none"))
    );
}

#[test]
fn transforms_are_undone_on_the_way_back_where_they_can_be() {
    let attributes = object(json!({
        "name": "ann",
        "field_nick": "Annab",
        "field_full_name": "Ann Example",
        "timezone": "Europe/Paris",
        "field_department": "sales",
        "field_tags": ["blue", "green"],
        "field_all_mail": "a@x.example, b@x.example",
        "preferred_langcode": "pt-br"
    }));
    let user = mapping(TRANSFORMS).from_drupal(&attributes, &Map::new());
    assert_eq!(
        Value::Object(user),
        json!({
            "userName": "ann",
            "nickName": "Annab",
            "preferredLanguage": "pt-br",
            "emails": [{"value": "a@x.example"}, {"value": "b@x.example"}],
            ENTERPRISE: {"department": "Sales"},
            ACME: {"tags": "blue,green"}
        })
    );
}

#[test]
fn an_ambiguous_map_value_is_read_back_as_drupal_has_it() {
    let attributes = object(json!({"name": "ann", "field_department": "eng"}));
    let user = mapping(TRANSFORMS).from_drupal(&attributes, &Map::new());
    assert_eq!(user.get(ENTERPRISE), Some(&json!({"department": "eng"})));
}

const DIRECTIONS: &str = r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: displayName, drupal: display_name}
  - {scim: title, drupal: field_title, direction: from_drupal}
  - {scim: nickName, drupal: field_nick, direction: to_drupal}
  - {scim: externalId, drupal: field_scim_external_id, write_once: true}
  - {scim: password, drupal: pass}
  - {scim: userType, drupal: field_kind, when_absent: keep}
  - {scim: locale, drupal: field_locale}
  - {scim: emails.value, drupal: field_mails, type: email, multiple: true}
  - {scim: "enterprise:manager.value", drupal: field_manager, type: entity_reference, target: user--user}
  - {scim: emails.value, drupal: mail, direction: to_drupal}
  - {scim: active, drupal: status, transforms: [{default: true}]}
"#;

#[test]
fn create_writes_only_rules_that_go_to_drupal_and_leaves_absent_fields_out() {
    let user = object(json!({
        "userName": "ann",
        "displayName": "Ann",
        "title": "Boss",
        "nickName": "annie",
        "externalId": "00u1",
        "password": "s3cret",
        "emails": [{"value": "ann@x.example", "primary": true}]
    }));
    let write = mapping(DIRECTIONS)
        .to_drupal(&user, WritePurpose::Create)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "ann",
            "field_nick": "annie",
            "field_scim_external_id": "00u1",
            "pass": {"value": "s3cret"},
            "field_mails": ["ann@x.example"],
            "mail": "ann@x.example",
            "status": true
        })
    );
    assert!(write.relationships.is_empty());
}

#[test]
fn update_clears_absent_fields_but_keeps_status_name_mail_pass_and_write_once() {
    let user = object(json!({"userName": "ann"}));
    let write = mapping(DIRECTIONS)
        .to_drupal(&user, WritePurpose::Update)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "ann",
            "field_nick": null,
            "field_locale": null,
            "field_mails": []
        })
    );
    assert_eq!(
        Value::Object(write.relationships),
        json!({"field_manager": {"data": null}})
    );
}

#[test]
fn update_writes_present_values_but_not_write_once_ones() {
    let user = object(json!({
        "userName": "ann",
        "externalId": "changed",
        "active": false,
        "userType": "contractor"
    }));
    let write = mapping(DIRECTIONS)
        .to_drupal(&user, WritePurpose::Update)
        .expect("valid");
    assert_eq!(write.attributes.get("status"), Some(&json!(false)));
    assert_eq!(
        write.attributes.get("field_kind"),
        Some(&json!("contractor"))
    );
    assert!(!write.attributes.contains_key("field_scim_external_id"));
}

#[test]
fn reads_return_only_rules_that_come_from_drupal() {
    let attributes = object(json!({
        "name": "ann",
        "display_name": "Ann (ann)",
        "field_title": "Boss",
        "field_nick": "annie",
        "field_scim_external_id": "00u1",
        "field_mails": ["ann@x.example"],
        "mail": "ann@x.example",
        "status": false,
        "created": "2026-11-28T11:50:57+00:00",
        "field_unmapped": "x"
    }));
    let relationships = object(json!({"roles": {"data": []}, "field_manager": {"data": null}}));
    let user = mapping(DIRECTIONS).from_drupal(&attributes, &relationships);
    assert_eq!(
        Value::Object(user),
        json!({
            "userName": "ann",
            "displayName": "Ann (ann)",
            "title": "Boss",
            "externalId": "00u1",
            "emails": [{"value": "ann@x.example"}],
            "active": false
        })
    );
}

const DEFAULT: &str = include_str!("../../../mappings/default.yaml");

#[test]
fn default_mapping_round_trips_a_user_through_drupal() {
    let sent = object(json!({
        "userName": "ann",
        "emails": [{"value": "ann@corp.example", "type": "work", "primary": true}],
        "active": true,
        "externalId": "00u1",
        "preferredLanguage": "fr",
        "timezone": "Europe/Paris"
    }));
    let map = mapping(DEFAULT);
    let write = map.to_drupal(&sent, WritePurpose::Create).expect("valid");
    assert_eq!(
        Value::Object(write.attributes.clone()),
        json!({
            "name": "ann",
            "mail": "ann@corp.example",
            "status": true,
            "field_scim_external_id": "00u1",
            "preferred_langcode": "fr",
            "timezone": "Europe/Paris"
        })
    );
    assert_eq!(
        map.from_drupal(&write.attributes, &write.relationships),
        sent
    );
}

#[test]
fn default_mapping_reads_a_recorded_drupal_user() {
    // The attributes of a real Drupal 10 response (GET /jsonapi/user/user/{id}).
    let attributes = object(json!({
        "display_name": "carol", "drupal_internal__uid": 5, "langcode": "en",
        "preferred_langcode": "en", "preferred_admin_langcode": null, "name": "carol",
        "mail": "carol@example.com", "timezone": "Europe/Paris", "status": false,
        "created": "2026-11-28T11:50:57+00:00", "changed": "2026-11-28T11:50:57+00:00",
        "access": "1970-01-01T00:00:00+00:00", "login": "1970-01-01T00:00:00+00:00",
        "init": "carol-init@example.com", "default_langcode": true,
        "field_scim_external_id": "ext-carol-001"
    }));
    let user = mapping(DEFAULT).from_drupal(&attributes, &Map::new());
    assert_eq!(
        Value::Object(user),
        json!({
            "userName": "carol",
            "emails": [{"value": "carol@example.com", "type": "work", "primary": true}],
            "active": false,
            "externalId": "ext-carol-001",
            "preferredLanguage": "en",
            "timezone": "Europe/Paris"
        })
    );
}

#[test]
fn default_mapping_picks_the_primary_then_the_work_email() {
    let map = mapping(DEFAULT);
    let mail = |emails: Value| {
        map.to_drupal(
            &object(json!({"userName": "a", "emails": emails})),
            WritePurpose::Create,
        )
        .expect("valid")
        .attributes
        .get("mail")
        .cloned()
    };
    let primary = json!([{"value": "w@x", "type": "work"}, {"value": "p@x", "type": "home", "primary": true}]);
    assert_eq!(mail(primary), Some(json!("p@x")));
    let work = json!([{"value": "h@x", "type": "home"}, {"value": "w@x", "type": "work"}]);
    assert_eq!(mail(work), Some(json!("w@x")));
    let first = json!([{"value": "o@x", "type": "other"}, {"value": "h@x", "type": "home"}]);
    assert_eq!(mail(first), Some(json!("o@x")));
}

#[test]
fn default_mapping_put_without_active_leaves_status_external_id_and_user_preferences_alone() {
    let put = object(json!({"userName": "ann", "emails": [{"value": "ann@x.example"}]}));
    let write = mapping(DEFAULT)
        .to_drupal(&put, WritePurpose::Update)
        .expect("valid");
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "ann",
            "mail": "ann@x.example"
        })
    );
}

/// What a PUT of `body` writes to Drupal under the mapping `source`.
fn put_write(source: &str, body: &Value) -> crate::mapping::DrupalWrite {
    let schema = crate::scim::schema::ResourceSchema::user();
    let put = crate::scim::resource::parse_replacement(body, &schema).expect("valid");
    mapping(source)
        .to_drupal_replacing(&put.resource, &put.unassigned)
        .expect("valid")
}

#[test]
fn a_put_that_unassigns_a_kept_attribute_clears_its_field() {
    let body = json!({
        "userName": "ann",
        "externalId": null,
        "timezone": "",
        "preferredLanguage": null,
        "emails": [{"value": "ann@x.example"}]
    });
    let write = put_write(DEFAULT, &body);
    assert_eq!(
        Value::Object(write.attributes),
        json!({
            "name": "ann",
            "mail": "ann@x.example",
            "field_scim_external_id": null,
            "preferred_langcode": null,
            "timezone": null
        })
    );
}

#[test]
fn a_put_that_unassigns_a_field_drupal_never_empties_writes_null_for_the_caller_to_judge() {
    // `active`'s `default: true` does not turn the null into true.
    let body = json!({"userName": "ann", "emails": [], "active": null});
    let write = put_write(DEFAULT, &body);
    assert_eq!(write.attributes["mail"], Value::Null);
    assert_eq!(write.attributes["status"], Value::Null);
}

#[test]
fn a_put_unassigning_one_sub_attribute_clears_only_its_field() {
    let source = "version: 1\nrules:\n  - {scim: userName, drupal: name}\n  - {scim: name.givenName, drupal: field_first_name, when_absent: keep}\n  - {scim: name.familyName, drupal: field_last_name, when_absent: keep}\n";
    let body = json!({"userName": "ann", "name": {"givenName": null}});
    let write = put_write(source, &body);
    assert_eq!(
        Value::Object(write.attributes),
        json!({"name": "ann", "field_first_name": null})
    );
    let body = json!({"userName": "ann", "name": null});
    let write = put_write(source, &body);
    assert_eq!(
        Value::Object(write.attributes),
        json!({"name": "ann", "field_first_name": null, "field_last_name": null})
    );
}

#[test]
fn binding_finds_mail_by_plain_and_work_filtered_email_paths() {
    let map = mapping(DEFAULT);
    for (sub, filter) in [
        (Some("value"), None),
        (Some("VALUE"), Some("work")),
        (None, Some("Work")),
    ] {
        let binding = map.binding_for(None, "emails", sub, filter).expect("mail");
        assert_eq!(binding.drupal_field, "mail");
        assert_eq!(binding.field_type, FieldType::Email);
    }
    assert_eq!(
        map.binding_for(None, "emails", Some("value"), Some("home")),
        None
    );
    assert_eq!(map.binding_for(None, "emails", Some("display"), None), None);
}

#[test]
fn binding_matches_attribute_names_and_the_core_urn_ignoring_case() {
    let map = mapping(DEFAULT);
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let binding = map
        .binding_for(Some(core), "USERNAME", None, None)
        .expect("name");
    assert_eq!(binding.drupal_field, "name");
    assert_eq!(binding.drupal_value_for(&json!("Ann")), Some(json!("Ann")));
    assert_eq!(
        map.binding_for(Some(ENTERPRISE), "userName", None, None),
        None
    );
}

#[test]
fn binding_converts_literals_through_the_rule() {
    let map = mapping(DEFAULT);
    let status = map.binding_for(None, "active", None, None).expect("status");
    assert_eq!(status.drupal_value_for(&json!(false)), Some(json!(false)));
    assert_eq!(status.drupal_value_for(&json!("True")), Some(json!(true)));
    let name = map.binding_for(None, "userName", None, None).expect("name");
    assert_eq!(name.drupal_value_for(&json!(" ann ")), Some(json!("ann")));
    // No truncation: a long name is compared as sent, and so never matches
    // an account Drupal could hold (Drupal refuses names over 60 characters).
    assert_eq!(
        name.drupal_value_for(&json!("x".repeat(61))),
        Some(json!("x".repeat(61)))
    );
    let language = map
        .binding_for(None, "preferredLanguage", None, None)
        .expect("langcode");
    assert_eq!(
        language.drupal_value_for(&json!("de-CH")),
        Some(json!("de"))
    );
}

#[test]
fn binding_refuses_what_cannot_be_pushed_down() {
    let transforms = mapping(TRANSFORMS);
    let tags = transforms
        .binding_for(Some(ACME), "tags", None, None)
        .expect("tags");
    assert_eq!(tags.drupal_value_for(&json!("blue")), None);
    let lowered = transforms
        .binding_for(None, "userName", None, None)
        .expect("name");
    assert_eq!(lowered.drupal_value_for(&json!("ANN")), Some(json!("ann")));
    let department = transforms
        .binding_for(Some(ENTERPRISE), "department", None, None)
        .expect("department");
    assert_eq!(
        department.drupal_value_for(&json!("Engineering")),
        Some(json!("eng"))
    );
    let directions = mapping(DIRECTIONS);
    assert_eq!(directions.binding_for(None, "nickName", None, None), None);
    assert_eq!(directions.binding_for(None, "password", None, None), None);
}

#[test]
fn binding_gives_the_filter_path_for_structured_fields() {
    let map = mapping(EVERY_TYPE);
    let bio = map
        .binding_for(None, "displayName", None, None)
        .expect("bio");
    assert_eq!(bio.filter_path(), "field_bio.value");
    let site = map
        .binding_for(None, "profileUrl", None, None)
        .expect("site");
    assert_eq!(site.filter_path(), "field_site.uri");
    let manager = map
        .binding_for(Some(ENTERPRISE), "manager", Some("value"), None)
        .expect("manager");
    assert_eq!(manager.filter_path(), "field_manager.id");
    assert_eq!(
        manager.drupal_value_for(&json!(MANAGER)),
        Some(json!(MANAGER))
    );
    let hired = map
        .binding_for(Some(ACME), "hired", None, None)
        .expect("hired");
    assert_eq!(
        hired.drupal_value_for(&json!("2024-01-01T12:00:00+01:00")),
        Some(json!("2024-01-01T11:00:00"))
    );
}

#[test]
fn a_read_only_timestamp_filters_as_unix_seconds() {
    let map = mapping(
        "schemas:\n  - {urn: 'urn:acme:User', name: Acme, alias: acme, attributes: [{name: since, type: dateTime, mutability: readOnly}]}\n\
         rules:\n  - {scim: userName, drupal: name}\n  - {scim: 'acme:since', drupal: created}\n",
    );
    let created = map
        .binding_for(Some("urn:acme:User"), "since", None, None)
        .expect("created");
    assert_eq!(
        created.drupal_value_for(&json!("1970-01-02T00:00:00Z")),
        Some(json!(86_400))
    );
    let user = map.from_drupal(
        &object(json!({"name": "a", "created": "2026-11-28T11:50:57+00:00"})),
        &Map::new(),
    );
    assert_eq!(
        user.get("urn:acme:User"),
        Some(&json!({"since": "2026-11-28T11:50:57Z"}))
    );
}

#[test]
fn match_key_defaults_to_user_name_and_can_be_the_email() {
    let default = mapping(DEFAULT);
    assert_eq!(default.match_key().scim_attribute, "userName");
    assert_eq!(default.match_key().binding.drupal_field, "name");
    let by_mail = mapping(&DEFAULT.replace("match_key: userName", "match_key: emails.value"));
    assert_eq!(by_mail.match_key().scim_attribute, "emails.value");
    assert_eq!(by_mail.match_key().binding.drupal_field, "mail");
}

#[test]
fn mapped_fields_list_each_field_once_with_its_type_and_first_rule() {
    let mapped = mapping(DIRECTIONS).mapped_fields();
    let fields: Vec<(String, FieldType)> = mapped
        .iter()
        .map(|f| (f.name.clone(), f.field_type))
        .collect();
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "name",
            "display_name",
            "field_title",
            "field_nick",
            "field_scim_external_id",
            "pass",
            "field_kind",
            "field_locale",
            "field_mails",
            "field_manager",
            "mail",
            "status"
        ]
    );
    assert!(fields.contains(&("pass".to_string(), FieldType::Password)));
    assert!(fields.contains(&("field_manager".to_string(), FieldType::EntityReference)));
    let mails = mapped
        .iter()
        .find(|f| f.name == "field_mails")
        .expect("field_mails");
    assert!(mails.multiple);
    assert_eq!(mails.rule.section, crate::mapping::Section::Rule);
    let title = mapped
        .iter()
        .find(|f| f.name == "field_title")
        .expect("field_title");
    assert!(!title.multiple);
}

const ROLES: &str = r#"
rules:
  - {scim: userName, drupal: name}
groups:
  - {role: editor, display_name: Editors}
  - {role: administrator, display_name: Site admins, allow_protected: true}
role_rules:
  - when: enterprise:department eq Engineering
    role: engineering
  - when: emails.value ew "@corp.example"
    role: staff
  - when: title pr
    role: titled
"#;

#[test]
fn groups_are_exposed_in_file_order_with_their_flags() {
    let map = mapping(ROLES);
    let groups: Vec<(&str, &str, bool)> = map
        .exposed_groups()
        .iter()
        .map(|g| (g.role.as_str(), g.display_name.as_str(), g.allow_protected))
        .collect();
    assert_eq!(
        groups,
        [
            ("editor", "Editors", false),
            ("administrator", "Site admins", true)
        ]
    );
}

#[test]
fn role_rules_grant_roles_from_attributes() {
    let map = mapping(ROLES);
    let user = object(json!({
        "userName": "ann",
        "emails": [{"value": "ann@CORP.example"}],
        ENTERPRISE: {"department": "engineering"}
    }));
    let granted: BTreeSet<String> = ["engineering", "staff"]
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(map.roles_for(&user), granted);
    assert!(map
        .roles_for(&object(json!({"userName": "bob"})))
        .is_empty());
    assert_eq!(
        map.rule_roles(),
        ["engineering", "staff", "titled"].into_iter().collect()
    );
}

#[test]
fn custom_schemas_are_exposed_with_attribute_metadata() {
    let map = mapping(
        r#"
schemas:
  - urn: urn:example:params:scim:schemas:extension:acme:2.0:User
    name: AcmeUser
    description: Acme employee data
    attributes:
      - {name: badge, type: string, required: true, case_exact: true}
      - name: desk
        type: complex
        sub_attributes:
          - {name: building, type: string}
          - {name: floor, type: integer}
      - {name: pin, type: string, mutability: writeOnly}
rules:
  - {scim: userName, drupal: name}
  - {scim: "urn:example:params:scim:schemas:extension:acme:2.0:User:desk.floor", drupal: field_floor, type: integer}
"#,
    );
    let [schema] = map.custom_schemas() else {
        panic!("one schema expected");
    };
    assert_eq!(schema.urn, ACME);
    assert_eq!(schema.name, "AcmeUser");
    assert_eq!(schema.alias, None);
    let names: Vec<&str> = schema.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["badge", "desk", "pin"]);
    let badge = schema.attributes.first().map(|a| a.meta()).expect("badge");
    assert!(badge.required && badge.case_exact && badge.kind == AttrType::String);
    let desk = schema.attributes.get(1).expect("desk");
    assert_eq!(desk.kind, AttrType::Complex);
    assert_eq!(
        desk.sub_attributes.get(1).map(|s| s.kind),
        Some(AttrType::Integer)
    );
    let pin = schema.attributes.get(2).map(|a| a.meta()).expect("pin");
    assert_eq!(
        (pin.mutability, pin.returned),
        (Mutability::WriteOnly, Returned::Never)
    );
    let write = map
        .to_drupal(
            &object(json!({"userName": "a", ACME: {"desk": {"floor": "4"}}})),
            WritePurpose::Create,
        )
        .expect("valid");
    assert_eq!(write.attributes.get("field_floor"), Some(&json!(4)));

    let published = schema
        .schema_def()
        .to_json("https://scim.example.org/scim/v2");
    assert_eq!(published["id"], json!(ACME));
    assert_eq!(published["description"], json!("Acme employee data"));
    assert_eq!(published["attributes"][0]["required"], json!(true));
    assert_eq!(published["attributes"][0]["caseExact"], json!(true));
    assert_eq!(
        published["attributes"][1]["subAttributes"][1]["type"],
        json!("integer")
    );
    assert_eq!(published["attributes"][2]["returned"], json!("never"));
}

#[test]
fn compiled_mapping_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<crate::mapping::Mapping>();
}

const OWN_VALUES: &str = r#"
rules:
  - scim: userName
    drupal: name
    transforms: [trim]
  - scim: active
    drupal: status
    transforms:
      - default: true
  - scim: nickName
    drupal: field_nick
  - template: "{displayName} ({nickName})"
    drupal: field_label
  - {scim: externalId, drupal: field_scim_external_id, write_once: true}
  - scim: name.givenName
    drupal: field_given
"#;

#[test]
fn an_update_of_values_of_their_own_is_written_without_the_account() {
    let own = mapping(OWN_VALUES);
    let write = own
        .write_of_own(&object(json!({"active": false, "userName": " ann "})))
        .unwrap();
    assert_eq!(
        Value::Object(write.attributes),
        json!({"status": false, "name": "ann"})
    );
    assert!(write.relationships.is_empty());
}

#[test]
fn an_update_that_depends_on_other_values_needs_the_account() {
    let own = mapping(OWN_VALUES);
    for set in [
        // A template also reads it: the label needs displayName too.
        json!({"nickName": "Annie"}),
        json!({"externalId": "ext-1"}),
        // Not a simple value.
        json!({"name": {"givenName": "Ann"}}),
        json!({"emails": [{"value": "a@example.org"}]}),
        // Feeds no rule: only the account tells what the answer is.
        json!({"title": "Boss"}),
        json!({"active": null}),
    ] {
        assert_eq!(own.write_of_own(&object(set.clone())), None, "{set}");
    }
}

#[test]
fn a_password_written_on_updates_is_a_password_change() {
    assert!(mapping(DIRECTIONS).changes_password());
    let once = "rules:\n  - {scim: userName, drupal: name}\n  - {scim: password, drupal: pass, write_once: true}\n";
    assert!(!mapping(once).changes_password());
    let none = "rules:\n  - {scim: userName, drupal: name}\n";
    assert!(!mapping(none).changes_password());
}
