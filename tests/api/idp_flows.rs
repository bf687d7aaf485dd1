//! The identity providers' flows (tests/common/flows.rs) against the bridge
//! in front of the stand-in; tests/real_drupal/e2e.rs runs the same flows
//! against a real Drupal 10.

use drupal_scim_bridge::standin::{RoleSeed, StandInConfig};
use serde_json::Value;

use crate::flows::{self, documented_statuses, encode_values, Drupal, Stand, Target};
use crate::helpers::{demo_site_with_text_fields, spawn_app_with, Options, TestApp};

/// The site the presets expect: the demo site plus the custom fields they
/// name, and the roles the examples' groups grant.
fn site() -> StandInConfig {
    let mut site = demo_site_with_text_fields(&[
        "field_first_name",
        "field_last_name",
        "field_job_title",
        "field_department",
    ]);
    for (role, label) in [
        ("entra_app", "Entra app users"),
        ("okta_push", "Okta pushed group"),
        ("okta_aiw", "Okta AIW group"),
    ] {
        site.roles.push(RoleSeed::new(role, label, &[]));
    }
    site
}

/// A fresh stand-in per flow.
struct StandIn;

impl Stand for StandIn {
    type Side = TestApp;

    async fn start(&self, mapping: String) -> Target<TestApp> {
        let app = spawn_app_with(Options {
            standin: site(),
            mapping,
            ..Options::default()
        })
        .await;
        Target {
            scim: app.base.clone(),
            client: app.client.clone(),
            drupal: app,
        }
    }
}

/// A fresh stand-in per flow whose JSON:API cache stores a read's copy as
/// the read ends, after the bridge's next write (as a loaded Drupal 10
/// can): each read just before a write leaves the bridge a stale copy.
struct LateCacheStandIn;

impl Stand for LateCacheStandIn {
    type Side = TestApp;

    async fn start(&self, mapping: String) -> Target<TestApp> {
        let target = StandIn.start(mapping).await;
        target.drupal.drupal.cache_normalizations_late(true);
        target
    }
}

impl Drupal for TestApp {
    /// A fresh stand-in holds nothing of an earlier run.
    async fn forget(&self, _users_like: &[&str], _groups_like: &[&str]) {}

    async fn user(&self, name: &str) -> Option<Value> {
        self.drupal_user(name)
    }

    async fn roles_of(&self, name: &str) -> Vec<String> {
        let mut roles = TestApp::roles_of(self, name);
        roles.sort();
        roles
    }

    async fn group_refs(&self, name: &str) -> Vec<String> {
        self.drupal.group_refs(name)
    }
}

#[test]
fn documented_statuses_are_read_from_the_expected_text() {
    assert_eq!(
        documented_statuses("200 OK with the user (or 204)."),
        vec![200, 204]
    );
    assert_eq!(
        documented_statuses("201 Created. A duplicate displayName gets 409 uniqueness."),
        vec![201]
    );
    assert_eq!(
        encode_values("filter=a eq \"b\"&x=1"),
        "filter=a%20eq%20%22b%22&x=1"
    );
}

#[test]
fn every_example_file_is_replayed() {
    // The flows, or (for IdPs that publish only attribute lists) the
    // preset replays.
    let source = concat!(
        include_str!("../common/flows.rs"),
        include_str!("presets.rs")
    );
    let dir = format!("{}/tests/fixtures/idp", env!("CARGO_MANIFEST_DIR"));
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        if let Some(stem) = name.strip_suffix(".json") {
            files += 1;
            assert!(
                source.contains(&format!("\"{stem}\"")),
                "{stem} is not replayed"
            );
        }
    }
    assert_eq!(files, 48);
}

#[tokio::test]
async fn entra_flow_users_then_unprepared_groups() {
    flows::entra(&StandIn).await;
}

#[tokio::test]
async fn okta_flow_users_then_group_push() {
    flows::okta(&StandIn).await;
}

#[tokio::test]
async fn onelogin_flow_users_then_group_push() {
    flows::onelogin(&StandIn).await;
}

#[tokio::test]
async fn jumpcloud_flow_test_connection_pushes_a_group() {
    flows::jumpcloud(&StandIn).await;
}

#[tokio::test]
async fn no_group_operation_escalates_and_other_groups_keep_their_roles() {
    flows::escalation(&StandIn).await;
}

// The flows again, with every read just before a write served stale
// afterwards: what the bridge wrote is what Drupal holds and what the IdP
// reads back (a rename back is written, roles follow the names).

#[tokio::test]
async fn entra_flow_reads_what_it_wrote_through_a_late_json_api_cache() {
    flows::entra(&LateCacheStandIn).await;
}

#[tokio::test]
async fn okta_flow_reads_what_it_wrote_through_a_late_json_api_cache() {
    flows::okta(&LateCacheStandIn).await;
}

#[tokio::test]
async fn onelogin_flow_reads_what_it_wrote_through_a_late_json_api_cache() {
    flows::onelogin(&LateCacheStandIn).await;
}

#[tokio::test]
async fn jumpcloud_flow_reads_what_it_wrote_through_a_late_json_api_cache() {
    flows::jumpcloud(&LateCacheStandIn).await;
}

#[tokio::test]
async fn escalation_flow_reads_what_it_wrote_through_a_late_json_api_cache() {
    flows::escalation(&LateCacheStandIn).await;
}
