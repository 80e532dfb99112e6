//! # gridtrust-grid: network model and AC power flow
//!
//! The grid a state estimator will run on: a bus-branch network in per unit built
//! from a CGMES model, and a Newton-Raphson power flow that checks the model against the SV
//! profile the model was exchanged with.
//!
//! - [`network`]: [`Network`] (buses, π branches with an off-nominal complex ratio, shunts,
//!   injections, PV and slack buses), its admittance matrix and its islands.
//! - [`cgmes`]: [`cgmes::build`] turns a [`gridtrust_cgmes::CgmesModel`] (plus the few classes it does
//!   not type, read from the same graph) into a [`Network`], with de-energised islands reported;
//!   [`cgmes::compare_with_sv`] measures a solution against `SvVoltage`.
//! - [`powerflow`]: [`powerflow::solve`], Newton-Raphson in polar form.
//! - [`error`]: the typed [`GridError`].
//!
//! Deliberately not done yet: state estimation, bad-data detection and identification,
//! observability analysis, a sparse factorisation and the speed goal against power-grid-model;
//! reactive limits, tap and phase-shifter control, distributed slack, voltage-dependent loads.

pub mod cgmes;
pub mod complex;
pub mod error;
pub mod network;
pub mod powerflow;

pub use complex::C64;
pub use error::GridError;
pub use network::{Branch, Bus, BusKind, Network};
pub use powerflow::{Options, Solution, solve};
