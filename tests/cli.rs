//! The operator's commands, run as the built binary: `check` against the
//! Drupal stand-in in each state it must report, `map` both ways, and
//! `serve --dry-run` and SIGHUP reloads as a running process.

// A test crate: a failed unwrap is a failed test (clippy.toml allows
// them in #[test] functions; this extends that to the helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drupal_scim_bridge::standin::{
    AccountSeed, FieldKind, FieldSeed, RoleSeed, StandIn, StandInConfig, StandInHandle,
};
use serde_json::{json, Value};

#[path = "common/demo_mapping.rs"]
mod demo_mapping;
#[path = "api/tls_front.rs"]
mod tls_front;

use demo_mapping::demo_roles_only;

const BRIDGE: &str = env!("CARGO_BIN_EXE_drupal-scim-bridge");
const PASSWORD: &str = "admin-password";
const TOKEN: &str = "cli-test-token-0123456789";

/// A temporary directory for configuration and mapping files.
struct Workdir(PathBuf);

impl Workdir {
    fn new() -> Workdir {
        let dir = std::env::temp_dir().join(format!("scim-bridge-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Workdir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// A configuration for `drupal_url` with the given mapping text and
    /// extra top-level YAML.
    fn config(&self, drupal_url: &str, password: &str, mapping: &str, extra: &str) -> PathBuf {
        let mapping = self.write("mapping.yaml", mapping);
        self.write(
            "bridge.yaml",
            &format!(
                "listen: 127.0.0.1:{port}\nscim:\n  tokens: [\"{TOKEN}\"]\ndrupal:\n  base_url: {drupal_url}\n  timeout_secs: 2\n  connect_timeout_secs: 1\n  auth:\n    username: admin\n    password: \"{password}\"\nmapping: {}\n{extra}",
                mapping.display(),
                port = free_port(),
            ),
        )
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_standin(config: StandInConfig) -> StandIn {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
    StandIn::start(config, listener).expect("start stand-in")
}

/// Runs the binary to completion off the async runtime (the stand-in
/// keeps answering meanwhile).
async fn run(args: &[&str], stdin: Option<&str>) -> Output {
    run_with_env(args, stdin, &[]).await
}

/// `run`, with these environment variables set.
async fn run_with_env(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BRIDGE)
            .args(&args)
            .envs(env)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the bridge");
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.unwrap_or_default().as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("bridge output")
    })
    .await
    .expect("blocking task")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn check(config: &Path) -> (i32, String) {
    let output = run(&["check", "--config", &config.display().to_string()], None).await;
    assert_eq!(
        stderr(&output),
        "",
        "findings go to stdout, and nothing else is said"
    );
    (output.status.code().unwrap_or(-1), stdout(&output))
}

/// The one error `check` finds with `config` (it must fail, on that error
/// alone), and its whole report for assertion messages.
async fn sole_check_error(config: &Path) -> (String, String) {
    let (code, report) = check(config).await;
    assert_eq!(code, 1, "{report}");
    let errors = lines_of(&report, "error");
    assert_eq!(errors.len(), 1, "{report}");
    (errors[0].to_string(), report)
}

/// The lines of `report` that start with `severity`.
fn lines_of<'r>(report: &'r str, severity: &str) -> Vec<&'r str> {
    report
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(severity))
        .collect()
}

/// Requests that could change something (the session login changes no data).
fn non_get_requests(drupal: &StandInHandle) -> Vec<String> {
    drupal
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.path != "/user/login")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn check_passes_a_ready_site_and_changes_nothing() {
    // The bridge's own account, holding exactly what it needs (README).
    let mut site = StandInConfig::demo(PASSWORD);
    site.roles.push(RoleSeed::new(
        "scim_bridge",
        "SCIM bridge",
        &["administer users", "administer permissions"],
    ));
    let standin = start_standin(site);
    let mut bridge_account = AccountSeed::new("scim-bridge");
    bridge_account.password = Some(PASSWORD.into());
    bridge_account.roles = vec!["scim_bridge".into()];
    standin.handle().insert_user(bridge_account).expect("seed");
    let mut seed = AccountSeed::new("ada");
    for (field, value) in [
        ("field_scim_external_id", "ext-ada"),
        ("field_display_name", "Ada L."),
        ("field_first_name", "Ada"),
        ("field_last_name", "Lovelace"),
    ] {
        seed.fields.insert(field.into(), json!(value));
    }
    standin.handle().insert_user(seed).expect("seed");
    let dir = Workdir::new();
    let config = dir.config(&standin.base_url(), PASSWORD, &demo_roles_only(), "");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("username: admin", "username: scim-bridge"),
    )
    .expect("config");
    let users_before = standin.handle().user_count();

    let (code, report) = check(&config).await;

    assert_eq!(code, 0, "{report}");
    assert_eq!(lines_of(&report, "error"), Vec::<&str>::new(), "{report}");
    for expected in [
        "ok      drupal: Drupal accepts the account scim-bridge",
        "ok      account: scim-bridge holds what the bridge needs and nothing more",
        "ok      drupal: JSON:API accepts writes",
        "ok      field: field_scim_external_id exists and holds text",
        "ok      field: field_scim_deprovisioned marks deprovisioned accounts",
        "ok      role: role editor exists",
        "ok      role: role administrator exists",
    ] {
        assert!(
            report.lines().any(|l| l == expected),
            "{expected:?} in\n{report}"
        );
    }
    // The demo mapping writes preferred_langcode, and the stand-in, a
    // standard site, has English alone: said, and no problem.
    let languages = lines_of(&report, "ok")
        .into_iter()
        .find(|line| line.contains("preferred_langcode"))
        .unwrap_or_else(|| panic!("no line on languages: {report}"));
    assert!(languages.contains("English alone"), "{report}");
    assert_eq!(report.lines().last(), Some("no problems found"));
    // The write probe is a PATCH of a UUID nobody has: answered 404. Then
    // check logs out, leaving no session behind.
    let writes = non_get_requests(&standin.handle());
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert!(
        writes[0].starts_with("PATCH /jsonapi/user/user/"),
        "{writes:?}"
    );
    assert_eq!(writes[1], "POST /user/logout", "{writes:?}");
    assert_eq!(standin.handle().open_sessions(), 0);
    assert_eq!(standin.handle().user_count(), users_before);
}

/// A role-backed group and a term-backed one are two groups; a role both
/// exposed and protected is said to exist once.
#[tokio::test]
async fn check_counts_every_group_entry_and_names_each_role_once() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let demo = demo_roles_only();
    let rules = &demo[..demo.find("\ngroups:").expect("a groups section")];
    let mapping = format!(
        "{rules}\ngroups:\n  - {{role: administrator, display_name: Admins, allow_protected: true}}\n  - {{display_name: Engineering, roles: [editor]}}\ngroup_terms: {{}}\n"
    );
    let config = dir.config(&standin.base_url(), PASSWORD, &mapping, "");
    let (_, report) = check(&config).await;
    let valid = lines_of(&report, "ok")
        .into_iter()
        .find(|l| l.contains(" is valid: "))
        .unwrap_or_else(|| panic!("no line on the mapping: {report}"));
    assert!(valid.ends_with(", 0 custom schemas, 2 groups"), "{valid}");
    let administrator = report
        .lines()
        .filter(|l| *l == "ok      role: role administrator exists")
        .count();
    assert_eq!(administrator, 1, "{report}");
}

