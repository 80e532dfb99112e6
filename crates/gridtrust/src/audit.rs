//! Offline audit: export evidence from a hub's data directory, verify it anywhere.
//!
//! The hub operator runs `gridtrust export` on the hub's data directory; an auditor runs
//! `gridtrust verify` on the exported file with nothing but the operator CA's certificate and
//! CRL: no hub, no network, no key. What can be checked:
//!
//! - **a value** ([`ValueEvidence`]): the record's canonical bytes hash to a leaf that the Merkle
//!   inclusion proof takes to the root in its batch header; the header is signed by a
//!   certificate that validates for signing and belongs to the edge the header names; and, when
//!   the header was logged under a signed checkpoint, the header is in the hub's transparency
//!   log at the index given, under a checkpoint signed by a hub certificate.
//! - **a chain** ([`ChainEvidence`]): every stored header of one edge is signed by that edge,
//!   and each follows the previous (batch seq + 1, first record seq continues, previous-header
//!   hash); every missing batch is named, and a new chain the edge started after losing its
//!   queue is reported as a restart (see `gridtrust_trust::chain`).
//! - **consistency** ([`CheckpointEvidence`]): two signed checkpoints of the same log, and the
//!   older tree a prefix of the newer one (RFC 9162 consistency proof), so the hub did not
//!   rewrite history between them. The older one may be a cc's `checkpoint.bin`.
//!
//! # Export file format, version 1
//!
//! A JSON object. Binary fields are lowercase hex strings. Every file has `"kind"` and
//! `"format_version": 1`; unknown fields are refused. The binary fields are the exact byte forms
//! that were signed or logged, so nothing is re-derived: a record is its canonical encoding
//! (`gridtrust_model::canonical`), a batch header is the `encode_sealed` form (header and the
//! edge's signature, `gridtrust_trust::evidence`), a checkpoint is `SignedCheckpoint::encode`
//! (`gridtrust_trust::checkpoint`), certificates are DER, proofs are lists of 32-byte hashes
//! bottom-up (RFC 9162). `summary` objects repeat decoded fields for a human reader; `verify`
//! checks that they agree with the signed bytes, so a summary cannot say something the evidence
//! does not.
//!
//! ```text
//! kind "gridtrust.value-evidence":
//!   summary            {point, edge_id, seq, batch_seq, series_time_ns, value}
//!   record             canonical record bytes
//!   record_index       leaf index of the record in its batch (record seq - batch first seq)
//!   batch_size         leaves in the batch (the header's count)
//!   record_proof       inclusion proof of the record's leaf to the header's Merkle root
//!   batch_header       sealed header
//!   edge_certificate   the certificate whose key signed the header
//!   log                null, or {index, tree_size, proof, checkpoint, hub_certificate}: the
//!                      header's log entry (LogEntry::BatchHeader(batch_header)) is entry `index`
//!                      of the tree of `tree_size` entries the checkpoint signs
//! kind "gridtrust.chain-evidence":
//!   edge_id, headers (sealed headers in batch order), certificates (DER, each once)
//! kind "gridtrust.checkpoint-evidence":
//!   summary            {log_id, tree_size, root, timestamp_ns}
//!   checkpoint         signed checkpoint
//!   hub_certificate    the certificate whose key signed it
//!   consistency        null, or {from_size, proof}: proof from the tree of `from_size` entries
//!                      to this checkpoint's
//! ```
//!
//! # Exporting
//!
//! The export reads `hub.redb`, `log.redb`, `certificates/*.der` and the hub's latest signed
//! checkpoint (`checkpoint.bin` with `hub-certificate.der`, written by the hub each time it
//! signs one) from the data directory. redb gives no second handle on a file a process holds
//! open for writing, so **stop the hub first** (or export from a copy of a stopped hub's data
//! directory); the store is opened read-only. A hub that crashed must be started and stopped
//! once so that redb repairs the store. Finding a header in the log is a scan of the log up to
//! the checkpoint's size.
//!
//! Deliberately not here: verifying the whole log entry by entry (`TransparencyLog::verify_storage`
//! does that on the hub side), commands and command results, and any trust in the hub: the
//! verifier never uses anything the hub says except as bytes to check.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gridtrust_hub::REGISTRY_FILE;
use gridtrust_hub::evidence::{ValueProof, ValueProofError, header_in_log, prove_value_at};
use gridtrust_hub::ledger::{CERTIFICATE_FILE, CHECKPOINT_FILE};
use gridtrust_model::{PointId, Record, Timestamp};
use gridtrust_pki::{IdentityKind, PeerIdentity, PkiError, Purpose, TrustAnchors};
use gridtrust_store::translog::TransparencyLog;
use gridtrust_store::{HubStoreReader, StoreError, series_time};
use gridtrust_trust::chain::{Break, ChainStep};
use gridtrust_trust::checkpoint::{CheckpointError, CheckpointTracker, CodecError, LogEntry, SignedCheckpoint};
use gridtrust_trust::evidence::{BatchHeader, EvidenceError, Signature, decode_sealed};
use gridtrust_trust::merkle::{self, Hash, ProofError};
use gridtrust_trust::registry::{PointRegistry, SignedRegistry};
use gridtrust_trust::signing::certificate_id;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

/// Export file format version written and read by this build.
pub const FORMAT_VERSION: u32 = 1;
/// `kind` of a value export.
pub const KIND_VALUE: &str = "gridtrust.value-evidence";
/// `kind` of a chain export.
pub const KIND_CHAIN: &str = "gridtrust.chain-evidence";
/// `kind` of a checkpoint export.
pub const KIND_CHECKPOINT: &str = "gridtrust.checkpoint-evidence";

/// The hub store, log and edge certificate folder inside a hub data directory.
pub const HUB_STORE_FILE: &str = "hub.redb";
/// The transparency log inside a hub data directory.
pub const LOG_FILE: &str = "log.redb";
/// The edge certificates the hub saved, inside a hub data directory.
pub const CERTIFICATES_DIR: &str = "certificates";

// ---------------------------------------------------------------------------------------------
// Hex and the JSON shapes

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    gridtrust_trust::command::hex(bytes)
}

/// Why a string is not hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// An odd number of digits.
    #[error("odd number of hex digits ({0})")]
    OddLength(usize),
    /// A character that is not a hex digit.
    #[error("character {found:?} at position {at} is not a hex digit")]
    BadDigit {
        /// Its position.
        at: usize,
        /// The character.
        found: char,
    },
}

/// Parses hex (either case) into bytes.
pub fn from_hex(s: &str) -> Result<Vec<u8>, HexError> {
    let digit = |at: usize, c: u8| -> Result<u8, HexError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            // `at` may fall inside a multi-byte character: then the replacement character.
            _ => Err(HexError::BadDigit { at, found: s.get(at..).and_then(|r| r.chars().next()).unwrap_or(char::REPLACEMENT_CHARACTER) }),
        }
    };
    let b = s.as_bytes();
    if b.len() & 1 == 1 {
        return Err(HexError::OddLength(b.len()));
    }
    b.chunks_exact(2).enumerate().map(|(i, pair)| Ok(digit(2 * i, pair[0])? << 4 | digit(2 * i + 1, pair[1])?)).collect()
}

