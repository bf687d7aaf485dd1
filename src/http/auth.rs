//! Bearer-token authentication for every SCIM route. Tokens are compared in
//! constant time, and every configured token is compared, so timing tells
//! nothing about which token (or which prefix) was close.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use subtle::ConstantTimeEq;

use super::caller::{Caller, DEFAULT_CLIENT, DEFAULT_SITE};
use super::error::ApiError;
use super::jwt::{JwtError, JwtVerifier};
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
        .and_then(bearer_token)
        .map(str::to_string);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let verdict = match (&presented, &state) {
        (Some(token), Some(state)) => check(token, state).await,
        (None, _) => Err(ScimError::unauthorized(
            "Authentication required: send the bearer token configured for this bridge in an Authorization: Bearer header.",
        )),
        (Some(_), None) => Err(ScimError::internal("the bridge's state is missing")),
    };
    let refusal = match verdict {
        Ok(caller) => {
            caller.attach(&req);
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body);
        }
        Err(e) => e,
    };
    let challenge = refusal.status == 401;
    let mut response = ApiError::from(refusal).error_response();
    if challenge {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"drupal-scim-bridge\""),
        );
    }
    Ok(req.into_response(response))
}

/// A static token, else a JWT from the configured issuer.
async fn check(token: &str, state: &AppState) -> Result<Caller, ScimError> {
    if token_matches(token, state.tokens.iter().map(|t| t.expose())) {
        return Ok(Caller::new(DEFAULT_CLIENT, false, DEFAULT_SITE));
    }
    match &state.jwt {
        Some(verifier) if JwtVerifier::looks_like_jwt(token) => {
            match verifier.verify(token).await {
                Ok(()) => Ok(Caller::new("jwt", false, DEFAULT_SITE)),
                Err(JwtError::KeysUnavailable(reason)) => {
                    tracing::error!(reason, "cannot fetch the JWT issuer's signing keys");
                    Err(ScimError::unavailable(
                    "The bridge cannot fetch its token issuer's signing keys right now; retry later.",
                    30,
                ))
                }
                Err(e) => Err(ScimError::unauthorized(format!(
                    "The bearer token is not valid for this bridge: {e}."
                ))),
            }
        }
        _ => Err(ScimError::unauthorized(
            "The bearer token is not valid for this bridge.",
        )),
    }
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
