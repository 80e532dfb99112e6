use std::path::PathBuf;

use gridtrust_model::DecodeError;

/// Everything that can go wrong in a store, as one enum so callers can tell "the disk failed"
/// from "the file is damaged" from "the caller broke the queue's contract".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created: wrong path, locked by another process,
    /// or a header redb itself does not accept.
    #[error("cannot open store {path}: {source}")]
    Open {
        /// The file the caller asked for, so the log names it.
        path: PathBuf,
        /// redb's reason.
        #[source]
        source: redb::DatabaseError,
    },
    /// redb reported an I/O or storage failure. The store may be usable again after a reopen.
    #[error("storage failure: {0}")]
    Db(#[from] redb::Error),
    /// An entry exists but its bytes are not what this crate wrote. Names the table and key so an
    /// operator can find the damage; nothing is silently skipped.
    #[error("corrupt entry in table {table}, key {key}: {problem}")]
    Corrupt {
        /// The redb table holding the entry.
        table: &'static str,
        /// The entry's key, decoded when its layout is intact, hex otherwise.
        key: String,
        /// What is wrong with it.
        problem: Corruption,
    },
    /// The edge queue reached its configured bound. The caller decides what to shed; the queue
    /// never drops data on its own.
    #[error(
        "queue full: {batches} batches / {bytes} bytes pending, limit {max_batches} batches / {max_bytes} bytes, \
         refusing a batch of {batch_bytes} bytes"
    )]
    QueueFull {
        /// Batches pending now.
        batches: u64,
        /// Bytes pending now.
        bytes: u64,
        /// Configured batch limit.
        max_batches: u64,
        /// Configured byte limit.
        max_bytes: u64,
        /// Size of the refused batch.
        batch_bytes: u64,
    },
    /// A record's seq is at or below one already used: seqs are never reused, because the hub
    /// treats (edge, seq) as identity and would drop the newer record as a duplicate.
    #[error("record seq {seq} in batch {batch_seq} is not above the last used seq (next allowed is {next_seq})")]
    SeqNotIncreasing {
        /// The refused batch.
        batch_seq: u64,
        /// The offending record seq.
        seq: u64,
        /// The lowest seq that would have been accepted.
        next_seq: u64,
    },
    /// A batch seq at or below the last appended one would break the edge's hash chain order.
    #[error("batch seq {batch_seq} is not above the last appended batch {last}")]
    BatchSeqNotIncreasing {
        /// The refused batch seq.
        batch_seq: u64,
        /// The last batch seq appended.
        last: u64,
    },
    /// The hub already holds a record with the same (edge, point, time, seq) but different
    /// bytes: one of the two is forged or the edge reused a seq. The original is kept.
    #[error("edge {edge_id} record seq {seq} conflicts with the stored record of the same identity")]
    ConflictingRecord {
        /// The edge that sent the conflicting record.
        edge_id: String,
        /// Its seq.
        seq: u64,
    },
    /// redb panicked while reading a structurally damaged file (it checks page checksums only in
    /// an integrity check, and indexes pages with offsets read from disk). The panic was caught
    /// at this crate's boundary so the caller gets an error it can alarm on instead of a crash.
    /// Reopen with the integrity check enabled to repair, or restore the file.
    #[error("store operation {operation} hit a damaged file: {message}")]
    Damaged {
        /// The public operation that hit the damage.
        operation: &'static str,
        /// redb's panic message.
        message: String,
    },
    /// An edge id the hub cannot key on.
    #[error("edge id {0:?} is empty or longer than 255 bytes")]
    BadEdgeId(String),
    /// A root or proof was asked for at a tree size the transparency log has not reached: the
    /// caller holds a checkpoint this log never signed, or asked ahead of an append.
    #[error("tree size {requested} is beyond the transparency log's size {size}")]
    BeyondLog {
        /// The size asked for.
        requested: u64,
        /// The log's size now.
        size: u64,
    },
    /// A proof request that describes no proof: a leaf index outside the tree, a consistency
    /// proof from the empty tree or to a smaller one, an interval that is not a subtree.
    #[error("no such proof: {0}")]
    Proof(#[from] gridtrust_trust::merkle::ProofError),
}

impl StoreError {
    /// Whether the disk failed (full, I/O error, or redb's latch of an earlier one): the store
    /// reopens and the write can be tried again, unlike a corrupt entry or a broken contract.
    pub fn is_io(&self) -> bool {
        matches!(self, Self::Db(redb::Error::Io(_) | redb::Error::PreviousIo))
    }
}

/// What exactly is wrong with a corrupt entry.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    /// A stored record is not a canonical record.
    #[error("record does not decode: {0}")]
    Record(#[from] DecodeError),
    /// A fixed-layout key or value has the wrong size.
    #[error("{what} has {found} bytes, expected {expected}")]
    Length {
        /// The field that is short or long.
        what: &'static str,
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// A structural invariant between entries does not hold.
    #[error("{0}")]
    Inconsistent(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Db(e.into())
            }
        }
    )*};
}
from_redb!(redb::StorageError, redb::TableError, redb::TransactionError, redb::CommitError);

/// Runs one public operation, turning a panic inside redb into [`StoreError::Damaged`].
///
/// redb 4 indexes pages with lengths and offsets read from the file and panics when damage makes
/// them out of range. Our own code never panics on stored bytes; this contains the remainder.
/// `AssertUnwindSafe` is sound here because nothing the closure touches is used after a caught
/// panic except the `Database`, whose transactions roll back when dropped during unwinding.
/// Builds with `panic = "abort"` cannot contain it.
pub(crate) fn guard<T>(operation: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        tracing::error!(operation, %message, "redb panicked on a damaged file; contained");
        Err(StoreError::Damaged { operation, message })
    })
}
