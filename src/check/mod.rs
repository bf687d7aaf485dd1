//! `drupal-scim-bridge check`: everything that can be known before serving.
//! Offline, the configuration and the mapping; online, whether Drupal
//! answers, accepts the bridge's account, takes writes, and has every field
//! and role the mapping names. Each finding is one line saying what to do.

mod fields;
mod site;
mod terms;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Settings, CLEARTEXT_WARNING};
use crate::mapping::Mapping;
use crate::provisioning::ActiveMapping;

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
}

impl Finding {
    fn ok(topic: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Ok,
            topic,
            message: message.into(),
            fix: None,
        }
    }

    fn warning(topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            topic,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    fn error(topic: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            topic,
            message: message.into(),
            fix: Some(fix.into()),
        }
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

    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }

    /// `2 errors, 1 warning` or `no problems found`.
    pub fn summary(&self) -> String {
        let (errors, warnings) = (self.count(Severity::Error), self.count(Severity::Warning));
        if errors + warnings == 0 {
            return "no problems found".into();
        }
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        )
    }
}

/// Checks the configuration file, its mapping, and the Drupal site.
pub async fn run(config: &Path) -> Report {
    let mut report = Report::default();
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => {
            report.push(Finding::error(
                "config",
                e.to_string(),
                "fix the file; deploy/bridge.example.yaml describes every key",
            ));
            return report;
        }
    };
    report.push(Finding::ok(
        "config",
        format!("{} is valid", config.display()),
    ));
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
    let mapping = check_mapping(&settings, &mut report);
    site::check(&settings, mapping.as_deref(), &mut report).await;
    report
}

/// The mapping, if it loads.
fn check_mapping(settings: &Settings, report: &mut Report) -> Option<Arc<Mapping>> {
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
            });
            return None;
        }
    };
    let mapping = Arc::new(mapping);
    if let Err(e) = ActiveMapping::new(mapping.clone()) {
        report.push(Finding::error(
            "mapping",
            format!("{file}: {e}"),
            "give each custom schema its own URN",
        ));
    }
    let errors_before = report.count(Severity::Error);
    check_protected_roles(settings, &mapping, report);
    if report.count(Severity::Error) == errors_before {
        report.push(Finding::ok(
            "mapping",
            format!(
                "{file} is valid: {} fields, {} custom schemas, {} groups",
                mapping.mapped_fields().len(),
                mapping.custom_schemas().len(),
                mapping.exposed_groups().len()
            ),
        ));
    }
    Some(mapping)
}

/// A protected role reaches the IdP only where the mapping says
/// `allow_protected: true`.
fn check_protected_roles(settings: &Settings, mapping: &Mapping, report: &mut Report) {
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
            report.push(Finding::error(
                "mapping",
                format!("{file}: the group for role {} exposes a protected role", group.role),
                "add `allow_protected: true` to that group if the IdP may manage who holds it, or remove the group",
            ));
        }
    }
    for role in mapping.rule_roles() {
        if protected(role) && !allowed(role) {
            report.push(Finding::error(
                "mapping",
                format!("{file}: a role rule grants the protected role {role}"),
                format!(
                    "list {role} under `groups:` with `allow_protected: true`, or remove the rule"
                ),
            ));
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
