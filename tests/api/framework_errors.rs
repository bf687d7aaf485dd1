//! Requests the HTTP codec refuses before the bridge's code runs still get
//! a SCIM error document with a `detail` and `application/scim+json`.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{captured_logs, spawn_app, TOKEN};

/// Sends raw bytes, reads the answer until the bridge closes.
async fn raw(addr: &str, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The bridge may answer and close before it read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the bridge held the connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

/// `host:port` of the bridge whose SCIM base URL is `base`.
fn address(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_string()
}

fn assert_scim_error(answer: &str, status: u16) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {answer:?}"));
    assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/scim+json"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(body["status"], status.to_string());
    assert!(!body["detail"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn what_the_http_codec_refuses_is_answered_with_a_scim_error() {
    let app = spawn_app().await;
    let addr = address(&app.base);
    let request = |path: &str, extra: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n{extra}\r\n"
        )
        .into_bytes()
    };
    let long_url = format!("/scim/v2/Users?filter={}", "a".repeat(70_000));
    assert_scim_error(&raw(&addr, &request(&long_url, "")).await, 400);
    let longer_url = format!("/scim/v2/Users?filter={}", "a".repeat(140_000));
    assert_scim_error(&raw(&addr, &request(&longer_url, "")).await, 431);
    let many: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_scim_error(&raw(&addr, &request("/scim/v2/Users", &many)).await, 431);
    for header in ["If-Match", "X-Request-Id", "Content-Type"] {
        let bad = format!("{header}: a\u{1}b\r\n");
        assert_scim_error(&raw(&addr, &request("/scim/v2/Users", &bad)).await, 400);
    }
}

#[tokio::test]
async fn requests_on_a_kept_alive_connection_are_unchanged_before_a_refused_one() {
    let app = spawn_app().await;
    let addr = address(&app.base);
    let good = format!(
        "GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    let head = format!("HEAD /scim/v2/Users/nobody HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    let bad = format!("GET /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nIf-Match: a\u{1}b\r\n\r\n");
    let answer = raw(&addr, format!("{good}{head}{good}{bad}").as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 404").count(), 1, "{answer}");
    // The HEAD's answer says the GET's length (RFC 9110 §8.6) and has no
    // body: the next answer starts right after its head.
    let not_found = &answer[answer.find("HTTP/1.1 404").unwrap()..];
    let (not_found_head, after) = not_found.split_once("\r\n\r\n").unwrap();
    assert!(
        !not_found_head.contains("content-length: 0"),
        "{not_found_head}"
    );
    assert!(after.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("x-scim-bridge"),
        "{answer}"
    );
    let last = &answer[answer.find("HTTP/1.1 400").unwrap()..];
    assert_scim_error(last, 400);
}

/// A body whose chunked encoding is malformed is a syntax error the client
/// can act on, not the framework's words.
#[tokio::test]
async fn a_malformed_chunked_body_is_an_invalid_syntax_error_that_says_so() {
    let app = spawn_app().await;
    let addr = address(&app.base);
    let request = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    );
    let answer = raw(&addr, request.as_bytes()).await;
    assert_scim_error(&answer, 400);
    let body: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["scimType"], "invalidSyntax", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("chunked encoding"), "{detail}");
    assert!(!detail.contains("None"), "{detail}");
    assert_eq!(app.drupal.request_count(), 0);
}

/// A refusal before the body was read (a 401 to a chunked request that
/// never sends its chunks) closes the connection: a client cannot hold
/// the bridge's sockets by announcing a body it never sends.
#[tokio::test]
async fn a_refused_request_whose_body_never_comes_is_closed() {
    let app = spawn_app().await;
    let addr = address(&app.base);
    for auth in ["", "Authorization: Bearer wrong-token-0123456789\r\n"] {
        let request = format!(
            "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "still open 5 s after the answer: {}",
            String::from_utf8_lossy(&answer)
        );
        assert_scim_error(&String::from_utf8_lossy(&answer), 401);
    }
}

/// A complete, authenticated request creating the user `name`.
fn create_request(addr: &str, name: &str) -> String {
    let body = format!(r#"{{"userName":"{name}","emails":[{{"value":"{name}@example.org"}}]}}"#);
    format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// How many answers `answer` holds.
fn answers(answer: &str) -> usize {
    answer.matches("HTTP/1.").count()
}

/// RFC 9112 §9.6: once an answer said `Connection: close` (the request
/// asked for it, it was HTTP/1.0 without keep-alive, or the bridge closes
/// after an error), a request pipelined behind it is not carried out.
#[tokio::test]
async fn nothing_pipelined_after_an_answer_that_closes_the_connection_is_carried_out() {
    let app = spawn_app().await;
    let addr = address(&app.base);
    let bad_json = "{not json";
    let first = [
        format!("GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"),
        format!("POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{bad_json}", bad_json.len()),
        format!("POST /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{bad_json}", bad_json.len()),
        format!("GET /scim/v2/ServiceProviderConfig HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
    ];
    for (i, first) in first.iter().enumerate() {
        let name = format!("pipelined{i}");
        let before = app.drupal.request_count();
        let answer = raw(
            &addr,
            format!("{first}{}", create_request(&addr, &name)).as_bytes(),
        )
        .await;
        assert_eq!(answers(&answer), 1, "{first}: {answer}");
        assert!(!answer.contains(&name), "{answer}");
        assert!(app.drupal_user(&name).is_none(), "{first}: created");
        assert_eq!(app.drupal.request_count(), before, "{first}");
    }
}

#[tokio::test]
async fn requests_pipelined_on_a_kept_alive_connection_are_all_carried_out() {
    let app = spawn_app().await;
    let addr = address(&app.base);
    let get = format!("GET /scim/v2/ServiceProviderConfig HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    // Not `Connection: close`: the codec would put it on the answer
    // before, which then ends the connection.
    let last = format!("GET /scim/v2/Users?filter=userName%20eq%20%22piped%22 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(format!("{get}{}{last}", create_request(&addr, "piped")).as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !answer.contains("\"totalResults\"") || !answer.ends_with('}') {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await;
    assert!(read.is_ok(), "{answer}");
    assert_eq!(answers(&answer), 3, "{answer}");
    assert!(answer.contains("HTTP/1.1 201 Created"), "{answer}");
    assert!(app.drupal_user("piped").is_some());
    assert!(answer.contains(r#""totalResults":1"#), "{answer}");
}

/// A request the codec cannot parse is answered and counted, and writes
/// nothing at ERROR: any caller could otherwise fill the error log.
#[tokio::test]
async fn a_request_the_codec_refuses_is_counted_not_logged_as_an_error() {
    let logs = captured_logs();
    let app = super::monitoring::monitored("").await;
    let addr = address(&app.base);
    let bad = format!("GET /scim/v2/Users HTTP/1.1\r\nHost: {addr}\r\nX-Bad: a\u{1}b\r\n\r\n");
    assert_scim_error(&raw(&addr, bad.as_bytes()).await, 400);
    let metrics = reqwest::get(format!("{}/metrics", app.monitor.as_ref().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        super::monitoring::value(&metrics, "scim_bridge_http_requests_refused_total"),
        1.0,
        "{metrics}"
    );
    // An operator's RUST_LOG replaces the default filter.
    if std::env::var_os("RUST_LOG").is_none() {
        let text = logs.contents();
        assert!(!text.contains("request parse error"), "{text}");
    }
}
