//! The deprovisioning marker: under the `block` policy a SCIM DELETE blocks
//! the Drupal account and sets a boolean field on it, so that the account
//! stays in Drupal with its content but is gone for SCIM. The bridge keeps no
//! state of its own; the marker lives in Drupal.
//!
//! A site without the field still works: the first Drupal answer that says
//! the field does not exist switches the marker off (logged once), and SCIM
//! DELETE then only blocks. No probe request is spent up front.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use crate::config::{DeprovisionPolicy, PolicySettings};
use crate::drupal::{Condition, DrupalError, DrupalUser, Operator};

pub struct DeprovisionMarker {
    /// The field, when the policy needs one.
    field: Option<String>,
    /// Set once Drupal said the field does not exist.
    missing: AtomicBool,
}

impl DeprovisionMarker {
    pub fn new(policy: &PolicySettings) -> DeprovisionMarker {
        DeprovisionMarker {
            field: (policy.deprovision == DeprovisionPolicy::Block)
                .then(|| policy.deprovisioned_field.clone()),
            missing: AtomicBool::new(false),
        }
    }

    /// The marker field, unless the policy needs none or the site lacks it.
    pub fn field(&self) -> Option<&str> {
        self.field
            .as_deref()
            .filter(|_| !self.missing.load(Ordering::Relaxed))
    }

    /// Whether `error` is Drupal saying the marker field does not exist; if
    /// so the marker is switched off and the caller retries without it.
    pub fn absorb_missing_field(&self, error: &DrupalError) -> bool {
        let Some(field) = self.field() else {
            return false;
        };
        let mentions_field = |detail: &str| detail.contains(field) && detail.contains("not exist");
        let missing = match error {
            DrupalError::Rejected {
                status: 400,
                detail,
            } => mentions_field(detail),
            DrupalError::Validation(errors) => errors.iter().any(|e| mentions_field(&e.detail)),
            _ => false,
        };
        if missing && !self.missing.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                field,
                "the deprovisioning marker field does not exist on the Drupal user entity: SCIM DELETE will only block accounts, and blocked accounts stay visible to SCIM; add a boolean field with this machine name to the user entity and restart the bridge"
            );
        }
        missing
    }

    /// Whether SCIM DELETE marked this account.
    pub fn is_marked(&self, user: &DrupalUser) -> bool {
        self.field()
            .is_some_and(|field| match user.attributes.get(field) {
                Some(Value::Bool(b)) => b,
                Some(v) => v.as_i64() == Some(1),
                None => false,
            })
    }
}

/// Accounts that SCIM DELETE has not marked: the field is empty or false.
pub fn not_marked(field: &str) -> Condition {
    Condition::any(vec![
        Condition::null_check(field, Operator::IsNull),
        Condition::field(field, Operator::Eq, "0"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drupal::document::ApiError;
    use std::time::Duration;

    pub(super) fn policy(deprovision: DeprovisionPolicy) -> PolicySettings {
        PolicySettings {
            deprovision,
            deprovisioned_field: "field_scim_deprovisioned".into(),
            protected_roles: vec![],
            count_cache: Duration::ZERO,
            role_cache: Duration::ZERO,
            account_cache: Duration::ZERO,
            unknown_members: Default::default(),
            group_patch_reads: Default::default(),
        }
    }

    #[test]
    fn delete_policy_needs_no_marker() {
        assert_eq!(
            DeprovisionMarker::new(&policy(DeprovisionPolicy::Delete)).field(),
            None
        );
    }

    #[test]
    fn drupal_saying_the_field_is_missing_switches_the_marker_off() {
        let marker = DeprovisionMarker::new(&policy(DeprovisionPolicy::Block));
        assert_eq!(marker.field(), Some("field_scim_deprovisioned"));
        let unrelated = DrupalError::Rejected {
            status: 400,
            detail: "something else".into(),
        };
        assert!(!marker.absorb_missing_field(&unrelated));
        let missing = DrupalError::Validation(vec![ApiError {
            status: 422,
            detail: "The attribute field_scim_deprovisioned does not exist on the user--user resource type.".into(),
            pointer: None,
        }]);
        assert!(marker.absorb_missing_field(&missing));
        assert_eq!(marker.field(), None);
    }
}

#[cfg(test)]
mod owned_field_tests {
    use super::*;
    use crate::mapping::Mapping;
    use crate::provisioning::check_policy_fields;

    fn policy(field: &str) -> PolicySettings {
        PolicySettings {
            deprovisioned_field: field.into(),
            ..super::tests::policy(DeprovisionPolicy::Block)
        }
    }

    fn mapping(extra: &str) -> Mapping {
        Mapping::parse(
            &format!("rules:\n  - scim: userName\n    drupal: name\n{extra}"),
            "m.yaml",
        )
        .unwrap()
    }

    /// A rule writing the marker would deprovision (hide) the accounts it
    /// sets it on: refused, placed like any mapping error (file, line,
    /// column of its `drupal:`), naming the rule and the fix, whatever its
    /// type.
    #[test]
    fn a_rule_writing_the_deprovisioning_marker_is_refused() {
        for rule in [
            "  - {scim: title, drupal: field_scim_deprovisioned, type: boolean}\n",
            "  - {scim: title, drupal: field_scim_deprovisioned}\n",
        ] {
            let error = check_policy_fields(&mapping(rule), &policy("field_scim_deprovisioned"))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("m.yaml:4:27: rule 2 (scim: title): it writes field_scim_deprovisioned, the deprovisioning marker")
                    && error.contains("— delete the rule"),
                "{error}"
            );
        }
        // Another marker field, set in the configuration.
        let own = "  - {scim: title, drupal: field_gone, type: boolean}\n";
        assert!(check_policy_fields(&mapping(own), &policy("field_gone")).is_err());
        assert!(check_policy_fields(&mapping(own), &policy("field_scim_deprovisioned")).is_ok());
        // Read, not written: harmless.
        let read = "  - {scim: title, drupal: field_gone, direction: from_drupal}\n";
        assert!(check_policy_fields(&mapping(read), &policy("field_gone")).is_ok());
    }

    /// Every shipped preset fits the default marker field.
    #[test]
    fn the_presets_write_no_marker() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let mapping = Mapping::load_file(&path).unwrap();
                check_policy_fields(&mapping, &policy("field_scim_deprovisioned"))
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
}
