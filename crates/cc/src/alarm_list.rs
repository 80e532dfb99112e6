//! The alarms a connector keeps for its operator, bounded: a flood of refused connections or
//! failed batches must not grow the cc's memory without end.

use std::collections::VecDeque;

use tracing::warn;

use crate::verify::Alarm;

/// Alarms kept, newest last. Every alarm is also logged when raised (target `alarm`), so the
/// ones dropped from here are in the log.
pub const MAX_ALARMS: usize = 10_000;

/// The kept alarms and how many older ones were dropped.
#[derive(Debug, Default)]
pub struct AlarmList {
    kept: VecDeque<Alarm>,
    dropped: u64,
}

impl AlarmList {
    /// Keeps `alarm`, dropping the oldest beyond [`MAX_ALARMS`].
    pub fn push(&mut self, alarm: Alarm) {
        if self.kept.len() == MAX_ALARMS {
            self.kept.pop_front();
            if self.dropped == 0 || self.dropped.is_multiple_of(1000) {
                warn!(target: "alarm", dropped = self.dropped + 1, kept = MAX_ALARMS, "alarm list full: the oldest alarms are dropped (they remain in the log)");
            }
            self.dropped += 1;
        }
        self.kept.push_back(alarm);
    }

    /// Keeps each of `alarms` in order.
    pub fn extend(&mut self, alarms: impl IntoIterator<Item = Alarm>) {
        for a in alarms {
            self.push(a);
        }
    }

    /// The kept alarms, oldest first.
    pub fn to_vec(&self) -> Vec<Alarm> {
        self.kept.iter().cloned().collect()
    }

    /// How many alarms were dropped to keep the bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridtrust_model::Timestamp;

    fn alarm(i: u64) -> Alarm {
        Alarm { edge_id: "edge-1".into(), batch_seq: i, reason: "test".into(), at: Timestamp(0) }
    }

    #[test]
    fn a_flood_keeps_the_newest_alarms_and_counts_the_rest() {
        let mut list = AlarmList::default();
        list.extend((0..MAX_ALARMS as u64 + 5).map(alarm));
        let kept = list.to_vec();
        assert_eq!(kept.len(), MAX_ALARMS);
        assert_eq!((kept[0].batch_seq, kept[MAX_ALARMS - 1].batch_seq), (5, MAX_ALARMS as u64 + 4));
        assert_eq!(list.dropped(), 5);
    }
}
