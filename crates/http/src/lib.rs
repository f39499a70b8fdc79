//! The one HTTP client configuration picoclaw uses: ureq over rustls (ring),
//! small buffers and a tiny connection pool sized for a 256 MB board, proxy
//! from config or `HTTPS_PROXY`/`NO_PROXY`, and responses of every status
//! returned as data so callers classify them (Telegram's `ok:false` bodies
//! and providers' 429/5xx each need their own handling).
//!
//! TLS trusts the built-in webpki roots plus `[http] ca_file`, installed
//! once per process ([`install`]); [`tls_client_config`] hands the same
//! rustls configuration to TLS users outside this client: [`open_stream`]
//! and [`open_websocket`] use it for the Discord Gateway WebSocket, with the
//! same proxy settings. Handshake failures come back as [`HttpError::Tls`],
//! in words.
//!
//! Channels, providers and the web tools use this crate; it knows none of
//! them. [`Client::with_resolver`] lets a caller decide which addresses a
//! client may connect to (the web tools' SSRF guard).

mod connector;
mod files;
mod resolve;
mod stream;
mod tls;
mod websocket;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

pub use files::{guess_mime, Download, Multipart};
pub use resolve::{parse_target, system_lookup, Resolve, Target};
/// The rustls this crate is built with, for TLS users that need its types
/// (one rustls in the binary, ring provider).
pub use rustls;
pub use stream::{open_stream, Stream, StreamOptions};
pub use tls::{install, tls_client_config, trust, CaFile, CaFileError, TlsError, Trust};
pub use websocket::{accept_for as websocket_accept, open_websocket, Upgraded};

