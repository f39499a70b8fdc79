use std::os::unix::fs::PermissionsExt;

use picoclaw_store::{Store, StoreOptions, DB_FILE, SCHEMA_VERSION};

use super::{text, TempDir};

fn tables(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'memory_fts_%' ORDER BY name",
        )
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

#[test]
fn opening_an_empty_directory_creates_the_full_schema_in_wal_mode() {
    let tmp = TempDir::new("fresh");
    let dir = tmp.path().join("state/nested");
    let store = Store::open(&dir, &StoreOptions::default()).unwrap();

    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "state dir holds conversations");
    assert_eq!(store.path(), dir.join(DB_FILE));
    let health = store.health().unwrap();
    assert_eq!(health.schema_version, SCHEMA_VERSION);
    assert_eq!(health.journal_mode, "wal");
    assert!(health.integrity_ok);
    assert_eq!((health.pending_inbound, health.pending_outbox), (0, 0));
    assert!(health.size_bytes > 0);
    drop(store);

    assert_eq!(
        tables(&dir.join(DB_FILE)),
        [
            "audit",
            "channel_cursors",
            "confirmations",
            "inbound",
            "memory",
            "memory_fts",
            "messages",
            "meta",
            "outbox",
            "paired",
            "pairing_codes",
            "schedules",
            "sessions",
            "tool_audit",
            "usage"
        ]
    );
}

#[test]
fn reopening_keeps_data_and_schema_version() {
    let tmp = TempDir::new("reopen");
    let mut store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    let ids = store
        .ingest("telegram", &[text("1", "c", "hi")], Some("2"))
        .unwrap();
    store.set_meta("owner", "ada").unwrap();
    store.checkpoint().unwrap();
    drop(store);

    for _ in 0..2 {
        let store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
        assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
        assert_eq!(store.cursor("telegram").unwrap().as_deref(), Some("2"));
        assert_eq!(store.meta("owner").unwrap().as_deref(), Some("ada"));
        let pending = store
            .pending_inbound_for(&["telegram", "discord"], 10)
            .unwrap();
        assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    }
}

#[test]
fn an_empty_existing_file_is_migrated_like_a_new_one() {
    let tmp = TempDir::new("emptyfile");
    std::fs::write(tmp.path().join(DB_FILE), b"").unwrap();
    let store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    assert_eq!(store.health().unwrap().schema_version, SCHEMA_VERSION);
}

#[test]
fn checkpoint_folds_the_wal_into_the_database_file() {
    let tmp = TempDir::new("checkpoint");
    let mut store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    store
        .ingest("telegram", &[text("1", "c", "hi")], Some("2"))
        .unwrap();
    let wal = tmp.path().join(format!("{DB_FILE}-wal"));
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    store.checkpoint().unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
}

#[test]
fn audit_lines_are_appended_in_order() {
    let tmp = TempDir::new("audit");
    let store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    store.audit("tool.exec", "ls -la").unwrap();
    store.audit("admin", "/new").unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(tmp.path().join(DB_FILE)).unwrap();
    let mut stmt = conn
        .prepare("SELECT kind, detail FROM audit ORDER BY id")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("tool.exec".to_string(), "ls -la".to_string()),
            ("admin".to_string(), "/new".to_string())
        ]
    );
}
