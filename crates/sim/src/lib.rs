//! Simulated field devices for the demo, tests and benchmarks.
//!
//! - [`grid`]: the demo grid (an SCD and CGMES files, shipped in `grid/`) and its loading.
//! - [`substation`]: the sans-IO model of the demo substation, driven by a power flow on that grid.
//! - [`rtu`]: that model served as an IEC 104 RTU (controlled station).

pub mod grid;
pub mod rtu;
pub mod substation;

pub use rtu::SubstationRtu;
pub use substation::SubstationSpec;
