//! JSON:API documents in the exact shapes core Drupal writes.

use chrono::{TimeZone, Utc};
use rand::distributions::Alphanumeric;
use rand::Rng;

use super::config::FieldSeed;
use super::errors::Failure;
use super::json::Json;
use super::model::{Role, User, UserField, Visibility, BASE_ATTRIBUTES};
use super::taxonomy::{cached_identifiers, relationship_links, GROUPS_FIELD};

pub(crate) const USER_TYPE: &str = "user--user";
pub(crate) const ROLE_TYPE: &str = "user_role--user_role";
pub(crate) const USERS_PATH: &str = "/jsonapi/user/user";
pub(crate) const ROLES_PATH: &str = "/jsonapi/user_role/user_role";

/// Resource types a `minimal` Drupal 10 site lists at `/jsonapi`.
const ENTRY_POINT_TYPES: [(&str, &str); 17] = [
    ("action--action", "action/action"),
    (
        "base_field_override--base_field_override",
        "base_field_override/base_field_override",
    ),
    ("block--block", "block/block"),
    ("date_format--date_format", "date_format/date_format"),
    (
        "entity_form_display--entity_form_display",
        "entity_form_display/entity_form_display",
    ),
    (
        "entity_form_mode--entity_form_mode",
        "entity_form_mode/entity_form_mode",
    ),
    (
        "entity_view_display--entity_view_display",
        "entity_view_display/entity_view_display",
    ),
    (
        "entity_view_mode--entity_view_mode",
        "entity_view_mode/entity_view_mode",
    ),
    ("field_config--field_config", "field_config/field_config"),
    (
        "field_storage_config--field_storage_config",
        "field_storage_config/field_storage_config",
    ),
    ("file--file", "file/file"),
    (
        "filter_format--filter_format",
        "filter_format/filter_format",
    ),
    ("menu--menu", "menu/menu"),
    ("node_type--node_type", "node_type/node_type"),
    ("path_alias--path_alias", "path_alias/path_alias"),
    ("user--user", "user/user"),
    ("user_role--user_role", "user_role/user_role"),
];

pub(crate) fn href(url: impl Into<String>) -> Json {
    Json::object(vec![("href", Json::from(url.into()))])
}

fn jsonapi_member() -> Json {
    Json::object(vec![
        ("version", Json::from("1.0")),
        (
            "meta",
            Json::object(vec![(
                "links",
                Json::object(vec![("self", href("http://jsonapi.org/format/1.0/"))]),
            )]),
        ),
    ])
}

/// A top-level document: `jsonapi` first, then the given members.
pub(crate) fn document(members: Vec<(&str, Json)>) -> Json {
    let mut doc = Json::object(vec![("jsonapi", jsonapi_member())]);
    for (key, value) in members {
        doc.push(key, value);
    }
    doc
}

/// `links: {self: {href}}`.
pub(crate) fn self_links(url: &str) -> Json {
    Json::object(vec![("self", href(url))])
}

/// Drupal's date format for timestamps: RFC 3339 in the site time zone (UTC).
pub(crate) fn rfc3339(seconds: i64) -> String {
    Utc.timestamp_opt(seconds, 0)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

pub(crate) fn user_url(base: &str, uuid: &str) -> String {
    format!("{base}{USERS_PATH}/{uuid}")
}

pub(crate) fn role_url(base: &str, uuid: &str) -> String {
    format!("{base}{ROLES_PATH}/{uuid}")
}

/// `fields[type]=a,b` as a list; `None` = all fields.
pub(crate) type Fieldset<'a> = Option<&'a [String]>;

fn wanted(fieldset: Fieldset, name: &str) -> bool {
    match fieldset {
        None => true,
        Some(names) => names.iter().any(|n| n == name),
    }
}

fn attribute_value(field: &UserField, user: &User) -> Json {
    match field {
        UserField::DisplayName => Json::from(user.display_name()),
        UserField::Uid => Json::from(user.uid),
        UserField::Langcode => Json::from(user.langcode.clone()),
        UserField::PreferredLangcode => Json::from(user.preferred_langcode.clone()),
        UserField::PreferredAdminLangcode => Json::from(user.preferred_admin_langcode.clone()),
        UserField::Name => Json::from(user.name.clone()),
        UserField::Mail => Json::from(user.mail.clone()),
        UserField::Timezone => Json::from(user.timezone.clone()),
        UserField::Status => Json::from(user.status),
        UserField::Created => Json::from(rfc3339(user.created)),
        UserField::Changed => Json::from(rfc3339(user.changed)),
        UserField::Access => Json::from(rfc3339(user.access)),
        UserField::Login => Json::from(rfc3339(user.login)),
        UserField::Init => Json::from(user.init.clone()),
        UserField::DefaultLangcode => Json::from(true),
        UserField::Custom(name, _) => Json::from(user.field(name)),
        UserField::Id | UserField::Roles | UserField::Pass => Json::null(),
    }
}

pub(crate) fn role_identifier(role: &Role) -> Json {
    Json::object(vec![
        ("type", Json::from(ROLE_TYPE)),
        ("id", Json::from(role.uuid.clone())),
        (
            "meta",
            Json::object(vec![(
                "drupal_internal__target_id",
                Json::from(role.machine_name.clone()),
            )]),
        ),
    ])
}

/// The identifiers of a user's roles, in grant order.
pub(crate) fn role_identifiers(user: &User, roles: &[Role]) -> Json {
    Json::Array(
        user.roles
            .iter()
            .filter_map(|name| roles.iter().find(|r| &r.machine_name == name))
            .map(role_identifier)
            .collect(),
    )
}

pub(crate) fn roles_relationship_links(base: &str, uuid: &str) -> Json {
    let url = user_url(base, uuid);
    Json::object(vec![
        ("related", href(format!("{url}/roles"))),
        ("self", href(format!("{url}/relationships/roles"))),
    ])
}

/// Everything needed to serialise users for one request.
pub(crate) struct UserView<'a> {
    pub(crate) base: &'a str,
    pub(crate) roles: &'a [Role],
    pub(crate) custom_fields: &'a [FieldSeed],
    pub(crate) fieldset: Fieldset<'a>,
    /// The site has the users' `field_scim_groups` reference field.
    pub(crate) taxonomy: bool,
    /// The site has the standard profile's `user_picture` field.
    pub(crate) user_picture: bool,
}

