//! From one `MESSAGE_CREATE` to an [`Inbound`] — or the reason to drop it.
//!
//! Pure: no I/O and no logging, so every rule (where, when a guild message
//! is meant for the bot, how mentions are cleaned up) is unit-tested
//! directly. The gateway thread logs the verdicts. Who may talk is the
//! runtime's decision, made with the store (allow lists, pairing).
//!
//! Edits and deletions: only `MESSAGE_CREATE` is read. A message edited
//! before its turn starts is answered as first sent (what the bot stored
//! is what it answers, as on Telegram); a message deleted before its turn
//! is still answered, and the reply goes out without the quote
//! (`fail_if_not_exists: false`), so nothing waits on a reference that
//! can no longer resolve.

use std::collections::HashMap;

use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};
use serde_json::{Map, Value};

/// Everything that decides whether a message is for the agent.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    /// The bot's own user id.
    pub bot_id: String,
    /// Empty: any guild the bot is in.
    pub allow_guilds: Vec<String>,
    /// Empty: any channel. A thread is allowed when its parent is.
    pub allow_channels: Vec<String>,
    /// In guilds, answer only messages that mention the bot or reply to it.
    pub mention_only: bool,
}

/// Thread id → parent channel id, learned from `GUILD_CREATE` and the
/// `THREAD_*` events (GUILDS intent). Bounded: a bot in a server with
/// thousands of threads forgets the map and relearns it.
#[derive(Debug, Default)]
pub(crate) struct Threads {
    parent: HashMap<String, String>,
}

const MAX_THREADS: usize = 4096;

impl Threads {
    /// Notes a channel object if it is a thread (types 10, 11, 12).
    pub(crate) fn learn(&mut self, channel: &Value) {
        let is_thread = matches!(channel.get("type").and_then(Value::as_u64), Some(10..=12));
        let (Some(id), Some(parent)) = (
            channel.get("id").and_then(Value::as_str),
            channel.get("parent_id").and_then(Value::as_str),
        ) else {
            return;
        };
        if is_thread {
            if self.parent.len() >= MAX_THREADS && !self.parent.contains_key(id) {
                self.parent.clear();
            }
            self.parent.insert(id.to_owned(), parent.to_owned());
        }
    }

    pub(crate) fn forget(&mut self, id: &str) {
        self.parent.remove(id);
    }

    fn parent_of(&self, id: &str) -> Option<&str> {
        self.parent.get(id).map(String::as_str)
    }

