//! A small threaded HTTP/1.1 server for fakes. One thread per connection,
//! keep-alive supported, requests handed to a closure. Plain HTTP or HTTPS
//! (rustls, a certificate from [`crate::tls::TestCa`]). Only loopback.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string.
    pub path: String,
    pub query: String,
    /// Lower-cased header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What the handler wants done with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A normal response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Wait, then respond (slow server / long poll).
    Delayed(Duration, Box<Reply>),
    /// Close the connection without answering (connection reset).
    Hangup,
    /// Send headers announcing `content-length` but only part of the body,
    /// then close (truncated body).
    Truncated { status: u16, body: Vec<u8> },
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Full {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Full {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync + 'static;

/// How a server listens.
#[derive(Clone, Default)]
pub enum Scheme {
    #[default]
    Http,
    /// HTTPS with this certificate and key (see [`crate::tls::TestCa`]).
    Https(Arc<ServerConfig>),
}

/// What connections a server saw, for tests that count attempts.
#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicUsize,
    /// Why each failed TLS handshake failed, as rustls says it.
    handshake_failures: Mutex<Vec<String>>,
}

/// A running server; stops accepting when dropped.
pub struct Server {
    addr: SocketAddr,
    https: bool,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(Scheme::Http, handler)
    }

    pub fn start_with(
        scheme: Scheme,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let handler: Arc<Handler> = Arc::new(handler);
        let https = matches!(scheme, Scheme::Https(_));
        let (stop2, counters2) = (stop.clone(), counters.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                counters2.accepted.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let stop3 = stop2.clone();
                let counters3 = counters2.clone();
                let scheme = scheme.clone();
                thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
                    // Head and body go out in two writes; with Nagle on, the
                    // body waits for the client's delayed ACK (40 ms on
                    // Linux) and every call looks slow.
                    let _ = conn.set_nodelay(true);
                    match scheme {
                        Scheme::Http => serve_conn(conn, &*handler, &stop3),
                        Scheme::Https(config) => {
                            let Ok(tls) = ServerConnection::new(config) else {
                                return;
                            };
                            let mut stream = StreamOwned::new(tls, conn);
                            while stream.conn.is_handshaking() {
                                if let Err(e) = stream.conn.complete_io(&mut stream.sock) {
                                    counters3
                                        .handshake_failures
                                        .lock()
                                        .unwrap_or_else(|p| p.into_inner())
                                        .push(e.to_string());
                                    return;
                                }
                            }
                            serve_conn(stream, &*handler, &stop3);
                        }
                    }
                });
            }
        });
        Server {
            addr,
            https,
            stop,
            counters,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// TCP connections accepted so far (each TLS handshake attempt is one).
    pub fn connections(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Failed TLS handshakes so far, each as the server saw it (for an
    /// untrusted certificate the client's alert, e.g. "received fatal
    /// alert: UnknownCA").
    pub fn handshake_failures(&self) -> Vec<String> {
        self.counters
            .handshake_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve_conn<S: Read + Write>(conn: S, handler: &Handler, stop: &AtomicBool) {
    let mut reader = BufReader::new(conn);
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        let keep_alive = !req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut reply = handler(&req);
        while let Reply::Delayed(d, inner) = reply {
            thread::sleep(d);
            reply = *inner;
        }
        match reply {
            Reply::Hangup => return,
            Reply::Truncated { status, body } => {
                let head = format!(
                    "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    reason(status),
                    body.len() * 2 + 10
                );
                let _ = reader.get_mut().write_all(head.as_bytes());
                let _ = reader.get_mut().write_all(&body);
                let _ = reader.get_mut().flush();
                return;
            }
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
                for (k, v) in &headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str(&format!("content-length: {}\r\n", body.len()));
                if !keep_alive {
                    head.push_str("connection: close\r\n");
                }
                head.push_str("\r\n");
                if reader.get_mut().write_all(head.as_bytes()).is_err()
                    || reader.get_mut().write_all(&body).is_err()
                {
                    return;
                }
                let _ = reader.get_mut().flush();
                if !keep_alive {
                    return;
                }
            }
            Reply::Delayed(..) => unreachable!("unwrapped above"),
        }
    }
}

fn read_request<S: Read>(reader: &mut BufReader<S>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(len, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                let mut end = String::new();
                reader.read_line(&mut end).ok()?;
                break;
            }
            let mut chunk = vec![0; n];
            reader.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).ok()?;
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}
