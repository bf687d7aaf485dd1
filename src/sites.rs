//! One site as a value: its SCIM clients, Drupal client, mapping and
//! provisioner, built by `build` from the site's settings. Each site owns
//! its Drupal session, concurrency limit and queue, circuit breaker, role
//! cache and seen-accounts window (all held by its `DrupalClient` and
//! `Provisioner`), so one site failing cannot hold up another.

use std::sync::Arc;

use crate::config::SiteSettings;
use crate::drupal::{DrupalClient, DrupalError};
use crate::http::clients::Clients;
use crate::http::jwt::JwtError;
use crate::http::site::site_path;
use crate::http::{AppState, PublicBase};
use crate::mapping::{Mapping, MappingError};
use crate::provisioning::{OwnAccount, Provisioner, UnfitMapping};

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("{0}")]
    Mapping(#[from] MappingError),
    #[error("cannot set up the Drupal client: {0}")]
    Drupal(#[from] DrupalError),
    #[error("scim.jwt: {0}")]
    Jwt(#[from] JwtError),
    #[error("{0}")]
    Unfit(#[from] UnfitMapping),
}

/// Builds the site `settings` describes, with this mapping. `multi_site`:
/// it is one entry of `sites:`, served at `/sites/{id}/scim/v2`.
pub fn build(
    settings: &SiteSettings,
    mapping: Mapping,
    multi_site: bool,
) -> Result<AppState, SiteError> {
    let drupal = DrupalClient::new((&settings.drupal).into())?.with_dry_run(settings.dry_run);
    if settings.dry_run {
        tracing::warn!(
            site = settings.id,
            "dry run: every Drupal write is logged and not sent; reads go to Drupal"
        );
    }
    let provisioner = Arc::new(Provisioner::new(
        drupal,
        Arc::new(mapping),
        settings.policy.clone(),
        OwnAccount::of(&settings.drupal.auth, &settings.drupal.base_url),
    )?);
    let clients = Clients::new(&settings.scim)?;
    Ok(AppState {
        provisioner,
        clients,
        public_base: PublicBase {
            public_url: settings
                .scim
                .public_url
                .as_ref()
                .map(|url| url.replace("{site}", &settings.id)),
            trusted_proxies: settings.scim.trusted_proxies.clone(),
            path: site_path(&settings.id, multi_site),
        },
        site: settings.id.as_str().into(),
        path: site_path(&settings.id, multi_site),
        max_body_bytes: settings.scim.max_body_bytes,
        discreet: multi_site,
    })
}

/// Builds the site with the mapping its `mapping:` file holds.
pub fn load(settings: &SiteSettings, multi_site: bool) -> Result<AppState, SiteError> {
    let mapping = Mapping::load_file(&settings.mapping)?;
    build(settings, mapping, multi_site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn a_site_is_served_under_its_id_and_its_public_url_names_it() {
        let settings = Settings::from_yaml(
            r#"
defaults:
  scim:
    public_url: https://scim.example.org/sites/{site}/scim/v2/
    tokens: ["a-token-0123456789abcdef"]
  drupal:
    auth: {username: bridge, password: pw}
sites:
  - id: physics
    drupal: {base_url: "https://physics.example.org"}
"#,
        )
        .unwrap();
        let mapping = crate::demo::mapping().unwrap();
        let state = build(&settings.sites[0], mapping, true).unwrap();
        assert_eq!(&*state.site, "physics");
        assert_eq!(state.path, "/sites/physics/scim/v2");
        assert_eq!(
            state.public_base.public_url.as_deref(),
            Some("https://scim.example.org/sites/physics/scim/v2")
        );
        assert!(state.discreet);
    }
}
