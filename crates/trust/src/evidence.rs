//! The batch header the edge signs, and the checks every receiver runs.
//!
//! The edge closes a batch of consecutive records (by count or by a short time window), hashes
//! the records' canonical encodings into an RFC 9162 Merkle root, and writes a [`BatchHeader`]
//! that names the edge, the batch, the records covered, the root, the previous header's hash
//! and the time. One signature over the header's canonical bytes covers every record, and the
//! previous-header hash makes the batches a chain in which a dropped, reordered or replayed
//! batch shows.
//!
//! Canonical header encoding, version 1 (big-endian, fixed width):
//!
//! ```text
//! 1   version (0x01)
//! 1   edge id length N (1..=64), then N bytes of ASCII edge id
//! 8   batch seq
//! 8   first record seq
//! 4   record count (>= 1)
//! 32  Merkle root over the records' canonical encodings (RFC 9162)
//! 32  SHA-256 of the previous header's canonical bytes (zeros for a chain's first batch)
//! 8   closed at, nanoseconds since the Unix epoch
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use gridtrust_model::{Record, Timestamp};

use crate::merkle::{self, Hash};

/// Header format version written by this build.
pub const HEADER_VERSION: u8 = 1;

/// Longest edge id, so the header has a bounded size.
pub const MAX_EDGE_ID_LEN: usize = 64;

/// What the edge signs for each batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchHeader {
    /// The edge that produced the records (the subject of its certificate).
    pub edge_id: String,
    /// Per-edge batch number, increasing by one per batch.
    pub batch_seq: u64,
    /// `seq` of the first record; the batch covers `first_seq .. first_seq + count`.
    pub first_seq: u64,
    pub count: u32,
    /// RFC 9162 root over the records' canonical encodings.
    pub merkle_root: Hash,
    /// Hash of the previous batch header, zeros for the first batch of a chain (an edge's first,
    /// or the first after it lost its queue: see [`crate::chain`]).
    pub prev_header_hash: Hash,
    /// When the edge closed the batch.
    pub closed_at: Timestamp,
}

/// A signature over a header's canonical bytes. Filled by the chain-of-trust signer; `None`
/// while evidence is unsigned (then receivers can check integrity and chaining, not origin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Algorithm name, e.g. `ecdsa-p256-sha256`.
    pub algorithm: String,
    /// SHA-256 fingerprint of the signer's certificate, so the receiver can find it.
    pub signer: Hash,
    pub bytes: Vec<u8>,
}

/// A batch as it travels edge → hub → cc: header, signature slot and the records it covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedBatch {
    pub header: BatchHeader,
    pub signature: Option<Signature>,
    pub records: Vec<Record>,
}

