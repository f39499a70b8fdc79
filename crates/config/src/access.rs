//! Access control (issue 16): the per-channel keys for who may talk
//! (`dm_policy`, `owners`, beside each channel's `allow_from`), and
//! `[[tools.policy]]` rules for what each chat may do. The policy types
//! and defaults are picoclaw-agent's, which applies them.

use std::fmt::Write;

use picoclaw_agent::{DmPolicy, ToolRule, GROUPS};
use picoclaw_core::ChatKind;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::raw::IdOrName;
use crate::render::{list, q};
use crate::ConfigError;

/// Channel names a rule may name.
const CHANNELS: &[&str] = &["telegram", "discord", "cli"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub channel: Option<String>,
    pub chat: Option<String>,
    pub users: Option<Vec<IdOrName>>,
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub confirm: Option<Vec<String>>,
}

/// `dm_policy`, checked against `allow_from`: `"open"` needs `"*"` written
/// out, and `"*"` (everyone) contradicts the other two. Unset, it is
/// `"open"` when `allow_from` has `"*"`, else `"pairing"`.
pub(crate) fn dm_policy(
    ctx: &Ctx<'_>,
    table: &str,
    raw: Option<&str>,
    allow_from: &[String],
) -> Result<DmPolicy, ConfigError> {
    let key = format!("{table}.dm_policy");
    let star = allow_from.iter().any(|a| a == "*");
    let Some(raw) = raw else {
        return Ok(if star {
            DmPolicy::Open
        } else {
            DmPolicy::default()
        });
    };
    let policy = DmPolicy::parse(raw).ok_or_else(|| {
        ctx.invalid(
            &key,
            format!("{raw:?} is not one of \"pairing\", \"allowlist\", \"open\""),
        )
    })?;
    match (policy, star) {
        (DmPolicy::Open, false) => Err(ctx.invalid(
            &key,
            "\"open\" lets everyone talk to the bot; write that out as allow_from = [\"*\"] too",
        )),
        (DmPolicy::Pairing | DmPolicy::Allowlist, true) => Err(ctx.invalid(
            &key,
            format!(
                "allow_from has \"*\" (everyone), which contradicts dm_policy = {raw:?}; remove \
                 \"*\" or set dm_policy = \"open\""
            ),
        )),
        _ => Ok(policy),
    }
}

/// `owners`: user ids (numbers or strings of digits), never `"*"`.
pub(crate) fn owners(
    ctx: &Ctx<'_>,
    table: &str,
    raw: Option<Vec<IdOrName>>,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in raw.unwrap_or_default().into_iter().enumerate() {
        out.push(match entry {
            IdOrName::Id(id) => id.to_string(),
            IdOrName::Name(n) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => n,
            IdOrName::Name(n) => {
                return Err(ctx.invalid(
                    &format!("{table}.owners[{i}]"),
                    format!("{n:?} is not a numeric user id (owners are ids, not names or \"*\")"),
                ))
            }
        });
    }
    Ok(out)
}

pub(crate) fn render_people(dm_policy: DmPolicy, owners: &[String], o: &mut String) {
    let _ = writeln!(o, "dm_policy = {}", q(dm_policy.as_str()));
    let _ = writeln!(o, "owners = {}", list(owners, true));
}

/// `[[tools.policy]]`, in order.
pub(crate) fn rules(
    ctx: &Ctx<'_>,
    raw: Option<Vec<RawRule>>,
) -> Result<Vec<ToolRule>, ConfigError> {
    let mut out = Vec::new();
    for (i, r) in raw.unwrap_or_default().into_iter().enumerate() {
        let key = |k: &str| format!("tools.policy[{i}].{k}");
        let channel = match r.channel {
            Some(c) if CHANNELS.contains(&c.as_str()) => Some(c),
            Some(c) => {
                return Err(ctx.invalid(
                    &key("channel"),
                    format!("{c:?} is not a channel; use one of {}", CHANNELS.join(", ")),
                ))
            }
            None => None,
        };
        let chat = match r.chat.as_deref() {
            None | Some("any") => None,
            Some("direct") => Some(ChatKind::Direct),
            Some("group") => Some(ChatKind::Group),
            Some(other) => {
                return Err(ctx.invalid(
                    &key("chat"),
                    format!("{other:?} is not one of \"direct\", \"group\", \"any\""),
                ))
            }
        };
        let users = r
            .users
            .unwrap_or_default()
            .into_iter()
            .map(|u| match u {
                IdOrName::Id(id) => id.to_string(),
                IdOrName::Name(n) => n,
            })
            .collect();
        out.push(ToolRule {
            channel,
            chat,
            users,
            allow: tools(ctx, &key("allow"), r.allow)?,
            deny: tools(ctx, &key("deny"), r.deny)?,
            confirm: tools(ctx, &key("confirm"), r.confirm)?,
        });
    }
    Ok(out)
}

/// Tool names or groups. A name that is neither a group nor shaped like a
/// tool name is a typo; a tool that does not exist (yet) is not an error,
/// since MCP servers bring theirs at run time.
fn tools(ctx: &Ctx<'_>, key: &str, raw: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    let raw = raw.unwrap_or_default();
    for (i, t) in raw.iter().enumerate() {
        let shaped = !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !shaped {
            return Err(ctx.invalid(
                &format!("{key}[{i}]"),
                format!(
                    "{t:?} is neither a tool name nor a group ({})",
                    GROUPS.join(", ")
                ),
            ));
        }
    }
    Ok(raw)
}

pub(crate) fn render_rules(rules: &[ToolRule], o: &mut String) {
    for r in rules {
        let _ = writeln!(o, "[[tools.policy]]");
        if let Some(c) = &r.channel {
            let _ = writeln!(o, "channel = {}", q(c));
        }
        if let Some(k) = r.chat {
            let _ = writeln!(o, "chat = {}", q(k.as_str()));
        }
        let _ = writeln!(o, "users = {}", list(&r.users, true));
        let _ = writeln!(o, "allow = {}", list(&r.allow, true));
        let _ = writeln!(o, "deny = {}", list(&r.deny, true));
        let _ = writeln!(o, "confirm = {}\n", list(&r.confirm, true));
    }
}
