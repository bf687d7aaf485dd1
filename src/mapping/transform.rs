//! Value transforms. A rule's transforms run in order on the way to Drupal;
//! on the way back the steps that can be undone are undone, in reverse.

use serde_json::Value;

use super::field::text;
use super::path::loosely_equal;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Transform {
    Lowercase,
    /// Trims surrounding white space; a value that is only white space
    /// counts as absent.
    Trim,
    /// BCP 47 language tag (`en-US`) to Drupal langcode (`en`).
    Langcode,
    /// Keeps at most this many characters.
    Truncate(usize),
    /// The value used when the source has none.
    Default(Value),
    /// Replaces listed values (compared ignoring case); others pass unchanged.
    Map(Vec<(String, Value)>),
    /// One text becomes several values.
    Split(String),
    /// Several values become one text.
    Join(String),
}

impl Transform {
    /// The step on the way to Drupal.
    pub fn forward(&self, values: Vec<Value>) -> Vec<Value> {
        match self {
            Transform::Lowercase => map_text(values, |s| Some(s.to_lowercase())),
            Transform::Trim => map_text(values, |s| {
                Some(s.trim().to_string()).filter(|t| !t.is_empty())
            }),
            Transform::Langcode => map_text(values, |s| Some(langcode(s))),
            Transform::Truncate(max) => map_text(values, |s| Some(s.chars().take(*max).collect())),
            Transform::Default(default) if values.is_empty() => vec![default.clone()],
            Transform::Default(_) => values,
            Transform::Map(table) => values
                .into_iter()
                .map(|v| lookup(table, &v).unwrap_or(v))
                .collect(),
            Transform::Split(separator) => split(values, separator),
            Transform::Join(separator) => join(values, separator),
        }
    }

    /// The step undone on the way back from Drupal. Steps that lose nothing
    /// worth restoring (case, spaces, length, defaults) pass values through.
    pub fn backward(&self, values: Vec<Value>) -> Vec<Value> {
        match self {
            Transform::Map(table) => values
                .into_iter()
                .map(|v| reverse_lookup(table, &v).unwrap_or(v))
                .collect(),
            Transform::Split(separator) => join(values, separator),
            Transform::Join(separator) => split(values, separator),
            _ => values,
        }
    }

    /// A SCIM filter literal through this step, or `None` when the Drupal
    /// value it would match cannot be told from the literal alone.
    pub fn literal(&self, value: Value) -> Option<Value> {
        match self {
            Transform::Truncate(max) => {
                let fits = value.as_str().is_none_or(|s| s.chars().count() <= *max);
                fits.then_some(value)
            }
            Transform::Split(_) | Transform::Join(_) => None,
            _ => self.forward(vec![value]).into_iter().next(),
        }
    }

    /// Whether the step only normalises text (spaces, case, a language
    /// tag), so that the value read back is the value sent, normalised.
    pub fn normalizes(&self) -> bool {
        matches!(
            self,
            Transform::Trim | Transform::Lowercase | Transform::Langcode
        )
    }

    /// Whether the step leaves the value read back as it was stored
    /// (`backward` passes it through).
    pub fn reads_back_as_stored(&self) -> bool {
        !matches!(
            self,
            Transform::Map(_) | Transform::Split(_) | Transform::Join(_)
        )
    }

    pub fn is_split_or_join(&self) -> bool {
        matches!(self, Transform::Split(_) | Transform::Join(_))
    }
}

fn map_text(values: Vec<Value>, step: impl Fn(&str) -> Option<String>) -> Vec<Value> {
    values
        .into_iter()
        .filter_map(|v| match &v {
            Value::String(s) => step(s).map(Value::String),
            _ => Some(v),
        })
        .collect()
}

fn lookup(table: &[(String, Value)], value: &Value) -> Option<Value> {
    let key = text(value).ok()?;
    table
        .iter()
        .find(|(from, _)| from.eq_ignore_ascii_case(&key))
        .map(|(_, to)| to.clone())
}

/// The one SCIM value that maps to `value`; when several do, the Drupal
/// value is shown as it is rather than guessing between them.
fn reverse_lookup(table: &[(String, Value)], value: &Value) -> Option<Value> {
    let mut sources = table.iter().filter(|(_, to)| loosely_equal(to, value));
    match (sources.next(), sources.next()) {
        (Some((from, _)), None) => Some(Value::String(from.clone())),
        _ => None,
    }
}

