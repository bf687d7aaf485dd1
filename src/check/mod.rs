//! `drupal-scim-bridge check`: everything that can be known before serving.
//! Offline, the configuration and the mapping; online, whether Drupal
//! answers, accepts the bridge's account, takes writes, and has every field
//! and role the mapping names. Each finding is one line saying what to do.

mod fields;
pub mod fix_script;
mod site;
mod terms;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Settings, SiteSettings, CLEARTEXT_JWKS_WARNING, CLEARTEXT_WARNING};
use crate::mapping::Mapping;
use crate::provisioning::ActiveMapping;
use fix_script::Remedy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    /// Serving works, but something deserves a look.
    Warning,
    /// Serving would fail or do harm.
    Error,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// What was checked: `config`, `mapping`, `drupal`, `field`, `role`.
    pub topic: &'static str,
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
    /// The `drush` commands that fix it, when commands can.
    pub remedy: Option<Remedy>,
}

impl Finding {
    fn ok(topic: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Ok,
            topic,
            message: message.into(),
            fix: None,
            remedy: None,
        }
    }

    fn warning(topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            topic,
            message: message.into(),
            fix: Some(fix.into()),
            remedy: None,
        }
    }

    fn error(topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            topic,
            message: message.into(),
            fix: Some(fix.into()),
            remedy: None,
        }
    }
}

impl Finding {
    /// The same finding, fixed by `remedy` in `check --fix-script`.
    pub fn with_remedy(mut self, remedy: Remedy) -> Finding {
        self.remedy = Some(remedy);
        self
    }

    fn severity_label(&self) -> &'static str {
        self.severity.label()
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8}{}: {}",
            self.severity.label(),
            self.topic,
            self.message
        )?;
        if let Some(fix) = &self.fix {
            write!(f, " — {fix}")?;
        }
        Ok(())
    }
}

/// Every finding, in the order the checks ran.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Each site checked, with the range of `findings` that are its own
    /// (for the fix script, which fixes each site on its own host).
    sites: Vec<(SiteSettings, std::ops::Range<usize>)>,
}

