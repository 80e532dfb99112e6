//! The edge role: runs next to the devices, turns what they say into numbered [`Record`]s,
//! batches them with evidence, keeps them in a durable queue, and forwards them to the hub over
//! an outbound mutual-TLS connection. It is also the only component that executes commands on
//! devices.
//!
//! - [`config`]: the TOML configuration.
//! - [`batcher`]: sans-IO numbering and batching.
//!
//! [`Record`]: gridtrust_model::Record

pub mod batcher;
pub mod config;
