//! From one Bot API `Update` to an [`Inbound`] — or the reason to drop it.
//!
//! Pure: no I/O and no logging, so every rule (when a group message is
//! meant for the bot, how commands and mentions are cleaned up, what a
//! button press carries) is unit-tested directly. The caller logs the
//! verdicts. Who may talk is not decided here: the runtime does that with
//! the store (allow lists, pairing).

use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};
use serde_json::Value;

use super::media;

/// The bot itself, learned from `getMe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BotUser {
    pub id: i64,
    pub username: String,
}

/// Everything that decides whether a message is for the agent.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub bot: BotUser,
    /// A prefix such as `!bot` that addresses the bot in groups.
    pub group_trigger: Option<String>,
}

/// What to do with one update.
// Accept is the big one (a media message's files); a Verdict lives for one
// update and is never stored, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept(Inbound),
    /// Not for the agent (group chatter, service message, other bot's
    /// command...). The reason is for debug logs.
    Ignore(&'static str),
    /// A press on an inline keyboard button (`callback_query`). The query
    /// must be answered (`answerCallbackQuery`) whether or not it carries
    /// anything for the agent.
    Pressed {
        item: Option<Inbound>,
        query_id: String,
    },
    /// The update does not have the documented shape.
    Malformed(&'static str),
}

/// Media kinds, in the order they are checked (`animation` messages also
/// carry `document`, so it comes first).
const MEDIA: &[&str] = &[
    "animation",
    "photo",
    "video",
    "video_note",
    "voice",
    "audio",
    "document",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
];

pub(crate) fn classify(update: &Value, update_id: i64, rules: &Rules) -> Verdict {
    if let Some(query) = update.get("callback_query") {
        return classify_press(query, update_id);
    }
    let Some(msg) = update.get("message") else {
        return Verdict::Ignore("not a new message");
    };
    let Some(msg) = msg.as_object() else {
        return Verdict::Malformed("message is not an object");
    };
    let Some(chat) = msg.get("chat") else {
        return Verdict::Malformed("message without chat");
    };
    let (Some(chat_id), Some(chat_type)) = (
        chat.get("id").and_then(Value::as_i64),
        chat.get("type").and_then(Value::as_str),
    ) else {
        return Verdict::Malformed("chat without numeric id or type");
    };
    let chat_kind = match chat_type {
        "private" => ChatKind::Direct,
        "group" | "supergroup" => ChatKind::Group,
        _ => return Verdict::Ignore("channel post"),
    };
    let Some(from) = msg.get("from") else {
        return Verdict::Ignore("no sender");
    };
    let Some(from_id) = from.get("id").and_then(Value::as_i64) else {
        return Verdict::Malformed("sender without numeric id");
    };
    // Anonymous group admins and channels posting into groups appear as
    // bots too; none of them is a person on the allow list.
    if from.get("is_bot").and_then(Value::as_bool).unwrap_or(false) {
        return Verdict::Ignore("sent by a bot");
    }
    let Some(message_id) = msg.get("message_id").and_then(Value::as_i64) else {
        return Verdict::Malformed("message without numeric message_id");
    };
    let text = msg
        .get("text")
        .or_else(|| msg.get("caption"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let media = MEDIA.iter().copied().find(|k| msg.contains_key(*k));
    if text.is_empty() && media.is_none() {
        return Verdict::Ignore("service or empty message");
    }

    let mut addressed = false;
    let mut text = match normalize_command(text, &rules.bot.username) {
        Command::ForOtherBot => return Verdict::Ignore("command for another bot"),
        Command::ForUs(t) => {
            addressed = true;
            t
        }
        Command::Plain => text.to_owned(),
    };
    if let Some(t) = strip_mention(&text, &rules.bot.username) {
        addressed = true;
        text = t;
    }
    if let Some(trigger) = rules.group_trigger.as_deref().filter(|t| !t.is_empty()) {
        if let Some(t) = strip_trigger(&text, trigger) {
            addressed = true;
            text = t;
        }
    }
    let replied_to_bot = msg
        .get("reply_to_message")
        .and_then(|r| r.pointer("/from/id"))
        .and_then(Value::as_i64)
        == Some(rules.bot.id);
    if chat_kind == ChatKind::Group && !(addressed || replied_to_bot) {
        return Verdict::Ignore("group message not addressed to the bot");
    }

    let username = from.get("username").and_then(Value::as_str);
    let kind = match media {
        Some(kind) if media::HANDLED.contains(&kind) => match media::media_file(msg, kind) {
            Some(file) => InboundKind::Media {
                text,
                files: vec![file],
            },
            None => return Verdict::Malformed("media without a file_id"),
        },
        Some(kind) => InboundKind::Unsupported(kind.to_owned()),
        None if text.is_empty() => InboundKind::Text(msg_text_trimmed(msg)),
        None => InboundKind::Text(text),
    };
    Verdict::Accept(Inbound {
        channel: String::from("telegram"),
        event_id: update_id.to_string(),
        chat_id: chat_id.to_string(),
        chat_kind,
        sender: Sender {
            id: from_id.to_string(),
            username: username.map(str::to_owned),
            display: display_name(from, from_id),
        },
        message_id: Some(message_id.to_string()),
        kind,
    })
}

/// A `CallbackQuery`: who pressed which button under which of the bot's
/// messages (<https://core.telegram.org/bots/api#callbackquery>).
fn classify_press(query: &Value, update_id: i64) -> Verdict {
    let Some(query_id) = query.get("id").and_then(Value::as_str) else {
        return Verdict::Malformed("callback_query without id");
    };
    let query_id = query_id.to_owned();
    let item = (|| {
        let from = query.get("from")?;
        let from_id = from.get("id").and_then(Value::as_i64)?;
        // Inline-mode messages carry no `message`; game buttons no `data`.
        let msg = query.get("message")?;
        let chat = msg.get("chat")?;
        let chat_id = chat.get("id").and_then(Value::as_i64)?;
        let chat_kind = match chat.get("type").and_then(Value::as_str)? {
            "private" => ChatKind::Direct,
            "group" | "supergroup" => ChatKind::Group,
            _ => return None,
        };
        let data = query.get("data").and_then(Value::as_str)?;
        Some(Inbound {
            channel: String::from("telegram"),
            event_id: update_id.to_string(),
            chat_id: chat_id.to_string(),
            chat_kind,
            sender: Sender {
                id: from_id.to_string(),
                username: from
                    .get("username")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                display: display_name(from, from_id),
            },
            message_id: msg
                .get("message_id")
                .and_then(Value::as_i64)
                .map(|i| i.to_string()),
            kind: InboundKind::Button(data.to_owned()),
        })
    })();
    Verdict::Pressed { item, query_id }
}

/// A message that was only a mention ("@bot") still reaches the agent,
/// unchanged, rather than as an empty string.
fn msg_text_trimmed(msg: &serde_json::Map<String, Value>) -> String {
    msg.get("text")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn display_name(from: &Value, id: i64) -> String {
    let first = from.get("first_name").and_then(Value::as_str).unwrap_or("");
    let last = from.get("last_name").and_then(Value::as_str).unwrap_or("");
    let full = format!("{first} {last}");
    let full = full.trim();
    if !full.is_empty() {
        return full.to_owned();
    }
    match from.get("username").and_then(Value::as_str) {
        Some(u) => format!("@{u}"),
        None => id.to_string(),
    }
}

enum Command {
    Plain,
    /// `/cmd@thisbot args` → `/cmd args`.
    ForUs(String),
    ForOtherBot,
}

fn normalize_command(text: &str, bot: &str) -> Command {
    let Some(rest) = text.strip_prefix('/') else {
        return Command::Plain;
    };
    let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, tail) = rest.split_at(word_end);
    let Some((cmd, target)) = word.split_once('@') else {
        return Command::Plain;
    };
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid(cmd) || !valid(target) {
        return Command::Plain;
    }
    if target.eq_ignore_ascii_case(bot) {
        Command::ForUs(format!("/{cmd}{tail}"))
    } else {
        Command::ForOtherBot
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Removes every `@botname` (case-insensitive, as a whole word) and tidies
/// the gap. `None` when the bot is not mentioned.
fn strip_mention(text: &str, bot: &str) -> Option<String> {
    if bot.is_empty() {
        return None;
    }
    let needle = format!("@{}", bot.to_ascii_lowercase());
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut found = false;
    let mut from = 0;
    // ASCII lower-casing keeps byte offsets, so indices into `lower` are
    // valid in `text`.
    while let Some(pos) = lower[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_word(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_word(c));
        if before_ok && after_ok {
            out.push_str(&text[last..start]);
            last = end;
            found = true;
        }
        from = end;
    }
    if !found {
        return None;
    }
    out.push_str(&text[last..]);
    Some(tidy(&out))
}

fn strip_trigger(text: &str, trigger: &str) -> Option<String> {
    let t = text.trim_start();
    let head = t.get(..trigger.len())?;
    if !head.eq_ignore_ascii_case(trigger) {
        return None;
    }
    let rest = &t[trigger.len()..];
    // "!bot" must not match "!botany".
    if trigger.chars().next_back().is_some_and(is_word) && rest.chars().next().is_some_and(is_word)
    {
        return None;
    }
    Some(tidy(rest))
}

/// Collapses the double spaces a removed mention leaves and drops the
/// punctuation that addressed it ("@bot, hi" → "hi").
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.split('\n') {
        if !out.is_empty() {
            out.push('\n');
        }
        let mut prev_space = false;
        for c in line.chars() {
            if c == ' ' {
                if !prev_space {
                    out.push(c);
                }
                prev_space = true;
            } else {
                out.push(c);
                prev_space = false;
            }
        }
    }
    out.trim().trim_start_matches([',', ':']).trim().to_owned()
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
