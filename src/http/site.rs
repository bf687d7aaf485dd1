//! Which site a request is for. The registry holds every site's state by
//! id; the `select_site` middleware looks the request's site up once and
//! hands the handlers its `AppState` (as `web::Data<AppState>`, which every
//! handler already extracts). A reload swaps a site's entry: requests in
//! flight keep the `Arc` of the state they started with.

use std::rc::Rc;
use std::sync::{Arc, PoisonError, RwLock};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::bulk::BulkLimits;
use super::AppState;
use crate::fixed_keys::FixedKeyMap;

/// Where each site of a `sites:` configuration is served.
pub const SITE_SCOPE: &str = "/sites/{site}/scim/v2";
/// Where the one site of a configuration without `sites:` is served.
pub const DEFAULT_SCOPE: &str = "/scim/v2";

/// The path of a site's SCIM API.
pub fn site_path(id: &str, multi_site: bool) -> String {
    if multi_site {
        format!("/sites/{id}/scim/v2")
    } else {
        DEFAULT_SCOPE.to_string()
    }
}

/// Every site being served, by id.
pub struct SiteRegistry {
    multi_site: bool,
    /// Keyed by the configuration's site ids (`crate::fixed_keys`).
    sites: RwLock<FixedKeyMap<Arc<str>, Arc<AppState>>>,
}

impl SiteRegistry {
    pub fn new(multi_site: bool, sites: impl IntoIterator<Item = Arc<AppState>>) -> SiteRegistry {
        SiteRegistry {
            multi_site,
            sites: RwLock::new(sites.into_iter().map(|s| (s.site.clone(), s)).collect()),
        }
    }

    /// Sites are served at `/sites/{id}/scim/v2` (else the one site at `/scim/v2`).
    pub fn is_multi_site(&self) -> bool {
        self.multi_site
    }

    pub fn get(&self, id: &str) -> Option<Arc<AppState>> {
        self.sites
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Adds the site, or replaces the one with its id; returns the replaced one.
    pub fn insert(&self, site: Arc<AppState>) -> Option<Arc<AppState>> {
        self.sites
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(site.site.clone(), site)
    }

    pub fn remove(&self, id: &str) -> Option<Arc<AppState>> {
        self.sites
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    }

    /// The ids served, sorted.
    pub fn ids(&self) -> Vec<Arc<str>> {
        let mut ids: Vec<_> = self
            .sites
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Every site served, sorted by id, with its Drupal client: what the
    /// metrics and readiness look at.
    pub fn drupal_clients(&self) -> Vec<(Arc<str>, crate::drupal::DrupalClient)> {
        let mut sites: Vec<_> = self
            .sites
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, state)| (id.clone(), state.provisioner.drupal().clone()))
            .collect();
        sites.sort_by(|a, b| a.0.cmp(&b.0));
        sites
    }

    /// The site a route names: `/sites/{id}/...` in a `sites:`
    /// configuration, `/scim/v2` (no id) otherwise.
    fn for_route(&self, id: Option<&str>) -> Option<Arc<AppState>> {
        match (self.multi_site, id) {
            (true, Some(id)) => self.get(id),
            (false, None) => self.get(crate::config::DEFAULT_SITE),
            _ => None,
        }
    }
}

/// Finds the request's site and gives the handlers its state and body
/// limits. An unknown site gets no state: authentication then answers it
/// exactly as a wrong token on a known site, so that no caller learns which
/// sites exist.
pub async fn select_site(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let site = req
        .app_data::<web::Data<SiteRegistry>>()
        .and_then(|registry| registry.for_route(req.match_info().get("site")));
    if let Some(state) = site {
        // The request's span exists only when its level is logged.
        if tracing::level_enabled!(tracing::Level::INFO) {
            tracing::Span::current().record("site", &*state.site);
        }
        let max = state.max_body_bytes;
        let mut data = Extensions::new();
        data.insert(web::PayloadConfig::new(max).limit(max));
        data.insert(web::Data::new(BulkLimits::new(max)));
        data.insert(web::Data::from(state));
        req.add_data_container(Rc::new(data));
    }
    next.call(req).await
}
