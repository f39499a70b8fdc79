//! `web_fetch`: one URL's text, behind the SSRF guard.
//!
//! Redirects are followed by hand (at most [`MAX_REDIRECTS`]) so every hop
//! goes through the guard again; the body is read up to `max_bytes` and no
//! further; binary content types are refused before the body is read; HTML
//! becomes text ([`super::html`]).
//!
//! With a proxy (config or `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, minus
//! `NO_PROXY`) the proxy connects, so its own DNS answer is what counts:
//! the guard still refuses literal addresses and names that resolve
//! locally to refused addresses before anything is sent, but it cannot see
//! what the proxy resolves (a rebinding name, or one only the proxy's DNS
//! knows). Restrict the proxy itself in that setup.

use std::sync::Arc;
use std::time::{Duration, Instant};

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_http::{parse_target, Client, HttpError, HttpOptions, Method, StreamingResponse};
use serde_json::{json, Value};

use super::guard::{AllowList, Guard, Lookup, SystemLookup};
use super::{html, WebOptions};
use crate::args::{show, Args};

/// Most redirects followed for one call.
pub const MAX_REDIRECTS: usize = 5;

const ACCEPT: &str =
    "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,*/*;q=0.1";

/// Fetches http(s) URLs as text.
#[derive(Debug, Clone)]
pub struct WebFetch {
    client: Client,
    guard: Guard,
    max_bytes: usize,
    timeout: Duration,
}

impl WebFetch {
    pub fn new(opts: &WebOptions) -> Result<WebFetch, String> {
        WebFetch::with_lookup(opts, Arc::new(SystemLookup))
    }

    /// With another DNS lookup (tests answer made-up names with it).
    pub fn with_lookup(opts: &WebOptions, lookup: Arc<dyn Lookup>) -> Result<WebFetch, String> {
        let guard = Guard::new(AllowList::parse(&opts.allow_private)?, lookup);
        let http = HttpOptions {
            connect_timeout: opts.timeout,
            timeout: opts.timeout,
            proxy: opts.proxy.clone(),
            ..HttpOptions::default()
        };
        let client = Client::with_resolver(&http, Arc::new(guard.clone()))
            .map_err(|e| format!("web_fetch: {e}"))?;
        Ok(WebFetch {
            client,
            guard,
            max_bytes: opts.max_bytes.max(1),
            timeout: opts.timeout,
        })
    }

    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
        let args = Args::new(args)?;
        let raw = args.required_str("url")?;
        let timeout = self.timeout.min(ctx.timeout);
        let deadline = Instant::now() + timeout;
        let mut url = clean_url(raw)?;
        for _ in 0..=MAX_REDIRECTS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            let resp = self
                .request(&url, left)
                .map_err(|e| describe(&e, &url, timeout))?;
            if matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                let loc = resp
                    .header("location")
                    .ok_or_else(|| format!("HTTP {} without a Location header", resp.status))?;
                url = clean_url(&join(&url, loc)?)?;
                picoclaw_core::debug!("web_fetch in {}: redirected to {}", ctx.session, show(&url));
                continue;
            }
            return self.read(ctx, &url, resp, timeout);
        }
        Err(format!("too many redirects (more than {MAX_REDIRECTS})"))
    }

    fn request(&self, url: &str, timeout: Duration) -> Result<StreamingResponse, HttpError> {
        let target = parse_target(url)?;
        if target.has_userinfo {
            return Err(HttpError::Invalid(String::from(
                "credentials in URLs (user@host) are not supported",
            )));
        }
        if self.client.proxy_for(url).is_some() {
            // The proxy resolves the name itself and the client's resolver
            // is not asked; check what can be checked here before sending.
            match self.guard.vet(&target.host, target.port, Some(timeout)) {
                Ok(_) => {}
                // Proxy-only networks often have no local DNS; the proxy's
                // answer cannot be seen anyway (see the module doc).
                Err(HttpError::Connection(_) | HttpError::Timeout) => {}
                Err(e) => return Err(e),
            }
        }
        self.client
            .send_streaming(Method::Get, url, &[("accept", ACCEPT)], None, Some(timeout))
    }

    fn read(
        &self,
        ctx: &ToolContext,
        url: &str,
        resp: StreamingResponse,
        timeout: Duration,
    ) -> Result<ToolOutput, String> {
        let status = resp.status;
        let content_type = resp.header("content-type").unwrap_or("").to_string();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let kind = kind_of(&mime)?;
        let (body, cut) = resp
            .read_up_to(self.max_bytes, &|| ctx.cancel.is_cancelled())
            .map_err(|e| describe(&e, url, timeout))?;
        if body.iter().take(1024).any(|&b| b == 0) {
            return Err(format!(
                "refused: the response is binary{}; web_fetch reads HTML, text, JSON and XML",
                if mime.is_empty() {
                    String::new()
                } else {
                    format!(" ({mime})")
                }
            ));
        }
        let size = body.len();
        let charset = charset_of(&content_type, &body, kind == Kind::Html);
        let text = decode(body, charset.as_deref());
        // Memory: the page and its text are the two big buffers; the page
        // goes as soon as it is converted and the header is put in front
        // of the text in place, so a page costs about twice its size.
        let (title, mut out) = match kind {
            Kind::Html => {
                let page = html::to_text(&text, Some(url));
                drop(text);
                (page.title, page.text)
            }
            Kind::Text => (None, text),
        };
        let mut head = format!(
            "{url} (HTTP {status}, {}, {size} bytes{})\n",
            if mime.is_empty() {
                "no content-type"
            } else {
                &mime
            },
            if cut { ", cut at the size limit" } else { "" }
        );
        if let Some(t) = title {
            head.push_str(&format!("Title: {t}\n"));
        }
        head.push('\n');
        out.insert_str(0, &head);
        picoclaw_core::info!(
            "web_fetch in {}: {} -> HTTP {status}, {size} bytes",
            ctx.session,
            show(url)
        );
        Ok(if (200..300).contains(&status) {
            ToolOutput::ok(out)
        } else {
            ToolOutput::error(out)
        })
    }
}

