//! RFC 7644 §4 discovery: what this bridge supports, said honestly.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::bulk::BulkLimits;
use super::error::ApiError;
use super::request_log::label;
use super::{base_url, only, scim_json, AppState};
use crate::scim::error::ScimError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Discovery is read-only: every other method is a SCIM 405.
    cfg.service(
        web::resource("/ServiceProviderConfig")
            .get(service_provider_config)
            .default_service(only("GET")),
    )
    .service(
        web::resource("/Schemas")
            .get(schemas)
            .default_service(only("GET")),
    )
    .service(
        web::resource("/Schemas/{id}")
            .get(schema)
            .default_service(only("GET")),
    )
    .service(
        web::resource("/ResourceTypes")
            .get(resource_types)
            .default_service(only("GET")),
    )
    .service(
        web::resource("/ResourceTypes/{id}")
            .get(resource_type)
            .default_service(only("GET")),
    );
}

async fn service_provider_config(
    req: HttpRequest,
    state: web::Data<AppState>,
    bulk: web::Data<BulkLimits>,
) -> HttpResponse {
    label(&req, "service_provider_config", None);
    let mut config = state.provisioner.service_provider_config();
    config.bulk = bulk.support();
    scim_json(StatusCode::OK, &config.to_json(&base_url(&req, &state)))
}

async fn schemas(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    label(&req, "list_schemas", None);
    let body = state
        .provisioner
        .registry()
        .schemas_json(&base_url(&req, &state));
    scim_json(StatusCode::OK, &body)
}

async fn schema(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_schema", Some(id.clone()));
    let body = state
        .provisioner
        .registry()
        .schema_json(&id, &base_url(&req, &state))
        .ok_or_else(|| ScimError::not_found(format!("No schema with id {id}.")))?;
    Ok(scim_json(StatusCode::OK, &body))
}

async fn resource_types(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    label(&req, "list_resource_types", None);
    let body = state
        .provisioner
        .registry()
        .resource_types_json(&base_url(&req, &state));
    scim_json(StatusCode::OK, &body)
}

async fn resource_type(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_resource_type", Some(id.clone()));
    let body = state
        .provisioner
        .registry()
        .resource_type_json(&id, &base_url(&req, &state))
        .ok_or_else(|| ScimError::not_found(format!("No resource type with id {id}.")))?;
    Ok(scim_json(StatusCode::OK, &body))
}
