//! The online half of `check`: the Drupal site as the bridge's account sees
//! it. Nothing here writes: whether JSON:API takes writes is asked with a
//! PATCH of a UUID no account has, which Drupal refuses before it looks for
//! the account (405 when read-only, else 404), so no entity is changed.

use std::collections::BTreeSet;

use serde_json::Value;

use super::fix_script::{self, Remedy, BRIDGE_PERMISSIONS, BRIDGE_ROLE};
use super::{fields, Finding, Report};
use crate::config::{DeprovisionPolicy, SiteSettings};
use crate::drupal::{
    CollectionQuery, Condition, DrupalClient, DrupalError, DrupalRole, DrupalUser, Operator,
    UserWrite, DRUPAL_PAGE_CAP,
};
use crate::mapping::Mapping;

const TOPIC: &str = "drupal";

pub(super) async fn check(settings: &SiteSettings, mapping: Option<&Mapping>, report: &mut Report) {
    let client = match DrupalClient::new((&settings.drupal).into()) {
        Ok(client) => client,
        Err(e) => {
            report.push(Finding::error(
                TOPIC,
                e.to_string(),
                "fix drupal.auth.username in the configuration",
            ));
            return;
        }
    };
    if !account_is_accepted(&client, settings, report).await {
        // Every further request would fail the same way, and each failed
        // login counts toward Drupal's flood limit.
        return;
    }
    check_writes(&client, report).await;
    if let Some(mapping) = mapping {
        check_fields(&client, settings, mapping, report).await;
    }
    check_roles(&client, settings, mapping, report).await;
    if let Some(mapping) = mapping {
        check_languages(&client, mapping, report).await;
    }
    if let Some(mapping) = mapping {
        super::terms::check(&client, settings, mapping, report).await;
    }
    check_privileges(&client, settings, report).await;
    // `check` runs where the bridge will: it leaves no session behind.
    client.log_out().await;
}

/// The fix for an account that lacks the bridge's permissions.
fn grant(settings: &SiteSettings) -> Remedy {
    Remedy::GrantBridgeRole {
        account: settings.drupal.auth.account(),
    }
}

/// The bridge's account should hold what it needs and no more: not uid 1,
/// no administrator role, no `bypass ...` and no `administer site
/// configuration`. Needs the roles' permissions, which Drupal lists only
/// to accounts that may administer permissions.
async fn check_privileges(client: &DrupalClient, settings: &SiteSettings, report: &mut Report) {
    let username = settings.drupal.auth.account();
    let account = match client.whoami().await {
        Ok(Some(uuid)) => match client.get_user(&uuid).await {
            Ok(Some(user)) => user,
            _ => return,
        },
        _ => return,
    };
    if account.uid() == Some(1) {
        report.push(
            Finding::warning(
                "account",
                format!("the bridge logs in as {username}, Drupal's first account (uid 1), which may do anything and bypasses every permission"),
                format!("give the bridge its own account holding only the role {BRIDGE_ROLE} ({}), and set drupal.auth to it", BRIDGE_PERMISSIONS.join(", ")),
            )
            .with_remedy(Remedy::DedicatedAccount),
        );
        return;
    }
    let Ok(roles) = client.list_roles().await else {
        return;
    };
    let held: Vec<&DrupalRole> = roles
        .iter()
        .filter(|r| {
            account
                .roles
                .iter()
                .any(|h| h.id == r.id || h.machine_name == r.machine_name)
        })
        .collect();
    let too_much: Vec<String> = held
        .iter()
        .filter(|r| r.is_admin || r.permissions.iter().any(|p| fix_script::excessive(p)))
        .map(|r| r.machine_name.clone())
        .collect();
    if !too_much.is_empty() {
        let why: Vec<String> = held
            .iter()
            .filter(|r| too_much.contains(&r.machine_name))
            .map(|r| {
                let mut grants: Vec<&str> = r
                    .permissions
                    .iter()
                    .map(String::as_str)
                    .filter(|p| fix_script::excessive(p))
                    .collect();
                if r.is_admin {
                    grants.insert(0, "every permission (is_admin)");
                }
                format!("{} grants {}", r.machine_name, grants.join(", "))
            })
            .collect();
        report.push(
            Finding::warning(
                "account",
                format!(
                    "the bridge's account {username} holds more than it needs: {}",
                    why.join("; ")
                ),
                format!(
                    "give it only the role {BRIDGE_ROLE} ({}) and take away {}",
                    BRIDGE_PERMISSIONS.join(", "),
                    too_much.join(", ")
                ),
            )
            .with_remedy(Remedy::RevokeRoles {
                account: username.clone(),
                roles: too_much.clone(),
            }),
        );
        // The bridge's own role must be in place before the others go.
        let kept = |permission: &str| {
            held.iter()
                .filter(|r| !too_much.contains(&r.machine_name))
                .any(|r| r.permissions.iter().any(|p| p == permission))
        };
        if BRIDGE_PERMISSIONS.iter().all(|p| kept(p)) {
            return;
        }
        report.push(
            Finding::warning(
                "account",
                format!(
                    "{username} needs the role {BRIDGE_ROLE} before its other roles are taken away"
                ),
                format!(
                    "create {BRIDGE_ROLE} with {} and grant it",
                    BRIDGE_PERMISSIONS.join(", ")
                ),
            )
            .with_remedy(grant(settings)),
        );
        return;
    }
    let grants = |permission: &str| {
        held.iter()
            .any(|r| r.permissions.iter().any(|p| p == permission))
    };
    let missing: Vec<&str> = BRIDGE_PERMISSIONS
        .into_iter()
        .filter(|p| !grants(p))
        .collect();
    if missing.is_empty() {
        report.push(Finding::ok(
            "account",
            format!("{username} holds what the bridge needs and nothing more"),
        ));
    }
}

