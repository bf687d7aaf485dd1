//! The identity providers' flows, written once and run against two
//! targets: the bridge in front of the in-process stand-in
//! (tests/api/idp_flows.rs) and the bridge in front of a real Drupal 10
//! (tests/real_drupal/e2e.rs). Each flow replays what an IdP sends
//! (tests/fixtures/idp, one file per published request, in flow order),
//! with its preset mapping, groups kept as taxonomy terms (none prepared)
//! and named groups granting roles; placeholders become the values created
//! along the way. Every step must get a status its `expected` text
//! documents, and its effect is checked twice: in SCIM (the group's
//! members, the users' `groups`) and in Drupal (the users' references and
//! the roles the mapping's `groups:` section grants and takes back).
//!
//! Group PATCH may answer 204 or 200 with the group; members are compared
//! by `value` only (`display` may be left out, RFC 7643 §8.7.1).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::helpers::{idp_fixture, mapping_with, read, url_encode, Answer, TOKEN};

const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The placeholders of the fixtures' README.
const PLACEHOLDERS: [&str; 10] = [
    "token",
    "userId",
    "userId2",
    "managerId",
    "groupId",
    "externalId",
    "random",
    "random2",
    "random3",
    "email",
];

/// What a flow may read of Drupal's side, and the clean slate a real site
/// needs (the examples' names are fixed, and a real site keeps what an
/// earlier run left).
#[allow(async_fn_in_trait)]
pub trait Drupal {
    /// Deletes the accounts whose names match these SQL LIKE patterns and
    /// the group terms whose names do.
    async fn forget(&self, users_like: &[&str], groups_like: &[&str]);
    /// The account with this name, as JSON:API shows it to an administrator.
    async fn user(&self, name: &str) -> Option<Value>;
    /// Machine names of the roles the account holds, sorted.
    async fn roles_of(&self, name: &str) -> Vec<String>;
    /// UUIDs of the group terms the account's reference field holds.
    async fn group_refs(&self, name: &str) -> Vec<String>;
}

/// Where a flow runs: something that starts the bridge with a mapping.
#[allow(async_fn_in_trait)]
pub trait Stand {
    type Side: Drupal;
    async fn start(&self, mapping: String) -> Target<Self::Side>;
}

/// A started bridge and the Drupal behind it.
pub struct Target<D> {
    /// `http://127.0.0.1:<port>/scim/v2`
    pub scim: String,
    pub client: reqwest::Client,
    pub drupal: D,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Idp {
    Entra,
    Okta,
    OneLogin,
    JumpCloud,
}

fn example(file: &str) -> Value {
    serde_json::from_str(&idp_fixture(file)).expect("fixture JSON")
}

/// The 2xx statuses an `expected` text allows: "200 OK ... (or 204)".
pub fn documented_statuses(expected: &str) -> Vec<u16> {
    [200, 201, 204]
        .into_iter()
        .filter(|status| expected.contains(&status.to_string()))
        .collect()
}

/// Entra's documentation prints filters unencoded; on the wire every value
/// is percent-encoded.
pub fn encode_values(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => format!("{name}={}", url_encode(value)),
            None => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A preset with groups kept as terms and these named groups
/// (`display_name -> roles`).
fn term_mapping(preset: &str, grants: &[(&str, &str)]) -> String {
    let groups: Vec<String> = grants
        .iter()
        .map(|(name, roles)| format!("  - {{display_name: \"{name}\", roles: [{roles}]}}"))
        .collect();
    let groups = if groups.is_empty() {
        "  []".to_string()
    } else {
        groups.join("\n")
    };
    format!(
        "{}group_terms: {{}}\n",
        mapping_with(preset, &groups, "  []")
    )
}

fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m["value"].as_str().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// One IdP's flow: the bridge, the values its placeholders stand for, and
/// the accounts it made (user name -> id).
struct Replay<D> {
    target: Target<D>,
    idp: Idp,
    values: BTreeMap<&'static str, String>,
    people: Vec<(String, String)>,
}

fn fresh_values() -> BTreeMap<&'static str, String> {
    let mut values = BTreeMap::new();
    values.insert("token", TOKEN.to_string());
    for name in ["random", "random2", "random3", "externalId"] {
        values.insert(name, uuid::Uuid::new_v4().to_string());
    }
    values.insert("email", "aaa.test.user01@example.org".to_string());
    values
}

impl<D: Drupal> Replay<D> {
    async fn start(
        stand: &impl Stand<Side = D>,
        idp: Idp,
        values: BTreeMap<&'static str, String>,
        mapping: String,
    ) -> Replay<D> {
        let target = stand.start(mapping).await;
        Replay {
            target,
            idp,
            values,
            people: Vec::new(),
        }
    }

    fn bind(&mut self, name: &'static str, value: &Value) {
        let value = value.as_str().expect("a string id").to_string();
        self.values.insert(name, value);
    }

    fn value(&self, name: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("{{{name}}} is not bound yet"))
    }

    /// An account the flow follows: its group memberships are checked.
    fn person(&mut self, name: &str, id: &Value) {
        let id = id.as_str().expect("a string id").to_ascii_lowercase();
        self.people.retain(|(_, known)| *known != id);
        self.people.push((name.to_string(), id));
    }

