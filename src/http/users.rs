//! `/Users`: RFC 7644 §3.3 create, §3.4 read and query, §3.5 replace and
//! modify, §3.6 delete.

use actix_web::http::header::IF_NONE_MATCH;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::by_id::{ById, Id};
use super::error::ApiError;
use super::request_log::label;
use super::{
    base_url, json_body, list_page, not_modified, only, preconditions, projection_of, scim_body,
    scim_bytes, scim_resource, search_params, text_attribute, version_condition, with_location,
    with_refs, AppState, ListRequest, Query,
};
use crate::provisioning::{ScimUser, UserQuery, UserRead, UsersRead};
use crate::scim::list::ListParams;
use crate::scim::patch::PatchRequest;
use crate::scim::projection::Projection;
use crate::scim::resource::{parse_replacement, parse_resource};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(only("GET, POST")),
    )
    .service(
        web::resource("/Users/.search")
            .route(web::post().to(search))
            .default_service(only("POST")),
    )
    // `/Users/{id}`, after the static routes above, without a regular
    // expression (`by_id`).
    .service(ById::new(
        "/Users",
        web::to(get),
        web::to(replace),
        web::to(patch),
        web::to(delete),
    ));
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(query.into_inner())?;
    respond_list(&req, &state, params, "list_users").await
}

async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "search_users", None);
    let params = search_params(&req, &body)?;
    respond_list(&req, &state, params, "search_users").await
}

async fn respond_list(
    req: &HttpRequest,
    state: &AppState,
    params: ListParams,
    operation: &'static str,
) -> Result<HttpResponse, ApiError> {
    label(
        req,
        operation,
        super::request_log::logged_filter(
            params.filter.as_deref(),
            &state.provisioner.user_schema(),
        ),
    );
    let list = ListRequest::parse(params, &state.provisioner.user_schema())?;
    let query = UserQuery {
        filter: list.filter,
        start_index: list.start_index,
        count: list.count,
        sort_by: list.sort_by,
        sort_order: list.sort_order,
    };
    let base = base_url(req, state);
    match state
        .provisioner
        .list_users(&query, &base, &list.projection)
        .await?
    {
        UsersRead::Json(body) => Ok(scim_body(StatusCode::OK, body)),
        UsersRead::Rendered(page) => {
            let resources = page
                .users
                .into_iter()
                .map(|user| render(user, &base, &list.projection))
                .collect();
            Ok(list_page(page.total, query.start_index, resources))
        }
    }
}

async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_user", Some(id.clone()));
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let if_none_match = version_condition(&req, IF_NONE_MATCH)?;
    let base = base_url(&req, &state);
    match state.provisioner.read_user(&id, &base, &projection).await? {
        UserRead::Json(user) => {
            if if_none_match.is_some_and(|c| c.matches(&user.version)) {
                return Ok(not_modified(&user.version));
            }
            Ok(scim_bytes(StatusCode::OK, user.body, &user.version))
        }
        UserRead::Rendered(user) => {
            if if_none_match.is_some_and(|c| c.matches(&user.version)) {
                return Ok(not_modified(&user.version));
            }
            let version = user.version.clone();
            let body = render(user, &base, &projection);
            Ok(scim_resource(StatusCode::OK, &body, &version))
        }
    }
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "create_user", None);
    let resource = parse_resource(&json_body(&req, &body)?, &state.provisioner.user_schema())?;
    label(&req, "create_user", text_attribute(&resource, "userName"));
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let user = state.provisioner.create_user(resource).await?;
    let location = format!("{}/Users/{}", base_url(&req, &state), user.id);
    let response = respond_user(&req, &state, StatusCode::CREATED, user, &projection);
    Ok(with_location(response, &location))
}

async fn replace(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "replace_user", Some(id.clone()));
    let replacement =
        parse_replacement(&json_body(&req, &body)?, &state.provisioner.user_schema())?;
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let conditions = preconditions(&req)?;
    let user = state
        .provisioner
        .replace_user(&id, replacement, &conditions)
        .await?;
    Ok(respond_user(
        &req,
        &state,
        StatusCode::OK,
        user,
        &projection,
    ))
}