/// Bytes that travel as a hex string in the JSON.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

impl fmt::Debug for HexBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl AsRef<[u8]> for HexBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for HexBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        from_hex(&s).map(Self).map_err(serde::de::Error::custom)
    }
}

fn hashes_to_hex(hashes: &[Hash]) -> Vec<HexBytes> {
    hashes.iter().map(|h| HexBytes(h.to_vec())).collect()
}

/// Evidence that one stored value is what an edge signed (see the module docs for the fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueEvidence {
    /// [`KIND_VALUE`].
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Decoded fields for a human reader; checked against the signed bytes.
    pub summary: ValueSummary,
    /// The record's canonical bytes as stored.
    pub record: HexBytes,
    /// The record's leaf index in its batch.
    pub record_index: u64,
    /// Leaves in the batch.
    pub batch_size: u64,
    /// Inclusion proof of the record's leaf to the header's root.
    pub record_proof: Vec<HexBytes>,
    /// Sealed header (header and edge signature).
    pub batch_header: HexBytes,
    /// DER certificate of the key that signed the header.
    pub edge_certificate: HexBytes,
    /// The header's place in the transparency log, when a signed checkpoint covers it.
    pub log: Option<LogInclusion>,
    /// The signed point registry the hub held (`SignedRegistry::to_bytes`): it must grant the
    /// value's point to the edge that signed it. Without it the value does not verify.
    #[serde(default)]
    pub registry: Option<HexBytes>,
}

/// What a value export says in words; [`Auditor::value`] checks each against the evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSummary {
    /// The point.
    pub point: String,
    /// The edge that signed it.
    pub edge_id: String,
    /// The record's per-edge seq.
    pub seq: u64,
    /// The batch that covers it.
    pub batch_seq: u64,
    /// The time the store files it under, ns since the epoch.
    pub series_time_ns: i64,
    /// The value, as the model's debug form (e.g. `Float(231.4)`).
    pub value: String,
}

/// A log entry's inclusion under a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogInclusion {
    /// The entry's index in the log.
    pub index: u64,
    /// The tree size the proof is to; equals the checkpoint's.
    pub tree_size: u64,
    /// Inclusion proof of the entry's leaf to the checkpoint's root.
    pub proof: Vec<HexBytes>,
    /// The signed checkpoint (`SignedCheckpoint::encode`).
    pub checkpoint: HexBytes,
    /// DER certificate of the key that signed the checkpoint.
    pub hub_certificate: HexBytes,
}

/// An edge's chain of batch headers as the hub holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainEvidence {
    /// [`KIND_CHAIN`].
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The edge.
    pub edge_id: String,
    /// Sealed headers in batch-seq order.
    pub headers: Vec<HexBytes>,
    /// DER certificates of the keys that signed them, each once.
    pub certificates: Vec<HexBytes>,
}

/// A signed checkpoint with the certificate to check it and, optionally, a consistency proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEvidence {
    /// [`KIND_CHECKPOINT`].
    pub kind: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Decoded fields for a human reader; checked against the signed bytes.
    pub summary: CheckpointSummary,
    /// The signed checkpoint (`SignedCheckpoint::encode`).
    pub checkpoint: HexBytes,
    /// DER certificate of the key that signed it.
    pub hub_certificate: HexBytes,
    /// Proof that an older tree is a prefix of this one.
    pub consistency: Option<ConsistencyProof>,
}

/// What a checkpoint export says in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSummary {
    /// The log (the hub's certificate name).
    pub log_id: String,
    /// Entries covered.
    pub tree_size: u64,
    /// Root, hex.
    pub root: String,
    /// When the hub signed it, ns since the epoch.
    pub timestamp_ns: i64,
}

/// A consistency proof from `from_size` entries to the checkpoint's tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from_size: u64,
    /// RFC 9162 consistency proof.
    pub proof: Vec<HexBytes>,
}

/// An older checkpoint for [`Auditor::consistency`]: an export, or a bare `checkpoint.bin`
/// (as the cc keeps it) whose certificate is then taken from the newer export if it names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OldCheckpoint {
    /// A checkpoint export.
    Export(CheckpointEvidence),
    /// `SignedCheckpoint::encode` bytes.
    Raw(SignedCheckpoint),
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, VerifyError> {
    // The kind is checked first, so a file of another kind says so rather than naming a field.
    #[derive(Deserialize)]
    struct Head {
        kind: Option<String>,
        format_version: Option<u32>,
    }
    let expected = match what {
        "value evidence" => KIND_VALUE,
        "chain evidence" => KIND_CHAIN,
        _ => KIND_CHECKPOINT,
    };
    let head: Head = serde_json::from_slice(bytes).map_err(|source| VerifyError::Json { what, source })?;
    if head.kind.as_deref() != Some(expected) {
        return Err(VerifyError::WrongKind { what, expected, got: head.kind });
    }
    if head.format_version != Some(FORMAT_VERSION) {
        return Err(VerifyError::UnsupportedVersion { what, version: head.format_version });
    }
    serde_json::from_slice(bytes).map_err(|source| VerifyError::Json { what, source })
}

impl ValueEvidence {
    /// Parses a value export; never panics, whatever the bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        parse_json(bytes, "value evidence")
    }
}

impl ChainEvidence {
    /// Parses a chain export; never panics, whatever the bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        parse_json(bytes, "chain evidence")
    }
}

impl CheckpointEvidence {
    /// Parses a checkpoint export; never panics, whatever the bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        parse_json(bytes, "checkpoint evidence")
    }
}