    fn substitute(&self, text: &str) -> String {
        let mut text = text.to_string();
        for name in PLACEHOLDERS {
            let placeholder = format!("{{{name}}}");
            if text.contains(&placeholder) {
                text = text.replace(&placeholder, &self.value(name));
            }
        }
        text
    }

    /// Sends the example's request as the IdP would.
    async fn send(&self, file: &str) -> Answer {
        let example = example(file);
        let request = &example["request"];
        let method: reqwest::Method = request["method"].as_str().unwrap().parse().unwrap();
        let path = self.substitute(request["path"].as_str().unwrap());
        let url = match request["query"].as_str() {
            None => format!("{}{path}", self.target.scim),
            Some(query) => {
                let query = self.substitute(query);
                let query = match self.idp {
                    Idp::Entra => encode_values(&query),
                    Idp::Okta | Idp::OneLogin | Idp::JumpCloud => query,
                };
                format!("{}{path}?{query}", self.target.scim)
            }
        };
        let mut builder = self.target.client.request(method, url);
        for (name, value) in request["headers"].as_object().unwrap() {
            builder = builder.header(name, self.substitute(value.as_str().unwrap()));
        }
        if !request["body"].is_null() {
            builder = builder.body(self.substitute(&request["body"].to_string()));
        }
        read(builder.send().await.expect("bridge answers")).await
    }

    /// Sends the example and checks that the status is one its `expected`
    /// text documents.
    async fn step(&self, file: &str) -> Answer {
        let expected = example(file)["expected"].as_str().unwrap().to_string();
        let allowed = documented_statuses(&expected);
        let answer = self.send(file).await;
        assert!(
            allowed.contains(&answer.status),
            "{file}: got {}, documented {allowed:?}: {}",
            answer.status,
            answer.body
        );
        answer
    }

    async fn scim(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self
            .target
            .client
            .request(method, format!("{}{path}", self.target.scim))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        read(request.send().await.expect("bridge answers")).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.scim(reqwest::Method::GET, path, None).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.scim(reqwest::Method::DELETE, path, None).await
    }

    async fn filter_users(&self, filter: &str) -> Answer {
        self.get(&format!("/Users?filter={}", url_encode(filter)))
            .await
    }

    async fn drupal(&self, name: &str) -> Value {
        self.target
            .drupal
            .user(name)
            .await
            .unwrap_or_else(|| panic!("no Drupal account {name}"))
    }

    /// Creates a user as an IdP would; returns its id.
    async fn create_user(&mut self, user_name: &str) -> String {
        let mail = if user_name.contains('@') {
            user_name.to_string()
        } else {
            format!("{user_name}@example.org")
        };
        let answer = self
            .scim(
                reqwest::Method::POST,
                "/Users",
                Some(
                    &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": user_name, "externalId": format!("ext-{user_name}"),
                    "emails": [{"value": mail, "primary": true}],
                    "active": true}),
                ),
            )
            .await;
        assert_eq!(answer.status, 201, "create {user_name}: {}", answer.body);
        self.person(user_name, &answer.body["id"]);
        answer.body["id"].as_str().unwrap().to_string()
    }

    async fn create_group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|id| json!({"value": id})).collect();
        let answer = self
            .scim(
                reqwest::Method::POST,
                "/Groups",
                Some(&json!({"schemas": [GROUP], "displayName": name, "members": members})),
            )
            .await;
        assert_eq!(answer.status, 201, "create {name}: {}", answer.body);
        answer.body["id"].as_str().unwrap().to_string()
    }

    /// A group PATCH; a success is 204, or 200 with the group.
    async fn patch_group(&self, group: &str, operations: Value) -> Answer {
        let answer = self
            .scim(
                reqwest::Method::PATCH,
                &format!("/Groups/{group}"),
                Some(&json!({"schemas": [PATCH_OP], "Operations": operations})),
            )
            .await;
        if answer.status == 200 {
            assert_eq!(answer.body["id"], group, "{}", answer.body);
        }
        answer
    }

    async fn patch_group_ok(&self, group: &str, operations: Value) {
        let answer = self.patch_group(group, operations).await;
        assert!(
            answer.status == 204 || answer.status == 200,
            "{}",
            answer.body
        );
    }

    async fn rename(&self, group: &str, name: &str) {
        let answer = self
            .patch_group(
                group,
                json!([{"op": "replace", "path": "displayName", "value": name}]),
            )
            .await;
        assert!(
            answer.status == 204 || answer.status == 200,
            "rename to {name}: {}",
            answer.body
        );
        let read = self.get(&format!("/Groups/{group}")).await;
        assert_eq!(read.body["displayName"], name, "{}", read.body);
    }

    async fn add_members(&self, group: &str, ids: &[&str]) {
        let value: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
        self.patch_group_ok(
            group,
            json!([{"op": "add", "path": "members", "value": value}]),
        )
        .await;
    }

    async fn remove_member(&self, group: &str, id: &str) -> Answer {
        self.patch_group(
            group,
            json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]),
        )
        .await
    }

    /// The group's members are exactly `members` (ids), read back through
    /// GET /Groups/{id}, through each followed user's `groups`, and through
    /// their references in Drupal; and, when the group grants `role`, the
    /// members hold it and the others do not.
    async fn expect_members(&self, group: &str, members: &[&str], role: Option<&str>) {
        let group_lower = group.to_ascii_lowercase();
        let wanted: BTreeSet<String> = members.iter().map(|m| m.to_ascii_lowercase()).collect();
        let read = self.get(&format!("/Groups/{group}")).await;
        assert_eq!(read.status, 200, "{}", read.body);
        assert_eq!(ids(&read.body["members"]), wanted, "{}", read.body);
        for (name, id) in &self.people {
            let member = wanted.contains(id);
            let user = self.get(&format!("/Users/{id}")).await;
            if user.status == 404 {
                continue; // deprovisioned: hidden, and never a member
            }
            assert_eq!(user.status, 200, "{}", user.body);
            assert_eq!(
                ids(&user.body["groups"]).contains(&group_lower),
                member,
                "{name}'s groups: {}",
                user.body
            );
            let refs = self.target.drupal.group_refs(name).await;
            assert_eq!(
                refs.iter().any(|r| r.eq_ignore_ascii_case(group)),
                member,
                "{name}'s references in Drupal: {refs:?}"
            );
            if let Some(role) = role {
                let roles = self.target.drupal.roles_of(name).await;
                assert_eq!(
                    roles.iter().any(|r| r == role),
                    member,
                    "{name} holds {roles:?}"
                );
            }
        }
    }

    /// The group is gone, and the followed accounts were not touched.
    async fn expect_deleted(&self, group: &str, role: Option<&str>) {
        self.get(&format!("/Groups/{group}"))
            .await
            .assert_scim_error(404, None);
        for (name, id) in &self.people {
            let refs = self.target.drupal.group_refs(name).await;
            assert!(
                !refs.iter().any(|r| r.eq_ignore_ascii_case(group)),
                "{name}: {refs:?}"
            );
            if let Some(role) = role {
                let roles = self.target.drupal.roles_of(name).await;
                assert!(!roles.iter().any(|r| r == role), "{name} holds {roles:?}");
            }
            let user = self.get(&format!("/Users/{id}")).await;
            if user.status == 200 {
                assert!(
                    !ids(&user.body["groups"]).contains(&group.to_ascii_lowercase()),
                    "{}",
                    user.body
                );
            }
        }
    }
}

