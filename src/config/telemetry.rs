//! The operator's sections: `metrics` (the Prometheus endpoint and the
//! status page, on their own address), `health` (what `/readyz` asks of
//! Drupal) and `audit` (where the audit trail is written besides the log).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{read_secret_file, ConfigError};
use crate::secret::Secret;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    /// Where `/metrics`, `/status`, `/healthz` and `/readyz` are served.
    /// Off when absent: the SCIM port never serves metrics.
    listen: Option<String>,
    /// Lets callers from other hosts see the status page with
    /// `Authorization: Bearer <token>` or `?token=`; without it the page
    /// answers loopback callers only. `/metrics` needs no token.
    status_token: Option<Secret>,
    /// The same, read from a file.
    status_token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    /// `/readyz` wants a Drupal answer to the bridge's account no older
    /// than this; when there was none, it asks Drupal once. Default 60.
    #[serde(default = "default_drupal_within_secs")]
    drupal_within_secs: u64,
}

impl Default for RawHealth {
    fn default() -> Self {
        RawHealth {
            drupal_within_secs: default_drupal_within_secs(),
        }
    }
}

fn default_drupal_within_secs() -> u64 {
    60
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    /// Append the audit events to this file too, one JSON object a line;
    /// reopened on SIGHUP, for logrotate.
    file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSettings {
    pub listen: Option<SocketAddr>,
    pub status_token: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthSettings {
    pub drupal_within: Duration,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            drupal_within: Duration::from_secs(default_drupal_within_secs()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditSettings {
    pub file: Option<PathBuf>,
}

impl RawMetrics {
    pub(super) fn resolve(self) -> Result<MetricsSettings, ConfigError> {
        let listen = self
            .listen
            .map(|text| {
                text.parse::<SocketAddr>().map_err(|_| {
                    ConfigError::Invalid(format!(
                        "metrics.listen: {text:?} is not an address like 127.0.0.1:9464"
                    ))
                })
            })
            .transpose()?;
        let mut status_token = self.status_token;
        if let Some(path) = &self.status_token_file {
            status_token = Some(Secret::new(
                read_secret_file("metrics.status_token_file", path)?.trim(),
            ));
        }
        if status_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(ConfigError::Invalid(
                "metrics.status_token: must be at least 16 characters long".into(),
            ));
        }
        Ok(MetricsSettings {
            listen,
            status_token,
        })
    }
}

impl RawHealth {
    pub(super) fn resolve(self) -> Result<HealthSettings, ConfigError> {
        if self.drupal_within_secs == 0 {
            return Err(ConfigError::Invalid(
                "health.drupal_within_secs: must be at least 1".into(),
            ));
        }
        Ok(HealthSettings {
            drupal_within: Duration::from_secs(self.drupal_within_secs),
        })
    }
}

impl RawAudit {
    pub(super) fn resolve(self) -> AuditSettings {
        AuditSettings { file: self.file }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_off_unless_an_address_is_given() {
        let off = RawMetrics::default().resolve().unwrap();
        assert!(off.listen.is_none());
        let bad = RawMetrics {
            listen: Some("9464".into()),
            ..Default::default()
        };
        assert!(bad
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("metrics.listen"));
    }

    #[test]
    fn a_short_status_token_is_refused() {
        let raw = RawMetrics {
            status_token: Some(Secret::new("short")),
            ..Default::default()
        };
        assert!(raw.resolve().is_err());
    }
}
