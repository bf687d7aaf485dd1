//! A bad mapping is refused with file, line, column, the rule, the problem
//! and how to fix it.

use super::refusal;
use crate::mapping::{Item, Mapping, MappingError, Section};

const NAME_RULE: &str = "rules:\n  - scim: userName\n    drupal: name\n";

fn with_rule(rule: &str) -> String {
    format!("{NAME_RULE}{rule}")
}

#[test]
fn misspelt_rule_key_is_located_and_corrected() {
    let message = refusal(&with_rule("  - scm: title\n    drupal: field_title\n"));
    assert_eq!(
        message,
        "mappings/test.yaml:4:5: rule 2 (drupal: field_title): unknown key `scm` — did you mean \"scim\"?"
    );
}

#[test]
fn misspelt_scim_attribute_points_at_the_value_and_suggests_the_attribute() {
    let message = refusal(&with_rule(
        "  - scim: name.givenNam\n    drupal: field_first_name\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:4:11: rule 2 (scim: name.givenNam): unknown SCIM attribute \
         \"name.givenNam\" — did you mean \"name.givenName\"?"
    );
}

#[test]
fn diagnostic_carries_its_parts_for_programs() {
    let err = Mapping::parse(
        &with_rule("  - scim: name.givenNam\n    drupal: field_first_name\n"),
        "m.yaml",
    )
    .expect_err("typo");
    let MappingError::Invalid(diagnostic) = err else {
        panic!("not a diagnostic: {err}");
    };
    assert_eq!((diagnostic.line, diagnostic.column), (4, 11));
    assert_eq!(
        diagnostic.item,
        Some(Item {
            section: Section::Rule,
            number: 2,
            label: Some("scim: name.givenNam".into())
        })
    );
    assert_eq!(
        diagnostic.hint.as_deref(),
        Some("did you mean \"name.givenName\"?")
    );
}

#[test]
fn enterprise_attribute_without_its_prefix_says_where_it_lives() {
    let message = refusal(&with_rule(
        "  - scim: department\n    drupal: field_department\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:4:11: rule 2 (scim: department): unknown SCIM attribute \"department\" \
         — \"department\" belongs to another schema: write \"enterprise:department\""
    );
}

#[test]
fn misspelt_base_field_suggests_the_base_field() {
    let message = refusal(&with_rule("  - scim: emails.value\n    drupal: mial\n"));
    assert_eq!(
        message,
        "mappings/test.yaml:5:13: rule 2 (scim: emails.value): unknown Drupal user field \"mial\" \
         — did you mean \"mail\"?"
    );
}

#[test]
fn custom_field_without_prefix_is_refused_with_the_prefixed_name() {
    let message = refusal(&with_rule("  - scim: title\n    drupal: job_title\n"));
    assert_eq!(
        message,
        "mappings/test.yaml:5:13: rule 2 (scim: title): unknown Drupal user field \"job_title\" \
         — custom fields start with `field_` (did you mean \"field_job_title\"?)"
    );
}

#[test]
fn unknown_transform_in_a_flow_list_points_at_the_item() {
    let message =
        refusal("rules:\n  - scim: userName\n    drupal: name\n    transforms: [trim, lowercas]\n");
    assert_eq!(
        message,
        "mappings/test.yaml:4:24: rule 1 (scim: userName): unknown transform `lowercas` — did you mean \"lowercase\"?"
    );
}

#[test]
fn truncation_beyond_the_drupal_limit_names_the_limit() {
    let message = refusal(
        "rules:\n  - scim: userName\n    drupal: name\n    transforms:\n      - truncate: 100\n",
    );
    assert_eq!(
        message,
        "mappings/test.yaml:5:9: rule 1 (scim: userName): name holds at most 60 characters \
         — use `truncate: 60`, or just `truncate`"
    );
}

#[test]
fn two_rules_writing_one_field_are_refused_at_the_second() {
    let message = refusal(&with_rule(
        "  - scim: emails.value\n    drupal: mail\n  - scim: externalId\n    drupal: mail\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:7:13: rule 3 (scim: externalId): mail is already written by rule 2 \
         — one field has one source: delete one rule, or give one `direction: from_drupal`"
    );
}

#[test]
fn template_placeholder_typo_is_reported_with_the_placeholder() {
    let message = refusal(&with_rule(
        "  - template: \"{name.givenName} {name.familyNme}\"\n    drupal: field_full_name\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:4:15: rule 2 (template: {name.givenName} {name.familyNme}): in the \
         placeholder {name.familyNme}: unknown SCIM attribute \"name.familyNme\" — did you mean \"name.familyName\"?"
    );
}

#[test]
fn unquoted_template_is_explained() {
    let message = refusal(&with_rule(
        "  - template: {name.givenName}\n    drupal: field_given\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:4:15: rule 2 (drupal: field_given): invalid type: map, expected a string \
         — a template starts with `{`, which YAML reads as a mapping; put the value in quotes"
    );
}

#[test]
fn tab_indentation_is_a_syntax_error_on_its_line() {
    let message = refusal("rules:\n  - scim: userName\n    drupal: name\n\t- scim: title\n");
    assert!(
        message.starts_with("mappings/test.yaml:4:1: found a tab character"),
        "{message}"
    );
    assert!(message.ends_with(
        "— indent with spaces, never tabs, and quote values that start with `@`, `%` or a backtick"
    ));
}

#[test]
fn missing_drupal_field_points_at_the_rule() {
    let message = refusal(&with_rule("  - scim: title\n"));
    assert_eq!(
        message,
        "mappings/test.yaml:4:5: rule 2 (scim: title): missing field `drupal` — every rule names \
         the Drupal field it fills: add `drupal: <field name>`"
    );
}

#[test]
fn clearing_status_on_update_is_refused_with_the_reason() {
    let message = refusal(&with_rule(
        "  - scim: active\n    drupal: status\n    when_absent: clear\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:6:18: rule 2 (scim: active): status is never cleared: a PUT without \
         `active` must not block the user — delete `when_absent` (it is `keep` for this field)"
    );
}

#[test]
fn wrong_type_for_a_base_field_is_refused() {
    let message = refusal(&with_rule(
        "  - scim: active\n    drupal: status\n    type: integer\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:6:11: rule 2 (scim: active): status is a boolean field, not integer \
         — delete `type:`; base fields have a known type"
    );
}

#[test]
fn unquoted_filter_value_shows_the_quoted_form() {
    let message = refusal(&with_rule(
        "  - scim: emails[type eq work].value\n    drupal: mail\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:4:11: rule 2 (scim: emails[type eq work].value): the value `work` in \
         \"emails[type eq work].value\" needs quotes — write `emails[type eq \"work\"]`"
    );
}

#[test]
fn constant_that_does_not_fit_the_field_is_refused_at_start_up() {
    let message = refusal(&with_rule("  - constant: maybe\n    drupal: status\n"));
    assert_eq!(
        message,
        "mappings/test.yaml:4:15: rule 2 (constant: maybe): the constant does not fit status: \
         \"maybe\" is not a boolean (true or false) — give a boolean value"
    );
}

#[test]
fn two_transforms_in_one_item_point_at_the_second() {
    let message = refusal("rules:\n  - scim: userName\n    drupal: name\n    transforms:\n      - truncate: 10\n        trim: x\n");
    assert_eq!(
        message,
        "mappings/test.yaml:6:15: rule 1 (scim: userName): one transform per list item, but `trim` \
         follows `truncate` — put `trim` on its own `- ` line"
    );
}

#[test]
fn map_keys_differing_only_by_case_are_refused_at_the_second() {
    let message = refusal("rules:\n  - scim: userName\n    drupal: name\n    transforms:\n      - map: {a: b, A: c}\n");
    assert_eq!(
        message,
        "mappings/test.yaml:5:24: rule 1 (scim: userName): `A` is listed twice in this map (values \
         are compared ignoring case, so it clashes with `a`) — keep one"
    );
}

#[test]
fn split_into_a_single_valued_field_asks_for_multiple() {
    let message = refusal(&with_rule(
        "  - scim: title\n    drupal: field_titles\n    transforms:\n      - split: \",\"\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:5:13: rule 2 (scim: title): several values would go to field_titles, which \
         holds one — add `multiple: true` if the Drupal field takes several values, or add a `join` transform"
    );
}

#[test]
fn entity_reference_without_target_asks_for_it() {
    let message = refusal(&with_rule(
        "  - scim: enterprise:manager.value\n    drupal: field_manager\n    type: entity_reference\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:6:11: rule 2 (scim: enterprise:manager.value): an entity_reference rule needs \
         the type of the entities it points to — add `target: <entity type>--<bundle>`, such as \
         `target: taxonomy_term--department`"
    );
}

#[test]
fn template_read_back_is_refused() {
    let message = refusal(&with_rule(
        "  - template: \"{name.givenName}\"\n    drupal: field_given\n    direction: both\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:6:16: rule 2 (template: {name.givenName}): a template has no SCIM attribute \
         to read the Drupal value back into — delete `direction:` (a computed value only goes to Drupal)"
    );
}

#[test]
fn match_key_without_a_rule_lists_the_candidates() {
    let message = refusal(&format!("match_key: emails.value\n{NAME_RULE}"));
    assert_eq!(
        message,
        "mappings/test.yaml:1:12: no rule maps the match key emails.value both ways — set `match_key:` to one of: userName"
    );
}

#[test]
fn exposing_the_authenticated_role_is_refused() {
    let message = refusal(&format!(
        "{NAME_RULE}groups:\n  - role: authenticated\n    display_name: Everyone\n"
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:5:11: group 1 (role: authenticated): every user holds \"authenticated\" \
         implicitly — Drupal does not let it be granted or revoked; delete this entry"
    );
}

#[test]
fn duplicate_group_display_names_are_refused_ignoring_case() {
    let message = refusal(&format!(
        "{NAME_RULE}groups:\n  - role: editor\n    display_name: Staff\n  - role: engineering\n    display_name: staff\n"
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:8:19: group 2 (role: engineering): group 1 already uses the display name \
         \"staff\" — IdPs find groups by display name, ignoring case; make the names unique"
    );
}

#[test]
fn role_rule_with_an_unknown_operator_names_the_allowed_ones() {
    let message = refusal(&format!(
        "{NAME_RULE}role_rules:\n  - when: title like \"x\"\n    role: editor\n"
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:5:11: role rule 1 (when: title like \"x\"): unknown operator `like` in \
         \"title like \"x\"\" — conditions use eq, ne, co, sw, ew, pr"
    );
}

#[test]
fn misspelt_type_in_a_custom_schema_is_corrected() {
    let message = refusal(&format!(
        "schemas:\n  - urn: urn:acme:User\n    name: Acme\n    attributes:\n      - name: badge\n        type: strng\n{NAME_RULE}"
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:6:15: schema 1 (urn: urn:acme:User): unknown value `strng` — did you mean \"string\"?"
    );
}

#[test]
fn custom_schema_with_the_group_urn_is_refused() {
    let message = refusal(&format!(
        "schemas:\n  - urn: urn:ietf:params:scim:schemas:core:2.0:Group\n    name: G\n    attributes: [{{name: x, type: string}}]\n{NAME_RULE}"
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:2:10: schema 1 (urn: urn:ietf:params:scim:schemas:core:2.0:Group): \
         urn:ietf:params:scim:schemas:core:2.0:Group is the Group schema — custom schemas extend the \
         User resource; give yours its own URN"
    );
}

#[test]
fn empty_file_says_where_to_start() {
    let message = refusal("");
    assert!(message.starts_with("mappings/test.yaml:1:1: "), "{message}");
    assert!(
        message.ends_with("start from mappings/default.yaml"),
        "{message}"
    );
}

#[test]
fn unreadable_file_names_the_file() {
    let err =
        Mapping::load_file(std::path::Path::new("no/such/mapping.yaml")).expect_err("missing");
    assert!(err
        .to_string()
        .starts_with("no/such/mapping.yaml: cannot read the mapping file"));
}

#[test]
fn password_into_a_readable_field_is_refused() {
    let message = refusal(&with_rule("  - scim: password\n    drupal: field_secret\n"));
    assert_eq!(
        message,
        "mappings/test.yaml:5:13: rule 2 (scim: password): a password would be stored readable in \
         field_secret — map `password` to `pass` only"
    );
}

#[test]
fn writing_a_field_drupal_sets_itself_is_refused() {
    let message = refusal(&with_rule(
        "  - scim: displayName\n    drupal: display_name\n    direction: both\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:6:16: rule 2 (scim: displayName): Drupal sets display_name itself; it \
         cannot be written — delete `direction:` or set `direction: from_drupal`"
    );
}

#[test]
fn prefer_on_a_single_valued_attribute_is_refused() {
    let message = refusal(&with_rule(
        "  - scim: title\n    prefer: [primary]\n    drupal: field_title\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:5:13: rule 2 (scim: title): `prefer` chooses among the elements of a \
         multi-valued attribute, and this source has one value — delete `prefer`"
    );
}

#[test]
fn an_unknown_format_version_is_refused() {
    let message = refusal(&format!("version: 2\n{NAME_RULE}"));
    assert_eq!(
        message,
        "mappings/test.yaml:1:10: mapping format version 2 is not known — this bridge reads `version: 1`"
    );
}

/// `status` is the account's active state, which deactivation and
/// deprovisioning write: only `active` may feed it.
#[test]
fn status_written_from_anything_but_active_is_refused() {
    for rule in [
        "  - scim: title\n    drupal: status\n",
        "  - constant: true\n    drupal: status\n",
        "  - template: \"{title}\"\n    drupal: status\n",
    ] {
        let message = refusal(&with_rule(rule));
        assert!(
            message.contains("rule 2 (")
                && message.contains("status is the account's active state")
                && message.contains("— map `active` to `status`"),
            "{message}"
        );
    }
    Mapping::parse(
        &with_rule("  - scim: active\n    drupal: status\n"),
        "m.yaml",
    )
    .expect("active feeds status");
}

#[test]
fn pass_written_from_anything_but_password_is_refused() {
    for rule in [
        "  - scim: externalId\n    drupal: pass\n",
        "  - constant: welcome\n    drupal: pass\n",
    ] {
        let message = refusal(&with_rule(rule));
        assert!(
            message.contains("pass is the account's password")
                && message.contains("— map `password` to `pass` only"),
            "{message}"
        );
    }
    Mapping::parse(
        &with_rule("  - scim: password\n    drupal: pass\n"),
        "m.yaml",
    )
    .expect("password feeds pass");
}

/// Roles and ids are no rule's field at all.
#[test]
fn roles_and_ids_are_not_fields_a_rule_may_write() {
    for field in ["roles", "uuid", "uid", "id"] {
        let message = refusal(&with_rule(&format!(
            "  - scim: title\n    drupal: {field}\n"
        )));
        assert!(message.contains("rule 2 (scim: title)"), "{message}");
    }
}

/// The user field of term-backed groups is the bridge's: a rule writing
/// it would overwrite the memberships at each update.
#[test]
fn a_rule_writing_the_term_groups_user_field_is_refused() {
    let message = refusal(&format!(
        "{NAME_RULE}  - scim: title\n    drupal: field_scim_groups\n    type: entity_reference\n    target: taxonomy_term--scim_groups\ngroup_terms: {{}}\n"
    ));
    assert!(
        message.contains("rule 2 (scim: title)")
            && message.contains("field_scim_groups holds the users' term-backed groups"),
        "{message}"
    );
    Mapping::parse(
        &format!("{NAME_RULE}  - scim: title\n    drupal: field_scim_groups\n    type: entity_reference\n    target: taxonomy_term--scim_groups\n"),
        "m.yaml",
    )
    .expect("without group_terms the field is the mapping's");
}

#[test]
fn an_attribute_whose_type_never_fits_the_field_is_refused_at_load() {
    let message = refusal(&with_rule(
        "  - {scim: active, drupal: field_b, type: integer}\n",
    ));
    assert_eq!(
        message,
        "mappings/test.yaml:4:43: rule 2 (scim: active): active is a SCIM boolean, which never \
         fits the integer field field_b: every user carrying it would be refused — write it to a \
         field of a type a boolean fits (string, string_long, text, boolean, list_string, \
         telephone), or add a `map` transform turning its values into integer ones"
    );
    // Without `type:` the message points at the field.
    let message = refusal(&with_rule("  - scim: active\n    drupal: mail\n"));
    assert!(
        message.starts_with("mappings/test.yaml:5:13: rule 2 (scim: active): active is a SCIM boolean, which never fits the email field mail:"),
        "{message}"
    );
}

#[test]
fn attributes_of_a_type_the_field_can_take_are_accepted() {
    let schema = "schemas:\n  - urn: urn:example:acme:2.0:User\n    name: Acme\n    alias: acme\n    attributes:\n      - {name: floor, type: integer}\n      - {name: hired, type: dateTime}\n      - {name: ratio, type: decimal}\n";
    let accepted = [
        "  - {scim: phoneNumbers.value, drupal: field_phone, type: telephone}",
        "  - {scim: title, drupal: field_mail, type: email}",
        "  - {scim: profileUrl, drupal: field_site, type: link}",
        "  - {scim: locale, drupal: field_lang, transforms: [langcode]}",
        "  - {scim: title, drupal: field_n, type: integer}",
        "  - {scim: title, drupal: field_flag, type: boolean}",
        "  - {scim: active, drupal: field_flag, type: boolean}",
        "  - {scim: active, drupal: field_text, type: text}",
        "  - {scim: active, drupal: field_n, type: integer, transforms: [{map: {\"true\": 1, \"false\": 0}}]}",
        "  - {scim: \"acme:floor\", drupal: field_floor_text}",
        "  - {scim: \"acme:floor\", drupal: field_floor, type: integer}",
        "  - {scim: \"acme:floor\", drupal: field_flag, type: boolean}",
        "  - {scim: \"acme:ratio\", drupal: field_n, type: integer}",
        "  - {scim: \"acme:hired\", drupal: field_day, type: date}",
        "  - {scim: \"acme:hired\", drupal: field_when, type: datetime}",
        "  - {scim: active, drupal: field_n, type: integer, direction: from_drupal}",
    ];
    for rule in accepted {
        let source = format!("{schema}{}{rule}\n", with_rule(""));
        if let Err(e) = Mapping::parse(&source, "m.yaml") {
            panic!("{rule}: {e}");
        }
    }
    let refused = [
        "  - {scim: \"acme:floor\", drupal: field_day, type: date}",
        "  - {scim: \"acme:hired\", drupal: field_n, type: integer}",
        "  - {scim: \"acme:hired\", drupal: field_flag, type: boolean}",
        "  - {scim: \"acme:ratio\", drupal: field_ref, type: entity_reference, target: user--user}",
        "  - {scim: active, drupal: field_when, type: datetime}",
        "  - {scim: active, drupal: field_site, type: link}",
    ];
    for rule in refused {
        let source = format!("{schema}{}{rule}\n", with_rule(""));
        match Mapping::parse(&source, "m.yaml") {
            Ok(_) => panic!("{rule} was accepted"),
            Err(e) => assert!(e.to_string().contains("never fits"), "{rule}: {e}"),
        }
    }
}
