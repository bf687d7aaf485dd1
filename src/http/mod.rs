//! The SCIM HTTP surface: thin actix handlers that parse the request into
//! typed values, call one provisioning function, and render the answer.

mod auth;
mod bulk;
mod by_id;
pub mod caller;
pub mod clients;
mod closing;
mod deadline;
mod discovery;
pub mod error;
mod forwarded;
mod framework_errors;
mod groups;
pub mod jwt;
mod query;
mod request_log;
pub mod scim_port;
pub mod site;
mod users;

use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::header::{
    HeaderName, HeaderValue, ALLOW, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION,
};
use actix_web::http::StatusCode;
use actix_web::{middleware, web, HttpRequest, HttpResponse, ResponseError, Route};
use serde_json::{Map, Value};

use crate::provisioning::Provisioner;
use crate::scim::error::ScimError;
use crate::scim::filter::Filter;
use crate::scim::list::{ListParams, ListResponse, SortOrder};
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceSchema;
use crate::scim::version::{ConditionSource, Preconditions, VersionCondition};
use error::{ApiError, SCIM_CONTENT_TYPE};
use query::Query;

/// Everything the handlers of one site share (`crate::sites::build` makes
/// it; `site::SiteRegistry` holds every site's).
pub struct AppState {
    pub provisioner: Arc<Provisioner>,
    /// Who may call this site, and how each client proves itself.
    pub clients: clients::Clients,
    /// Where `Location` and `meta.location` take their base URL from.
    pub public_base: PublicBase,
    /// The site's id (`config::DEFAULT_SITE` without `sites:`).
    pub site: Arc<str>,
    /// Path of the site's SCIM API: `/scim/v2` or `/sites/{id}/scim/v2`.
    pub path: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// One of several sites: a refused credential is answered without
    /// saying why (the reason is logged), so that nothing about the site
    /// shows to a caller who is not its client.
    pub discreet: bool,
}

pub use forwarded::PublicBase;

/// Mounts the routes: the one site at `/scim/v2`, or every site of a
/// `sites:` configuration at `/sites/{id}/scim/v2`. `max_body_bytes` bounds
/// a request body where no site's own limit applies.
pub fn configure(cfg: &mut web::ServiceConfig, max_body_bytes: usize, multi_site: bool) {
    let scope = if multi_site {
        site::SITE_SCOPE
    } else {
        site::DEFAULT_SCOPE
    };
    cfg.app_data(web::PayloadConfig::new(max_body_bytes).limit(max_body_bytes))
        .app_data(web::Data::new(bulk::BulkLimits::new(max_body_bytes)))
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            ApiError(ScimError::bad_request(format!(
                "the query string cannot be read: {e}"
            )))
            .into()
        }))
        .route(
            "/healthz",
            crate::monitor::get_or_head().to(|| async { HttpResponse::Ok().body("ok") }),
        )
        // Outside /scim/v2 too, every answer is a SCIM error document.
        .default_service(web::to(no_such_route))
        .service(
            web::scope(scope)
                // Authentication opens the audit scope of the requests it
                // lets in (`request_log::audit_scope`) and the rejections'
                // layer answers HEAD as GET (`error::scim_rejections`):
                // fewer layers, each a boxed future per request.
                .wrap(middleware::from_fn(auth::require_bearer))
                .wrap(middleware::from_fn(error::scim_rejections))
                // Outermost: the site is known before anything else runs.
                .wrap(middleware::from_fn(site::select_site))
                .configure(users::routes)
                .configure(groups::routes)
                .configure(bulk::routes)
                .configure(discovery::routes)
                .service(web::resource("/Me").to(me_not_implemented))
                .service(
                    web::resource("/.search")
                        .post(search_across_types)
                        .default_service(only("POST")),
                )
                .default_service(web::to(no_such_route)),
        );
}

/// The request-log middleware, wrapped around the whole app by startup.
pub use request_log::log_requests;

/// Refuses requests pipelined after an answer that closed the connection;
/// wrapped around the whole app, outermost, by startup.
pub use closing::refuse_after_close;

