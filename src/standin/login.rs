//! Core's JSON session routes: `POST /user/login?_format=json`,
//! `GET /session/token`, `POST /user/logout?_format=json&token=...`.

use serde_json::{json, Value};

use super::auth::{random_token, session_cookie, Presented};
use super::model::Caller;
use super::query::{Query, QueryValue};
use super::request::{Incoming, Reply};
use super::state::Site;

fn message(status: u16, text: &str) -> Reply {
    Reply::new(
        status,
        "application/json",
        json!({ "message": text }).to_string().into_bytes(),
    )
}

fn wants_json(query: &Query) -> bool {
    query.get("_format").and_then(QueryValue::as_str) == Some("json")
}

fn session_user(site: &Site, incoming: &Incoming) -> Option<u64> {
    let presented = Presented::from_headers(None, incoming.cookie.as_deref());
    let session = site.sessions.get(presented.session.as_deref()?)?;
    site.users
        .get(&session.uid)
        .filter(|u| u.status)
        .map(|u| u.uid)
}

/// `None` when the request is not for the JSON login route.
pub(crate) fn login(site: &mut Site, incoming: &Incoming, query: &Query) -> Option<Reply> {
    if !wants_json(query) {
        return None;
    }
    if incoming.method != "POST" {
        let url = format!("{}{}", incoming.base_url, incoming.path);
        let text = format!(
            "No route found for \"{} {url}\": Method Not Allowed (Allow: POST)",
            incoming.method
        );
        return Some(message(405, &text).with_header("Allow", "POST"));
    }
    let content_type = incoming
        .content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or_default().trim());
    match content_type {
        None => return Some(message(415, "No \"Content-Type\" request header specified")),
        Some("application/json") => {}
        Some(other) => {
            return Some(message(
                415,
                &format!("No route found that matches \"Content-Type: {other}\""),
            ))
        }
    }
    if session_user(site, incoming).is_some() {
        return Some(message(
            403,
            "This route can only be accessed by anonymous users.",
        ));
    }
    let Ok(credentials) = serde_json::from_slice::<Value>(&incoming.body) else {
        return Some(message(400, "Missing credentials."));
    };
    let field = |key: &str| {
        credentials
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (name, pass) = match (field("name"), field("pass")) {
        (Some(name), Some(pass)) => (name, pass),
        (None, _) => return Some(message(400, "Missing credentials.name.")),
        (_, None) => return Some(message(400, "Missing credentials.pass.")),
    };
    Some(authenticate(site, incoming, &name, &pass))
}

fn authenticate(site: &mut Site, incoming: &Incoming, name: &str, pass: &str) -> Reply {
    let now = site.now();
    let ip = incoming.peer_ip.as_str();
    if !site.flood.ip_allowed(ip, now) {
        return message(
            403,
            "Too many failed login attempts from your IP address. This IP address is temporarily blocked.",
        );
    }
    let account = site.user_by_name(name).cloned();
    if let Some(account) = &account {
        if !site.flood.account_allowed(account.uid, ip, now) {
            return message(
                403,
                "There have been more than 5 failed login attempts for this account. It is temporarily blocked. \
                 Try again later or request a new password.",
            );
        }
        if !account.status {
            return message(400, "The user has not been activated or is blocked.");
        }
    }
    let Some(account) = account.filter(|a| a.pass.as_deref() == Some(pass)) else {
        if let Some(known) = site.user_by_name(name).map(|u| u.uid) {
            site.flood.register_account(known, ip, now);
        }
        site.flood.register_ip(ip, now);
        return message(400, "Sorry, unrecognized username or password.");
    };
    site.flood.clear_account(account.uid, ip);
    if let Some(user) = site.users.get_mut(&account.uid) {
        user.login = now;
        user.access = now;
    }
    let id = site.sessions.open(account.uid, now);
    let (csrf, logout) = site
        .sessions
        .get(&id)
        .map(|s| (s.login_csrf_token.clone(), s.logout_token.clone()))
        .unwrap_or_default();
    let body = json!({
        "current_user": {
            "uid": account.uid.to_string(),
            "roles": Caller::for_user(&account).roles,
            "name": account.name,
        },
        "csrf_token": csrf,
        "logout_token": logout,
    });
    Reply::new(200, "application/json", body.to_string().into_bytes())
        .with_header("Set-Cookie", session_cookie(&id, now))
}

