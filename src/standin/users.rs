//! The `user--user` routes: collection, individual, roles relationship and
//! related roles.

use uuid::Uuid;

use super::auth::session_cookie;
use super::collection::{fieldset, includes, links, list};
use super::config::permissions;
use super::documents::{
    document, omitted_roles, role_identifiers, role_resource, roles_relationship_links, self_links,
    user_url, UserView, ROLE_TYPE, USER_TYPE,
};
use super::errors::{ApiError, Failure, Violation};
use super::filter::{Cell, Collation};
use super::input::{
    apply, field_position, parse_identifiers, parse_resource, resolve_roles, Applied, WriteRules,
};
use super::json::Json;
use super::model::{visibility, Caller, Role, User, UserField, Visibility};
use super::request::{Ctx, Outcome, Reply};
use super::state::Site;
use super::taxonomy;
use super::validate::AccountCheck;

/// The route names Drupal puts in "parameter was not converted" 404s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserRoute {
    Get,
    Patch,
    Delete,
    Related,
    RelationshipGet,
    RelationshipPost,
    RelationshipPatch,
    RelationshipDelete,
}

impl UserRoute {
    fn not_found(self) -> ApiError {
        let (path, name) = match self {
            UserRoute::Get => ("", "individual"),
            UserRoute::Patch => ("", "individual.patch"),
            UserRoute::Delete => ("", "individual.delete"),
            UserRoute::Related => ("/roles", "roles.related"),
            UserRoute::RelationshipGet => ("/relationships/roles", "roles.relationship.get"),
            UserRoute::RelationshipPost => ("/relationships/roles", "roles.relationship.post"),
            UserRoute::RelationshipPatch => ("/relationships/roles", "roles.relationship.patch"),
            UserRoute::RelationshipDelete => ("/relationships/roles", "roles.relationship.delete"),
        };
        ApiError::new(
            404,
            format!(
                "The \"entity\" parameter was not converted for the path \"/jsonapi/user/user/{{entity}}{path}\" \
                 (route name: \"jsonapi.user--user.{name}\")"
            ),
        )
    }
}

/// Where a filter or sort path points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserColumn {
    Field(UserField),
    Roles,
    Groups(taxonomy::GroupsColumn),
}

fn administers_users(site: &Site, caller: &Caller) -> bool {
    site.has_permission(caller, permissions::ADMINISTER_USERS)
}

/// `FieldResolver::resolveInternalEntityQueryPath` for users.
fn resolve_path(site: &Site, caller: &Caller, path: &str) -> Result<UserColumn, ApiError> {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    if site.taxonomy && first == taxonomy::GROUPS_FIELD {
        return taxonomy::resolve_user_path(&rest, path).map(UserColumn::Groups);
    }
    let field = UserField::from_public(first, &site.custom_fields)
        .filter(|f| *f != UserField::DisplayName)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid nested filtering. The field `{first}`, given in the path `{path}`, does not exist."
            ))
        })?;
    if !field.viewable(administers_users(site, caller), false) && field != UserField::Id {
        return Err(ApiError::forbidden(format!(
            "The current user is not authorized to filter by the `{}` field, given in the path `{path}`.",
            field.internal_name()
        )));
    }
    match (field, rest.as_slice()) {
        (UserField::Roles, [] | ["meta", "drupal_internal__target_id"]) => Ok(UserColumn::Roles),
        (UserField::Roles, _) => Err(ApiError::bad_request(
            "Filtering on config entities is not supported by Drupal's entity API. You tried to filter on a Role config entity.",
        )),
        (field, [] | ["value"]) => Ok(UserColumn::Field(field)),
        (_, [property, ..]) => Err(ApiError::bad_request(format!(
            "Invalid nested filtering. The property `{property}`, given in the path `{path}`, does not exist."
        ))),
    }
}

fn text(value: &str, collation: Collation) -> Cell {
    Cell::Text(value.to_string(), collation)
}

fn optional_text(value: &Option<String>, collation: Collation) -> Cell {
    value.as_deref().map_or(Cell::Null, |v| text(v, collation))
}

