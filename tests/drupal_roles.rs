//! Role metadata is read from Drupal once and reused, not fetched per
//! request; a lookup that misses refreshes it, but not on every miss.

use std::net::TcpListener;
use std::time::Duration;

use drupal_scim_bridge::config::{DrupalAuth, DrupalLimits, Secret};
use drupal_scim_bridge::drupal::{DrupalClient, DrupalConnection};
use drupal_scim_bridge::standin::{StandIn, StandInConfig, StandInHandle};

fn role_reads(drupal: &StandInHandle) -> usize {
    drupal
        .requests()
        .iter()
        .filter(|r| r.path == "/jsonapi/user_role/user_role")
        .count()
}

fn client(base_url: String, metadata_ttl: Duration) -> DrupalClient {
    DrupalClient::new(DrupalConnection {
        base_url,
        auth: DrupalAuth::Session {
            username: "admin".into(),
            password: Secret::new("pw"),
        },
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        limits: DrupalLimits::default(),
        metadata_ttl,
    })
    .unwrap()
}

#[tokio::test]
async fn roles_are_read_once_and_reused_until_the_ttl_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let standin = StandIn::start(StandInConfig::demo("pw"), listener).unwrap();
    let drupal = standin.handle();
    let client = client(standin.base_url(), Duration::from_millis(300));

    let editor = client.role("editor").await.unwrap().expect("editor");
    assert_eq!(Some(editor.id.clone()), drupal.role_uuid("editor"));
    let concurrent = futures_util::future::join_all((0..8).map(|_| client.cached_roles())).await;
    assert!(concurrent
        .iter()
        .all(|r| r.as_ref().is_ok_and(|r| r.len() >= 3)));
    assert_eq!(role_reads(&drupal), 1, "one read for all of them");

    assert!(client.role("nosuch").await.unwrap().is_none());
    assert_eq!(
        role_reads(&drupal),
        1,
        "a miss right after a read does not read again"
    );

    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(client.role("editor").await.unwrap().is_some());
    assert_eq!(role_reads(&drupal), 2, "read again once the TTL ended");
    standin.stop().await;
}
