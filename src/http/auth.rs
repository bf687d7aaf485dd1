//! Bearer-token authentication for every SCIM route. Tokens are compared in
//! constant time, and every configured token is compared, so timing tells
//! nothing about which token (or which prefix) was close.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, WWW_AUTHENTICATE,
};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use super::caller::Caller;
use super::clients::Refusal;
use super::error::ApiError;
use super::AppState;
use crate::scim::error::ScimError;
use crate::untrusted::quote;

pub async fn require_bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    // The token is read where it is, not copied.
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    // No state: a site that does not exist, answered exactly as a wrong
    // token on one that does.
    let state = req.app_data::<web::Data<AppState>>();
    let verdict = match (presented, state) {
        (Some(token), Some(state)) => check(token, state).await,
        (None, _) => Err(ScimError::unauthorized(
            "Authentication required: send the bearer token configured for this bridge in an Authorization: Bearer header.",
        )),
        (Some(_), None) => Err(invalid_token()),
    };
    if let Ok(caller) = &verdict {
        // The request's span exists only when its level is logged.
        if tracing::level_enabled!(tracing::Level::INFO) {
            tracing::Span::current().record("client", &*caller.client);
        }
        // Known from here on, a refusal below included: a read-only
        // client's write is counted and logged under its client and site,
        // not as a caller without credentials.
        caller.clone().attach(&req);
    }
    let refusal = match verdict
        .and_then(|caller| writes_allowed(&req, caller))
        .and_then(|caller| plain_body(&req).map(|()| caller))
    {
        Ok(_) => {
            // The audit scope opens here, not in a layer of its own.
            return super::request_log::audit_scope(req, next)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
        Err(e) => e,
    };
    let status = refusal.status;
    let mut response = ApiError::from(refusal).error_response();
    if status == 401 {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"drupal-scim-bridge\""),
        );
    }
    if status == 415 {
        // The only coding a body may have here (RFC 9110 §15.5.16).
        response
            .headers_mut()
            .insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    }
    Ok(req.into_response(response))
}

fn invalid_token() -> ScimError {
    ScimError::unauthorized("The bearer token is not valid for this bridge.")
}

/// The client the token opens on this site.
async fn check(token: &str, state: &AppState) -> Result<Caller, ScimError> {
    match state.clients.authenticate(token).await {
        Ok(client) => Ok(Caller::new(
            client.name.clone(),
            client.read_only,
            state.site.clone(),
        )),
        Err(Refusal::Invalid(None)) => Err(invalid_token()),
        Err(Refusal::Invalid(Some(why))) if state.discreet => {
            tracing::info!(reason = why, "a JWT bearer token was refused");
            Err(invalid_token())
        }
        Err(Refusal::Invalid(Some(why))) => Err(ScimError::unauthorized(format!(
            "The bearer token is not valid for this bridge: {why}."
        ))),
        Err(Refusal::KeysUnavailable(reason)) => {
            tracing::error!(reason, "cannot fetch the JWT issuer's signing keys");
            Err(ScimError::unavailable(
                "The bridge cannot fetch its token issuer's signing keys right now; retry later.",
                30,
            ))
        }
    }
}

/// A read-only client may read and search; anything else is 403.
fn writes_allowed(req: &ServiceRequest, caller: Caller) -> Result<Caller, ScimError> {
    let reads = matches!(*req.method(), Method::GET | Method::HEAD)
        || (*req.method() == Method::POST && req.path().ends_with("/.search"));
    if caller.read_only && !reads {
        // Counted and logged as the write it is, though no handler ran.
        if let Some((operation, target)) = write_operation(req.method(), req.uri().path()) {
            super::request_log::label(req.request(), operation, target);
        }
        return Err(ScimError::forbidden(format!(
            "The client {:?} is read-only: it may read and search, not {} {}. Use a client configured without read_only: true to make changes.",
            &*caller.client,
            req.method(),
            req.path()
        )));
    }
    Ok(caller)
}