/// `GET /session/token`: the session's CSRF token (anonymous callers get a fresh one).
pub(crate) fn session_token(site: &Site, incoming: &Incoming) -> Reply {
    let presented = Presented::from_headers(None, incoming.cookie.as_deref());
    let token = presented
        .session
        .as_deref()
        .and_then(|id| site.sessions.get(id))
        .map(|s| s.header_csrf_token.clone())
        .unwrap_or_else(random_token);
    Reply::new(200, "text/plain; charset=UTF-8", token.into_bytes())
}

/// `POST /user/logout?_format=json&token=<logout_token>`.
pub(crate) fn logout(site: &mut Site, incoming: &Incoming, query: &Query) -> Option<Reply> {
    if !wants_json(query) {
        return None;
    }
    let presented = Presented::from_headers(None, incoming.cookie.as_deref());
    let token = query.get("token").and_then(QueryValue::as_str);
    let session_id = presented.session.filter(|id| {
        site.sessions
            .get(id)
            .is_some_and(|s| Some(s.logout_token.as_str()) == token)
    });
    match session_id {
        Some(id) => {
            site.sessions.close(&id);
            Some(Reply::no_content())
        }
        None => Some(message(403, "'csrf_token' URL query argument is invalid.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standin::auth::SESSION_COOKIE;
    use crate::standin::config::StandInConfig;

    fn login_request(body: &str) -> Incoming {
        Incoming {
            method: "POST".into(),
            path: "/user/login".into(),
            raw_query: "_format=json".into(),
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
            peer_ip: "127.0.0.1".into(),
            base_url: "http://h".into(),
            ..Incoming::default()
        }
    }

    fn run(site: &mut Site, incoming: &Incoming) -> Reply {
        login(site, incoming, &Query::parse(&incoming.raw_query)).unwrap()
    }

    #[test]
    fn login_returns_tokens_and_a_session_cookie_that_yields_the_csrf_token() {
        let mut site = Site::new(&StandInConfig::demo("pw")).unwrap();
        let reply = run(&mut site, &login_request(r#"{"name":"admin","pass":"pw"}"#));
        assert_eq!(reply.status, 200);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["current_user"]["uid"], "1");
        assert_eq!(body["current_user"]["roles"], json!(["authenticated"]));
        let cookie = reply
            .header("Set-Cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        assert!(cookie.starts_with(SESSION_COOKIE));
        let token = session_token(
            &site,
            &Incoming {
                cookie: Some(cookie),
                ..Incoming::default()
            },
        );
        assert_eq!(
            token.header("Content-Type"),
            Some("text/plain; charset=UTF-8")
        );
        assert_eq!(token.body.len(), 43);
    }

    #[test]
    fn a_wrong_password_is_400_and_counts_towards_flood_control() {
        let mut site = Site::new(&StandInConfig::demo("pw")).unwrap();
        for _ in 0..5 {
            let reply = run(
                &mut site,
                &login_request(r#"{"name":"admin","pass":"nope"}"#),
            );
            assert_eq!(reply.status, 400);
        }
        let blocked = run(&mut site, &login_request(r#"{"name":"admin","pass":"pw"}"#));
        assert_eq!(blocked.status, 403);
    }

    #[test]
    fn login_without_the_json_format_is_not_this_route() {
        let mut site = Site::new(&StandInConfig::demo("pw")).unwrap();
        let mut request = login_request("{}");
        request.raw_query = String::new();
        assert!(login(&mut site, &request, &Query::default()).is_none());
    }
}
