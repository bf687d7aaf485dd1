//! Seeded HTTP fuzzing of the bridge in front of the stand-in: a bounded
//! number of mutated IdP requests (JSON values swapped, dropped, grown or
//! filled with control characters; bodies cut or flipped; filters, ids and
//! headers garbled), aimed also at uid 1 and a protected account. After
//! each answer: no 5xx (the stand-in does not fail here, so a 5xx is the
//! bridge's), every 4xx a SCIM error with a `detail`. At the end: the
//! bridge still answers, uid 1 and the protected account are unchanged,
//! and no account was created twice. A second run aims at term-backed
//! groups (create, rename, members, PUT, DELETE, filters) under a mapping
//! whose "Admins" names the protected role without `allow_protected`: at
//! the end nobody got that role and every term name is one Drupal keeps.
//!
//! The seed is printed; `FUZZ_SEED=<seed>` replays a run, `FUZZ_REQUESTS`
//! changes its length (default 1000).

use std::collections::HashSet;

use drupal_scim_bridge::standin::AccountSeed;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::helpers::{spawn_app, spawn_app_with, Options, TestApp, TOKEN};

const NASTY: &[&str] = &[
    "",
    " ",
    "\n",
    "x\r\nSet-Cookie: a=b",
    "\u{0}",
    "\u{7f}",
    "\u{202e}evil",
    "' or 1=1 --",
    "\") or (userName pr",
    "../../etc/passwd",
    "%00%0a",
    "admin",
    "ADMIN",
    "boss",
    "null",
    "true",
    "9999999999999999999999",
    "-1",
    "😀",
    "a@b",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
];

fn nasty_string(rng: &mut StdRng) -> String {
    match rng.gen_range(0..4) {
        0 => (*NASTY.choose(rng).unwrap()).to_string(),
        1 => "x".repeat(*[59, 60, 61, 255, 256, 5_000, 70_000].choose(rng).unwrap()),
        2 => (0..rng.gen_range(0..40))
            .map(|_| char::from_u32(rng.gen_range(0..0x3000)).unwrap_or('?'))
            .collect(),
        _ => format!("fuzz.{}", rng.gen::<u32>()),
    }
}

fn nasty_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..9) {
        0 => Value::Null,
        1 => json!(rng.gen::<bool>()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen::<f64>() * 1e300),
        4 if depth < 3 => Value::Array(
            (0..rng.gen_range(0..4))
                .map(|_| nasty_value(rng, depth + 1))
                .collect(),
        ),
        5 if depth < 3 => {
            let mut object = serde_json::Map::new();
            for _ in 0..rng.gen_range(0..4) {
                let key = match rng.gen_range(0..3) {
                    0 => "value".to_string(),
                    1 => (*["op", "path", "primary", "type", "display", "$ref"]
                        .choose(rng)
                        .unwrap())
                    .to_string(),
                    _ => nasty_string(rng),
                };
                object.insert(key, nasty_value(rng, depth + 1));
            }
            Value::Object(object)
        }
        _ => Value::String(nasty_string(rng)),
    }
}

/// Changes one spot of a JSON document.
fn mutate(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(object) if !object.is_empty() && rng.gen_bool(0.7) => {
            let keys: Vec<String> = object.keys().cloned().collect();
            let key = keys.choose(rng).unwrap().clone();
            match rng.gen_range(0..4) {
                0 => {
                    object.remove(&key);
                }
                1 => {
                    object.insert(key, nasty_value(rng, 0));
                }
                _ => mutate(object.get_mut(&key).unwrap(), rng),
            }
        }
        Value::Array(items) if !items.is_empty() && rng.gen_bool(0.7) => {
            let i = rng.gen_range(0..items.len());
            match rng.gen_range(0..3) {
                0 => {
                    items.remove(i);
                }
                1 => items.push(nasty_value(rng, 0)),
                _ => mutate(&mut items[i], rng),
            }
        }
        other => *other = nasty_value(rng, 0),
    }
}