/// The SCIM write a request is (the operation its handler would name, and
/// the id it addresses, decoded as the handler decodes it), by its method
/// and its URI's path: for a write refused before any handler runs.
/// `None` where no handler would serve it (the router's 404s included).
fn write_operation(method: &Method, path: &str) -> Option<(&'static str, Option<String>)> {
    // `/scim/v2/...`, or `/sites/{site}/scim/v2/...` under `sites:`.
    let below_site = match path.strip_prefix("/sites/") {
        Some(rest) => &rest[rest.find('/')?..],
        None => path,
    };
    let rest = below_site.strip_prefix("/scim/v2/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let operation = match (method.as_str(), segments.as_slice()) {
        ("POST", ["Bulk"]) => "bulk",
        ("POST", ["Users"]) => "create_user",
        ("PUT", ["Users", _]) => "replace_user",
        ("PATCH", ["Users", _]) => "patch_user",
        ("DELETE", ["Users", _]) => "delete_user",
        ("POST", ["Groups"]) => "create_group",
        ("PUT", ["Groups", _]) => "replace_group",
        ("PATCH", ["Groups", _]) => "patch_group",
        ("DELETE", ["Groups", _]) => "delete_group",
        _ => return None,
    };
    let id = match segments.as_slice() {
        [_, ""] => return None,
        [_, raw] => Some(super::query::path_segment(raw).ok()?.into_owned()),
        _ => None,
    };
    Some((operation, id))
}

/// A body arrives as it is or not at all: nothing is decompressed (an
/// unbounded gzip bomb would defeat `scim.max_body_bytes`), and a body
/// read as plain text when it is not would be misread. Any coding but
/// `identity` is 415 (RFC 9110 §8.4, §15.5.16), naming it.
fn plain_body(req: &ServiceRequest) -> Result<(), ScimError> {
    // No body, nothing coded: a GET carrying the header is not refused.
    if !super::request_log::sent_a_body(req.request()) {
        return Ok(());
    }
    let mut codings = Vec::new();
    for value in req.headers().get_all(CONTENT_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes());
        codings.extend(
            text.split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
                .map(str::to_string),
        );
    }
    if codings.is_empty() {
        return Ok(());
    }
    Err(ScimError::new(
        415,
        None,
        format!(
            "The request body is sent with Content-Encoding {}, which this bridge does not read: send the body uncompressed, without Content-Encoding (or with identity).",
            quote(&codings.join(", "))
        ),
    ))
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is
/// case-insensitive (RFC 6750 §2.1 via RFC 7235).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn a_refused_write_is_named_as_its_handler_names_it() {
        use super::write_operation;
        use actix_web::http::Method;
        assert_eq!(
            write_operation(&Method::POST, "/scim/v2/Users"),
            Some(("create_user", None))
        );
        assert_eq!(
            write_operation(&Method::DELETE, "/sites/a/scim/v2/Users/abc"),
            Some(("delete_user", Some("abc".into())))
        );
        assert_eq!(
            write_operation(&Method::PATCH, "/scim/v2/Groups/g1"),
            Some(("patch_group", Some("g1".into())))
        );
        // An id that is a resource type's name, and one percent-encoded.
        assert_eq!(
            write_operation(&Method::DELETE, "/scim/v2/Groups/Users"),
            Some(("delete_group", Some("Users".into())))
        );
        assert_eq!(
            write_operation(&Method::PATCH, "/scim/v2/Users/a%20b%22"),
            Some(("patch_user", Some("a b\"".into())))
        );
        assert_eq!(
            write_operation(&Method::POST, "/scim/v2/Bulk"),
            Some(("bulk", None))
        );
        // What no handler serves: the router's 404s, an id not UTF-8.
        for (method, path) in [
            (Method::PUT, "/scim/v2/Users"),
            (Method::POST, "/scim/v2/Schemas"),
            (Method::POST, "/scim/v2/Users/"),
            (Method::POST, "/scim/v2/Users/x/Users"),
            (Method::DELETE, "/scim/v2/Groups/g/"),
            (Method::PATCH, "/scim/v2/Users/%FF%FE"),
        ] {
            assert_eq!(write_operation(&method, path), None, "{method} {path}");
        }
    }
}
