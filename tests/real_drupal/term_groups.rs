//! Term-backed groups (issue 15) against the real Drupal: every group an
//! IdP sends is created, renamed, filled, emptied and deleted as a term of
//! scim_groups, kept unpublished, with a group that grants a role.

use serde_json::{json, Value};

use crate::helpers::{mapping_with, read};
use crate::site::{shared, site, Bridge, BridgeOptions, Site};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The term UUIDs a user's field_scim_groups references.
pub fn group_refs(user: &Value) -> Vec<String> {
    user["relationships"]["field_scim_groups"]["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A PATCH adding `ids` to a group's members.
fn add_members(ids: &[&str]) -> Value {
    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "add", "path": "members", "value": values}]})
}

/// A bridge serving term-backed groups on `site` with the Okta preset,
/// its `groups:` entries `groups` and `extra_config` added.
async fn term_bridge(site: &Site, groups: &str, extra_config: String) -> Bridge {
    let mapping = format!(
        "{}group_terms: {{}}\n",
        mapping_with("okta.yaml", groups, "  []")
    );
    Bridge::start(
        site,
        BridgeOptions {
            mapping,
            extra_config,
            ..BridgeOptions::default()
        },
    )
    .await
}

async fn anonymous_status(site: &Site, path: &str) -> u16 {
    let answer = reqwest::Client::new()
        .get(format!("{}{path}", site.url))
        .header("Accept", crate::site::JSON_API)
        .send()
        .await
        .expect("Drupal answers");
    read(answer).await.status
}