struct Target {
    method: reqwest::Method,
    path: String,
    body: Option<Value>,
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

fn base_requests(ids: &[String], group: &str) -> Vec<Target> {
    use reqwest::Method;
    let mut targets = vec![
        Target {
            method: Method::POST,
            path: "/Users".into(),
            body: Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "fuzz.base", "externalId": "ext", "active": true,
                "name": {"givenName": "F", "familyName": "Z"},
                "emails": [{"value": "fuzz@example.org", "primary": true, "type": "work"}],
                "groups": [{"value": group}]}),
            ),
        },
        Target {
            method: Method::POST,
            path: "/Users/.search".into(),
            body: Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName eq \"admin\" or emails[type eq \"work\" and value co \"@\"]",
                "startIndex": 1, "count": 10, "sortBy": "userName"}),
            ),
        },
        Target {
            method: Method::PATCH,
            path: format!("/Groups/{group}"),
            body: Some(patch(
                json!([{"op": "add", "path": "members", "value": [{"value": ids[0]}]},
                {"op": "remove", "path": "members[value eq \"x\"]"}]),
            )),
        },
        Target {
            method: Method::POST,
            path: "/Bulk".into(),
            body: Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 2,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "b1",
                     "data": {"userName": "fuzz.bulk", "emails": [{"value": "bulk@example.org"}]}},
                    {"method": "PATCH", "path": format!("/Users/{}", ids[0]),
                     "data": patch(json!([{"op": "replace", "path": "active", "value": false}]))},
                    {"method": "DELETE", "path": format!("/Users/{}", ids[1])}]}),
            ),
        },
    ];
    for id in ids {
        targets.push(Target {
            method: Method::PATCH,
            path: format!("/Users/{id}"),
            body: Some(patch(json!([
                {"op": "replace", "path": "name.givenName", "value": "G"},
                {"op": "add", "path": "emails[type eq \"work\"].value", "value": "w@example.org"},
                {"op": "replace", "value": {"active": false, "displayName": "D"}}]))),
        });
        targets.push(Target {
            method: Method::PUT,
            path: format!("/Users/{id}"),
            body: Some(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "renamed", "active": false, "emails": [{"value": "r@example.org"}]}),
            ),
        });
        targets.push(Target {
            method: Method::DELETE,
            path: format!("/Users/{id}"),
            body: None,
        });
        targets.push(Target {
            method: Method::GET,
            path: format!("/Users/{id}?attributes=userName,emails"),
            body: None,
        });
    }
    targets
}

/// `text` percent-encoded for a query string or a path segment.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn garble_path(path: &str, rng: &mut StdRng) -> String {
    let filters = [
        "userName eq \"admin\"",
        "emails[value co \"@\"",
        "not (active eq true) and meta.lastModified gt \"2020-01-01T00:00:00Z\"",
        "userName sw \"\\u0000\"",
        "((((((((((userName pr))))))))))",
        "name.givenName eq 5",
    ];
    match rng.gen_range(0..5) {
        0 => format!("/Users?filter={}", encode(filters.choose(rng).unwrap())),
        1 => format!("/Users?filter={}", encode(&nasty_string(rng))),
        2 => format!(
            "/Users?startIndex={}&count={}&sortBy={}",
            encode(&nasty_string(rng)),
            encode(&nasty_string(rng)),
            encode(&nasty_string(rng))
        ),
        3 => format!("/Users/{}", encode(&nasty_string(rng))),
        _ => path.to_string(),
    }
}

fn seed_and_length(what: &str) -> (u64, usize) {
    crate::helpers::seeded_run("FUZZ", what, 1000)
}

/// What a fuzz run leaves to check: the ids created (answered 201), and
/// how many answers had each status.
struct Run {
    created: HashSet<String>,
    statuses: std::collections::BTreeMap<u16, usize>,
}

