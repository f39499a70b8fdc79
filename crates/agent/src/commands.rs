//! Chat commands, in one table. A command is answered locally, in turn
//! order like any message, from a small context (the conversation, the
//! channel, what `/status` reports) and the store; it never sees the
//! agent's internals. One entry can also interrupt: `/stop` is acted on the
//! moment it is ingested (see `Inbox::store`), because the turn it stops is
//! still running. Unknown `/words` go to the model like any text.

use std::time::Duration;

use picoclaw_core::Caps;
use picoclaw_store::Store;

use crate::links::{describe, Link};
use crate::reply::Reply;

/// What a command may know.
#[derive(Debug, Clone)]
pub struct CommandCtx {
    /// Session key of the conversation the command was sent in.
    pub session: String,
    /// The text after the command word, trimmed.
    pub args: String,
    pub channel: String,
    /// Who sent the command (their id on the channel).
    pub sender: String,
    /// The sender is an owner: privileged commands and details.
    pub owner: bool,
    /// `channel:chat id`: whose usage `/usage` shows.
    pub chat: String,
    pub budgets: crate::budget::Budgets,
    pub caps: Caps,
    /// `name/model` of the primary provider.
    pub model: String,
    /// The prompt budget in tokens (`agent.context_window`).
    pub context_window: u32,
    pub uptime: Duration,
    pub links: Vec<(&'static str, Link)>,
}

type Handler = fn(&CommandCtx, &mut Store) -> Reply;

pub(crate) struct Command {
    pub name: &'static str,
    /// One line for `/help`; `None` keeps it out of the list.
    help: Option<&'static str>,
    /// Acted on at arrival: cancels the running turn of its conversation.
    pub interrupts: bool,
    run: Handler,
}

impl Command {
    pub fn run(&self, ctx: &CommandCtx, store: &mut Store) -> Reply {
        (self.run)(ctx, store)
    }
}

const COMMANDS: &[Command] = &[
    Command {
        name: "/start",
        help: None,
        interrupts: false,
        run: help,
    },
    Command {
        name: "/new",
        help: Some("start a fresh conversation"),
        interrupts: false,
        run: new_session,
    },
    Command {
        name: "/status",
        help: Some("model, conversation size, uptime and memory use"),
        interrupts: false,
        run: status,
    },
    Command {
        name: "/usage",
        help: Some("tokens and model calls today"),
        interrupts: false,
        run: usage,
    },
    Command {
        name: "/stop",
        help: Some("stop the answer in progress"),
        interrupts: true,
        // Reached only when nothing was running for this conversation: an
        // interrupting /stop is answered by the turn it stopped.
        run: |_, _| Reply::ok("Nothing is running."),
    },
    Command {
        name: "/pair",
        help: Some("CODE: approve someone's pairing code (owners)"),
        interrupts: false,
        run: crate::pairing::pair_command,
    },
    Command {
        name: "/help",
        help: Some("this text"),
        interrupts: false,
        run: help,
    },
];

/// The command word of a message (`/new`), if it is one.
pub(crate) fn command_word(text: &str) -> Option<&str> {
    let word = text.split_whitespace().next()?;
    word.starts_with('/').then_some(word)
}

/// The table entry for `text`, and its arguments.
pub(crate) fn find(text: &str) -> Option<(&'static Command, String)> {
    let word = command_word(text)?;
    let cmd = COMMANDS.iter().find(|c| c.name == word)?;
    let args = text.trim_start()[word.len()..].trim().to_string();
    Some((cmd, args))
}

/// Whether `text` is a command that acts at arrival.
pub(crate) fn interrupts(text: &str) -> bool {
    find(text).is_some_and(|(c, _)| c.interrupts)
}

fn help(_: &CommandCtx, _: &mut Store) -> Reply {
    let mut text = String::from(
        "I'm picoclaw, your assistant. Send me a message and I'll answer, using my tools when needed.\n\nCommands:",
    );
    for c in COMMANDS {
        if let Some(h) = c.help {
            text.push_str(&format!("\n{} — {h}", c.name));
        }
    }
    Reply::ok(text)
}

fn new_session(ctx: &CommandCtx, store: &mut Store) -> Reply {
    match store.new_session(&ctx.session) {
        Ok(_) => Reply::ok("Started a fresh conversation."),
        Err(e) => Reply::failed(format!("Couldn't start a new conversation: {e}")),
    }
}

/// Everyone sees the model and their conversation; owners also see the
/// host: uptime, memory and the channels' links.
fn status(ctx: &CommandCtx, store: &mut Store) -> Reply {
    let mut text = format!("Model: {}", ctx.model);
    if ctx.owner {
        let up = ctx.uptime.as_secs();
        let rss = rss_kib()
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| String::from("unknown"));
        text.push_str(&format!(
            "\nUptime: {}h {}m {}s\nMemory (RSS): {rss}",
            up / 3600,
            (up / 60) % 60,
            up % 60
        ));
    }
    let stats = store.active_session(&ctx.session).and_then(|id| {
        let st = store.session_stats(id)?;
        Ok((st, store.usage_totals(id)?))
    });
    match stats {
        Ok((st, usage)) => {
            text.push_str(&format!(
                "\nThis conversation: {} messages, {} characters\nContext: about {} of {} tokens{}\nTokens used: {} in, {} out",
                st.messages,
                st.chars,
                st.live_chars.div_ceil(4),
                ctx.context_window,
                if st.compacted { " (older part summarised)" } else { "" },
                usage.input_tokens,
                usage.output_tokens
            ));
        }
        Err(e) => text.push_str(&format!("\nConversation stats unavailable: {e}")),
    }
    if ctx.owner {
        for (name, link) in &ctx.links {
            text.push_str(&format!("\nChannel {name}: {}", describe(link)));
        }
    }
    Reply::ok(text)
}

