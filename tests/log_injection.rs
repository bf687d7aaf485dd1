//! Values a client sends cannot forge or disguise a log line, in the text
//! format (this binary installs it for the whole process) as in JSON
//! (`tests/logs.rs`): a newline, NUL, DEL or a bidirectional control in a
//! member value, a filter, a userName or an id reaches the log escaped.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::sync::OnceLock;

use drupal_scim_bridge::telemetry::{self, CapturedLogs, LogFormat};
use serde_json::json;

use helpers::{patch_op, spawn_app};

fn text_logs() -> CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        telemetry::init(LogFormat::Text, logs.clone(), "info").expect("one subscriber");
        logs
    })
    .clone()
}

const FORGED: &str = "1999-01-01T00:00:00.000000Z ERROR forged: the bridge was compromised";

#[tokio::test]
async fn client_values_cannot_write_a_line_of_their_own_into_the_text_log() {
    let logs = text_logs();
    let app = spawn_app().await;
    let group = app.group_id("editor").await;
    let member = format!("x\u{0}\u{7f}\u{202e}\u{2066}\n{FORGED}");
    app.patch(
        &format!("/Groups/{group}"),
        &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": member}]}])),
    )
    .await;
    app.filter_users(&format!("userName eq \"y\r\n{FORGED}\""))
        .await;
    app.post(
        "/Users",
        &json!({"userName": format!("z\n{FORGED}"), "emails": [{"value": "z@example.org"}]}),
    )
    .await;
    app.get(&format!("/Users/id%0A{}", FORGED.replace(' ', "%20")))
        .await;

    let text = logs.contents();
    assert!(text.contains("forged"), "the values were logged: {text}");
    for line in text.lines() {
        assert!(
            !line.to_ascii_lowercase().starts_with("1999-01-01"),
            "a forged line: {line}"
        );
        for raw in ['\u{0}', '\u{7f}', '\u{202e}', '\u{2066}', '\r'] {
            assert!(!line.contains(raw), "{raw:?} reached the log raw: {line}");
        }
    }
}

/// The Drupal call's path, decoded for people, is quoted: a userName
/// holding `key="value"` pairs cannot pass for fields of the bridge's own.
#[tokio::test]
async fn a_value_in_a_drupal_path_is_quoted_in_the_text_log() {
    let logs = text_logs();
    let app = spawn_app().await;
    let forged = r#"q outcome="ok" user="admin" status=201"#;
    app.filter_users(&format!("userName eq \"{}\"", forged.replace('"', "\\\"")))
        .await;
    app.post(
        "/Users",
        &json!({"userName": forged, "emails": [{"value": "q@example.org"}]}),
    )
    .await;
    let text = logs.contents();
    let calls: Vec<&str> = text.lines().filter(|l| l.contains("drupal call")).collect();
    assert!(!calls.is_empty(), "{text}");
    for line in calls {
        assert!(!line.contains(forged), "{line}");
        // The path is one quoted string, and the bridge's field follows it.
        let path = line
            .split_once(" path=\"")
            .unwrap_or_else(|| panic!("a quoted path: {line}"))
            .1;
        let mut escaped = false;
        let end = path
            .char_indices()
            .find(|&(_, c)| {
                let closes = !escaped && c == '"';
                escaped = !escaped && c == '\\';
                closes
            })
            .map(|(at, _)| at)
            .unwrap_or_else(|| panic!("the quote closes: {line}"));
        assert!(path[end + 1..].starts_with(" outcome="), "{line}");
    }
}

/// A path no route matches is logged as the route: quoted in the text
/// format, so quotes and `key=value` pairs in it (the codec lets `"` into
/// a path) cannot pass for the bridge's own fields.
#[tokio::test]
async fn an_unmatched_path_is_quoted_in_the_text_log() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let logs = text_logs();
    let app = spawn_app().await;
    let addr = app
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/scim/v2")
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"GET /nowhere\"outcome=\"ok\"status=201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let text = logs.contents();
    let line = text
        .lines()
        .find(|l| l.contains("nowhere"))
        .unwrap_or_else(|| panic!("the request was logged: {text}"));
    assert!(
        line.contains(r#"route="/nowhere\"outcome=\"ok\"status=201""#),
        "{line}"
    );
}
