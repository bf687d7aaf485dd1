//! Request dispatch in Drupal's order: route match (404 HTML, 405, read-only,
//! 415, query parameter check), authentication, CSRF, then the controller;
//! a 403 for a request that presented no credentials becomes a 401 challenge.

use super::auth::Presented;
use super::documents::{entry_point, error_document, html_not_found, ROLES_PATH, USERS_PATH};
use super::errors::{ApiError, Failure};
use super::login;
use super::oauth;
use super::query::Query;
use super::request::{Ctx, Incoming, Outcome, Reply, JSONAPI_MEDIA_TYPE};
use super::roles;
use super::state::Site;
use super::taxonomy;
use super::users::{self, RelationshipWrite};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    EntryPoint,
    Users,
    User(String),
    UserRelated(String),
    UserRelationship(String),
    Roles,
    Role(String),
    UserGroupsRelated(String),
    UserGroupsRelationship(String),
    Terms(String),
    Term(String, String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/jsonapi")?;
        if rest.is_empty() {
            return Some(Route::EntryPoint);
        }
        if let Some(rest) = rest.strip_prefix(&USERS_PATH["/jsonapi".len()..]) {
            let segments: Vec<&str> = rest.split('/').skip(1).collect();
            return match segments.as_slice() {
                [] => Some(Route::Users),
                [id] if !id.is_empty() => Some(Route::User(id.to_string())),
                [id, "roles"] => Some(Route::UserRelated(id.to_string())),
                [id, "relationships", "roles"] => Some(Route::UserRelationship(id.to_string())),
                [id, taxonomy::GROUPS_FIELD] => Some(Route::UserGroupsRelated(id.to_string())),
                [id, "relationships", taxonomy::GROUPS_FIELD] => {
                    Some(Route::UserGroupsRelationship(id.to_string()))
                }
                _ => None,
            };
        }
        if let Some(rest) = rest.strip_prefix("/taxonomy_term/") {
            let segments: Vec<&str> = rest.split('/').collect();
            return match segments.as_slice() {
                [vid] if taxonomy::VOCABULARIES.contains(vid) => {
                    Some(Route::Terms(vid.to_string()))
                }
                [vid, id] if taxonomy::VOCABULARIES.contains(vid) && !id.is_empty() => {
                    Some(Route::Term(vid.to_string(), id.to_string()))
                }
                _ => None,
            };
        }
        if let Some(rest) = rest.strip_prefix(&ROLES_PATH["/jsonapi".len()..]) {
            let segments: Vec<&str> = rest.split('/').skip(1).collect();
            return match segments.as_slice() {
                [] => Some(Route::Roles),
                [id] if !id.is_empty() => Some(Route::Role(id.to_string())),
                _ => None,
            };
        }
        None
    }

    /// Methods in the order Symfony lists them in `Allow`.
    fn allowed(&self) -> &'static [&'static str] {
        match self {
            Route::Users => &["GET", "HEAD", "POST"],
            Route::User(_) => &["GET", "HEAD", "DELETE", "PATCH"],
            Route::UserRelationship(_) | Route::UserGroupsRelationship(_) => {
                &["GET", "HEAD", "POST", "PATCH", "DELETE"]
            }
            Route::Terms(_) => &["GET", "HEAD", "POST"],
            Route::Term(..) => &["GET", "HEAD", "DELETE", "PATCH"],
            Route::EntryPoint
            | Route::UserRelated(_)
            | Route::UserGroupsRelated(_)
            | Route::Roles
            | Route::Role(_) => &["GET", "HEAD"],
        }
    }

    fn is_taxonomy(&self) -> bool {
        matches!(
            self,
            Route::Terms(_)
                | Route::Term(..)
                | Route::UserGroupsRelated(_)
                | Route::UserGroupsRelationship(_)
        )
    }

    fn has_body(&self, method: &str) -> bool {
        match self {
            Route::UserRelationship(_) | Route::UserGroupsRelationship(_) => {
                method != "GET" && method != "HEAD"
            }
            _ => method == "POST" || method == "PATCH",
        }
    }
}

/// Answers one request against the site.
pub(crate) fn handle(site: &mut Site, incoming: &Incoming) -> Reply {
    let query = Query::parse(&incoming.raw_query);
    match incoming.path.as_str() {
        "/user/login" => {
            if let Some(reply) = login::login(site, incoming, &query) {
                return reply;
            }
        }
        "/user/logout" => {
            if let Some(reply) = login::logout(site, incoming, &query) {
                return reply;
            }
        }
        "/session/token" if incoming.is_safe_method() => {
            return login::session_token(site, incoming)
        }
        "/oauth/token" => return oauth::token(site, incoming),
        _ => {}
    }
    match Route::parse(&incoming.path).filter(|r| site.taxonomy || !r.is_taxonomy()) {
        Some(route) => jsonapi(site, incoming, route, query),
        None => Reply::new(
            404,
            "text/html; charset=UTF-8",
            html_not_found(&site.site_name).into_bytes(),
        ),
    }
}

