//! Whether the hub hears from every edge the registry names, and whether each edge's clock agrees
//! with the hub's: two trust signals that become alarms ([`AlarmKind::Stale`],
//! [`AlarmKind::Clock`]). A silent edge means its points are not updated (a cut link, a dead
//! device, or someone dropping its traffic); an edge clock that is off makes its time stamps and
//! its command freshness checks wrong.
//!
//! Sans-IO: contacts, batch close times and `now` in, [`Finding`]s out; the hub's driver turns
//! them into alarms. Each finding is reported once per episode: a silent edge once until it is
//! heard again, a clock once until it is back within bounds.
//!
//! The clock check reads the signed `closed_at` of each batch (heartbeats included) against the
//! hub's clock on arrival. Ahead is certain: no batch can arrive before it was closed. Behind is
//! told apart from a queue that is catching up by the smallest delay over a whole window: a
//! backlog drains in seconds, after which batches arrive as they are closed.
//!
//! [`AlarmKind::Stale`]: gridtrust_model::AlarmKind::Stale
//! [`AlarmKind::Clock`]: gridtrust_model::AlarmKind::Clock

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gridtrust_model::Timestamp;

/// How long the smallest arrival delay must stay above the allowed skew before an edge's clock
/// is called behind.
pub const BEHIND_WINDOW: Duration = Duration::from_secs(60);

/// Something the hub must say about an edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Nothing from the edge for `silent_for` (it was never heard since the hub started when
    /// `never_heard`).
    Silent { edge: String, silent_for: Duration, never_heard: bool },
    /// The edge is heard again after being reported silent.
    Back { edge: String, silent_for: Duration },
    /// A batch closed by the edge `by` later than the hub's time of its arrival.
    ClockAhead { edge: String, by: Duration },
    /// Every batch over [`BEHIND_WINDOW`] arrived at least `by` after the edge closed it.
    ClockBehind { edge: String, by: Duration },
}

impl Finding {
    /// The alarm message: without figures that change, so a finding that persists is one alarm.
    pub fn message(&self) -> String {
        match self {
            Finding::Silent { edge, silent_for, never_heard: true } => {
                format!("edge {edge} has not connected in the {} s since the hub started: its points are not updated", silent_for.as_secs())
            }
            Finding::Silent { edge, silent_for, never_heard: false } => format!(
                "nothing from edge {edge} for {} s (it sends a heartbeat every few seconds): its points are not updated",
                silent_for.as_secs()
            ),
            Finding::Back { edge, silent_for } => format!("edge {edge} is heard again after {} s of silence", silent_for.as_secs()),
            Finding::ClockAhead { edge, by } => format!(
                "edge {edge}'s clock is ahead of the hub's: a batch closed {:.1} s after it arrived; its time stamps and command freshness checks are off",
                by.as_secs_f64()
            ),
            Finding::ClockBehind { edge, by } => format!(
                "edge {edge}'s clock is behind the hub's: for {} s every batch arrived at least {:.1} s after the edge closed it",
                BEHIND_WINDOW.as_secs(),
                by.as_secs_f64()
            ),
        }
    }

    /// The edge it is about.
    pub fn edge(&self) -> &str {
        match self {
            Finding::Silent { edge, .. }
            | Finding::Back { edge, .. }
            | Finding::ClockAhead { edge, .. }
            | Finding::ClockBehind { edge, .. } => edge,
        }
    }
}

/// The smallest arrival delay seen since `since`.
#[derive(Debug, Clone, Copy)]
struct LagWindow {
    since: Instant,
    min_lag_ns: i64,
}

#[derive(Debug)]
struct EdgeState {
    /// Last message from the edge; `None` while it was never heard since `started`.
    last_contact: Option<Instant>,
    /// Reported silent and not heard since.
    silent: bool,
    lag: Option<LagWindow>,
    /// A clock finding was reported and the clock is not back within bounds yet.
    clock_reported: bool,
}

