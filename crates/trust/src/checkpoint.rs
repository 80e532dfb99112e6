//! Signed checkpoints of the hub's transparency log, what the log holds, and the tracker that
//! connectors and auditors run so that history cannot be rewritten under them.
//!
//! The hub appends every batch header, command, command result, edge certificate and
//! configuration change to an RFC 9162 Merkle log ([`LogEntry`] is the entry encoding), and
//! periodically signs a [`Checkpoint`]: log id, tree size, root and time. A holder of one
//! checkpoint accepts a newer one only with a consistency proof from its own ([`CheckpointTracker`]),
//! so a hub that drops, alters or reorders anything already logged, or shows different histories
//! to different parties, is caught by the first party that compares.
//!
//! Encodings (version 1, big-endian; `len` is an unsigned LEB128 length in its shortest form,
//! so every value has exactly one encoding and the encoders never fail):
//!
//! ```text
//! Checkpoint                      SignedCheckpoint            LogEntry
//! 1   version (0x01)              len + checkpoint bytes      1   version (0x01)
//! len + log id (1..=255 bytes     len + algorithm (1..=32)    1   kind (1..=5, see LogEntry)
//!       UTF-8, no controls)       32  signer certificate id   then each field of the kind:
//! 8   tree size                   len + signature (1..=255)       len + bytes (<= 16 MiB)
//! 32  root
//! 8   time, ns since Unix epoch
//! ```
//!
//! Decoders are strict: a wrong version, kind or length, a non-shortest length, invalid UTF-8,
//! or trailing bytes is a [`CodecError`] naming the field, never a panic.

use serde::{Deserialize, Serialize};

use gridtrust_model::Timestamp;

use crate::command::hex;
use crate::evidence::Signature;
use crate::merkle::{self, Hash, ProofError};
use crate::signing::{SignError, Signer, VerifyError};

/// Checkpoint and log entry format version written by this build.
pub const FORMAT_VERSION: u8 = 1;

/// Domain separation for checkpoint signatures, so a checkpoint signature can never be
/// presented as a batch header or command signature, or the reverse.
pub const CHECKPOINT_SIGNING_CONTEXT: &[u8] = b"gridtrust/v1/checkpoint\0";

/// Longest log id, so a checkpoint has a bounded size.
pub const MAX_LOG_ID_LEN: usize = 255;

/// Longest payload field of a [`LogEntry`] that decodes: far above any frame the hub accepts,
/// far below what would let a damaged length field exhaust memory.
pub const MAX_PAYLOAD_LEN: usize = 16 << 20;

const MAX_ALGORITHM_LEN: usize = 32;
const MAX_SIGNATURE_LEN: usize = 255;

/// Why bytes are not a canonical checkpoint, signed checkpoint or log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes end inside a field.
    #[error("{what} ends at byte {offset} while reading {field}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// The field that is cut short.
        field: &'static str,
        /// Where the input ends.
        offset: usize,
    },
    /// A version this build does not read.
    #[error("{what} format version {version} is not supported")]
    UnsupportedVersion {
        /// The structure being decoded.
        what: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// A log entry kind this build does not know.
    #[error("log entry kind {0} is unknown")]
    UnknownKind(u8),
    /// A field is present but not acceptable.
    #[error("{what} field {field} is invalid: {reason}")]
    BadField {
        /// The structure being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A length field exceeds the bound for its field.
    #[error("{what} field {field} claims {len} bytes, at most {max} are allowed")]
    TooLong {
        /// The structure being decoded.
        what: &'static str,
        /// The field.
        field: &'static str,
        /// The length claimed.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// Bytes follow a complete structure.
    #[error("{count} bytes follow the end of the {what}")]
    TrailingBytes {
        /// The structure decoded.
        what: &'static str,
        /// How many bytes are left over.
        count: usize,
    },
}

/// Appends `n` as unsigned LEB128 in its shortest form.
fn put_len(out: &mut Vec<u8>, n: usize) {
    // usize is at most 64 bits on every target Rust supports.
    let mut n = n as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A cursor over input bytes that reports where and in what a decode failed.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, pos: 0, what }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n);
        let s = end.and_then(|end| self.bytes.get(self.pos..end)).ok_or_else(|| self.truncated(field))?;
        self.pos += n;
        Ok(s)
    }

    fn truncated(&self, field: &'static str) -> CodecError {
        CodecError::Truncated { what: self.what, field, offset: self.bytes.len() }
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, CodecError> {
        let [b] = self.array(field)?;
        Ok(b)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CodecError> {
        // `take` gives exactly N bytes or an error, so the conversion cannot fail.
        self.take(N, field)?.try_into().map_err(|_| self.truncated(field))
    }

    /// A shortest-form LEB128 length of at most `max`.
    fn len(&mut self, field: &'static str, max: usize) -> Result<usize, CodecError> {
        let mut value = 0u64;
        for i in 0..10u32 {
            let b = self.byte(field)?;
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(self.bad(field, "length overflows 64 bits".into()));
            }
            value |= bits << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err(self.bad(field, "length is not in its shortest form".into()));
                }
                return usize::try_from(value).ok().filter(|&v| v <= max).ok_or(CodecError::TooLong {
                    what: self.what,
                    field,
                    len: value,
                    max,
                });
            }
        }
        Err(self.bad(field, "length overflows 64 bits".into()))
    }

    fn field(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], CodecError> {
        let n = self.len(field, max)?;
        self.take(n, field)
    }

    fn string(&mut self, field: &'static str, max: usize) -> Result<String, CodecError> {
        let bytes = self.field(field, max)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| self.bad(field, e.to_string()))
    }

    fn bad(&self, field: &'static str, reason: String) -> CodecError {
        CodecError::BadField { what: self.what, field, reason }
    }

    fn finish(&self) -> Result<(), CodecError> {
        match self.bytes.len() - self.pos {
            0 => Ok(()),
            count => Err(CodecError::TrailingBytes { what: self.what, count }),
        }
    }
}

