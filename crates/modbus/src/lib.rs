//! Modbus TCP and SunSpec for gridtrust's edge: PV inverters, batteries and meters.
//!
//! - [`frame`]: the Modbus TCP codec (MBAP + PDU), sans-IO, shared by client and simulator.
//! - [`registers`]: data types (u16 … u64, f32, string, bit) in any byte/word order.
//! - [`plan`]: merging register spans into few reads of at most 125 registers.
//! - [`sunspec`]: discovery state machine, model parser (1, 101–103, 111–113, 120, 123, 124,
//!   201–204) with scale factors, and the IEC 61850-7-420 names of SunSpec points.
//! - [`client`]: the thin tokio driver: one request at a time, with a deadline.
//! - [`adapter`]: the edge adapter ([`adapter::ModbusDeviceConfig`], [`adapter::run`]): polls
//!   one device in its own task, publishes [`gridtrust_adapter::Datum`]s, executes verified
//!   set-point commands with read-back.
//! - [`sim`]: a SunSpec PV inverter simulator (models 1, 103, 120, 123) for tests and the demo.
//!
//! Not here: Modbus RTU/serial and Modbus/TCP Security (TLS).

// Decoders of untrusted bytes: no panics, no silent truncation (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::cast_possible_truncation))]

pub mod adapter;
pub mod client;
pub mod frame;
pub mod plan;
pub mod registers;
pub mod sim;
pub mod sunspec;
