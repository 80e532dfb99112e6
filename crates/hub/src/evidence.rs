//! Assembling the evidence for one stored value: the record as stored, the signed header of
//! the batch that covers it, the record's inclusion proof to that header's Merkle root, and the
//! header's inclusion proof in the transparency log. Shared by the hub's API (live) and the
//! offline export (`gridtrust export value`, on a stopped hub's files), so both hand out the
//! same proofs.

use gridtrust_model::{PointId, Timestamp};
use gridtrust_store::translog::TransparencyLog;
use gridtrust_store::{BatchEvidence, HubStore, HubStoreReader, SeriesEntry, StoreError};
use gridtrust_trust::checkpoint::LogEntry;
use gridtrust_trust::evidence::{BatchHeader, EvidenceError, Signature, decode_sealed};
use gridtrust_trust::merkle::{self, Hash};

/// Read access to stored records and batches, open (the hub) or read-only (an export).
pub trait EvidenceStore {
    /// The record of `point` in force at `at` (see [`HubStore::record_at`]).
    fn record_at(&self, point: &PointId, at: Timestamp) -> Result<Option<SeriesEntry>, StoreError>;
    /// The batch covering record `seq` of `edge_id` (see [`HubStore::batch_of_record`]).
    fn batch_of_record(&self, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>, StoreError>;
}

impl EvidenceStore for HubStore {
    fn record_at(&self, point: &PointId, at: Timestamp) -> Result<Option<SeriesEntry>, StoreError> {
        HubStore::record_at(self, point, at)
    }
    fn batch_of_record(&self, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>, StoreError> {
        HubStore::batch_of_record(self, edge_id, seq)
    }
}

impl EvidenceStore for HubStoreReader {
    fn record_at(&self, point: &PointId, at: Timestamp) -> Result<Option<SeriesEntry>, StoreError> {
        HubStoreReader::record_at(self, point, at)
    }
    fn batch_of_record(&self, edge_id: &str, seq: u64) -> Result<Option<BatchEvidence>, StoreError> {
        HubStoreReader::batch_of_record(self, edge_id, seq)
    }
}

/// Why no proof could be assembled for a value.
#[derive(Debug, thiserror::Error)]
pub enum ValueProofError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The point has no record at or before the time asked.
    #[error("point {point} has no stored record at or before {at} ns")]
    NoRecord {
        /// The point.
        point: String,
        /// The time.
        at: i64,
    },
    /// No stored batch covers the record.
    #[error("no stored batch of edge {edge} covers record seq {seq}")]
    NoBatch {
        /// The edge.
        edge: String,
        /// The record.
        seq: u64,
    },
    /// A stored header does not decode.
    #[error("stored header of batch {batch_seq} of edge {edge}: {source}")]
    Header {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
        /// Why.
        source: EvidenceError,
    },
    /// The header is unsigned: there is no origin to prove.
    #[error("stored header of batch {batch_seq} of edge {edge} is unsigned")]
    Unsigned {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
    },
    /// The record's leaf is not where the batch says (the stored leaf index is inconsistent).
    #[error("batch {batch_seq} of edge {edge} has {leaves} leaf hashes, cannot prove leaf {index}")]
    LeafOutOfRange {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
        /// Leaves stored.
        leaves: usize,
        /// The index asked.
        index: u64,
    },
}

/// A stored value with the batch evidence that proves where it came from.
#[derive(Clone, Debug)]
pub struct ValueProof {
    /// The record as stored.
    pub entry: SeriesEntry,
    /// The covering batch: sealed header and leaf hashes.
    pub batch: BatchEvidence,
    /// The decoded header.
    pub header: BatchHeader,
    /// The edge's signature over it.
    pub signature: Signature,
    /// The record's leaf index in the batch.
    pub record_index: u64,
    /// RFC 9162 inclusion proof of the record's leaf to the header's root.
    pub record_proof: Vec<Hash>,
}

/// The record of `point` in force at `at` (`Timestamp(i64::MAX)`: the newest) and its proof.
pub fn prove_value_at(store: &impl EvidenceStore, point: &PointId, at: Timestamp) -> Result<ValueProof, ValueProofError> {
    let entry = store.record_at(point, at)?.ok_or_else(|| ValueProofError::NoRecord { point: point.to_string(), at: at.0 })?;
    prove_entry(store, entry)
}

/// The proof for a record already read from the series.
pub fn prove_entry(store: &impl EvidenceStore, entry: SeriesEntry) -> Result<ValueProof, ValueProofError> {
    let batch = store
        .batch_of_record(&entry.edge_id, entry.seq)?
        .ok_or_else(|| ValueProofError::NoBatch { edge: entry.edge_id.clone(), seq: entry.seq })?;
    let (header, signature) = decode_sealed(&batch.sealed_header).map_err(|source| ValueProofError::Header {
        edge: entry.edge_id.clone(),
        batch_seq: batch.batch_seq,
        source,
    })?;
    let signature = signature.ok_or_else(|| ValueProofError::Unsigned { edge: entry.edge_id.clone(), batch_seq: batch.batch_seq })?;
    let index = entry.seq.checked_sub(batch.first_seq).unwrap_or(u64::MAX);
    let record_proof = usize::try_from(index).ok().and_then(|i| merkle::inclusion_proof(&batch.leaves, i)).ok_or_else(|| {
        ValueProofError::LeafOutOfRange { edge: entry.edge_id.clone(), batch_seq: batch.batch_seq, leaves: batch.leaves.len(), index }
    })?;
    Ok(ValueProof { entry, batch, header, signature, record_index: index, record_proof })
}

/// Finds the log entry of a sealed batch header among the first `tree_size` entries and proves
/// its inclusion in that tree: one index lookup and O(log n) node reads, so an evidence request
/// never holds the log for longer than an append does. `None` when the checkpoint's tree does
/// not hold it (yet).
pub fn header_in_log(log: &TransparencyLog, sealed_header: &[u8], tree_size: u64) -> Result<Option<(u64, Vec<Hash>)>, StoreError> {
    let wanted = LogEntry::BatchHeader(sealed_header.to_vec()).encode();
    match log.find(&wanted, tree_size)? {
        Some(index) => Ok(Some((index, log.inclusion_proof(index, tree_size)?))),
        None => Ok(None),
    }
}