impl Tool for WebFetch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_fetch".into(),
            description: "Fetch an http(s) URL as text (HTML is converted). Public hosts only."
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"url": {"type": "string"}},
                "required": ["url"]
            }),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        self.run(ctx, args).unwrap_or_else(ToolOutput::error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Html,
    Text,
}

/// What a content type is read as; binary types are refused by name.
fn kind_of(mime: &str) -> Result<Kind, String> {
    let (top, sub) = mime.split_once('/').unwrap_or((mime, ""));
    match (top, sub) {
        ("text", "html") | ("application", "xhtml+xml") => Ok(Kind::Html),
        ("", _) | ("text", _) => Ok(Kind::Text),
        ("application", s)
            if s.ends_with("json")
                || s.ends_with("+xml")
                || matches!(
                    s,
                    "xml"
                        | "javascript"
                        | "x-javascript"
                        | "ecmascript"
                        | "yaml"
                        | "x-yaml"
                        | "toml"
                        | "x-ndjson"
                        | "x-www-form-urlencoded"
                        | "csv"
                ) =>
        {
            Ok(Kind::Text)
        }
        _ => Err(format!(
            "refused: content-type {} is not text; web_fetch reads HTML, text, JSON and XML",
            show(mime)
        )),
    }
}

/// The charset from the header, else (HTML) from a `<meta>` near the top.
fn charset_of(content_type: &str, body: &[u8], html: bool) -> Option<String> {
    let from = |s: &str| -> Option<String> {
        let lower = s.to_ascii_lowercase();
        let at = lower.find("charset=")? + 8;
        let v: String = lower[at..]
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        (!v.is_empty()).then_some(v)
    };
    from(content_type).or_else(|| {
        html.then(|| from(&String::from_utf8_lossy(&body[..body.len().min(2048)])))
            .flatten()
    })
}

/// UTF-8 (invalid bytes replaced) unless the charset is a Latin-1 family
/// one, whose bytes map to the first 256 code points.
fn decode(body: Vec<u8>, charset: Option<&str>) -> String {
    match charset {
        Some("iso-8859-1" | "latin1" | "latin-1" | "windows-1252" | "cp1252" | "us-ascii") => {
            body.iter().map(|&b| char::from(b)).collect()
        }
        _ => String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// The model's URL made sendable: trimmed, fragment dropped, spaces and
/// other bytes a request line cannot carry percent-encoded.
fn clean_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let raw = raw.split('#').next().unwrap_or(raw);
    let lower = raw.get(..8).unwrap_or(raw).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("{} is not an http:// or https:// URL", show(raw)));
    }
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b <= b' '
            || b >= 0x7f
            || matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            )
        {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    Ok(out)
}