impl UserView<'_> {
    pub(crate) fn resource(&self, user: &User, visibility: Visibility) -> Json {
        let mut resource = Json::object(vec![
            ("type", Json::from(USER_TYPE)),
            ("id", Json::from(user.uuid.clone())),
            ("links", self_links(&user_url(self.base, &user.uuid))),
        ]);
        let mut attributes = Vec::new();
        let mut show_roles = false;
        match visibility {
            Visibility::LabelOnly => {
                if wanted(self.fieldset, "display_name") {
                    attributes.push(("display_name".to_string(), Json::from(user.display_name())));
                }
            }
            Visibility::Full {
                administers_users,
                own,
            } => {
                let custom = self
                    .custom_fields
                    .iter()
                    .map(|f| UserField::Custom(f.name.clone(), f.kind));
                for field in BASE_ATTRIBUTES.iter().cloned().chain(custom) {
                    if field.viewable(administers_users, own)
                        && wanted(self.fieldset, field.public_name())
                    {
                        attributes.push((
                            field.public_name().to_string(),
                            attribute_value(&field, user),
                        ));
                    }
                }
                show_roles = UserField::Roles.viewable(administers_users, own)
                    && wanted(self.fieldset, "roles");
            }
        }
        if !attributes.is_empty() {
            resource.push("attributes", Json::Object(attributes));
        }
        let mut relationships = Vec::new();
        if show_roles {
            let roles = Json::object(vec![
                ("data", role_identifiers(user, self.roles)),
                ("links", roles_relationship_links(self.base, &user.uuid)),
            ]);
            relationships.push(("roles", roles));
        }
        let full = matches!(visibility, Visibility::Full { .. });
        if full && self.taxonomy && wanted(self.fieldset, GROUPS_FIELD) {
            let groups = Json::object(vec![
                ("data", cached_identifiers(user)),
                ("links", relationship_links(self.base, &user.uuid)),
            ]);
            relationships.push((GROUPS_FIELD, groups));
        }
        // The standard profile gives users a picture field (the recording
        // site of cases 300+ kept it).
        if full && self.user_picture && wanted(self.fieldset, "user_picture") {
            let url = user_url(self.base, &user.uuid);
            let picture = Json::object(vec![
                ("data", Json::null()),
                (
                    "links",
                    Json::object(vec![
                        ("related", href(format!("{url}/user_picture"))),
                        ("self", href(format!("{url}/relationships/user_picture"))),
                    ]),
                ),
            ]);
            relationships.push(("user_picture", picture));
        }
        if !relationships.is_empty() {
            resource.push("relationships", Json::object(relationships));
        }
        resource
    }
}