impl OldCheckpoint {
    /// A checkpoint export (JSON, starting with `{`) or `checkpoint.bin` bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, VerifyError> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            CheckpointEvidence::from_json(bytes).map(Self::Export)
        } else {
            SignedCheckpoint::decode(bytes).map(Self::Raw).map_err(|source| VerifyError::Checkpoint { which: "older checkpoint", source })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// Why evidence does not hold. Each variant names what failed: which file part, which batch,
/// which field.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA certificate or CRL could not be loaded.
    #[error("trust anchors: {0}")]
    Anchors(#[source] PkiError),
    /// Not JSON of the expected shape.
    #[error("{what} is not valid export JSON: {source}")]
    Json {
        /// The kind of file expected.
        what: &'static str,
        /// serde_json's reason, with line and column.
        source: serde_json::Error,
    },
    /// An export of another kind.
    #[error("{what}: kind is {got:?}, expected {expected:?}")]
    WrongKind {
        /// The kind of file expected.
        what: &'static str,
        /// Its `kind`.
        expected: &'static str,
        /// The `kind` found.
        got: Option<String>,
    },
    /// A format version this build does not read.
    #[error("{what}: format_version {version:?} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The kind of file.
        what: &'static str,
        /// The version found.
        version: Option<u32>,
    },
    /// The point registry is missing or does not hold up.
    #[error("{0}")]
    Authority(String),
    /// The registry does not grant the point to the edge that signed the value.
    #[error("edge {edge} signed a value of {point}, which point registry version {version} grants to {}", owner.as_deref().unwrap_or("no edge"))]
    NotOwner {
        /// The point.
        point: String,
        /// The edge that signed.
        edge: String,
        /// The owner in the registry.
        owner: Option<String>,
        /// The registry version.
        version: u64,
    },
    /// The record is not a canonical record.
    #[error("record does not decode: {0}")]
    Record(#[source] gridtrust_model::DecodeError),
    /// A batch header is not a sealed header.
    #[error("batch header {position} does not decode: {source}")]
    Header {
        /// Which header: "of the value", or its position in a chain export.
        position: String,
        /// Why.
        source: EvidenceError,
    },
    /// A checkpoint is not a signed checkpoint.
    #[error("{which} does not decode: {source}")]
    Checkpoint {
        /// Which checkpoint.
        which: &'static str,
        /// Why.
        source: CodecError,
    },
    /// A proof element or hash is malformed.
    #[error("{field} is malformed: {source}")]
    MalformedProof {
        /// Which proof.
        field: &'static str,
        /// Why.
        source: ProofError,
    },
    /// The record's position does not fit its batch.
    #[error("batch {batch_seq} of edge {edge}: {problem}")]
    RecordPosition {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
        /// What does not fit.
        problem: String,
    },
    /// The record is not in the batch's Merkle tree: it, or the proof, was altered.
    #[error(
        "batch {batch_seq} of edge {edge}: record seq {seq} (leaf {index} of {size}) is not in the batch's Merkle tree \
         (the record was altered at rest or in transit, or the proof is wrong): {source}"
    )]
    RecordNotInBatch {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
        /// The record's seq.
        seq: u64,
        /// Its leaf index.
        index: u64,
        /// The batch size.
        size: u64,
        /// What the proof check found.
        source: ProofError,
    },
    /// A batch header carries no signature.
    #[error("batch {batch_seq} of edge {edge}: header is unsigned")]
    Unsigned {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
    },
    /// A certificate does not validate (CA, validity, revocation, purpose).
    #[error("{whose} certificate {id} refused: {source}")]
    Certificate {
        /// Whose certificate ("edge", "hub").
        whose: &'static str,
        /// Its SHA-256, hex.
        id: String,
        /// Why.
        source: PkiError,
    },
    /// No certificate in the export is the one a signature names.
    #[error("{what} is signed by certificate {signer}, which the export does not contain")]
    MissingCertificate {
        /// What was signed.
        what: String,
        /// The certificate id the signature names, hex.
        signer: String,
    },
    /// The certificate is valid but not the signer's: another kind, name or key.
    #[error("{what} is signed by {signer}, but {problem}")]
    WrongSigner {
        /// What was signed.
        what: String,
        /// Who the certificate identifies.
        signer: String,
        /// Why that is not acceptable.
        problem: String,
    },
    /// A batch header's signature does not verify.
    #[error("batch {batch_seq} of edge {edge}: header signature does not verify: {source}")]
    HeaderSignature {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
        /// Why.
        source: gridtrust_trust::signing::VerifyError,
    },
    /// A checkpoint's signature does not verify.
    #[error("{which} (log {log_id}, size {size}): signature does not verify: {source}")]
    CheckpointSignature {
        /// Which checkpoint.
        which: &'static str,
        /// Its log.
        log_id: String,
        /// Its size.
        size: u64,
        /// Why.
        source: gridtrust_trust::signing::VerifyError,
    },
    /// The batch header is not in the log where the export says.
    #[error("batch {batch_seq} of edge {edge}: header is not entry {index} of log {log_id} at size {size}: {source}")]
    HeaderNotInLog {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
        /// The log.
        log_id: String,
        /// The index claimed.
        index: u64,
        /// The tree size.
        size: u64,
        /// What the proof check found.
        source: ProofError,
    },
    /// The value export carries no log inclusion, and it was required.
    #[error("batch {batch_seq} of edge {edge}: no log inclusion in the export (not yet covered by a signed checkpoint)")]
    NotLogged {
        /// The edge.
        edge: String,
        /// The batch.
        batch_seq: u64,
    },
    /// A `summary` field says something the evidence does not.
    #[error("summary field {field} says {claimed}, the signed evidence says {actual}")]
    SummaryMismatch {
        /// The field.
        field: &'static str,
        /// What the summary says.
        claimed: String,
        /// What the evidence says.
        actual: String,
    },
    /// A chain export holds no header.
    #[error("chain export of edge {edge} holds no header")]
    EmptyChain {
        /// The edge.
        edge: String,
    },
    /// A header of a chain export names another edge.
    #[error("header {position} names edge {got}, the export is of edge {expected}")]
    WrongEdge {
        /// Position in the export.
        position: usize,
        /// The export's edge.
        expected: String,
        /// The header's edge.
        got: String,
    },
    /// A header does not follow the previous one.
    #[error("edge {edge}: batch {batch_seq} does not follow batch {previous}: {field} is {got}, expected {expected}")]
    ChainBroken {
        /// The edge.
        edge: String,
        /// The batch that does not follow.
        batch_seq: u64,
        /// The batch before it in the export.
        previous: u64,
        /// The field that breaks the chain.
        field: &'static str,
        /// What the header says.
        got: String,
        /// What following would need.
        expected: String,
    },
    /// Batches are missing from the chain; every header present verified.
    #[error("edge {edge}: {} missing from the chain ({checked} headers present all verified)", describe_gaps(*.before, .missing))]
    ChainGaps {
        /// The edge.
        edge: String,
        /// The export does not begin at a chain's start: the batches before this one are
        /// missing, back to a start the export does not show.
        before: Option<u64>,
        /// Missing batch seqs between the headers present, as ranges.
        missing: Vec<Range<u64>>,
        /// Headers that verified.
        checked: usize,
    },
    /// The two checkpoints are of different logs.
    #[error("the checkpoints are of different logs: {old:?} and {new:?}")]
    DifferentLogs {
        /// The older one's log.
        old: String,
        /// The newer one's log.
        new: String,
    },
    /// The newer export carries no proof from the older checkpoint's size.
    #[error("the newer export has no consistency proof from size {needed} (it has {got:?}); export it with --from-size {needed}")]
    NoConsistencyProof {
        /// The older size.
        needed: u64,
        /// The proof's from size, if any.
        got: Option<u64>,
    },
    /// The newer checkpoint does not extend the older one.
    #[error("the checkpoints are not consistent: {0}")]
    Inconsistent(#[source] CheckpointError),
}

fn describe_gaps(before: Option<u64>, gaps: &[Range<u64>]) -> String {
    let start = before.map(|first| format!("the batches before {first} (the chain's start)"));
    let parts: Vec<String> = start
        .into_iter()
        .chain(
            gaps.iter()
                .map(|g| if g.end - g.start == 1 { format!("batch {}", g.start) } else { format!("batches {}..={}", g.start, g.end - 1) }),
        )
        .collect();
    parts.join(", ")
}

