//! Channel cursors and inbound events: the exactly-once ingest.

use picoclaw_core::{ChatKind, Inbound, InboundKind, ScheduledTurn, Sender};
use rusqlite::{OptionalExtension, Row};

use crate::error::StoreError;
use crate::store::{limit, now, Store};

/// Where an inbound event is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundStatus {
    /// Stored, not yet picked up.
    Pending,
    /// A turn is running (or was, when the process died: resume it).
    Working,
    /// The reply is in the outbox.
    Answered,
    /// Gave up; `error` says why.
    Failed,
    /// Deliberately not answered (e.g. a command that needs no reply).
    Ignored,
}

impl InboundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundStatus::Pending => "pending",
            InboundStatus::Working => "working",
            InboundStatus::Answered => "answered",
            InboundStatus::Failed => "failed",
            InboundStatus::Ignored => "ignored",
        }
    }

    pub fn parse(s: &str) -> Option<InboundStatus> {
        Some(match s {
            "pending" => InboundStatus::Pending,
            "working" => InboundStatus::Working,
            "answered" => InboundStatus::Answered,
            "failed" => InboundStatus::Failed,
            "ignored" => InboundStatus::Ignored,
            _ => return None,
        })
    }
}

/// A stored inbound event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRow {
    pub id: i64,
    pub inbound: Inbound,
    pub status: InboundStatus,
}

const INBOUND_COLUMNS: &str = "id, channel, event_id, chat_id, chat_kind, sender_id, \
     sender_username, sender_name, message_id, kind, text, status, quiet, media";

fn bad_value(col: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

fn inbound_from_row(r: &Row<'_>) -> rusqlite::Result<InboundRow> {
    let chat_kind: String = r.get(4)?;
    let chat_kind = match chat_kind.as_str() {
        "direct" => ChatKind::Direct,
        "group" => ChatKind::Group,
        other => return Err(bad_value(4, "chat_kind", other)),
    };
    let kind: String = r.get(9)?;
    let text: String = r.get(10)?;
    let media: Option<String> = r.get(13)?;
    let kind = match (kind.as_str(), media) {
        ("text", Some(json)) => InboundKind::Media {
            text,
            files: serde_json::from_str(&json).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(13, rusqlite::types::Type::Text, e.into())
            })?,
        },
        ("text", None) => InboundKind::Text(text),
        ("unsupported", _) => InboundKind::Unsupported(text),
        ("scheduled", _) => InboundKind::Scheduled(Box::new(ScheduledTurn {
            prompt: text,
            quiet: r.get(12)?,
        })),
        (other, _) => return Err(bad_value(9, "kind", other)),
    };
    let status: String = r.get(11)?;
    let status = InboundStatus::parse(&status).ok_or_else(|| bad_value(11, "status", &status))?;
    Ok(InboundRow {
        id: r.get(0)?,
        inbound: Inbound {
            channel: r.get(1)?,
            event_id: r.get(2)?,
            chat_id: r.get(3)?,
            chat_kind,
            sender: Sender {
                id: r.get(5)?,
                username: r.get(6)?,
                display: r.get(7)?,
            },
            message_id: r.get(8)?,
            kind,
        },
        status,
    })
}

/// Inserts one event unless (channel, event_id) is already stored; returns
/// whether it was new.
pub(crate) fn insert_inbound(
    conn: &rusqlite::Connection,
    channel: &str,
    item: &Inbound,
    at: i64,
) -> rusqlite::Result<bool> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO inbound (channel, event_id, chat_id, chat_kind, sender_id,
             sender_username, sender_name, message_id, kind, text, quiet, status,
             received_at, updated_at, media)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'pending', ?12, ?12, ?13)
         ON CONFLICT (channel, event_id) DO NOTHING",
    )?;
    let (kind, text, quiet, media) = match &item.kind {
        InboundKind::Text(t) => ("text", t.as_str(), None, None),
        InboundKind::Media { text, files } => (
            "text",
            text.as_str(),
            None,
            Some(
                serde_json::to_string(files)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
            ),
        ),
        InboundKind::Unsupported(m) => ("unsupported", m.as_str(), None, None),
        InboundKind::Scheduled(s) => ("scheduled", s.prompt.as_str(), s.quiet.as_deref(), None),
        // Acted on at arrival; a press is not a message.
        InboundKind::Button(_) => return Ok(false),
    };
    let inserted = insert.execute(rusqlite::params![
        channel,
        item.event_id,
        item.chat_id,
        item.chat_kind.as_str(),
        item.sender.id,
        item.sender.username,
        item.sender.display,
        item.message_id,
        kind,
        text,
        quiet,
        at,
        media,
    ])?;
    Ok(inserted == 1)
}

