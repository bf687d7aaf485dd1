//! The actix-web glue: one catch-all service that logs the request, applies
//! injected faults and hands the request to the router.

use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};

use super::auth::{deleted_session_cookie, Presented};
use super::documents::error_document;
use super::errors::{ApiError, Failure};
use super::faults::{cut_off, failure_detail, Fault};
use super::query::Query;
use super::request::{Incoming, Reply};
use super::router;
use super::state::Site;
use super::whole_saves;
use super::LoggedRequest;

pub(crate) type SharedSite = Arc<Mutex<Site>>;

/// A poisoned lock only means another request panicked; the data is still usable.
pub(crate) fn lock(site: &SharedSite) -> MutexGuard<'_, Site> {
    site.lock().unwrap_or_else(PoisonError::into_inner)
}

const MAX_BODY: usize = 4 * 1024 * 1024;

pub(crate) fn spawn(site: SharedSite, listener: TcpListener) -> io::Result<actix_web::dev::Server> {
    listener.set_nonblocking(true)?;
    let data = web::Data::from(site);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .default_service(web::to(serve))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(server)
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn incoming(req: &HttpRequest, body: Bytes) -> Incoming {
    let info = req.connection_info().clone();
    Incoming {
        method: req.method().as_str().to_string(),
        path: req.path().to_string(),
        raw_query: req.query_string().to_string(),
        authorization: header(req, "authorization"),
        cookie: header(req, "cookie"),
        content_type: header(req, "content-type"),
        csrf_token: header(req, "x-csrf-token"),
        body: body.to_vec(),
        peer_ip: req
            .peer_addr()
            .map_or_else(|| "127.0.0.1".to_string(), |a| a.ip().to_string()),
        base_url: format!("{}://{}", info.scheme(), info.host()),
    }
}

async fn serve(req: HttpRequest, body: Bytes, site: web::Data<Mutex<Site>>) -> HttpResponse {
    let site: SharedSite = site.into_inner();
    let incoming = incoming(&req, body);
    let (rewrite, padded) = {
        let guard = lock(&site);
        (
            guard.faults.rewrite_for(&incoming.method, &incoming.path),
            guard.faults.padded_for(&incoming.method, &incoming.path),
        )
    };
    let (latency, fault, malformed, slow_body, workers, held, loaded, failed_after, ended) = {
        let mut guard = lock(&site);
        let auth = Presented::from_headers(
            incoming.authorization.as_deref(),
            incoming.cookie.as_deref(),
        )
        .kind();
        guard.log.push(LoggedRequest {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: incoming.raw_query.clone(),
            auth,
        });
        // Every fault is decided as the request arrives, so that "the next
        // request" means the next one to arrive.
        let faults = &mut guard.faults;
        let fault = faults.take_for(&incoming.method, &incoming.path);
        let malformed = fault.is_none() && faults.take_malformed();
        // Handled, then answered with an error status instead.
        let failed_after = match fault {
            None => faults
                .take_lost_answer(&incoming.method, &incoming.path)
                .or_else(|| faults.take_failure_after()),
            Some(_) => None,
        };
        let ended = fault.is_none() && faults.take_session_ended_after();
        let retry_after = faults.failure_retry_after();
        let slow_body = if fault.is_none() {
            faults.take_slow_body()
        } else {
            None
        };
        let (latency, workers) = (faults.latency, faults.workers.clone());
        let held = faults.held_for(&incoming.method, &incoming.path);
        // With a latency, a user write loads the entity now and saves it
        // whole after the wait, as Drupal does (whole_saves).
        // Its check of the e-mail address reads the accounts as they are
        // now, too.
        let loaded = match latency.is_zero() || fault.is_some() {
            true => (None, None),
            false => (
                whole_saves::load(&guard, &incoming.method, &incoming.path),
                whole_saves::mails_seen(&guard, &incoming.method, &incoming.path),
            ),
        };
        (
            latency,
            fault,
            malformed,
            slow_body,
            workers,
            held,
            loaded,
            failed_after,
            (ended, retry_after),
        )
    };
    let (session_ended, retry_after) = ended;
    let failure_reply = |incoming: &Incoming, status: u16| {
        let mut reply = failure_reply(incoming, status);
        if let Some(value) = &retry_after {
            reply
                .headers
                .push(("Retry-After".to_string(), value.clone()));
        }
        reply
    };
    if let Some(delay) = held {
        // Handled on a task of its own, which a client hanging up (and the
        // server dropping this handler) does not stop.
        let site = site.clone();
        let handled = actix_web::rt::spawn(async move {
            tokio::time::sleep(delay).await;
            router::handle(&mut lock(&site), &incoming)
        });
        return match handled.await {
            Ok(reply) => response(reply, false),
            Err(_) => HttpResponse::InternalServerError().finish(),
        };
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Fail(status)) => return response(failure_reply(&incoming, status), false),
        Some(Fault::Reset) => return HttpResponse::Ok().body(Severed),
        None => {}
    }
    let busy = workers.serve().await;
    let mut reply = {
        let mut site = lock(&site);
        let (loaded, mails_seen) = loaded;
        let stored = loaded.and_then(|loaded| whole_saves::restore_loaded(&mut site, loaded));
        site.mails_at_arrival = mails_seen;
        let reply = router::handle(&mut site, &incoming);
        site.mails_at_arrival = None;
        if let Some(stored) = stored {
            whole_saves::settle(&mut site, stored, reply.status);
        }
        reply
    };
    drop(busy);
    if let Some(status) = failed_after {
        reply = failure_reply(&incoming, status);
    }
    if malformed {
        reply.body = cut_off(&reply.body);
    }
    if let Some(rewrite) = rewrite {
        let mut answer = super::faults::Answer {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        };
        (rewrite.0)(&mut answer);
        reply = Reply {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        };
    }
    if let Some(padded) = padded {
        return padded_response(padded);
    }
    if session_ended {
        reply
            .headers
            .push(("Set-Cookie".to_string(), deleted_session_cookie()));
    }
    match slow_body {
        Some(delay) => trickle(reply, delay),
        None => response(reply, incoming.method == "HEAD"),
    }
}

