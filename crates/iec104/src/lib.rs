//! IEC 60870-5-104, written for gridtrust: a controlling station (client) and a controlled
//! station (server, many clients, redundancy groups), with TLS as in IEC 62351-3.
//!
//! The layers, bottom up:
//! - [`time`]: CP56Time2a and CP24Time2a.
//! - [`asdu`]: application service data units, every type the gateway needs, encoded and decoded
//!   without panics; decoding returns typed errors that carry enough of the header to answer with
//!   the standard negative confirmations (COT 44–47).
//! - [`apci`]: the I/S/U frame codec.
//! - [`connection`]: the sans-IO link state machine (STARTDT/STOPDT/TESTFR, k/w windows,
//!   t0–t3, sequence checks). Bytes and time go in; bytes, timers and events come out.
//! - [`tap`]: how a monitor sees a link's bytes without standing in its path.
//! - [`driver`]: the thin tokio loop around a [`connection`] over TCP or TLS.
//! - [`server`] and [`client`]: the station layers built on the driver.
//!
//! The drivers and stations need the `tokio` feature (on by default); without it the crate is
//! the codecs, the link state machine and the tap, with no runtime and no I/O.
//!
//! Not here: any mapping to gridtrust's model (that is the edge's and the cc's job).

// Decoders of untrusted bytes: no panics, no silent truncation (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::cast_possible_truncation))]

pub mod apci;
pub mod asdu;
#[cfg(feature = "tokio")]
pub mod client;
pub mod connection;
#[cfg(feature = "tokio")]
pub mod driver;
#[cfg(feature = "tokio")]
pub mod server;
pub mod tap;
pub mod time;
