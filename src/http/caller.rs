//! Who is calling: the SCIM client a request authenticated as, and the site
//! it opened. Authentication puts one `Caller` into the request's
//! extensions; request logs, the audit trail and the metrics read it from
//! there, so none of them needs to know how the client proved itself.

use std::sync::Arc;

use actix_web::HttpMessage;

/// The site id of a configuration without `sites:`.
pub const DEFAULT_SITE: &str = crate::config::DEFAULT_SITE;

/// The client name of a token from `scim.tokens` / `scim.token_file`.
pub const DEFAULT_CLIENT: &str = crate::config::DEFAULT_CLIENT;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The configured client's name (bounded: from configuration, never from
    /// the request), for logs, audit and metric labels.
    pub client: Arc<str>,
    /// A client configured `read_only` may not write.
    pub read_only: bool,
    /// The site the credentials opened.
    pub site: Arc<str>,
}

impl Caller {
    pub fn new(client: impl Into<Arc<str>>, read_only: bool, site: impl Into<Arc<str>>) -> Caller {
        Caller {
            client: client.into(),
            read_only,
            site: site.into(),
        }
    }

    /// The caller authentication recorded on this request, if any.
    pub fn of(req: &impl HttpMessage) -> Option<Caller> {
        req.extensions().get::<Caller>().cloned()
    }

    /// Records the caller on the request (done once, by authentication).
    pub fn attach(self, req: &impl HttpMessage) {
        req.extensions_mut().insert(self);
    }
}
