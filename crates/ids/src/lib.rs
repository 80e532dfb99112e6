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
//! - [`inline`] runs the same detector inside a role: the bytes of each connection as the role
//!   reads and writes them, learned from for a stated period when no model is given (the cc's
//!   SCADA-facing IEC 104 server uses it); [`service`] is that detector as a role runs it (the
//!   `[ids]` table, the model file, a tap per connection, alerts handed to the role), shared by
//!   the cc's SCADA-facing server and the edge's links to RTUs.
//!
//! Not here: MMS and C37.118, encrypted (TLS) traffic in captures (inline, the role sees the
//! bytes after TLS).

pub mod capture;
pub mod detect;
pub mod evaluate;
pub mod event;
pub mod inline;
pub mod model;
pub mod packet;
pub mod scenario;
pub mod service;
pub mod stream;
