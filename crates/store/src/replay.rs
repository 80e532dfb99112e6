//! The edge's replay cache: every command nonce it has accepted, kept on disk until the command
//! has expired, so a replayed command is refused even after a restart.
//!
//! A nonce is recorded (and the write committed) before the command reaches the device, so a
//! crash between the two can only lose a command, never execute one twice. Entries are pruned
//! once their command's expiry is older than the allowed clock skew; the edge refuses commands
//! whose validity exceeds a bound, which keeps the cache small.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use gridtrust_model::Timestamp;

use crate::db::Db;
use crate::error::{Result, StoreError};

/// nonce (16 bytes) → expires_at (ns, big-endian i64).
const NONCES: TableDefinition<&[u8], i64> = TableDefinition::new("replay_nonces");

/// What [`ReplayCache::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// First time seen; now recorded durably.
    Fresh,
    /// Seen before: a replay.
    Replayed,
}

/// Durable set of accepted command nonces.
pub struct ReplayCache {
    db: Db,
}

impl ReplayCache {
    /// Opens or creates the cache file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        let w = db.begin_write().map_err(redb::Error::from)?;
        w.open_table(NONCES).map_err(redb::Error::from)?;
        w.commit().map_err(redb::Error::from)?;
        Ok(Self { db: Db::new(db) })
    }

    /// Records `nonce` unless already present, in one committed transaction.
    pub fn admit(&self, nonce: &[u8; 16], expires_at: Timestamp) -> Result<Admission> {
        let w = self.db.get()?.begin_write().map_err(redb::Error::from)?;
        let admission = {
            let mut table = w.open_table(NONCES).map_err(redb::Error::from)?;
            if table.get(&nonce[..]).map_err(redb::Error::from)?.is_some() {
                Admission::Replayed
            } else {
                table.insert(&nonce[..], expires_at.0).map_err(redb::Error::from)?;
                Admission::Fresh
            }
        };
        w.commit().map_err(redb::Error::from)?;
        Ok(admission)
    }

    /// Forgets nonces of commands that expired before `before`; returns how many.
    pub fn prune(&self, before: Timestamp) -> Result<u64> {
        let w = self.db.get()?.begin_write().map_err(redb::Error::from)?;
        let removed = {
            let mut table = w.open_table(NONCES).map_err(redb::Error::from)?;
            let before_len = table.len().map_err(redb::Error::from)?;
            table.retain(|_, expires_at| expires_at >= before.0).map_err(redb::Error::from)?;
            before_len - table.len().map_err(redb::Error::from)?
        };
        w.commit().map_err(redb::Error::from)?;
        Ok(removed)
    }

    /// Nonces held.
    pub fn len(&self) -> Result<u64> {
        let r = self.db.get()?.begin_read().map_err(redb::Error::from)?;
        Ok(r.open_table(NONCES).map_err(redb::Error::from)?.len().map_err(redb::Error::from)?)
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_is_refused_across_restarts_and_pruned_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.redb");
        {
            let cache = ReplayCache::open(&path).unwrap();
            assert_eq!(cache.admit(&[1; 16], Timestamp(100)).unwrap(), Admission::Fresh);
            assert_eq!(cache.admit(&[1; 16], Timestamp(100)).unwrap(), Admission::Replayed);
            assert_eq!(cache.admit(&[2; 16], Timestamp(300)).unwrap(), Admission::Fresh);
        }
        let cache = ReplayCache::open(&path).unwrap();
        assert_eq!(cache.admit(&[1; 16], Timestamp(100)).unwrap(), Admission::Replayed);
        assert_eq!(cache.prune(Timestamp(200)).unwrap(), 1);
        assert_eq!(cache.len().unwrap(), 1);
        assert_eq!(cache.admit(&[2; 16], Timestamp(300)).unwrap(), Admission::Replayed);
    }
}