#[tokio::test]
async fn check_reports_an_unreachable_drupal() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let dir = Workdir::new();
    let config = dir.config(&closed, PASSWORD, &demo_roles_only(), "");

    let (error, report) = sole_check_error(&config).await;

    assert!(
        error.starts_with(&format!("error   drupal: cannot reach Drupal at {closed}")),
        "{report}"
    );
    assert!(error.contains("— check drupal.base_url"), "{report}");
}

/// A JWT key file `serve` cannot use (no PEM public key in it) fails
/// `check` too, naming what the file must hold.
#[tokio::test]
async fn check_reports_a_jwt_key_file_that_holds_no_public_key() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let dir = Workdir::new();
    let key = dir.write("notpem.pem", "this is not a key\n");
    let mapping = dir.write("mapping.yaml", &demo_roles_only());
    let config = dir.write(
        "bridge.yaml",
        &format!(
            "listen: 127.0.0.1:{port}\nscim:\n  tokens: [\"{TOKEN}\"]\n  jwt:\n    issuer: https://issuer.example.org/\n    audience: [\"scim\"]\n    public_key_files: [\"{}\"]\ndrupal:\n  base_url: {closed}\n  timeout_secs: 2\n  connect_timeout_secs: 1\n  auth:\n    username: admin\n    password: \"{PASSWORD}\"\nmapping: {}\n",
            key.display(),
            mapping.display(),
            port = free_port(),
        ),
    );
    let (code, report) = check(&config).await;
    assert_eq!(code, 1, "{report}");
    let error = lines_of(&report, "error")
        .into_iter()
        .find(|line| line.contains("scim.jwt.public_key_files"))
        .unwrap_or_else(|| panic!("no key file error: {report}"));
    assert!(error.contains("notpem.pem holds no PEM block"), "{report}");

    // The issuer's private key where its public key belongs: every token
    // would be refused as a bad signature. Refused, the key never shown.
    let private = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt/issuer-private.pem"),
    )
    .expect("fixture");
    dir.write("notpem.pem", &private);
    let (code, report) = check(&config).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("notpem.pem holds a private key"),
        "{report}"
    );
    let body_line = private.lines().nth(1).expect("a line of the key");
    assert!(!report.contains(body_line), "{report}");
}

#[tokio::test]
async fn check_warns_when_credentials_would_cross_the_network_unencrypted() {
    let dir = Workdir::new();
    // Not a loopback address, yet refused at once: nothing listens there.
    let config = dir.config("http://0.0.0.0:1", PASSWORD, &demo_roles_only(), "");

    let (_, report) = check(&config).await;

    let warnings = lines_of(&report, "warning");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("is http:// to another host") && w.contains("use https://")),
        "{report}"
    );
}

/// A JWKS fetched over plain HTTP from another host lets whoever sits on
/// that network hand the bridge keys of their own: warned, as for Drupal.
#[tokio::test]
async fn check_warns_of_a_jwks_fetched_unencrypted_from_another_host() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let dir = Workdir::new();
    let mapping = dir.write("mapping.yaml", &demo_roles_only());
    let config = dir.write(
        "bridge.yaml",
        &format!(
            "listen: 127.0.0.1:{port}\nscim:\n  jwt:\n    issuer: https://issuer.example.org/\n    audience: [\"scim\"]\n    jwks_url: http://127.0.0.1:9/keys\n  clients:\n    - name: entra\n      jwt:\n        issuer: https://other.example.org/\n        audience: [\"scim\"]\n        jwks_url: http://keys.example.org/keys\ndrupal:\n  base_url: {closed}\n  timeout_secs: 2\n  connect_timeout_secs: 1\n  auth:\n    username: admin\n    password: \"{PASSWORD}\"\nmapping: {}\n",
            mapping.display(),
            port = free_port(),
        ),
    );

    let (_, report) = check(&config).await;

    let warnings: Vec<&str> = lines_of(&report, "warning")
        .into_iter()
        .filter(|w| w.contains("jwks_url"))
        .collect();
    assert_eq!(warnings.len(), 1, "only the one to another host: {report}");
    assert!(
        warnings[0].contains("scim.clients[entra].jwt.jwks_url is http:// to another host"),
        "{report}"
    );
}

#[tokio::test]
async fn check_reports_a_drupal_that_redirects_and_where_to() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    // Its first request, the login, is answered as a site that moved to HTTPS.
    standin.handle().fail_next(1, 301);
    let dir = Workdir::new();
    let config = dir.config(&standin.base_url(), PASSWORD, &demo_roles_only(), "");

    let (error, report) = sole_check_error(&config).await;

    let moved = standin.base_url().replacen("http://", "https://", 1);
    assert!(
        error.contains(&format!("redirects the bridge's requests to {moved}")),
        "{report}"
    );
    assert!(error.contains("— set drupal.base_url"), "{report}");
}

#[tokio::test]
async fn check_reports_an_https_certificate_it_does_not_trust_and_trusts_it_with_ca_file() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let upstream = standin.base_url().replacen("http://", "", 1);
    let https = format!("https://{}", tls_front::start(upstream).await);
    let dir = Workdir::new();

    let untrusted = dir.config(&https, PASSWORD, &demo_roles_only(), "");
    let (error, report) = sole_check_error(&untrusted).await;
    assert!(
        error.contains(&format!("does not trust the HTTPS certificate of {https}")),
        "{report}"
    );
    assert!(error.contains("set drupal.ca_file"), "{report}");

    // The same configuration with drupal.ca_file naming the test CA.
    let text = std::fs::read_to_string(&untrusted).expect("configuration");
    let ca_file = format!("  ca_file: {}\n  auth:", tls_front::fixture("ca.pem"));
    let trusted = dir.write("trusted.yaml", &text.replacen("  auth:", &ca_file, 1));
    let (code, report) = check(&trusted).await;
    assert_eq!(code, 0, "{report}");
}

#[tokio::test]
async fn check_reports_wrong_credentials_and_stops_before_more_failed_logins() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let config = dir.config(
        &standin.base_url(),
        "not-the-password",
        &demo_roles_only(),
        "",
    );

    let (error, report) = sole_check_error(&config).await;

    assert!(
        error.contains("Drupal does not accept the account admin"),
        "{report}"
    );
    assert!(error.contains("after 5"), "{report}");
    assert_eq!(standin.handle().request_count(), 1, "one failed login only");
}

