//! What the URL says, percent-decoded strictly: the query's parameters and
//! the `{id}` of a by-id route. actix decodes both lossily, putting U+FFFD
//! where the bytes are no UTF-8 text, so `?filter=userName eq "%FF"` ran a
//! filter the client never sent (and found no one), and `/Users/%FF` looked
//! up the id U+FFFD. Such a URL is refused with 400 instead.

use std::borrow::Cow;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use percent_encoding::percent_decode_str;

use super::error::ApiError;
use crate::scim::error::ScimError;
use crate::scim::list::ListParams;
use crate::untrusted::quote;

/// The query's pairs, decoded as an HTML form's (`+` is a space, then
/// percent-decoding), in their order. A parameter the bridge reads whose
/// value is no UTF-8 text once decoded is 400 `invalidSyntax` naming it;
/// one it ignores (Entra's `aadOptscim062020`) stays ignored, whatever it
/// holds.
#[derive(Debug)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: &str) -> Result<Query, ScimError> {
        let mut pairs = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = form_decoded(name).unwrap_or_else(|bytes| lossy(&bytes));
            let value = match (form_decoded(value), ListParams::parameter_name(&name)) {
                (Ok(value), _) => value,
                (Err(bytes), None) => lossy(&bytes),
                // Not repeated: a filter may compare a password.
                (Err(_), Some(read)) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "the query parameter {read} is not UTF-8 text once percent-decoded; percent-encode each character as its UTF-8 bytes (é is %C3%A9)"
                    )))
                }
            };
            pairs.push((name, value));
        }
        Ok(Query(pairs))
    }

    pub fn into_inner(self) -> Vec<(String, String)> {
        self.0
    }
}

impl std::ops::Deref for Query {
    type Target = Vec<(String, String)>;

    fn deref(&self) -> &Vec<(String, String)> {
        &self.0
    }
}

impl FromRequest for Query {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Query, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Query::parse(req.query_string()).map_err(|e| ApiError(e).into()))
    }
}

/// `+` as a space, then percent-decoded; `Err` holds the bytes when they
/// are no UTF-8 text.
fn form_decoded(text: &str) -> Result<String, Vec<u8>> {
    let spaced = match text.contains('+') {
        true => Cow::Owned(text.replace('+', " ")),
        false => Cow::Borrowed(text),
    };
    let bytes: Cow<[u8]> = percent_decode_str(&spaced).into();
    String::from_utf8(bytes.into_owned()).map_err(|e| e.into_bytes())
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One path segment as the client sent it (`raw`, from the request's URI),
/// percent-decoded: a `%2F` is a `/` within the segment, `+` is itself.
/// Bytes that are no UTF-8 text are a 400 saying so.
pub fn path_segment(raw: &str) -> Result<Cow<'_, str>, ScimError> {
    percent_decode_str(raw).decode_utf8().map_err(|_| {
        ScimError::bad_request(format!(
            "the URL's percent-encoding is not UTF-8: {} decodes to bytes that are no UTF-8 text; percent-encode each character as its UTF-8 bytes (é is %C3%A9)",
            quote(raw)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;

    #[test]
    fn pairs_are_decoded_as_a_forms_in_their_order() {
        let query =
            Query::parse("filter=userName+eq+%22caf%C3%A9%22&&count=2&flag&a%2Bb=%2B").unwrap();
        assert_eq!(
            query.into_inner(),
            vec![
                ("filter".to_string(), "userName eq \"café\"".to_string()),
                ("count".to_string(), "2".to_string()),
                ("flag".to_string(), String::new()),
                ("a+b".to_string(), "+".to_string()),
            ]
        );
        assert!(Query::parse("").unwrap().is_empty());
    }

    #[test]
    fn a_read_parameter_that_is_no_utf8_is_invalid_syntax_naming_it() {
        for query in [
            "filter=%FF",
            "Filter=caf%E9",
            "attributes=%C3",
            "excludedAttributes=a%C3%28",
            "sortBy=%80",
            "sortOrder=%FF",
            "startIndex=%FF",
            "count=%FF",
        ] {
            let e = Query::parse(query).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{query}");
            let name = query.split('=').next().unwrap();
            assert!(
                e.detail.to_lowercase().contains(&name.to_lowercase()),
                "{query}: {}",
                e.detail
            );
            assert!(!e.detail.contains('\u{FFFD}'), "{}", e.detail);
        }
    }

    #[test]
    fn an_ignored_parameter_may_hold_anything() {
        let query = Query::parse("aadOptscim062020=%FF&%FF=x&count=1").unwrap();
        assert_eq!(query.len(), 3);
        assert_eq!(query[2], ("count".to_string(), "1".to_string()));
    }

    #[test]
    fn a_path_segment_is_decoded_whole_or_refused() {
        assert_eq!(path_segment("caf%C3%A9").unwrap(), "café");
        assert_eq!(path_segment("a%2Fb").unwrap(), "a/b");
        assert_eq!(path_segment("a+b").unwrap(), "a+b");
        assert_eq!(path_segment("%41%").unwrap(), "A%");
        for raw in ["%FF", "caf%E9", "%C3"] {
            let e = path_segment(raw).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.detail.contains(raw), "{}", e.detail);
        }
    }
}
