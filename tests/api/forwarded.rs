//! `Location` and `meta.location` take forwarded headers only from the
//! proxies listed in `scim.trusted_proxies`, and only valid ones.

use serde_json::json;

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
