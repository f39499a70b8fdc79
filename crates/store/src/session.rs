//! Sessions, their message history, and token usage.

use picoclaw_core::{ChatMessage, OutFile, Role, ToolCall, Usage};
use rusqlite::{OptionalExtension, Row};

use crate::error::StoreError;
use crate::store::{limit, now, to_i64, to_u64, Store};

/// Size of a session's history, to decide when to compact it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub messages: u64,
    /// Characters of content plus serialized tool calls.
    pub chars: u64,
    /// Of those, the characters after the compaction summary: what the
    /// model still sees in full.
    pub live_chars: u64,
    /// The older part has been summarised.
    pub compacted: bool,
}

fn message_from_row(r: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let role: String = r.get(0)?;
    let role = Role::parse(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role {role:?}").into(),
        )
    })?;
    let calls: Option<String> = r.get(2)?;
    let tool_calls: Vec<ToolCall> = match calls {
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into())
        })?,
        None => Vec::new(),
    };
    Ok(ChatMessage {
        role,
        content: r.get(1)?,
        tool_calls,
        tool_call_id: r.get(3)?,
        images: Vec::new(),
    })
}

fn insert_message(
    c: &rusqlite::Connection,
    session: i64,
    inbound_id: Option<i64>,
    msg: &ChatMessage,
    calls: Option<&str>,
) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO messages (session_id, inbound_id, role, content, tool_calls_json,
             tool_call_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        session,
        inbound_id,
        msg.role.as_str(),
        msg.content,
        calls,
        msg.tool_call_id,
        now(),
    ])?;
    Ok(c.last_insert_rowid())
}

impl Store {
    /// The active session for `key` (e.g. "telegram:12345"), created on
    /// first use.
    pub fn active_session(&mut self, key: &str) -> Result<i64, StoreError> {
        self.write_tx(|tx| {
            let found: Option<i64> = tx
                .query_row(
                    "SELECT id FROM sessions WHERE key = ?1 AND archived_at IS NULL",
                    [key],
                    |r| r.get(0),
                )
                .optional()?;
            match found {
                Some(id) => Ok(id),
                None => {
                    tx.prepare_cached("INSERT INTO sessions (key, created_at) VALUES (?1, ?2)")?
                        .execute((key, now()))?;
                    Ok(tx.last_insert_rowid())
                }
            }
        })
    }

