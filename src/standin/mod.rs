//! An in-memory imitation of the part of Drupal 10 core JSON:API a SCIM
//! bridge uses (users, roles, basic and cookie authentication), answering
//! with the statuses, messages and document shapes of a real site.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use drupal_scim_bridge::standin::{StandIn, StandInConfig};
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let drupal = StandIn::start(StandInConfig::demo("adminpass"), listener)?;
//! println!("Drupal at {}", drupal.base_url());
//! drupal.stop().await;
//! # Ok(()) }
//! ```

mod auth;
mod capacity;
mod collection;
mod config;
mod documents;
mod errors;
mod faults;
mod filter;
mod handle;
mod input;
mod json;
mod late_cache;
mod login;
mod model;
mod oauth;
mod query;
mod request;
mod request_log;
mod roles;
mod router;
mod server;
mod state;
mod taxonomy;
mod users;
mod validate;
mod whole_saves;

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub use auth::AuthKind;
pub use config::{
    permissions, Account, AccountSeed, CancelMethod, FieldKind, FieldSeed, RoleSeed, StandInConfig,
    DEPROVISIONED_FIELD, EXTERNAL_ID_FIELD,
};
pub use faults::Answer;
pub use handle::{StandInHandle, UserSnapshot};
pub use oauth::OAuthClientSeed;
pub use state::SeedError;

/// One request as the stand-in received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (still percent-encoded), empty when none.
    pub query: String,
    /// How the request tried to authenticate.
    pub auth: AuthKind,
}

/// A running stand-in server.
pub struct StandIn {
    base_url: String,
    handle: StandInHandle,
    server: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<io::Result<()>>,
}

impl StandIn {
    /// Seeds the site and serves it on `listener` (port 0 works) from the
    /// current tokio runtime.
    pub fn start(config: StandInConfig, listener: TcpListener) -> io::Result<StandIn> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let site = state::Site::new(&config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let site = Arc::new(Mutex::new(site));
        let server = server::spawn(site.clone(), listener)?;
        let handle = server.handle();
        let task = runtime.spawn(server);
        Ok(StandIn {
            base_url: base_url.clone(),
            handle: StandInHandle { site, base_url },
            server: handle,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn handle(&self) -> StandInHandle {
        self.handle.clone()
    }

    /// Stops accepting requests and waits for the server to wind down.
    pub async fn stop(self) {
        self.server.stop(false).await;
        // The server's own result carries nothing a caller could act on.
        let _ = self.task.await;
    }
}
