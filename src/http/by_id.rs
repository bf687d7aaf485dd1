//! `/Users/{id}` and `/Groups/{id}` routed without a regular expression.
//!
//! actix-router matches every pattern with a dynamic segment by running its
//! regular expression with captures: about 3,000 instructions of each read
//! by id (docs/PERFORMANCE.md, "Instructions per GET by id"). Here such an
//! endpoint is mounted as a static prefix (`/Users`), which actix matches by
//! comparing text, after the endpoint's static routes (`/Users`,
//! `/Users/.search`), and the rest of the path is read by hand. It is an id
//! exactly when `{id}` would have matched it (`[^/]+` to the end): one
//! non-empty segment after a `/`. The id is added to the request's match
//! as a value the handlers' [`Id`] decodes the way `web::Path` decoded
//! the captured segment. Any other rest (`/Users/`, `/Users/a/b`,
//! `/Users/a/`) is given to the scope's fallback (`no_such_route`), which is
//! what answered those paths before.
//!
//! The methods are dispatched as actix's `Resource` dispatched them: each
//! handler its method, every other method the endpoint's 405. The resource
//! map still has the route as `{prefix}/{id}` below the prefix, so
//! `HttpRequest::match_pattern` (the request log's `route`) names it as before.

use std::rc::Rc;

use actix_service::{Service, ServiceFactory};
use actix_web::dev::{
    AppService, HttpServiceFactory, ResourceDef, ResourceMap, ServiceRequest, ServiceResponse,
};
use actix_web::http::Method;
use actix_web::{Error, Route};
use futures_util::future::LocalBoxFuture;

use crate::scim::error::ScimError;

/// The name of the id in the request's match (read by [`Id`]).
const ID: &str = "id";

/// The `{id}` of a by-id route (`/Users/{id}`, `/Schemas/{id}`…),
/// percent-decoded as `web::Path` decoded it, but strictly: an id whose
/// bytes are no UTF-8 text is a 400 (`query::path_segment`), where actix
/// put U+FFFD in their place and looked up an id the client never sent.
/// Decoded from the request's URI: the path the router matched is decoded
/// lossily already. The id is the URI's last segment, for `{id}` is one
/// segment to the end of the path (and `%2F` is not decoded before
/// routing, so segments are the URI's).
pub struct Id(String);

impl std::ops::Deref for Id {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl actix_web::FromRequest for Id {
    type Error = Error;
    type Future = std::future::Ready<Result<Id, Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(id_of(req).map_err(|e| super::error::ApiError(e).into()))
    }
}

fn id_of(req: &actix_web::HttpRequest) -> Result<Id, ScimError> {
    // Taken by name: below `/sites/{site}/scim/v2` the match holds the
    // site as well.
    if req.match_info().get(ID).is_none() {
        return Err(ScimError::internal("the route matched no id"));
    }
    let raw = req.uri().path().rsplit('/').next().unwrap_or_default();
    super::query::path_segment(raw).map(|id| Id(id.into_owned()))
}

/// An endpoint's `{prefix}/{id}` routes.
pub struct ById {
    /// `/Users` or `/Groups`.
    prefix: &'static str,
    get: Route,
    put: Route,
    patch: Route,
    delete: Route,
    /// Every other method (a 405).
    other: Route,
    /// A rest that is not an id: the scope's fallback.
    not_an_id: Route,
}

impl ById {
    /// GET, PUT, PATCH and DELETE of `{prefix}/{id}`; any other method is
    /// the 405 naming those four, a rest that is not an id the scope's
    /// fallback.
    pub fn new(prefix: &'static str, get: Route, put: Route, patch: Route, delete: Route) -> ById {
        ById {
            prefix,
            get,
            put,
            patch,
            delete,
            other: super::only("GET, PUT, PATCH, DELETE"),
            not_an_id: actix_web::web::to(super::no_such_route),
        }
    }
}

impl HttpServiceFactory for ById {
    fn register(self, config: &mut AppService) {
        let rdef = ResourceDef::prefix(self.prefix);
        // Below the prefix, for the resource map only (the router never
        // runs it): `{prefix}/{id}`, the pattern the route had.
        let mut map = ResourceMap::new(rdef.clone());
        map.add(&mut ResourceDef::new("/{id}"), None);
        config.register_service(rdef, None, self, Some(Rc::new(map)));
    }
}

type RouteService = <Route as ServiceFactory<ServiceRequest>>::Service;

impl ServiceFactory<ServiceRequest> for ById {
    type Response = ServiceResponse;
    type Error = Error;
    type Config = ();
    type Service = ByIdService;
    type InitError = ();
    type Future = LocalBoxFuture<'static, Result<ByIdService, ()>>;

    fn new_service(&self, _: ()) -> Self::Future {
        let get = self.get.new_service(());
        let put = self.put.new_service(());
        let patch = self.patch.new_service(());
        let delete = self.delete.new_service(());
        let other = self.other.new_service(());
        let not_an_id = self.not_an_id.new_service(());
        Box::pin(async move {
            Ok(ByIdService {
                get: get.await?,
                put: put.await?,
                patch: patch.await?,
                delete: delete.await?,
                other: other.await?,
                not_an_id: not_an_id.await?,
            })
        })
    }
}

pub struct ByIdService {
    get: RouteService,
    put: RouteService,
    patch: RouteService,
    delete: RouteService,
    other: RouteService,
    not_an_id: RouteService,
}

/// The id in what follows the prefix, when `/{id}` matches all of it.
fn id_in(rest: &str) -> Option<&str> {
    rest.strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

impl Service<ServiceRequest> for ByIdService {
    type Response = ServiceResponse;
    type Error = Error;
    type Future = <RouteService as Service<ServiceRequest>>::Future;

    actix_service::always_ready!();

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let rest = req.match_info().unprocessed();
        let Some(id) = id_in(rest) else {
            return self.not_an_id.call(req);
        };
        let id = id.to_owned();
        // A path is at most 64 KiB (the codec's limit), as actix's own
        // offsets assume.
        let Ok(matched) = u16::try_from(rest.len()) else {
            return self.not_an_id.call(req);
        };
        let path = req.match_info_mut();
        path.add_static(ID, id);
        path.skip(matched);
        let method = req.method();
        let route = if method == Method::GET {
            &self.get
        } else if method == Method::PUT {
            &self.put
        } else if method == Method::PATCH {
            &self.patch
        } else if method == Method::DELETE {
            &self.delete
        } else {
            &self.other
        };
        route.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_what_the_pattern_matched() {
        // What actix's `/{id}` matches, to the end of the path.
        let pattern = ResourceDef::new("/{id}");
        for rest in [
            "/abc", "/", "", "//", "/a/b", "/a/", "/.search", "/%2F", "/a%20b", "/é", "/a?b", "abc",
        ] {
            let theirs = pattern.is_match(rest);
            assert_eq!(id_in(rest).is_some(), theirs, "{rest:?}");
            if theirs {
                let mut path = actix_web::dev::Path::new(rest);
                assert!(pattern.capture_match_info(&mut path));
                assert_eq!(id_in(rest), path.get("id"), "{rest:?}");
            }
        }
    }
}