pub(crate) fn role_resource(base: &str, role: &Role, fieldset: Fieldset) -> Json {
    let dependencies = if role.is_built_in() {
        Json::from(serde_json::json!({"module": ["system"]}))
    } else {
        Json::Array(Vec::new())
    };
    let candidates: Vec<(&str, Json)> = vec![
        ("langcode", Json::from("en")),
        ("status", Json::from(true)),
        ("dependencies", dependencies),
        ("drupal_internal__id", Json::from(role.machine_name.clone())),
        ("label", Json::from(role.label.clone())),
        ("weight", Json::from(role.weight)),
        (
            "is_admin",
            role.is_admin.map_or_else(Json::null, Json::from),
        ),
        (
            "permissions",
            Json::Array(
                role.permissions
                    .iter()
                    .map(|p| Json::from(p.clone()))
                    .collect(),
            ),
        ),
    ];
    let attributes: Vec<(String, Json)> = candidates
        .into_iter()
        .filter(|(name, _)| wanted(fieldset, name))
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let mut resource = Json::object(vec![
        ("type", Json::from(ROLE_TYPE)),
        ("id", Json::from(role.uuid.clone())),
        ("links", self_links(&role_url(base, &role.uuid))),
    ]);
    if !attributes.is_empty() {
        resource.push("attributes", Json::Object(attributes));
    }
    resource
}

/// `meta.omitted` for role resources the caller may not see.
pub(crate) fn omitted_roles(base: &str, roles: &[&Role]) -> Json {
    let mut links = vec![(
        "help".to_string(),
        href("https://www.drupal.org/docs/8/modules/json-api/filtering#filters-access-control"),
    )];
    for role in roles {
        let detail = "The current user is not allowed to GET the selected resource. \
                      The 'administer permissions' permission is required.";
        let link = Json::object(vec![
            ("href", Json::from(role_url(base, &role.uuid))),
            (
                "meta",
                Json::object(vec![
                    ("rel", Json::from("item")),
                    ("detail", Json::from(detail)),
                ]),
            ),
        ]);
        links.push((format!("item--{}", link_hash()), link));
    }
    Json::object(vec![(
        "omitted",
        Json::object(vec![
            (
                "detail",
                Json::from(
                    "Some resources have been omitted because of insufficient authorization.",
                ),
            ),
            ("links", Json::Object(links)),
        ]),
    )])
}

/// Drupal keys omitted-item links by a salted hash: random 7 characters.
fn link_hash() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(7)
        .map(char::from)
        .collect()
}

/// The `/jsonapi` entry point; `me` only for an authenticated caller.
pub(crate) fn entry_point(base: &str, me: Option<&str>) -> Json {
    let mut links: Vec<(String, Json)> = ENTRY_POINT_TYPES
        .iter()
        .map(|(name, path)| (name.to_string(), href(format!("{base}/jsonapi/{path}"))))
        .collect();
    let self_position = links
        .iter()
        .position(|(name, _)| name.as_str() > "self")
        .unwrap_or(links.len());
    links.insert(
        self_position,
        ("self".to_string(), href(format!("{base}/jsonapi"))),
    );
    let mut members = vec![("data", Json::Array(Vec::new()))];
    if let Some(uuid) = me {
        let me_link = Json::object(vec![
            ("meta", Json::object(vec![("id", Json::from(uuid))])),
            ("href", Json::from(user_url(base, uuid))),
        ]);
        members.push((
            "meta",
            Json::object(vec![("links", Json::object(vec![("me", me_link)]))]),
        ));
    }
    members.push(("links", Json::Object(links)));
    document(members)
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// The RFC 2616 section Drupal links as `info` (none for 422 and 429).
fn info_section(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "10.4.1",
        401 => "10.4.2",
        403 => "10.4.4",
        404 => "10.4.5",
        405 => "10.4.6",
        409 => "10.4.10",
        415 => "10.4.16",
        500 => "10.5.1",
        502 => "10.5.3",
        503 => "10.5.4",
        504 => "10.5.5",
        _ => return None,
    })
}

/// An error document. `via` is the request URL.
pub(crate) fn error_document(failure: &Failure, via: &str) -> Json {
    let errors = match failure {
        Failure::Api(error) => {
            let mut links = vec![("via", href(via))];
            if let Some(section) = info_section(error.status) {
                links.push((
                    "info",
                    href(format!(
                        "http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec{section}"
                    )),
                ));
            }
            let mut entry = Json::object(vec![
                ("title", Json::from(title(error.status))),
                ("status", Json::from(error.status.to_string())),
                ("detail", Json::from(error.detail.clone())),
                ("links", Json::object(links)),
            ]);
            if let Some(pointer) = &error.pointer {
                entry.push(
                    "source",
                    Json::object(vec![("pointer", Json::from(pointer.clone()))]),
                );
            }
            vec![entry]
        }
        Failure::Violations(violations) => violations
            .iter()
            .map(|v| {
                Json::object(vec![
                    ("title", Json::from(title(422))),
                    ("status", Json::from("422")),
                    (
                        "detail",
                        Json::from(format!("{}: {}", v.property_path, v.message)),
                    ),
                    (
                        "source",
                        Json::object(vec![("pointer", Json::from(v.pointer()))]),
                    ),
                ])
            })
            .collect(),
    };
    document(vec![("errors", Json::Array(errors))])
}

