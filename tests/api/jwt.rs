//! JWT bearer tokens from an OAuth issuer (Entra's OAuth option), verified
//! against configured PEM keys or the issuer's JWKS document.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::{read, spawn_app_with, Options, TestApp};

const ISSUER: &str = "https://sts.windows.net/11111111-2222-3333-4444-555555555555/";
const AUDIENCE: &str = "8adf8e6e-67b2-4cf2-a259-e3dc5476c621";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn token(key: &str, kid: Option<&str>, claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(fixture(key).as_bytes()).unwrap(),
    )
    .unwrap()
}

fn good_claims() -> serde_json::Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "nbf": now() - 10, "tid": "t"})
}

async fn status_with(app: &TestApp, bearer: &str) -> (u16, serde_json::Value) {
    let answer = read(
        app.client
            .get(format!("{}/ServiceProviderConfig", app.base))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (answer.status, answer.body)
}

#[tokio::test]
async fn tokens_signed_by_the_configured_key_are_accepted_and_others_refused() {
    let key_file = format!(
        "{}/tests/fixtures/jwt/issuer-public.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let app = spawn_app_with(Options {
        scim_config: format!(
            "  jwt:\n    issuer: \"{ISSUER}\"\n    audience: [\"{AUDIENCE}\"]\n    public_key_files: [\"{key_file}\"]\n"
        ),
        ..Options::default()
    })
    .await;
    assert_eq!(
        status_with(&app, &token("issuer-private.pem", None, good_claims()))
            .await
            .0,
        200
    );
    assert_eq!(
        status_with(&app, crate::helpers::TOKEN).await.0,
        200,
        "static tokens still work"
    );

    let mut expired = good_claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = good_claims();
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = good_claims();
    wrong_issuer["iss"] = json!("https://evil.example/");
    for refused in [
        token("issuer-private.pem", None, expired),
        token("issuer-private.pem", None, wrong_audience),
        token("issuer-private.pem", None, wrong_issuer),
        token("other-private.pem", None, good_claims()),
    ] {
        let (status, body) = status_with(&app, &refused).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["status"], "401");
    }
    // The public key used as an HMAC secret must not verify anything.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &good_claims(),
        &EncodingKey::from_secret(fixture("issuer-public.pem").as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(status_with(&app, &forged).await.0, 401);
}