/// The request-body deadline, wrapped around the whole app by startup,
/// which also provides its `BodyDeadline`.
pub use deadline::{body_deadline, BodyDeadline};

/// The scope's fallback: no SCIM endpoint at that path. (A known path with
/// an unsupported method is each resource's own `only` answer.)
async fn no_such_route(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ScimError::not_found(format!(
        "No SCIM endpoint at {} {}. Endpoints: /Users, /Groups, /Bulk, /ServiceProviderConfig, /Schemas, /ResourceTypes.",
        req.method(),
        crate::untrusted::quote(req.path())
    ))
    .into())
}

/// A SCIM 405 for the methods an endpoint does not serve, with the `Allow`
/// header RFC 9110 §15.5.6 asks for. `allowed` names the routes' methods;
/// HEAD is added after GET, for every GET is answered to HEAD as well
/// (`error::scim_rejections`, RFC 9110 §9.3.2).
fn only(allowed: &'static str) -> Route {
    let allowed = with_head(allowed);
    web::to(move |req: HttpRequest| {
        let allowed = allowed.clone();
        async move {
            let mut response = ApiError(ScimError::method_not_allowed(format!(
                "{} is not supported on {}; it answers {allowed}.",
                req.method(),
                crate::untrusted::quote(req.path())
            )))
            .error_response();
            if let Ok(value) = HeaderValue::from_str(&allowed) {
                response.headers_mut().insert(ALLOW, value);
            }
            response
        }
    })
}

/// A comma-separated method list with HEAD after GET.
fn with_head(allowed: &str) -> String {
    allowed
        .split(", ")
        .map(|method| match method {
            "GET" => "GET, HEAD",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// RFC 7644 §3.4.3 lets a server decline a search across every resource
/// type; 501 tells the client to search one endpoint instead.
async fn search_across_types(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    request_log::label(&req, "search_all_types", None);
    Err(ScimError::not_implemented(
        "Searching every resource type at once is not supported: POST to /Users/.search or /Groups/.search instead.",
    )
    .into())
}

/// RFC 7644 §3.11: a service provider without `/Me` SHOULD answer 501.
/// The bridge authenticates identity providers, not people: no caller is
/// a user it could stand for.
async fn me_not_implemented(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    request_log::label(&req, "me", None);
    Err(ScimError::not_implemented(
        "/Me is not supported: this bridge authenticates identity providers, not users, so no authenticated subject is a user it could name. Use /Users/{id} instead.",
    )
    .into())
}

/// Base URL of the SCIM API as the client sees it, for `Location` and
/// `meta.location`.
fn base_url(req: &HttpRequest, state: &AppState) -> String {
    state.public_base.of(req)
}

/// A SCIM JSON response.
fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    // Straight into bytes: `to_string` goes through `fmt` one fragment at a
    // time, which costs a few per cent of the bridge's CPU on every read.
    // A JSON value (string keys only) always serializes.
    // Sized for a user at once: `to_vec` starts at 128 bytes and grows
    // three times for one.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes.clear();
    }
    scim_body(status, bytes)
}

/// `Content-Type: application/scim+json`, made once: a header value parsed
/// from text, and the builder's header pair, cost more than the rest of
/// making the response.
static SCIM_TYPE: HeaderValue = HeaderValue::from_static(SCIM_CONTENT_TYPE);

/// A SCIM JSON response of bytes written already.
fn scim_body(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = HttpResponse::with_body(status, BoxBody::new(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, SCIM_TYPE.clone());
    response
}

/// A resource response whose JSON is written already, with its `ETag`.
fn scim_bytes(status: StatusCode, body: Vec<u8>, version: &str) -> HttpResponse {
    let mut response = scim_body(status, body);
    if let Ok(v) = HeaderValue::from_str(version) {
        response.headers_mut().insert(ETAG, v);
    }
    response
}

/// A resource response with its `ETag` (RFC 7644 §3.14).
fn scim_resource(status: StatusCode, body: &Value, version: &str) -> HttpResponse {
    let mut response = scim_json(status, body);
    if let Ok(v) = HeaderValue::from_str(version) {
        response.headers_mut().insert(ETAG, v);
    }
    response
}

/// A 201's `Location` header (RFC 7644 §3.3): the new resource's URL.
fn with_location(mut response: HttpResponse, location: &str) -> HttpResponse {
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, v);
    }
    response
}

