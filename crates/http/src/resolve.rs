//! Pluggable name resolution: a [`Resolve`] decides which addresses a
//! [`Client`](crate::Client) built with
//! [`Client::with_resolver`](crate::Client::with_resolver) connects to.
//!
//! ureq calls the resolver exactly once per new connection and connects to
//! what it returns, so a resolver that vets addresses also pins them: there
//! is no second lookup a DNS answer could change in between. The address of
//! a configured proxy is looked up with the system resolver instead (it is
//! the operator's, not the URL's).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use crate::HttpError;

/// Turns a URL's host into the addresses to connect to, or refuses.
pub trait Resolve: Send + Sync + 'static {
    /// `host` is the URL's host as the HTTP parser read it (an IPv6 literal
    /// without its brackets); `port` is explicit or the scheme's default.
    /// Return [`HttpError::Refused`] to refuse the destination and
    /// [`HttpError::Connection`] when the name does not resolve.
    fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<SocketAddr>, HttpError>;
}

/// The operating system's resolver (getaddrinfo), bounded by `timeout` when
/// one is given: the lookup runs on a helper thread that is abandoned at
/// the deadline, since getaddrinfo cannot be interrupted.
pub fn system_lookup(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
) -> Result<Vec<SocketAddr>, HttpError> {
    let target = (host.to_string(), port);
    let found = match timeout {
        None => target.to_socket_addrs().map(Iterator::collect),
        Some(limit) => {
            let (tx, rx) = mpsc::sync_channel(1);
            std::thread::spawn(move || {
                let _ = tx.send(target.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
            });
            match rx.recv_timeout(limit) {
                Ok(r) => r,
                Err(_) => return Err(HttpError::Timeout),
            }
        }
    };
    match found {
        Ok(addrs) if !addrs.is_empty() => Ok(addrs),
        Ok(_) => Err(HttpError::Connection(format!("{host}: no addresses"))),
        Err(e) => Err(HttpError::Connection(format!("{host}: {e}"))),
    }
}

/// The resolver of every client not built with its own: IP literals are used
/// as they are, and names are looked up with [`system_lookup`] and kept for
/// a minute. ureq resolves on every request, pooled connection or not, and
/// its default resolver starts a thread for each lookup that has a
/// deadline: two threads and two DNS queries per message for a bot that
/// talks to the same two hosts all day.
#[derive(Debug, Default)]
pub(crate) struct Cached {
    names: std::sync::Mutex<Vec<Looked>>,
}

/// A looked-up name: host, port, when, what.
type Looked = (String, u16, std::time::Instant, Vec<SocketAddr>);

/// How long a looked-up name is reused.
const NAME_TTL: Duration = Duration::from_secs(60);
/// Names kept (a bot talks to a handful of hosts).
const NAMES_KEPT: usize = 8;

impl Resolve for Cached {
    fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<SocketAddr>, HttpError> {
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let now = std::time::Instant::now();
        {
            let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((.., addrs)) = names
                .iter()
                .find(|(h, p, at, _)| h == host && *p == port && now.duration_since(*at) < NAME_TTL)
            {
                return Ok(addrs.clone());
            }
        }
        let addrs = system_lookup(host, port, timeout)?;
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.retain(|(h, p, at, _)| {
            (h != host || *p != port) && now.duration_since(*at) < NAME_TTL
        });
        names.truncate(NAMES_KEPT - 1);
        names.insert(0, (host.to_string(), port, now, addrs.clone()));
        Ok(addrs)
    }
}

/// ureq's side of a [`Resolve`].
pub(crate) struct Adapter(pub Arc<dyn Resolve>);

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolve")
    }
}