/// Sends `requests` mutations of `targets` (and `garble` of their paths
/// now and then); after each answer: no 5xx, every 4xx a short SCIM
/// error with a `detail`.
async fn fuzz(
    app: &TestApp,
    targets: &[Target],
    garble: fn(&str, &mut StdRng) -> String,
    seed: u64,
    requests: usize,
) -> Run {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut run = Run {
        created: HashSet::new(),
        statuses: Default::default(),
    };
    for n in 0..requests {
        let target = targets.choose(&mut rng).unwrap();
        let path = if rng.gen_bool(0.15) {
            garble(&target.path, &mut rng)
        } else {
            target.path.clone()
        };
        let mut request = app
            .client
            .request(target.method.clone(), format!("{}{path}", app.base))
            .bearer_auth(TOKEN);
        if let Some(body) = &target.body {
            let mut body = body.clone();
            for _ in 0..rng.gen_range(1..4) {
                mutate(&mut body, &mut rng);
            }
            let mut bytes = serde_json::to_vec(&body).unwrap();
            if rng.gen_bool(0.1) && !bytes.is_empty() {
                let at = rng.gen_range(0..bytes.len());
                match rng.gen_range(0..3) {
                    0 => bytes.truncate(at),
                    1 => bytes[at] = rng.gen(),
                    _ => bytes.insert(at, rng.gen()),
                }
            }
            request = request
                .header("content-type", "application/scim+json")
                .body(bytes);
        }
        if rng.gen_bool(0.1) {
            let header = *["if-match", "if-none-match", "x-request-id", "content-type"]
                .choose(&mut rng)
                .unwrap();
            let value: String = nasty_string(&mut rng)
                .chars()
                .filter(|c| (' '..='~').contains(c))
                .collect();
            request = request.header(header, value);
        }
        let response = match request.send().await {
            Ok(response) => response,
            // A URL the client library itself refuses to build never left.
            Err(e) if e.is_builder() => continue,
            Err(e) => panic!("request {n} (seed {seed}): no answer: {e}"),
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.text().await.unwrap_or_default();
        *run.statuses.entry(status).or_default() += 1;
        let what = format!(
            "request {n} (seed {seed}): {} {path} -> {status}: {}",
            target.method,
            text.chars().take(400).collect::<String>()
        );
        assert!(status < 500, "a 5xx from client input: {what}");
        if status >= 400 {
            assert_eq!(content_type, "application/scim+json", "{what}");
            let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}"));
            assert!(
                body["detail"].as_str().is_some_and(|d| !d.is_empty()),
                "{what}"
            );
            assert!(text.len() < 3_000, "an error echoing its input: {what}");
        }
        // A query string does not change the route: POST /Users?x creates.
        let route = path.split('?').next().unwrap_or_default();
        if status == 201 && (route == "/Users" || route == "/Groups") {
            let body: Value = serde_json::from_str(&text).unwrap();
            run.created.insert(body["id"].as_str().unwrap().to_string());
        }
        if status == 200 && route == "/Bulk" {
            let body: Value = serde_json::from_str(&text).unwrap();
            for op in body["Operations"].as_array().into_iter().flatten() {
                if op["status"] == "201" {
                    if let Some(location) = op["location"].as_str() {
                        run.created
                            .insert(location.rsplit('/').next().unwrap().to_string());
                    }
                }
            }
        }
    }
    println!("fuzz seed {seed}: statuses {:?}", run.statuses);
    let alive = app.get("/ServiceProviderConfig").await;
    assert_eq!(alive.status, 200, "the bridge still answers (seed {seed})");
    run
}

/// The accounts a run aims at: an ordinary one, uid 1 and one holding the
/// protected role.
struct Accounts {
    plain: String,
    admin: String,
    boss: String,
}

async fn accounts(app: &TestApp) -> Accounts {
    let mut boss = AccountSeed::new("boss");
    boss.mail = Some("boss@example.org".into());
    boss.roles = vec!["administrator".into()];
    let boss = app.drupal.insert_user(boss).unwrap();
    let plain = app.create_user("plain", "plain@example.org").await;
    let admin = app.filter_users("userName eq \"admin\"").await.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    Accounts { plain, admin, boss }
}

/// uid 1 and the protected account as Drupal holds them.
fn protected(app: &TestApp) -> impl PartialEq + std::fmt::Debug {
    (
        app.drupal.user_by_name("admin"),
        app.drupal.user_by_name("boss"),
    )
}

#[tokio::test]
async fn mutated_idp_requests_never_break_the_bridges_promises() {
    let (seed, requests) = seed_and_length("users and role groups");
    let app = spawn_app().await;
    let Accounts {
        plain,
        admin: admin_id,
        boss: boss_id,
    } = accounts(&app).await;
    let group = app.group_id("editor").await;
    let protected_before = protected(&app);
    let initial = app.drupal.user_count();
    let targets = base_requests(&[plain.clone(), admin_id.clone(), boss_id.clone()], &group);

    let mut created = fuzz(&app, &targets, garble_path, seed, requests)
        .await
        .created;
    assert_eq!(
        protected(&app),
        protected_before,
        "uid 1 and the protected account are unchanged (seed {seed})"
    );
    created.remove(&plain);
    assert_eq!(
        app.drupal.user_count(),
        initial + created.len(),
        "every account in Drupal is one a create answered 201 for, once (seed {seed})"
    );
}

