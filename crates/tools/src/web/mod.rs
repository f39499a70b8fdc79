//! The web tools: `web_fetch` (one URL as text, behind the SSRF guard in
//! [`guard`]) and `web_search` (Brave Search API or SearXNG).

mod entity;
mod fetch;
mod guard;
mod html;
mod search;

use std::time::Duration;

pub use fetch::{WebFetch, MAX_REDIRECTS};
pub use guard::{AllowList, Guard, Lookup, SystemLookup};
pub use search::{SearchOptions, SearchProvider, WebSearch, DEFAULT_MAX_RESULTS};

use picoclaw_core::Tool;

/// Options shared by the web tools.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Whole-call deadline (all redirects included).
    pub timeout: Duration,
    /// Most bytes of a response body read; the rest is never downloaded.
    pub max_bytes: usize,
    /// Hosts, addresses and networks (`a.b.c.d/n`) the SSRF guard lets
    /// through although they are private, loopback, link-local...
    pub allow_private: Vec<String>,
    /// Proxy URL for both tools; `None` uses `HTTPS_PROXY`/`NO_PROXY`.
    pub proxy: Option<String>,
    /// `None`: no `web_search` tool.
    pub search: Option<SearchOptions>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            timeout: Duration::from_secs(20),
            max_bytes: 2 * 1024 * 1024,
            allow_private: Vec::new(),
            proxy: None,
            search: None,
        }
    }
}

/// `web_fetch`, and `web_search` when a provider is configured. Fails only
/// on an unusable allow list or proxy URL (a configuration error).
pub fn web_tools(opts: &WebOptions) -> Result<Vec<Box<dyn Tool>>, String> {
    let mut tools: Vec<Box<dyn Tool>> = vec![Box::new(WebFetch::new(opts)?)];
    if let Some(s) = &opts.search {
        tools.push(Box::new(WebSearch::new(
            s,
            opts.timeout,
            opts.proxy.clone(),
        )?));
    }
    Ok(tools)
}