/// Drupal's flood control refuses the right password too once an account
/// had 5 failed logins: `check` says so, and how to clear the lock, rather
/// than blaming the credentials the operator just got right.
#[tokio::test]
async fn check_reports_a_flood_locked_account_as_such_and_how_to_clear_it() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let login = format!("{}/user/login?_format=json", standin.base_url());
    let http = reqwest::Client::new();
    for _ in 0..6 {
        let answer = http
            .post(&login)
            .header("Content-Type", "application/json")
            .body(json!({"name": "admin", "pass": "a-wrong-guess"}).to_string())
            .send()
            .await
            .expect("stand-in answers");
        assert!(answer.status().is_client_error());
    }
    let dir = Workdir::new();
    let config = dir.config(&standin.base_url(), PASSWORD, &demo_roles_only(), "");
    standin.handle().clear_requests();

    let (error, report) = sole_check_error(&config).await;

    assert!(
        error.contains("flood control blocks the account admin"),
        "{report}"
    );
    assert!(
        error.contains(r#"drush sql:query "DELETE FROM flood""#),
        "{report}"
    );
    assert!(!error.contains("does not accept the account"), "{report}");
    assert_eq!(
        standin.handle().request_count(),
        1,
        "one refused login only"
    );
    // The fix script clears the lock.
    let output = run(
        &[
            "check",
            "--config",
            &config.display().to_string(),
            "--fix-script",
        ],
        None,
    )
    .await;
    assert!(
        stdout(&output).contains(&format!(
            r#""$DRUSH" --uri={} sql:query "DELETE FROM flood""#,
            standin.base_url()
        )),
        "{}",
        stdout(&output)
    );

    // Cleared, the same configuration passes the account's check.
    standin.handle().clear_flood();
    let (_, report) = check(&config).await;
    assert!(
        report.contains("ok      drupal: Drupal accepts the account admin"),
        "{report}"
    );
}

#[tokio::test]
async fn check_reports_read_only_json_api() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    standin.handle().set_read_only(true);
    let dir = Workdir::new();
    let config = dir.config(&standin.base_url(), PASSWORD, &demo_roles_only(), "");

    let (error, report) = sole_check_error(&config).await;

    assert!(
        error.contains("JSON:API accepts only read operations"),
        "{report}"
    );
    assert!(error.contains("/admin/config/services/jsonapi"), "{report}");
}

#[tokio::test]
async fn check_reports_missing_and_mistyped_fields_and_missing_roles() {
    let mut site = StandInConfig::demo(PASSWORD);
    site.user_fields.push(FieldSeed {
        name: "field_vip".into(),
        kind: FieldKind::Boolean,
    });
    let standin = start_standin(site);
    let mut seed = AccountSeed::new("ada");
    seed.fields.insert("field_vip".into(), json!(true));
    standin.handle().insert_user(seed).expect("seed");
    let mapping = demo_roles_only()
        .replace(
            "rules:\n",
            "rules:\n  - scim: nickName\n    drupal: field_nickname\n  - scim: title\n    drupal: field_vip\n",
        )
        .replace(
            "groups:\n",
            "groups:\n  - role: marketing\n    display_name: Marketing\n",
        );
    let dir = Workdir::new();
    let config = dir.config(
        &standin.base_url(),
        PASSWORD,
        &mapping,
        "protected_roles: [administrator, site_admin]\n",
    );

    let (code, report) = check(&config).await;

    assert_eq!(code, 1, "{report}");
    let errors = lines_of(&report, "error");
    let has = |text: &str| errors.iter().any(|l| l.contains(text));
    assert!(
        has("field_nickname does not exist on the user entity (rule 1 (scim: nickName) writes it) — add it under Configuration › People › Account settings › Manage fields as Text (plain)"),
        "{report}"
    );
    assert!(
        has("field_vip holds true/false values (Boolean) on the site, but rule 2 (scim: title) says `type: string`"),
        "{report}"
    );
    assert!(
        has("role marketing does not exist on the site, but the mapping uses it — create it under People › Roles"),
        "{report}"
    );
    assert!(
        has("role site_admin does not exist on the site, but it is listed in protected_roles"),
        "{report}"
    );
    assert_eq!(errors.len(), 4, "{report}");
    // No account has an external id (or a name) yet: the fields exist,
    // their types are unknown.
    let warnings = lines_of(&report, "warning");
    assert!(
        warnings.contains(&"warning field: field_scim_external_id exists; its type cannot be verified because no account has a value in it yet — make sure it is Text (plain) (rule 6 (scim: externalId))"),
        "{report}"
    );
    // The site's admin is uid 1: check says the bridge deserves its own account.
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "warning account: the bridge logs in as admin, Drupal's first account (uid 1)"
        )),
        "{report}"
    );
    assert!(
        warnings
            .iter()
            .all(|w| w.contains("its type cannot be verified") || w.contains("(uid 1)")),
        "{report}"
    );
    assert_eq!(
        report.lines().last(),
        Some(format!("4 errors, {} warnings", warnings.len()).as_str())
    );
}

/// `serve` starts with a mapping that hands a protected role to the IdP
/// without `allow_protected` and leaves the role out, with a warning:
/// `check` reports it with the same severity, so the two agree.
#[tokio::test]
async fn check_warns_of_protected_roles_the_mapping_names_as_serve_does() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let mapping = demo_roles_only()
        .replace(
            "groups:\n",
            "groups:\n  - role: administrator\n    display_name: Admins\n  - display_name: Root\n    roles: [auditor]\n",
        )
        .replace(
            "role_rules: []",
            "role_rules:\n  - when: title eq \"Boss\"\n    role: administrator",
        );
    let dir = Workdir::new();
    let config = dir.config(
        &standin.base_url(),
        PASSWORD,
        &mapping,
        "protected_roles: [administrator, auditor]\n",
    );

    let (code, report) = check(&config).await;

    let errors = lines_of(&report, "error");
    assert!(
        errors.iter().all(|l| !l.contains("protected role")),
        "{report}"
    );
    let warnings = lines_of(&report, "warning");
    let has = |text: &str| warnings.iter().any(|l| l.contains(text));
    assert!(
        has("the role administrator is listed in protected_roles; the group \"Admins\" is NOT exposed"),
        "{report}"
    );
    assert!(
        has("a role rule grants the protected role administrator; rules naming it grant nothing"),
        "{report}"
    );
    assert!(
        has("the term group \"Root\" grants the protected role auditor; it does NOT grant it"),
        "{report}"
    );
    assert_eq!(code, i32::from(!errors.is_empty()), "{report}");
}

#[tokio::test]
async fn check_reports_an_account_that_may_not_list_roles() {
    let mut site = StandInConfig::demo(PASSWORD);
    site.roles.push(RoleSeed::new(
        "scim_admin",
        "SCIM admin",
        &["administer users"],
    ));
    let standin = start_standin(site);
    let mut bridge_account = AccountSeed::new("scimadmin");
    bridge_account.password = Some("scim-password".into());
    bridge_account.roles = vec!["scim_admin".into()];
    standin.handle().insert_user(bridge_account).expect("seed");
    let dir = Workdir::new();
    let config = dir
        .config(&standin.base_url(), "scim-password", &demo_roles_only(), "")
        .display()
        .to_string();
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("username: admin", "username: scimadmin"),
    )
    .expect("config");

    let (code, report) = check(Path::new(&config)).await;

    assert_eq!(code, 1, "{report}");
    assert!(
        lines_of(&report, "error").iter().any(|l| l.contains(
            "may not list roles, so groups and role rules cannot work and protected roles cannot be verified — give the bridge's account the \"administer permissions\" permission"
        )),
        "{report}"
    );
}

