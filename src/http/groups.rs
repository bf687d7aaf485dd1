//! `/Groups`: RFC 7644 §3.3 create (which links to an exposed Drupal role),
//! §3.4 read and query, §3.5 replace and modify, §3.6 delete. Members are
//! read from Drupal only when the answer shows them.
//!
//! Versions (RFC 7644 §3.14): a group's version covers its members, which
//! live on the accounts (one Drupal request per 50 to read), so an answer
//! that leaves the members out (Entra reads with
//! `excludedAttributes=members`) carries no `meta.version` and no `ETag`
//! rather than read them for it. A conditional request (`If-Match` or
//! `If-None-Match` on PUT, PATCH and DELETE, `If-None-Match` on GET) that
//! lists versions reads them to learn the current version, and is answered
//! as on `/Users`: 412 before any write, or 304. `*` needs no read.

use actix_web::http::header::IF_NONE_MATCH;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::by_id::{ById, Id};
use super::error::ApiError;
use super::request_log::label;
use super::{
    base_url, json_body, list_page, not_modified, only, preconditions, projection_of, query_param,
    scim_json, scim_resource, search_params, text_attribute, version_condition, with_location,
    with_refs, AppState, ListRequest, Query,
};
use crate::provisioning::{GroupQuery, PatchAnswer, ScimGroup};
use crate::scim::list::ListParams;
use crate::scim::patch::PatchRequest;
use crate::scim::projection::Projection;
use crate::scim::resource::parse_resource;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Groups")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(only("GET, POST")),
    )
    .service(
        web::resource("/Groups/.search")
            .route(web::post().to(search))
            .default_service(only("POST")),
    )
    // `/Groups/{id}`, after the static routes above, without a regular
    // expression (`by_id`).
    .service(ById::new(
        "/Groups",
        web::to(get),
        web::to(replace),
        web::to(patch),
        web::to(delete),
    ));
}

const MEMBERS: &str = "members";

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    let params = ListParams::from_query(query.into_inner())?;
    respond_list(&req, &state, params, "list_groups").await
}

async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "search_groups", None);
    let params = search_params(&req, &body)?;
    respond_list(&req, &state, params, "search_groups").await
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
            state.provisioner.group_schema(),
        ),
    );
    let list = ListRequest::parse(params, state.provisioner.group_schema())?;
    let query = GroupQuery {
        filter: list.filter,
        start_index: list.start_index,
        count: list.count,
        sort_by: list.sort_by,
        sort_order: list.sort_order,
        members: list.projection.keeps(MEMBERS),
    };
    let page = state.provisioner.list_groups(&query).await?;
    let base = base_url(req, state);
    let resources = page
        .groups
        .into_iter()
        .map(|group| render(group, &base, &list.projection))
        .collect();
    Ok(list_page(page.total, query.start_index, resources))
}

async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_group", Some(id.clone()));
    let projection = projection_of(&query, state.provisioner.group_schema())?;
    let if_none_match = version_condition(&req, IF_NONE_MATCH)?;
    // The condition needs the version, and so the members.
    let members = projection.keeps(MEMBERS) || if_none_match.is_some();
    let group = state.provisioner.get_group(&id, members).await?;
    if let (Some(condition), Some(version)) = (&if_none_match, &group.version) {
        if condition.matches(version) {
            return Ok(not_modified(version));
        }
    }
    Ok(respond_group(
        &req,
        &state,
        StatusCode::OK,
        group,
        &projection,
    ))
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "create_group", None);
    let resource = parse_resource(&json_body(&req, &body)?, state.provisioner.group_schema())?;
    let name = text_attribute(&resource, "displayName");
    label(&req, "create_group", name);
    let projection = projection_of(&query, state.provisioner.group_schema())?;
    let group = state
        .provisioner
        .create_group(resource, projection.keeps(MEMBERS))
        .await?;
    let location = format!("{}/Groups/{}", base_url(&req, &state), group.id);
    let response = respond_group(&req, &state, StatusCode::CREATED, group, &projection);
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
    label(&req, "replace_group", Some(id.clone()));
    let resource = parse_resource(&json_body(&req, &body)?, state.provisioner.group_schema())?;
    let projection = projection_of(&query, state.provisioner.group_schema())?;
    let conditions = preconditions(&req)?;
    let group = state
        .provisioner
        .replace_group(&id, resource, projection.keeps(MEMBERS), &conditions)
        .await?;
    Ok(respond_group(
        &req,
        &state,
        StatusCode::OK,
        group,
        &projection,
    ))
}

/// 200 with the group, or 204 when showing it would cost reads of a large
/// member list that the change did not need; always 200 when the client
/// names attributes (RFC 7644 §3.5.2). The provisioning layer decides.
async fn patch(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "patch_group", Some(id.clone()));
    let request = PatchRequest::from_json(&json_body(&req, &body)?)?;
    let projection = projection_of(&query, state.provisioner.group_schema())?;
    let conditions = preconditions(&req)?;
    let asked = query_param(&query, "attributes")?.is_some()
        || query_param(&query, "excludedAttributes")?.is_some();
    let answer = match asked {
        true => PatchAnswer::Asked {
            members: projection.keeps(MEMBERS),
        },
        false => PatchAnswer::Whole,
    };
    match state
        .provisioner
        .patch_group(&id, &request, answer, &conditions)
        .await?
    {
        Some(group) => Ok(respond_group(
            &req,
            &state,
            StatusCode::OK,
            group,
            &projection,
        )),
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: Id,
) -> Result<HttpResponse, ApiError> {
    label(&req, "delete_group", Some(id.clone()));
    let conditions = preconditions(&req)?;
    state.provisioner.delete_group(&id, &conditions).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn respond_group(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    group: ScimGroup,
    projection: &Projection,
) -> HttpResponse {
    let version = group.version.clone();
    let body = render(group, &base_url(req, state), projection);
    match version {
        Some(version) => scim_resource(status, &body, &version),
        // The members were not read: no version to show (see above).
        None => scim_json(status, &body),
    }
}

/// The group as SCIM JSON: `meta.location` and the members' `$ref` added,
/// projection applied.
fn render(group: ScimGroup, base: &str, projection: &Projection) -> Value {
    let mut resource = group.resource;
    with_refs(&mut resource, base, "Groups", &group.id, (MEMBERS, "Users"));
    projection.apply(&mut resource);
    Value::Object(resource)
}
