//! List queries (RFC 7644 §3.4.2, §3.4.3) and the ListResponse they answer with.
//! The query string and the `POST …/.search` body lower to one `ListParams`,
//! so the rest of the server never knows which one it got.

use serde_json::{json, Value};

use crate::scim::error::ScimError;

const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// RFC 7644 §3.4.2.3 `sortOrder`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// The paging, filtering, sorting and projection of one list request.
/// `filter`, `attributes` and `excluded_attributes` stay raw text: the
/// filter parser and `Projection::parse` read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub filter: Option<String>,
    /// 1-based; values below 1 became 1 (RFC 7644 §3.4.2.4).
    pub start_index: usize,
    /// `None` when the client gave none; negative values became 0 (§3.4.2.4).
    pub count: Option<usize>,
    /// Comma-separated attribute names.
    pub attributes: Option<String>,
    /// Comma-separated attribute names.
    pub excluded_attributes: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<SortOrder>,
}

impl Default for ListParams {
    fn default() -> Self {
        ListParams {
            filter: None,
            start_index: 1,
            count: None,
            attributes: None,
            excluded_attributes: None,
            sort_by: None,
            sort_order: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Filter,
    StartIndex,
    Count,
    Attributes,
    ExcludedAttributes,
    SortBy,
    SortOrder,
}

impl Param {
    fn from_name(name: &str) -> Option<Param> {
        const NAMES: [(&str, Param); 7] = [
            ("filter", Param::Filter),
            ("startIndex", Param::StartIndex),
            ("count", Param::Count),
            ("attributes", Param::Attributes),
            ("excludedAttributes", Param::ExcludedAttributes),
            ("sortBy", Param::SortBy),
            ("sortOrder", Param::SortOrder),
        ];
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, param)| *param)
    }

    fn name(self) -> &'static str {
        match self {
            Param::Filter => "filter",
            Param::StartIndex => "startIndex",
            Param::Count => "count",
            Param::Attributes => "attributes",
            Param::ExcludedAttributes => "excludedAttributes",
            Param::SortBy => "sortBy",
            Param::SortOrder => "sortOrder",
        }
    }
}

/// The parameters met so far (an empty one counts as absent, but for `filter`, refused): one given twice (`?filter=A&filter=B`, or
/// `filter` and `Filter`) is refused, not decided by its last value,
/// which would silently answer a query the client did not mean.
#[derive(Default)]
struct Given(Vec<Param>);

impl Given {
    fn once(&mut self, param: Param) -> Result<(), ScimError> {
        if self.0.contains(&param) {
            let error = format!(
                "the parameter {} is given more than once; give it once",
                param.name()
            );
            return Err(match param {
                Param::Filter => ScimError::invalid_filter(error),
                _ => ScimError::invalid_value(error),
            });
        }
        self.0.push(param);
        Ok(())
    }
}

impl ListParams {
    /// The name of the query parameter `name` (in any case) when a list or
    /// a read takes it, else `None`: one the bridge ignores.
    pub fn parameter_name(name: &str) -> Option<&'static str> {
        Param::from_name(name).map(Param::name)
    }

    /// Reads already percent-decoded query pairs. Names match
    /// case-insensitively; unknown ones (Entra's `aadOptscim062020`) and
    /// empty values are ignored, but an empty or blank `filter` is refused
    /// (400 `invalidFilter`), as is a repeated parameter.
    pub fn from_query<I, K, V>(pairs: I) -> Result<ListParams, ScimError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut params = ListParams::default();
        let mut given = Given::default();
        for (name, value) in pairs {
            if let Some(param) = Param::from_name(name.as_ref()) {
                params.set(param, value.as_ref(), &mut given)?;
            }
        }
        Ok(params)
    }

    /// Reads a SearchRequest body (RFC 7644 §3.4.3), where `attributes` and
    /// `excludedAttributes` are arrays of names and numbers are JSON numbers.
    pub fn from_search_body(body: &Value) -> Result<ListParams, ScimError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax("a SearchRequest must be a JSON object"))?;
        let mut params = ListParams::default();
        let mut given = Given::default();
        for (name, value) in obj {
            // `null` is absent (RFC 7643 §2.5), for `filter` too.
            if value.is_null() {
                continue;
            }
            if let Some(param) = Param::from_name(name) {
                params.set(param, &search_value_as_text(name, value)?, &mut given)?;
            }
        }
        Ok(params)
    }

    fn set(&mut self, param: Param, value: &str, given: &mut Given) -> Result<(), ScimError> {
        if param == Param::Filter && value.trim().is_empty() {
            // Read as absent, `filter=` would answer every resource to a
            // client that meant to narrow the list and lost its expression.
            return Err(ScimError::invalid_filter(
                "the filter is empty: give an expression such as userName eq \"bjensen\", \
                 or leave the filter out to list every resource",
            ));
        }
        if value.is_empty() {
            return Ok(());
        }
        given.once(param)?;
        let text = Some(value.to_string());
        match param {
            Param::Filter => self.filter = text,
            Param::Attributes => self.attributes = text,
            Param::ExcludedAttributes => self.excluded_attributes = text,
            Param::SortBy => self.sort_by = text,
            Param::StartIndex => {
                let n = parse_integer("startIndex", value)?;
                self.start_index = usize::try_from(n.max(1)).unwrap_or(usize::MAX);
            }
            Param::Count => {
                let n = parse_integer("count", value)?;
                self.count = Some(usize::try_from(n.max(0)).unwrap_or(usize::MAX));
            }
            Param::SortOrder => self.sort_order = Some(parse_sort_order(value)?),
        }
        Ok(())
    }
}

