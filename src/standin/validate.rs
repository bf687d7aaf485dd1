//! Drupal's user entity constraints (`UserNameConstraint`, `UserNameUnique`,
//! `UserMailUnique`, `UserMailRequired`, `ProtectedUserField`, `Email`).

use super::errors::Violation;
use super::model::User;

/// The languages of a standard Drupal site: English, and the locked
/// `und` (not specified) and `zxx` (not applicable).
const INSTALLED_LANGUAGES: [&str; 3] = ["en", "und", "zxx"];

/// `UserInterface::USERNAME_MAX_LENGTH`.
const USERNAME_MAX_LENGTH: usize = 60;

/// `UserNameConstraintValidator`: every failed rule is its own violation.
pub(crate) fn name_format(name: &str) -> Vec<String> {
    if name.is_empty() {
        return vec![
            "You must enter a username.".to_string(),
            "This value should not be null.".to_string(),
        ];
    }
    let mut problems = Vec::new();
    if name.starts_with(' ') {
        problems.push("The username cannot begin with a space.".to_string());
    }
    if name.ends_with(' ') {
        problems.push("The username cannot end with a space.".to_string());
    }
    if name.contains("  ") {
        problems.push("The username cannot contain multiple spaces in a row.".to_string());
    }
    if name.chars().any(is_illegal_name_char) {
        problems.push("The username contains an illegal character.".to_string());
    }
    if name.chars().count() > USERNAME_MAX_LENGTH {
        problems.push(format!(
            "The username {name} is too long: it must be {USERNAME_MAX_LENGTH} characters or less."
        ));
    }
    problems
}

/// Allowed: ASCII letters, digits, space and `@+_.'-`, plus most non-ASCII
/// characters except control-like ones.
fn is_illegal_name_char(c: char) -> bool {
    let code = c as u32;
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || " @+_.'-".contains(c));
    }
    matches!(code,
        0x80..=0xA0 | 0xAD | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x206F | 0xFEFF | 0xFF01..=0xFF60
        | 0xFFF9..=0xFFFD)
        || c.is_control()
}

/// PHP's `DateTimeZone::listIdentifiers()`, which Drupal allows.
const TIMEZONES: &str = include_str!("timezones.txt");

pub(crate) fn is_allowed_timezone(zone: &str) -> bool {
    TIMEZONES
        .lines()
        .any(|line| !line.starts_with('#') && line == zone)
}

/// A pragmatic RFC 5322 address check (what Drupal's email validator accepts
/// for ordinary addresses).
pub(crate) fn is_valid_mail(mail: &str) -> bool {
    let Some((local, domain)) = mail.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| atext(c) || c == '.');
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    local_ok && !domain.is_empty() && domain.len() <= 253 && domain.split('.').all(label_ok)
}

/// The name, mail and password rules that need the other accounts: run over
/// the edited account (`draft`) against its stored state (`original`).
pub(crate) struct AccountCheck<'a> {
    pub(crate) draft: &'a User,
    pub(crate) original: Option<&'a User>,
    pub(crate) others: &'a [&'a User],
    /// The addresses the check of `mail` sees when the write found them
    /// earlier (`whole_saves::MailsSeen`); else those of `others`.
    pub(crate) mails_seen: Option<&'a super::whole_saves::MailsSeen>,
    /// The caller edits their own account (protected fields need the password).
    pub(crate) own_account: bool,
    pub(crate) caller_administers_users: bool,
    /// `pass.existing` from the request, if given.
    pub(crate) existing_password: Option<&'a str>,
    /// A new password was given.
    pub(crate) password_changed: bool,
    /// The database is MySQL or MariaDB with its default collation
    /// (`Site::accents_ignored`).
    pub(crate) accents_ignored: bool,
}