/// Requests an IdP sends to term-backed groups, aimed at an ordinary
/// user, uid 1 and a protected account.
fn term_group_requests(ids: &[String], group: &str, doomed: &str) -> Vec<Target> {
    use reqwest::Method;
    let group_schema = "urn:ietf:params:scim:schemas:core:2.0:Group";
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    vec![
        Target {
            method: Method::POST,
            path: "/Groups".into(),
            body: Some(json!({"schemas": [group_schema], "displayName": "Admins",
                              "externalId": "ext-1", "members": [members[0].clone()]})),
        },
        Target {
            method: Method::POST,
            path: "/Groups".into(),
            body: Some(
                json!({"schemas": [group_schema], "displayName": "fuzz group",
                              "members": []}),
            ),
        },
        Target {
            method: Method::PATCH,
            path: format!("/Groups/{group}"),
            body: Some(patch(json!([
                {"op": "add", "path": "members", "value": members},
                {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])},
                {"op": "replace", "path": "displayName", "value": "Admins"}]))),
        },
        Target {
            method: Method::PATCH,
            path: format!("/Groups/{group}"),
            body: Some(patch(json!([
                {"op": "replace", "value": {"id": group, "displayName": "Engineering",
                                            "externalId": "x"}},
                {"op": "replace", "path": "members", "value": [members[0].clone()]}]))),
        },
        Target {
            method: Method::PUT,
            path: format!("/Groups/{group}"),
            body: Some(json!({"schemas": [group_schema], "displayName": "Builders",
                              "members": members})),
        },
        Target {
            method: Method::DELETE,
            path: format!("/Groups/{doomed}"),
            body: None,
        },
        Target {
            method: Method::GET,
            path: format!("/Groups/{group}?excludedAttributes=members"),
            body: None,
        },
    ]
}

fn garble_group_path(path: &str, rng: &mut StdRng) -> String {
    match rng.gen_range(0..4) {
        0 => format!(
            "/Groups?filter={}",
            encode(&format!("displayName eq \"{}\"", nasty_string(rng)))
        ),
        1 => format!("/Groups?filter={}", encode(&nasty_string(rng))),
        2 => format!("/Groups/{}", encode(&nasty_string(rng))),
        _ => path.to_string(),
    }
}

#[tokio::test]
async fn mutated_term_group_requests_never_escalate_or_break_the_bridge() {
    term_group_fuzz("term groups", "").await;
}

/// The same under the demo's group settings: members naming no account
/// are left out rather than refused, and small groups are read back into
/// a 200.
#[tokio::test]
async fn mutated_term_group_requests_under_the_demo_settings_neither() {
    term_group_fuzz(
        "term groups, demo settings",
        "unknown_members: skip\ngroup_patch_reads: 1\n",
    )
    .await;
}

async fn term_group_fuzz(what: &str, extra_config: &str) {
    let (seed, requests) = seed_and_length(what);
    let app = spawn_app_with(Options {
        mapping: super::term_groups::term_mapping(),
        extra_config: extra_config.into(),
        ..Options::default()
    })
    .await;
    let Accounts {
        plain,
        admin: admin_id,
        boss: boss_id,
    } = accounts(&app).await;
    let create = |name: &'static str| {
        let (app, plain) = (&app, &plain);
        async move {
            app.post(
                "/Groups",
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": name, "members": [{"value": plain}]}),
            )
            .await
            .body["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let group = create("Engineering").await;
    let doomed = create("Book Club").await;
    let protected_before = protected(&app);
    let targets = term_group_requests(&[plain.clone(), admin_id, boss_id], &group, &doomed);

    fuzz(&app, &targets, garble_group_path, seed, requests).await;
    assert_eq!(
        protected(&app),
        protected_before,
        "uid 1 and the protected account are unchanged (seed {seed})"
    );
    // "Admins" names the protected role without allow_protected: no
    // sequence of group operations grants it.
    assert!(
        !app.roles_of("plain").contains(&"administrator".to_string()),
        "an ordinary account got a protected role (seed {seed})"
    );
    for (_, name, _) in app.drupal.terms() {
        assert!(
            name.chars().count() <= 255 && !name.chars().any(char::is_control),
            "a group name Drupal should not hold: {name:?} (seed {seed})"
        );
    }
}
