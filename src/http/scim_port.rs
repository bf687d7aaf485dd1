//! The SCIM port's server: actix-web's application served by actix-http
//! over sockets wrapped in [`ScimErrors`], so that even the answers the
//! HTTP codec gives on its own are SCIM error documents. This is what
//! `HttpServer` does, with the socket wrapped; `HttpServer` itself accepts
//! only bare sockets.

use std::fmt;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, Protocol, Request, Response};
use actix_server::Server;
use actix_service::{fn_service, map_config, IntoServiceFactory};
use actix_service::{Service, ServiceFactory, ServiceFactoryExt};
use actix_web::body::MessageBody;
use actix_web::dev::AppConfig;
use actix_web::Error;
use prometheus_client::metrics::counter::Counter;

use super::framework_errors::ScimErrors;
use crate::config::ServerSettings;

/// Seconds in-flight requests get to finish when the server stops.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

/// Serves the application `factory` builds (once per worker) on `listener`,
/// counting the requests the HTTP codec refuses in `refused`.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    settings: &ServerSettings,
    refused: Counter,
    factory: F,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // actix counts connections per worker.
    let per_worker = settings.max_connections.div_ceil(workers).max(1);
    let header_timeout = settings.header_timeout;
    let addr = listener.local_addr()?;
    let builder = Server::build();
    // Kept-alive connections are closed once a graceful stop starts (as
    // HttpServer does), so a stopping bridge takes no new requests on them.
    let stopping = builder.graceful_shutdown_signal();
    let server = builder
        .workers(workers)
        .max_concurrent_connections(per_worker)
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .listen("scim", listener, move || {
            let app = factory()
                .into_factory()
                .map_err(|err| err.into().error_response());
            let stopping = stopping.clone();
            let http = HttpService::build()
                // The address each connection came to, for a base URL
                // when the request names no usable Host (forwarded.rs),
                // and whether an answer closed it (closing.rs).
                .on_connect_ext(
                    |io: &ScimErrors<tokio::net::TcpStream>, ext: &mut actix_http::Extensions| {
                        if let Ok(addr) = io.get_ref().local_addr() {
                            ext.insert(super::forwarded::LocalAddr(addr));
                        }
                        // Set once an answer closes the connection.
                        ext.insert(super::closing::Closing::new(io.seen()));
                    },
                )
                .graceful_shutdown_signal(move || {
                    let stopping = stopping.clone();
                    async move { stopping.notified().await }
                })
                .client_request_timeout(header_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .finish(map_config(app, |_| AppConfig::default()));
            let refused = refused.clone();
            fn_service(move |io: tokio::net::TcpStream| {
                let refused = refused.clone();
                async move {
                    let _ = io.set_nodelay(true);
                    let peer = io.peer_addr().ok();
                    let io = ScimErrors::new(io).counting(refused);
                    Ok((io, Protocol::Http1, peer))
                }
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}
