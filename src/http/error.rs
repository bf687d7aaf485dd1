//! The one place where errors become SCIM error responses (RFC 7644 §3.12).
//! Failures on the Drupal side are logged here, once, with their cause.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, ResponseError};

use super::framework_errors::HEAD_ANSWER;
use crate::drupal::DrupalError;
use crate::provisioning::{CreateFate, MemberProblem, MembershipFailures, ProvisioningError};
use crate::scim::error::ScimError;
use crate::untrusted::{cut, quote};

/// Characters of each of Drupal's reasons a detail repeats.
const DRUPAL_DETAIL_CHARS: usize = 300;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// Seconds an IdP is asked to wait when Drupal is unavailable.
const RETRY_AFTER_SECS: u64 = 30;
/// The longest wait the bridge passes on from Drupal's own `Retry-After`:
/// a misconfigured proxy's "come back tomorrow" must not stall an IdP.
const MAX_RETRY_AFTER_SECS: u64 = 3600;
/// Seconds an IdP is asked to wait when the bridge's queue for Drupal is full.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;
/// Seconds an IdP is asked to wait when Drupal refused a write because the
/// account changed meanwhile: the other write is over in about that time.
const ENTITY_CHANGED_RETRY_AFTER_SECS: u64 = 1;

/// A SCIM error on its way out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<ProvisioningError> for ApiError {
    fn from(e: ProvisioningError) -> Self {
        ApiError(to_scim_error(e))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = self.0.to_json();
        let mut response = HttpResponse::build(self.status_code())
            .insert_header((CONTENT_TYPE, SCIM_CONTENT_TYPE))
            .body(body.to_string());
        if let Some(secs) = self.0.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Rewrites the framework's own rejections (unknown method, body too large,
/// unreadable path or query) into SCIM error documents, so an IdP always
/// gets the error format RFC 7644 §3.12 promises. And answers HEAD as GET
/// without the body (RFC 9110 §9.3.2), so every GET route answers it: the
/// routes inside see a GET, and the answer, rewritten or not, loses its
/// body here. (One layer for both: each layer costs a boxed future on
/// every request.)
pub async fn scim_rejections(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let head = req.method() == Method::HEAD;
    if head {
        req.head_mut().method = Method::GET;
    }
    let response = rejections_as_scim(next.call(req).await?);
    if !head {
        return Ok(response);
    }
    // A HEAD's answer has no body: it is dropped here, for the HTTP codec
    // sends a body it is given when another request follows on the
    // connection. Its length goes in a header that the socket's watcher
    // (framework_errors) takes out, putting it in Content-Length, so the
    // HEAD says the GET's length (RFC 9110 §8.6).
    let length = match response.response().body().size() {
        BodySize::Sized(n) => Some(n),
        _ => None,
    };
    let mut response = response.map_body(|_, _| BoxBody::new(()));
    if let Some(n) = length {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEAD_ANSWER), HeaderValue::from(n));
    }
    Ok(response)
}

/// The answer, or the SCIM error document for a rejection of the framework's.
fn rejections_as_scim(response: ServiceResponse<impl MessageBody + 'static>) -> ServiceResponse {
    let status = response.status();
    let is_scim = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v == SCIM_CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error()) || is_scim {
        return response.map_into_boxed_body();
    }
    // The method and path as the request came in here (nothing inside
    // changes them), read only when an answer is rewritten.
    let request = response.request();
    // A body the framework could not read to its end (a chunk size that is
    // no number, a stream cut short): malformed framing, said as such.
    if let Some(e) = response
        .response()
        .error()
        .and_then(|e| e.as_error::<actix_web::error::PayloadError>())
        .filter(|_| status == StatusCode::BAD_REQUEST)
    {
        let scim = ApiError(ScimError::invalid_syntax(format!(
            "The request body could not be read: {}. Send the body whole, with a Content-Length that matches it or a valid chunked encoding.",
            payload_problem(e)
        )))
        .error_response();
        let (request, _) = response.into_parts();
        return ServiceResponse::new(request, scim);
    }
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "{} is not supported on {}.",
            request.method(),
            quote(request.path())
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is larger than this bridge accepts (scim.max_body_bytes).".to_string()
        }
        _ => response
            .response()
            .error()
            .map(|e| e.to_string())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string()),
    };
    let scim = ApiError(ScimError::new(status.as_u16(), None, detail)).error_response();
    let (request, _) = response.into_parts();
    ServiceResponse::new(request, scim)
}

