//! MQTT meter ingest for the edge: smart meters and meter head-ends publish readings to a
//! broker; this crate subscribes, reads three payload formats and hands the readings to the edge
//! as data for IEC 61850-named points.
//!
//! - Payload parsers, sans-IO pure functions from bytes to [`Reading`]s (name, value, unit,
//!   time, quality) with typed errors: [`json`] (one object, values by JSON Pointer),
//!   [`senml`] (RFC 8428 packs, base fields and relative times resolved) and [`cim`]
//!   (IEC 61968-9 `MeterReadings` XML, ReadingType codes and reading qualities).
//! - [`units`]: units reduced to a power of ten and a base symbol, so kWh feeds a Wh point.
//! - [`router`]: topic filter (with `+`/`#`) → format → mapping from reading names to points,
//!   still without I/O.
//! - [`adapter`]: the edge adapter on rumqttc — configuration ([`MqttConfig`]), QoS 1 with a
//!   persistent session and acknowledgement only after the edge has the data, mutual TLS 1.3
//!   ([`tls`]), reconnection with backoff, counters ([`stats`]); meters take no commands.
//! - [`sim`]: a meter simulator publishing all three formats with QoS 1 (also the binary
//!   `gridtrust-meter-sim`).
//!
//! Deliberately not here: MQTT 5 (the broker's v3.1.1 persistent session is what no-loss
//! needs), SenML CBOR/XML, and commands to meters (breaker relays, tariffs).

// Decoders of untrusted bytes: no panics, no silent truncation (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::cast_possible_truncation))]

pub mod adapter;
pub mod cim;
pub mod config;
pub mod json;
pub mod reading;
pub mod router;
pub mod senml;
pub mod sim;
pub mod stats;
pub mod tls;
pub mod units;

pub use adapter::{MqttAdapter, run};
pub use config::MqttConfig;
pub use reading::Reading;

/// Stops a background task when its owner goes away, however it goes.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
