//! A deadline for a request's body (`server.body_timeout_secs`): a client
//! that announces a body and sends it slowly, or not at all, is answered
//! 408 and its connection closed when the time is up, instead of holding a
//! connection and its buffers indefinitely. (The deadline for the headers
//! is actix's `client_request_timeout`, set by startup.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, Error, HttpMessage, ResponseError};
use futures_util::Stream;
use tokio::time::Sleep;

use super::error::ApiError;
use crate::scim::error::ScimError;

/// How long a request's body may take to arrive, counted from the end of
/// its headers.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Bounds the time to receive the body of every request.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(limit) = req.app_data::<web::Data<BodyDeadline>>().map(|d| d.0) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let inner = req.take_payload();
    if matches!(inner, Payload::None) {
        // No body announced (a GET, a DELETE): nothing to wait for, so no
        // timer, on the path of every read.
        req.set_payload(inner);
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let expired = Arc::new(AtomicBool::new(false));
    let body = Deadlined {
        inner,
        timer: Box::pin(tokio::time::sleep(limit)),
        expired: expired.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(body),
    });
    let response = next.call(req).await?;
    if !expired.load(Ordering::Relaxed) {
        return Ok(response.map_into_boxed_body());
    }
    let mut late = ApiError(ScimError::new(
        408,
        None,
        format!(
            "The request body did not arrive within {} seconds (server.body_timeout_secs); the connection is closed. Send the whole body at once.",
            limit.as_secs()
        ),
    ))
    .error_response();
    late.head_mut().set_connection_type(ConnectionType::Close);
    let (request, _) = response.into_parts();
    Ok(ServiceResponse::new(request, late))
}

/// The request's body, failing once the deadline passed.
struct Deadlined {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

impl Stream for Deadlined {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired.store(true, Ordering::Relaxed);
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
