//! A raw byte stream to `host:port` for protocols ureq does not speak (the
//! Discord Gateway WebSocket): TCP, through an `http://` CONNECT proxy when
//! one applies, then TLS with the process-wide [`tls_client_config`]
//! (built-in roots plus `[http] ca_file`), so the binary carries one TLS
//! implementation and one trust setting.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::tls::{rustls_error, tls_client_config};
use crate::{HttpError, TlsError};

/// How [`open_stream`] connects.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Deadline for TCP connect, proxy CONNECT and the TLS handshake
    /// together.
    pub connect_timeout: Duration,
    /// Explicit `http://[user:pass@]host:port` proxy; `None` uses
    /// `HTTPS_PROXY`/`ALL_PROXY`/`HTTP_PROXY` honouring `NO_PROXY`, as the
    /// HTTP client does.
    pub proxy: Option<String>,
}

/// A connected stream, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    /// Reads give up after `d` with `WouldBlock`; no data is lost, the
    /// read may simply be repeated.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(d)
    }

    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(d)
    }

    /// Closes both directions at once, without a TLS close_notify.
    pub fn shutdown(&self) {
        let _ = self.tcp().shutdown(std::net::Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Opens `host:port`, with TLS when `tls` is set.
pub fn open_stream(
    host: &str,
    port: u16,
    tls: bool,
    opts: &StreamOptions,
) -> Result<Stream, HttpError> {
    let deadline = Instant::now() + opts.connect_timeout;
    let proxy = proxy_for(host, port, tls, opts.proxy.as_deref())?;
    let tcp = match &proxy {
        Some(p) => {
            let mut tcp = tcp_connect(&p.host, p.port, deadline)?;
            connect_tunnel(&mut tcp, host, port, p, deadline)?;
            tcp
        }
        None => tcp_connect(host, port, deadline)?,
    };
    let _ = tcp.set_nodelay(true);
    if !tls {
        return Ok(Stream::Plain(tcp));
    }
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| HttpError::Invalid(format!("TLS server name {host:?}: {e}")))?;
    let mut conn = ClientConnection::new(tls_client_config(), name)
        .map_err(|e| HttpError::Tls(TlsError::from_rustls(&e)))?;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        set_timeouts(&tcp, deadline)?;
        if let Err(e) = conn.complete_io(&mut tcp) {
            // Send the alert rustls queued (unknown CA, bad certificate...)
            // so the server's log says why.
            while conn.wants_write() {
                if conn.write_tls(&mut tcp).is_err() {
                    break;
                }
            }
            return Err(match (rustls_error(&e), e.kind()) {
                (Some(tls), _) => HttpError::Tls(TlsError::from_rustls(tls)),
                (None, io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => HttpError::Timeout,
                (None, io::ErrorKind::UnexpectedEof) => HttpError::Tls(TlsError::Handshake(
                    String::from("the server closed the connection during the TLS handshake"),
                )),
                (None, _) => HttpError::Connection(format!("TLS handshake with {host}: {e}")),
            });
        }
    }
    Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
}

fn remaining(deadline: Instant) -> Result<Duration, HttpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(HttpError::Timeout);
    }
    Ok(left)
}

fn set_timeouts(tcp: &TcpStream, deadline: Instant) -> Result<(), HttpError> {
    let left = remaining(deadline)?;
    tcp.set_read_timeout(Some(left))
        .and_then(|()| tcp.set_write_timeout(Some(left)))
        .map_err(|e| HttpError::Connection(e.to_string()))
}

fn tcp_connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, HttpError> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| HttpError::Connection(format!("resolve {host}: {e}")))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => last = Some(HttpError::Timeout),
            Err(e) => last = Some(HttpError::Connection(format!("{host}:{port}: {e}"))),
        }
    }
    Err(last.unwrap_or_else(|| HttpError::Connection(format!("{host}: no address"))))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProxyAddr {
    host: String,
    port: u16,
    auth: Option<(String, String)>,
}

