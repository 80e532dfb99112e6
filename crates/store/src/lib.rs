//! Embedded storage for gridtrust: the edge's durable store-and-forward queue and the hub's
//! idempotent record store and time series, both on [redb] (pure Rust, one file, no server).
//!
//! - [`EdgeQueue`]: records are on disk, in their canonical encoding, before the edge sends them
//!   and until the hub acknowledges them. It also remembers the record-seq high-water mark and
//!   the last batch header, so seqs and the hash chain continue across restarts.
//! - [`HubStore`]: applies batches idempotently by (edge, batch seq) and by record identity,
//!   reports batch-seq gaps, keeps each batch header as evidence, the latest value per point and
//!   a per-point time series with range and downsampling queries.
//! - [`ReplayCache`]: the edge's durable set of accepted command nonces.
//! - [`CheckpointFile`]: the last transparency-log checkpoint the cc or the edge accepted.
//!
//! Damaged files give [`StoreError::Corrupt`] naming table and key, never a panic (within what
//! redb itself guarantees about its page structure).
//!
//! Deliberately not here: signature or hash-chain verification (the caller does that before
//! applying), retention/compaction, and the PostgreSQL and JetStream backends.

#![warn(missing_docs)]

mod checkpoint_file;
mod codec;
mod db;
mod error;
mod hub;
mod queue;
mod replay;
pub mod translog;

pub use checkpoint_file::{CheckpointFile, CheckpointFileError};
pub use error::{Corruption, Result, StoreError};
pub use hub::{ApplyOutcome, BatchEvidence, Bucket, HubStore, HubStoreReader, ROLLUP_SLOT_NS, SeriesEntry, StoredBatch, series_time};
pub use queue::{EdgeQueue, LastBatch, QueueConfig, QueuedBatch};
pub use replay::{Admission, ReplayCache};
pub use translog::TransparencyLog;
