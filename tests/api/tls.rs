//! Drupal over HTTPS with a certificate from a CA of the company's own:
//! trusted once `drupal.ca_file` names that CA, refused with a reason an
//! operator can act on otherwise.

use serde_json::json;

use crate::helpers::tls_front;
use crate::helpers::{spawn_app_with, Options};

#[tokio::test]
async fn a_drupal_certified_by_an_internal_ca_is_served_once_ca_file_names_it() {
    let app = spawn_app_with(Options {
        over_https: true,
        extra_config: format!("  ca_file: {}\n", tls_front::fixture("ca.pem")),
        ..Options::default()
    })
    .await;
    let created = app
        .post(
            "/Users",
            &json!({"userName": "tess", "emails": [{"value": "tess@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let read = app.get(&format!("/Users/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["userName"], "tess");
    assert!(app.drupal_user("tess").is_some());
}

#[tokio::test]
async fn without_ca_file_the_certificate_is_refused_as_a_configuration_error() {
    let app = spawn_app_with(Options {
        over_https: true,
        ..Options::default()
    })
    .await;
    let before = app.drupal.request_count();
    let answer = app
        .post(
            "/Users",
            &json!({"userName": "uma", "emails": [{"value": "uma@example.org"}]}),
        )
        .await;
    // Not 503: waiting does not make the certificate trusted.
    answer.assert_scim_error(502, None);
    let detail = answer.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("certificate is not accepted") && detail.contains("drupal.ca_file"),
        "{detail}"
    );
    assert!(answer.header("retry-after").is_none());
    assert_eq!(app.drupal.request_count(), before, "nothing reached Drupal");
}
