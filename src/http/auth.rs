//! Bearer-token authentication for every SCIM route. Tokens are compared in
//! constant time, and every configured token is compared, so timing tells
//! nothing about which token (or which prefix) was close.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::scim::error::ScimError;

pub async fn require_bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let accepted = match (presented, req.app_data::<web::Data<AppState>>()) {
        (Some(token), Some(state)) => token_matches(token, state.tokens.iter().map(|t| t.expose())),
        _ => false,
    };
    if accepted {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let detail = if presented.is_none() {
        "Authentication required: send the bearer token configured for this bridge in an Authorization: Bearer header."
    } else {
        "The bearer token is not valid for this bridge."
    };
    let mut response = ApiError::from(ScimError::unauthorized(detail)).error_response();
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"drupal-scim-bridge\""),
    );
    Ok(req.into_response(response))
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

fn token_matches<'a>(presented: &str, configured: impl Iterator<Item = &'a str>) -> bool {
    let mut matched = subtle::Choice::from(0u8);
    for expected in configured {
        matched |= presented.as_bytes().ct_eq(expected.as_bytes());
    }
    matched.into()
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
    fn any_configured_token_is_accepted() {
        let tokens = ["first-token-aaaa", "second-token-bbb"];
        assert!(token_matches("second-token-bbb", tokens.iter().copied()));
        assert!(!token_matches("second-token-bb", tokens.iter().copied()));
        assert!(!token_matches("", tokens.iter().copied()));
    }
}
