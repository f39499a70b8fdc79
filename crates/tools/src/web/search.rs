//! `web_search`: a query to the Brave Search API or a SearXNG instance,
//! answered as numbered title / URL / snippet entries.
//!
//! The search endpoint is the operator's (often a SearXNG on the LAN), so
//! it is not behind the SSRF guard; the result URLs the model then fetches
//! are.

use std::time::Duration;

use picoclaw_core::{Tool, ToolContext, ToolOutput, ToolSpec};
use picoclaw_http::{Client, HttpOptions, Method};
use serde_json::{json, Value};

use super::html::fragment;
use crate::args::{show, Args};

/// Most bytes of a search API answer that are read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Which search API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchProvider {
    /// Brave Search API: `GET {base_url}/web/search?q=..&count=..` with the
    /// key in `X-Subscription-Token`; results in `web.results[]` as
    /// `title`, `url`, `description`.
    Brave,
    /// SearXNG: `GET {base_url}/search?q=..&format=json` (the instance must
    /// allow the json format); results in `results[]` as `title`, `url`,
    /// `content`.
    Searxng,
}

impl SearchProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchProvider::Brave => "brave",
            SearchProvider::Searxng => "searxng",
        }
    }

    /// Brave's public endpoint; SearXNG has none (it is self-hosted).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            SearchProvider::Brave => Some("https://api.search.brave.com/res/v1"),
            SearchProvider::Searxng => None,
        }
    }
}

/// How `web_search` reaches its provider.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    pub provider: SearchProvider,
    /// Without a trailing `/`.
    pub base_url: String,
    /// Brave's subscription token; SearXNG instances usually need none
    /// (sent as a bearer token when given).
    pub api_key: Option<String>,
    pub max_results: usize,
}

/// Default number of results shown.
pub const DEFAULT_MAX_RESULTS: usize = 5;

#[derive(Debug, Clone)]
pub struct WebSearch {
    client: Client,
    opts: SearchOptions,
    timeout: Duration,
}

impl WebSearch {
    pub fn new(
        opts: &SearchOptions,
        timeout: Duration,
        proxy: Option<String>,
    ) -> Result<WebSearch, String> {
        let http = HttpOptions {
            connect_timeout: timeout,
            timeout,
            proxy,
            ..HttpOptions::default()
        };
        let client = Client::new(&http).map_err(|e| format!("web_search: {e}"))?;
        Ok(WebSearch {
            client,
            opts: opts.clone(),
            timeout,
        })
    }

    fn run(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
        let args = Args::new(args)?;
        let query = args.required_str("query")?.trim();
        if query.is_empty() {
            return Err("query is empty".into());
        }
        let n = self.opts.max_results.clamp(1, 20);
        let q = encode(query);
        let (url, mut headers) = match self.opts.provider {
            SearchProvider::Brave => (
                format!("{}/web/search?q={q}&count={n}", self.opts.base_url),
                Vec::new(),
            ),
            SearchProvider::Searxng => (
                format!("{}/search?q={q}&format=json", self.opts.base_url),
                Vec::new(),
            ),
        };
        let bearer;
        match (self.opts.provider, &self.opts.api_key) {
            (SearchProvider::Brave, Some(k)) => headers.push(("x-subscription-token", k.as_str())),
            (SearchProvider::Searxng, Some(k)) => {
                bearer = format!("Bearer {k}");
                headers.push(("authorization", bearer.as_str()));
            }
            (_, None) => {}
        }
        headers.push(("accept", "application/json"));
        let timeout = self.timeout.min(ctx.timeout);
        let name = self.opts.provider.as_str();
        let resp = self
            .client
            .send_streaming(Method::Get, &url, &headers, None, Some(timeout))
            .map_err(|e| format!("{name} search failed: {e}"))?;
        let status = resp.status;
        let (body, _) = resp
            .read_up_to(MAX_ANSWER_BYTES, &|| ctx.cancel.is_cancelled())
            .map_err(|e| format!("{name} search failed: {e}"))?;
        if !(200..300).contains(&status) {
            let text = String::from_utf8_lossy(&body);
            return Err(format!(
                "{name} search failed: HTTP {status}: {}",
                show(text.trim())
            ));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{name} search: answer is not JSON: {e}"))?;
        let (list, snippet_key) = match self.opts.provider {
            SearchProvider::Brave => (v.pointer("/web/results"), "description"),
            SearchProvider::Searxng => (v.get("results"), "content"),
        };
        let results = list
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        picoclaw_core::info!(
            "web_search in {}: {} results from {name}",
            ctx.session,
            results.len()
        );
        let mut out = String::new();
        for (i, r) in results.iter().take(n).enumerate() {
            let field = |k: &str| {
                r.get(k)
                    .and_then(Value::as_str)
                    .map(fragment)
                    .unwrap_or_default()
            };
            let url = r.get("url").and_then(Value::as_str).unwrap_or_default();
            out.push_str(&format!("{}. {}\n{url}\n", i + 1, field("title")));
            let snippet = field(snippet_key);
            if !snippet.is_empty() {
                out.push_str(&snippet);
                out.push('\n');
            }
            out.push('\n');
        }
        if out.is_empty() {
            return Ok(ToolOutput::ok(format!("no results for {}", show(query))));
        }
        let len = out.trim_end().len();
        out.truncate(len);
        Ok(ToolOutput::ok(out))
    }
}

impl Tool for WebSearch {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "web_search".into(),
            description: "Search the web; returns title, URL and snippet per result.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"]
            }),
        }
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> ToolOutput {
        self.run(ctx, args).unwrap_or_else(ToolOutput::error)
    }
}

/// `application/x-www-form-urlencoded` for a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_are_form_encoded() {
        assert_eq!(super::encode("a b&c=é"), "a+b%26c%3D%C3%A9");
    }
}