/// Checks a log id is what checkpoints may carry: 1..=255 bytes of UTF-8 without control
/// characters (it is shown to operators and auditors).
pub fn validate_log_id(id: &str) -> Result<(), CodecError> {
    let reason = if id.is_empty() {
        "is empty"
    } else if id.len() > MAX_LOG_ID_LEN {
        "is longer than 255 bytes"
    } else if id.chars().any(char::is_control) {
        "contains control characters"
    } else {
        return Ok(());
    };
    Err(CodecError::BadField { what: "checkpoint", field: "log id", reason: format!("{id:?} {reason}") })
}

/// What the hub signs about its log at one moment: "log `log_id` had `tree_size` entries with
/// root `root` at `timestamp`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Names the log (the hub's certificate name), so a checkpoint of one log is never taken
    /// for another's.
    pub log_id: String,
    /// Entries covered.
    pub tree_size: u64,
    /// RFC 9162 root over those entries (`SHA-256("")` for an empty log).
    pub root: Hash,
    /// When the hub signed it; checkpoints of one log never go back in time.
    pub timestamp: Timestamp,
}

impl Checkpoint {
    /// The canonical bytes (see the module docs); total, so signing never fails on encoding.
    pub fn encode_canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(50 + self.log_id.len());
        out.push(FORMAT_VERSION);
        put_field(&mut out, self.log_id.as_bytes());
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.root);
        out.extend_from_slice(&self.timestamp.0.to_be_bytes());
        out
    }

    /// Parses canonical bytes, refusing anything else.
    pub fn decode_canonical(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes, "checkpoint");
        let version = r.byte("version")?;
        if version != FORMAT_VERSION {
            return Err(CodecError::UnsupportedVersion { what: "checkpoint", version });
        }
        let log_id = r.string("log id", MAX_LOG_ID_LEN)?;
        validate_log_id(&log_id)?;
        let tree_size = u64::from_be_bytes(r.array("tree size")?);
        let root = r.array("root")?;
        let timestamp = Timestamp(i64::from_be_bytes(r.array("timestamp")?));
        r.finish()?;
        Ok(Self { log_id, tree_size, root, timestamp })
    }

    /// The bytes a checkpoint signature covers: the signing context, then the canonical bytes.
    pub fn signing_input(&self) -> Vec<u8> {
        let mut input = CHECKPOINT_SIGNING_CONTEXT.to_vec();
        input.extend_from_slice(&self.encode_canonical());
        input
    }
}

/// A checkpoint with the hub's signature over [`Checkpoint::signing_input`]: what the hub
/// publishes and connectors and auditors keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// What is signed.
    pub checkpoint: Checkpoint,
    /// The hub's signature, naming the certificate whose key made it.
    pub signature: Signature,
}

impl SignedCheckpoint {
    /// Signs `checkpoint` with the hub's key; `signer_id` is the SHA-256 of the hub's
    /// certificate, so a verifier finds the key to check it with.
    pub fn sign(checkpoint: Checkpoint, signer: &dyn Signer, signer_id: Hash) -> Result<Self, SignError> {
        let signature = Signature::create(signer, signer_id, &checkpoint.signing_input())?;
        Ok(Self { checkpoint, signature })
    }

    /// Checks the signature with the public key of the certificate it names (the caller has
    /// validated that certificate and that it belongs to the log's hub).
    pub fn verify(&self, public_key: &[u8]) -> Result<(), VerifyError> {
        self.signature.verify(public_key, &self.checkpoint.signing_input())
    }

    /// The byte form connectors persist and evidence exports carry (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let checkpoint = self.checkpoint.encode_canonical();
        let mut out = Vec::with_capacity(checkpoint.len() + 48 + self.signature.algorithm.len() + self.signature.bytes.len());
        put_field(&mut out, &checkpoint);
        put_field(&mut out, self.signature.algorithm.as_bytes());
        out.extend_from_slice(&self.signature.signer);
        put_field(&mut out, &self.signature.bytes);
        out
    }

    /// Parses [`Self::encode`] bytes strictly. Does not verify the signature.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes, "signed checkpoint");
        let checkpoint = Checkpoint::decode_canonical(r.field("checkpoint", 1 + 2 + MAX_LOG_ID_LEN + 48)?)?;
        let algorithm = r.string("algorithm", MAX_ALGORITHM_LEN)?;
        if algorithm.is_empty() || !algorithm.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(r.bad("algorithm", format!("{algorithm:?} is not a printable ASCII name")));
        }
        let signer = r.array("signer")?;
        let sig = r.field("signature", MAX_SIGNATURE_LEN)?;
        if sig.is_empty() {
            return Err(r.bad("signature", "is empty".into()));
        }
        r.finish()?;
        Ok(Self { checkpoint, signature: Signature { algorithm, signer, bytes: sig.to_vec() } })
    }
}

