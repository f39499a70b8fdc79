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
