//! The users' reference field of term-backed groups (`group_terms.user_field`)
//! on a site that does not have it: Drupal refuses every user read that
//! includes it (400 "`field_scim_groups` is not a valid relationship field
//! name"). Users are still provisioned then, read without their term-backed
//! groups, as a missing deprovisioning marker degrades DELETE to a block
//! (`marker`); the field is tried again every [`RETRY_AFTER`], so a site
//! that adds it needs no restart.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::drupal::DrupalError;

/// How long a field Drupal said is missing is left out of reads.
const RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct GroupField {
    /// When Drupal last said the field does not exist.
    missing_since: Mutex<Option<Instant>>,
}

impl GroupField {
    /// Whether reads leave `field` out now: Drupal said it does not exist,
    /// less than [`RETRY_AFTER`] ago.
    pub fn is_missing(&self) -> bool {
        self.missing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < RETRY_AFTER)
    }

    /// Whether `error` is Drupal saying `field` is no relationship of users;
    /// if so, reads leave it out for a while (the caller reads again
    /// without it) and an error is logged naming what to set up.
    pub fn absorb_missing(&self, error: &DrupalError, field: &str) -> bool {
        let DrupalError::Rejected {
            status: 400,
            detail,
        } = error
        else {
            return false;
        };
        let named = format!("`{field}` is not a valid relationship field name");
        if !detail.contains(&named) {
            return false;
        }
        let mut since = self
            .missing_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !since.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
            tracing::error!(
                field,
                "the Drupal user entity has no field {field}, which the mapping's group_terms names (user_field): users are provisioned without their term-backed groups, and group requests fail; add the field (README, \"SCIM groups: taxonomy terms or Drupal roles\", Drupal set-up) or delete group_terms from the mapping; the bridge tries the field again every 5 minutes"
            );
        }
        *since = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_drupals_word_that_the_field_is_missing_leaves_it_out() {
        let field = GroupField::default();
        assert!(!field.is_missing());
        let other = DrupalError::Rejected {
            status: 400,
            detail: "`roles2` is not a valid relationship field name. Possible values: roles."
                .into(),
        };
        assert!(!field.absorb_missing(&other, "field_scim_groups"));
        assert!(!field.is_missing());
        let missing = DrupalError::Rejected {
            status: 400,
            detail: "`field_scim_groups` is not a valid relationship field name. Possible values: roles.".into(),
        };
        assert!(field.absorb_missing(&missing, "field_scim_groups"));
        assert!(field.is_missing());
    }
}
