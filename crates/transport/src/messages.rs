//! The messages of each hop. Each direction has its own enum so that a role cannot be sent a
//! message it has no business receiving.

use serde::{Deserialize, Serialize};

use gridtrust_model::{Command, CommandResult};
use gridtrust_trust::{BatchHeader, SignedBatch};

/// Bumped when a message changes shape; peers refuse a different version at hello.
pub const PROTOCOL_VERSION: u16 = 1;

/// Edge → hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EdgeToHub {
    /// First message: who the edge is.
    Hello { edge_id: String, protocol: u16 },
    /// A batch of records with its evidence; the hub answers [`HubToEdge::Ack`] once it is
    /// durably stored (or was already).
    Batch(SignedBatch),
    /// The answer to a command stage from the device.
    CommandResult(CommandResult),
}

/// Hub → edge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HubToEdge {
    /// Answer to hello: the last batch the hub holds from this edge, so the edge can resume.
    Welcome { last_batch_seq: Option<u64> },
    /// Batches up to and including this one are durably stored; the edge may drop them.
    Ack { batch_seq: u64 },
    /// A command to execute on a device.
    Command(Command),
}

/// Control-centre connector → hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CcToHub {
    Hello { cc_id: String, protocol: u16 },
    /// A command from SCADA.
    Command(Command),
}

/// Hub → control-centre connector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HubToCc {
    /// The latest batch header of every edge, sent after hello so the cc can check chains from
    /// there on.
    Heads(Vec<BatchHeader>),
    /// A batch exactly as the edge produced it, for the cc to re-verify and serve.
    Batch(SignedBatch),
    /// A command stage's result, routed back to the cc that issued the command.
    CommandResult(CommandResult),
}
