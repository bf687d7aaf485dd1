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

impl ScimSettings {
    /// The `jwks_url`s fetched as `http://` from another host, each with
    /// where it is set (`scim.jwt.jwks_url`, `scim.clients[name].jwt.jwks_url`).
    pub fn cleartext_jwks_urls(&self) -> Vec<(String, &str)> {
        let own = self.jwt.iter().map(|jwt| ("scim.jwt".to_string(), jwt));
        let clients = self.clients.iter().filter_map(|c| match &c.credential {
            ClientCredential::Jwt(jwt) => Some((format!("scim.clients[{}].jwt", c.name), jwt)),
            _ => None,
        });
        own.chain(clients)
            .filter_map(|(place, jwt)| {
                let url = jwt.jwks_url.as_deref()?;
                super::is_cleartext_to_another_host(url).then(|| (format!("{place}.jwks_url"), url))
            })
            .collect()
    }
}

/// What to say of a `cleartext_jwks_urls` entry (after its place), and what
/// to do about it.
pub const CLEARTEXT_JWKS_WARNING: (&str, &str) = (
    "is http:// to another host: whoever can alter that traffic can hand the bridge signing keys of their own, and sign tokens it accepts",
    "use the issuer's https:// JWKS address (Entra: https://login.microsoftonline.com/<tenant id>/discovery/v2.0/keys), or its keys in public_key_files",
);

impl RawScim {
    pub(super) fn resolve(self) -> Result<ScimSettings, ConfigError> {
        let mut tokens: Vec<Secret> = self
            .tokens
            .into_iter()
            .filter(|t| !t.expose().trim().is_empty())
            .collect();
        if let Some(path) = &self.token_file {
            let text = read_secret_file("scim.token_file", path)?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Secret::new),
            );
        }
        let jwt = self.jwt.map(|jwt| jwt.resolve("scim.jwt")).transpose()?;
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
        if name == crate::metrics::NO_CLIENT {
            return Err(ConfigError::Invalid(format!(
                "scim.clients: the name {name:?} is reserved: the logs, the audit trail and the metrics name so the callers without valid credentials; choose another name"
            )));
        }
        let credential = match (self.token, self.token_file, self.token_sha256, self.jwt) {
            (Some(token), None, None, None) => ClientCredential::Tokens(vec![token]),
            (None, Some(path), None, None) => {
                let tokens: Vec<Secret> =
                    read_secret_file(&format!("scim.clients[{name}].token_file"), &path)?
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
            (None, None, None, Some(jwt)) => {
                ClientCredential::Jwt(jwt.resolve(&format!("scim.clients[{name}].jwt"))?)
            }
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

/// Most clock skew `leeway_secs` may tolerate. More would keep accepting a
/// token long after it expired: an hour-long Entra token would open the
/// bridge for hours. A clock five minutes wrong needs NTP, not leeway.
const MAX_LEEWAY_SECS: u64 = 300;

impl RawJwt {
    /// `place` names the settings in messages: `scim.jwt` or a client's.
    pub(super) fn resolve(self, place: &str) -> Result<JwtSettings, ConfigError> {
        let invalid = |what: String| Err(ConfigError::Invalid(format!("{place}.{what}")));
        let issuer = self.issuer.trim();
        if issuer.is_empty() {
            return invalid("issuer: name the issuer whose tokens are accepted, as their `iss` claim says it (Entra: https://sts.windows.net/<tenant id>/)".into());
        }
        if issuer != self.issuer {
            return invalid(
                "issuer: has spaces before or after it; the `iss` claim must match it exactly"
                    .into(),
            );
        }
        if self.audience.is_empty() {
            return invalid("audience: name at least one accepted audience".into());
        }
        if self.audience.iter().any(|a| a.trim().is_empty()) {
            return invalid("audience: an entry is empty; name each accepted `aud` value".into());
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return invalid(format!(
                "leeway_secs: {} is more than {MAX_LEEWAY_SECS}: expired tokens would be accepted that long; fix the clock (NTP) instead, and keep the leeway under a few minutes (default 60)",
                self.leeway_secs
            ));
        }
        if let Some(url) = &self.jwks_url {
            let scheme = reqwest::Url::parse(url).map(|u| (u.scheme().to_owned(), u.has_host()));
            match scheme {
                Ok((scheme, true)) if scheme == "https" || scheme == "http" => {}
                Ok((scheme, _)) => {
                    return invalid(format!(
                        "jwks_url: a {scheme}: address cannot be fetched; give the issuer's https:// JWKS address (Entra: https://login.microsoftonline.com/<tenant id>/discovery/v2.0/keys), or its keys in public_key_files"
                    ))
                }
                Err(e) => {
                    return invalid(format!(
                        "jwks_url: not a URL ({e}); give the issuer's https:// JWKS address"
                    ))
                }
            }
        }
        if self.jwks_url.is_none() && self.public_key_files.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "{place}: set jwks_url or public_key_files, so tokens can be verified"
            )));
        }
        let public_keys = self
            .public_key_files
            .iter()
            .map(|path| {
                let pem = read_secret_file(&format!("{place}.public_key_files"), path)?;
                public_key_pem(&pem).map_err(|why| {
                    ConfigError::Invalid(format!(
                        "{place}.public_key_files: {} {why}",
                        path.display()
                    ))
                })?;
                Ok(pem)
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        Ok(JwtSettings {
            issuer: self.issuer,
            audience: self.audience,
            jwks_url: self.jwks_url,
            public_keys,
            leeway: Duration::from_secs(self.leeway_secs),
        })
    }
}