/// The headers and half the body at once, the rest after `delay`.
fn trickle(reply: Reply, delay: std::time::Duration) -> HttpResponse {
    use futures_util::StreamExt;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &reply.headers {
        builder.append_header((name.as_str(), value.as_str()));
    }
    let mut body = reply.body;
    let rest = Bytes::from(body.split_off(body.len() / 2));
    let first = futures_util::stream::once(async move { Ok::<_, io::Error>(Bytes::from(body)) });
    let second = futures_util::stream::once(async move {
        tokio::time::sleep(delay).await;
        Ok::<_, io::Error>(rest)
    });
    builder.streaming(first.chain(second))
}

/// 200 with `padded.bytes` bytes of a JSON document that never closes,
/// made in 64 KiB chunks as they are sent.
fn padded_response(padded: super::faults::Padded) -> HttpResponse {
    const CHUNK: u64 = 64 * 1024;
    let chunks = padded.bytes.div_ceil(CHUNK);
    let stream = futures_util::stream::iter(0..chunks).map(move |i| {
        let size = CHUNK.min(padded.bytes - i * CHUNK) as usize;
        let mut chunk = vec![b' '; size];
        if i == 0 {
            let start = b"{\"data\":\"";
            let n = start.len().min(size);
            chunk[..n].copy_from_slice(&start[..n]);
        }
        Ok::<_, io::Error>(Bytes::from(chunk))
    });
    use futures_util::StreamExt;
    let mut builder = HttpResponse::Ok();
    builder.content_type("application/vnd.api+json");
    if padded.announced {
        builder.body(SizedStream {
            size: padded.bytes,
            stream: Box::pin(stream),
        })
    } else {
        builder.streaming(stream)
    }
}

/// A stream of a known length, sent with its `Content-Length`.
struct SizedStream {
    size: u64,
    stream: Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, io::Error>>>>,
}

impl MessageBody for SizedStream {
    type Error = io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, io::Error>>> {
        self.stream.as_mut().poll_next(cx)
    }
}

fn failure_reply(incoming: &Incoming, status: u16) -> Reply {
    let url = incoming.url(&Query::parse(&incoming.raw_query));
    let failure = Failure::Api(ApiError::new(status, failure_detail(status)));
    let mut reply = Reply::document(status, &error_document(&failure, &url));
    // A redirect as a site that moved to HTTPS sends it.
    if (300..400).contains(&status) {
        let moved = url.replacen("http://", "https://", 1);
        reply.headers.push(("Location".to_string(), moved));
    }
    reply
}

fn response(reply: Reply, head_only: bool) -> HttpResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &reply.headers {
        builder.append_header((name.as_str(), value.as_str()));
    }
    if head_only || reply.status == 204 {
        builder.finish()
    } else {
        builder.body(reply.body)
    }
}

/// A body that fails before producing a byte, so actix drops the connection.
struct Severed;

impl MessageBody for Severed {
    type Error = io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))))
    }
}
