//! JSON:API collection queries (`filter`, `sort`, `page`, `fields`) as typed
//! values, encoded the way Drupal's JSON:API module reads them.

/// Drupal JSON:API filter operators (core `EntityCondition::$allowedOperators`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    NotEq,
    Gt,
    Ge,
    Lt,
    Le,
    StartsWith,
    Contains,
    EndsWith,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::NotEq => "<>",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::StartsWith => "STARTS_WITH",
            Operator::Contains => "CONTAINS",
            Operator::EndsWith => "ENDS_WITH",
            Operator::In => "IN",
            Operator::NotIn => "NOT IN",
            Operator::IsNull => "IS NULL",
            Operator::IsNotNull => "IS NOT NULL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conjunction {
    And,
    Or,
}

/// A filter tree: conditions on field paths, joined by condition groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `path op value`; `values` is empty for IS (NOT) NULL, one value for
    /// scalar operators and any number for IN / NOT IN.
    Field {
        path: String,
        op: Operator,
        values: Vec<String>,
    },
    Group {
        conjunction: Conjunction,
        members: Vec<Condition>,
    },
}

impl Condition {
    pub fn field(path: impl Into<String>, op: Operator, value: impl Into<String>) -> Condition {
        Condition::Field {
            path: path.into(),
            op,
            values: vec![value.into()],
        }
    }

    pub fn null_check(path: impl Into<String>, op: Operator) -> Condition {
        Condition::Field {
            path: path.into(),
            op,
            values: Vec::new(),
        }
    }

    pub fn all(members: Vec<Condition>) -> Condition {
        Condition::Group {
            conjunction: Conjunction::And,
            members,
        }
    }

    pub fn any(members: Vec<Condition>) -> Condition {
        Condition::Group {
            conjunction: Conjunction::Or,
            members,
        }
    }

    /// A condition that keeps every entity whose `path` compares with
    /// `value` by `op` (`=`, `CONTAINS`, `STARTS_WITH`, `ENDS_WITH`)
    /// ignoring case, whatever the database. Drupal ignores case with
    /// these in ASCII on every database, beyond ASCII only on some:
    /// SQLite's `LIKE` tells "É" from "é" (recorded). So a value holding
    /// such letters is asked for by the runs of other characters between
    /// them, every one of which any spelling of it holds ("Ärzte Équipe"
    /// by "rzte" and "quipe"), and the answer is a superset the caller
    /// compares itself ([`Caseless::Superset`]); a value with no such run
    /// cannot be narrowed ([`Caseless::Unnarrowed`]).
    pub fn ignoring_case(path: &str, op: Operator, value: &str) -> Caseless {
        if !value.chars().any(cased_beyond_ascii) {
            return Caseless::Exact(Condition::field(path, op, value));
        }
        let mut runs: Vec<Condition> = value
            .split(cased_beyond_ascii)
            .map(str::trim)
            .filter(|run| !run.is_empty())
            .collect::<std::collections::BTreeSet<&str>>()
            .into_iter()
            .map(|run| Condition::field(path, Operator::Contains, run))
            .collect();
        match runs.len() {
            0 => Caseless::Unnarrowed,
            1 => Caseless::Superset(runs.remove(0)),
            _ => Caseless::Superset(Condition::all(runs)),
        }
    }
}

/// What [`Condition::ignoring_case`] can ask Drupal.
#[derive(Debug, Clone, PartialEq)]
pub enum Caseless {
    /// Drupal applies it ignoring case on every database: what `=` and
    /// the LIKE operators do in ASCII.
    Exact(Condition),
    /// Keeps every match and maybe more: compare what comes back.
    Superset(Condition),
    /// Drupal cannot narrow: every entity is a candidate.
    Unnarrowed,
}