/// Responses larger than this are refused: a bot API answer or a model reply
/// is far smaller, and an unbounded read is a memory hazard on a board.
pub const DEFAULT_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// How a [`Client`] is set up.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Time to establish a TCP (+TLS) connection.
    pub connect_timeout: Duration,
    /// Default whole-request deadline; requests may override it.
    pub timeout: Duration,
    /// Explicit proxy URL (`http://host:port`, `socks5://...`). `None` uses
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` honouring `NO_PROXY`.
    pub proxy: Option<String>,
    pub user_agent: String,
    pub body_limit: u64,
    /// Roots for this client only; `None` (the default) uses the
    /// process-wide [`trust`].
    pub trust: Option<Arc<Trust>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(60),
            proxy: None,
            user_agent: format!("picoclaw/{}", env!("CARGO_PKG_VERSION")),
            body_limit: DEFAULT_BODY_LIMIT,
            trust: None,
        }
    }
}

/// A transport-level failure: no HTTP status was received.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The deadline passed. Retryable.
    #[error("timed out")]
    Timeout,
    /// Connection refused/reset, DNS, truncated body... Retryable.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The TLS handshake failed (untrusted, expired or misnamed
    /// certificate, no TLS on the other side). Retryable with backoff: a
    /// server's certificate can be fixed without restarting picoclaw.
    #[error("{0}")]
    Tls(TlsError),
    /// The response body exceeded the configured limit. Not retryable.
    #[error("response body over {0} bytes")]
    TooLarge(u64),
    /// The URL or proxy setting is unusable. A configuration error.
    #[error("invalid url or proxy: {0}")]
    Invalid(String),
    /// A [`Resolve`] refused the destination; nothing was sent. Not
    /// retryable.
    #[error("refused: {0}")]
    Refused(String),
}

/// A received HTTP response of any status.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `Retry-After` in seconds, when present and numeric.
    pub retry_after: Option<Duration>,
    /// Every header, names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text for error messages, cut to a readable length.
    pub fn body_snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut s: String = text.chars().take(300).collect();
        if text.chars().count() > 300 {
            s.push('…');
        }
        s
    }
}

/// The request methods [`Client::send_streaming`] offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

/// A response whose body is read as it arrives; see
/// [`Client::send_streaming`].
pub struct StreamingResponse {
    pub status: u16,
    /// Header names as received (lower case), values that are valid text.
    headers: Vec<(String, String)>,
    body: ureq::BodyReader<'static>,
}

impl std::fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl StreamingResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads at most `limit` bytes of the body, checking `cancelled` between
    /// chunks; the flag is true when the body had more, which is then left
    /// unread (memory stays at `limit`, however large the response).
    pub fn read_up_to(
        mut self,
        limit: usize,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Vec<u8>, bool), HttpError> {
        const CHUNK: usize = 16 * 1024;
        // One allocation when the length is announced: growing by doubling
        // would briefly hold 1.5x the body.
        let announced = self
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut out: Vec<u8> = Vec::with_capacity(announced.min(limit));
        let mut chunk = vec![0u8; CHUNK];
        loop {
            if cancelled() {
                return Err(HttpError::Connection(String::from("cancelled")));
            }
            let n = self.body.read(&mut chunk).map_err(|e| classify_io(&e))?;
            if n == 0 {
                return Ok((out, false));
            }
            let room = limit - out.len();
            if n > room {
                out.extend_from_slice(&chunk[..room]);
                return Ok((out, true));
            }
            out.extend_from_slice(&chunk[..n]);
            if out.len() == limit {
                // Exactly at the cap: one more byte says whether it is cut.
                let mut probe = [0u8; 1];
                let more = self.body.read(&mut probe).map_err(|e| classify_io(&e))?;
                return Ok((out, more > 0));
            }
        }
    }

    /// Reads the whole remaining body, refusing more than `limit` bytes.
    pub fn read_body(mut self, limit: u64) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        (&mut self.body)
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| classify_io(&e))?;
        if body.len() as u64 > limit {
            return Err(HttpError::TooLarge(limit));
        }
        Ok(body)
    }
}

impl Read for StreamingResponse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.body.read(buf)
    }
}

/// A blocking HTTP client; cheap to clone (shares its pool).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    timeout: Duration,
    body_limit: u64,
    /// What the agent was built from, so [`Client::fresh`] builds the same.
    trust: Arc<Trust>,
    resolver: Option<Arc<dyn Resolve>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(opts: &HttpOptions) -> Result<Client, HttpError> {
        Client::build(opts, None)
    }

    /// A client that connects only where `resolver` says: every new
    /// connection's host goes through it once and the connection is made to
    /// exactly the addresses it returned (a configured proxy's own address
    /// is looked up by the system instead).
    pub fn with_resolver(
        opts: &HttpOptions,
        resolver: Arc<dyn Resolve>,
    ) -> Result<Client, HttpError> {
        Client::build(opts, Some(resolver))
    }

    fn build(opts: &HttpOptions, resolver: Option<Arc<dyn Resolve>>) -> Result<Client, HttpError> {
        let proxy = match &opts.proxy {
            Some(url) if !url.is_empty() => Some(
                ureq::Proxy::new(url)
                    .map_err(|e| HttpError::Invalid(format!("proxy {url}: {e}")))?,
            ),
            _ => ureq::Proxy::try_from_env(),
        };
        // SOCKS is not compiled in (see connector.rs); say so instead of
        // sending plain HTTP to a SOCKS port.
        let proxy = match proxy {
            Some(p) if is_socks(&p) && opts.proxy.is_some() => {
                return Err(HttpError::Invalid(format!(
                    "proxy at {}: SOCKS proxies are not supported; use an http:// proxy",
                    p.host()
                )))
            }
            Some(p) if is_socks(&p) => {
                picoclaw_core::warn!(
                    "ignoring the SOCKS proxy at {} from the environment: only http:// proxies are supported",
                    p.host()
                );
                None
            }
            other => other,
        };
        let config = ureq::Agent::config_builder()
            // Callers classify statuses themselves.
            .http_status_as_error(false)
            .proxy(proxy)
            .user_agent(opts.user_agent.as_str())
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_global(Some(opts.timeout))
            // ureq's defaults (128 KiB buffers, 10 idle connections) are
            // sized for servers; a bot talks to two or three hosts.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(16 * 1024)
            .max_response_header_size(16 * 1024)
            .max_idle_connections(4)
            .max_idle_connections_per_host(2)
            .max_redirects(0)
            .build();
        let trust = opts.trust.clone().unwrap_or_else(trust);
        Ok(Client {
            agent: agent(config, &trust, resolver.as_ref()),
            timeout: opts.timeout,
            body_limit: opts.body_limit,
            trust,
            resolver,
        })
    }

    /// The same client with an empty connection pool: the next request dials
    /// afresh. For a connection that went silent (a proxy keeping a
    /// half-open socket) while clones of the old client finish their calls.
    pub fn fresh(&self) -> Client {
        Client {
            // Same connector (trust) and resolver (a guarded client stays
            // guarded).
            agent: agent(
                self.agent.config().clone(),
                &self.trust,
                self.resolver.as_ref(),
            ),
            timeout: self.timeout,
            body_limit: self.body_limit,
            trust: self.trust.clone(),
            resolver: self.resolver.clone(),
        }
    }

    /// The proxy requests to `url` go through (`host:port`), if any: from
    /// the options or the environment, unless `NO_PROXY` exempts `url`.
    pub fn proxy_for(&self, url: &str) -> Option<String> {
        let proxy = self.agent.config().proxy()?;
        let uri: ureq::http::Uri = url.parse().ok()?;
        if proxy.is_no_proxy(&uri) {
            return None;
        }
        Some(format!("{}:{}", proxy.host(), proxy.port()))
    }

    /// POSTs a JSON body. `timeout` overrides the default deadline (long
    /// polls need more than an ordinary call).
    pub fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Response, HttpError> {
        let mut req = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout.unwrap_or(self.timeout)))
            .build()
            .header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req.send(body))
    }

    /// POSTs without a body (Discord's typing indicator).
    pub fn post_empty(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Response, HttpError> {
        let mut req = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout.unwrap_or(self.timeout)))
            .build();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req.send_empty())
    }

    /// GETs a URL.
    pub fn get(&self, url: &str, timeout: Option<Duration>) -> Result<Response, HttpError> {
        self.get_with(url, &[], timeout)
    }

    /// GETs a URL with extra request headers.
    pub fn get_with(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Response, HttpError> {
        let mut req = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(timeout.unwrap_or(self.timeout)))
            .build();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req.call())
    }

    /// Sends a request and returns once the response head has arrived; the
    /// caller reads the body as it streams in (server-sent events, long
    /// responses read incrementally). `timeout` bounds the whole exchange
    /// including the body; `None` means no deadline past the connect timeout,
    /// for streams meant to stay open. The body is not capped here: the
    /// caller bounds what it buffers.
    pub fn send_streaming(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<StreamingResponse, HttpError> {
        let result = match method {
            Method::Get => self
                .with_headers(self.agent.get(url), headers, timeout)
                .call(),
            Method::Delete => self
                .with_headers(self.agent.delete(url), headers, timeout)
                .call(),
            Method::Post => self
                .with_headers(self.agent.post(url), headers, timeout)
                .send(body.unwrap_or_default()),
        };
        let resp = result.map_err(classify)?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        Ok(StreamingResponse {
            status,
            headers,
            body: resp.into_body().into_reader(),
        })
    }

    fn with_headers<B>(
        &self,
        req: ureq::RequestBuilder<B>,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> ureq::RequestBuilder<B> {
        let mut req = req.config().timeout_global(timeout).build();
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }

    fn finish(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response, HttpError> {
        let mut resp = result.map_err(classify)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let mut body = Vec::new();
        let limit = self.body_limit;
        resp.body_mut()
            .as_reader()
            .take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| classify_io(&e))?;
        if body.len() as u64 > limit {
            return Err(HttpError::TooLarge(limit));
        }
        Ok(Response {
            status,
            retry_after,
            headers,
            body,
        })
    }
}

fn agent(
    config: ureq::config::Config,
    trust: &Trust,
    resolver: Option<&Arc<dyn Resolve>>,
) -> ureq::Agent {
    let connector = connector::chain(trust.client_config());
    match resolver {
        Some(r) => ureq::Agent::with_parts(config, connector, resolve::Adapter(r.clone())),
        None => ureq::Agent::with_parts(
            config,
            connector,
            resolve::Adapter(Arc::new(resolve::Cached::default())),
        ),
    }
}

fn is_socks(p: &ureq::Proxy) -> bool {
    !matches!(
        p.protocol(),
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    )
}

/// `Retry-After` may be seconds or an HTTP date; only seconds are used by
/// the APIs we talk to, and a date is treated as "unspecified".
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

fn classify(e: ureq::Error) -> HttpError {
    match e {
        ureq::Error::Timeout(_) => HttpError::Timeout,
        ureq::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<HttpError>()) {
            // A Resolve's own verdict, passed through ureq unchanged.
            Some(mine) => mine.clone(),
            None => classify_io(&io),
        },
        ureq::Error::BadUri(u) => HttpError::Invalid(u),
        ureq::Error::InvalidProxyUrl => HttpError::Invalid(String::from("proxy url")),
        ureq::Error::Rustls(tls) => HttpError::Tls(TlsError::from_rustls(&tls)),
        ureq::Error::Tls(why) => HttpError::Tls(TlsError::Handshake(why.to_string())),
        other => HttpError::Connection(other.to_string()),
    }
}

fn classify_io(e: &std::io::Error) -> HttpError {
    if let Some(tls) = tls::rustls_error(e) {
        return HttpError::Tls(TlsError::from_rustls(tls));
    }
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => HttpError::Timeout,
        _ => {
            // ureq wraps its own timeout into io errors while reading bodies.
            let text = e.to_string();
            if text.contains("timeout") || text.contains("timed out") {
                HttpError::Timeout
            } else {
                HttpError::Connection(text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn serve_once(reply: &'static [u8]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            s.write_all(reply).unwrap();
        });
        format!("http://{addr}/x")
    }

    #[test]
    fn error_statuses_come_back_as_responses_with_retry_after() {
        let url = serve_once(
            b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
        );
        let client = Client::new(&HttpOptions::default()).unwrap();
        let resp = client.post_json(&url, &[], b"{}", None).unwrap();
        assert_eq!(resp.status, 429);
        assert_eq!(resp.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(resp.header("Retry-After"), Some("7"));
        assert_eq!(resp.body, b"{}");
    }

    #[test]
    fn oversized_body_is_refused() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\n01234567890123456789",
        );
        let opts = HttpOptions {
            body_limit: 10,
            ..HttpOptions::default()
        };
        let client = Client::new(&opts).unwrap();
        assert!(matches!(
            client.get(&url, None),
            Err(HttpError::TooLarge(10))
        ));
    }

    #[test]
    fn refused_connection_is_a_connection_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = Client::new(&HttpOptions::default()).unwrap();
        let err = client.get(&format!("http://{addr}/"), None).unwrap_err();
        assert!(matches!(err, HttpError::Connection(_)), "{err:?}");
    }

    #[test]
    fn streaming_response_hands_over_headers_before_the_body_is_read() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nMcp-Session-Id: abc\r\nconnection: close\r\n\r\ndata: 1\n\ndata: 2\n\n",
        );
        let client = Client::new(&HttpOptions::default()).unwrap();
        let mut resp = client
            .send_streaming(
                Method::Post,
                &url,
                &[("accept", "text/event-stream")],
                Some(b"{}"),
                None,
            )
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("mcp-session-id"), Some("abc"));
        assert_eq!(resp.header("Content-Type"), Some("text/event-stream"));
        let mut text = String::new();
        resp.read_to_string(&mut text).unwrap();
        assert_eq!(text, "data: 1\n\ndata: 2\n\n");
    }

    #[test]
    fn streaming_body_read_is_capped() {
        let url = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\nconnection: close\r\n\r\n01234567890123456789",
        );
        let client = Client::new(&HttpOptions::default()).unwrap();
        let resp = client
            .send_streaming(Method::Get, &url, &[], None, None)
            .unwrap();
        assert!(matches!(resp.read_body(10), Err(HttpError::TooLarge(10))));
    }

    /// Sends every name to one address, or refuses.
    struct Pin(Option<std::net::SocketAddr>);

    impl Resolve for Pin {
        fn resolve(
            &self,
            _host: &str,
            _port: u16,
            _timeout: Option<Duration>,
        ) -> Result<Vec<std::net::SocketAddr>, HttpError> {
            self.0
                .map(|a| vec![a])
                .ok_or_else(|| HttpError::Refused(String::from("not here")))
        }
    }

    #[test]
    fn a_resolver_decides_where_the_client_connects_and_its_refusal_comes_back_as_is() {
        let url = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        let addr: std::net::SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches("/x")
            .parse()
            .unwrap();
        let pinned =
            Client::with_resolver(&HttpOptions::default(), Arc::new(Pin(Some(addr)))).unwrap();
        let resp = pinned
            .send_streaming(
                Method::Get,
                &format!("http://made-up.test:{}/x", addr.port()),
                &[],
                None,
                None,
            )
            .unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(
            resp.read_up_to(100, &|| false).unwrap(),
            (b"hello".to_vec(), false)
        );
        let refusing = Client::with_resolver(&HttpOptions::default(), Arc::new(Pin(None))).unwrap();
        let err = refusing.get("http://made-up.test/", None).unwrap_err();
        assert!(
            matches!(&err, HttpError::Refused(m) if m == "not here"),
            "{err:?}"
        );
        // A fresh pool keeps the resolver.
        let err = refusing
            .fresh()
            .get("http://made-up.test/", None)
            .unwrap_err();
        assert!(matches!(&err, HttpError::Refused(_)), "{err:?}");
    }

    #[test]
    fn read_up_to_stops_at_the_limit_and_says_whether_more_was_there() {
        let client = Client::new(&HttpOptions::default()).unwrap();
        let get = |url: &str| {
            client
                .send_streaming(Method::Get, url, &[], None, None)
                .unwrap()
        };
        let exact = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd");
        assert_eq!(
            get(&exact).read_up_to(4, &|| false).unwrap(),
            (b"abcd".to_vec(), false)
        );
        let more = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nabcde");
        assert_eq!(
            get(&more).read_up_to(4, &|| false).unwrap(),
            (b"abcd".to_vec(), true)
        );
    }

    #[test]
    fn retry_after_accepts_seconds_only() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
