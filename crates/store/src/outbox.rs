//! Rendered reply chunks waiting to be sent.

use picoclaw_core::{Button, OutFile};
use rusqlite::{Connection, OptionalExtension, Row};

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
    /// Buttons to show under this chunk (a yes/no question); usually none.
    pub buttons: Vec<Button>,
}

fn outbox_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    let file: Option<String> = r.get(8)?;
    let file = match file {
        Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(8, rusqlite::types::Type::Text, e.into())
        })?),
        None => None,
    };
    let buttons: Option<String> = r.get(9)?;
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
        buttons: buttons
            .as_deref()
            .map(buttons_from_json)
            .unwrap_or_default(),
    })
}

fn buttons_to_json(buttons: &[Button]) -> String {
    let pairs: Vec<[&str; 2]> = buttons.iter().map(|b| [&*b.label, &*b.data]).collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// Unreadable JSON yields no buttons: the text alone still asks.
fn buttons_from_json(json: &str) -> Vec<Button> {
    serde_json::from_str::<Vec<[String; 2]>>(json)
        .unwrap_or_default()
        .into_iter()
        .map(|[label, data]| Button { label, data })
        .collect()
}

/// Chunks to queue for one chat.
pub(crate) struct Queued<'a> {
    pub inbound_id: Option<i64>,
    pub channel: &'a str,
    pub chat_id: &'a str,
    pub reply_to: Option<&'a str>,
    pub chunks: &'a [String],
    /// Go under the last chunk.
    pub buttons: &'a [Button],
}

/// Inserts queued chunks (seq 0..n) inside the caller's transaction.
pub(crate) fn insert_chunks(tx: &Connection, q: &Queued<'_>, at: i64) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (inbound_id, channel, chat_id, reply_to, seq, body, buttons,
             created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let last = q.chunks.len().saturating_sub(1);
    for (seq, body) in q.chunks.iter().enumerate() {
        let json = (seq == last && !q.buttons.is_empty()).then(|| buttons_to_json(q.buttons));
        insert.execute(rusqlite::params![
            q.inbound_id,
            q.channel,
            q.chat_id,
            q.reply_to,
            seq as i64,
            body,
            json,
            at
        ])?;
    }
    Ok(())
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
                let q = Queued {
                    inbound_id,
                    channel,
                    chat_id,
                    reply_to,
                    chunks,
                    buttons: &[],
                };
                insert_chunks(tx, &q, at)?;
            }
            if let Some(id) = inbound_id {
                settle(tx, id, "answered", at)?;
            }
            Ok(())
        })
    }

    /// Chunks still to send, in queue order (which keeps each reply's
    /// chunks in seq order).
    pub fn pending_outbox(&self, channel: &str, max: usize) -> Result<Vec<OutboxRow>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, inbound_id, channel, chat_id, reply_to, seq, body, attempts, file,
                     buttons
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

/// Moves event `id` to `status` inside the caller's transaction.
pub(crate) fn settle(tx: &Connection, id: i64, status: &str, at: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE inbound SET status = ?2, error = NULL, updated_at = ?3 WHERE id = ?1",
    )?
    .execute((id, status, at))
    .map(drop)
}
