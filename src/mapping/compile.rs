//! Turns the file as written into a checked, compiled mapping. Every check
//! points at the node it is about and says how to fix it.

use std::sync::Arc;

use serde_json::Value;

use crate::scim::attributes::AttrType;

use super::binding::MatchKey;
use super::catalog::Catalog;
use super::document::NodePath;
use super::error::{Item, Problem, Section};
use super::field::{check_field_name, Access, BaseField, FieldType, Target};
use super::groups::{compile_group_terms, compile_groups, compile_role_rules};
use super::path::{Preference, ScimPath};
use super::raw::{Direction, RawMapping, RawRule, RawTransform, WhenAbsent};
use super::rule::{Rule, Source};
use super::schema::compile_schemas;
use super::template::Template;
use super::transform::Transform;
use super::{Mapping, Origin};

/// The version of the file format this code reads.
const FORMAT_VERSION: u64 = 1;

pub(super) fn compile(raw: &RawMapping, origin: Arc<Origin>) -> Result<Mapping, Problem> {
    let root = NodePath::root();
    if let Some(version) = raw.version.filter(|v| *v != FORMAT_VERSION) {
        return Err(Problem::new(
            root.key("version"),
            format!("mapping format version {version} is not known"),
        )
        .hint(format!("this bridge reads `version: {FORMAT_VERSION}`")));
    }
    if raw.rules.is_empty() {
        return Err(Problem::new(root.key("rules"), "the mapping has no rules")
            .hint("add at least `- {scim: userName, drupal: name}`; see mappings/default.yaml"));
    }
    let custom_schemas = compile_schemas(&raw.schemas)?;
    let catalog = Catalog::new(&custom_schemas);
    let mut rules: Vec<Rule> = Vec::new();
    for (index, raw_rule) in raw.rules.iter().enumerate() {
        let rule = compile_rule(raw_rule, index, &catalog)?;
        check_overlap(&rule, &rules, index)?;
        rules.push(rule);
    }
    let match_key = compile_match_key(raw.match_key.as_deref(), &rules, &catalog)?;
    let (groups, group_grants) = compile_groups(&raw.groups)?;
    let group_terms = compile_group_terms(raw.group_terms.as_ref())?;
    if let Some(terms) = &group_terms {
        check_group_terms_field(terms, &rules)?;
    }
    let plain_keys = rules
        .iter()
        .filter_map(Rule::scim_path)
        .all(ScimPath::has_plain_keys);
    Ok(Mapping {
        plain_keys,
        rules,
        match_key,
        custom_schemas,
        groups,
        group_grants,
        group_terms,
        role_rules: compile_role_rules(&raw.role_rules, &catalog)?,
        origin,
    })
}

fn label(raw: &RawRule) -> String {
    match (&raw.scim, &raw.template, &raw.constant) {
        (Some(scim), _, _) => format!("scim: {scim}"),
        (None, Some(template), _) => format!("template: {template}"),
        (None, None, Some(Value::String(constant))) => format!("constant: {constant}"),
        (None, None, Some(constant)) => format!("constant: {constant}"),
        (None, None, None) => format!("drupal: {}", raw.drupal),
    }
}

