//! What every collection route shares: sparse fieldsets, include, sorting,
//! paging and the pager links Drupal writes.

use std::cmp::Ordering;

use super::documents::href;
use super::errors::ApiError;
use super::filter::{
    order_cells, parse_filter, parse_page, parse_sort, Cell, FilterNode, Page, Resolver, SortKey,
};
use super::json::Json;
use super::query::{Query, QueryValue};
use super::request::Ctx;

/// `fields[<type>]=a,b`.
pub(crate) fn fieldset(query: &Query, resource_type: &str) -> Option<Vec<String>> {
    let list = query.get("fields")?.get(resource_type)?.as_str()?;
    Some(
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// `include=roles`; the user type is the only one with a relationship.
pub(crate) fn includes_roles(query: &Query, relationships: &[&str]) -> Result<bool, ApiError> {
    Ok(includes(query, relationships)?.contains(&"roles"))
}

/// The relationships `include` names, each one of `relationships`; any
/// other name is a 400, as Drupal answers.
pub(crate) fn includes<'r>(
    query: &Query,
    relationships: &[&'r str],
) -> Result<Vec<&'r str>, ApiError> {
    let Some(list) = query.get("include") else {
        return Ok(Vec::new());
    };
    let mut named = Vec::new();
    for name in list
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some(known) = relationships.iter().find(|r| **r == name) else {
            return Err(ApiError::bad_request(format!(
                "`{name}` is not a valid relationship field name. Possible values: {}.",
                relationships.join(", ")
            )));
        };
        if !named.contains(known) {
            named.push(*known);
        }
    }
    Ok(named)
}

/// The rows of a collection after filter and sort, plus the requested page.
pub(crate) struct Listing<R> {
    pub(crate) rows: Vec<R>,
    pub(crate) page: Page,
    pub(crate) has_next: bool,
}

/// Filters, sorts and pages `rows` per the query.
pub(crate) fn list<R, C>(
    query: &Query,
    rows: Vec<R>,
    resolve: Resolver<C>,
    cells: &dyn Fn(&R, &C) -> Vec<Cell>,
) -> Result<Listing<R>, ApiError> {
    let filter: Option<FilterNode<C>> = query
        .get("filter")
        .map(|f| parse_filter(f, resolve))
        .transpose()?;
    let sort: Vec<SortKey<C>> = query
        .get("sort")
        .map(|s| parse_sort(s, resolve))
        .transpose()?
        .unwrap_or_default();
    let page = parse_page(query.get("page"))?;
    let mut rows: Vec<R> = match &filter {
        Some(tree) => rows
            .into_iter()
            .filter(|row| tree.matches(&|c| cells(row, c)))
            .collect(),
        None => rows,
    };
    rows.sort_by(|a, b| {
        sort.iter()
            .map(|key| {
                let first = |row: &R| {
                    cells(row, &key.column)
                        .into_iter()
                        .next()
                        .unwrap_or(Cell::Null)
                };
                let ordering = order_cells(&first(a), &first(b));
                if key.descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    });
    // SQLite treats a negative OFFSET as 0; Drupal fetches one extra row to know about `next`.
    let start = usize::try_from(page.offset.max(0)).unwrap_or(usize::MAX);
    let limit = usize::try_from(page.limit).unwrap_or_default();
    let mut rows: Vec<R> = rows.into_iter().skip(start).take(limit + 1).collect();
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    Ok(Listing {
        rows,
        page,
        has_next,
    })
}

/// `links` of a collection: first/prev when past the start, next when more
/// rows exist, and self. Pager links keep the request's parameter order.
pub(crate) fn links<R>(ctx: &Ctx, listing: &Listing<R>) -> Json {
    let page_url = |offset: i64| {
        let mut query = ctx.query.clone();
        query.set(
            "page",
            QueryValue::Map(vec![
                ("offset".to_string(), QueryValue::Str(offset.to_string())),
                (
                    "limit".to_string(),
                    QueryValue::Str(listing.page.limit.to_string()),
                ),
            ]),
        );
        format!(
            "{}{}?{}",
            ctx.base(),
            ctx.incoming.path,
            query.in_request_order()
        )
    };
    let Page { offset, limit } = listing.page;
    let mut links = Vec::new();
    if offset > 0 {
        links.push(("first", href(page_url(0))));
    }
    if listing.has_next {
        links.push(("next", href(page_url(offset + limit))));
    }
    if offset > 0 {
        links.push(("prev", href(page_url((offset - limit).max(0)))));
    }
    links.push(("self", href(ctx.url.clone())));
    Json::object(links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::model::Caller;
    use crate::standin::request::Incoming;

    fn resolve(path: &str) -> Result<usize, ApiError> {
        Ok(path.len())
    }

    fn cells(row: &i64, _: &usize) -> Vec<Cell> {
        vec![Cell::Int(*row)]
    }

    #[test]
    fn paging_fetches_one_extra_row_to_decide_on_next() {
        let query = Query::parse("page[limit]=2&page[offset]=1");
        let listing = list(&query, vec![1, 2, 3, 4], &resolve, &cells).unwrap();
        assert_eq!(listing.rows, vec![2, 3]);
        assert!(listing.has_next);
        let last = list(
            &Query::parse("page[offset]=2&page[limit]=2"),
            vec![1, 2, 3, 4],
            &resolve,
            &cells,
        )
        .unwrap();
        assert!(!last.has_next);
    }

    #[test]
    fn sort_descending_reverses_the_order() {
        let listing = list(&Query::parse("sort=-x"), vec![2, 9, 4], &resolve, &cells).unwrap();
        assert_eq!(listing.rows, vec![9, 4, 2]);
    }

    #[test]
    fn pager_links_put_page_where_the_request_had_it_with_offset_first() {
        let incoming = Incoming {
            base_url: "http://h".into(),
            path: "/c".into(),
            raw_query: "page[limit]=10&page[offset]=10&sort=name".into(),
            ..Incoming::default()
        };
        let query = Query::parse(&incoming.raw_query);
        let ctx = Ctx {
            incoming: &incoming,
            url: incoming.url(&query),
            query,
            caller: Caller::anonymous(),
        };
        let listing = list(&ctx.query, (0..40).collect(), &resolve, &cells).unwrap();
        let value = links(&ctx, &listing).to_value();
        assert_eq!(
            value["next"]["href"],
            "http://h/c?page%5Boffset%5D=20&page%5Blimit%5D=10&sort=name"
        );
        assert_eq!(
            value["prev"]["href"],
            "http://h/c?page%5Boffset%5D=0&page%5Blimit%5D=10&sort=name"
        );
        assert_eq!(
            value["self"]["href"],
            "http://h/c?page%5Blimit%5D=10&page%5Boffset%5D=10&sort=name"
        );
    }

    #[test]
    fn include_of_an_unknown_relationship_is_a_400() {
        let query = Query::parse("include=nosuch");
        assert_eq!(
            includes_roles(&query, &["roles"]).unwrap_err().detail,
            "`nosuch` is not a valid relationship field name. Possible values: roles."
        );
        assert!(includes_roles(&Query::parse("include=roles"), &["roles"]).unwrap());
    }
}
