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
