//! The CPU work the bridge adds to each request, without any I/O: filter
//! parsing and translation, mapping in both directions, PATCH application,
//! and serialising a 200-user list page. Run with `cargo bench`; figures are
//! recorded in docs/PERFORMANCE.md.

// A benchmark harness: a setup that fails aborts the measurement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};

use drupal_scim_bridge::drupal::{DrupalRole, DrupalUser};
use drupal_scim_bridge::mapping::{Mapping, WritePurpose};
use drupal_scim_bridge::provisioning::{render_user, translate, RoleCatalog};
use drupal_scim_bridge::scim::filter::Filter;
use drupal_scim_bridge::scim::list::ListResponse;
use drupal_scim_bridge::scim::patch::{apply_patch, PatchRequest};
use drupal_scim_bridge::scim::schema::ResourceSchema;

fn mapping() -> Mapping {
    Mapping::parse(include_str!("../mappings/demo.yaml"), "mappings/demo.yaml")
        .expect("the demo mapping")
}

/// The demo site's roles, `editor` and `engineering` exposed as groups.
fn catalog(mapping: &Mapping) -> RoleCatalog {
    let role = |id: &str, name: &str| DrupalRole {
        id: id.to_string(),
        machine_name: name.to_string(),
        label: name.to_string(),
        is_admin: false,
        permissions: Vec::new(),
    };
    let roles = vec![
        role("5d3c2b1a-0f9e-4d8c-b7a6-958473625140", "editor"),
        role("6e4d3c2b-1a0f-4e9d-8c7b-a69584736251", "engineering"),
    ];
    RoleCatalog::build(
        roles,
        mapping,
        &["administrator".to_string()],
        std::time::Instant::now(),
    )
}

/// A Drupal user as JSON:API returns it (the attributes a real site sends).
fn drupal_user(n: usize) -> DrupalUser {
    let resource = json!({
        "type": "user--user",
        "id": format!("9a8e7f6d-5c4b-4a39-8271-{n:012}"),
        "attributes": {
            "display_name": format!("user{n}"),
            "drupal_internal__uid": n + 2,
            "langcode": "en",
            "preferred_langcode": "en",
            "preferred_admin_langcode": null,
            "name": format!("user{n}@example.org"),
            "mail": format!("user{n}@example.org"),
            "timezone": "Europe/Paris",
            "status": true,
            "created": "2025-01-02T03:04:05+00:00",
            "changed": "2025-06-07T08:09:10+00:00",
            "access": "2025-06-07T08:09:10+00:00",
            "login": "2025-06-07T08:09:10+00:00",
            "init": format!("user{n}@example.org"),
            "default_langcode": true,
            "field_scim_external_id": format!("ext-{n}"),
            "field_scim_deprovisioned": null
        },
        "relationships": {
            "roles": {"data": [{
                "type": "user_role--user_role",
                "id": "5d3c2b1a-0f9e-4d8c-b7a6-958473625140",
                "meta": {"drupal_internal__target_id": "editor"}
            }]}
        }
    });
    DrupalUser::from_resource(resource).expect("a user resource")
}

fn scim_user() -> Map<String, Value> {
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bjensen@example.org",
        "externalId": "00u1abcd",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.org", "type": "work", "primary": true},
            {"value": "babs@home.example", "type": "home"}
        ],
        "active": true,
        "preferredLanguage": "en-US",
        "timezone": "Europe/Paris"
    });
    user.as_object().cloned().expect("an object")
}

fn filters(c: &mut Criterion) {
    let mapping = mapping();
    let schema = ResourceSchema::user();
    let text = r#"userName eq "bjensen@example.org" and (emails.value co "@example.org" or externalId eq "00u1abcd")"#;
    c.bench_function("filter parse + canonicalize + translate", |b| {
        b.iter(|| {
            let filter = Filter::parse(black_box(text)).expect("a filter");
            let canonical = filter.canonicalize(&schema).expect("canonical");
            translate(&canonical, &mapping, &schema).expect("translated")
        })
    });
}

fn mapping_both_ways(c: &mut Criterion) {
    let mapping = mapping();
    let scim = scim_user();
    let drupal = drupal_user(1);
    let catalog = catalog(&mapping);
    c.bench_function("mapping SCIM -> Drupal (create)", |b| {
        b.iter(|| {
            mapping
                .to_drupal(black_box(&scim), WritePurpose::Create)
                .expect("mapped")
        })
    });
    c.bench_function("mapping Drupal -> SCIM (render one user)", |b| {
        b.iter(|| render_user(black_box(&drupal), &mapping, &catalog))
    });
}

fn patches(c: &mut Criterion) {
    let schema = ResourceSchema::user();
    let resource = scim_user();
    let request = PatchRequest::from_json(&json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@example.org"},
            {"op": "add", "value": {"name.givenName": "Babs", "externalId": "00u1abce"}}
        ]
    }))
    .expect("a PATCH request");
    c.bench_function("PATCH apply (3 operations)", |b| {
        b.iter(|| {
            let mut working = resource.clone();
            apply_patch(&mut working, black_box(&request), &schema).expect("applied")
        })
    });
}

fn list_page(c: &mut Criterion) {
    let mapping = mapping();
    let users: Vec<DrupalUser> = (0..200).map(drupal_user).collect();
    let catalog = catalog(&mapping);
    c.bench_function("list page of 200 users: render + serialize", |b| {
        b.iter(|| {
            let resources: Vec<Value> = users
                .iter()
                .map(|u| Value::Object(render_user(u, &mapping, &catalog).resource))
                .collect();
            let page = ListResponse {
                total_results: 5000,
                start_index: 1,
                resources,
            };
            serde_json::to_vec(&page.into_json()).expect("serialized")
        })
    });
}

/// What monitoring adds to every SCIM request: its metrics (counter,
/// latency and Drupal-call histograms, the status page's minute) and those
/// of one Drupal call it made.
fn monitoring(c: &mut Criterion) {
    use drupal_scim_bridge::drupal::observer::{CallOutcome, DrupalObserver};
    use drupal_scim_bridge::metrics::{Metrics, ScimRequest};
    use std::time::Duration;
    let metrics = Metrics::new();
    // What the site's Drupal client reports to.
    let site = metrics.site("default");
    c.bench_function("metrics: one SCIM request and its Drupal call", |b| {
        b.iter(|| {
            metrics.scim_request(&ScimRequest {
                operation: "get_user",
                status: 200,
                site: "default",
                client: "okta",
                latency: Duration::from_micros(900),
                drupal_requests: 1,
            });
            site.call("get_user", CallOutcome::Ok, Duration::from_micros(700));
        })
    });
}

criterion_group!(
    benches,
    filters,
    mapping_both_ways,
    patches,
    list_page,
    monitoring
);
criterion_main!(benches);
