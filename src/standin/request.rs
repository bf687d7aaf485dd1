//! The framework-free request and response values the site logic works on.

use super::errors::Failure;
use super::json::Json;
use super::model::Caller;
use super::query::Query;

pub(crate) const JSONAPI_MEDIA_TYPE: &str = "application/vnd.api+json";

/// A request as the site logic needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Incoming {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) raw_query: String,
    pub(crate) authorization: Option<String>,
    pub(crate) cookie: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) csrf_token: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) peer_ip: String,
    /// `scheme://host[:port]` the request came to; every link starts with it.
    pub(crate) base_url: String,
}

impl Incoming {
    /// The request URL as Symfony normalises it (sorted query).
    pub(crate) fn url(&self, query: &Query) -> String {
        let path = format!("{}{}", self.base_url, self.path);
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.normalized())
        }
    }

    pub(crate) fn is_safe_method(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// A response ready to be written out.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body,
        }
    }

    pub(crate) fn document(status: u16, doc: &Json) -> Reply {
        Reply::new(status, JSONAPI_MEDIA_TYPE, doc.to_bytes())
    }

    /// 204: no body and no Content-Type.
    pub(crate) fn no_content() -> Reply {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Per-request facts every JSON:API handler needs.
pub(crate) struct Ctx<'a> {
    pub(crate) incoming: &'a Incoming,
    pub(crate) query: Query,
    /// The normalised request URL (top-level `links.self`, error `links.via`).
    pub(crate) url: String,
    pub(crate) caller: Caller,
}

impl Ctx<'_> {
    pub(crate) fn base(&self) -> &str {
        &self.incoming.base_url
    }
}

pub(crate) type Outcome = Result<Reply, Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_normalises_the_query_and_omits_an_empty_one() {
        let incoming = Incoming {
            base_url: "http://h:1".into(),
            path: "/jsonapi/user/user".into(),
            ..Incoming::default()
        };
        assert_eq!(
            incoming.url(&Query::default()),
            "http://h:1/jsonapi/user/user"
        );
        let query = Query::parse("sort=name&fields[user--user]=name");
        assert_eq!(
            incoming.url(&query),
            "http://h:1/jsonapi/user/user?fields%5Buser--user%5D=name&sort=name"
        );
    }

    #[test]
    fn no_content_has_no_content_type() {
        assert_eq!(Reply::no_content().header("content-type"), None);
    }
}