/// When certificates must be valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValidationTime {
    /// At the time of verification (the default: what a relying party checks today).
    #[default]
    Now,
    /// At the time the signed object says it was signed (the header's close time, the
    /// checkpoint's time), for archived evidence whose certificates have since expired. That
    /// time is the signer's claim; revocation is checked whatever the time.
    SigningTime,
}

fn system_time(t: Timestamp) -> SystemTime {
    let abs = Duration::from_nanos(t.0.unsigned_abs());
    if t.0 >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(abs).unwrap_or(SystemTime::UNIX_EPOCH)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(abs).unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// A value that verified.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedValue {
    /// The record.
    pub record: Record,
    /// Its batch header.
    pub header: BatchHeader,
    /// The edge certificate that signed it.
    pub signer: PeerIdentity,
    /// The log index and checkpoint, when the export carried them.
    pub logged: Option<(u64, SignedCheckpoint)>,
    /// The version of the point registry that grants the point to the edge, and its signer.
    pub authority: (u64, PeerIdentity),
}

impl fmt::Display for VerifiedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.record;
        write!(
            f,
            "{} = {:?} (seq {}, series time {} ns) is record {} of batch {} of edge {}, signed by {}",
            r.point,
            r.value,
            r.seq,
            series_time(r).0,
            r.seq - self.header.first_seq,
            self.header.batch_seq,
            self.header.edge_id,
            self.signer
        )?;
        let (version, signer) = &self.authority;
        write!(f, "; point registry version {version} (signed by {signer}) grants {} to this edge", r.point)?;
        match &self.logged {
            Some((index, c)) => write!(
                f,
                "; header is entry {index} of log {} under its checkpoint of size {}",
                c.checkpoint.log_id, c.checkpoint.tree_size
            ),
            None => f.write_str("; not covered by a signed log checkpoint in this export"),
        }
    }
}

/// A chain that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChain {
    /// The edge.
    pub edge_id: String,
    /// Headers checked.
    pub batches: usize,
    /// First and last batch seq.
    pub first_batch: u64,
    /// Last batch seq.
    pub last_batch: u64,
    /// Records the batches cover.
    pub records: u64,
    /// Each new chain the edge started after losing its queue: (the last batch of the chain
    /// before, the first of the new one). What the old chain held after the first is lost.
    pub restarts: Vec<(u64, u64)>,
}

impl fmt::Display for VerifiedChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "edge {}: {} batches {}..={} covering {} records, each signed by the edge and linked to the previous one, none missing",
            self.edge_id, self.batches, self.first_batch, self.last_batch, self.records
        )?;
        for (after, at) in &self.restarts {
            write!(
                f,
                "; the edge restarted its chain at batch {at} (a new queue): batches after {after} of the chain before were never received"
            )?;
        }
        Ok(())
    }
}

/// Two checkpoints that are consistent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedConsistency {
    /// The log.
    pub log_id: String,
    /// Older size.
    pub old_size: u64,
    /// Newer size.
    pub new_size: u64,
}

impl fmt::Display for VerifiedConsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "log {}: the signed tree of {} entries is a prefix of the signed tree of {} entries (both checkpoints signed by the hub)",
            self.log_id, self.old_size, self.new_size
        )
    }
}

/// Checks exported evidence against the operator's CA and CRL, offline.
#[derive(Clone)]
pub struct Auditor {
    anchors: TrustAnchors,
    time: ValidationTime,
}