/// Checks a PATCH answer: 204, or 200 with the group whose members (when
/// listed) are exactly `members`.
fn accepts(answer: &Answer, file: &str, members: &[&str]) {
    match answer.status {
        204 => {}
        200 => {
            if let Some(listed) = answer.body.get("members").filter(|m| !m.is_null()) {
                let wanted: BTreeSet<String> =
                    members.iter().map(|m| m.to_ascii_lowercase()).collect();
                assert_eq!(ids(listed), wanted, "{file}: {}", answer.body);
            }
        }
        other => panic!("{file}: {other}: {}", answer.body),
    }
}

/// Microsoft Entra ID: the user lifecycle, then a group assigned to the
/// app that nobody prepared in Drupal, which grants entra_app by its name
/// (before and after Entra renames it).
pub async fn entra(stand: &impl Stand) {
    let values = fresh_values();
    let renamed = format!("{}updatedDisplayName", values["random"]);
    let mapping = term_mapping(
        "entra-id.yaml",
        &[("displayName", "entra_app"), (&renamed, "entra_app")],
    );
    let mut flow = Replay::start(stand, Idp::Entra, values, mapping).await;
    flow.target
        .drupal
        .forget(
            &["Test_User_%", "%@testuser.com"],
            &["displayName", "%updatedDisplayName"],
        )
        .await;

    let probe = flow.step("entra-01-probe-userName").await;
    assert_eq!(probe.body["totalResults"], 0);
    assert_eq!(probe.body["Resources"], json!([]));

    let created = flow.step("entra-02-create-user").await;
    flow.bind("userId", &created.body["id"]);
    let user_name = format!("Test_User_{}", flow.value("random"));
    flow.person(&user_name, &created.body["id"]);
    assert_eq!(created.body["userName"], user_name.as_str());
    assert_eq!(
        created.body["externalId"],
        flow.value("externalId").as_str()
    );
    assert_eq!(created.body["emails"][0]["type"], "work");
    assert_eq!(
        created.header("content-type"),
        Some("application/scim+json")
    );
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(drupal["id"], flow.value("userId").as_str());
    assert_eq!(
        drupal["attributes"]["mail"],
        format!("Test_User_{}@testuser.com", flow.value("random2"))
    );
    assert_eq!(
        drupal["attributes"]["field_scim_external_id"],
        flow.value("externalId").as_str()
    );
    assert_eq!(drupal["attributes"]["status"], true);

    let joy = flow.step("entra-02b-create-user-null-attributes").await;
    flow.bind("managerId", &joy.body["id"]);
    flow.person("jyoung@testuser.com", &joy.body["id"]);
    assert_eq!(
        flow.drupal("jyoung@testuser.com").await["attributes"]["mail"],
        "jyoung@Contoso.com",
        "stored as sent"
    );

    let read = flow.step("entra-03-get-user").await;
    assert_eq!(read.body["id"], flow.value("userId").as_str());
    let found = flow.step("entra-04a-filter-userName").await;
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["startIndex"], 1);
    assert_eq!(
        found.body["Resources"][0]["id"],
        flow.value("userId").as_str()
    );
    // The bare word is tolerated; 02b created jyoung, so one match.
    let by_external_id = flow.step("entra-04b-filter-externalId").await;
    assert_eq!(by_external_id.body["totalResults"], 1);

    let emailed = flow.step("entra-05-patch-replace-work-email").await;
    let work: Vec<&Value> = emailed.body["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "work")
        .collect();
    assert_eq!(work.len(), 1, "replaced in place: {}", emailed.body);
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(drupal["attributes"]["mail"], "updatedEmail@microsoft.com");
    assert_eq!(drupal["attributes"]["field_last_name"], "updatedFamilyName");

    flow.step("entra-06-patch-replace-multi-op").await;
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(
        drupal["attributes"]["mail"],
        "TestBcwqnm@test.microsoft.com"
    );
    assert_eq!(drupal["attributes"]["field_first_name"], "Gtfd");
    assert_eq!(drupal["attributes"]["field_last_name"], "Pkqf");
    assert_eq!(drupal["attributes"]["field_scim_external_id"], "Eqpj");

    flow.step("entra-07-patch-replace-no-path-dotted-keys")
        .await;
    let drupal = flow.drupal(&user_name).await;
    assert_eq!(
        drupal["attributes"]["mail"],
        "TestMhvaes@test.microsoft.com"
    );
    assert_eq!(drupal["attributes"]["field_first_name"], "Kkom");
    assert_eq!(drupal["attributes"]["field_last_name"], "Unua");

    // The Entra preset maps neither nickName nor manager: both are ignored.
    flow.step("entra-08-patch-add-nickName").await;
    flow.step("entra-09-patch-add-manager").await;

    flow.step("entra-10-patch-replace-userName").await;
    let user_name = format!("{}@testuser.com", flow.value("random3"));
    flow.person(&user_name, &json!(flow.value("userId")));
    assert_eq!(
        flow.drupal(&user_name).await["id"],
        flow.value("userId").as_str()
    );
    let renamed_user = flow
        .filter_users(&format!("userName eq \"{user_name}\""))
        .await;
    assert_eq!(renamed_user.body["totalResults"], 1);

    for file in [
        "entra-11-patch-disable-active-string-False",
        "entra-12-patch-disable-active-boolean-false",
        "entra-13-patch-disable-Replace-boolean",
    ] {
        let answer = flow.step(file).await;
        if answer.status == 200 {
            assert_eq!(answer.body["active"], false, "{file}");
        }
        assert_eq!(
            flow.drupal(&user_name).await["attributes"]["status"],
            false,
            "{file}"
        );
    }
    let disabled = flow.step("entra-03-get-user").await;
    assert_eq!(disabled.body["active"], false, "still readable");

    // Groups: nothing prepared. The lookup finds none, the create makes it.
    let lookup = flow
        .step("entra-15-groups-filter-displayName-excluded-members")
        .await;
    assert_eq!(lookup.body["totalResults"], 0, "{}", lookup.body);

    let group = flow.step("entra-16-create-group").await;
    flow.bind("groupId", &group.body["id"]);
    let id = flow.value("groupId");
    assert_eq!(group.body["displayName"], "displayName");
    assert_eq!(group.body["externalId"], flow.value("externalId").as_str());
    assert!(
        group.body.get("members").is_none() || group.body["members"] == json!([]),
        "{}",
        group.body
    );
    // Entra retries a create whose answer it lost: one group stays.
    flow.send("entra-16-create-group")
        .await
        .assert_scim_error(409, Some("uniqueness"));

    let lookup = flow
        .step("entra-15-groups-filter-displayName-excluded-members")
        .await;
    assert_eq!(lookup.body["totalResults"], 1, "{}", lookup.body);
    assert_eq!(lookup.body["Resources"][0]["id"], id.as_str());
    assert!(lookup.body["Resources"][0].get("members").is_none());

    let read = flow.step("entra-17-get-group-excluded-members").await;
    assert_eq!(read.body["id"], id.as_str());
    assert_eq!(read.body["externalId"], flow.value("externalId").as_str());
    assert!(read.body.get("members").is_none());

    let user = flow.value("userId");
    let joy = flow.value("managerId");
    let answer = flow.step("entra-18-patch-group-add-members").await;
    accepts(&answer, "entra-18", &[&user]);
    flow.expect_members(&id, &[&user], Some("entra_app")).await;
    // Adding a member who is already present must not fail.
    flow.step("entra-18-patch-group-add-members").await;
    flow.add_members(&id, &[&joy]).await;
    flow.expect_members(&id, &[&user, &joy], Some("entra_app"))
        .await;

    // The rename keeps the id and the members.
    flow.step("entra-19-patch-group-replace-displayName").await;
    let read = flow.get(&format!("/Groups/{id}")).await;
    assert_eq!(read.body["displayName"], renamed.as_str());
    flow.expect_members(&id, &[&user, &joy], Some("entra_app"))
        .await;

    // Only the listed member goes, in both remove forms.
    let answer = flow
        .step("entra-20-patch-group-remove-members-value-list")
        .await;
    accepts(&answer, "entra-20", &[&joy]);
    flow.expect_members(&id, &[&joy], Some("entra_app")).await;
    flow.step("entra-18-patch-group-add-members").await;
    flow.expect_members(&id, &[&user, &joy], Some("entra_app"))
        .await;
    let answer = flow
        .step("entra-21-patch-group-remove-member-filter-path")
        .await;
    accepts(&answer, "entra-21", &[&joy]);
    flow.expect_members(&id, &[&joy], Some("entra_app")).await;

    flow.step("entra-22-delete-group").await;
    flow.expect_deleted(&id, Some("entra_app")).await;
    assert_eq!(
        flow.get(&format!("/Users/{joy}")).await.status,
        200,
        "the member users themselves are not deleted"
    );

    // The user's delete ends its lifecycle, so it runs after the group
    // steps that need the user as a member. Under the default policy the
    // account is blocked, marked and hidden, not deleted.
    flow.step("entra-14-delete-user").await;
    flow.get(&format!("/Users/{user}"))
        .await
        .assert_scim_error(404, None);
    let gone = flow
        .filter_users(&format!("userName eq \"{user_name}\""))
        .await;
    assert_eq!(gone.body["totalResults"], 0);
    let kept = flow.drupal(&user_name).await;
    assert_eq!(kept["attributes"]["status"], false, "blocked, kept");
    assert_eq!(kept["attributes"]["field_scim_deprovisioned"], true);
}