#[tokio::test]
async fn term_groups_live_their_whole_life_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-tg-ann", "rd-tg-bob"]);
    let ann = site.create_user("rd-tg-ann", &[]).await;
    let bob = site.create_user("rd-tg-bob", &[]).await;
    let bridge = term_bridge(
        &site,
        "  - {display_name: RD Granting, roles: [engineering]}",
        String::new(),
    )
    .await;

    let name = format!("RD Group {}", uuid::Uuid::new_v4().simple());
    let created = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": name, "externalId": "rd-ext"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    // A random id, chosen by the bridge.
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
    // A name taken, in any case, is refused.
    let again = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": name.to_uppercase()}),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    // Kept unpublished: an anonymous visitor cannot read it (basic_auth
    // turns the 403 of a request without credentials into a 401).
    let path = format!("/jsonapi/taxonomy_term/scim_groups/{id}");
    assert_eq!(anonymous_status(&site, &path).await, 401);
    let listed = reqwest::Client::new()
        .get(format!("{}/jsonapi/taxonomy_term/scim_groups", site.url))
        .header("Accept", crate::site::JSON_API)
        .send()
        .await
        .expect("Drupal answers");
    let listed = read(listed).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let names: Vec<&str> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["attributes"]["name"].as_str())
        .collect();
    assert!(!names.contains(&name.as_str()), "{names:?}");

    let add = bridge
        .patch(&format!("/Groups/{id}"), &add_members(&[&ann, &bob]))
        .await;
    assert_eq!(add.status, 204, "{}", add.body);
    let ann_doc = site.user("rd-tg-ann").await.unwrap();
    assert_eq!(group_refs(&ann_doc), vec![id.clone()]);

    let renamed = format!("{name} renamed");
    let rename = bridge
        .patch(
            &format!("/Groups/{id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName", "value": renamed}]}),
        )
        .await;
    assert_eq!(rename.status, 200, "{}", rename.body);
    assert_eq!(rename.body["displayName"], renamed.as_str());
    assert_eq!(rename.body["members"].as_array().unwrap().len(), 2);
    let members = bridge
        .get(&format!("/Users?filter=groups.value%20eq%20%22{id}%22"))
        .await;
    assert_eq!(members.body["totalResults"], 2, "{}", members.body);
    // Each user's groups name the term, from Drupal's `included`.
    for user in members.body["Resources"].as_array().unwrap() {
        let group = user["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["value"] == id.as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(group["display"], renamed.as_str(), "{user}");
    }

    let remove = bridge
        .patch(
            &format!("/Groups/{id}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]}),
        )
        .await;
    assert_eq!(remove.status, 204, "{}", remove.body);
    assert!(group_refs(&site.user("rd-tg-bob").await.unwrap()).is_empty());

    assert_eq!(bridge.delete(&format!("/Groups/{id}")).await.status, 204);
    assert!(group_refs(&site.user("rd-tg-ann").await.unwrap()).is_empty());
    assert_eq!(bridge.get(&format!("/Groups/{id}")).await.status, 404);
    // A new group of the deleted one's first name does not get its id
    // (RFC 7643 §3.1): the old id stays gone.
    let reborn = bridge
        .post("/Groups", &json!({"schemas": [GROUP], "displayName": name}))
        .await;
    assert_eq!(reborn.status, 201, "{}", reborn.body);
    let reborn = reborn.body["id"].as_str().unwrap().to_string();
    assert_ne!(reborn, id);
    assert_eq!(bridge.get(&format!("/Groups/{id}")).await.status, 404);
    assert_eq!(bridge.delete(&format!("/Groups/{id}")).await.status, 404);
    assert_eq!(
        bridge.delete(&format!("/Groups/{reborn}")).await.status,
        204
    );

    // A named group grants its role while a member, and takes it back.
    let granting = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "RD Granting"}),
        )
        .await;
    let granting_id = match granting.status {
        201 => granting.body["id"].as_str().unwrap().to_string(),
        // Left by an earlier run that failed half-way.
        409 => {
            let found = bridge
                .get("/Groups?excludedAttributes=members&filter=displayName%20eq%20%22RD%20Granting%22")
                .await;
            found.body["Resources"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
        other => panic!("{other}: {}", granting.body),
    };
    let add = bridge
        .patch(&format!("/Groups/{granting_id}"), &add_members(&[&ann]))
        .await;
    assert_eq!(add.status, 204, "{}", add.body);
    assert_eq!(
        site.roles_of("rd-tg-ann").await,
        vec!["engineering".to_string()]
    );
    assert_eq!(
        bridge
            .delete(&format!("/Groups/{granting_id}"))
            .await
            .status,
        204
    );
    assert!(site.roles_of("rd-tg-ann").await.is_empty());
    site.delete_users(&["rd-tg-ann", "rd-tg-bob"]);
}

/// The audit file's lines.
fn audit_lines(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .expect("audit file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[tokio::test]
async fn unknown_members_are_left_out_answered_whole_and_audited_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-tg-cem"]);
    let cem = site.create_user("rd-tg-cem", &[]).await;
    let file = std::env::temp_dir().join(format!("rd-audit-{}.jsonl", uuid::Uuid::new_v4()));
    let bridge = term_bridge(
        &site,
        "  - {display_name: RD Skip Granting, roles: [engineering]}",
        format!(
            "unknown_members: skip\ngroup_patch_reads: 1\naudit:\n  file: {}\n",
            file.display()
        ),
    )
    .await;
    let created = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": "RD Skip Granting"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let unknown = uuid::Uuid::new_v4().to_string();

    // One existing member and one that names no account: the first is
    // linked and granted the group's role, the second left out; the answer
    // is the whole group, as the demo gives it (group_patch_reads: 1).
    let add = bridge
        .patch(&format!("/Groups/{id}"), &add_members(&[&cem, &unknown]))
        .await;
    assert_eq!(add.status, 200, "{}", add.body);
    assert_eq!(
        group_refs(&site.user("rd-tg-cem").await.unwrap()),
        vec![id.clone()]
    );
    assert_eq!(
        site.roles_of("rd-tg-cem").await,
        vec!["engineering".to_string()]
    );
    let read = bridge.get(&format!("/Groups/{id}")).await;
    let members: Vec<&str> = read.body["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(members, [cem.as_str()], "{}", read.body);
    assert_eq!(
        add.body, read.body,
        "the answer is the group as a GET shows it"
    );
    assert_eq!(bridge.delete(&format!("/Groups/{id}")).await.status, 204);
    assert!(site.roles_of("rd-tg-cem").await.is_empty());

    let lines = audit_lines(&file);
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["event"].as_str().unwrap_or(""),
                l["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("group_created", "ok"),
            ("group_member_added", "ok"),
            ("group_member_skipped", "refused"),
            ("group_member_removed", "ok"),
            ("group_deleted", "ok"),
        ],
        "{lines:#?}"
    );
    assert_eq!(lines[0]["account_id"], id.as_str());
    assert_eq!(lines[1]["account_id"], cem.as_str());
    assert_eq!(lines[1]["group"], "RD Skip Granting");
    assert_eq!(lines[1]["roles"]["after"], json!(["engineering"]));
    assert_eq!(lines[2]["account_id"], unknown.as_str());
    assert_eq!(lines[3]["roles"]["after"], json!([]));
    assert_eq!(lines[4]["account_id"], id.as_str());
    let _ = std::fs::remove_file(&file);
    site.delete_users(&["rd-tg-cem"]);
}

/// Names differing only in non-ASCII case are one group on a real site,
/// whatever the database's collation (SQLite compares case in ASCII only;
/// MariaDB's default ignores case and accents); accents are not case.
#[tokio::test]
async fn names_differing_only_in_non_ascii_case_are_one_group_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let bridge = term_bridge(&site, "  []", String::new()).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let name = format!("Ärzte Équipe {tag}");
    let created = bridge
        .post("/Groups", &json!({"schemas": [GROUP], "displayName": name}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    for taken in [name.to_uppercase(), name.to_lowercase()] {
        let again = bridge
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": taken}),
            )
            .await;
        assert_eq!(again.status, 409, "{taken}: {}", again.body);
        assert_eq!(again.body["scimType"], "uniqueness");
    }
    // A rename onto it in another case is refused too (SQLite's LIKE
    // ignores case in ASCII only).
    let renamed = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": format!("RD Rename {tag}")}),
        )
        .await;
    assert_eq!(renamed.status, 201, "{}", renamed.body);
    let renamed = renamed.body["id"].as_str().unwrap().to_string();
    let onto = bridge
        .patch(
            &format!("/Groups/{renamed}"),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName", "value": name.to_lowercase()}]}),
        )
        .await;
    assert_eq!(onto.status, 409, "{}", onto.body);
    assert_eq!(onto.body["scimType"], "uniqueness");
    assert_eq!(
        bridge.delete(&format!("/Groups/{renamed}")).await.status,
        204
    );
    let unaccented = format!("Arzte Equipe {tag}");
    let other = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": unaccented}),
        )
        .await;
    assert_eq!(other.status, 201, "accents are not case: {}", other.body);
    let filter = format!("displayName eq \"{}\"", name.to_uppercase());
    let found = bridge
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            crate::helpers::url_encode(&filter)
        ))
        .await;
    assert_eq!(found.body["totalResults"], 1, "{}", found.body);
    assert_eq!(found.body["Resources"][0]["id"], created.body["id"]);
    for group in [&created.body, &other.body] {
        let id = group["id"].as_str().unwrap();
        assert_eq!(bridge.delete(&format!("/Groups/{id}")).await.status, 204);
    }
}

