//! Queries over HTTP: filters pushed down to Drupal, paging across Drupal's
//! 50-item pages, counting, sorting and projection (RFC 7644 §3.4).

use drupal_scim_bridge::standin::AccountSeed;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, url_encode, TestApp};

fn user_names(body: &Value) -> Vec<&str> {
    body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {body}"))
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect()
}

/// Seeds `n` active accounts `<prefix>-000` ... with mails at example.org.
fn seed(app: &TestApp, prefix: &str, n: usize) {
    for i in 0..n {
        app.seed_user(
            &format!("{prefix}-{i:03}"),
            &format!("{prefix}-{i:03}@example.org"),
        );
    }
}

#[tokio::test]
async fn equalities_joined_by_or_are_one_drupal_request_with_in() {
    let app = spawn_app().await;
    seed(&app, "in", 60);
    app.warm_role_cache().await;
    app.drupal.clear_requests();
    let answer = app
        .filter_users(r#"userName eq "in-001" or userName eq "IN-059" or userName eq "none""#)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 2);
    assert_eq!(user_names(&answer.body), vec!["in-001", "in-059"]);
    let requests = app.drupal.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].query.contains("=IN&"), "{}", requests[0].query);
}

#[tokio::test]
async fn a_page_of_max_results_is_served_across_drupal_pages_and_larger_counts_are_capped() {
    let app = spawn_app().await;
    seed(&app, "big", 230);
    let config = app.get("/ServiceProviderConfig").await;
    assert_eq!(config.body["filter"]["maxResults"], 200);
    app.drupal.clear_requests();
    let page = app.get("/Users?startIndex=2&count=500").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["itemsPerPage"], 200);
    assert_eq!(page.body["totalResults"], 231);
    let names = user_names(&page.body);
    assert_eq!(names.first(), Some(&"big-000"));
    assert_eq!(names.last(), Some(&"big-199"));
    let reads = app.drupal.requests();
    assert!(
        reads.len() <= 4 + 2 * 3,
        "four 50-item pages and a cheap count: {reads:?}"
    );
}

#[tokio::test]
async fn counting_reads_only_names_and_the_count_is_reused_for_the_next_page() {
    let app = spawn_app().await;
    seed(&app, "cnt", 140);
    app.drupal.clear_requests();
    let first = app.get("/Users?startIndex=1&count=10").await;
    assert_eq!(first.body["totalResults"], 141);
    let counting: Vec<_> = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.query.contains("fields%5Buser--user%5D=name"))
        .collect();
    assert!(!counting.is_empty(), "counted with ids only");
    assert!(counting.len() <= 4, "doubling then bisecting: {counting:?}");

    app.drupal.clear_requests();
    let second = app.get("/Users?startIndex=11&count=10").await;
    assert_eq!(second.body["totalResults"], 141);
    assert_eq!(user_names(&second.body).first(), Some(&"cnt-009"));
    assert_eq!(app.drupal.request_count(), 1, "{:?}", app.drupal.requests());
}

#[tokio::test]
async fn a_write_forgets_cached_counts() {
    let app = spawn_app().await;
    seed(&app, "fresh", 60);
    let before = app.get("/Users?count=1").await;
    assert_eq!(before.body["totalResults"], 61);
    app.create_user("fresh-new", "fresh-new@example.org").await;
    let after = app.get("/Users?count=1").await;
    assert_eq!(after.body["totalResults"], 62);
}

#[tokio::test]
async fn sorting_is_pushed_down_and_orders_every_page() {
    let app = spawn_app().await;
    for name in ["mia", "abe", "zed", "kim"] {
        app.seed_user(name, &format!("{name}@example.org"));
    }
    app.drupal.clear_requests();
    let answer = app
        .get("/Users?sortBy=userName&sortOrder=descending&count=3")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(user_names(&answer.body), vec!["zed", "mia", "kim"]);
    assert!(app
        .drupal
        .requests()
        .iter()
        .any(|r| r.query.contains("sort=-name")));
    let next = app
        .get("/Users?sortBy=userName&sortOrder=descending&startIndex=4&count=3")
        .await;
    assert_eq!(user_names(&next.body), vec!["admin", "abe"]);
    let ascending = app.get("/Users?sortBy=userName&count=2").await;
    assert_eq!(user_names(&ascending.body), vec!["abe", "admin"]);

    let unsortable = app.get("/Users?sortBy=nickName").await;
    unsortable.assert_scim_error(400, Some("invalidValue"));
}