/// Why a checkpoint was not accepted by a [`CheckpointTracker`]. Each names what failed, so the
/// alarm says whether the hub's key, its log id, or its history is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signature does not verify with the key given: forged, altered, or the wrong key.
    #[error("checkpoint signature does not verify: {0}")]
    Signature(#[from] VerifyError),
    /// The checkpoint is of another log than the one tracked.
    #[error("checkpoint is for log {got:?}, this tracker follows log {expected:?}")]
    WrongLog {
        /// The log id tracked.
        expected: String,
        /// The log id in the checkpoint.
        got: String,
    },
    /// A signed checkpoint of size 0 whose root is not `SHA-256("")`: no tree has that root.
    #[error("checkpoint of an empty log has root {}, not SHA-256(\"\")", hex(.0))]
    EmptyLogRoot(Hash),
    /// The log is smaller than at the held checkpoint: entries were removed.
    #[error("log {log_id} shrank from {old} to {new} entries")]
    Shrank {
        /// The log.
        log_id: String,
        /// Size at the held checkpoint.
        old: u64,
        /// Size at the new one.
        new: u64,
    },
    /// Two signed checkpoints of the same size with different roots: the hub signed two
    /// histories. The pair is the evidence; keep both.
    #[error("log {log_id} forked: two signed checkpoints of size {size} with roots {} and {}", hex(.held_root), hex(.new_root))]
    Fork {
        /// The log.
        log_id: String,
        /// The size both claim.
        size: u64,
        /// The root of the held checkpoint.
        held_root: Hash,
        /// The root of the new one.
        new_root: Hash,
    },
    /// The new checkpoint is older than the held one.
    #[error("log {log_id} checkpoint time went back from {} to {} ns since the epoch", .old.0, .new.0)]
    TimeWentBack {
        /// The log.
        log_id: String,
        /// Time of the held checkpoint.
        old: Timestamp,
        /// Time of the new one.
        new: Timestamp,
    },
    /// The consistency proof does not show the held tree is a prefix of the new one: history
    /// was rewritten, or the proof is wrong.
    #[error("log {log_id} at {new} entries is not proven consistent with the held checkpoint at {old}: {source}")]
    Inconsistent {
        /// The log.
        log_id: String,
        /// Size at the held checkpoint.
        old: u64,
        /// Size at the new one.
        new: u64,
        /// What the proof check found.
        source: ProofError,
    },
    /// A consistency proof came with a checkpoint when nothing (or only the empty log) is held,
    /// so there is nothing it could prove: the sender and this tracker disagree about state.
    #[error("a {len}-hash consistency proof came although no non-empty checkpoint is held")]
    UnexpectedProof {
        /// Hashes in the proof.
        len: usize,
    },
}

/// A tree of a log that someone vouches for out of band (an operator's configuration): its size
/// and root, without a signature. A tracker starting from one accepts its first checkpoint only
/// with a consistency proof from it, instead of trusting that checkpoint on first use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinnedTree {
    tree_size: u64,
    root: Hash,
}

impl PinnedTree {
    /// A pin of `tree_size` entries with `root`; the empty tree has only `SHA-256("")`.
    pub fn new(tree_size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if tree_size == 0 && root != merkle::empty_root() {
            return Err(CheckpointError::EmptyLogRoot(root));
        }
        Ok(Self { tree_size, root })
    }

    /// Entries the pinned tree covers.
    pub fn tree_size(&self) -> u64 {
        self.tree_size
    }

    /// Its root.
    pub fn root(&self) -> Hash {
        self.root
    }
}

/// The last accepted checkpoint of one log, and the checks a newer one must pass: sans-IO, for
/// the control-centre connector (which persists [`Self::last`] after each accept) and for
/// offline auditors.
///
/// Without a pin ([`Self::with_pin`]) the first checkpoint is taken on trust (its signature still
/// has to verify); from then on the log id is fixed and every checkpoint must extend the held
/// one.
#[derive(Clone, Debug, Default)]
pub struct CheckpointTracker {
    log_id: Option<String>,
    last: Option<SignedCheckpoint>,
    /// What the first checkpoint must extend while none is held.
    pin: Option<PinnedTree>,
}

impl CheckpointTracker {
    /// A tracker that holds nothing and will pin the log id of the first checkpoint it accepts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tracker that holds nothing yet but accepts only checkpoints of `log_id`.
    pub fn for_log(log_id: impl Into<String>) -> Self {
        Self { log_id: Some(log_id.into()), last: None, pin: None }
    }

    /// Adds a pin: while this tracker holds no checkpoint, the first one is accepted only with a
    /// consistency proof from `pin` (not smaller, not another root at the same size). A tracker
    /// that already holds a checkpoint (resumed from its own file) keeps following that one,
    /// which is newer knowledge; only a held checkpoint of the pin's size with another root is
    /// refused, as the fork it shows.
    pub fn with_pin(mut self, pin: PinnedTree) -> Result<Self, CheckpointError> {
        match &self.last {
            None => self.pin = Some(pin),
            Some(held) if held.checkpoint.tree_size == pin.tree_size && held.checkpoint.root != pin.root => {
                return Err(CheckpointError::Fork {
                    log_id: held.checkpoint.log_id.clone(),
                    size: pin.tree_size,
                    held_root: held.checkpoint.root,
                    new_root: pin.root,
                });
            }
            Some(_) => {}
        }
        Ok(self)
    }

