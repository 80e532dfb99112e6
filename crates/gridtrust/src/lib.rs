//! The whole chain assembled in one process: a simulated substation RTU (plus a PV inverter, a PMU
//! and optionally an MQTT meter, see [`field`]), an edge, a hub and a control-centre connector, each started from the same TOML files an operator would write.
//! Used by `gridtrust demo`, the end-to-end tests and the benchmark.
//!
//! Also [`grid_eval`]: the measurement-level scenarios of `gridtrust ids evaluate` (the hub's
//! measurement checks on the demo grid, the estimator on a 1,001-node grid), here because they
//! need both the hub and the simulator.

pub mod audit;
pub mod chain;
pub mod field;
pub mod grid_eval;
pub mod probe;
pub mod registry;
