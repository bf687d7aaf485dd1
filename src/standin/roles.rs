//! The read-only `user_role--user_role` routes.

use super::collection::{fieldset, includes_roles, links, list};
use super::config::permissions;
use super::documents::{document, omitted_roles, role_resource, self_links, ROLE_TYPE};
use super::errors::ApiError;
use super::filter::{Cell, Collation};
use super::json::Json;
use super::model::Role;
use super::request::{Ctx, Outcome, Reply};
use super::state::Site;

/// Role attributes that can be filtered and sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleColumn {
    Id,
    MachineName,
    Label,
    Weight,
    IsAdmin,
    Status,
    Langcode,
}

fn resolve_path(path: &str) -> Result<RoleColumn, ApiError> {
    Ok(match path {
        "id" => RoleColumn::Id,
        "drupal_internal__id" => RoleColumn::MachineName,
        "label" => RoleColumn::Label,
        "weight" => RoleColumn::Weight,
        "is_admin" => RoleColumn::IsAdmin,
        "status" => RoleColumn::Status,
        "langcode" => RoleColumn::Langcode,
        _ => {
            let first = path.split('.').next().unwrap_or_default();
            return Err(ApiError::bad_request(format!(
                "Invalid nested filtering. The field `{first}`, given in the path `{path}`, does not exist."
            )));
        }
    })
}

fn cells(role: &Role, column: &RoleColumn) -> Vec<Cell> {
    vec![match column {
        RoleColumn::Id => Cell::Text(role.uuid.clone(), Collation::Binary),
        RoleColumn::MachineName => Cell::Text(role.machine_name.clone(), Collation::Binary),
        RoleColumn::Label => Cell::Text(role.label.clone(), Collation::Binary),
        RoleColumn::Weight => Cell::Int(role.weight),
        RoleColumn::IsAdmin => role
            .is_admin
            .map_or(Cell::Null, |b| Cell::Int(i64::from(b))),
        RoleColumn::Status => Cell::Int(1),
        RoleColumn::Langcode => Cell::Text("en".to_string(), Collation::Binary),
    }]
}

fn may_view_roles(site: &Site, ctx: &Ctx) -> bool {
    site.has_permission(&ctx.caller, permissions::ADMINISTER_PERMISSIONS)
}

pub(crate) fn get_collection(site: &Site, ctx: &Ctx) -> Outcome {
    includes_roles(&ctx.query, &[])?;
    // Drupal loads config entities ordered by their machine name, whatever
    // their weight (tests/fixtures/real-drupal/roles-order.json).
    let mut rows: Vec<&Role> = site.roles.iter().collect();
    rows.sort_by(|a, b| a.machine_name.cmp(&b.machine_name));
    let listing = list(&ctx.query, rows, &resolve_path, &|role: &&Role, column| {
        cells(role, column)
    })?;
    let mut members = Vec::new();
    if may_view_roles(site, ctx) {
        let fields = fieldset(&ctx.query, ROLE_TYPE);
        let data = listing
            .rows
            .iter()
            .map(|r| role_resource(ctx.base(), r, fields.as_deref()))
            .collect();
        members.push(("data", Json::Array(data)));
    } else {
        members.push(("data", Json::Array(Vec::new())));
        if !listing.rows.is_empty() {
            members.push(("meta", omitted_roles(ctx.base(), &listing.rows)));
        }
    }
    members.push(("links", links(ctx, &listing)));
    Ok(Reply::document(200, &document(members)))
}

pub(crate) fn get_individual(site: &Site, ctx: &Ctx, uuid: &str) -> Outcome {
    let role = site.role_by_uuid(uuid).ok_or_else(|| {
        ApiError::new(
            404,
            "The \"entity\" parameter was not converted for the path \"/jsonapi/user_role/user_role/{entity}\" \
             (route name: \"jsonapi.user_role--user_role.individual\")",
        )
    })?;
    if !may_view_roles(site, ctx) {
        return Err(ApiError::forbidden(
            "The current user is not allowed to GET the selected resource. The 'administer permissions' permission is required.",
        )
        .into());
    }
    let fields = fieldset(&ctx.query, ROLE_TYPE);
    let doc = document(vec![
        ("data", role_resource(ctx.base(), role, fields.as_deref())),
        ("links", self_links(&ctx.url)),
    ]);
    Ok(Reply::document(200, &doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_name_filters_exactly_and_unknown_paths_are_400() {
        assert_eq!(
            resolve_path("drupal_internal__id"),
            Ok(RoleColumn::MachineName)
        );
        assert_eq!(resolve_path("nosuch").unwrap_err().status, 400);
    }

    #[test]
    fn roles_without_the_admin_flag_read_null_for_is_admin() {
        let role = Role {
            machine_name: "editor".into(),
            label: "Editor".into(),
            uuid: "u".into(),
            is_admin: None,
            permissions: vec![],
            weight: 2,
        };
        assert_eq!(cells(&role, &RoleColumn::IsAdmin), vec![Cell::Null]);
    }
}