impl Auditor {
    /// An auditor trusting `anchors`, validating certificates now.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self { anchors, time: ValidationTime::Now }
    }

    /// Loads the CA certificate and CRL (PEM).
    pub fn from_files(ca: &Path, crl: &Path) -> Result<Self, VerifyError> {
        TrustAnchors::from_pem_files(&[ca.to_path_buf()], &[crl.to_path_buf()]).map(Self::new).map_err(VerifyError::Anchors)
    }

    /// Sets when certificates must be valid.
    pub fn with_time(mut self, time: ValidationTime) -> Self {
        self.time = time;
        self
    }

    fn validate(&self, whose: &'static str, der: &[u8], signed_at: Timestamp) -> Result<PeerIdentity, VerifyError> {
        let now = match self.time {
            ValidationTime::Now => SystemTime::now(),
            ValidationTime::SigningTime => system_time(signed_at),
        };
        gridtrust_pki::validate(&self.anchors, &[CertificateDer::from(der.to_vec())], now, Purpose::Signing)
            .map_err(|source| VerifyError::Certificate { whose, id: to_hex(&certificate_id(der)), source })
    }

    /// Checks the header's signature with `certificate`, which must validate and be the
    /// certificate of the edge the header names.
    fn check_header(&self, header: &BatchHeader, signature: Option<&Signature>, certificate: &[u8]) -> Result<PeerIdentity, VerifyError> {
        let (edge, batch_seq) = (header.edge_id.clone(), header.batch_seq);
        let sig = signature.ok_or_else(|| VerifyError::Unsigned { edge: edge.clone(), batch_seq })?;
        let signer = self.validate("edge", certificate, header.closed_at)?;
        let what = || format!("batch {batch_seq} of edge {edge}");
        let problem = if signer.certificate_id != sig.signer {
            Some(format!("the signature names certificate {}, not this one", to_hex(&sig.signer)))
        } else if signer.kind != IdentityKind::Edge {
            Some(format!("the certificate is of a {}, not an edge", signer.kind.as_str()))
        } else if signer.name != header.edge_id {
            Some(format!("the header names edge {}", header.edge_id))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(VerifyError::WrongSigner { what: what(), signer: signer.to_string(), problem });
        }
        header.verify_signature(sig, &signer.public_key).map_err(|source| VerifyError::HeaderSignature {
            edge: edge.clone(),
            batch_seq,
            source,
        })?;
        Ok(signer)
    }

    /// Checks a checkpoint's signature with `certificate`, which must validate and be the
    /// certificate of the hub whose log it is.
    fn check_checkpoint(&self, which: &'static str, c: &SignedCheckpoint, certificate: &[u8]) -> Result<PeerIdentity, VerifyError> {
        let hub = self.validate("hub", certificate, c.checkpoint.timestamp)?;
        let what = || format!("{which} of log {}", c.checkpoint.log_id);
        let problem = if hub.certificate_id != c.signature.signer {
            Some(format!("the signature names certificate {}, not this one", to_hex(&c.signature.signer)))
        } else if hub.kind != IdentityKind::Hub {
            Some(format!("the certificate is of a {}, not a hub", hub.kind.as_str()))
        } else if hub.name != c.checkpoint.log_id {
            Some(format!("a hub's log id is its certificate name, and the checkpoint names log {:?}", c.checkpoint.log_id))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(VerifyError::WrongSigner { what: what(), signer: hub.to_string(), problem });
        }
        c.verify(&hub.public_key).map_err(|source| VerifyError::CheckpointSignature {
            which,
            log_id: c.checkpoint.log_id.clone(),
            size: c.checkpoint.tree_size,
            source,
        })?;
        Ok(hub)
    }

    /// Verifies a value export; `require_log` also requires the header's log inclusion.
    pub fn value(&self, ev: &ValueEvidence, require_log: bool) -> Result<VerifiedValue, VerifyError> {
        let record = Record::decode_canonical(&ev.record.0).map_err(VerifyError::Record)?;
        let (header, signature) =
            decode_sealed(&ev.batch_header.0).map_err(|source| VerifyError::Header { position: "of the value".into(), source })?;
        let (edge, batch_seq) = (header.edge_id.clone(), header.batch_seq);
        let position = |problem: String| VerifyError::RecordPosition { edge: edge.clone(), batch_seq, problem };
        if ev.batch_size != u64::from(header.count) {
            return Err(position(format!("the export says {} records, the header {}", ev.batch_size, header.count)));
        }
        if ev.record_index >= ev.batch_size {
            return Err(position(format!("record index {} is outside a batch of {}", ev.record_index, ev.batch_size)));
        }
        if header.first_seq.checked_add(ev.record_index) != Some(record.seq) {
            return Err(position(format!(
                "record seq {} cannot be leaf {} of a batch starting at seq {}",
                record.seq, ev.record_index, header.first_seq
            )));
        }
        // Merkle first: an altered record is the finding, whoever signed the header.
        let proof =
            merkle::parse_proof(&ev.record_proof).map_err(|source| VerifyError::MalformedProof { field: "record_proof", source })?;
        merkle::verify_inclusion(&merkle::leaf_hash(&ev.record.0), ev.record_index, ev.batch_size, &proof, &header.merkle_root).map_err(
            |source| VerifyError::RecordNotInBatch {
                edge: edge.clone(),
                batch_seq,
                seq: record.seq,
                index: ev.record_index,
                size: ev.batch_size,
                source,
            },
        )?;
        let signer = self.check_header(&header, signature.as_ref(), &ev.edge_certificate.0)?;
        let authority = self.check_authority(ev.registry.as_ref(), &record.point, &edge)?;

        let logged = match &ev.log {
            None if require_log => return Err(VerifyError::NotLogged { edge: edge.clone(), batch_seq }),
            None => None,
            Some(log) => {
                let checkpoint = SignedCheckpoint::decode(&log.checkpoint.0)
                    .map_err(|source| VerifyError::Checkpoint { which: "log checkpoint", source })?;
                self.check_checkpoint("log checkpoint", &checkpoint, &log.hub_certificate.0)?;
                let c = &checkpoint.checkpoint;
                let proof = merkle::parse_proof(&log.proof).map_err(|source| VerifyError::MalformedProof { field: "log.proof", source })?;
                let not_in_log = |source| VerifyError::HeaderNotInLog {
                    edge: edge.clone(),
                    batch_seq,
                    log_id: c.log_id.clone(),
                    index: log.index,
                    size: c.tree_size,
                    source,
                };
                if log.tree_size != c.tree_size {
                    return Err(not_in_log(ProofError::IndexOutOfRange { index: log.index, size: c.tree_size }));
                }
                let leaf = LogEntry::BatchHeader(ev.batch_header.0.clone()).leaf_hash();
                merkle::verify_inclusion(&leaf, log.index, c.tree_size, &proof, &c.root).map_err(not_in_log)?;
                Some((log.index, checkpoint))
            }
        };

        let s = &ev.summary;
        let t = series_time(&record);
        summary_check("point", s.point.as_str(), record.point.as_str())?;
        summary_check("edge_id", s.edge_id.as_str(), header.edge_id.as_str())?;
        summary_check("seq", &s.seq, &record.seq)?;
        summary_check("batch_seq", &s.batch_seq, &header.batch_seq)?;
        summary_check("series_time_ns", &s.series_time_ns, &t.0)?;
        summary_check("value", s.value.as_str(), format!("{:?}", record.value).as_str())?;
        Ok(VerifiedValue { record, header, signer, logged, authority })
    }

    /// Checks the point registry as every role does (signed by an ENGINEER or SECADM identity
    /// valid under the auditor's CA and CRL) and that it grants `point` to `edge`.
    fn check_authority(&self, registry: Option<&HexBytes>, point: &PointId, edge: &str) -> Result<(u64, PeerIdentity), VerifyError> {
        let bytes = registry.ok_or_else(|| {
            VerifyError::Authority(format!("the export carries no point registry, so who may report {point} cannot be checked"))
        })?;
        let signed = SignedRegistry::from_bytes(&bytes.0).map_err(|e| VerifyError::Authority(format!("point registry: {e}")))?;
        let issued_at = PointRegistry::decode(&signed.registry)
            .map(|r| r.issued_at)
            .map_err(|e| VerifyError::Authority(format!("point registry: {e}")))?;
        let (registry, signer) = gridtrust_pki::verify_registry(&signed, |der| {
            let at = match self.time {
                ValidationTime::Now => SystemTime::now(),
                ValidationTime::SigningTime => system_time(issued_at),
            };
            gridtrust_pki::validate(&self.anchors, &[CertificateDer::from(der.to_vec())], at, Purpose::Signing)
        })
        .map_err(|e| VerifyError::Authority(format!("point registry: {e}")))?;
        match registry.owner(point) {
            Some(owner) if owner == edge => Ok((registry.version, signer)),
            owner => Err(VerifyError::NotOwner {
                point: point.to_string(),
                edge: edge.to_owned(),
                owner: owner.map(str::to_owned),
                version: registry.version,
            }),
        }
    }

    /// Verifies a chain export: every header signed by the edge, each following the previous;
    /// missing batches (also before the first one held) are reported together at the end.
    pub fn chain(&self, ev: &ChainEvidence) -> Result<VerifiedChain, VerifyError> {
        let edge = ev.edge_id.clone();
        let certificates: HashMap<Hash, &[u8]> = ev.certificates.iter().map(|c| (certificate_id(&c.0), c.0.as_slice())).collect();
        let mut validated: HashMap<Hash, PeerIdentity> = HashMap::new();
        let mut previous: Option<BatchHeader> = None;
        let mut missing: Vec<Range<u64>> = Vec::new();
        let mut restarts: Vec<(u64, u64)> = Vec::new();
        let mut before = None;
        let mut records = 0u64;
        let mut first_batch = None;
        for (position, sealed) in ev.headers.iter().enumerate() {
            let (h, sig) = decode_sealed(&sealed.0).map_err(|source| VerifyError::Header { position: format!("#{position}"), source })?;
            if h.edge_id != edge {
                return Err(VerifyError::WrongEdge { position, expected: edge.clone(), got: h.edge_id });
            }
            // The signature, with the certificate it names (validated once when time is now).
            let sig = sig.ok_or_else(|| VerifyError::Unsigned { edge: edge.clone(), batch_seq: h.batch_seq })?;
            let der = certificates.get(&sig.signer).ok_or_else(|| VerifyError::MissingCertificate {
                what: format!("batch {} of edge {edge}", h.batch_seq),
                signer: to_hex(&sig.signer),
            })?;
            if self.time == ValidationTime::SigningTime || !validated.contains_key(&sig.signer) {
                let id = self.check_header(&h, Some(&sig), der)?;
                validated.insert(sig.signer, id);
            } else if let Some(id) = validated.get(&sig.signer) {
                if id.name != h.edge_id {
                    return Err(VerifyError::WrongSigner {
                        what: format!("batch {} of edge {edge}", h.batch_seq),
                        signer: id.to_string(),
                        problem: format!("the header names edge {}", h.edge_id),
                    });
                }
                h.verify_signature(&sig, &id.public_key).map_err(|source| VerifyError::HeaderSignature {
                    edge: edge.clone(),
                    batch_seq: h.batch_seq,
                    source,
                })?;
            }
            // The link to the previous header: the chain decision every role makes.
            let broken = |field: &'static str, previous: u64, got: String, expected: String| VerifyError::ChainBroken {
                edge: edge.clone(),
                batch_seq: h.batch_seq,
                previous,
                field,
                got,
                expected,
            };
            let head = previous.as_ref().map_or(0, |p| p.batch_seq);
            match ChainStep::of(previous.as_ref(), &h) {
                // An export begins at a chain's start, or the batches before its first are missing.
                ChainStep::First if !h.starts_chain() && h.batch_seq == 0 => {
                    return Err(broken("previous header hash", 0, to_hex(&h.prev_header_hash), "zeros for an edge's first batch".into()));
                }
                ChainStep::First if !h.starts_chain() => before = Some(h.batch_seq),
                ChainStep::First | ChainStep::Follows => {}
                ChainStep::Restart { after } => restarts.push((after, h.batch_seq)),
                ChainStep::Gap { missing: range } => missing.push(range),
                ChainStep::Repeat | ChainStep::Fork | ChainStep::Older => {
                    return Err(broken("batch seq", head, h.batch_seq.to_string(), format!("above {head}")));
                }
                ChainStep::Broken(Break::Edge { expected }) => {
                    return Err(VerifyError::WrongEdge { position, expected, got: h.edge_id.clone() });
                }
                ChainStep::Broken(Break::FirstSeq { expected, got }) => {
                    let expected = expected.map_or_else(|| "beyond u64".to_owned(), |e| e.to_string());
                    return Err(broken("first record seq", head, got.to_string(), expected));
                }
                ChainStep::Broken(Break::PrevHash { expected, got }) => {
                    return Err(broken("previous header hash", head, to_hex(&got), to_hex(&expected)));
                }
            }
            records += u64::from(h.count);
            first_batch.get_or_insert(h.batch_seq);
            previous = Some(h);
        }
        let (Some(first_batch), Some(last)) = (first_batch, previous) else { return Err(VerifyError::EmptyChain { edge }) };
        if before.is_some() || !missing.is_empty() {
            return Err(VerifyError::ChainGaps { edge, before, missing, checked: ev.headers.len() });
        }
        Ok(VerifiedChain { edge_id: edge, batches: ev.headers.len(), first_batch, last_batch: last.batch_seq, records, restarts })
    }

    /// Verifies that `new` extends `old`: both signed by a valid hub certificate of the same log,
    /// and the proof in `new` takes `old`'s tree to `new`'s.
    pub fn consistency(&self, old: &OldCheckpoint, new: &CheckpointEvidence) -> Result<VerifiedConsistency, VerifyError> {
        let new_cp =
            SignedCheckpoint::decode(&new.checkpoint.0).map_err(|source| VerifyError::Checkpoint { which: "newer checkpoint", source })?;
        let new_hub = self.check_checkpoint("newer checkpoint", &new_cp, &new.hub_certificate.0)?;
        check_checkpoint_summary(&new.summary, &new_cp)?;
        let old_cp = match old {
            OldCheckpoint::Export(e) => {
                let c = SignedCheckpoint::decode(&e.checkpoint.0)
                    .map_err(|source| VerifyError::Checkpoint { which: "older checkpoint", source })?;
                check_checkpoint_summary(&e.summary, &c)?;
                self.check_checkpoint("older checkpoint", &c, &e.hub_certificate.0)?;
                c
            }
            OldCheckpoint::Raw(c) => {
                if c.signature.signer != new_hub.certificate_id {
                    return Err(VerifyError::MissingCertificate {
                        what: format!("older checkpoint of log {}", c.checkpoint.log_id),
                        signer: to_hex(&c.signature.signer),
                    });
                }
                self.check_checkpoint("older checkpoint", c, &new.hub_certificate.0)?;
                c.clone()
            }
        };
        let (o, n) = (&old_cp.checkpoint, &new_cp.checkpoint);
        if o.log_id != n.log_id {
            return Err(VerifyError::DifferentLogs { old: o.log_id.clone(), new: n.log_id.clone() });
        }
        let proof = if o.tree_size > 0 && o.tree_size < n.tree_size {
            match &new.consistency {
                Some(p) if p.from_size == o.tree_size => {
                    merkle::parse_proof(&p.proof).map_err(|source| VerifyError::MalformedProof { field: "consistency.proof", source })?
                }
                other => return Err(VerifyError::NoConsistencyProof { needed: o.tree_size, got: other.as_ref().map(|p| p.from_size) }),
            }
        } else {
            Vec::new()
        };
        let (log_id, old_size, new_size) = (o.log_id.clone(), o.tree_size, n.tree_size);
        let mut tracker = CheckpointTracker::resume(old_cp);
        tracker.accept(new_cp, &proof, &new_hub.public_key).map_err(VerifyError::Inconsistent)?;
        Ok(VerifiedConsistency { log_id, old_size, new_size })
    }
}

