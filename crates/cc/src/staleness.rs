//! Sans-IO staleness of each edge's points: how long since the cc last heard from an edge (a
//! verified batch of it newer than any applied, such as its heartbeat, or one with a verified,
//! newer record), and so whether SCADA may see its points as topical, not topical (NT) or
//! invalid (IV).
//!
//! Without this, an edge, hub or hub link that dies leaves SCADA reading the last values with
//! good quality forever. Silence is measured from the last time the edge was heard, whatever
//! stopped it: while the cc's link to the hub is down nothing is heard, so every edge counts as
//! silent from (at the latest) the moment the link dropped. A replayed old batch (a hub resending
//! what the cc already served) brings no newer record and does not count as heard.
//!
//! An edge whose devices send nothing (no change) still closes a signed empty batch every
//! `[batch] heartbeat_s` (3 s by default): the cc hears it, so an idle edge stays topical while
//! a hub that withholds its batches (heartbeats too) makes its points NT. The bounds must exceed
//! the edges' heartbeat interval.
//!
//! Like [`crate::watchdog`], it takes the time as an argument (`now`, monotonic) and never reads
//! a clock; the runtime asks [`Staleness::deadline`] when to look again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How SCADA may see an edge's points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topicality {
    /// Heard within the not-topical bound: points carry their own quality.
    Topical,
    /// Silent beyond `not_topical`: points are served with NT.
    NotTopical,
    /// Silent beyond `invalid`: points are served with IV (and NT).
    Invalid,
}

/// An edge's points must be re-served (or, back to [`Topicality::Topical`], are served again
/// as their values come).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub edge: String,
    pub to: Topicality,
    /// How long the edge had been silent when the step was taken.
    pub silent_for: Duration,
}

/// The configured bounds; `not_topical` < `invalid` (the configuration checks it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub not_topical: Duration,
    pub invalid: Duration,
}

#[derive(Clone, Debug)]
struct Edge {
    last_heard: Instant,
    level: Topicality,
}

/// Tracks every edge heard so far. An edge never heard needs no tracking: its points are served
/// invalid from the start.
#[derive(Clone, Debug)]
pub struct Staleness {
    bounds: Bounds,
    edges: BTreeMap<String, Edge>,
}

impl Staleness {
    pub fn new(bounds: Bounds) -> Self {
        Self { bounds, edges: BTreeMap::new() }
    }

    /// The edge was heard at `now`. Returns the step back to [`Topicality::Topical`] when its
    /// points were not topical.
    pub fn heard(&mut self, edge: &str, now: Instant) -> Option<Step> {
        let Some(e) = self.edges.get_mut(edge) else {
            self.edges.insert(edge.to_owned(), Edge { last_heard: now, level: Topicality::Topical });
            return None;
        };
        let silent_for = now.saturating_duration_since(e.last_heard);
        e.last_heard = now;
        let was = std::mem::replace(&mut e.level, Topicality::Topical);
        (was != Topicality::Topical).then(|| Step { edge: edge.to_owned(), to: Topicality::Topical, silent_for })
    }

    /// How SCADA may see the edge's points now (as of the last [`Self::poll`]).
    pub fn topicality(&self, edge: &str) -> Option<Topicality> {
        self.edges.get(edge).map(|e| e.level)
    }

    /// Time has passed: every edge whose silence crossed a bound since the last poll, each step
    /// once (an edge silent beyond both bounds at once goes straight to invalid).
    pub fn poll(&mut self, now: Instant) -> Vec<Step> {
        let mut steps = Vec::new();
        for (name, e) in &mut self.edges {
            let silent_for = now.saturating_duration_since(e.last_heard);
            let level = self.bounds.level(silent_for);
            if level > e.level {
                e.level = level;
                steps.push(Step { edge: name.clone(), to: level, silent_for });
            }
        }
        steps
    }

    /// When [`Self::poll`] may report next; `None` when every edge is already invalid (or none
    /// was heard): only [`Self::heard`] changes anything then.
    pub fn deadline(&self) -> Option<Instant> {
        self.edges
            .values()
            .filter_map(|e| match e.level {
                Topicality::Topical => Some(e.last_heard + self.bounds.not_topical),
                Topicality::NotTopical => Some(e.last_heard + self.bounds.invalid),
                Topicality::Invalid => None,
            })
            .min()
            .map(|t| t + Duration::from_millis(1))
    }
}

impl Bounds {
    /// The level a silence of `silent_for` calls for; exactly a bound is not yet beyond it.
    fn level(&self, silent_for: Duration) -> Topicality {
        if silent_for > self.invalid {
            Topicality::Invalid
        } else if silent_for > self.not_topical {
            Topicality::NotTopical
        } else {
            Topicality::Topical
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds { not_topical: Duration::from_secs(15), invalid: Duration::from_secs(60) };

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn step(edge: &str, to: Topicality, silent_for: u64) -> Step {
        Step { edge: edge.into(), to, silent_for: s(silent_for) }
    }

    #[test]
    fn a_silent_edge_goes_not_topical_then_invalid_once_each_and_back_when_heard() {
        let t0 = Instant::now();
        let mut st = Staleness::new(BOUNDS);
        assert_eq!(st.deadline(), None, "no edge heard yet");
        assert_eq!(st.heard("edge-1", t0), None);
        assert_eq!(st.deadline(), Some(t0 + s(15) + Duration::from_millis(1)));
        assert_eq!(st.poll(t0 + s(15)), vec![], "exactly the bound is not yet beyond it");
        assert_eq!(st.poll(t0 + s(16)), vec![step("edge-1", Topicality::NotTopical, 16)]);
        assert_eq!(st.poll(t0 + s(30)), vec![], "each step once");
        assert_eq!(st.topicality("edge-1"), Some(Topicality::NotTopical));
        assert_eq!(st.deadline(), Some(t0 + s(60) + Duration::from_millis(1)));
        assert_eq!(st.poll(t0 + s(61)), vec![step("edge-1", Topicality::Invalid, 61)]);
        assert_eq!(st.deadline(), None);
        assert_eq!(st.poll(t0 + s(600)), vec![]);
        assert_eq!(st.heard("edge-1", t0 + s(700)), Some(step("edge-1", Topicality::Topical, 700)));
        assert_eq!(st.heard("edge-1", t0 + s(701)), None, "back once");
        assert_eq!(st.topicality("edge-1"), Some(Topicality::Topical));
    }

    #[test]
    fn an_edge_silent_beyond_both_bounds_at_one_poll_goes_straight_to_invalid() {
        let t0 = Instant::now();
        let mut st = Staleness::new(BOUNDS);
        st.heard("edge-1", t0);
        assert_eq!(st.poll(t0 + s(100)), vec![step("edge-1", Topicality::Invalid, 100)]);
    }

    #[test]
    fn edges_are_judged_each_on_its_own_silence() {
        let t0 = Instant::now();
        let mut st = Staleness::new(BOUNDS);
        st.heard("edge-1", t0);
        st.heard("edge-2", t0);
        for i in 1..30 {
            // edge-2 reports every second; edge-1 went quiet.
            st.heard("edge-2", t0 + s(i));
            let steps = st.poll(t0 + s(i));
            assert!(steps.iter().all(|x| x.edge == "edge-1"), "{steps:?}");
        }
        assert_eq!(st.topicality("edge-1"), Some(Topicality::NotTopical));
        assert_eq!(st.topicality("edge-2"), Some(Topicality::Topical));
        assert_eq!(st.deadline(), Some(t0 + s(29) + s(15) + Duration::from_millis(1)), "edge-2 is due first");
    }
}
