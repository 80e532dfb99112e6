//! The contract between the edge and its southbound adapters lives in `gridtrust-adapter` so that
//! protocol crates can ship adapters; re-exported here for the edge's own code.

pub use gridtrust_adapter::{AdapterIo, AdapterPort, DeviceCommand, adapter_channels};
