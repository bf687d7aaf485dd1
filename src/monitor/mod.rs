//! The operator's listener (`metrics.listen`), apart from the SCIM port:
//! `/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators,
//! and `/status`, a page for the site owner who runs no Prometheus.
//! `/readyz` and `/healthz` are also mounted on the SCIM port, where load
//! balancers look (see `startup`).

mod status_page;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use crate::audit::AuditTrail;
use crate::health::Readiness;
use crate::metrics::{self, Metrics};
use crate::secret::Secret;

/// What the operator's routes read.
pub struct Monitor {
    pub metrics: Arc<Metrics>,
    pub audit: Arc<AuditTrail>,
    pub readiness: Arc<Readiness>,
    /// Lets other hosts than loopback see the status page.
    pub status_token: Option<Secret>,
}

/// The routes of the operator's listener.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(prometheus))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/status", web::get().to(status))
        .route(
            "/",
            web::get().to(|| async {
                HttpResponse::Found()
                    .insert_header(("location", "/status"))
                    .finish()
            }),
        );
}

async fn prometheus(monitor: web::Data<Monitor>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, metrics::CONTENT_TYPE))
        .body(monitor.metrics.render())
}

/// The process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(r#"{"status":"ok"}"#)
}

/// 200 when ready, 503 naming what is not.
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let report = readiness.check().await;
    let mut response = if report.ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .insert_header((CACHE_CONTROL, "no-store"))
        .json(report)
}

#[derive(serde::Deserialize)]
struct StatusQuery {
    account: Option<String>,
    token: Option<String>,
}

async fn status(
    req: HttpRequest,
    monitor: web::Data<Monitor>,
    query: web::Query<StatusQuery>,
) -> HttpResponse {
    if !allowed(&req, monitor.status_token.as_ref(), query.token.as_deref()) {
        return HttpResponse::Forbidden()
            .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("The status page answers loopback callers only; configure metrics.status_token and send it as Authorization: Bearer <token> or ?token=<token> to see it from elsewhere.\n");
    }
    let account = query
        .account
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    let report = monitor.readiness.check().await;
    let html = status_page::render(&status_page::Page {
        report: &report,
        mapping: monitor.metrics.mapping_info(),
        minutes: monitor.metrics.history().last_hour(),
        events: monitor.audit.recent(account),
        account,
        token: query.token.as_deref(),
    });
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        // No script runs on the page; nothing may load from elsewhere.
        .insert_header((
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'",
        ))
        .body(html)
}

/// Loopback callers, and others presenting the configured token.
fn allowed(req: &HttpRequest, token: Option<&Secret>, in_query: Option<&str>) -> bool {
    let loopback = req
        .peer_addr()
        .map(|a| a.ip())
        .is_some_and(|ip: IpAddr| ip.is_loopback());
    if loopback {
        return true;
    }
    let Some(token) = token else {
        return false;
    };
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    [bearer, in_query]
        .into_iter()
        .flatten()
        .any(|presented| bool::from(presented.as_bytes().ct_eq(token.expose().as_bytes())))
}
