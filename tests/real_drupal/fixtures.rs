//! Stand-in bugs the differential test found, checked against the real
//! answers kept in tests/fixtures/real-drupal (these run without a site).

use std::net::TcpListener;

use drupal_scim_bridge::standin::{AccountSeed, RoleSeed, StandIn, StandInConfig};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/real-drupal/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON")
}

fn column(doc: &Value, attribute: &str) -> Vec<String> {
    doc["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| item["attributes"][attribute].as_str().unwrap().to_string())
        .collect()
}

async fn standin_answer(standin: &StandIn, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", standin.base_url()))
        .basic_auth("admin", Some("pw"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn sort_by_name_compares_bytes_as_drupal_does() {
    let real = fixture("sort-name-binary.json");
    let names = column(&real["response"]["body"], "name");
    assert_eq!(names.len(), 4);
    let mut config = StandInConfig::demo("pw");
    // Seeded in another order than the answer's.
    let mut seeded = names.clone();
    seeded.reverse();
    config.extra_accounts = seeded.iter().map(|n| AccountSeed::new(n)).collect();
    let standin = StandIn::start(config, TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let path = real["request"]["path"].as_str().unwrap();
    let answer = standin_answer(&standin, path).await;
    assert_eq!(column(&answer, "name"), names, "uppercase first: {answer}");
}

#[tokio::test]
async fn roles_are_listed_by_machine_name_as_drupal_does() {
    let real = fixture("roles-order.json");
    let body = &real["response"]["body"];
    let ids = column(body, "drupal_internal__id");
    let mut config = StandInConfig::demo("pw");
    config.roles.clear();
    // Seeded by weight, as a site's role page shows them.
    let mut by_weight: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
    by_weight.sort_by_key(|r| r["attributes"]["weight"].as_i64());
    for role in by_weight {
        let id = role["attributes"]["drupal_internal__id"].as_str().unwrap();
        if id != "anonymous" && id != "authenticated" {
            let label = role["attributes"]["label"].as_str().unwrap();
            config.roles.push(RoleSeed::new(id, label, &[]));
        }
    }
    let standin = StandIn::start(config, TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let answer = standin_answer(&standin, "/jsonapi/user_role/user_role").await;
    assert_eq!(column(&answer, "drupal_internal__id"), ids, "{answer}");
}