/// A string attribute of a request's resource, to name it in the log.
fn text_attribute(resource: &Map<String, Value>, name: &str) -> Option<String> {
    resource
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// `If-Match` / `If-None-Match`, when the client sent one. Every line of
/// the header counts: repeated field lines are one comma-separated list
/// (RFC 9110 §5.3), so `If-Match: W/"a"` then `If-Match: W/"b"` means
/// `W/"a", W/"b"`, not just the first.
fn version_condition(
    req: &HttpRequest,
    header: HeaderName,
) -> Result<Option<VersionCondition>, ApiError> {
    let mut lines = Vec::new();
    for value in req.headers().get_all(&header) {
        lines.push(value.to_str().map_err(|_| {
            ScimError::bad_request(format!("the {header} header is not readable text"))
        })?);
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let source = if header == IF_MATCH {
        ConditionSource::IfMatch
    } else {
        ConditionSource::IfNoneMatch
    };
    Ok(Some(VersionCondition::parse(&lines.join(", "), source)?))
}

/// The version conditions of a write, `If-Match` and `If-None-Match`
/// (RFC 7232 §3.1, §3.2), checked by the provisioning layer once the
/// resource is read.
fn preconditions(req: &HttpRequest) -> Result<Preconditions, ApiError> {
    Ok(Preconditions {
        if_match: version_condition(req, IF_MATCH)?,
        if_none_match: version_condition(req, IF_NONE_MATCH)?,
        if_match_source: ConditionSource::IfMatch,
    })
}

/// 304: the client's copy (`If-None-Match`) is current.
fn not_modified(version: &str) -> HttpResponse {
    let mut response = HttpResponse::NotModified().finish();
    if let Ok(v) = HeaderValue::from_str(version) {
        response.headers_mut().insert(ETAG, v);
    }
    response
}

/// A SearchRequest's parameters, from its body (RFC 7644 §3.4.3). Any
/// given in the URL are refused, not ignored: a client that put its filter
/// there would otherwise be answered every resource, as if all matched.
fn search_params(req: &HttpRequest, body: &[u8]) -> Result<ListParams, ApiError> {
    let in_url = req
        .query_string()
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .find(|name| !name.is_empty());
    if let Some(name) = in_url {
        return Err(ScimError::invalid_syntax(format!(
            "a POST to .search takes its parameters in the body (RFC 7644 §3.4.3), not in the URL: move \"{}\" into the SearchRequest, or send the query as a GET",
            crate::untrusted::quote(name)
        ))
        .into());
    }
    Ok(ListParams::from_search_body(&json_body(req, body)?)?)
}

/// Reads a JSON request body. Content type is not enforced: IdPs send
/// `application/scim+json`, `application/json`, and sometimes nothing.
/// Its charset is (`utf8_only`). One leading UTF-8 byte order mark is
/// skipped (RFC 8259 §8.1 allows it; .NET and PowerShell clients send one).
fn json_body(req: &HttpRequest, bytes: &[u8]) -> Result<Value, ApiError> {
    utf8_only(req)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; a JSON object is expected",
        )
        .into());
    }
    let value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError(ScimError::invalid_syntax(format!(
            "the request body is not valid JSON: {e}"
        )))
    })?;
    refuse_repeated_names(bytes)?;
    Ok(value)
}

