//! Helpers shared by the integration tests.
#![allow(dead_code)]
pub mod pcap;
pub mod peer;
pub mod tshark;
