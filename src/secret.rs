//! A value that must never be printed: tokens, passwords, client secrets.
//! Shared by the configuration and the Drupal client, which both hold them.

use std::fmt;

use serde::Deserialize;

/// A value that must never appear in logs or error bodies.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
