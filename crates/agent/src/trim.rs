//! Fits history into the token budget. Tokens are estimated (≈ 4 bytes per
//! token plus a per-message overhead) — no tokenizer fits in our size
//! budget, and the estimate only needs to be conservative.

use picoclaw_core::{ChatMessage, Role};

pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

pub fn message_tokens(m: &ChatMessage) -> usize {
    let calls: usize = m
        .tool_calls
        .iter()
        .map(|c| estimate_tokens(&c.name) + estimate_tokens(&c.arguments) + 8)
        .sum();
    estimate_tokens(&m.content) + calls + 4
}

/// Drops the oldest messages until the rest fit `budget` tokens. The result
/// always starts at a user message (providers reject a history that opens
/// with a tool result or an assistant turn), so a tool call and its results
/// are kept or dropped together. The newest user message is always kept,
/// even if it alone is over budget.
#[cfg(test)]
pub fn fit(history: Vec<ChatMessage>, budget: usize) -> Vec<ChatMessage> {
    let start = keep_from(&history, |m| m, budget);
    history.into_iter().skip(start).collect()
}

/// Where the part of `items` that [`fit`] keeps begins: callers copy only
/// that part.
pub fn keep_from<T>(items: &[T], msg: impl Fn(&T) -> &ChatMessage, budget: usize) -> usize {
    let mut total: usize = items.iter().map(|i| message_tokens(msg(i))).sum();
    let last_user = items
        .iter()
        .rposition(|i| msg(i).role == Role::User)
        .unwrap_or(0);
    let mut start = 0;
    while start < items.len() {
        let at_user = msg(&items[start]).role == Role::User;
        if at_user && (total <= budget || start >= last_user) {
            break;
        }
        total = total.saturating_sub(message_tokens(msg(&items[start])));
        start += 1;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use picoclaw_core::ToolCall;

    fn call_msg(id: &str) -> ChatMessage {
        ChatMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_calls: vec![ToolCall {
                id: id.into(),
                name: "read_file".into(),
                arguments: "{}".into(),
            }],
            tool_call_id: None,
            images: Vec::new(),
        }
    }

    #[test]
    fn oldest_turns_are_dropped_whole_and_history_starts_with_a_user_message() {
        let h = vec![
            ChatMessage::user("a".repeat(400)),
            call_msg("1"),
            ChatMessage::tool_result("1", "x".repeat(400)),
            ChatMessage::assistant("done"),
            ChatMessage::user("second question"),
            ChatMessage::assistant("second answer"),
            ChatMessage::user("third"),
        ];
        let out = fit(h.clone(), 40);
        assert_eq!(out.first().unwrap().content, "second question");
        assert_eq!(out.len(), 3);
        let all = fit(h.clone(), 10_000);
        assert_eq!(all, h);
    }

    #[test]
    fn the_newest_user_message_survives_an_impossible_budget() {
        let h = vec![
            ChatMessage::user("old"),
            ChatMessage::assistant("a"),
            ChatMessage::user("x".repeat(1000)),
        ];
        let out = fit(h, 5);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].content.len(), 1000);
    }

    #[test]
    fn a_turn_in_progress_keeps_its_tool_results() {
        let h = vec![
            ChatMessage::user("q"),
            call_msg("1"),
            ChatMessage::tool_result("1", "r".repeat(4000)),
        ];
        let out = fit(h.clone(), 10);
        assert_eq!(out, h, "the current turn is never cut");
    }
}
