//! A client that announces a body and does not send it is answered and its
//! connection closed when `server.body_timeout_secs` is up.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{spawn_app_with, Options, TOKEN};

/// Sends a request head announcing a large body, then only part of it.
async fn send_partial_body(addr: &str, path: &str) -> (Duration, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: 1000000\r\n\r\n{{\"userName\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the bridge held the connection open for 20 s");
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).into_owned(),
    )
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_and_the_connection_closed() {
    let app = spawn_app_with(Options {
        extra_config: "server:\n  body_timeout_secs: 1\n".into(),
        ..Options::default()
    })
    .await;
    let addr = app
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    let (elapsed, answer) = send_partial_body(&addr, "/scim/v2/Users").await;
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/scim+json"), "{answer}");
    assert!(answer.contains("\"detail\""), "{answer}");
}

#[tokio::test]
async fn headers_that_do_not_arrive_in_time_get_a_scim_408_and_the_connection_closed() {
    let app = spawn_app_with(Options {
        extra_config: "server:\n  header_timeout_secs: 1\n".into(),
        ..Options::default()
    })
    .await;
    let addr = app
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("GET /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the bridge held the connection open for 20 s");
    assert!(started.elapsed() < Duration::from_secs(5));
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/scim+json"), "{answer}");
    assert!(answer.contains("header_timeout_secs"), "{answer}");
}

#[test]
fn zero_deadlines_and_connection_limits_are_refused_at_start_up() {
    for bad in [
        "server:\n  body_timeout_secs: 0\n",
        "server:\n  header_timeout_secs: 0\n",
        "server:\n  max_connections: 0\n",
    ] {
        let yaml = format!(
            "scim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: http://127.0.0.1:1\n  auth:\n    username: a\n    password: b\n{bad}"
        );
        let err = drupal_scim_bridge::config::Settings::from_yaml(&yaml).unwrap_err();
        assert!(err.to_string().contains("server."), "{err}");
    }
}

/// `host:port` of the bridge's SCIM port.
fn address(app: &super::helpers::TestApp) -> String {
    app.base
        .trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_string()
}

/// Sends one keep-alive request for the service provider configuration.
async fn send_request(stream: &mut tokio::net::TcpStream, addr: &str) {
    let head = format!(
        "GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
}

/// The status line of the answer, if one starts arriving within `wait`.
async fn status_line(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    let mut buffer = vec![0u8; 16 * 1024];
    let read = tokio::time::timeout(wait, stream.read(&mut buffer)).await;
    let n = read.ok()?.ok()?;
    let text = String::from_utf8_lossy(&buffer[..n]);
    text.lines().next().map(str::to_string)
}

/// actix counts connections per worker thread, and the bridge runs one per
/// core: a limit of one per worker makes the total exactly the worker count.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[tokio::test]
async fn a_connection_beyond_max_connections_waits_until_one_closes() {
    let limit = workers();
    let app = spawn_app_with(Options {
        extra_config: format!("server:\n  max_connections: {limit}\n"),
        ..Options::default()
    })
    .await;
    let addr = address(&app);
    // `limit` kept-alive connections, each served once and then idle
    // (actix closes an idle one after 5 s; the test is done well before).
    let mut held = Vec::new();
    for _ in 0..limit {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        send_request(&mut stream, &addr).await;
        let status = status_line(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
        held.push(stream);
    }
    // One more: the kernel completes the handshake, the bridge does not
    // take it while the others are open.
    let mut waiting = tokio::net::TcpStream::connect(&addr).await.unwrap();
    send_request(&mut waiting, &addr).await;
    assert_eq!(
        status_line(&mut waiting, Duration::from_millis(1500)).await,
        None,
        "a connection beyond server.max_connections was served"
    );
    // Closing one lets it in.
    drop(held.pop());
    let started = Instant::now();
    let status = status_line(&mut waiting, Duration::from_secs(3)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(held);
    drop(waiting);
    // And the bridge serves as before.
    let answer = app
        .client
        .get(format!("{}/ServiceProviderConfig", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn slow_clients_are_held_at_most_max_connections_at_a_time_and_all_let_go() {
    // Without a body deadline and a connection limit, each client that
    // announces a body and never sends it kept its connection and buffers
    // (1,000 of them raised the bridge's memory by a third). Now at most
    // `limit` are held at once, each for at most the deadline.
    let limit = workers();
    let clients = 4 * limit;
    let app = spawn_app_with(Options {
        extra_config: format!("server:\n  max_connections: {limit}\n  body_timeout_secs: 1\n"),
        ..Options::default()
    })
    .await;
    let addr = address(&app);
    let started = Instant::now();
    let slow: Vec<_> = (0..clients)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move { send_partial_body(&addr, "/scim/v2/Users").await })
        })
        .collect();
    for client in slow {
        let (_, answer) = client.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let elapsed = started.elapsed();
    // `clients / limit` rounds of one second each: not all at once.
    assert!(
        elapsed >= Duration::from_millis(3500),
        "{clients} slow clients were held at once: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    let answer = app
        .client
        .get(format!("{}/ServiceProviderConfig", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}