fn jsonapi(site: &mut Site, incoming: &Incoming, route: Route, query: Query) -> Reply {
    let url = incoming.url(&query);
    let presented = Presented::from_headers(
        incoming.authorization.as_deref(),
        incoming.cookie.as_deref(),
    );
    let outcome = route_checks(site, incoming, &route, &query).and_then(|()| {
        let caller = site.authenticate(&presented, &incoming.peer_ip);
        // simple_oauth fails a request whose token it does not accept,
        // instead of running it as anonymous.
        if presented.bearer.is_some() && !caller.is_authenticated() {
            return Err(ApiError::new(
                401,
                "The resource owner or authorization server denied the request.",
            )
            .into());
        }
        let ctx = Ctx {
            incoming,
            query,
            url: url.clone(),
            caller,
        };
        check_csrf(site, &ctx, &presented)?;
        dispatch(site, &ctx, &route)
    });
    let mut reply = match outcome {
        Ok(reply) => reply,
        Err(failure) => render_failure(site, failure, &presented, &url),
    };
    if let Some(cache) = site.late_cache.as_mut() {
        cache_late(cache, &incoming.method, &route, &mut reply);
    }
    // Drupal ends a session its cookie names but it no longer holds: the
    // answer deletes the cookie (seen on Drupal 10.2.6).
    let gone = presented.basic.is_none()
        && presented.bearer.is_none()
        && presented
            .session
            .as_deref()
            .is_some_and(|id| site.sessions.get(id).is_none());
    match gone {
        true => reply.with_header("Set-Cookie", super::auth::deleted_session_cookie()),
        false => reply,
    }
}

/// What JSON:API's normalization cache does to an answer, and what the
/// request does to the cache (see `late_cache`).
fn cache_late(
    cache: &mut super::late_cache::LateCache,
    method: &str,
    route: &Route,
    reply: &mut Reply,
) {
    if !(200..300).contains(&reply.status) {
        return;
    }
    match (method, route) {
        ("GET", Route::User(_) | Route::Users | Route::Term(..) | Route::Terms(_)) => {
            if let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(&reply.body) {
                cache.read(&mut body);
                reply.body = serde_json::to_vec(&body).unwrap_or_default();
            }
        }
        ("DELETE", Route::User(id) | Route::Term(_, id)) => cache.deleted(id),
        ("PATCH", Route::User(id) | Route::Term(_, id))
        | (_, Route::UserRelationship(id) | Route::UserGroupsRelationship(id))
            if method != "GET" && method != "HEAD" =>
        {
            cache.saved(id)
        }
        _ => {}
    }
}

fn render_failure(site: &Site, failure: Failure, presented: &Presented, url: &str) -> Reply {
    let failure = match failure {
        // basic_auth's challenge: only when no authentication provider applied.
        Failure::Api(error) if error.status == 403 && !presented.any() => Failure::Api(
            ApiError::new(401, "No authentication credentials provided.").with_header(
                "WWW-Authenticate",
                format!("Basic realm=\"{}\"", site.site_name),
            ),
        ),
        other => other,
    };
    let reply = Reply::document(failure.status(), &error_document(&failure, url));
    match failure {
        Failure::Api(error) => error
            .headers
            .into_iter()
            .fold(reply, |r, (k, v)| r.with_header(&k, v)),
        _ => reply,
    }
}

/// What routing itself rejects, before anyone is authenticated.
fn route_checks(
    site: &Site,
    incoming: &Incoming,
    route: &Route,
    query: &Query,
) -> Result<(), Failure> {
    let allowed = route.allowed();
    if !allowed.contains(&incoming.method.as_str()) {
        let allow = allowed.join(", ");
        let detail = format!(
            "No route found for \"{} {}{}\": Method Not Allowed (Allow: {allow})",
            incoming.method, incoming.base_url, incoming.path
        );
        return Err(ApiError::new(405, detail)
            .with_header("Allow", allow)
            .into());
    }
    if site.read_only && !incoming.is_safe_method() {
        let detail = format!(
            "JSON:API is configured to accept only read operations. Site administrators can configure this at {}/admin/config/services/jsonapi.",
            incoming.base_url
        );
        return Err(ApiError::new(405, detail)
            .with_header("Allow", "GET")
            .into());
    }
    if route.has_body(&incoming.method) {
        let media_type = incoming
            .content_type
            .as_deref()
            .map(|c| c.split(';').next().unwrap_or_default().trim());
        match media_type {
            None => {
                return Err(
                    ApiError::new(415, "No \"Content-Type\" request header specified").into(),
                )
            }
            Some(JSONAPI_MEDIA_TYPE) => {}
            Some(_) => {
                let given = incoming.content_type.clone().unwrap_or_default();
                return Err(ApiError::new(
                    415,
                    format!("No route found that matches \"Content-Type: {given}\""),
                )
                .into());
            }
        }
    }
    check_query_parameters(query)
}

