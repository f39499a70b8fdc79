//! Scheduled jobs. The store keeps them and fires them atomically; what a
//! `spec` means and when a job is next due is the scheduler's business.

use picoclaw_core::{ChatKind, Inbound};
use rusqlite::{OptionalExtension, Row};

use crate::error::StoreError;
use crate::inbound::insert_inbound;
use crate::store::{limit, now, Store};

/// What a job does when due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// Sends `body` as it is: no model call.
    Message,
    /// Runs a model turn with `body` as the prompt.
    Prompt,
}

/// What a job does about a due time that passed while picoclaw was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Fire once on start-up (however many due times were missed).
    RunOnce,
    /// Go on with the next due time.
    Skip,
}

impl JobAction {
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Message => "message",
            JobAction::Prompt => "prompt",
        }
    }
}

impl Missed {
    pub fn as_str(self) -> &'static str {
        match self {
            Missed::RunOnce => "run_once",
            Missed::Skip => "skip",
        }
    }

    pub fn parse(s: &str) -> Option<Missed> {
        match s {
            "run_once" => Some(Missed::RunOnce),
            "skip" => Some(Missed::Skip),
            _ => None,
        }
    }
}

/// A job to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub channel: String,
    pub chat_id: String,
    pub chat_kind: ChatKind,
    pub owner_id: String,
    pub owner_name: String,
    /// "at", "every" or "cron".
    pub kind: String,
    pub spec: String,
    /// IANA zone name the spec is read in ("UTC" when none).
    pub tz: String,
    pub action: JobAction,
    pub body: String,
    pub missed: Missed,
    /// Unix seconds.
    pub next_run_at: i64,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub job: NewJob,
    pub last_run_at: Option<i64>,
    pub created_at: i64,
}

/// What firing a job stores, in the transaction that advances it.
#[derive(Debug, Clone, Copy)]
pub enum Fire<'a> {
    /// A turn: this event goes to the inbox of the job's channel.
    Turn(&'a Inbound),
    /// A fixed message: these rendered chunks go to the job's chat.
    Chunks(&'a [String]),
    /// A missed due time the job's policy skips: only advance.
    Skip,
}

const JOB_COLUMNS: &str = "id, channel, chat_id, chat_kind, owner_id, owner_name, kind, spec, \
     tz, action, body, missed, next_run_at, last_run_at, created_at";

fn bad(col: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?}").into(),
    )
}

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<Job> {
    let chat_kind: String = r.get(3)?;
    let chat_kind = match chat_kind.as_str() {
        "direct" => ChatKind::Direct,
        "group" => ChatKind::Group,
        other => return Err(bad(3, "chat_kind", other)),
    };
    let action: String = r.get(9)?;
    let action = match action.as_str() {
        "message" => JobAction::Message,
        "prompt" => JobAction::Prompt,
        other => return Err(bad(9, "action", other)),
    };
    let missed: String = r.get(11)?;
    let missed = Missed::parse(&missed).ok_or_else(|| bad(11, "missed", &missed))?;
    Ok(Job {
        id: r.get(0)?,
        job: NewJob {
            channel: r.get(1)?,
            chat_id: r.get(2)?,
            chat_kind,
            owner_id: r.get(4)?,
            owner_name: r.get(5)?,
            kind: r.get(6)?,
            spec: r.get(7)?,
            tz: r.get(8)?,
            action,
            body: r.get(10)?,
            missed,
            next_run_at: r.get(12)?,
        },
        last_run_at: r.get(13)?,
        created_at: r.get(14)?,
    })
}

