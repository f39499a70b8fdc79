//! `[heartbeat]`: a periodic turn while `HEARTBEAT.md` has open tasks.

use std::fmt::Write;
use std::time::Duration;

use serde::Deserialize;

use crate::ctx::Ctx;
use crate::render::q;
use crate::ConfigError;

const DEFAULT_INTERVAL_MINS: u64 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    pub enabled: Option<bool>,
    pub interval_mins: Option<u64>,
    pub channel: Option<String>,
    pub chat_id: Option<String>,
    pub active_hours: Option<String>,
}

#[derive(Debug, Clone)]
pub struct HeartbeatConfig {
    pub interval: Duration,
    /// Where a heartbeat's findings are sent.
    pub channel: String,
    pub chat_id: String,
    /// Local minutes after midnight `[start, end)`, in
    /// `scheduler.timezone`; `None`: at any hour.
    pub active_hours: Option<(u32, u32)>,
}

/// `None` unless the section says `enabled = true` (off by default, like
/// every proactive message).
pub(crate) fn resolve(
    ctx: &Ctx<'_>,
    raw: Option<RawHeartbeat>,
) -> Result<Option<HeartbeatConfig>, ConfigError> {
    let h = match raw {
        Some(h) if h.enabled.unwrap_or(false) => h,
        _ => return Ok(None),
    };
    let mins = ctx.range(
        "heartbeat.interval_mins",
        h.interval_mins,
        DEFAULT_INTERVAL_MINS,
        1,
        7 * 24 * 60,
    )?;
    let channel = h.channel.unwrap_or_else(|| String::from("telegram"));
    if channel.trim().is_empty() {
        return Err(ctx.invalid(
            "heartbeat.channel",
            "must name a channel, e.g. \"telegram\"",
        ));
    }
    let chat_id = match h.chat_id {
        Some(id) if !id.trim().is_empty() => id.trim().to_string(),
        _ => {
            return Err(ctx.invalid(
                "heartbeat.chat_id",
                "missing: the chat to notify (on Telegram your user id is your private chat's id), or enabled = false",
            ))
        }
    };
    let active_hours = match h.active_hours.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_hours(text).ok_or_else(|| {
            ctx.invalid(
                "heartbeat.active_hours",
                format!("{text:?}: use \"HH:MM-HH:MM\", e.g. \"08:00-22:00\""),
            )
        })?),
    };
    Ok(Some(HeartbeatConfig {
        interval: Duration::from_secs(mins * 60),
        channel,
        chat_id,
        active_hours,
    }))
}

/// `"08:00-22:00"` → minutes after midnight; equal ends are refused.
fn parse_hours(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    let minutes = |t: &str| {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (start, end) = (minutes(a)?, minutes(b)?);
    (start != end).then_some((start, end))
}

pub(crate) fn render(h: &Option<HeartbeatConfig>, o: &mut String) {
    let Some(h) = h else {
        let _ = writeln!(o, "[heartbeat]\nenabled = false\n");
        return;
    };
    let _ = writeln!(
        o,
        "[heartbeat]\nenabled = true\ninterval_mins = {}\nchannel = {}\nchat_id = {}",
        h.interval.as_secs() / 60,
        q(&h.channel),
        q(&h.chat_id)
    );
    if let Some((s, e)) = h.active_hours {
        let _ = writeln!(
            o,
            "active_hours = \"{:02}:{:02}-{:02}:{:02}\"",
            s / 60,
            s % 60,
            e / 60,
            e % 60
        );
    }
    o.push('\n');
}