/// Okta: the user lifecycle, then Group Push of a group nobody prepared:
/// create, the unchanged-name rename sent before every push, members
/// pushed in each documented form, the AIW PUT (which renames), delete.
/// "Test SCIMv2" grants okta_push, "SCIM_test1" okta_aiw.
pub async fn okta(stand: &impl Stand) {
    let mapping = term_mapping(
        "okta.yaml",
        &[("Test SCIMv2", "okta_push"), ("SCIM_test1", "okta_aiw")],
    );
    let mut flow = Replay::start(stand, Idp::Okta, fresh_values(), mapping).await;
    flow.target
        .drupal
        .forget(
            &["test.user@okta.local", "second.user@okta.local"],
            &["Test SCIMv2", "SCIM_test1"],
        )
        .await;

    let connection = flow.step("okta-01-connection-test-list-users").await;
    assert!(connection.body["totalResults"].is_u64());
    assert!(connection.body["startIndex"].is_u64());
    assert!(connection.body["itemsPerPage"].as_u64().unwrap() <= 2);

    let none = flow.step("okta-02-filter-userName").await;
    assert_eq!(none.body["totalResults"], 0);

    let created = flow.step("okta-03-create-user").await;
    flow.bind("userId", &created.body["id"]);
    flow.person("test.user@okta.local", &created.body["id"]);
    assert_eq!(created.body["userName"], "test.user@okta.local");
    let drupal = flow.drupal("test.user@okta.local").await;
    assert_eq!(drupal["attributes"]["field_first_name"], "Test");
    assert_eq!(drupal["attributes"]["status"], true);
    // Okta's re-POST of the same userName.
    flow.send("okta-03-create-user")
        .await
        .assert_scim_error(409, Some("uniqueness"));
    let found = flow.step("okta-02-filter-userName").await;
    assert_eq!(found.body["totalResults"], 1);

    let read = flow.step("okta-04-get-user").await;
    for pointer in [
        "/id",
        "/userName",
        "/name/givenName",
        "/name/familyName",
        "/active",
        "/emails/0/value",
    ] {
        assert!(
            read.body.pointer(pointer).is_some(),
            "{pointer}: {}",
            read.body
        );
    }

    // middleName is not in the Okta preset; givenName changes with it.
    let put = flow.step("okta-05-put-user").await;
    assert_eq!(put.body["active"], true);
    let drupal = flow.drupal("test.user@okta.local").await;
    assert_eq!(drupal["attributes"]["field_first_name"], "Another");
    assert_eq!(drupal["attributes"]["status"], true);

    flow.step("okta-06-patch-deactivate").await;
    assert_eq!(
        flow.drupal("test.user@okta.local").await["attributes"]["status"],
        false
    );
    assert_eq!(flow.step("okta-04-get-user").await.body["active"], false);
    flow.step("okta-07-patch-reactivate").await;
    assert_eq!(
        flow.drupal("test.user@okta.local").await["attributes"]["status"],
        true
    );

    // Group Push. The connection test's listing: paging numbers.
    let groups = flow.step("okta-08-list-groups").await;
    let total = groups.body["totalResults"].as_u64().unwrap();
    assert_eq!(groups.body["startIndex"], 1);
    assert!(groups.body["itemsPerPage"].is_u64());
    let listed = groups.body["Resources"].as_array().map_or(0, Vec::len);
    assert_eq!(listed as u64, total.min(100), "{}", groups.body);

    let group = flow.step("okta-09-create-group").await;
    flow.bind("groupId", &group.body["id"]);
    let id = flow.value("groupId");
    assert_eq!(group.body["displayName"], "Test SCIMv2");
    assert_eq!(group.body["members"], json!([]));
    // Listed (other tests may add and remove groups on a shared site).
    let listed = flow
        .get("/Groups?filter=displayName%20eq%20%22test%20scimv2%22")
        .await;
    assert_eq!(listed.body["totalResults"], 1, "{}", listed.body);
    assert_eq!(listed.body["Resources"][0]["id"], id.as_str());

    // Sent before every push, with the unchanged name.
    let answer = flow.step("okta-10-patch-group-rename").await;
    accepts(&answer, "okta-10", &[]);
    let read = flow.get(&format!("/Groups/{id}")).await;
    assert_eq!(read.body["displayName"], "Test SCIMv2");

    let user = flow.value("userId");
    let second = flow.create_user("second.user@okta.local").await;
    flow.bind("userId2", &json!(second));
    flow.add_members(&id, &[&second]).await;
    flow.expect_members(&id, &[&second], Some("okta_push"))
        .await;

    let answer = flow.step("okta-11-patch-group-add-members").await;
    accepts(&answer, "okta-11", &[&user, &second]);
    flow.expect_members(&id, &[&user, &second], Some("okta_push"))
        .await;
    let answer = flow.step("okta-12-patch-group-remove-and-add").await;
    accepts(&answer, "okta-12", &[&user]);
    flow.expect_members(&id, &[&user], Some("okta_push")).await;
    let answer = flow.step("okta-13-patch-group-replace-members").await;
    accepts(&answer, "okta-13", &[&user, &second]);
    flow.expect_members(&id, &[&user, &second], Some("okta_push"))
        .await;
    let answer = flow.step("okta-14-patch-group-replace-members-empty").await;
    accepts(&answer, "okta-14", &[]);
    flow.expect_members(&id, &[], Some("okta_push")).await;

    // okta-15, from the AIW flow, renames the group to SCIM_test1 and sets
    // its members: they get what that name grants, and lose okta_push.
    let put = flow.step("okta-15-put-group").await;
    assert_eq!(put.body["id"], id.as_str());
    assert_eq!(put.body["displayName"], "SCIM_test1");
    let wanted: BTreeSet<String> = [user.to_ascii_lowercase(), second.to_ascii_lowercase()]
        .into_iter()
        .collect();
    assert_eq!(ids(&put.body["members"]), wanted, "{}", put.body);
    flow.expect_members(&id, &[&user, &second], Some("okta_aiw"))
        .await;
    for name in ["test.user@okta.local", "second.user@okta.local"] {
        let roles = flow.target.drupal.roles_of(name).await;
        assert!(!roles.contains(&"okta_push".to_string()), "{roles:?}");
    }

    flow.step("okta-16-delete-group").await;
    flow.expect_deleted(&id, Some("okta_aiw")).await;
    assert_eq!(
        flow.drupal("second.user@okta.local").await["attributes"]["status"],
        true,
        "the member users are not touched"
    );
}

