pub mod attributes;
pub mod bulk;
pub mod caseless;
pub mod error;
pub mod filter;
pub mod list;
pub mod members;
pub mod patch;
pub mod path;
pub mod projection;
#[cfg(test)]
mod properties;
pub mod resource;
pub mod schema;
pub mod service_provider;
pub mod version;
