//! The hub's transparency log and its signed checkpoints.
//!
//! Every batch header (with the edge's signature), every command and its hub decision, every
//! command result, every edge certificate first seen and every configuration change is appended
//! to an RFC 9162 Merkle log on disk. At a fixed interval the hub signs a checkpoint (log id,
//! size, root, time) with its own key; connectors and auditors keep the last checkpoint they
//! accepted and require a consistency proof to every new one, so history cannot be rewritten or
//! truncated without them noticing.
//!
//! Each signed checkpoint is also written next to the log, as [`CHECKPOINT_FILE`] (the
//! [`SignedCheckpoint::encode`] bytes the cc keeps too) with the hub certificate that verifies
//! it as [`CERTIFICATE_FILE`], so an offline evidence export (`gridtrust export`), which has
//! no access to the hub's key, can hand auditors the latest checkpoint.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gridtrust_model::Timestamp;
use gridtrust_store::translog::TransparencyLog;
use gridtrust_transport::identity::Identity;
use gridtrust_trust::Hash;
use gridtrust_trust::checkpoint::{Checkpoint, LogEntry, SignedCheckpoint};
use tracing::warn;

/// The latest signed checkpoint, in the log's directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
/// The DER certificate whose key signed [`CHECKPOINT_FILE`], in the log's directory.
pub const CERTIFICATE_FILE: &str = "hub-certificate.der";

