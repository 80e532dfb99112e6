//! Where a batch header stands in its edge's chain: the one chain decision that the hub, the cc
//! and the offline verifier share, so their verdicts cannot drift apart.
//!
//! An edge's batches form a hash chain: each header names the hash of the one before. A chain
//! starts with a header whose previous-header hash is zeros. An edge's first chain may start at
//! batch 0. An edge that lost or replaced its queue (a new disk, a reinstalled device) cannot
//! continue its chain, since it no longer knows its last header, so it starts a new one, numbered
//! from [`chain_start`]: the microseconds since the Unix epoch when the new queue was created,
//! for both its batch and its record numbers. That places the new chain above every number the
//! old one can have used, as long as the old chain numbered fewer than a million records per
//! second on average and the edge's clock was not set back before the old chain's start. Stores
//! and connectors keyed by (edge, number) and ordered by number then go on working, and the
//! restart is a signed statement of the edge: a header numbered above the head that links to
//! nothing. Receivers accept it with an alarm ([`ChainStep::Restart`]); whatever the old chain
//! held beyond the last batch they received is lost, and the alarm says from where.

use std::ops::Range;

use gridtrust_model::Timestamp;

use crate::evidence::BatchHeader;
use crate::merkle::Hash;

/// The first batch and record number of a chain an edge starts at `now` because it has no
/// queue: microseconds since the Unix epoch (0 for a clock before it).
pub fn chain_start(now: Timestamp) -> u64 {
    u64::try_from(now.0 / 1_000).unwrap_or(0)
}

/// How a header stands to the newest header known of its edge (the head).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainStep {
    /// No head yet: the first header seen of this edge.
    First,
    /// Numbered directly after the head and linked to it.
    Follows,
    /// Numbered directly after the head but not linked to it.
    Broken(Break),
    /// Numbered above the head with the batches between never seen.
    Gap {
        /// The batch numbers never seen.
        missing: Range<u64>,
    },
    /// A new chain, numbered above the head: the edge lost or replaced its queue.
    Restart {
        /// The head's number: batches of the old chain after it were never received.
        after: u64,
    },
    /// The head itself again (a resend).
    Repeat,
    /// Another header with the head's number: the chain forked.
    Fork,
    /// Numbered below the head: late, or replayed.
    Older,
}

/// The field that keeps a header from following the head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Break {
    /// The header is of another edge.
    Edge {
        /// The head's edge.
        expected: String,
    },
    /// Its first record is not the one after the head's last (`None`: beyond u64).
    FirstSeq {
        /// What following would need.
        expected: Option<u64>,
        /// What the header says.
        got: u64,
    },
    /// It does not hash the head.
    PrevHash {
        /// The head's hash.
        expected: Hash,
        /// What the header says.
        got: Hash,
    },
}

impl ChainStep {
    /// Where `next` stands relative to `head`, the newest header known of its edge.
    pub fn of(head: Option<&BatchHeader>, next: &BatchHeader) -> Self {
        let Some(head) = head else { return Self::First };
        if next.edge_id != head.edge_id {
            return Self::Broken(Break::Edge { expected: head.edge_id.clone() });
        }
        if next.batch_seq > head.batch_seq && next.starts_chain() {
            return Self::Restart { after: head.batch_seq };
        }
        match next.batch_seq.checked_sub(head.batch_seq) {
            None => Self::Older,
            Some(0) if next == head => Self::Repeat,
            Some(0) => Self::Fork,
            Some(1) => {
                let expected = head.first_seq.checked_add(u64::from(head.count));
                if expected != Some(next.first_seq) {
                    Self::Broken(Break::FirstSeq { expected, got: next.first_seq })
                } else if next.prev_header_hash != head.hash() {
                    Self::Broken(Break::PrevHash { expected: head.hash(), got: next.prev_header_hash })
                } else {
                    Self::Follows
                }
            }
            Some(_) => Self::Gap { missing: head.batch_seq + 1..next.batch_seq },
        }
    }

    /// Whether `next` becomes the new head: it is numbered above the old one (or is the first).
    pub fn advances(&self) -> bool {
        matches!(self, Self::First | Self::Follows | Self::Broken(_) | Self::Gap { .. } | Self::Restart { .. })
    }

