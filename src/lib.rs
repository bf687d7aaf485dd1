pub mod config;
pub mod drupal;
pub mod scim;
pub mod telemetry;
