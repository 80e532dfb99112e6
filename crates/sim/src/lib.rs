//! Simulated field devices for the demo, tests and benchmarks.
//!
//! - [`substation`]: the sans-IO model of a substation.
//! - [`rtu`]: that model served as an IEC 104 RTU (controlled station).

pub mod rtu;
pub mod substation;

pub use rtu::SubstationRtu;
pub use substation::SubstationSpec;
