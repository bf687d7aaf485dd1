//! Authentication, discovery and the framework's rejections, as an IdP sees them.

use serde_json::json;

use crate::helpers::{read, spawn_app, TOKEN};

#[tokio::test]
async fn requests_without_or_with_a_wrong_token_get_401_with_a_scim_body() {
    let app = spawn_app().await;
    for token in [None, Some("wrong-token-0123456789")] {
        let mut request = app.client.get(format!("{}/Users", app.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let answer = read(request.send().await.unwrap()).await;
        answer.assert_scim_error(401, None);
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"drupal-scim-bridge\"")
        );
    }
    assert_eq!(app.drupal.request_count(), 0, "nothing reached Drupal");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    let answer = read(
        app.client
            .get(format!("{}/ServiceProviderConfig", app.base))
            .header("Authorization", format!("bearer {TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn discovery_states_what_the_bridge_supports() {
    let app = spawn_app().await;
    let config = app.get("/ServiceProviderConfig").await;
    assert_eq!(config.status, 200);
    assert_eq!(config.header("content-type"), Some("application/scim+json"));
    assert_eq!(config.body["patch"]["supported"], true);
    assert_eq!(config.body["filter"]["supported"], true);
    assert_eq!(config.body["filter"]["maxResults"], 200);
    assert_eq!(
        config.body["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );

    let types = app.get("/ResourceTypes").await;
    assert_eq!(types.status, 200);
    let user = app.get("/ResourceTypes/User").await;
    assert_eq!(user.body["endpoint"], "/Users");
    assert_eq!(
        user.body["schema"],
        "urn:ietf:params:scim:schemas:core:2.0:User"
    );

    let schemas = app.get("/Schemas").await;
    assert_eq!(schemas.status, 200);
    assert!(
        !schemas.body.to_string().contains("null"),
        "no nulls in /Schemas (Entra)"
    );
    let user_schema = app
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await;
    assert_eq!(user_schema.body["name"], "User");
    app.get("/Schemas/urn:nope")
        .await
        .assert_scim_error(404, None);
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_in_scim_error_format() {
    let app = spawn_app().await;
    app.get("/Nothing").await.assert_scim_error(404, None);
    let answer = app.post("/ServiceProviderConfig", &json!({})).await;
    answer.assert_scim_error(405, None);
    let answer = app
        .request(
            reqwest::Method::PUT,
            "/Users",
            Some(&json!({"userName": "x"})),
        )
        .await;
    answer.assert_scim_error(405, None);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = spawn_app().await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let answer = app.post("/Users", &json!({"userName": huge})).await;
    answer.assert_scim_error(413, None);
    assert_eq!(app.drupal.request_count(), 0);
}

#[tokio::test]
async fn plain_application_json_requests_are_accepted() {
    let app = spawn_app().await;
    let answer = read(
        app.client
            .post(format!("{}/Users", app.base))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/json")
            .body(
                json!({"userName": "json-user", "emails": [{"value": "j@example.org"}]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

/// .NET and PowerShell clients start a body with a UTF-8 byte order mark;
/// RFC 8259 §8.1 lets a parser ignore it. One is skipped, not two.
#[tokio::test]
async fn a_body_starting_with_a_byte_order_mark_is_read() {
    let app = spawn_app().await;
    let send = |body: Vec<u8>| {
        app.client
            .post(format!("{}/Users", app.base))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(body)
            .send()
    };
    let user = json!({"userName": "bom-user", "emails": [{"value": "bom@example.org"}]});
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), user.to_string().as_bytes()].concat();
    let answer = read(send(with_bom).await.unwrap()).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.body["userName"], "bom-user");
    let twice = [b"\xEF\xBB\xBF\xEF\xBB\xBF".as_slice(), b"{}"].concat();
    read(send(twice).await.unwrap())
        .await
        .assert_scim_error(400, Some("invalidSyntax"));
    let only = b"\xEF\xBB\xBF  ".to_vec();
    let answer = read(send(only).await.unwrap()).await;
    answer.assert_scim_error(400, Some("invalidSyntax"));
    assert!(
        answer.body["detail"].as_str().unwrap().contains("empty"),
        "{}",
        answer.body
    );
}

/// SCIM attribute names ignore case (RFC 7643 §2.1): a body naming one
/// twice is ambiguous, and is refused rather than resolved last-wins.
#[tokio::test]
async fn an_attribute_given_twice_in_a_body_is_refused_and_named() {
    let app = spawn_app().await;
    let id = app.create_user("twice", "twice@example.org").await;
    let send = |method: reqwest::Method, path: String, body: &'static str| {
        app.client
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(body)
            .send()
    };
    let post = reqwest::Method::POST;
    let patch = reqwest::Method::PATCH;
    for (method, path, body, named) in [
        (
            post.clone(),
            "/Users".to_string(),
            r#"{"userName":"a","username":"b"}"#,
            "username",
        ),
        (
            post.clone(),
            "/Users".to_string(),
            r#"{"userName":"a","userName":"b"}"#,
            "userName",
        ),
        (
            post.clone(),
            "/Users".to_string(),
            r#"{"userName":"a","name":{"givenName":"x","GivenName":"y"}}"#,
            "name.GivenName",
        ),
        (
            patch.clone(),
            format!("/Users/{id}"),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations":[{"op":"replace","value":{"title":"a","Title":"b"}}]}"#,
            "Title",
        ),
    ] {
        let answer = read(send(method, path, body).await.unwrap()).await;
        answer.assert_scim_error(400, Some("invalidSyntax"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{body}: {detail}");
        assert!(detail.contains("once"), "{body}: {detail}");
    }
    assert!(app.drupal_user("a").is_none());
}

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A bare attribute name, its URN-qualified form, the attribute inside its
/// schema's URN object, and a dotted path beside the complex attribute's
/// sub-attribute all name one attribute (RFC 7644 §3.10, §3.5.2): two of
/// them in one object are refused, naming it, and nothing is written,
/// rather than one value silently dropped.
#[tokio::test]
async fn one_attribute_given_in_two_spellings_is_refused_and_nothing_written() {
    let app = spawn_app().await;
    let id = app.create_user("spelled", "spelled@example.org").await;
    let before = app.get(&format!("/Users/{id}")).await;
    assert_eq!(before.status, 200, "{}", before.body);
    let refused = |answer: &crate::helpers::Answer, named: &str, body: &serde_json::Value| {
        answer.assert_scim_error(400, Some("invalidSyntax"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{body}: {detail}");
        assert!(detail.contains("once"), "{body}: {detail}");
    };

    // POST: the brief's body, then each spelling pair alone.
    let both = json!({
        "userName": "rdup1",
        format!("{CORE_USER}:userName"): "rdup2",
        "displayName": "Alpha",
        CORE_USER: {"displayName": "Beta"}
    });
    let answer = app.post("/Users", &both).await;
    answer.assert_scim_error(400, Some("invalidSyntax"));
    for (body, named) in [
        (
            json!({"userName": "rdup1", format!("{CORE_USER}:userName"): "rdup2"}),
            "userName",
        ),
        (
            json!({"userName": "rdup1", "displayName": "Alpha", CORE_USER: {"displayName": "Beta"}}),
            "displayName",
        ),
        (
            json!({CORE_USER: {"userName": "rdup1"}, format!("{CORE_USER}:USERNAME"): "rdup2"}),
            "userName",
        ),
        (
            json!({"userName": "rdup1", "name": {"givenName": "G1"}, "name.givenName": "G2"}),
            "name.givenName",
        ),
        (
            json!({"userName": "rdup1",
                   format!("{ENTERPRISE_USER}:employeeNumber"): "1",
                   ENTERPRISE_USER: {"employeeNumber": "2"}}),
            "employeeNumber",
        ),
    ] {
        refused(&app.post("/Users", &body).await, named, &body);
    }
    assert!(app.drupal_user("rdup1").is_none());
    assert!(app.drupal_user("rdup2").is_none());

    // PUT.
    for (body, named) in [
        (
            json!({"userName": "spelled", "displayName": "Alpha",
                   format!("{CORE_USER}:displayName"): "Beta"}),
            "displayName",
        ),
        (
            json!({"userName": "spelled", "name": {"givenName": "G1"},
                   CORE_USER: {"name": {"familyName": "F"}}}),
            "name",
        ),
    ] {
        refused(&app.put(&format!("/Users/{id}"), &body).await, named, &body);
    }

    // PATCH, a path-less value: the brief's, then each pair alone.
    let patch = |value: serde_json::Value| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "value": value}]})
    };
    let body = patch(json!({
        "displayName": "Gamma",
        format!("{CORE_USER}:displayName"): "Delta",
        "name": {"givenName": "G1"},
        "name.givenName": "G2"
    }));
    app.patch(&format!("/Users/{id}"), &body)
        .await
        .assert_scim_error(400, Some("invalidSyntax"));
    for (value, named) in [
        (
            json!({"displayName": "Gamma", format!("{CORE_USER}:displayName"): "Delta"}),
            "displayName",
        ),
        (
            json!({"name": {"givenName": "G1"}, "name.givenName": "G2"}),
            "name.givenName",
        ),
        (
            json!({"name.givenName": "G1", CORE_USER: {"name": {"givenName": "G2"}}}),
            "name.givenName",
        ),
        (json!({"title": "T1", CORE_USER: {"title": "T2"}}), "title"),
        (
            json!({format!("{ENTERPRISE_USER}:employeeNumber"): "1",
                   ENTERPRISE_USER: {"employeeNumber": "2"}}),
            "employeeNumber",
        ),
    ] {
        let body = patch(value);
        refused(
            &app.patch(&format!("/Users/{id}"), &body).await,
            named,
            &body,
        );
    }
    let after = app.get(&format!("/Users/{id}")).await;
    assert_eq!(after.body, before.body, "nothing was written");
}

/// Each spelling alone is one attribute: accepted, as are the extension
/// object beside core attributes and a dotted path beside another
/// sub-attribute of the same complex attribute.
#[tokio::test]
async fn one_attribute_given_once_in_any_spelling_is_accepted() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({
                format!("{CORE_USER}:userName"): "spelled-once",
                CORE_USER: {"displayName": "Once"},
                "name": {"givenName": "G", "familyName": "F"},
                "emails": [{"value": "once@example.org", "primary": true}],
                ENTERPRISE_USER: {"employeeNumber": "7"},
                format!("{ENTERPRISE_USER}:department"): "D"
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], "spelled-once");
    assert_eq!(created.body["displayName"], "Once");
    let id = created.body["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/Users/{id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {
                format!("{CORE_USER}:displayName"): "Twice",
                "name.givenName": "G3",
                "name": {"familyName": "F3"},
                ENTERPRISE_USER: {"employeeNumber": "8"}
            }}]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["displayName"], "Twice");
    assert_eq!(patched.body["name"]["givenName"], "G3");
    assert_eq!(patched.body["name"]["familyName"], "F3");
}

/// A dotted key names a sub-attribute in a POST or PUT body as in a
/// PATCH value (RFC 7644 §3.10): it was dropped with a 201, and a PUT
/// giving `name.familyName` beside `name` cleared the family name (an
/// outside tester).
#[tokio::test]
async fn a_dotted_key_in_a_post_or_put_body_is_written_not_dropped() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({
                "userName": "dotted",
                "emails": [{"value": "dotted@example.org"}],
                "name.familyName": "Only",
                format!("{CORE_USER}:name.givenName"): "Given"
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["name"]["familyName"], "Only");
    assert_eq!(created.body["name"]["givenName"], "Given");
    let id = created.body["id"].as_str().unwrap();
    // Either order of the dotted key and the complex attribute.
    for body in [
        json!({"userName": "dotted", "emails": [{"value": "dotted@example.org"}],
               "name": {"givenName": "P"}, "name.familyName": "Q"}),
        json!({"userName": "dotted", "emails": [{"value": "dotted@example.org"}],
               "name.familyName": "Q", "name": {"givenName": "P"}}),
    ] {
        let replaced = app.put(&format!("/Users/{id}"), &body).await;
        assert_eq!(replaced.status, 200, "{}", replaced.body);
        assert_eq!(replaced.body["name"]["givenName"], "P", "{body}");
        assert_eq!(replaced.body["name"]["familyName"], "Q", "{body}");
    }
    // A sub-attribute of every value of a multi-valued one is no single
    // value to write: refused, not dropped.
    app.post(
        "/Users",
        &json!({"userName": "dotted-2", "emails.value": "d2@example.org"}),
    )
    .await
    .assert_scim_error(400, Some("invalidPath"));
    assert!(app.drupal.user_by_name("dotted-2").is_none());
    // A read-only attribute is ignored in this spelling too (RFC 7643 §7),
    // as `"groups": [...]` is.
    let ignored = app
        .post(
            "/Users",
            &json!({"userName": "dotted-3", "emails": [{"value": "d3@example.org"}], "groups.value": "x"}),
        )
        .await;
    assert_eq!(ignored.status, 201, "{}", ignored.body);
}

#[tokio::test]
async fn health_check_needs_no_token_and_no_drupal() {
    let app = spawn_app().await;
    let url = app.base.replace("/scim/v2", "/healthz");
    let answer = app.client.get(url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(app.drupal.request_count(), 0);
}

#[tokio::test]
async fn head_answers_like_get_without_a_body_and_405s_name_the_allowed_methods() {
    let app = spawn_app().await;
    let id = app.create_user("header", "header@example.org").await;
    let head = app
        .client
        .head(format!("{}/Users/{id}", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.headers().get("etag").is_some());
    assert!(head.headers().get("x-scim-bridge-head-answer").is_none());
    // The GET's length, not 0 (RFC 9110 §8.6).
    let get = app
        .client
        .get(format!("{}/Users/{id}", app.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let length = |r: &reqwest::Response| r.headers()["content-length"].clone();
    assert_eq!(length(&head), length(&get));
    assert_ne!(length(&head), "0");
    assert!(head.text().await.unwrap().is_empty());

    for (method, path, allowed) in [
        (
            reqwest::Method::DELETE,
            "/Users".to_string(),
            "GET, HEAD, POST",
        ),
        (
            reqwest::Method::POST,
            format!("/Users/{id}"),
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
        (
            reqwest::Method::PUT,
            "/Groups".to_string(),
            "GET, HEAD, POST",
        ),
        (reqwest::Method::POST, "/Schemas".to_string(), "GET, HEAD"),
    ] {
        let answer = app.request(method.clone(), &path, Some(&json!({}))).await;
        answer.assert_scim_error(405, None);
        assert_eq!(answer.header("allow"), Some(allowed), "{method} {path}");
    }
}

#[tokio::test]
async fn discovery_endpoints_refuse_filters_with_403() {
    let app = spawn_app().await;
    for path in ["/Schemas", "/ResourceTypes", "/ServiceProviderConfig"] {
        let answer = app
            .get(&format!("{path}?filter=id%20eq%20%22User%22"))
            .await;
        answer.assert_scim_error(403, None);
    }
    assert_eq!(app.get("/Schemas").await.status, 200);
}

/// A compressed body is never read as plain text nor decompressed: 415,
/// naming the encoding (RFC 9110 §15.5.16), and nothing reaches Drupal.
#[tokio::test]
async fn a_request_body_with_a_content_encoding_is_415() {
    let app = spawn_app().await;
    let plain = r#"{"userName":"zipped","emails":[{"value":"zipped@example.org"}]}"#;
    // A gzip member's first bytes; the rest does not matter.
    let gzip: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01,
    ];
    for (encoding, body) in [
        ("gzip", gzip.to_vec()),
        ("br", plain.as_bytes().to_vec()),
        ("identity, deflate", plain.as_bytes().to_vec()),
    ] {
        let before = app.drupal.request_count();
        let response = app
            .client
            .post(format!("{}/Users", app.base))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
            .await
            .unwrap();
        let answer = read(response).await;
        answer.assert_scim_error(415, None);
        let detail = answer.body["detail"].as_str().unwrap();
        let named = encoding.rsplit(' ').next().unwrap();
        assert!(detail.contains(named), "{encoding}: {detail}");
        assert!(detail.contains("uncompressed"), "{detail}");
        assert_eq!(answer.header("accept-encoding"), Some("identity"));
        assert_eq!(app.drupal.request_count(), before, "{encoding}");
    }
    assert!(app.drupal_user("zipped").is_none());
    // `identity` is no encoding at all.
    let response = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .header("Content-Encoding", "identity")
        .body(plain)
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.status, 201);
    // A request without a body has nothing coded: not refused for it.
    let response = app
        .client
        .get(format!("{}/Users", app.base))
        .bearer_auth(TOKEN)
        .header("Content-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.status, 200);
}

/// RFC 7644 §3.11: without /Me, 501, after authentication as everywhere.
#[tokio::test]
async fn me_is_not_implemented_and_still_needs_a_token() {
    let logs = crate::helpers::captured_logs();
    let app = spawn_app().await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let answer = app.request(method.clone(), "/Me", None).await;
        answer.assert_scim_error(501, None);
        // A request for what the bridge does not offer, not a failure to
        // serve one: it must not feed the error-rate alert's log search.
        let request_id = answer.header("x-request-id").expect("a request id");
        let event = logs
            .contents()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["message"] == "scim request" && e["span"]["request_id"] == request_id)
            .expect("the request's event");
        assert_eq!(event["outcome"], "rejected", "{event}");
        assert_eq!(event["operation"], "me", "{event}");
        assert!(
            answer.body["detail"].as_str().unwrap().contains("/Me"),
            "{}",
            answer.body
        );
        let response = app
            .client
            .request(method, format!("{}/Me", app.base))
            .send()
            .await
            .unwrap();
        read(response).await.assert_scim_error(401, None);
    }
}

/// RFC 9110 §15.5.6: a 405's `Allow` lists the methods the resource
/// supports, and wherever GET works HEAD does too (§9.3.2), so HEAD is
/// listed beside it. Every method listed is answered, not refused.
#[tokio::test]
async fn every_405_lists_head_wherever_get_is_allowed() {
    let app = spawn_app().await;
    let id = app.create_user("allow", "allow@example.org").await;
    for (path, allowed) in [
        ("/Users".to_string(), "GET, HEAD, POST"),
        (format!("/Users/{id}"), "GET, HEAD, PUT, PATCH, DELETE"),
        ("/Groups".to_string(), "GET, HEAD, POST"),
        ("/Groups/x".to_string(), "GET, HEAD, PUT, PATCH, DELETE"),
        ("/ServiceProviderConfig".to_string(), "GET, HEAD"),
        ("/Schemas".to_string(), "GET, HEAD"),
        ("/Schemas/x".to_string(), "GET, HEAD"),
        ("/ResourceTypes".to_string(), "GET, HEAD"),
        ("/ResourceTypes/User".to_string(), "GET, HEAD"),
        ("/Users/.search".to_string(), "POST"),
        ("/Groups/.search".to_string(), "POST"),
        ("/.search".to_string(), "POST"),
        ("/Bulk".to_string(), "POST"),
    ] {
        let answer = app.request(reqwest::Method::OPTIONS, &path, None).await;
        answer.assert_scim_error(405, None);
        assert_eq!(answer.header("allow"), Some(allowed), "OPTIONS {path}");
        if allowed.contains("HEAD") {
            let head = app
                .client
                .head(format!("{}{path}", app.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_ne!(head.status(), 405, "HEAD {path}");
        }
    }
}

/// SCIM bodies are JSON, which travels as UTF-8 (RFC 7644 §3.1, RFC 8259
/// §8.1): a body labelled with another charset is 415 saying so, not a
/// JSON syntax error about its first bytes. `charset=utf-8` in any case
/// (quoted or not), `us-ascii` and no charset are read.
#[tokio::test]
async fn a_body_in_another_charset_than_utf8_is_415() {
    let app = spawn_app().await;
    let send = |content_type: &'static str, body: Vec<u8>| {
        app.client
            .post(format!("{}/Users", app.base))
            .bearer_auth(TOKEN)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let user = |name: &str| {
        json!({"userName": name, "emails": [{"value": format!("{name}@example.org")}]}).to_string()
    };
    let utf16: Vec<u8> = user("sixteen")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    app.drupal.clear_requests();
    for (content_type, body) in [
        ("application/json; charset=utf-16", utf16.clone()),
        ("application/scim+json;charset=UTF-16LE", utf16),
        (
            "application/json; charset=iso-8859-1",
            user("latin").into_bytes(),
        ),
        (
            "application/json; charset=\"windows-1252\"",
            user("windows").into_bytes(),
        ),
    ] {
        let answer = read(send(content_type, body).await.unwrap()).await;
        answer.assert_scim_error(415, None);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("UTF-8"), "{content_type}: {detail}");
        assert!(
            !detail.contains("not valid JSON"),
            "{content_type}: {detail}"
        );
    }
    assert_eq!(app.drupal_writes(), Vec::<String>::new());
    for (n, content_type) in [
        "application/json; charset=utf-8",
        "application/scim+json; charset=UTF-8",
        "application/json;charset=\"Utf-8\"",
        "application/json; charset=us-ascii",
        "application/json; charset=utf8",
        // A quoted parameter value holding `;charset=…` names no charset.
        "application/scim+json; foo=\"a;charset=latin1\"",
        "application/json",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = read(
            send(content_type, user(&format!("utf8-{n}")).into_bytes())
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(answer.status, 201, "{content_type}: {}", answer.body);
    }
}
