//! A wrong key, said for the person who wrote it: where it was written
//! (`file:line:column`, or the environment variable that set it), its key
//! path, and what would be right (the valid keys or values, and the
//! closest one to a typo). The YAML reader under `config` keeps no
//! positions, so a key is found again in the file's text, as the mapping
//! loader finds its nodes (`mapping::document`).

use std::fmt;

use config::{Value, ValueKind};

use super::ConfigError;
use crate::mapping::document::{position_of, NodePath};
use crate::mapping::error::did_you_mean;

/// How `NamedEnvironment` marks the origin of a value a variable set.
pub(super) const FROM_VARIABLE: &str = "environment variable ";

/// Where a key's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The file, at this 1-based line and column when it was found there.
    File {
        file: String,
        position: Option<(usize, usize)>,
    },
    /// These environment variables (every value under the key came from one).
    Environment(Vec<String>),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::File {
                file,
                position: Some((line, column)),
            } => write!(f, "{file}:{line}:{column}"),
            Place::File {
                file,
                position: None,
            } => f.write_str(file),
            Place::Environment(variables) => {
                let s = if variables.len() == 1 { "" } else { "s" };
                write!(f, "environment variable{s} {}", variables.join(", "))
            }
        }
    }
}

/// The file being read: its name as messages show it, and its text, in
/// which keys are found again (`None`: no positions).
pub(super) struct Sources<'a> {
    pub file: &'a str,
    pub text: Option<&'a str>,
}

/// Where the tree being read lies in the file: the top level (`[]`), or a
/// site, whose settings come from its entry of `sites:` or else from
/// `defaults:` (tried in that order).
pub(super) struct Within<'a> {
    /// The site, as messages name it (`sites[chem]`), if any.
    pub site: Option<String>,
    /// Where in the file the tree's keys may be written.
    pub prefixes: Vec<NodePath>,
    /// Keys valid beside those the error lists (the bridge's own keys at
    /// a one-site file's top level).
    pub more_keys: &'a [&'a str],
}

impl Within<'_> {
    pub fn top() -> Within<'static> {
        Within {
            site: None,
            prefixes: vec![NodePath::root()],
            more_keys: &[],
        }
    }
}

/// A key path `drupal.auth.mode` or `scim.clients[0].name`, split.
fn steps(key: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            if open > 0 {
                steps.push(Step::Key(rest[..open].to_string()));
            }
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                if let Ok(index) = rest[1..close].parse() {
                    steps.push(Step::Index(index));
                }
                rest = &rest[close + 1..];
            }
        } else {
            steps.push(Step::Key(rest.to_string()));
        }
    }
    steps
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn node_path(prefix: &NodePath, steps: &[Step]) -> NodePath {
    steps.iter().fold(prefix.clone(), |path, step| match step {
        Step::Key(key) => path.key(key),
        Step::Index(index) => path.index(*index),
    })
}

fn value_at<'v>(tree: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps
        .iter()
        .try_fold(tree, |node, step| match (step, &node.kind) {
            (Step::Key(key), ValueKind::Table(table)) => table.get(key),
            (Step::Index(index), ValueKind::Array(items)) => items.get(*index),
            _ => None,
        })
}

/// The origins of every value under `value` (itself, for a scalar).
fn origins(value: &Value, into: &mut Vec<Option<String>>) {
    match &value.kind {
        ValueKind::Table(table) => table.values().for_each(|v| origins(v, into)),
        ValueKind::Array(items) if !items.is_empty() => items.iter().for_each(|v| origins(v, into)),
        _ => into.push(value.origin().map(str::to_string)),
    }
}

/// Where the value of `key` (under `tree`) came from: the variables that
/// set it when every value under it came from one, else the file.
pub(super) fn place(tree: &Value, key: &str, sources: &Sources, within: &Within) -> Place {
    let steps = steps(key);
    // A missing key is reported where its block is.
    let depth = (0..=steps.len())
        .rev()
        .find(|n| value_at(tree, &steps[..*n]).is_some())
        .unwrap_or(0);
    if let Some(value) = value_at(tree, &steps).filter(|_| depth == steps.len()) {
        let mut all = Vec::new();
        origins(value, &mut all);
        let variables: Option<Vec<String>> = all
            .iter()
            .map(|o| {
                o.as_deref()?
                    .strip_prefix(FROM_VARIABLE)
                    .map(str::to_string)
            })
            .collect();
        if let Some(mut variables) = variables.filter(|v| !v.is_empty()) {
            variables.sort();
            variables.dedup();
            return Place::Environment(variables);
        }
    }
    let position = sources.text.and_then(|text| {
        (0..=depth).rev().find_map(|n| {
            within
                .prefixes
                .iter()
                .find_map(|prefix| position_of(text, &node_path(prefix, &steps[..n])))
        })
    });
    Place::File {
        file: sources.file.to_string(),
        position,
    }
}

