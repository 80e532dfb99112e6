#![allow(dead_code)]

use gridtrust_model::{PointId, Quality, Record, TimeQuality, Timestamp, Value};

pub const SECOND: i64 = 1_000_000_000;

pub fn point(s: &str) -> PointId {
    PointId::new(s).expect("valid point id")
}

/// A float measurement taken at `t` (source time) and received 5 ms later.
pub fn rec(seq: u64, p: &str, t: Timestamp, v: f32) -> Record {
    Record {
        seq,
        point: point(p),
        value: Value::Float(v),
        quality: Quality::GOOD,
        source_time: Some((t, TimeQuality::GOOD)),
        received_at: Timestamp(t.0 + 5_000_000),
    }
}

/// `n` records with consecutive seqs from `first`, one second apart on point `p`.
pub fn recs(first: u64, n: u64, p: &str) -> Vec<Record> {
    (first..first + n).map(|s| rec(s, p, Timestamp(1_700_000_000 * SECOND + s as i64 * SECOND), s as f32)).collect()
}

pub fn header(batch_seq: u64) -> Vec<u8> {
    format!("header-{batch_seq}").into_bytes()
}

/// `records` as a batch `batch_seq` of `edge` whose integrity holds (header count, sequence and
/// Merkle root match; unsigned: the store's tests are not about signatures).
pub fn verified(edge: &str, batch_seq: u64, records: &[Record]) -> gridtrust_trust::VerifiedBatch {
    let header = gridtrust_trust::BatchHeader::for_records(edge, batch_seq, records, [0; 32], Timestamp(0));
    let batch = gridtrust_trust::SignedBatch { header, signature: None, records: records.to_vec() };
    gridtrust_trust::VerifiedBatch::without_signature(std::sync::Arc::new(batch)).expect("consecutive records")
}
