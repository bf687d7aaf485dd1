//! The base URL of the SCIM API as the client sees it, for `Location` and
//! `meta.location`: `scim.public_url` when set; else what a trusted proxy
//! says (`Forwarded`, `X-Forwarded-Proto`, `X-Forwarded-Host`), when the
//! connection comes from one listed in `scim.trusted_proxies`; else the
//! `Host` the client addressed, over plain HTTP as the bridge serves it.
//! Every scheme and host is checked: a scheme other than http or https, or
//! a host with a path, user info or odd characters, is never echoed.

use actix_web::http::header::HOST;
use actix_web::HttpRequest;

use crate::config::IpRange;

/// The local address of a connection to the SCIM port (the server's
/// default configuration knows none: it says 127.0.0.1:8080).
pub struct LocalAddr(pub std::net::SocketAddr);

/// Where the API's base URL comes from.
#[derive(Debug, Clone, Default)]
pub struct PublicBase {
    pub public_url: Option<String>,
    pub trusted_proxies: Vec<IpRange>,
    /// The API's path: `/scim/v2`, or `/sites/{id}/scim/v2`.
    pub path: String,
}

impl PublicBase {
    /// `https://scim.example.org/scim/v2`, without a trailing slash.
    pub fn of(&self, req: &HttpRequest) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let from_proxy = req
            .peer_addr()
            .is_some_and(|peer| self.trusted_proxies.iter().any(|r| r.contains(peer.ip())));
        if from_proxy {
            let info = req.connection_info();
            if let (Some(scheme), Some(host)) = (scheme(info.scheme()), host(info.host())) {
                return [scheme, "://", host, &self.path].concat();
            }
        }
        let addressed = req
            .headers()
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(host);
        match addressed {
            // Not `format!`: this runs for every resource answered, and
            // formatting cost several times the joining.
            Some(host) => ["http://", host, &self.path].concat(),
            // Without a usable Host: the address the connection came to.
            None => {
                let local = req
                    .conn_data::<LocalAddr>()
                    .map_or_else(|| req.app_config().local_addr(), |local| local.0);
                format!("http://{local}{}", self.path)
            }
        }
    }
}

/// `http` or `https`, in lower case; `None` for anything else.
fn scheme(text: &str) -> Option<&'static str> {
    if text.eq_ignore_ascii_case("https") {
        Some("https")
    } else if text.eq_ignore_ascii_case("http") {
        Some("http")
    } else {
        None
    }
}

/// `text` when it is a host with an optional port: a DNS name or IPv4
/// address, or a bracketed IPv6 address, then `:` and at most five digits.
fn host(text: &str) -> Option<&str> {
    if text.is_empty() || text.len() > 255 {
        return None;
    }
    let (name, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (None, None),
            _ => (None, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(text), None),
        }
    };
    if let Some(name) = name {
        let valid = !name.is_empty()
            && !name.starts_with(['.', '-'])
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid {
            return None;
        }
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || port.parse::<u16>().is_err() {
            return None;
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_names_or_addresses_with_an_optional_port() {
        for good in [
            "scim.example.org",
            "scim.example.org:8443",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[fd00::1]",
            "localhost",
        ] {
            assert_eq!(host(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "evil.example/path",
            "user@evil.example",
            "evil.example:80/x",
            "javascript:alert(1)",
            "a b",
            "evil.example:99999",
            "evil.example:",
            "[not-v6]:80",
            "[::1]x",
            ".evil",
            "evil.example#x",
            "evil.example?x",
            "ex\u{202e}ample",
        ] {
            assert_eq!(host(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_http_and_https_are_schemes() {
        assert_eq!(scheme("HTTPS"), Some("https"));
        assert_eq!(scheme("http"), Some("http"));
        assert_eq!(scheme("javascript:alert(1)//"), None);
        assert_eq!(scheme("ftp"), None);
    }
}
