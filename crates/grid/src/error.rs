//! [`GridError`]: what went wrong building a network or solving it, naming the mRID or bus.

use gridtrust_cgmes::CgmesError;

/// Errors of network building and power flow.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The CGMES import failed.
    #[error("CGMES import: {0}")]
    Cgmes(#[from] CgmesError),
    /// A value the network needs is absent (or not a number) in the model.
    #[error("{class} {mrid}: missing {what}")]
    MissingData {
        /// CIM class of the object.
        class: &'static str,
        /// The object's mRID.
        mrid: String,
        /// The property or link that is missing.
        what: &'static str,
    },
    /// The model uses a construct this crate does not model yet.
    #[error("{class} {mrid}: not supported: {what}")]
    Unsupported {
        /// CIM class of the object.
        class: &'static str,
        /// The object's mRID.
        mrid: String,
        /// What is not supported.
        what: &'static str,
    },
    /// A value is out of range (zero base voltage, zero impedance, non-finite number).
    #[error("{what} is invalid for {id}: {value}")]
    InvalidValue {
        /// The bus, branch or object.
        id: String,
        /// Which value.
        what: &'static str,
        /// The value found.
        value: f64,
    },
    /// A bus or branch refers to a bus index that does not exist.
    #[error("{id} refers to bus index {index}, the network has {buses} buses")]
    BusIndex {
        /// The branch or bus.
        id: String,
        /// The index referred to.
        index: usize,
        /// Number of buses.
        buses: usize,
    },
    /// An island has no slack bus, so its angles are undetermined.
    #[error("the island containing bus {bus} has no slack bus")]
    NoSlack {
        /// One bus of the island.
        bus: String,
    },
    /// An island has more than one slack bus.
    #[error("the island containing bus {bus} has more than one slack bus")]
    SeveralSlacks {
        /// One of the slack buses.
        bus: String,
    },
    /// Newton-Raphson did not reach the tolerance.
    #[error("power flow did not converge in {iterations} iterations: largest mismatch {max_mismatch_pu:e} pu at bus {bus}")]
    NotConverged {
        /// Iterations done.
        iterations: usize,
        /// Largest absolute P or Q mismatch at the end, per unit.
        max_mismatch_pu: f64,
        /// The bus with the largest mismatch.
        bus: String,
    },
    /// The Jacobian was singular (or the iterate left finite numbers).
    #[error("singular Jacobian in iteration {iteration}")]
    SingularJacobian {
        /// The iteration (1-based).
        iteration: usize,
    },
    /// The measurements do not determine the state: the gain matrix of the state estimator is
    /// singular.
    #[error("unobservable: the measurements do not determine the {state}")]
    Unobservable {
        /// The first state variable found to depend on the others, e.g. `magnitude of bus 3`.
        state: String,
    },
    /// Gauss-Newton did not reach the step tolerance.
    #[error("state estimation did not converge in {iterations} iterations: last step {max_step:e}")]
    EstimateNotConverged {
        /// Iterations done.
        iterations: usize,
        /// Largest state change in the last iteration (rad or pu).
        max_step: f64,
    },
}
