//! Counters of what the adapter received, so a misconfigured meter or mapping shows up as a
//! number rising, not only as log lines.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::PayloadFormat;

/// Live counters, shared between the adapter and whoever reports them.
#[derive(Debug, Default)]
pub struct IngestStats {
    messages: AtomicU64,
    records: AtomicU64,
    unmapped: AtomicU64,
    unrouted: AtomicU64,
    mapping_errors: AtomicU64,
    parse_errors: [AtomicU64; 3],
    overflow: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// PUBLISH packets received (redeliveries included).
    pub messages: u64,
    /// Data handed to the edge.
    pub records: u64,
    /// Readings no mapping names.
    pub unmapped: u64,
    /// Messages on a topic no configured filter matches.
    pub unrouted: u64,
    /// Mapped readings refused (unit of another quantity, value out of range).
    pub mapping_errors: u64,
    /// Payloads their format's parser refused.
    pub parse_errors_json: u64,
    pub parse_errors_senml: u64,
    pub parse_errors_cim: u64,
    /// QoS 0 messages dropped because the adapter's queue of received messages
    /// ([`crate::adapter::PUBLISH_QUEUE`]) was full: the edge could not keep up.
    pub overflow: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl IngestStats {
    pub(crate) fn message(&self) {
        add(&self.messages, 1);
    }
    pub(crate) fn records(&self, n: usize) {
        add(&self.records, u64::try_from(n).unwrap_or(u64::MAX));
    }
    pub(crate) fn unmapped(&self, n: usize) {
        add(&self.unmapped, u64::try_from(n).unwrap_or(u64::MAX));
    }
    pub(crate) fn unrouted(&self) {
        add(&self.unrouted, 1);
    }
    pub(crate) fn mapping_errors(&self, n: usize) {
        add(&self.mapping_errors, u64::try_from(n).unwrap_or(u64::MAX));
    }
    pub(crate) fn overflow(&self) -> u64 {
        self.overflow.fetch_add(1, Ordering::Relaxed) + 1
    }
    pub(crate) fn parse_error(&self, format: PayloadFormat) {
        let slot = match format {
            PayloadFormat::Json => &self.parse_errors[0],
            PayloadFormat::Senml => &self.parse_errors[1],
            PayloadFormat::Cim => &self.parse_errors[2],
        };
        add(slot, 1);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let [json, senml, cim] = &self.parse_errors;
        StatsSnapshot {
            messages: get(&self.messages),
            records: get(&self.records),
            unmapped: get(&self.unmapped),
            unrouted: get(&self.unrouted),
            mapping_errors: get(&self.mapping_errors),
            parse_errors_json: get(json),
            parse_errors_senml: get(senml),
            parse_errors_cim: get(cim),
            overflow: get(&self.overflow),
        }
    }
}
