//! Verification of JWT bearer tokens an OAuth issuer signs (Entra ID's
//! OAuth option for provisioning): signature, issuer, audience and expiry.
//! Keys come from PEM files or from the issuer's JWKS document, fetched at
//! first use and again when a token of this issuer names a key the bridge
//! has not seen (issuers rotate keys), at most once a minute.
//!
//! A fetch that fails, or that finds no usable key, changes nothing: the
//! keys known stay in use, and a token naming an unknown key is answered
//! "keys unavailable" (503), not refused, until a fetch succeeds; it is
//! retried at most every `RETRY_INTERVAL`. A fetch follows no redirect and
//! reads at most `MAX_JWKS_BYTES`.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, PublicKeyUse};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::capped::CappedError;
use crate::config::JwtSettings;
use crate::untrusted::quote;

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

/// Least time between two JWKS fetches triggered by unknown key ids, after
/// one that succeeded.
const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Least time between two JWKS fetches after one that failed: shorter than
/// the Retry-After of the 503 a token then gets, so that its retry finds
/// the keys once the issuer answers again.
const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Largest JWKS document read. A real one is a few kilobytes.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a valid JWT: {0}")]
    Malformed(String),
    /// The token names another issuer; `signed`: yet a key of this one
    /// verified its signature.
    #[error("the token was refused: InvalidIssuer (its iss is no issuer configured here)")]
    ForeignIssuer { signed: bool },
    /// The token's algorithm does not fit the key it was checked against.
    #[error("the token was refused: {0}")]
    KeyMismatch(String),
    #[error("the token's signing key is not known to the bridge")]
    UnknownKey,
    /// The signature did not verify.
    #[error("the token was refused: {0}")]
    Refused(String),
    /// The signature verified; a claim (expiry, audience, issuer...) did not.
    #[error("the token was refused: {0}")]
    Claims(String),
    #[error("the issuer's signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
    #[error("a configured public key file cannot be used as a key: {0}")]
    BadKeyFile(String),
    #[error("the HTTP client for the issuer's JWKS cannot be built: {0}")]
    HttpClient(String),
}

impl JwtError {
    /// How much this refusal says about the token, so that of several
    /// verifiers' refusals the most telling one is reported. From the
    /// verifier of the token's issuer: keys that cannot be fetched (the
    /// token may be valid), then claims refused under a signature that
    /// verified, then a signature that did not verify, then a key of the
    /// wrong kind. Then, from another issuer's verifier: one whose key
    /// verified the signature, and last any other.
    pub fn relevance(&self) -> u8 {
        match self {
            JwtError::KeysUnavailable(_) => 6,
            JwtError::Claims(_) => 5,
            JwtError::Refused(_) | JwtError::UnknownKey => 4,
            JwtError::KeyMismatch(_) => 3,
            JwtError::ForeignIssuer { signed: true } => 2,
            JwtError::ForeignIssuer { signed: false } => 1,
            JwtError::Malformed(_) | JwtError::BadKeyFile(_) | JwtError::HttpClient(_) => 0,
        }
    }

    /// The more relevant of an earlier refusal, if any, and a later one;
    /// the later one on a tie.
    pub fn most_relevant(earlier: Option<JwtError>, later: JwtError) -> JwtError {
        match earlier {
            Some(earlier) if earlier.relevance() > later.relevance() => earlier,
            _ => later,
        }
    }
}

pub struct JwtVerifier {
    issuer: String,
    leeway: u64,
    validation: Validation,
    static_keys: Vec<DecodingKey>,
    jwks: Option<JwksSource>,
}

/// A key of the issuer's JWKS, with the algorithm its `alg` names, if any.
#[derive(Clone)]
struct JwkKey {
    key: DecodingKey,
    alg: Option<Algorithm>,
}

/// The issuer's keys. Known keys are read without waiting: only a token
/// naming an unknown key waits, for the one fetch in flight.
struct JwksSource {
    url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, JwkKey>>,
    /// The last fetch; held for the fetch (single-flight).
    last_fetch: Mutex<Option<Fetch>>,
    refetch_interval: Duration,
    retry_interval: Duration,
}

