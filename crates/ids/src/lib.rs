//! Protocol intrusion detection for IEC 60870-5-104 and Modbus/TCP, offline first.
//!
//! How the parts fit:
//! - [`capture`] reads pcap and pcapng files into packets;
//! - [`packet`] finds the TCP segment in a packet, [`stream`] puts segments back in order and
//!   frames them with the protocol crates' own codecs into [`event::Event`]s;
//! - [`model`] learns a baseline from events of normal operation (a serialisable [`model::Model`]);
//! - [`detect`] is the sans-IO detector: events in, [`detect::Alert`]s out, each with the evidence
//!   (what was seen against what was learned) in words;
//! - [`scenario`] generates labelled IEC 104 traffic (normal operation, attacks, faults that are
//!   not attacks) and [`evaluate`] measures the detector on it.
//!
//! Not here: inline operation in the edge or the cc (the detector is sans-IO so it can be put
//! there), MMS and C37.118, encrypted (TLS) traffic.

pub mod capture;
pub mod detect;
pub mod evaluate;
pub mod event;
pub mod model;
pub mod packet;
pub mod scenario;
pub mod stream;