impl AccountCheck<'_> {
    pub(crate) fn name(&self) -> Vec<Violation> {
        let mut violations: Vec<Violation> = name_format(&self.draft.name)
            .into_iter()
            .map(|m| Violation::new("name", m))
            .collect();
        // Drupal's check ignores case in ASCII only (its query's LIKE on
        // SQLite, the filter on MariaDB); the unique index ignores it in
        // every script, which `name_index` imitates.
        let wanted = &self.draft.name;
        if !wanted.is_empty()
            && self
                .others
                .iter()
                .any(|u| u.name.eq_ignore_ascii_case(wanted))
        {
            violations.push(Violation::new(
                "name",
                format!("The username {} is already taken.", self.draft.name),
            ));
        }
        violations
    }

    /// The unique index on names, which ignores case in every script:
    /// a name that passed [`Self::name`] and differs from another only in
    /// non-ASCII case fails the insert, and Drupal answers 500 with the
    /// database's message (recorded on SQLite and MariaDB).
    pub(crate) fn name_index(&self) -> Option<String> {
        if self.accents_ignored {
            // MariaDB's index ignores accents as well (seen on a real
            // Drupal 10.2: "josetest" beside "jos\u{e9}test").
            let wanted = super::filter::general_ci(&self.draft.name);
            return self
                .others
                .iter()
                .find(|u| super::filter::general_ci(&u.name) == wanted)
                .map(|_| {
                    format!(
                        "SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate entry '{}-{}' for key 'user__name'",
                        self.draft.name, self.draft.langcode
                    )
                });
        }
        let wanted = self.draft.name.to_lowercase();
        self.others
            .iter()
            .any(|u| u.name.to_lowercase() == wanted)
            .then(|| {
                "SQLSTATE[23000]: Integrity constraint violation: 19 UNIQUE constraint failed: users_field_data.name, users_field_data.langcode".to_string()
            })
    }

    fn existing_password_ok(&self) -> bool {
        let stored = self.original.and_then(|u| u.pass.as_deref());
        match (self.existing_password.map(str::trim), stored) {
            (Some(given), Some(stored)) => !given.is_empty() && given == stored,
            _ => false,
        }
    }

    pub(crate) fn pass(&self) -> Vec<Violation> {
        if self.own_account && self.password_changed && !self.existing_password_ok() {
            return vec![Violation::new(
                "pass",
                "Your current password is missing or incorrect; it's required to change the Password.",
            )];
        }
        Vec::new()
    }

    /// The language field's allowed values: the site's languages. The
    /// stand-in is a standard site, with English alone installed (plus
    /// Drupal's locked "not specified" and "not applicable").
    pub(crate) fn preferred_langcode(&self) -> Vec<Violation> {
        // Null is no choice, which the field allows (recorded on 10.2.6).
        let Some(code) = self.draft.preferred_langcode.as_deref() else {
            return Vec::new();
        };
        let changed = self
            .original
            .is_none_or(|u| u.preferred_langcode != self.draft.preferred_langcode);
        if changed && !INSTALLED_LANGUAGES.contains(&code) {
            return vec![Violation::new(
                "preferred_langcode.0.value",
                "The value you selected is not a valid choice.",
            )];
        }
        Vec::new()
    }

    /// The time zone field's allowed values (`AllowedValues`, compared
    /// exactly): PHP's time zone identifiers. Recorded on a real Drupal
    /// 10.2.6: `timezone.0.value: The value you selected is not a valid
    /// choice.` An empty one is filled in with the site's default (as
    /// `user_user_presave` does) before it gets here.
    pub(crate) fn timezone(&self) -> Vec<Violation> {
        let zone = self.draft.timezone.as_str();
        let changed = self.original.is_none_or(|u| u.timezone != zone);
        if changed && !is_allowed_timezone(zone) {
            return vec![Violation::new(
                "timezone.0.value",
                "The value you selected is not a valid choice.",
            )];
        }
        Vec::new()
    }

    pub(crate) fn mail(&self) -> Vec<Violation> {
        let mut violations = Vec::new();
        let original_mail = self.original.and_then(|u| u.mail.as_deref());
        match self.draft.mail.as_deref() {
            Some(mail) => {
                if !is_valid_mail(mail) {
                    violations.push(Violation::new(
                        "mail.0.value",
                        "This value is not a valid email address.",
                    ));
                }
                // Case-sensitive like the recorded SQLite site.
                let taken = match self.mails_seen {
                    Some(seen) => seen
                        .iter()
                        .any(|(uid, held)| *uid != self.draft.uid && held == mail),
                    None => self.others.iter().any(|u| u.mail.as_deref() == Some(mail)),
                };
                if taken {
                    violations.push(Violation::new(
                        "mail",
                        format!("The email address {mail} is already taken."),
                    ));
                }
            }
            None => {
                let required = original_mail.is_some() || !self.caller_administers_users;
                if required {
                    violations.push(Violation::new("mail", "Email field is required."));
                }
            }
        }
        let mail_changed = self.original.is_some() && self.draft.mail.as_deref() != original_mail;
        if self.own_account && mail_changed && !self.existing_password_ok() {
            violations.push(Violation::new(
                "mail",
                "Your current password is missing or incorrect; it's required to change the Email.",
            ));
        }
        violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_name_gives_both_recorded_messages() {
        assert_eq!(
            name_format(""),
            vec![
                "You must enter a username.",
                "This value should not be null."
            ]
        );
    }

    #[test]
    fn double_spaces_and_control_characters_are_two_separate_problems() {
        assert_eq!(
            name_format("bad  name\u{7}"),
            vec![
                "The username cannot contain multiple spaces in a row.",
                "The username contains an illegal character."
            ]
        );
    }

    #[test]
    fn sixty_one_characters_is_too_long() {
        let name = "n".repeat(61);
        assert_eq!(
            name_format(&name),
            vec![format!(
                "The username {name} is too long: it must be 60 characters or less."
            )]
        );
        assert!(name_format(&"n".repeat(60)).is_empty());
    }

    #[test]
    fn email_like_and_accented_names_are_allowed() {
        assert!(name_format("frank@idp.example.org").is_empty());
        assert!(name_format("José O'Brien-Smith").is_empty());
    }

    #[test]
    fn mail_syntax_accepts_ordinary_addresses_only() {
        assert!(is_valid_mail("bob@example.com"));
        assert!(is_valid_mail("first.last+tag@sub.example.org"));
        assert!(!is_valid_mail("not-an-email"));
        assert!(!is_valid_mail("bad-mail"));
        assert!(!is_valid_mail("a@b@c"));
        assert!(!is_valid_mail("a b@example.com"));
    }

    fn user(uid: u64, name: &str, mail: Option<&str>) -> User {
        let mut u = User::new(uid, format!("u{uid}"), name.into(), 0);
        u.mail = mail.map(str::to_string);
        u.pass = Some("secret".into());
        u
    }

    /// The check of a new account `draft` an administrator creates.
    fn created_by_an_administrator<'a>(
        draft: &'a User,
        others: &'a [&'a User],
    ) -> AccountCheck<'a> {
        AccountCheck {
            draft,
            original: None,
            others,
            mails_seen: None,
            own_account: false,
            caller_administers_users: true,
            existing_password: None,
            password_changed: false,
            accents_ignored: false,
        }
    }

    #[test]
    fn on_mariadb_the_name_index_ignores_accents_too() {
        let jose = user(3, "jos\u{e9}", None);
        let others = [&jose];
        let draft = user(4, "JOSE", None);
        let mut check = created_by_an_administrator(&draft, &others);
        assert_eq!(check.name_index(), None, "SQLite tells e from \u{e9}");
        check.accents_ignored = true;
        let message = check.name_index().expect("MariaDB does not");
        assert!(message.contains("'user__name'"), "{message}");
    }

    #[test]
    fn name_uniqueness_ignores_case_and_mail_uniqueness_does_not() {
        let bob = user(4, "bob", Some("bob@example.com"));
        let others = [&bob];
        let draft = user(9, "BOB", Some("BOB@EXAMPLE.COM"));
        let check = created_by_an_administrator(&draft, &others);
        assert_eq!(
            check.name()[0].message,
            "The username BOB is already taken."
        );
        assert!(check.mail().is_empty());
        assert!(check.name_index().is_some());
    }

    #[test]
    fn a_name_differing_only_in_non_ascii_case_passes_the_check_and_fails_the_index() {
        let emile = user(4, "ÉMILE", Some("e1@example.com"));
        let others = [&emile];
        let draft = user(9, "émile", Some("e2@example.com"));
        let check = created_by_an_administrator(&draft, &others);
        assert!(check.name().is_empty());
        assert!(check
            .name_index()
            .is_some_and(|m| m.contains("UNIQUE constraint failed: users_field_data.name")));
    }

    #[test]
    fn clearing_an_existing_mail_is_refused_even_for_administrators() {
        let original = user(3, "alice", Some("a@example.com"));
        let draft = user(3, "alice", None);
        let check = AccountCheck {
            draft: &draft,
            original: Some(&original),
            others: &[],
            mails_seen: None,
            own_account: false,
            caller_administers_users: true,
            existing_password: None,
            password_changed: false,
            accents_ignored: false,
        };
        assert_eq!(
            check.mail(),
            vec![Violation::new("mail", "Email field is required.")]
        );
    }

    #[test]
    fn changing_ones_own_password_needs_the_existing_one() {
        let original = user(2, "scimadmin", Some("s@example.com"));
        let draft = original.clone();
        let mut check = AccountCheck {
            draft: &draft,
            original: Some(&original),
            others: &[],
            mails_seen: None,
            own_account: true,
            caller_administers_users: true,
            existing_password: None,
            password_changed: true,
            accents_ignored: false,
        };
        assert_eq!(check.pass().len(), 1);
        check.existing_password = Some("secret");
        assert!(check.pass().is_empty());
    }
}
