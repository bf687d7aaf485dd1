//! Reloading the mapping while IdP requests keep coming: a valid file takes
//! over without a failed request, an invalid one leaves the old in place.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drupal_scim_bridge::reload::{MappingReloader, ReloadError};
use tokio::task::JoinHandle;

use crate::helpers::{spawn_app, Options, TestApp, TOKEN};

/// A mapping file in its own temporary directory, removed on drop.
struct MappingFile {
    dir: PathBuf,
    path: PathBuf,
}

impl MappingFile {
    fn new(text: &str) -> MappingFile {
        let dir = std::env::temp_dir().join(format!("scim-bridge-reload-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = MappingFile {
            path: dir.join("mapping.yaml"),
            dir,
        };
        file.write(text);
        file
    }

    /// Replaces the file the way editors and config tools do: write a new
    /// file, rename it over the old one.
    fn write(&self, text: &str) {
        let next = self.dir.join("mapping.yaml.new");
        std::fs::write(&next, text).expect("write mapping");
        std::fs::rename(&next, &self.path).expect("replace mapping");
    }
}

impl Drop for MappingFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// IdP traffic until stopped: reads and filters of one user from four
/// clients at once. Yields every status seen.
struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Vec<u16>>>,
}

impl Load {
    fn start(app: &TestApp, id: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let urls = [
            format!("{}/Users/{id}", app.base),
            format!("{}/Users?filter=userName%20eq%20%22ada%22", app.base),
        ];
        let clients = (0..4)
            .map(|n| {
                let (stop, client) = (stop.clone(), app.client.clone());
                let url = urls[n % urls.len()].clone();
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let answer = client.get(&url).bearer_auth(TOKEN).send().await;
                        statuses.push(answer.map_or(0, |a| a.status().as_u16()));
                    }
                    statuses
                })
            })
            .collect();
        Load { stop, clients }
    }

    async fn finish(self) -> Vec<u16> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for client in self.clients {
            all.extend(client.await.expect("load client"));
        }
        all
    }
}

fn demo_mapping() -> String {
    Options::default().mapping
}

/// The demo mapping with the external id read from `nickName` instead.
fn nickname_mapping() -> String {
    let demo = demo_mapping();
    assert!(demo.contains("- scim: externalId\n"));
    demo.replace("- scim: externalId\n", "- scim: nickName\n")
}

#[tokio::test]
async fn a_changed_valid_mapping_file_takes_over_without_failing_a_request() {
    let app = spawn_app().await;
    let id = app.create_user("ada", "ada@example.org").await;
    let file = MappingFile::new(&demo_mapping());
    let watcher = tokio::spawn(
        MappingReloader::new(app.provisioner.clone(), file.path.clone())
            .watch(Duration::from_millis(50)),
    );
    let load = Load::start(&app, &id);
    tokio::time::sleep(Duration::from_millis(100)).await;

    file.write(&nickname_mapping());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let user = app.get(&format!("/Users/{id}")).await;
        if user.body["nickName"] == "ext-ada" {
            assert!(user.body.get("externalId").is_none(), "{}", user.body);
            break;
        }
        assert!(Instant::now() < deadline, "the new mapping never took over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let statuses = load.finish().await;
    watcher.abort();

    assert!(statuses.len() > 8, "too little traffic: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "a request failed during the reload: {statuses:?}"
    );
}

#[tokio::test]
async fn an_invalid_mapping_is_refused_with_its_location_and_the_old_one_keeps_serving() {
    let app = spawn_app().await;
    let id = app.create_user("ada", "ada@example.org").await;
    let file = MappingFile::new(&demo_mapping());
    let mut reloader = MappingReloader::new(app.provisioner.clone(), file.path.clone());
    let load = Load::start(&app, &id);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let broken = demo_mapping().replace("- scim: externalId\n", "- scim: externalid_\n");
    file.write(&broken);
    let refused = reloader
        .reload_if_changed()
        .expect("the change is noticed")
        .expect_err("the mapping is invalid");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let statuses = load.finish().await;

    assert!(matches!(refused, ReloadError::Mapping(_)));
    let message = refused.to_string();
    let file_name = file.path.display().to_string();
    assert!(
        message.starts_with(&format!("{file_name}:")),
        "names the file: {message}"
    );
    assert!(message.contains("externalid_"), "{message}");
    assert!(
        message.contains("did you mean \"externalId\"?"),
        "{message}"
    );

    let user = app.get(&format!("/Users/{id}")).await;
    assert_eq!(
        user.body["externalId"], "ext-ada",
        "old mapping still in use"
    );
    assert!(
        statuses.iter().all(|s| *s == 200),
        "a request failed: {statuses:?}"
    );
    assert!(
        reloader.reload_if_changed().is_none(),
        "a refused file is not retried until it changes again"
    );
}

/// The demo mapping with a rule writing the deprovisioning marker.
fn marking_mapping() -> String {
    let demo = demo_mapping();
    assert!(demo.contains("\nrules:\n"));
    demo.replace(
        "\nrules:\n",
        "\nrules:\n  - {scim: title, drupal: field_scim_deprovisioned, type: boolean}\n",
    )
}

/// Whether `message` opens with `file:line:column: rule 1 (scim: title)`,
/// as every mapping error is placed.
fn placed_at_rule_1(message: &str, file: &str) -> bool {
    let Some(rest) = message.strip_prefix(&format!("{file}:")) else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let number =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    number(parts.next())
        && number(parts.next())
        && parts
            .next()
            .is_some_and(|p| p.starts_with(" rule 1 (scim: title): it writes"))
}

/// A rule writing the deprovisioning marker would hide every account it
/// sets it on: a reload bringing one is refused, placed and naming the
/// rule, and the running mapping stays.
#[tokio::test]
async fn a_mapping_writing_the_deprovisioning_marker_is_refused_at_reload() {
    let app = spawn_app().await;
    let file = MappingFile::new(&demo_mapping());
    let mut reloader = MappingReloader::new(app.provisioner.clone(), file.path.clone());
    let marking = marking_mapping();
    file.write(&marking);
    let refused = reloader
        .reload_if_changed()
        .expect("the change is noticed")
        .expect_err("the marker is the bridge's");
    let message = refused.to_string();
    assert!(
        message.contains(
            "(scim: title): it writes field_scim_deprovisioned, the deprovisioning marker"
        ),
        "{message}"
    );
    assert!(
        placed_at_rule_1(&message, &file.path.display().to_string()),
        "{message}"
    );
    let created = app
        .post(
            "/Users",
            &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "depx1", "title": "1", "emails": [{"value": "depx1@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let found = app.filter_users("userName eq \"depx1\"").await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
}

/// The same mapping at start: the site is not built.
#[test]
fn a_mapping_writing_the_deprovisioning_marker_is_refused_at_start() {
    use drupal_scim_bridge::config::Settings;
    use drupal_scim_bridge::mapping::Mapping;
    let settings = Settings::from_yaml(&format!(
        "scim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: http://127.0.0.1:9\n  auth:\n    username: admin\n    password: pw\n"
    ))
    .expect("settings");
    let mapping = Mapping::parse(&marking_mapping(), "m.yaml").expect("the mapping alone is valid");
    let error = match drupal_scim_bridge::sites::build(&settings.sites[0], mapping, false) {
        Ok(_) => panic!("the site was built"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("(scim: title): it writes field_scim_deprovisioned"),
        "{error}"
    );
    assert!(placed_at_rule_1(&error, "m.yaml"), "{error}");
}
