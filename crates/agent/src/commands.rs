//! Chat commands: /start, /help, /new, /status. (/stop is handled by the
//! runtime, which owns the running turn.)

use picoclaw_store::InboundRow;

use crate::turn::{Agent, Reply};

pub const HELP: &str = "I'm picoclaw, your assistant. Send me a message and I'll answer, using my tools when needed.\n\n\
Commands:\n\
/new — start a fresh conversation\n\
/status — model, conversation size, uptime and memory use\n\
/stop — stop the answer in progress\n\
/help — this text";

/// The command word of a message (`/new`), if it is one.
pub fn command_of(text: &str) -> Option<&str> {
    let word = text.split_whitespace().next()?;
    word.starts_with('/').then_some(word)
}

pub async fn handle(agent: &Agent, row: &InboundRow, text: &str) -> Option<Reply> {
    let cmd = command_of(text)?;
    let key = agent.session_key(&row.inbound);
    Some(match cmd {
        "/start" | "/help" => Reply {
            text: HELP.to_string(),
            failed: false,
        },
        "/new" => match agent.db.call(move |s| s.new_session(&key)).await {
            Ok(_) => Reply {
                text: String::from("Started a fresh conversation."),
                failed: false,
            },
            Err(e) => Reply {
                text: format!("Couldn't start a new conversation: {e}"),
                failed: true,
            },
        },
        "/status" => status(agent, key).await,
        // Unknown commands go to the model like any text.
        _ => return None,
    })
}

async fn status(agent: &Agent, key: String) -> Reply {
    let stats = agent
        .db
        .call(move |s| {
            let id = s.active_session(&key)?;
            Ok((s.session_stats(id)?, s.usage_totals(id)?))
        })
        .await;
    let uptime = agent.started.elapsed().as_secs();
    let rss = rss_kib()
        .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| String::from("unknown"));
    let mut text = format!(
        "Model: {}\nUptime: {}h {}m {}s\nMemory (RSS): {rss}",
        agent.provider.label(),
        uptime / 3600,
        (uptime / 60) % 60,
        uptime % 60
    );
    match stats {
        Ok((st, usage)) => text.push_str(&format!(
            "\nThis conversation: {} messages, {} characters\nTokens used: {} in, {} out",
            st.messages, st.chars, usage.input_tokens, usage.output_tokens
        )),
        Err(e) => text.push_str(&format!("\nConversation stats unavailable: {e}")),
    }
    Reply {
        text,
        failed: false,
    }
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
        assert_eq!(command_of("/new"), Some("/new"));
        assert_eq!(command_of("  /status please"), Some("/status"));
        assert_eq!(command_of("hello /new"), None);
        assert_eq!(command_of(""), None);
    }
}
