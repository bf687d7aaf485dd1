//! Verification of JWT bearer tokens an OAuth issuer signs (Entra ID's
//! OAuth option for provisioning): signature, issuer, audience and expiry.
//! Keys come from PEM files or from the issuer's JWKS document, fetched at
//! first use and again when a token names a key the bridge has not seen
//! (issuers rotate keys), at most once a minute.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use crate::config::JwtSettings;

/// Signature algorithms accepted: asymmetric only, so that a public key can
/// never be used as an HMAC secret.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Least time between two JWKS fetches triggered by unknown key ids.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a valid JWT: {0}")]
    Malformed(String),
    #[error("the token's signing key is not known to the bridge")]
    UnknownKey,
    #[error("the token was refused: {0}")]
    Refused(String),
    #[error("the issuer's signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

pub struct JwtVerifier {
    validation: Validation,
    static_keys: Vec<DecodingKey>,
    jwks: Option<JwksSource>,
}

struct JwksSource {
    url: String,
    http: reqwest::Client,
    state: Mutex<JwksState>,
}

#[derive(Default)]
struct JwksState {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl JwtVerifier {
    pub fn new(settings: &JwtSettings) -> Result<JwtVerifier, JwtError> {
        let static_keys = settings
            .public_keys
            .iter()
            .map(|pem| {
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()))
                    .map_err(|e| JwtError::Malformed(format!("a configured public key: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&settings.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = settings.leeway.as_secs();
        let jwks = settings.jwks_url.as_ref().map(|url| JwksSource {
            url: url.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            state: Mutex::new(JwksState::default()),
        });
        Ok(JwtVerifier {
            validation,
            static_keys,
            jwks,
        })
    }

    /// Whether a bearer token has the shape of a JWT (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// Checks signature, issuer, audience and validity period.
    pub async fn verify(&self, token: &str) -> Result<(), JwtError> {
        let header = decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(JwtError::Refused(format!(
                "signature algorithm {:?} is not accepted",
                header.alg
            )));
        }
        // jsonwebtoken wants every listed algorithm to fit the key: list
        // only the token's own, already checked against ALGORITHMS.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let mut refusal = JwtError::UnknownKey;
        for key in &self.static_keys {
            match check(token, key, &validation) {
                Ok(()) => return Ok(()),
                Err(e) => refusal = e,
            }
        }
        let Some(jwks) = &self.jwks else {
            return Err(refusal);
        };
        let kid = header.kid.unwrap_or_default();
        let mut state = jwks.state.lock().await;
        if !state.keys.contains_key(&kid) && state.may_refetch() {
            state.refresh(jwks).await?;
        }
        let key = state.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
        check(token, key, &validation)
    }
}

fn check(token: &str, key: &DecodingKey, validation: &Validation) -> Result<(), JwtError> {
    decode::<serde_json::Value>(token, key, validation)
        .map(|_| ())
        .map_err(|e| JwtError::Refused(e.to_string()))
}

impl JwksState {
    fn may_refetch(&self) -> bool {
        self.fetched_at
            .is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL)
    }

    async fn refresh(&mut self, source: &JwksSource) -> Result<(), JwtError> {
        self.fetched_at = Some(Instant::now());
        let set: JwkSet = source
            .http
            .get(&source.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| JwtError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwtError::KeysUnavailable(e.to_string()))?;
        self.keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        tracing::info!(
            url = source.url,
            keys = self.keys.len(),
            "fetched the JWT issuer's signing keys"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_refetched_for_unknown_ids_at_most_once_a_minute() {
        let mut state = JwksState::default();
        assert!(state.may_refetch(), "the first fetch");
        state.fetched_at = Some(Instant::now());
        assert!(!state.may_refetch());
        state.fetched_at = Instant::now().checked_sub(REFETCH_INTERVAL + Duration::from_secs(1));
        assert!(state.may_refetch());
    }

    #[test]
    fn only_three_part_tokens_are_treated_as_jwts() {
        assert!(JwtVerifier::looks_like_jwt("a.b.c"));
        assert!(!JwtVerifier::looks_like_jwt("static-token-0123456789"));
    }
}
