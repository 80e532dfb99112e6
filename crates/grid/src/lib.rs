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
//! - [`powerflow`]: [`powerflow::solve`], Newton-Raphson in polar form on a sparse Jacobian;
//!   [`PowerFlow`] prepares a network once (numbering, ordering, symbolic factorisation) for
//!   many solves with changing injections (time steps).
//! - [`estimate`]: [`estimate::estimate`], WLS by Gauss-Newton from typed [`estimate::Measurement`]s
//!   (|V|, P/Q injection, P/Q flow and |I| at either branch end, each with its σ), on a sparse
//!   gain; [`estimate::Estimator`] prepares a measurement set once for many estimates;
//!   [`estimate::estimate_with_bad_data`], the chi-square test on J(x̂) and removal of the
//!   largest normalised residual until it passes.
//! - [`observability`]: [`observability::observability`], numerical observability analysis
//!   (observable islands, floating magnitudes) and the pseudo-measurements that would make the
//!   rest observable.
//! - [`security`]: [`security::cheapest_attacks`], the security index of each state variable
//!   against stealthy false-data injection (a = Hc): the fewest alterable measurements an
//!   attacker must control, exactly by enumeration, with measurements signed at the device
//!   (or computed by the estimator) protected.
//! - [`feeders`]: the radial grid of power-grid-model's benchmark (100 feeders × 10 nodes),
//!   its load profiles, and its export for `peer/pgm.py`; `src/bin/grid-bench.rs` times our
//!   power flow and estimator against power-grid-model on it in one run, and
//!   `tests/pgm_peer.rs` checks our power flow and estimate against power-grid-model's on a
//!   smaller one (agreement about 3e-11 pu).
//! - [`error`]: the typed [`GridError`].
//!
//! The sparse LU (a private module) is ours: minimum-degree ordering, fill by the elimination
//! tree, row-wise LU without pivoting on the fixed pattern, and Takahashi's equations for G⁻¹ on
//! the pattern; about 200 lines, no dependency.
//!
//! Measured (`cargo run --release -p gridtrust-grid --bin grid-bench`, 1,000 steps, one run
//! beside power-grid-model 1.12 on a shared 2-core machine with a load average of 6–7, so the
//! wall figures scatter run to run; the CPU time per step is the steadier one): power flow
//! 0.38 ms per step (median) against power-grid-model's 0.64 ms (1.5×); state estimation
//! 0.99 ms against its iterative-linear 1.44 ms (1.4×) and Newton-Raphson 2.13 ms (2.1×, with
//! the same estimate to 3e-11 pu); a single prepared estimate 0.99–1.06 ms (median, across
//! runs): at the 1 ms goal, not reliably under it on this machine. Preparing an estimator
//! (ordering, symbolic factorisation) takes about 7 ms, paid once per measurement set.
//!
//! Deliberately not done yet: PMU (phasor) measurements, zero-injection constraints, reactive
//! limits, tap and phase-shifter control, distributed slack, voltage-dependent loads,
//! asymmetric (three-phase) grids (the benchmark's loads are balanced here); the observability
//! analysis works on the decoupled model and is conservative about magnitudes (see its module).

pub mod cgmes;
pub mod complex;
pub mod error;
pub mod estimate;
pub mod feeders;
pub mod network;
pub mod observability;
pub mod powerflow;
pub mod security;
mod sparse;

pub use complex::C64;
pub use error::GridError;
pub use network::{Branch, Bus, BusKind, Network};
pub use powerflow::{Options, PowerFlow, Solution, solve};