    /// Resumes from a checkpoint this party accepted earlier and kept (its own file), pinning its
    /// log id. The signature is not checked again here: it was when the checkpoint was accepted.
    pub fn resume(last: SignedCheckpoint) -> Self {
        Self { log_id: Some(last.checkpoint.log_id.clone()), last: Some(last), pin: None }
    }

    /// The last accepted checkpoint, what to persist.
    pub fn last(&self) -> Option<&SignedCheckpoint> {
        self.last.as_ref()
    }

    /// The tree size the next checkpoint's consistency proof must start from: the last accepted
    /// checkpoint's, or the pin's before any is accepted.
    pub fn held_size(&self) -> Option<u64> {
        self.last.as_ref().map(|l| l.checkpoint.tree_size).or(self.pin.map(|p| p.tree_size))
    }

    /// Accepts `new` if its signature verifies with `public_key`, it is of the tracked log, and
    /// it extends the held checkpoint: not smaller, not the same size with another root (a
    /// [`CheckpointError::Fork`]), not older, and `consistency_proof` proves the held tree is a
    /// prefix of the new one (RFC 9162; empty when the sizes are equal or nothing non-empty is
    /// held). On error nothing changes.
    pub fn accept(&mut self, new: SignedCheckpoint, consistency_proof: &[Hash], public_key: &[u8]) -> Result<(), CheckpointError> {
        new.verify(public_key)?;
        let c = &new.checkpoint;
        if let Some(expected) = &self.log_id
            && *expected != c.log_id
        {
            return Err(CheckpointError::WrongLog { expected: expected.clone(), got: c.log_id.clone() });
        }
        if c.tree_size == 0 && c.root != merkle::empty_root() {
            return Err(CheckpointError::EmptyLogRoot(c.root));
        }
        // What the new checkpoint must extend: the last accepted one, or else the pin (which
        // has no time of its own).
        let held = match (&self.last, self.pin) {
            (Some(last), _) => Some((last.checkpoint.tree_size, last.checkpoint.root, Some(last.checkpoint.timestamp))),
            (None, Some(pin)) => Some((pin.tree_size, pin.root, None)),
            (None, None) => None,
        };
        match held {
            None => {
                if !consistency_proof.is_empty() {
                    return Err(CheckpointError::UnexpectedProof { len: consistency_proof.len() });
                }
            }
            Some((old_size, old_root, old_time)) => {
                let log_id = || c.log_id.clone();
                if c.tree_size < old_size {
                    return Err(CheckpointError::Shrank { log_id: log_id(), old: old_size, new: c.tree_size });
                }
                if c.tree_size == old_size && c.root != old_root {
                    return Err(CheckpointError::Fork { log_id: log_id(), size: c.tree_size, held_root: old_root, new_root: c.root });
                }
                if let Some(old) = old_time
                    && c.timestamp < old
                {
                    return Err(CheckpointError::TimeWentBack { log_id: log_id(), old, new: c.timestamp });
                }
                if old_size == 0 {
                    // Every log extends the empty one; there is nothing to prove.
                    if !consistency_proof.is_empty() {
                        return Err(CheckpointError::UnexpectedProof { len: consistency_proof.len() });
                    }
                } else {
                    merkle::verify_consistency(old_size, c.tree_size, &old_root, &c.root, consistency_proof)
                        .map_err(|source| CheckpointError::Inconsistent { log_id: log_id(), old: old_size, new: c.tree_size, source })?;
                }
            }
        }
        self.log_id.get_or_insert_with(|| new.checkpoint.log_id.clone());
        self.last = Some(new);
        Ok(())
    }
}

/// Where a log entry sits in the hub's log: its index, the inclusion proof to a signed
/// checkpoint, and the consistency proof from the checkpoint the receiver holds. The hub sends
/// one with every command, so an edge executes only commands that are provably in the log a
/// connector or an auditor can check: a hub that keeps a command out of its log cannot have it
/// executed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInLog {
    /// The entry's index in the log.
    pub index: u64,
    /// RFC 9162 inclusion proof of the entry in the checkpoint's tree.
    pub inclusion: Vec<Hash>,
    /// A checkpoint covering the entry, signed by the hub.
    pub checkpoint: SignedCheckpoint,
    /// RFC 9162 consistency proof from the receiver's last accepted checkpoint to this one.
    pub consistency: Vec<Hash>,
}

/// Why an entry is not proven to be in the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProofError {
    /// The checkpoint was not accepted (signature, log id, history).
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not lead from the entry to the checkpoint's root.
    #[error("entry {index} is not proven in the log of {size} entries: {source}")]
    NotIncluded {
        /// The index claimed.
        index: u64,
        /// The checkpoint's tree size.
        size: u64,
        /// What the proof check found.
        source: ProofError,
    },
}

impl EntryInLog {
    /// Checks that `entry` is in the log under this checkpoint, which must be signed with
    /// `hub_public_key` and extend what `tracker` holds; on success the tracker holds the new
    /// checkpoint (the caller persists it). On error the tracker is unchanged.
    pub fn verify(&self, entry: &LogEntry, tracker: &mut CheckpointTracker, hub_public_key: &[u8]) -> Result<(), EntryProofError> {
        let c = &self.checkpoint.checkpoint;
        merkle::verify_inclusion(&entry.leaf_hash(), self.index, c.tree_size, &self.inclusion, &c.root)
            .map_err(|source| EntryProofError::NotIncluded { index: self.index, size: c.tree_size, source })?;
        let mut next = tracker.clone();
        next.accept(self.checkpoint.clone(), &self.consistency, hub_public_key)?;
        *tracker = next;
        Ok(())
    }
}

