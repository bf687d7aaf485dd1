//! The stand-in checked against the real site: every kind of request the
//! Drupal client (src/drupal) makes is sent to both, each seeded the same
//! way, and the answers are compared as tests/contract.rs compares
//! recordings: status, the headers that matter, the JSON shape, error
//! details and pointers, top-level links and the order of collections.
//! A difference fails the test naming the request and both answers, unless
//! ACCEPTED lists it with its reason.

use std::collections::BTreeMap;
use std::net::TcpListener;

use drupal_scim_bridge::standin::{AccountSeed, RoleSeed, StandIn, StandInConfig};
use serde_json::{json, Value};

use crate::helpers::{read, Answer};
use crate::site::{exclusive, site, Site, JSON_API};

/// Differences between the real site and the stand-in that are known and
/// accepted: (JSON path or header, reason). Paths are matched as suffixes
/// of the reported difference.
const ACCEPTED: &[(&str, &str)] = &[
    (
        "relationships: missing keys [\"field_scim_groups\"], unexpected keys []",
        "the real site carries the user field field_scim_groups for groups kept as taxonomy terms (issue 15); the stand-in learns it there",
    ),
    (
        "/attributes/dependencies",
        "a role's config dependencies come from the install profile's modules; the client never reads them",
    ),
    (
        "/attributes/permissions",
        "the standard profile grants its own roles permissions the stand-in is not seeded with; the client reads only machine name, label and is_admin",
    ),
    (
        "/attributes/is_admin: bool on the real site (false), null on the stand-in (null)",
        "the standard profile writes is_admin: false where roles created at run time (and the stand-in's) have null; the client treats both as not admin",
    ),
    (
        "/attributes/is_admin: null on the real site (null), bool on the stand-in (false)",
        "the same difference the other way round: roles the standard profile creates have false, roles created at run time null; the client treats both as not admin",
    ),
    (
        "/links: missing keys",
        "the entry point lists every resource type of the site's modules (node, comment, ...); the client reads only meta.links.me",
    ),
    (
        "SCIM external ID: may not be longer than 255 characters.\" vs \"field_scim_external_id.0.value: field_scim_external_id: may not be longer than 255 characters.\"",
        "Drupal names the field by its label; the stand-in's fields carry no label, so it uses the machine name; the bridge passes the detail through",
    ),
];

#[derive(Clone, Copy)]
enum Auth<'a> {
    Basic(&'a str, &'a str),
    Session(&'a Session),
    Anonymous,
}

struct Session {
    cookie: String,
    csrf: String,
}

struct Side {
    base: String,
    client: reqwest::Client,
    /// UUIDs that differ between the sides (roles, admin, the bridge's
    /// account), by what they stand for.
    uuids: Vec<(String, String)>,
}

struct Request<'a> {
    label: String,
    method: reqwest::Method,
    path: String,
    auth: Auth<'a>,
    content_type: Option<&'a str>,
    body: Option<String>,
}

impl Side {
    async fn send(&self, r: &Request<'_>) -> Answer {
        let mut request = self
            .client
            .request(r.method.clone(), format!("{}{}", self.base, r.path))
            .header("Accept", JSON_API);
        match r.auth {
            Auth::Basic(user, pass) => request = request.basic_auth(user, Some(pass)),
            Auth::Session(s) => {
                request = request
                    .header("Cookie", &s.cookie)
                    .header("X-CSRF-Token", &s.csrf)
            }
            Auth::Anonymous => {}
        }
        if let Some(ct) = r.content_type {
            request = request.header("Content-Type", ct);
        }
        if let Some(body) = &r.body {
            request = request.body(body.clone());
        }
        read(request.send().await.expect("answer")).await
    }

