use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rusqlite::ffi::ErrorCode;

/// A store failure, classified by SQLite result code into something the
/// operator can act on. Every variant names the database file, because on a
/// board the first question is always "which file, on which disk?".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The state directory or database file cannot be created or opened:
    /// missing parent, wrong owner or permissions, path is a directory.
    /// Not retryable without operator action.
    #[error("cannot open database {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// SQLITE_CORRUPT or SQLITE_NOTADB: the file is damaged or is not a
    /// SQLite database. Not retryable.
    #[error(
        "database file {} is damaged or is not a picoclaw database; stop picoclaw, \
         move it aside (mv {0} {0}.broken) and start again to create a fresh one",
        path.display()
    )]
    Corrupt { path: PathBuf },
    /// SQLITE_READONLY: the file, its directory or the filesystem does not
    /// allow writing. Retryable: it clears when the filesystem is remounted
    /// read-write or permissions are fixed.
    #[error(
        "database {} is read-only; check the permissions of the file and its \
         directory, and that the filesystem is mounted read-write",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    /// SQLITE_FULL, or an I/O error caused by ENOSPC/EDQUOT/EFBIG. The
    /// failed transaction was rolled back; committed data is intact.
    /// Retryable once space is freed.
    #[error(
        "database {}: disk full (or file size limit reached); free space on that \
         filesystem; nothing already stored was lost",
        path.display()
    )]
    DiskFull { path: PathBuf },
    /// SQLITE_BUSY/SQLITE_LOCKED beyond the busy timeout: another process
    /// (a second picoclaw, a `sqlite3` shell) holds the write lock.
    /// Retryable.
    #[error(
        "database {} is locked by another process (a second picoclaw or an open sqlite3 shell?)",
        path.display()
    )]
    Busy { path: PathBuf },
    /// The file was written by a newer picoclaw whose schema this binary does
    /// not know. Refused rather than risking a silent downgrade. Not
    /// retryable: run the newer binary, or move the file aside.
    #[error(
        "database {} has schema version {found}, but this picoclaw only knows up to \
         {supported}; it was written by a newer picoclaw — run that version, or move the \
         file aside to start fresh",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// Anything else (a bug, a malformed row, out of memory). Not retryable.
    #[error("database {}: {reason}", path.display())]
    Sqlite { path: PathBuf, reason: String },
}

impl StoreError {
    /// Whether waiting and retrying the same operation can succeed without
    /// anyone touching the database file itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Busy { .. } | StoreError::DiskFull { .. } | StoreError::ReadOnly { .. }
        )
    }
}

/// Maps a rusqlite error to a [`StoreError`]. `errno` is SQLite's last
/// system errno for the connection: a plain SQLITE_IOERR only becomes
/// `DiskFull` when the OS said why. SQLite's unix VFS already reports ENOSPC
/// on write as SQLITE_FULL, but fsync/ftruncate/WAL-index failures come back
/// as SQLITE_IOERR_* with the errno alone telling the story.
pub(crate) fn classify(path: &Path, err: rusqlite::Error, errno: Option<i32>) -> StoreError {
    let path = path.to_path_buf();
    let (code, reason) = match &err {
        rusqlite::Error::SqliteFailure(e, msg) => {
            let reason = msg.clone().unwrap_or_else(|| e.to_string());
            (Some(e.code), reason)
        }
        other => (None, other.to_string()),
    };
    match code {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt { path },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::SystemIoFailure) if errno.is_some_and(errno_means_full) => {
            StoreError::DiskFull { path }
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            StoreError::Open { path, reason }
        }
        _ => StoreError::Sqlite { path, reason },
    }
}

fn errno_means_full(errno: i32) -> bool {
    matches!(
        std::io::Error::from_raw_os_error(errno).kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    const ENOSPC: i32 = 28;
    const EACCES: i32 = 13;

    #[test]
    fn io_error_with_enospc_is_disk_full_but_other_io_errors_are_not() {
        let p = Path::new("/state/picoclaw.db");
        assert_eq!(
            classify(p, failure(ffi::SQLITE_IOERR_FSYNC), Some(ENOSPC)),
            StoreError::DiskFull { path: p.into() }
        );
        assert!(matches!(
            classify(p, failure(ffi::SQLITE_IOERR_FSYNC), Some(EACCES)),
            StoreError::Sqlite { .. }
        ));
        assert!(matches!(
            classify(p, failure(ffi::SQLITE_IOERR_WRITE), None),
            StoreError::Sqlite { .. }
        ));
    }

    #[test]
    fn result_codes_map_to_actionable_variants() {
        let p = Path::new("/state/picoclaw.db");
        let cases = [
            (ffi::SQLITE_CORRUPT, StoreError::Corrupt { path: p.into() }),
            (ffi::SQLITE_NOTADB, StoreError::Corrupt { path: p.into() }),
            (
                ffi::SQLITE_READONLY,
                StoreError::ReadOnly { path: p.into() },
            ),
            (
                ffi::SQLITE_READONLY_DBMOVED,
                StoreError::ReadOnly { path: p.into() },
            ),
            (ffi::SQLITE_FULL, StoreError::DiskFull { path: p.into() }),
            (ffi::SQLITE_BUSY, StoreError::Busy { path: p.into() }),
            (ffi::SQLITE_LOCKED, StoreError::Busy { path: p.into() }),
        ];
        for (code, want) in cases {
            assert_eq!(classify(p, failure(code), None), want, "code {code}");
        }
        assert!(matches!(
            classify(p, failure(ffi::SQLITE_CANTOPEN), None),
            StoreError::Open { .. }
        ));
    }

    #[test]
    fn only_conditions_that_can_clear_are_transient() {
        let path = PathBuf::from("/x.db");
        assert!(StoreError::Busy { path: path.clone() }.is_transient());
        assert!(StoreError::DiskFull { path: path.clone() }.is_transient());
        assert!(StoreError::ReadOnly { path: path.clone() }.is_transient());
        assert!(!StoreError::Corrupt { path: path.clone() }.is_transient());
        assert!(!StoreError::TooNew {
            path,
            found: 9,
            supported: 1
        }
        .is_transient());
    }
}
