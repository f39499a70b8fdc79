//! Rendered reply chunks waiting to be sent.

use picoclaw_core::OutFile;
use rusqlite::{OptionalExtension, Row};

use crate::error::StoreError;
use crate::store::{limit, now, Store};

/// One chunk to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    /// The event this answers; None for proactive messages.
    pub inbound_id: Option<i64>,
    pub channel: String,
    pub chat_id: String,
    pub reply_to: Option<String>,
    /// Position of the chunk within its reply, from 0.
    pub seq: i64,
    pub body: String,
    /// Failed send attempts so far.
    pub attempts: i64,
    /// A file to upload instead of the text `body` (which then is its
    /// name).
    pub file: Option<OutFile>,
}

fn outbox_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let file: Option<String> = r.get(8)?;
    let file = match file {
        Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, e.into())
        })?),
        None => None,
    };
    Ok(OutboxRow {
        id: r.get(0)?,
        inbound_id: r.get(1)?,
        channel: r.get(2)?,
        chat_id: r.get(3)?,
        reply_to: r.get(4)?,
        seq: r.get(5)?,
        body: r.get(6)?,
        attempts: r.get(7)?,
        file,
    })
}

impl Store {
    /// Queues a reply's chunks (seq 0..n) and, when it answers an inbound
    /// event, marks that event 'answered' — in ONE transaction, so a crash
    /// leaves either an unanswered event (the turn is redone) or a queued
    /// reply, never both or neither. Idempotent per inbound: if chunks for
    /// `inbound_id` are already queued (a resumed turn), nothing is added.
    pub fn enqueue_reply(
        &mut self,
        inbound_id: Option<i64>,
        channel: &str,
        chat_id: &str,
        reply_to: Option<&str>,
        chunks: &[String],
    ) -> Result<(), StoreError> {
        let at = now();
        self.write_tx(|tx| {
            let already = match inbound_id {
                Some(id) => tx
                    .query_row(
                        "SELECT 1 FROM outbox WHERE inbound_id = ?1 LIMIT 1",
                        [id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some(),
                None => false,
            };
            if !already {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO outbox (inbound_id, channel, chat_id, reply_to, seq, body,
                         created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for (seq, body) in (0_i64..).zip(chunks) {
                    insert.execute(rusqlite::params![
                        inbound_id, channel, chat_id, reply_to, seq, body, at
                    ])?;
                }
            }
            if let Some(id) = inbound_id {
                tx.prepare_cached(
                    "UPDATE inbound SET status = 'answered', error = NULL, updated_at = ?2
                     WHERE id = ?1",
                )?
                .execute((id, at))?;
            }
            Ok(())
        })
    }

    /// Chunks still to send, in queue order (which keeps each reply's
    /// chunks in seq order).
    pub fn pending_outbox(&self, channel: &str, max: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, inbound_id, channel, chat_id, reply_to, seq, body, attempts, file
                 FROM outbox WHERE status = 'pending' AND channel = ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = stmt.query_map(rusqlite::params![channel, limit(max)], outbox_from_row)?;
            rows.collect()
        })
    }

    /// The chunk was delivered.
    pub fn mark_sent(&self, id: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, error = NULL WHERE id = ?1",
            )?
            .execute((id, now()))
            .map(drop)
        })
    }

    /// The channel refused the chunk for good; it will not be retried.
    pub fn mark_send_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE outbox SET status = 'failed', error = ?2, attempts = attempts + 1
                 WHERE id = ?1",
            )?
            .execute((id, error))
            .map(drop)
        })
    }

    /// Counts a transient send failure; the chunk stays pending.
    pub fn bump_attempt(&self, id: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?1")?
                .execute([id])
                .map(drop)
        })
    }
}
