//! IEC 61850 MMS client over the ISO stack (IEC 61850-8-1 on ISO 9506 MMS, RFC 1006).
//!
//! Layers, bottom up, each a pure codec:
//! - [`ber`]: the BER subset MMS needs (definite lengths only), typed errors with offsets;
//! - [`cotp`]: TPKT framing and COTP class 0 (CR/CC/DT/DR), segmentation and reassembly;
//! - [`osi`]: session, presentation and ACSE as the fixed envelope MMS needs;
//! - [`pdu`] and [`data`]: MMS PDUs, `Data` values, type descriptions, object names.
//!
//! On top:
//! - [`client`]: the sans-IO association state machine (invoke ids, outstanding limit, timeouts
//!   with time passed in, conclude/release);
//! - [`driver`]: [`MmsClient`], the tokio driver over any byte stream (TCP or TLS);
//! - [`tls`]: MMS over TLS per IEC 62351-4 with the IEC 62351-3 profile (port 3782, TLS 1.2/1.3,
//!   mutual X.509 authentication, CA and CRL checks) and what rustls does not do of it;
//! - [`services`]: ACSI services on MMS (identify, browse, read, write, data sets);
//! - [`browse`]: the whole server model in one walk (what IEDScout shows) and as IID-like SCL;
//! - [`report`]: report control blocks (enable, trigger options, integrity, GI, entryID resync)
//!   and decoding of reports into typed entries with quality and time stamps;
//! - [`control`]: controls for the four control models, with CommandTermination and AddCause;
//! - [`adapter`]: the edge adapter: configured from SCL, reports to gridtrust data with resync of
//!   buffered reports across reconnects and restarts, verified commands to controls.
//!
//! Not here: an MMS server, file services, logs/journals, GOOSE and SV.

// Decoders of untrusted bytes: no panics, no silent truncation (tests may unwrap).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::cast_possible_truncation))]

pub mod adapter;
pub mod ber;
pub mod browse;
pub mod client;
pub mod control;
pub mod cotp;
pub mod data;
pub mod driver;
pub mod osi;
pub mod pdu;
pub mod report;
pub mod services;
pub mod tls;

pub use client::{ClientConfig, ClientConnection, ClientError, Event, RequestError};
pub use driver::{DriverError, MmsClient};