    /// What a gateway event teaches about threads.
    pub(crate) fn observe(&mut self, name: &str, data: &Value) {
        let list = |key: &str| {
            data.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        match name {
            "GUILD_CREATE" | "THREAD_LIST_SYNC" => {
                for t in list("threads") {
                    self.learn(&t);
                }
            }
            "THREAD_CREATE" | "THREAD_UPDATE" => self.learn(data),
            "THREAD_DELETE" => {
                if let Some(id) = data.get("id").and_then(Value::as_str) {
                    self.forget(id);
                }
            }
            _ => {}
        }
    }
}

/// What to do with one message.
// Accept is the big one; a Verdict lives for one message and is never
// stored, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept(Inbound),
    /// Not for the agent. The reason is for debug logs.
    Ignore(&'static str),
    /// Outside `allow_guilds` / `allow_channels`.
    OutOfScope(&'static str),
    /// The message does not have the documented shape.
    Malformed(&'static str),
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// Message types people write: DEFAULT and REPLY. Joins, pins, boosts,
/// thread-created notices and the rest are system messages.
const USER_TYPES: [u64; 2] = [0, 19];

pub(crate) fn classify(value: &Value, rules: &Rules, threads: &Threads) -> Verdict {
    let Some(msg) = value.as_object() else {
        return Verdict::Malformed("message is not an object");
    };
    let (Some(id), Some(channel_id)) = (str_of(msg, "id"), str_of(msg, "channel_id")) else {
        return Verdict::Malformed("message without id or channel_id");
    };
    let Some(author) = msg.get("author").and_then(Value::as_object) else {
        return Verdict::Malformed("message without author");
    };
    let Some(author_id) = str_of(author, "id") else {
        return Verdict::Malformed("author without id");
    };
    if author_id == rules.bot_id {
        return Verdict::Ignore("the bot's own message");
    }
    if author.get("bot").and_then(Value::as_bool).unwrap_or(false) || msg.contains_key("webhook_id")
    {
        return Verdict::Ignore("sent by a bot or webhook");
    }
    let kind = msg.get("type").and_then(Value::as_u64).unwrap_or(0);
    if !USER_TYPES.contains(&kind) {
        return Verdict::Ignore("system message");
    }
    let guild_id = str_of(msg, "guild_id");
    let content = str_of(msg, "content").unwrap_or("");
    let media = media_kind(msg);
    let files = super::media::attachments(msg);
    let (mentioned, text) = strip_mentions(content, &rules.bot_id);
    let mentioned = mentioned
        || msg
            .get("mentions")
            .and_then(Value::as_array)
            .is_some_and(|m| {
                m.iter()
                    .any(|u| u.get("id").and_then(Value::as_str) == Some(&rules.bot_id))
            });
    let replied_to_bot = value
        .pointer("/referenced_message/author/id")
        .and_then(Value::as_str)
        == Some(rules.bot_id.as_str());

    let chat_kind = match guild_id {
        None => ChatKind::Direct,
        Some(guild) => {
            if rules.mention_only && !(mentioned || replied_to_bot) {
                return Verdict::Ignore("guild message not addressed to the bot");
            }
            if !rules.allow_guilds.is_empty() && !rules.allow_guilds.iter().any(|g| g == guild) {
                return Verdict::OutOfScope("guild not in channels.discord.allow_guilds");
            }
            if !rules.allow_channels.is_empty() {
                let parent = threads.parent_of(channel_id);
                let listed = |c: &str| rules.allow_channels.iter().any(|a| a == c);
                if !(listed(channel_id) || parent.is_some_and(listed)) {
                    return Verdict::OutOfScope("channel not in channels.discord.allow_channels");
                }
            }
            ChatKind::Group
        }
    };
    if text.is_empty() && media.is_none() {
        return Verdict::Ignore("empty message");
    }
    let username = str_of(author, "username");
    let display = value
        .pointer("/member/nick")
        .and_then(Value::as_str)
        .or_else(|| str_of(author, "global_name"))
        .or(username)
        .unwrap_or(author_id)
        .to_owned();
    Verdict::Accept(Inbound {
        channel: String::from("discord"),
        event_id: id.to_owned(),
        chat_id: channel_id.to_owned(),
        chat_kind,
        sender: Sender {
            id: author_id.to_owned(),
            username: username.map(str::to_owned),
            display,
        },
        message_id: Some(id.to_owned()),
        kind: match media {
            Some(_) if !files.is_empty() => InboundKind::Media { text, files },
            Some(m) => InboundKind::Unsupported(m.to_owned()),
            None => InboundKind::Text(text),
        },
    })
}

/// Whether the message carries attachments or stickers, and which kind
/// of thing the first one is (for the "cannot handle" notice).
fn media_kind(msg: &Map<String, Value>) -> Option<&'static str> {
    if let Some(first) = msg
        .get("attachments")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let ct = first
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Some(match ct.split('/').next().unwrap_or("") {
            "image" => "image",
            "video" => "video",
            "audio" => "audio",
            _ => "file",
        });
    }
    let stickers = msg
        .get("sticker_items")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    stickers.then_some("sticker")
}

/// Removes every `<@id>` / `<@!id>` of the bot with one space after it
/// (so "hey <@bot> look" reads "hey look" and indentation elsewhere is
/// kept), then the punctuation that addressed it ("<@bot>, hi" → "hi").
/// Returns whether there was one, and the text.
fn strip_mentions(content: &str, bot_id: &str) -> (bool, String) {
    let mut found = false;
    let mut text = content.to_owned();
    for needle in [format!("<@{bot_id}>"), format!("<@!{bot_id}>")] {
        while let Some(at) = text.find(&needle) {
            found = true;
            let mut end = at + needle.len();
            if text[end..].starts_with(' ') {
                end += 1;
            }
            text.replace_range(at..end, "");
        }
    }
    if !found {
        return (false, content.trim().to_owned());
    }
    let text = text.trim().trim_start_matches([',', ':']).trim();
    (true, text.to_owned())
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