impl Resolver for Adapter {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .ok_or_else(|| ureq::Error::BadUri(format!("{uri}: no host")))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = uri
            .port_u16()
            .or_else(|| default_port(uri.scheme_str()?))
            .ok_or_else(|| ureq::Error::BadUri(format!("{uri}: no port")))?;
        let limit = (!timeout.after.is_not_happening()).then(|| *timeout.after);
        // ureq resolves a CONNECT proxy through the same resolver, passing
        // the proxy's own Uri; identity (not equality) tells it apart from a
        // target URL that merely names the same host and port.
        let is_proxy = config.proxy().is_some_and(|p| std::ptr::eq(p.uri(), uri));
        let found = if is_proxy {
            system_lookup(host, port, limit)
        } else {
            self.0.resolve(host, port, limit)
        };
        let addrs = found.map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
        let mut out = self.empty();
        // ureq keeps at most 16 addresses per name.
        for a in addrs.into_iter().take(16) {
            out.push(a);
        }
        if out.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(out)
    }
}

pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// A URL split the way the HTTP client itself reads it, so a caller that
/// checks a destination checks the one that will be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`, lower case.
    pub scheme: String,
    /// Host as written (IPv6 without brackets), lower case.
    pub host: String,
    pub port: u16,
    /// The authority had `user:pass@`.
    pub has_userinfo: bool,
}

/// Parses an absolute `http(s)://` URL.
pub fn parse_target(url: &str) -> Result<Target, HttpError> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| HttpError::Invalid(format!("{url}: {e}")))?;
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| HttpError::Invalid(format!("{url}: not an absolute URL")))?
        .to_ascii_lowercase();
    let port_default = default_port(&scheme)
        .ok_or_else(|| HttpError::Invalid(format!("scheme {scheme}: is not http or https")))?;
    let authority = uri
        .authority()
        .ok_or_else(|| HttpError::Invalid(format!("{url}: no host")))?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_ascii_lowercase();
    if host.is_empty() {
        return Err(HttpError::Invalid(format!("{url}: no host")));
    }
    Ok(Target {
        scheme,
        host,
        port: authority.port_u16().unwrap_or(port_default),
        has_userinfo: authority.as_str().contains('@'),
    })
}

#[cfg(test)]
mod cached_tests {
    use super::*;

    #[test]
    fn ip_literals_are_used_as_they_are_and_names_are_kept_for_a_while() {
        let r = Cached::default();
        assert_eq!(
            r.resolve("127.0.0.1", 8080, Some(Duration::from_secs(1)))
                .unwrap(),
            ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(
            r.resolve("::1", 80, None).unwrap(),
            ["[::1]:80".parse::<SocketAddr>().unwrap()]
        );
        assert!(
            r.names.lock().unwrap().is_empty(),
            "literals are not looked up"
        );
        let first = r.resolve("localhost", 1, None).unwrap();
        // Planted: a kept name is answered from memory.
        r.names.lock().unwrap()[0].3 = vec!["10.9.9.9:1".parse().unwrap()];
        assert_eq!(
            r.resolve("localhost", 1, None).unwrap(),
            ["10.9.9.9:1".parse::<SocketAddr>().unwrap()]
        );
        assert!(!first.is_empty());
        // Another port is another entry, looked up afresh.
        assert_ne!(
            r.resolve("localhost", 2, None).unwrap(),
            ["10.9.9.9:2".parse::<SocketAddr>().unwrap()]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_like_the_client_reads_them() {
        let t = parse_target("HTTP://User:pw@Example.ORG:8080/x?y").unwrap();
        assert_eq!(
            t,
            Target {
                scheme: "http".into(),
                host: "example.org".into(),
                port: 8080,
                has_userinfo: true
            }
        );
        assert_eq!(parse_target("https://[::1]/").unwrap().host, "::1");
        assert_eq!(parse_target("https://[::1]/").unwrap().port, 443);
        // The part after the last '@' is the host, as the client connects.
        assert_eq!(
            parse_target("http://127.0.0.1@evil.test/").unwrap().host,
            "evil.test"
        );
        assert!(parse_target("ftp://example.org/").is_err());
        assert!(parse_target("/relative").is_err());
    }
}
