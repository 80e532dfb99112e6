//! The edge role: runs next to the devices, turns what they say into numbered [`Record`]s,
//! batches them with evidence, keeps them in a durable queue, and forwards them to the hub over
//! an outbound mutual-TLS connection. It is also the only component that executes commands on
//! devices.
//!
//! - [`config`]: the TOML configuration.
//! - [`batcher`]: sans-IO numbering and batching.
//! - [`adapter`]: the contract between the edge and its southbound adapters.
//! - [`iec104`]: the IEC 104 adapter (controlling station towards RTUs).
//! - [`forward`]: store-and-forward to the hub.
//! - [`gate`]: the checks every signed command passes before it reaches a device.
//! - [`ids`]: intrusion detection on the links to the RTUs, reported to the hub.
//! - [`runtime`]: wiring it all together.
//!
//! [`Record`]: gridtrust_model::Record

pub mod adapter;
pub mod batcher;
pub mod config;
pub mod forward;
pub mod gate;
pub mod ids;
pub mod iec104;
pub mod runtime;

pub use runtime::{Edge, EdgeError, Stopped};
