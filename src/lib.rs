//! drupal-scim-bridge: a SCIM 2.0 server that provisions Drupal users and
//! roles through Drupal core JSON:API.
//!
//! Layers, each in its own module: `http` (actix handlers) ->
//! `provisioning` (the service and its policies) -> `scim` (protocol only)
//! and `mapping` (SCIM attributes <-> Drupal fields) -> `drupal` (JSON:API
//! client). `standin` imitates Drupal for `demo` and the tests.

pub mod audit;
pub mod capped;
pub mod check;
pub mod config;
pub mod demo;
pub mod drupal;
pub mod fixed_keys;
pub mod health;
pub mod http;
pub mod mapping;
pub mod metrics;
pub mod monitor;
pub mod preview;
pub mod provisioning;
pub mod reload;
pub mod scim;
pub mod secret;
pub mod site_reload;
pub mod sites;
pub mod standin;
pub mod startup;
pub mod telemetry;
pub mod untrusted;