/// Drupal's themed "Page not found" page (stark theme, trimmed).
pub(crate) fn html_not_found(site_name: &str) -> String {
    let site = site_name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\" dir=\"ltr\">\n  <head>\n    <meta charset=\"utf-8\" />\n\
         <meta name=\"Generator\" content=\"Drupal 10 (https://www.drupal.org)\" />\n\
         <title>Page not found | {site}</title>\n  </head>\n  <body>\n    <header role=\"banner\">\
         <a href=\"/\" rel=\"home\">{site}</a></header>\n    <main role=\"main\">\n      \
         <h1>Page not found</h1>\nThe requested page could not be found.\n    </main>\n  </body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::config::FieldKind;
    use crate::standin::errors::{ApiError, Violation};

    fn role() -> Role {
        Role {
            machine_name: "editor".into(),
            label: "Editor".into(),
            uuid: "r-1".into(),
            is_admin: None,
            permissions: vec![],
            weight: 2,
        }
    }

    #[test]
    fn timestamps_render_as_rfc3339_with_an_explicit_utc_offset() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_795_867_707), "2026-11-28T12:08:27+00:00");
    }

    #[test]
    fn full_user_lists_attributes_in_drupal_order_then_custom_fields() {
        let mut user = User::new(3, "u-3".into(), "alice".into(), 0);
        user.roles = vec!["editor".into()];
        let fields = vec![FieldSeed {
            name: "field_x".into(),
            kind: FieldKind::String { max_len: 9 },
        }];
        let roles = vec![role()];
        let view = UserView {
            base: "http://h",
            roles: &roles,
            custom_fields: &fields,
            fieldset: None,
            taxonomy: false,
            user_picture: false,
        };
        let doc = view.resource(
            &user,
            Visibility::Full {
                administers_users: true,
                own: false,
            },
        );
        let Json::Object(members) = &doc else {
            panic!("object expected")
        };
        let Some((_, Json::Object(attributes))) = members.iter().find(|(k, _)| k == "attributes")
        else {
            panic!("attributes expected")
        };
        let names: Vec<&str> = attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names.first(), Some(&"display_name"));
        assert_eq!(names.last(), Some(&"field_x"));
        assert_eq!(names.len(), 16);
        let value = doc.to_value();
        assert_eq!(
            value["relationships"]["roles"]["data"][0]["meta"]["drupal_internal__target_id"],
            "editor"
        );
    }

    #[test]
    fn label_only_user_without_display_name_in_fieldset_has_no_attributes_member() {
        let user = User::new(0, "u-0".into(), String::new(), 0);
        let names = vec!["name".to_string()];
        let view = UserView {
            base: "http://h",
            roles: &[],
            custom_fields: &[],
            fieldset: Some(&names),
            taxonomy: false,
            user_picture: false,
        };
        let value = view.resource(&user, Visibility::LabelOnly).to_value();
        assert!(value.get("attributes").is_none());
        assert!(value.get("relationships").is_none());
    }

    #[test]
    fn validation_errors_have_pointers_but_no_links() {
        let failure = Failure::Violations(vec![Violation::new(
            "name",
            "The username bob is already taken.",
        )]);
        let value = error_document(&failure, "http://h/x").to_value();
        assert_eq!(
            value["errors"][0]["detail"],
            "name: The username bob is already taken."
        );
        assert!(value["errors"][0].get("links").is_none());
    }

    #[test]
    fn api_errors_link_the_request_and_the_rfc_section() {
        let failure =
            Failure::Api(ApiError::forbidden("nope").with_pointer("/data/attributes/uid"));
        let value = error_document(&failure, "http://h/x").to_value();
        assert_eq!(value["errors"][0]["links"]["via"]["href"], "http://h/x");
        assert!(value["errors"][0]["links"]["info"]["href"]
            .as_str()
            .unwrap()
            .ends_with("#sec10.4.4"));
        assert_eq!(
            value["errors"][0]["source"]["pointer"],
            "/data/attributes/uid"
        );
    }

    #[test]
    fn entry_point_shows_me_only_when_given() {
        assert!(entry_point("http://h", None)
            .to_value()
            .get("meta")
            .is_none());
        let value = entry_point("http://h", Some("u-1")).to_value();
        assert_eq!(
            value["meta"]["links"]["me"]["href"],
            "http://h/jsonapi/user/user/u-1"
        );
        assert_eq!(value["links"]["self"]["href"], "http://h/jsonapi");
    }
}
