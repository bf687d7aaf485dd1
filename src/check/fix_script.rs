//! `check --fix-script`: the findings as one reviewable shell script of
//! `drush` commands, run from the Drupal site's root. Each finding that a
//! command can fix carries a `Remedy`; the others appear as comments saying
//! what to do by hand. Nothing here runs anything.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{Finding, Severity};
use crate::config::{DrupalAuthMode, SiteSettings};
use crate::mapping::FieldType;

/// The role `check` proposes for the bridge's account.
pub const BRIDGE_ROLE: &str = "scim_bridge";

/// Exactly what the bridge needs: manage accounts, and list roles (for
/// groups; Drupal shows roles only to accounts that administer permissions).
pub const BRIDGE_PERMISSIONS: [&str; 2] = ["administer users", "administer permissions"];

/// Permissions the bridge must not hold.
pub fn excessive(permission: &str) -> bool {
    permission.starts_with("bypass ") || permission == "administer site configuration"
}

/// A fix `drush` can make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Enable the modules JSON:API needs (and basic_auth for `mode: basic`).
    InstallModules,
    AllowJsonApiWrites,
    /// Add a user field of the mapping's type and cardinality.
    CreateField {
        name: String,
        field_type: FieldType,
        multiple: bool,
        target_type: Option<String>,
    },
    /// Create a role the mapping or `protected_roles` names.
    CreateRole {
        machine_name: String,
    },
    /// Create the bridge's role with exactly its permissions and grant it.
    GrantBridgeRole {
        account: String,
    },
    /// Take over-privileged roles away from the bridge's account (after
    /// granting it the bridge's role).
    RevokeRoles {
        account: String,
        roles: Vec<String>,
    },
    /// The bridge logs in as uid 1: a dedicated account instead.
    DedicatedAccount,
    /// Drupal's flood control locks the bridge's account: forget the
    /// failed logins (as `serve` advises when it meets the lock).
    ClearFlood,
}

/// A shell word, quoted when needed.
fn sh(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.,:/@=".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The Drupal field type, widget and the module it needs.
fn field_type(field_type: FieldType) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    Some(match field_type {
        FieldType::String => ("string", "string_textfield", None),
        FieldType::StringLong => ("string_long", "string_textarea", None),
        FieldType::Text => ("text", "text_textfield", Some("text")),
        FieldType::Boolean => ("boolean", "boolean_checkbox", None),
        FieldType::Integer => ("integer", "number", None),
        FieldType::ListString => ("list_string", "options_select", Some("options")),
        FieldType::ListInteger => ("list_integer", "options_select", Some("options")),
        FieldType::Email => ("email", "email_default", None),
        FieldType::Telephone => ("telephone", "telephone_default", Some("telephone")),
        FieldType::Link => ("link", "link_default", Some("link")),
        FieldType::Date | FieldType::Datetime => ("datetime", "datetime_default", Some("datetime")),
        FieldType::EntityReference => ("entity_reference", "entity_reference_autocomplete", None),
        FieldType::Password | FieldType::Timestamp => return None,
    })
}

/// `field_scim_external_id` → `SCIM external id`.
fn label_of(field: &str) -> String {
    let words = field.trim_start_matches("field_").replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars)
            .collect::<String>()
            .replacen("Scim", "SCIM", 1),
        None => field.to_string(),
    }
}