fn summary_check<T: PartialEq + fmt::Display + ?Sized>(field: &'static str, claimed: &T, actual: &T) -> Result<(), VerifyError> {
    if claimed == actual {
        Ok(())
    } else {
        Err(VerifyError::SummaryMismatch { field, claimed: claimed.to_string(), actual: actual.to_string() })
    }
}

fn check_checkpoint_summary(s: &CheckpointSummary, c: &SignedCheckpoint) -> Result<(), VerifyError> {
    let c = &c.checkpoint;
    summary_check("log_id", s.log_id.as_str(), c.log_id.as_str())?;
    summary_check("tree_size", &s.tree_size, &c.tree_size)?;
    summary_check("root", s.root.as_str(), to_hex(&c.root).as_str())?;
    summary_check("timestamp_ns", &s.timestamp_ns, &c.timestamp.0)
}

fn checkpoint_summary(c: &SignedCheckpoint) -> CheckpointSummary {
    let c = &c.checkpoint;
    CheckpointSummary { log_id: c.log_id.clone(), tree_size: c.tree_size, root: to_hex(&c.root), timestamp_ns: c.timestamp.0 }
}

// ---------------------------------------------------------------------------------------------
// Export

/// Why evidence could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The hub store could not be opened or read.
    #[error("hub store {path}: {source}{hint}")]
    Store {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<StoreError>,
        /// What to do about it, if known.
        hint: &'static str,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// No proof could be assembled for the value (no record, no covering batch, an unsigned
    /// or undecodable header, an inconsistent leaf index).
    #[error("{0}")]
    Proof(ValueProofError),
    /// The hub holds no batch of the edge.
    #[error("the hub holds no batch of edge {0}")]
    UnknownEdge(String),
    /// The certificate a signature names is not in the data directory.
    #[error("certificate {signer} (signer of {what}) is not in {dir}")]
    NoCertificate {
        /// What it signed.
        what: String,
        /// Its id, hex.
        signer: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// The hub has not written a signed checkpoint yet.
    #[error("no signed checkpoint at {0} (the hub writes one each time it signs; run it until it has)")]
    NoCheckpoint(PathBuf),
    /// The stored checkpoint does not decode.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CodecError,
    },
    /// The hub certificate given does not match the checkpoint's signer.
    #[error("the checkpoint is signed by certificate {signer}; {path} is certificate {found} (give the right one with --hub-certificate)")]
    HubCertificateMismatch {
        /// The certificate file.
        path: PathBuf,
        /// The checkpoint's signer id.
        signer: String,
        /// The file's certificate id.
        found: String,
    },
    /// The log could not be opened or read.
    #[error("transparency log {path}: {source}{hint}")]
    Log {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<StoreError>,
        /// What to do about it, if known.
        hint: &'static str,
    },
    /// The consistency proof cannot be made from the size asked.
    #[error("no consistency proof from size {from} to the checkpoint's {to}: {reason}")]
    BadFromSize {
        /// Asked.
        from: u64,
        /// The checkpoint's size.
        to: u64,
        /// Why.
        reason: String,
    },
}