    /// What an operator must be told about `next`, for an alarm; `None` when the step is
    /// ordinary (first, following, a resend or a late batch).
    pub fn problem(&self, next: &BatchHeader) -> Option<String> {
        let (edge, n) = (&next.edge_id, next.batch_seq);
        match self {
            Self::Older if next.starts_chain() => Some(format!(
                "edge {edge} started a new chain at batch {n}, not above the last batch received: its values never count as newer (is the edge's clock behind?)"
            )),
            Self::First | Self::Follows | Self::Repeat | Self::Older => None,
            Self::Broken(Break::Edge { expected }) => Some(format!("batch {n} names edge {edge}, not {expected}")),
            Self::Broken(Break::FirstSeq { expected, got }) => Some(format!(
                "hash chain of {edge} broken at batch {n}: its first record is {got}, expected {}",
                expected.map_or_else(|| "beyond u64".to_owned(), |e| e.to_string())
            )),
            Self::Broken(Break::PrevHash { .. }) => {
                Some(format!("hash chain of {edge} broken at batch {n}: it does not hash the previous header"))
            }
            Self::Gap { missing } => {
                Some(format!("batches {}..={} of edge {edge} never arrived (gap in the chain)", missing.start, missing.end - 1))
            }
            Self::Restart { after } => Some(format!(
                "edge {edge} restarted its chain at batch {n} (a new queue): batches after {after} of its previous chain were never received"
            )),
            Self::Fork => Some(format!("chain of {edge} forked: a different header with batch number {n}")),
        }
    }
}

impl BatchHeader {
    /// Whether this header starts a chain (it links to no previous header).
    pub fn starts_chain(&self) -> bool {
        self.prev_header_hash == [0; 32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::{PointId, Quality, Record, Value};

    fn header(batch_seq: u64, first_seq: u64, count: u64, prev: Hash) -> BatchHeader {
        let records: Vec<Record> = (first_seq..first_seq + count)
            .map(|seq| Record {
                seq,
                point: PointId::new("LD0/MMXU1.TotW").unwrap(),
                value: Value::Float(1.0),
                quality: Quality::GOOD,
                source_time: None,
                received_at: Timestamp(0),
            })
            .collect();
        BatchHeader::for_records("edge-1", batch_seq, &records, prev, Timestamp(0))
    }

    #[test]
    fn each_step_of_a_chain_is_named() {
        let head = header(5, 50, 2, [7; 32]);
        let next = header(6, 52, 1, head.hash());
        assert_eq!(ChainStep::of(None, &head), ChainStep::First);
        assert_eq!(ChainStep::of(Some(&head), &next), ChainStep::Follows);
        assert_eq!(ChainStep::of(Some(&head), &head), ChainStep::Repeat);
        assert_eq!(ChainStep::of(Some(&head), &header(5, 50, 3, [7; 32])), ChainStep::Fork);
        assert_eq!(ChainStep::of(Some(&head), &header(4, 40, 1, [7; 32])), ChainStep::Older);
        assert_eq!(ChainStep::of(Some(&head), &header(9, 60, 1, [8; 32])), ChainStep::Gap { missing: 6..9 });
        assert_eq!(
            ChainStep::of(Some(&head), &header(6, 53, 1, head.hash())),
            ChainStep::Broken(Break::FirstSeq { expected: Some(52), got: 53 })
        );
        assert_eq!(
            ChainStep::of(Some(&head), &header(6, 52, 1, [9; 32])),
            ChainStep::Broken(Break::PrevHash { expected: head.hash(), got: [9; 32] })
        );
        let mut other = next.clone();
        other.edge_id = "edge-2".into();
        assert_eq!(ChainStep::of(Some(&head), &other), ChainStep::Broken(Break::Edge { expected: "edge-1".into() }));
    }

    #[test]
    fn a_new_chain_above_the_head_is_a_restart_and_below_it_is_not() {
        let head = header(5, 50, 2, [7; 32]);
        let start = chain_start(Timestamp(1_796_650_000_123_456_789));
        assert_eq!(start, 1_796_650_000_123_456);
        let genesis = header(start, start, 1, [0; 32]);
        let step = ChainStep::of(Some(&head), &genesis);
        assert_eq!(step, ChainStep::Restart { after: 5 });
        assert!(step.advances());
        let alarm = step.problem(&genesis).unwrap();
        assert!(alarm.contains("restarted its chain at batch 1796650000123456") && alarm.contains("after 5"), "{alarm}");
        // The new chain then follows its own genesis.
        assert_eq!(ChainStep::of(Some(&genesis), &header(start + 1, start + 1, 1, genesis.hash())), ChainStep::Follows);
        // A chain start at or below the head restarts nothing: the same number is a fork, a
        // lower one is older and never becomes the head.
        assert_eq!(ChainStep::of(Some(&head), &header(5, 0, 1, [0; 32])), ChainStep::Fork);
        let behind = header(0, 0, 1, [0; 32]);
        assert_eq!(ChainStep::of(Some(&head), &behind), ChainStep::Older);
        assert!(!ChainStep::Older.advances());
        assert!(
            ChainStep::Older.problem(&behind).is_some_and(|p| p.contains("not above the last batch")),
            "a chain started behind is alarmed"
        );
        assert_eq!(ChainStep::Older.problem(&header(4, 40, 1, [7; 32])), None, "a late batch is not");
    }

    #[test]
    fn a_clock_before_the_epoch_starts_at_zero() {
        assert_eq!(chain_start(Timestamp(-5)), 0);
    }
}