/// Lowers one SearchRequest member to the text the query string would carry.
fn search_value_as_text(name: &str, value: &Value) -> Result<String, ScimError> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        // A JSON integer past `u64` arrives as a float ("1e23"): written
        // out whole, it is read as the integer it is.
        Value::Number(n) => Ok(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() >= 1e18 => {
                format!("{}{}", if f < 0.0 { "-" } else { "" }, "9".repeat(19))
            }
            _ => n.to_string(),
        }),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str().ok_or_else(|| {
                    ScimError::invalid_value(format!("{name} must list attribute names as strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|names| names.join(",")),
        Value::Bool(_) | Value::Object(_) => Err(ScimError::invalid_value(format!(
            "{name} must be a string, a number or a list of strings"
        ))),
    }
}

/// An integer, however large: one past `i64` is still an integer (a
/// `count` above any limit is capped, a `startIndex` past the end gives an
/// empty page), so it saturates rather than being refused.
fn parse_integer(name: &str, value: &str) -> Result<i64, ScimError> {
    let text = value.trim();
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.parse().unwrap_or(if text.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        }));
    }
    text.parse().map_err(|_| {
        ScimError::invalid_value(format!(
            "{name} must be an integer, got '{}'",
            crate::untrusted::quote(value)
        ))
    })
}

fn parse_sort_order(value: &str) -> Result<SortOrder, ScimError> {
    if value.eq_ignore_ascii_case("ascending") {
        Ok(SortOrder::Ascending)
    } else if value.eq_ignore_ascii_case("descending") {
        Ok(SortOrder::Descending)
    } else {
        Err(ScimError::invalid_value(format!(
            "sortOrder must be 'ascending' or 'descending', got '{}'",
            crate::untrusted::quote(value)
        )))
    }
}

/// One page of a list (RFC 7644 §3.4.2). `itemsPerPage` is the number of
/// resources actually on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse {
    pub total_results: usize,
    pub start_index: usize,
    pub resources: Vec<Value>,
}

impl ListResponse {
    /// A list served whole, in one page starting at 1.
    pub fn complete(resources: Vec<Value>) -> Self {
        ListResponse {
            total_results: resources.len(),
            start_index: 1,
            resources,
        }
    }

    /// The RFC 7644 document; the counters are JSON numbers, as Okta requires.
    pub fn into_json(self) -> Value {
        json!({
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": self.total_results,
            "itemsPerPage": self.resources.len(),
            "startIndex": self.start_index,
            "Resources": self.resources,
        })
    }
}

/// A ListResponse written straight into bytes around resources written
/// already, byte for byte what serializing [`ListResponse::into_json`]
/// gives: its members in the order of serde_json's map (sorted by key,
/// `Resources` first), compact.
#[derive(Debug)]
pub struct ListWriter {
    out: Vec<u8>,
    items: usize,
}

impl ListWriter {
    /// Room for `capacity` bytes before the buffer grows.
    pub fn with_capacity(capacity: usize) -> ListWriter {
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"{\"Resources\":[");
        ListWriter { out, items: 0 }
    }

    /// Where the next resource goes: one JSON value, appended.
    pub fn resource(&mut self) -> &mut Vec<u8> {
        if self.items > 0 {
            self.out.push(b',');
        }
        self.items += 1;
        &mut self.out
    }

    /// The document, with its counters.
    pub fn finish(mut self, total_results: usize, start_index: usize) -> Vec<u8> {
        let out = &mut self.out;
        out.extend_from_slice(b"],\"itemsPerPage\":");
        write_number(out, self.items);
        out.extend_from_slice(b",\"schemas\":[\"");
        out.extend_from_slice(LIST_RESPONSE_URN.as_bytes());
        out.extend_from_slice(b"\"],\"startIndex\":");
        write_number(out, start_index);
        out.extend_from_slice(b",\"totalResults\":");
        write_number(out, total_results);
        out.push(b'}');
        self.out
    }
}