/// JSON:API reserves all-lowercase parameter names (`JsonApiRequestValidator`).
fn check_query_parameters(query: &Query) -> Result<(), Failure> {
    const RESERVED: [&str; 5] = ["filter", "sort", "page", "fields", "include"];
    let invalid: Vec<&str> = query
        .params
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| !RESERVED.contains(name))
        .filter(|name| {
            let member_like = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && name.starts_with(|c: char| c.is_ascii_alphanumeric())
                && name.ends_with(|c: char| c.is_ascii_alphanumeric());
            !member_like || name.chars().all(|c| c.is_ascii_lowercase())
        })
        .collect();
    if invalid.contains(&"_format") {
        return Err(ApiError::bad_request(
            "JSON:API does not need that ugly '_format' query string! 🤘 Use the URL provided in 'links' 🙏",
        )
        .into());
    }
    if invalid.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "The following query parameters violate the JSON:API spec: '{}'.",
        invalid.join("', '")
    ))
    .into())
}

/// `CsrfRequestHeaderAccessCheck`: unsafe requests of an authenticated caller
/// that carry a session cookie need the token, whatever authenticated them.
fn check_csrf(site: &Site, ctx: &Ctx, presented: &Presented) -> Result<(), Failure> {
    if ctx.incoming.is_safe_method() || !ctx.caller.is_authenticated() {
        return Ok(());
    }
    let Some(session_id) = presented.session.as_deref() else {
        return Ok(());
    };
    let Some(token) = ctx.incoming.csrf_token.as_deref() else {
        return Err(ApiError::forbidden("X-CSRF-Token request header is missing").into());
    };
    match site.sessions.get(session_id) {
        Some(session) if session.accepts_csrf(token) => Ok(()),
        _ => Err(ApiError::forbidden("X-CSRF-Token request header is invalid").into()),
    }
}

