//! The schema, as an append-only list of SQL scripts. Script `i` takes the
//! database from `PRAGMA user_version = i` to `i + 1`. Never edit a script
//! that has shipped: add a new one.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// Every timestamp is unix seconds (INTEGER). Tables are STRICT so a
/// type mix-up in a later feature fails loudly instead of storing text in an
/// integer column.
const V1: &str = r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;

-- Where each channel's poll resumes. Written in the same transaction as the
-- inbound rows it acknowledges.
CREATE TABLE channel_cursors (
    channel    TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Accepted events. (channel, event_id) is the dedup key that makes a
-- redelivery after a crash a no-op.
CREATE TABLE inbound (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    chat_kind       TEXT NOT NULL CHECK (chat_kind IN ('direct', 'group')),
    sender_id       TEXT NOT NULL,
    sender_username TEXT,
    sender_name     TEXT NOT NULL,
    message_id      TEXT,
    -- For 'unsupported', `text` holds the media kind ("photo", "voice").
    kind            TEXT NOT NULL CHECK (kind IN ('text', 'unsupported')),
    text            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'working', 'answered', 'failed', 'ignored')),
    error           TEXT,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (channel, event_id)
) STRICT;
CREATE INDEX inbound_open ON inbound (id) WHERE status IN ('pending', 'working');

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    archived_at INTEGER
) STRICT;
-- At most one active session per key; /new archives it.
CREATE UNIQUE INDEX sessions_active ON sessions (key) WHERE archived_at IS NULL;

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    inbound_id      INTEGER REFERENCES inbound (id) ON DELETE SET NULL,
    role            TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content         TEXT NOT NULL,
    tool_calls_json TEXT,
    tool_call_id    TEXT,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX messages_session ON messages (session_id, id);
CREATE INDEX messages_inbound ON messages (inbound_id, id) WHERE inbound_id IS NOT NULL;

-- Rendered reply chunks, stored before sending so a restart resends exactly
-- the unsent ones. A NULL inbound_id (proactive message) is never a
-- duplicate of anything: SQL UNIQUE treats NULLs as distinct.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    inbound_id INTEGER REFERENCES inbound (id) ON DELETE SET NULL,
    channel    TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    reply_to   TEXT,
    seq        INTEGER NOT NULL,
    body       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'sent', 'failed')),
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    sent_at    INTEGER,
    UNIQUE (inbound_id, seq)
) STRICT;
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';

CREATE TABLE usage (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    provider      TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    at            INTEGER NOT NULL
) STRICT;
CREATE INDEX usage_session ON usage (session_id);

-- For the cron/heartbeat feature: `spec` is the schedule expression,
-- `payload` what to do (JSON, owned by that feature).
CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    next_run_at INTEGER,
    last_run_at INTEGER,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled = 1;

-- Long-term memory facts. `scope` is a session key or 'global'.
CREATE TABLE memory (
    id         INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL,
    fact       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX memory_scope ON memory (scope, id);

-- Full-text index over memory.fact, kept in sync by triggers. An
-- external-content table stores no second copy of the text, which matters
-- on a small SD card. rusqlite's `bundled` build compiles SQLite with
-- SQLITE_ENABLE_FTS5 (libsqlite3-sys build.rs); with a system SQLite built
-- without it this migration fails with "no such module: fts5".
CREATE VIRTUAL TABLE memory_fts USING fts5 (fact, content = 'memory', content_rowid = 'id');
CREATE TRIGGER memory_ai AFTER INSERT ON memory BEGIN
    INSERT INTO memory_fts (rowid, fact) VALUES (new.id, new.fact);
END;
CREATE TRIGGER memory_ad AFTER DELETE ON memory BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, fact) VALUES ('delete', old.id, old.fact);
END;
CREATE TRIGGER memory_au AFTER UPDATE OF fact ON memory BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, fact) VALUES ('delete', old.id, old.fact);
    INSERT INTO memory_fts (rowid, fact) VALUES (new.id, new.fact);
END;
"#;

