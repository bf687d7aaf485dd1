//! `check` for term-backed groups (the mapping's `group_terms`): the
//! vocabulary, the users' reference field, the term permissions of the
//! bridge's account, the roles group entries grant, and that anonymous
//! visitors cannot read the groups. Reads only.

use serde_json::Value;

use super::{Finding, Report};
use crate::config::SiteSettings;
use crate::drupal::{
    CollectionQuery, Condition, DrupalClient, DrupalUser, Operator, TermVocabulary, DRUPAL_PAGE_CAP,
};
use crate::mapping::{GroupTerms, Mapping};

const TOPIC: &str = "groups";
const MANAGE_FIELDS: &str = "Configuration › People › Account settings › Manage fields";
const ADMINISTER_TAXONOMY: &str = "administer taxonomy";

pub(super) async fn check(
    client: &DrupalClient,
    settings: &SiteSettings,
    mapping: &Mapping,
    report: &mut Report,
) {
    let Some(terms) = mapping.group_terms() else {
        return;
    };
    let vocabulary = TermVocabulary {
        vocabulary: terms.vocabulary.clone(),
        user_field: terms.user_field.clone(),
        external_id_field: terms.external_id_field.clone(),
    };
    let vid = &terms.vocabulary;
    let probe = match client.probe_vocabulary(&vocabulary).await {
        Ok(Some(probe)) => {
            report.push(Finding::ok(
                TOPIC,
                format!("the vocabulary {vid} answers over JSON:API"),
            ));
            probe
        }
        Ok(None) => {
            report.push(Finding::error(
                TOPIC,
                format!("there is no vocabulary {vid} (GET /jsonapi/taxonomy_term/{vid} is 404)"),
                format!("enable the Taxonomy module and add the vocabulary with the machine name {vid} at {}/admin/structure/taxonomy/add, or correct group_terms.vocabulary", client.base_url()),
            ));
            return;
        }
        Err(e) => {
            report.push(Finding::error(
                TOPIC,
                format!("cannot read the vocabulary {vid}: {e}"),
                "check the bridge's account and the Taxonomy module",
            ));
            return;
        }
    };
    check_field(client, terms, &probe, report).await;
    check_permissions(client, terms, &probe, report).await;
    check_grants(mapping, &probe, report);
    check_privacy(client, settings, terms, report).await;
}

/// How the users' group field appears on accounts, for an account that
/// may not read field settings: Drupal shows field storage and field
/// settings (`field_storage_config`, `field_config`) only to accounts with
/// "administer user fields", which the bridge does not need, but it shows
/// every field on an account read.
#[derive(Debug, PartialEq)]
enum AsShown {
    /// No account could be read: nothing can be said.
    Unreadable(String),
    /// No account shows the field.
    Missing,
    /// Shown as an attribute: not an entity reference.
    NotReference,
    /// A relationship holding one value (`data` is null or an object).
    OneValue,
    /// A relationship holding a list; the JSON:API types of the entities
    /// accounts reference now.
    Several { referenced: Vec<String> },
}

async fn field_as_shown(client: &DrupalClient, field: &str) -> AsShown {
    // Any filter leaves out the anonymous user, which shows no fields.
    let query = CollectionQuery {
        filter: Some(Condition::null_check("name", Operator::IsNotNull)),
        limit: Some(DRUPAL_PAGE_CAP),
        ..CollectionQuery::default()
    };
    match client.list_users(&query).await {
        Ok(page) => as_shown(&page.users, field),
        Err(e) => AsShown::Unreadable(format!("cannot list accounts: {e}")),
    }
}