/// OneLogin: the user lifecycle with its legacy URNs, then its group push:
/// the group by name (nothing prepared; "Engineering" grants engineering),
/// a member added with the plain add, removed with the filtered path.
pub async fn onelogin(stand: &impl Stand) {
    let mapping = term_mapping("onelogin.yaml", &[("Engineering", "engineering")]);
    let mut flow = Replay::start(stand, Idp::OneLogin, fresh_values(), mapping).await;
    flow.target
        .drupal
        .forget(&["onelogin-test-user01"], &["Engineering"])
        .await;

    let none = flow.step("onelogin-01-filter-userName-plus-encoding").await;
    assert_eq!(none.body["totalResults"], 0);

    let created = flow.step("onelogin-02-create-user-legacy-urns").await;
    flow.bind("userId", &created.body["id"]);
    flow.person("onelogin-test-user01", &created.body["id"]);
    let drupal = flow.drupal("onelogin-test-user01").await;
    assert_eq!(drupal["attributes"]["field_first_name"], "AAA Test");
    assert_eq!(drupal["attributes"]["field_last_name"], "User 01");
    assert_eq!(drupal["attributes"]["mail"], flow.value("email").as_str());
    let found = flow.step("onelogin-01-filter-userName-plus-encoding").await;
    assert_eq!(found.body["totalResults"], 1);

    let put = flow
        .step("onelogin-03-put-user-trailing-question-mark")
        .await;
    assert_eq!(put.body["id"], flow.value("userId").as_str());

    // The user's address changed in OneLogin.
    flow.values
        .insert("email", "aaa.test.user01@new.example.org".into());
    flow.step("onelogin-04-patch-emails-single-object").await;
    assert_eq!(
        flow.drupal("onelogin-test-user01").await["attributes"]["mail"],
        "aaa.test.user01@new.example.org"
    );

    let group = flow.create_group("Engineering", &[]).await;
    flow.bind("groupId", &json!(group));
    let user = flow.value("userId");
    let answer = flow.step("onelogin-05-patch-group-add-member").await;
    accepts(&answer, "onelogin-05", &[&user]);
    flow.expect_members(&group, &[&user], Some("engineering"))
        .await;
    let answer = flow.remove_member(&group, &user).await;
    accepts(&answer, "onelogin remove", &[]);
    flow.expect_members(&group, &[], Some("engineering")).await;
    flow.step("onelogin-05-patch-group-add-member").await;
    assert_eq!(flow.delete(&format!("/Groups/{group}")).await.status, 204);
    flow.expect_deleted(&group, Some("engineering")).await;
}