/// Why the log could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("transparency log store: {0}")]
    Store(#[from] gridtrust_store::StoreError),
    #[error("cannot sign the checkpoint: {0}")]
    Sign(#[from] gridtrust_trust::signing::SignError),
    #[error("no checkpoint covers log entry {0}")]
    NotCovered(u64),
}

/// A batch header's place in the log under a signed checkpoint.
pub struct HeaderInLog {
    /// The entry's index.
    pub index: u64,
    /// RFC 9162 inclusion proof to the checkpoint's tree.
    pub proof: Vec<Hash>,
    /// The checkpoint the proof is to.
    pub checkpoint: Arc<SignedCheckpoint>,
}

/// The log plus the latest signed checkpoint.
///
/// `/healthz` and `/metrics` read the size and the latest checkpoint on async threads, so
/// neither waits for the log's lock (held across an append's fsync) or for a signature (an HSM
/// may take its time): the size is mirrored in an atomic, and `latest` is only ever locked to
/// read or swap the pointer.
pub struct Ledger {
    log: Mutex<TransparencyLog>,
    size: AtomicU64,
    identity: Arc<Identity>,
    log_id: String,
    latest: Mutex<Option<Arc<SignedCheckpoint>>>,
    /// Serialises checkpoint signing, which happens outside `latest`'s lock.
    signing: Mutex<()>,
    /// The time of the last checkpoint signed before this start ([`CHECKPOINT_FILE`]): no
    /// checkpoint is signed earlier than it, even when this host's clock was set back since.
    signed_before: Timestamp,
    /// Where [`CHECKPOINT_FILE`] and [`CERTIFICATE_FILE`] go: the log's directory.
    dir: PathBuf,
}

/// The time of the checkpoint of this log that this hub signed last, as [`Ledger::persist`] left
/// it: read only if it is this log's (id, size within the log) and its signature verifies with
/// this hub's key.
fn last_signed_time(dir: &Path, identity: &Identity, log_id: &str, log_size: u64) -> Option<Timestamp> {
    let bytes = std::fs::read(dir.join(CHECKPOINT_FILE)).ok()?;
    let signed = SignedCheckpoint::decode(&bytes).ok()?;
    let ours = signed.checkpoint.log_id == log_id
        && signed.checkpoint.tree_size <= log_size
        && signed.signature.signer == identity.certificate_id
        && signed.verify(&identity.me.public_key).is_ok();
    if !ours {
        warn!(file = %dir.join(CHECKPOINT_FILE).display(), "the last checkpoint file is not this hub's for this log; ignored");
        return None;
    }
    Some(signed.checkpoint.timestamp)
}

impl Ledger {
    /// Opens (or creates) the log file; the log id is the hub's certificate name.
    pub fn open(path: &Path, identity: Arc<Identity>) -> Result<Self, LedgerError> {
        let log = TransparencyLog::open(path)?;
        let log_id = identity.me.name.clone();
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let size = AtomicU64::new(log.size());
        let signed_before = last_signed_time(&dir, &identity, &log_id, log.size()).unwrap_or(Timestamp(i64::MIN));
        Ok(Self { log: Mutex::new(log), size, identity, log_id, latest: Mutex::new(None), signing: Mutex::new(()), signed_before, dir })
    }

    fn log(&self) -> std::sync::MutexGuard<'_, TransparencyLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends entries in one durable transaction (blocking: call off the async threads).
    /// Returns the index of the first.
    pub fn append(&self, entries: &[LogEntry]) -> Result<u64, LedgerError> {
        let encoded: Vec<Vec<u8>> = entries.iter().map(LogEntry::encode).collect();
        let mut log = self.log();
        let first = log.append_many(&encoded)?;
        self.size.store(log.size(), Ordering::Release);
        Ok(first)
    }

    /// Appends those of `entries` the log does not hold yet, in one durable transaction
    /// (blocking). The hub stores a batch and logs its header in two databases: after a crash
    /// between the two commits the edge resends the unacknowledged batch, the store calls it a
    /// duplicate, and this is where its header reaches the log before the acknowledgement.
    /// Returns how many were appended.
    pub fn append_missing(&self, entries: &[LogEntry]) -> Result<usize, LedgerError> {
        let mut log = self.log();
        let size = log.size();
        let mut missing = Vec::with_capacity(entries.len());
        for entry in entries {
            let encoded = entry.encode();
            if log.find(&encoded, size)?.is_none() {
                missing.push(encoded);
            }
        }
        if !missing.is_empty() {
            log.append_many(&missing)?;
            self.size.store(log.size(), Ordering::Release);
        }
        Ok(missing.len())
    }

    /// Whether the log holds `entry` (blocking).
    pub fn contains(&self, entry: &LogEntry) -> Result<bool, LedgerError> {
        let log = self.log();
        Ok(log.find(&entry.encode(), log.size())?.is_some())
    }

    /// Entries in the log (never waits for an append).
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Signs a checkpoint of the current tree (blocking), also when it did not grow: a fresh
    /// checkpoint every interval is how connectors tell a quiet log from a hub that stopped
    /// checkpointing (their silence alarm, `[checkpoints] max_silence_s`).
    pub fn checkpoint(&self) -> Result<Arc<SignedCheckpoint>, LedgerError> {
        let signing = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        self.sign_holding(signing)
    }

    /// A signed checkpoint that covers entry `index`: the latest, or a new one signed now
    /// (blocking). The check is repeated under the signing lock, so callers racing for the same
    /// entry share one signature: nobody, a viewer opening evidence included, can make the hub
    /// sign more often than its log grows.
    pub fn checkpoint_covering(&self, index: u64) -> Result<Arc<SignedCheckpoint>, LedgerError> {
        let covering = || self.latest().filter(|c| c.checkpoint.tree_size > index);
        if let Some(latest) = covering() {
            return Ok(latest);
        }
        let signing = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(latest) = covering() {
            return Ok(latest);
        }
        self.sign_holding(signing)?;
        covering().ok_or(LedgerError::NotCovered(index))
    }

    /// Signs the current tree. The signing lock is held while the tree is read and signed, so
    /// two signers (the interval and an on-demand one) cannot publish a smaller tree after a
    /// larger one.
    fn sign_holding(&self, _signing: std::sync::MutexGuard<'_, ()>) -> Result<Arc<SignedCheckpoint>, LedgerError> {
        let (tree_size, root) = {
            let log = self.log();
            (log.size(), log.root())
        };
        // Checkpoints of one log never go back in time (connectors refuse that), also when this
        // host's clock steps back, before or across a restart.
        let previous = self.latest().map_or(self.signed_before, |l| l.checkpoint.timestamp.max(self.signed_before));
        let timestamp = previous.max(Timestamp::now());
        let checkpoint = Checkpoint { log_id: self.log_id.clone(), tree_size, root, timestamp };
        let signed = Arc::new(SignedCheckpoint::sign(checkpoint, self.identity.signer.as_ref(), self.identity.certificate_id)?);
        self.persist(&signed);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(signed.clone());
        Ok(signed)
    }

    /// The inclusion proof of entry `index` in the tree of `tree_size` entries (blocking).
    pub fn inclusion(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, LedgerError> {
        Ok(self.log().inclusion_proof(index, tree_size)?)
    }

    /// Writes the checkpoint and the certificate for exports (each replaced atomically, the
    /// certificate first so the checkpoint never names one not on disk). A failure is logged,
    /// not returned: the checkpoint is signed and served all the same.
    fn persist(&self, signed: &SignedCheckpoint) {
        let write = |name: &str, bytes: &[u8]| {
            let path = self.dir.join(name);
            let tmp = path.with_extension("tmp");
            if let Err(error) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &path)) {
                warn!(%error, path = %path.display(), "cannot write the checkpoint file for exports");
            }
        };
        write(CERTIFICATE_FILE, &self.identity.certificate);
        write(CHECKPOINT_FILE, &signed.encode());
    }

    /// The log entry of a sealed batch header, its inclusion proof and a signed checkpoint that
    /// covers it; `None` when the header is not in the log (blocking). A header logged after the
    /// latest checkpoint gets one signed now ([`Ledger::checkpoint_covering`]), so a value's
    /// evidence is complete as soon as its batch is acknowledged, not one interval later.
    pub fn prove_header(&self, sealed_header: &[u8]) -> Result<Option<HeaderInLog>, LedgerError> {
        let wanted = LogEntry::BatchHeader(sealed_header.to_vec()).encode();
        let Some(index) = ({
            let log = self.log();
            log.find(&wanted, log.size())?
        }) else {
            return Ok(None);
        };
        let checkpoint = self.checkpoint_covering(index)?;
        let proof = self.inclusion(index, checkpoint.checkpoint.tree_size)?;
        Ok(Some(HeaderInLog { index, proof, checkpoint }))
    }

    /// Entries `from .. from + count` (fewer at the end of the log) as (index, bytes), blocking.
    pub fn entries(&self, from: u64, count: u64) -> Result<Vec<(u64, Vec<u8>)>, LedgerError> {
        let log = self.log();
        let end = from.saturating_add(count).min(log.size());
        let mut out = Vec::new();
        for i in from..end {
            if let Some(e) = log.entry(i)? {
                out.push((i, e));
            }
        }
        Ok(out)
    }

    /// The latest signed checkpoint, if any.
    pub fn latest(&self) -> Option<Arc<SignedCheckpoint>> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The consistency proof from `old` to `new` entries; empty when there is nothing to prove
    /// (no old checkpoint) or nothing can be proven (the old size exceeds this log, which the
    /// receiver then detects as truncation).
    pub fn consistency(&self, old: Option<u64>, new: u64) -> Result<Vec<Hash>, LedgerError> {
        match old {
            Some(old) if old > 0 && old < new => Ok(self.log().consistency_proof(old, new)?),
            _ => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_keys::KeyConfig;
    use gridtrust_pki::{DevPki, IdentityKind, Role};
    use gridtrust_transport::identity::IdentityConfig;

    fn ledger(dir: &Path) -> Ledger {
        let pki = DevPki::generate(&dir.join("pki"), &[(IdentityKind::Hub, "hub", &[Role::Viewer])]).unwrap();
        let files = pki.files("hub");
        let config =
            IdentityConfig::new(dir.join("pki/ca.crt.pem"), files.cert, dir.join("pki/crl.pem"), KeyConfig::Software { path: files.key });
        Ledger::open(&dir.join("log.redb"), Arc::new(Identity::load(&config).unwrap())).unwrap()
    }

    #[test]
    fn a_header_logged_after_the_latest_checkpoint_is_proven_under_one_signed_now() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ledger(dir.path());
        ledger.append(&[LogEntry::BatchHeader(b"first".to_vec())]).unwrap();
        let first = ledger.checkpoint().unwrap();
        ledger.append(&[LogEntry::BatchHeader(b"second".to_vec())]).unwrap();

        let proven = ledger.prove_header(b"second").unwrap().expect("a logged header is proven");
        assert_eq!(proven.index, 1);
        assert_eq!(proven.checkpoint.checkpoint.tree_size, 2, "a new checkpoint covers it, not the latest of size 1");
        assert!(proven.checkpoint.checkpoint.timestamp >= first.checkpoint.timestamp);
        let leaf = gridtrust_trust::merkle::leaf_hash(&LogEntry::BatchHeader(b"second".to_vec()).encode());
        gridtrust_trust::merkle::verify_inclusion(&leaf, 1, 2, &proven.proof, &proven.checkpoint.checkpoint.root).unwrap();

        // Asking again signs nothing new: the checkpoint signed for the first request covers it.
        let again = ledger.prove_header(b"second").unwrap().unwrap();
        assert!(Arc::ptr_eq(&again.checkpoint, &proven.checkpoint), "one signature per log growth, however often evidence is opened");
        assert!(ledger.prove_header(b"never logged").unwrap().is_none());
    }
}