async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "patch_user", Some(id.clone()));
    let request = PatchRequest::from_json(&json_body(&req, &body)?)?;
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let conditions = preconditions(&req)?;
    let user = state
        .provisioner
        .patch_user(&id, &request, &conditions)
        .await?;
    Ok(respond_user(
        &req,
        &state,
        StatusCode::OK,
        user,
        &projection,
    ))
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
) -> Result<HttpResponse, ApiError> {
    label(&req, "delete_user", Some(id.clone()));
    let conditions = preconditions(&req)?;
    state.provisioner.delete_user(&id, &conditions).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn respond_user(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    user: ScimUser,
    projection: &Projection,
) -> HttpResponse {
    let version = user.version.clone();
    let body = render(user, &base_url(req, state), projection);
    scim_resource(status, &body, &version)
}

/// The user as SCIM JSON: `meta.location` and the groups' `$ref` added,
/// projection applied.
fn render(user: ScimUser, base: &str, projection: &Projection) -> Value {
    let mut resource = user.resource;
    with_refs(&mut resource, base, "Users", &user.id, ("groups", "Groups"));
    projection.apply(&mut resource);
    Value::Object(resource)
}

/// The answer [`crate::provisioning::write_user`] writes is the map path's
/// (`render_user`, `render`, `scim_resource`), byte for byte, `ETag`
/// included: over every shipped mapping and the test mappings below, for
/// users with every kind of attribute, and with bases that need escaping.
/// So is the ListResponse [`crate::provisioning::write_users`] writes
/// (`render_user`, `render`, `list_page`), for pages of such users.
#[cfg(test)]
mod written_answers {
    use std::sync::Arc;
    use std::time::Instant;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use serde_json::{json, Map, Value};

    use super::render;
    use crate::drupal::{DrupalRole, DrupalUser};
    use crate::mapping::test_support::{drupal_value, shipped_mappings};
    use crate::mapping::Mapping;
    use crate::provisioning::{
        render_user, write_user, write_users, ActiveMapping, RoleCatalog, TermNames,
    };
    use crate::scim::projection::Projection;
    use crate::scim::schema::ResourceSchema;

    /// Custom schemas, the enterprise extension, and one rule per kind of
    /// Drupal field; groups exposed.
    const EVERY_KIND: &str = r#"
schemas:
  - urn: urn:example:params:scim:schemas:extension:acme:2.0:User
    name: AcmeUser
    alias: acme
    attributes:
      - {name: vip, type: boolean}
      - {name: level, type: integer}
      - {name: ratio, type: decimal}
      - {name: birthday, type: dateTime}
      - {name: hired, type: dateTime}
      - {name: teams, type: string, multi_valued: true}
rules:
  - {scim: userName, drupal: name}
  - {scim: title, drupal: field_title}
  - {scim: displayName, drupal: field_bio, type: text, format: basic_html}
  - {scim: "acme:vip", drupal: field_vip, type: boolean}
  - {scim: "acme:level", drupal: field_level, type: integer}
  - {scim: "acme:ratio", drupal: field_ratio}
  - {scim: userType, drupal: field_kind, type: list_string}
  - {scim: 'emails[type eq "home"].value', drupal: field_home_mail, type: email}
  - {scim: emails.value, prefer: [primary, work], drupal: mail}
  - {scim: 'emails[type eq "other"].display', drupal: field_mail_label}
  - {scim: 'emails[type eq "other"].value', drupal: field_other_mail, type: email}
  - {scim: 'phoneNumbers[type eq "work"].value', drupal: field_phone, type: telephone}
  - {scim: phoneNumbers.value, drupal: field_phones, type: telephone, multiple: true}
  - {scim: profileUrl, drupal: field_site, type: link}
  - {scim: "acme:birthday", drupal: field_birthday, type: date}
  - {scim: "acme:hired", drupal: field_hired, type: datetime}
  - {scim: "enterprise:manager.value", drupal: field_manager, type: entity_reference, target: user--user}
  - {scim: "enterprise:department", drupal: field_department}
  - {scim: "enterprise:employeeNumber", drupal: field_employee_number}
  - {scim: "acme:teams", drupal: field_teams, type: entity_reference, target: taxonomy_term--team, multiple: true}
  - {scim: name.givenName, drupal: field_first_name}
  - {scim: name.familyName, drupal: field_last_name}
  - {scim: active, drupal: status}
  - {scim: nickName, drupal: field_nick, transforms: [trim, lowercase]}
  - {scim: addresses.locality, drupal: field_city}
groups:
  - {role: editor, display_name: "Editors \"chief\" ✓"}
  - {role: engineering, display_name: engineering}
"#;

    /// Nothing but the user name.
    const BARE: &str = "rules:\n  - {scim: userName, drupal: name}\n";

    fn mappings() -> Vec<(String, Mapping)> {
        let mut found = shipped_mappings();
        for (name, source) in [("every kind", EVERY_KIND), ("bare", BARE)] {
            found.push((
                name.into(),
                Mapping::parse(source, "test.yaml").unwrap_or_else(|e| panic!("{e}")),
            ));
        }
        found
    }

    fn site_roles() -> Vec<DrupalRole> {
        ["editor", "engineering", "administrator"]
            .iter()
            .map(|name| DrupalRole {
                id: format!("0000000{}-aaaa-4bbb-8ccc-{name:0>12}", name.len()),
                machine_name: (*name).into(),
                label: name.to_uppercase(),
                is_admin: *name == "administrator",
                permissions: Vec::new(),
            })
            .collect()
    }

    /// A user whose every mapped field is absent, null or some value, with
    /// references, roles and stamps of every kind.
    fn drupal_user(mapping: &Mapping) -> impl Strategy<Value = DrupalUser> {
        let fields = mapping.mapped_fields();
        let values = prop::collection::vec(prop::option::of(drupal_value()), fields.len());
        let stamps = prop::option::of(prop_oneof![
            Just("2024-01-01T00:00:00+00:00".to_string()),
            Just("1969-12-31T23:59:59-01:00".to_string()),
            Just("yesterday \"noon\"".to_string()),
        ]);
        let roles = prop::collection::vec(0usize..4, 0..4);
        let id = prop_oneof![
            Just("5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7e".to_string()),
            "[a-f0-9-]{1,36}",
        ];
        (values, stamps.clone(), stamps, roles, id).prop_map(
            move |(values, created, changed, roles, id)| {
                let mut attributes = Map::new();
                let mut relationships = Map::new();
                for (field, value) in fields.iter().zip(values) {
                    let Some(value) = value else { continue };
                    match &field.reference_type {
                        Some(kind) => {
                            let item =
                                |n: usize| json!({"type": kind, "id": format!("ref-{n}-\"x\"")});
                            let data = if field.multiple {
                                json!([item(1), item(2)])
                            } else if value.is_null() {
                                Value::Null
                            } else {
                                item(1)
                            };
                            relationships.insert(field.name.clone(), json!({ "data": data }));
                        }
                        None => {
                            attributes.insert(field.name.clone(), value);
                        }
                    }
                }
                if let Some(created) = created {
                    attributes.insert("created".into(), json!(created));
                }
                if let Some(changed) = changed {
                    attributes.insert("changed".into(), json!(changed));
                }
                let site = site_roles();
                let held: Vec<Value> = roles
                    .iter()
                    .map(|&i| match site.get(i) {
                        Some(role) => json!({"type": "user_role--user_role", "id": role.id,
                            "meta": {"drupal_internal__target_id": role.machine_name}}),
                        None => json!({"type": "user_role--user_role", "id": "unknown"}),
                    })
                    .collect();
                relationships.insert("roles".into(), json!({ "data": held }));
                DrupalUser::from_resource(json!({
                    "type": "user--user",
                    "id": id,
                    "attributes": attributes,
                    "relationships": relationships,
                }))
                .expect("a user")
            },
        )
    }

    const BASES: [&str; 3] = [
        "https://scim.example/scim/v2",
        "http://127.0.0.1:8080",
        "https://h\u{e9}te.example/\"odd\"\\path\u{1}",
    ];

    /// The map path's answer: body and `ETag`.
    fn by_map(
        user: &DrupalUser,
        mapping: &Mapping,
        catalog: &RoleCatalog,
        base: &str,
        projection: &Projection,
    ) -> (Vec<u8>, String) {
        let rendered = render_user(user, mapping, catalog);
        let version = rendered.version.clone();
        let response = super::scim_resource(
            actix_web::http::StatusCode::OK,
            &render(rendered, base, projection),
            &version,
        );
        let etag = response
            .headers()
            .get(actix_web::http::header::ETAG)
            .expect("an ETag")
            .to_str()
            .expect("text")
            .to_string();
        let body = serde_json::to_vec(&Value::Object(
            match render(render_user(user, mapping, catalog), base, projection) {
                Value::Object(map) => map,
                other => panic!("not an object: {other}"),
            },
        ))
        .expect("JSON");
        (body, etag)
    }

    /// The SCIM user schema `mapping` serves.
    /// What a written answer is compared under: no projection (of the
    /// mapping's user schema), the test site's roles and their catalog.
    struct Fixture {
        projection: Projection,
        site: Vec<DrupalRole>,
        catalog: RoleCatalog,
    }

    fn fixture(mapping: &Mapping) -> Fixture {
        let schema = user_schema(mapping);
        let projection = Projection::parse(None, None, &schema).expect("projection");
        let site = site_roles();
        let catalog = RoleCatalog::build(site.clone(), mapping, &[], Instant::now());
        Fixture {
            projection,
            site,
            catalog,
        }
    }

    fn user_schema(mapping: &Mapping) -> Arc<ResourceSchema> {
        ActiveMapping::new(Arc::new(mapping.clone()))
            .expect("schemas")
            .user_schema
    }

    #[test]
    fn every_mapping_and_user_is_answered_as_the_map_path_answers() {
        for (name, mapping) in mappings() {
            let schema = user_schema(&mapping);
            let projection = Projection::parse(None, None, &schema).expect("projection");
            let catalog = RoleCatalog::build(site_roles(), &mapping, &[], Instant::now());
            let mut runner = TestRunner::new(Config {
                cases: 64,
                failure_persistence: None,
                ..Config::default()
            });
            let result = runner.run(&drupal_user(&mapping), |user| {
                for base in BASES {
                    let written = write_user(
                        &user,
                        &mapping,
                        &catalog,
                        &TermNames::default(),
                        base,
                        &projection,
                    );
                    // Without term-backed groups, nothing here needs the
                    // map path: the writer must answer.
                    let written = written.expect("written without the map path");
                    let (body, etag) = by_map(&user, &mapping, &catalog, base, &projection);
                    prop_assert_eq!(
                        String::from_utf8_lossy(&written.body),
                        String::from_utf8_lossy(&body)
                    );
                    prop_assert_eq!(&written.body, &body);
                    prop_assert_eq!(&written.version, &etag);
                }
                Ok(())
            });
            if let Err(e) = result {
                panic!("{name}: {e}");
            }
        }
    }

    #[test]
    fn a_user_with_everything_is_answered_as_the_map_path_answers() {
        let mapping = Mapping::parse(EVERY_KIND, "test.yaml").expect("mapping");
        let Fixture {
            projection,
            site,
            catalog,
        } = fixture(&mapping);
        let user = DrupalUser::from_resource(json!({
            "type": "user--user",
            "id": "5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7e",
            "attributes": {
                "name": "ann \"quoted\" \\ \u{1f}", "mail": "ann@example.com",
                "status": true, "field_title": "Ingénieure 😀",
                "field_bio": {"value": "<p>bio</p>\n", "format": "basic_html"},
                "field_vip": "1", "field_level": 7, "field_ratio": "2.50",
                "field_kind": "staff", "field_home_mail": "ann@home.example",
                "field_mail_label": "label", "field_other_mail": "o@example.org", "field_phone": "+1 555 0100",
                "field_phones": ["+1 555 0100", "+1 555 0199"],
                "field_site": {"uri": "https://example.com/ann", "title": ""},
                "field_birthday": "1990-05-06", "field_hired": "2020-01-02T03:04:05+00:00",
                "field_department": "R&D", "field_employee_number": null,
                "field_first_name": "Ann", "field_last_name": "Example",
                "field_nick": "  AnnIE ", "field_city": "Zürich",
                "created": "2023-01-01T00:00:00+00:00", "changed": "2024-01-01T00:00:00+00:00"
            },
            "relationships": {
                "field_manager": {"data": {"type": "user--user", "id": "0b5b9b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"}},
                "field_teams": {"data": [{"type": "taxonomy_term--team", "id": "t1"}, {"type": "taxonomy_term--team", "id": "t2"}]},
                "roles": {"data": [
                    {"type": "user_role--user_role", "id": site[0].id, "meta": {"drupal_internal__target_id": "editor"}},
                    {"type": "user_role--user_role", "id": site[1].id, "meta": {"drupal_internal__target_id": "engineering"}}
                ]}
            }
        }))
        .expect("a user");
        let written = write_user(
            &user,
            &mapping,
            &catalog,
            &TermNames::default(),
            BASES[0],
            &projection,
        )
        .expect("written without the map path");
        let (body, etag) = by_map(&user, &mapping, &catalog, BASES[0], &projection);
        assert_eq!(
            String::from_utf8_lossy(&written.body),
            String::from_utf8_lossy(&body)
        );
        assert_eq!(written.version, etag);
        // Every kind of member made it into the answer.
        let answer: Value = serde_json::from_slice(&written.body).expect("JSON");
        for key in [
            "emails",
            "phoneNumbers",
            "groups",
            "name",
            "addresses",
            "active",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "urn:example:params:scim:schemas:extension:acme:2.0:User",
        ] {
            assert!(answer.get(key).is_some(), "{key} missing: {answer}");
        }
        assert_eq!(answer["groups"].as_array().map(Vec::len), Some(2));
        assert_eq!(answer["schemas"].as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn projections_are_left_to_the_map_path() {
        let mapping = Mapping::parse(EVERY_KIND, "test.yaml").expect("mapping");
        let schema = user_schema(&mapping);
        let catalog = RoleCatalog::build(site_roles(), &mapping, &[], Instant::now());
        let user = DrupalUser::from_resource(json!({
            "type": "user--user", "id": "5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7e",
            "attributes": {"name": "ann"}
        }))
        .expect("a user");
        for (attributes, excluded) in [
            (Some("userName"), None),
            (None, Some("emails")),
            (None, Some("groups")),
            (Some("meta"), Some("meta")),
        ] {
            let projection = Projection::parse(attributes, excluded, &schema).expect("projection");
            assert_eq!(
                write_user(
                    &user,
                    &mapping,
                    &catalog,
                    &TermNames::default(),
                    BASES[0],
                    &projection
                ),
                None,
                "{attributes:?} {excluded:?}"
            );
        }
        let projection = Projection::parse(None, None, &schema).expect("projection");
        assert!(write_user(
            &user,
            &mapping,
            &catalog,
            &TermNames::default(),
            BASES[0],
            &projection
        )
        .is_some());
    }

    /// Term-backed groups: in the version without their names, as
    /// `render_user` hashes them; in the answer named, or left out when
    /// their term is gone, as `TermNames::name_groups` shows them.
    #[test]
    fn term_groups_are_answered_as_the_map_path_answers_them() {
        const NAMED: &str = "11111111-2222-4333-8444-555555555555";
        const GONE: &str = "66666666-7777-4888-8999-000000000000";
        const UNKNOWN: &str = "0b5b9b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
        let mapping = Mapping::parse(
            "rules:\n  - {scim: userName, drupal: name}\n  - {scim: emails.value, drupal: mail}\ngroups:\n  - {role: editor, display_name: editor}\ngroup_terms: {}\n",
            "test.yaml",
        )
        .expect("mapping");
        let Fixture {
            projection,
            site,
            catalog,
        } = fixture(&mapping);
        let names = TermNames::default();
        names.learn(NAMED, "Sales \"EU\" ✓");
        names.forget(GONE);
        let editor = json!({"type": "user_role--user_role", "id": site[0].id,
            "meta": {"drupal_internal__target_id": "editor"}});
        let unknown_upper = UNKNOWN.to_uppercase();
        let mut answered = 0;
        for terms in [
            vec![NAMED, GONE, UNKNOWN],
            vec![GONE],
            vec![unknown_upper.as_str()],
            vec![NAMED],
            vec![],
        ] {
            for roles in [json!([]), json!([editor])] {
                let data: Vec<Value> = terms
                    .iter()
                    .map(|id| json!({"type": "taxonomy_term--scim_groups", "id": id}))
                    .collect();
                let user = DrupalUser::from_resource(json!({
                    "type": "user--user", "id": "5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7e",
                    "attributes": {"name": "ann", "mail": "ann@example.org",
                        "changed": "2024-01-01T00:00:00+00:00"},
                    "relationships": {
                        "field_scim_groups": {"data": data},
                        "roles": {"data": roles.clone()}
                    }
                }))
                .expect("a user");
                let written = write_user(&user, &mapping, &catalog, &names, BASES[2], &projection)
                    .expect("written without the map path");
                let mut rendered = render_user(&user, &mapping, &catalog);
                names.name_groups(&mut rendered);
                let version = rendered.version.clone();
                let body =
                    serde_json::to_vec(&render(rendered, BASES[2], &projection)).expect("JSON");
                assert_eq!(
                    String::from_utf8_lossy(&written.body),
                    String::from_utf8_lossy(&body),
                    "{terms:?} {roles}"
                );
                assert_eq!(written.version, version, "{terms:?} {roles}");
                answered += 1;
            }
        }
        assert_eq!(answered, 10);
    }

    /// The map path's ListResponse of `users` (`respond_list` on
    /// `UsersRead::Rendered`): its body.
    fn list_by_map(
        users: &[DrupalUser],
        page: (usize, usize),
        mapping: &Mapping,
        catalog: &RoleCatalog,
        names: &TermNames,
        base: &str,
        projection: &Projection,
    ) -> Vec<u8> {
        let resources = users
            .iter()
            .map(|user| {
                let mut rendered = render_user(user, mapping, catalog);
                names.name_groups(&mut rendered);
                render(rendered, base, projection)
            })
            .collect();
        let response = super::list_page(page.0, page.1, resources);
        actix_web::body::MessageBody::try_into_bytes(response.into_body())
            .expect("a body of bytes")
            .to_vec()
    }

    /// The written ListResponse of `users`, as `respond_list` answers it.
    fn list_written(
        users: &[DrupalUser],
        page: (usize, usize),
        mapping: &Mapping,
        catalog: &RoleCatalog,
        names: &TermNames,
        base: &str,
        projection: &Projection,
    ) -> Option<Vec<u8>> {
        let list = write_users(users, mapping, catalog, names, base, projection)?;
        Some(list.finish(page.0, page.1))
    }

    #[test]
    fn every_mapping_and_page_of_users_is_answered_as_the_map_path_answers() {
        for (name, mapping) in mappings() {
            let schema = user_schema(&mapping);
            let projection = Projection::parse(None, None, &schema).expect("projection");
            let catalog = RoleCatalog::build(site_roles(), &mapping, &[], Instant::now());
            let names = TermNames::default();
            let mut runner = TestRunner::new(Config {
                cases: 24,
                failure_persistence: None,
                ..Config::default()
            });
            let pages = (
                prop::collection::vec(drupal_user(&mapping), 0..5),
                prop_oneof![Just(0usize), 0usize..3, 0usize..100_000],
                prop_oneof![Just(1usize), 1usize..10, 1usize..100_000],
            );
            let result = runner.run(&pages, |(users, more, start_index)| {
                // A total at least the page, as Drupal's paging gives it.
                let page = (users.len() + more, start_index);
                for base in BASES {
                    let written =
                        list_written(&users, page, &mapping, &catalog, &names, base, &projection);
                    // Without term-backed groups or a projection, nothing
                    // here needs the map path: the writer must answer.
                    let written = written.expect("written without the map path");
                    let body =
                        list_by_map(&users, page, &mapping, &catalog, &names, base, &projection);
                    prop_assert_eq!(
                        String::from_utf8_lossy(&written),
                        String::from_utf8_lossy(&body)
                    );
                    prop_assert_eq!(&written, &body);
                }
                Ok(())
            });
            if let Err(e) = result {
                panic!("{name}: {e}");
            }
        }
    }

    /// Pages of zero, one and several users, with every count of results
    /// and start, each user with the same attributes as every other.
    #[test]
    fn pages_of_every_size_and_counters_are_answered_as_the_map_path_answers() {
        let mapping = Mapping::parse(EVERY_KIND, "test.yaml").expect("mapping");
        let Fixture {
            projection,
            site,
            catalog,
        } = fixture(&mapping);
        let names = TermNames::default();
        let users: Vec<DrupalUser> = (0..4)
            .map(|n| {
                let roles: Vec<Value> = site
                    .iter()
                    .take(n)
                    .map(|role| json!({"type": "user_role--user_role", "id": role.id,
                        "meta": {"drupal_internal__target_id": role.machine_name}}))
                    .collect();
                DrupalUser::from_resource(json!({
                    "type": "user--user", "id": format!("5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7{n}"),
                    "attributes": {"name": format!("user {n} \"q\""), "mail": format!("u{n}@example.org"),
                        "status": n % 2 == 0, "field_level": n,
                        "created": "2023-01-01T00:00:00+00:00",
                        "changed": format!("2024-01-0{}T00:00:00+00:00", n + 1)},
                    "relationships": {"roles": {"data": roles}}
                }))
                .expect("a user")
            })
            .collect();
        for len in 0..=users.len() {
            let page = &users[..len];
            for counters in [(len, 1), (len + 1, 1), (len + 7, 8), (1_000_000, 999_999)] {
                for base in BASES {
                    let written = list_written(
                        page,
                        counters,
                        &mapping,
                        &catalog,
                        &names,
                        base,
                        &projection,
                    )
                    .expect("written without the map path");
                    let body = list_by_map(
                        page,
                        counters,
                        &mapping,
                        &catalog,
                        &names,
                        base,
                        &projection,
                    );
                    assert_eq!(
                        String::from_utf8_lossy(&written),
                        String::from_utf8_lossy(&body),
                        "{len} {counters:?}"
                    );
                }
            }
            // The users are all there, in order, with their own versions.
            let written = list_written(
                page,
                (len, 1),
                &mapping,
                &catalog,
                &names,
                BASES[0],
                &projection,
            )
            .expect("written");
            let answer: Value = serde_json::from_slice(&written).expect("JSON");
            let resources = answer["Resources"].as_array().expect("Resources");
            assert_eq!(resources.len(), len);
            for (resource, user) in resources.iter().zip(page) {
                assert_eq!(resource["id"], json!(user.id));
                let version = render_user(user, &mapping, &catalog).version;
                assert_eq!(resource["meta"]["version"], json!(version));
            }
        }
    }

    #[test]
    fn a_page_with_a_projection_is_left_to_the_map_path() {
        let mapping = Mapping::parse(EVERY_KIND, "test.yaml").expect("mapping");
        let schema = user_schema(&mapping);
        let catalog = RoleCatalog::build(site_roles(), &mapping, &[], Instant::now());
        let names = TermNames::default();
        let user = |id: &str| {
            DrupalUser::from_resource(json!({
                "type": "user--user", "id": id, "attributes": {"name": id}
            }))
            .expect("a user")
        };
        let users = [user("a"), user("b"), user("c")];
        for (attributes, excluded) in [
            (Some("userName"), None),
            (None, Some("emails")),
            (None, Some("groups")),
        ] {
            let projection = Projection::parse(attributes, excluded, &schema).expect("projection");
            for len in 1..=users.len() {
                assert!(
                    write_users(
                        &users[..len],
                        &mapping,
                        &catalog,
                        &names,
                        BASES[0],
                        &projection
                    )
                    .is_none(),
                    "{attributes:?} {excluded:?} {len}"
                );
            }
            // An empty page is the same with or without a projection.
            let written = list_written(
                &[],
                (0, 1),
                &mapping,
                &catalog,
                &names,
                BASES[0],
                &projection,
            )
            .expect("an empty page is written");
            let body = list_by_map(
                &[],
                (0, 1),
                &mapping,
                &catalog,
                &names,
                BASES[0],
                &projection,
            );
            assert_eq!(written, body);
        }
    }

    /// Pages of users with term-backed and role groups: each user's groups
    /// named, or left out when their term is gone, as the map path shows
    /// them.
    #[test]
    fn pages_with_term_and_role_groups_are_answered_as_the_map_path_answers() {
        const NAMED: &str = "11111111-2222-4333-8444-555555555555";
        const GONE: &str = "66666666-7777-4888-8999-000000000000";
        const UNKNOWN: &str = "0b5b9b2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
        let mapping = Mapping::parse(
            "rules:\n  - {scim: userName, drupal: name}\n  - {scim: emails.value, drupal: mail}\ngroups:\n  - {role: editor, display_name: editor}\n  - {role: engineering, display_name: \"Eng \\\"ineering\\\"\"}\ngroup_terms: {}\n",
            "test.yaml",
        )
        .expect("mapping");
        let Fixture {
            projection,
            site,
            catalog,
        } = fixture(&mapping);
        let names = TermNames::default();
        names.learn(NAMED, "Sales \"EU\" ✓");
        names.forget(GONE);
        let role = |i: usize| {
            json!({"type": "user_role--user_role", "id": site[i].id,
                "meta": {"drupal_internal__target_id": site[i].machine_name}})
        };
        let unknown_upper = UNKNOWN.to_uppercase();
        let groups: Vec<(Vec<&str>, Value)> = vec![
            (vec![NAMED, GONE, UNKNOWN], json!([role(0)])),
            (vec![GONE], json!([])),
            (vec![unknown_upper.as_str()], json!([role(1), role(0)])),
            (vec![], json!([role(1)])),
            (vec![NAMED], json!([])),
            (vec![], json!([])),
        ];
        let users: Vec<DrupalUser> = groups
            .iter()
            .enumerate()
            .map(|(n, (terms, roles))| {
                let data: Vec<Value> = terms
                    .iter()
                    .map(|id| json!({"type": "taxonomy_term--scim_groups", "id": id}))
                    .collect();
                DrupalUser::from_resource(json!({
                    "type": "user--user", "id": format!("5f0c7a57-6a1c-4a5e-9a4c-2d3a4b5c6d7{n}"),
                    "attributes": {"name": format!("user{n}"), "mail": "u@example.org",
                        "changed": "2024-01-01T00:00:00+00:00"},
                    "relationships": {
                        "field_scim_groups": {"data": data},
                        "roles": {"data": roles}
                    }
                }))
                .expect("a user")
            })
            .collect();
        let mut answered = 0;
        for from in 0..users.len() {
            for to in from..=users.len() {
                let page = &users[from..to];
                for counters in [(page.len(), 1), (users.len(), from + 1)] {
                    let written = list_written(
                        page,
                        counters,
                        &mapping,
                        &catalog,
                        &names,
                        BASES[2],
                        &projection,
                    )
                    .expect("written without the map path");
                    let body = list_by_map(
                        page,
                        counters,
                        &mapping,
                        &catalog,
                        &names,
                        BASES[2],
                        &projection,
                    );
                    assert_eq!(
                        String::from_utf8_lossy(&written),
                        String::from_utf8_lossy(&body),
                        "{from}..{to} {counters:?}"
                    );
                    answered += 1;
                }
            }
        }
        assert_eq!(answered, 54);
        // The groups made it: named terms, both roles.
        let written = list_written(
            &users,
            (6, 1),
            &mapping,
            &catalog,
            &names,
            BASES[0],
            &projection,
        )
        .expect("written");
        let answer: Value = serde_json::from_slice(&written).expect("JSON");
        assert_eq!(
            answer["Resources"][0]["groups"].as_array().map(Vec::len),
            Some(3)
        );
        assert_eq!(
            answer["Resources"][2]["groups"].as_array().map(Vec::len),
            Some(3)
        );
        assert_eq!(answer["Resources"][1].get("groups"), None);
    }
}
