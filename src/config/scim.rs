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

#[derive(Debug, Clone)]
pub struct ScimSettings {
    pub tokens: Vec<Secret>,
    pub jwt: Option<JwtSettings>,
    pub public_url: Option<String>,
    pub trusted_proxies: Vec<IpRange>,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
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
        if tokens.is_empty() && jwt.is_none() {
            return Err(ConfigError::Invalid(
                "scim: no bearer token configured; set scim.tokens, scim.token_file or scim.jwt"
                    .into(),
            ));
        }
        if let Some(short) = tokens.iter().find(|t| t.expose().len() < 16) {
            let _ = short;
            return Err(ConfigError::Invalid(
                "scim: every bearer token must be at least 16 characters long".into(),
            ));
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
            public_url,
            trusted_proxies,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

impl RawJwt {
    fn resolve(self) -> Result<JwtSettings, ConfigError> {
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
