//! An operator's decision on an incident: acknowledging it, or carrying out one of the actions
//! the assistant recommends. The person signs its encoding (`gridtrust_trust::decision`) and the
//! hub appends it to the transparency log, so who decided what, on how many alarms, is history
//! like a command.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// A recommended action and what it acts on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Action {
    /// Block the point's values towards SCADA and substitute the estimator's value.
    BlockPoint { point: String },
    /// Close the tie switch (tree id) to supply a feeder (its bay id) from its neighbour.
    Reroute { tie: String, feeder: String },
    /// Stop accepting data and commands from the edge.
    IsolateEdge { edge: String },
    /// Commands to the bay need a second operator's approval.
    SecondPerson { bay: String },
    /// Send a crew to a feeder (bay id) or an edge's site.
    DispatchCrew { to: String },
    /// Accept the isolated edge's connection, data and commands again.
    ReadmitEdge { edge: String },
}

impl Action {
    /// What the action is, in a few words.
    pub fn title(&self) -> &'static str {
        match self {
            Action::BlockPoint { .. } => "block the point and substitute the estimate",
            Action::Reroute { .. } => "re-route via the tie switch",
            Action::IsolateEdge { .. } => "isolate the edge",
            Action::SecondPerson { .. } => "require a second person for commands on the bay",
            Action::DispatchCrew { .. } => "dispatch a crew",
            Action::ReadmitEdge { .. } => "readmit the edge",
        }
    }

    /// The machine name of its kind (`block-point`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::BlockPoint { .. } => "block-point",
            Action::Reroute { .. } => "reroute",
            Action::IsolateEdge { .. } => "isolate-edge",
            Action::SecondPerson { .. } => "second-person",
            Action::DispatchCrew { .. } => "dispatch-crew",
            Action::ReadmitEdge { .. } => "readmit-edge",
        }
    }

    /// The id of what it acts on.
    pub fn target(&self) -> &str {
        match self {
            Action::BlockPoint { point: t }
            | Action::IsolateEdge { edge: t }
            | Action::SecondPerson { bay: t }
            | Action::DispatchCrew { to: t }
            | Action::ReadmitEdge { edge: t } => t,
            Action::Reroute { tie, .. } => tie,
        }
    }
}

/// What the person decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DecisionStep {
    /// The incident is seen and being handled.
    Acknowledge,
    /// One recommended action is carried out.
    Execute(Action),
}

/// One decision, as signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The incident (its first alarm's id).
    pub incident: u64,
    /// How many alarms it had when the person decided: alarms that join later are new to them.
    pub alarms: u32,
    pub step: DecisionStep,
    /// The person, as their certificate names them, and the role they decided in.
    pub person: String,
    pub role: String,
    pub at: Timestamp,
    /// Random bytes, so that two decisions alike are two entries, never a replay of one.
    pub nonce: [u8; 16],
}

impl std::fmt::Display for Decision {
    /// One line for logs and the audit view: `incident 17 (3 alarms): acknowledge, by olivia (OPERATOR)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "incident {} ({} alarms): ", self.incident, self.alarms)?;
        match &self.step {
            DecisionStep::Acknowledge => f.write_str("acknowledge")?,
            DecisionStep::Execute(action) => write!(f, "{} {}", action.title(), action.target())?,
        }
        write!(f, ", by {} ({})", self.person, self.role)
    }
}
