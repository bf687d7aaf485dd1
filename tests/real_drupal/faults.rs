//! Faults on the real site: Drupal stopped mid-run and started again, and
//! its JSON:API switched to read-only while the bridge runs. Each test holds
//! the site alone.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::site::{exclusive, site, Bridge, BridgeOptions};

fn user(name: &str) -> serde_json::Value {
    json!({"userName": name, "emails": [{"value": format!("{name}@example.org"), "primary": true}],
           "active": true})
}

#[tokio::test]
async fn drupal_stopped_and_started_again_loses_nothing_and_needs_no_restart() {
    let Some(site) = site() else { return };
    let _alone = exclusive().await;
    let names = ["rd-before-stop", "rd-during-stop", "rd-after-stop"];
    site.delete_users(&names);
    let bridge = Bridge::start(
        &site,
        BridgeOptions {
            drupal_config: "  retries: 1\n  breaker:\n    failures: 3\n    open_secs: 2\n".into(),
            ..BridgeOptions::default()
        },
    )
    .await;
    let before = bridge.create_user("rd-before-stop").await;

    site.script("down").await;
    // While Drupal is down: 503 with Retry-After for reads and writes, until
    // the breaker opens and answers at once without asking Drupal.
    let mut opened = false;
    for _ in 0..8 {
        for answer in [
            bridge.post("/Users", &user("rd-during-stop")).await,
            bridge.get(&format!("/Users/{before}")).await,
        ] {
            answer.assert_scim_error(503, None);
            let retry_after: u64 = answer
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("Retry-After: {:?}", answer.headers));
            assert!(retry_after >= 1);
            opened |= answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("pauses requests");
        }
    }
    assert!(opened, "the circuit breaker opened");
    let started = Instant::now();
    bridge
        .get(&format!("/Users/{before}"))
        .await
        .assert_scim_error(503, None);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "open: no attempt"
    );

    site.script("up").await;
    // The IdP retries after Retry-After: the probe closes the circuit.
    let mut created = None;
    for _ in 0..20 {
        let answer = bridge.post("/Users", &user("rd-during-stop")).await;
        if answer.status == 201 {
            created = Some(answer);
            break;
        }
        answer.assert_scim_error(503, None);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let created = created.expect("the retried create succeeds once Drupal is back");
    assert_eq!(created.body["userName"], "rd-during-stop");
    assert_eq!(bridge.get(&format!("/Users/{before}")).await.status, 200);
    bridge.create_user("rd-after-stop").await;
    for name in names {
        assert_eq!(
            site.count_named(name).await,
            1,
            "{name}: exactly one account"
        );
    }
}

#[tokio::test]
async fn read_only_json_api_is_a_bad_gateway_naming_the_fix() {
    let Some(site) = site() else { return };
    let _alone = exclusive().await;
    site.delete_users(&["rd-read-only"]);
    let bridge = Bridge::start(&site, BridgeOptions::default()).await;
    assert_eq!(
        bridge.filter_users("userName eq \"admin\"").await.status,
        200
    );

    site.config_set("jsonapi.settings", "read_only", "1");
    let refused = bridge.post("/Users", &user("rd-read-only")).await;
    site.config_set("jsonapi.settings", "read_only", "0");
    refused.assert_scim_error(502, None);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("only read operations") && detail.contains("allow writes"),
        "{detail}"
    );
    assert!(site.user("rd-read-only").await.is_none(), "nothing written");
    // Reads went on working, and writes work again at once.
    bridge.create_user("rd-read-only").await;
}
