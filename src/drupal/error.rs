//! What can go wrong when talking to Drupal, in Drupal's terms.

use super::document::ApiError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DrupalError {
    /// The request never reached Drupal (DNS, refused connection, TLS).
    #[error("Drupal could not be reached: {0}")]
    Unreachable(String),
    /// Drupal's HTTPS certificate was refused (unknown issuer, expired,
    /// another name). Nothing was sent; retrying cannot help.
    #[error("Drupal's HTTPS certificate is not accepted: {0}. If an internal CA signed it, set drupal.ca_file to that CA's PEM certificate")]
    Certificate(String),
    /// No complete answer in time. The request may have been processed.
    #[error("Drupal did not answer in time")]
    Timeout,
    /// The connection was reset or closed after the request was sent and
    /// before a complete answer came (Drupal's PHP killed or crashed, a
    /// proxy dropping it). Like a timeout, the request may have been
    /// processed; unlike one, it says nothing of Drupal's speed.
    #[error("Drupal closed the connection before answering: {0}")]
    ConnectionLost(String),
    /// The bridge's account was not accepted: Drupal asked for credentials,
    /// or answered as it answers anonymous callers.
    #[error("Drupal did not accept the bridge's credentials: {0}")]
    Credentials(String),
    /// Drupal's flood control refused the bridge's login (too many failed
    /// logins); the bridge logs in again only once its pause is over,
    /// `retry_after` seconds from now. Nothing was sent. Temporary.
    #[error("Drupal's flood control blocks the bridge's account ({reason}); the bridge logs in again in {retry_after} s")]
    LoginPaused { retry_after: u64, reason: String },
    /// Drupal refused the operation for the bridge's account.
    #[error("Drupal refused the operation (403): {0}")]
    Forbidden(String),
    /// JSON:API is configured read-only on the site.
    #[error("Drupal JSON:API accepts only read operations")]
    ReadOnly,
    #[error("not found in Drupal")]
    NotFound,
    /// 422: one entry per violated constraint.
    #[error("Drupal rejected the values: {}", join_details(.0))]
    Validation(Vec<ApiError>),
    /// Drupal refused a write because the entity changed after Drupal
    /// loaded it for this request (its EntityChanged constraint): another
    /// write saved it in between. Nothing was saved; sending the same
    /// write again is safe, and should succeed.
    #[error("Drupal refused the write because another write changed the same entity at the same time: {0}")]
    EntityChanged(String),
    /// Any other 4xx answer.
    #[error("Drupal answered {status}: {detail}")]
    Rejected { status: u16, detail: String },
    /// 5xx or 429 answers: Drupal is failing or overloaded.
    #[error("Drupal failed with status {status}")]
    Server {
        status: u16,
        detail: String,
        /// Drupal's (or its proxy's) `Retry-After`, in seconds, if it sent one.
        retry_after: Option<u64>,
    },
    /// A 3xx: Drupal is served elsewhere than `drupal.base_url`. Nothing was
    /// handled, and the redirect is not followed (a POST would become a GET).
    /// `location` (cut short) is for the operator (`check`, the log), not
    /// the IdP: it may name internal hosts.
    #[error("Drupal answered {status}, a redirect: set drupal.base_url to the address Drupal is served at")]
    Redirected { status: u16, location: String },
    /// An answer the bridge cannot read (not JSON:API, wrong shape).
    #[error("unexpected answer from Drupal: {0}")]
    Protocol(String),
    /// An answer that arrived unreadable: cut off, not JSON, HTML, empty,
    /// or a write's success that cannot be taken at its word. Transient, as
    /// a connection cut at the same point would be; a write may have been
    /// applied.
    #[error("Drupal's answer could not be read: {0}")]
    Unreadable(String),
    /// The bridge already has as many Drupal requests running and waiting
    /// as it is configured to allow; this one was not sent.
    #[error("the bridge's limit of concurrent Drupal requests is reached")]
    Overloaded,
    /// A write waited for its account's turn (another write to the same
    /// account was running) past its bound, or its client went away while
    /// it waited (`client_gone`). Nothing was sent.
    #[error("another write to the same account took too long; this one was not sent")]
    AccountBusy { client_gone: bool },
    /// Drupal failed repeatedly; the bridge does not ask it again before
    /// `retry_after` seconds. This request was not sent.
    #[error("Drupal failed repeatedly; the bridge pauses requests to it")]
    CircuitOpen { retry_after: u64 },
    /// The request would need a URL longer than web servers in front of
    /// Drupal accept (`MAX_URL_BYTES`): it was not sent. The values that
    /// make it long come from the SCIM request.
    #[error("the Drupal request would need a URL of {bytes} bytes, over the {limit} bytes web servers accept")]
    UrlTooLong { bytes: usize, limit: usize },
}

/// The words of Drupal's EntityChanged constraint message ("The content
/// has either been modified by another user, or you have already submitted
/// modifications. As a result, your changes cannot be saved."), which a
/// JSON:API write answers with 400 when the entity changed meanwhile.
const ENTITY_CHANGED: &str = "has either been modified by another user";

/// Whether a `detail` of Drupal's is its EntityChanged refusal.
pub(crate) fn is_entity_changed(detail: &str) -> bool {
    detail.contains(ENTITY_CHANGED)
}

fn join_details(errors: &[ApiError]) -> String {
    errors
        .iter()
        .map(|e| e.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

impl DrupalError {
    /// Whether a write that ended so may still have been carried out: the
    /// request may have reached Drupal, and no answer says what became of
    /// it. A timeout (or a connection broken after the request was sent,
    /// which the client reports as one); an answer the bridge cannot read
    /// (Drupal answered, maybe with success); a gateway's 502 or 504 (the
    /// proxy in front of Drupal lost Drupal's answer or gave up waiting for
    /// it). Every other error is Drupal's refusal, or a request never sent.
    pub fn may_have_been_applied(&self) -> bool {
        matches!(
            self,
            DrupalError::Timeout
                | DrupalError::ConnectionLost(_)
                | DrupalError::Protocol(_)
                | DrupalError::Unreadable(_)
                | DrupalError::Server {
                    status: 502 | 504,
                    ..
                }
        )
    }

    /// The id of the resource of type `kind` that Drupal says does not
    /// exist, when it refused a relationship write naming it ("The
    /// targeted `user_role--user_role` resource with ID `…` does not
    /// exist.", recorded: case 071).
    pub fn missing_target(&self, kind: &str) -> Option<&str> {
        let DrupalError::Rejected {
            status: 400,
            detail,
        } = self
        else {
            return None;
        };
        detail
            .strip_prefix("The targeted `")?
            .strip_prefix(kind)?
            .strip_prefix("` resource with ID `")?
            .strip_suffix("` does not exist.")
    }

    /// The UUID of the role Drupal says does not exist (deleted in
    /// Drupal), when it refused a roles write naming it.
    pub fn missing_role(&self) -> Option<&str> {
        self.missing_target(super::document::ROLE_TYPE)
    }

    /// Whether the failure is Drupal's or the network's (retrying later may
    /// help), as opposed to a refusal of this particular request. The
    /// circuit breaker counts these.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            DrupalError::Unreachable(_)
                | DrupalError::Timeout
                | DrupalError::ConnectionLost(_)
                | DrupalError::Server { .. }
        )
    }
}
