//! Which alarms belong to one incident.
//!
//! Two alarms are **related** when they share a key: the same point, the same equipment, the same
//! bay, the same feeder ([`crate::area`]), or the same edge or connector as their source (the
//! hub as a source relates nothing: it raises the alarms of all its checks). An alarm with none
//! of these keys (a refused login at the hub) is related to alarms of the same kind and source.
//!
//! Two related alarms at most `window` apart are in the same incident, and so, transitively, are
//! alarms linked through others (single linkage): an attack that goes on raising alarms every few
//! seconds stays one incident however long it lasts, and two feeders whose alarms never share a
//! key stay two incidents however close in time.

use std::collections::BTreeSet;

use gridtrust_model::AlarmKind;

use crate::area::GridIndex;
use crate::{AlarmIn, HUB};

/// What relates alarms.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Point(String),
    Equipment(String),
    Bay(String),
    /// Index into [`GridIndex::feeders`].
    Feeder(usize),
    Edge(String),
    /// For alarms with no other key: their kind and source.
    Unplaced(AlarmKind, String),
}

/// The keys of one alarm.
pub fn keys(alarm: &AlarmIn, index: &GridIndex) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    if let Some(point) = &alarm.point {
        let at = index.locate(point);
        out.insert(Key::Point(at.reference.clone().unwrap_or_else(|| point.clone())));
        out.extend(at.equipment.map(Key::Equipment));
        out.extend(at.bay.map(Key::Bay));
        out.extend(at.feeders.into_iter().map(Key::Feeder));
    }
    if alarm.source != HUB {
        out.insert(Key::Edge(alarm.source.clone()));
    }
    if out.is_empty() {
        out.insert(Key::Unplaced(alarm.kind, alarm.source.clone()));
    }
    out
}

/// Groups `alarms` (any order) into incidents: each group is indices into `alarms` in time order
/// (ties by id); groups are ordered by their first alarm.
pub fn correlate(alarms: &[AlarmIn], index: &GridIndex, window_ns: i64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..alarms.len()).collect();
    order.sort_by_key(|&i| (alarms[i].at.0, alarms[i].id));
    let keys: Vec<BTreeSet<Key>> = alarms.iter().map(|a| keys(a, index)).collect();
    let mut parent: Vec<usize> = (0..alarms.len()).collect();
    for (n, &i) in order.iter().enumerate() {
        for &j in order.iter().skip(n + 1) {
            if alarms[j].at.0.saturating_sub(alarms[i].at.0) > window_ns {
                break;
            }
            if !keys[i].is_disjoint(&keys[j]) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for &i in &order {
        let r = root(&mut parent, i);
        match groups.iter_mut().find(|(g, _)| *g == r) {
            Some((_, members)) => members.push(i),
            None => groups.push((r, vec![i])),
        }
    }
    groups.into_iter().map(|(_, members)| members).collect()
}

fn root(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}
