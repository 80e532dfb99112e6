//! A transparency log kept in memory by a test's fake (compromised) hub: it appends what the
//! test wants logged and signs checkpoints with the real hub's key, so a command can carry the
//! log proof the edge requires, exactly as a hub that controls its own log could produce it.

use std::sync::Arc;

use gridtrust_model::Timestamp;
use gridtrust_trust::checkpoint::{Checkpoint, EntryInLog, LogEntry, SignedCheckpoint};
use gridtrust_trust::merkle::{self, Hash};
use gridtrust_trust::signing::Signer;

pub struct FakeLog {
    log_id: String,
    signer: Arc<dyn Signer>,
    signer_id: Hash,
    leaves: Vec<Hash>,
}

impl FakeLog {
    /// A log named `log_id` (the hub's certificate name) signed with `signer`.
    pub fn new(log_id: &str, signer: Arc<dyn Signer>, signer_id: Hash) -> Self {
        Self { log_id: log_id.to_owned(), signer, signer_id, leaves: Vec::new() }
    }

    /// Appends `entry` and proves it under a new signed checkpoint, consistent from `held`.
    pub fn append_and_prove(&mut self, entry: &LogEntry, held: Option<u64>) -> EntryInLog {
        self.leaves.push(entry.leaf_hash());
        let index = self.leaves.len() - 1;
        self.prove(index, held)
    }

    /// Proves entry `index` under a new checkpoint of the whole log, consistent from `held`.
    pub fn prove(&self, index: usize, held: Option<u64>) -> EntryInLog {
        let size = self.leaves.len();
        let checkpoint = Checkpoint {
            log_id: self.log_id.clone(),
            tree_size: size as u64,
            root: merkle::root_from_leaf_hashes(&self.leaves),
            timestamp: Timestamp::now(),
        };
        let consistency = match held {
            Some(old) if old > 0 && (old as usize) < size => merkle::consistency_proof(&self.leaves, old as usize).unwrap(),
            _ => Vec::new(),
        };
        EntryInLog {
            index: index as u64,
            inclusion: merkle::inclusion_proof(&self.leaves, index).unwrap(),
            checkpoint: SignedCheckpoint::sign(checkpoint, self.signer.as_ref(), self.signer_id).unwrap(),
            consistency,
        }
    }
}
