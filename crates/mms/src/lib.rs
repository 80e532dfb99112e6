//! IEC 61850 MMS client over the ISO stack.
pub mod ber;
pub mod cotp;
pub mod data;
pub mod osi;
pub mod pdu;
