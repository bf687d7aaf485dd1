//! Roles: which Drupal roles are exposed as SCIM groups, and which roles a
//! user's attributes grant (`enterprise:department eq "Engineering"`).

use serde_json::{Map, Value};

use crate::scim::caseless;

use super::catalog::Catalog;
use super::document::NodePath;
use super::error::{Problem, Section};
use super::path::{loosely_equal, PathError, ScimPath};
use super::raw::{RawGroup, RawGroupTerms, RawRoleRule};

/// A Drupal role exposed as a SCIM group. Roles not listed are invisible
/// to the IdP and never touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupExposure {
    /// The role's machine name.
    pub role: String,
    /// The group's SCIM `displayName`.
    pub display_name: String,
    /// The operator explicitly allows exposing a protected role.
    pub allow_protected: bool,
}

/// A term-backed group the mapping names: its members get `roles` while
/// they are members. Groups not named grant nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupGrant {
    /// The IdP's group name, compared ignoring case.
    pub display_name: String,
    /// Role machine names granted to members.
    pub roles: Vec<String>,
    /// The operator allows these roles even if protected.
    pub allow_protected: bool,
}

/// Where term-backed groups are kept: a vocabulary, the users' reference
/// field to it, and the term field for the IdP's `externalId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTerms {
    pub vocabulary: String,
    pub user_field: String,
    pub external_id_field: Option<String>,
    /// Terms are created published (readable by anyone with "access
    /// content"); the default keeps them unpublished.
    pub published: bool,
}

/// Grants `role` to users whose attributes satisfy `condition`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RoleRule {
    pub condition: Condition,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Condition {
    path: ScimPath,
    operator: Operator,
    value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Contains,
    StartsWith,
    EndsWith,
    Present,
}

const OPERATORS: &str = "eq, ne, co, sw, ew, pr";

fn refuse(problem: String, hint: &str) -> PathError {
    PathError {
        problem,
        hint: Some(hint.to_string()),
    }
}

impl Condition {
    /// `<path> <op> <value>`: the value may be quoted, `true`/`false`, a
    /// number, or bare words (`eq Engineering`); `pr` takes none.
    pub fn parse(text: &str, catalog: &Catalog) -> Result<Condition, PathError> {
        let text = text.trim();
        let (path_text, rest) = split_path(text);
        let path = ScimPath::parse(path_text, catalog)?;
        let rest = rest.trim_start();
        let (op, literal) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let operator = match op.to_ascii_lowercase().as_str() {
            "eq" => Operator::Equal,
            "ne" => Operator::NotEqual,
            "co" => Operator::Contains,
            "sw" => Operator::StartsWith,
            "ew" => Operator::EndsWith,
            "pr" => Operator::Present,
            "" => {
                return Err(refuse(
                    format!("the condition \"{text}\" has no operator"),
                    "write `<attribute> eq \"<value>\"`",
                ))
            }
            other => {
                return Err(refuse(
                    format!("unknown operator `{other}` in \"{text}\""),
                    &format!("conditions use {OPERATORS}"),
                ))
            }
        };
        let literal = literal.trim();
        let value = match (operator, literal) {
            (Operator::Present, "") => Value::Null,
            (Operator::Present, _) => {
                return Err(refuse(
                    format!("`pr` takes no value, but \"{literal}\" follows it"),
                    "write `<attribute> pr` to test that the attribute has a value",
                ))
            }
            (_, "") => {
                return Err(refuse(
                    format!("the condition \"{text}\" has no value to compare with"),
                    "add a value: `enterprise:department eq \"Engineering\"`",
                ))
            }
            (_, quoted) if quoted.starts_with('"') => serde_json::from_str::<String>(quoted)
                .map(Value::String)
                .map_err(|_| {
                    refuse(
                        format!("the quoted value in \"{text}\" is not closed properly"),
                        "write the value between double quotes, and nothing after it",
                    )
                })?,
            (_, "true") => Value::Bool(true),
            (_, "false") => Value::Bool(false),
            (_, bare) => bare
                .parse::<serde_json::Number>()
                .map_or_else(|_| Value::String(bare.to_string()), Value::Number),
        };
        if path.write_only {
            return Err(refuse(
                format!("\"{path_text}\" is never kept, so no condition can test it"),
                "test another attribute",
            ));
        }
        Ok(Condition {
            path,
            operator,
            value,
        })
    }

