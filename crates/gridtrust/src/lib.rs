//! The whole chain assembled in one process: a simulated substation RTU (plus a PV inverter, a PMU
//! and optionally an MQTT meter, see [`field`]), an edge, a hub and a control-centre connector, each started from the same TOML files an operator would write.
//! Used by `gridtrust demo`, the end-to-end tests and the benchmark.

pub mod audit;
pub mod chain;
pub mod field;
pub mod grid_eval;
pub mod probe;
pub mod registry;
