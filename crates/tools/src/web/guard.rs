//! The SSRF guard: which addresses `web_fetch` may connect to.
//!
//! A URL's host is read once (IP literals in every spelling the C library
//! would accept, DNS names through one lookup), every address is
//! classified, and the connection is made to exactly the vetted addresses:
//! the guard is the HTTP client's resolver, so no second lookup exists for
//! a rebinding DNS server to answer differently. Refused: loopback,
//! private and unique-local, link-local, CGNAT, multicast, unspecified,
//! broadcast, reserved, documentation and benchmarking ranges, cloud
//! metadata addresses, and IPv6 forms that embed a refused IPv4 address
//! (mapped, compatible, translated, NAT64, 6to4) or tunnel to one
//! (Teredo), unless `allow_private` lists the host, the address or a
//! network containing it. Metadata addresses are only unlocked by naming
//! the address or host itself, never by a network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use picoclaw_http::{HttpError, Resolve};

/// Looks a DNS name up. Tests inject one that answers `evil.test`.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(
        &self,
        name: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<IpAddr>, HttpError>;
}

/// The system resolver (getaddrinfo).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        name: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<IpAddr>, HttpError> {
        picoclaw_http::system_lookup(name, port, timeout)
            .map(|addrs| addrs.into_iter().map(|a| a.ip()).collect())
    }
}

/// A URL host as the guard reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    /// A DNS name, lower case, without a trailing dot.
    Name(String),
}

/// Reads `host` (lower case, IPv6 without brackets) the way URL parsers and
/// `inet_aton` do: `2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` are all
/// 127.0.0.1. A host whose last label is numeric but which is no valid
/// IPv4 address is refused rather than sent to DNS.
pub(crate) fn parse_host(host: &str) -> Result<Host, String> {
    if host.contains(':') {
        return host
            .parse::<Ipv6Addr>()
            .map(|a| Host::Ip(IpAddr::V6(a)))
            .map_err(|_| format!("{host:?} is not a valid IPv6 address"));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.contains("..") {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if !numeric {
        return Ok(Host::Name(name.to_string()));
    }
    loose_ipv4(name)
        .map(|a| Host::Ip(IpAddr::V4(a)))
        .ok_or_else(|| format!("{host:?} is not a valid IPv4 address"))
}

/// WHATWG URL / `inet_aton` IPv4: 1 to 4 parts, each decimal, octal
/// (leading 0) or hex (0x); the last part fills the remaining bytes.
fn loose_ipv4(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or(p.strip_prefix("0X")) {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        let n = if digits.is_empty() {
            if radix == 10 {
                return None;
            }
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        nums.push(n);
    }
    let (last, init) = nums.split_last()?;
    if init.iter().any(|&n| n > 255) {
        return None;
    }
    let room = 8 * (5 - nums.len() as u32);
    if *last >= 1u64 << room {
        return None;
    }
    let mut value: u64 = *last;
    for (i, n) in init.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// Why an address is refused, or `None` for an ordinary public one.
pub(crate) fn refused_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(a) => v4_class(a),
        IpAddr::V6(a) => v6_class(a),
    }
}

const METADATA: &str = "a cloud metadata address";

fn v4_class(a: Ipv4Addr) -> Option<&'static str> {
    let [o0, o1, o2, o3] = a.octets();
    let class = match (o0, o1, o2, o3) {
        (169, 254, 169, 254) | (100, 100, 100, 200) => METADATA,
        (0, ..) => "an unspecified (0.0.0.0/8) address",
        (127, ..) => "a loopback address",
        (10, ..) | (192, 168, ..) => "a private address",
        (172, b, ..) if (16..32).contains(&b) => "a private address",
        (100, b, ..) if (64..128).contains(&b) => "a shared (CGNAT) address",
        (169, 254, ..) => "a link-local address",
        (192, 0, 0, _) => "an IETF protocol address",
        (192, 0, 2, _) | (198, 51, 100, _) | (203, 0, 113, _) => "a documentation address",
        (198, 18 | 19, ..) => "a benchmarking address",
        (192, 88, 99, _) => "a 6to4 relay address",
        (255, 255, 255, 255) => "the broadcast address",
        (224..=239, ..) => "a multicast address",
        (240..=255, ..) => "a reserved address",
        _ => return None,
    };
    Some(class)
}

fn v6_class(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if a == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Some(METADATA);
    }
    if a.is_unspecified() {
        return Some("the unspecified address");
    }
    if a.is_loopback() {
        return Some("a loopback address");
    }
    let class = match s {
        // IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, and
        // IPv4-translated ::ffff:0:a.b.c.d: the kernel or a translator
        // reaches the IPv4 address.
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo] => {
            return v4_class(embedded(hi, lo))
                .map(|_| "an IPv6 address embedding a refused IPv4 address")
        }
        // NAT64 well-known prefix (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            return v4_class(embedded(hi, lo))
                .map(|_| "a NAT64 address embedding a refused IPv4 address")
        }
        [0x64, 0xff9b, 1, ..] => "a local-use NAT64 address",
        // 6to4 (RFC 3056) carries the IPv4 address in bits 16..48.
        [0x2002, hi, lo, ..] => {
            return v4_class(embedded(hi, lo))
                .map(|_| "a 6to4 address embedding a refused IPv4 address")
        }
        [0x2001, 0, ..] => "a Teredo tunnel address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        [0x3fff, b, ..] if b < 0x1000 => "a documentation address",
        [0x2001, 2, 0, ..] => "a benchmarking address",
        [0x100, 0, 0, 0, ..] => "a discard-only address",
        [x, ..] if x & 0xfe00 == 0xfc00 => "a unique-local (private) address",
        [x, ..] if x & 0xffc0 == 0xfe80 => "a link-local address",
        [x, ..] if x & 0xffc0 == 0xfec0 => "a site-local address",
        [x, ..] if x & 0xff00 == 0xff00 => "a multicast address",
        _ => return None,
    };
    Some(class)
}

