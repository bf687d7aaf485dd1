//! `/Bulk` (RFC 7644 §3.7): many operations in one request. The body is
//! read against `maxPayloadSize` as it streams in, so an oversized request
//! is refused with a SCIM 413 before it is held in memory.

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::error::ApiError;
use super::request_log::label;
use super::{base_url, json_body, only, scim_json, AppState};
use crate::provisioning::{BulkOutcome, MAX_BULK_OPERATIONS};
use crate::scim::bulk::{bulk_response, BulkMethod, BulkRequest, BulkResult};
use crate::scim::error::ScimError;
use crate::scim::service_provider::BulkSupport;

/// The limits `/ServiceProviderConfig` advertises and `/Bulk` enforces.
#[derive(Debug, Clone, Copy)]
pub struct BulkLimits {
    pub max_operations: usize,
    pub max_payload_bytes: usize,
}

impl BulkLimits {
    pub fn new(max_payload_bytes: usize) -> BulkLimits {
        BulkLimits {
            max_operations: MAX_BULK_OPERATIONS,
            max_payload_bytes,
        }
    }

    pub fn support(&self) -> BulkSupport {
        BulkSupport {
            supported: true,
            max_operations: u32::try_from(self.max_operations).unwrap_or(u32::MAX),
            max_payload_size: u64::try_from(self.max_payload_bytes).unwrap_or(u64::MAX),
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Bulk")
            .route(web::post().to(bulk))
            .default_service(only("POST")),
    );
}

async fn bulk(
    req: HttpRequest,
    state: web::Data<AppState>,
    limits: web::Data<BulkLimits>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // Labelled before the body is read: a body refused is still counted
    // and logged under its operation.
    label(&req, "bulk", None);
    let body = read_within(&req, payload, limits.max_payload_bytes).await?;
    let request = BulkRequest::from_json(&json_body(&req, &body)?, limits.max_operations)?;
    label(
        &req,
        "bulk",
        Some(format!("{} operations", request.operations.len())),
    );
    let base = base_url(&req, &state);
    let results: Vec<BulkResult> = state
        .provisioner
        .run_bulk(&request)
        .await
        .into_iter()
        .map(|outcome| result_of(outcome, &base))
        .collect();
    Ok(scim_json(StatusCode::OK, &bulk_response(&results)))
}

fn result_of(outcome: BulkOutcome, base: &str) -> BulkResult {
    // RFC 7644 §3.7.3: `location` is required "except in the event of a
    // POST failure": a POST that failed created nothing, whatever id its
    // path named.
    let failed_post = outcome.method == BulkMethod::Post && outcome.result.is_err();
    let location = outcome
        .resource
        .filter(|_| !failed_post)
        .map(|(endpoint, id)| format!("{base}{endpoint}/{id}"));
    let (status, version, error) = match outcome.result {
        Ok(success) => (success.status, success.version, None),
        Err(e) => {
            let error = ApiError::from(e).0;
            (error.status, None, Some(error))
        }
    };
    BulkResult {
        method: outcome.method,
        bulk_id: outcome.bulk_id,
        location,
        version,
        status,
        error,
    }
}

/// The body, unless it is larger than `limit` bytes.
async fn read_within(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large = || {
        ApiError(ScimError::payload_too_large(format!(
            "the bulk request is larger than maxPayloadSize ({limit} bytes); split it into smaller requests"
        )))
    };
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError(ScimError::bad_request(format!(
                "the request body could not be read: {e}"
            )))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