/// Per-edge liveness and clock agreement.
#[derive(Debug)]
pub struct Liveness {
    silence: Duration,
    max_skew: Duration,
    started: Instant,
    edges: BTreeMap<String, EdgeState>,
}

impl Liveness {
    /// Watches `expected` edges (those the registry grants points to) from `now`: each must be
    /// heard within `silence`, and its clock within `max_skew` of the hub's.
    pub fn new(silence: Duration, max_skew: Duration, expected: impl IntoIterator<Item = String>, now: Instant) -> Self {
        let mut me = Self { silence, max_skew, started: now, edges: BTreeMap::new() };
        for edge in expected {
            me.state(&edge);
        }
        me
    }

    fn state(&mut self, edge: &str) -> &mut EdgeState {
        self.edges.entry(edge.to_owned()).or_insert(EdgeState { last_contact: None, silent: false, lag: None, clock_reported: false })
    }

    /// A message from `edge` arrived; reports it back if it was reported silent.
    pub fn heard(&mut self, edge: &str, now: Instant) -> Option<Finding> {
        let started = self.started;
        let state = self.state(edge);
        let before = state.last_contact.replace(now);
        if !std::mem::take(&mut state.silent) {
            return None;
        }
        let silent_for = now.saturating_duration_since(before.unwrap_or(started));
        Some(Finding::Back { edge: edge.to_owned(), silent_for })
    }

    /// The edge closed a batch at `closed_at` (its clock); it arrived at `arrived` (the hub's
    /// wall clock) and `now` (the hub's monotonic clock).
    pub fn batch_closed(&mut self, edge: &str, closed_at: Timestamp, arrived: Timestamp, now: Instant) -> Option<Finding> {
        let max_skew_ns = i64::try_from(self.max_skew.as_nanos()).unwrap_or(i64::MAX);
        let state = self.state(edge);
        let lag_ns = arrived.0.saturating_sub(closed_at.0);
        if lag_ns < -max_skew_ns {
            state.lag = None;
            if std::mem::replace(&mut state.clock_reported, true) {
                return None;
            }
            return Some(Finding::ClockAhead { edge: edge.to_owned(), by: nanos(lag_ns.saturating_neg()) });
        }
        let window = state.lag.get_or_insert(LagWindow { since: now, min_lag_ns: lag_ns });
        window.min_lag_ns = window.min_lag_ns.min(lag_ns);
        if now.saturating_duration_since(window.since) < BEHIND_WINDOW {
            return None;
        }
        let min_lag_ns = window.min_lag_ns;
        state.lag = None;
        if min_lag_ns <= max_skew_ns {
            // A whole window within bounds: the clock agrees (again).
            state.clock_reported = false;
            return None;
        }
        if std::mem::replace(&mut state.clock_reported, true) {
            return None;
        }
        Some(Finding::ClockBehind { edge: edge.to_owned(), by: nanos(min_lag_ns) })
    }

    /// Edges silent for longer than allowed, each reported once until heard again.
    pub fn poll(&mut self, now: Instant) -> Vec<Finding> {
        let (silence, started) = (self.silence, self.started);
        let mut found = Vec::new();
        for (edge, state) in &mut self.edges {
            let since = state.last_contact.unwrap_or(started);
            let silent_for = now.saturating_duration_since(since);
            if !state.silent && silent_for > silence {
                state.silent = true;
                found.push(Finding::Silent { edge: edge.clone(), silent_for, never_heard: state.last_contact.is_none() });
            }
        }
        found
    }
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SILENCE: Duration = Duration::from_secs(15);
    const SKEW: Duration = Duration::from_secs(5);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn wall(s: f64) -> Timestamp {
        Timestamp((s * 1e9) as i64)
    }