/// Why a batch or header does not hold up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("header ends at byte {offset} while reading {field}")]
    Truncated { field: &'static str, offset: usize },
    #[error("header format version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("header field {field} is invalid: {reason}")]
    BadField { field: &'static str, reason: String },
    #[error("{0} bytes follow the end of the header")]
    TrailingBytes(usize),
    #[error("batch {batch_seq} of edge {edge} says {claimed} records but carries {carried}")]
    CountMismatch { edge: String, batch_seq: u64, claimed: u32, carried: usize },
    #[error("batch {batch_seq} of edge {edge}: record {index} has seq {got}, expected {expected}")]
    SequenceMismatch { edge: String, batch_seq: u64, index: usize, expected: u64, got: u64 },
    #[error("batch {batch_seq} of edge {edge}: records do not match the Merkle root (altered in transit or at rest)")]
    RootMismatch { edge: String, batch_seq: u64 },
    #[error("batch {batch_seq} of edge {edge} does not follow the previous header (chain broken)")]
    ChainBroken { edge: String, batch_seq: u64 },
    #[error("batch {batch_seq} of edge {edge} carries no signature")]
    Unsigned { edge: String, batch_seq: u64 },
    #[error("batch {batch_seq} of edge {edge}: signature does not verify: {reason}")]
    BadSignature { edge: String, batch_seq: u64, reason: crate::signing::VerifyError },
}

impl BatchHeader {
    /// Builds the header for `records`, which must be consecutive (the caller, the edge's
    /// batcher, guarantees it); none makes a heartbeat, whose `first_seq` the batcher sets.
    pub fn for_records(edge_id: &str, batch_seq: u64, records: &[Record], prev_header_hash: Hash, closed_at: Timestamp) -> Self {
        Self {
            edge_id: edge_id.to_owned(),
            batch_seq,
            first_seq: records.first().map_or(0, |r| r.seq),
            count: u32::try_from(records.len()).unwrap_or(u32::MAX),
            merkle_root: records_root(records),
            prev_header_hash,
            closed_at,
        }
    }

    /// The canonical bytes that are signed and chained.
    pub fn encode_canonical(&self) -> Vec<u8> {
        let id = self.edge_id.as_bytes();
        let mut out = Vec::with_capacity(94 + id.len());
        out.push(HEADER_VERSION);
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(id);
        out.extend_from_slice(&self.batch_seq.to_be_bytes());
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.merkle_root);
        out.extend_from_slice(&self.prev_header_hash);
        out.extend_from_slice(&self.closed_at.0.to_be_bytes());
        out
    }

    /// Parses canonical header bytes, refusing anything non-canonical.
    pub fn decode_canonical(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let mut cursor = Cursor { bytes, pos: 0 };
        let version = cursor.byte("version")?;
        if version != HEADER_VERSION {
            return Err(EvidenceError::UnsupportedVersion(version));
        }
        let len = usize::from(cursor.byte("edge id length")?);
        let id = cursor.take(len, "edge id")?;
        let edge_id = std::str::from_utf8(id).map_err(|e| EvidenceError::BadField { field: "edge id", reason: e.to_string() })?.to_owned();
        validate_edge_id(&edge_id)?;
        let batch_seq = u64::from_be_bytes(cursor.array("batch seq")?);
        let first_seq = u64::from_be_bytes(cursor.array("first seq")?);
        let count = u32::from_be_bytes(cursor.array("count")?);
        let merkle_root: Hash = cursor.array("merkle root")?;
        // An empty batch is an idle edge's heartbeat: it covers no record, so its root can only
        // be the empty tree's.
        if count == 0 && merkle_root != records_root(&[]) {
            return Err(EvidenceError::BadField {
                field: "merkle root",
                reason: "an empty batch (a heartbeat) has the empty tree's root".into(),
            });
        }
        let prev_header_hash: Hash = cursor.array("previous header hash")?;
        let closed_at = Timestamp(i64::from_be_bytes(cursor.array("closed at")?));
        cursor.finish()?;
        Ok(Self { edge_id, batch_seq, first_seq, count, merkle_root, prev_header_hash, closed_at })
    }

    /// Signs this header as its edge (in the key store: HSM or development key).
    pub fn sign(&self, signer: &dyn crate::signing::Signer, certificate_id: Hash) -> Result<Signature, crate::signing::SignError> {
        Signature::create(signer, certificate_id, &header_signing_input(self))
    }

    /// Checks `signature` over this header with the public key of the certificate it names
    /// (which the caller has validated: chain, validity, revocation, edge identity).
    pub fn verify_signature(&self, signature: &Signature, public_key: &[u8]) -> Result<(), crate::signing::VerifyError> {
        signature.verify(public_key, &header_signing_input(self))
    }

    /// SHA-256 of the canonical bytes: what the next header chains to.
    pub fn hash(&self) -> Hash {
        Sha256::digest(self.encode_canonical()).into()
    }

    /// Checks that this header directly follows `previous` of the same edge: next number, next
    /// record sequence, and the hash link.
    pub fn verify_follows(&self, previous: &BatchHeader) -> Result<(), EvidenceError> {
        match crate::chain::ChainStep::of(Some(previous), self) {
            crate::chain::ChainStep::Follows => Ok(()),
            _ => Err(EvidenceError::ChainBroken { edge: self.edge_id.clone(), batch_seq: self.batch_seq }),
        }
    }
}

/// Domain separation for batch-header signatures, so that a signature made for one purpose
/// (header, command, checkpoint) can never be presented as another.
pub const HEADER_SIGNING_CONTEXT: &[u8] = b"gridtrust/v1/batch-header\0";

/// The bytes an edge signs for `header`: the context followed by the canonical header.
pub fn header_signing_input(header: &BatchHeader) -> Vec<u8> {
    let mut input = HEADER_SIGNING_CONTEXT.to_vec();
    input.extend_from_slice(&header.encode_canonical());
    input
}

impl Signature {
    /// Signs `message` with `signer`, naming the certificate that vouches for the key.
    pub fn create(signer: &dyn crate::signing::Signer, certificate_id: Hash, message: &[u8]) -> Result<Self, crate::signing::SignError> {
        Ok(Self { algorithm: crate::signing::ECDSA_P256_SHA256.to_owned(), signer: certificate_id, bytes: signer.sign(message)? })
    }