/// Leaves Drupal's JSON:API cache showing the term `id` named `shown`
/// while its database holds the name it has, as a GET of the bridge that
/// ends after the bridge's next save of the term does on a loaded site:
/// the name is set to `shown` in the database (the term's table and its
/// revisions', which a load reads), the term is read through
/// JSON:API as the bridge's account (which caches that read), and the
/// name is put back without a save. Returns what JSON:API then shows.
/// Drupal validates the whole account on a relationship write that saves
/// it, the roles' included: with a group term deleted in Drupal still
/// referenced, the removal of a granting group's member was refused for
/// good, and the member kept the role.
#[tokio::test]
async fn a_member_referencing_a_deleted_term_loses_a_granted_role_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    site.delete_users(&["rd-tg-dee"]);
    site.forget(&[], &["RD Dangling%"]);
    let dee = site.create_user("rd-tg-dee", &[]).await;
    let bridge = term_bridge(
        &site,
        "  - {display_name: RD Dangling Granting, roles: [engineering]}",
        String::new(),
    )
    .await;
    let mut ids = Vec::new();
    for name in ["RD Dangling Granting", "RD Dangling Gone"] {
        let created = bridge
            .post(
                "/Groups",
                &json!({"schemas": [GROUP], "displayName": name, "members": [{"value": dee}]}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        ids.push(created.body["id"].as_str().unwrap().to_string());
    }
    assert_eq!(site.roles_of("rd-tg-dee").await, vec!["engineering"]);
    // Deleted in Drupal, not over SCIM: the reference dangles.
    let deleted = site
        .admin(
            reqwest::Method::DELETE,
            &format!("/jsonapi/taxonomy_term/scim_groups/{}", ids[1]),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    let removed = bridge
        .patch(
            &format!("/Groups/{}", ids[0]),
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "remove", "path": format!("members[value eq \"{dee}\"]")}]}),
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.body);
    assert!(site.roles_of("rd-tg-dee").await.is_empty());
    assert!(group_refs(&site.user("rd-tg-dee").await.unwrap()).is_empty());
    assert_eq!(
        bridge.delete(&format!("/Groups/{}", ids[0])).await.status,
        204
    );
}

