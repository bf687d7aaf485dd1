pub mod attributes;
pub mod error;