/// What went wrong reading a body, in words for the client.
fn payload_problem(e: &actix_web::error::PayloadError) -> &'static str {
    use actix_web::error::PayloadError;
    match e {
        PayloadError::Incomplete(_) => {
            "it ended before its length was reached, or its chunked encoding is malformed"
        }
        PayloadError::EncodingCorrupted => "its content encoding is corrupt",
        PayloadError::UnknownLength => "its length is unknown",
        _ => "it is malformed or was cut short",
    }
}

fn to_scim_error(e: ProvisioningError) -> ScimError {
    match e {
        ProvisioningError::Scim(e) => e,
        ProvisioningError::Drupal(e) => {
            log_drupal_failure(&e);
            drupal_to_scim(&e)
        }
        ProvisioningError::NotFound(id) => {
            ScimError::not_found(format!("No user with id {} exists.", quote(&id)))
        }
        ProvisioningError::GroupNotFound(id) => ScimError::not_found(format!(
            "No group with id {} exists: it was deleted, or it is not one this bridge serves (a Drupal role its mapping lists, or a group the identity provider created).",
            quote(&id)
        )),
        ProvisioningError::Protected(why) => ScimError::forbidden(why),
        ProvisioningError::Mapping(e) => ScimError::invalid_value(e.to_string()),
        ProvisioningError::Membership(failures) => membership_to_scim(&failures),
    }
}

/// Failed members a detail names; the log names every one.
const LISTED_MEMBERS: usize = 20;

/// Some membership changes failed: the status of the most severe cause
/// (503 or 502 when Drupal failed, 403 for a protected account, 400 for an
/// unknown user), a detail naming the failed members and saying that the
/// others were applied.
fn membership_to_scim(failures: &MembershipFailures) -> ScimError {
    let cause = |problem: &MemberProblem| match problem {
        MemberProblem::UnknownUser | MemberProblem::Group => ScimError::invalid_value(""),
        MemberProblem::Protected(_) => ScimError::forbidden(""),
        MemberProblem::Drupal(e) => drupal_to_scim(e),
    };
    let worst = failures
        .failures
        .iter()
        .map(|f| cause(&f.problem))
        .max_by_key(|e| e.status)
        .unwrap_or_else(|| ScimError::internal(""));
    let mut listed: Vec<String> = failures
        .failures
        .iter()
        .take(LISTED_MEMBERS)
        .map(|f| format!("{} {}: {}", f.action, quote(&f.member), f.problem))
        .collect();
    if failures.failures.len() > LISTED_MEMBERS {
        listed.push(format!(
            "and {} more (the bridge's log lists them all)",
            failures.failures.len() - LISTED_MEMBERS
        ));
    }
    let listed = listed.join("; ");
    let listed = listed.trim_end_matches('.');
    let detail = if failures.create == CreateFate::Left {
        format!(
            "Group \"{}\" was created, but {} of its members could not be written ({listed}), and the group could not be undone: it stays with the members written so far. Send the same create again (same displayName and externalId) once the cause is fixed: it takes this group over and finishes it.",
            failures.group,
            failures.failures.len(),
        )
    } else if failures.create == CreateFate::Undone {
        format!(
            "Group \"{}\" was not created: {} of its members could not be written ({listed}); what was written was undone, so nothing of it is kept. Send the create again once the cause is fixed.",
            failures.group,
            failures.failures.len(),
        )
    } else if failures.refused {
        format!(
            "Group \"{}\": nothing was changed, because {} member(s) cannot be: {listed}.",
            failures.group,
            failures.failures.len(),
        )
    } else {
        format!(
            "Group \"{}\": {} of {} membership changes failed; the other {} were applied and stay. Failed: {listed}. Retry the failed members once the cause is fixed.",
            failures.group,
            failures.failures.len(),
            failures.applied + failures.failures.len(),
            failures.applied,
        )
    };
    ScimError { detail, ..worst }
}