impl Report {
    fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// A shell script of the `drush` commands that fix what was found.
    pub fn fix_script(&self) -> String {
        match self.sites.as_slice() {
            [] => {
                let why: String = self
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Error)
                    .flat_map(|f| {
                        f.to_string()
                            .lines()
                            .map(|l| format!("# {l}\n"))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                format!("#!/bin/sh\n# The configuration does not load, so the site was not checked: fix it first.\n{why}exit 1\n")
            }
            [(settings, _)] => fix_script::render(&self.findings, settings),
            sites => fix_script::render_sites(
                sites
                    .iter()
                    .map(|(settings, range)| (&self.findings[range.clone()], settings)),
            ),
        }
    }

    /// The configuration loaded (some site was checked), or not.
    pub fn checked_a_site(&self) -> bool {
        !self.sites.is_empty()
    }

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// `2 errors, 1 warning` or `no problems found`.
    pub fn summary(&self) -> String {
        let (errors, warnings) = (self.count(Severity::Error), self.count(Severity::Warning));
        if errors + warnings == 0 {
            return "no problems found".into();
        }
        format!(
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}

/// `1 group`, `2 groups`.
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Checks the configuration file, and each site's mapping and Drupal site
/// (or only the site `only`).
pub async fn run(config: &Path, only: Option<&str>) -> Report {
    let mut report = Report::default();
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => {
            let message = e.to_string();
            let fix = if e.from_environment() {
                "fix or unset that environment variable; deploy/bridge.example.yaml describes every key"
            } else {
                "fix the file; deploy/bridge.example.yaml describes every key"
            };
            report.push(Finding::error("config", message, fix));
            return report;
        }
    };
    report.push(Finding::ok(
        "config",
        format!("{} is valid", config.display()),
    ));
    // Start-up opens the audit file, and refuses to start without it.
    if let Some(file) = &settings.audit.file {
        if let Err(e) = crate::audit::AuditTrail::probe(file) {
            report.push(Finding::error(
                "config",
                format!("{e}: the bridge will not start"),
                "create the directory, and let the bridge's user write to it (or to the file)",
            ));
        }
    }
    let sites: Vec<&SiteSettings> = match only {
        None => settings.sites.iter().collect(),
        Some(id) => match settings.site(id) {
            Some(site) => vec![site],
            None => {
                let ids: Vec<&str> = settings.sites.iter().map(|s| s.id.as_str()).collect();
                report.push(Finding::error(
                    "config",
                    format!("{} has no site {id:?}", config.display()),
                    format!("name one of: {}", ids.join(", ")),
                ));
                return report;
            }
        },
    };
    for site in sites {
        let first = report.findings.len();
        check_site(site, &mut report).await;
        let end = report.findings.len();
        report.sites.push((site.clone(), first..end));
        if settings.multi_site {
            for finding in &mut report.findings[first..] {
                finding.message = format!("site {}: {}", site.id, finding.message);
            }
        }
    }
    report
}

/// One site: its settings, mapping and Drupal.
async fn check_site(settings: &SiteSettings, report: &mut Report) {
    if settings.dry_run {
        report.push(Finding::warning(
            "config",
            "dry_run is on: the bridge will log Drupal writes and not send them",
            "set dry_run: false once the new mapping is right",
        ));
    }
    if settings.drupal.is_cleartext_to_another_host() {
        let (message, fix) = CLEARTEXT_WARNING;
        report.push(Finding::warning("config", message, fix));
    }
    for (place, _) in settings.scim.cleartext_jwks_urls() {
        let (message, fix) = CLEARTEXT_JWKS_WARNING;
        report.push(Finding::warning("scim", format!("{place} {message}"), fix));
    }
    // The credentials as `serve` builds them: a JWT key file that is no
    // public key in PEM fails there, so it fails here.
    if let Err(e) = crate::http::clients::Clients::new(&settings.scim) {
        report.push(Finding::error(
            "scim",
            format!("the SCIM clients' settings cannot be used: {e}"),
            "give scim.jwt (or a client's jwt) public_key_files that hold PEM public keys (-----BEGIN PUBLIC KEY-----), or a jwks_url",
        ));
    }
    let mapping = check_mapping(settings, report);
    site::check(settings, mapping.as_deref(), report).await;
}

/// The mapping, if it loads.
fn check_mapping(settings: &SiteSettings, report: &mut Report) -> Option<Arc<Mapping>> {
    let file = settings.mapping.display();
    let mapping = match Mapping::load_file(&settings.mapping) {
        Ok(mapping) => mapping,
        Err(e) => {
            // The message already says file, line, column and how to fix it.
            report.push(Finding {
                severity: Severity::Error,
                topic: "mapping",
                message: e.to_string(),
                fix: None,
                remedy: None,
            });
            return None;
        }
    };
    let mapping = Arc::new(mapping);
    let errors_before = report.count(Severity::Error);
    if let Err(e) = ActiveMapping::new(mapping.clone()) {
        report.push(Finding::error(
            "mapping",
            format!("{file}: {e}"),
            "give each custom schema its own URN",
        ));
    }
    if let Err(e) = crate::provisioning::check_policy_fields(&mapping, &settings.policy) {
        // The message names file, line, column, the rule and the fix.
        report.push(Finding {
            severity: Severity::Error,
            topic: "mapping",
            message: e.to_string(),
            fix: None,
            remedy: None,
        });
    }
    check_protected_roles(settings, &mapping, report);
    if report.count(Severity::Error) == errors_before {
        // Every entry of `groups`: role-backed ones and the term-backed
        // ones that grant roles.
        let groups = mapping.exposed_groups().len() + mapping.group_grants().len();
        report.push(Finding::ok(
            "mapping",
            format!(
                "{file} is valid: {}, {}, {}",
                plural(mapping.mapped_fields().len(), "field"),
                plural(mapping.custom_schemas().len(), "custom schema"),
                plural(groups, "group")
            ),
        ));
    }
    Some(mapping)
}

/// A protected role reaches the IdP only where the mapping says
/// `allow_protected: true`. `serve` starts with such a mapping and leaves
/// the role out (the group is not exposed, the rule or term group grants
/// nothing), warning at start-up; `check` says the same, with the same
/// severity.
fn check_protected_roles(settings: &SiteSettings, mapping: &Mapping, report: &mut Report) {
    let file = settings.mapping.display();
    let protected = |role: &str| settings.policy.protected_roles.iter().any(|p| p == role);
    let allowed = |role: &str| {
        mapping
            .exposed_groups()
            .iter()
            .any(|g| g.role == role && g.allow_protected)
    };
    for group in mapping.exposed_groups() {
        if protected(&group.role) && !group.allow_protected {
            report.push(Finding::warning(
                "mapping",
                format!(
                    "{file}: the role {} is listed in protected_roles; the group \"{}\" is NOT exposed, so the identity provider cannot grant it",
                    group.role, group.display_name
                ),
                "add `allow_protected: true` to that group if the IdP may manage who holds it, or remove the group",
            ));
        }
    }
    for role in mapping.rule_roles() {
        if protected(role) && !allowed(role) {
            report.push(Finding::warning(
                "mapping",
                format!("{file}: a role rule grants the protected role {role}; rules naming it grant nothing"),
                format!(
                    "list {role} under `groups:` with `allow_protected: true`, or remove the rule"
                ),
            ));
        }
    }
    for grant in mapping.group_grants() {
        for role in grant.roles.iter().filter(|r| protected(r)) {
            if !grant.allow_protected {
                report.push(Finding::warning(
                    "mapping",
                    format!(
                        "{file}: the term group \"{}\" grants the protected role {role}; it does NOT grant it",
                        grant.display_name
                    ),
                    "add `allow_protected: true` to its entry if the IdP may grant it, or remove the role",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_one_line_with_what_to_do() {
        let finding = Finding::error(
            "drupal",
            "JSON:API is read-only",
            "switch it off at /admin/config/services/jsonapi",
        );
        assert_eq!(
            finding.to_string(),
            "error   drupal: JSON:API is read-only — switch it off at /admin/config/services/jsonapi"
        );
        assert_eq!(
            Finding::ok("config", "bridge.yaml is valid").to_string(),
            "ok      config: bridge.yaml is valid"
        );
    }

    #[test]
    fn counts_are_pluralised() {
        assert_eq!(plural(1, "group"), "1 group");
        assert_eq!(plural(2, "group"), "2 groups");
        assert_eq!(plural(0, "custom schema"), "0 custom schemas");
    }

    #[test]
    fn the_summary_counts_errors_and_warnings() {
        let mut report = Report::default();
        assert_eq!(report.summary(), "no problems found");
        report.push(Finding::ok("config", "fine"));
        report.push(Finding::warning("field", "unverifiable", "look"));
        report.push(Finding::error("role", "missing", "create it"));
        report.push(Finding::error("role", "missing too", "create it"));
        assert_eq!(report.summary(), "2 errors, 1 warning");
        assert!(report.has_errors());
    }
}
