//! `[tools.web]` and `[tools.web.search]`: `web_fetch` limits, the SSRF
//! guard's allow list, and the search provider.

use std::fmt::Write;
use std::time::Duration;

use picoclaw_tools::web::{
    AllowList, SearchOptions, SearchProvider, WebOptions, DEFAULT_MAX_RESULTS,
};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::{list, q, secret};
use crate::secret::is_env_only;
use crate::{ConfigError, Secret, SecretSource};

const T: &str = "tools.web";
const S: &str = "tools.web.search";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub enabled: Option<bool>,
    pub timeout_secs: Option<u64>,
    pub max_bytes: Option<u64>,
    pub allow_private: Option<Vec<String>>,
    pub proxy: Option<String>,
    pub search: Option<RawSearch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSearch {
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub max_results: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct WebConfig {
    pub enabled: bool,
    pub timeout: Duration,
    pub max_bytes: u64,
    /// Hosts, addresses and `a.b.c.d/n` networks let through the guard.
    pub allow_private: Vec<String>,
    pub proxy: Option<String>,
    /// `None` when no provider is set: no `web_search` tool.
    pub search: Option<SearchConfig>,
}

#[derive(Debug, Clone)]
pub struct SearchConfig {
    pub provider: SearchProvider,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub api_key_source: Option<SecretSource>,
    pub max_results: usize,
}

impl WebConfig {
    /// The tools crate's options for `web_fetch` and `web_search`.
    pub fn options(&self) -> WebOptions {
        WebOptions {
            timeout: self.timeout,
            max_bytes: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
            allow_private: self.allow_private.clone(),
            proxy: self.proxy.clone(),
            search: self.search.as_ref().map(|s| SearchOptions {
                provider: s.provider,
                base_url: s.base_url.clone(),
                api_key: s.api_key.as_ref().map(|k| k.expose().to_string()),
                max_results: s.max_results,
            }),
        }
    }
}

pub(crate) fn resolve(ctx: &Ctx<'_>, raw: Option<RawWeb>) -> Result<WebConfig, ConfigError> {
    let w = raw.unwrap_or_default();
    let defaults = WebOptions::default();
    let allow_private = w.allow_private.unwrap_or_default();
    AllowList::parse(&allow_private).map_err(|m| ctx.invalid(&format!("{T}.allow_private"), m))?;
    Ok(WebConfig {
        enabled: w.enabled.unwrap_or(true),
        timeout: ctx.secs(
            &format!("{T}.timeout_secs"),
            w.timeout_secs,
            defaults.timeout,
            1,
            600,
        )?,
        max_bytes: ctx.range(
            &format!("{T}.max_bytes"),
            w.max_bytes,
            defaults.max_bytes as u64,
            1_024,
            64 << 20,
        )?,
        allow_private,
        proxy: w.proxy.filter(|p| !p.is_empty()),
        search: w.search.map(|s| search(ctx, s)).transpose()?.flatten(),
    })
}

fn search(ctx: &Ctx<'_>, s: RawSearch) -> Result<Option<SearchConfig>, ConfigError> {
    let provider = match s.provider.as_deref() {
        None => return Ok(None),
        Some("brave") => SearchProvider::Brave,
        Some("searxng") => SearchProvider::Searxng,
        Some(other) => {
            return Err(ctx.invalid(
                &format!("{S}.provider"),
                format!("unknown provider {other:?}; use \"brave\" or \"searxng\""),
            ))
        }
    };
    let base_url = match s
        .base_url
        .or_else(|| provider.default_base_url().map(String::from))
    {
        Some(u) => ctx.url(&format!("{S}.base_url"), u)?,
        None => return Err(ctx.invalid(
            &format!("{S}.base_url"),
            "missing: set the SearXNG instance's URL, e.g. base_url = \"http://127.0.0.1:8888\"",
        )),
    };
    let key = ctx.secret(
        S,
        "api_key",
        s.api_key.as_deref(),
        s.api_key_file.as_deref(),
    )?;
    if provider == SearchProvider::Brave && key.is_none() {
        return Err(ctx.invalid(
            &format!("{S}.api_key"),
            "missing: Brave needs a subscription token (api_key = \"${BRAVE_API_KEY}\" or api_key_file)",
        ));
    }
    let max_results = ctx.range(
        &format!("{S}.max_results"),
        s.max_results,
        DEFAULT_MAX_RESULTS as u64,
        1,
        20,
    )?;
    Ok(Some(SearchConfig {
        provider,
        base_url,
        api_key_source: key.as_ref().map(|(_, s)| *s),
        api_key: key.map(|(k, _)| k),
        max_results: max_results as usize,
    }))
}

/// The key of an inline (not `${ENV}`) search key, for the permission
/// check.
pub(crate) fn inline_secret(raw: &RawWeb) -> Option<String> {
    let key = raw.search.as_ref()?.api_key.as_deref()?;
    (!is_env_only(key)).then(|| format!("{S}.api_key"))
}

pub(crate) fn render(w: &WebConfig, o: &mut String) {
    let _ = writeln!(
        o,
        "[{T}]\nenabled = {}\ntimeout_secs = {}\nmax_bytes = {}\nallow_private = {}",
        w.enabled,
        w.timeout.as_secs(),
        w.max_bytes,
        list(&w.allow_private, true)
    );
    if let Some(p) = &w.proxy {
        let _ = writeln!(o, "proxy = {}", q(p));
    }
    o.push('\n');
    if let Some(s) = &w.search {
        let _ = writeln!(
            o,
            "[{S}]\nprovider = {}\nbase_url = {}",
            q(s.provider.as_str()),
            q(&s.base_url)
        );
        if let (Some(k), Some(src)) = (&s.api_key, s.api_key_source) {
            let _ = writeln!(o, "api_key = {}", secret(k, src));
        }
        let _ = writeln!(o, "max_results = {}\n", s.max_results);
    }
}
