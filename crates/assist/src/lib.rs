//! # gridtrust-assist: the operator assistant
//!
//! Turns alarms from every layer (trust failures at the hub, the estimator's bad-data and profile
//! findings, refused commands, refused peers) into **incidents** that an operator handles as one:
//! what happened, where in the grid, how bad, what it affects, what the evidence is, and what to
//! do about it, ranked, each action with its reason and expected effect in plain words made from
//! the data (no language model).
//!
//! - [`area`]: [`GridIndex`], where a point is (equipment, bay, feeder) from the joined model and
//!   its CIM topology; feeders, their loads, and the normally open tie switches between them.
//! - [`correlate`]: which alarms belong together: close in time (a window) and related by
//!   equipment (the same point, bay, feeder or edge).
//! - [`incident`]: [`Assistant::incidents`], the incidents with their severity, affected
//!   equipment and load (MW and customers, from the CGMES loads' `p` and `customerCount`),
//!   evidence and [`Recommendation`]s, ranked (the table is in the module).
//! - [`flow`]: [`FlowModel::check`], the power flow that must pass before a re-route via a tie
//!   switch is proposed (voltages within ±10 %, segments within their permanent current limits).
//!
//! Alarms come in with the shared vocabulary of `gridtrust_model` ([`gridtrust_model::AlarmKind`],
//! [`gridtrust_model::Severity`]); [`Signal`] groups the kinds by what they mean for the grid's data.
//!
//! Pure: the alarms, the switch positions, the estimator's values and the isolated edges are
//! passed in, nothing is read from a clock, a store or the network. Not done here: acting on a
//! recommendation and remembering the operators' signed decisions (the hub does), fault location within a
//! feeder (a crew is sent to the feeder), and customers below a load: a load's customers are
//! its `EnergyConsumer.customerCount` when the model has one (a load without it counts in MW
//! only and is left out of the customer sums), not connection points from a customer
//! information system.

pub mod area;
pub mod correlate;
pub mod flow;
pub mod incident;

pub use area::{Feeder, GridIndex, Location, Tie};
pub use flow::{FlowCheck, FlowModel};
pub use gridtrust_model::Action;
pub use incident::{Affected, Assistant, Incident, Recommendation, Situation, SuppliedLoad, Supply, WINDOW_S};

use gridtrust_model::{AlarmKind, Severity, Timestamp};

/// What an alarm says happened, as far as the assistant cares: the alarm kinds grouped by what
/// they mean for the grid's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    /// Data or its history failed verification (signature, chain, a point outside the edge's
    /// authority): the values may be forged.
    Trust,
    /// The estimator's bad-data test removed the point's value.
    BadData,
    /// A value far outside its point's learned profile.
    Profile,
    /// A command was refused.
    Command,
    /// A peer or a login was refused, or a connector's intrusion detector raised an alert.
    Access,
    /// An edge is not heard from, or its clock is off.
    Liveness,
    /// The hub's own operation (its log, its store, a resync, its CRL).
    Operation,
}

impl Signal {
    /// The group of an alarm kind.
    pub fn of(kind: AlarmKind) -> Self {
        match kind {
            AlarmKind::Trust | AlarmKind::Chain | AlarmKind::Authority => Signal::Trust,
            AlarmKind::BadData => Signal::BadData,
            AlarmKind::Profile => Signal::Profile,
            AlarmKind::Command => Signal::Command,
            AlarmKind::Peer | AlarmKind::Login | AlarmKind::Intrusion => Signal::Access,
            AlarmKind::Stale | AlarmKind::Clock => Signal::Liveness,
            AlarmKind::Log | AlarmKind::Store | AlarmKind::Resync | AlarmKind::Crl => Signal::Operation,
        }
    }

    /// A grid anomaly: the values disagree with the physics or their history.
    pub fn is_grid_anomaly(self) -> bool {
        matches!(self, Signal::BadData | Signal::Profile)
    }

    /// In words, for titles and reasons.
    pub fn words(self) -> &'static str {
        match self {
            Signal::Trust => "failed verification",
            Signal::BadData => "bad data",
            Signal::Profile => "an unusual value",
            Signal::Command => "a refused command",
            Signal::Access => "a refused peer or login",
            Signal::Liveness => "a silent edge or a wrong clock",
            Signal::Operation => "a hub operation problem",
        }
    }
}

/// One alarm, as the assistant reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmIn {
    pub id: u64,
    pub at: Timestamp,
    pub severity: Severity,
    /// `hub`, an edge id or a connector id.
    pub source: String,
    pub kind: AlarmKind,
    pub message: String,
    /// The point it names, as the data arrive (`F1/MMXU1.TotW`).
    pub point: Option<String>,
}

impl AlarmIn {
    pub fn signal(&self) -> Signal {
        Signal::of(self.kind)
    }
}

/// The source name of alarms the hub raises about itself or its checks (not an edge).
pub const HUB: &str = "hub";

/// The estimator's view of a point, from the latest estimation run.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimated {
    pub point: String,
    /// The value received, per unit.
    pub value_pu: f64,
    /// The estimate (none when the bad-data test removed the value and no estimate of the same
    /// quantity remains).
    pub estimate_pu: Option<f64>,
    pub normalised_residual: Option<f64>,
}