/// JumpCloud's "Test connection": a test user and a test group (nothing
/// prepared), members pushed and taken back as a value list with no
/// filter, then both deleted. "JumpCloud Engineers" grants engineering.
pub async fn jumpcloud(stand: &impl Stand) {
    let mapping = term_mapping("jumpcloud.yaml", &[("JumpCloud Engineers", "engineering")]);
    let mut flow = Replay::start(stand, Idp::JumpCloud, fresh_values(), mapping).await;
    flow.target
        .drupal
        .forget(&["jane.doe"], &["JumpCloud Engineers"])
        .await;

    let created = flow.step("jumpcloud-01-create-user").await;
    flow.person("jane.doe", &created.body["id"]);
    let user = created.body["id"].as_str().unwrap().to_string();
    let drupal = flow.drupal("jane.doe").await;
    assert_eq!(drupal["attributes"]["mail"], "jane.doe@example.com");
    assert_eq!(drupal["attributes"]["field_first_name"], "Jane");
    assert_eq!(drupal["attributes"]["field_department"], "Engineering");

    // The group as it is in JumpCloud, with its members.
    let created = flow
        .scim(
            reqwest::Method::POST,
            "/Groups",
            Some(
                &json!({"schemas": [GROUP], "displayName": "JumpCloud Engineers",
                         "members": [{"value": user, "display": "jane.doe"}]}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["displayName"], "JumpCloud Engineers");
    let group = created.body["id"].as_str().unwrap().to_string();
    let wanted: BTreeSet<String> = [user.to_ascii_lowercase()].into_iter().collect();
    assert_eq!(ids(&created.body["members"]), wanted, "{}", created.body);
    flow.expect_members(&group, &[&user], Some("engineering"))
        .await;
    let value = json!([{"value": user}]);
    let answer = flow
        .patch_group(
            &group,
            json!([{"op": "remove", "path": "members", "value": value}]),
        )
        .await;
    accepts(&answer, "jumpcloud remove", &[]);
    flow.expect_members(&group, &[], Some("engineering")).await;
    let answer = flow
        .patch_group(
            &group,
            json!([{"op": "add", "path": "members", "value": value}]),
        )
        .await;
    accepts(&answer, "jumpcloud add", &[&user]);
    flow.expect_members(&group, &[&user], Some("engineering"))
        .await;

    assert_eq!(flow.delete(&format!("/Groups/{group}")).await.status, 204);
    flow.expect_deleted(&group, Some("engineering")).await;
    assert_eq!(flow.delete(&format!("/Users/{user}")).await.status, 204);
    flow.get(&format!("/Users/{user}"))
        .await
        .assert_scim_error(404, None);
}

/// Escalation through groups. "Esc Admins" and "Esc Staff" name the
/// protected administrator role without `allow_protected`; "Esc Root"
/// allows it;
/// "Esc Eng A" and "Esc Eng B" both grant engineering. No sequence of group
/// operations through Esc Admins grants administrator; Esc Root does, and
/// then only Esc Root may take it back; leaving one engineering group
/// keeps the role the other grants; a rename changes what the group grants
/// its members, never past what the mapping allows.
pub async fn escalation(stand: &impl Stand) {
    let groups = "  - {display_name: Esc Admins, roles: [administrator]}\n  - {display_name: Esc Staff, roles: [administrator]}\n  - {display_name: Esc Root, roles: [administrator], allow_protected: true}\n  - {display_name: Esc Eng A, roles: [engineering]}\n  - {display_name: Esc Eng B, roles: [engineering]}";
    let mapping = format!(
        "{}group_terms: {{}}\n",
        mapping_with("demo.yaml", groups, "  []")
    );
    let mut flow = Replay::start(stand, Idp::Okta, fresh_values(), mapping).await;
    flow.target
        .drupal
        .forget(&["esc-eve", "esc-alice"], &["Esc %"])
        .await;
    let eve = flow.create_user("esc-eve").await;
    let alice = flow.create_user("esc-alice").await;
    let no_admin = |roles: Vec<String>, step: &str| {
        assert!(
            !roles.contains(&"administrator".to_string()),
            "{step}: {roles:?}"
        );
    };

    // Through Esc Admins, in every form: never administrator.
    let admins = flow.create_group("Esc Admins", &[&eve]).await;
    no_admin(flow.target.drupal.roles_of("esc-eve").await, "create");
    flow.expect_members(&admins, &[&eve], None).await;
    for (step, operations) in [
        (
            "rename away and back",
            json!([{"op": "replace", "path": "displayName", "value": "Esc Admins 2"},
                   {"op": "replace", "path": "displayName", "value": "Esc Admins"}]),
        ),
        (
            "replace members",
            json!([{"op": "replace", "path": "members", "value": [{"value": eve}]}]),
        ),
        (
            "remove and add",
            json!([{"op": "remove", "path": format!("members[value eq \"{eve}\"]")},
                   {"op": "add", "path": "members", "value": [{"value": eve}]}]),
        ),
        (
            "path-less replace",
            json!([{"op": "replace", "value": {"displayName": "Esc Admins", "members": [{"value": eve}]}}]),
        ),
    ] {
        let answer = flow.patch_group(&admins, operations).await;
        assert!(
            [200, 204, 400, 403].contains(&answer.status),
            "{step}: {}",
            answer.body
        );
        no_admin(flow.target.drupal.roles_of("esc-eve").await, step);
    }
    let put = flow
        .scim(
            reqwest::Method::PUT,
            &format!("/Groups/{admins}"),
            Some(&json!({"schemas": [GROUP], "displayName": "Esc Admins",
                         "members": [{"value": eve}, {"value": alice}]})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    no_admin(flow.target.drupal.roles_of("esc-eve").await, "PUT");
    no_admin(flow.target.drupal.roles_of("esc-alice").await, "PUT");
    // A user's groups are read-only: writing them grants nothing either.
    let through_user = flow
        .scim(
            reqwest::Method::PATCH,
            &format!("/Users/{eve}"),
            Some(&json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "add", "path": "groups", "value": [{"value": admins}]}]})),
        )
        .await;
    assert_ne!(through_user.status, 500, "{}", through_user.body);
    no_admin(flow.target.drupal.roles_of("esc-eve").await, "user PATCH");
    flow.expect_members(&admins, &[&eve, &alice], None).await;

    // Esc Root may grant it; then eve is protected, and only Esc Root may
    // take back what it granted.
    let root = flow.create_group("Esc Root", &[]).await;
    flow.add_members(&root, &[&eve]).await;
    assert!(flow
        .target
        .drupal
        .roles_of("esc-eve")
        .await
        .contains(&"administrator".to_string()));
    flow.remove_member(&admins, &eve)
        .await
        .assert_scim_error(403, None);
    let answer = flow.remove_member(&root, &eve).await;
    accepts(&answer, "root remove", &[]);
    no_admin(flow.target.drupal.roles_of("esc-eve").await, "root remove");
    flow.expect_members(&root, &[], None).await;

    // Two groups grant engineering: leaving one keeps it.
    let eng_a = flow.create_group("Esc Eng A", &[&alice]).await;
    let eng_b = flow.create_group("Esc Eng B", &[]).await;
    flow.add_members(&eng_b, &[&alice]).await;
    let engineering = vec!["engineering".to_string()];
    assert_eq!(flow.target.drupal.roles_of("esc-alice").await, engineering);
    let answer = flow.remove_member(&eng_a, &alice).await;
    accepts(&answer, "leave A", &[]);
    assert_eq!(
        flow.target.drupal.roles_of("esc-alice").await,
        engineering,
        "Esc Eng B still grants it"
    );
    flow.add_members(&eng_a, &[&alice]).await;
    // Deleting B keeps what A grants; emptying A takes it back.
    assert_eq!(flow.delete(&format!("/Groups/{eng_b}")).await.status, 204);
    assert_eq!(
        flow.target.drupal.roles_of("esc-alice").await,
        engineering,
        "Esc Eng A still grants it"
    );
    flow.patch_group_ok(
        &eng_a,
        json!([{"op": "replace", "path": "members", "value": []}]),
    )
    .await;
    assert!(flow.target.drupal.roles_of("esc-alice").await.is_empty());

    // What a group grants follows its name.
    flow.add_members(&eng_a, &[&alice]).await;
    flow.rename(&eng_a, "Esc Renamed").await;
    assert!(
        flow.target.drupal.roles_of("esc-alice").await.is_empty(),
        "renamed away: nothing grants engineering"
    );
    flow.rename(&eng_a, "Esc Eng A").await;
    assert_eq!(flow.target.drupal.roles_of("esc-alice").await, engineering);
    // A rename onto a name whose entry does not allow the protected role
    // grants nothing; onto one that allows it, it does, and back takes it.
    let plain = flow.create_group("Esc Plain", &[&eve]).await;
    let other = flow.create_group("Esc Other", &[&eve]).await;
    flow.rename(&plain, "Esc Staff").await;
    no_admin(flow.target.drupal.roles_of("esc-eve").await, "rename");
    assert_eq!(flow.delete(&format!("/Groups/{root}")).await.status, 204);
    flow.rename(&plain, "Esc Root").await;
    let roles = flow.target.drupal.roles_of("esc-eve").await;
    assert!(roles.contains(&"administrator".to_string()), "{roles:?}");
    // eve is protected now: a rename that would change her roles through
    // a group that may not is refused, and the group keeps its name.
    let refused = flow
        .patch_group(
            &other,
            json!([{"op": "replace", "path": "displayName", "value": "Esc Eng B"}]),
        )
        .await;
    refused.assert_scim_error(403, None);
    let kept = flow.get(&format!("/Groups/{other}")).await;
    assert_eq!(kept.body["displayName"], "Esc Other");
    assert!(!flow
        .target
        .drupal
        .roles_of("esc-eve")
        .await
        .contains(&"engineering".to_string()));
    flow.rename(&plain, "Esc Plain").await;
    assert!(flow.target.drupal.roles_of("esc-eve").await.is_empty());

    for group in [&admins, &eng_a, &plain, &other] {
        assert_eq!(flow.delete(&format!("/Groups/{group}")).await.status, 204);
    }
    assert!(flow.target.drupal.roles_of("esc-eve").await.is_empty());
    assert!(flow.target.drupal.roles_of("esc-alice").await.is_empty());
}
