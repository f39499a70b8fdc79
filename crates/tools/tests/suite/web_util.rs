//! Fixtures for the web tools: listeners that count every connection they
//! accept (a refused destination must see none), a scripted DNS, a fake
//! CONNECT proxy, and a shortcut to call a tool with a context.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picoclaw_core::{Cancel, Tool, ToolContext, ToolOutput};
use picoclaw_http::HttpError;
use picoclaw_tools::web::{Lookup, WebFetch, WebOptions};
use serde_json::json;

pub fn ctx() -> ToolContext {
    ToolContext {
        workspace: std::env::temp_dir(),
        session: "web-test".into(),
        caller: Default::default(),
        timeout: Duration::from_secs(30),
        cancel: Cancel::new(),
    }
}

pub fn fetch_with(tool: &WebFetch, url: &str) -> ToolOutput {
    tool.call(&ctx(), &json!({ "url": url }))
}

/// `web_fetch` with the given allow list and DNS.
pub fn fetcher(allow: &[&str], dns: &FakeDns) -> WebFetch {
    fetcher_opts(
        WebOptions {
            allow_private: allow.iter().map(|s| s.to_string()).collect(),
            ..WebOptions::default()
        },
        dns,
    )
}

pub fn fetcher_opts(opts: WebOptions, dns: &FakeDns) -> WebFetch {
    WebFetch::with_lookup(&opts, Arc::new(dns.clone())).unwrap()
}

/// A listener that must never be reached: it accepts and counts.
pub struct Trap {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Trap {
    /// `None` when the address cannot be bound here (no IPv6 loopback).
    pub fn on(ip: &str) -> Option<Trap> {
        let ip: IpAddr = ip.parse().unwrap();
        let listener = TcpListener::bind((ip, 0)).ok()?;
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(mut c) = conn {
                    h.fetch_add(1, Ordering::SeqCst);
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\ncontent-type: text/plain\r\n\r\nSECRET");
                }
            }
        });
        Some(Trap { addr, hits, stop })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far, not counting a sentinel connection
    /// made here: the accept loop is FIFO, so once the sentinel is counted
    /// every earlier connection is too.
    pub fn hits(&self) -> usize {
        let before = self.hits.load(Ordering::SeqCst);
        let _sentinel = TcpStream::connect(self.addr).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while self.hits.load(Ordering::SeqCst) == before && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        let n = self.hits.load(Ordering::SeqCst) - 1;
        // Later calls subtract this sentinel too.
        self.hits.fetch_sub(1, Ordering::SeqCst);
        n
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// A DNS that answers from a table, a name's answers taken in turn (the
/// last one repeats), and counts lookups.
#[derive(Clone, Default)]
pub struct FakeDns {
    answers: Arc<Mutex<HashMap<String, Vec<Vec<IpAddr>>>>>,
    pub lookups: Arc<Mutex<Vec<String>>>,
}

impl FakeDns {
    pub fn new() -> FakeDns {
        FakeDns::default()
    }

    pub fn with(self, name: &str, ips: &[&str]) -> FakeDns {
        self.then(name, ips)
    }

    /// Adds the next answer for `name`.
    pub fn then(self, name: &str, ips: &[&str]) -> FakeDns {
        let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
        self.answers
            .lock()
            .unwrap()
            .entry(name.to_string())
            .or_default()
            .push(ips);
        self
    }

    pub fn lookups_of(&self, name: &str) -> usize {
        self.lookups
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == name)
            .count()
    }
}

impl Lookup for FakeDns {
    fn lookup(
        &self,
        name: &str,
        _port: u16,
        _timeout: Option<Duration>,
    ) -> Result<Vec<IpAddr>, HttpError> {
        let n = self.lookups_of(name);
        self.lookups.lock().unwrap().push(name.to_string());
        let answers = self.answers.lock().unwrap();
        let list = answers
            .get(name)
            .ok_or_else(|| HttpError::Connection(format!("{name}: no such host")))?;
        Ok(list[n.min(list.len() - 1)].clone())
    }
}

/// An HTTP CONNECT proxy on 127.0.0.1 that never connects anywhere: it
/// records each CONNECT target and answers the tunnelled request itself.
pub struct FakeProxy {
    pub url: String,
    pub connects: Arc<Mutex<Vec<String>>>,
}

impl FakeProxy {
    pub fn start(page: &'static str) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = connects.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || proxy_conn(conn, &seen, page));
            }
        });
        FakeProxy { url, connects }
    }
}

fn proxy_conn(conn: TcpStream, seen: &Mutex<Vec<String>>, page: &str) {
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let head = |r: &mut BufReader<TcpStream>| -> Option<String> {
        let mut first = String::new();
        r.read_line(&mut first).ok()?;
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).ok()? == 0 || l.trim().is_empty() {
                break;
            }
        }
        Some(first.trim().to_string())
    };
    let Some(first) = head(&mut r) else { return };
    seen.lock().unwrap().push(first.clone());
    if !first.starts_with("CONNECT ") {
        return;
    }
    let _ = out.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    // The tunnelled request, answered by the "origin".
    if head(&mut r).is_some() {
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = out.write_all(reply.as_bytes());
    }
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
}