/// Whether `text` starts with a PEM public key (or certificate) block, as
/// the verifier reads only the first block; `Err` says what it holds instead.
fn public_key_pem(text: &str) -> Result<(), String> {
    let label = text
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("-----BEGIN ")?.strip_suffix("-----"));
    match label {
        None => Err("holds no PEM block; give the issuer's public key, the text from -----BEGIN PUBLIC KEY----- to -----END PUBLIC KEY-----".into()),
        Some(label) if label.contains("PRIVATE") => Err(format!(
            "holds a private key ({label}), which must stay with the issuer; give its public key instead (`openssl pkey -in <file> -pubout`)"
        )),
        Some("PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE") => Ok(()),
        Some(label) => Err(format!(
            "holds a {label}, not a public key; give the issuer's public key (-----BEGIN PUBLIC KEY-----)"
        )),
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

    fn jwt_settings(jwt: &str) -> Result<crate::config::Settings, ConfigError> {
        crate::config::Settings::from_yaml(&format!(
            "scim:\n  jwt: {{{jwt}}}\ndrupal:\n  base_url: https://drupal.example.org/\n  auth: {{username: scim-bridge, password: \"s3cret-password\"}}\n"
        ))
    }

    fn refusal(jwt: &str) -> String {
        match jwt_settings(jwt) {
            Ok(_) => panic!("accepted: {jwt}"),
            Err(e) => e.to_string(),
        }
    }

    const GOOD: &str = "issuer: \"https://sts.windows.net/t/\", audience: [scim], jwks_url: \"https://login.example.org/keys\"";

    #[test]
    fn jwt_settings_that_would_fail_every_token_are_refused_at_load() {
        assert!(jwt_settings(GOOD).is_ok());
        assert!(jwt_settings(&format!("{GOOD}, leeway_secs: 300")).is_ok());
        let cases = [
            ("issuer: \"\"", "scim.jwt.issuer: name the issuer"),
            (
                "issuer: \" https://sts.windows.net/t/\"",
                "spaces before or after",
            ),
            ("audience: [\"\"]", "scim.jwt.audience: an entry is empty"),
            (
                "leeway_secs: 86400",
                "scim.jwt.leeway_secs: 86400 is more than 300",
            ),
            (
                "jwks_url: \"file:///etc/keys.json\"",
                "a file: address cannot be fetched",
            ),
            (
                "jwks_url: \"login.example.org/keys\"",
                "jwks_url: not a URL",
            ),
        ];
        for (change, expected) in cases {
            let key = change.split(':').next().unwrap();
            let jwt: Vec<&str> = GOOD
                .split(", ")
                .filter(|part| !part.starts_with(key))
                .chain([change])
                .collect();
            let message = refusal(&jwt.join(", "));
            assert!(message.contains(expected), "{change}: {message}");
        }
    }

    #[test]
    fn a_jwks_over_plain_http_is_flagged_only_towards_another_host() {
        let flagged = |url: &str| {
            let settings =
                jwt_settings(&format!("issuer: i, audience: [scim], jwks_url: \"{url}\"")).unwrap();
            settings.sites[0]
                .scim
                .cleartext_jwks_urls()
                .iter()
                .map(|(place, url)| format!("{place} {url}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            flagged("http://login.example.org/keys"),
            ["scim.jwt.jwks_url http://login.example.org/keys"]
        );
        assert!(flagged("https://login.example.org/keys").is_empty());
        assert!(flagged("http://127.0.0.1:8080/keys").is_empty());
        assert!(flagged("http://localhost/keys").is_empty());
    }

    #[test]
    fn a_key_file_must_begin_with_a_public_key() {
        assert!(
            public_key_pem("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n").is_ok()
        );
        assert!(public_key_pem("\n-----BEGIN RSA PUBLIC KEY-----\nMIIB\n").is_ok());
        assert!(public_key_pem("-----BEGIN CERTIFICATE-----\nMIIB\n").is_ok());
        let private = public_key_pem("-----BEGIN PRIVATE KEY-----\nMIIE\n").unwrap_err();
        assert!(private.contains("private key (PRIVATE KEY)"), "{private}");
        assert!(private.contains("-pubout"), "{private}");
        let rsa = public_key_pem("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n").unwrap_err();
        assert!(rsa.contains("private key"), "{rsa}");
        let none = public_key_pem("this is not a key\n").unwrap_err();
        assert!(none.contains("no PEM block"), "{none}");
        let other = public_key_pem("-----BEGIN DH PARAMETERS-----\n").unwrap_err();
        assert!(
            other.contains("holds a DH PARAMETERS, not a public key"),
            "{other}"
        );
    }

    #[test]
    fn a_private_key_file_is_refused_naming_the_file_and_the_client() {
        let dir = std::env::temp_dir().join(format!("jwt-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("issuer.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let message = match crate::config::Settings::from_yaml(&format!(
            "scim:\n  clients:\n    - name: entra\n      jwt: {{issuer: \"https://sts.windows.net/t/\", audience: [scim], public_key_files: [\"{}\"]}}\ndrupal:\n  base_url: https://drupal.example.org/\n  auth: {{username: scim-bridge, password: \"s3cret-password\"}}\n",
            key.display()
        )) {
            Ok(_) => panic!("a private key was accepted"),
            Err(e) => e.to_string(),
        };
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            message.contains("scim.clients[entra].jwt.public_key_files"),
            "{message}"
        );
        assert!(
            message.contains("issuer.pem holds a private key"),
            "{message}"
        );
        assert!(
            !message.contains("MIIE"),
            "the key's text is never shown: {message}"
        );
    }
}