impl Store {
    /// Stores a job; returns its id (never reused).
    pub fn add_job(&self, j: &NewJob) -> Result<i64, StoreError> {
        self.run(|c| {
            c.execute(
                "INSERT INTO schedules (channel, chat_id, chat_kind, owner_id, owner_name, kind,
                     spec, tz, action, body, missed, next_run_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                rusqlite::params![
                    j.channel,
                    j.chat_id,
                    j.chat_kind.as_str(),
                    j.owner_id,
                    j.owner_name,
                    j.kind,
                    j.spec,
                    j.tz,
                    j.action.as_str(),
                    j.body,
                    j.missed.as_str(),
                    j.next_run_at,
                    now(),
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The jobs of one chat, or of every chat when `chat` is None (the
    /// host's `picoclaw schedule list`), by id.
    pub fn jobs(&self, chat: Option<(&str, &str)>) -> Result<Vec<Job>, StoreError> {
        self.run(|c| {
            let rows = match chat {
                Some((channel, chat_id)) => {
                    let mut stmt = c.prepare(&format!(
                        "SELECT {JOB_COLUMNS} FROM schedules
                         WHERE channel = ?1 AND chat_id = ?2 ORDER BY id"
                    ))?;
                    let rows = stmt.query_map((channel, chat_id), job_from_row)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                }
                None => {
                    let mut stmt =
                        c.prepare(&format!("SELECT {JOB_COLUMNS} FROM schedules ORDER BY id"))?;
                    let rows = stmt.query_map([], job_from_row)?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                }
            };
            Ok(rows)
        })
    }

    /// Removes job `id` if it exists (and, with `chat`, belongs to that
    /// chat); returns whether it did. Another chat's job is not found.
    pub fn remove_job(&self, id: i64, chat: Option<(&str, &str)>) -> Result<bool, StoreError> {
        self.run(|c| {
            let n = match chat {
                Some((channel, chat_id)) => c.execute(
                    "DELETE FROM schedules WHERE id = ?1 AND channel = ?2 AND chat_id = ?3",
                    (id, channel, chat_id),
                )?,
                None => c.execute("DELETE FROM schedules WHERE id = ?1", [id])?,
            };
            Ok(n == 1)
        })
    }

    /// Jobs of `channels` due at or before `at`, soonest first.
    pub fn due_jobs(&self, channels: &[&str], at: i64, max: usize) -> Result<Vec<Job>, StoreError> {
        if channels.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; channels.len()].join(", ");
        self.run(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {JOB_COLUMNS} FROM schedules
                 WHERE next_run_at <= ? AND channel IN ({marks})
                 ORDER BY next_run_at, id LIMIT {}",
                limit(max)
            ))?;
            let params = std::iter::once(rusqlite::types::Value::Integer(at)).chain(
                channels
                    .iter()
                    .map(|c| rusqlite::types::Value::Text((*c).to_string())),
            );
            let rows = stmt.query_map(rusqlite::params_from_iter(params), job_from_row)?;
            rows.collect()
        })
    }

    /// The earliest due time among `channels`' jobs.
    pub fn next_due(&self, channels: &[&str]) -> Result<Option<i64>, StoreError> {
        if channels.is_empty() {
            return Ok(None);
        }
        let marks = vec!["?"; channels.len()].join(", ");
        self.run(|c| {
            c.query_row(
                &format!("SELECT min(next_run_at) FROM schedules WHERE channel IN ({marks})"),
                rusqlite::params_from_iter(channels.iter()),
                |r| r.get(0),
            )
        })
    }

    /// Fires job `id` for its due time `due`, in ONE transaction: stores
    /// what `fire` carries and moves the job to `next` (deletes it when
    /// `None`). Returns false, storing nothing, when the job is gone or no
    /// longer due at `due` (removed meanwhile, or fired by another
    /// process): so a due time fires at most once, and a crash before the
    /// commit leaves it due.
    pub fn fire_job(
        &mut self,
        id: i64,
        due: i64,
        next: Option<i64>,
        fire: Fire<'_>,
    ) -> Result<bool, StoreError> {
        let at = now();
        self.write_tx(|tx| {
            let job = tx
                .query_row(
                    "SELECT channel, chat_id FROM schedules WHERE id = ?1 AND next_run_at = ?2",
                    (id, due),
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?;
            let Some((channel, chat_id)) = job else {
                return Ok(false);
            };
            match next {
                Some(next) => tx.execute(
                    "UPDATE schedules SET next_run_at = ?2, last_run_at = ?3 WHERE id = ?1",
                    (id, next, due),
                )?,
                None => tx.execute("DELETE FROM schedules WHERE id = ?1", [id])?,
            };
            match fire {
                Fire::Turn(item) => {
                    insert_inbound(tx, &channel, item, at)?;
                }
                Fire::Chunks(chunks) => {
                    let mut insert = tx.prepare(
                        "INSERT INTO outbox (inbound_id, channel, chat_id, seq, body, created_at)
                         VALUES (NULL, ?1, ?2, ?3, ?4, ?5)",
                    )?;
                    for (seq, body) in (0_i64..).zip(chunks) {
                        insert.execute(rusqlite::params![channel, chat_id, seq, body, at])?;
                    }
                }
                Fire::Skip => {}
            }
            Ok(true)
        })
    }

    /// Stores the heartbeat's event (when it has one) and its next due time
    /// under meta key `key`, in one transaction, if the stored due time is
    /// still `due` (or none was stored). Returns whether it did.
    pub fn fire_heartbeat(
        &mut self,
        key: &str,
        due: Option<i64>,
        next: i64,
        item: Option<&Inbound>,
    ) -> Result<bool, StoreError> {
        let at = now();
        self.write_tx(|tx| {
            let stored: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            if stored.and_then(|v| v.parse::<i64>().ok()) != due {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, next.to_string()),
            )?;
            if let Some(item) = item {
                insert_inbound(tx, &item.channel, item, at)?;
            }
            Ok(true)
        })
    }
}
