//! The `scim:` section: who may call the bridge, and how it answers.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{read_secret_file, ConfigError, IpRange};
use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScim {
    /// Bearer tokens the identity providers present.
    #[serde(default)]
    tokens: Vec<Secret>,
    /// A file holding one token per line (e.g. a mounted secret).
    token_file: Option<PathBuf>,
    /// Public base URL of the SCIM API (for `Location` and `meta.location`)
    /// when the bridge sits behind a proxy; default: taken from each request.
    public_url: Option<String>,
    /// Proxies (addresses or CIDR blocks) whose `Forwarded`,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` headers are believed when
    /// `public_url` is not set. Default: none.
    #[serde(default)]
    trusted_proxies: Vec<String>,
    /// Largest accepted request body, in bytes. Default 1 MiB.
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: usize,
    /// Also accept JWT bearer tokens an OAuth issuer signs (Entra's OAuth
    /// option), instead of or next to static tokens.
    jwt: Option<RawJwt>,
    /// Named clients: each its own credential, its name in the logs, and
    /// optionally read-only. `tokens` and `jwt` above stay valid next to
    /// them (as the clients `default` and `jwt`).
    #[serde(default)]
    clients: Vec<RawClient>,
}

/// One named SCIM client: exactly one of `token`, `token_file`,
/// `token_sha256` or `jwt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClient {
    name: String,
    token: Option<Secret>,
    /// A file holding the client's token(s), one per line.
    token_file: Option<PathBuf>,
    /// The SHA-256 of the token, in hex (`printf %s "$TOKEN" | sha256sum`),
    /// so that the file does not hold the secret itself.
    token_sha256: Option<String>,
    jwt: Option<RawJwt>,
    /// Reads only: every write is answered 403.
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJwt {
    /// Required `iss` claim, e.g. `https://sts.windows.net/<tenant id>/`.
    issuer: String,
    /// Accepted `aud` claims.
    audience: Vec<String>,
    /// Where the issuer publishes its signing keys (JWKS), fetched at first
    /// use and again when a token names an unknown key.
    jwks_url: Option<String>,
    /// PEM public keys (RSA or EC), for issuers whose keys are copied in.
    #[serde(default)]
    public_key_files: Vec<PathBuf>,
    /// Clock skew tolerated on `exp` / `nbf`, in seconds. Default 60.
    #[serde(default = "default_leeway_secs")]
    leeway_secs: u64,
}

fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_leeway_secs() -> u64 {
    60
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScimSettings {
    /// `scim.tokens` and `scim.token_file`: the client `default`.
    pub tokens: Vec<Secret>,
    /// `scim.jwt`: the client `jwt`.
    pub jwt: Option<JwtSettings>,
    /// `scim.clients`.
    pub clients: Vec<ScimClient>,
    pub public_url: Option<String>,
    pub trusted_proxies: Vec<IpRange>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScimClient {
    /// Letters, digits, `.`, `_`, `-`; in every log line of its requests.
    pub name: String,
    pub read_only: bool,
    pub credential: ClientCredential,
}

/// How a named client proves itself.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCredential {
    /// Any of these bearer tokens.
    Tokens(Vec<Secret>),
    /// A bearer token whose SHA-256 is this.
    Sha256([u8; 32]),
    /// A JWT this issuer signed.
    Jwt(JwtSettings),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: Vec<String>,
    pub jwks_url: Option<String>,
    /// PEM texts of the configured public keys.
    pub public_keys: Vec<String>,
    pub leeway: Duration,
}

impl RawScim {
    pub(super) fn resolve(self) -> Result<ScimSettings, ConfigError> {
        let mut tokens: Vec<Secret> = self
            .tokens
            .into_iter()
            .filter(|t| !t.expose().trim().is_empty())
            .collect();
        if let Some(path) = &self.token_file {
            let text = read_secret_file(path)?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Secret::new),
            );
        }
        let jwt = self.jwt.map(RawJwt::resolve).transpose()?;
        let clients = self
            .clients
            .into_iter()
            .map(RawClient::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        if tokens.is_empty() && jwt.is_none() && clients.is_empty() {
            return Err(ConfigError::Invalid(
                "scim: no bearer token configured; set scim.tokens, scim.token_file, scim.jwt or scim.clients"
                    .into(),
            ));
        }
        if tokens.iter().any(|t| t.expose().len() < MIN_TOKEN_LEN) {
            return Err(ConfigError::Invalid(
                "scim: every bearer token must be at least 16 characters long".into(),
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for client in &clients {
            let reserved = (client.name == DEFAULT_CLIENT && !tokens.is_empty())
                || (client.name == JWT_CLIENT && jwt.is_some());
            if names.contains(&client.name.as_str()) || reserved {
                return Err(ConfigError::Invalid(format!(
                    "scim.clients: the name {:?} is used twice; each client needs its own name (\"default\" is scim.tokens', \"jwt\" scim.jwt's)",
                    client.name
                )));
            }
            names.push(&client.name);
        }
        let mut all_tokens: Vec<&str> = tokens.iter().map(Secret::expose).collect();
        for client in &clients {
            if let ClientCredential::Tokens(own) = &client.credential {
                for token in own {
                    if all_tokens.contains(&token.expose()) {
                        return Err(ConfigError::Invalid(format!(
                            "scim.clients: client {:?} has a token another client of this site has too; give each client its own token, so the logs name the right one",
                            client.name
                        )));
                    }
                    all_tokens.push(token.expose());
                }
            }
        }

        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<IpRange>()
                    .map_err(|e| ConfigError::Invalid(format!("scim.trusted_proxies: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let public_url = self.public_url.map(|u| u.trim_end_matches('/').to_string());
        if let Some(url) = &public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::Invalid(format!(
                    "scim.public_url: {url:?} must start with https:// or http://"
                )));
            }
        }
        Ok(ScimSettings {
            tokens,
            jwt,
            clients,
            public_url,
            trusted_proxies,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

/// Shortest bearer token accepted.
const MIN_TOKEN_LEN: usize = 16;
/// The client name of `scim.tokens` / `scim.token_file`.
pub const DEFAULT_CLIENT: &str = "default";
/// The client name of `scim.jwt`.
pub const JWT_CLIENT: &str = "jwt";

impl RawClient {
    fn resolve(self) -> Result<ScimClient, ConfigError> {
        let name = self.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(ConfigError::Invalid(format!(
                "scim.clients: the name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-' (it is written in every log line)"
            )));
        }
        let credential = match (self.token, self.token_file, self.token_sha256, self.jwt) {
            (Some(token), None, None, None) => ClientCredential::Tokens(vec![token]),
            (None, Some(path), None, None) => {
                let tokens: Vec<Secret> = read_secret_file(&path)?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Secret::new)
                    .collect();
                if tokens.is_empty() {
                    return Err(ConfigError::Invalid(format!(
                        "scim.clients[{name}].token_file: {} holds no token",
                        path.display()
                    )));
                }
                ClientCredential::Tokens(tokens)
            }
            (None, None, Some(hex), None) => {
                ClientCredential::Sha256(parse_sha256(&hex).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "scim.clients[{name}].token_sha256: must be 64 hexadecimal digits, as `printf %s \"$TOKEN\" | sha256sum` prints them"
                    ))
                })?)
            }
            (None, None, None, Some(jwt)) => ClientCredential::Jwt(jwt.resolve()?),
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "scim.clients[{name}]: give exactly one of token, token_file, token_sha256 or jwt"
                )))
            }
        };
        if let ClientCredential::Tokens(tokens) = &credential {
            if tokens.iter().any(|t| t.expose().len() < MIN_TOKEN_LEN) {
                return Err(ConfigError::Invalid(format!(
                    "scim.clients[{name}]: every bearer token must be at least 16 characters long"
                )));
            }
        }
        Ok(ScimClient {
            name,
            read_only: self.read_only,
            credential,
        })
    }
}

/// 64 hex digits (either case) into 32 bytes.
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

impl RawJwt {
    pub(super) fn resolve(self) -> Result<JwtSettings, ConfigError> {
        if self.audience.is_empty() {
            return Err(ConfigError::Invalid(
                "scim.jwt.audience: name at least one accepted audience".into(),
            ));
        }
        if self.jwks_url.is_none() && self.public_key_files.is_empty() {
            return Err(ConfigError::Invalid(
                "scim.jwt: set jwks_url or public_key_files, so tokens can be verified".into(),
            ));
        }
        let public_keys = self
            .public_key_files
            .iter()
            .map(|p| read_secret_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(JwtSettings {
            issuer: self.issuer,
            audience: self.audience,
            jwks_url: self.jwks_url,
            public_keys,
            leeway: Duration::from_secs(self.leeway_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_64_hex_digits() {
        let d = parse_sha256(&"aB".repeat(32)).unwrap();
        assert!(d.iter().all(|b| *b == 0xab));
        assert!(parse_sha256(&"ab".repeat(31)).is_none());
        assert!(parse_sha256(&"zz".repeat(32)).is_none());
        assert!(parse_sha256(&"+a".repeat(32)).is_none());
    }
}