/// Whether Drupal answers and runs requests as the bridge's account.
async fn account_is_accepted(
    client: &DrupalClient,
    settings: &SiteSettings,
    report: &mut Report,
) -> bool {
    let base = client.base_url();
    let username = settings.drupal.auth.account();
    match client.whoami().await {
        Ok(Some(_)) => {
            report.push(Finding::ok(TOPIC, format!("{base} answers JSON:API")));
            report.push(Finding::ok(
                TOPIC,
                format!("Drupal accepts the account {username}"),
            ));
            true
        }
        // The login was refused by Drupal's flood control, not for the
        // password: a right password is refused too until the lock ends.
        // (The client tells the two apart itself.)
        Err(DrupalError::LoginPaused { reason: why, .. }) => {
            report.push(Finding::ok(TOPIC, format!("{base} answers JSON:API")));
            report.push(Finding::error(
                TOPIC,
                format!("Drupal's flood control blocks the account {username} (too many failed logins): Drupal refuses its logins even with the right password ({why})"),
                "clear the lock with `drush sql:query \"DELETE FROM flood\"` in the site's root (or wait up to 6 hours), then run check again; if the failed logins were the bridge's, fix drupal.auth first",
            ).with_remedy(Remedy::ClearFlood));
            false
        }
        // A session or token login refused for its credentials fails the
        // same way as basic credentials Drupal runs as anonymous. (Basic
        // credentials of a flood-locked account run as anonymous too: Drupal
        // answers nothing that tells the two apart.)
        Ok(None) | Err(DrupalError::Credentials(_)) => {
            report.push(Finding::ok(TOPIC, format!("{base} answers JSON:API")));
            report.push(Finding::error(
                TOPIC,
                format!("Drupal does not accept the account {username}: it runs the bridge's requests as anonymous"),
                "check drupal.auth (username and password, or the OAuth2 client), and that the account is active; each failed login counts, and after 5 Drupal refuses the account for 6 hours even with the right password (clear that lock with `drush sql:query \"DELETE FROM flood\"`)",
            ));
            false
        }
        Err(e) => {
            report.push(unreachable(base, settings, &e));
            false
        }
    }
}

fn unreachable(base: &str, settings: &SiteSettings, error: &DrupalError) -> Finding {
    match error {
        DrupalError::Unreachable(why) => Finding::error(
            TOPIC,
            format!("cannot reach Drupal at {base}: {why}"),
            "check drupal.base_url, that the site is up, and that this host may connect to it",
        ),
        DrupalError::Timeout => Finding::error(
            TOPIC,
            format!(
                "Drupal at {base} did not answer within {} s",
                settings.drupal.timeout.as_secs()
            ),
            "check drupal.base_url and the network; raise drupal.timeout_secs for a slow site",
        ),
        DrupalError::Credentials(why) => Finding::error(
            TOPIC,
            format!("Drupal at {base} refused the credentials: {why}"),
            "check drupal.auth; for mode basic, enable Drupal's basic_auth module",
        ),
        DrupalError::Protocol(why) | DrupalError::Unreadable(why) => Finding::error(
            TOPIC,
            format!("{base} does not answer like Drupal JSON:API: {why}"),
            "check drupal.base_url (the site's root, without /jsonapi) and that the JSON:API module is enabled",
        )
        .with_remedy(Remedy::InstallModules),
        DrupalError::Certificate(why) => Finding::error(
            TOPIC,
            format!("the bridge does not trust the HTTPS certificate of {base}: {why}"),
            "if an internal CA signed it, set drupal.ca_file to that CA's PEM certificate; otherwise renew or fix the site's certificate",
        ),
        DrupalError::Redirected { location, .. } => Finding::error(
            TOPIC,
            format!("{base} redirects the bridge's requests to {location}"),
            "set drupal.base_url to the address Drupal is served at (the site's root, often https://)",
        ),
        other => Finding::error(
            TOPIC,
            format!("Drupal at {base}: {other}"),
            "look at Drupal's log (Reports › Recent log messages)",
        ),
    }
}