#[tokio::test]
async fn check_reports_an_invalid_mapping_with_file_line_and_column_offline() {
    let dir = Workdir::new();
    let config = dir.config(
        "http://127.0.0.1:9",
        PASSWORD,
        "rules:\n  - scim: userName\n    drupal: name\n  - scim: name.givenNam\n    drupal: field_first_name\n",
        "",
    );

    let (code, report) = check(&config).await;

    assert_eq!(code, 1, "{report}");
    let mapping = dir.0.join("mapping.yaml").display().to_string();
    assert!(
        report.lines().any(|l| l
            == format!("error   mapping: {mapping}:4:11: rule 2 (scim: name.givenNam): unknown SCIM attribute \"name.givenNam\" — did you mean \"name.givenName\"?")),
        "{report}"
    );
}

#[tokio::test]
async fn check_reports_an_invalid_configuration_and_stops() {
    let dir = Workdir::new();
    let config = dir.write("bridge.yaml", "scim:\n  tokens: [short]\n");

    let (code, report) = check(&config).await;

    assert_eq!(code, 1, "{report}");
    assert!(report.starts_with("error   config: "), "{report}");
    assert!(report.contains("deploy/bridge.example.yaml"), "{report}");
}

#[tokio::test]
async fn map_turns_okta_s_documented_user_into_the_drupal_document() {
    let okta_user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/okta.yaml");

    let output = run(&["map", "--mapping", mapping], Some(&okta_user.to_string())).await;

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(
        document,
        json!({"data": {"type": "user--user", "attributes": {
            "name": "test.user@okta.local",
            "mail": "test.user@okta.local",
            "status": true,
            "field_scim_external_id": "00ujl29u0le5T6Aj10h7",
            "pass": {"value": "1mz050nq"},
            "preferred_langcode": "en",
            "field_first_name": "Test",
            "field_last_name": "User"
        }}})
    );
}

#[tokio::test]
async fn map_round_trips_a_user_through_drupal_and_back() {
    let dir = Workdir::new();
    let mapping = dir.write(
        "mapping.yaml",
        r#"
schemas:
  - urn: urn:example:params:scim:schemas:extension:acme:2.0:User
    name: AcmeUser
    alias: acme
    attributes:
      - {name: skills, type: string, multi_valued: true}
rules:
  - {scim: userName, drupal: name, transforms: [lowercase]}
  - {scim: emails.value, prefer: [primary], drupal: mail}
  - {scim: active, drupal: status}
  - {scim: "phoneNumbers[type eq \"mobile\"].value", drupal: field_mobile, type: telephone}
  - {scim: "enterprise:department", drupal: field_department, transforms: [{map: {Engineering: eng}}]}
  - {scim: "acme:skills", drupal: field_skills, multiple: true}
  - {scim: "enterprise:manager.value", drupal: field_manager, type: entity_reference, target: user--user}
"#,
    );
    let mapping = mapping.display().to_string();
    let scim_user = json!({
        "userName": "ada",
        "emails": [{"value": "ada@example.org", "primary": true}],
        "active": false,
        "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "mobile"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Engineering",
            "manager": {"value": "6f1c0b7e-3b7a-4c55-9d7e-0a4e8b1f2c3d"}
        },
        "urn:example:params:scim:schemas:extension:acme:2.0:User": {"skills": ["rust", "sql"]}
    });

    let forward = run(
        &["map", "--mapping", &mapping],
        Some(&scim_user.to_string()),
    )
    .await;
    assert_eq!(forward.status.code(), Some(0), "{}", stderr(&forward));
    let mut document: Value = serde_json::from_str(&stdout(&forward)).expect("document");
    assert_eq!(document["data"]["attributes"]["field_department"], "eng");
    assert_eq!(
        document["data"]["relationships"]["field_manager"]["data"]["type"],
        "user--user"
    );
    // What Drupal answers: the document with the UUID it stores.
    document["data"]["id"] = json!("0b0e7a52-5f1d-4d4e-8f51-7b7b3d2a9c10");

    let back = run(
        &["map", "--mapping", &mapping, "--reverse"],
        Some(&document.to_string()),
    )
    .await;
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    let mut returned: Value = serde_json::from_str(&stdout(&back)).expect("SCIM user");
    assert_eq!(returned["id"], "0b0e7a52-5f1d-4d4e-8f51-7b7b3d2a9c10");
    let returned = returned.as_object_mut().expect("object");
    for server_side in ["id", "meta", "schemas"] {
        returned.remove(server_side);
    }
    assert_eq!(Value::Object(returned.clone()), scim_user, "what went in");
}