/// What the operator must do about a Drupal failure, logged once.
fn log_drupal_failure(e: &DrupalError) {
    match e {
        DrupalError::Credentials(_) | DrupalError::Forbidden(_) => tracing::error!(
            error = %e,
            "Drupal refused the bridge's account: check drupal.auth (its credentials) and that the account has the 'administer users' permission"
        ),
        DrupalError::ReadOnly => tracing::error!(
            "Drupal's JSON:API is read-only: allow writes at /admin/config/services/jsonapi"
        ),
        DrupalError::Unreachable(_)
        | DrupalError::Timeout
        | DrupalError::ConnectionLost(_)
        | DrupalError::Server { .. } => {
            tracing::error!(error = %e, "Drupal is unavailable")
        }
        DrupalError::Rejected { .. } | DrupalError::Protocol(_) => {
            tracing::error!(error = %e, "Drupal gave an answer the bridge cannot use")
        }
        DrupalError::Unreadable(_) => {
            tracing::error!(error = %e, "Drupal's answer arrived unreadable (cut off, not JSON, HTML)")
        }
        DrupalError::Redirected { .. } => {
            tracing::error!(error = %e, "Drupal is not served at drupal.base_url")
        }
        DrupalError::Certificate(_) => {
            tracing::error!(error = %e, "the bridge does not trust Drupal's HTTPS certificate")
        }
        DrupalError::Overloaded => tracing::warn!(
            "the limit of concurrent Drupal requests (drupal.max_concurrency, queue_limit) is reached: answering 503"
        ),
        DrupalError::EntityChanged(_) => tracing::warn!(
            error = %e,
            "Drupal refused a write because another write changed the account at the same time (another bridge replica, or an edit in Drupal): answering 503"
        ),
        DrupalError::AccountBusy { client_gone: false } => tracing::warn!(
            "a write waited for its turn on a resource past drupal.timeout_secs (earlier writes to it are slow): answering 503, nothing written"
        ),
        DrupalError::AccountBusy { client_gone: true } => tracing::warn!(
            "the client went away while its write waited for its turn on a resource: nothing written"
        ),
        // The breaker logged when it opened, the login when it was refused.
        DrupalError::CircuitOpen { .. } | DrupalError::LoginPaused { .. } => {}
        DrupalError::Validation(errors) => {
            if let Some(missing) = errors.iter().find(|v| v.detail.contains(" does not exist on the ")) {
                tracing::error!(
                    error = %missing.detail,
                    "the mapping writes a Drupal field the site does not have: fix the mapping or add the field (drupal-scim-bridge check lists them)"
                );
            }
        }
        DrupalError::NotFound | DrupalError::UrlTooLong { .. } => {}
    }
}

