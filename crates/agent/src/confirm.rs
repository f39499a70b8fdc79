//! Tool calls that run only after the user says yes (`confirm = ["exec"]`).
//!
//! The turn stores the question (a 'waiting' row) and queues it in the
//! chat through the outbox, with Yes/No buttons where the channel has
//! them, then blocks until the answer, the timeout (no) or `/stop`. The
//! answer is an inbound event like `/stop`: it is acted on at arrival
//! ([`Pending::take`], called from `Inbox::store`) and never stored as a
//! message. Only one turn runs at a time, so at most one question waits.
//!
//! A restart while waiting counts as no: the resumed turn finds the row
//! still 'waiting', marks it 'interrupted' and tells the model the call did
//! not run. A button pressed for a question that is no longer waiting is
//! dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use picoclaw_core::{debug, info, Button, Caller, Cancel, ChatKind, Inbound, InboundKind, Sink};
use tokio::sync::{oneshot, Notify};

use crate::access::Access;

const DATA_PREFIX: &str = "confirm:";

/// The question a turn is waiting on.
struct Waiting {
    id: i64,
    channel: String,
    chat_id: String,
    /// Who started the turn; they (or an owner) answer.
    asker: String,
    answer: oneshot::Sender<bool>,
}

/// The waiting question, if any.
#[derive(Default)]
pub(crate) struct Pending(Mutex<Option<Waiting>>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waiting>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Acts on `m` if it answers the waiting question (or is a button
    /// press, which is never a message); returns whether `m` was consumed.
    pub fn take(&self, m: &Inbound, access: &Access) -> bool {
        let (yes, id) = match &m.kind {
            InboundKind::Button(data) => match parse_data(data) {
                Some((id, yes)) => (yes, Some(id)),
                None => {
                    debug!("{}: ignoring a press on an unknown button", m.channel);
                    return true;
                }
            },
            InboundKind::Text(t) => match yes_or_no(t) {
                Some(yes) => (yes, None),
                None => return false,
            },
            _ => return false,
        };
        let mut slot = self.lock();
        let fits = slot.as_ref().is_some_and(|w| {
            id.is_none_or(|id| id == w.id)
                && w.channel == m.channel
                && w.chat_id == m.chat_id
                && (w.asker == m.sender.id || access.is_owner(&m.channel, &m.sender.id))
        });
        if !fits {
            // A typed "yes" nobody asked for is an ordinary message.
            return id.is_some();
        }
        if let Some(w) = slot.take() {
            info!(
                "{}: question {} answered {} by user {}",
                m.channel,
                w.id,
                if yes { "yes" } else { "no" },
                m.sender.id
            );
            let _ = w.answer.send(yes);
        }
        true
    }

    fn set(&self, w: Waiting) {
        *self.lock() = Some(w);
    }

    /// Forgets question `id` (answered, timed out, or its turn dropped).
    fn clear(&self, id: i64) {
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|w| w.id == id) {
            *slot = None;
        }
    }
}

/// `confirm:<id>:yes|no`.
fn parse_data(data: &str) -> Option<(i64, bool)> {
    let (id, answer) = data.strip_prefix(DATA_PREFIX)?.split_once(':')?;
    let yes = match answer {
        "yes" => true,
        "no" => false,
        _ => return None,
    };
    Some((id.parse().ok()?, yes))
}

/// A typed answer: yes/y or no/n, any case, trailing `.`/`!` allowed.
fn yes_or_no(text: &str) -> Option<bool> {
    let t = text
        .trim()
        .trim_end_matches(['.', '!'])
        .to_ascii_lowercase();
    match t.as_str() {
        "yes" | "y" => Some(true),
        "no" | "n" => Some(false),
        _ => None,
    }
}

/// The buttons of question `id`.
pub(crate) fn buttons(id: i64) -> Vec<Button> {
    vec![
        Button {
            label: String::from("Yes"),
            data: format!("{DATA_PREFIX}{id}:yes"),
        },
        Button {
            label: String::from("No"),
            data: format!("{DATA_PREFIX}{id}:no"),
        },
    ]
}