/// A character whose case Drupal on SQLite does not ignore: a non-ASCII
/// one with another case.
fn cased_beyond_ascii(c: char) -> bool {
    !c.is_ascii() && (!c.to_lowercase().eq([c]) || !c.to_uppercase().eq([c]))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// One page request against a collection. `limit` above Drupal's cap (50) is
/// silently capped by Drupal, so callers follow `links.next` instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionQuery {
    pub filter: Option<Condition>,
    pub sort: Vec<SortKey>,
    pub offset: usize,
    pub limit: Option<usize>,
    /// Sparse fieldset for `user--user`; `None` returns every field.
    pub fields: Option<Vec<String>>,
    /// Resources referenced by a relationship, sent along in `included`.
    pub include: Option<Include>,
}

/// `include=<relationship>`, with a sparse fieldset for the type it
/// includes: the referenced resources come in the same answer (recorded:
/// case 354), no request of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    pub relationship: String,
    /// The included resources' type, such as `taxonomy_term--tags`.
    pub resource_type: String,
    pub fields: Vec<String>,
}

impl Include {
    /// Query-string pairs, not yet percent-encoded.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("include".into(), self.relationship.clone()),
            (
                format!("fields[{}]", self.resource_type),
                self.fields.join(","),
            ),
        ]
    }
}

/// Drupal's page size cap (`page[limit]` larger than this is reduced to it).
pub const DRUPAL_PAGE_CAP: usize = 50;

impl CollectionQuery {
    /// The query of the page after this one: the same query, its offset
    /// moved on by its page size, as Drupal's own `links.next` does. The
    /// bridge builds it itself: a `links.next` only tells that a next page
    /// exists, and following its URL would send whatever query Drupal (or
    /// whatever answers in its place) put there, its filter dropped.
    pub fn next_page(&self) -> CollectionQuery {
        let size = self
            .limit
            .unwrap_or(DRUPAL_PAGE_CAP)
            .clamp(1, DRUPAL_PAGE_CAP);
        CollectionQuery {
            offset: self.offset.saturating_add(size),
            ..self.clone()
        }
    }

