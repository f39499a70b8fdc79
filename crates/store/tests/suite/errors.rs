use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use picoclaw_store::{Store, StoreError, StoreOptions, DB_FILE, SCHEMA_VERSION};

use super::{text, TempDir};

/// Deterministic bytes that are not a SQLite header.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn a_garbage_file_is_reported_as_corrupt_with_its_path_and_left_untouched() {
    let tmp = TempDir::new("garbage");
    let db = tmp.path().join(DB_FILE);
    let bytes = garbage(8192);
    std::fs::write(&db, &bytes).unwrap();

    let err = Store::open(tmp.path(), &StoreOptions::default()).unwrap_err();

    assert_eq!(err, StoreError::Corrupt { path: db.clone() });
    let msg = err.to_string();
    assert!(msg.contains(db.to_str().unwrap()), "{msg}");
    assert!(msg.contains("move it aside"), "{msg}");
    assert!(!err.is_transient());
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
}

#[test]
fn a_database_from_a_newer_picoclaw_is_refused_and_not_modified() {
    let tmp = TempDir::new("toonew");
    let db = tmp.path().join(DB_FILE);
    drop(Store::open(tmp.path(), &StoreOptions::default()).unwrap());
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();

    let want = StoreError::TooNew {
        path: db.clone(),
        found: 999,
        supported: SCHEMA_VERSION,
    };
    let err = Store::open(tmp.path(), &StoreOptions::default()).unwrap_err();
    assert_eq!(err, want);
    assert!(err.to_string().contains(db.to_str().unwrap()));
    assert!(!err.is_transient());
    assert_eq!(
        Store::open_read_only(tmp.path(), &StoreOptions::default()).unwrap_err(),
        want
    );
    let version: u32 = rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 999);
}

#[test]
fn a_state_dir_that_cannot_be_created_is_an_open_error_naming_the_path() {
    let tmp = TempDir::new("notadir");
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("state");

    let err = Store::open(&dir, &StoreOptions::default()).unwrap_err();

    let StoreError::Open { path, reason } = &err else {
        panic!("expected Open, got {err:?}");
    };
    assert_eq!(path, &dir.join(DB_FILE));
    assert!(reason.contains(dir.to_str().unwrap()), "{reason}");
    assert!(err.to_string().contains(dir.to_str().unwrap()));
}

// Writes through a connection SQLite opened read-only come back as
// SQLITE_READONLY; this checks that classification end to end. It does not
// prove detection of a read-only *filesystem* (tests may not mount), but
// SQLite reports that with the same code.
#[test]
fn writes_through_a_read_only_store_fail_as_read_only_and_reads_work() {
    let tmp = TempDir::new("ro-flag");
    let db = tmp.path().join(DB_FILE);
    let mut rw = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    rw.ingest("telegram", &[text("1", "c", "hi")], Some("2"))
        .unwrap();

    let mut ro = Store::open_read_only(tmp.path(), &StoreOptions::default()).unwrap();
    assert_eq!(ro.cursor("telegram").unwrap().as_deref(), Some("2"));
    let err = ro
        .ingest("telegram", &[text("3", "c", "x")], Some("4"))
        .unwrap_err();
    assert_eq!(err, StoreError::ReadOnly { path: db.clone() });
    assert!(err.is_transient());
    assert!(err.to_string().contains(db.to_str().unwrap()));
    assert_eq!(
        ro.audit("x", "y").unwrap_err(),
        StoreError::ReadOnly { path: db }
    );
    assert_eq!(
        ro.pending_inbound_for(&["telegram", "discord"], 10)
            .unwrap()
            .len(),
        1
    );
}

const RO_CHILD: &str = "PICOCLAW_STORE_TEST_RO_DIR";
const RO_TEST: &str =
    "suite::errors::a_database_file_the_process_may_not_write_is_refused_at_open_as_read_only";

fn assert_open_is_read_only(dir: &Path) {
    let err = Store::open(dir, &StoreOptions::default()).unwrap_err();
    assert_eq!(
        err,
        StoreError::ReadOnly {
            path: dir.join(DB_FILE)
        }
    );
}

// Real file permissions. Root ignores them, so as root the check runs in a
// copy of this test binary started as `nobody` (uid/gid 65534).
#[test]
fn a_database_file_the_process_may_not_write_is_refused_at_open_as_read_only() {
    if let Some(dir) = std::env::var_os(RO_CHILD) {
        assert_open_is_read_only(Path::new(&dir));
        return;
    }
    let tmp = TempDir::new("ro-perms");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("state");
    let store = Store::open(&dir, &StoreOptions::default()).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    std::fs::set_permissions(dir.join(DB_FILE), std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();

    let euid = std::fs::metadata("/proc/self").unwrap().uid();
    if euid != 0 {
        assert_open_is_read_only(&dir);
        return;
    }
    use std::os::unix::process::CommandExt;
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", RO_TEST, "--test-threads=1"])
        .env(RO_CHILD, &dir)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "child ran no test:\n{stdout}");
}

#[test]
fn a_write_blocked_by_another_process_is_busy_and_succeeds_once_released() {
    let tmp = TempDir::new("busy");
    let db = tmp.path().join(DB_FILE);
    drop(Store::open(tmp.path(), &StoreOptions::default()).unwrap());
    let locker = rusqlite::Connection::open(&db).unwrap();
    locker
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO audit (at, kind, detail) VALUES (0, 'x', 'y');",
        )
        .unwrap();

    let opts = StoreOptions {
        busy_timeout: Duration::from_millis(50),
        ..StoreOptions::default()
    };
    let mut store = Store::open(tmp.path(), &opts).unwrap();
    let err = store
        .ingest("telegram", &[text("1", "c", "hi")], Some("2"))
        .unwrap_err();
    assert_eq!(err, StoreError::Busy { path: db });
    assert!(err.is_transient());
    assert_eq!(store.cursor("telegram").unwrap(), None);

    locker.execute_batch("COMMIT").unwrap();
    assert_eq!(
        store
            .ingest("telegram", &[text("1", "c", "hi")], Some("2"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn damage_inside_a_valid_database_is_reported_by_health_as_corrupt() {
    let tmp = TempDir::new("damaged");
    let db = tmp.path().join(DB_FILE);
    let mut store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    let items: Vec<_> = (0..200)
        .map(|i| text(&i.to_string(), "c", &"lorem ipsum ".repeat(40)))
        .collect();
    store.ingest("telegram", &items, None).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    bytes[len / 2..len / 2 + 4096].copy_from_slice(&garbage(4096));
    std::fs::write(&db, &bytes).unwrap();

    // Page 1 (header and schema) is intact, so opening works; the damage
    // shows when `picoclaw doctor` walks the file: as an unreadable page
    // (Corrupt) or as a failed quick_check, depending on which page the
    // garbage hit (which moves whenever the schema grows).
    let store = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    match store.health() {
        Err(e) => assert_eq!(e, StoreError::Corrupt { path: db }),
        Ok(h) => assert!(!h.integrity_ok, "{h:?}"),
    }
}