fn split(values: Vec<Value>, separator: &str) -> Vec<Value> {
    values
        .into_iter()
        .flat_map(|v| match v {
            Value::String(s) => s
                .split(separator)
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .map(|part| Value::String(part.to_string()))
                .collect(),
            other => vec![other],
        })
        .collect()
}

fn join(values: Vec<Value>, separator: &str) -> Vec<Value> {
    let parts: Vec<String> = values.into_iter().filter_map(|v| text(&v).ok()).collect();
    if parts.is_empty() {
        Vec::new()
    } else {
        vec![Value::String(parts.join(separator))]
    }
}

/// Drupal names most languages by the bare language subtag; Portuguese and
/// Chinese it names by variant.
fn langcode(tag: &str) -> String {
    let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or("").to_string();
    let rest: Vec<&str> = parts.collect();
    match language.as_str() {
        "pt" if rest.first() == Some(&"br") => "pt-br".into(),
        "pt" => "pt-pt".into(),
        "zh" if rest.iter().any(|p| ["hant", "tw", "hk", "mo"].contains(p)) => "zh-hant".into(),
        "zh" => "zh-hans".into(),
        _ => language,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn table() -> Vec<(String, Value)> {
        vec![
            ("Engineering".into(), json!("eng")),
            ("R&D".into(), json!("eng")),
            ("Sales".into(), json!("sales")),
        ]
    }

    #[test]
    fn lowercase_trim_and_truncate_work_on_text_and_leave_other_values() {
        let values = vec![json!("  Ann "), json!(true)];
        let values = Transform::Trim.forward(values);
        let values = Transform::Lowercase.forward(values);
        assert_eq!(values, vec![json!("ann"), json!(true)]);
        assert_eq!(
            Transform::Truncate(2).forward(vec![json!("Åsa")]),
            vec![json!("Ås")]
        );
    }

    #[test]
    fn trim_turns_blank_text_into_no_value_so_a_default_applies() {
        let values = Transform::Trim.forward(vec![json!("   ")]);
        assert_eq!(
            Transform::Default(json!("UTC")).forward(values),
            vec![json!("UTC")]
        );
    }

    #[test]
    fn default_leaves_a_present_value_alone() {
        let values = vec![json!("Europe/Paris")];
        assert_eq!(
            Transform::Default(json!("UTC")).forward(values.clone()),
            values
        );
    }

    #[test]
    fn map_replaces_listed_values_ignoring_case_and_passes_others() {
        let map = Transform::Map(table());
        assert_eq!(
            map.forward(vec![json!("SALES"), json!("Legal")]),
            vec![json!("sales"), json!("Legal")]
        );
    }

    #[test]
    fn map_reads_back_only_unambiguous_values() {
        let map = Transform::Map(table());
        assert_eq!(
            map.backward(vec![json!("sales"), json!("eng")]),
            vec![json!("Sales"), json!("eng")]
        );
    }

    #[test]
    fn split_and_join_undo_each_other() {
        let split = Transform::Split(",".into());
        let parts = split.forward(vec![json!("a, b,,c")]);
        assert_eq!(parts, vec![json!("a"), json!("b"), json!("c")]);
        assert_eq!(split.backward(parts.clone()), vec![json!("a,b,c")]);
        let join = Transform::Join("; ".into());
        assert_eq!(join.forward(parts.clone()), vec![json!("a; b; c")]);
        assert_eq!(join.backward(vec![json!("a; b; c")]), parts);
    }

    #[test]
    fn langcode_keeps_the_variants_drupal_names() {
        let codes: Vec<String> = ["en-US", "fr_CA", "pt-BR", "pt", "zh-Hant-TW", "zh-CN", "de"]
            .iter()
            .map(|t| langcode(t))
            .collect();
        assert_eq!(
            codes,
            ["en", "fr", "pt-br", "pt-pt", "zh-hant", "zh-hans", "de"]
        );
    }

    #[test]
    fn literal_refuses_what_cannot_be_matched_exactly() {
        assert_eq!(Transform::Truncate(3).literal(json!("abcd")), None);
        assert_eq!(
            Transform::Truncate(3).literal(json!("abc")),
            Some(json!("abc"))
        );
        assert_eq!(Transform::Split(",".into()).literal(json!("a")), None);
        assert_eq!(
            Transform::Lowercase.literal(json!("Ann")),
            Some(json!("ann"))
        );
    }
}