fn drupal_to_scim(e: &DrupalError) -> ScimError {
    match e {
        DrupalError::Validation(errors) => {
            // The bridge's mapping, not the client's data: a field the
            // site does not have (recorded, case 080).
            if let Some(missing) = errors
                .iter()
                .find(|v| v.detail.starts_with("The attribute ") && v.detail.contains(" does not exist on the "))
            {
                return ScimError::bad_gateway(format!(
                    "The bridge's mapping writes a Drupal field this site does not have ({}). The bridge's operator must fix the mapping or add the field; `drupal-scim-bridge check` lists every such field. Nothing was changed.",
                    cut(&missing.detail, DRUPAL_DETAIL_CHARS)
                ));
            }
            let taken: Vec<_> = errors
                .iter()
                .filter(|v| v.detail.contains("is already taken"))
                .map(|v| {
                    // Drupal's sentences end with a period; the detail
                    // adds its own after the list.
                    let detail = cut(&v.detail, DRUPAL_DETAIL_CHARS);
                    detail.trim_end().trim_end_matches('.').to_string()
                })
                .collect();
            if !taken.is_empty() {
                return ScimError::uniqueness(format!(
                    "Drupal already has an account with this value: {}. If no user SCIM shows holds it, an account SCIM DELETE deprovisioned does (kept blocked in Drupal, and shown to no identity provider): delete that account in Drupal to free the value.",
                    taken.join("; ")
                ));
            }
            ScimError::invalid_value(format!("Drupal rejected the values sent: {}", e_details(errors)))
        }
        DrupalError::NotFound => ScimError::not_found("The resource no longer exists in Drupal."),
        DrupalError::Credentials(_) | DrupalError::Forbidden(_) => ScimError::bad_gateway(
            "Drupal refused the bridge's credentials or permissions; the bridge's operator must check its Drupal account.",
        ),
        DrupalError::ReadOnly => ScimError::bad_gateway(
            "Drupal's JSON:API accepts only read operations; a Drupal administrator must allow writes.",
        ),
        // Temporary: the bridge logs in again once the pause is over.
        DrupalError::LoginPaused { retry_after, .. } => ScimError::unavailable(
            "Drupal's flood control blocks the bridge's account for a while; the bridge logs in again once its pause is over. Retry then.",
            (*retry_after).max(1),
        ),
        // Drupal's own wait, when it named one, else the bridge's; never
        // less than the bridge's, nor more than an hour.
        DrupalError::Server {
            retry_after: Some(secs),
            ..
        } => ScimError::unavailable(
            "Drupal is unavailable or too slow right now; retry later.",
            (*secs).clamp(RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS),
        ),
        // Each named for what happened (not the network's own words, which
        // may name internal hosts); the outcome of a write is unknown after
        // a timeout or a lost connection.
        DrupalError::Unreachable(_) => ScimError::unavailable(
            "Drupal could not be reached (the connection was refused or could not be made); retry later.",
            RETRY_AFTER_SECS,
        ),
        DrupalError::Timeout => ScimError::unavailable(
            "Drupal did not answer within the bridge's timeout; retry later.",
            RETRY_AFTER_SECS,
        ),
        DrupalError::ConnectionLost(_) => ScimError::unavailable(
            "Drupal closed the connection before answering (it stopped or crashed); retry later.",
            RETRY_AFTER_SECS,
        ),
        DrupalError::Server { .. } => ScimError::unavailable(
            "Drupal is unavailable or too slow right now; retry later.",
            RETRY_AFTER_SECS,
        ),
        // As transient as a connection cut at the same point (a timeout).
        DrupalError::Unreadable(_) => ScimError::unavailable(
            format!("Drupal's answer arrived unreadable ({e}); retry later."),
            RETRY_AFTER_SECS,
        ),
        DrupalError::AccountBusy { client_gone: false } => ScimError::unavailable(
            "Earlier writes to the same resource are still running and this one waited for its turn as long as it may (drupal.timeout_secs); nothing was written. Retry shortly.",
            OVERLOADED_RETRY_AFTER_SECS,
        ),
        DrupalError::AccountBusy { client_gone: true } => ScimError::unavailable(
            "The client went away while this write waited for its turn; nothing was written.",
            OVERLOADED_RETRY_AFTER_SECS,
        ),
        DrupalError::Overloaded => ScimError::unavailable(
            "The bridge is already sending Drupal as many requests as it may; retry shortly.",
            OVERLOADED_RETRY_AFTER_SECS,
        ),
        // Not 409: to an IdP that means uniqueness. The write saved
        // nothing and succeeds when sent again.
        DrupalError::EntityChanged(_) => ScimError::unavailable(
            "Drupal refused the change because another write changed the same account at the same moment; nothing was saved. Retry the request.",
            ENTITY_CHANGED_RETRY_AFTER_SECS,
        ),
        // As for Drupal's own failures: the breaker's wait (the largest
        // Drupal asked for, at least the pause left), between 30 s and an
        // hour. The probe that may close it earlier is the bridge's, and a
        // 1 s hint would only bring the IdP back into the open breaker.
        DrupalError::CircuitOpen { retry_after } => ScimError::unavailable(
            "Drupal failed repeatedly; the bridge pauses requests to it. Retry later.",
            (*retry_after).clamp(RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS),
        ),
        // The values that make the URL long came from the client: its
        // error, not Drupal's, and retrying cannot help.
        DrupalError::UrlTooLong { bytes, limit } => ScimError::invalid_value(format!(
            "A value in this request is too long to be looked up in Drupal: the request would need a URL of {bytes} bytes, and web servers in front of Drupal accept about {limit}. Shorten the filter or the value."
        )),
        DrupalError::Rejected { .. } | DrupalError::Protocol(_) => {
            ScimError::bad_gateway(format!("Drupal gave an answer the bridge cannot use: {e}"))
        }
        DrupalError::Redirected { .. } | DrupalError::Certificate(_) => ScimError::bad_gateway(
            format!("{e}. The bridge's operator must correct its configuration."),
        ),
    }
}

