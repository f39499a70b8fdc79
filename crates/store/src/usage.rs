//! Token usage by chat and time, for daily budgets, `/usage` and
//! `picoclaw usage`. A chat is `channel:chat id`: the session key, without
//! the per-person suffix group sessions may have.

use crate::error::StoreError;
use crate::store::{to_u64, Store};

/// One chat's usage over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatUsage {
    /// `channel:chat id`.
    pub chat: String,
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl ChatUsage {
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// The chat part of a session key (`telegram:42` of `telegram:42:7`), in
/// SQL.
const CHAT_OF_KEY: &str = "CASE WHEN instr(substr(s.key, instr(s.key, ':') + 1), ':') > 0
     THEN substr(s.key, 1, instr(s.key, ':') + instr(substr(s.key, instr(s.key, ':') + 1), ':') - 1)
     ELSE s.key END";

impl Store {
    /// Usage since `since` (unix seconds) per chat, most tokens first;
    /// only `chat`'s when given.
    pub fn usage_by_chat(
        &self,
        since: i64,
        chat: Option<&str>,
    ) -> Result<Vec<ChatUsage>, StoreError> {
        let sql = format!(
            "SELECT {CHAT_OF_KEY} AS chat, count(*), sum(u.input_tokens), sum(u.output_tokens)
             FROM usage u JOIN sessions s ON s.id = u.session_id
             WHERE u.at >= ?1 AND (?2 IS NULL OR {CHAT_OF_KEY} = ?2)
             GROUP BY chat ORDER BY sum(u.input_tokens) + sum(u.output_tokens) DESC, chat"
        );
        self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map((since, chat), |r| {
                Ok(ChatUsage {
                    chat: r.get(0)?,
                    calls: to_u64(r.get(1)?),
                    input_tokens: to_u64(r.get(2)?),
                    output_tokens: to_u64(r.get(3)?),
                })
            })?;
            rows.collect()
        })
    }

    /// Tokens used since `since` by every chat together.
    pub fn tokens_since(&self, since: i64) -> Result<u64, StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM usage WHERE at >= ?1",
            )?
            .query_row([since], |r| r.get::<_, i64>(0))
        })
        .map(to_u64)
    }
}