/// One `allow_private` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allow {
    Host(String),
    Net(IpAddr, u8),
}

/// `tools.web.allow_private`: hosts, addresses and networks the guard lets
/// through although their class is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Allow>);

impl AllowList {
    /// Each entry is a host name (`nas.lan`), an address (`192.168.1.5`,
    /// `::1`) or a network (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> Result<AllowList, String> {
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            out.push(parse_allow(e)?);
        }
        Ok(AllowList(out))
    }

    fn permits(&self, ip: IpAddr, name: Option<&str>, class: &str) -> bool {
        let v4 = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.0.iter().any(|entry| match entry {
            Allow::Host(h) => name == Some(h.as_str()),
            Allow::Net(net, bits) => {
                let full = if net.is_ipv4() { 32 } else { 128 };
                // A broad network never unlocks the metadata endpoint by
                // accident; it must be named exactly.
                if class == METADATA && *bits != full {
                    return false;
                }
                contains(*net, *bits, ip) || v4.is_some_and(|v| contains(*net, *bits, v))
            }
        })
    }
}

fn parse_allow(entry: &str) -> Result<Allow, String> {
    let e = entry.trim().to_ascii_lowercase();
    let bad =
        || format!("{entry:?} is neither a host name, an IP address nor a network (a.b.c.d/n)");
    if let Some((addr, bits)) = e.split_once('/') {
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let bits: u8 = bits.parse().map_err(|_| bad())?;
        let full = if ip.is_ipv4() { 32 } else { 128 };
        if bits > full {
            return Err(bad());
        }
        return Ok(Allow::Net(ip, bits));
    }
    if let Ok(ip) = e.parse::<IpAddr>() {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        return Ok(Allow::Net(ip, full));
    }
    let name = e.strip_suffix('.').unwrap_or(&e);
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    match parse_host(name) {
        Ok(Host::Name(n)) if valid => Ok(Allow::Host(n)),
        _ => Err(bad()),
    }
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// The guard: vets a host's addresses and hands the HTTP client exactly
/// those.
#[derive(Clone)]
pub struct Guard {
    allow: AllowList,
    lookup: Arc<dyn Lookup>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(allow: AllowList, lookup: Arc<dyn Lookup>) -> Guard {
        Guard { allow, lookup }
    }

    /// The addresses `host` may be reached at, or why not. A name is looked
    /// up once; one refused address refuses the name (a DNS answer mixing
    /// public and private addresses is an attack or a misconfiguration).
    pub(crate) fn vet(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<IpAddr>, HttpError> {
        let host = host.to_ascii_lowercase();
        let parsed = parse_host(&host).map_err(HttpError::Refused)?;
        let (ips, name) = match &parsed {
            Host::Ip(ip) => (vec![*ip], None),
            Host::Name(n) => (self.lookup.lookup(n, port, timeout)?, Some(n.as_str())),
        };
        if ips.is_empty() {
            return Err(HttpError::Connection(format!("{host}: no addresses")));
        }
        for ip in &ips {
            if let Some(class) = refused_class(*ip) {
                if !self.allow.permits(*ip, name, class) {
                    let shown = match name {
                        Some(n) => format!("{n} resolves to {ip}, {class}"),
                        None => format!("{ip} is {class}"),
                    };
                    return Err(HttpError::Refused(format!(
                        "{shown}; private destinations need tools.web.allow_private"
                    )));
                }
            }
        }
        Ok(ips)
    }
}

impl Resolve for Guard {
    fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Option<Duration>,
    ) -> Result<Vec<SocketAddr>, HttpError> {
        let ips = self.vet(host, port, timeout)?;
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Host {
        Host::Ip(IpAddr::V4(s.parse().unwrap()))
    }

    #[test]
    fn every_ipv4_spelling_inet_aton_accepts_is_read_as_the_address() {
        for spelling in [
            "127.0.0.1",
            "2130706433",
            "0177.0.0.1",
            "0x7f.1",
            "0x7f000001",
            "127.1",
            "127.0.1",
            "0177.0.0.01",
            "0x7F.0.0.1",
            "127.0.0.1.",
            "017700000001",
        ] {
            assert_eq!(
                parse_host(&spelling.to_ascii_lowercase()),
                Ok(v4("127.0.0.1")),
                "{spelling}"
            );
        }
        assert_eq!(parse_host("0"), Ok(v4("0.0.0.0")));
        assert_eq!(parse_host("0x"), Ok(v4("0.0.0.0")));
        assert_eq!(parse_host("3232235777"), Ok(v4("192.168.1.1")));
        for bad in [
            "256.0.0.1",
            "1.2.3.4.5",
            "4294967296",
            "08.0.0.1",
            "1.0x100.2.3",
            "1.2.3.0x1g.9",
            "a..b",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_host("example.org."),
            Ok(Host::Name("example.org".into()))
        );
        assert_eq!(
            parse_host("1x.example"),
            Ok(Host::Name("1x.example".into()))
        );
    }

    #[test]
    fn refused_classes_cover_the_special_ranges_and_public_addresses_pass() {
        let refused = [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "192.0.0.170",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "198.19.255.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "3fff::1",
            "2001:2::1",
            "100::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ];
        for a in refused {
            let ip: IpAddr = a.parse().unwrap();
            assert!(refused_class(ip).is_some(), "{a} should be refused");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.3.1",
            "93.184.216.34",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ];
        for a in public {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(refused_class(ip), None, "{a} should pass");
        }
        assert_eq!(
            refused_class("169.254.169.254".parse().unwrap()),
            Some(METADATA)
        );
        assert_eq!(
            refused_class("fd00:ec2::254".parse().unwrap()),
            Some(METADATA)
        );
    }

    #[test]
    fn allow_entries_are_hosts_addresses_or_networks() {
        let list = AllowList::parse(&[
            "127.0.0.1".into(),
            "10.0.0.0/8".into(),
            "NAS.lan.".into(),
            "fd00::/8".into(),
        ])
        .unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(list.permits(ip("127.0.0.1"), None, "x"));
        assert!(list.permits(ip("::ffff:127.0.0.1"), None, "x"));
        assert!(!list.permits(ip("127.0.0.2"), None, "x"));
        assert!(list.permits(ip("10.9.8.7"), None, "x"));
        assert!(list.permits(ip("192.168.1.1"), Some("nas.lan"), "x"));
        assert!(!list.permits(ip("192.168.1.1"), Some("other.lan"), "x"));
        // A network does not unlock the metadata address; naming it does.
        assert!(!list.permits(ip("fd00:ec2::254"), None, METADATA));
        let named = AllowList::parse(&["169.254.169.254".into()]).unwrap();
        assert!(named.permits(ip("169.254.169.254"), None, METADATA));
        for bad in ["10.0.0.0/33", "", "exa mple", "1.2.3.4/x", "http://x/"] {
            assert!(AllowList::parse(&[bad.into()]).is_err(), "{bad:?}");
        }
    }
}
