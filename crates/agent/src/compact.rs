//! Compaction: when a session's history nears the context window, the
//! older turns are summarised by the model into a summary that stands for
//! them in every later prompt. The raw turns stay in the store; the user is
//! told in one line. A provider's context-length error triggers the same,
//! then one retry — never a silent cut.

use picoclaw_core::{ChatMessage, CompletionRequest, Role};

use crate::history::Loaded;
use crate::prompt::cut;
use crate::trim::message_tokens;

/// What the kept tail may take of the context window after a compaction.
pub(crate) const KEEP_PERCENT: usize = 40;
/// Each message's text is cut to this in the transcript the model
/// summarises: a 16 KiB tool result needs no more to be summed up.
const TRANSCRIPT_MESSAGE_CAP: usize = 1_500;
/// The transcript as a whole, so the summary request itself fits.
const TRANSCRIPT_CAP: usize = 48 * 1024;

const INSTRUCTIONS: &str = "You condense conversations. Summarise the conversation below for your own future reference in at most 250 words: facts about the user, decisions, open tasks, names of files and what tools found that still matters. Use the conversation's language. Output only the summary.";

/// The line the user sees in the reply of a turn that compacted.
pub(crate) const NOTICE: &str =
    "_(Earlier messages were summarised to keep this conversation within the model's context.)_";

/// Which messages to summarise: those before `cut` (a user message, never
/// after the turn in progress began).
pub(crate) struct Plan {
    pub cut: usize,
    /// Id of the last summarised message: the summary's `upto`.
    pub upto: i64,
}

/// The earliest user-message boundary from which the tail fits
/// `keep_tokens`; never past the last user message (the turn in progress).
/// `None` when there is nothing older to summarise.
pub(crate) fn plan(loaded: &Loaded, keep_tokens: usize) -> Option<Plan> {
    let msgs = &loaded.messages;
    let last_user = msgs.iter().rposition(|(_, m)| m.role == Role::User)?;
    let mut tail: usize = msgs[last_user..]
        .iter()
        .map(|(_, m)| message_tokens(m))
        .sum();
    let mut cut = last_user;
    for i in (0..last_user).rev() {
        tail += message_tokens(&msgs[i].1);
        if tail > keep_tokens {
            break;
        }
        if msgs[i].1.role == Role::User {
            cut = i;
        }
    }
    if cut == 0 {
        return None;
    }
    Some(Plan {
        cut,
        upto: msgs[cut - 1].0,
    })
}

/// The request that asks for the summary of `msgs`, continuing `previous`.
pub(crate) fn transcript(previous: Option<&str>, msgs: &[(i64, ChatMessage)]) -> String {
    let mut out = String::new();
    if let Some(p) = previous {
        out.push_str("Summary so far:\n");
        out.push_str(p);
        out.push_str("\n\nConversation since:\n");
    }
    for (_, m) in msgs {
        let who = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool result",
            Role::System => "system",
        };
        out.push_str(who);
        out.push_str(": ");
        out.push_str(cut(m.content.trim(), TRANSCRIPT_MESSAGE_CAP));
        for c in &m.tool_calls {
            out.push_str(&format!(" [called {} {}]", c.name, cut(&c.arguments, 200)));
        }
        out.push('\n');
        if out.len() > TRANSCRIPT_CAP {
            out.truncate(cut(&out, TRANSCRIPT_CAP).len());
            out.push_str("\n[… earlier part cut]\n");
            break;
        }
    }
    out
}

pub(crate) fn request<'a>(messages: &'a [ChatMessage]) -> CompletionRequest<'a> {
    CompletionRequest {
        system: INSTRUCTIONS,
        messages,
        tools: &[],
    }
}

/// The system prompt with the session's summary appended.
pub(crate) fn with_summary(system: &str, summary: Option<&str>) -> String {
    match summary {
        Some(s) => format!("{system}\n\n## Earlier in this conversation (summary)\n{s}"),
        None => system.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(roles: &[(Role, usize)]) -> Loaded {
        Loaded {
            summary: None,
            messages: roles
                .iter()
                .enumerate()
                .map(|(i, (r, len))| {
                    (
                        i as i64 + 10,
                        ChatMessage {
                            role: *r,
                            content: "x".repeat(*len),
                            tool_calls: Vec::new(),
                            tool_call_id: None,
                            images: Vec::new(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn the_cut_is_at_a_user_message_and_keeps_the_turn_in_progress() {
        use Role::*;
        let l = loaded(&[
            (User, 400),
            (Assistant, 400),
            (User, 400),
            (Tool, 400),
            (User, 40),
            (Assistant, 40),
            (User, 40),
        ]);
        // Room for the last two exchanges only.
        let p = plan(&l, 60).unwrap();
        assert_eq!((p.cut, p.upto), (4, 13));
        // Even with no room, the turn in progress (the last user message on)
        // is kept, and everything before it summarised.
        let p = plan(&l, 0).unwrap();
        assert_eq!(p.cut, 6);
    }

    #[test]
    fn nothing_to_summarise_when_everything_fits_or_only_the_current_turn_exists() {
        use Role::*;
        assert!(plan(&loaded(&[(User, 10), (Assistant, 10), (User, 10)]), 10_000).is_none());
        assert!(plan(&loaded(&[(User, 9000), (Tool, 9000)]), 10).is_none());
    }

    #[test]
    fn the_transcript_names_speakers_continues_the_summary_and_is_capped() {
        let msgs = vec![
            (1, ChatMessage::user("hello")),
            (2, ChatMessage::tool_result("c1", "y".repeat(10_000))),
        ];
        let t = transcript(Some("Ada likes tea."), &msgs);
        assert!(t.starts_with(
            "Summary so far:\nAda likes tea.\n\nConversation since:\nuser: hello\ntool result: yyy"
        ));
        assert!(t.len() < 2_000, "{}", t.len());
    }
}