fn dispatch(site: &mut Site, ctx: &Ctx, route: &Route) -> Outcome {
    let method = if ctx.incoming.method == "HEAD" {
        "GET"
    } else {
        ctx.incoming.method.as_str()
    };
    match (route, method) {
        (Route::EntryPoint, _) => {
            let me = ctx
                .caller
                .is_authenticated()
                .then(|| site.users.get(&ctx.caller.uid))
                .flatten();
            Ok(Reply::document(
                200,
                &entry_point(ctx.base(), me.map(|u| u.uuid.as_str())),
            ))
        }
        (Route::Users, "POST") => users::post(site, ctx),
        (Route::Users, _) => users::get_collection(site, ctx),
        (Route::User(id), "PATCH") => users::patch(site, ctx, id),
        (Route::User(id), "DELETE") => users::delete(site, ctx, id),
        (Route::User(id), _) => users::get_individual(site, ctx, id),
        (Route::UserRelated(id), _) => users::get_related(site, ctx, id),
        (Route::UserRelationship(id), "POST") => {
            users::write_relationship(site, ctx, id, RelationshipWrite::Add)
        }
        (Route::UserRelationship(id), "PATCH") => {
            users::write_relationship(site, ctx, id, RelationshipWrite::Replace)
        }
        (Route::UserRelationship(id), "DELETE") => {
            users::write_relationship(site, ctx, id, RelationshipWrite::Remove)
        }
        (Route::UserRelationship(id), _) => users::get_relationship(site, ctx, id),
        (Route::UserGroupsRelationship(id), method) => {
            let mode = match method {
                "POST" => Some(RelationshipWrite::Add),
                "PATCH" => Some(RelationshipWrite::Replace),
                "DELETE" => Some(RelationshipWrite::Remove),
                _ => None,
            };
            users::groups_relationship(site, ctx, id, mode)
        }
        (Route::UserGroupsRelated(id), _) => users::groups_related(site, ctx, id),
        (Route::Terms(vid), "POST") => taxonomy::post(site, ctx, vid),
        (Route::Terms(vid), _) => taxonomy::get_collection(site, ctx, vid),
        (Route::Term(vid, id), "PATCH") => taxonomy::patch(site, ctx, vid, id),
        (Route::Term(vid, id), "DELETE") => taxonomy::delete(site, ctx, vid, id),
        (Route::Term(vid, id), _) => taxonomy::get_individual(site, ctx, vid, id),
        (Route::Roles, _) => roles::get_collection(site, ctx),
        (Route::Role(id), _) => roles::get_individual(site, ctx, id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::config::StandInConfig;

    fn site() -> Site {
        Site::new(&StandInConfig::demo("adminpass")).unwrap()
    }

    fn request(method: &str, path_and_query: &str) -> Incoming {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        Incoming {
            method: method.into(),
            path: path.into(),
            raw_query: query.into(),
            authorization: Some("Basic YWRtaW46YWRtaW5wYXNz".into()),
            peer_ip: "127.0.0.1".into(),
            base_url: "http://h".into(),
            ..Incoming::default()
        }
    }

    fn body(reply: &Reply) -> serde_json::Value {
        serde_json::from_slice(&reply.body).unwrap()
    }

    #[test]
    fn routes_cover_users_relationships_and_roles_only() {
        assert_eq!(Route::parse("/jsonapi"), Some(Route::EntryPoint));
        assert_eq!(
            Route::parse("/jsonapi/user/user/x/relationships/roles"),
            Some(Route::UserRelationship("x".into()))
        );
        assert_eq!(Route::parse("/jsonapi/user/nosuch"), None);
        assert_eq!(Route::parse("/jsonapi/user/user/x/nosuch"), None);
    }

    #[test]
    fn unknown_paths_get_an_html_404() {
        let reply = handle(&mut site(), &request("GET", "/jsonapi/user/nosuch"));
        assert_eq!(reply.status, 404);
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/html; charset=UTF-8")
        );
    }

    #[test]
    fn put_on_a_user_is_405_with_the_allowed_methods() {
        let reply = handle(&mut site(), &request("PUT", "/jsonapi/user/user/x"));
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("Allow"), Some("GET, HEAD, DELETE, PATCH"));
        assert_eq!(
            body(&reply)["errors"][0]["detail"],
            "No route found for \"PUT http://h/jsonapi/user/user/x\": Method Not Allowed (Allow: GET, HEAD, DELETE, PATCH)"
        );
    }

    #[test]
    fn read_only_mode_refuses_writes_with_allow_get() {
        let mut site = site();
        site.read_only = true;
        let reply = handle(&mut site, &request("POST", "/jsonapi/user/user"));
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("Allow"), Some("GET"));
    }

    #[test]
    fn writes_without_credentials_are_challenged_with_the_site_realm() {
        let mut anonymous = request("POST", "/jsonapi/user/user");
        anonymous.authorization = None;
        anonymous.content_type = Some(JSONAPI_MEDIA_TYPE.into());
        anonymous.body = br#"{"data":{"type":"user--user","attributes":{"name":"x"}}}"#.to_vec();
        let reply = handle(&mut site(), &anonymous);
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.header("WWW-Authenticate"),
            Some("Basic realm=\"Drupal stand-in\"")
        );
    }

    #[test]
    fn wrong_credentials_write_gets_403_not_401() {
        let mut wrong = request("POST", "/jsonapi/user/user");
        wrong.authorization = Some("Basic YWRtaW46d3Jvbmc=".into());
        wrong.content_type = Some(JSONAPI_MEDIA_TYPE.into());
        wrong.body = br#"{"data":{"type":"user--user","attributes":{"name":"x"}}}"#.to_vec();
        let reply = handle(&mut site(), &wrong);
        assert_eq!(reply.status, 403);
        assert_eq!(
            body(&reply)["errors"][0]["detail"],
            "The 'administer users' permission is required."
        );
    }

    #[test]
    fn posting_with_application_json_is_415() {
        let mut post = request("POST", "/jsonapi/user/user");
        post.content_type = Some("application/json".into());
        let reply = handle(&mut site(), &post);
        assert_eq!(reply.status, 415);
        assert_eq!(
            body(&reply)["errors"][0]["detail"],
            "No route found that matches \"Content-Type: application/json\""
        );
    }

    #[test]
    fn all_lowercase_custom_query_parameters_are_rejected() {
        let reply = handle(&mut site(), &request("GET", "/jsonapi/user/user?foo=1"));
        assert_eq!(reply.status, 400);
        assert_eq!(
            body(&reply)["errors"][0]["detail"],
            "The following query parameters violate the JSON:API spec: 'foo'."
        );
        assert_eq!(
            handle(&mut site(), &request("GET", "/jsonapi/user/user?fooBar=1")).status,
            200
        );
    }

    #[test]
    fn entry_point_names_the_authenticated_caller_only() {
        let mut site = site();
        let admin_uuid = site.users[&1].uuid.clone();
        let reply = handle(&mut site, &request("GET", "/jsonapi"));
        assert_eq!(
            body(&reply)["meta"]["links"]["me"]["meta"]["id"],
            admin_uuid.as_str()
        );
        let mut wrong = request("GET", "/jsonapi");
        wrong.authorization = Some("Basic YWRtaW46d3Jvbmc=".into());
        assert!(body(&handle(&mut site, &wrong)).get("meta").is_none());
    }
}