/// One entry of the hub's transparency log. Payloads are the canonical bytes other modules
/// produce and verify; the log only needs them exact and attributable to a kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogEntry {
    /// Kind 1: a batch header with the edge's signature, as
    /// [`crate::evidence::encode_sealed`] bytes (header and signature in one, as signed).
    BatchHeader(Vec<u8>),
    /// Kind 2: a signed command with the hub's authorisation or refusal, as the command module
    /// encodes it.
    Command(Vec<u8>),
    /// Kind 3: a signed command result.
    CommandResult(Vec<u8>),
    /// Kind 4: a configuration change (or the configuration at start): which setting, and its
    /// new value as text.
    ConfigChange {
        /// The setting, e.g. `hub.start` or `policy.rate_limit`.
        key: String,
        /// Its value as text.
        value: String,
    },
    /// Kind 5: a certificate (DER) the hub saw for the first time, so the keys that signed
    /// logged evidence are in the log too.
    Certificate(Vec<u8>),
    /// Kind 6: a signed point registry ([`crate::registry::SignedRegistry::to_bytes`]) the hub
    /// accepted, so every version of who owns which point is history too.
    PointRegistry(Vec<u8>),
    /// Kind 7: a signed operator decision on an incident ([`crate::decision::SignedDecision`]).
    Decision(Vec<u8>),
}

impl LogEntry {
    /// The one-byte kind tag of this entry.
    pub fn kind(&self) -> u8 {
        match self {
            Self::BatchHeader(_) => 1,
            Self::Command(_) => 2,
            Self::CommandResult(_) => 3,
            Self::ConfigChange { .. } => 4,
            Self::Certificate(_) => 5,
            Self::PointRegistry(_) => 6,
            Self::Decision(_) => 7,
        }
    }

