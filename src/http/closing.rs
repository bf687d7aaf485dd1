//! A connection is done once an answer on it said `Connection: close`:
//! RFC 9112 §9.6 forbids the server to process further requests on it.
//! actix-http still reads requests a client pipelined behind such an
//! answer (they sit in its buffer already) and hands them to the
//! application. This layer, the outermost, refuses them before anything
//! runs, and the socket's watcher (`framework_errors`) writes nothing
//! after the closing answer.
//!
//! Which answer closes is not always known here: the codec writes
//! `Connection: close` on an answer when a request decoded after it (one
//! pipelined behind) asked to close. So the watcher, which reads every
//! answer's head as it is written, says so too: before a later request on
//! the connection runs, this layer lets the codec write the answers before
//! it (one yield: the codec flushes while the service is pending), then
//! looks.
//!
//! Nothing more is written rather than an error: RFC 9112 §9.3.2 asks a
//! client that pipelines to retry, on a new connection, requests a closed
//! connection left unanswered, and an error answer would tell it that the
//! request itself was wrong.

use std::cell::Cell;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};

use super::error::ApiError;
use super::framework_errors::AnswersSeen;
use crate::scim::error::ScimError;

/// Per connection (put in its data when it opens): what its watcher has
/// seen of the answers written, and how many requests ran on it.
#[derive(Debug)]
pub struct Closing {
    /// Shared with the connection's watcher, which keeps it.
    seen: Arc<AnswersSeen>,
    served: Cell<usize>,
}

impl Closing {
    /// The state of a connection whose watcher keeps `seen`.
    pub fn new(seen: Arc<AnswersSeen>) -> Closing {
        Closing {
            seen,
            served: Cell::new(0),
        }
    }
}

pub async fn refuse_after_close(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some((seen, earlier)) = req.conn_data::<Closing>().map(|closing| {
        let earlier = closing.served.get();
        closing.served.set(earlier + 1);
        (closing.seen.clone(), earlier)
    }) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // A request sent after the answers before it were written (one at a
    // time, the usual case) runs at once. One pipelined behind answers not
    // yet written waits until the codec has written them (one yield: it
    // flushes while the service is pending), then looks.
    if seen.answers() < earlier && !seen.closed() {
        tokio::task::yield_now().await;
    }
    if seen.closed() {
        tracing::debug!(
            "a request pipelined after an answer that closed its connection was not processed"
        );
        // The watcher drops it; should it be written anyway (a connection
        // it no longer follows), it says what happened.
        let mut response = ApiError(ScimError::bad_request(
            "An earlier answer on this connection closed it (Connection: close); this request was not processed. Send it on a new connection.",
        ))
        .error_response();
        response
            .head_mut()
            .set_connection_type(ConnectionType::Close);
        return Ok(req.into_response(response));
    }
    // HTTP/1.0 without keep-alive closes as `Connection: close` does.
    let asks_close = req.head().connection_type() == ConnectionType::Close;
    // A write waiting for its turn notices the client leaving.
    let response = crate::provisioning::turns::serving(seen.client(), next.call(req)).await?;
    if asks_close || response.response().head().connection_type() == ConnectionType::Close {
        seen.close();
    }
    Ok(response.map_into_boxed_body())
}