    /// Base URL and side-specific UUIDs become placeholders.
    fn normalize(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => {
                let mut s = s.replace(&self.base, "<base>");
                s = s.replace(&self.base.replace('/', "\\/"), "<base>");
                for (uuid, name) in &self.uuids {
                    s = s.replace(uuid, name);
                }
                Value::String(s)
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.normalize(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.normalize(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn grouped(map: &serde_json::Map<String, Value>) -> BTreeMap<String, Vec<&Value>> {
    let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for (key, value) in map {
        let key = if key.starts_with("item--") {
            "item--*".to_string()
        } else {
            key.clone()
        };
        groups.entry(key).or_default().push(value);
    }
    groups
}

/// Same keys recursively and the same value types; a null on one side
/// and a value on the other counts only where Drupal's own values vary
/// (timestamps) — elsewhere it is a difference.
fn compare_shape(path: &str, real: &Value, standin: &Value, out: &mut Vec<String>) {
    match (real, standin) {
        (Value::Object(e), Value::Object(a)) => {
            let (e, a) = (grouped(e), grouped(a));
            let missing: Vec<&String> = e.keys().filter(|k| !a.contains_key(*k)).collect();
            let extra: Vec<&String> = a.keys().filter(|k| !e.contains_key(*k)).collect();
            if !missing.is_empty() || !extra.is_empty() {
                out.push(format!(
                    "{path}: missing keys {missing:?}, unexpected keys {extra:?}"
                ));
            }
            for (key, e_values) in &e {
                if let Some(a_values) = a.get(key) {
                    for (ev, av) in e_values.iter().zip(a_values) {
                        compare_shape(&format!("{path}/{key}"), ev, av, out);
                    }
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{path}: {} items on the real site, {} on the stand-in",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                compare_shape(&format!("{path}/{i}"), ev, av, out);
            }
        }
        (e, a) if kind(e) != kind(a) => out.push(format!(
            "{path}: {} on the real site ({e}), {} on the stand-in ({a})",
            kind(e),
            kind(a)
        )),
        _ => {}
    }
}

fn names(doc: &Value) -> Option<Vec<String>> {
    doc.get("data")?.as_array().map(|items| {
        items
            .iter()
            .map(|i| {
                let a = &i["attributes"];
                a.get("name")
                    .or_else(|| a.get("drupal_internal__id"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    })
}

/// Every difference between the two answers that is not accepted.
fn differences(real: &Answer, standin: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    if real.status != standin.status {
        out.push(format!("status {} vs {}", real.status, standin.status));
    }
    for header in ["content-type", "allow", "location", "www-authenticate"] {
        let (r, s) = (real.header(header), standin.header(header));
        let norm =
            |v: Option<&str>| v.map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        // Location carries each side's base URL and is compared normalized
        // by the caller; only its presence here.
        let same = if header == "location" || header == "www-authenticate" {
            r.is_some() == s.is_some()
        } else {
            norm(r) == norm(s)
        };
        if !same {
            out.push(format!("header {header}: {r:?} vs {s:?}"));
        }
    }
    // Drupal lists roles (config entities) in the order of its config
    // storage, which changes when a role is saved again (a permission
    // granted by scripts/real-drupal, say); on MariaDB it differs again. The
    // client never depends on it, so roles are compared as a set.
    let (real_body, standin_body) = (roles_as_set(&real.body), roles_as_set(&standin.body));
    if real_body.is_object() || standin_body.is_object() {
        compare_shape("", &real_body, &standin_body, &mut out);
        if let (Some(r), Some(s)) = (names(&real_body), names(&standin_body)) {
            if r != s {
                out.push(format!("collection order: {r:?} vs {s:?}"));
            }
        }
        for (i, (r, s)) in real_body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(standin_body["errors"].as_array().into_iter().flatten())
            .enumerate()
        {
            for key in ["status", "detail"] {
                if r.get(key) != s.get(key) {
                    out.push(format!("errors/{i}/{key}: {} vs {}", r[key], s[key]));
                }
            }
            if r.pointer("/source/pointer") != s.pointer("/source/pointer") {
                out.push(format!(
                    "errors/{i}/source/pointer: {} vs {}",
                    r["source"], s["source"]
                ));
            }
        }
        for key in ["next", "prev", "self"] {
            let (r, s) = (
                real_body.pointer(&format!("/links/{key}/href")),
                standin_body.pointer(&format!("/links/{key}/href")),
            );
            if r.is_some() != s.is_some() {
                out.push(format!("links/{key}: {r:?} vs {s:?}"));
            }
        }
        for pointer in [
            "/data/attributes/name",
            "/data/attributes/mail",
            "/data/attributes/status",
            "/data/attributes/field_scim_external_id",
            "/data/attributes/timezone",
            "/data/attributes/preferred_langcode",
        ] {
            if real_body.pointer(pointer) != standin_body.pointer(pointer) {
                out.push(format!(
                    "{pointer}: {:?} vs {:?}",
                    real_body.pointer(pointer),
                    standin_body.pointer(pointer)
                ));
            }
        }
    } else if real_body.is_null() != standin_body.is_null() {
        out.push(format!("body {} vs {}", real_body, standin_body));
    }
    out.retain(|d| !ACCEPTED.iter().any(|(pattern, _)| d.contains(pattern)));
    out
}

/// A role collection with its items in machine-name order; any other
/// document as it is.
fn roles_as_set(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(items) = body["data"].as_array_mut() {
        let roles = !items.is_empty() && items.iter().all(|i| i["type"] == "user_role--user_role");
        if roles {
            items.sort_by(|a, b| {
                let id = |v: &Value| {
                    v.pointer("/attributes/drupal_internal__id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                id(a).cmp(&id(b))
            });
        }
    }
    body
}

/// The stand-in, seeded as scripts/real-drupal seeds the real site.
fn standin_like(site: &Site) -> StandIn {
    let mut config = StandInConfig::demo(&site.admin_pass);
    config.site_name = "SCIM bridge test".into();
    for (id, label) in [
        ("content_editor", "Content editor"),
        ("entra_app", "Entra app users"),
        ("okta_push", "Okta pushed group"),
        ("okta_aiw", "Okta AIW group"),
    ] {
        config.roles.push(RoleSeed::new(id, label, &[]));
    }
    config.roles.push(RoleSeed::new(
        "scim_bridge",
        "SCIM bridge",
        &[
            "administer users",
            "administer permissions",
            "create terms in scim_groups",
            "edit terms in scim_groups",
            "delete terms in scim_groups",
        ],
    ));
    for name in ["field_job_title", "field_department"] {
        config
            .user_fields
            .push(drupal_scim_bridge::standin::FieldSeed {
                name: name.into(),
                kind: drupal_scim_bridge::standin::FieldKind::String { max_len: 255 },
            });
    }
    let mut bridge = AccountSeed::new(&site.bridge_user);
    bridge.mail = Some("scim-bridge@example.com".into());
    bridge.password = Some(site.bridge_pass.clone());
    bridge.roles = vec!["scim_bridge".into()];
    config.extra_accounts = vec![bridge];
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind stand-in");
    StandIn::start(config, listener).expect("start stand-in")
}

/// Role and account UUIDs by name, as the admin sees them on one side.
async fn side_uuids(base: &str, admin: &str, pass: &str) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for (path, attr, tag) in [
        ("/jsonapi/user_role/user_role", "drupal_internal__id", "role"),
        ("/jsonapi/user/user?filter[name][operator]=IN&filter[name][value][]=admin&filter[name][value][]=scim-bridge", "name", "user"),
    ] {
        let doc: Value = client
            .get(format!("{base}{path}"))
            .basic_auth(admin, Some(pass))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in doc["data"].as_array().unwrap() {
            out.push((
                item["id"].as_str().unwrap().to_string(),
                format!("<{tag}:{}>", item["attributes"][attr].as_str().unwrap()),
            ));
        }
    }
    out
}

async fn login(side: &Side, user: &str, pass: &str) -> (Answer, Option<Session>) {
    let answer = read(
        side.client
            .post(format!("{}/user/login?_format=json", side.base))
            .header("Content-Type", "application/json")
            .body(json!({"name": user, "pass": pass}).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let cookie = answer
        .header("set-cookie")
        .map(|c| c.split(';').next().unwrap_or("").to_string());
    let session = match (cookie, answer.body["csrf_token"].as_str()) {
        (Some(cookie), Some(csrf)) => Some(Session {
            cookie,
            csrf: csrf.to_string(),
        }),
        _ => None,
    };
    (answer, session)
}

#[tokio::test]
async fn the_standin_answers_every_client_request_as_drupal_does() {
    let Some(site) = site() else { return };
    if site.db != "sqlite" {
        // Names and mail compare and sort by the database's collation; the
        // stand-in imitates the recordings' SQLite site.
        eprintln!(
            "differential test SKIPPED on {}: the stand-in imitates Drupal on SQLite",
            site.db
        );
        return;
    }
    let _alone = exclusive().await;
    let run = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let p = format!("df{run}-");
    let standin = standin_like(&site);
    let real = Side {
        base: site.url.clone(),
        client: reqwest::Client::new(),
        uuids: side_uuids(&site.url, &site.admin_user, &site.admin_pass).await,
    };
    let fake = Side {
        base: standin.base_url(),
        client: reqwest::Client::new(),
        uuids: side_uuids(&standin.base_url(), "admin", &site.admin_pass).await,
    };
    let throwaway = format!("{p}throwaway");
    site.delete_users(&[&throwaway]);
    let bridge = Auth::Basic(&site.bridge_user, &site.bridge_pass);
    // An expired or logged-out session: Drupal serves it as anonymous.
    let stale = Session {
        cookie: "SESSdeadbeef=expired-or-unknown".into(),
        csrf: "stale-token".into(),
    };
    let users = USERS;
    let ids: Vec<String> = (0..3).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let create = |i: usize, name: &str, mail: &str, ext: &str| Request {
        label: format!("create {name}"),
        method: reqwest::Method::POST,
        path: users.into(),
        auth: bridge,
        content_type: Some(JSON_API),
        body: Some(
            json!({"data": {"type": "user--user", "id": ids[i], "attributes": {
                "name": name, "mail": mail, "status": true, "field_scim_external_id": ext,
                "timezone": "Europe/Paris", "preferred_langcode": "en"}}})
            .to_string(),
        ),
    };
    let get = |label: &str, path: String| Request {
        label: label.into(),
        method: reqwest::Method::GET,
        path,
        auth: bridge,
        content_type: None,
        body: None,
    };
    let write = |label: &str,
                 method: reqwest::Method,
                 path: String,
                 ct: Option<&'static str>,
                 body: Value| Request {
        label: label.into(),
        method,
        path,
        auth: bridge,
        content_type: ct,
        body: Some(body.to_string()),
    };

    let mut requests = vec![
        create(0, &format!("{p}ann"), &format!("{p}Ann@Example.org"), &format!("{p}EXT-A")),
        create(1, &format!("{p}bob"), &format!("{p}bob@example.org"), &format!("{p}EXT-B")),
        create(2, &format!("{p}Cid"), &format!("{p}cid@example.org"), &format!("{p}EXT-C")),
        get("get by id", format!("{users}/{}", ids[0])),
        get("get unknown uuid", format!("{users}/{}", uuid::Uuid::new_v4())),
        get("get non-uuid", format!("{users}/not-a-uuid")),
        get("filter name, other case", format!("{users}?filter[name]={p}ANN")),
        get("filter mail", format!("{users}?filter[mail]={p}bob@example.org")),
        get("filter external id", format!("{users}?filter[field_scim_external_id]={p}EXT-C")),
        get(
            "STARTS_WITH, sort, page 1",
            format!("{users}?filter[p][condition][path]=name&filter[p][condition][operator]=STARTS_WITH&filter[p][condition][value]={p}&sort=name&page[limit]=2"),
        ),
        get(
            "STARTS_WITH, sort, page 2",
            format!("{users}?filter[p][condition][path]=name&filter[p][condition][operator]=STARTS_WITH&filter[p][condition][value]={p}&sort=name&page[offset]=2&page[limit]=2"),
        ),
        get(
            "sort descending, sparse fieldset",
            format!("{users}?filter[p][condition][path]=name&filter[p][condition][operator]=STARTS_WITH&filter[p][condition][value]={p}&sort=-name&fields[user--user]=name,mail,status"),
        ),
        get(
            "OR group",
            format!("{users}?filter[g][group][conjunction]=OR&filter[a][condition][path]=name&filter[a][condition][value]={p}ann&filter[a][condition][memberOf]=g&filter[b][condition][path]=field_scim_external_id&filter[b][condition][value]={p}EXT-B&filter[b][condition][memberOf]=g&sort=name"),
        ),
        get("IN", format!("{users}?filter[n][condition][path]=name&filter[n][condition][operator]=IN&filter[n][condition][value][]={p}bob&filter[n][condition][value][]={p}cid&sort=name")),
        get("unknown filter field", format!("{users}?filter[nosuch]=x")),
        get("filter on pass (403)", format!("{users}?filter[pass]=x")),
        Request {
            auth: Auth::Session(&stale),
            ..get("read with a session Drupal does not know", format!("{users}/{}", ids[0]))
        },
        get("roles", "/jsonapi/user_role/user_role".into()),
        get("entry point (whoami)", "/jsonapi".into()),
        Request {
            auth: Auth::Anonymous,
            ..get("anonymous read", format!("{users}/{}", ids[0]))
        },
        write(
            "patch status and external id",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[1]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[1], "attributes": {"status": false, "field_scim_external_id": "EXT-B2"}}}),
        ),
        write(
            "patch roles in the body",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[0]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[0], "relationships": {"roles": {"data": [{"type": "user_role--user_role", "id": "<role:editor>"}]}}}}),
        ),
        write(
            "add role",
            reqwest::Method::POST,
            format!("{users}/{}/relationships/roles", ids[2]),
            Some(JSON_API),
            json!({"data": [{"type": "user_role--user_role", "id": "<role:editor>"}]}),
        ),
        get("members of a role", format!("{users}?filter[roles.meta.drupal_internal__target_id]=editor&filter[p][condition][path]=name&filter[p][condition][operator]=STARTS_WITH&filter[p][condition][value]={p}&sort=name")),
        write(
            "remove role",
            reqwest::Method::DELETE,
            format!("{users}/{}/relationships/roles", ids[2]),
            Some(JSON_API),
            json!({"data": [{"type": "user_role--user_role", "id": "<role:editor>"}]}),
        ),
        write(
            "replace roles",
            reqwest::Method::PATCH,
            format!("{users}/{}/relationships/roles", ids[0]),
            Some(JSON_API),
            json!({"data": [{"type": "user_role--user_role", "id": "<role:engineering>"}]}),
        ),
        write(
            "duplicate name",
            reqwest::Method::POST,
            users.into(),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "attributes": {"name": format!("{p}ANN"), "mail": format!("{p}x@example.org"), "status": true}}}),
        ),
        write(
            "bad mail",
            reqwest::Method::POST,
            users.into(),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "attributes": {"name": format!("{p}dan"), "mail": "not-a-mail", "status": true}}}),
        ),
        write(
            "unknown attribute",
            reqwest::Method::POST,
            users.into(),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "attributes": {"name": format!("{p}eve"), "nosuchfield": 1}}}),
        ),
        write(
            "external id too long",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[0]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[0], "attributes": {"field_scim_external_id": "x".repeat(256)}}}),
        ),
        write(
            "time zone Drupal does not know (422)",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[0]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[0], "attributes": {"timezone": "Mars/Olympus"}}}),
        ),
        write(
            "time zone alias PHP does not list (422)",
            reqwest::Method::POST,
            users.into(),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "attributes": {"name": format!("{p}tz"), "mail": format!("{p}tz@example.org"), "status": true, "timezone": "US/Eastern"}}}),
        ),
        write(
            "time zone and language cleared (the site's zone comes back, the language stays null)",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[1]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[1], "attributes": {"timezone": null, "preferred_langcode": null, "field_scim_external_id": null}}}),
        ),
        write(
            "patch id mismatch",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[0]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[1], "attributes": {"status": true}}}),
        ),
        write(
            "write drupal_internal__uid (403)",
            reqwest::Method::PATCH,
            format!("{users}/{}", ids[0]),
            Some(JSON_API),
            json!({"data": {"type": "user--user", "id": ids[0], "attributes": {"drupal_internal__uid": 999}}}),
        ),
        write(
            "role by machine name (404)",
            reqwest::Method::POST,
            format!("{users}/{}/relationships/roles", ids[1]),
            Some(JSON_API),
            json!({"data": [{"type": "user_role--user_role", "id": "editor"}]}),
        ),
        Request {
            body: Some("{not json".into()),
            ..write("body not JSON (400)", reqwest::Method::POST, users.into(), Some(JSON_API), json!(null))
        },
        write("PUT (405)", reqwest::Method::PUT, format!("{users}/{}", ids[0]), Some(JSON_API), json!({"data": {}})),
        write("application/json (415)", reqwest::Method::POST, users.into(), Some("application/json"), json!({"data": {}})),
        write("no content type (415)", reqwest::Method::POST, users.into(), None, json!({"data": {}})),
        write("role write (405)", reqwest::Method::POST, "/jsonapi/user_role/user_role".into(), Some(JSON_API), json!({"data": {"type": "user_role--user_role"}})),
        Request {
            label: "delete (block)".into(),
            method: reqwest::Method::DELETE,
            path: format!("{users}/{}", ids[2]),
            auth: bridge,
            content_type: None,
            body: None,
        },
        get("read after delete (block)", format!("{users}/{}", ids[2])),
    ];
    // Role UUIDs differ between the sides: each gets its own.
    let mut report = Vec::new();
    for request in requests.drain(..) {
        let mut answers = Vec::new();
        for side in [&real, &fake] {
            let mut r = Request {
                label: request.label.clone(),
                method: request.method.clone(),
                path: request.path.clone(),
                auth: request.auth,
                content_type: request.content_type,
                body: request.body.clone(),
            };
            if let Some(body) = &mut r.body {
                for (uuid, name) in &side.uuids {
                    *body = body.replace(name, uuid);
                }
            }
            let mut answer = side.send(&r).await;
            answer.body = side.normalize(&answer.body);
            answers.push(answer);
        }
        let diffs = differences(&answers[0], &answers[1]);
        if !diffs.is_empty() {
            report.push(format!(
                "{} ({} {}):\n  {}\n  real:     {} {}\n  stand-in: {} {}",
                request.label,
                request.method,
                request.path,
                diffs.join("\n  "),
                answers[0].status,
                answers[0].body,
                answers[1].status,
                answers[1].body
            ));
        }
    }

    // Login, CSRF and a session write; a wrong password, flood control.
    let mut sessions = Vec::new();
    let mut login_answers = Vec::new();
    for side in [&real, &fake] {
        let (answer, session) = login(side, &site.bridge_user, &site.bridge_pass).await;
        login_answers.push(answer);
        sessions.push(session.expect("a session"));
    }
    compare_into(&mut report, "login", &login_answers[0], &login_answers[1]);
    let mut csrf = Vec::new();
    let mut with_token = Vec::new();
    for (side, session) in [&real, &fake].into_iter().zip(&sessions) {
        let base = Request {
            label: "session write".into(),
            method: reqwest::Method::PATCH,
            path: format!("{users}/{}", ids[0]),
            auth: Auth::Session(session),
            content_type: Some(JSON_API),
            body: Some(json!({"data": {"type": "user--user", "id": ids[0], "attributes": {"status": true}}}).to_string()),
        };
        let mut no_token = side
            .client
            .patch(format!("{}{}", side.base, base.path))
            .header("Cookie", &session.cookie)
            .header("Content-Type", JSON_API)
            .body(base.body.clone().unwrap())
            .send()
            .await
            .map(read)
            .unwrap()
            .await;
        no_token.body = side.normalize(&no_token.body);
        csrf.push(no_token);
        let mut ok = side.send(&base).await;
        ok.body = side.normalize(&ok.body);
        with_token.push(ok);
    }
    compare_into(
        &mut report,
        "session write without X-CSRF-Token",
        &csrf[0],
        &csrf[1],
    );
    compare_into(
        &mut report,
        "session write with X-CSRF-Token",
        &with_token[0],
        &with_token[1],
    );

    // Flood control on a throw-away account: 5 wrong passwords, then the
    // right one is refused too.
    site.create_user(&throwaway, &[]).await;
    site.php(&format!(
        r#"$a = user_load_by_name("{throwaway}"); $a->setPassword("right-pass"); $a->save();"#
    ));
    let mut seed = AccountSeed::new(&throwaway);
    seed.password = Some("right-pass".into());
    seed.mail = Some(format!("{throwaway}@example.org"));
    standin.handle().insert_user(seed).unwrap();
    for attempt in 1..=6 {
        let pass = if attempt == 6 {
            "right-pass"
        } else {
            "wrong-pass"
        };
        let r = login(&real, &throwaway, pass).await.0;
        let s = login(&fake, &throwaway, pass).await.0;
        compare_into(
            &mut report,
            &format!("login attempt {attempt} ({pass})"),
            &r,
            &s,
        );
    }
    site.forget_failed_logins();

    // Read-only JSON:API.
    site.config_set("jsonapi.settings", "read_only", "1");
    standin.handle().set_read_only(true);
    let r = create(
        0,
        &format!("{p}ro"),
        &format!("{p}ro@example.org"),
        "EXT-RO",
    );
    let mut answers = Vec::new();
    for side in [&real, &fake] {
        let mut r2 = Request {
            body: r.body.clone(),
            label: r.label.clone(),
            method: r.method.clone(),
            path: r.path.clone(),
            auth: r.auth,
            content_type: r.content_type,
        };
        r2.body = r2
            .body
            .map(|b| b.replace(&ids[0], &uuid::Uuid::new_v4().to_string()));
        let mut a = side.send(&r2).await;
        a.body = side.normalize(&a.body);
        answers.push(a);
    }
    site.config_set("jsonapi.settings", "read_only", "0");
    compare_into(
        &mut report,
        "create while read-only",
        &answers[0],
        &answers[1],
    );

    assert!(
        report.is_empty(),
        "the stand-in differs from the real Drupal {}:\n\n{}",
        site.db,
        report.join("\n\n")
    );
}

const USERS: &str = "/jsonapi/user/user";

fn compare_into(report: &mut Vec<String>, label: &str, real: &Answer, standin: &Answer) {
    let diffs = differences(real, standin);
    if !diffs.is_empty() {
        report.push(format!(
            "{label}:\n  {}\n  real:     {} {}\n  stand-in: {} {}",
            diffs.join("\n  "),
            real.status,
            real.body,
            standin.status,
            standin.body
        ));
    }
}
