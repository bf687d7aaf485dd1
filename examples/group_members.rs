//! The cost of adding 1,000 members to a term-backed group: the bridge in
//! front of the in-process Drupal stand-in, one IdP PATCH per batch of
//! members (Entra and Okta send many members per PATCH), Drupal requests
//! counted at the stand-in and wall time measured. Prints one line per run.
//!
//!   cargo run --release --example group_members -- [MEMBERS] [PER_PATCH] [GRANTS] [READS]
//!
//! GRANTS = 1 makes the group grant a role (one more request per member).
//! READS is the site's `group_patch_reads` (default 0): how many reads a
//! PATCH may spend to answer 200 with the whole group instead of 204.

use std::net::TcpListener;
use std::time::Instant;

use drupal_scim_bridge::config::Settings;
use drupal_scim_bridge::mapping::Mapping;
use drupal_scim_bridge::standin::{AccountSeed, StandIn, StandInConfig};
use drupal_scim_bridge::startup::Application;
use serde_json::{json, Value};

const TOKEN: &str = "bench-token-0123456789abcdef";
const PASSWORD: &str = "bench-password";
const MAPPING: &str = include_str!("../mappings/demo.yaml");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let members: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let per_patch: usize = args.next().map_or(Ok(100), |a| a.parse())?;
    let grants = args.next().is_some_and(|a| a == "1");
    let reads: u16 = args.next().map_or(Ok(0), |a| a.parse())?;

    let standin = StandIn::start(
        StandInConfig::demo(PASSWORD),
        TcpListener::bind("127.0.0.1:0")?,
    )?;
    let drupal = standin.handle();
    let seeds: Vec<AccountSeed> = (0..members)
        .map(|n| {
            let mut seed = AccountSeed::new(&format!("member-{n:05}"));
            seed.mail = Some(format!("member-{n:05}@example.org"));
            seed
        })
        .collect();
    let ids = drupal.insert_users(&seeds).map_err(|e| e.to_string())?;

    let groups = match grants {
        true => "groups:\n  - {display_name: Bench, roles: [engineering]}\n",
        false => "groups: []\n",
    };
    let cut = MAPPING
        .find("\ngroups:")
        .ok_or("demo.yaml has a groups section")?;
    let role_rules = MAPPING
        .find("\nrole_rules:")
        .ok_or("demo.yaml has role_rules")?;
    let mapping = format!(
        // The rest of demo.yaml keeps its `group_terms: {}`.
        "{}\n{groups}{}",
        &MAPPING[..cut],
        &MAPPING[role_rules..]
    );
    let yaml = format!(
        "listen: 127.0.0.1:0\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: {}\n  auth:\n    username: admin\n    password: \"{PASSWORD}\"\ngroup_patch_reads: {reads}\n",
        standin.base_url()
    );
    let settings = Settings::from_yaml(&yaml)?;
    let mapping = Mapping::parse(&mapping, "bench.yaml")?;
    let app = Application::with_listener(&settings, mapping, TcpListener::bind("127.0.0.1:0")?)?;
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run_until_stopped());

    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("{base}/Groups"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Bench"}).to_string())
        .send()
        .await?
        .json()
        .await?;
    let group = created["id"].as_str().ok_or("no group id")?.to_string();

    drupal.clear_requests();
    let started = Instant::now();
    let mut whole = 0;
    for batch in ids.chunks(per_patch.max(1)) {
        let values: Vec<Value> = batch.iter().map(|id| json!({"value": id})).collect();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                          "Operations": [{"op": "add", "path": "members", "value": values}]});
        let answer = client
            .patch(format!("{base}/Groups/{group}"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(format!(
                "PATCH answered {}: {}",
                answer.status(),
                answer.text().await?
            )
            .into());
        }
        whole += usize::from(answer.status() == reqwest::StatusCode::OK);
    }
    let elapsed = started.elapsed();
    let requests = drupal.requests();
    let writes = requests.iter().filter(|r| r.method != "GET").count();
    println!(
        "members={members} per_patch={per_patch} grants_role={grants} group_patch_reads={reads} patches={} answered_200={whole} drupal_requests={} (writes {}, reads {}) seconds={:.2} per_member_ms={:.2}",
        members.div_ceil(per_patch.max(1)),
        requests.len(),
        writes,
        requests.len() - writes,
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / members as f64
    );
    standin.stop().await;
    Ok(())
}