fn open_hint(e: &StoreError) -> &'static str {
    match e {
        StoreError::Open { source: redb::DatabaseError::DatabaseAlreadyOpen, .. } => {
            " (the file is open in another process: stop the hub first, or export from a copy of its data directory)"
        }
        StoreError::Open { source: redb::DatabaseError::RepairAborted, .. } => {
            " (the hub did not close it cleanly: start and stop the hub once so the store is repaired, then export)"
        }
        _ => "",
    }
}

/// Something exported, with remarks for the operator (what could not be included and why).
#[derive(Clone, Debug)]
pub struct Exported<T> {
    /// The evidence.
    pub evidence: T,
    /// Remarks, e.g. that the header is not yet covered by a signed checkpoint.
    pub notes: Vec<String>,
}

/// A stopped hub's data directory, opened for exports.
pub struct HubData {
    dir: PathBuf,
    store: HubStoreReader,
    hub_certificate: Option<PathBuf>,
}

impl fmt::Debug for HubData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubData").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ExportError> {
    std::fs::read(path).map_err(|e| ExportError::Read { path: path.to_owned(), reason: e.to_string() })
}

/// Reads a certificate file, PEM or DER.
fn read_certificate(path: &Path) -> Result<Vec<u8>, ExportError> {
    let bytes = read_file(path)?;
    if bytes.starts_with(b"-----BEGIN") {
        let chain = gridtrust_pki::load_chain(path).map_err(|e| ExportError::Read { path: path.to_owned(), reason: e.to_string() })?;
        return chain
            .into_iter()
            .next()
            .map(|c| c.to_vec())
            .ok_or_else(|| ExportError::Read { path: path.to_owned(), reason: "no certificate".into() });
    }
    Ok(bytes)
}

impl HubData {
    /// Opens the hub store in `dir` read-only (the hub must be stopped; see the module docs).
    pub fn open(dir: &Path) -> Result<Self, ExportError> {
        let path = dir.join(HUB_STORE_FILE);
        let store = HubStoreReader::open(&path).map_err(|source| {
            let hint = open_hint(&source);
            ExportError::Store { path: path.clone(), source: Box::new(source), hint }
        })?;
        Ok(Self { dir: dir.to_owned(), store, hub_certificate: None })
    }

    /// Uses this file (PEM or DER) as the hub certificate instead of the one the hub wrote.
    pub fn with_hub_certificate(mut self, path: Option<PathBuf>) -> Self {
        self.hub_certificate = path;
        self
    }

    fn store_err(&self, source: StoreError) -> ExportError {
        ExportError::Store { path: self.dir.join(HUB_STORE_FILE), source: Box::new(source), hint: "" }
    }