/// Resolves a redirect `Location` (or a link) against the URL it came from.
pub(crate) fn join(base: &str, loc: &str) -> Result<String, String> {
    let loc = loc.trim();
    let scheme_end = loc.find(':').unwrap_or(0);
    let has_scheme = scheme_end > 0
        && loc[..scheme_end]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-' || c == b'.')
        && loc.as_bytes()[0].is_ascii_alphabetic();
    if has_scheme {
        return Ok(loc.to_string());
    }
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("cannot resolve {} against {}", show(loc), show(base)))?;
    if let Some(r) = loc.strip_prefix("//") {
        return Ok(format!("{scheme}://{r}"));
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = &base[..scheme.len() + 3 + auth_end];
    let tail = &rest[auth_end..];
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = &tail[..path_end];
    Ok(if loc.starts_with('/') {
        format!("{origin}{loc}")
    } else if loc.starts_with('?') {
        format!("{origin}{path}{loc}")
    } else if loc.is_empty() || loc.starts_with('#') {
        format!("{origin}{}", tail.split('#').next().unwrap_or(""))
    } else {
        let dir = path.rfind('/').map_or("/", |i| &path[..=i]);
        format!("{origin}{dir}{loc}")
    })
}

fn describe(e: &HttpError, url: &str, timeout: Duration) -> String {
    match e {
        HttpError::Refused(why) => format!("refused {}: {why}", show(url)),
        HttpError::Timeout => format!("{} timed out after {} s", show(url), timeout.as_secs()),
        HttpError::Invalid(why) => format!("invalid URL {}: {why}", show(url)),
        other => format!("cannot fetch {}: {other}", show(url)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_like_a_browser() {
        let base = "http://h:8/a/b?q#f";
        assert_eq!(join(base, "https://x/y").unwrap(), "https://x/y");
        assert_eq!(join(base, "//x/y").unwrap(), "http://x/y");
        assert_eq!(join(base, "/c").unwrap(), "http://h:8/c");
        assert_eq!(join(base, "c?d").unwrap(), "http://h:8/a/c?d");
        assert_eq!(join(base, "?z").unwrap(), "http://h:8/a/b?z");
        assert_eq!(join("http://h", "c").unwrap(), "http://h/c");
        assert_eq!(join(base, "ftp://x/").unwrap(), "ftp://x/");
    }

    #[test]
    fn urls_are_cleaned_and_other_schemes_refused() {
        assert_eq!(clean_url(" http://h/a b#frag ").unwrap(), "http://h/a%20b");
        assert_eq!(clean_url("HTTPS://h/é").unwrap(), "HTTPS://h/%C3%A9");
        assert!(clean_url("file:///etc/passwd").is_err());
        assert!(clean_url("gopher://h/").is_err());
    }

    #[test]
    fn content_types_are_text_or_refused() {
        assert_eq!(kind_of("text/html"), Ok(Kind::Html));
        assert_eq!(kind_of("application/ld+json"), Ok(Kind::Text));
        assert_eq!(kind_of("application/rss+xml"), Ok(Kind::Text));
        assert_eq!(kind_of(""), Ok(Kind::Text));
        for binary in [
            "image/png",
            "application/pdf",
            "application/octet-stream",
            "video/mp4",
        ] {
            assert!(
                kind_of(binary).unwrap_err().contains("is not text"),
                "{binary}"
            );
        }
    }

    #[test]
    fn latin1_pages_decode_by_header_or_meta() {
        let body = b"<meta charset=\"ISO-8859-1\"><p>caf\xe9</p>".to_vec();
        let cs = charset_of("text/html", &body, true);
        assert_eq!(cs.as_deref(), Some("iso-8859-1"));
        assert!(decode(body, cs.as_deref()).contains("café"));
        assert_eq!(
            charset_of("text/plain; charset=UTF-8", b"", false).as_deref(),
            Some("utf-8")
        );
    }
}
