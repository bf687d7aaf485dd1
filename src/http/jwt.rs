//! Verification of JWT bearer tokens an OAuth issuer signs (Entra ID's
//! OAuth option for provisioning): signature, issuer, audience and expiry.
//! Keys come from PEM files or from the issuer's JWKS document, fetched at
//! first use and again when a token names a key the bridge has not seen
//! (issuers rotate keys), at most once a minute.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
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
    #[error("a configured public key file cannot be used as a key: {0}")]
    BadKeyFile(String),
}

pub struct JwtVerifier {
    validation: Validation,
    static_keys: Vec<DecodingKey>,
    jwks: Option<JwksSource>,
}

/// The issuer's keys. Known keys are read without waiting: only a token
/// naming an unknown key waits, for the one fetch in flight.
struct JwksSource {
    url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When the keys were last fetched; held for the fetch (single-flight).
    fetched_at: Mutex<Option<Instant>>,
}

impl JwtVerifier {
    pub fn new(settings: &JwtSettings) -> Result<JwtVerifier, JwtError> {
        let static_keys = settings
            .public_keys
            .iter()
            .map(|pem| {
                DecodingKey::from_rsa_pem(pem.as_bytes())
                    .or_else(|_| DecodingKey::from_ec_pem(pem.as_bytes()))
                    .map_err(|e| JwtError::BadKeyFile(e.to_string()))
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
            keys: RwLock::default(),
            fetched_at: Mutex::new(None),
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
        let key = match jwks.key(&kid) {
            Some(key) => key,
            None => jwks.fetch_for(&kid).await?,
        };
        check(token, &key, &validation)
    }
}

fn check(token: &str, key: &DecodingKey, validation: &Validation) -> Result<(), JwtError> {
    decode::<serde_json::Value>(token, key, validation)
        .map(|_| ())
        .map_err(|e| JwtError::Refused(e.to_string()))
}

/// Whether a token naming an unknown key may make the bridge fetch the
/// keys again: the first time, then at most once per `REFETCH_INTERVAL`.
fn may_refetch(fetched_at: Option<Instant>) -> bool {
    fetched_at.is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL)
}

impl JwksSource {
    fn key(&self, kid: &str) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(kid).cloned()
    }

    /// The key `kid` after fetching the keys again, when that is allowed;
    /// requests arriving during the fetch wait for it instead of fetching.
    async fn fetch_for(&self, kid: &str) -> Result<DecodingKey, JwtError> {
        let mut fetched_at = self.fetched_at.lock().await;
        if let Some(key) = self.key(kid) {
            return Ok(key);
        }
        if !may_refetch(*fetched_at) {
            return Err(JwtError::UnknownKey);
        }
        *fetched_at = Some(Instant::now());
        let keys = self.fetch().await?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        self.key(kid).ok_or(JwtError::UnknownKey)
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, JwtError> {
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| JwtError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwtError::KeysUnavailable(e.to_string()))?;
        let keys: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        tracing::info!(
            url = self.url,
            keys = keys.len(),
            "fetched the JWT issuer's signing keys"
        );
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn keys_are_refetched_for_unknown_ids_at_most_once_a_minute() {
        assert!(may_refetch(None), "the first fetch");
        assert!(!may_refetch(Some(Instant::now())));
        let long_ago = Instant::now().checked_sub(REFETCH_INTERVAL + Duration::from_secs(1));
        assert!(may_refetch(long_ago));
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).expect("fixture")
    }

    fn token(kid: &str) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"iss": "issuer", "aud": "bridge", "exp": now + 600});
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(fixture("issuer-private.pem").as_bytes())
            .expect("key");
        jsonwebtoken::encode(&header, &claims, &key).expect("token")
    }

    #[tokio::test]
    async fn a_known_key_is_not_held_up_by_a_fetch_for_an_unknown_one() {
        // An issuer that accepts the connection and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/keys", silent.local_addr().expect("addr"));
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((connection, _)) = silent.accept().await {
                held.push(connection);
            }
        });
        let verifier = Arc::new(
            JwtVerifier::new(&JwtSettings {
                issuer: "issuer".into(),
                audience: vec!["bridge".into()],
                jwks_url: Some(url),
                public_keys: Vec::new(),
                leeway: Duration::ZERO,
            })
            .expect("verifier"),
        );
        let jwks = verifier.jwks.as_ref().expect("a JWKS source");
        let known =
            DecodingKey::from_rsa_pem(fixture("issuer-public.pem").as_bytes()).expect("key");
        *jwks.keys.write().expect("lock") = HashMap::from([("known".to_string(), known)]);

        let stalled = verifier.clone();
        let fetching = tokio::spawn(async move { stalled.verify(&token("rotated")).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let answer =
            tokio::time::timeout(Duration::from_secs(1), verifier.verify(&token("known"))).await;
        assert!(matches!(answer, Ok(Ok(()))), "{answer:?}");
        assert!(
            !fetching.is_finished(),
            "the fetch is still waiting for the issuer"
        );
        fetching.abort();
    }

    #[test]
    fn only_three_part_tokens_are_treated_as_jwts() {
        assert!(JwtVerifier::looks_like_jwt("a.b.c"));
        assert!(!JwtVerifier::looks_like_jwt("static-token-0123456789"));
    }
}
