//! Random interleavings of append, send, ack and reopen never lose or duplicate a record,
//! end to end from the edge queue into the hub store.

mod common;

use std::collections::{BTreeSet, VecDeque};

use common::{header, recs, verified};
use gridtrust_model::Timestamp;
use gridtrust_store::{ApplyOutcome, EdgeQueue, HubStore};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// The batcher closes a batch of this many records.
    Append(u64),
    /// The forwarder sends up to this many batches following the last one sent.
    Send(usize),
    /// The hub acknowledges everything it has received.
    AckAll,
    /// A late or partial ack: through the n-th oldest pending batch.
    AckSome(usize),
    /// Process restart: queue reopened, forwarder starts again from the oldest pending batch.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..6).prop_map(Op::Append),
        3 => (1usize..4).prop_map(Op::Send),
        1 => Just(Op::AckAll),
        1 => (0usize..4).prop_map(Op::AckSome),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn interleavings_never_lose_or_duplicate_records(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let qpath = dir.path().join("q.redb");
        let hub = HubStore::open(dir.path().join("h.redb")).unwrap();
        let mut q = Some(EdgeQueue::open(&qpath).unwrap());
        // Model of what must be pending: (batch seq, record seqs).
        let mut model: VecDeque<(u64, Vec<u64>)> = VecDeque::new();
        let (mut next_seq, mut next_batch) = (0u64, 1u64);
        let mut last_sent: Option<u64> = None;
        let mut hub_has: BTreeSet<u64> = BTreeSet::new();

        for op in ops {
            let queue = q.as_ref().unwrap();
            match op {
                Op::Append(n) => {
                    queue.append_batch(next_batch, &header(next_batch), &recs(next_seq, n, "LD0/MMXU1.TotW")).unwrap();
                    model.push_back((next_batch, (next_seq..next_seq + n).collect()));
                    next_seq += n;
                    next_batch += 1;
                }
                Op::Send(limit) => {
                    for b in queue.pending(last_sent, limit).unwrap() {
                        let out = hub.apply_batch("edge", &verified("edge", b.batch_seq, &b.records)).unwrap();
                        let fresh = hub_has.insert(b.batch_seq);
                        prop_assert_eq!(matches!(out, ApplyOutcome::Duplicate), !fresh, "batch {}", b.batch_seq);
                        last_sent = Some(b.batch_seq);
                    }
                }
                Op::AckAll => {
                    if let Some(s) = last_sent {
                        queue.ack_through(s).unwrap();
                        model.retain(|(b, _)| *b > s);
                    }
                }
                Op::AckSome(i) => {
                    if let Some(&(s, _)) = model.get(i)
                        && hub_has.contains(&s)
                    {
                        queue.ack_through(s).unwrap();
                        model.retain(|(b, _)| *b > s);
                    }
                }
                Op::Reopen => {
                    drop(q.take());
                    q = Some(EdgeQueue::open(&qpath).unwrap());
                    last_sent = None;
                }
            }
            let queue = q.as_ref().unwrap();
            let pending = queue.pending(None, usize::MAX).unwrap();
            let got: Vec<(u64, Vec<u64>)> = pending.iter().map(|b| (b.batch_seq, b.records.iter().map(|r| r.seq).collect())).collect();
            prop_assert_eq!(&got, &model.iter().cloned().collect::<Vec<_>>());
            prop_assert_eq!(queue.next_seq(), next_seq);
            prop_assert_eq!(queue.len().unwrap(), model.iter().map(|(_, s)| s.len() as u64).sum::<u64>());
            prop_assert_eq!(queue.pending_batches().unwrap(), model.len() as u64);
        }

        // Drain: after a final restart, send everything and ack it.
        drop(q.take());
        let queue = EdgeQueue::open(&qpath).unwrap();
        for b in queue.pending(None, usize::MAX).unwrap() {
            hub.apply_batch("edge", &verified("edge", b.batch_seq, &b.records)).unwrap();
            queue.ack_through(b.batch_seq).unwrap();
        }
        prop_assert!(queue.is_empty().unwrap());
        prop_assert_eq!(queue.pending_bytes().unwrap(), 0);
        prop_assert_eq!(hub.record_count().unwrap(), next_seq);
        let stored = hub.history(&common::point("LD0/MMXU1.TotW"), Timestamp(i64::MIN), Timestamp(i64::MAX), usize::MAX).unwrap();
        prop_assert_eq!(stored.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..next_seq).collect::<Vec<_>>());
        if next_batch > 1 {
            prop_assert_eq!(queue.last_batch().unwrap().map(|b| b.batch_seq), Some(next_batch - 1));
        }
    }
}