/// The values a user has in a column, typed like the SQLite schema.
fn cells(site: &Site, user: &User, column: &UserColumn) -> Vec<Cell> {
    let field = match column {
        UserColumn::Groups(column) => return taxonomy::user_cells(site, user, *column),
        UserColumn::Roles => {
            return user
                .roles
                .iter()
                .map(|r| text(r, Collation::Binary))
                .collect()
        }
        UserColumn::Field(field) => field,
    };
    let cell = match field {
        UserField::Id => text(&user.uuid, Collation::NoCase),
        UserField::Uid => Cell::Int(user.uid as i64),
        UserField::DisplayName => text(&user.display_name(), Collation::NoCase),
        UserField::Langcode => text(&user.langcode, Collation::NoCase),
        UserField::PreferredLangcode => optional_text(&user.preferred_langcode, Collation::NoCase),
        UserField::PreferredAdminLangcode => {
            optional_text(&user.preferred_admin_langcode, Collation::NoCase)
        }
        UserField::Name if site.accents_ignored => text(&user.name, Collation::GeneralCi),
        UserField::Name => text(&user.name, Collation::NoCase),
        UserField::Mail if site.accents_ignored => optional_text(&user.mail, Collation::GeneralCi),
        UserField::Mail => optional_text(&user.mail, Collation::Binary),
        UserField::Timezone => text(&user.timezone, Collation::NoCase),
        UserField::Status => Cell::Int(i64::from(user.status)),
        UserField::Created => Cell::Int(user.created),
        UserField::Changed => Cell::Int(user.changed),
        UserField::Access => Cell::Int(user.access),
        UserField::Login => Cell::Int(user.login),
        UserField::Init => optional_text(&user.init, Collation::Binary),
        UserField::DefaultLangcode => Cell::Int(1),
        UserField::Custom(name, _) => match user.field(name) {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Bool(b) => Cell::Int(i64::from(b)),
            serde_json::Value::Number(n) => Cell::Int(n.as_i64().unwrap_or_default()),
            serde_json::Value::String(s) => Cell::Text(s, Collation::NoCase),
            other => Cell::Text(other.to_string(), Collation::NoCase),
        },
        UserField::Roles | UserField::Pass => Cell::Null,
    };
    vec![cell]
}

fn find_user<'a>(site: &'a Site, uuid: &str, route: UserRoute) -> Result<&'a User, ApiError> {
    site.user_by_uuid(uuid).ok_or_else(|| route.not_found())
}

/// Role resources a document includes, or `meta.omitted` when the caller may not see roles.
fn included_roles(site: &Site, ctx: &Ctx, users: &[&User]) -> (Json, Option<Json>) {
    let mut referenced: Vec<&Role> = Vec::new();
    for user in users {
        for name in &user.roles {
            if let Some(role) = site.role_by_name(name) {
                if !referenced.iter().any(|r| r.uuid == role.uuid) {
                    referenced.push(role);
                }
            }
        }
    }
    if site.has_permission(&ctx.caller, permissions::ADMINISTER_PERMISSIONS)
        || referenced.is_empty()
    {
        let fields = fieldset(&ctx.query, ROLE_TYPE);
        let included = referenced
            .iter()
            .map(|r| role_resource(ctx.base(), r, fields.as_deref()))
            .collect();
        return (Json::Array(included), None);
    }
    (
        Json::Array(Vec::new()),
        Some(omitted_roles(ctx.base(), &referenced)),
    )
}

pub(crate) fn get_collection(site: &Site, ctx: &Ctx) -> Outcome {
    let include = includes(&ctx.query, &relationships(site))?;
    let resolve = |path: &str| resolve_path(site, &ctx.caller, path);
    // TemporaryQueryGuard: a filtered user query returns only the accounts
    // the caller may view, never the anonymous user. An anonymous caller
    // (a lost session) gets an empty collection for a filter on `name` or
    // on `drupal_internal__uid` (seen on Drupal 10.2.6), where an unfiltered
    // one lists every account with only its `display_name` (case 122).
    let filtered = ctx.query.get("filter").is_some();
    let rows: Vec<&User> = site
        .users
        .values()
        .filter(|u| {
            !filtered
                || !matches!(
                    visibility(&ctx.caller, &site.roles, u),
                    Visibility::LabelOnly
                )
        })
        .collect();
    let listing = list(&ctx.query, rows, &resolve, &|user: &&User, column| {
        cells(site, user, column)
    })?;
    let fields = fieldset(&ctx.query, USER_TYPE);
    let view = UserView {
        base: ctx.base(),
        roles: &site.roles,
        custom_fields: &site.custom_fields,
        fieldset: fields.as_deref(),
        taxonomy: site.taxonomy,
        user_picture: site.user_picture,
    };
    let data: Vec<Json> = listing
        .rows
        .iter()
        .map(|user| view.resource(user, visibility(&ctx.caller, &site.roles, user)))
        .collect();
    let mut members = vec![("data", Json::Array(data))];
    push_included(site, ctx, &listing.rows, &include, &mut members);
    members.push(("links", links(ctx, &listing)));
    Ok(Reply::document(200, &document(members)))
}

