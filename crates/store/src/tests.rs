//! Tests that need the connection itself: simulated disk-full, migration
//! failure, build options.

use std::path::PathBuf;

use picoclaw_core::{ChatKind, Inbound, InboundKind, Sender};
use rusqlite::Connection;

use crate::migrations::{apply, user_version, Outcome};
use crate::{Store, StoreError, StoreOptions, DB_FILE};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("picoclaw-store-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(event_id: &str, body: &str) -> Inbound {
    Inbound {
        channel: "telegram".into(),
        event_id: event_id.into(),
        chat_id: "c".into(),
        chat_kind: ChatKind::Direct,
        sender: Sender {
            id: "1".into(),
            username: None,
            display: "A".into(),
        },
        message_id: None,
        kind: InboundKind::Text(body.into()),
    }
}

fn pending_ids(store: &Store) -> Vec<i64> {
    store
        .pending_inbound_for(&["telegram", "discord"], 1000)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

// SQLITE_FULL is simulated with `max_page_count`, which makes SQLite fail a
// page allocation exactly as a full disk does; a real ENOSPC would need a
// tiny filesystem (mounting is not allowed in tests). The errno path for
// SQLITE_IOERR + ENOSPC is covered by the classifier's unit tests.
#[test]
fn a_full_disk_is_disk_full_and_loses_nothing_already_committed() {
    let tmp = TempDir::new("full");
    let db = tmp.0.join(DB_FILE);
    let mut store = Store::open(&tmp.0, &StoreOptions::default()).unwrap();
    let kept = store
        .ingest("telegram", &[text("1", "hi")], Some("1"))
        .unwrap();
    let pages: i64 = store
        .conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let _: i64 = store
        .conn
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get(0)
        })
        .unwrap();

    let big: Vec<_> = (2..60)
        .map(|i| text(&i.to_string(), &"x".repeat(4000)))
        .collect();
    let err = store.ingest("telegram", &big, Some("60")).unwrap_err();

    assert_eq!(err, StoreError::DiskFull { path: db.clone() });
    assert!(err.is_transient());
    assert!(err.to_string().contains(db.to_str().unwrap()));
    // The failed batch left no trace, not even its cursor.
    assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("1"));
    assert_eq!(pending_ids(&store), kept);
    drop(store);

    // Space freed (a fresh connection has no page cap): the batch goes in.
    let mut store = Store::open(&tmp.0, &StoreOptions::default()).unwrap();
    assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("1"));
    assert_eq!(pending_ids(&store), kept);
    assert_eq!(
        store.ingest("telegram", &big, Some("60")).unwrap().len(),
        big.len()
    );
    assert!(store.health().unwrap().integrity_ok);
}

#[test]
fn a_failing_migration_keeps_the_earlier_ones_and_the_version_before_it() {
    let mut conn = Connection::open_in_memory().unwrap();
    let scripts = [
        "CREATE TABLE a (x INTEGER);",
        "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;",
    ];
    assert!(apply(&mut conn, &scripts).is_err());
    assert_eq!(user_version(&conn).unwrap(), 1);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["a"]);

    let fixed = ["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (x INTEGER);"];
    assert_eq!(
        apply(&mut conn, &fixed).unwrap(),
        Outcome::Migrated { from: 1, to: 2 }
    );
    assert_eq!(apply(&mut conn, &fixed).unwrap(), Outcome::UpToDate);
    assert_eq!(apply(&mut conn, &fixed[..1]).unwrap(), Outcome::TooNew(2));
    assert_eq!(user_version(&conn).unwrap(), 2);
}

#[test]
fn the_bundled_sqlite_has_fts5() {
    let store = Store::open_in_memory().unwrap();
    let has: bool = store
        .conn
        .query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(has);
}