/// Appends `remedy`'s commands to `out`; `before` is the script so far.
fn commands(remedy: &Remedy, settings: &SiteSettings, before: &str, out: &mut String) {
    match remedy {
        Remedy::InstallModules => {
            let mut modules = vec!["jsonapi", "serialization"];
            if settings.drupal.auth.mode() == DrupalAuthMode::Basic {
                modules.push("basic_auth");
            }
            let _ = writeln!(out, "\"$DRUSH\" pm:install -y {}", modules.join(" "));
        }
        Remedy::AllowJsonApiWrites => {
            out.push_str("\"$DRUSH\" config:set -y jsonapi.settings read_only 0\n");
        }
        Remedy::CreateField {
            name,
            field_type: kind,
            multiple,
            target_type,
        } => {
            let Some((drupal_type, widget, module)) = field_type(*kind) else {
                let _ = writeln!(out, "# {name} is a base field: nothing to create.");
                return;
            };
            if let Some(module) = module {
                let _ = writeln!(out, "\"$DRUSH\" pm:install -y {module}");
            }
            let _ = write!(
                out,
                "\"$DRUSH\" field:create user user -y --field-name={} --field-label={} --field-type={drupal_type} --field-widget={widget} --is-required=0 --cardinality={}",
                sh(name),
                sh(&label_of(name)),
                if *multiple { "-1" } else { "1" },
            );
            if let Some(target) = target_type {
                // A JSON:API type such as taxonomy_term--tags: the entity type.
                let entity = target.split("--").next().unwrap_or(target);
                let _ = write!(out, " --target-type={}", sh(entity));
            }
            out.push('\n');
            if *kind == FieldType::Date {
                let _ = writeln!(out, "# {name} should store dates only: set \"Date type: Date only\" in its field settings.");
            }
        }
        Remedy::CreateRole { machine_name } => {
            let _ = writeln!(
                out,
                "\"$DRUSH\" role:create {} {}",
                sh(machine_name),
                sh(&label_of(machine_name))
            );
        }
        Remedy::GrantBridgeRole { account } => {
            bridge_role(before, out);
            let _ = writeln!(
                out,
                "\"$DRUSH\" user:role:add {BRIDGE_ROLE} {}",
                sh(account)
            );
        }
        Remedy::RevokeRoles { account, roles } => {
            for role in roles {
                let _ = writeln!(
                    out,
                    "\"$DRUSH\" user:role:remove {} {}",
                    sh(role),
                    sh(account)
                );
            }
        }
        Remedy::ClearFlood => {
            out.push_str("\"$DRUSH\" sql:query \"DELETE FROM flood\"\n");
        }
        Remedy::DedicatedAccount => {
            bridge_role(before, out);
            out.push_str(
                "# A dedicated account for the bridge; its password comes from BRIDGE_PASSWORD\n\
                 # (never written here). Then set drupal.auth.username: scim-bridge and its\n\
                 # password (file) in the bridge's configuration.\n\
                 : \"${BRIDGE_PASSWORD:?set BRIDGE_PASSWORD to the new account's password}\"\n\
                 \"$DRUSH\" user:information scim-bridge >/dev/null 2>&1 \\\n  \
                 || \"$DRUSH\" user:create scim-bridge --mail=scim-bridge@localhost.invalid --password=\"$BRIDGE_PASSWORD\"\n",
            );
            let _ = writeln!(out, "\"$DRUSH\" user:role:add {BRIDGE_ROLE} scim-bridge");
        }
    }
}

/// Creates the bridge's role once (the script may ask for it twice).
fn bridge_role(before: &str, out: &mut String) {
    let marker = "# (the bridge's role)\n";
    if before.contains(marker) || out.contains(marker) {
        return;
    }
    out.push_str(marker);
    let _ = writeln!(
        out,
        "\"$DRUSH\" role:list --format=list 2>/dev/null | grep -qx {BRIDGE_ROLE} || \"$DRUSH\" role:create {BRIDGE_ROLE} 'SCIM bridge'"
    );
    let _ = writeln!(
        out,
        "\"$DRUSH\" role:perm:add {BRIDGE_ROLE} {}",
        sh(&BRIDGE_PERMISSIONS.join(","))
    );
}

/// The script's opening: one shebang, `set -eu`, the `drush` to use.
const HEADER: &str = "#!/bin/sh\n\
     # Fixes for what `drupal-scim-bridge check` found on the Drupal site.\n\
     # Review it, then run it from the site's root (where vendor/bin/drush is),\n\
     # or set DRUSH to your drush. Run `drupal-scim-bridge check` again after.\n\
     # Every drush command names its site (--uri): in a multisite (one code\n\
     # root, several sites) each command changes the site it names, not the\n\
     # default one.\n\
     set -eu\n\
     DRUSH=${DRUSH:-vendor/bin/drush}\n";

/// The script for `findings` of the one site `settings` describes: every
/// error and warning, in order, with its commands or what to do by hand.
pub fn render(findings: &[Finding], settings: &SiteSettings) -> String {
    format!("{HEADER}{}", part(findings, settings))
}