impl Store {
    /// The cursor last stored for `channel`, to pass to its next poll.
    pub fn cursor(&self, channel: &str) -> Result<Option<String>, StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT cursor FROM channel_cursors WHERE channel = ?1")?
                .query_row([channel], |r| r.get(0))
                .optional()
        })
    }

    /// Stores a polled batch and its cursor in ONE transaction, and returns
    /// the row ids of the events that were new. An event already stored
    /// (same channel and event_id: a redelivery after a crash between this
    /// commit and the next poll) is skipped silently. Only after this
    /// returns Ok may the cursor be handed to the next poll, which is what
    /// acknowledges the events to the server.
    pub fn ingest(
        &mut self,
        channel: &str,
        items: &[Inbound],
        cursor: Option<&str>,
    ) -> Result<Vec<i64>, StoreError> {
        let at = now();
        self.write_tx(|tx| {
            let mut ids = Vec::new();
            for item in items {
                if insert_inbound(tx, channel, item, at)? {
                    ids.push(tx.last_insert_rowid());
                }
            }
            if let Some(cursor) = cursor {
                tx.prepare_cached(
                    "INSERT INTO channel_cursors (channel, cursor, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (channel) DO UPDATE
                     SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                )?
                .execute((channel, cursor, at))?;
            }
            Ok(ids)
        })
    }

    /// Events of `channels` still to be handled ('pending', or 'working'
    /// when a previous run died mid-turn), oldest first, except those
    /// deferred to a later time. Limited to the channels that are running,
    /// so leftovers of one that is not (a crashed `picoclaw agent`, a
    /// disabled channel) never crowd out the others.
    pub fn pending_inbound_for(
        &self,
        channels: &[&str],
        max: usize,
    ) -> Result<Vec<InboundRow>, StoreError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; channels.len()].join(", ");
        self.run(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {INBOUND_COLUMNS} FROM inbound
                 WHERE status IN ('pending', 'working') AND channel IN ({marks})
                   AND (not_before IS NULL OR not_before <= ?{})
                 ORDER BY id LIMIT {}",
                channels.len() + 1,
                limit(max)
            ))?;
            let at = now();
            let params = channels
                .iter()
                .map(|c| c as &dyn rusqlite::ToSql)
                .chain(std::iter::once(&at as &dyn rusqlite::ToSql));
            let rows = stmt.query_map(rusqlite::params_from_iter(params), inbound_from_row)?;
            rows.collect()
        })
    }

    /// Leaves event `id` pending until `until` (unix seconds): the worker
    /// skips it till then.
    pub fn defer_inbound(&self, id: i64, until: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached("UPDATE inbound SET not_before = ?2, updated_at = ?3 WHERE id = ?1")?
                .execute((id, until, now()))
                .map(drop)
        })
    }

    /// Whether some event of this chat is already deferred until `until`
    /// (so the chat was told why).
    pub fn chat_deferred_until(
        &self,
        channel: &str,
        chat_id: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "SELECT count(*) FROM inbound
                 WHERE channel = ?1 AND chat_id = ?2 AND not_before = ?3",
            )?
            .query_row((channel, chat_id, until), |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
        })
    }

    /// The status of the event `event_id` of `channel`, if it was stored.
    pub fn inbound_status(
        &self,
        channel: &str,
        event_id: &str,
    ) -> Result<Option<InboundStatus>, StoreError> {
        self.run(|c| {
            let status: Option<String> = c
                .query_row(
                    "SELECT status FROM inbound WHERE channel = ?1 AND event_id = ?2",
                    (channel, event_id),
                    |r| r.get(0),
                )
                .optional()?;
            Ok(status.as_deref().and_then(InboundStatus::parse))
        })
    }

    /// Moves an event to `status`, recording `error` (cleared when None).
    /// An unknown id is not an error: there is nothing to update.
    pub fn set_inbound_status(
        &self,
        id: i64,
        status: InboundStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE inbound SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute((id, status.as_str(), error, now()))
            .map(drop)
        })
    }
}