/// `n` as serde_json writes it.
fn write_number(out: &mut Vec<u8>, n: usize) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &n);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;

    fn query(pairs: &[(&str, &str)]) -> Result<ListParams, ScimError> {
        ListParams::from_query(pairs.iter().copied())
    }

    #[test]
    fn okta_connection_test_query_reads_start_index_and_count() {
        let params = query(&[("startIndex", "1"), ("count", "2")]).unwrap();
        assert_eq!(params.start_index, 1);
        assert_eq!(params.count, Some(2));
        assert_eq!(params.filter, None);
    }

    #[test]
    fn integers_past_any_bound_are_integers_and_saturate() {
        let huge = "99999999999999999999999";
        let params = query(&[("startIndex", huge), ("count", huge)]).unwrap();
        assert_eq!(params.start_index, i64::MAX as usize);
        assert_eq!(params.count, Some(i64::MAX as usize));
        let params = query(&[
            ("startIndex", "-99999999999999999999999"),
            ("count", "-99999999999999999999999"),
        ])
        .unwrap();
        assert_eq!((params.start_index, params.count), (1, Some(0)));
        let body = serde_json::json!({"startIndex": 1e23, "count": 99999999999999999999999.0});
        let params = ListParams::from_search_body(&body).unwrap();
        assert_eq!(params.start_index, i64::MAX as usize);
        assert_eq!(params.count, Some(i64::MAX as usize));
        for not_integer in ["1.5", "9e9", "+", "12a", "99999999999999999999999x"] {
            assert!(query(&[("count", not_integer)]).is_err(), "{not_integer}");
        }
    }

    #[test]
    fn a_parameter_given_twice_is_refused_and_named() {
        let e = query(&[
            ("filter", "userName eq \"a\""),
            ("filter", "userName eq \"b\""),
        ])
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.to_json()["scimType"], "invalidFilter");
        assert!(e.detail.contains("filter"), "{}", e.detail);
        for (a, b) in [
            ("count", "count"),
            ("startIndex", "STARTINDEX"),
            ("attributes", "attributes"),
            ("sortBy", "sortby"),
        ] {
            let e = query(&[(a, "1"), (b, "2")]).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.to_json()["scimType"], "invalidValue");
            assert!(e.detail.contains(a), "{}", e.detail);
        }
        let body = serde_json::json!({"count": 1, "Count": 2});
        assert!(ListParams::from_search_body(&body).is_err());
    }

    #[test]
    fn absent_parameters_mean_first_page_with_server_default_count() {
        let params = query(&[]).unwrap();
        assert_eq!(params, ListParams::default());
        assert_eq!(params.start_index, 1);
        assert_eq!(params.count, None);
    }

    #[test]
    fn filter_is_kept_as_raw_text() {
        let params = query(&[("filter", "userName eq \"Test_User_abc\"")]).unwrap();
        assert_eq!(
            params.filter.as_deref(),
            Some("userName eq \"Test_User_abc\"")
        );
    }

    #[test]
    fn start_index_below_one_means_one() {
        assert_eq!(query(&[("startIndex", "0")]).unwrap().start_index, 1);
        assert_eq!(query(&[("startIndex", "-5")]).unwrap().start_index, 1);
        assert_eq!(query(&[("startIndex", "101")]).unwrap().start_index, 101);
    }

    #[test]
    fn negative_count_means_zero() {
        assert_eq!(query(&[("count", "-1")]).unwrap().count, Some(0));
    }

    #[test]
    fn non_numeric_start_index_or_count_is_invalid_value() {
        let error = query(&[("startIndex", "first")]).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_value("startIndex must be an integer, got 'first'")
        );
        let error = query(&[("count", "1.5")]).unwrap_err();
        assert_eq!(error.scim_type, ScimError::invalid_value("").scim_type);
        assert!(error.detail.contains("count"));
    }

    #[test]
    fn parameter_names_match_case_insensitively() {
        let params = query(&[
            ("STARTINDEX", "3"),
            ("Count", "10"),
            ("Filter", "active eq true"),
            ("excludedattributes", "members"),
            ("SORTBY", "userName"),
            ("sortorder", "DESCENDING"),
        ])
        .unwrap();
        assert_eq!(params.start_index, 3);
        assert_eq!(params.count, Some(10));
        assert_eq!(params.filter.as_deref(), Some("active eq true"));
        assert_eq!(params.excluded_attributes.as_deref(), Some("members"));
        assert_eq!(params.sort_by.as_deref(), Some("userName"));
        assert_eq!(params.sort_order, Some(SortOrder::Descending));
    }

    #[test]
    fn entra_flag_and_other_unknown_parameters_are_ignored() {
        let params = query(&[("aadOptscim062020", ""), ("foo", "bar"), ("count", "5")]).unwrap();
        assert_eq!(params.count, Some(5));
    }

    #[test]
    fn empty_values_count_as_absent() {
        let params = query(&[("count", ""), ("startIndex", ""), ("sortBy", "")]).unwrap();
        assert_eq!(params, ListParams::default());
        let params = ListParams::from_search_body(&json!({"filter": null})).unwrap();
        assert_eq!(params, ListParams::default());
    }

    #[test]
    fn an_empty_or_blank_filter_is_invalid_filter() {
        for filter in ["", " ", "\t\n"] {
            let error = query(&[("filter", filter)]).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{filter:?}");
            assert!(error.detail.contains("filter is empty"), "{}", error.detail);
            let error = ListParams::from_search_body(&json!({"filter": filter})).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{filter:?}");
        }
    }

    #[test]
    fn unknown_sort_order_is_invalid_value() {
        let error = query(&[("sortOrder", "random")]).unwrap_err();
        assert!(error.detail.contains("sortOrder"));
        assert_eq!(error.status, 400);
    }

    #[test]
    fn search_body_lowers_attribute_arrays_to_comma_separated_names() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["displayName", "userName"],
            "excludedAttributes": ["emails"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10,
            "sortOrder": "ascending"
        });
        let params = ListParams::from_search_body(&body).unwrap();
        assert_eq!(params.attributes.as_deref(), Some("displayName,userName"));
        assert_eq!(params.excluded_attributes.as_deref(), Some("emails"));
        assert_eq!(params.filter.as_deref(), Some("displayName sw \"smith\""));
        assert_eq!(params.count, Some(10));
        assert_eq!(params.sort_order, Some(SortOrder::Ascending));
    }

    #[test]
    fn search_body_applies_the_same_bounds_as_the_query() {
        let body = json!({"startIndex": -3, "count": -7, "STARTINDEX": null});
        let params = ListParams::from_search_body(&body).unwrap();
        assert_eq!(params.start_index, 1);
        assert_eq!(params.count, Some(0));
    }

    #[test]
    fn search_body_with_wrong_member_types_is_invalid_value() {
        let error = ListParams::from_search_body(&json!({"attributes": [1, 2]})).unwrap_err();
        assert!(error.detail.contains("attributes"));
        let error = ListParams::from_search_body(&json!({"count": true})).unwrap_err();
        assert!(error.detail.contains("count"));
    }

    #[test]
    fn search_body_that_is_not_an_object_is_invalid_syntax() {
        let error = ListParams::from_search_body(&json!(["filter"])).unwrap_err();
        assert_eq!(
            error,
            ScimError::invalid_syntax("a SearchRequest must be a JSON object")
        );
    }

    #[test]
    fn list_response_renders_counters_as_json_numbers() {
        let page = ListResponse {
            total_results: 7,
            start_index: 3,
            resources: vec![json!({"id": "a"}), json!({"id": "b"})],
        };
        assert_eq!(
            page.into_json(),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 7,
                "itemsPerPage": 2,
                "startIndex": 3,
                "Resources": [{"id": "a"}, {"id": "b"}]
            })
        );
    }

    #[test]
    fn empty_list_response_still_carries_an_empty_resources_array() {
        let body = ListResponse::complete(Vec::new()).into_json();
        assert_eq!(body["totalResults"], 0);
        assert_eq!(body["itemsPerPage"], 0);
        assert_eq!(body["startIndex"], 1);
        assert_eq!(body["Resources"], json!([]));
    }

    #[test]
    fn a_written_list_response_is_the_serialized_one_byte_for_byte() {
        let resources = [
            json!({"id": "a", "meta": {"version": "W/\"1\""}}),
            json!({"schemas": ["x"], "Z": [1, 2.5, null], "é": "\u{1}"}),
            json!({}),
        ];
        for items in 0..=resources.len() {
            for (total, start) in [(0, 1), (items, 1), (7, 3), (usize::MAX, usize::MAX)] {
                let mut writer = ListWriter::with_capacity(0);
                for resource in &resources[..items] {
                    serde_json::to_writer(writer.resource(), resource).expect("JSON");
                }
                let page = ListResponse {
                    total_results: total,
                    start_index: start,
                    resources: resources[..items].to_vec(),
                };
                let expected = serde_json::to_vec(&page.into_json()).expect("JSON");
                assert_eq!(
                    String::from_utf8_lossy(&writer.finish(total, start)),
                    String::from_utf8_lossy(&expected),
                    "{items} {total} {start}"
                );
            }
        }
    }
}
