//! `[[providers]]`: the model chain, primary first.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use picoclaw_providers::{ProviderKind, ProviderOptions, RetryPolicy};
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::{q, secret};
use crate::secret::is_env_only;
use crate::{ConfigError, Secret, SecretSource};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub api_key_file: Option<String>,
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
    pub proxy: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub vision: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub api_key_source: Option<SecretSource>,
    pub model: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub timeout: Duration,
    pub max_retries: u32,
    pub proxy: Option<String>,
    pub headers: Vec<(String, String)>,
    /// The model takes pictures (image parts in requests).
    pub vision: bool,
}

impl ProviderConfig {
    /// The provider crate's options for this entry.
    pub fn options(&self) -> ProviderOptions {
        ProviderOptions {
            name: self.name.clone(),
            kind: self.kind,
            base_url: self.base_url.clone(),
            api_key: self.api_key.as_ref().map(|k| k.expose().to_string()),
            model: self.model.clone(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            timeout: self.timeout,
            headers: self.headers.clone(),
            proxy: self.proxy.clone(),
            vision: self.vision,
        }
    }
}

pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<Vec<RawProvider>>,
) -> Result<Vec<ProviderConfig>, ConfigError> {
    let mut out: Vec<ProviderConfig> = Vec::new();
    for (i, p) in raw.unwrap_or_default().into_iter().enumerate() {
        let pc = provider(ctx, i, p)?;
        if out.iter().any(|q| q.name == pc.name) {
            return Err(ctx.invalid(
                &format!("providers[{i}].name"),
                format!(
                    "duplicate provider name {:?}; give each [[providers]] entry its own name",
                    pc.name
                ),
            ));
        }
        out.push(pc);
    }
    Ok(out)
}

fn provider(ctx: &Ctx<'_>, i: usize, p: RawProvider) -> Result<ProviderConfig, ConfigError> {
    let table = format!("providers[{i}]");
    let k = |name: &str| format!("{table}.{name}");
    let kind = match p.kind.as_deref() {
        Some("openai") => ProviderKind::OpenAi,
        Some("anthropic") => ProviderKind::Anthropic,
        Some(other) => return Err(ctx.invalid(&k("kind"), format!("unknown kind {other:?}; use \"openai\" (any OpenAI-compatible server) or \"anthropic\""))),
        None => return Err(ctx.invalid(&k("kind"), "missing: set kind = \"openai\" or \"anthropic\"")),
    };
    let model = match p.model {
        Some(m) if !m.trim().is_empty() => m,
        _ => {
            return Err(ctx.invalid(
                &k("model"),
                "missing: set the model name, e.g. model = \"gpt-4o-mini\"",
            ))
        }
    };
    let defaults = ProviderOptions::new(kind, model.as_str());
    let base_url = ctx.url(
        &k("base_url"),
        p.base_url
            .unwrap_or_else(|| kind.default_base_url().to_string()),
    )?;
    let key = ctx.secret(
        &table,
        "api_key",
        p.api_key.as_deref(),
        p.api_key_file.as_deref(),
    )?;
    let temperature = match p.temperature {
        Some(t) if !(0.0..=2.0).contains(&t) => {
            return Err(ctx.invalid(&k("temperature"), format!("{t} is out of range 0.0..=2.0")))
        }
        t => t,
    };
    let mut headers = Vec::new();
    for (name, value) in p.headers.unwrap_or_default() {
        let v = ctx.expand(&format!("{table}.headers.{name}"), &value)?;
        headers.push((name, v));
    }
    Ok(ProviderConfig {
        name: p
            .name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("{}-{i}", kind.as_str())),
        kind,
        base_url,
        api_key_source: key.as_ref().map(|(_, s)| *s),
        api_key: key.map(|(s, _)| s),
        model,
        max_tokens: ctx.range(
            &k("max_tokens"),
            p.max_tokens,
            defaults.max_tokens,
            16,
            1_000_000,
        )?,
        temperature,
        timeout: ctx.secs(
            &k("timeout_secs"),
            p.timeout_secs,
            defaults.timeout,
            1,
            3_600,
        )?,
        max_retries: ctx.range(
            &k("max_retries"),
            p.max_retries,
            RetryPolicy::default().max_retries,
            0,
            10,
        )?,
        proxy: p.proxy.filter(|p| !p.is_empty()),
        headers,
        vision: p.vision.unwrap_or(false),
    })
}

/// The key of the first inline (not `${ENV}`) API key, for the permission
/// check.
pub(crate) fn inline_secret(raw: &[RawProvider]) -> Option<String> {
    raw.iter()
        .position(|p| p.api_key.as_deref().is_some_and(|v| !is_env_only(v)))
        .map(|i| format!("providers[{i}].api_key"))
}

pub(crate) fn render(providers: &[ProviderConfig], o: &mut String) {
    for p in providers {
        let _ = writeln!(
            o,
            "[[providers]]\nname = {}\nkind = {}",
            q(&p.name),
            q(p.kind.as_str())
        );
        let _ = writeln!(o, "base_url = {}\nmodel = {}", q(&p.base_url), q(&p.model));
        if let (Some(k), Some(s)) = (&p.api_key, p.api_key_source) {
            let _ = writeln!(o, "api_key = {}", secret(k, s));
        }
        let _ = writeln!(o, "max_tokens = {}", p.max_tokens);
        if let Some(t) = p.temperature {
            let _ = writeln!(o, "temperature = {t}");
        }
        let _ = writeln!(o, "timeout_secs = {}", p.timeout.as_secs());
        let _ = writeln!(o, "max_retries = {}", p.max_retries);
        let _ = writeln!(o, "vision = {}", p.vision);
        if let Some(x) = &p.proxy {
            let _ = writeln!(o, "proxy = {}", q(x));
        }
        if !p.headers.is_empty() {
            let hs: Vec<String> = p
                .headers
                .iter()
                .map(|(k, v)| format!("{} = {}", q(k), q(v)))
                .collect();
            let _ = writeln!(o, "headers = {{ {} }}", hs.join(", "));
        }
        o.push('\n');
    }
}
