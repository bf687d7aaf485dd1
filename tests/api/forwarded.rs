//! `Location` and `meta.location` take forwarded headers only from the
//! proxies listed in `scim.trusted_proxies`, and only valid ones.

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{read, spawn_app_with, Options, TOKEN};

async fn location_with_headers(options: Options, headers: &[(&str, &str)]) -> (String, String) {
    let app = spawn_app_with(options).await;
    app.warm_role_cache().await;
    let mut request = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(TOKEN)
        .json(&json!({"userName": format!("fwd{}", rand_suffix()), "emails": [{"value": "fwd@example.org"}]}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = read(request.send().await.unwrap()).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    (
        answer.header("location").unwrap_or_default().to_string(),
        answer.body["meta"]["location"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn rand_suffix() -> u32 {
    rand::random::<u32>()
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_do_not_build_locations() {
    let (header, meta) = location_with_headers(
        Options::default(),
        &[
            ("x-forwarded-proto", "javascript:alert(1)//"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "proto=https;host=evil.example"),
        ],
    )
    .await;
    for location in [&header, &meta] {
        assert!(
            location.starts_with("http://127.0.0.1:"),
            "not from the client's forwarded headers: {location}"
        );
    }
}

#[tokio::test]
async fn a_host_header_that_is_no_host_is_not_used() {
    let (header, meta) =
        location_with_headers(Options::default(), &[("host", "user@evil.example/x?")]).await;
    for location in [&header, &meta] {
        assert!(!location.contains("evil"), "{location}");
        assert!(location.starts_with("http://"), "{location}");
    }
}

/// A request without a usable Host (HTTP/1.0 needs none) is answered with
/// the address the bridge listens on, not one the web framework made up.
#[tokio::test]
async fn without_a_host_the_location_is_the_address_the_bridge_listens_on() {
    let app = spawn_app_with(Options::default()).await;
    app.warm_role_cache().await;
    let addr = app
        .base
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .expect("the bridge's address")
        .to_string();
    for host in ["", "Host: evil.example\"><x\r\n"] {
        let name = format!("nohost{}", rand_suffix());
        let body = format!(
            "{{\"userName\":\"{name}\",\"emails\":[{{\"value\":\"{name}@example.org\"}}]}}"
        );
        let request = format!(
            "POST /scim/v2/Users HTTP/1.0\r\n{host}Authorization: Bearer {TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.0 201") || answer.starts_with("HTTP/1.1 201"),
            "{answer}"
        );
        let location = answer
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .strip_prefix("location: ")
                    .map(str::to_string)
            })
            .expect("a Location");
        assert!(
            location.starts_with(&format!("http://{addr}/scim/v2/users/")),
            "{location} is not at {addr}"
        );
    }
}

#[tokio::test]
async fn forwarded_headers_from_a_trusted_proxy_are_used_when_valid() {
    let trusted = || Options {
        scim_config: "  trusted_proxies: [\"127.0.0.0/8\", \"::1\"]\n".into(),
        ..Options::default()
    };
    let (header, meta) = location_with_headers(
        trusted(),
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "scim.example.org"),
        ],
    )
    .await;
    assert!(
        header.starts_with("https://scim.example.org/scim/v2/Users/"),
        "{header}"
    );
    assert_eq!(header, meta);
    let (header, _) = location_with_headers(
        trusted(),
        &[
            ("x-forwarded-proto", "javascript:alert(1)//"),
            ("x-forwarded-host", "evil.example/path"),
        ],
    )
    .await;
    assert!(
        header.starts_with("http://127.0.0.1:"),
        "invalid values are not used: {header}"
    );
}