    /// Appends the canonical bytes (see the module docs) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        out.push(self.kind());
        match self {
            Self::BatchHeader(b)
            | Self::Command(b)
            | Self::CommandResult(b)
            | Self::Certificate(b)
            | Self::PointRegistry(b)
            | Self::Decision(b) => put_field(out, b),
            Self::ConfigChange { key, value } => {
                put_field(out, key.as_bytes());
                put_field(out, value.as_bytes());
            }
        }
    }

    /// The canonical bytes: what the log stores and its leaf hash covers.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.payload_len());
        self.encode_into(&mut out);
        out
    }

    fn payload_len(&self) -> usize {
        match self {
            Self::BatchHeader(b)
            | Self::Command(b)
            | Self::CommandResult(b)
            | Self::Certificate(b)
            | Self::PointRegistry(b)
            | Self::Decision(b) => b.len(),
            Self::ConfigChange { key, value } => key.len() + value.len(),
        }
    }

    /// Parses canonical bytes strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes, "log entry");
        let version = r.byte("version")?;
        if version != FORMAT_VERSION {
            return Err(CodecError::UnsupportedVersion { what: "log entry", version });
        }
        let entry = match r.byte("kind")? {
            1 => Self::BatchHeader(r.field("batch header", MAX_PAYLOAD_LEN)?.to_vec()),
            2 => Self::Command(r.field("command", MAX_PAYLOAD_LEN)?.to_vec()),
            3 => Self::CommandResult(r.field("command result", MAX_PAYLOAD_LEN)?.to_vec()),
            4 => {
                let key = r.string("config key", MAX_PAYLOAD_LEN)?;
                if key.is_empty() {
                    return Err(r.bad("config key", "is empty".into()));
                }
                let value = r.string("config value", MAX_PAYLOAD_LEN)?;
                Self::ConfigChange { key, value }
            }
            5 => Self::Certificate(r.field("certificate", MAX_PAYLOAD_LEN)?.to_vec()),
            6 => Self::PointRegistry(r.field("point registry", MAX_PAYLOAD_LEN)?.to_vec()),
            7 => Self::Decision(r.field("decision", MAX_PAYLOAD_LEN)?.to_vec()),
            other => return Err(CodecError::UnknownKind(other)),
        };
        r.finish()?;
        Ok(entry)
    }

    /// The RFC 9162 leaf hash of this entry in the log.
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::EphemeralSigner;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| merkle::leaf_hash(&i.to_be_bytes())).collect()
    }

    fn checkpoint(size: u64, t: i64) -> Checkpoint {
        Checkpoint {
            log_id: "hub-1".into(),
            tree_size: size,
            root: merkle::root_from_leaf_hashes(&leaves(size)[..]),
            timestamp: Timestamp(t),
        }
    }

    struct Hub {
        key: EphemeralSigner,
        id: Hash,
    }

    impl Hub {
        fn new() -> Self {
            Self { key: EphemeralSigner::generate(), id: [7; 32] }
        }
        fn sign(&self, c: Checkpoint) -> SignedCheckpoint {
            SignedCheckpoint::sign(c, &self.key, self.id).unwrap()
        }
        fn public(&self) -> Vec<u8> {
            self.key.public_key()
        }
    }

    fn proof(old: u64, new: u64) -> Vec<Hash> {
        merkle::consistency_proof(&leaves(new), old as usize).unwrap()
    }

    #[test]
    fn checkpoint_round_trips_canonically_and_refuses_every_truncation() {
        let c = checkpoint(1000, 1_700_000_000_000_000_000);
        let bytes = c.encode_canonical();
        assert_eq!(bytes.len(), 1 + 1 + 5 + 8 + 32 + 8);
        assert_eq!(Checkpoint::decode_canonical(&bytes).unwrap(), c);
        for cut in 0..bytes.len() {
            assert!(matches!(Checkpoint::decode_canonical(&bytes[..cut]), Err(CodecError::Truncated { .. })), "cut {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(Checkpoint::decode_canonical(&long), Err(CodecError::TrailingBytes { what: "checkpoint", count: 1 }));
        let mut v2 = bytes;
        v2[0] = 2;
        assert_eq!(Checkpoint::decode_canonical(&v2), Err(CodecError::UnsupportedVersion { what: "checkpoint", version: 2 }));
    }

    #[test]
    fn non_shortest_lengths_and_bad_log_ids_are_refused() {
        // Log id length 5 written as 0x85 0x00.
        let mut bytes = vec![1, 0x85, 0x00];
        bytes.extend_from_slice(b"hub-1");
        bytes.extend_from_slice(&[0; 48]);
        assert!(matches!(Checkpoint::decode_canonical(&bytes), Err(CodecError::BadField { field: "log id", .. })));
        let mut c = checkpoint(1, 0);
        c.log_id = "hub\n1".into();
        assert!(matches!(Checkpoint::decode_canonical(&c.encode_canonical()), Err(CodecError::BadField { field: "log id", .. })));
        c.log_id = String::new();
        assert!(Checkpoint::decode_canonical(&c.encode_canonical()).is_err());
        c.log_id = "x".repeat(256);
        assert!(matches!(Checkpoint::decode_canonical(&c.encode_canonical()), Err(CodecError::TooLong { len: 256, .. })));
    }

    #[test]
    fn signed_checkpoint_verifies_round_trips_and_a_changed_field_does_not_verify() {
        let hub = Hub::new();
        let signed = hub.sign(checkpoint(10, 5));
        assert_eq!(signed.verify(&hub.public()), Ok(()));
        let bytes = signed.encode();
        let back = SignedCheckpoint::decode(&bytes).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.verify(&hub.public()), Ok(()));
        for cut in 0..bytes.len() {
            assert!(SignedCheckpoint::decode(&bytes[..cut]).is_err());
        }
        let mut altered = signed.clone();
        altered.checkpoint.tree_size = 11;
        assert_eq!(altered.verify(&hub.public()), Err(VerifyError::Mismatch));
        assert_eq!(signed.verify(&Hub::new().public()), Err(VerifyError::Mismatch));
        // A checkpoint signature is not a batch header signature: the contexts differ.
        let header_sig = Signature::create(&hub.key, hub.id, &signed.checkpoint.encode_canonical()).unwrap();
        let replayed = SignedCheckpoint { checkpoint: signed.checkpoint.clone(), signature: header_sig };
        assert_eq!(replayed.verify(&hub.public()), Err(VerifyError::Mismatch));
    }

    #[test]
    fn tracker_accepts_a_growing_log_with_consistency_proofs() {
        let hub = Hub::new();
        let mut t = CheckpointTracker::new();
        t.accept(hub.sign(checkpoint(0, 1)), &[], &hub.public()).unwrap();
        t.accept(hub.sign(checkpoint(3, 2)), &[], &hub.public()).unwrap();
        t.accept(hub.sign(checkpoint(3, 3)), &[], &hub.public()).unwrap();
        t.accept(hub.sign(checkpoint(10, 3)), &proof(3, 10), &hub.public()).unwrap();
        t.accept(hub.sign(checkpoint(64, 9)), &proof(10, 64), &hub.public()).unwrap();
        assert_eq!(t.last().unwrap().checkpoint.tree_size, 64);
        // Persist and resume, as the connector does across restarts.
        let mut resumed = CheckpointTracker::resume(SignedCheckpoint::decode(&t.last().unwrap().encode()).unwrap());
        resumed.accept(hub.sign(checkpoint(65, 10)), &proof(64, 65), &hub.public()).unwrap();
    }

    #[test]
    fn tracker_names_what_failed() {
        let hub = Hub::new();
        let key = hub.public();
        let mut t = CheckpointTracker::for_log("hub-1");
        t.accept(hub.sign(checkpoint(10, 100)), &[], &key).unwrap();
        let held = t.last().cloned();

        let forged = Hub::new().sign(checkpoint(12, 101));
        assert_eq!(t.accept(forged, &proof(10, 12), &key), Err(CheckpointError::Signature(VerifyError::Mismatch)));

        let mut other = checkpoint(12, 101);
        other.log_id = "hub-2".into();
        assert!(matches!(t.accept(hub.sign(other), &proof(10, 12), &key), Err(CheckpointError::WrongLog { .. })));

        assert!(matches!(t.accept(hub.sign(checkpoint(9, 101)), &[], &key), Err(CheckpointError::Shrank { old: 10, new: 9, .. })));

        let mut fork = checkpoint(10, 101);
        fork.root = [1; 32];
        assert!(matches!(t.accept(hub.sign(fork), &[], &key), Err(CheckpointError::Fork { size: 10, .. })));

        assert!(matches!(t.accept(hub.sign(checkpoint(12, 99)), &proof(10, 12), &key), Err(CheckpointError::TimeWentBack { .. })));

        // A rewritten history: same size 12, but entry 3 differs.
        let mut rewritten = leaves(12);
        rewritten[3] = merkle::leaf_hash(b"rewritten");
        let c = Checkpoint {
            log_id: "hub-1".into(),
            tree_size: 12,
            root: merkle::root_from_leaf_hashes(&rewritten),
            timestamp: Timestamp(102),
        };
        let p = merkle::consistency_proof(&rewritten, 10).unwrap();
        assert!(matches!(t.accept(hub.sign(c), &p, &key), Err(CheckpointError::Inconsistent { old: 10, new: 12, .. })));
        assert!(matches!(t.accept(hub.sign(checkpoint(12, 102)), &[], &key), Err(CheckpointError::Inconsistent { .. })));

        let mut empty = checkpoint(0, 1);
        empty.root = [2; 32];
        assert!(matches!(CheckpointTracker::new().accept(hub.sign(empty), &[], &key), Err(CheckpointError::EmptyLogRoot(_))));
        assert_eq!(
            CheckpointTracker::new().accept(hub.sign(checkpoint(5, 1)), &proof(2, 5), &key),
            Err(CheckpointError::UnexpectedProof { len: proof(2, 5).len() })
        );

        // Nothing changed through all of that.
        assert_eq!(t.last().cloned(), held);
        t.accept(hub.sign(checkpoint(12, 102)), &proof(10, 12), &key).unwrap();
    }

    #[test]
    fn a_pinned_tracker_accepts_only_a_log_that_extends_the_pin() {
        let hub = Hub::new();
        let key = hub.public();
        let pin = PinnedTree::new(10, checkpoint(10, 0).root).unwrap();
        let t = CheckpointTracker::for_log("hub-1").with_pin(pin).unwrap();
        assert_eq!(t.held_size(), Some(10), "the first proof is asked from the pin");

        // The honest log, grown past the pin, with its proof; the pin's own size and root.
        t.clone().accept(hub.sign(checkpoint(12, 1)), &proof(10, 12), &key).unwrap();
        t.clone().accept(hub.sign(checkpoint(10, 1)), &[], &key).unwrap();

        // Another history of the same length, signed by the same hub.
        let mut other = leaves(12);
        other[3] = merkle::leaf_hash(b"rewritten");
        let c = Checkpoint { log_id: "hub-1".into(), tree_size: 12, root: merkle::root_from_leaf_hashes(&other), timestamp: Timestamp(1) };
        let p = merkle::consistency_proof(&other, 10).unwrap();
        assert!(matches!(t.clone().accept(hub.sign(c), &p, &key), Err(CheckpointError::Inconsistent { old: 10, new: 12, .. })));
        // Trust on first use would have taken it: the pin is what refuses it.
        let c = Checkpoint { log_id: "hub-1".into(), tree_size: 12, root: merkle::root_from_leaf_hashes(&other), timestamp: Timestamp(1) };
        CheckpointTracker::for_log("hub-1").accept(hub.sign(c), &[], &key).unwrap();

        assert!(matches!(t.clone().accept(hub.sign(checkpoint(9, 1)), &[], &key), Err(CheckpointError::Shrank { old: 10, new: 9, .. })));
        let mut fork = checkpoint(10, 1);
        fork.root = [1; 32];
        assert!(matches!(t.clone().accept(hub.sign(fork), &[], &key), Err(CheckpointError::Fork { size: 10, .. })));
        let mut other_log = checkpoint(12, 1);
        other_log.log_id = "hub-2".into();
        assert!(matches!(t.clone().accept(hub.sign(other_log), &proof(10, 12), &key), Err(CheckpointError::WrongLog { .. })));
        assert_eq!(PinnedTree::new(0, [1; 32]), Err(CheckpointError::EmptyLogRoot([1; 32])));

        // A tracker resumed from its own checkpoint keeps it; a pin of the same size with another
        // root is a fork.
        let held = hub.sign(checkpoint(12, 1));
        let resumed = CheckpointTracker::resume(held.clone()).with_pin(pin).unwrap();
        assert_eq!(resumed.last(), Some(&held));
        assert_eq!(resumed.held_size(), Some(12));
        let conflicting = PinnedTree::new(12, [3; 32]).unwrap();
        assert!(matches!(CheckpointTracker::resume(held).with_pin(conflicting), Err(CheckpointError::Fork { size: 12, .. })));

        // Once one is accepted, the next extends that one.
        let mut t = t;
        t.accept(hub.sign(checkpoint(12, 1)), &proof(10, 12), &key).unwrap();
        assert_eq!(t.held_size(), Some(12));
        t.accept(hub.sign(checkpoint(20, 2)), &proof(12, 20), &key).unwrap();
    }

    #[test]
    fn log_entries_round_trip_and_are_strict() {
        let entries = [
            LogEntry::BatchHeader(vec![1, 2, 3]),
            LogEntry::Command(vec![0; 200]),
            LogEntry::CommandResult(vec![]),
            LogEntry::ConfigChange { key: "hub.start".into(), value: "policy=…".into() },
            LogEntry::Certificate(vec![0x30; 300]),
        ];
        for e in &entries {
            let bytes = e.encode();
            assert_eq!(bytes[1], e.kind());
            assert_eq!(LogEntry::decode(&bytes).as_ref(), Ok(e));
            assert_eq!(e.leaf_hash(), merkle::leaf_hash(&bytes));
            for cut in 0..bytes.len() {
                assert!(matches!(LogEntry::decode(&bytes[..cut]), Err(CodecError::Truncated { .. })));
            }
        }
        assert_eq!(LogEntry::decode(&[1, 9, 0]), Err(CodecError::UnknownKind(9)));
        assert!(matches!(LogEntry::decode(&[1, 4, 0, 0]), Err(CodecError::BadField { field: "config key", .. })));
        assert!(matches!(LogEntry::decode(&[1, 4, 1, 0xff, 0]), Err(CodecError::BadField { field: "config key", .. })));
        assert_eq!(LogEntry::decode(&[1, 2, 0, 0]), Err(CodecError::TrailingBytes { what: "log entry", count: 1 }));
        // A length of 2^35: refused by its bound before any allocation.
        assert!(matches!(LogEntry::decode(&[1, 5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), Err(CodecError::TooLong { .. })));
        assert!(matches!(
            LogEntry::decode(&[1, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Err(CodecError::BadField { .. })
        ));
    }

    /// How many mutants of each kind (log entry, checkpoint, signed checkpoint) decoded in
    /// [`mutated_valid_encodings_decode_only_to_the_same_bytes`], so a test can show the
    /// property was really checked.
    static DECODED: [std::sync::atomic::AtomicU64; 3] = [const { std::sync::atomic::AtomicU64::new(0) }; 3];

    #[test]
    fn the_canonical_encoding_property_runs_on_decodable_mutants() {
        use std::sync::atomic::Ordering::Relaxed;
        // Runs the property itself (the test harness may run it in parallel too: counts only grow).
        mutated_valid_encodings_decode_only_to_the_same_bytes();
        let decoded: Vec<u64> = DECODED.iter().map(|d| d.load(Relaxed)).collect();
        // A flip inside a log entry payload or a checkpoint's fixed fields still decodes; 256
        // cases give each kind dozens of decodable mutants.
        assert!(decoded.iter().all(|&n| n >= 10), "decodable mutants per kind (entry, checkpoint, signed): {decoded:?}");
    }

    fn any_entry() -> impl Strategy<Value = LogEntry> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            bytes().prop_map(LogEntry::BatchHeader),
            bytes().prop_map(LogEntry::Command),
            bytes().prop_map(LogEntry::CommandResult),
            ("[a-z.]{1,20}", ".{0,40}").prop_map(|(key, value)| LogEntry::ConfigChange { key, value }),
            bytes().prop_map(LogEntry::Certificate),
        ]
    }

    proptest! {
        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Checkpoint::decode_canonical(&bytes);
            let _ = SignedCheckpoint::decode(&bytes);
            let _ = LogEntry::decode(&bytes);
            // The same after a valid prefix, so the field decoders are reached.
            let mut entry = vec![1, bytes.first().copied().unwrap_or(1) % 6];
            entry.extend_from_slice(&bytes);
            let _ = LogEntry::decode(&entry);
            let mut cp = vec![1];
            cp.extend_from_slice(&bytes);
            let _ = Checkpoint::decode_canonical(&cp);
        }

        #[test]
        fn mutated_valid_encodings_decode_only_to_the_same_bytes(
            (kind, seed) in (0..3u8, any_entry()),
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            mutations in proptest::collection::vec((0..3u8, any::<usize>(), any::<u8>()), 1..4),
        ) {
            // Start from a real encoding, so most mutants still reach the field decoders (random
            // bytes almost never decode, and then the property is never checked).
            let hub = Hub::new();
            let c = Checkpoint { log_id: "hub-1".into(), tree_size: size, root, timestamp: Timestamp(size as i64) };
            let mut bytes = match kind {
                0 => seed.encode(),
                1 => c.encode_canonical(),
                _ => hub.sign(c).encode(),
            };
            for (op, at, byte) in mutations {
                let at = at % (bytes.len() + 1);
                match op {
                    0 if at < bytes.len() => bytes[at] ^= byte | 1,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => { bytes.remove(at); }
                    _ => bytes.push(byte),
                }
            }
            let re_encoded = match kind {
                0 => LogEntry::decode(&bytes).ok().map(|e| e.encode()),
                1 => Checkpoint::decode_canonical(&bytes).ok().map(|c| c.encode_canonical()),
                _ => SignedCheckpoint::decode(&bytes).ok().map(|s| s.encode()),
            };
            if let Some(again) = re_encoded {
                DECODED[usize::from(kind)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                prop_assert_eq!(again, bytes);
            }
        }

        #[test]
        fn entries_round_trip(e in any_entry()) {
            prop_assert_eq!(LogEntry::decode(&e.encode()), Ok(e));
        }

        #[test]
        fn checkpoints_round_trip(id in "[A-Za-z0-9 ._-]{1,255}", size in any::<u64>(), root in any::<[u8; 32]>(), t in any::<i64>()) {
            let c = Checkpoint { log_id: id, tree_size: size, root, timestamp: Timestamp(t) };
            prop_assert_eq!(Checkpoint::decode_canonical(&c.encode_canonical()), Ok(c));
        }
    }
}
