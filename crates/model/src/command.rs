use serde::{Deserialize, Serialize};

use crate::{DoublePoint, PointId, Timestamp};

/// Which half of a select-before-operate exchange a command is, so the device's SBO protection
/// is preserved end to end instead of being collapsed into a direct execute at a gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandAction {
    /// Reserve the output; nothing moves yet.
    Select,
    /// Operate (after a select for SBO points, or directly for direct-execute points).
    Execute,
    /// Abort a pending select (IEC 104 deactivation).
    Cancel,
}

/// What the command asks the device to do.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommandValue {
    /// Single command: on/off.
    Single(bool),
    /// Double command: open (off) or close (on).
    Double(DoublePoint),
    /// Regulating step: raise (true) or lower (false), e.g. a tap changer.
    Step { raise: bool },
    /// Set point, normalized fraction of full scale.
    SetpointNormalized(i16),
    /// Set point, scaled integer.
    SetpointScaled(i16),
    /// Set point, floating point.
    SetpointFloat(f32),
}

/// A command as it travels cc → hub → edge. It names the target by point id, never by a
/// protocol address, so the edge alone decides how to reach the device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Unique per issuer; results refer to it.
    pub id: u64,
    /// Random bytes so that a replayed command is recognisable even with a reused id.
    pub nonce: [u8; 16],
    pub point: PointId,
    /// The edge that must execute it: the point's owner in the point registry when the issuer
    /// signed. Signed with the rest, so a command admitted at one edge is refused at any other.
    pub edge: String,
    pub action: CommandAction,
    pub value: CommandValue,
    /// Who issued it (SCADA front-end or operator identity) and in which role.
    pub issuer: String,
    pub role: String,
    pub issued_at: Timestamp,
    /// After this time the command must not be executed.
    pub expires_at: Timestamp,
}

/// How far a command got, reported back along the same path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// The device confirmed the activation (IEC 104 ACTCON positive).
    Confirmed,
    /// The device finished executing (IEC 104 ACTTERM).
    Terminated,
    /// Refused, with the reason and who refused (device, edge, hub).
    Refused { by: String, reason: String },
}

/// The answer to one [`Command`] stage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command_id: u64,
    /// The edge the command was for (and, for a device's answer, the edge that executed it):
    /// part of the signed result, so an answer cannot be credited to another edge.
    pub edge: String,
    pub action: CommandAction,
    pub outcome: CommandOutcome,
    pub at: Timestamp,
}
