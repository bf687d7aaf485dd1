//! A preferred language the Drupal site does not have installed.
//!
//! Drupal accepts in `preferred_langcode` only a language installed on the
//! site (a standard site has English alone), and refuses any other with a
//! 422 "The value you selected is not a valid choice." on that field. Were
//! the refusal passed on, the user's every later write would fail too, as
//! each carries the same language again, and none of their other changes
//! would reach Drupal. So the write is sent again without that one field,
//! and the operator is told which language to install.

use crate::drupal::document::UserWrite;
use crate::drupal::{DrupalError, DrupalUser};
use crate::untrusted::quote;

use super::Provisioner;

const FIELD: &str = "preferred_langcode";

/// Whether `error` is Drupal's refusal of the `preferred_langcode` sent.
fn refuses_langcode(error: &DrupalError) -> bool {
    let DrupalError::Validation(errors) = error else {
        return false;
    };
    errors.iter().any(|e| {
        let on_field = match e.pointer.as_deref() {
            Some(pointer) => pointer
                .strip_prefix("/data/attributes/")
                .is_some_and(|rest| rest == FIELD || rest.starts_with("preferred_langcode/")),
            None => e.detail.starts_with(FIELD),
        };
        on_field && e.detail.contains("not a valid choice")
    })
}

/// The same write without its `preferred_langcode`, when Drupal refused
/// that; `None` when the refusal is of anything else.
fn without_langcode(error: &DrupalError, write: &UserWrite) -> Option<(UserWrite, String)> {
    if !refuses_langcode(error) {
        return None;
    }
    let sent = write.attributes.get(FIELD)?;
    let langcode = sent
        .as_str()
        .map_or_else(|| sent.to_string(), str::to_string);
    let mut rest = write.clone();
    rest.attributes.remove(FIELD);
    Some((rest, langcode))
}

fn warn_uninstalled(langcode: &str) {
    tracing::warn!(
        langcode = %quote(langcode),
        "Drupal refused the user's preferred language: the site does not have it installed. The account was written without it; install that language in Drupal (Configuration › Regional and language › Languages) to keep users' preferred language"
    );
}

impl Provisioner {
    /// The e-mail address `write` sets, held until the guard is dropped:
    /// Drupal's check that an address is free and its insert are not one
    /// step, so writes of one address take turns, and the second meets
    /// the first's address in Drupal's check (409 `uniqueness`) instead of
    /// both saving it. Addresses are compared ignoring case, as Drupal's
    /// check does.
    async fn claim_mail(
        &self,
        write: &UserWrite,
    ) -> Option<crate::drupal::account_locks::AccountGuard<'_>> {
        let mail = write.attributes.get("mail")?.as_str()?.trim();
        if mail.is_empty() {
            return None;
        }
        Some(self.mail_claims.lock(&mail.to_lowercase()).await)
    }

    /// `DrupalClient::create_user`, the write sent again without its
    /// preferred language when Drupal does not have that language.
    pub(super) async fn create_in_drupal(
        &self,
        write: &UserWrite,
    ) -> Result<DrupalUser, DrupalError> {
        let _claim = self.claim_mail(write).await;
        match self.drupal.create_user(write).await {
            Err(e) => match without_langcode(&e, write) {
                Some((rest, langcode)) => {
                    warn_uninstalled(&langcode);
                    self.drupal.create_user(&rest).await
                }
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// `DrupalClient::update_user`, likewise.
    pub(super) async fn update_in_drupal(
        &self,
        id: &str,
        write: &UserWrite,
    ) -> Result<DrupalUser, DrupalError> {
        let _claim = self.claim_mail(write).await;
        match self.drupal.update_user(id, write).await {
            Err(e) => match without_langcode(&e, write) {
                Some((rest, langcode)) => {
                    warn_uninstalled(&langcode);
                    self.drupal.update_user(id, &rest).await
                }
                None => Err(e),
            },
            ok => ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::drupal::document::ApiError;

    fn refusal(pointer: &str, detail: &str) -> DrupalError {
        DrupalError::Validation(vec![ApiError {
            status: 422,
            detail: detail.into(),
            pointer: Some(pointer.into()),
        }])
    }

    fn write() -> UserWrite {
        let mut write = UserWrite::default();
        write.attributes.insert("name".into(), json!("ada"));
        write.attributes.insert(FIELD.into(), json!("de"));
        write
    }

    #[test]
    fn only_the_refused_language_is_left_out() {
        let e = refusal(
            "/data/attributes/preferred_langcode/value",
            "preferred_langcode.0.value: The value you selected is not a valid choice.",
        );
        let (rest, langcode) = without_langcode(&e, &write()).expect("sent again");
        assert_eq!(langcode, "de");
        assert!(!rest.attributes.contains_key(FIELD));
        assert_eq!(rest.attributes["name"], "ada");
    }

    #[test]
    fn other_refusals_are_passed_on() {
        let e = refusal(
            "/data/attributes/timezone/value",
            "timezone.0.value: The value you selected is not a valid choice.",
        );
        assert!(without_langcode(&e, &write()).is_none());
        let e = refusal(
            "/data/attributes/mail",
            "mail: The email address a@b.c is already taken.",
        );
        assert!(without_langcode(&e, &write()).is_none());
        let e = refusal(
            "/data/attributes/preferred_langcode/value",
            "preferred_langcode.0.value: The value you selected is not a valid choice.",
        );
        assert!(without_langcode(&e, &UserWrite::default()).is_none());
    }
}
