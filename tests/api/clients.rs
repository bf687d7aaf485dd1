//! Named SCIM clients on a single-site bridge (`scim.clients`): each with
//! its own credential, a read-only one refused writes, next to
//! `scim.tokens`, which keeps working as the client `default`.

use serde_json::json;

use crate::helpers::{captured_logs, read, spawn_app_with, Options, SCIM_JSON, TOKEN};

const READER: &str = "reader-token-0123456789abcdef";
const WRITER: &str = "writer-token-0123456789abcdef";

#[tokio::test]
async fn a_read_only_client_reads_and_is_refused_writes_next_to_the_default_token() {
    let logs = captured_logs();
    let app = spawn_app_with(Options {
        scim_config: format!(
            "  clients:\n    - name: reporting\n      token: {READER}\n      read_only: true\n    - name: entra\n      token: {WRITER}\n"
        ),
        ..Options::default()
    })
    .await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "lin",
        "emails": [{"value": "lin@example.org", "primary": true}],
    });
    let send =
        |method: reqwest::Method, path: &str, token: &str, body: Option<&serde_json::Value>| {
            let mut request = app
                .client
                .request(method, format!("{}{path}", app.base))
                .bearer_auth(token);
            if let Some(body) = body {
                request = request
                    .header("Content-Type", SCIM_JSON)
                    .body(body.to_string());
            }
            async move { read(request.send().await.expect("bridge answers")).await }
        };

    let listed = send(reqwest::Method::GET, "/Users", READER, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let refused = send(reqwest::Method::POST, "/Users", READER, Some(&user)).await;
    refused.assert_scim_error(403, None);
    assert!(refused.body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("\"reporting\" is read-only")));
    let bulk = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "POST", "path": "/Users", "bulkId": "1", "data": user}],
    });
    send(reqwest::Method::POST, "/Bulk", READER, Some(&bulk))
        .await
        .assert_scim_error(403, None);
    assert!(
        app.drupal.user_by_name("lin").is_none(),
        "nothing was written"
    );

    let created = send(reqwest::Method::POST, "/Users", WRITER, Some(&user)).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    send(
        reqwest::Method::DELETE,
        &format!("/Users/{id}"),
        READER,
        None,
    )
    .await
    .assert_scim_error(403, None);
    let by_default = send(reqwest::Method::GET, &format!("/Users/{id}"), TOKEN, None).await;
    assert_eq!(by_default.status, 200, "scim.tokens still opens the site");

    let text = logs.contents();
    let client_of = |request_id: &str| {
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["message"] == "scim request" && e["span"]["request_id"] == request_id)
            .map(|e| {
                // The request's own event names them too: it is what the
                // metrics count (a refused write is no anonymous caller).
                assert_eq!(e["client"], e["span"]["client"], "{e}");
                assert_eq!(e["site"], e["span"]["site"], "{e}");
                // And its operation, though no handler ran for a refusal.
                assert_ne!(e["operation"], "none", "{e}");
                (e["span"]["client"].clone(), e["span"]["site"].clone())
            })
    };
    for (answer, client) in [
        (&refused, "reporting"),
        (&created, "entra"),
        (&by_default, "default"),
    ] {
        let request_id = answer.header("x-request-id").expect("a request id");
        assert_eq!(
            client_of(request_id),
            Some((json!(client), json!("default"))),
            "{request_id}"
        );
    }
    assert!(!text.contains(READER) && !text.contains(WRITER));
}

#[tokio::test]
async fn a_named_jwt_client_is_known_by_its_name_and_may_be_read_only() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let fixtures = format!("{}/tests/fixtures/jwt", env!("CARGO_MANIFEST_DIR"));
    let issuer = "https://login.example.org/tenant/";
    let app = spawn_app_with(Options {
        scim_config: format!(
            "  clients:\n    - name: entra-audit\n      read_only: true\n      jwt:\n        issuer: \"{issuer}\"\n        audience: [\"bridge\"]\n        public_key_files: [\"{fixtures}/issuer-public.pem\"]\n"
        ),
        ..Options::default()
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    let sign = |iss: &str| {
        let key = std::fs::read_to_string(format!("{fixtures}/issuer-private.pem")).unwrap();
        encode(
            &Header::new(Algorithm::RS256),
            &json!({"iss": iss, "aud": "bridge", "exp": now + 600, "nbf": now - 10}),
            &EncodingKey::from_rsa_pem(key.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let jwt = sign(issuer);
    let get = app
        .client
        .get(format!("{}/Users", app.base))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let post = read(
        app.client
            .post(format!("{}/Users", app.base))
            .bearer_auth(&jwt)
            .header("Content-Type", SCIM_JSON)
            .body(json!({"userName": "kim", "emails": [{"value": "kim@example.org"}]}).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    post.assert_scim_error(403, None);
    assert!(post.body["detail"]
        .as_str()
        .unwrap()
        .contains("entra-audit"));
    let other_issuer = app
        .client
        .get(format!("{}/Users", app.base))
        .bearer_auth(sign("https://elsewhere.example.org/"))
        .send()
        .await
        .unwrap();
    assert_eq!(other_issuer.status(), 401);
}