/// A check made after reading (`drupal.base_url: "ftp://x" must start
/// with ...`), whose message names its key first: said with where that
/// key was written, as a wrong key is, when the key is in `tree`.
pub(super) fn attribute(
    error: ConfigError,
    tree: &Value,
    sources: &Sources,
    within: &Within,
) -> ConfigError {
    let ConfigError::Invalid(message) = error else {
        return error;
    };
    let Some((key, problem)) = message.split_once(": ") else {
        return ConfigError::Invalid(message);
    };
    let is_path = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._[]".contains(c));
    if !is_path || value_at(tree, &steps(key)).is_none() {
        return ConfigError::Invalid(message);
    }
    ConfigError::Key {
        place: place(tree, key, sources, within),
        site: within.site.clone(),
        key: key.to_string(),
        problem: problem.to_string(),
    }
}

/// The words between backticks in serde's messages (`unknown field `x`,
/// expected one of `a`, `b``): the first is what was written, the rest
/// what is valid.
fn quoted(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// `"blok" is not valid: write block or delete — did you mean "block"?`:
/// a value that must be one of `valid`.
pub(crate) fn not_one_of(written: &str, valid: &[&str]) -> String {
    let hint = did_you_mean(written, valid.iter().copied())
        .map(|h| format!(" — {h}"))
        .unwrap_or_default();
    let list = match valid {
        [] => String::new(),
        [only] => (*only).to_string(),
        [first @ .., last] => format!("{} or {last}", first.join(", ")),
    };
    format!("{written:?} is not valid: write {list}{hint}")
}

/// `error`, met reading `tree` as settings, said with its place, key
/// path and what is valid.
pub(super) fn explain(
    error: config::ConfigError,
    tree: &Value,
    sources: &Sources,
    within: &Within,
) -> ConfigError {
    let (key, what) = match error {
        config::ConfigError::At { error, key, .. } => (key, error.to_string()),
        config::ConfigError::Message(message) => (None, message),
        config::ConfigError::NotFound(key) => (Some(key), String::new()),
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => (key, format!("is {unexpected}, expected {expected}")),
        other => {
            return ConfigError::Load {
                origin: sources.file.to_string(),
                source: other,
            }
        }
    };
    let key = key.unwrap_or_default();
    let join = |field: &str| match key.as_str() {
        "" => field.to_string(),
        parent => format!("{parent}.{field}"),
    };
    let (key, problem) = if what.is_empty() {
        (key, "is required and missing".to_string())
    } else if let Some(rest) = what.strip_prefix("unknown field ") {
        let words = quoted(rest);
        let written = words.first().copied().unwrap_or_default();
        let mut valid: Vec<&str> = words.iter().skip(1).copied().collect();
        if key.is_empty() {
            valid.extend(within.more_keys);
        }
        valid.sort_unstable();
        let hint = did_you_mean(written, valid.iter().copied())
            .map(|h| format!(" — {h}"))
            .unwrap_or_else(|| ".".into());
        let problem = match valid.as_slice() {
            [] => "is not a key here (this block takes none)".to_string(),
            valid => format!("is not a key here{hint} Valid keys: {}", valid.join(", ")),
        };
        (join(written), problem)
    } else if let Some(rest) = what.strip_prefix("unknown variant ") {
        let words = quoted(rest);
        let written = words.first().copied().unwrap_or_default();
        (key, not_one_of(written, &words[1.min(words.len())..]))
    } else {
        (key, what)
    };
    ConfigError::Key {
        place: place(tree, &key, sources, within),
        site: within.site.clone(),
        key,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_split_into_keys_and_indexes() {
        let got: Vec<String> = steps("scim.clients[1].name")
            .into_iter()
            .map(|s| format!("{s:?}"))
            .collect();
        assert_eq!(
            got,
            [
                "Key(\"scim\")",
                "Key(\"clients\")",
                "Index(1)",
                "Key(\"name\")"
            ]
        );
    }

    #[test]
    fn a_value_not_one_of_the_valid_ones_lists_them_and_the_closest() {
        assert_eq!(
            not_one_of("sesion", &["session", "basic", "oauth2"]),
            "\"sesion\" is not valid: write session, basic or oauth2 — did you mean \"session\"?"
        );
        assert_eq!(
            not_one_of("shred", &["block", "delete"]),
            "\"shred\" is not valid: write block or delete"
        );
    }
}