async fn cache_a_stale_name(site: &Site, id: &str, shown: &str) -> String {
    let load = format!(
        r#"$t = \Drupal::entityTypeManager()->getStorage("taxonomy_term");
$term = current($t->loadByProperties(["uuid" => "{id}"]));
$tid = $term->id();"#
    );
    let held = site.php(&format!(
        r#"{load}
echo $term->getName();
foreach (["taxonomy_term_field_data", "taxonomy_term_field_revision"] as $table) {{
  \Drupal::database()->update($table)->fields(["name" => "{shown}"])->condition("tid", $tid)->execute();
}}
$t->resetCache([$tid]);
\Drupal\Core\Cache\Cache::invalidateTags(["taxonomy_term:" . $tid]);"#
    ));
    let direct = || async {
        let answer = reqwest::Client::new()
            .get(format!(
                "{}/jsonapi/taxonomy_term/scim_groups/{id}",
                site.url
            ))
            .basic_auth(&site.bridge_user, Some(&site.bridge_pass))
            .header("Accept", crate::site::JSON_API)
            .send()
            .await
            .expect("Drupal answers");
        let answer = read(answer).await;
        answer.body["data"]["attributes"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(direct().await, shown);
    site.php(&format!(
        r#"{load}
foreach (["taxonomy_term_field_data", "taxonomy_term_field_revision"] as $table) {{
  \Drupal::database()->update($table)->fields(["name" => "{held}"])->condition("tid", $tid)->execute();
}}
$t->resetCache([$tid]);"#
    ));
    direct().await
}

/// The name the database holds for the term `id`.
fn stored_name(site: &Site, id: &str) -> String {
    site.php(&format!(
        r#"$t = \Drupal::entityTypeManager()->getStorage("taxonomy_term");
echo \Drupal::database()->query("SELECT name FROM {{taxonomy_term_field_data}} WHERE tid = :tid", [":tid" => current($t->loadByProperties(["uuid" => "{id}"]))->id()])->fetchField();"#
    ))
}

#[tokio::test]
async fn a_rename_read_back_through_a_stale_json_api_cache_is_mended_on_a_real_site() {
    let Some(site) = site() else { return };
    let _shared = shared().await;
    let bridge = term_bridge(&site, "  []", String::new()).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (first, second) = (format!("RD Mend A {suffix}"), format!("RD Mend B {suffix}"));
    let created = bridge
        .post(
            "/Groups",
            &json!({"schemas": [GROUP], "displayName": first}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let rename = |name: &str| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "displayName", "value": name}]})
    };
    let path = format!("/Groups/{id}");
    let renamed = bridge.patch(&path, &rename(&second)).await;
    assert!(
        renamed.status == 200 || renamed.status == 204,
        "{}",
        renamed.body
    );

    // Drupal holds the new name but its cache shows the old one.
    assert_eq!(cache_a_stale_name(&site, &id, &first).await, first);
    let read_back = bridge.get(&path).await;
    assert_eq!(
        read_back.body["displayName"],
        second.as_str(),
        "{}",
        read_back.body
    );
    assert_eq!(stored_name(&site, &id), second);
    let listed = bridge
        .get(&format!(
            "/Groups?filter={}",
            crate::helpers::url_encode(&format!("displayName eq \"{second}\""))
        ))
        .await;
    assert_eq!(listed.body["totalResults"], 1, "{}", listed.body);

    // A rename back, read through the stale copy, would look like no
    // change: it is written.
    assert_eq!(cache_a_stale_name(&site, &id, &first).await, first);
    let back = bridge.patch(&path, &rename(&first)).await;
    assert!(back.status == 200 || back.status == 204, "{}", back.body);
    assert_eq!(stored_name(&site, &id), first);
    assert_eq!(bridge.get(&path).await.body["displayName"], first.as_str());
    assert_eq!(bridge.delete(&path).await.status, 204);
}
