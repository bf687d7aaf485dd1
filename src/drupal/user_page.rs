//! A page of a user collection, read from Drupal's answer: in one pass
//! ([`UserCollection`]) when the bytes allow it, else from a `Value`, as
//! it always was. Both give the same page, or the same error, for the same
//! bytes (the tests compare them over recorded, generated and corrupted
//! collections).

use serde_json::Value;

use super::document::UserCollection;
use super::{
    has_next, is_empty_collection, is_stripped_user_data, shows_user_data, Answer, CollectionQuery,
    Distinct, DrupalError, DrupalUser, UserPage,
};

/// A user collection as the client reads Drupal's answer.
#[derive(Debug)]
pub(super) enum CollectionAnswer {
    /// Read in one pass.
    Read(UserCollection),
    /// Read as any JSON: the one-pass reader left it to serde_json.
    Any(Value),
}

impl<'de> serde::Deserialize<'de> for CollectionAnswer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(CollectionAnswer::Any)
    }
}

impl Answer for CollectionAnswer {
    fn no_content() -> Self {
        CollectionAnswer::Any(Value::Null)
    }
    fn is_null(&self) -> bool {
        matches!(self, CollectionAnswer::Any(Value::Null))
    }
    fn is_stripped_user_data(&self) -> bool {
        match self {
            CollectionAnswer::Read(collection) => collection.stripped_user_data,
            CollectionAnswer::Any(body) => is_stripped_user_data(body),
        }
    }
    fn shows_user_data(&self) -> bool {
        match self {
            // Anonymous callers get every item stripped.
            CollectionAnswer::Read(collection) => {
                !collection.users.is_empty() && !collection.stripped_user_data
            }
            CollectionAnswer::Any(body) => shows_user_data(body),
        }
    }
    fn is_empty_collection(&self) -> bool {
        match self {
            CollectionAnswer::Read(collection) => collection.users.is_empty(),
            CollectionAnswer::Any(body) => is_empty_collection(body),
        }
    }
    fn from_value(value: Value) -> Result<Self, DrupalError> {
        Ok(CollectionAnswer::Any(value))
    }
    fn from_slice(bytes: &[u8]) -> serde_json::Result<Self> {
        match UserCollection::read(bytes) {
            Some(collection) => Ok(CollectionAnswer::Read(collection)),
            None => serde_json::from_slice(bytes).map(CollectionAnswer::Any),
        }
    }
}

/// The page Drupal's answer holds: its users (those sent with only
/// `display_name` counted, not kept), the query of its next page, its
/// `meta.count` and its `included` resources.
pub(super) fn user_page(
    answer: CollectionAnswer,
    query: &CollectionQuery,
) -> Result<UserPage, DrupalError> {
    let (mut page, listed) = match answer {
        CollectionAnswer::Read(collection) => read_page(collection),
        CollectionAnswer::Any(body) => page_of_value(body),
    }?;
    Distinct::default().keep_new(&mut page.users, |user| &user.id, "list_users");
    page.next = listed.then(|| query.next_page());
    Ok(page)
}

/// The page, and whether another follows: Drupal's next link says so,
/// and this page listed items (an empty page ends a read whatever its
/// links say, so that no answer can make the bridge read without end).
fn read_page(collection: UserCollection) -> Result<(UserPage, bool), DrupalError> {
    let listed = !collection.users.is_empty();
    let mut users = Vec::with_capacity(collection.users.len());
    let mut stripped = 0;
    for user in collection.users {
        match user {
            Some(u) if !u.is_stripped() => users.push(u),
            Some(_) => stripped += 1,
            None => return Err(item_without_id()),
        }
    }
    let page = UserPage {
        users,
        next: None,
        count: collection.count.as_ref().and_then(count_of),
        stripped,
        included: collection.included,
    };
    Ok((page, listed && collection.next_href.is_some()))
}