#[tokio::test]
async fn map_refuses_invalid_input_and_mappings_with_exit_status_1_and_usage_with_2() {
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/default.yaml");
    let not_json = run(&["map", "--mapping", mapping], Some("{\"userName\": ")).await;
    assert_eq!(not_json.status.code(), Some(1));
    assert!(
        stderr(&not_json).starts_with("error: the input is not JSON"),
        "{}",
        stderr(&not_json)
    );
    assert!(stdout(&not_json).is_empty());

    let dir = Workdir::new();
    let broken = dir.write(
        "broken.yaml",
        "rules:\n  - scim: userName\n    drupal: nmae\n",
    );
    let refused = run(
        &["map", "--mapping", &broken.display().to_string()],
        Some("{}"),
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("broken.yaml:3:13: rule 1 (scim: userName): unknown Drupal user field \"nmae\" — did you mean \"name\"?"),
        "{}",
        stderr(&refused)
    );

    let usage = run(&["map"], None).await;
    assert_eq!(usage.status.code(), Some(2));
    // Either names the mapping: the usage error says so.
    assert!(
        stderr(&usage).contains("--mapping <MAPPING>")
            && stderr(&usage).contains("--config <CONFIG>"),
        "{}",
        stderr(&usage)
    );
    let both = run(
        &["map", "--mapping", mapping, "--config", "bridge.yaml"],
        None,
    )
    .await;
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

/// `args` run with `stdin`, writing into a pipe whose reader is already
/// gone (`... | head -1` after it stopped reading).
async fn run_into_a_closed_pipe(args: &[&str], stdin: &str) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        // A pipe whose reader has exited: `true` reading from it.
        let mut reader = Command::new("true")
            .stdin(Stdio::piped())
            .spawn()
            .expect("run true");
        let writer = reader.stdin.take().expect("the reader's pipe");
        reader.wait().expect("the reader exits");
        let mut child = Command::new(BRIDGE)
            .args(&args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the bridge");
        if let Some(mut pipe) = child.stdin.take() {
            pipe.write_all(stdin.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("bridge output")
    })
    .await
    .expect("blocking task")
}

#[tokio::test]
async fn check_and_map_exit_quietly_when_their_reader_is_gone() {
    let dir = Workdir::new();
    let config = dir.write("bridge.yaml", "scim:\n  tokens: [short]\n");
    let check =
        run_into_a_closed_pipe(&["check", "--config", &config.display().to_string()], "").await;
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(!stderr(&check).contains("panicked"), "{}", stderr(&check));
    let fix = run_into_a_closed_pipe(
        &[
            "check",
            "--config",
            &config.display().to_string(),
            "--fix-script",
        ],
        "",
    )
    .await;
    assert!(!stderr(&fix).contains("panicked"), "{}", stderr(&fix));
    assert_eq!(fix.status.code(), Some(1), "{}", stderr(&fix));

    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/default.yaml");
    let user =
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada"});
    let map = run_into_a_closed_pipe(&["map", "--mapping", mapping], &user.to_string()).await;
    assert_eq!(map.status.code(), Some(0), "{}", stderr(&map));
    assert_eq!(stderr(&map), "");
}

#[tokio::test]
async fn every_command_s_help_has_examples_and_exit_codes() {
    for command in ["serve", "demo", "check", "map"] {
        let help = run(&[command, "--help"], None).await;
        assert_eq!(help.status.code(), Some(0), "{command}");
        let text = stdout(&help);
        assert!(text.contains("Example"), "{command}: {text}");
        assert!(text.contains("Exit status"), "{command}: {text}");
    }
    let top = run(&["--help"], None).await;
    assert!(stdout(&top).contains("Exit status"));
}

/// A running `serve` process, killed on drop; its log is collected.
struct Server {
    child: Child,
    log: Arc<Mutex<String>>,
    base: String,
}

impl Server {
    fn start(config: &Path, extra_args: &[&str]) -> Server {
        let port = std::fs::read_to_string(config)
            .expect("config")
            .lines()
            .find_map(|l| l.strip_prefix("listen: 127.0.0.1:").map(str::to_string))
            .expect("listen line");
        let mut child = Command::new(BRIDGE)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(extra_args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let log = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        Server {
            child,
            log,
            base: format!("http://127.0.0.1:{port}/scim/v2"),
        }
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until the log holds `text`.
    async fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn scim(method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/scim+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("bridge answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn serve_dry_run_logs_writes_without_passwords_and_sends_none() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let mapping =
        demo_roles_only().replace("rules:\n", "rules:\n  - scim: password\n    drupal: pass\n");
    let config = dir.config(&standin.base_url(), PASSWORD, &mapping, "");
    let server = Server::start(&config, &["--dry-run"]);
    server.wait_for_log("serving SCIM").await;

    let (status, created) = scim(
        reqwest::Method::POST,
        &format!("{}/Users", server.base),
        Some(json!({
            "userName": "ada",
            "password": "Tr0ub4dor&3",
            "emails": [{"value": "ada@example.org", "primary": true}]
        })),
    )
    .await;

    assert_eq!(status, 201, "{created}\n{}", server.log());
    server.wait_for_log("drupal write not sent (dry run)").await;
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("drupal write not sent"))
        .expect("the write is logged");
    // The document is one quoted value (it holds the client's values),
    // its quotes escaped as in a JSON string.
    let quoted = line
        .split_once(" document=")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("a document: {line}"));
    let mut values = serde_json::Deserializer::from_str(quoted).into_iter::<String>();
    let document = values
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("a quoted document: {line}"));
    let document: serde_json::Value = serde_json::from_str(&document).unwrap();
    let attributes = &document["data"]["attributes"];
    assert_eq!(attributes["name"], "ada", "{line}");
    assert_eq!(attributes["mail"], "ada@example.org", "{line}");
    assert_eq!(attributes["pass"], "[redacted]", "{line}");
    assert!(!log.contains("Tr0ub4dor"), "the password leaked:\n{log}");
    assert_eq!(non_get_requests(&standin.handle()), Vec::<String>::new());
    assert!(standin.handle().user_by_name("ada").is_none());
}

#[tokio::test]
async fn sighup_keeps_the_mapping_when_the_new_one_is_invalid_and_takes_a_valid_one() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let mut seed = AccountSeed::new("ada");
    seed.fields
        .insert("field_scim_external_id".into(), json!("ext-ada"));
    let id = standin.handle().insert_user(seed).expect("seed");
    let dir = Workdir::new();
    let config = dir.config(&standin.base_url(), PASSWORD, &demo_roles_only(), "");
    let server = Server::start(&config, &[]);
    server.wait_for_log("serving SCIM").await;
    let user_url = format!("{}/Users/{id}", server.base);

    let broken = demo_roles_only().replace("- scim: externalId\n", "- scim: externalid_\n");
    dir.write("mapping.yaml", &broken);
    server.hang_up();
    server.wait_for_log("the changed mapping is not used").await;
    let mapping_file = dir.0.join("mapping.yaml").display().to_string();
    assert!(
        server.log().contains(&format!("{mapping_file}:")),
        "the log names the file:\n{}",
        server.log()
    );
    let (status, user) = scim(reqwest::Method::GET, &user_url, None).await;
    assert_eq!((status, &user["externalId"]), (200, &json!("ext-ada")));

    dir.write(
        "mapping.yaml",
        &demo_roles_only().replace("- scim: externalId\n", "- scim: nickName\n"),
    );
    server.hang_up();
    server.wait_for_log("mapping reloaded").await;
    let (status, user) = scim(reqwest::Method::GET, &user_url, None).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["nickName"], "ext-ada", "{user}");
}

/// A `sites:` configuration of two sites on two stand-ins, each with its
/// own mapping file.
fn two_sites(dir: &Workdir, physics: &StandIn, chem: &StandIn, chem_mapping: &str) -> PathBuf {
    let physics_mapping = dir.write("physics.yaml", &demo_roles_only());
    let chem_mapping = dir.write("chem.yaml", chem_mapping);
    dir.write(
        "bridge.yaml",
        &format!(
            "listen: 127.0.0.1:{port}\ndefaults:\n  drupal:\n    timeout_secs: 2\n    connect_timeout_secs: 1\n    auth:\n      username: admin\n      password: \"{PASSWORD}\"\nsites:\n  - id: physics\n    mapping: {}\n    scim:\n      tokens: [\"{TOKEN}\"]\n    drupal:\n      base_url: {}\n  - id: chem\n    mapping: {}\n    scim:\n      tokens: [\"chem-token-0123456789\"]\n    drupal:\n      base_url: {}\n",
            physics_mapping.display(),
            physics.base_url(),
            chem_mapping.display(),
            chem.base_url(),
            port = free_port(),
        ),
    )
}

