//! Sans-IO watchdog over the hub's log checkpoints: the cc says so when no new checkpoint has
//! arrived for longer than `[checkpoints] max_silence_s`, and again when they resume.
//!
//! Checkpoints are what bind the batches the cc serves to one history that auditors see too;
//! a hub (or a hop in between) that stops sending them leaves the cc serving data no checkpoint
//! covers, and would otherwise go unnoticed. The hub signs one every checkpoint interval while
//! its log grows and re-signs an unchanged log every few seconds, so silence means it stopped.
//!
//! Only a checkpoint whose signed time is later than the last one's counts as new: a hub that
//! replays its last checkpoint does not keep the watchdog quiet. What it cannot catch: a hub
//! holding its key can keep signing fresh checkpoints of a frozen or forked log; the consistency
//! proofs and auditors comparing checkpoints catch that.
//!
//! The watchdog takes the time as an argument (`now`, monotonic) and never reads a clock, so
//! its tests run with a fake clock; the runtime asks [`CheckpointWatchdog::deadline`] when to
//! look again.

use std::time::{Duration, Instant};

use gridtrust_model::Timestamp;

/// A change the operator must see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silence {
    /// No new checkpoint for `max_silence`: since when the cc last had one (or started).
    Began {
        /// The configured bound that was exceeded.
        max_silence: Duration,
    },
    /// A new checkpoint arrived after a silence that lasted `lasted`.
    Ended {
        /// How long there was no new checkpoint.
        lasted: Duration,
    },
}

/// Tracks when the last new checkpoint arrived.
#[derive(Clone, Debug)]
pub struct CheckpointWatchdog {
    max_silence: Duration,
    /// When the last new checkpoint arrived (or the watchdog started).
    last_new: Instant,
    /// The signed time of the last checkpoint counted as new.
    last_time: Option<Timestamp>,
    /// Whether [`Silence::Began`] was reported and not yet ended.
    silent: bool,
}

impl CheckpointWatchdog {
    /// Starts watching at `now`: the first checkpoint is due within `max_silence`.
    pub fn new(max_silence: Duration, now: Instant) -> Self {
        Self { max_silence, last_new: now, last_time: None, silent: false }
    }

    /// An accepted checkpoint signed at `signed_at` arrived at `now`. Returns
    /// [`Silence::Ended`] when it ends a reported silence. A checkpoint not newer than the last
    /// one counted (a replay) changes nothing.
    pub fn checkpoint(&mut self, signed_at: Timestamp, now: Instant) -> Option<Silence> {
        if self.last_time.is_some_and(|t| signed_at <= t) {
            return None;
        }
        self.last_time = Some(signed_at);
        let lasted = now.saturating_duration_since(self.last_new);
        self.last_new = now;
        std::mem::take(&mut self.silent).then_some(Silence::Ended { lasted })
    }

    /// Time has passed: returns [`Silence::Began`] once, when no new checkpoint arrived for
    /// longer than `max_silence`.
    pub fn poll(&mut self, now: Instant) -> Option<Silence> {
        if self.silent || now.saturating_duration_since(self.last_new) <= self.max_silence {
            return None;
        }
        self.silent = true;
        Some(Silence::Began { max_silence: self.max_silence })
    }

    /// When [`Self::poll`] may report next; `None` while a silence is already reported (only a
    /// checkpoint changes anything then).
    pub fn deadline(&self) -> Option<Instant> {
        (!self.silent).then(|| self.last_new + self.max_silence + Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(10);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn silence_is_reported_once_after_the_bound_and_its_end_once() {
        let t0 = Instant::now();
        let mut w = CheckpointWatchdog::new(MAX, t0);
        assert_eq!(w.poll(t0 + s(10)), None, "exactly the bound is not yet silence");
        assert_eq!(w.deadline(), Some(t0 + s(10) + Duration::from_millis(1)));
        assert_eq!(w.poll(t0 + s(11)), Some(Silence::Began { max_silence: MAX }), "no first checkpoint within the bound");
        assert_eq!(w.poll(t0 + s(30)), None, "reported once");
        assert_eq!(w.deadline(), None);
        assert_eq!(w.checkpoint(Timestamp(1), t0 + s(40)), Some(Silence::Ended { lasted: s(40) }));
        assert_eq!(w.checkpoint(Timestamp(2), t0 + s(41)), None, "ended once");
        assert_eq!(w.poll(t0 + s(50)), None);
        assert_eq!(w.poll(t0 + s(52)), Some(Silence::Began { max_silence: MAX }));
    }

    #[test]
    fn regular_checkpoints_keep_it_quiet() {
        let t0 = Instant::now();
        let mut w = CheckpointWatchdog::new(MAX, t0);
        for i in 1..100 {
            let now = t0 + s(i);
            assert_eq!(w.checkpoint(Timestamp(i64::try_from(i).unwrap()), now), None);
            assert_eq!(w.poll(now + s(9)), None);
        }
    }

    #[test]
    fn a_replayed_checkpoint_does_not_count_as_new() {
        let t0 = Instant::now();
        let mut w = CheckpointWatchdog::new(MAX, t0);
        w.checkpoint(Timestamp(5), t0 + s(1));
        for i in 2..20u64 {
            // The same checkpoint (or an older one) every second.
            let signed_at = if i % 2 == 0 { 5 } else { 4 };
            assert_eq!(w.checkpoint(Timestamp(signed_at), t0 + s(i)), None);
        }
        assert_eq!(w.poll(t0 + s(12)), Some(Silence::Began { max_silence: MAX }), "replays do not keep it quiet");
        assert_eq!(w.checkpoint(Timestamp(6), t0 + s(20)), Some(Silence::Ended { lasted: s(19) }));
    }
}