fn roles_visible(site: &Site, caller: &Caller, user: &User) -> bool {
    match visibility(caller, &site.roles, user) {
        Visibility::Full {
            administers_users,
            own,
        } => UserField::Roles.viewable(administers_users, own),
        Visibility::LabelOnly => false,
    }
}

fn individual_document(site: &Site, ctx: &Ctx, user: &User, include: &[&str]) -> Json {
    let fields = fieldset(&ctx.query, USER_TYPE);
    let view = UserView {
        base: ctx.base(),
        roles: &site.roles,
        custom_fields: &site.custom_fields,
        fieldset: fields.as_deref(),
        taxonomy: site.taxonomy,
        user_picture: site.user_picture,
    };
    let mut members = vec![(
        "data",
        view.resource(user, visibility(&ctx.caller, &site.roles, user)),
    )];
    push_included(site, ctx, &[user], include, &mut members);
    members.push(("links", self_links(&ctx.url)));
    document(members)
}

/// The relationships a user document may include: `roles`, and the
/// groups field on a site with the taxonomy set up.
fn relationships(site: &Site) -> Vec<&'static str> {
    match site.taxonomy {
        true => vec!["roles", taxonomy::GROUPS_FIELD],
        false => vec!["roles"],
    }
}

/// `included` (and `meta.omitted` for roles the caller may not see) for
/// the relationships `include` names.
fn push_included(
    site: &Site,
    ctx: &Ctx,
    users: &[&User],
    include: &[&str],
    members: &mut Vec<(&'static str, Json)>,
) {
    if include.is_empty() {
        return;
    }
    let mut included = Vec::new();
    let mut omitted = None;
    if include.contains(&"roles") {
        let visible: Vec<&User> = users
            .iter()
            .copied()
            .filter(|u| roles_visible(site, &ctx.caller, u))
            .collect();
        let (roles, meta) = included_roles(site, ctx, &visible);
        if let Json::Array(roles) = roles {
            included.extend(roles);
        }
        omitted = meta;
    }
    if include.contains(&taxonomy::GROUPS_FIELD) {
        let visible: Vec<&User> = users
            .iter()
            .copied()
            .filter(|u| {
                matches!(
                    visibility(&ctx.caller, &site.roles, u),
                    Visibility::Full { .. }
                )
            })
            .collect();
        included.extend(taxonomy::included_terms(site, ctx, &visible));
    }
    members.push(("included", Json::Array(included)));
    if let Some(meta) = omitted {
        members.push(("meta", meta));
    }
}

pub(crate) fn get_individual(site: &Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let include = includes(&ctx.query, &relationships(site))?;
    let user = find_user(site, uuid, UserRoute::Get)?;
    Ok(Reply::document(
        200,
        &individual_document(site, ctx, user, &include),
    ))
}

fn write_rules(site: &Site, caller: &Caller, method: &'static str) -> WriteRules {
    WriteRules {
        method,
        administers_users: administers_users(site, caller),
        may_change_own_username: site.has_permission(caller, permissions::CHANGE_OWN_USERNAME),
    }
}

/// Runs the entity constraints and orders the violations like Drupal.
fn validate(
    site: &Site,
    caller: &Caller,
    applied: &Applied,
    original: Option<&User>,
) -> Result<(), Failure> {
    let draft = &applied.draft;
    let others: Vec<&User> = site
        .users
        .values()
        .filter(|u| u.uid != draft.uid && !u.is_anonymous())
        .collect();
    let check = AccountCheck {
        draft,
        original,
        others: &others,
        mails_seen: site.mails_at_arrival.as_ref(),
        own_account: original.is_some() && caller.uid == draft.uid,
        caller_administers_users: administers_users(site, caller),
        existing_password: applied.existing_password.as_deref(),
        password_changed: applied.password_changed,
        accents_ignored: site.accents_ignored,
    };
    let position = |field: UserField| field_position(&field, &site.custom_fields);
    let mut violations: Vec<(usize, Violation)> = applied.violations.clone();
    violations.extend(
        check
            .name()
            .into_iter()
            .map(|v| (position(UserField::Name), v)),
    );
    violations.extend(
        check
            .pass()
            .into_iter()
            .map(|v| (position(UserField::Pass), v)),
    );
    violations.extend(
        check
            .mail()
            .into_iter()
            .map(|v| (position(UserField::Mail), v)),
    );
    violations.extend(
        check
            .timezone()
            .into_iter()
            .map(|v| (position(UserField::Timezone), v)),
    );
    violations.extend(
        check
            .preferred_langcode()
            .into_iter()
            .map(|v| (position(UserField::PreferredLangcode), v)),
    );
    violations.sort_by_key(|(position, _)| *position);
    if violations.is_empty() {
        match check.name_index() {
            None => Ok(()),
            Some(message) => Err(ApiError::new(500, message).into()),
        }
    } else {
        Err(Failure::Violations(
            violations.into_iter().map(|(_, v)| v).collect(),
        ))
    }
}

pub(crate) fn post(site: &mut Site, ctx: &Ctx) -> Outcome {
    if !administers_users(site, &ctx.caller) {
        return Err(ApiError::forbidden("The 'administer users' permission is required.").into());
    }
    let input = parse_resource(&ctx.incoming.body)?;
    let uuid = match &input.id {
        Some(id) => {
            if Uuid::parse_str(id).is_err() {
                return Err(ApiError::new(422, "IDs should be properly generated and formatted UUIDs as described in RFC 4122.").into());
            }
            if site.user_by_uuid(id).is_some() {
                return Err(ApiError::new(409, "Conflict: Entity already exists.").into());
            }
            id.clone()
        }
        None => Uuid::new_v4().to_string(),
    };
    let blank = User::new(0, uuid, String::new(), site.now());
    let applied = apply(site, &blank, &input, write_rules(site, &ctx.caller, "POST"))?;
    validate(site, &ctx.caller, &applied, None)?;
    let mut user = applied.draft;
    taxonomy::refresh_cache(site, &mut user);
    user.uid = site.allocate_uid();
    let location = user_url(ctx.base(), &user.uuid);
    let doc = individual_document(site, ctx, &user, &[]);
    site.users.insert(user.uid, user);
    Ok(Reply::document(201, &doc).with_header("Location", location))
}

/// `update` access: own account or `administer users`; never the anonymous user.
fn check_update_access(site: &Site, caller: &Caller, user: &User) -> Result<(), ApiError> {
    if user.is_anonymous() {
        return Err(ApiError::forbidden(""));
    }
    if administers_users(site, caller) || (caller.is_authenticated() && caller.uid == user.uid) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        "Users can only update their own account, unless they have the 'administer users' permission.",
    ))
}

