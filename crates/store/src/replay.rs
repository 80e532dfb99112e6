//! The edge's replay cache: every command nonce it has accepted, kept on disk until the command
//! has expired, so a replayed command is refused even after a restart.
//!
//! A nonce is recorded (and the write committed) before the command reaches the device, so a
//! crash between the two can only lose a command, never execute one twice. Entries are pruned
//! once their command's expiry is older than the allowed clock skew; the edge refuses commands
//! whose validity exceeds a bound, which keeps the cache small.
//!
//! Pruning must not reopen the cache when the edge's clock steps back: a pruned nonce would be
//! accepted again once the clock says its command has not expired. So every prune raises a
//! durable low-water mark (never lowers it, whatever the clock says) and a command that expires
//! at or before the mark is refused as [`Admission::BeforeMemory`]: its nonce may have been
//! forgotten.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use gridtrust_model::Timestamp;

use crate::db::Db;
use crate::error::{Result, StoreError};

/// nonce (16 bytes) → expires_at (ns, big-endian i64).
const NONCES: TableDefinition<&[u8], i64> = TableDefinition::new("replay_nonces");
/// "low_water" → the highest prune cutoff ever used (ns).
const MARKS: TableDefinition<&str, i64> = TableDefinition::new("replay_marks");
const LOW_WATER: &str = "low_water";

/// What [`ReplayCache::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// First time seen; now recorded durably.
    Fresh,
    /// Seen before: a replay.
    Replayed,
    /// The command expires at or before the low-water mark: its nonce may have been pruned, so
    /// whether it was seen cannot be told. Refused.
    BeforeMemory {
        /// The mark (ns since the epoch).
        low_water: Timestamp,
    },
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
        w.open_table(MARKS).map_err(redb::Error::from)?;
        w.commit().map_err(redb::Error::from)?;
        Ok(Self { db: Db::new(db, path) })
    }

    /// Records `nonce` unless already present, in one committed transaction.
    pub fn admit(&self, nonce: &[u8; 16], expires_at: Timestamp) -> Result<Admission> {
        self.db.guard("admit", || self.admit_inner(nonce, expires_at))
    }

    fn admit_inner(&self, nonce: &[u8; 16], expires_at: Timestamp) -> Result<Admission> {
        let w = self.db.get()?.begin_write().map_err(redb::Error::from)?;
        let admission = {
            let low_water = w.open_table(MARKS).map_err(redb::Error::from)?.get(LOW_WATER).map_err(redb::Error::from)?.map(|v| v.value());
            let mut table = w.open_table(NONCES).map_err(redb::Error::from)?;
            if let Some(low_water) = low_water.filter(|mark| expires_at.0 <= *mark) {
                Admission::BeforeMemory { low_water: Timestamp(low_water) }
            } else if table.get(&nonce[..]).map_err(redb::Error::from)?.is_some() {
                Admission::Replayed
            } else {
                table.insert(&nonce[..], expires_at.0).map_err(redb::Error::from)?;
                Admission::Fresh
            }
        };
        w.commit().map_err(redb::Error::from)?;
        Ok(admission)
    }

    /// Forgets nonces of commands that expired before `before` and raises the low-water mark to
    /// it; a `before` under the mark (the clock stepped back) prunes nothing more. Returns how
    /// many nonces were forgotten.
    pub fn prune(&self, before: Timestamp) -> Result<u64> {
        self.db.guard("prune", || self.prune_inner(before))
    }

    fn prune_inner(&self, before: Timestamp) -> Result<u64> {
        let w = self.db.get()?.begin_write().map_err(redb::Error::from)?;
        let removed = {
            let mut marks = w.open_table(MARKS).map_err(redb::Error::from)?;
            let low_water = marks.get(LOW_WATER).map_err(redb::Error::from)?.map(|v| v.value());
            // Nonces expiring exactly at the mark are kept; admit refuses those at or under it.
            let cutoff = low_water.map_or(before.0, |mark| mark.max(before.0));
            marks.insert(LOW_WATER, cutoff).map_err(redb::Error::from)?;
            let mut table = w.open_table(NONCES).map_err(redb::Error::from)?;
            let before_len = table.len().map_err(redb::Error::from)?;
            table.retain(|_, expires_at| expires_at >= cutoff).map_err(redb::Error::from)?;
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

    #[test]
    fn a_clock_stepping_back_never_reopens_a_pruned_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.redb");
        {
            let cache = ReplayCache::open(&path).unwrap();
            assert_eq!(cache.admit(&[1; 16], Timestamp(100)).unwrap(), Admission::Fresh);
            // The clock is at 1000: the nonce of the command that expired at 100 is pruned.
            assert_eq!(cache.prune(Timestamp(1000)).unwrap(), 1);
        }
        let cache = ReplayCache::open(&path).unwrap();
        // The clock steps back an hour: pruning with an earlier cutoff does not lower the mark,
        // and the replayed command (expiring at 100, "not expired yet" by the stepped clock)
        // cannot be told apart from a fresh one, so it is refused.
        cache.prune(Timestamp(50)).unwrap();
        assert_eq!(cache.admit(&[1; 16], Timestamp(100)).unwrap(), Admission::BeforeMemory { low_water: Timestamp(1000) });
        assert_eq!(cache.admit(&[3; 16], Timestamp(1000)).unwrap(), Admission::BeforeMemory { low_water: Timestamp(1000) });
        assert_eq!(cache.admit(&[3; 16], Timestamp(1001)).unwrap(), Admission::Fresh);
    }
}
