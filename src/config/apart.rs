//! What keeps the sites of one bridge apart: no credential opens two of
//! them, and no two give their resources the same URL. Checked on the
//! file at load (`check`, start-up) and, on a reload, on the settings that
//! would be in force after it (sites kept as they were included).

use super::{ClientCredential, ConfigError, JwtSettings, SiteSettings};

/// Refuses settings under which one credential opens two sites, or two
/// sites' resources have one `Location`. Names both sites, never a secret.
pub fn sites_apart(sites: &[&SiteSettings]) -> Result<(), ConfigError> {
    no_shared_tokens(sites)?;
    no_shared_jwt(sites)?;
    no_shared_public_url(sites)
}

/// Refuses a bearer token (or token digest) that opens two sites: each
/// site's credentials must open that site only (a site's token on another
/// site is a 401), and an operator who pasted one token twice would not
/// know. The token itself is never named.
fn no_shared_tokens(sites: &[&SiteSettings]) -> Result<(), ConfigError> {
    use sha2::{Digest, Sha256};
    let mut seen: Vec<([u8; 32], &str)> = Vec::new();
    for site in sites {
        let scim = &site.scim;
        let tokens =
            scim.tokens
                .iter()
                .chain(scim.clients.iter().flat_map(|c| match &c.credential {
                    ClientCredential::Tokens(tokens) => tokens.as_slice(),
                    _ => &[],
                }));
        let digests = tokens
            .map(|t| <[u8; 32]>::from(Sha256::digest(t.expose().as_bytes())))
            .chain(scim.clients.iter().filter_map(|c| match &c.credential {
                ClientCredential::Sha256(digest) => Some(*digest),
                _ => None,
            }));
        let mut own: Vec<[u8; 32]> = digests.collect();
        own.sort_unstable();
        own.dedup();
        for digest in own {
            if let Some((_, other)) = seen.iter().find(|(d, _)| *d == digest) {
                return Err(ConfigError::Invalid(format!(
                    "sites {other} and {}: one bearer token opens both; give each site its own, or either site's identity provider can write to the other",
                    site.id
                )));
            }
            seen.push((digest, &site.id));
        }
    }
    Ok(())
}

/// Every JWT setting of a site: `scim.jwt` and its clients' `jwt`.
fn jwt_settings(site: &SiteSettings) -> impl Iterator<Item = &JwtSettings> {
    site.scim.jwt.iter().chain(
        site.scim
            .clients
            .iter()
            .filter_map(|c| match &c.credential {
                ClientCredential::Jwt(jwt) => Some(jwt),
                _ => None,
            }),
    )
}

/// Refuses two sites that would accept one JWT: the same issuer and an
/// audience in common. The verifier compares both exactly (`iss` equal to
/// `issuer`, one `aud` equal to one of `audience`), so they are compared
/// so here: `https://iss/` and `https://iss` are two issuers to it. Every
/// JWT setting names at least one audience (load refuses none, and the
/// verifier requires the `aud` claim), so no setting accepts "any
/// audience". The signing keys are not compared: one issuer publishes one
/// key set (a JWKS fetched at run time, which rotates, and which two
/// addresses may serve alike), so keys that differ today prove nothing
/// about tomorrow's tokens.
fn no_shared_jwt(sites: &[&SiteSettings]) -> Result<(), ConfigError> {
    for (n, first) in sites.iter().enumerate() {
        for second in &sites[n + 1..] {
            for a in jwt_settings(first) {
                for b in jwt_settings(second) {
                    if a.issuer != b.issuer {
                        continue;
                    }
                    if let Some(audience) = a.audience.iter().find(|x| b.audience.contains(x)) {
                        return Err(ConfigError::Invalid(format!(
                            "sites {} and {}: one JWT opens both: each accepts tokens of the issuer {:?} for the audience {audience:?}; give each site its own audience (jwt.audience, the `aud` its tokens carry), or give one of them static bearer tokens instead (scim.tokens or a client's token_file) — Entra's OAuth tokens carry the same audience for every non-gallery app, so there give each app its own Secret Token",
                            first.id, second.id, a.issuer
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Refuses two sites whose resources would get one URL: `Location` and
/// `meta.location` are the resource's URI (RFC 7644 §3.1), and a
/// `public_url` shared without `{site}` gives every site's user 42 the URL
/// of one of them.
fn no_shared_public_url(sites: &[&SiteSettings]) -> Result<(), ConfigError> {
    let mut seen: Vec<(String, &SiteSettings)> = Vec::new();
    for site in sites {
        let Some(url) = &site.scim.public_url else {
            continue;
        };
        let own = url.replace("{site}", &site.id);
        if let Some((_, other)) = seen.iter().find(|(u, _)| u.eq_ignore_ascii_case(&own)) {
            let fix = if url.contains("{site}") {
                "give each site its own".to_string()
            } else {
                format!(
                    "put {{site}} in it (replaced by each site's id), e.g. {}/sites/{{site}}/scim/v2, or give each site its own",
                    url.split('/').take(3).collect::<Vec<_>>().join("/")
                )
            };
            return Err(ConfigError::Invalid(format!(
                "sites {} and {}: scim.public_url is {own:?} for both, so their resources would have the same Location; {fix}",
                other.id, site.id
            )));
        }
        seen.push((own, site));
    }
    Ok(())
}