    #[test]
    fn an_edge_never_heard_is_reported_once_and_back_when_it_connects() {
        let t0 = Instant::now();
        let mut l = Liveness::new(SILENCE, SKEW, ["edge-1".to_owned()], t0);
        assert!(l.poll(t0 + secs(10)).is_empty());
        let found = l.poll(t0 + secs(16));
        assert_eq!(found, [Finding::Silent { edge: "edge-1".into(), silent_for: secs(16), never_heard: true }]);
        assert!(found[0].message().contains("has not connected"));
        assert!(l.poll(t0 + secs(60)).is_empty(), "reported once per episode");
        assert_eq!(l.heard("edge-1", t0 + secs(61)), Some(Finding::Back { edge: "edge-1".into(), silent_for: secs(61) }));
        assert_eq!(l.heard("edge-1", t0 + secs(62)), None);
        assert!(l.poll(t0 + secs(70)).is_empty(), "heard 8 s ago");
    }

    #[test]
    fn an_edge_that_falls_silent_is_reported_with_how_long() {
        let t0 = Instant::now();
        let mut l = Liveness::new(SILENCE, SKEW, [], t0);
        assert_eq!(l.heard("edge-2", t0), None, "an edge not in the registry is watched once heard");
        for s in (3..=30).step_by(3) {
            l.heard("edge-2", t0 + secs(s));
        }
        assert!(l.poll(t0 + secs(44)).is_empty());
        let found = l.poll(t0 + secs(46));
        assert!(matches!(&found[..], [Finding::Silent { never_heard: false, silent_for, .. }] if *silent_for == secs(16)), "{found:?}");
        assert!(found[0].message().contains("nothing from edge edge-2 for 16 s"));
    }

    #[test]
    fn a_batch_closed_in_the_future_is_a_clock_ahead_once_until_it_agrees_again() {
        let t0 = Instant::now();
        let mut l = Liveness::new(SILENCE, SKEW, ["edge-1".to_owned()], t0);
        assert_eq!(l.batch_closed("edge-1", wall(1004.0), wall(1000.0), t0), None, "4 s ahead is within the allowed skew");
        let found = l.batch_closed("edge-1", wall(1012.5), wall(1001.0), t0 + secs(1));
        assert!(matches!(found, Some(Finding::ClockAhead { by, .. }) if by == Duration::from_millis(11_500)), "{found:?}");
        assert_eq!(l.batch_closed("edge-1", wall(1013.5), wall(1002.0), t0 + secs(2)), None, "reported once");
        // A full window within bounds clears it; the next episode is reported again.
        for s in 3..=64 {
            assert_eq!(l.batch_closed("edge-1", wall(1000.0 + s as f64), wall(1000.1 + s as f64), t0 + secs(s)), None);
        }
        assert!(matches!(l.batch_closed("edge-1", wall(1090.0), wall(1070.0), t0 + secs(70)), Some(Finding::ClockAhead { .. })));
    }

    #[test]
    fn a_queue_catching_up_is_not_a_clock_behind_but_a_whole_window_of_late_batches_is() {
        let t0 = Instant::now();
        let mut l = Liveness::new(SILENCE, SKEW, ["edge-1".to_owned()], t0);
        // A backlog of 30 s drains in 3 s, then batches arrive as they are closed.
        for i in 0..30u64 {
            let arrived = 1000.0 + i as f64 * 0.1;
            assert_eq!(l.batch_closed("edge-1", wall(970.0 + i as f64), wall(arrived), t0 + Duration::from_millis(i * 100)), None);
        }
        for s in 3..=70 {
            assert_eq!(l.batch_closed("edge-1", wall(1000.0 + s as f64), wall(1000.05 + s as f64), t0 + secs(s)), None, "second {s}");
        }
        // Now the edge's clock runs 20 s behind for a whole window.
        let mut found = Vec::new();
        for s in 71..=200 {
            found.extend(l.batch_closed("edge-1", wall(980.0 + s as f64), wall(1000.0 + s as f64), t0 + secs(s)));
        }
        assert!(matches!(&found[..], [Finding::ClockBehind { by, .. }] if *by == secs(20)), "{found:?}");
        assert!(found[0].message().contains("behind"));
    }
}