/// When the keys were last fetched, and why that failed if it did.
struct Fetch {
    at: Instant,
    failure: Option<String>,
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
        let jwks = match &settings.jwks_url {
            None => None,
            Some(url) => Some(JwksSource {
                url: url.clone(),
                // A redirect is answered as a failed fetch: the keys come
                // from the configured address or from nowhere.
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| JwtError::HttpClient(e.to_string()))?,
                keys: RwLock::default(),
                last_fetch: Mutex::new(None),
                refetch_interval: REFETCH_INTERVAL,
                retry_interval: RETRY_INTERVAL,
            }),
        };
        Ok(JwtVerifier {
            issuer: settings.issuer.clone(),
            leeway: settings.leeway.as_secs(),
            validation,
            static_keys,
            jwks,
        })
    }

    /// Whether a bearer token has the shape of a JWT (three dot-separated parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// Checks signature, issuer, audience and validity period. The JWKS is
    /// fetched only for a token that names this verifier's issuer.
    pub async fn verify(&self, token: &str) -> Result<(), JwtError> {
        let header = decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(JwtError::Refused(format!(
                "signature algorithm {:?} is not accepted",
                header.alg
            )));
        }
        // Read before the signature is checked: only to choose what to do
        // and what to say, never to accept.
        let unverified: Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|e| JwtError::Malformed(e.to_string()))?;
        let Some(issuer) = unverified.get("iss").and_then(Value::as_str) else {
            return Err(JwtError::Claims("Missing required claim: iss".into()));
        };
        let own_issuer = issuer == self.issuer;
        // jsonwebtoken wants every listed algorithm to fit the key: list
        // only the token's own, already checked against ALGORITHMS.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let mut refusal = None;
        for key in &self.static_keys {
            match self.check(token, key, None, header.alg, &validation, &unverified) {
                Ok(()) => return Ok(()),
                Err(e) => refusal = Some(JwtError::most_relevant(refusal, e)),
            }
        }
        if let Some(jwks) = &self.jwks {
            let kid = header.kid.as_deref().unwrap_or_default();
            let key = match jwks.key(kid) {
                Some(key) => Ok(key),
                None if own_issuer => jwks.fetch_for(kid).await,
                // Another issuer's token cannot make the bridge fetch.
                None => Err(JwtError::ForeignIssuer { signed: false }),
            };
            let outcome = key.and_then(|k| {
                self.check(token, &k.key, k.alg, header.alg, &validation, &unverified)
            });
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) => refusal = Some(JwtError::most_relevant(refusal, e)),
            }
        }
        let refusal = refusal.unwrap_or(JwtError::UnknownKey);
        // Whatever else is wrong with another issuer's token, that is what
        // this verifier can say about it.
        if !own_issuer {
            return Err(JwtError::ForeignIssuer {
                signed: matches!(refusal, JwtError::Claims(_)),
            });
        }
        Err(refusal)
    }

    /// The token checked against one key; `key_alg`: the one algorithm the
    /// key is for, when its JWK names one.
    fn check(
        &self,
        token: &str,
        key: &DecodingKey,
        key_alg: Option<Algorithm>,
        alg: Algorithm,
        validation: &Validation,
        unverified: &Value,
    ) -> Result<(), JwtError> {
        if key.family() != alg.family() {
            return Err(JwtError::KeyMismatch(format!(
                "it is signed with {alg:?}, which the issuer's key is not for (it is a {:?} key)",
                key.family()
            )));
        }
        if let Some(key_alg) = key_alg.filter(|a| *a != alg) {
            return Err(JwtError::KeyMismatch(format!(
                "it is signed with {alg:?}, and the issuer's key it names is for {key_alg:?} only"
            )));
        }
        let claims = decode::<Value>(token, key, validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind::*;
                match e.kind() {
                    // Given, but not as a number of seconds jsonwebtoken
                    // reads ("exp": "1700000000", or 1e20): saying it is
                    // missing would send the operator looking for it.
                    MissingRequiredClaim(claim) if unverified.get(claim).is_some() => {
                        JwtError::Claims(format!(
                            "the claim {claim} is not a NumericDate (a whole number of seconds since 1970, within range)"
                        ))
                    }
                    InvalidToken if unverified_header_names_crit(token) => JwtError::Refused(
                        "its header lists critical extensions (crit) the bridge does not support".into(),
                    ),
                    ExpiredSignature
                    | InvalidIssuer
                    | InvalidAudience
                    | InvalidSubject
                    | ImmatureSignature
                    | MissingRequiredClaim(_)
                    | InvalidClaimFormat(_)
                    | Json(_) => JwtError::Claims(e.to_string()),
                    _ => JwtError::Refused(e.to_string()),
                }
            })?
            .claims;
        // jsonwebtoken does not look at `iat`: a token issued in the future
        // comes from a wrong clock or a forged timeline.
        let now = jsonwebtoken::get_current_timestamp();
        let issued = claims.get("iat").and_then(Value::as_f64);
        if issued.is_some_and(|iat| iat > now.saturating_add(self.leeway) as f64) {
            return Err(JwtError::Claims(
                "it was issued in the future (iat is later than now)".into(),
            ));
        }
        Ok(())
    }
}