/// How a turn asks: the chat's sink (to render the question and know
/// whether it has buttons), its outbox, where the answer arrives, and how
/// long to wait.
pub(crate) struct Asker<'a> {
    pub sink: &'a dyn Sink,
    pub wake: Arc<Notify>,
    pub pending: &'a Pending,
    pub timeout: Duration,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Yes,
    No,
    Timeout,
    /// `/stop` (or the turn being dropped).
    Cancelled,
}

/// Clears the question when the wait ends in any way, the turn's future
/// being dropped at shutdown included.
struct Guard<'a>(&'a Pending, i64);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.clear(self.1);
    }
}

impl Asker<'_> {
    /// Waits for the answer to question `id`, which was just stored and
    /// queued for the caller's chat.
    pub async fn wait(&self, id: i64, caller: &Caller, cancel: &Cancel) -> Answer {
        let (tx, mut rx) = oneshot::channel();
        self.pending.set(Waiting {
            id,
            channel: caller.channel.clone(),
            chat_id: caller.chat_id.clone(),
            asker: caller.sender_id.clone(),
            answer: tx,
        });
        let _guard = Guard(self.pending, id);
        self.wake.notify_one();
        let deadline = tokio::time::sleep(self.timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                got = &mut rx => return match got {
                    Ok(true) => Answer::Yes,
                    Ok(false) => Answer::No,
                    Err(_) => Answer::Cancelled,
                },
                _ = &mut deadline => return Answer::Timeout,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if cancel.is_cancelled() {
                        return Answer::Cancelled;
                    }
                }
            }
        }
    }

    /// The question, in Markdown.
    pub fn question(&self, tool: &str, arguments: &str, chat: ChatKind) -> String {
        let shown = shown_arguments(arguments);
        let secs = self.timeout.as_secs();
        let within = if secs >= 120 && secs % 60 == 0 {
            format!("{} minutes", secs / 60)
        } else {
            format!("{secs} seconds")
        };
        let how = if self.sink.caps().buttons {
            String::from("Tap **Yes** to run it or **No** to refuse")
        } else {
            String::from("Reply **yes** to run it or **no** to refuse")
        };
        let who = match chat {
            ChatKind::Group => " (the person who asked, or an owner)",
            ChatKind::Direct => "",
        };
        format!("May I run `{tool}`?\n\n```\n{shown}\n```\n\n{how}{who}, within {within}; no answer means no.")
    }
}

/// What the user is asked to approve: the exact command for `exec`, the
/// arguments as sent otherwise; never long enough to split the question.
fn shown_arguments(arguments: &str) -> String {
    let value: Option<serde_json::Value> = serde_json::from_str(arguments).ok();
    let text = match value.as_ref().and_then(|v| v.get("command")?.as_str()) {
        Some(cmd)
            if value
                .as_ref()
                .and_then(|v| v.as_object())
                .is_some_and(|o| o.len() == 1) =>
        {
            cmd.to_owned()
        }
        _ => arguments.trim().to_owned(),
    };
    // A fence inside would end the code block early.
    crate::prompt::cut(&text.replace("```", "'''"), 1500).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_yes_or_no_words_and_button_data_names_its_question() {
        for (t, want) in [
            ("yes", Some(true)),
            (" Y ", Some(true)),
            ("No.", Some(false)),
        ] {
            assert_eq!(yes_or_no(t), want, "{t:?}");
        }
        for t in ["yes please", "nope", "", "/yes"] {
            assert_eq!(yes_or_no(t), None, "{t:?}");
        }
        let b = buttons(17);
        assert_eq!(parse_data(&b[0].data), Some((17, true)));
        assert_eq!(parse_data(&b[1].data), Some((17, false)));
        assert_eq!(parse_data("confirm:x:yes"), None);
        assert_eq!(parse_data("other:1:yes"), None);
        assert!(b.iter().all(|b| b.data.len() <= 64));
    }

    #[test]
    fn the_question_shows_the_exact_command_and_other_arguments_as_sent() {
        assert_eq!(
            shown_arguments(r#"{"command":"rm -rf build"}"#),
            "rm -rf build"
        );
        assert_eq!(
            shown_arguments(r#"{"command":"ls","timeout_secs":5}"#),
            r#"{"command":"ls","timeout_secs":5}"#
        );
        assert_eq!(shown_arguments("echo ```x```"), "echo '''x'''");
    }
}
