//! # gridtrust-grid: network model, AC power flow and state estimation
//!
//! A bus-branch network in per unit built from a CGMES model, a Newton-Raphson power flow that
//! checks the model against the SV profile the model was exchanged with, and a
//! weighted-least-squares state estimator with bad-data detection on the same branch model.
//!
//! - [`network`]: [`Network`] (buses, π branches with an off-nominal complex ratio, shunts,
//!   injections, PV and slack buses), its admittance matrix and its islands.
//! - [`cgmes`]: [`cgmes::build`] turns a [`gridtrust_cgmes::CgmesModel`] (plus the few classes it does
//!   not type, read from the same graph) into a [`Network`], with de-energised islands reported;
//!   [`cgmes::compare_with_sv`] measures a solution against `SvVoltage`.
//! - [`powerflow`]: [`powerflow::solve`], Newton-Raphson in polar form.
//! - [`estimate`]: [`estimate::estimate`], WLS by Gauss-Newton from typed [`estimate::Measurement`]s
//!   (|V|, P/Q injection, P/Q flow and |I| at either branch end, each with its σ);
//!   [`estimate::estimate_with_bad_data`], the chi-square test on J(x̂) and removal of the
//!   largest normalised residual until it passes.
//! - [`error`]: the typed [`GridError`].
//!
//! Deliberately not done yet: observability analysis beyond the singular-gain error (which names
//! the state it failed at), PMU (phasor) measurements, pseudo-measurements and
//! zero-injection constraints, a sparse factorisation and the speed goal against
//! power-grid-model (no comparison with power-grid-model has been made; everything is dense);
//! reactive limits, tap and phase-shifter control, distributed slack, voltage-dependent loads.

pub mod cgmes;
pub mod complex;
pub mod error;
pub mod estimate;
pub mod feeders;
pub mod network;
pub mod observability;
pub mod powerflow;
mod sparse;

pub use complex::C64;
pub use error::GridError;
pub use network::{Branch, Bus, BusKind, Network};
pub use powerflow::{Options, PowerFlow, Solution, solve};