    /// Archives the active session for `key` (its messages stay, for the
    /// record) and starts a fresh one: the `/new` command.
    pub fn new_session(&mut self, key: &str) -> Result<i64, StoreError> {
        let at = now();
        self.write_tx(|tx| {
            tx.prepare_cached(
                "UPDATE sessions SET archived_at = ?2 WHERE key = ?1 AND archived_at IS NULL",
            )?
            .execute((key, at))?;
            tx.prepare_cached("INSERT INTO sessions (key, created_at) VALUES (?1, ?2)")?
                .execute((key, at))?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// Records one message. `inbound_id` ties it to the turn that produced
    /// it, so an interrupted turn can resume from its last checkpoint.
    pub fn append_message(
        &self,
        session: i64,
        inbound_id: Option<i64>,
        msg: &ChatMessage,
    ) -> Result<i64, StoreError> {
        let calls = self.calls_json(msg)?;
        self.run(|c| insert_message(c, session, inbound_id, msg, calls.as_deref()))
    }

    /// Records a tool result and queues the files it asks to send to
    /// `channel`/`chat_id`, in ONE transaction: a crash before the commit
    /// re-runs the call, after it the outbox sends the files; never both.
    pub fn append_result_with_files(
        &mut self,
        session: i64,
        inbound_id: Option<i64>,
        msg: &ChatMessage,
        channel: &str,
        chat_id: &str,
        files: &[OutFile],
    ) -> Result<i64, StoreError> {
        let encoded = files
            .iter()
            .map(|f| serde_json::to_string(f).map(|j| (j, f.name.as_str())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Sqlite {
                path: self.path().to_path_buf(),
                reason: format!("cannot encode a file to send: {e}"),
            })?;
        let calls = self.calls_json(msg)?;
        let at = now();
        self.write_tx(|tx| {
            let id = insert_message(tx, session, inbound_id, msg, calls.as_deref())?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO outbox (inbound_id, channel, chat_id, seq, body, file, created_at)
                 VALUES (NULL, ?1, ?2, 0, ?3, ?4, ?5)",
            )?;
            for (json, name) in &encoded {
                insert.execute(rusqlite::params![channel, chat_id, name, json, at])?;
            }
            Ok(id)
        })
    }

    fn calls_json(&self, msg: &ChatMessage) -> Result<Option<String>, StoreError> {
        if msg.tool_calls.is_empty() {
            return Ok(None);
        }
        // Serializing plain strings cannot fail; the error path is kept
        // only so a future field type cannot turn into a panic.
        serde_json::to_string(&msg.tool_calls)
            .map(Some)
            .map_err(|e| StoreError::Sqlite {
                path: self.path().to_path_buf(),
                reason: format!("cannot encode tool calls: {e}"),
            })
    }

    /// The newest `max` messages of a session with an id above `after`,
    /// oldest first (the order a provider wants them), with their ids. `after
    /// = 0` reads the whole recent history; a caller that keeps history in
    /// memory passes the last id it has and reads only what was added.
    pub fn history(
        &self,
        session: i64,
        after: i64,
        max: usize,
    ) -> Result<Vec<(i64, ChatMessage)>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT role, content, tool_calls_json, tool_call_id, id FROM (
                     SELECT id, role, content, tool_calls_json, tool_call_id FROM messages
                     WHERE session_id = ?1 AND id > ?2 ORDER BY id DESC LIMIT ?3
                 ) ORDER BY id",
            )?;
            let rows = stmt.query_map((session, after, limit(max)), |r| {
                Ok((r.get(4)?, message_from_row(r)?))
            })?;
            rows.collect()
        })
    }

    /// The session's compaction summary and the last message id it covers
    /// (0 and `None` before the first compaction).
    pub fn session_summary(&self, session: i64) -> Result<(Option<String>, i64), StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT summary, summary_upto FROM sessions WHERE id = ?1")?
                .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map(|o| o.unwrap_or((None, 0)))
        })
    }

    /// Records a compaction: `summary` stands for every message up to
    /// `upto` in what the model sees. The messages themselves stay.
    pub fn set_session_summary(
        &self,
        session: i64,
        summary: &str,
        upto: i64,
    ) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE sessions SET summary = ?2, summary_upto = max(summary_upto, ?3) WHERE id = ?1",
            )?
            .execute((session, summary, upto))
            .map(drop)
        })
    }

    /// Messages already recorded for one inbound event, oldest first.
    pub fn turn_messages(&self, inbound_id: i64) -> Result<Vec<ChatMessage>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT role, content, tool_calls_json, tool_call_id FROM messages
                 WHERE inbound_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([inbound_id], message_from_row)?;
            rows.collect()
        })
    }

    pub fn session_stats(&self, session: i64) -> Result<SessionStats, StoreError> {
        let (messages, chars, live, upto): (i64, i64, i64, i64) = self.run(|c| {
            c.prepare_cached(
                "SELECT count(m.id),
                        coalesce(sum(length(m.content) + coalesce(length(m.tool_calls_json), 0)), 0),
                        coalesce(sum(CASE WHEN m.id > s.summary_upto
                            THEN length(m.content) + coalesce(length(m.tool_calls_json), 0) END), 0),
                        s.summary_upto
                 FROM sessions s LEFT JOIN messages m ON m.session_id = s.id
                 WHERE s.id = ?1",
            )?
            .query_row([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, Option<i64>>(3)?.unwrap_or(0))))
        })?;
        Ok(SessionStats {
            messages: to_u64(messages),
            chars: to_u64(chars),
            live_chars: to_u64(live),
            compacted: upto > 0,
        })
    }

    /// Records the tokens one provider call used.
    pub fn record_usage(
        &self,
        session: i64,
        provider: &str,
        usage: Usage,
    ) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO usage (session_id, provider, input_tokens, output_tokens, at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((
                session,
                provider,
                to_i64(usage.input_tokens),
                to_i64(usage.output_tokens),
                now(),
            ))
            .map(drop)
        })
    }

    /// Total tokens used by a session across all providers.
    pub fn usage_totals(&self, session: i64) -> Result<Usage, StoreError> {
        let (input, output): (i64, i64) = self.run(|c| {
            c.prepare_cached(
                "SELECT coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
                 FROM usage WHERE session_id = ?1",
            )?
            .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        Ok(Usage {
            input_tokens: to_u64(input),
            output_tokens: to_u64(output),
        })
    }
}
