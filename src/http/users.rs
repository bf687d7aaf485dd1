//! `/Users`: RFC 7644 §3.3 create, §3.4 read and query, §3.5 replace and
//! modify, §3.6 delete.

use actix_web::http::header::{IF_MATCH, IF_NONE_MATCH};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::error::ApiError;
use super::request_log::label;
use super::{
    base_url, json_body, list_page, not_modified, only, projection_of, scim_resource,
    text_attribute, version_condition, with_location, with_refs, AppState, ListRequest, Query,
};
use crate::provisioning::{ScimUser, UserQuery};
use crate::scim::list::ListParams;
use crate::scim::patch::PatchRequest;
use crate::scim::projection::Projection;
use crate::scim::resource::parse_resource;

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
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(get))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(only("GET, PUT, PATCH, DELETE")),
    );
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
    let params = ListParams::from_search_body(&json_body(&body)?)?;
    respond_list(&req, &state, params, "search_users").await
}

async fn respond_list(
    req: &HttpRequest,
    state: &AppState,
    params: ListParams,
    operation: &'static str,
) -> Result<HttpResponse, ApiError> {
    label(req, operation, params.filter.clone());
    let list = ListRequest::parse(params, &state.provisioner.user_schema())?;
    let query = UserQuery {
        filter: list.filter,
        start_index: list.start_index,
        count: list.count,
        sort_by: list.sort_by,
        sort_order: list.sort_order,
    };
    let page = state.provisioner.list_users(&query).await?;
    let base = base_url(req, state);
    let resources = page
        .users
        .into_iter()
        .map(|user| render(user, &base, &list.projection))
        .collect();
    Ok(list_page(page.total, query.start_index, resources))
}

async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: Query,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_user", Some(id.clone()));
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let if_none_match = version_condition(&req, IF_NONE_MATCH)?;
    let user = state.provisioner.get_user(&id).await?;
    if if_none_match.is_some_and(|c| c.matches(&user.version)) {
        return Ok(not_modified(&user.version));
    }
    Ok(respond_user(
        &req,
        &state,
        StatusCode::OK,
        user,
        &projection,
    ))
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let resource = parse_resource(&json_body(&body)?, &state.provisioner.user_schema())?;
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
    id: web::Path<String>,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let resource = parse_resource(&json_body(&body)?, &state.provisioner.user_schema())?;
    label(&req, "replace_user", Some(id.clone()));
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let if_match = version_condition(&req, IF_MATCH)?;
    let user = state
        .provisioner
        .replace_user(&id, resource, if_match.as_ref())
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
    id: web::Path<String>,
    query: Query,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request = PatchRequest::from_json(&json_body(&body)?)?;
    label(&req, "patch_user", Some(id.clone()));
    let projection = projection_of(&query, &state.provisioner.user_schema())?;
    let if_match = version_condition(&req, IF_MATCH)?;
    let user = state
        .provisioner
        .patch_user(&id, &request, if_match.as_ref())
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
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    label(&req, "delete_user", Some(id.clone()));
    let if_match = version_condition(&req, IF_MATCH)?;
    state
        .provisioner
        .delete_user(&id, if_match.as_ref())
        .await?;
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