    /// Checks this signature over `message` with the public key of the certificate it names.
    pub fn verify(&self, public_key: &[u8], message: &[u8]) -> Result<(), crate::signing::VerifyError> {
        crate::signing::verify_named(&self.algorithm, public_key, message, &self.bytes)
    }
}

/// Longest algorithm name and signature accepted when decoding sealed headers.
const MAX_ALGORITHM_LEN: usize = 32;
const MAX_SIGNATURE_LEN: usize = 255;

/// A header together with its signature, in the byte form that queues, stores and evidence
/// exports keep (so that what was signed is kept exactly, not re-derived):
///
/// ```text
/// 2   header length H (big-endian), then H canonical header bytes
/// 1   0 = unsigned, 1 = signed; if signed:
///     1 algorithm length A, A bytes of algorithm name
///     32 signer certificate id
///     1 signature length S, S bytes of signature
/// ```
pub fn encode_sealed(header: &BatchHeader, signature: Option<&Signature>) -> Vec<u8> {
    let canonical = header.encode_canonical();
    let mut out = Vec::with_capacity(canonical.len() + 140);
    // A canonical header is 94 bytes and an edge id (its length is one byte): nothing saturates.
    out.extend_from_slice(&u16::try_from(canonical.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&canonical);
    match signature {
        None => out.push(0),
        Some(sig) => {
            out.push(1);
            put_short(&mut out, sig.algorithm.as_bytes(), MAX_ALGORITHM_LEN);
            out.extend_from_slice(&sig.signer);
            put_short(&mut out, &sig.bytes, MAX_SIGNATURE_LEN);
        }
    }
    out
}

/// Appends a one-byte length and the first that many bytes of `bytes`: at most `max`, and never
/// more than the length byte can say, so the length always matches what follows.
fn put_short(out: &mut Vec<u8>, bytes: &[u8], max: usize) {
    let len = u8::try_from(bytes.len().min(max)).unwrap_or(u8::MAX);
    out.push(len);
    out.extend(bytes.iter().take(usize::from(len)));
}

/// Parses [`encode_sealed`] bytes strictly.
pub fn decode_sealed(bytes: &[u8]) -> Result<(BatchHeader, Option<Signature>), EvidenceError> {
    let mut cursor = Cursor { bytes, pos: 0 };
    let header_len = usize::from(u16::from_be_bytes(cursor.array("header length")?));
    let header = BatchHeader::decode_canonical(cursor.take(header_len, "header")?)?;
    let signature = match cursor.byte("signature flag")? {
        0 => None,
        1 => {
            let alg_len = usize::from(cursor.byte("algorithm length")?);
            let algorithm = std::str::from_utf8(cursor.take(alg_len, "algorithm")?)
                .map_err(|e| EvidenceError::BadField { field: "algorithm", reason: e.to_string() })?
                .to_owned();
            let signer = cursor.array("signer")?;
            let sig_len = usize::from(cursor.byte("signature length")?);
            let sig = cursor.take(sig_len, "signature")?.to_vec();
            Some(Signature { algorithm, signer, bytes: sig })
        }
        other => return Err(EvidenceError::BadField { field: "signature flag", reason: format!("{other} is neither 0 nor 1") }),
    };
    cursor.finish()?;
    Ok((header, signature))
}

/// Reads fields off canonical bytes, naming the field that is cut short.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EvidenceError> {
        let end = self.pos.checked_add(n);
        let s = end.and_then(|end| self.bytes.get(self.pos..end)).ok_or_else(|| self.truncated(field))?;
        self.pos += n;
        Ok(s)
    }

    fn truncated(&self, field: &'static str) -> EvidenceError {
        EvidenceError::Truncated { field, offset: self.bytes.len() }
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, EvidenceError> {
        let [b] = self.array(field)?;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EvidenceError> {
        // `take` gives exactly N bytes or an error, so the conversion cannot fail.
        self.take(N, field)?.try_into().map_err(|_| self.truncated(field))
    }

    fn finish(&self) -> Result<(), EvidenceError> {
        if self.pos == self.bytes.len() { Ok(()) } else { Err(EvidenceError::TrailingBytes(self.bytes.len() - self.pos)) }
    }
}

/// Checks an edge id is short ASCII without separators, as the header encoding requires.
pub fn validate_edge_id(id: &str) -> Result<(), EvidenceError> {
    let ok =
        !id.is_empty() && id.len() <= MAX_EDGE_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(EvidenceError::BadField { field: "edge id", reason: format!("`{id}` must be 1..=64 of [A-Za-z0-9-_.]") }) }
}

