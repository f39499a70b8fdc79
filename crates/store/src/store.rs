use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use crate::error::{classify, StoreError};
use crate::migrations::{self, Outcome, SCHEMA_VERSION};

/// The database file's name inside the state directory.
pub const DB_FILE: &str = "picoclaw.db";

/// Tuning knobs; every default lives in the `Default` impl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// SQLite page cache per connection, in KiB. Small by default: a
    /// 256 MB board has better uses for RAM, and the working set (recent
    /// messages, pending rows) is tiny.
    pub cache_size_kib: u32,
    /// How long a write waits for another process's lock before `Busy`.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_size_kib: 2048,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// What `picoclaw doctor` shows about the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub schema_version: u32,
    pub journal_mode: String,
    /// `PRAGMA quick_check` said "ok".
    pub integrity_ok: bool,
    /// Inbound rows still 'pending' or 'working'.
    pub pending_inbound: u64,
    pub pending_outbox: u64,
    /// Database plus WAL file, in bytes.
    pub size_bytes: u64,
}

/// The embedded database. Owns one connection, so it is `Send` but not
/// `Sync`: the runtime shares it as `Arc<Mutex<Store>>` and calls it from
/// the blocking pool.
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// (device, inode) of the file when opened, to notice it being deleted
    /// or replaced under a running daemon.
    identity: Option<(u64, u64)>,
}

/// Whether the database file on disk is still the one this store has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Same,
    /// Deleted (alone or with its directory). The open connection still
    /// holds every row; [`Store::restore_file`] writes them back.
    Missing,
    /// Another file now sits at the path. Not ours to overwrite.
    Replaced,
}

fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `dir/picoclaw.db` and brings its schema up
    /// to date. `dir` is created with mode 0700: it holds conversations.
    pub fn open(dir: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| StoreError::Open {
                    path: path.clone(),
                    reason: format!("cannot create directory {}: {e}", dir.display()),
                })?;
        } else if let Ok(meta) = std::fs::metadata(dir) {
            // Search (x) bits for others are fine: picoclaw itself adds them
            // so the sandbox's tool user can reach a workspace inside.
            if meta.permissions().mode() & 0o066 != 0 {
                picoclaw_core::warn!(
                    "state directory {} is readable or writable by other users; chmod 700 it",
                    dir.display()
                );
            }
        }
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(&path, e, None))?;
        let identity = identity(&path);
        let mut store = Store {
            conn,
            path,
            identity,
        };
        // SQLite silently falls back to read-only when the file is not
        // writable; say so now rather than at the first reply.
        if store
            .conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| store.classify(e))?
        {
            return Err(StoreError::ReadOnly { path: store.path });
        }
        store.configure(opts)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing database without ever writing to it (for
    /// inspection, e.g. `picoclaw doctor` on a live system). Fails with
    /// `ReadOnly` if the schema would need migrating, and every write
    /// method returns `ReadOnly`.
    pub fn open_read_only(dir: &Path, opts: &StoreOptions) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(&path, e, None))?;
        let identity = identity(&path);
        let store = Store {
            conn,
            path,
            identity,
        };
        store.run(|c| c.busy_timeout(opts.busy_timeout))?;
        let found = store.run(migrations::user_version)?;
        if found > SCHEMA_VERSION {
            return Err(store.too_new(found));
        }
        if found < SCHEMA_VERSION {
            return Err(StoreError::ReadOnly { path: store.path });
        }
        Ok(store)
    }

    /// A private in-memory database with the full schema, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| classify(&path, e, None))?;
        let mut store = Store {
            conn,
            path,
            identity: None,
        };
        store.configure(&StoreOptions::default())?;
        store.migrate()?;
        Ok(store)
    }

    /// Compares the file at [`Store::path`] with the one opened.
    pub fn file_state(&self) -> FileState {
        let Some(opened) = self.identity else {
            return FileState::Same;
        };
        match identity(&self.path) {
            None => FileState::Missing,
            Some(now) if now == opened => FileState::Same,
            Some(_) => FileState::Replaced,
        }
    }

    /// After the file was deleted under us: writes the live database (which
    /// the open connection still holds, WAL included) back to its path with
    /// `VACUUM INTO`, recreating the directory if it went too. The caller
    /// then reopens the path. Refuses when something already sits there.
    pub fn restore_file(&self) -> Result<(), StoreError> {
        if self.path.exists() {
            return Err(StoreError::Open {
                path: self.path.clone(),
                reason: String::from("a different file now sits at this path; not overwriting it"),
            });
        }
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| StoreError::Open {
                    path: self.path.clone(),
                    reason: format!("cannot recreate {}: {e}", dir.display()),
                })?;
        }
        let target = self.path.to_string_lossy().into_owned();
        self.run(|c| {
            c.prepare_cached("VACUUM INTO ?1")?
                .execute([target])
                .map(|_| ())
        })
    }

    /// The database file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self, opts: &StoreOptions) -> Result<(), StoreError> {
        self.run(|c| {
            // First, so that even switching to WAL waits for a competing
            // process instead of failing at once.
            c.busy_timeout(opts.busy_timeout)?;
            // WAL: readers never block the writer, and a commit is one
            // append instead of a rollback-journal dance — far fewer writes
            // on an SD card. (`:memory:` reports "memory"; that is fine.)
            let _mode: String =
                c.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            // NORMAL under WAL syncs at checkpoints, not at every commit. A
            // power cut can lose the last few commits but never corrupts the
            // file. That is safe for our exactly-once design: a channel's
            // cursor is committed in the same transaction as the events it
            // acknowledges, so a lost commit means the cursor rolls back too
            // and the channel redelivers those events; an outbox row lost
            // with its commit is regenerated because its inbound is still
            // pending. Work is redone, never silently dropped.
            c.pragma_update(None, "synchronous", "NORMAL")?;
            c.pragma_update(None, "foreign_keys", "ON")?;
            // Negative means KiB rather than pages.
            c.pragma_update(None, "cache_size", -i64::from(opts.cache_size_kib))?;
            // temp_store is left at its default (file): boards have little
            // RAM, and temp data only appears for large sorts anyway.
            // Every statement the runtime uses stays prepared (about two
            // dozen; each costs a few KiB).
            c.set_prepared_statement_cache_capacity(32);
            // Plans must not depend on bound values: otherwise SQLite marks
            // statements like `session_id = ?1 ... ORDER BY id` for
            // re-preparation on every new binding, and a cached statement is
            // parsed and planned again each time. Our queries are simple
            // index lookups whose best plan does not depend on the values.
            c.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            Ok(())
        })
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let res = migrations::migrate(&mut self.conn);
        match res.map_err(|e| self.classify(e))? {
            Outcome::UpToDate => Ok(()),
            Outcome::Migrated { from: 0, to } => {
                picoclaw_core::debug!(
                    "database {}: created with schema version {to}",
                    self.path.display()
                );
                Ok(())
            }
            Outcome::Migrated { from, to } => {
                picoclaw_core::info!(
                    "database {}: schema migrated from version {from} to {to}",
                    self.path.display()
                );
                Ok(())
            }
            Outcome::TooNew(found) => Err(self.too_new(found)),
        }
    }

    fn too_new(&self, found: u32) -> StoreError {
        StoreError::TooNew {
            path: self.path.clone(),
            found,
            supported: SCHEMA_VERSION,
        }
    }

    /// Classifies an error from this connection, consulting SQLite's last
    /// OS errno for I/O failures.
    pub(crate) fn classify(&self, err: rusqlite::Error) -> StoreError {
        // SAFETY: `handle` is the live connection owned by `self`; reading
        // its last errno has no side effects and does not retain the
        // pointer.
        let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(self.conn.handle()) };
        classify(&self.path, err, (errno != 0).then_some(errno))
    }

    /// Runs read or single-statement work, classifying any error.
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.conn).map_err(|e| self.classify(e))
    }

    /// Runs `f` in one IMMEDIATE transaction and commits. IMMEDIATE takes
    /// the write lock up front: a deferred transaction that reads first and
    /// then writes can fail with SQLITE_BUSY at once, without honouring
    /// busy_timeout, if another process wrote in between.
    ///
    /// BEGIN and COMMIT are cached statements like the rest (rusqlite's
    /// `Transaction` parses them anew each time); anything that fails rolls
    /// back.
    pub(crate) fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = &self.conn;
        let res = (|| {
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            let done = f(conn).and_then(|out| {
                conn.prepare_cached("COMMIT")?.execute([])?;
                Ok(out)
            });
            if done.is_err() && !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            done
        })();
        res.map_err(|e| self.classify(e))
    }

    /// Appends a line to the audit log (tool runs, admin commands, denied
    /// senders...). `kind` is a short machine-readable tag.
    pub fn audit(&self, kind: &str, detail: &str) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached("INSERT INTO audit (at, kind, detail) VALUES (?1, ?2, ?3)")?
                .execute((now(), kind, detail))
                .map(drop)
        })
    }

    /// A value from the `meta` key/value table.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        self.run(|c| {
            c.prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([key], |r| r.get(0))
                .optional()
        })
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute((key, value))
            .map(drop)
        })
    }

    /// A snapshot for `picoclaw doctor`. `quick_check` reads the whole file,
    /// which takes a moment on a large database on an SD card. Damage it
    /// can describe gives `integrity_ok: false`; damage that stops SQLite
    /// reading a page gives `Err(StoreError::Corrupt)`.
    pub fn health(&self) -> Result<Health, StoreError> {
        let (schema_version, journal_mode, integrity_ok, pending_inbound, pending_outbox, pages) =
            self.run(|c| {
                let version = migrations::user_version(c)?;
                let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                let mut stmt = c.prepare_cached("PRAGMA quick_check")?;
                let verdicts: Vec<String> = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                let ok = verdicts == ["ok"];
                let inbound: i64 = c
                    .prepare_cached(
                        "SELECT count(*) FROM inbound WHERE status IN ('pending', 'working')",
                    )?
                    .query_row([], |r| r.get(0))?;
                let outbox: i64 = c
                    .prepare_cached("SELECT count(*) FROM outbox WHERE status = 'pending'")?
                    .query_row([], |r| r.get(0))?;
                let pages: i64 = c
                    .prepare_cached(
                        "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
                    )?
                    .query_row([], |r| r.get(0))?;
                Ok((version, mode, ok, inbound, outbox, pages))
            })?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        Ok(Health {
            schema_version,
            journal_mode,
            integrity_ok,
            pending_inbound: to_u64(pending_inbound),
            pending_outbox: to_u64(pending_outbox),
            size_bytes: to_u64(pages).saturating_add(wal_bytes),
        })
    }

    /// Folds the WAL back into the database and truncates it, so a clean
    /// shutdown leaves one self-contained file (easy to back up or copy).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let busy: i64 = self.run(|c| {
            c.prepare_cached("PRAGMA wal_checkpoint(TRUNCATE)")?
                .query_row([], |r| r.get(0))
        })?;
        if busy != 0 {
            picoclaw_core::debug!(
                "database {}: checkpoint incomplete, another connection is reading",
                self.path.display()
            );
        }
        Ok(())
    }
}

/// Unix seconds now. A clock before 1970 (a board without RTC before NTP)
/// records 0 rather than failing the write.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// SQL LIMIT from a caller's `usize`.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
