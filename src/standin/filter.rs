//! The `filter`, `sort` and `page` query parameters: parsed as Drupal's
//! JSON:API parses them and evaluated with the SQL semantics of the recorded
//! SQLite site (NULL never matches, numbers sort before text, LIKE ignores case).

use std::cmp::Ordering;

use super::errors::ApiError;
use super::query::QueryValue;

/// How a text column compares (`COLLATE NOCASE_UTF8` or binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collation {
    Binary,
    NoCase,
    /// MySQL and MariaDB's `utf8mb4_general_ci`: case and accents ignored.
    GeneralCi,
}

/// One stored value as the database sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String, Collation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    StartsWith,
    Contains,
    EndsWith,
    In,
    NotIn,
    Between,
    NotBetween,
    IsNull,
    IsNotNull,
}

impl Operator {
    fn parse(s: &str) -> Option<Operator> {
        Some(match s {
            "=" => Operator::Eq,
            "<>" => Operator::Ne,
            ">" => Operator::Gt,
            ">=" => Operator::Ge,
            "<" => Operator::Lt,
            "<=" => Operator::Le,
            "STARTS_WITH" => Operator::StartsWith,
            "CONTAINS" => Operator::Contains,
            "ENDS_WITH" => Operator::EndsWith,
            "IN" => Operator::In,
            "NOT IN" => Operator::NotIn,
            "BETWEEN" => Operator::Between,
            "NOT BETWEEN" => Operator::NotBetween,
            "IS NULL" => Operator::IsNull,
            "IS NOT NULL" => Operator::IsNotNull,
            _ => return None,
        })
    }