#[tokio::test]
async fn check_checks_every_site_or_the_one_named_and_map_takes_a_site() {
    let physics = start_standin(StandInConfig::demo(PASSWORD));
    let chem = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    // chem's mapping names a field its Drupal lacks.
    let chem_mapping = demo_roles_only().replace(
        "rules:\n",
        "rules:\n  - scim: title\n    drupal: field_job_title\n",
    );
    let config = two_sites(&dir, &physics, &chem, &chem_mapping);

    let (code, report) = check(&config).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("site physics: Drupal accepts the account admin"),
        "{report}"
    );
    let errors = lines_of(&report, "error");
    assert!(
        !errors.is_empty() && errors.iter().all(|l| l.contains("site chem:")),
        "{report}"
    );

    let only = run(
        &[
            "check",
            "--config",
            &config.display().to_string(),
            "--site",
            "physics",
        ],
        None,
    )
    .await;
    assert_eq!(only.status.code(), Some(0), "{}", stdout(&only));
    assert!(!stdout(&only).contains("site chem"), "{}", stdout(&only));
    let unknown = run(
        &[
            "check",
            "--config",
            &config.display().to_string(),
            "--site",
            "bio",
        ],
        None,
    )
    .await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stdout(&unknown).contains("physics, chem"),
        "{}",
        stdout(&unknown)
    );

    let user = json!({"userName": "ada", "title": "Chemist", "emails": [{"value": "ada@example.org", "primary": true}]});
    let mapped = |site: &'static str| {
        let config = config.display().to_string();
        let user = user.to_string();
        async move { run(&["map", "--config", &config, "--site", site], Some(&user)).await }
    };
    let chem_doc = mapped("chem").await;
    assert_eq!(chem_doc.status.code(), Some(0), "{}", stderr(&chem_doc));
    assert!(
        stdout(&chem_doc).contains("field_job_title"),
        "{}",
        stdout(&chem_doc)
    );
    let physics_doc = mapped("physics").await;
    assert_eq!(
        physics_doc.status.code(),
        Some(0),
        "{}",
        stderr(&physics_doc)
    );
    assert!(!stdout(&physics_doc).contains("field_job_title"));
    let ambiguous = run(
        &["map", "--config", &config.display().to_string()],
        Some(&user.to_string()),
    )
    .await;
    assert_eq!(ambiguous.status.code(), Some(1));
    assert!(
        stderr(&ambiguous).contains("--site"),
        "{}",
        stderr(&ambiguous)
    );
}

#[tokio::test]
async fn sighup_adds_and_removes_sites_of_a_running_bridge() {
    let physics = start_standin(StandInConfig::demo(PASSWORD));
    let chem = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let config = two_sites(&dir, &physics, &chem, &demo_roles_only());
    let server = Server::start(&config, &[]);
    server
        .wait_for_log("serving SCIM at /sites/<id>/scim/v2")
        .await;
    let root = server.base.trim_end_matches("/scim/v2").to_string();
    let chem_users = format!("{root}/sites/chem/scim/v2/Users");
    let status = |url: String, token: &'static str| async move {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(
        status(chem_users.clone(), "chem-token-0123456789").await,
        200
    );

    // chem leaves, bio arrives on chem's stand-in.
    let text = std::fs::read_to_string(&config).unwrap();
    let changed = text
        .replace("id: chem", "id: bio")
        .replace("chem-token-0123456789", "bio-token-0123456789ab");
    std::fs::write(&config, changed).unwrap();
    server.hang_up();
    server.wait_for_log("site removed").await;
    server.wait_for_log("site added").await;
    assert_eq!(status(chem_users, "chem-token-0123456789").await, 401);
    assert_eq!(
        status(
            format!("{root}/sites/bio/scim/v2/Users"),
            "bio-token-0123456789ab"
        )
        .await,
        200
    );
    assert_eq!(
        status(format!("{root}/sites/physics/scim/v2/Users"), TOKEN).await,
        200
    );
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("site removed") && l.contains("chem")),
        "{log}"
    );
}

/// Term-backed groups: `check` verifies the vocabulary, the account's term
/// permissions, and reads the groups as an anonymous visitor.
#[tokio::test]
async fn check_verifies_term_groups_and_reads_them_as_anonymous() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let private = format!("{}\ngroup_terms: {{}}\n", demo_roles_only());
    let config = dir.config(&standin.base_url(), PASSWORD, &private, "");
    let (_, report) = check(&config).await;
    let oks = lines_of(&report, "ok");
    for wanted in [
        "the vocabulary scim_groups answers over JSON:API",
        "may create, edit and delete terms in scim_groups",
        "anonymous visitors read no group of scim_groups",
    ] {
        assert!(oks.iter().any(|l| l.contains(wanted)), "{wanted}: {report}");
    }
    assert!(lines_of(&report, "error").is_empty(), "{report}");

    // A published group is readable by anyone: check says so.
    let created = reqwest::Client::new()
        .post(format!("{}/jsonapi/taxonomy_term/scim_groups", standin.base_url()))
        .basic_auth("admin", Some(PASSWORD))
        .header("Content-Type", "application/vnd.api+json")
        .body(r#"{"data":{"type":"taxonomy_term--scim_groups","attributes":{"name":"Public","status":true}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let (code, report) = check(&config).await;
    assert_ne!(code, 0, "{report}");
    assert!(
        lines_of(&report, "error")
            .iter()
            .any(|l| l.contains("anonymous visitors can read 1 group(s) of scim_groups")),
        "{report}"
    );

    let missing = format!(
        "{}\ngroup_terms: {{vocabulary: nosuchvocab}}\n",
        demo_roles_only()
    );
    let config = dir.config(&standin.base_url(), PASSWORD, &missing, "");
    let (error, report) = sole_check_error(&config).await;
    assert!(
        error.contains("there is no vocabulary nosuchvocab"),
        "{report}"
    );
}

/// `demo` creates a group `Sales` as a term; `map` with the file the demo
/// says it uses answers the same.
#[tokio::test]
async fn map_with_the_demo_mapping_answers_as_the_demo_does() {
    let mapping = concat!(env!("CARGO_MANIFEST_DIR"), "/mappings/demo.yaml");
    let sales = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Sales"
    });
    let output = run(&["map", "--mapping", mapping], Some(&sales.to_string())).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let preview: Value = serde_json::from_str(&stdout(&output)).expect("JSON on stdout");
    assert_eq!(preview["kind"], "term", "{preview}");
    assert_eq!(
        preview["term"]["data"]["type"],
        "taxonomy_term--scim_groups"
    );
    let editor = run(
        &["map", "--mapping", mapping],
        Some(&json!({"displayName": "editor"}).to_string()),
    )
    .await;
    let editor: Value = serde_json::from_str(&stdout(&editor)).expect("JSON on stdout");
    assert_eq!(editor["kind"], "role", "{editor}");
}