async fn check_writes(client: &DrupalClient, report: &mut Report) {
    let nobody = uuid::Uuid::new_v4().to_string();
    match client.update_user(&nobody, &UserWrite::default()).await {
        Err(DrupalError::NotFound) => {
            report.push(Finding::ok(TOPIC, "JSON:API accepts writes"));
        }
        Err(DrupalError::ReadOnly) => report.push(Finding::error(
            TOPIC,
            "JSON:API accepts only read operations, so every create and update would fail",
            format!(
                "choose \"Accept all JSON:API create, read, update, and delete operations\" at {}/admin/config/services/jsonapi",
                client.base_url()
            ),
        ).with_remedy(Remedy::AllowJsonApiWrites)),
        Ok(_) => report.push(Finding::warning(
            TOPIC,
            format!("a write probe for the unknown UUID {nobody} was accepted"),
            "tell the bridge's maintainers: Drupal should answer 404",
        )),
        Err(e) => report.push(Finding::warning(
            TOPIC,
            format!("cannot tell whether JSON:API accepts writes: {e}"),
            "make sure \"Accept all JSON:API create, read, update, and delete operations\" is chosen at /admin/config/services/jsonapi",
        )),
    }
}

/// Drupal accepts in `preferred_langcode` only a language the site has
/// installed; the bridge writes a user whose language it lacks without it.
async fn check_languages(client: &DrupalClient, mapping: &Mapping, report: &mut Report) {
    if !mapping
        .mapped_fields()
        .iter()
        .any(|f| f.name == "preferred_langcode")
    {
        return;
    }
    let installed = match client.list_languages().await {
        Ok(languages) if !languages.is_empty() => {
            format!("the site has the languages {}", languages.join(", "))
        }
        // The Language module is off: English alone.
        Err(DrupalError::NotFound) => "the site has English alone".to_string(),
        _ => "the bridge's account cannot list the site's languages (a standard site has English alone)".to_string(),
    };
    // Information, not a warning: a standard site with English alone is
    // ready, and users of other languages are provisioned all the same.
    report.push(Finding::ok(
        "field",
        format!("the mapping writes preferred_langcode, which Drupal accepts only in a language installed on the site; {installed}. A user whose language is not installed is written without it, and the bridge logs the language (install it under Configuration › Regional and language › Languages)"),
    ));
}

async fn check_fields(
    client: &DrupalClient,
    settings: &SiteSettings,
    mapping: &Mapping,
    report: &mut Report,
) {
    // Any filter leaves out the anonymous user, which shows no fields.
    let query = CollectionQuery {
        filter: Some(Condition::null_check("name", Operator::IsNotNull)),
        limit: Some(DRUPAL_PAGE_CAP),
        ..CollectionQuery::default()
    };
    let accounts = match client.list_users(&query).await {
        Ok(page) => page.users,
        Err(e) => {
            report.push(
                Finding::error(
                    "field",
                    format!("cannot list accounts to compare fields: {e}"),
                    "give the bridge's account the \"administer users\" permission",
                )
                .with_remedy(grant(settings)),
            );
            return;
        }
    };
    if accounts.is_empty() {
        report.push(
            Finding::error(
                "field",
                "the bridge's account sees no account's fields",
                "give the bridge's account the \"administer users\" permission",
            )
            .with_remedy(grant(settings)),
        );
        return;
    }
    for field in mapping.mapped_fields() {
        // Base fields exist on every site; only custom ones can be missing.
        if field.name.starts_with("field_") {
            report.push(fields::compare(&field, &accounts));
        }
    }
    check_marker_field(settings, mapping, &accounts, report);
}

