//! Errors of the mapping layer. A bad mapping file is reported the way a
//! compiler reports a bad source file: `file:line:column: which rule: what
//! is wrong — how to fix it`.

use std::fmt;

use super::document::{self, NodePath};

/// What went wrong while loading or applying a mapping.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// The mapping file could not be read at all.
    #[error("{file}: cannot read the mapping file: {source}")]
    Unreadable {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid mapping.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
    /// A SCIM value cannot become the Drupal value a rule asks for
    /// (for example `"maybe"` for a boolean field).
    #[error("{item}: {problem}")]
    Value { item: Item, problem: String },
}

/// Where and why a mapping file is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
    /// The rule, group, role rule or schema the problem belongs to, if any.
    pub item: Option<Item>,
    pub problem: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(item) = &self.item {
            write!(f, "{item}: ")?;
        }
        f.write_str(&self.problem)?;
        if let Some(hint) = &self.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

/// The section of the mapping file an entry lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Rule,
    Schema,
    Group,
    RoleRule,
}

impl Section {
    pub(super) fn key(self) -> &'static str {
        match self {
            Section::Rule => "rules",
            Section::Schema => "schemas",
            Section::Group => "groups",
            Section::RoleRule => "role_rules",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Section::Rule => "rule",
            Section::Schema => "schema",
            Section::Group => "group",
            Section::RoleRule => "role rule",
        }
    }

    /// The keys whose value best names an entry of this section.
    pub(super) fn label_keys(self) -> &'static [&'static str] {
        match self {
            Section::Rule => &["scim", "template", "constant", "drupal"],
            Section::Schema => &["urn", "name"],
            Section::Group => &["role", "display_name"],
            Section::RoleRule => &["when", "role"],
        }
    }
}

/// One entry of the file, as a person would point at it:
/// `rule 3 (scim: name.givenName)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub section: Section,
    /// 1-based position in its section.
    pub number: usize,
    /// `key: value` of the entry's most telling key, as written in the file.
    pub label: Option<String>,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.section.noun(), self.number)?;
        if let Some(label) = &self.label {
            write!(f, " ({label})")?;
        }
        Ok(())
    }
}

/// A semantic problem found after the file was deserialised. It points at
/// a node of the document; line, column and the entry's label are looked up
/// in the source text only when the problem is reported.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Problem {
    pub at: NodePath,
    pub problem: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn new(at: NodePath, problem: impl Into<String>) -> Problem {
        Problem {
            at,
            problem: problem.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    pub fn maybe_hint(mut self, hint: Option<String>) -> Problem {
        self.hint = hint;
        self
    }

    pub fn into_error(self, source: &str, file: &str) -> MappingError {
        let (line, column) = document::locate(source, &self.at);
        MappingError::Invalid(Box::new(Diagnostic {
            file: file.to_string(),
            line,
            column,
            item: self
                .at
                .entry_of()
                .map(|(section, index)| document::item(source, section, index)),
            problem: self.problem,
            hint: self.hint,
        }))
    }
}

/// The closest candidate to `wanted`, if it is close enough to be a typo.
pub(super) fn closest<'a, I>(wanted: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let wanted = wanted.to_ascii_lowercase();
    let budget = (wanted.chars().count() / 3).clamp(1, 4);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `did you mean "x"?` when some candidate is close to `wanted`.
pub(crate) fn did_you_mean<'a, I>(wanted: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(wanted, candidates).map(|c| format!("did you mean \"{c}\"?"))
}

/// Optimal string alignment distance: edits, with a swap of two
/// neighbouring letters (`mial`/`mail`) counted as one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let cell = if i == 0 || j == 0 {
                i + j
            } else {
                let cost = usize::from(a.get(i - 1) != b.get(j - 1));
                let mut best = (table.get(at(i - 1, j)).copied().unwrap_or(0) + 1)
                    .min(table.get(at(i, j - 1)).copied().unwrap_or(0) + 1)
                    .min(table.get(at(i - 1, j - 1)).copied().unwrap_or(0) + cost);
                let swapped =
                    i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1);
                if swapped {
                    best = best.min(table.get(at(i - 2, j - 2)).copied().unwrap_or(0) + 1);
                }
                best
            };
            if let Some(slot) = table.get_mut(at(i, j)) {
                *slot = cell;
            }
        }
    }
    table.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_a_one_letter_typo_and_ignores_case() {
        let got = closest("name.givenNam", ["name.familyName", "name.givenName"]);
        assert_eq!(got, Some("name.givenName"));
        assert_eq!(closest("USERNAME", ["userName"]), Some("userName"));
    }

    #[test]
    fn closest_counts_swapped_letters_as_one_typo() {
        assert_eq!(closest("mial", ["name", "mail"]), Some("mail"));
    }

    #[test]
    fn closest_refuses_candidates_that_are_not_typos() {
        assert_eq!(closest("department", ["userName", "title"]), None);
    }

    #[test]
    fn diagnostic_reads_like_a_compiler_message() {
        let d = Diagnostic {
            file: "mappings/okta.yaml".into(),
            line: 12,
            column: 5,
            item: Some(Item {
                section: Section::Rule,
                number: 3,
                label: Some("scim: name.givenNam".into()),
            }),
            problem: "unknown SCIM attribute \"name.givenNam\"".into(),
            hint: Some("did you mean \"name.givenName\"?".into()),
        };
        assert_eq!(
            d.to_string(),
            "mappings/okta.yaml:12:5: rule 3 (scim: name.givenNam): unknown SCIM attribute \
             \"name.givenNam\" — did you mean \"name.givenName\"?"
        );
    }
}