/// `map` covers groups: a SCIM group as Okta pushes it shows the term that
/// creates it and the roles its members get; a Drupal user's group
/// references come back as the user's `groups`.
#[tokio::test]
async fn map_shows_what_a_group_becomes_and_a_users_groups() {
    let dir = Workdir::new();
    let mapping = dir.write(
        "mapping.yaml",
        r#"
rules:
  - {scim: userName, drupal: name}
  - {scim: emails.value, drupal: mail}
group_terms: {}
groups:
  - {role: editor, display_name: Editors}
  - {display_name: Engineering, roles: [engineering]}
"#,
    );
    let mapping = mapping.display().to_string();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "ENGINEERING",
        "members": [{"value": "0b0e7a52-5f1d-4d4e-8f51-7b7b3d2a9c10", "display": "ada"}]
    });
    let forward = run(&["map", "--mapping", &mapping], Some(&group.to_string())).await;
    assert_eq!(forward.status.code(), Some(0), "{}", stderr(&forward));
    let preview: Value = serde_json::from_str(&stdout(&forward)).expect("JSON on stdout");
    assert_eq!(preview["kind"], "term", "{preview}");
    assert_eq!(preview["members_get_roles"], json!(["engineering"]));
    assert_eq!(
        preview["members"],
        json!(["0b0e7a52-5f1d-4d4e-8f51-7b7b3d2a9c10"])
    );
    let term = &preview["term"]["data"];
    assert_eq!(term["type"], "taxonomy_term--scim_groups");
    assert_eq!(term["attributes"]["name"], "ENGINEERING");
    assert_eq!(term["attributes"]["status"], false, "kept unpublished");

    let role_backed = run(
        &["map", "--mapping", &mapping],
        Some(&json!({"displayName": "editors"}).to_string()),
    )
    .await;
    assert_eq!(
        role_backed.status.code(),
        Some(0),
        "{}",
        stderr(&role_backed)
    );
    let role_backed: Value = serde_json::from_str(&stdout(&role_backed)).expect("JSON");
    assert_eq!(role_backed["kind"], "role");
    assert_eq!(role_backed["role"], "editor");

    let nameless = run(
        &["map", "--mapping", &mapping],
        Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"]}).to_string()),
    )
    .await;
    assert_eq!(nameless.status.code(), Some(1));
    assert!(
        stderr(&nameless).contains("displayName"),
        "{}",
        stderr(&nameless)
    );

    let term_id = term["id"].as_str().expect("term id").to_string();
    let drupal_user = json!({"data": {
        "type": "user--user",
        "id": "0b0e7a52-5f1d-4d4e-8f51-7b7b3d2a9c10",
        "attributes": {"name": "ada", "mail": "ada@example.org", "status": true},
        "relationships": {"field_scim_groups": {"data": [
            {"type": "taxonomy_term--scim_groups", "id": term_id}
        ]}}
    }});
    let back = run(
        &["map", "--mapping", &mapping, "--reverse"],
        Some(&drupal_user.to_string()),
    )
    .await;
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    let user: Value = serde_json::from_str(&stdout(&back)).expect("SCIM user");
    assert_eq!(user["groups"][0]["value"], json!(term_id), "{user}");
}

#[tokio::test]
async fn demo_with_a_drupal_url_serves_the_demo_configuration_in_front_of_that_site() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let port = free_port();
    let mut child = Command::new(BRIDGE)
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--token", TOKEN, "--drupal-url", &standin.base_url()])
        .args(["--drupal-user", "admin", "--drupal-password", PASSWORD])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo");
    let base = format!("http://127.0.0.1:{port}/scim/v2");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(answer) = reqwest::Client::new()
            .get(format!("{base}/Users"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            break answer.status().as_u16();
        }
        assert!(Instant::now() < deadline, "the demo never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200);
    // The demo's group settings hold: any name is a term group, and an
    // unknown member is left out with a 200 that shows the group.
    let (status, group) = scim(
        reqwest::Method::POST,
        &format!("{base}/Groups"),
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Anything"})),
    )
    .await;
    assert_eq!(status, 201, "{group}");
    let (status, patched) = scim(
        reqwest::Method::PATCH,
        &format!("{base}/Groups/{}", group["id"].as_str().unwrap()),
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": "fake-member-id"}]}]})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["members"], json!([]));
    let _ = child.kill();
    let output = child.wait_with_output().expect("demo output");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(printed.contains(&standin.base_url()), "{printed}");
    assert!(!printed.contains(PASSWORD), "the password is never printed");
}

#[tokio::test]
async fn check_refuses_an_audit_file_serve_could_not_open() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let missing = dir.0.join("no-such-dir").join("audit.jsonl");
    let config = dir.config(
        &standin.base_url(),
        PASSWORD,
        &demo_roles_only(),
        &format!("audit:\n  file: {}\n", missing.display()),
    );
    let (code, report) = check(&config).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("error   config: audit.file") && report.contains("no-such-dir"),
        "{report}"
    );
    // A directory that exists passes, and check leaves no file behind.
    let fine = dir.0.join("audit.jsonl");
    let config = dir.config(
        &standin.base_url(),
        PASSWORD,
        &demo_roles_only(),
        &format!("audit:\n  file: {}\n", fine.display()),
    );
    let (_, report) = check(&config).await;
    assert!(!report.contains("audit.file"), "{report}");
    assert!(!fine.exists(), "check creates no audit file");
}

#[tokio::test]
async fn a_fix_script_for_a_configuration_that_does_not_load_says_why() {
    let dir = Workdir::new();
    let config = dir.write(
        "bridge.yaml",
        "scim:\n  tokens: [\"cli-test-token-0123456789\"]\ndrupal:\n  base_url: ftp://drupal\n  auth: {username: a, password: b}\n",
    );
    let output = run(
        &[
            "check",
            "--config",
            &config.display().to_string(),
            "--fix-script",
        ],
        None,
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    let script = stdout(&output);
    assert!(script.contains("does not load"), "{script}");
    assert!(
        script.contains("# error   config:") && script.contains("base_url"),
        "{script}"
    );
    assert!(stderr(&output).contains("base_url"), "{}", stderr(&output));
}

#[tokio::test]
async fn an_environment_variable_with_a_wrong_value_is_named() {
    let dir = Workdir::new();
    let config = dir.write(
        "bridge.yaml",
        "defaults:\n  scim:\n    tokens: [\"cli-test-token-0123456789\"]\n  drupal:\n    auth: {username: a, password: b}\nsites:\n  - id: d\n    drupal: {base_url: \"https://d.example.org\"}\n",
    );
    let output = run_with_env(
        &["check", "--config", &config.display().to_string()],
        None,
        &[("SCIM_BRIDGE__DEFAULTS__COUNT_CACHE_SECS", "ten")],
    )
    .await;
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains("environment variable SCIM_BRIDGE__DEFAULTS__COUNT_CACHE_SECS"),
        "{report}"
    );
    assert!(
        report.contains("fix or unset that environment variable"),
        "{report}"
    );
}

/// The variables a one-site setup sets (the systemd unit once did), over
/// a `sites:` file: `check` names them, and says to fix them, not the file.
#[tokio::test]
async fn a_site_key_set_by_a_variable_over_a_sites_file_names_the_variable() {
    let dir = Workdir::new();
    let config = dir.write(
        "ms.yaml",
        "defaults:\n  scim:\n    tokens: [\"cli-test-token-0123456789\"]\n  drupal:\n    auth: {username: a, password_file: pw}\nsites:\n  - id: d\n    drupal: {base_url: \"https://d.example.org\"}\n",
    );
    let output = run_with_env(
        &["check", "--config", &config.display().to_string()],
        None,
        &[
            ("SCIM_BRIDGE__SCIM__TOKEN_FILE", "token"),
            ("SCIM_BRIDGE__DRUPAL__AUTH__PASSWORD_FILE", "pw"),
        ],
    )
    .await;
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains(
            "environment variables SCIM_BRIDGE__DRUPAL__AUTH__PASSWORD_FILE, SCIM_BRIDGE__SCIM__TOKEN_FILE"
        ) && report.contains("SCIM_BRIDGE__DEFAULTS__DRUPAL__AUTH__PASSWORD_FILE")
            && report.contains("fix or unset that environment variable")
            && !report.contains("fix the file"),
        "{report}"
    );
}