/// Merkle root over records' canonical encodings.
pub fn records_root(records: &[Record]) -> Hash {
    merkle::root_from_leaf_hashes(&record_leaf_hashes(records))
}

/// Leaf hashes of records, for proofs.
pub fn record_leaf_hashes(records: &[Record]) -> Vec<Hash> {
    let mut buf = Vec::with_capacity(96);
    records
        .iter()
        .map(|r| {
            buf.clear();
            r.encode_canonical_into(&mut buf);
            merkle::leaf_hash(&buf)
        })
        .collect()
}

impl SignedBatch {
    /// Checks that the records are the ones the header covers: count, consecutive sequence
    /// numbers and the Merkle root. Signature and chain are checked by their own functions.
    pub fn verify_integrity(&self) -> Result<(), EvidenceError> {
        let h = &self.header;
        if usize::try_from(h.count).ok() != Some(self.records.len()) {
            return Err(EvidenceError::CountMismatch {
                edge: h.edge_id.clone(),
                batch_seq: h.batch_seq,
                claimed: h.count,
                carried: self.records.len(),
            });
        }
        for (index, r) in self.records.iter().enumerate() {
            let expected = h.first_seq.wrapping_add(index as u64);
            if r.seq != expected {
                return Err(EvidenceError::SequenceMismatch {
                    edge: h.edge_id.clone(),
                    batch_seq: h.batch_seq,
                    index,
                    expected,
                    got: r.seq,
                });
            }
        }
        if records_root(&self.records) != h.merkle_root {
            return Err(EvidenceError::RootMismatch { edge: h.edge_id.clone(), batch_seq: h.batch_seq });
        }
        Ok(())
    }

    /// Signs the header (in the key store: HSM or development key) as the edge closing the batch.
    pub fn sign(&mut self, signer: &dyn crate::signing::Signer, certificate_id: Hash) -> Result<(), crate::signing::SignError> {
        self.signature = Some(self.header.sign(signer, certificate_id)?);
        Ok(())
    }

    /// Checks the header's signature with the public key of the edge certificate it names; the
    /// caller has already checked that certificate (chain, validity, revocation, edge identity).
    pub fn verify_signature(&self, public_key: &[u8]) -> Result<(), EvidenceError> {
        let h = &self.header;
        let sig = self.signature.as_ref().ok_or_else(|| EvidenceError::Unsigned { edge: h.edge_id.clone(), batch_seq: h.batch_seq })?;
        h.verify_signature(sig, public_key).map_err(|reason| EvidenceError::BadSignature {
            edge: h.edge_id.clone(),
            batch_seq: h.batch_seq,
            reason,
        })
    }

    /// The header and signature in their stored byte form.
    pub fn sealed_header(&self) -> Vec<u8> {
        encode_sealed(&self.header, self.signature.as_ref())
    }

    /// Checks that this batch directly follows `previous` of the same edge.
    pub fn verify_follows(&self, previous: &BatchHeader) -> Result<(), EvidenceError> {
        self.header.verify_follows(previous)
    }
}

/// A batch whose evidence held: its records are the ones its header covers, and its header is
/// signed with the key the receiver looked up for the edge (or, where the operator turned
/// evidence off for a benchmark, it was taken without that check: [`VerifiedBatch::is_signed`]).
/// Only these checks make one, so what takes a `VerifiedBatch` (the hub's store) cannot be
/// handed a batch nobody checked. It carries the sealed header, encoded once here, as it is
/// stored and logged.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedBatch {
    batch: std::sync::Arc<SignedBatch>,
    sealed: Vec<u8>,
    signed: bool,
}

impl VerifiedBatch {
    /// Checks integrity and the signature with `public_key`, the key of the certificate the
    /// caller validated for this batch's edge (chain, validity, revocation, identity).
    pub fn signed(batch: std::sync::Arc<SignedBatch>, public_key: &[u8]) -> Result<Self, EvidenceError> {
        batch.verify_integrity()?;
        batch.verify_signature(public_key)?;
        Ok(Self::from_checked(batch, true))
    }

    /// Checks integrity only: for a receiver configured to run without evidence signatures
    /// (the chain benchmark), never for one that promises origin.
    pub fn without_signature(batch: std::sync::Arc<SignedBatch>) -> Result<Self, EvidenceError> {
        batch.verify_integrity()?;
        Ok(Self::from_checked(batch, false))
    }

    fn from_checked(batch: std::sync::Arc<SignedBatch>, signed: bool) -> Self {
        let sealed = batch.sealed_header();
        Self { batch, sealed, signed }
    }

    pub fn batch(&self) -> &std::sync::Arc<SignedBatch> {
        &self.batch
    }

