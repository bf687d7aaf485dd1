//! The `server:` section: how long the SCIM port waits for a client, and
//! how many it serves at once.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    /// Seconds a client has to send a request's headers. Default 5.
    header_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body, once its headers
    /// arrived. Default 15.
    body_timeout_secs: Option<u64>,
    /// Connections served at once; more wait to be accepted. Default 1024.
    /// Shared evenly between the worker threads (one per core), so rounded
    /// up to a multiple of their number.
    max_connections: Option<usize>,
}

const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 5;
const DEFAULT_BODY_TIMEOUT_SECS: u64 = 15;
const DEFAULT_MAX_CONNECTIONS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl RawServer {
    pub(super) fn resolve(self) -> Result<ServerSettings, ConfigError> {
        let seconds = |key: &str, value: Option<u64>, default: u64| {
            match value.unwrap_or(default) {
            0 => Err(ConfigError::Invalid(format!(
                "server.{key}: 0 would refuse every request; give a number of seconds, such as {default}"
            ))),
            secs => Ok(Duration::from_secs(secs)),
        }
        };
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(ConfigError::Invalid(
                "server.max_connections: 0 would serve no one; give a number such as 1024".into(),
            ));
        }
        Ok(ServerSettings {
            header_timeout: seconds(
                "header_timeout_secs",
                self.header_timeout_secs,
                DEFAULT_HEADER_TIMEOUT_SECS,
            )?,
            body_timeout: seconds(
                "body_timeout_secs",
                self.body_timeout_secs,
                DEFAULT_BODY_TIMEOUT_SECS,
            )?,
            max_connections,
        })
    }
}
