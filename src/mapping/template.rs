//! Templates: text with `{scim.path}` placeholders, such as
//! `"{name.givenName} {name.familyName}"`. `{{` and `}}` write a brace.

use crate::scim::resource::Unassigned;
use serde_json::{Map, Value};

use super::catalog::Catalog;
use super::field::text;
use super::path::{PathError, Preference, ScimPath};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Placeholder(ScimPath),
}

fn refuse(problem: String, hint: &str) -> PathError {
    PathError {
        problem,
        hint: Some(hint.to_string()),
    }
}

impl Template {
    pub fn parse(source: &str, catalog: &Catalog) -> Result<Template, PathError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(refuse(
                            format!("the placeholder \"{{{name}\" in the template is not closed"),
                            "close it with `}`, or write `{{` for a literal brace",
                        ));
                    }
                    let path = ScimPath::parse(&name, catalog).map_err(|e| PathError {
                        problem: format!("in the placeholder {{{name}}}: {}", e.problem),
                        hint: e.hint,
                    })?;
                    if path.write_only {
                        return Err(refuse(
                            format!("the placeholder {{{name}}} would copy a password into a readable field"),
                            "remove the placeholder",
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(path));
                }
                '}' => {
                    return Err(refuse(
                        "the template has a `}` that closes nothing".into(),
                        "write `}}` for a literal brace",
                    ))
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        if !parts.iter().any(|p| matches!(p, Part::Placeholder(_))) {
            return Err(refuse(
                "the template has no {placeholder}".into(),
                "use `constant:` for a fixed value, or add a placeholder such as {name.givenName}",
            ));
        }
        Ok(Template { parts })
    }

    /// The SCIM values the placeholders read, in order.
    pub fn placeholders(&self) -> impl Iterator<Item = &ScimPath> {
        self.parts.iter().filter_map(|part| match part {
            Part::Placeholder(path) => Some(path),
            Part::Text(_) => None,
        })
    }

    /// Whether a placeholder reads the core attribute `attr`.
    pub fn reads(&self, attr: &str) -> bool {
        self.parts.iter().any(|part| match part {
            Part::Placeholder(path) => path.core && path.attr.eq_ignore_ascii_case(attr),
            Part::Text(_) => false,
        })
    }

    /// Whether a placeholder reads a value the body unassigned.
    pub fn unassigned_by(&self, unassigned: &Unassigned) -> bool {
        self.parts.iter().any(|part| match part {
            Part::Placeholder(path) => path.unassigned_by(unassigned),
            Part::Text(_) => false,
        })
    }

    /// The filled-in text; `None` when no placeholder has a value. Missing
    /// values leave nothing behind, and runs of spaces are tidied to one.
    pub fn render(&self, user: &Map<String, Value>) -> Option<String> {
        let mut out = String::new();
        let mut filled = false;
        for part in &self.parts {
            match part {
                Part::Text(literal) => out.push_str(literal),
                Part::Placeholder(path) => {
                    let value = path
                        .values(user, Some(&[Preference::Primary]))
                        .into_iter()
                        .find_map(|v| text(&v).ok());
                    if let Some(value) = value {
                        filled = true;
                        out.push_str(&value);
                    }
                }
            }
        }
        filled.then(|| out.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn parse(source: &str) -> Result<Template, PathError> {
        Template::parse(source, &Catalog::new(&[]))
    }

    #[test]
    fn render_fills_placeholders_and_tidies_missing_ones() {
        let template =
            parse("{name.givenName} {name.middleName} {name.familyName}").expect("valid");
        let joy = user(json!({"name": {"givenName": "Joy", "familyName": "Young"}}));
        assert_eq!(template.render(&joy).as_deref(), Some("Joy Young"));
        assert_eq!(template.render(&user(json!({}))), None);
    }

    #[test]
    fn doubled_braces_are_literal() {
        let template = parse("{{{userName}}}").expect("valid");
        assert_eq!(
            template
                .render(&user(json!({"userName": "ann"})))
                .as_deref(),
            Some("{ann}")
        );
    }

    #[test]
    fn placeholders_are_checked_against_the_schema() {
        let err = parse("{name.givenNam}").expect_err("typo");
        assert!(err
            .problem
            .starts_with("in the placeholder {name.givenNam}"));
        assert_eq!(
            err.hint.as_deref(),
            Some("did you mean \"name.givenName\"?")
        );
        assert!(parse("{userName").is_err());
        assert!(parse("no placeholder").is_err());
        assert!(parse("{password}").is_err());
    }
}
