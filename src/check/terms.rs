//! `check` for term-backed groups (the mapping's `group_terms`): the
//! vocabulary, the users' reference field, the term permissions of the
//! bridge's account, the roles group entries grant, and that anonymous
//! visitors cannot read the groups. Reads only.

use super::{Finding, Report};
use crate::config::SiteSettings;
use crate::drupal::{DrupalClient, TermVocabulary};
use crate::mapping::{GroupTerms, Mapping};

const TOPIC: &str = "groups";
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
    check_field(terms, &probe, report);
    check_permissions(client, terms, &probe, report).await;
    check_grants(mapping, &probe, report);
    check_privacy(client, settings, terms, report).await;
}

fn check_field(terms: &GroupTerms, probe: &crate::drupal::VocabularyProbe, report: &mut Report) {
    let field = &terms.user_field;
    match probe.cardinality {
        Some(-1) => report.push(Finding::ok(TOPIC, format!("the user field {field} takes any number of groups"))),
        Some(n) => report.push(Finding::error(
            TOPIC,
            format!("the user field {field} holds at most {n} value(s): users could not be in more groups"),
            "set \"Allowed number of values\" of the field to Unlimited",
        )),
        None => report.push(Finding::warning(
            TOPIC,
            format!("cannot read the storage of the user field {field} (it is missing, or the account may not read field settings)"),
            format!("make sure users have an Entity reference field {field} to taxonomy terms, with an unlimited number of values"),
        )),
    }
    match &probe.target_bundles {
        Some(bundles) if bundles.len() == 1 && bundles[0] == terms.vocabulary => {
            report.push(Finding::ok(
                TOPIC,
                format!("{field} references terms of {} only", terms.vocabulary),
            ))
        }
        Some(bundles) => report.push(Finding::error(
            TOPIC,
            format!(
                "{field} references the vocabularies {bundles:?}, not {} alone",
                terms.vocabulary
            ),
            format!(
                "let the field reference the vocabulary {} only",
                terms.vocabulary
            ),
        )),
        None => report.push(Finding::warning(
            TOPIC,
            format!("cannot read which vocabulary {field} references"),
            format!(
                "make sure the field's reference type is the vocabulary {} only",
                terms.vocabulary
            ),
        )),
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