#[tokio::test]
async fn keys_come_from_the_issuers_jwks_and_are_fetched_once() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let jwks = fixture("jwks.json");
    let counter = fetches.clone();
    let server = HttpServer::new(move || {
        let jwks = jwks.clone();
        let counter = counter.clone();
        App::new().route(
            "/keys",
            web::get().to(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = jwks.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/keys", server.addrs()[0]);
    tokio::spawn(server.run());

    let app = spawn_app_with(Options {
        scim_config: format!("  jwt:\n    issuer: \"{ISSUER}\"\n    audience: [\"{AUDIENCE}\"]\n    jwks_url: {url}\n"),
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        let (status, body) = status_with(
            &app,
            &token("issuer-private.pem", Some("test-key-1"), good_claims()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "keys are cached");
    let unknown = token("other-private.pem", Some("rotated-key"), good_claims());
    assert_eq!(status_with(&app, &unknown).await.0, 401);
    assert_eq!(status_with(&app, &unknown).await.0, 401);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "unknown key ids refetch at most once a minute, so they cannot hammer the issuer"
    );
}

/// A JWKS server answering its n-th request (from 0) as `answer` says:
/// status and body. Its URL, and how many requests it has had.
fn issuer_serving(
    answer: impl Fn(usize) -> (u16, String) + Send + Sync + Clone + 'static,
) -> (String, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let server = HttpServer::new(move || {
        let answer = answer.clone();
        let counter = counter.clone();
        App::new().route(
            "/keys",
            web::get().to(move || {
                let (status, body) = answer(counter.fetch_add(1, Ordering::SeqCst));
                async move {
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/keys", server.addrs()[0]);
    tokio::spawn(server.run());
    (url, requests)
}

async fn jwks_app(url: &str) -> TestApp {
    spawn_app_with(Options {
        scim_config: format!("  jwt:\n    issuer: \"{ISSUER}\"\n    audience: [\"{AUDIENCE}\"]\n    jwks_url: {url}\n"),
        ..Options::default()
    })
    .await
}

async fn answer_to(app: &TestApp, bearer: &str) -> crate::helpers::Answer {
    read(
        app.client
            .get(format!("{}/ServiceProviderConfig", app.base))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_failed_first_fetch_answers_valid_tokens_503_not_401() {
    let jwks = fixture("jwks.json");
    let (url, requests) = issuer_serving(move |n| {
        if n == 0 {
            (500, "down".into())
        } else {
            (200, jwks.clone())
        }
    });
    let app = jwks_app(&url).await;
    let valid = token("issuer-private.pem", Some("test-key-1"), good_claims());
    for _ in 0..3 {
        let answer = answer_to(&app, &valid).await;
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert_eq!(answer.header("retry-after"), Some("30"));
    }
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "failed fetches are retried at most every few seconds"
    );
}

#[tokio::test]
async fn a_jwks_redirect_is_not_followed() {
    let jwks = fixture("jwks.json");
    let server = HttpServer::new(move || {
        let jwks = jwks.clone();
        App::new()
            .route(
                "/keys",
                web::get().to(|| async {
                    HttpResponse::Found()
                        .insert_header(("location", "/elsewhere"))
                        .finish()
                }),
            )
            .route(
                "/elsewhere",
                web::get().to(move || {
                    let body = jwks.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }),
            )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/keys", server.addrs()[0]);
    tokio::spawn(server.run());
    let app = jwks_app(&url).await;
    let answer = answer_to(
        &app,
        &token("issuer-private.pem", Some("test-key-1"), good_claims()),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
}

#[tokio::test]
async fn of_several_jwt_clients_the_refusal_names_the_tokens_own_fault() {
    let fixtures = format!("{}/tests/fixtures/jwt", env!("CARGO_MANIFEST_DIR"));
    let second = "https://second.example.org/";
    let third = "https://third.example.org/";
    let app = spawn_app_with(Options {
        scim_config: format!(
            "  jwt:\n    issuer: \"{ISSUER}\"\n    audience: [\"{AUDIENCE}\"]\n    public_key_files: [\"{fixtures}/issuer-public.pem\"]\n  clients:\n    - name: second\n      jwt:\n        issuer: \"{second}\"\n        audience: [\"{AUDIENCE}\"]\n        public_key_files: [\"{fixtures}/other-public.pem\"]\n    - name: third\n      jwt:\n        issuer: \"{third}\"\n        audience: [\"other-app\"]\n        public_key_files: [\"{fixtures}/issuer-public.pem\"]\n"
        ),
        ..Options::default()
    })
    .await;
    assert_eq!(
        answer_to(&app, &token("issuer-private.pem", None, good_claims()))
            .await
            .status,
        200
    );
    let mut expired = good_claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = good_claims();
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = good_claims();
    wrong_issuer["iss"] = json!("https://evil.example/");
    let mut no_exp = good_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut for_second = good_claims();
    for_second["iss"] = json!(second);
    let es256 = encode(
        &Header::new(Algorithm::ES256),
        &for_second,
        &EncodingKey::from_ec_pem(fixture("ec-private.pem").as_bytes()).unwrap(),
    )
    .unwrap();
    let cases = [
        (
            token("issuer-private.pem", None, expired),
            "ExpiredSignature",
        ),
        (
            token("issuer-private.pem", None, wrong_audience),
            "InvalidAudience",
        ),
        (
            token("issuer-private.pem", None, wrong_issuer),
            "InvalidIssuer",
        ),
        (
            token("issuer-private.pem", None, no_exp),
            "Missing required claim: exp",
        ),
        (
            token("issuer-private.pem", None, for_second.clone()),
            "InvalidSignature",
        ),
        (
            es256,
            "signed with ES256, which the issuer's key is not for",
        ),
    ];
    for (refused, reason) in cases {
        let answer = answer_to(&app, &refused).await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        let detail = answer.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(reason), "{reason}: {detail}");
    }
}