/// Long-term memory gets tags (indexed with the text), sessions get a
/// compaction summary, and an inbound event can wait for a time (a spent
/// daily token budget defers the chat's turns to the next day).
const V2: &str = r#"
DROP TRIGGER memory_ai;
DROP TRIGGER memory_ad;
DROP TRIGGER memory_au;
DROP TABLE memory_fts;
DROP TABLE memory;
-- `scope` is an owner (`channel:user id`) or 'shared'. `tags` are
-- space-separated words.
CREATE TABLE memory (
    id         INTEGER PRIMARY KEY,
    scope      TEXT NOT NULL,
    text       TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX memory_scope ON memory (scope, id);
CREATE VIRTUAL TABLE memory_fts USING fts5 (text, tags, content = 'memory', content_rowid = 'id');
CREATE TRIGGER memory_ai AFTER INSERT ON memory BEGIN
    INSERT INTO memory_fts (rowid, text, tags) VALUES (new.id, new.text, new.tags);
END;
CREATE TRIGGER memory_ad AFTER DELETE ON memory BEGIN
    INSERT INTO memory_fts (memory_fts, rowid, text, tags) VALUES ('delete', old.id, old.text, old.tags);
END;

-- Compaction: messages up to `summary_upto` (a messages.id) are covered by
-- `summary` in what the model sees; they stay stored.
ALTER TABLE sessions ADD COLUMN summary TEXT;
ALTER TABLE sessions ADD COLUMN summary_upto INTEGER NOT NULL DEFAULT 0;

ALTER TABLE inbound ADD COLUMN not_before INTEGER;
"#;

/// Scheduled turns (a job's prompt, the heartbeat) become an inbound kind,
/// with `quiet`: a reply that is not sent. SQLite cannot change a CHECK
/// constraint in place, so `inbound` is rebuilt the documented way (new
/// table, copy, drop, rename) with foreign keys off around the script (see
/// [`migrate`]), which keeps `messages`/`outbox` pointing at the same ids.
/// The unused V1 `schedules` table is replaced by the scheduler's jobs:
/// AUTOINCREMENT so a removed job's id is never handed to a new one (a
/// user's "remove 3" must not hit a later job, and `job:{id}:{due}` event
/// ids stay unique).
const V3: &str = r#"
CREATE TABLE inbound_v3 (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    chat_kind       TEXT NOT NULL CHECK (chat_kind IN ('direct', 'group')),
    sender_id       TEXT NOT NULL,
    sender_username TEXT,
    sender_name     TEXT NOT NULL,
    message_id      TEXT,
    -- For 'unsupported', `text` holds the media kind ("photo", "voice");
    -- for 'scheduled', the prompt.
    kind            TEXT NOT NULL CHECK (kind IN ('text', 'unsupported', 'scheduled')),
    text            TEXT NOT NULL,
    -- 'scheduled' only: a reply equal to this (trimmed) is not sent.
    quiet           TEXT,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'working', 'answered', 'failed', 'ignored')),
    error           TEXT,
    received_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    -- Not answered before this unix time (a spent daily token budget).
    not_before      INTEGER,
    UNIQUE (channel, event_id)
) STRICT;
INSERT INTO inbound_v3 (id, channel, event_id, chat_id, chat_kind, sender_id, sender_username,
    sender_name, message_id, kind, text, status, error, received_at, updated_at, not_before)
SELECT id, channel, event_id, chat_id, chat_kind, sender_id, sender_username,
    sender_name, message_id, kind, text, status, error, received_at, updated_at, not_before
FROM inbound;
DROP TABLE inbound;
ALTER TABLE inbound_v3 RENAME TO inbound;
CREATE INDEX inbound_open ON inbound (id) WHERE status IN ('pending', 'working');

DROP TABLE schedules;
-- Scheduled jobs. Each belongs to one chat (channel, chat_id) and was set by
-- `owner`. `spec` by kind: 'at' unix seconds, 'every' seconds, 'cron' a
-- 5-field expression read in zone `tz`. `next_run_at` is the next due time;
-- firing advances it in the same transaction that stores the job's inbound
-- row or reply chunks, so a due time fires at most once.
CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    chat_kind   TEXT NOT NULL CHECK (chat_kind IN ('direct', 'group')),
    owner_id    TEXT NOT NULL,
    owner_name  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('at', 'every', 'cron')),
    spec        TEXT NOT NULL,
    tz          TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('message', 'prompt')),
    body        TEXT NOT NULL,
    missed      TEXT NOT NULL CHECK (missed IN ('run_once', 'skip')),
    next_run_at INTEGER NOT NULL,
    last_run_at INTEGER,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX schedules_due ON schedules (next_run_at);
CREATE INDEX schedules_chat ON schedules (channel, chat_id);
"#;

/// One row per tool call, for `picoclaw audit`. V1's `audit (kind,
/// detail)` stays for free-form events; tool calls get typed columns so
/// they can be filtered and pruned by time. `arguments` and `detail` are
/// redacted before they get here. `status` 'denied' is a call a policy
/// refused before it ran.
const V4: &str = r#"
CREATE TABLE tool_audit (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    inbound_id  INTEGER REFERENCES inbound (id) ON DELETE SET NULL,
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('ok', 'error', 'denied')),
    exit_code   INTEGER,
    duration_ms INTEGER NOT NULL,
    sandbox     TEXT,
    detail      TEXT
) STRICT;
CREATE INDEX tool_audit_at ON tool_audit (at);
"#;