    fn takes_no_value(self) -> bool {
        matches!(self, Operator::IsNull | Operator::IsNotNull)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition<C> {
    pub(crate) column: C,
    pub(crate) operator: Operator,
    pub(crate) values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FilterNode<C> {
    Group {
        any: bool,
        members: Vec<FilterNode<C>>,
    },
    Condition(Condition<C>),
}

/// Turns a public field path into a column, or the error Drupal gives for it.
pub(crate) type Resolver<'a, C> = &'a dyn Fn(&str) -> Result<C, ApiError>;

const ROOT: &str = "@root";

enum RawKind {
    Group {
        conjunction: String,
    },
    Condition {
        path: Option<String>,
        operator: String,
        value: Option<QueryValue>,
    },
}

struct RawItem {
    id: String,
    member_of: String,
    kind: RawKind,
}

fn text(value: Option<&QueryValue>) -> Option<String> {
    value.and_then(QueryValue::as_str).map(str::to_string)
}

/// Expands shorthand (`filter[name]=x`, `filter[name][value]=x`) into the
/// condition syntax, as `Filter::expandItem` does.
fn expand(id: &str, item: &QueryValue) -> RawItem {
    let member_of =
        |map: &QueryValue| text(map.get("memberOf")).unwrap_or_else(|| ROOT.to_string());
    match item {
        QueryValue::Str(value) => RawItem {
            id: id.to_string(),
            member_of: ROOT.to_string(),
            kind: RawKind::Condition {
                path: Some(id.to_string()),
                operator: "=".to_string(),
                value: Some(QueryValue::Str(value.clone())),
            },
        },
        QueryValue::Map(_) => {
            if let Some(group) = item.get("group") {
                return RawItem {
                    id: id.to_string(),
                    member_of: member_of(group),
                    kind: RawKind::Group {
                        conjunction: text(group.get("conjunction")).unwrap_or_default(),
                    },
                };
            }
            let (condition, default_path) = match item.get("condition") {
                Some(condition) => (condition, None),
                None => (item, Some(id.to_string())),
            };
            RawItem {
                id: id.to_string(),
                member_of: member_of(condition),
                kind: RawKind::Condition {
                    path: text(condition.get("path")).or(default_path),
                    operator: text(condition.get("operator")).unwrap_or_else(|| "=".to_string()),
                    value: condition.get("value").cloned(),
                },
            }
        }
    }
}

/// Parses the `filter` parameter into a tree whose root ANDs the top-level items.
pub(crate) fn parse_filter<C>(
    param: &QueryValue,
    resolve: Resolver<C>,
) -> Result<FilterNode<C>, ApiError> {
    let QueryValue::Map(items) = param else {
        return Err(ApiError::bad_request(
            "The filter parameter must be an array.",
        ));
    };
    let raw: Vec<RawItem> = items.iter().map(|(id, item)| expand(id, item)).collect();
    build_group(ROOT, false, &raw, resolve, 0)
}

/// Nesting deeper than this cannot come from a sane client; it also bounds recursion.
const MAX_DEPTH: usize = 16;

fn build_group<C>(
    id: &str,
    any: bool,
    items: &[RawItem],
    resolve: Resolver<C>,
    depth: usize,
) -> Result<FilterNode<C>, ApiError> {
    if depth > MAX_DEPTH {
        return Err(ApiError::bad_request(
            "Filter groups are nested too deeply.",
        ));
    }
    let mut members = Vec::new();
    for item in items
        .iter()
        .filter(|item| item.member_of == id && item.id != id)
    {
        match &item.kind {
            RawKind::Group { conjunction } => {
                let any = match conjunction.as_str() {
                    "AND" => false,
                    "OR" => true,
                    _ => return Err(ApiError::bad_request("Allowed conjunctions: AND, OR.")),
                };
                members.push(build_group(&item.id, any, items, resolve, depth + 1)?);
            }
            RawKind::Condition {
                path,
                operator,
                value,
            } => {
                members.push(FilterNode::Condition(build_condition(
                    path, operator, value, resolve,
                )?));
            }
        }
    }
    Ok(FilterNode::Group { any, members })
}

fn build_condition<C>(
    path: &Option<String>,
    operator: &str,
    value: &Option<QueryValue>,
    resolve: Resolver<C>,
) -> Result<Condition<C>, ApiError> {
    let Some(path) = path else {
        return Err(ApiError::bad_request(
            "Filter parameter is missing a 'path' key.",
        ));
    };
    let Some(op) = Operator::parse(operator) else {
        return Err(ApiError::bad_request(format!(
            "The '{operator}' operator is not allowed in a filter parameter."
        )));
    };
    let values = match (op.takes_no_value(), value) {
        (true, _) => Vec::new(),
        (false, None) => {
            return Err(ApiError::bad_request(
                "Filter parameter is missing a 'value' key.",
            ))
        }
        (false, Some(QueryValue::Str(s))) => vec![s.clone()],
        (false, Some(QueryValue::Map(list))) => list
            .iter()
            .filter_map(|(_, v)| v.as_str().map(str::to_string))
            .collect(),
    };
    if matches!(op, Operator::Between | Operator::NotBetween) && values.len() != 2 {
        return Err(ApiError::bad_request(format!(
            "The '{operator}' operator requires an array of exactly two values."
        )));
    }
    Ok(Condition {
        column: resolve(path)?,
        operator: op,
        values,
    })
}

impl<C> FilterNode<C> {
    /// Whether a row matches; `cells` gives a column's values (several for
    /// multi-valued fields, which match when any value does, like a SQL join).
    pub(crate) fn matches(&self, cells: &dyn Fn(&C) -> Vec<Cell>) -> bool {
        match self {
            FilterNode::Group { any: true, members } => {
                members.is_empty() || members.iter().any(|m| m.matches(cells))
            }
            FilterNode::Group {
                any: false,
                members,
            } => members.iter().all(|m| m.matches(cells)),
            FilterNode::Condition(condition) => {
                let mut values = cells(&condition.column);
                if values.is_empty() {
                    values.push(Cell::Null);
                }
                values
                    .iter()
                    .any(|cell| test(cell, condition.operator, &condition.values))
            }
        }
    }
}

/// SQLite ordering of a stored value against a query value (always text).
fn compare(cell: &Cell, value: &str) -> Option<Ordering> {
    match cell {
        Cell::Null => None,
        Cell::Int(n) => Some(match value.trim().parse::<f64>() {
            Ok(v) => (*n as f64).partial_cmp(&v).unwrap_or(Ordering::Equal),
            // A number is smaller than any text.
            Err(_) => Ordering::Less,
        }),
        Cell::Text(s, collation) => Some(collate(s, value, *collation)),
    }
}

/// Case is ignored in ASCII only, as by Drupal's conditions on SQLite
/// (`LIKE`, recorded): "Émile" is not "ÉMILE" there, "emile" is "EMILE".
fn collate(a: &str, b: &str, collation: Collation) -> Ordering {
    match collation {
        Collation::Binary => a.cmp(b),
        Collation::NoCase => a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()),
        Collation::GeneralCi => general_ci(a).cmp(&general_ci(b)),
    }
}

/// `text` as `utf8mb4_general_ci` compares it: letters without their
/// accents (combining marks of the decomposed form), lower-cased.
pub(crate) fn general_ci(text: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

/// How LIKE folds a text before comparing.
type Fold = fn(&str) -> String;

/// The cell's text as LIKE compares it, and how to fold the pattern alike.
fn like_text(cell: &Cell) -> Option<(String, Fold)> {
    let ascii: Fold = |s| s.to_ascii_lowercase();
    match cell {
        Cell::Null => None,
        Cell::Int(n) => Some((n.to_string(), ascii)),
        Cell::Text(s, Collation::GeneralCi) => Some((general_ci(s), general_ci)),
        Cell::Text(s, _) => Some((s.to_ascii_lowercase(), ascii)),
    }
}

fn test(cell: &Cell, op: Operator, values: &[String]) -> bool {
    let first = values.first().map(String::as_str).unwrap_or_default();
    let is = |wanted: &[Ordering], value: &str| {
        compare(cell, value).is_some_and(|o| wanted.contains(&o))
    };
    let like = |check: &dyn Fn(&str, &str) -> bool| {
        like_text(cell).is_some_and(|(text, fold)| check(&text, &fold(first)))
    };
    let between = || {
        is(&[Ordering::Greater, Ordering::Equal], first)
            && values
                .get(1)
                .is_some_and(|upper| is(&[Ordering::Less, Ordering::Equal], upper))
    };
    match op {
        Operator::Eq => is(&[Ordering::Equal], first),
        Operator::Ne => is(&[Ordering::Less, Ordering::Greater], first),
        Operator::Gt => is(&[Ordering::Greater], first),
        Operator::Ge => is(&[Ordering::Greater, Ordering::Equal], first),
        Operator::Lt => is(&[Ordering::Less], first),
        Operator::Le => is(&[Ordering::Less, Ordering::Equal], first),
        Operator::StartsWith => like(&|text, v| text.starts_with(v)),
        Operator::Contains => like(&|text, v| text.contains(v)),
        Operator::EndsWith => like(&|text, v| text.ends_with(v)),
        Operator::In => values.iter().any(|v| is(&[Ordering::Equal], v)),
        Operator::NotIn => *cell != Cell::Null && !values.iter().any(|v| is(&[Ordering::Equal], v)),
        Operator::Between => between(),
        Operator::NotBetween => *cell != Cell::Null && !between(),
        Operator::IsNull => *cell == Cell::Null,
        Operator::IsNotNull => *cell != Cell::Null,
    }
}

/// ORDER BY semantics: NULL first, numbers before text, text by collation.
pub(crate) fn order_cells(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        (Cell::Null, Cell::Null) => Ordering::Equal,
        (Cell::Null, _) => Ordering::Less,
        (_, Cell::Null) => Ordering::Greater,
        (Cell::Int(x), Cell::Int(y)) => x.cmp(y),
        (Cell::Int(_), Cell::Text(..)) => Ordering::Less,
        (Cell::Text(..), Cell::Int(_)) => Ordering::Greater,
        // ORDER BY compares bytes even where conditions ignore case: on
        // Drupal's SQLite only the conditions are rewritten to LIKE
        // (tests/fixtures/real-drupal/sort-name-binary.json).
        (Cell::Text(x, _), Cell::Text(y, _)) => x.cmp(y),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortKey<C> {
    pub(crate) column: C,
    pub(crate) descending: bool,
}

/// `sort=a,-b` or `sort[k][path]=a&sort[k][direction]=DESC`.
pub(crate) fn parse_sort<C>(
    param: &QueryValue,
    resolve: Resolver<C>,
) -> Result<Vec<SortKey<C>>, ApiError> {
    let missing = || ApiError::bad_request("You need to provide a value for the sort parameter.");
    let mut keys = Vec::new();
    match param {
        QueryValue::Str(list) => {
            for item in list.split(',').map(str::trim) {
                let (path, descending) = match item.strip_prefix('-') {
                    Some(path) => (path, true),
                    None => (item, false),
                };
                if path.is_empty() {
                    return Err(missing());
                }
                keys.push(SortKey {
                    column: resolve(path)?,
                    descending,
                });
            }
        }
        QueryValue::Map(items) => {
            for (_, item) in items {
                let path = text(item.get("path")).ok_or_else(missing)?;
                let descending =
                    text(item.get("direction")).is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
                keys.push(SortKey {
                    column: resolve(&path)?,
                    descending,
                });
            }
        }
    }
    Ok(keys)
}

/// Drupal's `OffsetPage`: limit capped at 50, default 50.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) offset: i64,
    pub(crate) limit: i64,
}

pub(crate) const PAGE_SIZE_MAX: i64 = 50;

pub(crate) fn parse_page(param: Option<&QueryValue>) -> Result<Page, ApiError> {
    let Some(param) = param else {
        return Ok(Page {
            offset: 0,
            limit: PAGE_SIZE_MAX,
        });
    };
    let QueryValue::Map(_) = param else {
        return Err(ApiError::bad_request(
            "The page parameter needs to be an array.",
        ));
    };
    let number = |key: &str, default: i64| -> Result<i64, ApiError> {
        match text(param.get(key)) {
            None => Ok(default),
            Some(raw) => raw.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("The page {key} needs to be an integer."))
            }),
        }
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", PAGE_SIZE_MAX)?.min(PAGE_SIZE_MAX);
    if limit <= 0 {
        return Err(ApiError::bad_request(
            "The page size needs to be a positive integer.",
        ));
    }
    Ok(Page { offset, limit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::query::Query;

    fn resolve(path: &str) -> Result<String, ApiError> {
        match path {
            "nosuch" => Err(ApiError::bad_request("unknown")),
            other => Ok(other.to_string()),
        }
    }

    fn filter(raw: &str) -> Result<FilterNode<String>, ApiError> {
        let query = Query::parse(raw);
        parse_filter(query.get("filter").unwrap(), &resolve)
    }

    fn row<'a>(cells: &'a [(&'a str, Cell)]) -> impl Fn(&String) -> Vec<Cell> + 'a {
        move |column: &String| {
            cells
                .iter()
                .filter(|(c, _)| c == column)
                .map(|(_, v)| v.clone())
                .collect()
        }
    }

    #[test]
    fn shorthand_filter_is_an_equality_condition() {
        let tree = filter("filter[name]=ALICE").unwrap();
        let cells = [("name", Cell::Text("alice".into(), Collation::NoCase))];
        assert!(tree.matches(&row(&cells)));
    }

    #[test]
    fn binary_collation_makes_equality_case_sensitive_but_like_operators_are_not() {
        let cells = [(
            "mail",
            Cell::Text("alice@example.com".into(), Collation::Binary),
        )];
        assert!(!filter("filter[mail]=ALICE@EXAMPLE.COM")
            .unwrap()
            .matches(&row(&cells)));
        let contains = "filter[m][condition][path]=mail&filter[m][condition][operator]=CONTAINS&filter[m][condition][value]=EXAMPLE";
        assert!(filter(contains).unwrap().matches(&row(&cells)));
    }

    #[test]
    fn words_never_equal_integer_columns_and_rfc3339_is_greater_than_any_number() {
        let cells = [
            ("status", Cell::Int(1)),
            ("changed", Cell::Int(1_795_867_707)),
        ];
        assert!(filter("filter[status]=1").unwrap().matches(&row(&cells)));
        assert!(!filter("filter[status]=true").unwrap().matches(&row(&cells)));
        let gt = "filter[c][condition][path]=changed&filter[c][condition][operator]=%3E&filter[c][condition][value]=2026-11-28T12%3A08%3A27%2B00%3A00";
        assert!(!filter(gt).unwrap().matches(&row(&cells)));
        let gt_unix = "filter[c][condition][path]=changed&filter[c][condition][operator]=%3E&filter[c][condition][value]=1795867706";
        assert!(filter(gt_unix).unwrap().matches(&row(&cells)));
    }

    #[test]
    fn or_groups_collect_members_by_member_of_and_nest() {
        let raw = "filter[top][group][conjunction]=OR&filter[inner][group][conjunction]=AND&filter[inner][group][memberOf]=top\
                   &filter[s][condition][path]=status&filter[s][condition][value]=1&filter[s][condition][memberOf]=inner\
                   &filter[b][condition][path]=name&filter[b][condition][value]=bob&filter[b][condition][memberOf]=top";
        let tree = filter(raw).unwrap();
        let bob = [
            ("name", Cell::Text("bob".into(), Collation::NoCase)),
            ("status", Cell::Int(0)),
        ];
        let ann = [
            ("name", Cell::Text("ann".into(), Collation::NoCase)),
            ("status", Cell::Int(1)),
        ];
        let cid = [
            ("name", Cell::Text("cid".into(), Collation::NoCase)),
            ("status", Cell::Int(0)),
        ];
        assert!(tree.matches(&row(&bob)));
        assert!(tree.matches(&row(&ann)));
        assert!(!tree.matches(&row(&cid)));
    }

    #[test]
    fn null_matches_only_is_null_and_never_not_in() {
        let cells = [("x", Cell::Null)];
        assert!(
            filter("filter[a][condition][path]=x&filter[a][condition][operator]=IS%20NULL")
                .unwrap()
                .matches(&row(&cells))
        );
        let not_in = "filter[a][condition][path]=x&filter[a][condition][operator]=NOT%20IN&filter[a][condition][value][]=q";
        assert!(!filter(not_in).unwrap().matches(&row(&cells)));
        assert!(!filter("filter[a][condition][path]=x&filter[a][condition][operator]=%3C%3E&filter[a][condition][value]=q")
            .unwrap()
            .matches(&row(&cells)));
    }

    #[test]
    fn multi_valued_columns_match_when_any_value_does() {
        let cells = [
            ("roles", Cell::Text("editor".into(), Collation::Binary)),
            ("roles", Cell::Text("engineering".into(), Collation::Binary)),
        ];
        assert!(filter("filter[roles]=engineering")
            .unwrap()
            .matches(&row(&cells)));
    }

    #[test]
    fn unknown_operators_and_missing_paths_are_rejected_with_drupal_messages() {
        let like = filter("filter[n][condition][path]=name&filter[n][condition][operator]=LIKE&filter[n][condition][value]=a");
        assert_eq!(
            like.unwrap_err().detail,
            "The 'LIKE' operator is not allowed in a filter parameter."
        );
        let no_path = filter("filter[n][condition][value]=a");
        assert_eq!(
            no_path.unwrap_err().detail,
            "Filter parameter is missing a 'path' key."
        );
        assert_eq!(filter("filter[nosuch]=x").unwrap_err().detail, "unknown");
    }

    #[test]
    fn sort_accepts_a_comma_list_with_minus_for_descending() {
        let query = Query::parse("sort=created,-drupal_internal__uid");
        let keys = parse_sort(query.get("sort").unwrap(), &resolve).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!keys[0].descending);
        assert!(keys[1].descending && keys[1].column == "drupal_internal__uid");
    }

    #[test]
    fn page_limit_is_capped_at_fifty_and_zero_is_rejected() {
        let capped = Query::parse("page[limit]=200");
        assert_eq!(
            parse_page(capped.get("page")).unwrap(),
            Page {
                offset: 0,
                limit: 50
            }
        );
        let zero = Query::parse("page[limit]=0");
        assert_eq!(
            parse_page(zero.get("page")).unwrap_err().detail,
            "The page size needs to be a positive integer."
        );
        let negative = Query::parse("page[offset]=-1");
        assert_eq!(parse_page(negative.get("page")).unwrap().offset, -1);
    }

    #[test]
    fn nulls_sort_first_and_numbers_before_text() {
        assert_eq!(order_cells(&Cell::Null, &Cell::Int(0)), Ordering::Less);
        assert_eq!(
            order_cells(&Cell::Int(9), &Cell::Text("a".into(), Collation::Binary)),
            Ordering::Less
        );
        // Sorting compares bytes even on case-insensitive columns, as the
        // real site does (tests/fixtures/real-drupal/sort-name-binary.json).
        assert_eq!(
            order_cells(
                &Cell::Text("B".into(), Collation::NoCase),
                &Cell::Text("a".into(), Collation::NoCase)
            ),
            Ordering::Less
        );
    }
}