fn proxy_for(
    host: &str,
    port: u16,
    tls: bool,
    explicit: Option<&str>,
) -> Result<Option<ProxyAddr>, HttpError> {
    let proxy = match explicit.filter(|p| !p.is_empty()) {
        Some(url) => Some(
            ureq::Proxy::new(url).map_err(|e| HttpError::Invalid(format!("proxy {url}: {e}")))?,
        ),
        None => ureq::Proxy::try_from_env(),
    };
    let Some(proxy) = proxy else {
        return Ok(None);
    };
    let scheme = if tls { "https" } else { "http" };
    let target = format!("{scheme}://{host}:{port}/");
    if let Ok(uri) = target.parse::<ureq::http::Uri>() {
        if proxy.is_no_proxy(&uri) {
            return Ok(None);
        }
    }
    if proxy.protocol() != ureq::ProxyProtocol::Http {
        return Err(HttpError::Invalid(format!(
            "proxy {}: only http:// proxies (HTTP CONNECT) are supported for WebSocket \
             connections",
            proxy.uri()
        )));
    }
    Ok(Some(ProxyAddr {
        host: proxy.host().to_owned(),
        port: proxy.port(),
        auth: proxy
            .username()
            .map(|u| (u.to_owned(), proxy.password().unwrap_or("").to_owned())),
    }))
}

/// `CONNECT host:port` through an HTTP proxy (RFC 9110 §9.3.6).
fn connect_tunnel(
    tcp: &mut TcpStream,
    host: &str,
    port: u16,
    proxy: &ProxyAddr,
    deadline: Instant,
) -> Result<(), HttpError> {
    set_timeouts(tcp, deadline)?;
    let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some((user, pass)) = &proxy.auth {
        let creds = base64(format!("{user}:{pass}").as_bytes());
        req.push_str(&format!("Proxy-Authorization: Basic {creds}\r\n"));
    }
    req.push_str("\r\n");
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout,
        _ => HttpError::Connection(format!("proxy {}:{}: {e}", proxy.host, proxy.port)),
    };
    tcp.write_all(req.as_bytes()).map_err(io_err)?;
    // Read the answer head byte by byte-ish through a small buffer that is
    // dropped before TLS starts: the proxy sends nothing after the blank
    // line until we speak, so nothing is lost.
    let mut reader = BufReader::with_capacity(1, &*tcp);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(io_err)?;
    let mut total = status_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).map_err(io_err)?;
        total += n;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if total > 16 * 1024 {
            return Err(HttpError::Connection(String::from(
                "proxy answered CONNECT with an oversized head",
            )));
        }
    }
    let code = status_line.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(HttpError::Connection(format!(
            "proxy {}:{} refused CONNECT {host}:{port}: {}",
            proxy.host,
            proxy.port,
            status_line.trim()
        )));
    }
    Ok(())
}

pub(crate) fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn plain_stream_talks_to_the_peer() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).unwrap();
            s.write_all(&b).unwrap();
        });
        let opts = StreamOptions {
            connect_timeout: Duration::from_secs(5),
            proxy: None,
        };
        let mut s = open_stream("127.0.0.1", port, false, &opts).unwrap();
        s.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        t.join().unwrap();
    }

    #[test]
    fn connect_proxy_is_asked_for_the_target_with_credentials() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut s = s;
            s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            let mut b = [0u8; 2];
            r.read_exact(&mut b).unwrap();
            (head, b)
        });
        let opts = StreamOptions {
            connect_timeout: Duration::from_secs(5),
            proxy: Some(format!("http://u:p@127.0.0.1:{port}")),
        };
        let mut s = open_stream("gateway.example", 443, false, &opts).unwrap();
        s.write_all(b"hi").unwrap();
        let (head, b) = t.join().unwrap();
        assert_eq!(
            head,
            "CONNECT gateway.example:443 HTTP/1.1\r\nHost: gateway.example:443\r\n\
             Proxy-Authorization: Basic dTpw\r\n"
        );
        assert_eq!(&b, b"hi");
    }

    #[test]
    fn socks_proxies_are_refused_with_a_clear_error() {
        let opts = StreamOptions {
            connect_timeout: Duration::from_secs(1),
            proxy: Some(String::from("socks5://127.0.0.1:1080")),
        };
        match open_stream("gateway.example", 443, true, &opts) {
            Err(HttpError::Invalid(m)) => assert!(m.contains("only http:// proxies"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