/// Stores an edited account; `changed` moves only when something changed.
fn save(site: &mut Site, mut draft: User) -> User {
    taxonomy::refresh_cache(site, &mut draft);
    if let Some(original) = site.users.get(&draft.uid) {
        if *original != draft {
            draft.changed = site.next_changed(original.changed);
        }
    }
    site.users.insert(draft.uid, draft.clone());
    draft
}

pub(crate) fn patch(site: &mut Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let original = find_user(site, uuid, UserRoute::Patch)?.clone();
    check_update_access(site, &ctx.caller, &original)?;
    let input = parse_resource(&ctx.incoming.body)?;
    if input.id.as_deref() != Some(original.uuid.as_str()) {
        return Err(ApiError::bad_request(format!(
            "The selected entity ({}) does not match the ID in the payload ({}).",
            original.uuid,
            input.id.unwrap_or_default()
        ))
        .into());
    }
    let applied = apply(
        site,
        &original,
        &input,
        write_rules(site, &ctx.caller, "PATCH"),
    )?;
    validate(site, &ctx.caller, &applied, Some(&original))?;
    let saved = save(site, applied.draft);
    Ok(Reply::document(
        200,
        &individual_document(site, ctx, &saved, &[]),
    ))
}

pub(crate) fn delete(site: &mut Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let user = find_user(site, uuid, UserRoute::Delete)?.clone();
    if user.is_anonymous() {
        return Err(ApiError::forbidden("").into());
    }
    let own = ctx.caller.is_authenticated() && ctx.caller.uid == user.uid;
    let allowed = administers_users(site, &ctx.caller)
        || (own && site.has_permission(&ctx.caller, permissions::CANCEL_ACCOUNT));
    if !allowed {
        return Err(ApiError::forbidden("The 'cancel account' permission is required.").into());
    }
    // Core runs user_cancel(), so the cancel method decides what DELETE means.
    if site.cancel_method.removes_account() {
        site.users.remove(&user.uid);
    } else {
        let mut blocked = user.clone();
        blocked.status = false;
        save(site, blocked);
    }
    site.sessions.close_all_of(user.uid);
    // The cancellation runs as a batch, which opens a session for the caller.
    let now = site.now();
    let session = site.sessions.open(ctx.caller.uid, now);
    Ok(Reply::no_content().with_header("Set-Cookie", session_cookie(&session, now)))
}