    /// Query-string pairs, not yet percent-encoded.
    pub fn to_pairs(&self, resource_type: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if let Some(filter) = &self.filter {
            let mut namer = 0usize;
            encode_condition(filter, None, &mut namer, &mut pairs);
        }
        if !self.sort.is_empty() {
            let sort = self
                .sort
                .iter()
                .map(|k| {
                    if k.descending {
                        format!("-{}", k.field)
                    } else {
                        k.field.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(",");
            pairs.push(("sort".into(), sort));
        }
        if self.offset > 0 {
            pairs.push(("page[offset]".into(), self.offset.to_string()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("page[limit]".into(), limit.max(1).to_string()));
        }
        if let Some(fields) = &self.fields {
            pairs.push((format!("fields[{resource_type}]"), fields.join(",")));
        }
        if let Some(include) = &self.include {
            pairs.extend(include.to_pairs());
        }
        pairs
    }
}

/// Every node gets its own key (`c0`, `c1`, ...); groups below the root name
/// their parent through `memberOf`. A root AND group needs no group of its
/// own: Drupal joins top-level conditions with AND.
fn encode_condition(
    condition: &Condition,
    member_of: Option<&str>,
    namer: &mut usize,
    pairs: &mut Vec<(String, String)>,
) {
    match condition {
        Condition::Group {
            conjunction: Conjunction::And,
            members,
        } if member_of.is_none() => {
            for m in members {
                encode_condition(m, None, namer, pairs);
            }
        }
        Condition::Group {
            conjunction,
            members,
        } => {
            let key = format!("g{namer}");
            *namer += 1;
            let conj = match conjunction {
                Conjunction::And => "AND",
                Conjunction::Or => "OR",
            };
            pairs.push((format!("filter[{key}][group][conjunction]"), conj.into()));
            if let Some(parent) = member_of {
                pairs.push((format!("filter[{key}][group][memberOf]"), parent.into()));
            }
            for m in members {
                encode_condition(m, Some(&key), namer, pairs);
            }
        }
        Condition::Field { path, op, values } => {
            let key = format!("c{namer}");
            *namer += 1;
            let base = format!("filter[{key}][condition]");
            pairs.push((format!("{base}[path]"), path.clone()));
            pairs.push((format!("{base}[operator]"), op.as_str().into()));
            match op {
                Operator::IsNull | Operator::IsNotNull => {}
                Operator::In | Operator::NotIn => {
                    for v in values {
                        pairs.push((format!("{base}[value][]"), v.clone()));
                    }
                }
                _ => {
                    if let Some(v) = values.first() {
                        pairs.push((format!("{base}[value]"), v.clone()));
                    }
                }
            }
            if let Some(parent) = member_of {
                pairs.push((format!("{base}[memberOf]"), parent.into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(pairs: &[(String, String)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    #[test]
    fn a_single_condition_uses_the_condition_syntax() {
        let q = CollectionQuery {
            filter: Some(Condition::field("name", Operator::Eq, "alice")),
            ..Default::default()
        };
        assert_eq!(
            text(&q.to_pairs("user--user")),
            "filter[c0][condition][path]=name&filter[c0][condition][operator]==&filter[c0][condition][value]=alice"
        );
    }

    #[test]
    fn or_groups_inside_the_root_and_name_their_parent() {
        let q = CollectionQuery {
            filter: Some(Condition::all(vec![
                Condition::field("status", Operator::Eq, "1"),
                Condition::any(vec![
                    Condition::null_check("field_x", Operator::IsNull),
                    Condition::field("field_x", Operator::Eq, "0"),
                ]),
            ])),
            ..Default::default()
        };
        let t = text(&q.to_pairs("user--user"));
        assert!(t.contains("filter[c0][condition][path]=status"), "{t}");
        assert!(t.contains("filter[g1][group][conjunction]=OR"), "{t}");
        assert!(
            t.contains(
                "filter[c2][condition][operator]=IS NULL&filter[c2][condition][memberOf]=g1"
            ),
            "{t}"
        );
        assert!(!t.contains("filter[c2][condition][value]"), "{t}");
        assert!(t.contains("filter[c3][condition][memberOf]=g1"), "{t}");
    }

    #[test]
    fn in_lists_repeat_the_value_key() {
        let q = CollectionQuery {
            filter: Some(Condition::Field {
                path: "mail".into(),
                op: Operator::In,
                values: vec!["a@x".into(), "b@x".into()],
            }),
            ..Default::default()
        };
        let t = text(&q.to_pairs("user--user"));
        assert!(
            t.contains("[value][]=a@x&filter[c0][condition][value][]=b@x"),
            "{t}"
        );
    }

    #[test]
    fn the_next_page_moves_the_offset_by_the_page_size_keeping_the_rest() {
        let first = CollectionQuery {
            filter: Some(Condition::field("name", Operator::Eq, "ada")),
            offset: 20,
            limit: Some(10),
            ..Default::default()
        };
        let next = first.next_page();
        assert_eq!(next.offset, 30);
        assert_eq!(next.filter, first.filter);
        assert_eq!(next.limit, Some(10));
        assert_eq!(
            CollectionQuery::default().next_page().offset,
            DRUPAL_PAGE_CAP
        );
        let capped = CollectionQuery {
            limit: Some(500),
            ..Default::default()
        };
        assert_eq!(capped.next_page().offset, DRUPAL_PAGE_CAP);
    }

    #[test]
    fn sort_paging_and_fields_are_encoded() {
        let q = CollectionQuery {
            sort: vec![
                SortKey {
                    field: "name".into(),
                    descending: true,
                },
                SortKey {
                    field: "drupal_internal__uid".into(),
                    descending: false,
                },
            ],
            offset: 100,
            limit: Some(50),
            fields: Some(vec!["name".into(), "mail".into()]),
            ..Default::default()
        };
        assert_eq!(
            text(&q.to_pairs("user--user")),
            "sort=-name,drupal_internal__uid&page[offset]=100&page[limit]=50&fields[user--user]=name,mail"
        );
    }
}