#[tokio::test]
async fn filters_drupal_cannot_express_are_evaluated_by_the_bridge_and_paged() {
    let app = spawn_app().await;
    seed(&app, "ev", 75);
    let filter = r#"userName sw "ev-0" and not (userName ew "0")"#;
    let first = app
        .get(&format!("/Users?filter={}&count=20", url_encode(filter)))
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    // ev-000 .. ev-074 minus those ending in 0.
    assert_eq!(first.body["totalResults"], 67);
    assert_eq!(first.body["itemsPerPage"], 20);
    let names = user_names(&first.body);
    assert_eq!(names.first(), Some(&"ev-001"));
    assert!(names.iter().all(|n| !n.ends_with('0')));
    let last = app
        .get(&format!(
            "/Users?filter={}&startIndex=61&count=20",
            url_encode(filter)
        ))
        .await;
    assert_eq!(last.body["itemsPerPage"], 7);
}

#[tokio::test]
async fn the_grammar_reaches_drupal_through_http() {
    let app = spawn_app().await;
    let ann = app.create_user("ann", "Ann@Ex.org").await;
    app.create_user("bob", "bob@other.org").await;
    let cases = [
        (r#"emails[type eq "work" and value co "@ex.org"]"#, 1),
        (r#"emails.value eq "ANN@EX.ORG""#, 1),
        (
            r#"userName eq "ann" or (emails.value ew "other.org" and active eq true)"#,
            2,
        ),
        (r#"not (userName eq "ann") and userName ne "admin""#, 1),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob""#,
            1,
        ),
        (
            r#"meta.lastModified gt "2000-01-01T00:00:00Z" and userName pr"#,
            3,
        ),
        (r#"externalId eq "ext-ann""#, 1),
        (r#"externalId eq "EXT-ANN""#, 0),
        (r#"userName eq "ann \"quoted\"""#, 0),
    ];
    for (filter, expected) in cases {
        let answer = app.filter_users(filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(
            answer.body["totalResults"], expected,
            "{filter}: {}",
            answer.body
        );
    }
    let by_value_path = app.filter_users(r#"emails[value co "@ex.org"]"#).await;
    assert_eq!(by_value_path.body["Resources"][0]["id"], ann.as_str());
}

/// A SearchRequest's parameters are its body's (RFC 7644 §3.4.3). A
/// filter put in the URL instead was ignored, and the client answered
/// every account, the first of which it would take for its match.
#[tokio::test]
async fn a_search_with_parameters_in_its_url_is_refused_not_answered_whole() {
    let app = spawn_app().await;
    seed(&app, "urlq", 3);
    for path in [
        "/Users/.search?filter=userName%20eq%20%22urlq-001%22",
        "/Users/.search?count=1",
        "/Groups/.search?filter=displayName%20eq%20%22x%22",
    ] {
        let answer = app.post(path, &json!({})).await;
        answer.assert_scim_error(400, Some("invalidSyntax"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("body"), "{path}: {detail}");
    }
    // The body's own parameters still apply.
    let answer = app
        .post(
            "/Users/.search",
            &json!({"filter": "userName eq \"urlq-001\""}),
        )
        .await;
    assert_eq!(answer.body["totalResults"], 1, "{}", answer.body);
}

#[tokio::test]
async fn search_by_post_pages_and_projects_like_get() {
    let app = spawn_app().await;
    seed(&app, "srch", 55);
    let answer = app
        .post(
            "/Users/.search",
            &json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName sw \"srch-\"",
                "startIndex": 51,
                "count": 10,
                "attributes": ["userName"],
                "sortBy": "userName"
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalResults"], 55);
    assert_eq!(answer.body["startIndex"], 51);
    assert_eq!(
        user_names(&answer.body),
        vec!["srch-050", "srch-051", "srch-052", "srch-053", "srch-054"]
    );
    let first = &answer.body["Resources"][0];
    assert!(first.get("emails").is_none(), "{first}");
    assert!(first.get("id").is_some(), "id is always returned");

    let excluded = app
        .post(
            "/Users/.search",
            &json!({"filter": "userName eq \"srch-000\"", "excludedAttributes": ["emails", "meta"]}),
        )
        .await;
    let only = &excluded.body["Resources"][0];
    assert_eq!(only["userName"], "srch-000");
    assert!(
        only.get("emails").is_none() && only.get("meta").is_none(),
        "{only}"
    );
}

#[tokio::test]
async fn projection_applies_to_every_read_and_write_answer() {
    let app = spawn_app().await;
    let listed = app
        .get("/Users?attributes=emails&filter=userName%20eq%20%22admin%22")
        .await;
    let admin = &listed.body["Resources"][0];
    assert!(admin.get("userName").is_none(), "{admin}");
    assert!(admin.get("emails").is_some(), "{admin}");
    let created = app
        .post(
            "/Users?attributes=userName",
            &json!({"userName": "proj", "emails": [{"value": "proj@example.org"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body.get("emails").is_none(), "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/Users/{id}?excludedAttributes=userName"),
            &json!({"Operations": [{"op": "replace", "path": "displayName", "value": "P"}]}),
        )
        .await;
    assert!(patched.body.get("userName").is_none(), "{}", patched.body);
    assert_eq!(patched.body["displayName"], "P");
}

#[tokio::test]
async fn sorting_by_id_orders_by_the_ids_themselves() {
    let app = spawn_app().await;
    seed(&app, "byid", 12);
    let answer = app.get("/Users?sortBy=id&count=50&attributes=id").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let ids: Vec<String> = answer.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn a_count_that_stops_inside_drupals_last_page_still_reports_the_whole_total() {
    let app = spawn_app().await;
    seed(&app, "tail", 129);
    // 130 accounts with admin; the second Drupal page holds 80 of them.
    let answer = app.get("/Users?startIndex=1&count=120").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["itemsPerPage"], 120);
    assert_eq!(answer.body["totalResults"], 130);
}

/// Every list answer (a lookup Drupal answers, one by id, one the bridge
/// evaluates, a page without a filter, and one with a projection) shows
/// each user as a read by id shows it: same `$ref`s and `location` under
/// the public base, same groups, same `meta.version` as the read's `ETag`.
#[tokio::test]
async fn a_listed_user_is_the_user_read_by_id() {
    let app = spawn_app().await;
    let ed = app.seed_user_with_roles("li-ed", &["editor", "engineering"]);
    app.seed_user("li-plain", "li-plain@example.org");
    // (query, projection): the projection also asked of the read by id.
    let queries = [
        (
            format!("filter={}", url_encode(r#"userName eq "li-ed""#)),
            "",
        ),
        (
            format!("filter={}", url_encode(&format!(r#"id eq "{ed}""#))),
            "",
        ),
        (
            format!(
                "filter={}",
                url_encode(r#"userName sw "li-" and not (userName ew "x")"#)
            ),
            "",
        ),
        ("startIndex=2&count=3".to_string(), ""),
        (
            format!("filter={}", url_encode(r#"userName sw "li-""#)),
            "excludedAttributes=emails",
        ),
    ];
    let mut compared = 0;
    for (query, projection) in queries {
        let listed = app.get(&format!("/Users?{query}&{projection}")).await;
        assert_eq!(listed.status, 200, "{query}: {}", listed.body);
        assert_eq!(
            listed.header("content-type"),
            Some("application/scim+json"),
            "{query}"
        );
        let resources = listed.body["Resources"].as_array().expect("Resources");
        assert_eq!(
            listed.body["itemsPerPage"],
            json!(resources.len()),
            "{query}"
        );
        assert!(!resources.is_empty(), "{query}");
        for resource in resources {
            let id = resource["id"].as_str().expect("an id");
            let read = app.get(&format!("/Users/{id}?{projection}")).await;
            assert_eq!(resource, &read.body, "{query} {projection}");
            if projection.is_empty() {
                let version = read.header("etag").expect("an ETag");
                assert_eq!(resource["meta"]["version"], json!(version), "{query}");
            } else {
                assert!(resource.get("emails").is_none(), "{query}: {resource}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 7, "{compared}");
    let ed_listed = app.filter_users(r#"userName eq "li-ed""#).await;
    assert_eq!(
        ed_listed.body["Resources"][0]["groups"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// A comparison value that cannot be of the attribute's type is refused
/// wherever a filter stands (README "Errors"), instead of matching nothing.
#[tokio::test]
async fn a_filter_value_of_the_wrong_type_is_invalid_filter_everywhere() {
    let app = spawn_app().await;
    let id = app.create_user("tyra", "tyra@example.org").await;
    app.drupal.clear_requests();
    for (filter, named, takes) in [
        ("userName eq true", "userName", "a string"),
        ("externalId sw false", "externalId", "a string"),
        ("emails[value eq false]", "value", "a string"),
        ("active eq 1", "active", "true or false"),
        ("active eq \"maybe\"", "active", "true or false"),
        (
            "meta.lastModified gt \"yesterday\"",
            "meta.lastModified",
            "RFC 3339",
        ),
        ("meta.created lt true", "meta.created", "RFC 3339"),
        ("userName co null", "userName", "only eq and ne take null"),
    ] {
        for answer in [
            app.filter_users(filter).await,
            app.post("/Users/.search", &json!({"filter": filter})).await,
        ] {
            answer.assert_scim_error(400, Some("invalidFilter"));
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(
                detail.contains(named) && detail.contains(takes),
                "{filter}: {detail}"
            );
        }
    }
    for answer in [
        app.get(&format!(
            "/Groups?filter={}",
            url_encode("displayName eq true")
        ))
        .await,
        app.post(
            "/Groups/.search",
            &json!({"filter": "displayName eq false"}),
        )
        .await,
    ] {
        answer.assert_scim_error(400, Some("invalidFilter"));
        assert!(answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("displayName"));
    }
    // A number for a string is taken as its text: IdPs send ids unquoted.
    for filter in ["externalId eq 12345", "userName eq 5"] {
        let answer = app.filter_users(filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(answer.body["totalResults"], 0, "{filter}");
    }
    // A PATCH path filter, alone and in /Bulk.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails[value eq true].value", "value": "t@x.org"}]});
    let answer = app.patch(&format!("/Users/{id}"), &patch).await;
    answer.assert_scim_error(400, Some("invalidFilter"));
    let bulk = app
        .post(
            "/Bulk",
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                    "Operations": [{"method": "PATCH", "path": format!("/Users/{id}"), "data": patch}]}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    assert_eq!(bulk.body["Operations"][0]["status"], "400", "{}", bulk.body);
    assert_eq!(
        bulk.body["Operations"][0]["response"]["scimType"],
        "invalidFilter"
    );
    assert_eq!(app.drupal_writes(), Vec::<String>::new(), "nothing written");

    // Valid filters keep their answers: a quoted "true" is a string, a bare
    // word too (Entra), and `eq null` is "no value" (RFC 7643 §2.5).
    for (filter, found) in [
        ("userName eq \"true\"", 0),
        ("userName eq tyra", 1),
        ("userName eq null", 0),
        ("userName ne null and userName eq \"tyra\"", 1),
        ("active eq \"True\" and userName eq \"tyra\"", 1),
        (
            "meta.lastModified gt \"2000-01-01T00:00:00Z\" and userName eq \"tyra\"",
            1,
        ),
    ] {
        let answer = app.filter_users(filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(
            answer.body["totalResults"], found,
            "{filter}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn sort_by_accepts_fully_qualified_names_as_filter_and_attributes_do() {
    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let shipped = crate::helpers::demo_roles_only();
    let rules_end = shipped.find("\ngroups:").expect("a groups section");
    let mapping = format!(
        "{}\n  - {{scim: \"enterprise:department\", drupal: field_department}}{}",
        &shipped[..rules_end],
        &shipped[rules_end..]
    );
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        standin: crate::helpers::demo_site_with_text_fields(&["field_department"]),
        mapping,
        ..crate::helpers::Options::default()
    })
    .await;
    for name in ["mia", "abe", "zed"] {
        app.seed_user(name, &format!("{name}@example.org"));
    }
    let qualified = app
        .get(&format!(
            "/Users?sortBy={USER}:userName&sortOrder=descending&count=2"
        ))
        .await;
    assert_eq!(qualified.status, 200, "{}", qualified.body);
    assert_eq!(user_names(&qualified.body), vec!["zed", "mia"]);

    for (sort_by, field) in [
        (format!("{USER}:name.givenName"), "field_first_name"),
        (format!("{ENTERPRISE}:department"), "field_department"),
        (
            "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME".to_string(),
            "name",
        ),
    ] {
        app.drupal.clear_requests();
        let answer = app.get(&format!("/Users?sortBy={sort_by}")).await;
        assert_eq!(answer.status, 200, "{sort_by}: {}", answer.body);
        assert!(
            app.drupal
                .requests()
                .iter()
                .any(|r| r.query.contains(&format!("sort={field}"))),
            "{sort_by} sorts by {field}"
        );
    }
    let unmapped = app.get(&format!("/Users?sortBy={USER}:nickName")).await;
    unmapped.assert_scim_error(400, Some("invalidValue"));
}

/// RFC 7644 §3.4.2.4: `count` and `startIndex` are integers however large;
/// a count above `filter.maxResults` is capped and a start past the end
/// gives an empty page.
#[tokio::test]
async fn integers_past_any_bound_cap_the_count_and_page_past_the_end() {
    let app = spawn_app().await;
    seed(&app, "huge", 3);
    let huge = "99999999999999999999999";
    for path in ["/Users", "/Groups"] {
        let capped = app.get(&format!("{path}?count={huge}")).await;
        assert_eq!(capped.status, 200, "{path}: {}", capped.body);
        let beyond = app.get(&format!("{path}?startIndex={huge}&count=5")).await;
        assert_eq!(beyond.status, 200, "{path}: {}", beyond.body);
        assert_eq!(beyond.body["itemsPerPage"], 0, "{path}: {}", beyond.body);
        assert!(beyond.body["Resources"].as_array().unwrap().is_empty());
    }
    let capped = app.get(&format!("/Users?count={huge}")).await;
    assert_eq!(capped.body["itemsPerPage"], 4, "{}", capped.body);
    let filtered = app
        .get(&format!(
            "/Users?startIndex={huge}&filter={}",
            url_encode(r#"userName sw "huge""#)
        ))
        .await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(filtered.body["totalResults"], 3, "{}", filtered.body);
    let searched = app
        .post(
            "/Users/.search",
            &json!({"startIndex": 1e23, "count": 99999999999999999999999.0}),
        )
        .await;
    assert_eq!(searched.status, 200, "{}", searched.body);
    assert_eq!(searched.body["itemsPerPage"], 0, "{}", searched.body);
}

#[tokio::test]
async fn a_list_parameter_given_twice_is_refused_and_named() {
    let app = spawn_app().await;
    seed(&app, "twice", 2);
    let a = url_encode(r#"userName eq "twice-000""#);
    let b = url_encode(r#"userName eq "twice-001""#);
    let filters = app.get(&format!("/Users?filter={a}&filter={b}")).await;
    assert_eq!(filters.status, 400, "{}", filters.body);
    assert_eq!(filters.body["scimType"], "invalidFilter");
    assert!(filters.body["detail"].as_str().unwrap().contains("filter"));
    for query in [
        "count=1&count=2",
        "startIndex=1&startindex=2",
        "attributes=userName&attributes=emails",
        "sortBy=userName&sortBy=id",
    ] {
        for path in ["/Users", "/Groups"] {
            let answer = app.get(&format!("{path}?{query}")).await;
            assert_eq!(answer.status, 400, "{path}?{query}: {}", answer.body);
            assert_eq!(answer.body["scimType"], "invalidValue");
            let name = query.split('=').next().unwrap();
            assert!(answer.body["detail"].as_str().unwrap().contains(name));
        }
    }
    let id = app.seed_user("twice-one", "twice-one@example.org");
    let one = app
        .get(&format!(
            "/Users/{id}?attributes=userName&attributes=emails"
        ))
        .await;
    assert_eq!(one.status, 400, "{}", one.body);
    assert_eq!(one.body["scimType"], "invalidValue");
}

#[tokio::test]
async fn an_empty_filter_is_invalid_filter_and_an_absent_one_lists_everything() {
    let app = spawn_app().await;
    seed(&app, "empty", 2);
    let refused = |answer: crate::helpers::Answer, what: &str| {
        answer.assert_scim_error(400, Some("invalidFilter"));
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("filter is empty"), "{what}: {detail}");
    };
    for path in ["/Users", "/Groups"] {
        for query in ["filter=", "filter=%20%20", "Filter=+", "filter=%09"] {
            refused(app.get(&format!("{path}?{query}")).await, query);
        }
        for filter in ["", "   "] {
            let search = format!("{path}/.search");
            refused(app.post(&search, &json!({"filter": filter})).await, &search);
        }
        let listed = app.get(path).await;
        assert_eq!(listed.status, 200, "{}", listed.body);
        let searched = app
            .post(&format!("{path}/.search"), &json!({"filter": null}))
            .await;
        assert_eq!(searched.status, 200, "{}", searched.body);
    }
    let everyone = app.get("/Users").await;
    assert!(
        user_names(&everyone.body).contains(&"empty-001"),
        "{}",
        everyone.body
    );
}

#[tokio::test]
async fn emails_value_ne_finds_users_with_another_address_only() {
    let app = spawn_app().await;
    app.seed_user("ne-ann", "ann@example.org");
    app.seed_user("ne-bob", "bob@example.org");
    // No address: none that differs, so `ne` leaves it out; `not` keeps it.
    let mut cat = AccountSeed::new("ne-cat");
    cat.mail = None;
    app.drupal.insert_user(cat).expect("seed user");
    let filter = r#"userName sw "ne-" and emails.value ne "ANN@example.org""#;
    let answer = app.filter_users(filter).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(user_names(&answer.body), ["ne-bob"]);
    let cat = app.filter_users(r#"userName eq "ne-cat""#).await;
    assert!(
        cat.body["Resources"][0].get("emails").is_none(),
        "{}",
        cat.body
    );
    let filter = r#"userName sw "ne-" and not (emails.value eq "ann@example.org")"#;
    let answer = app.filter_users(filter).await;
    assert_eq!(user_names(&answer.body), ["ne-bob", "ne-cat"]);
}

/// Drupal on MySQL or MariaDB (default collation `utf8mb4_general_ci`)
/// ignores accents as well as case: `name = 'jose'` finds "josé". SCIM's
/// `userName` ignores case only, so Drupal's answer is re-checked; an
/// IdP looking up "jose" before creating it must not find, and then
/// overwrite, "josé".
#[tokio::test]
async fn accents_a_database_ignores_still_count_in_user_name_filters() {
    let app = spawn_app().await;
    app.drupal.set_accents_ignored(true);
    app.create_user("josé", "jose-accent@example.org").await;
    app.create_user("Müller", "mueller@example.org").await;
    for (filter, expected) in [
        (r#"userName eq "jose""#, vec![]),
        (r#"userName eq "JOSE""#, vec![]),
        (r#"userName eq "Jose""#, vec![]),
        (r#"userName eq "muller""#, vec![]),
        (r#"userName eq "JOSÉ""#, vec!["josé"]),
        (r#"userName eq "müller""#, vec!["Müller"]),
        (r#"userName sw "jose""#, vec![]),
        (r#"userName co "ulle""#, vec![]),
        (r#"userName sw "jos""#, vec!["josé"]),
        (r#"userName eq "jose" or userName eq "muller""#, vec![]),
        (r#"emails.value eq "mueller@EXAMPLE.org""#, vec!["Müller"]),
    ] {
        let answer = app.filter_users(filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(user_names(&answer.body), expected, "{filter}");
        assert_eq!(answer.body["totalResults"], expected.len(), "{filter}");
        let searched = app.post("/Users/.search", &json!({"filter": filter})).await;
        assert_eq!(user_names(&searched.body), expected, "search {filter}");
    }

    // Rows the bridge drops leave paging and totals right.
    for (i, name) in ["anna-1", "ánna-2", "anna-3", "änna-4", "anna-5"]
        .iter()
        .enumerate()
    {
        app.create_user(name, &format!("anna{i}@example.org")).await;
    }
    let page = app
        .get(&format!(
            "/Users?startIndex=2&count=1&filter={}",
            url_encode(r#"userName sw "anna""#)
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body["totalResults"], 3, "{}", page.body);
    assert_eq!(user_names(&page.body), vec!["anna-3"]);

    // Drupal cannot hold "jose" beside "josé" on such a database (its
    // unique index compares names alike): the answer says so.
    let taken = app
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "jose", "emails": [{"value": "plain-jose@example.org"}]}),
        )
        .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert_eq!(taken.body["scimType"], "uniqueness");
    let detail = taken.body["detail"].as_str().unwrap();
    assert!(detail.contains("accents"), "{detail}");
    assert!(app.drupal_user("josé").is_some());
}

/// RFC 7643 §3.1: `id` is caseExact, so an id in another case matches
/// nothing in a filter (a path `/Users/{id}` still finds the account:
/// Drupal's UUIDs ignore case there).
#[tokio::test]
async fn an_id_in_another_case_matches_nothing_in_a_filter() {
    let app = spawn_app().await;
    let id = app.create_user("idcase", "idcase@example.org").await;
    let upper = id.to_uppercase();
    assert_ne!(upper, id);
    for filter in [
        format!(r#"id eq "{upper}""#),
        format!(r#"id eq "{upper}" or userName eq "nobody""#),
        format!(r#"id eq "{upper}" and userName eq "idcase""#),
        format!(r#"id sw "{}""#, &upper[..8]),
    ] {
        let answer = app.filter_users(&filter).await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(answer.body["totalResults"], 0, "{filter}: {}", answer.body);
    }
    let exact = app.filter_users(&format!(r#"id eq "{id}""#)).await;
    assert_eq!(exact.body["totalResults"], 1, "{}", exact.body);
    assert_eq!(app.get(&format!("/Users/{upper}")).await.status, 200);

    let group = app.group_id("engineering").await;
    let upper_group = group.to_uppercase();
    if upper_group != group {
        let answer = app
            .get(&format!(
                "/Groups?filter={}",
                url_encode(&format!(r#"id eq "{upper_group}""#))
            ))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["totalResults"], 0, "{}", answer.body);
    }
    let answer = app
        .get(&format!(
            "/Groups?filter={}",
            url_encode(&format!(r#"id eq "{group}""#))
        ))
        .await;
    assert_eq!(answer.body["totalResults"], 1, "{}", answer.body);
}

/// `$ref`s are written into answers from the public URL, never stored: a
/// filter on one would silently match nothing, so it is refused.
#[tokio::test]
async fn a_filter_on_a_ref_is_invalid_filter() {
    let app = spawn_app().await;
    let group = app.group_id("engineering").await;
    let user = app.create_user("refd", "refd@example.org").await;
    let added = app
        .patch(
            &format!("/Groups/{group}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": user}]}]}),
        )
        .await;
    assert!(added.status < 300, "{}", added.body);
    for (path, filter) in [
        ("/Groups", "members.$ref pr"),
        ("/Groups", r#"members.$ref co "Users""#),
        ("/Groups", "members[$ref pr]"),
        (
            "/Groups",
            r#"displayName eq "engineering" and not (members.$ref pr)"#,
        ),
        ("/Users", "groups.$ref pr"),
        ("/Users", r#"groups[$ref co "Groups"]"#),
    ] {
        let answer = app
            .get(&format!("{path}?filter={}", url_encode(filter)))
            .await;
        assert_eq!(answer.status, 400, "{path} {filter}: {}", answer.body);
        assert_eq!(answer.body["scimType"], "invalidFilter", "{filter}");
        assert!(answer.body["detail"].as_str().unwrap().contains("$ref"));
    }
    let by_value = app
        .get(&format!(
            "/Groups?filter={}",
            url_encode(&format!(r#"members[value eq "{user}"]"#))
        ))
        .await;
    assert_eq!(by_value.body["totalResults"], 1, "{}", by_value.body);
}

/// RFC 7644 §3.4.2.2: `pr` on a complex attribute matches when one of its
/// sub-attributes has a value; `name.givenName` and `name.familyName` are
/// stored, so `name pr` is theirs.
#[tokio::test]
async fn presence_of_name_is_presence_of_any_of_its_stored_parts() {
    let app = spawn_app().await;
    for (user_name, name) in [
        ("np-given", json!({"givenName": "Ann"})),
        ("np-family", json!({"familyName": "Lee"})),
        ("np-none", Value::Null),
    ] {
        let mut body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                              "userName": user_name,
                              "emails": [{"value": format!("{user_name}@example.org")}]});
        if !name.is_null() {
            body["name"] = name;
        }
        let created = app.post("/Users", &body).await;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    for (filter, expected) in [
        (
            r#"name pr and userName sw "np-""#,
            vec!["np-family", "np-given"],
        ),
        (r#"not (name pr) and userName sw "np-""#, vec!["np-none"]),
        (
            r#"userName sw "np-" and (name pr or userName eq "np-none")"#,
            vec!["np-family", "np-given", "np-none"],
        ),
    ] {
        let answer = app
            .get(&format!(
                "/Users?sortBy=userName&filter={}",
                url_encode(filter)
            ))
            .await;
        assert_eq!(answer.status, 200, "{filter}: {}", answer.body);
        assert_eq!(user_names(&answer.body), expected, "{filter}");
        assert_eq!(answer.body["totalResults"], expected.len(), "{filter}");
    }
}

/// The mapping trims `userName` and `emails.value` as it writes them, so an
/// identity provider's lookup with the untrimmed value it sent finds the
/// account: otherwise its lookup-then-create meets 409 on every sync.
#[tokio::test]
async fn a_lookup_with_the_untrimmed_value_sent_finds_the_trimmed_account() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/Users",
            &json!({"userName": "  padded.user ",
                    "emails": [{"value": " padded@example.org  ", "primary": true}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["userName"], "padded.user");
    for filter in [
        r#"userName eq "  padded.user ""#,
        r#"userName eq "PADDED.USER  ""#,
        r#"emails.value eq " padded@example.org  ""#,
        r#"emails[value eq " padded@example.org"]"#,
        r#"userName sw "  padded" and not (userName ne " padded.user")"#,
    ] {
        let found = app
            .get(&format!("/Users?filter={}", url_encode(filter)))
            .await;
        assert_eq!(found.body["totalResults"], 1, "{filter}: {}", found.body);
    }
    let none = app
        .get(&format!(
            "/Users?filter={}",
            url_encode(r#"userName eq "padded user""#)
        ))
        .await;
    assert_eq!(none.body["totalResults"], 0, "{}", none.body);
}

/// A query parameter the bridge reads whose percent-encoding decodes to
/// bytes that are no UTF-8 text is 400 `invalidSyntax` naming it, not read
/// with U+FFFD in their place (a filter for "�" that finds no one). A
/// parameter the bridge ignores stays ignored.
#[tokio::test]
async fn a_query_parameter_whose_percent_encoding_is_not_utf8_is_invalid_syntax() {
    let app = spawn_app().await;
    let id = app.create_user("utf", "utf@example.org").await;
    app.drupal.clear_requests();
    for (name, query) in [
        ("filter", "filter=userName%20eq%20%22%FF%22"),
        ("filter", "FILTER=userName+eq+%22caf%E9%22"),
        ("attributes", "attributes=userName,%FF"),
        ("excludedAttributes", "excludedAttributes=%C3"),
        ("sortBy", "sortBy=userName%FF"),
        ("sortOrder", "sortOrder=%FF"),
        ("startIndex", "startIndex=1%FF"),
        ("count", "count=%FF"),
    ] {
        for endpoint in ["/Users", "/Groups"] {
            let answer = app.get(&format!("{endpoint}?{query}")).await;
            answer.assert_scim_error(400, Some("invalidSyntax"));
            let detail = answer.body["detail"].as_str().unwrap();
            assert!(detail.contains(name), "{endpoint}?{query}: {detail}");
            assert!(detail.contains("UTF-8"), "{endpoint}?{query}: {detail}");
            assert!(!detail.contains('\u{fffd}'), "{endpoint}?{query}: {detail}");
        }
    }
    let answer = app.get(&format!("/Users/{id}?attributes=%FF")).await;
    answer.assert_scim_error(400, Some("invalidSyntax"));
    assert_eq!(app.drupal.request_count(), 0);

    let ignored = app.get("/Users?aadOptscim062020=%FF&count=1").await;
    assert_eq!(ignored.status, 200, "{}", ignored.body);
    let plus = app.get("/Users?filter=userName+eq+%22utf%22").await;
    assert_eq!(plus.body["totalResults"], 1, "{}", plus.body);
}

/// Concurrent lists of one filter that find no count cached share one
/// count (single flight): Drupal sees one run of page-count probes, not
/// one per list.
#[tokio::test]
async fn concurrent_lists_share_one_count() {
    let app = spawn_app().await;
    seed(&app, "many", 700);
    app.drupal.clear_requests();
    app.drupal.set_latency(std::time::Duration::from_millis(20));
    let lists = (0..20).map(|_| app.get("/Users?count=100"));
    let answers = futures_util::future::join_all(lists).await;
    app.drupal.set_latency(std::time::Duration::ZERO);
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["totalResults"], 701);
    }
    let probes = app
        .drupal
        .requests()
        .into_iter()
        .filter(|r| r.query.contains("fields%5Buser--user%5D=name"))
        .count();
    // One run: offsets doubling to 800, then bisecting down to 700.
    assert!(probes <= 10, "{probes} probes: one count per list?");
    // Each list still reads its own page (two Drupal pages of 50).
    let all = app.drupal.request_count();
    assert!(all <= probes + 20 * 2 + 2, "{all} requests");
}