#[test]
fn fts_queries_quote_every_word_so_user_text_is_never_syntax() {
    use crate::memory::fts_query;
    assert_eq!(fts_query("green tea"), r#""green"* OR "tea"*"#);
    assert_eq!(
        fts_query(r#"a"b NEAR(c* -d)"#),
        r#""a"* OR "b"* OR "NEAR"* OR "c"* OR "d"*"#
    );
    assert_eq!(fts_query(" -- "), "");
}

#[test]
fn statements_are_not_re_prepared_when_their_parameters_change() {
    // Without the query planner stability guarantee, SQLite peeks at bound
    // values while planning `col = ?1 ... ORDER BY id` and re-prepares the
    // statement on every new binding: a cached statement would be parsed
    // again each time (a fifth of the per-message instructions).
    use rusqlite::StatementStatus;
    let s = Store::open_in_memory().unwrap();
    let mut stmt = s
        .conn
        .prepare("SELECT id FROM messages WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2")
        .unwrap();
    for (session, max) in [(1i64, 200i64), (2, 200), (2, 10)] {
        let mut rows = stmt.query((session, max)).unwrap();
        while rows.next().unwrap().is_some() {}
    }
    assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
}

#[test]
fn a_failed_write_transaction_rolls_back_and_the_next_one_works() {
    let mut s = Store::open_in_memory().unwrap();
    let err = s.write_tx(|c| {
        c.prepare_cached("INSERT INTO meta (key, value) VALUES ('a', '1')")?
            .execute([])?;
        c.prepare_cached("INSERT INTO no_such_table VALUES (1)")?
            .execute([])
    });
    assert!(err.is_err());
    assert!(s.conn.is_autocommit(), "no transaction left open");
    assert_eq!(
        s.meta("a").unwrap(),
        None,
        "the first insert was rolled back"
    );
    s.write_tx(|c| {
        c.prepare_cached("INSERT INTO meta (key, value) VALUES ('b', '2')")?
            .execute([])
    })
    .unwrap();
    assert_eq!(s.meta("b").unwrap().as_deref(), Some("2"));
}

fn job(next_run_at: i64) -> crate::NewJob {
    crate::NewJob {
        channel: "telegram".into(),
        chat_id: "c1".into(),
        chat_kind: ChatKind::Direct,
        owner_id: "42".into(),
        owner_name: "Ada".into(),
        kind: "every".into(),
        spec: "60".into(),
        tz: "UTC".into(),
        action: crate::JobAction::Prompt,
        body: "check".into(),
        missed: crate::Missed::RunOnce,
        next_run_at,
    }
}

fn scheduled(event_id: &str) -> Inbound {
    Inbound {
        kind: InboundKind::Scheduled(Box::new(picoclaw_core::ScheduledTurn {
            prompt: "check".into(),
            quiet: Some("OK".into()),
        })),
        ..text(event_id, "")
    }
}

#[test]
fn migrating_a_v1_database_keeps_its_rows_and_every_reference_to_them() {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    apply(&mut conn, &crate::migrations::MIGRATIONS[..1]).unwrap();
    conn.execute_batch(
        "INSERT INTO inbound (id, channel, event_id, chat_id, chat_kind, sender_id, sender_name,
             kind, text, status, received_at, updated_at)
         VALUES (7, 'telegram', '100', 'c1', 'direct', '42', 'Ada', 'text', 'hi', 'answered', 1, 1);
         INSERT INTO sessions (id, key, created_at) VALUES (1, 'telegram:c1', 1);
         INSERT INTO messages (session_id, inbound_id, role, content, created_at)
         VALUES (1, 7, 'user', 'hi', 1);
         INSERT INTO outbox (inbound_id, channel, chat_id, seq, body, created_at)
         VALUES (7, 'telegram', 'c1', 0, 'hello', 1);",
    )
    .unwrap();
    assert_eq!(
        crate::migrations::migrate(&mut conn).unwrap(),
        Outcome::Migrated {
            from: 1,
            to: crate::migrations::SCHEMA_VERSION
        }
    );
    let fk: bool = conn
        .pragma_query_value(None, "foreign_keys", |r| r.get(0))
        .unwrap();
    assert!(fk, "foreign keys are back on");
    let refs: (Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT (SELECT inbound_id FROM messages), (SELECT inbound_id FROM outbox)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(refs, (Some(7), Some(7)));
    let row: (String, String, String) = conn
        .query_row(
            "SELECT kind, text, status FROM inbound WHERE id = 7",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(row, ("text".into(), "hi".into(), "answered".into()));
    // And the references still act: deleting the event nulls them.
    conn.execute("DELETE FROM inbound WHERE id = 7", [])
        .unwrap();
    let nulled: Option<i64> = conn
        .query_row("SELECT inbound_id FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nulled, None);
}

#[test]
fn a_scheduled_event_keeps_its_prompt_and_quiet_reply_through_the_store() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .ingest("telegram", &[scheduled("job:1:60")], None)
        .unwrap();
    let rows = store.pending_inbound_for(&["telegram"], 10).unwrap();
    assert_eq!(rows[0].inbound, scheduled("job:1:60"));
}

#[test]
fn a_job_fires_once_per_due_time_and_a_failed_fire_leaves_it_due() {
    let mut store = Store::open_in_memory().unwrap();
    let id = store.add_job(&job(60)).unwrap();
    let event = scheduled("job:1:60");
    assert!(store
        .fire_job(id, 60, Some(120), crate::Fire::Turn(&event))
        .unwrap());
    // A second attempt at the same due time (another process, a retry)
    // stores nothing.
    assert!(!store
        .fire_job(id, 60, Some(120), crate::Fire::Turn(&event))
        .unwrap());
    assert_eq!(
        store.pending_inbound_for(&["telegram"], 10).unwrap().len(),
        1
    );
    let jobs = store.jobs(None).unwrap();
    assert_eq!(
        (jobs[0].job.next_run_at, jobs[0].last_run_at),
        (120, Some(60))
    );

    // The row cannot be stored: the job is not advanced either.
    store
        .conn
        .execute_batch(
            "CREATE TRIGGER no_more BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk says no'); END;",
        )
        .unwrap();
    let chunks = [String::from("hello")];
    assert!(store
        .fire_job(id, 120, None, crate::Fire::Chunks(&chunks))
        .is_err());
    assert_eq!(store.jobs(None).unwrap()[0].job.next_run_at, 120);
    store.conn.execute_batch("DROP TRIGGER no_more;").unwrap();
    // A last fire (no next due time) removes the job with its chunks queued.
    assert!(store
        .fire_job(id, 120, None, crate::Fire::Chunks(&chunks))
        .unwrap());
    assert_eq!(store.jobs(None).unwrap(), []);
    assert_eq!(
        store.pending_outbox("telegram", 10).unwrap()[0].body,
        "hello"
    );
}

#[test]
fn jobs_are_listed_and_removed_only_within_their_chat() {
    let store = Store::open_in_memory().unwrap();
    let id = store.add_job(&job(60)).unwrap();
    assert_eq!(store.jobs(Some(("telegram", "c2"))).unwrap(), []);
    assert!(!store.remove_job(id, Some(("telegram", "c2"))).unwrap());
    assert!(!store.remove_job(id, Some(("discord", "c1"))).unwrap());
    assert_eq!(store.jobs(Some(("telegram", "c1"))).unwrap().len(), 1);
    assert!(store.remove_job(id, Some(("telegram", "c1"))).unwrap());
    // Ids are never reused: the next job is #2, not #1 again.
    assert_eq!(store.add_job(&job(60)).unwrap(), id + 1);
}