    pub fn holds_for(&self, user: &Map<String, Value>) -> bool {
        let values = self.path.values(user, None);
        let wanted = text_of(&self.value).to_lowercase();
        let any_text =
            |test: &dyn Fn(&str) -> bool| values.iter().any(|v| test(&text_of(v).to_lowercase()));
        match self.operator {
            Operator::Present => !values.is_empty(),
            Operator::Equal => values.iter().any(|v| loosely_equal(v, &self.value)),
            Operator::NotEqual => !values.iter().any(|v| loosely_equal(v, &self.value)),
            Operator::Contains => any_text(&|v| v.contains(&wanted)),
            Operator::StartsWith => any_text(&|v| v.starts_with(&wanted)),
            Operator::EndsWith => any_text(&|v| v.ends_with(&wanted)),
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The path ends at the first space outside `[...]` and quotes.
fn split_path(text: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth = depth.saturating_sub(1),
            c if c.is_whitespace() && depth == 0 && !quoted => {
                return text.split_at(i);
            }
            _ => {}
        }
    }
    (text, "")
}

/// Roles every user holds implicitly; Drupal does not let them be assigned.
const IMPLICIT_ROLES: [&str; 2] = ["anonymous", "authenticated"];

fn check_role(role: &str, at: NodePath) -> Result<(), Problem> {
    let machine_name = !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !machine_name {
        return Err(
            Problem::new(at, format!("\"{role}\" is not a role machine name"))
                .hint("use the machine name shown under People › Roles, such as `content_editor`"),
        );
    }
    if IMPLICIT_ROLES.contains(&role) {
        return Err(
            Problem::new(at, format!("every user holds \"{role}\" implicitly"))
                .hint("Drupal does not let it be granted or revoked; delete this entry"),
        );
    }
    Ok(())
}

fn check_machine_name(name: &str, at: NodePath, what: &str) -> Result<(), Problem> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(
            Problem::new(at, format!("\"{name}\" is not a {what} machine name")).hint(
                "use lower-case letters, digits and _, as Drupal shows it, such as `scim_groups`",
            ),
        ),
    }
}

pub(super) fn compile_group_terms(
    raw: Option<&RawGroupTerms>,
) -> Result<Option<GroupTerms>, Problem> {
    let Some(raw) = raw else { return Ok(None) };
    let at = NodePath::root().key("group_terms");
    let vocabulary = raw
        .vocabulary
        .clone()
        .unwrap_or_else(|| "scim_groups".into());
    check_machine_name(&vocabulary, at.key("vocabulary"), "vocabulary")?;
    let user_field = raw
        .user_field
        .clone()
        .unwrap_or_else(|| "field_scim_groups".into());
    check_machine_name(&user_field, at.key("user_field"), "field")?;
    if let Some(field) = &raw.external_id_field {
        check_machine_name(field, at.key("external_id_field"), "field")?;
    }
    Ok(Some(GroupTerms {
        vocabulary,
        user_field,
        external_id_field: raw.external_id_field.clone(),
        published: raw.published,
    }))
}

/// Splits `groups` into role-backed exposures (`role:`) and term-backed
/// grants (`roles:`); display names are unique across both.
pub(super) fn compile_groups(
    raw: &[RawGroup],
) -> Result<(Vec<GroupExposure>, Vec<GroupGrant>), Problem> {
    let mut out: Vec<GroupExposure> = Vec::new();
    let mut grants: Vec<GroupGrant> = Vec::new();
    for (index, group) in raw.iter().enumerate() {
        let at = NodePath::entry(Section::Group, index);
        let display_name = group.display_name.trim();
        if display_name.is_empty() {
            return Err(
                Problem::new(at.key("display_name"), "the group has no display name")
                    .hint("give the name the IdP shows, such as `Engineering`"),
            );
        }
        let taken = out
            .iter()
            .map(|g| g.display_name.as_str())
            .chain(grants.iter().map(|g| g.display_name.as_str()))
            .position(|n| caseless::same(n, display_name));
        if let Some(n) = taken {
            return Err(Problem::new(
                at.key("display_name"),
                format!(
                    "group {} already uses the display name \"{display_name}\"",
                    n + 1
                ),
            )
            .hint("IdPs find groups by display name, ignoring case; make the names unique"));
        }
        let role = match (&group.role, &group.roles) {
            (Some(_), Some(_)) => {
                return Err(Problem::new(at.key("roles"), "a group entry has either `role` or `roles`, not both")
                    .hint("`role: x` makes the group the Drupal role x; `roles: [x]` makes it a term-backed group whose members get x"))
            }
            (None, None) => {
                return Err(Problem::new(at.key("role"), "the group entry names no role")
                    .hint("write `role: editor` (the group is the role) or `roles: [editor]` (its members get the role)"))
            }
            (None, Some(roles)) => {
                for (i, role) in roles.iter().enumerate() {
                    check_role(role, at.key("roles").index(i))?;
                }
                grants.push(GroupGrant {
                    display_name: display_name.to_string(),
                    roles: roles.clone(),
                    allow_protected: group.allow_protected,
                });
                continue;
            }
            (Some(role), None) => role,
        };
        check_role(role, at.key("role"))?;
        if let Some(n) = out.iter().position(|g| &g.role == role) {
            return Err(Problem::new(
                at.key("role"),
                format!(
                    "the role \"{}\" is already exposed by group {}",
                    role,
                    n + 1
                ),
            )
            .hint("a role is one group; delete one of the entries"));
        }
        out.push(GroupExposure {
            role: role.clone(),
            display_name: display_name.to_string(),
            allow_protected: group.allow_protected,
        });
    }
    check_grants_beside_exposures(raw, &out)?;
    Ok((out, grants))
}

