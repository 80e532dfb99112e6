//! The redb handle, wrapped so that closing a damaged file cannot panic into the caller.

use std::panic::{AssertUnwindSafe, catch_unwind};

use redb::Database;

use crate::error::{Result, StoreError};

/// Owns the `Database`. redb flushes allocator state when a handle is dropped and panics there
/// if the file is damaged; `Drop` here contains that panic so dropping a store never aborts a
/// hub or an edge. The `Option` is only `None` during drop.
pub(crate) struct Db(Option<Database>);

impl Db {
    pub(crate) fn new(db: Database) -> Self {
        Self(Some(db))
    }

    pub(crate) fn get(&self) -> Result<&Database> {
        self.0.as_ref().ok_or(StoreError::Damaged { operation: "use", message: "store already closed".to_owned() })
    }

    pub(crate) fn get_mut(&mut self) -> Result<&mut Database> {
        self.0.as_mut().ok_or(StoreError::Damaged { operation: "use", message: "store already closed".to_owned() })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(db) = self.0.take()
            && catch_unwind(AssertUnwindSafe(move || drop(db))).is_err()
        {
            tracing::error!("redb panicked while closing a damaged file; contained");
        }
    }
}