    /// The edge certificates the hub saved, by certificate id (computed, not taken from names).
    fn edge_certificates(&self) -> HashMap<Hash, Vec<u8>> {
        let dir = self.dir.join(CERTIFICATES_DIR);
        let mut out = HashMap::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if let Ok(der) = std::fs::read(entry.path()) {
                out.insert(certificate_id(&der), der);
            }
        }
        out
    }

    /// The hub's latest signed checkpoint and the certificate that verifies it.
    fn checkpoint(&self) -> Result<(SignedCheckpoint, Vec<u8>), ExportError> {
        let path = self.dir.join(CHECKPOINT_FILE);
        if !path.exists() {
            return Err(ExportError::NoCheckpoint(path));
        }
        let checkpoint = SignedCheckpoint::decode(&read_file(&path)?).map_err(|source| ExportError::Checkpoint { path, source })?;
        let cert_path = self.hub_certificate.clone().unwrap_or_else(|| self.dir.join(CERTIFICATE_FILE));
        let cert = read_certificate(&cert_path)?;
        let found = certificate_id(&cert);
        if found != checkpoint.signature.signer {
            return Err(ExportError::HubCertificateMismatch {
                path: cert_path,
                signer: to_hex(&checkpoint.signature.signer),
                found: to_hex(&found),
            });
        }
        Ok((checkpoint, cert))
    }

    fn open_log(&self) -> Result<Option<TransparencyLog>, ExportError> {
        let path = self.dir.join(LOG_FILE);
        // `open` would create a missing log; a missing log is "nothing logged".
        if !path.exists() {
            return Ok(None);
        }
        TransparencyLog::open(&path).map(Some).map_err(|source| {
            let hint = open_hint(&source);
            ExportError::Log { path, source: Box::new(source), hint }
        })
    }

    /// Exports the record of `point` in force at `at` (`Timestamp(i64::MAX)`: the newest) with
    /// its batch evidence and, when the latest signed checkpoint covers its header, the header's
    /// log inclusion.
    pub fn export_value(&self, point: &PointId, at: Timestamp) -> Result<Exported<ValueEvidence>, ExportError> {
        let mut notes = Vec::new();
        let proof = prove_value_at(&self.store, point, at).map_err(|e| match e {
            ValueProofError::Store(source) => self.store_err(source),
            other => ExportError::Proof(other),
        })?;
        let ValueProof { entry, batch, header, signature, record_index: index, record_proof: proof } = proof;
        if !batch.indexed {
            notes.push(format!("batch {} predates the leaf index; its leaves were recomputed from the series", batch.batch_seq));
        }
        let edge_certificate = self.edge_certificates().remove(&signature.signer).ok_or_else(|| ExportError::NoCertificate {
            what: format!("batch {} of edge {}", batch.batch_seq, entry.edge_id),
            signer: to_hex(&signature.signer),
            dir: self.dir.join(CERTIFICATES_DIR),
        })?;
        let log = self.log_inclusion(&batch.sealed_header, &mut notes)?;
        let summary = match Record::decode_canonical(&entry.record_bytes) {
            Ok(r) => ValueSummary {
                point: r.point.to_string(),
                edge_id: header.edge_id.clone(),
                seq: r.seq,
                batch_seq: header.batch_seq,
                series_time_ns: series_time(&r).0,
                value: format!("{:?}", r.value),
            },
            Err(e) => {
                notes.push(format!("the stored record does not decode ({e}); the summary shows where it is stored"));
                ValueSummary {
                    point: point.to_string(),
                    edge_id: entry.edge_id.clone(),
                    seq: entry.seq,
                    batch_seq: batch.batch_seq,
                    series_time_ns: entry.time.0,
                    value: String::new(),
                }
            }
        };
        let evidence = ValueEvidence {
            kind: KIND_VALUE.into(),
            format_version: FORMAT_VERSION,
            summary,
            record: HexBytes(entry.record_bytes),
            record_index: index,
            batch_size: batch.leaves.len() as u64,
            record_proof: hashes_to_hex(&proof),
            batch_header: HexBytes(batch.sealed_header),
            edge_certificate: HexBytes(edge_certificate),
            log,
            registry: self.registry(&mut notes),
        };
        Ok(Exported { evidence, notes })
    }

    /// The point registry the hub accepted last (`registry.signed` in its data directory), or
    /// `None` with a note.
    fn registry(&self, notes: &mut Vec<String>) -> Option<HexBytes> {
        let path = self.dir.join(REGISTRY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Some(HexBytes(bytes)),
            Err(e) => {
                notes.push(format!("no point registry: {}: {e}", path.display()));
                None
            }
        }
    }

    /// The header's inclusion under the latest signed checkpoint, or `None` with a note saying
    /// why not.
    fn log_inclusion(&self, sealed: &[u8], notes: &mut Vec<String>) -> Result<Option<LogInclusion>, ExportError> {
        let (checkpoint, hub_certificate) = match self.checkpoint() {
            Ok(c) => c,
            Err(e @ ExportError::NoCheckpoint(_)) => {
                notes.push(format!("no log inclusion: {e}"));
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(log) = self.open_log()? else {
            notes.push(format!("no log inclusion: {} does not exist", self.dir.join(LOG_FILE).display()));
            return Ok(None);
        };
        let log_err = |source| ExportError::Log { path: self.dir.join(LOG_FILE), source: Box::new(source), hint: "" };
        let tree_size = checkpoint.checkpoint.tree_size;
        let Some((index, proof)) = header_in_log(&log, sealed, tree_size).map_err(log_err)? else {
            notes.push(format!("no log inclusion: the header is not among the {tree_size} entries the latest signed checkpoint covers"));
            return Ok(None);
        };
        Ok(Some(LogInclusion {
            index,
            tree_size,
            proof: hashes_to_hex(&proof),
            checkpoint: HexBytes(checkpoint.encode()),
            hub_certificate: HexBytes(hub_certificate),
        }))
    }

    /// Exports every stored header of `edge_id`, in order, with the certificates that signed
    /// them.
    pub fn export_chain(&self, edge_id: &str) -> Result<Exported<ChainEvidence>, ExportError> {
        let mut notes = Vec::new();
        let batches = self.store.batches(edge_id).map_err(|e| self.store_err(e))?;
        if batches.is_empty() {
            return Err(ExportError::UnknownEdge(edge_id.to_owned()));
        }
        let available = self.edge_certificates();
        let mut wanted: Vec<Hash> = Vec::new();
        for (batch_seq, sealed) in &batches {
            match decode_sealed(sealed) {
                Ok((_, Some(sig))) if !wanted.contains(&sig.signer) => wanted.push(sig.signer),
                Ok(_) => {}
                Err(e) => notes.push(format!("stored header of batch {batch_seq} does not decode: {e}")),
            }
        }
        let mut certificates = Vec::new();
        for id in wanted {
            match available.get(&id) {
                Some(der) => certificates.push(HexBytes(der.clone())),
                None => notes.push(format!("certificate {} is not in {}", to_hex(&id), self.dir.join(CERTIFICATES_DIR).display())),
            }
        }
        let evidence = ChainEvidence {
            kind: KIND_CHAIN.into(),
            format_version: FORMAT_VERSION,
            edge_id: edge_id.to_owned(),
            headers: batches.into_iter().map(|(_, h)| HexBytes(h)).collect(),
            certificates,
        };
        Ok(Exported { evidence, notes })
    }

    /// Exports the hub's latest signed checkpoint and, with `from_size`, the consistency proof
    /// from that size to it.
    pub fn export_checkpoint(&self, from_size: Option<u64>) -> Result<Exported<CheckpointEvidence>, ExportError> {
        let (checkpoint, hub_certificate) = self.checkpoint()?;
        let to = checkpoint.checkpoint.tree_size;
        let consistency = match from_size {
            None => None,
            Some(from) => {
                let bad = |reason: String| ExportError::BadFromSize { from, to, reason };
                if from == 0 || from > to {
                    return Err(bad("it must be between 1 and the checkpoint's size".into()));
                }
                let log = self.open_log()?.ok_or_else(|| bad("the log does not exist".into()))?;
                let proof = log.consistency_proof(from, to).map_err(|e| bad(e.to_string()))?;
                Some(ConsistencyProof { from_size: from, proof: hashes_to_hex(&proof) })
            }
        };
        let evidence = CheckpointEvidence {
            kind: KIND_CHECKPOINT.into(),
            format_version: FORMAT_VERSION,
            summary: checkpoint_summary(&checkpoint),
            checkpoint: HexBytes(checkpoint.encode()),
            hub_certificate: HexBytes(hub_certificate),
            consistency,
        };
        Ok(Exported { evidence, notes: Vec::new() })
    }
}

/// The JSON form of an export, as written to files.
pub fn to_json<T: Serialize>(evidence: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(evidence).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_non_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)).unwrap(), bytes);
        assert_eq!(from_hex("ABcd").unwrap(), vec![0xab, 0xcd]);
        assert_eq!(from_hex("abc"), Err(HexError::OddLength(3)));
        assert_eq!(from_hex("zz"), Err(HexError::BadDigit { at: 0, found: 'z' }));
        assert_eq!(from_hex("0é"), Err(HexError::OddLength(3)));
        assert!(matches!(from_hex("é0"), Err(HexError::OddLength(3))));
        assert_eq!(from_hex("0\u{e9}0"), Err(HexError::BadDigit { at: 1, found: '\u{e9}' }));
        assert_eq!(from_hex("00\u{e9}0"), Err(HexError::OddLength(5)));
        assert_eq!(from_hex("\u{e9}\u{e9}"), Err(HexError::BadDigit { at: 0, found: '\u{e9}' }));
        assert_eq!(from_hex("0\u{e9}\u{e9}0"), Err(HexError::BadDigit { at: 1, found: '\u{e9}' }));
        assert_eq!(from_hex("00\u{e9}\u{e9}"), Err(HexError::BadDigit { at: 2, found: '\u{e9}' }));
    }

    #[test]
    fn gaps_are_described_precisely() {
        assert_eq!(describe_gaps(None, &[0..1, 5..8]), "batch 0, batches 5..=7");
        assert_eq!(describe_gaps(Some(3), &[5..6, 8..10]), "the batches before 3 (the chain's start), batch 5, batches 8..=9");
    }
}