/// Media: an inbound event can carry files (JSON list of
/// `picoclaw_core::MediaFile`, downloaded when its turn runs), and an outbox
/// row can be a file to upload instead of a text chunk.
///
/// A media event is stored with kind 'text' (its caption in `text`) and
/// `media` set, which a column added in place allows; widening the CHECK on
/// `kind` would mean rebuilding `inbound` once more.
const V5: &str = r#"
ALTER TABLE inbound ADD COLUMN media TEXT;
-- JSON `picoclaw_core::OutFile`; `body` then holds its name. File rows have
-- no inbound_id: they are queued mid-turn, in the transaction that records
-- the send_file result, and must not count as the turn's reply.
ALTER TABLE outbox ADD COLUMN file TEXT;
"#;

/// Access control (issue 16): the people approved by pairing, beside the
/// config's `allow_from`; the one-time codes strangers are given; tool calls
/// that wait for (or got) the user's yes or no; buttons under a queued
/// message (the yes/no question).
const V6: &str = r#"
CREATE TABLE paired (
    channel     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    username    TEXT,
    name        TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    -- 'host' (picoclaw pairing approve) or `channel:user id` of the owner.
    approved_by TEXT NOT NULL,
    PRIMARY KEY (channel, sender_id)
) STRICT, WITHOUT ROWID;

-- At most one code per person and channel. `inbound_id` is the event the
-- code was issued for: redoing that event (after a crash) tells the same
-- code again. `told_at` is when the person was last told it.
CREATE TABLE pairing_codes (
    channel    TEXT NOT NULL,
    code       TEXT NOT NULL,
    sender_id  TEXT NOT NULL,
    username   TEXT,
    name       TEXT NOT NULL,
    inbound_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    told_at    INTEGER NOT NULL,
    PRIMARY KEY (channel, code),
    UNIQUE (channel, sender_id)
) STRICT;

-- One row per tool call that needed the user's yes or no. A row still
-- 'waiting' when its turn resumes after a restart is 'interrupted': the
-- call is not run.
CREATE TABLE confirmations (
    id         INTEGER PRIMARY KEY,
    inbound_id INTEGER NOT NULL,
    call_id    TEXT NOT NULL,
    tool       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'waiting'
               CHECK (status IN ('waiting', 'approved', 'denied', 'timeout', 'interrupted')),
    asked_at   INTEGER NOT NULL,
    decided_at INTEGER,
    UNIQUE (inbound_id, call_id)
) STRICT;

-- JSON [[label, data], ...]: buttons under this chunk.
ALTER TABLE outbox ADD COLUMN buttons TEXT;
"#;

/// In order; the schema version is the number of scripts applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6];

/// The newest schema version this binary understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// What [`migrate`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    UpToDate,
    Migrated {
        from: u32,
        to: u32,
    },
    /// The file's version is newer than [`SCHEMA_VERSION`]; nothing touched.
    TooNew(u32),
}

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))
}

/// Applies the missing scripts, each in its own IMMEDIATE transaction with
/// the version bump, so a crash mid-way leaves a consistent older version
/// and the next start continues. The version is re-read inside the write
/// lock so two processes starting at once cannot both apply a script.
///
/// Foreign keys are off while scripts run: rebuilding a table (V3) drops
/// the old one, and with them on that drop would first delete its rows and
/// null every reference to them. The pragma is a no-op inside a
/// transaction, hence out here; each script's transaction checks the keys
/// before it commits instead.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<Outcome> {
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let res = apply(conn, MIGRATIONS);
    conn.pragma_update(None, "foreign_keys", enforced)?;
    res
}

/// [`migrate`] with the script list as a parameter, so tests can run
/// failing or future scripts.
pub(crate) fn apply(conn: &mut Connection, scripts: &[&str]) -> rusqlite::Result<Outcome> {
    let known = u32::try_from(scripts.len()).unwrap_or(u32::MAX);
    let start = user_version(conn)?;
    if start > known {
        return Ok(Outcome::TooNew(start));
    }
    if start == known {
        return Ok(Outcome::UpToDate);
    }
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = user_version(&tx)?;
        if current > known {
            return Ok(Outcome::TooNew(current));
        }
        let Some(script) = scripts.get(current as usize) else {
            break;
        };
        tx.execute_batch(script)?;
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = dangling {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
                Some(format!(
                    "migration {} leaves a broken reference in {table}",
                    current + 1
                )),
            ));
        }
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
    Ok(Outcome::Migrated {
        from: start,
        to: known,
    })
}