/// A body labelled with a charset other than UTF-8 (or its subset
/// US-ASCII) is 415: SCIM bodies are JSON (RFC 7644 §3.1), which travels
/// as UTF-8 (RFC 8259 §8.1), and read as such a UTF-16 body is only a
/// syntax error about its first bytes. No charset is UTF-8.
fn utf8_only(req: &HttpRequest) -> Result<(), ApiError> {
    for value in req.headers().get_all(CONTENT_TYPE) {
        let text = String::from_utf8_lossy(value.as_bytes());
        // Parsed as a media type, so that a quoted parameter value holding
        // `;charset=…` is not taken for the charset; a value that is no
        // media type is left to the body's own reading.
        let Ok(media) = text.parse::<actix_web::mime::Mime>() else {
            continue;
        };
        if let Some(charset) = media
            .get_param(actix_web::mime::CHARSET)
            .map(|c| c.as_str())
        {
            // `utf8` and `ascii` are common labels of the same (WHATWG
            // Encoding: "utf8" is a label of UTF-8).
            if !["utf-8", "utf8", "us-ascii", "ascii"]
                .iter()
                .any(|utf8| charset.eq_ignore_ascii_case(utf8))
            {
                return Err(ScimError::new(
                    415,
                    None,
                    format!(
                        "The request body is labelled charset={} (Content-Type); SCIM bodies are JSON in UTF-8 (RFC 7644 §3.1, RFC 8259 §8.1): send it in UTF-8, with charset=utf-8 or no charset.",
                        crate::untrusted::quote(charset)
                    ),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Refuses an object naming one member twice, exactly or in another case
/// (`"userName"` and `"username"`): SCIM attribute names ignore case
/// (RFC 7643 §2.1), and a parsed `Value` keeps only the last, silently.
/// Run on a body already known to be valid JSON.
fn refuse_repeated_names(bytes: &[u8]) -> Result<(), ApiError> {
    use serde::de::Deserializer;
    let repeated = std::cell::RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let walked = (&mut reader).deserialize_any(NameCheck {
        path: None,
        repeated: &repeated,
    });
    match (repeated.into_inner(), walked) {
        (Some(detail), _) => Err(ScimError::invalid_syntax(detail).into()),
        // Cannot happen: the same bytes parsed just before.
        (None, Err(e)) => Err(ScimError::invalid_syntax(format!(
            "the request body is not valid JSON: {e}"
        ))
        .into()),
        (None, Ok(())) => Ok(()),
    }
}

/// Walks a JSON document, keeping nothing but the first repeated name.
struct NameCheck<'a> {
    /// The names of the objects around this one (`name` in `name.givenName`).
    path: Option<&'a Names<'a>>,
    repeated: &'a std::cell::RefCell<Option<String>>,
}

/// A member's name and the names around it, spelled out only for an error.
struct Names<'a> {
    name: &'a str,
    outer: Option<&'a Names<'a>>,
}

impl Names<'_> {
    fn dotted(&self) -> String {
        match self.outer {
            Some(outer) => format!("{}.{}", outer.dotted(), self.name),
            None => self.name.to_string(),
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for NameCheck<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NameCheck<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (path, repeated) = (self.path, self.repeated);
        while seq
            .next_element_seed(NameCheck { path, repeated })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Attribute names are ASCII (RFC 7643 §2.1's ATTRNAME), so ASCII
        // case is all there is to ignore.
        let mut seen: std::collections::HashMap<String, std::borrow::Cow<'de, str>> =
            std::collections::HashMap::new();
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let folded = name.to_ascii_lowercase();
            let here = Names {
                name: &name,
                outer: self.path,
            };
            if let Some(first) = seen.get(&folded) {
                let quote = crate::untrusted::quote;
                *self.repeated.borrow_mut() = Some(format!(
                    "the attribute \"{}\" is given twice (also as \"{}\"); attribute names \
                     ignore case, so give each once",
                    quote(&here.dotted()),
                    quote(first)
                ));
                return Err(serde::de::Error::custom("a repeated name"));
            }
            map.next_value_seed(NameCheck {
                path: Some(&here),
                repeated: self.repeated,
            })?;
            seen.insert(folded, name);
        }
        Ok(())
    }
}

/// A query parameter by name, ignoring case. Given twice, it is refused
/// rather than one of its values silently chosen.
fn query_param<'q>(query: &'q Query, name: &str) -> Result<Option<&'q str>, ApiError> {
    let mut found = query
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(ScimError::invalid_value(format!(
            "the parameter {name} is given more than once; give it once"
        ))
        .into());
    }
    Ok(first)
}

/// A list or search request in typed form: what the service needs to find
/// the page, and the projection that shapes the answer.
struct ListRequest {
    filter: Option<Filter>,
    start_index: usize,
    count: Option<usize>,
    sort_by: Option<String>,
    sort_order: Option<SortOrder>,
    projection: Projection,
}

impl ListRequest {
    fn parse(params: ListParams, schema: &ResourceSchema) -> Result<ListRequest, ApiError> {
        Ok(ListRequest {
            filter: params.filter.as_deref().map(Filter::parse).transpose()?,
            projection: Projection::parse(
                params.attributes.as_deref(),
                params.excluded_attributes.as_deref(),
                schema,
            )?,
            start_index: params.start_index,
            count: params.count,
            sort_by: params.sort_by,
            sort_order: params.sort_order,
        })
    }
}

/// The ListResponse of one page (RFC 7644 §3.4.2).
fn list_page(total: usize, start_index: usize, resources: Vec<Value>) -> HttpResponse {
    let response = ListResponse {
        total_results: total,
        start_index,
        resources,
    };
    scim_json(StatusCode::OK, &response.into_json())
}

/// `attributes` and `excludedAttributes` of a single-resource request.
fn projection_of(query: &Query, schema: &ResourceSchema) -> Result<Projection, ApiError> {
    Ok(Projection::parse(
        query_param(query, "attributes")?,
        query_param(query, "excludedAttributes")?,
        schema,
    )?)
}

/// Adds what needs the public URL: `meta.location` of the resource at
/// `{base}/{endpoint}/{id}`, and the `$ref` of each element of the
/// multi-valued `refs.0`, which points into `{base}/{refs.1}`.
fn with_refs(
    resource: &mut Map<String, Value>,
    base: &str,
    endpoint: &str,
    id: &str,
    refs: (&str, &str),
) {
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        // Concatenated rather than formatted: this runs on every read.
        meta.insert(
            "location".into(),
            Value::String([base, "/", endpoint, "/", id].concat()),
        );
    }
    let (attr, target) = refs;
    if let Some(Value::Array(items)) = resource.get_mut(attr) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(value) = item.get("value").and_then(Value::as_str) {
                let reference = [base, "/", target, "/", value].concat();
                item.insert("$ref".into(), Value::String(reference));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    /// What the builder made before `scim_body` set the header itself.
    #[actix_web::test]
    async fn a_written_answer_has_the_builders_status_headers_and_body() {
        let body = br#"{"id":"1"}"#.to_vec();
        let ours = scim_bytes(StatusCode::CREATED, body.clone(), "W/\"1-2\"");
        let mut theirs = HttpResponse::build(StatusCode::CREATED)
            .insert_header((CONTENT_TYPE, SCIM_CONTENT_TYPE))
            .body(body.clone());
        theirs
            .headers_mut()
            .insert(ETAG, HeaderValue::from_static("W/\"1-2\""));
        assert_eq!(ours.status(), theirs.status());
        let headers = |r: &HttpResponse| {
            let mut all: Vec<(String, Vec<u8>)> = r
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect();
            all.sort();
            all
        };
        assert_eq!(headers(&ours), headers(&theirs));
        assert_eq!(
            ours.headers().get(CONTENT_TYPE).unwrap(),
            "application/scim+json"
        );
        assert_eq!(to_bytes(ours.into_body()).await.unwrap(), body);
        let list = scim_json(StatusCode::OK, &serde_json::json!({"a": 1}));
        assert_eq!(
            headers(&list),
            vec![("content-type".into(), b"application/scim+json".to_vec())]
        );
        assert_eq!(
            to_bytes(list.into_body()).await.unwrap(),
            &br#"{"a":1}"#[..]
        );
    }
}
