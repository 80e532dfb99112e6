//! The messages of each hop. Each direction has its own enum so that a role cannot be sent a
//! message it has no business receiving.

use serde::{Deserialize, Serialize};

use gridtrust_model::Timestamp;
use gridtrust_trust::checkpoint::{EntryInLog, SignedCheckpoint};
use gridtrust_trust::command::{SignedCommand, SignedResult};
use gridtrust_trust::evidence::Signature;
use gridtrust_trust::registry::SignedRegistry;
use gridtrust_trust::{BatchHeader, Hash, SignedBatch};

/// Bumped when a message changes shape; peers refuse a different version at hello. 4: the
/// connector's hello carries its position per edge. 5: the connector reports intrusion alerts.
/// 6: edges report intrusion alerts.
pub const PROTOCOL_VERSION: u16 = 6;

/// Edge → hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EdgeToHub {
    /// First message: who the edge is, and the tree size of the last log checkpoint it
    /// accepted (it keeps it on disk), so the hub proves consistency from exactly there.
    Hello { edge_id: String, protocol: u16, checkpoint_size: Option<u64> },
    /// A batch of records with its evidence; the hub answers [`HubToEdge::Ack`] once it is
    /// durably stored (or was already).
    Batch(SignedBatch),
    /// The answer to a command stage, signed by the edge and bound to the command.
    CommandResult(SignedResult),
    /// An alert of the edge's intrusion detector on its links to RTUs, for the hub's alarm list
    /// (where incidents are made); the edge logs it as well.
    Intrusion { alert: String, seen_at: Timestamp },
}

/// Hub → edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HubToEdge {
    /// Answer to hello: the last batch the hub holds from this edge, so the edge can resume.
    Welcome { last_batch_seq: Option<u64> },
    /// Batches up to and including this one are durably stored; the edge may drop them.
    Ack { batch_seq: u64 },
    /// A command to execute on a device, signed by its issuer and authorised by the hub, with
    /// the proof that the authorised command is in the hub's log (the edge refuses it without).
    Command { command: Box<SignedCommand>, log: Box<EntryInLog> },
}

/// Control-centre connector → hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CcToHub {
    /// First message. `checkpoint_size` is the tree size of the last log checkpoint the cc
    /// accepted (it keeps it on disk), so the hub proves consistency from exactly there.
    /// `positions` is, per edge, the last batch seq the cc applied (it keeps them on disk), so
    /// the hub replays from its store every batch after it instead of only the latest values.
    Hello { cc_id: String, protocol: u16, checkpoint_size: Option<u64>, positions: Vec<(String, u64)> },
    /// A command from SCADA, signed by the cc.
    Command(SignedCommand),
    /// An alert of the cc's intrusion detector on its SCADA side, for the hub's alarm list
    /// (where incidents are made); the cc keeps and logs it as well.
    Intrusion { alert: String, seen_at: Timestamp },
}

/// Hub → control-centre connector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HubToCc {
    /// The signed point registry the hub holds, sent first; the cc verifies the engineer's
    /// signature itself and never takes an older version than it has.
    Registry(SignedRegistry),
    /// The certificates (DER) of edges whose evidence follows; the cc validates each against its
    /// own trust anchors and CRL before using it to verify signatures.
    Certificates(Vec<Vec<u8>>),
    /// A signed batch header of every edge, sent after hello so the cc can check chains from there
    /// on: the header at the cc's position when the batches after it are replayed, else the
    /// latest.
    Heads(Vec<(BatchHeader, Option<Signature>)>),
    /// A batch exactly as the edge produced it, for the cc to re-verify and serve.
    Batch(SignedBatch),
    /// A signed checkpoint of the hub's transparency log, with the consistency proof from the
    /// checkpoint the cc announced (empty when it had none), and the hub's certificate.
    Checkpoint { checkpoint: SignedCheckpoint, consistency: Vec<Hash>, hub_certificate: Vec<u8> },
    /// A command stage's signed result (from the edge, or from the hub if it refused).
    CommandResult(SignedResult),
}