/// A role exposed as a group (`role: x`) is that group's membership: a term
/// group granting it too (`roles: [x]`) would make one role two
/// memberships, each taking it back from the other's members (a removal
/// from the term group would take the role, hence the role-backed group,
/// from a user the IdP still assigns to it). Refused, naming both entries.
fn check_grants_beside_exposures(
    raw: &[RawGroup],
    exposed: &[GroupExposure],
) -> Result<(), Problem> {
    for (index, group) in raw.iter().enumerate() {
        let Some(roles) = &group.roles else { continue };
        for (i, role) in roles.iter().enumerate() {
            let Some(other) = raw.iter().position(|g| g.role.as_ref() == Some(role)) else {
                continue;
            };
            let Some(exposure) = exposed.iter().find(|e| &e.role == role) else {
                continue;
            };
            return Err(Problem::new(
                NodePath::entry(Section::Group, index).key("roles").index(i),
                format!(
                    "the term group \"{}\" (group {}) grants the role \"{role}\", which group {} (\"{}\") exposes as a role-backed group: one role cannot be both, or a removal from one group takes the other's membership",
                    group.display_name.trim(),
                    index + 1,
                    other + 1,
                    exposure.display_name,
                ),
            )
            .hint(format!(
                "either drop \"{role}\" from the term group's `roles` (the IdP assigns the group \"{}\" for it), or delete the `role: {role}` entry and let the term group grant it",
                exposure.display_name
            )));
        }
    }
    Ok(())
}

pub(super) fn compile_role_rules(
    raw: &[RawRoleRule],
    catalog: &Catalog,
) -> Result<Vec<RoleRule>, Problem> {
    raw.iter()
        .enumerate()
        .map(|(index, rule)| {
            let at = NodePath::entry(Section::RoleRule, index);
            let condition = Condition::parse(&rule.when, catalog)
                .map_err(|e| Problem::new(at.key("when"), e.problem).maybe_hint(e.hint))?;
            check_role(&rule.role, at.key("role"))?;
            Ok(RoleRule {
                condition,
                role: rule.role.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn condition(text: &str) -> Result<Condition, PathError> {
        Condition::parse(text, &Catalog::new(&[]))
    }

    fn user(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn bare_word_value_from_the_issue_text_is_accepted() {
        let engineering = condition("enterprise:department eq Engineering").expect("valid");
        let alice = user(json!({
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "engineering"}
        }));
        assert!(engineering.holds_for(&alice));
        assert!(!engineering.holds_for(&user(json!({}))));
    }

    #[test]
    fn filtered_paths_with_spaces_and_text_operators_work() {
        let corp = condition("emails[type eq \"work\"].value ew \"@corp.example\"").expect("valid");
        let ann = user(json!({"emails": [{"value": "ann@CORP.example", "type": "work"}]}));
        assert!(corp.holds_for(&ann));
        let titled = condition("title pr").expect("valid");
        assert!(!titled.holds_for(&ann));
    }

    #[test]
    fn a_term_group_may_not_grant_a_role_exposed_as_a_group() {
        for groups in [
            "  - {role: editor, display_name: Editors}\n  - {display_name: Writers, roles: [engineering, editor]}",
            "  - {display_name: Writers, roles: [engineering, editor]}\n  - {role: editor, display_name: Editors}",
        ] {
            let yaml = format!("rules:\n  - {{scim: userName, drupal: name}}\ngroups:\n{groups}\n");
            let error = crate::mapping::Mapping::parse(&yaml, "t.yaml")
                .expect_err("one role, two memberships")
                .to_string();
            for part in ["\"Writers\"", "\"Editors\"", "\"editor\"", "role-backed", "`role: editor`"] {
                assert!(error.contains(part), "{part}: {error}");
            }
        }
        let apart = "rules:\n  - {scim: userName, drupal: name}\ngroups:\n  - {role: editor, display_name: Editors}\n  - {display_name: Writers, roles: [engineering]}\n";
        crate::mapping::Mapping::parse(apart, "t.yaml").expect("no overlap");
    }

    #[test]
    fn unknown_operator_names_the_allowed_ones() {
        let err = condition("title like \"x\"").expect_err("like");
        assert_eq!(
            err.hint.as_deref(),
            Some("conditions use eq, ne, co, sw, ew, pr")
        );
    }
}
