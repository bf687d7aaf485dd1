//! PHP-style query strings: `filter[a][condition][value][]=x` parsed into an
//! ordered tree, and the two ways Drupal writes such a tree back into links.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// One query value: a string or an ordered map (PHP array).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum QueryValue {
    Str(String),
    Map(Vec<(String, QueryValue)>),
}

impl QueryValue {
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            QueryValue::Str(s) => Some(s),
            QueryValue::Map(_) => None,
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&QueryValue> {
        match self {
            QueryValue::Map(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            QueryValue::Str(_) => None,
        }
    }
}

/// A parsed query string: top-level keys in request order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Query {
    pub(crate) params: Vec<(String, QueryValue)>,
}

impl Query {
    /// Parses like PHP's `parse_str`: later keys overwrite earlier ones in place,
    /// `[]` appends with the next integer index.
    pub(crate) fn parse(raw: &str) -> Query {
        let mut root: Vec<(String, QueryValue)> = Vec::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = url_decode(raw_key);
            let value = url_decode(raw_value);
            let key = key.trim_start_matches(' ');
            let (base, segments) = split_key(key);
            if base.is_empty() {
                continue;
            }
            let mut path = vec![Some(base.to_string())];
            path.extend(segments);
            insert(&mut root, &path, value);
        }
        Query { params: root }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&QueryValue> {
        self.params.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// The query as Symfony's `Request::getUri()` normalises it: top-level keys
    /// sorted, `http_build_query` with RFC 3986 encoding.
    pub(crate) fn normalized(&self) -> String {
        let mut sorted = self.params.clone();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        build(&sorted, false)
    }

    /// The query as Drupal's URL generator writes it (pager links): request
    /// order kept, slashes in values left readable.
    pub(crate) fn in_request_order(&self) -> String {
        build(&self.params, true)
    }

    /// Sets a top-level key, keeping its position when it already exists.
    pub(crate) fn set(&mut self, key: &str, value: QueryValue) {
        match self.params.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) => *existing = value,
            None => self.params.push((key.to_string(), value)),
        }
    }
}

fn url_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Splits `a[b][]` into `a` and `[Some("b"), None]` (`None` = append).
fn split_key(key: &str) -> (&str, Vec<Option<String>>) {
    let Some(open) = key.find('[') else {
        return (key, Vec::new());
    };
    let base = &key[..open];
    let mut segments = Vec::new();
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            break;
        };
        let segment = &stripped[..close];
        segments.push(if segment.is_empty() {
            None
        } else {
            Some(segment.to_string())
        });
        rest = &stripped[close + 1..];
    }
    (base, segments)
}

fn insert(map: &mut Vec<(String, QueryValue)>, path: &[Option<String>], value: String) {
    let Some((head, tail)) = path.split_first() else {
        return;
    };
    let key = match head {
        Some(k) => k.clone(),
        None => next_index(map).to_string(),
    };
    if tail.is_empty() {
        match map.iter_mut().find(|(k, _)| *k == key) {
            Some((_, existing)) => *existing = QueryValue::Str(value),
            None => map.push((key, QueryValue::Str(value))),
        }
        return;
    }
    let position = match map.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            map.push((key, QueryValue::Map(Vec::new())));
            map.len() - 1
        }
    };
    if let Some((_, slot)) = map.get_mut(position) {
        if !matches!(slot, QueryValue::Map(_)) {
            *slot = QueryValue::Map(Vec::new());
        }
        if let QueryValue::Map(children) = slot {
            insert(children, tail, value);
        }
    }
}

fn next_index(map: &[(String, QueryValue)]) -> u64 {
    map.iter()
        .filter_map(|(k, _)| k.parse::<u64>().ok())
        .max()
        .map_or(0, |max| max + 1)
}

/// Characters PHP's `rawurlencode` leaves alone: RFC 3986 unreserved.
const RAW_URL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn raw_url_encode(s: &str) -> String {
    utf8_percent_encode(s, RAW_URL).to_string()
}

fn build(params: &[(String, QueryValue)], readable_slashes: bool) -> String {
    let mut pairs = Vec::new();
    for (key, value) in params {
        collect(&raw_url_encode(key), value, readable_slashes, &mut pairs);
    }
    pairs.join("&")
}

fn collect(prefix: &str, value: &QueryValue, readable_slashes: bool, out: &mut Vec<String>) {
    match value {
        QueryValue::Str(s) => {
            let encoded = raw_url_encode(s);
            let encoded = if readable_slashes {
                encoded.replace("%2F", "/")
            } else {
                encoded
            };
            out.push(format!("{prefix}={encoded}"));
        }
        QueryValue::Map(members) => {
            for (key, child) in members {
                let nested = format!("{prefix}{}", raw_url_encode(&format!("[{key}]")));
                collect(&nested, child, readable_slashes, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_nest_and_empty_brackets_append() {
        let q = Query::parse("filter[m][condition][value][]=a%40x&filter[m][condition][value][]=b");
        let values = q
            .get("filter")
            .and_then(|f| f.get("m"))
            .and_then(|m| m.get("condition"));
        let values = values.and_then(|c| c.get("value")).cloned();
        assert_eq!(
            values,
            Some(QueryValue::Map(vec![
                ("0".into(), QueryValue::Str("a@x".into())),
                ("1".into(), QueryValue::Str("b".into())),
            ]))
        );
    }

    #[test]
    fn normalized_query_sorts_top_level_keys_only_and_encodes_like_rawurlencode() {
        let q =
            Query::parse("page[limit]=10&page[offset]=0&fields[user--user]=name,mail&sort=name");
        assert_eq!(
            q.normalized(),
            "fields%5Buser--user%5D=name%2Cmail&page%5Blimit%5D=10&page%5Boffset%5D=0&sort=name"
        );
    }

    #[test]
    fn request_order_query_keeps_positions_and_readable_slashes() {
        let mut q = Query::parse("fields[x]=a/b&sort=name");
        q.set(
            "page",
            QueryValue::Map(vec![("offset".into(), QueryValue::Str("50".into()))]),
        );
        assert_eq!(
            q.in_request_order(),
            "fields%5Bx%5D=a/b&sort=name&page%5Boffset%5D=50"
        );
    }

    #[test]
    fn plus_and_percent_twenty_both_decode_to_a_space() {
        let q = Query::parse("a=IS+NULL&b=IS%20NOT%20NULL");
        assert_eq!(q.get("a").and_then(QueryValue::as_str), Some("IS NULL"));
        assert_eq!(q.get("b").and_then(QueryValue::as_str), Some("IS NOT NULL"));
    }

    #[test]
    fn a_repeated_key_overwrites_in_place() {
        let q = Query::parse("a=1&b=2&a=3");
        assert_eq!(q.in_request_order(), "a=3&b=2");
    }
}
