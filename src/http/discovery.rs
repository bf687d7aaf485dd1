//! RFC 7644 §4 discovery: what this bridge supports, said honestly.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{self, Next};
use actix_web::{web, HttpRequest, HttpResponse, Resource, ResponseError};

use super::bulk::BulkLimits;
use super::by_id::Id;
use super::error::ApiError;
use super::request_log::label;
use super::{base_url, only, scim_json, AppState};
use crate::scim::error::ScimError;
use crate::untrusted::quote;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(read_only("/ServiceProviderConfig").get(service_provider_config))
        .service(read_only("/Schemas").get(schemas))
        .service(read_only("/Schemas/{id}").get(schema))
        .service(read_only("/ResourceTypes").get(resource_types))
        .service(read_only("/ResourceTypes/{id}").get(resource_type));
}

/// Discovery is read-only (any other method is a SCIM 405) and unfiltered.
fn read_only(
    path: &str,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path)
        .wrap(middleware::from_fn(refuse_filter))
        .default_service(only("GET"))
}

/// RFC 7644 §4: a filter on a discovery endpoint SHOULD be answered 403.
async fn refuse_filter(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let filtered = req.query_string().split('&').any(|pair| {
        pair.split('=')
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("filter"))
    });
    if filtered {
        let response = ApiError(ScimError::forbidden(format!(
            "{} cannot be filtered (RFC 7644 §4); read it whole.",
            req.path()
        )))
        .error_response();
        return Ok(req.into_response(response));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
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
    id: Id,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_schema", Some(id.clone()));
    let body = state
        .provisioner
        .registry()
        .schema_json(&id, &base_url(&req, &state))
        .ok_or_else(|| ScimError::not_found(format!("No schema with id {}.", quote(&id))))?;
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
    id: Id,
) -> Result<HttpResponse, ApiError> {
    label(&req, "get_resource_type", Some(id.clone()));
    let body = state
        .provisioner
        .registry()
        .resource_type_json(&id, &base_url(&req, &state))
        .ok_or_else(|| ScimError::not_found(format!("No resource type with id {}.", quote(&id))))?;
    Ok(scim_json(StatusCode::OK, &body))
}
