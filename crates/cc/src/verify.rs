//! Sans-IO re-verification of field evidence at the control centre. The cc trusts nothing the
//! hub says about data: it checks each batch's records against the Merkle root in the header and
//! each header against the chain it has seen, and decides per record whether SCADA may see it as
//! good.

use std::collections::HashMap;

use gridtrust_model::{PointId, Record, Timestamp};
use gridtrust_trust::{BatchHeader, SignedBatch};

/// A detection the operator must see: which edge, which batch, what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    pub edge_id: String,
    pub batch_seq: u64,
    pub reason: String,
    pub at: Timestamp,
}

/// What to do with one record of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub record: Record,
    /// False when the evidence did not hold: serve with IV set.
    pub verified: bool,
}

/// Per-edge chain heads and per-point freshness.
#[derive(Default)]
pub struct Verifier {
    heads: HashMap<String, BatchHeader>,
    /// Newest (edge, seq) applied per point, so an old batch (snapshot, resend) never overwrites
    /// a newer value.
    newest: HashMap<PointId, (String, u64)>,
}

impl Verifier {
    /// Takes the hub's view of each edge's latest header as the starting point of each chain.
    /// The hub could lie here; the chain check then fails on the next live batch.
    pub fn set_heads(&mut self, heads: Vec<BatchHeader>) {
        for h in heads {
            let newer = self.heads.get(&h.edge_id).is_none_or(|old| h.batch_seq > old.batch_seq);
            if newer {
                self.heads.insert(h.edge_id.clone(), h);
            }
        }
    }

    /// Verifies a batch; returns the records to apply and the alarms raised.
    pub fn check(&mut self, batch: SignedBatch, now: Timestamp) -> (Vec<Verdict>, Vec<Alarm>) {
        let h = &batch.header;
        let mut alarms = Vec::new();
        let alarm = |reason: String| Alarm { edge_id: h.edge_id.clone(), batch_seq: h.batch_seq, reason, at: now };
        let intact = match batch.verify_integrity() {
            Ok(()) => true,
            Err(e) => {
                alarms.push(alarm(e.to_string()));
                false
            }
        };
        if intact {
            match self.heads.get(&h.edge_id) {
                Some(head) if h.batch_seq == head.batch_seq + 1 => {
                    if let Err(e) = batch.verify_follows(head) {
                        alarms.push(alarm(e.to_string()));
                    }
                }
                Some(head) if h.batch_seq > head.batch_seq + 1 => alarms.push(alarm(format!(
                    "batches {}..{} of edge {} never arrived (gap in the chain)",
                    head.batch_seq + 1,
                    h.batch_seq,
                    h.edge_id
                ))),
                Some(head) if h.batch_seq == head.batch_seq && h != head => {
                    alarms.push(alarm("a different header with the same batch number (forked chain)".into()));
                }
                _ => {}
            }
            let advances = self.heads.get(&h.edge_id).is_none_or(|head| h.batch_seq > head.batch_seq);
            if advances {
                self.heads.insert(h.edge_id.clone(), h.clone());
            }
        }
        let edge = h.edge_id.clone();
        let mut verdicts = Vec::with_capacity(batch.records.len());
        for record in batch.records {
            let newer = self
                .newest
                .get(&record.point)
                .is_none_or(|(e, seq)| e != &edge || record.seq > *seq);
            if newer {
                self.newest.insert(record.point.clone(), (edge.clone(), record.seq));
                verdicts.push(Verdict { record, verified: intact });
            }
        }
        (verdicts, alarms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{Quality, Value};

    fn batch(seq: u64, first: u64, prev: [u8; 32], v: f32) -> SignedBatch {
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                seq: first + i,
                point: PointId::new(format!("LD0/MMXU1.A{i}")).unwrap(),
                value: Value::Float(v),
                quality: Quality::GOOD,
                source_time: None,
                received_at: Timestamp(0),
            })
            .collect();
        SignedBatch { header: BatchHeader::for_records("edge-1", seq, &records, prev, Timestamp(0)), signature: None, records }
    }

    #[test]
    fn a_clean_chain_verifies_without_alarms() {
        let mut v = Verifier::default();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let b1 = batch(1, 3, b0.header.hash(), 2.0);
        let (r0, a0) = v.check(b0, Timestamp(0));
        let (r1, a1) = v.check(b1, Timestamp(0));
        assert!(a0.is_empty() && a1.is_empty());
        assert!(r0.iter().chain(&r1).all(|r| r.verified));
        assert_eq!(r1.len(), 3);
    }

    #[test]
    fn a_value_altered_in_transit_is_served_invalid_with_an_alarm() {
        let mut v = Verifier::default();
        let mut b = batch(0, 0, [0; 32], 1.0);
        b.records[1].value = Value::Float(99.0);
        let (r, a) = v.check(b, Timestamp(0));
        assert!(r.iter().all(|r| !r.verified));
        assert_eq!(a.len(), 1);
        assert!(a[0].reason.contains("Merkle root"), "{}", a[0].reason);
    }

    #[test]
    fn a_dropped_batch_raises_a_gap_alarm_and_old_batches_do_not_overwrite() {
        let mut v = Verifier::default();
        let b0 = batch(0, 0, [0; 32], 1.0);
        let b1 = batch(1, 3, b0.header.hash(), 2.0);
        let b2 = batch(2, 6, b1.header.hash(), 3.0);
        v.check(b0.clone(), Timestamp(0));
        let (_, alarms) = v.check(b2, Timestamp(0));
        assert_eq!(alarms.len(), 1);
        assert!(alarms[0].reason.contains("gap"));
        let (late, alarms) = v.check(b1, Timestamp(0));
        assert!(late.is_empty(), "older values must not overwrite newer ones");
        assert!(alarms.is_empty());
    }
}