pub(crate) fn get_relationship(site: &Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let user = find_user(site, uuid, UserRoute::RelationshipGet)?;
    if !roles_visible(site, &ctx.caller, user) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to view this relationship.",
        )
        .into());
    }
    let doc = document(vec![
        ("data", role_identifiers(user, &site.roles)),
        ("links", roles_relationship_links(ctx.base(), &user.uuid)),
    ]);
    Ok(Reply::document(200, &doc))
}

pub(crate) fn get_related(site: &Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let user = find_user(site, uuid, UserRoute::Related)?;
    if !roles_visible(site, &ctx.caller, user) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to view this relationship.",
        )
        .into());
    }
    let roles: Vec<&Role> = user
        .roles
        .iter()
        .filter_map(|name| site.role_by_name(name))
        .collect();
    let mut members = Vec::new();
    if site.has_permission(&ctx.caller, permissions::ADMINISTER_PERMISSIONS) {
        let fields = fieldset(&ctx.query, ROLE_TYPE);
        let data = roles
            .iter()
            .map(|r| role_resource(ctx.base(), r, fields.as_deref()))
            .collect();
        members.push(("data", Json::Array(data)));
    } else {
        members.push(("data", Json::Array(Vec::new())));
        members.push(("meta", omitted_roles(ctx.base(), &roles)));
    }
    members.push(("links", self_links(&ctx.url)));
    Ok(Reply::document(200, &document(members)))
}

/// How a relationship write combines the given roles with the held ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelationshipWrite {
    Add,
    Replace,
    Remove,
}

pub(crate) fn write_relationship(
    site: &mut Site,
    ctx: &Ctx,
    uuid: &str,
    mode: RelationshipWrite,
) -> Outcome {
    let route = match mode {
        RelationshipWrite::Add => UserRoute::RelationshipPost,
        RelationshipWrite::Replace => UserRoute::RelationshipPatch,
        RelationshipWrite::Remove => UserRoute::RelationshipDelete,
    };
    let user = find_user(site, uuid, route)?.clone();
    check_update_access(site, &ctx.caller, &user)?;
    if !administers_users(site, &ctx.caller) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to edit this relationship.",
        )
        .into());
    }
    let ids = parse_identifiers(&ctx.incoming.body)?;
    let given = resolve_roles(site, &ids, |id| {
        ApiError::bad_request(format!(
            "The targeted `user_role--user_role` resource with ID `{id}` does not exist."
        ))
    })?;
    let mut draft = user;
    let held = draft.roles.clone();
    match mode {
        RelationshipWrite::Add => {
            for role in given {
                if !draft.roles.contains(&role) {
                    draft.roles.push(role);
                }
            }
        }
        RelationshipWrite::Replace => draft.roles = given,
        RelationshipWrite::Remove => draft.roles.retain(|r| !given.contains(r)),
    }
    // A write that saves validates the whole user, as the groups field's
    // does: a reference to a deleted group term refuses it (386b, 386f).
    if mode != RelationshipWrite::Add || draft.roles != held {
        taxonomy::dangling(site, &draft)?;
    }
    save(site, draft);
    Ok(Reply::no_content())
}

