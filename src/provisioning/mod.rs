//! The provisioning service: SCIM operations carried out on Drupal, with the
//! bridge's policies (deprovisioning, protected accounts). It speaks typed
//! SCIM values on one side and the Drupal client on the other, and keeps no
//! state of its own beyond short-lived caches.

mod bulk;
mod count_cache;
mod marker;
mod published;
mod pushdown;
mod render;
mod users;

use std::sync::Arc;

use crate::config::PolicySettings;
use crate::drupal::{DrupalClient, DrupalError};
use crate::mapping::{Mapping, MappingError};
use crate::scim::error::ScimError;
use crate::scim::filter::Filter;
use crate::scim::list::SortOrder;
use crate::scim::schema::{ResourceSchema, SchemaRegistry};
use crate::scim::service_provider::ServiceProviderConfig;

pub use bulk::{BulkOutcome, BulkSuccess, MAX_BULK_OPERATIONS};
pub use render::ScimUser;

/// Largest page a client can ask for (advertised as `filter.maxResults`).
pub const MAX_RESULTS: usize = 200;
/// Page size when the client names none.
pub const DEFAULT_COUNT: usize = 100;
/// How many accounts the bridge fetches at most to evaluate the part of a
/// filter that Drupal cannot (documented in the README).
pub const CANDIDATE_LIMIT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ProvisioningError {
    /// The request itself is wrong, in SCIM terms.
    #[error(transparent)]
    Scim(#[from] ScimError),
    #[error("no user with id {0}")]
    NotFound(String),
    /// A write to an account the bridge must never change.
    #[error("{0}")]
    Protected(String),
    #[error("mapping: {0}")]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Drupal(#[from] DrupalError),
}

impl ProvisioningError {
    /// The SCIM error for the variants that are not Drupal's or SCIM's own.
    pub fn scim_error(&self) -> ScimError {
        match self {
            ProvisioningError::Scim(e) => e.clone(),
            ProvisioningError::NotFound(id) => {
                ScimError::not_found(format!("No user with id {id} exists."))
            }
            ProvisioningError::Protected(why) => ScimError::forbidden(why.clone()),
            ProvisioningError::Mapping(e) => ScimError::invalid_value(e.to_string()),
            ProvisioningError::Drupal(e) => ScimError::bad_gateway(e.to_string()),
        }
    }
}

/// A list request in typed form.
#[derive(Debug, Clone)]
pub struct UserQuery {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: Option<usize>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
}

/// One page of users and the total number that match.
#[derive(Debug, Clone)]
pub struct UserList {
    pub total: usize,
    pub users: Vec<ScimUser>,
}

pub struct Provisioner {
    drupal: DrupalClient,
    mapping: Arc<Mapping>,
    registry: SchemaRegistry,
    user_schema: ResourceSchema,
    policy: PolicySettings,
    marker: marker::DeprovisionMarker,
    counts: count_cache::CountCache,
}

impl Provisioner {
    pub fn new(drupal: DrupalClient, mapping: Arc<Mapping>, policy: PolicySettings) -> Provisioner {
        let registry = published::published_registry(&mapping);
        let user_schema = ResourceSchema::user();
        let marker = marker::DeprovisionMarker::new(&policy);
        let counts = count_cache::CountCache::new(policy.count_cache);
        Provisioner {
            drupal,
            mapping,
            registry,
            user_schema,
            policy,
            marker,
            counts,
        }
    }

    pub fn user_schema(&self) -> &ResourceSchema {
        &self.user_schema
    }

    pub fn registry(&self) -> &SchemaRegistry {
        &self.registry
    }

    pub fn drupal(&self) -> &DrupalClient {
        &self.drupal
    }

    /// What this bridge supports, as `/ServiceProviderConfig` states it.
    pub fn service_provider_config(&self) -> ServiceProviderConfig {
        let mut config = ServiceProviderConfig {
            sort: true,
            etag: true,
            ..ServiceProviderConfig::default()
        };
        config.filter.max_results = MAX_RESULTS as u32;
        config
    }
}
