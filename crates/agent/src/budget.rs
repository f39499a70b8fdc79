//! Daily token budgets: per chat and for everything together. When one is
//! spent, the chat's turns wait for the next day (midnight UTC) instead of
//! being dropped, and the chat is told once.

use picoclaw_store::{Store, StoreError};

const DAY: i64 = 86_400;

/// Tokens a day; 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budgets {
    pub per_chat: u64,
    pub global: u64,
}

impl Budgets {
    pub fn unlimited(&self) -> bool {
        self.per_chat == 0 && self.global == 0
    }
}

/// What to do with a turn.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Go,
    /// Wait until `until`; tell the chat `notice` (the first time today).
    Wait {
        until: i64,
        notice: Option<String>,
    },
}

/// Start of the UTC day containing `now`, and of the next one.
pub(crate) fn day_bounds(now: i64) -> (i64, i64) {
    let start = now - now.rem_euclid(DAY);
    (start, start + DAY)
}

/// Blocking: reads today's usage of `channel:chat_id` and of everyone.
pub(crate) fn check(
    store: &Store,
    b: Budgets,
    channel: &str,
    chat_id: &str,
    now: i64,
) -> Result<Verdict, StoreError> {
    if b.unlimited() {
        return Ok(Verdict::Go);
    }
    let (today, tomorrow) = day_bounds(now);
    let chat = format!("{channel}:{chat_id}");
    let mut spent = None;
    if b.per_chat > 0 {
        let used = store
            .usage_by_chat(today, Some(&chat))?
            .first()
            .map_or(0, |u| u.tokens());
        if used >= b.per_chat {
            spent = Some(format!(
                "Today's token budget for this chat is used up ({used} of {} tokens).",
                b.per_chat
            ));
        }
    }
    if spent.is_none() && b.global > 0 {
        let used = store.tokens_since(today)?;
        if used >= b.global {
            spent = Some(format!(
                "Today's token budget for this assistant is used up ({used} of {} tokens).",
                b.global
            ));
        }
    }
    let Some(why) = spent else {
        return Ok(Verdict::Go);
    };
    let told = store.chat_deferred_until(channel, chat_id, tomorrow)?;
    Ok(Verdict::Wait {
        until: tomorrow,
        notice: (!told).then(|| {
            format!("{why} I'll answer your messages after midnight UTC; nothing is lost.")
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnight_to_midnight() {
        assert_eq!(day_bounds(86_400 * 3 + 5), (86_400 * 3, 86_400 * 4));
        assert_eq!(day_bounds(86_400 * 3), (86_400 * 3, 86_400 * 4));
    }
}
