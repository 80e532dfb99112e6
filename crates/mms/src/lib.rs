//! IEC 61850 MMS client over the ISO stack.
pub mod ber;