fn usage(ctx: &CommandCtx, store: &mut Store) -> Reply {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (today, _) = crate::budget::day_bounds(now);
    let mine = match store.usage_by_chat(today, Some(&ctx.chat)) {
        Ok(rows) => rows.into_iter().next().unwrap_or_default(),
        Err(e) => return Reply::failed(format!("Usage is unavailable: {e}")),
    };
    let mut text = format!(
        "Today (UTC) in this chat: {} tokens ({} in, {} out) in {} model calls.",
        mine.tokens(),
        mine.input_tokens,
        mine.output_tokens,
        mine.calls
    );
    let b = ctx.budgets;
    if b.per_chat > 0 {
        text.push_str(&format!("\nDaily budget per chat: {} tokens.", b.per_chat));
    }
    if b.global > 0 {
        if let Ok(all) = store.tokens_since(today) {
            text.push_str(&format!("\nAll chats today: {all} of {} tokens.", b.global));
        }
    }
    Reply::ok(text)
}

/// VmRSS of this process in KiB.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_recognised_by_their_first_word() {
        assert_eq!(command_word("/new"), Some("/new"));
        assert_eq!(command_word("  /status please"), Some("/status"));
        assert_eq!(command_word("hello /new"), None);
        assert_eq!(command_word(""), None);
        assert_eq!(
            find("  /status  now ").map(|(c, a)| (c.name, a)),
            Some(("/status", String::from("now")))
        );
        assert!(
            find("/unknown").is_none(),
            "unknown commands go to the model"
        );
    }

    #[test]
    fn only_stop_acts_at_arrival() {
        let interrupting: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| c.interrupts)
            .map(|c| c.name)
            .collect();
        assert_eq!(interrupting, ["/stop"]);
        assert!(interrupts("/stop"));
        assert!(!interrupts("/new"));
    }

    #[test]
    fn help_lists_every_visible_command_once() {
        let mut store = Store::open_in_memory().unwrap();
        let ctx = CommandCtx {
            session: String::from("t:1"),
            args: String::new(),
            channel: String::from("t"),
            sender: String::from("1"),
            owner: true,
            chat: String::from("t:1"),
            budgets: Default::default(),
            caps: Caps::default(),
            model: String::from("m"),
            context_window: 16_000,
            uptime: Duration::ZERO,
            links: Vec::new(),
        };
        let text = help(&ctx, &mut store).text;
        for c in ["/new", "/status", "/usage", "/stop", "/pair", "/help"] {
            assert_eq!(text.matches(&format!("\n{c} — ")).count(), 1, "{text}");
        }
        assert!(!text.contains("/start"));
    }
}
