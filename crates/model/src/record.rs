use serde::{Deserialize, Serialize};

use crate::{PointId, Quality, TimeQuality, Timestamp, Value};

/// One datum as the edge saw it: the unit that is stored, forwarded, hashed into a batch's
/// Merkle tree and signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The edge's sequence number: strictly increasing per edge, never reused, so that the hub
    /// can apply records idempotently by (edge, seq) and detect gaps.
    pub seq: u64,
    /// The point the datum belongs to.
    pub point: PointId,
    pub value: Value,
    pub quality: Quality,
    /// When the source says the value was taken, if it said so, with how far to trust that.
    pub source_time: Option<(Timestamp, TimeQuality)>,
    /// When the edge received the datum, from the edge's clock.
    pub received_at: Timestamp,
}

impl Record {
    /// The canonical bytes of this record (see [`crate::canonical`]).
    pub fn encode_canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.point.as_str().len());
        crate::canonical::encode_record(self, &mut out);
        out
    }

    /// Appends the canonical bytes to `out`, for hot paths that reuse a buffer.
    pub fn encode_canonical_into(&self, out: &mut Vec<u8>) {
        crate::canonical::encode_record(self, out);
    }

    /// Parses canonical bytes; refuses anything that would not re-encode to the same bytes.
    pub fn decode_canonical(bytes: &[u8]) -> Result<Self, crate::DecodeError> {
        crate::canonical::decode_record(bytes)
    }
}