/// `/relationships/field_scim_groups`: reading needs what reading the
/// user's fields needs; writing needs update access to the user.
pub(crate) fn groups_relationship(
    site: &mut Site,
    ctx: &Ctx,
    uuid: &str,
    mode: Option<RelationshipWrite>,
) -> Outcome {
    let route = match mode {
        None => UserRoute::RelationshipGet,
        Some(RelationshipWrite::Add) => UserRoute::RelationshipPost,
        Some(RelationshipWrite::Replace) => UserRoute::RelationshipPatch,
        Some(RelationshipWrite::Remove) => UserRoute::RelationshipDelete,
    };
    let user = find_user(site, uuid, route)?.clone();
    let Some(mode) = mode else {
        if !roles_visible(site, &ctx.caller, &user) {
            return Err(ApiError::forbidden(
                "The current user is not allowed to view this relationship.",
            )
            .into());
        }
        return taxonomy::get_relationship(site, ctx, &user);
    };
    check_update_access(site, &ctx.caller, &user)?;
    if !administers_users(site, &ctx.caller) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to edit this relationship.",
        )
        .into());
    }
    taxonomy::write_relationship(site, ctx, user, mode)
}

pub(crate) fn groups_related(site: &Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let user = find_user(site, uuid, UserRoute::Related)?;
    if !roles_visible(site, &ctx.caller, user) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to view this relationship.",
        )
        .into());
    }
    taxonomy::get_related(site, ctx, user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::config::StandInConfig;

    fn site() -> Site {
        Site::new(&StandInConfig::demo("pw")).unwrap()
    }

    #[test]
    fn filter_paths_resolve_to_fields_roles_or_drupal_errors() {
        let site = site();
        let admin = Caller {
            uid: 1,
            roles: vec![],
        };
        assert_eq!(
            resolve_path(&site, &admin, "name"),
            Ok(UserColumn::Field(UserField::Name))
        );
        assert_eq!(
            resolve_path(&site, &admin, "roles.meta.drupal_internal__target_id"),
            Ok(UserColumn::Roles)
        );
        assert_eq!(
            resolve_path(&site, &admin, "roles.id").unwrap_err().status,
            400
        );
        assert_eq!(
            resolve_path(&site, &admin, "nosuchfield").unwrap_err().detail,
            "Invalid nested filtering. The field `nosuchfield`, given in the path `nosuchfield`, does not exist."
        );
        assert_eq!(
            resolve_path(&site, &admin, "pass").unwrap_err().detail,
            "The current user is not authorized to filter by the `pass` field, given in the path `pass`."
        );
    }

    #[test]
    fn anonymous_callers_may_filter_by_name_but_not_by_mail() {
        let site = site();
        let anonymous = Caller::anonymous();
        assert!(resolve_path(&site, &anonymous, "name").is_ok());
        assert_eq!(
            resolve_path(&site, &anonymous, "mail").unwrap_err().status,
            403
        );
    }

    #[test]
    fn not_found_messages_name_the_route() {
        assert_eq!(
            UserRoute::Patch.not_found().detail,
            "The \"entity\" parameter was not converted for the path \"/jsonapi/user/user/{entity}\" (route name: \"jsonapi.user--user.individual.patch\")"
        );
    }

    #[test]
    fn saving_without_changes_keeps_changed() {
        let mut site = site();
        let admin = site.users[&1].clone();
        let saved = save(&mut site, admin.clone());
        assert_eq!(saved.changed, admin.changed);
        let mut renamed = admin.clone();
        renamed.name = "root".into();
        assert!(save(&mut site, renamed).changed > admin.changed);
    }

    #[test]
    fn string_columns_carry_the_recorded_collations() {
        let mut user = User::new(3, "u".into(), "Alice".into(), 0);
        user.mail = Some("a@x".into());
        assert_eq!(
            cells(&site(), &user, &UserColumn::Field(UserField::Name)),
            vec![Cell::Text("Alice".into(), Collation::NoCase)]
        );
        assert_eq!(
            cells(&site(), &user, &UserColumn::Field(UserField::Mail)),
            vec![Cell::Text("a@x".into(), Collation::Binary)]
        );
        assert_eq!(
            cells(&site(), &user, &UserColumn::Field(UserField::Status)),
            vec![Cell::Int(0)]
        );
    }
}