fn as_shown(accounts: &[DrupalUser], field: &str) -> AsShown {
    // Accounts Drupal stripped to their display name say nothing.
    let full: Vec<&DrupalUser> = accounts
        .iter()
        .filter(|a| !a.relationships.is_empty() || a.attributes.get_ref("name").is_some())
        .collect();
    if full.is_empty() {
        return AsShown::Unreadable("the bridge's account sees no account's fields".into());
    }
    let data: Vec<&Value> = full
        .iter()
        .filter_map(|a| a.relationships.get(field).and_then(|r| r.get("data")))
        .collect();
    if data.is_empty() {
        return if full.iter().any(|a| a.attributes.get_ref(field).is_some()) {
            AsShown::NotReference
        } else {
            AsShown::Missing
        };
    }
    if !data.iter().any(|d| d.is_array()) {
        return AsShown::OneValue;
    }
    let mut referenced: Vec<String> = data
        .iter()
        .filter_map(|d| d.as_array())
        .flatten()
        .filter_map(|item| item.get("type").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    referenced.sort_unstable();
    referenced.dedup();
    AsShown::Several { referenced }
}

async fn check_field(
    client: &DrupalClient,
    terms: &GroupTerms,
    probe: &crate::drupal::VocabularyProbe,
    report: &mut Report,
) {
    let field = &terms.user_field;
    let vid = &terms.vocabulary;
    let settings_unread = probe.cardinality.is_none() || probe.target_bundles.is_none();
    if settings_unread && !check_field_as_shown(client, terms, report).await {
        return;
    }
    match probe.cardinality {
        Some(-1) => report.push(Finding::ok(TOPIC, format!("the user field {field} takes any number of groups"))),
        Some(n) => report.push(Finding::error(
            TOPIC,
            format!("the user field {field} holds at most {n} value(s): users could not be in more groups"),
            "set \"Allowed number of values\" of the field to Unlimited",
        )),
        None => {}
    }
    match &probe.target_bundles {
        Some(bundles) if bundles.len() == 1 && bundles[0] == *vid => report.push(Finding::ok(
            TOPIC,
            format!("{field} references terms of {vid} only"),
        )),
        Some(bundles) => report.push(Finding::error(
            TOPIC,
            format!("{field} references the vocabularies {bundles:?}, not {vid} alone"),
            format!("let the field reference the vocabulary {vid} only"),
        )),
        None => {}
    }
}

/// What accounts show of the group field, where its settings cannot be
/// read; `false` when the field is unfit, and the rest says nothing more.
async fn check_field_as_shown(
    client: &DrupalClient,
    terms: &GroupTerms,
    report: &mut Report,
) -> bool {
    let field = &terms.user_field;
    let vid = &terms.vocabulary;
    let settings = format!("{MANAGE_FIELDS} › {field}");
    let add = format!("add an Entity reference field {field} to the user entity under {MANAGE_FIELDS} (reference type: Taxonomy term, vocabulary {vid} only; allowed number of values: Unlimited), or correct group_terms.user_field");
    match field_as_shown(client, field).await {
        AsShown::Unreadable(why) => {
            report.push(Finding::warning(
                TOPIC,
                format!("cannot verify the user field {field}: {why}"),
                format!("give the bridge's account \"administer users\", or make sure by hand that {settings} is an Entity reference to terms of {vid} only, with an unlimited number of values"),
            ));
            true
        }
        AsShown::Missing => {
            report.push(Finding::error(
                TOPIC,
                format!("users have no field {field} (group_terms.user_field): no account shows it, so no user could be a member of a term-backed group"),
                add,
            ));
            false
        }
        AsShown::NotReference => {
            report.push(Finding::error(
                TOPIC,
                format!(
                    "the user field {field} is not an entity reference, so it cannot hold groups"
                ),
                add,
            ));
            false
        }
        AsShown::OneValue => {
            report.push(Finding::error(
                TOPIC,
                format!("the user field {field} holds one value: users could not be in more than one group"),
                format!("set \"Allowed number of values\" to Unlimited under {settings}"),
            ));
            false
        }
        AsShown::Several { referenced } => {
            let term_type = format!("taxonomy_term--{vid}");
            let foreign: Vec<&String> = referenced.iter().filter(|t| **t != term_type).collect();
            if !foreign.is_empty() {
                let names: Vec<&str> = foreign.iter().map(|t| t.as_str()).collect();
                report.push(Finding::error(
                    TOPIC,
                    format!(
                        "the user field {field} references {}, not terms of {vid} alone",
                        names.join(", ")
                    ),
                    format!("let the field reference the vocabulary {vid} only, under {settings}"),
                ));
                return false;
            }
            // Information, not a warning: the field is there and holds
            // several values; what is left is only readable with a
            // permission the bridge should not hold.
            report.push(Finding::ok(
                TOPIC,
                format!("the user field {field} exists, references entities and holds several values. Not verified: that their number is unlimited and that they are terms of {vid} only, since Drupal shows a field's settings only to accounts with \"administer user fields\", which the bridge does not need. Verify by hand under {settings}: Allowed number of values Unlimited, Reference type Taxonomy term, vocabulary {vid} only"),
            ));
            true
        }
    }
}

/// The permissions of the bridge's account, from its roles.
async fn check_permissions(
    client: &DrupalClient,
    terms: &GroupTerms,
    probe: &crate::drupal::VocabularyProbe,
    report: &mut Report,
) {
    let account = match client.whoami().await {
        Ok(Some(id)) => client.get_user(&id).await.ok().flatten(),
        _ => None,
    };
    let Some(account) = account else {
        report.push(Finding::warning(
            TOPIC,
            "cannot read the bridge's own account to verify its term permissions",
            "give it \"administer users\"",
        ));
        return;
    };
    let first_account = account.uid() == Some(1);
    let vid = &terms.vocabulary;
    // Drupal shows the roles and their permissions only to an account that
    // administers permissions: without it the list is empty (or lacks the
    // account's roles), and nothing can be said of what the account holds.
    let readable = |role: &crate::drupal::RoleRef| {
        probe
            .roles
            .iter()
            .any(|(name, _, _)| !role.machine_name.is_empty() && *name == role.machine_name)
    };
    let unreadable =
        !first_account && (probe.roles.is_empty() || !account.roles.iter().all(readable));
    if unreadable {
        report.push(Finding::warning(
            TOPIC,
            format!("cannot read the permissions of the bridge's roles, so cannot verify that it may create, edit and delete terms in {vid}{}", if terms.published { "" } else { " and read unpublished ones (\"administer taxonomy\")" }),
            "give the bridge's account \"administer permissions\" to let check verify them (Drupal shows roles' permissions only to such accounts)",
        ));
        return;
    }
    let held: Vec<&(String, bool, Vec<String>)> = probe
        .roles
        .iter()
        .filter(|(name, _, _)| account.roles.iter().any(|r| &r.machine_name == name))
        .collect();
    let has = |permission: &str| {
        first_account
            || held
                .iter()
                .any(|(_, admin, perms)| *admin || perms.iter().any(|p| p == permission))
    };
    let missing: Vec<String> = ["create", "edit", "delete"]
        .iter()
        .map(|op| format!("{op} terms in {vid}"))
        .filter(|p| !has(p) && !has(ADMINISTER_TAXONOMY))
        .collect();
    if missing.is_empty() {
        report.push(Finding::ok(
            TOPIC,
            format!("the bridge's account may create, edit and delete terms in {vid}"),
        ));
    } else {
        report.push(Finding::error(
            TOPIC,
            format!("the bridge's account lacks {}", missing.join(", ")),
            "grant these permissions to a role of the bridge's account (People › Permissions)",
        ));
    }
    if !terms.published && !has(ADMINISTER_TAXONOMY) {
        report.push(Finding::error(
            TOPIC,
            "groups are kept unpublished, and Drupal 10 lets only \"administer taxonomy\" read unpublished terms: the bridge would not see its own groups",
            "grant \"administer taxonomy\" to the bridge's account, or set group_terms.published: true (group names then become readable by anyone with \"access content\")",
        ));
    }
}

fn check_grants(mapping: &Mapping, probe: &crate::drupal::VocabularyProbe, report: &mut Report) {
    for grant in mapping.group_grants() {
        for role in &grant.roles {
            if probe.roles.iter().any(|(name, _, _)| name == role) {
                report.push(Finding::ok(
                    "role",
                    format!(
                        "role {role} (granted by group \"{}\") exists",
                        grant.display_name
                    ),
                ));
            } else if !probe.roles.is_empty() {
                report.push(Finding::error(
                    "role",
                    format!(
                        "role {role} does not exist, but the group \"{}\" grants it",
                        grant.display_name
                    ),
                    "create it under People › Roles, or correct the machine name in the mapping",
                ));
            }
        }
    }
}

/// Reads the vocabulary as an anonymous visitor: it must show nothing.
async fn check_privacy(
    client: &DrupalClient,
    settings: &SiteSettings,
    terms: &GroupTerms,
    report: &mut Report,
) {
    let vid = &terms.vocabulary;
    if terms.published {
        report.push(Finding::warning(
            TOPIC,
            "group_terms.published is true: anyone with \"access content\", anonymous visitors included, can read the groups' names and external ids",
            "remove published: true (the default keeps groups unpublished)",
        ));
    }
    let url = format!("{}/jsonapi/taxonomy_term/{vid}", client.base_url());
    let anonymous = reqwest::Client::builder()
        .timeout(settings.drupal.timeout)
        .build();
    let answer = match anonymous {
        Ok(http) => {
            http.get(&url)
                .header("Accept", "application/vnd.api+json")
                .send()
                .await
        }
        Err(e) => {
            report.push(Finding::warning(
                TOPIC,
                format!("cannot read {url} anonymously: {e}"),
                "read it in a private browser window: it must list no term",
            ));
            return;
        }
    };
    let body: Option<serde_json::Value> = match answer {
        Ok(response) if response.status().is_success() => response.json().await.ok(),
        Ok(_) => None,
        Err(e) => {
            report.push(Finding::warning(
                TOPIC,
                format!("cannot read {url} anonymously: {e}"),
                "read it in a private browser window: it must list no term",
            ));
            return;
        }
    };
    let visible = body
        .as_ref()
        .and_then(|b| b.get("data"))
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    if visible > 0 {
        report.push(Finding::error(
            TOPIC,
            format!("anonymous visitors can read {visible} group(s) of {vid}, with their names and external ids"),
            "keep groups unpublished (remove group_terms.published: true) and unpublish the existing terms",
        ));
    } else {
        report.push(Finding::ok(
            TOPIC,
            format!("anonymous visitors read no group of {vid}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn account(relationships: Value, attributes: Value) -> DrupalUser {
        DrupalUser::from_resource(json!({
            "type": "user--user",
            "id": "8320440e-6115-48fc-bfd4-0ce20990c699",
            "attributes": attributes,
            "relationships": relationships,
        }))
        .expect("a user")
    }

    #[test]
    fn the_group_field_is_read_off_accounts() {
        let named = json!({"name": "ada"});
        let several = account(json!({"field_g": {"data": []}}), named.clone());
        assert_eq!(
            as_shown(std::slice::from_ref(&several), "field_g"),
            AsShown::Several { referenced: vec![] }
        );
        let member = account(
            json!({"field_g": {"data": [{"type": "taxonomy_term--tags", "id": "x"}]}}),
            named.clone(),
        );
        assert_eq!(
            as_shown(&[several, member], "field_g"),
            AsShown::Several {
                referenced: vec!["taxonomy_term--tags".into()]
            }
        );
        let one = account(json!({"field_g": {"data": null}}), named.clone());
        assert_eq!(as_shown(&[one], "field_g"), AsShown::OneValue);
        let text = account(json!({}), json!({"name": "ada", "field_g": "x"}));
        assert_eq!(as_shown(&[text], "field_g"), AsShown::NotReference);
        let without = account(json!({"roles": {"data": []}}), named);
        assert_eq!(as_shown(&[without], "field_g"), AsShown::Missing);
        assert!(matches!(as_shown(&[], "field_g"), AsShown::Unreadable(_)));
    }
}