/// Under the `block` policy the bridge marks deprovisioned accounts in a
/// boolean field; without it, SCIM DELETE only blocks.
fn check_marker_field(
    settings: &SiteSettings,
    mapping: &Mapping,
    accounts: &[DrupalUser],
    report: &mut Report,
) {
    let policy = &settings.policy;
    if policy.deprovision != DeprovisionPolicy::Block
        || mapping
            .mapped_fields()
            .iter()
            .any(|f| f.name == policy.deprovisioned_field)
    {
        return;
    }
    let field = &policy.deprovisioned_field;
    let values: Vec<Value> = accounts
        .iter()
        .filter_map(|a| a.attributes.get(field))
        .collect();
    if values.is_empty() {
        report.push(
            Finding::warning(
                "field",
                format!("{field} does not exist: SCIM DELETE will only block accounts, and blocked accounts stay visible to the IdP"),
                format!("add a Boolean field {field} to the user entity, or set deprovisioned_field"),
            )
            .with_remedy(Remedy::CreateField {
                name: field.clone(),
                field_type: crate::mapping::FieldType::Boolean,
                multiple: false,
                target_type: None,
            }),
        );
    } else if values.iter().any(|v| !(v.is_null() || v.is_boolean())) {
        report.push(Finding::error(
            "field",
            format!("{field} is not a Boolean field, so SCIM DELETE cannot mark accounts"),
            "make it a Boolean field, or set deprovisioned_field to one",
        ));
    } else {
        report.push(Finding::ok(
            "field",
            format!("{field} marks deprovisioned accounts"),
        ));
    }
}

async fn check_roles(
    client: &DrupalClient,
    settings: &SiteSettings,
    mapping: Option<&Mapping>,
    report: &mut Report,
) {
    let mapped: BTreeSet<&str> = mapping
        .map(|m| {
            m.exposed_groups()
                .iter()
                .map(|g| g.role.as_str())
                .chain(m.rule_roles())
                .collect()
        })
        .unwrap_or_default();
    let roles = match client.list_roles().await {
        Ok(roles) if !roles.is_empty() => roles,
        // Drupal lists no role, not even `authenticated`, to an account
        // without "administer permissions" (it answers `meta.omitted`,
        // which the client reports as refused).
        Ok(_) | Err(DrupalError::Forbidden(_)) => {
            let needed = !mapped.is_empty();
            let message = "the bridge's account may not list roles, so groups and role rules cannot work and protected roles cannot be verified";
            let fix = "give the bridge's account the \"administer permissions\" permission";
            report.push(
                if needed {
                    Finding::error("role", message, fix)
                } else {
                    Finding::warning("role", message, fix)
                }
                .with_remedy(grant(settings)),
            );
            return;
        }
        Err(e) => {
            report.push(
                Finding::error(
                    "role",
                    format!("cannot list roles: {e}"),
                    "give the bridge's account the \"administer permissions\" permission",
                )
                .with_remedy(grant(settings)),
            );
            return;
        }
    };
    for role in &mapped {
        let finding = role_finding(
            &roles,
            role,
            "the mapping uses it",
            "create it under People › Roles, or correct the machine name in the mapping",
        );
        report.push(match finding.severity {
            super::Severity::Ok => finding,
            _ => finding.with_remedy(Remedy::CreateRole {
                machine_name: role.to_string(),
            }),
        });
    }
    for role in &settings.policy.protected_roles {
        // A role the mapping uses was reported above: once is enough when
        // it exists (when it does not, this says why that matters too).
        let exists = roles.iter().any(|r| &r.machine_name == role);
        if exists && mapped.contains(role.as_str()) {
            continue;
        }
        report.push(role_finding(
            &roles,
            role,
            "it is listed in protected_roles",
            "correct protected_roles: accounts meant to be protected are not",
        ));
    }
}

fn role_finding(roles: &[DrupalRole], wanted: &str, why: &str, fix: &str) -> Finding {
    if roles.iter().any(|r| r.machine_name == wanted) {
        return Finding::ok("role", format!("role {wanted} exists"));
    }
    let by_label = roles
        .iter()
        .find(|r| r.label.eq_ignore_ascii_case(wanted))
        .map(|r| {
            format!(
                " (the role labelled \"{}\" has the machine name {})",
                r.label, r.machine_name
            )
        })
        .unwrap_or_default();
    Finding::error(
        "role",
        format!("role {wanted} does not exist on the site, but {why}{by_label}"),
        fix,
    )
}
