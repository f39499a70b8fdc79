use std::sync::{Arc, Mutex};

use picoclaw_store::{Store, StoreError};

/// The store shared by the runtime's tasks. SQLite calls are blocking, so
/// every call runs on the blocking pool; the mutex only serialises them
/// (one connection, one writer — what SQLite wants anyway).
#[derive(Clone)]
pub struct Db {
    inner: Arc<Mutex<Store>>,
}

impl Db {
    pub fn new(store: Store) -> Db {
        Db {
            inner: Arc::new(Mutex::new(store)),
        }
    }

    /// Runs `f` with the store on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        let path = self.path();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite itself in a
            // bad state (transactions roll back), so a poisoned lock is used.
            let mut store = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut store)
        })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Sqlite {
                path,
                reason: format!("store task failed: {e}"),
            })
        })
    }

    /// Runs `f` with the store on the current thread (start-up, shutdown,
    /// one-shot CLI commands).
    pub fn blocking<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut store)
    }

    /// Puts a freshly opened store in place of the current one (after the
    /// database file was restored). Calls already running finish on the old
    /// connection first.
    pub fn replace(&self, store: Store) {
        *self.inner.lock().unwrap_or_else(|p| p.into_inner()) = store;
    }

    fn path(&self) -> std::path::PathBuf {
        self.blocking(|s| s.path().to_path_buf())
    }
}