/// Whether the token's header carries `crit` (RFC 7515 §4.1.11), which
/// jsonwebtoken refuses as a bare "InvalidToken".
fn unverified_header_names_crit(token: &str) -> bool {
    use base64::Engine;
    token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .is_some_and(|h| h.get("crit").is_some())
}

impl JwksSource {
    fn key(&self, kid: &str) -> Option<JwkKey> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(kid).cloned()
    }

    /// The key `kid` after fetching the keys again, when that is allowed;
    /// requests arriving during the fetch wait for it instead of fetching.
    /// While the keys cannot be fetched, an unknown key is "unavailable",
    /// not refused: the token may be valid.
    async fn fetch_for(&self, kid: &str) -> Result<JwkKey, JwtError> {
        let mut last = self.last_fetch.lock().await;
        if let Some(key) = self.key(kid) {
            return Ok(key);
        }
        match &*last {
            Some(Fetch {
                at,
                failure: Some(why),
            }) if at.elapsed() < self.retry_interval => {
                return Err(JwtError::KeysUnavailable(why.clone()))
            }
            Some(Fetch { at, failure: None }) if at.elapsed() < self.refetch_interval => {
                return Err(JwtError::UnknownKey)
            }
            _ => {}
        }
        let failure = match self.fetch().await {
            Ok(keys) => {
                // Keys the issuer no longer publishes go: rotation removes them.
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
                None
            }
            Err(why) => {
                tracing::warn!(
                    url = self.url,
                    reason = why,
                    "cannot fetch the JWT issuer's signing keys; the keys already known stay in use"
                );
                Some(why)
            }
        };
        *last = Some(Fetch {
            at: Instant::now(),
            failure: failure.clone(),
        });
        match failure {
            Some(why) => Err(JwtError::KeysUnavailable(why)),
            None => self.key(kid).ok_or(JwtError::UnknownKey),
        }
    }

    /// The issuer's signing keys, at least one; anything else is a failure,
    /// said in words.
    async fn fetch(&self) -> Result<HashMap<String, JwkKey>, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_redirection() {
            let to = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return Err(format!(
                "{} answered {status}, a redirect to {}, which is not followed: set jwks_url to the address that serves the keys",
                self.url,
                quote(&to)
            ));
        }
        if !status.is_success() {
            return Err(format!("{} answered {status}", self.url));
        }
        let too_big = || {
            format!(
                "{} sends more than {MAX_JWKS_BYTES} bytes, far more than a JWKS of a few keys",
                self.url
            )
        };
        let body = crate::capped::read_capped(response, MAX_JWKS_BYTES)
            .await
            .map_err(|e| match e {
                CappedError::TooLong { .. } => too_big(),
                CappedError::Transport(e) => e.to_string(),
            })?;
        let set: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| format!("{} did not answer a JWKS document: {e}", self.url))?;
        let keys: HashMap<String, JwkKey> = set
            .keys
            .iter()
            .filter(|jwk| jwk.common.public_key_use != Some(PublicKeyUse::Encryption))
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                // A key whose `alg` is no signature algorithm (RSA-OAEP...)
                // verifies nothing.
                let alg = match jwk.common.key_algorithm {
                    None => None,
                    Some(alg) => Some(alg.to_string().parse::<Algorithm>().ok()?),
                };
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, JwkKey { key, alg }))
            })
            .collect();
        if keys.is_empty() {
            return Err(format!(
                "{} lists no usable signing key ({} keys, none with a key id and a supported type)",
                self.url,
                set.keys.len()
            ));
        }
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/jwt/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).expect("fixture")
    }

    fn claims() -> Value {
        let now = chrono::Utc::now().timestamp();
        serde_json::json!({"iss": "issuer", "aud": "bridge", "exp": now + 600})
    }

    fn signed(kid: &str, alg: Algorithm, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(kid.to_string());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(fixture("issuer-private.pem").as_bytes())
            .expect("key");
        jsonwebtoken::encode(&header, &claims, &key).expect("token")
    }

    fn token(kid: &str) -> String {
        signed(kid, Algorithm::RS256, &claims())
    }

    fn verifier(url: String) -> JwtVerifier {
        JwtVerifier::new(&JwtSettings {
            issuer: "issuer".into(),
            audience: vec!["bridge".into()],
            jwks_url: Some(url),
            public_keys: Vec::new(),
            leeway: Duration::ZERO,
        })
        .expect("verifier")
    }

    fn jwks(verifier: &mut JwtVerifier) -> &mut JwksSource {
        verifier.jwks.as_mut().expect("a JWKS source")
    }

    /// What an issuer answers its n-th request (from 0) with: status line,
    /// headers, body.
    type Script = Arc<dyn Fn(usize) -> (String, String) + Send + Sync>;

    /// A JWKS server answering each request as `script` says, one request
    /// per connection; its URL and how many requests it has had.
    async fn issuer(script: Script) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/keys", listener.local_addr().expect("addr"));
        let count = Arc::new(AtomicUsize::new(0));
        let requests = count.clone();
        tokio::spawn(async move {
            while let Ok((mut connection, _)) = listener.accept().await {
                let n = requests.fetch_add(1, Ordering::SeqCst);
                let (head, body) = script(n);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match connection.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => request.extend_from_slice(&buf[..read]),
                        }
                    }
                    let answer = format!(
                        "{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = connection.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, count)
    }

    fn ok(body: &str) -> (String, String) {
        (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json".into(),
            body.into(),
        )
    }

    fn failing() -> (String, String) {
        ("HTTP/1.1 500 Internal Server Error".into(), "down".into())
    }

    #[tokio::test]
    async fn an_unknown_key_is_unavailable_while_the_keys_cannot_be_fetched_not_refused() {
        let jwks_json = fixture("jwks.json");
        let (url, requests) = issuer(Arc::new(
            move |n| {
                if n == 0 {
                    failing()
                } else {
                    ok(&jwks_json)
                }
            },
        ))
        .await;
        let mut verifier = verifier(url);
        jwks(&mut verifier).retry_interval = Duration::from_millis(300);
        let valid = token("test-key-1");

        let first = verifier.verify(&valid).await;
        assert!(
            matches!(&first, Err(JwtError::KeysUnavailable(why)) if why.contains("500")),
            "{first:?}"
        );
        // Within the retry interval: not fetched again, and still not a refusal.
        let again = verifier.verify(&valid).await;
        assert!(
            matches!(again, Err(JwtError::KeysUnavailable(_))),
            "{again:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 1);

        tokio::time::sleep(Duration::from_millis(350)).await;
        let recovered = verifier.verify(&valid).await;
        assert!(recovered.is_ok(), "{recovered:?}");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_or_empty_refetch_keeps_the_known_keys() {
        let jwks_json = fixture("jwks.json");
        let (url, requests) = issuer(Arc::new(move |n| match n {
            0 => ok(&jwks_json),
            1 => ok(r#"{"keys":[]}"#),
            _ => failing(),
        }))
        .await;
        let mut verifier = verifier(url);
        let valid = token("test-key-1");
        assert!(verifier.verify(&valid).await.is_ok());

        jwks(&mut verifier).refetch_interval = Duration::ZERO;
        jwks(&mut verifier).retry_interval = Duration::ZERO;
        // A forged token naming an unknown key, as the JWKS answers empty,
        // then as it fails.
        for _ in 0..2 {
            let forged = verifier.verify(&token("attacker")).await;
            assert!(
                matches!(forged, Err(JwtError::KeysUnavailable(_))),
                "{forged:?}"
            );
            let answer = verifier.verify(&valid).await;
            assert!(answer.is_ok(), "the known keys stay: {answer:?}");
        }
        assert_eq!(requests.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn unknown_key_ids_refetch_at_most_once_an_interval() {
        let jwks_json = fixture("jwks.json");
        let empty = r#"{"keys":[]}"#;
        let (url, requests) = issuer(Arc::new(
            move |n| {
                if n == 0 {
                    ok(&jwks_json)
                } else {
                    ok(empty)
                }
            },
        ))
        .await;
        let verifier = verifier(url);
        assert!(verifier.verify(&token("test-key-1")).await.is_ok());
        for _ in 0..5 {
            let answer = verifier.verify(&token("attacker")).await;
            assert!(matches!(answer, Err(JwtError::UnknownKey)), "{answer:?}");
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1, "after a success");

        let (url, requests) = issuer(Arc::new(move |_| ok(empty))).await;
        let verifier = super::tests::verifier(url);
        for _ in 0..5 {
            let answer = verifier.verify(&token("attacker")).await;
            assert!(
                matches!(answer, Err(JwtError::KeysUnavailable(_))),
                "{answer:?}"
            );
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1, "after a failure");
    }

    #[tokio::test]
    async fn a_token_of_another_issuer_makes_no_fetch() {
        let (url, requests) = issuer(Arc::new(|_| failing())).await;
        let verifier = verifier(url);
        let mut foreign = claims();
        foreign["iss"] = "someone-else".into();
        let answer = verifier
            .verify(&signed("attacker", Algorithm::RS256, &foreign))
            .await;
        assert!(
            matches!(answer, Err(JwtError::ForeignIssuer { signed: false })),
            "{answer:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_redirect_is_a_failed_fetch_not_followed() {
        let jwks_json = fixture("jwks.json");
        let (url, requests) = issuer(Arc::new(move |n| {
            if n == 0 {
                (
                    "HTTP/1.1 302 Found\r\nlocation: /elsewhere".into(),
                    String::new(),
                )
            } else {
                ok(&jwks_json)
            }
        }))
        .await;
        let verifier = verifier(url);
        let answer = verifier.verify(&token("test-key-1")).await;
        assert!(
            matches!(&answer, Err(JwtError::KeysUnavailable(why)) if why.contains("302") && why.contains("/elsewhere") && why.contains("not followed")),
            "{answer:?}"
        );
        assert_eq!(
            requests.load(Ordering::SeqCst),
            1,
            "/elsewhere is not asked"
        );
    }

    #[tokio::test]
    async fn a_jwks_is_read_up_to_a_mebibyte() {
        // An issuer that sends a JWKS without end, and no length.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/keys", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((mut connection, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let _ = connection.read(&mut buf).await;
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"keys\":[";
                    let _ = connection.write_all(head.as_bytes()).await;
                    let filler = vec![b' '; 64 * 1024];
                    while connection.write_all(&filler).await.is_ok() {}
                });
            }
        });
        let verifier = verifier(url);
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            verifier.verify(&token("test-key-1")),
        )
        .await
        .expect("the fetch stops at the cap, not at the timeout");
        assert!(
            matches!(&answer, Err(JwtError::KeysUnavailable(why)) if why.contains("more than 1048576 bytes")),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn a_jwks_key_verifies_only_the_algorithm_it_names() {
        let jwks_json = fixture("jwks.json");
        let (url, _) = issuer(Arc::new(move |_| ok(&jwks_json))).await;
        let verifier = verifier(url);
        assert!(verifier.verify(&token("test-key-1")).await.is_ok());
        // The same RSA key, but the fixture's JWK says "alg": "RS256".
        let answer = verifier
            .verify(&signed("test-key-1", Algorithm::RS384, &claims()))
            .await;
        assert!(
            matches!(&answer, Err(JwtError::KeyMismatch(why)) if why.contains("RS384") && why.contains("for RS256 only")),
            "{answer:?}"
        );
    }

    /// A claim given in a form jsonwebtoken cannot read is not "missing",
    /// and a `crit` header is named (an outside tester saw "Missing
    /// required claim: exp" and "InvalidToken").
    #[tokio::test]
    async fn a_refusal_names_what_is_wrong_with_the_token() {
        let jwks_json = fixture("jwks.json");
        let (url, _) = issuer(Arc::new(move |_| ok(&jwks_json))).await;
        let verifier = verifier(url);
        let later = chrono::Utc::now().timestamp() + 600;
        for exp in [
            serde_json::json!(later.to_string()),
            serde_json::json!(1e20),
        ] {
            let mut odd = claims();
            odd["exp"] = exp;
            let answer = verifier
                .verify(&signed("test-key-1", Algorithm::RS256, &odd))
                .await;
            assert!(
                matches!(&answer, Err(JwtError::Claims(why)) if why.contains("exp is not a NumericDate")),
                "{answer:?}"
            );
        }
        let mut missing = claims();
        missing.as_object_mut().unwrap().remove("exp");
        let answer = verifier
            .verify(&signed("test-key-1", Algorithm::RS256, &missing))
            .await;
        assert!(
            matches!(&answer, Err(JwtError::Claims(why)) if why.contains("Missing required claim: exp")),
            "{answer:?}"
        );
        // A header with `crit`, signed by the issuer's key.
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(fixture("issuer-private.pem").as_bytes())
            .expect("key");
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "test-key-1", "crit": ["foo"], "foo": 1});
        let encode = |v: &Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let message = format!("{}.{}", encode(&header), encode(&claims()));
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256)
            .expect("signature");
        let answer = verifier.verify(&format!("{message}.{signature}")).await;
        assert!(
            matches!(&answer, Err(e) if e.to_string().contains("crit")),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn a_token_issued_in_the_future_is_refused() {
        let jwks_json = fixture("jwks.json");
        let (url, _) = issuer(Arc::new(move |_| ok(&jwks_json))).await;
        let verifier = verifier(url);
        let mut future = claims();
        future["iat"] = (chrono::Utc::now().timestamp() + 3600).into();
        let answer = verifier
            .verify(&signed("test-key-1", Algorithm::RS256, &future))
            .await;
        assert!(
            matches!(&answer, Err(JwtError::Claims(why)) if why.contains("iat")),
            "{answer:?}"
        );
        let mut past = claims();
        past["iat"] = (chrono::Utc::now().timestamp() - 60).into();
        let answer = verifier
            .verify(&signed("test-key-1", Algorithm::RS256, &past))
            .await;
        assert!(answer.is_ok(), "{answer:?}");
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
        let verifier = Arc::new(verifier(url));
        let jwks = verifier.jwks.as_ref().expect("a JWKS source");
        let known =
            DecodingKey::from_rsa_pem(fixture("issuer-public.pem").as_bytes()).expect("key");
        *jwks.keys.write().expect("lock") = HashMap::from([(
            "known".to_string(),
            JwkKey {
                key: known,
                alg: None,
            },
        )]);

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