/// A rule writing the deprovisioning marker would hide each account it
/// sets it on at once: `check` refuses the mapping, naming the rule and
/// the fix, whatever type the rule gives the field.
#[tokio::test]
async fn check_refuses_a_rule_writing_the_deprovisioning_marker() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    for rule in [
        "{scim: title, drupal: field_scim_deprovisioned, type: boolean}",
        "{scim: title, drupal: field_scim_deprovisioned, type: string}",
    ] {
        let mapping = demo_roles_only().replace("\nrules:\n", &format!("\nrules:\n  - {rule}\n"));
        let config = dir.config(&standin.base_url(), PASSWORD, &mapping, "");
        let (code, report) = check(&config).await;
        assert_eq!(code, 1, "{report}");
        assert!(
            lines_of(&report, "error").iter().any(|l| l.contains(
                "rule 1 (scim: title): it writes field_scim_deprovisioned, the deprovisioning marker"
            ) && l.contains("— delete the rule")),
            "{report}"
        );
        // Placed like every mapping error: file:line:column, once.
        let line = lines_of(&report, "error")
            .into_iter()
            .find(|l| l.contains("it writes field_scim_deprovisioned"))
            .unwrap_or_default();
        let place = line
            .split_once("mapping.yaml:")
            .map(|(before, after)| (before, after.split(':').take(2).collect::<Vec<_>>()));
        assert!(
            matches!(&place, Some((before, at)) if !before.contains(".yaml")
                && at.len() == 2
                && at.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))),
            "{line}"
        );
    }
}

/// Drupal shows a field's settings only to accounts with "administer user
/// fields", which the bridge's account does not need: `check` reads the
/// users' group field off an account instead. A field that is there and
/// holds several values is information (what could not be verified, why,
/// how to verify it by hand), not a warning; a missing one is an error.
#[tokio::test]
async fn check_verifies_the_group_field_from_accounts_and_refuses_a_missing_one() {
    let standin = start_standin(StandInConfig::demo(PASSWORD));
    let dir = Workdir::new();
    let config = dir.config(
        &standin.base_url(),
        PASSWORD,
        &format!("{}\ngroup_terms: {{}}\n", demo_roles_only()),
        "",
    );
    let (_, report) = check(&config).await;
    let groups: Vec<&str> = report.lines().filter(|l| l.contains("groups: ")).collect();
    assert!(
        !groups
            .iter()
            .any(|l| l.contains("cannot read the storage")
                || l.contains("cannot read which vocabulary")),
        "{report}"
    );
    let shown = lines_of(&report, "ok")
        .into_iter()
        .find(|l| {
            l.contains("field_scim_groups exists, references entities and holds several values")
        })
        .unwrap_or_else(|| panic!("no line on the group field: {report}"));
    assert!(
        shown.contains("\"administer user fields\"") && shown.contains("Verify by hand"),
        "{shown}"
    );

    let config = dir.config(
        &standin.base_url(),
        PASSWORD,
        &format!(
            "{}\ngroup_terms: {{user_field: field_no_groups}}\n",
            demo_roles_only()
        ),
        "",
    );
    let (code, report) = check(&config).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        lines_of(&report, "error")
            .iter()
            .any(|l| l.contains("users have no field field_no_groups")),
        "{report}"
    );
}

/// Without "administer permissions" Drupal hides the roles' permissions:
/// `check` cannot verify the term permissions, and says so (a warning
/// naming what to grant), rather than calling them missing.
#[tokio::test]
async fn check_says_term_permissions_it_cannot_read_are_unverified_not_missing() {
    let mut site = StandInConfig::demo(PASSWORD);
    site.roles.push(RoleSeed::new(
        "scim_bridge",
        "SCIM bridge",
        &["administer users", "administer taxonomy"],
    ));
    let standin = start_standin(site);
    let mut bridge_account = AccountSeed::new("scim-bridge");
    bridge_account.password = Some(PASSWORD.into());
    bridge_account.roles = vec!["scim_bridge".into()];
    standin.handle().insert_user(bridge_account).expect("seed");
    let dir = Workdir::new();
    let private = format!("{}\ngroup_terms: {{}}\n", demo_roles_only());
    let config = dir.config(&standin.base_url(), PASSWORD, &private, "");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("username: admin", "username: scim-bridge"),
    )
    .expect("config");
    let (_, report) = check(&config).await;
    let groups = |severity| {
        lines_of(&report, severity)
            .into_iter()
            .filter(|l| l.contains("groups:"))
            .collect::<Vec<_>>()
    };
    assert!(
        groups("error")
            .iter()
            .all(|l| !l.contains("lacks") && !l.contains("administer taxonomy")),
        "{report}"
    );
    assert!(
        groups("warning").iter().any(|l| l
            .contains("cannot read the permissions of the bridge's roles, so cannot verify")
            && l.contains("administer permissions")),
        "{report}"
    );
}

/// `demo --sites 2`: each site's token is drawn for it, so that one site's
/// token tells nothing of another's. They shared one random part, and
/// swapping the site's number in a token opened the other site (an
/// outside tester).
#[tokio::test]
async fn demo_sites_get_tokens_that_tell_nothing_of_each_other() {
    let port = free_port();
    // Two consecutive free ports for the stand-ins.
    let drupal = loop {
        let first = free_port();
        if TcpListener::bind(("127.0.0.1", first + 1)).is_ok() {
            break first;
        }
    };
    let mut child = Command::new(BRIDGE)
        .args([
            "demo",
            "--sites",
            "2",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--drupal-listen", &format!("127.0.0.1:{drupal}")])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start demo");
    let stdout = child.stdout.take().expect("stdout");
    // The banner's tokens, and the rest of its output drained: a closed
    // pipe would make the demo's next print fail, and the demo stop.
    let (sender, found) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut tokens = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(token) = line.trim().strip_prefix("Bearer token:") {
                tokens.push(token.trim().to_string());
                if tokens.len() == 2 {
                    let _ = sender.send(std::mem::take(&mut tokens));
                }
            }
        }
    });
    let tokens = tokio::task::spawn_blocking(move || {
        found
            .recv_timeout(Duration::from_secs(20))
            .expect("the banner's two tokens")
    })
    .await
    .expect("banner");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    // The banner may come before the port listens: ask until it answers.
    let status = |site: &'static str, token: String| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let answer = reqwest::Client::new()
                .get(format!(
                    "http://127.0.0.1:{port}/sites/{site}/scim/v2/Users"
                ))
                .bearer_auth(&token)
                .send()
                .await;
            match answer {
                Ok(answer) => return answer.status().as_u16(),
                Err(e) => assert!(Instant::now() < deadline, "the demo never answered: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(status("site1", tokens[0].clone()).await, 200);
    assert_eq!(status("site2", tokens[1].clone()).await, 200);
    assert_eq!(status("site2", tokens[0].clone()).await, 401);
    let swapped = tokens[0].replace("site1", "site2");
    assert_eq!(status("site2", swapped).await, 401);
    let common = tokens[0]
        .chars()
        .zip(tokens[1].chars())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(common < 8, "{tokens:?}");
    let _ = child.kill();
    let _ = child.wait();
}
