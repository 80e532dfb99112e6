//! The redb handle, wrapped so that closing a damaged file cannot panic into the caller, and so
//! that a store recovers on its own from a failed disk write.
//!
//! redb latches an I/O error: after one failed write (a full disk, an I/O error) every later
//! operation of that `Database` fails with "previous I/O error" until it is reopened. A store
//! that never reopens stays dead after the disk has space again; one that reopens picks up
//! where its last committed transaction left it, because redb commits are atomic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use redb::Database;

use crate::error::{Result, StoreError};

/// Owns the `Database` and reopens it after an I/O error. `Drop` contains redb's panic on a
/// damaged file (it flushes allocator state when a handle is dropped), so dropping a store never
/// aborts a hub or an edge.
pub(crate) struct Db {
    path: PathBuf,
    /// `None` only while a reopen failed (the next use tries again) or during drop.
    inner: RwLock<Option<Arc<Database>>>,
    /// Set when an operation failed with an I/O error: the next use reopens first.
    failed: AtomicBool,
}

impl Db {
    /// Wraps `db`, opened from `path`.
    pub(crate) fn new(db: Database, path: &Path) -> Self {
        Self { path: path.to_owned(), inner: RwLock::new(Some(Arc::new(db))), failed: AtomicBool::new(false) }
    }

    /// The database, reopened first if the last operation hit an I/O error.
    pub(crate) fn get(&self) -> Result<Arc<Database>> {
        if self.failed.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let inner = self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.clone().ok_or(StoreError::Damaged { operation: "use", message: "store closed after a failed reopen".to_owned() })
    }

    /// Exclusive access while the store is being opened (integrity check, repair).
    pub(crate) fn get_mut(&mut self) -> Result<&mut Database> {
        let inner = self.inner.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.as_mut().and_then(Arc::get_mut).ok_or(StoreError::Damaged { operation: "use", message: "store in use".to_owned() })
    }

    /// Runs one public operation: contains a redb panic ([`crate::error::guard`]) and marks the
    /// handle for a reopen when the operation failed on I/O.
    pub(crate) fn guard<T>(&self, operation: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let result = crate::error::guard(operation, f);
        if let Err(e) = &result
            && e.is_io()
            && !self.failed.swap(true, Ordering::AcqRel)
        {
            tracing::error!(target: "alarm", store = %self.path.display(), operation, error = %e, "store write failed (disk full or I/O error); it reopens on the next use");
        }
        result
    }

    fn reopen(&self) -> Result<()> {
        let mut inner = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.failed.load(Ordering::Acquire) {
            // Another thread reopened it while this one waited for the lock.
            return Ok(());
        }
        if let Some(old) = inner.take() {
            close(old);
        }
        // redb releases its file lock when the last transaction of the old handle ends: until
        // then this fails, the flag stays set, and the next use tries again.
        let db = Database::create(&self.path).map_err(|source| StoreError::Open { path: self.path.clone(), source })?;
        *inner = Some(Arc::new(db));
        self.failed.store(false, Ordering::Release);
        tracing::warn!(target: "alarm", store = %self.path.display(), "store reopened after an I/O error; writing again");
        Ok(())
    }
}

/// Drops a handle, containing the panic redb raises when the file is damaged.
fn close(db: Arc<Database>) {
    if catch_unwind(AssertUnwindSafe(move || drop(db))).is_err() {
        tracing::error!("redb panicked while closing a damaged file; contained");
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(db) = inner.take() {
            close(db);
        }
    }
}