    pub fn header(&self) -> &BatchHeader {
        &self.batch.header
    }

    pub fn records(&self) -> &[Record] {
        &self.batch.records
    }

    /// The header and signature as stored and logged ([`encode_sealed`]).
    pub fn sealed_header(&self) -> &[u8] {
        &self.sealed
    }

    /// Whether its signature was checked.
    pub fn is_signed(&self) -> bool {
        self.signed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{PointId, Quality, Value};

    fn records(first: u64, n: u64) -> Vec<Record> {
        (first..first + n)
            .map(|seq| Record {
                seq,
                point: PointId::new("LD0/MMXU1.TotW.mag.f").unwrap(),
                value: Value::Float(seq as f32),
                quality: Quality::GOOD,
                source_time: None,
                received_at: Timestamp(seq as i64),
            })
            .collect()
    }

    fn batch(seq: u64, first: u64, n: u64, prev: Hash) -> SignedBatch {
        let recs = records(first, n);
        SignedBatch { header: BatchHeader::for_records("edge-1", seq, &recs, prev, Timestamp(99)), signature: None, records: recs }
    }

    #[test]
    fn header_round_trips_canonically() {
        let b = batch(3, 10, 5, [7; 32]);
        let bytes = b.header.encode_canonical();
        assert_eq!(bytes.len(), 1 + 1 + 6 + 8 + 8 + 4 + 32 + 32 + 8);
        assert_eq!(BatchHeader::decode_canonical(&bytes).unwrap(), b.header);
        for cut in 0..bytes.len() {
            assert!(BatchHeader::decode_canonical(&bytes[..cut]).is_err());
        }
    }

    #[test]
    fn altered_value_breaks_the_root() {
        let mut b = batch(1, 0, 10, [0; 32]);
        assert_eq!(b.verify_integrity(), Ok(()));
        b.records[4].value = Value::Float(1e9);
        assert!(matches!(b.verify_integrity(), Err(EvidenceError::RootMismatch { batch_seq: 1, .. })));
    }

    #[test]
    fn dropped_record_and_reordering_are_detected() {
        let mut b = batch(1, 0, 10, [0; 32]);
        b.records.remove(3);
        assert!(matches!(b.verify_integrity(), Err(EvidenceError::CountMismatch { .. })));
        let mut b = batch(1, 0, 10, [0; 32]);
        b.records.swap(1, 2);
        assert!(matches!(b.verify_integrity(), Err(EvidenceError::SequenceMismatch { index: 1, .. })));
    }

    #[test]
    fn signed_header_verifies_and_seals() {
        let key = crate::signing::EphemeralSigner::generate();
        let mut b = batch(1, 0, 10, [0; 32]);
        assert!(matches!(b.verify_signature(&crate::signing::Signer::public_key(&key)), Err(EvidenceError::Unsigned { .. })));
        b.sign(&key, [9; 32]).unwrap();
        assert_eq!(b.verify_signature(&crate::signing::Signer::public_key(&key)), Ok(()));
        let sealed = b.sealed_header();
        let (header, sig) = decode_sealed(&sealed).unwrap();
        assert_eq!((&header, sig.as_ref()), (&b.header, b.signature.as_ref()));
        for cut in 0..sealed.len() {
            assert!(decode_sealed(&sealed[..cut]).is_err());
        }
        let unsigned = encode_sealed(&b.header, None);
        assert_eq!(decode_sealed(&unsigned).unwrap().1, None);
    }

    #[test]
    fn a_changed_header_field_breaks_the_signature() {
        let key = crate::signing::EphemeralSigner::generate();
        let mut b = batch(1, 0, 10, [0; 32]);
        b.sign(&key, [9; 32]).unwrap();
        b.header.closed_at = Timestamp(100);
        assert!(matches!(b.verify_signature(&crate::signing::Signer::public_key(&key)), Err(EvidenceError::BadSignature { .. })));
    }

    proptest::proptest! {
        #[test]
        fn decode_sealed_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode_sealed(&bytes);
        }
    }

    #[test]
    fn chain_detects_a_skipped_batch() {
        let b1 = batch(1, 0, 10, [0; 32]);
        let b2 = batch(2, 10, 10, b1.header.hash());
        let b3 = batch(3, 20, 10, b2.header.hash());
        assert_eq!(b2.verify_follows(&b1.header), Ok(()));
        assert!(b3.verify_follows(&b1.header).is_err());
        let forged = batch(2, 10, 10, [1; 32]);
        assert!(forged.verify_follows(&b1.header).is_err());
    }
}