/// One script for several sites, checked together: one shebang, then each
/// site's part, clearly separated, each drush command naming its site. Run
/// it where all of them are (a multisite's code root); sites on different
/// hosts take one script each (`check --site <id> --fix-script`).
pub fn render_sites<'a>(
    sites: impl IntoIterator<Item = (&'a [Finding], &'a SiteSettings)>,
) -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "# Several sites: each part below fixes one, named in its banner. Run the\n\
         # whole script where all of them are served from one code root (a Drupal\n\
         # multisite); for sites on different hosts, print one script per site\n\
         # with `check --site <id> --fix-script` and run each on its own host.\n",
    );
    for (findings, settings) in sites {
        let _ = write!(
            out,
            "\n# ===== site {}: {} =====\n",
            settings.id, settings.drupal.base_url
        );
        out.push_str(&part(findings, settings));
        let _ = writeln!(out, "# ===== end of site {} =====", settings.id);
    }
    out
}

/// The commands of one site, every drush call with `--uri` of the site.
fn part(findings: &[Finding], settings: &SiteSettings) -> String {
    let mut out = String::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let problems: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity != Severity::Ok)
        .collect();
    if problems.is_empty() {
        out.push_str("\n# Nothing to fix: check found no error and no warning.\n");
        return out;
    }
    // The modules first: nothing else works without JSON:API.
    let mut ordered = problems.clone();
    ordered.sort_by_key(|f| match &f.remedy {
        Some(Remedy::InstallModules) | Some(Remedy::ClearFlood) => 0,
        Some(Remedy::AllowJsonApiWrites) => 1,
        Some(Remedy::GrantBridgeRole { .. }) | Some(Remedy::DedicatedAccount) => 2,
        Some(Remedy::RevokeRoles { .. }) => 4,
        _ => 3,
    });
    for finding in ordered {
        let _ = write!(out, "\n# {}: {}", finding.severity_label(), finding.topic);
        let _ = writeln!(out, ": {}", finding.message.replace('\n', " "));
        match &finding.remedy {
            Some(remedy) => {
                let mut block = String::new();
                commands(remedy, settings, &out, &mut block);
                if done.insert(block.clone()) {
                    out.push_str(&block);
                } else {
                    out.push_str("# (fixed by the commands above)\n");
                }
            }
            None => {
                let fix = finding.fix.as_deref().unwrap_or("see the message");
                let _ = writeln!(out, "# Not scripted; by hand: {}", fix.replace('\n', " "));
            }
        }
    }
    out.push_str("\n\"$DRUSH\" cache:rebuild\n");
    // Every call, the site's: drush otherwise works on the default site.
    out.replace(
        "\"$DRUSH\" ",
        &format!(
            "\"$DRUSH\" --uri={} ",
            sh(&settings.drupal.base_url.to_string())
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SiteSettings {
        crate::config::Settings::from_yaml(
            "scim:\n  tokens: [\"0123456789abcdef-token\"]\ndrupal:\n  base_url: http://127.0.0.1:1\n  auth:\n    mode: basic\n    username: bridge\n    password: pw-pw-pw\n",
        )
        .unwrap()
        .sites
        .remove(0)
    }

    #[test]
    fn each_problem_gets_its_commands_modules_first_and_others_a_comment() {
        let findings = vec![
            Finding::ok("drupal", "answers"),
            Finding::error("field", "field_scim_external_id does not exist", "add it").with_remedy(
                Remedy::CreateField {
                    name: "field_scim_external_id".into(),
                    field_type: FieldType::String,
                    multiple: false,
                    target_type: None,
                },
            ),
            Finding::error("drupal", "no JSON:API", "enable it")
                .with_remedy(Remedy::InstallModules),
            Finding::warning("field", "type not verifiable", "make sure it is text"),
        ];
        let script = render(&findings, &settings());
        let modules = script
            .find("pm:install -y jsonapi serialization basic_auth")
            .unwrap();
        let field = script.find("field:create user user -y --field-name=field_scim_external_id --field-label='SCIM external id' --field-type=string --field-widget=string_textfield --is-required=0 --cardinality=1").unwrap();
        assert!(modules < field, "{script}");
        assert!(script.contains("# Not scripted; by hand: make sure it is text"));
        assert!(
            !script.contains("answers"),
            "ok findings are left out: {script}"
        );
    }

    #[test]
    fn the_bridge_role_holds_exactly_what_it_needs_and_is_made_once() {
        let findings = vec![
            Finding::warning("account", "uid 1", "x").with_remedy(Remedy::DedicatedAccount),
            Finding::error("field", "sees no fields", "y").with_remedy(Remedy::GrantBridgeRole {
                account: "bridge".into(),
            }),
        ];
        let script = render(&findings, &settings());
        assert_eq!(
            script
                .matches("role:perm:add scim_bridge 'administer users,administer permissions'")
                .count(),
            1,
            "{script}"
        );
        assert!(script.contains("user:role:add scim_bridge bridge"));
        assert!(script.contains("--password=\"$BRIDGE_PASSWORD\""));
        assert!(!script.contains("pw-pw-pw"), "no secret in the script");
    }

    #[test]
    fn roles_and_over_privileged_grants_get_their_commands() {
        let findings = vec![
            Finding::error("role", "role editor does not exist", "create it").with_remedy(
                Remedy::CreateRole {
                    machine_name: "editor".into(),
                },
            ),
            Finding::warning("account", "too much", "take it away").with_remedy(
                Remedy::RevokeRoles {
                    account: "bridge".into(),
                    roles: vec!["administrator".into()],
                },
            ),
            Finding::warning("account", "needs its role", "grant").with_remedy(
                Remedy::GrantBridgeRole {
                    account: "bridge".into(),
                },
            ),
        ];
        let script = render(&findings, &settings());
        assert!(script.contains("role:create editor Editor"), "{script}");
        let grant = script.find("user:role:add scim_bridge bridge").unwrap();
        let revoke = script
            .find("user:role:remove administrator bridge")
            .unwrap();
        assert!(
            grant < revoke,
            "the bridge keeps its rights while others go: {script}"
        );
        assert!(excessive("bypass node access") && excessive("administer site configuration"));
        assert!(!excessive("administer users"));
    }

    /// In a multisite (one code root) a drush call without `--uri` changes
    /// the default site: every call names its site, and several sites make
    /// one runnable script (one shebang) of parts clearly separated.
    #[test]
    fn several_sites_make_one_script_whose_every_drush_call_names_its_site() {
        let sites = crate::config::Settings::from_yaml(
            "defaults:\n  drupal:\n    auth: {username: bridge, password: pw-pw-pw}\nsites:\n  - id: alpha\n    scim: {tokens: [\"0123456789abcdef-alpha\"]}\n    drupal: {base_url: \"https://alpha.example.org\"}\n  - id: beta\n    scim: {tokens: [\"0123456789abcdef-beta\"]}\n    drupal: {base_url: \"https://beta.example.org\"}\n",
        )
        .unwrap()
        .sites;
        let findings = vec![
            Finding::error("drupal", "no JSON:API", "enable it")
                .with_remedy(Remedy::InstallModules),
            Finding::error("role", "role editor does not exist", "create it").with_remedy(
                Remedy::CreateRole {
                    machine_name: "editor".into(),
                },
            ),
        ];
        let script = render_sites(sites.iter().map(|s| (findings.as_slice(), s)));
        assert_eq!(script.matches("#!/bin/sh").count(), 1, "{script}");
        assert!(script.starts_with("#!/bin/sh\n"));
        assert_eq!(script.matches("set -eu").count(), 1, "{script}");
        let alpha = script
            .find("# ===== site alpha: https://alpha.example.org =====")
            .unwrap_or_else(|| panic!("{script}"));
        let beta = script
            .find("# ===== site beta: https://beta.example.org =====")
            .unwrap();
        assert!(alpha < beta, "{script}");
        let calls: Vec<&str> = script
            .lines()
            .filter(|l| l.contains("\"$DRUSH\""))
            .collect();
        assert!(!calls.is_empty());
        for call in &calls {
            assert!(
                call.matches("\"$DRUSH\"").count()
                    == call.matches("\"$DRUSH\" --uri=https://").count(),
                "{call}"
            );
        }
        let (first, second) = script.split_at(beta);
        assert!(
            first.contains("\"$DRUSH\" --uri=https://alpha.example.org role:create editor Editor"),
            "{script}"
        );
        assert!(!first.contains("beta.example.org "), "{script}");
        assert!(
            second.contains(
                "\"$DRUSH\" --uri=https://beta.example.org pm:install -y jsonapi serialization"
            ),
            "{script}"
        );
        assert!(second.contains("\"$DRUSH\" --uri=https://beta.example.org cache:rebuild"));
        assert!(!second.contains("alpha.example.org "), "{script}");
        // One site alone: its calls name it too.
        let one = render(&findings, &sites[0]);
        assert!(
            one.contains("\"$DRUSH\" --uri=https://alpha.example.org pm:install"),
            "{one}"
        );
    }
}
