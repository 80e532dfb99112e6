//! Key layouts and checked readers for fixed-layout bytes.
//!
//! Every table is `&[u8] -> &[u8]` and every layout is decoded here with bounds checks, because
//! redb's own typed keys (`&str`, `u64`) unwrap or panic when the stored bytes are damaged.
//! Integers are big-endian so that byte order is numeric order and range scans work.

use gridtrust_model::{PointId, Record, Timestamp};

use crate::error::{Corruption, Result, StoreError};

/// Maps an `i64` onto a `u64` whose big-endian bytes sort like the signed value.
pub(crate) fn time_bytes(t: Timestamp) -> [u8; 8] {
    (t.0.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// Reverses [`time_bytes`].
pub(crate) fn time_from(bytes: [u8; 8]) -> Timestamp {
    Timestamp((u64::from_be_bytes(bytes) ^ (1 << 63)).cast_signed())
}

/// Reads `N` bytes at `at`, or names what was too short.
pub(crate) fn array<const N: usize>(
    bytes: &[u8],
    at: usize,
    what: &'static str,
    table: &'static str,
    key: impl FnOnce() -> String,
) -> Result<[u8; N]> {
    bytes.get(at..at.saturating_add(N)).and_then(|s| <[u8; N]>::try_from(s).ok()).ok_or_else(|| StoreError::Corrupt {
        table,
        key: key(),
        problem: Corruption::Length { what, expected: at.saturating_add(N), found: bytes.len() },
    })
}

/// Decodes a stored canonical record into a typed error naming where it lives.
pub(crate) fn decode_record(bytes: &[u8], table: &'static str, key: impl FnOnce() -> String) -> Result<Record> {
    Record::decode_canonical(bytes).map_err(|e| StoreError::Corrupt { table, key: key(), problem: e.into() })
}

/// Renders a raw key for an error message when its layout cannot be trusted.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The series-key prefix of a point: a length byte, then the id. The length byte keeps one
/// point's keys from being a prefix range of another's (`A/B.C` vs `A/B.CD`).
pub(crate) fn point_prefix(point: &PointId) -> Vec<u8> {
    let id = point.as_str().as_bytes();
    let mut k = Vec::with_capacity(1 + id.len() + 20);
    // PointId guarantees at most 255 bytes.
    k.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(id);
    k
}
