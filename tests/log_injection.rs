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

use helpers::{patch_op, spawn_app, TestApp};

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
        let end = closing_quote(path).unwrap_or_else(|| panic!("the quote closes: {line}"));
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

/// The mapping of the demo site with term-backed groups on: every group a
/// client names is created as a taxonomy term, so its name is the client's.
fn term_groups() -> helpers::Options {
    helpers::Options {
        mapping: format!(
            "{}group_terms: {{}}\n",
            helpers::mapping_with(
                "demo.yaml",
                "  - {role: editor, display_name: editor}",
                "  []"
            )
        ),
        ..helpers::Options::default()
    }
}

/// The fields of a text log line as a logfmt parser reads them: each
/// `key=value` (the value bare up to the next space, or quoted with JSON's
/// escapes), and each bare word as a key without a value.
fn logfmt(line: &str) -> Vec<(String, Option<String>)> {
    let mut fields = Vec::new();
    let mut rest = line.trim_end_matches('\n');
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return fields;
        }
        let key_end = rest.find([' ', '=']).unwrap_or(rest.len());
        let key = rest[..key_end].to_string();
        rest = &rest[key_end..];
        let Some(after) = rest.strip_prefix('=') else {
            fields.push((key, None));
            continue;
        };
        let (value, left) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end =
                    closing_quote(quoted).unwrap_or_else(|| panic!("an unclosed quote: {line}"));
                let literal = &after[..end + 2];
                let value: String = serde_json::from_str(literal)
                    .unwrap_or_else(|e| panic!("{literal} is no quoted value ({e}): {line}"));
                (value, &after[end + 2..])
            }
            None => {
                let end = after.find(' ').unwrap_or(after.len());
                (after[..end].to_string(), &after[end..])
            }
        };
        fields.push((key, Some(value)));
        rest = left;
    }
}

/// The values `key` has in `fields`, in order.
fn values<'f>(fields: &'f [(String, Option<String>)], key: &str) -> Vec<Option<&'f str>> {
    fields
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_deref())
        .collect()
}

/// The one line of the text log with the event `message` and all of
/// `parts`, and the fields of that event: what follows the message.
fn event_with(
    text: &str,
    message: &str,
    parts: &[&str],
) -> (String, Vec<(String, Option<String>)>) {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!(": {message} ")) && parts.iter().all(|p| l.contains(p)))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one line with {message:?} and {parts:?}: {text}"
    );
    let (_, fields) = lines[0].split_once(message).unwrap();
    (lines[0].to_string(), logfmt(fields))
}

/// A client's value holding spaces, `=`, quotes or backslashes is one
/// quoted field value in the text log: a logfmt parser reads exactly the
/// fields the bridge wrote, with the client's values as they were sent.
#[tokio::test]
async fn client_values_cannot_forge_fields_of_a_text_log_line() {
    let logs = text_logs();
    let app = helpers::spawn_app_with(term_groups()).await;
    let group_name = "Log es";
    let group = app
        .post("/Groups", &json!({"displayName": group_name}))
        .await;
    assert_eq!(group.status, 201, "{}", group.body);
    let group = group.body["id"].as_str().unwrap().to_string();

    // A member value holding the fields of the line that follow it.
    let forged_member = "x problem=ok action=remove";
    add_unknown_member(&app, &group, forged_member).await;
    let text = logs.contents();
    let (line, fields) = event_with(
        &text,
        "a membership change cannot be made; nothing was written",
        &["x problem=ok"],
    );
    assert_eq!(values(&fields, "member"), [Some(forged_member)], "{line}");
    assert_eq!(values(&fields, "action"), [Some("add")], "{line}");
    assert_eq!(values(&fields, "problem"), [Some("no such user")], "{line}");
    assert_eq!(values(&fields, "group"), [Some(group_name)], "{line}");

    // A group name holding an `id` field.
    let forged_name = "Ops id=00000000-0000-0000-0000-000000000000";
    let created = app
        .post("/Groups", &json!({"displayName": forged_name}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let text = logs.contents();
    let (line, fields) = event_with(&text, "group created as a taxonomy term", &["Ops id="]);
    assert_eq!(values(&fields, "group"), [Some(forged_name)], "{line}");
    assert_eq!(values(&fields, "id"), [Some(id)], "{line}");

    // Quotes and backslashes, in a member and in a group's name.
    let quoting_member = r#"q"7d1\te \" end=1 \"#;
    let quoting_name = r#"Say "hi" \o/ \"#;
    let created = app
        .post("/Groups", &json!({"displayName": quoting_name}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let quoting_group = created.body["id"].as_str().unwrap().to_string();
    add_unknown_member(&app, &quoting_group, quoting_member).await;
    let text = logs.contents();
    let (line, fields) = event_with(
        &text,
        "a membership change cannot be made; nothing was written",
        &["7d1"],
    );
    assert_eq!(values(&fields, "member"), [Some(quoting_member)], "{line}");
    assert_eq!(values(&fields, "group"), [Some(quoting_name)], "{line}");
    assert_eq!(values(&fields, "end"), Vec::<Option<&str>>::new(), "{line}");
    assert_eq!(values(&fields, "problem"), [Some("no such user")], "{line}");
}

/// A PATCH adding `member`, which names no account, to `group`: refused.
async fn add_unknown_member(app: &TestApp, group: &str, member: &str) {
    let answer = app
        .patch(
            &format!("/Groups/{group}"),
            &patch_op(json!([{"op": "add", "path": "members", "value": [{"value": member}]}])),
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
}

/// Where the quoted text `rest` (after its opening quote) ends: the first
/// quote no backslash escapes.
fn closing_quote(rest: &str) -> Option<usize> {
    let mut escaped = false;
    rest.char_indices()
        .find(|&(_, c)| {
            let closes = !escaped && c == '"';
            escaped = !escaped && c == '\\';
            closes
        })
        .map(|(at, _)| at)
}
