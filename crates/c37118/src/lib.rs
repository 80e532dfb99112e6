//! IEEE C37.118.2 synchrophasor data transfer, written for gridtrust: a client that reads PMUs
//! and PDCs over TCP or UDP, a small PMU simulator, and the edge adapter that turns phasors,
//! frequency, ROCOF, analogs and digitals into points with time quality.
//!
//! The layers, bottom up:
//! - [`crc`]: CRC-CCITT, checked on every frame.
//! - [`frame`]: the envelope (SYNC, FRAMESIZE, IDCODE, SOC, FRACSEC, CHK), time and time quality,
//!   [`frame::split_frame`] to cut checked frames from a stream, typed [`frame::DecodeError`]s.
//! - [`config`] (CFG-1/2/3), [`data`] (data frames, decoded with their configuration) and
//!   [`command`] (command and header frames): pure codecs, no I/O, no panics on any input.
//! - [`client`]: the sans-IO client state machine (data off, ask for CFG-2 or CFG-3, data on,
//!   watch timeouts, refetch the configuration on change); bytes and time in, bytes and events out.
//! - [`server`] and [`sim`]: the sans-IO PMU side and a plausible 50 Hz three-phase signal.
//! - [`driver`]: thin tokio loops around [`client::Client`] and [`server::PmuServer`] over TCP and UDP.
//! - [`adapter`]: the edge adapter (`PmuConfig`, `run`) and the frame-to-datum conversion.
//!
//! Not here: PDC time alignment of several streams, CFG-3 continuation frames, extended
//! command frames beyond logging them.

// Decoders of untrusted bytes: no panics, no silent truncation (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::cast_possible_truncation))]

pub mod adapter;
pub mod client;
pub mod command;
pub mod config;
pub mod crc;
pub mod data;
pub mod driver;
pub mod frame;
pub mod server;
pub mod sim;
