//! One structured event per SCIM request: request id, method, route, SCIM
//! operation, target, outcome, latency and the number of Drupal requests it
//! took (`drupal_requests`), which shows what each operation costs.
//! Handlers name their operation and target through `label`; Drupal calls
//! made while serving the request log inside its span, so they carry the
//! same request id.
//!
//! The same event feeds the metrics (`crate::metrics`), and the request's
//! audit scope (`audit_scope`) gives the changes it makes their origin.

use std::borrow::Cow;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest};
use tracing::Instrument;

use super::caller::Caller;
use crate::audit::{self, AuditTrail, RequestScope};
use crate::drupal::serving;
use crate::metrics::{Metrics, ScimRequest, NO_CLIENT, NO_SITE};

/// What a handler did, for the request's log event.
#[derive(Debug, Clone)]
pub struct RequestLabel {
    pub operation: &'static str,
    pub target: Option<String>,
}

/// A list's or search's filter as the log shows it: the values it
/// compares with a secret (`password eq "…"`) left out.
pub fn logged_filter(
    filter: Option<&str>,
    schema: &crate::scim::schema::ResourceSchema,
) -> Option<String> {
    filter.map(|f| crate::untrusted::without_secret_literals(f, schema.secret_names()).into_owned())
}

/// Names the SCIM operation (and the user or group it concerns).
/// The target comes from the client: the log keeps a prefix of a long one.
pub fn label(req: &HttpRequest, operation: &'static str, target: Option<String>) {
    audit::set_operation(operation);
    // A target short enough is kept as it came, not copied.
    let target = target.map(|t| {
        let shortened = match crate::untrusted::cut(&t, LOGGED_TARGET_CHARS) {
            Cow::Owned(shortened) => Some(shortened),
            Cow::Borrowed(_) => None,
        };
        shortened.unwrap_or(t)
    });
    req.extensions_mut()
        .insert(RequestLabel { operation, target });
}

/// Made once: a header name from text is parsed on every use.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for what runs inside it (the audit scope).
#[derive(Debug, Clone)]
struct RequestId(String);

/// Latency in milliseconds, to 0.1 ms: finer is noise to a reader.
fn rounded_ms(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Opens the audit scope of an authenticated SCIM request: the changes it
/// makes are recorded with its id, client and site. Called by the
/// authentication (`auth::require_bearer`) once it found the caller.
pub async fn audit_scope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let trail = req.app_data::<web::Data<AuditTrail>>().cloned();
    let Some(trail) = trail else {
        return next.call(req).await;
    };
    let (request_id, client, site) = {
        let extensions = req.extensions();
        let request_id = extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        // Authentication, just outside, found the caller.
        let (client, site) = extensions
            .get::<Caller>()
            .map(|c| (c.client.clone(), c.site.clone()))
            .unwrap_or_else(|| (NO_CLIENT.into(), NO_SITE.into()));
        (request_id, client, site)
    };
    // The site, selected outside, says whether its writes are only logged.
    let dry_run = req
        .app_data::<web::Data<super::AppState>>()
        .is_some_and(|state| state.provisioner.drupal().is_dry_run());
    let scope = RequestScope::new(trail.into_inner(), request_id, client, site).in_dry_run(dry_run);
    audit::within(scope, next.call(req)).await
}
/// Characters of a request's target (an id, a filter, a userName) its log
/// event keeps.
const LOGGED_TARGET_CHARS: usize = 256;

pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = incoming_request_id(&req).unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "scim_request",
        request_id = %request_id,
        method = %req.method(),
        // A path no route matched is the client's: the text format
        // quotes it when it holds quotes or `key=value` pairs.
        route = %req.match_pattern().unwrap_or_else(|| {
            crate::untrusted::cut(req.path(), LOGGED_TARGET_CHARS).into_owned()
        }),
        // Filled in by the provisioning layer once it knows whose account it is.
        user = tracing::field::Empty,
        // The site, once known; the SCIM client, once authenticated.
        site = tracing::field::Empty,
        client = tracing::field::Empty,
    );
    req.extensions_mut().insert(RequestId(request_id.clone()));
    // Health probes are not SCIM requests: counting them would make a
    // load balancer's polling (and 503s from /readyz) look like IdP traffic.
    // Every other request is counted, a path no route serves too (`/`,
    // `/favicon.ico`, `//sites/x`): unlabelled, it counts under the
    // operation, site and client `none`, so that a scanner shows in the
    // alerts on requests without a valid token. The path is never a label.
    let metrics = req
        .app_data::<web::Data<Metrics>>()
        .filter(|_| !is_health_probe(req.path()))
        .cloned();
    let started = Instant::now();
    let (result, drupal_requests) = serving(next.call(req).instrument(span.clone())).await;
    let elapsed = started.elapsed();
    let latency_ms = rounded_ms(elapsed);
    let _entered = span.enter();
    match result {
        Ok(mut response) => {
            let status = response.status().as_u16();
            {
                // Read in place: the label and the caller are not copied.
                let extensions = response.request().extensions();
                let label = extensions.get::<RequestLabel>();
                let (client, site) = extensions
                    .get::<Caller>()
                    .map(|c| (&*c.client, &*c.site))
                    .unwrap_or((NO_CLIENT, NO_SITE));
                let (operation, target) = label
                    .map(|l| (l.operation, l.target.as_deref().unwrap_or_default()))
                    .unwrap_or(("none", ""));
                if let Some(metrics) = &metrics {
                    metrics.scim_request(&ScimRequest {
                        operation,
                        status,
                        site,
                        client,
                        latency: elapsed,
                        drupal_requests,
                    });
                }
                // 501 is a request for what the bridge does not offer
                // (`/Me`), as a 4xx is, not a failure to serve it.
                let outcome = match status {
                    200..=399 => "ok",
                    400..=499 | 501 => "rejected",
                    _ => "failed",
                };
                // Info even for 5xx: their cause is logged at error where it
                // is known, and `outcome` tells failures apart.
                tracing::info!(
                    client,
                    site,
                    operation,
                    scim_target = target,
                    status,
                    outcome,
                    latency_ms,
                    drupal_requests,
                    "scim request"
                );
            }
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID, v);
            }
            if status >= 400 && sent_a_body(response.request()) {
                // A refusal may leave the body unread (a 401 before it, a
                // 408 while it trickles): the connection is closed after
                // the answer rather than kept waiting for the rest, which
                // a client need never send.
                response
                    .response_mut()
                    .head_mut()
                    .set_connection_type(ConnectionType::Close);
            }
            Ok(response)
        }
        Err(e) => {
            if let Some(metrics) = &metrics {
                metrics.scim_request(&ScimRequest {
                    operation: "none",
                    status: 500,
                    site: NO_SITE,
                    client: NO_CLIENT,
                    latency: elapsed,
                    drupal_requests,
                });
            }
            tracing::warn!(
                error = %e,
                outcome = "failed",
                latency_ms,
                drupal_requests,
                "scim request"
            );
            Err(e)
        }
    }
}

/// The health routes of the SCIM port, which load balancers poll.
fn is_health_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Whether the request announced a body (chunked, or a non-zero length).
pub(super) fn sent_a_body(req: &actix_web::HttpRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
        || headers
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// 16 hex digits. From the thread's generator, not the OS: a request id
/// needs to be unique, not secret, and a system call per request costs
/// more than the id is worth.
fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = rand::random::<u64>();
    // By hand: `format!` costs several times this on every request.
    let mut id = String::with_capacity(16);
    for i in (0..16).rev() {
        id.push(char::from(HEX[((n >> (i * 4)) & 0xf) as usize]));
    }
    id
}

/// A caller's request id is reused when it is short and plain, so a proxy's
/// id can be followed into the bridge's logs.
fn incoming_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    (!v.is_empty()
        && v.len() <= 64
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use actix_web::{middleware, test, web, App, HttpResponse};

    use super::*;
    use crate::drupal::per_request::record_call;
    use crate::telemetry::CapturedLogs;

    #[actix_web::test]
    async fn the_request_event_says_how_many_drupal_requests_the_scim_request_made() {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(logs.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(App::new().wrap(middleware::from_fn(log_requests)).route(
            "/Users",
            web::get().to(|| async {
                record_call();
                record_call();
                HttpResponse::Ok().finish()
            }),
        ))
        .await;
        test::call_service(&app, test::TestRequest::get().uri("/Users").to_request()).await;
        let event = logs
            .contents()
            .lines()
            .find(|l| l.contains("scim request"))
            .map(str::to_string)
            .expect("one request event");
        assert!(event.contains(r#""drupal_requests":2"#), "{event}");
    }
}

#[cfg(test)]
mod ids {
    #[test]
    fn a_new_request_id_is_16_lowercase_hex_digits() {
        let a = super::new_request_id();
        let b = super::new_request_id();
        assert_eq!(a.len(), 16, "{a}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{a}"
        );
        assert_ne!(a, b);
        assert!(u64::from_str_radix(&a, 16).is_ok());
    }
}

#[cfg(test)]
mod rounding {
    use std::time::Duration;

    #[test]
    fn latency_is_rounded_to_a_tenth_of_a_millisecond() {
        assert_eq!(super::rounded_ms(Duration::from_nanos(40_044_031)), 40.0);
        assert_eq!(super::rounded_ms(Duration::from_micros(1_250)), 1.3);
    }
}
