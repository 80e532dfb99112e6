//! MQTT meter ingest (work in progress).

pub mod cim;
pub mod json;
pub mod reading;
pub mod senml;
pub mod units;
