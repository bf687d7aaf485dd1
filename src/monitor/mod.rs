//! The operator's listener (`metrics.listen`), apart from the SCIM port:
//! `/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators,
//! and `/status`, a page for the site owner who runs no Prometheus.
//! `/readyz` and `/healthz` are also mounted on the SCIM port, where load
//! balancers look (see `startup`).

mod status_page;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{guard, web, HttpRequest, HttpResponse, ResponseError};
use subtle::ConstantTimeEq;

use crate::audit::AuditTrail;
use crate::health::Readiness;
use crate::http::error::ApiError;
use crate::metrics::{self, Metrics};
use crate::scim::error::ScimError;
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
/// GET, and HEAD answered as GET without its body (RFC 9110 §9.3.2):
/// load balancers probe with either.
pub fn get_or_head() -> actix_web::Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", get_or_head().to(prometheus))
        .route("/healthz", get_or_head().to(healthz))
        .route("/readyz", get_or_head().to(readyz))
        .route("/status", get_or_head().to(status))
        .route(
            "/",
            get_or_head().to(|| async {
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

#[derive(serde::Deserialize)]
pub struct ReadyzQuery {
    site: Option<String>,
}

/// On the operator's listener. One site: 200 when ready, 503 naming what
/// is not. Several sites: 200 when at least one is ready, 503 when none
/// is, each site's state by id in the body; `?site=<id>` answers for that
/// site alone (200 or 503, 404 for a site not served).
pub async fn readyz(
    readiness: web::Data<Readiness>,
    query: web::Query<ReadyzQuery>,
) -> HttpResponse {
    answer(&readiness, query.site.as_deref(), true).await
}

/// On the SCIM port, for load balancers: the same status as `readyz`, but
/// anyone reaching the port may call it, so the body tells only whether
/// the bridge is ready and, for one site, which parts are not: never a
/// site's id, its mapping file or Drupal's error (which names Drupal's
/// address). Those are on the operator's listener, as is `?site=`.
pub async fn readyz_on_scim_port(
    readiness: web::Data<Readiness>,
    query: web::Query<ReadyzQuery>,
) -> HttpResponse {
    answer(&readiness, query.site.as_deref(), false).await
}

/// One site's readiness as the SCIM port tells it.
#[derive(serde::Serialize)]
struct Parts<'a> {
    ready: bool,
    not_ready: &'a [&'static str],
}

#[derive(serde::Serialize)]
struct Counts {
    ready: bool,
    sites_ready: usize,
    sites_total: usize,
}

async fn answer(readiness: &Readiness, site: Option<&str>, operator: bool) -> HttpResponse {
    let multi_site = readiness.is_multi_site();
    let ready = |ready: bool| {
        let mut response = if ready {
            HttpResponse::Ok()
        } else {
            HttpResponse::ServiceUnavailable()
        };
        response.insert_header((CACHE_CONTROL, "no-store"));
        response
    };
    // The SCIM port answers every error as a SCIM error document.
    let not_found = |error: &str| match operator {
        true => HttpResponse::NotFound()
            .insert_header((CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": error })),
        false => {
            let mut response = ApiError(ScimError::not_found(error)).error_response();
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    };
    match site {
        Some(_) if multi_site && !operator => not_found(
            "one site's readiness (?site=) is answered on the operator's listener (metrics.listen) only",
        ),
        Some(id) => match readiness.check_site(id).await {
            Some(report) if operator => ready(report.ready).json(report),
            // The one site, by its id, tells no more than without it.
            Some(report) => ready(report.ready).json(Parts {
                ready: report.ready,
                not_ready: &report.not_ready,
            }),
            None => not_found("no site with this id is served"),
        },
        None => {
            let overview = readiness.check().await;
            if !multi_site {
                // The one site's report, as before there were sites.
                return match overview.sites.into_values().next() {
                    Some(report) if operator => ready(report.ready).json(report),
                    Some(report) => ready(report.ready).json(Parts {
                        ready: report.ready,
                        not_ready: &report.not_ready,
                    }),
                    None => ready(false).json(Counts {
                        ready: false,
                        sites_ready: 0,
                        sites_total: 0,
                    }),
                };
            }
            if operator {
                ready(overview.ready).json(overview)
            } else {
                ready(overview.ready).json(Counts {
                    ready: overview.ready,
                    sites_ready: overview.sites_ready,
                    sites_total: overview.sites_total,
                })
            }
        }
    }
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
    let overview = monitor.readiness.check().await;
    let mappings = overview
        .sites
        .keys()
        .map(|id| (id.clone(), monitor.metrics.site(id).mapping_info()))
        .collect();
    let html = status_page::render(&status_page::Page {
        overview: &overview,
        multi_site: monitor.readiness.is_multi_site(),
        mappings,
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
