//! The SCIM clients of one site and how each proves itself: static tokens
//! (compared in constant time, every one of them), SHA-256 digests of
//! tokens, or JWTs an issuer signs. Authentication answers which client
//! called, never why another client's credential did not fit.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::jwt::{JwtError, JwtVerifier};
use crate::config::{ClientCredential, ScimSettings, Secret};

/// The client names of the legacy keys `scim.tokens` and `scim.jwt`.
pub use crate::config::{DEFAULT_CLIENT, JWT_CLIENT};

/// One configured client, as the request log and the audit trail name it.
#[derive(Debug, Clone)]
pub struct Client {
    pub name: Arc<str>,
    pub read_only: bool,
}

/// Why a bearer token opened no client.
#[derive(Debug)]
pub enum Refusal {
    /// Fits no client; the text says why a JWT was refused, if one was.
    Invalid(Option<String>),
    /// A JWT that might fit, but the issuer's keys cannot be fetched now.
    KeysUnavailable(String),
}

pub struct Clients {
    clients: Vec<Client>,
    /// Each token with the index of its client.
    tokens: Vec<(Secret, usize)>,
    digests: Vec<([u8; 32], usize)>,
    jwt: Vec<(JwtVerifier, usize)>,
}

impl Clients {
    pub fn new(scim: &ScimSettings) -> Result<Clients, JwtError> {
        let mut clients = Clients {
            clients: Vec::new(),
            tokens: Vec::new(),
            digests: Vec::new(),
            jwt: Vec::new(),
        };
        if !scim.tokens.is_empty() {
            let n = clients.add(DEFAULT_CLIENT, false);
            clients
                .tokens
                .extend(scim.tokens.iter().map(|t| (t.clone(), n)));
        }
        if let Some(jwt) = &scim.jwt {
            let n = clients.add(JWT_CLIENT, false);
            clients.jwt.push((JwtVerifier::new(jwt)?, n));
        }
        for client in &scim.clients {
            let n = clients.add(&client.name, client.read_only);
            match &client.credential {
                ClientCredential::Tokens(tokens) => {
                    clients.tokens.extend(tokens.iter().map(|t| (t.clone(), n)))
                }
                ClientCredential::Sha256(digest) => clients.digests.push((*digest, n)),
                ClientCredential::Jwt(settings) => {
                    clients.jwt.push((JwtVerifier::new(settings)?, n))
                }
            }
        }
        Ok(clients)
    }

    fn add(&mut self, name: &str, read_only: bool) -> usize {
        self.clients.push(Client {
            name: name.into(),
            read_only,
        });
        self.clients.len() - 1
    }

    /// The client this bearer token opens.
    pub async fn authenticate(&self, token: &str) -> Result<&Client, Refusal> {
        if let Some(n) = self.static_match(token) {
            return Ok(&self.clients[n]);
        }
        if self.jwt.is_empty() || !JwtVerifier::looks_like_jwt(token) {
            return Err(Refusal::Invalid(None));
        }
        // Of the verifiers' refusals, the one that says most about this
        // token (from the verifier of its issuer, or whose key verified its
        // signature), never merely the last one's.
        let mut refusal: Option<JwtError> = None;
        for (verifier, n) in &self.jwt {
            match verifier.verify(token).await {
                Ok(()) => return Ok(&self.clients[*n]),
                Err(e) => refusal = Some(JwtError::most_relevant(refusal, e)),
            }
        }
        Err(match refusal {
            Some(JwtError::KeysUnavailable(reason)) => Refusal::KeysUnavailable(reason),
            other => Refusal::Invalid(other.map(|e| e.to_string())),
        })
    }

    /// Every token and every digest is compared, in constant time each, so
    /// the time taken tells nothing about which came close.
    fn static_match(&self, token: &str) -> Option<usize> {
        let mut found = None;
        for (expected, n) in &self.tokens {
            if bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())) {
                found = Some(*n);
            }
        }
        if !self.digests.is_empty() {
            let digest = Sha256::digest(token.as_bytes());
            for (expected, n) in &self.digests {
                if bool::from(digest.as_slice().ct_eq(expected)) {
                    found = Some(*n);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ScimClient;

    fn settings(tokens: &[&str], clients: Vec<ScimClient>) -> ScimSettings {
        ScimSettings {
            tokens: tokens.iter().map(|t| Secret::new(*t)).collect(),
            jwt: None,
            clients,
            public_url: None,
            trusted_proxies: Vec::new(),
            max_body_bytes: 1024,
        }
    }

    #[actix_web::test]
    async fn each_token_opens_its_own_client() {
        let digest: [u8; 32] = Sha256::digest(b"hashed-token-cccc").into();
        let clients = Clients::new(&settings(
            &["first-token-aaaa"],
            vec![
                ScimClient {
                    name: "okta".into(),
                    read_only: false,
                    credential: ClientCredential::Tokens(vec![Secret::new("okta-token-bbbbbb")]),
                },
                ScimClient {
                    name: "auditor".into(),
                    read_only: true,
                    credential: ClientCredential::Sha256(digest),
                },
            ],
        ))
        .unwrap();
        let name = |token: &'static str| {
            let clients = &clients;
            async move {
                clients
                    .authenticate(token)
                    .await
                    .map(|c| (c.name.to_string(), c.read_only))
                    .ok()
            }
        };
        assert_eq!(
            name("first-token-aaaa").await,
            Some(("default".into(), false))
        );
        assert_eq!(
            name("okta-token-bbbbbb").await,
            Some(("okta".into(), false))
        );
        assert_eq!(
            name("hashed-token-cccc").await,
            Some(("auditor".into(), true))
        );
        assert_eq!(name("hashed-token-ccc").await, None);
        assert_eq!(name("first-token-aaa").await, None);
        assert_eq!(name("").await, None);
    }
}
