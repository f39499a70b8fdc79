//! The WebSocket opening handshake (RFC 6455 §4.1) over an [`open_stream`]
//! stream. Only the HTTP/1.1 Upgrade lives here; framing is the caller's
//! (the Discord channel uses `tungstenite` on the returned stream), so this
//! crate stays free of any WebSocket library.

use std::io::{self, BufRead, BufReader, Write};
use std::time::Instant;

use crate::stream::{base64, open_stream, Stream, StreamOptions};
use crate::HttpError;

/// RFC 6455 §1.3: appended to the key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An upgraded connection: the stream and any bytes the server sent right
/// after its handshake answer (the first frames), which the frame reader
/// must see first.
#[derive(Debug)]
pub struct Upgraded {
    pub stream: Stream,
    pub leftover: Vec<u8>,
}

/// Connects to a `ws://` or `wss://` URL and performs the opening
/// handshake, all within `opts.connect_timeout`.
pub fn open_websocket(
    url: &str,
    user_agent: &str,
    opts: &StreamOptions,
) -> Result<Upgraded, HttpError> {
    let target = Target::parse(url)?;
    let deadline = Instant::now() + opts.connect_timeout;
    let stream = open_stream(&target.host, target.port, target.tls, opts)?;
    let key = base64(&random_key()?);
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HttpError::Timeout,
        _ => HttpError::Connection(format!("WebSocket handshake with {}: {e}", target.host)),
    };
    let left = |deadline: Instant| {
        let d = deadline.saturating_duration_since(Instant::now());
        if d.is_zero() {
            Err(HttpError::Timeout)
        } else {
            Ok(d)
        }
    };
    stream
        .set_write_timeout(Some(left(deadline)?))
        .map_err(io_err)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nUser-Agent: {user_agent}\r\n\r\n",
        path = target.path,
        host = target.host_header,
    );
    let mut stream = stream;
    stream.write_all(request.as_bytes()).map_err(io_err)?;
    stream.flush().map_err(io_err)?;

    let mut reader = BufReader::with_capacity(4096, stream);
    let mut lines = Vec::new();
    let mut total = 0usize;
    loop {
        reader
            .get_ref()
            .set_read_timeout(Some(left(deadline)?))
            .map_err(io_err)?;
        let mut line = String::new();
        let n = read_line(&mut reader, &mut line).map_err(io_err)?;
        if n == 0 {
            return Err(HttpError::Connection(format!(
                "{} closed the connection during the WebSocket handshake",
                target.host
            )));
        }
        total += n;
        if total > 16 * 1024 {
            return Err(HttpError::Connection(String::from(
                "WebSocket handshake answer head is over 16 KiB",
            )));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    check_answer(&lines, &key)?;
    let leftover = reader.buffer().to_vec();
    let stream = reader.into_inner();
    Ok(Upgraded { stream, leftover })
}

/// One head line; the read timeout is the time left, so a timeout here
/// means the handshake deadline passed.
fn read_line(reader: &mut BufReader<Stream>, line: &mut String) -> io::Result<usize> {
    let mut bytes = Vec::new();
    let n = reader.read_until(b'\n', &mut bytes)?;
    line.push_str(&String::from_utf8_lossy(&bytes));
    Ok(n)
}

fn check_answer(lines: &[String], key: &str) -> Result<(), HttpError> {
    let status = lines.first().map(String::as_str).unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "101" {
        return Err(HttpError::Connection(format!(
            "WebSocket upgrade refused: {}",
            status.trim()
        )));
    }
    let header = |name: &str| {
        lines.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    let upgrade_ok = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let connection_ok = header("connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !upgrade_ok || !connection_ok {
        return Err(HttpError::Connection(String::from(
            "WebSocket upgrade answer lacks Upgrade: websocket / Connection: Upgrade",
        )));
    }
    if header("sec-websocket-accept") != Some(accept_for(key).as_str()) {
        return Err(HttpError::Connection(String::from(
            "WebSocket upgrade answer has a wrong Sec-WebSocket-Accept",
        )));
    }
    Ok(())
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
pub fn accept_for(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{ACCEPT_GUID}").as_bytes(),
    );
    base64(digest.as_ref())
}

fn random_key() -> Result<[u8; 16], HttpError> {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| HttpError::Connection(String::from("no randomness for the WebSocket key")))?;
    Ok(key)
}

#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// What the `Host` header says (`host` or `host:port`).
    host_header: String,
    /// Path and query, at least `/`.
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, HttpError> {
        let bad = |why: &str| HttpError::Invalid(format!("WebSocket URL {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(bad("must start with wss:// (or ws:// for a local server)"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, String::from("/")),
        };
        if authority.contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p.parse::<u16>().map_err(|_| bad("bad port"))?;
                (h, port)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Target {
            tls,
            host: host.to_owned(),
            port,
            host_header: authority.to_owned(),
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    fn read_head(s: &mut impl Read) -> String {
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    #[test]
    fn accept_value_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn urls_are_split_into_host_port_and_path() {
        let t = Target::parse("wss://gateway.discord.gg/?v=10&encoding=json").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: String::from("gateway.discord.gg"),
                port: 443,
                host_header: String::from("gateway.discord.gg"),
                path: String::from("/?v=10&encoding=json"),
            }
        );
        let t = Target::parse("ws://127.0.0.1:9000?v=10").unwrap();
        assert_eq!((t.tls, t.port, t.path.as_str()), (false, 9000, "/?v=10"));
        assert!(matches!(
            Target::parse("https://x"),
            Err(HttpError::Invalid(_))
        ));
    }

    fn serve(
        answer: impl Fn(&str) -> String + Send + 'static,
    ) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/gw?v=10", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let head = read_head(&mut s);
            s.write_all(answer(&head).as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            head
        });
        (url, t)
    }

    fn opts() -> StreamOptions {
        StreamOptions {
            connect_timeout: Duration::from_secs(5),
            proxy: None,
        }
    }

    fn key_of(head: &str) -> String {
        head.lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn handshake_checks_the_accept_value_and_keeps_early_frames() {
        let (url, t) = serve(|head| {
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n\u{81}\u{2}hi",
                accept_for(&key_of(head))
            )
        });
        let up = open_websocket(&url, "test/1", &opts()).unwrap();
        let head = t.join().unwrap();
        assert!(head.starts_with("GET /gw?v=10 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
        assert!(head.contains("User-Agent: test/1\r\n"), "{head}");
        // The frame bytes sent with the answer are handed over, not lost
        // (0x81 is two UTF-8 bytes in the Rust string above).
        assert!(up.leftover.ends_with(b"hi"), "{:?}", up.leftover);
    }

    #[test]
    fn handshake_with_a_wrong_accept_value_fails() {
        let (url, t) = serve(|_| {
            String::from(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: bm9wZQ==\r\n\r\n",
            )
        });
        let err = open_websocket(&url, "test/1", &opts()).unwrap_err();
        t.join().unwrap();
        assert!(err.to_string().contains("Sec-WebSocket-Accept"), "{err}");
    }

    #[test]
    fn a_refused_upgrade_names_the_status() {
        let (url, t) =
            serve(|_| String::from("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"));
        let err = open_websocket(&url, "test/1", &opts()).unwrap_err();
        t.join().unwrap();
        assert_eq!(
            err.to_string(),
            "connection failed: WebSocket upgrade refused: HTTP/1.1 404 Not Found"
        );
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}/", l.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            std::thread::sleep(Duration::from_millis(600));
            drop(s);
        });
        let o = StreamOptions {
            connect_timeout: Duration::from_millis(200),
            proxy: None,
        };
        assert!(matches!(
            open_websocket(&url, "t", &o),
            Err(HttpError::Timeout)
        ));
        t.join().unwrap();
    }
}