fn compile_rule(raw: &RawRule, index: usize, catalog: &Catalog) -> Result<Rule, Problem> {
    let at = NodePath::entry(Section::Rule, index);
    let source = compile_source(raw, &at, catalog)?;
    let target = compile_target(raw, &at)?;
    check_password(&source, &target, &at)?;
    let direction = compile_direction(raw, &source, &target, &at)?;
    let when_absent = compile_when_absent(raw, direction, &target, &at)?;
    let transforms = raw
        .transforms
        .iter()
        .enumerate()
        .map(|(i, t)| compile_transform(t, &target, &at.key("transforms").index(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let source_many = matches!(&source, Source::Attribute(p) if p.multi_valued);
    let joins = transforms.iter().any(|t| matches!(t, Transform::Join(_)));
    let picks = source_many && !target.multiple && !joins;
    let prefer = compile_prefer(raw, &source, picks, &at)?;
    check_cardinality(&source, &target, &transforms, picks, direction, &at)?;
    check_fixed_values(&source, &target, &transforms, &at)?;
    check_bridge_owned(&source, &target, direction, &at)?;
    let type_key = if raw.field_type.is_some() {
        "type"
    } else {
        "drupal"
    };
    check_attribute_fits(&source, &target, &transforms, direction, &at.key(type_key))?;
    Ok(Rule {
        item: Item {
            section: Section::Rule,
            number: index + 1,
            label: Some(label(raw)),
        },
        source,
        target,
        transforms,
        prefer,
        picks,
        direction,
        write_once: raw.write_once,
        when_absent,
    })
}

fn compile_target(raw: &RawRule, at: &NodePath) -> Result<Target, Problem> {
    let field = raw.drupal.trim();
    let base = check_field_name(field)
        .map_err(|(problem, hint)| Problem::new(at.key("drupal"), problem).maybe_hint(hint))?;
    let field_type = match (base, raw.field_type) {
        (Some(base), Some(written)) if written != base.field_type => {
            return Err(Problem::new(
                at.key("type"),
                format!(
                    "{} is a {} field, not {}",
                    base.name,
                    base.field_type.name(),
                    written.name()
                ),
            )
            .hint("delete `type:`; base fields have a known type"))
        }
        (Some(base), _) => base.field_type,
        (None, written) => written.unwrap_or(FieldType::String),
    };
    if raw.multiple && base.is_some() {
        return Err(
            Problem::new(at.key("multiple"), format!("{field} holds one value"))
                .hint("delete `multiple: true`; only custom fields can hold several values"),
        );
    }
    let reference_type = match (field_type, &raw.target) {
        (FieldType::EntityReference, Some(target)) if is_resource_type(target) => {
            Some(target.clone())
        }
        (FieldType::EntityReference, Some(target)) => return Err(Problem::new(
            at.key("target"),
            format!("\"{target}\" is not a JSON:API resource type"),
        )
        .hint(
            "write `<entity type>--<bundle>`, such as `taxonomy_term--department` or `user--user`",
        )),
        (FieldType::EntityReference, None) => return Err(Problem::new(
            at.key("type"),
            "an entity_reference rule needs the type of the entities it points to",
        )
        .hint(
            "add `target: <entity type>--<bundle>`, such as `target: taxonomy_term--department`",
        )),
        (_, Some(_)) => {
            return Err(Problem::new(
                at.key("target"),
                "`target` applies only to entity_reference fields",
            )
            .hint("delete it, or set `type: entity_reference`"))
        }
        (_, None) => None,
    };
    let text_format = match (field_type, &raw.format) {
        (FieldType::Text, Some(format)) if is_machine_name(format) => Some(format.clone()),
        (FieldType::Text, Some(format)) => {
            return Err(Problem::new(
                at.key("format"),
                format!("\"{format}\" is not a text format machine name"),
            )
            .hint("use a machine name such as `plain_text` or `basic_html`"))
        }
        (_, Some(_)) => {
            return Err(
                Problem::new(at.key("format"), "`format` applies only to text fields")
                    .hint("delete it, or set `type: text`"),
            )
        }
        (_, None) => None,
    };
    Ok(Target {
        field: field.to_string(),
        field_type,
        multiple: raw.multiple,
        reference_type,
        text_format,
        base,
    })
}

fn is_machine_name(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_resource_type(text: &str) -> bool {
    text.split_once("--")
        .is_some_and(|(entity, bundle)| is_machine_name(entity) && is_machine_name(bundle))
}

fn compile_source(raw: &RawRule, at: &NodePath, catalog: &Catalog) -> Result<Source, Problem> {
    let present: Vec<&'static str> = [
        ("scim", raw.scim.is_some()),
        ("template", raw.template.is_some()),
        ("constant", raw.constant.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, set)| set.then_some(key))
    .collect();
    if let [first, second, ..] = present.as_slice() {
        return Err(Problem::new(
            at.key(second),
            format!("a rule has one source, but this one has both `{first}` and `{second}`"),
        )
        .hint("keep one of them, or split this into two rules"));
    }
    if let Some(scim) = &raw.scim {
        return ScimPath::parse(scim, catalog)
            .map(Source::Attribute)
            .map_err(|e| Problem::new(at.key("scim"), e.problem).maybe_hint(e.hint));
    }
    if let Some(template) = &raw.template {
        return Template::parse(template, catalog)
            .map(Source::Template)
            .map_err(|e| Problem::new(at.key("template"), e.problem).maybe_hint(e.hint));
    }
    match &raw.constant {
        Some(value) if value.is_object() || value.is_array() => Err(Problem::new(at.key("constant"), "a constant is one plain value")
            .hint("write text, a number or true/false")),
        Some(value) => Ok(Source::Constant(value.clone())),
        None => Err(Problem::new(at.clone(), "the rule has no source")
            .hint("add `scim: <SCIM attribute>` (or `template:` / `constant:`) saying where the value comes from")),
    }
}

/// A password goes to `pass`, where Drupal hashes it, and nowhere else.
fn check_password(source: &Source, target: &Target, at: &NodePath) -> Result<(), Problem> {
    let password = matches!(source, Source::Attribute(p) if p.write_only);
    if password && target.field_type != FieldType::Password {
        return Err(Problem::new(
            at.key("drupal"),
            format!("a password would be stored readable in {}", target.field),
        )
        .hint("map `password` to `pass` only"));
    }
    Ok(())
}

/// Fields the bridge writes itself, which a rule would fight: `status` is
/// the account's active state, which deactivation and deprovisioning set
/// (a rule from anything but `active` would block or reactivate accounts
/// behind the IdP's back, a PUT undoing a deprovisioning); `pass` takes the
/// SCIM password alone (any other value becomes a password whoever reads
/// that value could log in with). `roles` and the ids are no rule's field
/// at all (see `check_field_name`); the deprovisioning marker is the
/// site's, refused where the mapping meets the site's policy.
fn check_bridge_owned(
    source: &Source,
    target: &Target,
    direction: Direction,
    at: &NodePath,
) -> Result<(), Problem> {
    if !direction.writes() {
        return Ok(());
    }
    let from_attribute = |name: &str| {
        matches!(source, Source::Attribute(p)
            if p.core && p.attr.eq_ignore_ascii_case(name) && p.filter.is_none() && p.sub.is_none())
    };
    match target.field.as_str() {
        "status" if !from_attribute("active") => Err(Problem::new(
            at.key("drupal"),
            "status is the account's active state, which the bridge writes from `active` (deactivation, deprovisioning): a rule writing it from another value would block or reactivate accounts behind the IdP's back",
        )
        .hint("map `active` to `status` (`{scim: active, drupal: status}`), and write this value to a field of its own (`field_...`)")),
        "pass" if !from_attribute("password") => Err(Problem::new(
            at.key("drupal"),
            "pass is the account's password, which the bridge writes from the SCIM `password` alone: any other value would become a password whoever can read that value could log in with",
        )
        .hint("map `password` to `pass` only, or delete this rule")),
        _ => Ok(()),
    }
}

/// The Drupal field types a value of a SCIM type can ever be written to;
/// `None` when any can take it (text can hold a number, a date, a UUID).
/// From the conversions of `Target::encode`: a boolean is never a whole
/// number, a date or a UUID, a number never a date or a UUID, a dateTime
/// never a boolean, a number or a UUID. Text of a boolean or a number has
/// no `@` and no URI scheme, so Drupal's own validation refuses it in an
/// `email` or a `link` field every time.
fn fitting_types(kind: AttrType) -> Option<&'static [FieldType]> {
    match kind {
        AttrType::Boolean => Some(&[
            FieldType::String,
            FieldType::StringLong,
            FieldType::Text,
            FieldType::Boolean,
            FieldType::ListString,
            FieldType::Telephone,
        ]),
        AttrType::Integer | AttrType::Decimal => Some(&[
            FieldType::String,
            FieldType::StringLong,
            FieldType::Text,
            FieldType::Boolean,
            FieldType::Integer,
            FieldType::ListString,
            FieldType::ListInteger,
            FieldType::Telephone,
        ]),
        AttrType::DateTime => Some(&[
            FieldType::String,
            FieldType::StringLong,
            FieldType::Text,
            FieldType::ListString,
            FieldType::Telephone,
            FieldType::Link,
            FieldType::Date,
            FieldType::Datetime,
        ]),
        AttrType::String | AttrType::Reference | AttrType::Binary | AttrType::Complex => None,
    }
}

/// A SCIM attribute whose values can never become values of the rule's
/// field (`active`, a boolean, into an `integer` field) would refuse
/// every user carrying it, at request time: refused here, at load.
/// Only what can never succeed is refused: text fits every field (the
/// value itself decides), and a `map` may turn any value into any other
/// (a `join` makes text).
fn check_attribute_fits(
    source: &Source,
    target: &Target,
    transforms: &[Transform],
    direction: Direction,
    at: &NodePath,
) -> Result<(), Problem> {
    let Source::Attribute(path) = source else {
        return Ok(());
    };
    let converted = transforms
        .iter()
        .any(|t| matches!(t, Transform::Map(_) | Transform::Join(_)));
    // `pass` and Drupal's timestamps have rules of their own.
    let own_rules = matches!(
        target.field_type,
        FieldType::Password | FieldType::Timestamp
    );
    if !direction.writes() || converted || own_rules {
        return Ok(());
    }
    let Some(fitting) = fitting_types(path.kind) else {
        return Ok(());
    };
    if fitting.contains(&target.field_type) {
        return Ok(());
    }
    let kind = path.kind.name();
    let names: Vec<&str> = fitting.iter().map(|t| t.name()).collect();
    Err(Problem::new(
        at.clone(),
        format!(
            "{path} is a SCIM {kind}, which never fits the {} field {}: every user carrying it would be refused",
            target.field_type.name(),
            target.field
        ),
    )
    .hint(format!(
        "write it to a field of a type a {kind} fits ({}), or add a `map` transform turning its values into {} ones",
        names.join(", "),
        target.field_type.name()
    )))
}

/// `group_terms.user_field` holds the user's term-backed groups, which the
/// bridge writes on every membership change: a rule writing it would
/// overwrite the memberships (and the roles they grant) at each update.
fn check_group_terms_field(
    terms: &super::groups::GroupTerms,
    rules: &[Rule],
) -> Result<(), Problem> {
    match rules
        .iter()
        .position(|r| r.direction.writes() && r.target.field == terms.user_field)
    {
        Some(index) => Err(Problem::new(
            NodePath::entry(Section::Rule, index).key("drupal"),
            format!(
                "{} holds the users' term-backed groups (group_terms.user_field), which the bridge writes on each membership change; this rule would overwrite them",
                terms.user_field
            ),
        )
        .hint("delete the rule, give it `direction: from_drupal`, or set group_terms.user_field to another field")),
        None => Ok(()),
    }
}

fn compile_direction(
    raw: &RawRule,
    source: &Source,
    target: &Target,
    at: &NodePath,
) -> Result<Direction, Problem> {
    let access = target
        .base
        .map_or(Access::ReadWrite, |b: &BaseField| b.access);
    let write_only_source = matches!(source, Source::Attribute(p) if p.write_only);
    let computed = !matches!(source, Source::Attribute(_));
    // Where only one direction makes sense, it is the default.
    let default = if computed || write_only_source || access == Access::WriteOnly {
        Direction::ToDrupal
    } else if access == Access::ReadOnly {
        Direction::FromDrupal
    } else {
        Direction::Both
    };
    let direction = raw.direction.unwrap_or(default);
    let here = at.key("direction");
    let refuse =
        |problem: String, fix: &str| Err(Problem::new(here.clone(), problem).hint(fix.to_string()));
    if direction.reads() && computed {
        let kind = if raw.template.is_some() {
            "template"
        } else {
            "constant"
        };
        return refuse(
            format!("a {kind} has no SCIM attribute to read the Drupal value back into"),
            "delete `direction:` (a computed value only goes to Drupal)",
        );
    }
    if direction.reads() && write_only_source {
        return refuse(
            "SCIM never returns a password, so it cannot be read back".into(),
            "delete `direction:` or set `direction: to_drupal`",
        );
    }
    if direction.reads() && access == Access::WriteOnly {
        return refuse(
            format!("Drupal never returns {}", target.field),
            "delete `direction:` or set `direction: to_drupal`",
        );
    }
    if direction.writes() && access == Access::ReadOnly {
        return refuse(
            format!("Drupal sets {} itself; it cannot be written", target.field),
            "delete `direction:` or set `direction: from_drupal`",
        );
    }
    if raw.write_once && !direction.writes() {
        return Err(Problem::new(
            at.key("write_once"),
            "this rule only reads, so it is never written",
        )
        .hint("delete `write_once`"));
    }
    Ok(direction)
}

fn compile_when_absent(
    raw: &RawRule,
    direction: Direction,
    target: &Target,
    at: &NodePath,
) -> Result<WhenAbsent, Problem> {
    let never_cleared = target.base.is_some_and(|b| b.never_cleared);
    let default = if never_cleared {
        WhenAbsent::Keep
    } else {
        WhenAbsent::Clear
    };
    let Some(written) = raw.when_absent else {
        return Ok(default);
    };
    let here = at.key("when_absent");
    if !direction.writes() {
        return Err(
            Problem::new(here, "this rule only reads, so `when_absent` has no effect")
                .hint("delete `when_absent`"),
        );
    }
    if raw.write_once {
        return Err(Problem::new(
            here,
            "a write-once field is never updated, so `when_absent` has no effect",
        )
        .hint("delete `when_absent`"));
    }
    if written == WhenAbsent::Clear && never_cleared {
        let why = match target.field.as_str() {
            "status" => "a PUT without `active` must not block the user",
            "pass" => "a PUT without a password must not remove the password",
            _ => "Drupal requires it",
        };
        return Err(
            Problem::new(here, format!("{} is never cleared: {why}", target.field))
                .hint("delete `when_absent` (it is `keep` for this field)"),
        );
    }
    Ok(written)
}

fn compile_transform(
    raw: &RawTransform,
    target: &Target,
    at: &NodePath,
) -> Result<Transform, Problem> {
    let refuse = |problem: String, fix: String| Err(Problem::new(at.clone(), problem).hint(fix));
    match raw {
        RawTransform::Lowercase => Ok(Transform::Lowercase),
        RawTransform::Trim => Ok(Transform::Trim),
        RawTransform::Langcode => Ok(Transform::Langcode),
        RawTransform::Truncate(None) => match target.max_chars() {
            Some(max) => Ok(Transform::Truncate(max)),
            None => refuse(
                format!("the mapping does not know how long {} may be", target.field),
                "give the number of characters, such as `truncate: 255`".into(),
            ),
        },
        RawTransform::Truncate(Some(0)) => refuse(
            "`truncate: 0` would erase every value".into(),
            "give the field's length limit, such as `truncate: 255`".into(),
        ),
        RawTransform::Truncate(Some(wanted)) => {
            let wanted = usize::try_from(*wanted).unwrap_or(usize::MAX);
            match target.max_chars() {
                Some(max) if wanted > max => refuse(
                    format!("{} holds at most {max} characters", target.field),
                    format!("use `truncate: {max}`, or just `truncate`"),
                ),
                _ => Ok(Transform::Truncate(wanted)),
            }
        }
        RawTransform::Default(value)
            if value.is_null() || value.is_array() || value.is_object() =>
        {
            refuse(
                "a default is one plain value".into(),
                "write text, a number or true/false".into(),
            )
        }
        RawTransform::Default(value) => Ok(Transform::Default(value.clone())),
        RawTransform::Map(table) if table.is_empty() => refuse(
            "the map is empty".into(),
            "list `SCIM value: Drupal value` pairs, such as `{Engineering: eng}`".into(),
        ),
        RawTransform::Map(table) => {
            if let Some((key, _)) = table.iter().find(|(_, to)| to.is_array() || to.is_object()) {
                return refuse(
                    format!("the map sends \"{key}\" to a list or object"),
                    "map each value to one plain value".into(),
                );
            }
            Ok(Transform::Map(table.clone()))
        }
        RawTransform::Split(separator) | RawTransform::Join(separator) if separator.is_empty() => {
            refuse(
                "the separator is empty".into(),
                "give the text between values, such as `\",\"`".into(),
            )
        }
        RawTransform::Split(separator) => Ok(Transform::Split(separator.clone())),
        RawTransform::Join(separator) => Ok(Transform::Join(separator.clone())),
    }
}

fn compile_prefer(
    raw: &RawRule,
    source: &Source,
    picks: bool,
    at: &NodePath,
) -> Result<Vec<Preference>, Problem> {
    if raw.prefer.is_empty() {
        return Ok(Vec::new());
    }
    let here = at.key("prefer");
    let plural = matches!(source, Source::Attribute(p) if p.is_plural_complex());
    if !plural {
        return Err(Problem::new(here, "`prefer` chooses among the elements of a multi-valued attribute, and this source has one value")
            .hint("delete `prefer`"));
    }
    if !picks {
        return Err(Problem::new(
            here,
            "this rule takes every element, so there is nothing to choose",
        )
        .hint("delete `prefer`, or drop `multiple`/`join` to fill the field from one element"));
    }
    raw.prefer
        .iter()
        .enumerate()
        .map(|(i, word)| match word.trim() {
            "primary" => Ok(Preference::Primary),
            kind if !kind.is_empty() && !kind.contains(char::is_whitespace) => {
                Ok(Preference::Type(kind.to_string()))
            }
            _ => Err(Problem::new(
                here.index(i),
                format!("\"{word}\" is neither `primary` nor a type"),
            )
            .hint("list `primary` and/or type values, such as `[primary, work]`")),
        })
        .collect()
}

/// One value or several, along the way to Drupal and back.
fn check_cardinality(
    source: &Source,
    target: &Target,
    transforms: &[Transform],
    picks: bool,
    direction: Direction,
    at: &NodePath,
) -> Result<(), Problem> {
    let source_many = matches!(source, Source::Attribute(p) if p.multi_valued);
    let mut many = source_many && !picks;
    for (i, transform) in transforms.iter().enumerate() {
        match transform {
            Transform::Split(_) => many = true,
            Transform::Join(_) if !many => {
                return Err(Problem::new(
                    at.key("transforms").index(i),
                    "`join` needs several values, and this source gives one",
                )
                .hint("delete `join`"))
            }
            Transform::Join(_) => many = false,
            _ => {}
        }
    }
    if many && !target.multiple {
        return Err(Problem::new(at.key("drupal"), format!("several values would go to {}, which holds one", target.field))
            .hint("add `multiple: true` if the Drupal field takes several values, or add a `join` transform"));
    }
    if !direction.reads() {
        return Ok(());
    }
    let mut many = target.multiple;
    for transform in transforms.iter().rev() {
        match transform {
            Transform::Split(_) => many = false,
            Transform::Join(_) => many = true,
            _ => {}
        }
    }
    if many && !source_many {
        return Err(Problem::new(
            at.key("multiple"),
            format!(
                "{} holds several values, but the SCIM attribute holds one",
                target.field
            ),
        )
        .hint("set `direction: to_drupal`, or add a `split` transform so reads join the values"));
    }
    Ok(())
}

/// Constants and defaults are known now: a value that cannot fit the
/// field is refused at start-up rather than on the first user.
fn check_fixed_values(
    source: &Source,
    target: &Target,
    transforms: &[Transform],
    at: &NodePath,
) -> Result<(), Problem> {
    let fits = |value: &Value, rest: &[Transform]| -> Result<(), String> {
        let values = rest.iter().fold(vec![value.clone()], |v, t| t.forward(v));
        if values.is_empty() {
            return Ok(());
        }
        target.encode(&values).map(|_| ())
    };
    if let Source::Constant(value) = source {
        fits(value, transforms).map_err(|problem| {
            Problem::new(
                at.key("constant"),
                format!("the constant does not fit {}: {problem}", target.field),
            )
            .hint(format!("give a {} value", target.field_type.name()))
        })?;
    }
    for (i, transform) in transforms.iter().enumerate() {
        if let Transform::Default(value) = transform {
            fits(value, transforms.get(i + 1..).unwrap_or(&[])).map_err(|problem| {
                Problem::new(
                    at.key("transforms").index(i),
                    format!("the default does not fit {}: {problem}", target.field),
                )
                .hint(format!("give a {} value", target.field_type.name()))
            })?;
        }
    }
    Ok(())
}

/// Two rules may not write one Drupal field, nor read into one SCIM value.
fn check_overlap(rule: &Rule, earlier: &[Rule], index: usize) -> Result<(), Problem> {
    let at = NodePath::entry(Section::Rule, index);
    if rule.direction.writes() {
        if let Some(other) = earlier
            .iter()
            .find(|r| r.direction.writes() && r.target.field == rule.target.field)
        {
            return Err(Problem::new(
                at.key("drupal"),
                format!(
                    "{} is already written by rule {}",
                    rule.target.field, other.item.number
                ),
            )
            .hint(
                "one field has one source: delete one rule, or give one `direction: from_drupal`",
            ));
        }
    }
    if let (true, Some(path)) = (rule.direction.reads(), rule.scim_path()) {
        let slot = read_slot(rule, path);
        if let Some(other) = earlier
            .iter()
            .find(|r| r.direction.reads() && r.scim_path().is_some_and(|p| read_slot(r, p) == slot))
        {
            return Err(Problem::new(
                at.key("scim"),
                format!("{path} is already read back by rule {}", other.item.number),
            )
            .hint("a SCIM value has one source: give one of the rules `direction: to_drupal`"));
        }
    }
    Ok(())
}

/// Where a rule's values land in the SCIM user.
fn read_slot(rule: &Rule, path: &ScimPath) -> String {
    format!(
        "{}|{}|{:?}|{:?}|{}",
        path.schema.to_ascii_lowercase(),
        path.attr.to_ascii_lowercase(),
        path.sub.as_deref().map(str::to_ascii_lowercase),
        rule.element_identity(),
        rule.marks_primary()
    )
}

fn compile_match_key(
    written: Option<&str>,
    rules: &[Rule],
    catalog: &Catalog,
) -> Result<MatchKey, Problem> {
    let at = NodePath::root().key("match_key");
    let text = written.unwrap_or("userName");
    let path = ScimPath::parse(text, catalog)
        .map_err(|e| Problem::new(at.clone(), e.problem).maybe_hint(e.hint))?;
    let both_ways = |r: &&Rule| r.direction == Direction::Both;
    let Some(rule) = rules
        .iter()
        .filter(both_ways)
        .find(|r| r.scim_path() == Some(&path))
    else {
        let problem = match written {
            Some(_) => format!("no rule maps the match key {text} both ways"),
            None => {
                "`match_key` defaults to userName, but no rule maps userName both ways".to_string()
            }
        };
        let candidates: Vec<String> = rules
            .iter()
            .filter(both_ways)
            .filter_map(|r| r.scim_path().map(ToString::to_string))
            .collect();
        let hint = if candidates.is_empty() {
            format!("add a rule `scim: {text}` that maps it to a Drupal field")
        } else {
            format!("set `match_key:` to one of: {}", candidates.join(", "))
        };
        return Err(Problem::new(at, problem).hint(hint));
    };
    if rule.target.multiple || rule.transforms.iter().any(Transform::is_split_or_join) {
        return Err(Problem::new(
            at,
            format!(
                "the match key must find one Drupal value, but rule {} spreads it over several",
                rule.item.number
            ),
        )
        .hint("choose a rule without `multiple`, `split` or `join`"));
    }
    Ok(MatchKey {
        scim_attribute: path.to_string(),
        binding: rule.binding(),
    })
}