/// Drupal's reasons, each cut short: they may repeat the client's value.
fn e_details(errors: &[crate::drupal::document::ApiError]) -> String {
    errors
        .iter()
        .map(|v| cut(&v.detail, DRUPAL_DETAIL_CHARS))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drupal::document::ApiError as DrupalApiError;

    #[test]
    fn already_taken_becomes_uniqueness_conflict() {
        let e = drupal_to_scim(&DrupalError::Validation(vec![DrupalApiError {
            status: 422,
            detail: "name: The username bob is already taken.".into(),
            pointer: Some("/data/attributes/name".into()),
        }]));
        assert_eq!(e.status, 409);
        assert_eq!(e.to_json()["scimType"], "uniqueness");
        assert!(e.detail.contains("bob"));
    }

    #[test]
    fn a_taken_value_is_one_sentence_not_two_periods() {
        let e = drupal_to_scim(&DrupalError::Validation(vec![
            DrupalApiError {
                status: 422,
                detail: "name: The username bob is already taken.".into(),
                pointer: Some("/data/attributes/name".into()),
            },
            DrupalApiError {
                status: 422,
                detail: "mail: The email address bob@example.org is already taken.".into(),
                pointer: Some("/data/attributes/mail".into()),
            },
        ]));
        assert_eq!(e.status, 409);
        assert!(!e.detail.contains(".."), "{}", e.detail);
        assert!(!e.detail.contains(".;"), "{}", e.detail);
        assert!(
            e.detail
                .contains("bob@example.org is already taken. If no user"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn other_validation_errors_are_invalid_values_with_drupals_reason() {
        let e = drupal_to_scim(&DrupalError::Validation(vec![DrupalApiError {
            status: 422,
            detail: "mail.0.value: This value is not a valid email address.".into(),
            pointer: None,
        }]));
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("not a valid email"));
        // The same words for a user's values and a group's (a term's).
        assert!(
            e.detail.starts_with("Drupal rejected the values sent: "),
            "{}",
            e.detail
        );
    }

    #[test]
    fn a_field_the_site_lacks_is_the_bridges_fault_not_the_clients() {
        // Recorded (case 080): the answer to an attribute Drupal does not have.
        let e = drupal_to_scim(&DrupalError::Validation(vec![DrupalApiError {
            status: 422,
            detail: "The attribute field_title does not exist on the user--user resource type."
                .into(),
            pointer: None,
        }]));
        assert_eq!(e.status, 502, "{}", e.detail);
        assert!(e.detail.contains("field_title"), "{}", e.detail);
        assert!(e.detail.contains("mapping"), "{}", e.detail);
    }

    #[test]
    fn unavailable_drupal_asks_to_retry_later() {
        let e = drupal_to_scim(&DrupalError::Timeout);
        assert_eq!(e.status, 503);
        assert_eq!(e.retry_after, Some(RETRY_AFTER_SECS));
        let response = ApiError(e).error_response();
        assert_eq!(response.headers().get(RETRY_AFTER).unwrap(), "30");
    }

    #[test]
    fn drupals_own_retry_after_is_passed_on_within_bounds() {
        let server = |retry_after| DrupalError::Server {
            status: 503,
            detail: String::new(),
            retry_after,
        };
        let wait = |e: &DrupalError| drupal_to_scim(e).retry_after;
        assert_eq!(wait(&server(Some(120))), Some(120));
        assert_eq!(wait(&server(Some(5))), Some(RETRY_AFTER_SECS));
        assert_eq!(wait(&server(Some(86_400))), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(wait(&server(None)), Some(RETRY_AFTER_SECS));
    }

    #[test]
    fn an_unreadable_answer_is_unavailable_like_a_cut_connection() {
        let e = drupal_to_scim(&DrupalError::Unreadable("cut off".into()));
        assert_eq!(e.status, 503);
        assert_eq!(e.retry_after, Some(RETRY_AFTER_SECS));
        // A readable answer of the wrong kind stays the bad gateway it is.
        assert_eq!(
            drupal_to_scim(&DrupalError::Protocol("x".into())).status,
            502
        );
    }

    #[test]
    fn a_write_refused_because_the_account_changed_meanwhile_asks_to_retry_shortly() {
        let e = drupal_to_scim(&DrupalError::EntityChanged(
            "The content has either been modified by another user, or you have already submitted modifications. As a result, your changes cannot be saved.".into(),
        ));
        // 503, not 409 (uniqueness to an IdP) nor 400 (a bad value).
        assert_eq!(e.status, 503);
        assert_eq!(e.retry_after, Some(ENTITY_CHANGED_RETRY_AFTER_SECS));
        assert!(e.to_json().get("scimType").is_none());
        let response = ApiError(e).error_response();
        assert_eq!(response.headers().get(RETRY_AFTER).unwrap(), "1");
    }

    #[test]
    fn refused_credentials_are_a_bad_gateway() {
        assert_eq!(
            drupal_to_scim(&DrupalError::Forbidden("x".into())).status,
            502
        );
        assert_eq!(drupal_to_scim(&DrupalError::ReadOnly).status, 502);
    }
}
