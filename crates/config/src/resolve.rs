//! Raw file → validated [`Config`], one section at a time. Each section's
//! defaults and checks live in its own module; this file only orders them
//! and checks what spans sections.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::ctx::Ctx;
use crate::raw::RawConfig;
use crate::{
    agent, audit, discord, heartbeat, http, mcp, media, providers, sandbox, scheduler, skills,
    store, telegram, tools, web, Config, ConfigError,
};

pub(crate) fn resolve(
    path: &Path,
    src: &str,
    raw: RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let ctx = Ctx {
        path,
        src,
        env,
        secret_files: std::cell::RefCell::new(Vec::new()),
    };
    let channels = raw.channels.unwrap_or_default();
    let store = store::resolve(&ctx, raw.store)?;
    let agent = agent::resolve(&ctx, raw.agent, &store.dir)?;
    let log = store::resolve_log(&ctx, raw.log)?;
    let audit = audit::resolve(&ctx, raw.audit)?;
    let http = http::resolve(&ctx, raw.http)?;
    let telegram = telegram::resolve(&ctx, channels.telegram)?;
    let discord = discord::resolve(&ctx, channels.discord)?;
    let providers = providers::resolve(&ctx, raw.providers)?;
    if (telegram.is_some() || discord.is_some()) && providers.is_empty() {
        return Err(ctx.invalid(
            "providers",
            "a channel is enabled but no [[providers]] entry is configured, so nothing could answer",
        ));
    }
    let tools = tools::resolve(&ctx, raw.tools)?;
    let sandbox = sandbox::resolve(&ctx, raw.sandbox)?;
    let scheduler = scheduler::resolve(&ctx, raw.scheduler)?;
    let heartbeat = heartbeat::resolve(&ctx, raw.heartbeat)?;
    let mcp = mcp::resolve(&ctx, raw.mcp)?;
    let skills = skills::resolve(&ctx, raw.skills, path)?;
    let media_config = media::resolve(&ctx, raw.media)?;
    let transcription = media::resolve_transcription(&ctx, raw.transcription)?;
    Ok(Config {
        secret_files: ctx.secret_files.take(),
        path: path.to_path_buf(),
        agent,
        store,
        log,
        audit,
        http,
        telegram,
        discord,
        providers,
        tools,
        sandbox,
        scheduler,
        heartbeat,
        mcp,
        skills,
        media: media_config,
        transcription,
    })
}

/// Refuses a group- or world-readable file that holds an inline secret.
pub(crate) fn check_permissions(path: &Path, src: &str) -> Result<(), ConfigError> {
    let Some(key) = inline_secret_key(src) else {
        return Ok(());
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Insecure {
            path: path.to_path_buf(),
            key,
            mode,
        });
    }
    Ok(())
}

/// The key path of the first inline (not `${ENV}`) secret, if any.
fn inline_secret_key(src: &str) -> Option<String> {
    let raw: RawConfig = toml::from_str(src).ok()?;
    let channels = raw.channels.unwrap_or_default();
    channels
        .telegram
        .as_ref()
        .and_then(telegram::inline_secret)
        .or_else(|| channels.discord.as_ref().and_then(discord::inline_secret))
        .or_else(|| providers::inline_secret(raw.providers.as_deref().unwrap_or_default()))
        .or_else(|| {
            raw.tools
                .as_ref()?
                .web
                .as_ref()
                .and_then(web::inline_secret)
        })
        .or_else(|| raw.mcp.as_ref().and_then(mcp::inline_secret))
        .or_else(|| raw.transcription.as_ref().and_then(media::inline_secret))
}
