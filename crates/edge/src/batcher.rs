//! Sans-IO batching: the edge numbers each datum and closes a batch by count or by deadline,
//! producing the header the chain of trust signs; when nothing arrives for the heartbeat
//! interval it closes an empty batch (a heartbeat: a header that continues the chain).
//!
//! One HSM signature per batch instead of per record is what lets the design carry hundreds of
//! thousands of records per second on an HSM that signs hundreds per second; the deadline bounds
//! the latency this adds.

use std::time::{Duration, Instant};

use gridtrust_model::{Record, Timestamp};
use gridtrust_trust::{BatchHeader, Hash, SignedBatch};

pub use gridtrust_adapter::Datum;

/// Where numbering continues after a restart, read from the durable queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    pub next_seq: u64,
    pub next_batch_seq: u64,
    pub prev_header_hash: Hash,
}

impl Resume {
    /// A chain numbered from 0 (tests; an edge's first chain before chains restarted).
    pub const FRESH: Self = Self::new_chain(0);

    /// A new chain whose first batch and record are numbered `start` and link to nothing: what
    /// an edge without a queue begins with ([`gridtrust_trust::chain`]).
    pub const fn new_chain(start: u64) -> Self {
        Self { next_seq: start, next_batch_seq: start, prev_header_hash: [0; 32] }
    }

    /// Continues the chain after `last`, the newest queued header, with record numbers from
    /// `numbered` (the queue's next seq) or past `last`'s records, whichever is higher: a new
    /// chain that has sent only heartbeats has numbered no record in the queue yet, but its
    /// records must still follow the chain's own numbering.
    pub fn after(last: &BatchHeader, numbered: u64) -> Self {
        Self {
            next_seq: numbered.max(last.first_seq.saturating_add(u64::from(last.count))),
            next_batch_seq: last.batch_seq.saturating_add(1),
            prev_header_hash: last.hash(),
        }
    }
}

/// Groups numbered records into batches.
pub struct Batcher {
    edge_id: String,
    max_records: usize,
    max_delay: Duration,
    pending: Vec<Record>,
    deadline: Option<Instant>,
    resume: Resume,
    /// Close an empty batch after this long without one closed; `None`: never.
    heartbeat: Option<Duration>,
    /// When the last batch closed (or the heartbeat was set up).
    last_closed: Instant,
}

impl Batcher {
    /// A batcher that continues from `resume`.
    pub fn new(edge_id: &str, max_records: usize, max_delay: Duration, resume: Resume) -> Self {
        Self {
            edge_id: edge_id.to_owned(),
            max_records: max_records.max(1),
            max_delay,
            pending: Vec::with_capacity(max_records.max(1)),
            deadline: None,
            resume,
            heartbeat: None,
            last_closed: Instant::now(),
        }
    }

    /// Closes an empty batch whenever `every` passes without a batch closed, counting from `now`.
    pub fn with_heartbeat(mut self, every: Duration, now: Instant) -> Self {
        self.heartbeat = Some(every);
        self.last_closed = now;
        self
    }

    /// Numbers `datum` and adds it; returns the batch if this filled it.
    pub fn push(&mut self, now: Instant, datum: Datum) -> Option<SignedBatch> {
        let datum_received_at = datum.received_at;
        let record = Record {
            seq: self.resume.next_seq,
            point: datum.point,
            value: datum.value,
            quality: datum.quality,
            source_time: datum.source_time,
            received_at: datum.received_at,
        };
        self.resume.next_seq += 1;
        self.pending.push(record);
        self.deadline.get_or_insert(now + self.max_delay);
        if self.pending.len() >= self.max_records {
            // Closed by count: the batch closes at the moment its last datum arrived.
            Some(self.close_at(now, datum_received_at))
        } else {
            None
        }
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline.or_else(|| self.heartbeat.map(|every| self.last_closed + every))
    }

    /// Closes the open batch if its deadline has passed, or an empty one (a heartbeat) if none
    /// is open and none closed for the heartbeat interval.
    pub fn handle_timeout(&mut self, now: Instant, wall: Timestamp) -> Option<SignedBatch> {
        match self.deadline {
            Some(d) if now >= d && !self.pending.is_empty() => Some(self.close_at(now, wall)),
            None if self.heartbeat.is_some_and(|every| now >= self.last_closed + every) => Some(self.close_at(now, wall)),
            _ => None,
        }
    }

    /// Closes the open batch now, if it holds anything (at shutdown).
    pub fn flush(&mut self, wall: Timestamp) -> Option<SignedBatch> {
        if self.pending.is_empty() { None } else { Some(self.close(wall)) }
    }

    /// Records waiting in the open batch.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Closes the open batch (empty: a heartbeat) at `now`, from when the next heartbeat counts.
    fn close_at(&mut self, now: Instant, wall: Timestamp) -> SignedBatch {
        self.last_closed = now;
        self.close(wall)
    }

