//! The least an actix-web service calling Drupal with reqwest can do: it
//! forwards every request's method, path, query and Authorization header (no
//! body: the benchmark sends reads) to the upstream and answers with the
//! upstream's status and body. No SCIM, no mapping, no limits. `scripts/bench-load` measures it beside the bridge to
//! show which share of the bridge's added latency is the server and client
//! stack itself rather than the bridge's own work.
//!
//!   cargo run --release --example forwarder -- 127.0.0.1:18283 http://127.0.0.1:18281

use actix_web::http::header::AUTHORIZATION;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use thread_local::ThreadLocal;

struct Upstream {
    base_url: String,
    // One client per worker thread, as the bridge's Drupal client has.
    clients: ThreadLocal<reqwest::Client>,
}

async fn forward(req: HttpRequest, upstream: web::Data<Upstream>) -> HttpResponse {
    let client = upstream.clients.get_or(reqwest::Client::new);
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut call = client.request(method, format!("{}{}", upstream.base_url, req.uri()));
    if let Some(auth) = req.headers().get(AUTHORIZATION) {
        call = call.header(reqwest::header::AUTHORIZATION, auth.as_bytes());
    }
    let answer = match call.send().await {
        Ok(answer) => answer,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    match answer.bytes().await {
        Ok(body) => HttpResponse::build(status).body(body),
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(base_url)) = (args.next(), args.next()) else {
        eprintln!("usage: forwarder LISTEN_ADDR UPSTREAM_BASE_URL");
        std::process::exit(2);
    };
    let upstream = web::Data::new(Upstream {
        base_url: base_url.trim_end_matches('/').to_string(),
        clients: ThreadLocal::new(),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(upstream.clone())
            .default_service(web::to(forward))
    })
    .bind(listen)?
    .run()
    .await
}
