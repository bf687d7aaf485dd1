//! The `simple_oauth` module's client-credentials grant: `POST /oauth/token`
//! issues a JWT access token (HS256 here; the module signs RS256) that then
//! authenticates JSON:API requests as the consumer's configured user.

use std::collections::HashMap;

use serde_json::json;

use super::auth::random_token;
use super::request::{Incoming, Reply};
use super::state::Site;

/// simple_oauth's default access token lifetime, in seconds.
pub(crate) const DEFAULT_TOKEN_LIFETIME: i64 = 300;

/// An OAuth2 consumer: who may ask for tokens, and whom they act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClientSeed {
    pub client_id: String,
    pub secret: String,
    /// Name of the account requests with this client's tokens run as.
    pub user: String,
}

#[derive(Debug)]
pub(crate) struct Tokens {
    /// The HS256 signing secret.
    secret: String,
    issued: HashMap<String, Issued>,
    pub(crate) lifetime: i64,
}

#[derive(Debug, Clone)]
struct Issued {
    uid: u64,
    expires: i64,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            secret: random_token(),
            issued: HashMap::new(),
            lifetime: DEFAULT_TOKEN_LIFETIME,
        }
    }
}

impl Tokens {
    fn issue(&mut self, client_id: &str, uid: u64, now: i64) -> String {
        let claims = json!({
            "aud": client_id,
            "jti": random_token(),
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "sub": uid.to_string(),
            "scope": ["authenticated"],
        });
        // Signing a JSON value with an HMAC secret cannot fail; an empty
        // token would only be refused when presented.
        let token = jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes())
            .and_then(|key| jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key))
            .unwrap_or_default();
        // simple_oauth's cron purges expired tokens
        // (`simple_oauth.expired_collector`); here every issue does, so the
        // tokens kept are those still valid, not every one ever issued.
        self.issued.retain(|_, t| t.expires > now);
        self.issued.insert(
            token.clone(),
            Issued {
                uid,
                expires: now + self.lifetime,
            },
        );
        token
    }

    /// The account a token acts as, while it is valid.
    pub(crate) fn user_of(&self, token: &str, now: i64) -> Option<u64> {
        self.issued
            .get(token)
            .filter(|t| t.expires > now)
            .map(|t| t.uid)
    }

    /// Revokes every token (as deleting the consumer's tokens does).
    pub(crate) fn revoke_all(&mut self) {
        self.issued.clear();
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> Reply {
    let body = json!({
        "error": error,
        "error_description": description,
        "message": description,
    });
    Reply::new(status, "application/json", body.to_string().into_bytes())
}

/// `POST /oauth/token` with `grant_type=client_credentials`.
pub(crate) fn token(site: &mut Site, incoming: &Incoming) -> Reply {
    if incoming.method != "POST" {
        return oauth_error(
            405,
            "invalid_request",
            "The token endpoint only accepts POST.",
        );
    }
    let form: HashMap<String, String> = url_form(&incoming.body);
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    let client = form.get("client_id").and_then(|id| {
        site.oauth_clients
            .iter()
            .find(|c| &c.client_id == id)
            .cloned()
    });
    let Some(client) = client.filter(|c| form.get("client_secret") == Some(&c.secret)) else {
        return oauth_error(401, "invalid_client", "Client authentication failed");
    };
    let Some(uid) = site
        .user_by_name(&client.user)
        .filter(|u| u.status)
        .map(|u| u.uid)
    else {
        return oauth_error(
            400,
            "invalid_grant",
            "The user configured on the consumer cannot be used.",
        );
    };
    let now = site.now();
    let access_token = site.tokens.issue(&client.client_id, uid, now);
    let body = json!({
        "token_type": "Bearer",
        "expires_in": site.tokens.lifetime,
        "access_token": access_token,
    });
    Reply::new(200, "application/json", body.to_string().into_bytes())
}

fn url_form(body: &[u8]) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::config::StandInConfig;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::Value;

    fn jwt_claims(token: &str) -> Option<Value> {
        let payload = token.split('.').nth(1)?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }

    fn site() -> Site {
        let mut config = StandInConfig::demo("pw");
        config.oauth_clients.push(OAuthClientSeed {
            client_id: "bridge".into(),
            secret: "s3cret".into(),
            user: "admin".into(),
        });
        Site::new(&config).unwrap()
    }

    fn request(body: &str) -> Incoming {
        Incoming {
            method: "POST".into(),
            path: "/oauth/token".into(),
            content_type: Some("application/x-www-form-urlencoded".into()),
            body: body.as_bytes().to_vec(),
            ..Incoming::default()
        }
    }

    #[test]
    fn client_credentials_give_a_jwt_that_acts_as_the_consumers_user() {
        let mut site = site();
        let reply = token(
            &mut site,
            &request("grant_type=client_credentials&client_id=bridge&client_secret=s3cret"),
        );
        assert_eq!(reply.status, 200);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 300);
        let jwt = body["access_token"].as_str().unwrap();
        assert_eq!(jwt.split('.').count(), 3);
        let claims = jwt_claims(jwt).unwrap();
        assert_eq!(claims["sub"], "1");
        let now = site.now();
        assert_eq!(claims["exp"].as_i64().unwrap() - now, 300);
        assert_eq!(site.tokens.user_of(jwt, now), Some(1));
        assert_eq!(site.tokens.user_of(jwt, now + 300), None, "expired");
    }

    #[test]
    fn expired_tokens_are_purged_when_a_new_one_is_issued() {
        let mut tokens = Tokens::default();
        let first = tokens.issue("bridge", 1, 0);
        let second = tokens.issue("bridge", 1, DEFAULT_TOKEN_LIFETIME - 1);
        assert_eq!(tokens.issued.len(), 2, "both still valid");
        for n in 0..100 {
            tokens.issue("bridge", 1, DEFAULT_TOKEN_LIFETIME * (2 + n));
        }
        assert_eq!(tokens.issued.len(), 1, "only the latest is valid");
        assert!(!tokens.issued.contains_key(&first));
        assert!(!tokens.issued.contains_key(&second));
    }

    #[test]
    fn a_wrong_secret_is_invalid_client_and_other_grants_are_unsupported() {
        let mut site = site();
        let wrong = token(
            &mut site,
            &request("grant_type=client_credentials&client_id=bridge&client_secret=nope"),
        );
        assert_eq!(wrong.status, 401);
        let body: Value = serde_json::from_slice(&wrong.body).unwrap();
        assert_eq!(body["error"], "invalid_client");
        let password = token(&mut site, &request("grant_type=password&username=a"));
        assert_eq!(password.status, 400);
    }
}