    fn close(&mut self, wall: Timestamp) -> SignedBatch {
        let records = std::mem::replace(&mut self.pending, Vec::with_capacity(self.max_records));
        let mut header = BatchHeader::for_records(&self.edge_id, self.resume.next_batch_seq, &records, self.resume.prev_header_hash, wall);
        if records.is_empty() {
            // A heartbeat covers no record; it names where the next one starts.
            header.first_seq = self.resume.next_seq;
        }
        self.resume.next_batch_seq += 1;
        self.resume.prev_header_hash = header.hash();
        self.deadline = None;
        SignedBatch { header, signature: None, records }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{PointId, Quality, Value};

    fn datum(i: u32) -> Datum {
        Datum {
            point: PointId::new("LD0/MMXU1.Hz.mag.f").unwrap(),
            value: Value::Float(i as f32),
            quality: Quality::GOOD,
            source_time: None,
            received_at: Timestamp(i64::from(i)),
        }
    }

    #[test]
    fn closes_by_count_and_chains_headers() {
        let t0 = Instant::now();
        let mut b = Batcher::new("edge-1", 3, Duration::from_millis(10), Resume::FRESH);
        assert!(b.push(t0, datum(0)).is_none());
        assert!(b.push(t0, datum(1)).is_none());
        let first = b.push(t0, datum(2)).unwrap();
        assert_eq!((first.header.batch_seq, first.header.first_seq, first.header.count), (0, 0, 3));
        assert_eq!(first.verify_integrity(), Ok(()));
        for i in 3..6 {
            if let Some(second) = b.push(t0, datum(i)) {
                assert_eq!(second.verify_follows(&first.header), Ok(()));
                assert_eq!(second.header.first_seq, 3);
            }
        }
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn closes_by_deadline_and_not_before() {
        let t0 = Instant::now();
        let mut b = Batcher::new("edge-1", 100, Duration::from_millis(10), Resume::FRESH);
        b.push(t0, datum(0));
        assert_eq!(b.poll_timeout(), Some(t0 + Duration::from_millis(10)));
        assert!(b.handle_timeout(t0 + Duration::from_millis(9), Timestamp(0)).is_none());
        let batch = b.handle_timeout(t0 + Duration::from_millis(10), Timestamp(0)).unwrap();
        assert_eq!(batch.records.len(), 1);
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn an_idle_batcher_closes_a_chained_empty_batch_each_heartbeat() {
        let t0 = Instant::now();
        let every = Duration::from_secs(3);
        let mut b = Batcher::new("edge-1", 100, Duration::from_millis(10), Resume::FRESH).with_heartbeat(every, t0);
        assert_eq!(b.poll_timeout(), Some(t0 + every));
        assert!(b.handle_timeout(t0 + every - Duration::from_millis(1), Timestamp(0)).is_none());
        let first = b.handle_timeout(t0 + every, Timestamp(0)).expect("a heartbeat when idle");
        assert_eq!((first.header.batch_seq, first.header.count, first.records.len()), (0, 0, 0));
        assert_eq!(first.verify_integrity(), Ok(()));
        // A datum postpones the next heartbeat: it counts from the batch that closes it.
        let t1 = t0 + every + Duration::from_secs(1);
        b.push(t1, datum(0));
        let data = b.handle_timeout(t1 + Duration::from_millis(10), Timestamp(0)).unwrap();
        assert_eq!(data.verify_follows(&first.header), Ok(()));
        assert_eq!(b.poll_timeout(), Some(t1 + Duration::from_millis(10) + every));
        let second = b.handle_timeout(t1 + Duration::from_millis(10) + every, Timestamp(0)).unwrap();
        assert_eq!((second.header.first_seq, second.header.count), (1, 0));
        assert_eq!(second.verify_follows(&data.header), Ok(()));
    }

    #[test]
    fn resumes_numbering_and_chain_after_restart() {
        let prev = [9u8; 32];
        let mut b =
            Batcher::new("edge-1", 1, Duration::from_millis(10), Resume { next_seq: 500, next_batch_seq: 7, prev_header_hash: prev });
        let batch = b.push(Instant::now(), datum(0)).unwrap();
        assert_eq!((batch.header.batch_seq, batch.header.first_seq, batch.header.prev_header_hash), (7, 500, prev));
    }

    #[test]
    fn a_chain_that_sent_only_heartbeats_continues_its_own_record_numbering() {
        let start = 1_796_650_000_000_000;
        let t0 = Instant::now();
        let every = Duration::from_secs(3);
        let mut b = Batcher::new("edge-1", 10, Duration::from_millis(10), Resume::new_chain(start)).with_heartbeat(every, t0);
        let heartbeat = b.handle_timeout(t0 + every, Timestamp(1)).expect("an idle batcher closes a heartbeat");
        assert_eq!((heartbeat.header.batch_seq, heartbeat.header.first_seq, heartbeat.header.count), (start, start, 0));
        // The queue numbered no record (it holds only the heartbeat): the chain's own numbers win.
        let resumed = Resume::after(&heartbeat.header, 0);
        assert_eq!(resumed, Resume { next_seq: start, next_batch_seq: start + 1, prev_header_hash: heartbeat.header.hash() });
        let mut b = Batcher::new("edge-1", 1, Duration::from_millis(10), resumed);
        let data = b.push(Instant::now(), datum(1)).expect("one record closes the batch");
        assert_eq!(data.verify_follows(&heartbeat.header), Ok(()));
    }
}