fn page_of_value(mut body: Value) -> Result<(UserPage, bool), DrupalError> {
    let data = match body.get_mut("data").map(Value::take) {
        Some(Value::Array(data)) => data,
        _ => {
            return Err(DrupalError::Protocol(
                "a user collection without a data array".into(),
            ))
        }
    };
    let listed = !data.is_empty();
    let mut users = Vec::with_capacity(data.len());
    let mut stripped = 0;
    for item in data {
        match DrupalUser::from_resource(item) {
            Some(u) if !u.is_stripped() => users.push(u),
            Some(_) => stripped += 1,
            None => return Err(item_without_id()),
        }
    }
    let more = listed && has_next(&body);
    let included = take_included(&mut body);
    let count = body
        .get("meta")
        .and_then(|m| m.get("count"))
        .and_then(count_of);
    let page = UserPage {
        users,
        next: None,
        count,
        stripped,
        included,
    };
    Ok((page, more))
}

fn item_without_id() -> DrupalError {
    DrupalError::Protocol("a user collection item without an id".into())
}

/// `meta.count`: a number, or a string of one.
fn count_of(count: &Value) -> Option<u64> {
    count
        .as_u64()
        .or_else(|| count.as_str().and_then(|s| s.parse().ok()))
}

/// A document's `included` resources; none when it has none.
fn take_included(body: &mut Value) -> Vec<Value> {
    match body.get_mut("included").map(Value::take) {
        Some(Value::Array(included)) => included,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;
    use serde_json::json;

    use super::*;
    use crate::drupal::classify;
    use crate::drupal::recordings::{corruptions, php_encoded, recorded_bodies};

    /// What the client makes of `bytes`, read in one pass when it can
    /// (`fast`) or always as a `Value`, as it did before: whether the
    /// answer is user data stripped as for anonymous callers, and the page
    /// or the error (as text).
    fn outcome(bytes: &[u8], fast: bool) -> (bool, Result<UserPage, String>) {
        let failed = |e: DrupalError| (false, Err(e.to_string()));
        if fast {
            match classify::<CollectionAnswer>(StatusCode::OK, false, bytes) {
                Ok(answer) => (
                    answer.is_stripped_user_data(),
                    user_page(answer, &CollectionQuery::default()).map_err(|e| e.to_string()),
                ),
                Err(e) => failed(e),
            }
        } else {
            match classify::<Value>(StatusCode::OK, false, bytes) {
                Ok(body) => (
                    is_stripped_user_data(&body),
                    user_page(CollectionAnswer::Any(body), &CollectionQuery::default())
                        .map_err(|e| e.to_string()),
                ),
                Err(e) => failed(e),
            }
        }
    }

    /// Whether the one-pass reader read `bytes`; whatever it reads, a
    /// `Value` reads too, to the same page or error.
    fn agrees(bytes: &[u8]) -> bool {
        let text = String::from_utf8_lossy(bytes);
        let fast = outcome(bytes, true);
        let reference = outcome(bytes, false);
        assert_eq!(fast, reference, "{text}");
        let Some(read) = UserCollection::read(bytes) else {
            return false;
        };
        assert!(
            serde_json::from_slice::<Value>(bytes).is_ok(),
            "read what serde_json refuses: {text}"
        );
        assert_eq!(
            (
                read.stripped_user_data,
                user_page(CollectionAnswer::Read(read), &CollectionQuery::default())
                    .map_err(|e| e.to_string())
            ),
            reference,
            "{text}"
        );
        true
    }
    /// The bodies of the recorded real-Drupal answers to
    /// `GET /jsonapi/user/user?...` that are collections.
    fn recorded_collections() -> Vec<(String, Value)> {
        recorded_bodies(|case| {
            let request = &case["request"];
            let target = request["path_and_query"].as_str().unwrap_or_default();
            request["method"] == "GET"
                && (target == "/jsonapi/user/user" || target.starts_with("/jsonapi/user/user?"))
                && case["response"]["body"]["data"].is_array()
        })
    }

    /// Reads `body` in each of its encodings, by both paths: the one-pass
    /// reader must read every one. The page.
    fn read_alike(case: &str, body: &Value) -> UserPage {
        let mut pages = Vec::new();
        for bytes in [
            serde_json::to_vec(body).unwrap(),
            serde_json::to_vec_pretty(body).unwrap(),
            php_encoded(body),
        ] {
            assert!(agrees(&bytes), "{case}: not read in one pass");
            pages.push(outcome(&bytes, true).1.unwrap());
        }
        pages.pop().unwrap()
    }

    #[test]
    fn recorded_collections_read_in_one_pass_are_the_pages_a_value_gives() {
        let collections = recorded_collections();
        assert!(collections.len() > 40, "{}", collections.len());
        // Those that matter for reading them: empty ones, stripped users
        // (some, or all as for anonymous callers), further pages.
        let (mut empty, mut some_stripped, mut all_stripped, mut paged) = (0, 0, 0, 0);
        // Every recorded user term, to be `included`.
        let terms = json!([{"type": "taxonomy_term--scim_groups", "id": "8a1b",
            "attributes": {"name": "Ops \u{e9}quipe", "drupal_internal__tid": 41},
            "relationships": {"parent": {"data": [{"type": "taxonomy_term--scim_groups", "id": "virtual"}],
                "links": {"self": {"href": "http://d/x"}}}}}]);
        for (case, body) in collections {
            let page = read_alike(&case, &body);
            empty += usize::from(page.users.is_empty() && page.stripped == 0);
            some_stripped += usize::from(page.stripped > 0 && !page.users.is_empty());
            all_stripped += usize::from(page.stripped > 0 && page.users.is_empty());
            paged += usize::from(page.next.is_some());
            // Core Drupal sends no `meta.count` and, without `include`, no
            // `included`: the same collections with them, as sites and
            // includes send them.
            let mut with_more = body.clone();
            with_more["meta"] =
                json!({"count": page.users.len() + page.stripped, "omitted": {"links": {}}});
            with_more["included"] = terms.clone();
            let more = read_alike(&case, &with_more);
            assert_eq!(more.count, Some((page.users.len() + page.stripped) as u64));
            assert_eq!(more.included, terms.as_array().unwrap().clone());
            assert_eq!(more.users, page.users, "{case}");
            with_more["meta"]["count"] = json!("12");
            assert_eq!(read_alike(&case, &with_more).count, Some(12));
        }
        assert!(empty > 0 && some_stripped > 0 && all_stripped > 0 && paged > 0);
    }

    /// A collection with a bit of everything: escapes in names and values,
    /// numbers of every kind, a user sent with only `display_name`, a key
    /// sent twice, relationships with links, a next link, a count and
    /// included resources.
    const VARIED: &str = r#"{"jsonapi":{"version":"1.0","n":[-1.5e-3,0,18446744073709551616,true,null],"meta":{"links":{"self":{"href":"http:\/\/jsonapi.org\/format\/1.0\/"}}}},
 "d\u0061ta":[{"type":"user--user","id":"5b0c1e8e-0b49-4bd4-9b1b-53c3e38c0a4c",
  "links":{"self":{"href":"http://d/jsonapi/user/user/5b0c","meta":{"x":1e3}}},
  "attributes":{"name":"j\u00f6rg \"jo\" \\ \/ \ud83d\ude00","mail":"jo@example.com","status":true,
   "drupal_internal__uid":42,"big":18446744073709551615,"neg":-7,"ratio":2.5,"init":null,
   "pass":{"value":"x","pre_hashed":false},"field_tags":["a",{"b":[1,null,"\u0000"]}],
   "d\u00e9j\u00e0":"vu","dup":1,"dup":"last","jp":"日本語","empty_obj":{},"empty_arr":[]},
  "relationships":{"roles":{"data":[{"type":"user_role--user_role","id":"r1","meta":{"drupal_internal__target_id":"editor"}}],
    "links":{"related":{"href":"http://d/r"},"self":{"href":"http://d/s"}}},
   "field_scim_groups":{"data":[{"type":"taxonomy_term--scim_groups","id":"8a1b"}],"l\u0069nks":{"n":-0}},
   "odd":[1,"two",null,{"links":3}],"n":null}},
  {"type":"user--user","id":"anon","attributes":{"display_name":"Anonymous"},"relationships":{}},
  {"type":"user--user","id":"nulls","attributes":null,"relationships":{"roles":{"data":[]}}},
  {"id":"bob","attributes":{"name":"bob","display_name":"Bob"}}],
 "meta":{"omitted":{"detail":"Some resources have been omitted","links":{}},"count":"7"},
 "links":{"self":{"href":"http://d/jsonapi/user/user"},"next":{"href":"http:\/\/d\/jsonapi\/user\/user?page%5Boffset%5D=50&page%5Blimit%5D=50","meta":{}}},
 "included":[{"type":"taxonomy_term--scim_groups","id":"8a1b","attributes":{"name":"Ops"}}]}"#;

    /// A next link elsewhere, with another query, only tells that a next
    /// page exists; an item listed twice counts once.
    #[test]
    fn the_next_page_keeps_the_query_asked_and_items_count_once() {
        let body = br#"{"data":[
            {"type":"user--user","id":"a1","attributes":{"name":"ada"}},
            {"type":"user--user","id":"A1","attributes":{"name":"ada"}},
            {"type":"user--user","id":"b2","attributes":{"name":"bob"}}],
          "links":{"next":{"href":"http://attacker.example:9999/whatever?page[limit]=50&sort=name"}}}"#;
        let asked = CollectionQuery {
            filter: Some(crate::drupal::Condition::field(
                "name",
                crate::drupal::Operator::Eq,
                "ada",
            )),
            limit: Some(50),
            ..Default::default()
        };
        for fast in [true, false] {
            let answer = match fast {
                true => classify::<CollectionAnswer>(StatusCode::OK, false, body).unwrap(),
                false => CollectionAnswer::Any(serde_json::from_slice(body).unwrap()),
            };
            let page = user_page(answer, &asked).unwrap();
            let ids: Vec<&str> = page.users.iter().map(|u| u.id.as_str()).collect();
            assert_eq!(ids, ["a1", "b2"], "fast: {fast}");
            let next = page.next.unwrap();
            assert_eq!(next.filter, asked.filter);
            assert_eq!((next.offset, next.limit), (50, Some(50)));
        }
    }

    #[test]
    fn a_collection_with_every_kind_of_value_is_the_page_a_value_gives() {
        let value: Value = serde_json::from_str(VARIED).unwrap();
        assert!(agrees(VARIED.as_bytes()));
        read_alike("VARIED", &value);
        let page = outcome(VARIED.as_bytes(), true).1.unwrap();
        let ids: Vec<&str> = page.users.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["5b0c1e8e-0b49-4bd4-9b1b-53c3e38c0a4c", "bob"]);
        assert_eq!(page.stripped, 2);
        // The next page is the bridge's own query, moved on: never the
        // link's (which here drops any filter).
        assert_eq!(page.next.as_ref().map(|q| q.offset), Some(50));
        assert_eq!(page.count, Some(7));
        assert_eq!(page.included.len(), 1);
        let user = &page.users[0];
        assert_eq!(user.name(), Some("jörg \"jo\" \\ / 😀"));
        assert_eq!(user.attributes.get("dup"), Some(json!("last")));
        assert!(user.has_role("editor"));
        assert_eq!(
            user.relationships["field_scim_groups"],
            json!({"data": [{"type": "taxonomy_term--scim_groups", "id": "8a1b"}]})
        );
    }

    #[test]
    fn collections_of_other_shapes_or_not_json_are_read_as_a_value() {
        for text in [
            // The client's errors, and what a Value reads otherwise.
            r#"{"data":null}"#,
            r#"{"data":{"type":"user--user","id":"x"}}"#,
            r#"{"meta":{}}"#,
            r#"{"data":[1]}"#,
            r#"{"data":[null]}"#,
            r#"{"data":[],"data":[]}"#,
            r#"{"data":[{"id":"x","id":"y","attributes":{"name":"a"}}]}"#,
            r#"{"data":[{"id":"x","attributes":["name"]}]}"#,
            r#"{"data":[],"links":{"next":{"href":"a?b"}},"links":{}}"#,
            r#"{"data":[],"links":{"next":{"href":"a?b"},"next":null}}"#,
            r#"{"data":[],"links":{"next":{"href":"a?b","href":"c?d"}}}"#,
            r#"{"data":[],"meta":{"count":1,"count":2}}"#,
            r#"{"data":[],"included":[],"included":null}"#,
            r#"[{"data":[]}]"#,
            "null",
            // Not what a Value reads, in what is stepped over.
            r#"{"data":[],"jsonapi":{"n":1e400}}"#,
            r#"{"data":[],"jsonapi":{"n":"\ud800"}}"#,
            r#"{"data":[],"j\ud800":1}"#,
            r#"{"data":[{"id":"x","links":{"self":{"href":"\udc00"}}}]}"#,
            r#"{"data":[{"id":"x","relationships":{"r":{"links":[1e999]}}}]}"#,
            r#"{"data":[],}"#,
            r#"{"data":[1,]}"#,
        ] {
            assert!(UserCollection::read(text.as_bytes()).is_none(), "{text}");
            assert!(!agrees(text.as_bytes()), "{text}");
        }
        // Invalid UTF-8 where the user document's reader would step over
        // it (serde skips it there), but a Value reads it as text.
        for bytes in [
            &b"{\"data\":[],\"links\":{\"self\":{\"href\":\"\xff\"}}}"[..],
            b"{\"jsonapi\":{\"\xc3\":1},\"data\":[]}",
            b"{\"data\":[{\"id\":\"x\",\"links\":{\"self\":\"\xc3\"}}]}",
        ] {
            assert!(UserCollection::read(bytes).is_none());
            assert!(serde_json::from_slice::<Value>(bytes).is_err());
            assert!(!agrees(bytes));
        }
        // Read in one pass: the client's error for an item without an id,
        // and stripped user data.
        for (text, stripped) in [
            (
                r#"{"data":[{"type":"user--user","attributes":{"name":"a"}}]}"#,
                false,
            ),
            (
                r#"{"data":[{"type":"user--user","id":5,"attributes":{}}]}"#,
                true,
            ),
            (
                r#"{"data":[{"type":"user--user","id":"x"},{"type":"user--user","id":"y","attributes":{"display_name":"Y"}}]}"#,
                true,
            ),
            (
                r#"{"data":[{"type":"user--user","id":"x"},{"type":"node","id":"y"}]}"#,
                false,
            ),
            (
                r#"{"data":[],"links":"next","meta":[1],"included":{"a":1}}"#,
                false,
            ),
        ] {
            assert!(agrees(text.as_bytes()), "{text}");
            assert_eq!(outcome(text.as_bytes(), true).0, stripped, "{text}");
        }
        assert_eq!(
            outcome(
                br#"{"data":[{"type":"user--user","attributes":{"name":"a"}}]}"#,
                true
            )
            .1,
            Err(item_without_id().to_string())
        );
    }

    #[test]
    fn what_it_reads_from_a_corrupted_collection_a_value_reads_alike() {
        // Every byte deleted, replaced and preceded by each byte
        // `corruptions` tries: most are refused by both; the rest must read
        // alike.
        let base = br#"{"jsonapi":{"v":"1","n":-1.5e2},"data":[{"type":"user--user","id":"u1","links":{"self":{"href":"h"}},"attributes":{"name":"a\"b\u00e9","n":12,"x":null,"o":{"k":[1,"s"]}},"relationships":{"roles":{"data":[{"type":"r","id":"1","meta":{"drupal_internal__target_id":"e"}}],"links":{"self":{"href":"l"}}}}},{"type":"user--user","id":"u2","attributes":{"display_name":"D"}}],"meta":{"count":2},"links":{"next":{"href":"h?q=1"}},"included":[{"id":"t"}]}"#;
        assert!(agrees(base));
        let variants = corruptions(base);
        let tried = variants.len();
        let read_count = variants.iter().filter(|v| agrees(v)).count();
        assert!(read_count > tried / 20, "{read_count} of {tried}");
    }
}
