//! Where an alarm is in the grid: its point's equipment, bay and feeder, from the joined model
//! and its CIM topology, and which loads a feeder supplies.
//!
//! A **feeder** is what a bay with switches supplies: the nodes that lose supply when every
//! switch of the bay opens, with the model's normal switch states (so a normally open tie switch
//! stays open and bounds the feeder). The demo's bays `F1` and `F2` are feeders; the transformer
//! has no bay and is none. A **tie** is a normally open switch with a node in two feeders: closing
//! it lets one feeder supply the other.

use std::collections::{BTreeMap, BTreeSet};

use gridtrust_gridmodel::{DiagramEquipment, EquipmentKind, GridModel, OneLine, energise};

/// A feeder: a bay and what it supplies.
#[derive(Clone, Debug, PartialEq)]
pub struct Feeder {
    /// The bay's tree id.
    pub bay: String,
    pub name: String,
    /// The switch that isolates it: the bay's breaker, else its first switch (tree id).
    pub breaker: Option<String>,
    /// Nodes it supplies.
    pub nodes: BTreeSet<String>,
    /// Its loads (tree ids).
    pub loads: Vec<String>,
}

/// A normally open switch between two feeders.
#[derive(Clone, Debug, PartialEq)]
pub struct Tie {
    /// Tree id.
    pub switch: String,
    pub name: String,
    /// Indices into [`GridIndex::feeders`].
    pub feeders: [usize; 2],
}

/// Where a point is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    /// The model point's reference, when the name resolves.
    pub reference: Option<String>,
    /// Tree ids.
    pub equipment: Option<String>,
    pub bay: Option<String>,
    /// Indices into [`GridIndex::feeders`].
    pub feeders: Vec<usize>,
}

/// The model, indexed for the questions the assistant asks.
#[derive(Clone, Debug)]
pub struct GridIndex {
    model: GridModel,
    one_line: OneLine,
    pub feeders: Vec<Feeder>,
    pub ties: Vec<Tie>,
    /// Bay tree id -> name.
    bays: BTreeMap<String, String>,
}

fn normally_open(e: &DiagramEquipment) -> bool {
    e.normal_open == Some(true)
}

impl GridIndex {
    /// Indexes `model` (feeders and ties from its topology; none for a model without one).
    pub fn new(model: GridModel) -> Self {
        let one_line = OneLine::of(&model);
        let normal = energise(&one_line, normally_open);
        let mut feeders = Vec::new();
        let mut bays = BTreeMap::new();
        for bay in model.substations.iter().flat_map(|s| s.voltage_levels.iter().flat_map(|l| l.bays.iter())) {
            bays.insert(bay.id.clone(), bay.name.clone());
            let switches: Vec<(&str, EquipmentKind)> =
                bay.equipment.iter().map(|e| (e.id.as_str(), EquipmentKind::of(e))).filter(|(_, k)| k.is_switch()).collect();
            if switches.is_empty() {
                continue;
            }
            let cut = energise(&one_line, |e| normally_open(e) || switches.iter().any(|(id, _)| *id == e.id));
            let nodes: BTreeSet<String> = normal.nodes.difference(&cut.nodes).cloned().collect();
            if nodes.is_empty() {
                continue;
            }
            let mut loads: Vec<(String, String)> = one_line
                .equipment
                .iter()
                .filter(|e| e.kind == EquipmentKind::Load && e.nodes.iter().any(|n| nodes.contains(n)))
                .map(|e| (e.name.clone(), e.id.clone()))
                .collect();
            loads.sort();
            let loads = loads.into_iter().map(|(_, id)| id).collect();
            let breaker = switches.iter().find(|(_, k)| *k == EquipmentKind::Breaker).or(switches.first()).map(|(id, _)| (*id).to_owned());
            feeders.push(Feeder { bay: bay.id.clone(), name: bay.name.clone(), breaker, nodes, loads });
        }
        let ties = one_line
            .equipment
            .iter()
            .filter(|e| e.kind.is_switch() && normally_open(e))
            .filter_map(|e| {
                let on: BTreeSet<usize> =
                    feeders.iter().enumerate().filter(|(_, f)| e.nodes.iter().any(|n| f.nodes.contains(n))).map(|(i, _)| i).collect();
                match on.into_iter().collect::<Vec<_>>().as_slice() {
                    [a, b] => Some(Tie { switch: e.id.clone(), name: e.name.clone(), feeders: [*a, *b] }),
                    _ => None,
                }
            })
            .collect();
        Self { model, one_line, feeders, ties, bays }
    }

    pub fn model(&self) -> &GridModel {
        &self.model
    }

    /// Where the point an alarm names is.
    pub fn locate(&self, point: &str) -> Location {
        let resolved = self.model.resolve_point(point);
        let Some(info) = resolved.point() else {
            return Location::default();
        };
        let equipment = info.equipment.clone();
        let on_nodes: Vec<&String> = equipment
            .as_deref()
            .and_then(|id| self.one_line.equipment.iter().find(|e| e.id == id))
            .map(|e| e.nodes.iter().collect())
            .unwrap_or_default();
        let feeders: Vec<usize> = self
            .feeders
            .iter()
            .enumerate()
            .filter(|(_, f)| info.bay.as_deref() == Some(f.bay.as_str()) || on_nodes.iter().any(|n| f.nodes.contains(*n)))
            .map(|(i, _)| i)
            .collect();
        // Equipment outside bays (a cable of a CIM line) is in the bay of the feeder it is on.
        let bay = info.bay.clone().or_else(|| match feeders.as_slice() {
            [one] => self.feeders.get(*one).map(|f| f.bay.clone()),
            _ => None,
        });
        Location { reference: Some(info.reference.to_string()), equipment, bay, feeders }
    }

    /// A tree equipment's name (its id when unknown).
    pub fn equipment_name(&self, id: &str) -> String {
        self.model.find_equipment(id).map_or_else(|| id.to_owned(), |e| e.name.clone())
    }

    /// A tree equipment's CIM mRID.
    pub fn mrid(&self, id: &str) -> Option<String> {
        self.model.find_equipment(id).and_then(|e| e.mrid.clone())
    }

    /// A bay's name (its id when unknown).
    pub fn bay_name(&self, id: &str) -> String {
        self.bays.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// The operable points of a bay (commands can go to them).
    pub fn operable_points(&self, bay: &str) -> Vec<String> {
        self.model.points.values().filter(|p| p.operable && p.bay.as_deref() == Some(bay)).map(|p| p.reference.to_string()).collect()
    }

    /// The nodes supplied with the switch positions `open` (tree id -> open), the normal state
    /// for switches it does not name.
    pub fn energised(&self, open: &BTreeMap<String, bool>) -> BTreeSet<String> {
        energise(&self.one_line, |e| open.get(&e.id).copied().unwrap_or_else(|| normally_open(e))).nodes
    }

    /// Whether a load (tree id) is supplied in `energised`.
    pub fn load_supplied(&self, load: &str, energised: &BTreeSet<String>) -> bool {
        self.one_line.equipment.iter().find(|e| e.id == load).is_some_and(|e| e.nodes.iter().any(|n| energised.contains(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> GridIndex {
        GridIndex::new(gridtrust_sim::grid::DemoGrid::load().unwrap().joined)
    }

    #[test]
    fn the_demo_has_two_feeders_with_their_loads_and_one_tie_between_them() {
        let index = demo();
        let names: Vec<&str> = index.feeders.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["F1", "F2"]);
        let loads = |i: usize| index.feeders[i].loads.iter().map(|l| index.equipment_name(l)).collect::<Vec<_>>();
        assert_eq!(loads(0), ["SS11 load", "SS12 load", "SS13 load"]);
        assert_eq!(loads(1), ["SS21 load", "SS22 load"]);
        assert_eq!(index.feeders[0].breaker.as_deref().map(|b| index.equipment_name(b)).as_deref(), Some("QA1"));
        assert_eq!(index.ties.len(), 1);
        assert_eq!(index.ties[0].name, "TS1");
        assert_eq!(index.ties[0].feeders, [0, 1]);
    }

    #[test]
    fn a_feeder_measurement_is_located_on_its_bay_and_feeder() {
        let index = demo();
        let at = index.locate("F1/MMXU1.TotW");
        assert_eq!(at.feeders, [0]);
        assert_eq!(at.bay.as_deref().map(|b| index.bay_name(b)).as_deref(), Some("F1"));
        assert_eq!(index.locate("F2/XCBR1.Pos").feeders, [1]);
        assert_eq!(index.locate("nowhere/X.Y"), Location::default());
    }

    #[test]
    fn opening_a_feeder_breaker_leaves_its_loads_unsupplied() {
        let index = demo();
        let breaker = index.feeders[0].breaker.clone().unwrap();
        let live = index.energised(&BTreeMap::from([(breaker, true)]));
        assert!(index.feeders[0].loads.iter().all(|l| !index.load_supplied(l, &live)));
        assert!(index.feeders[1].loads.iter().all(|l| index.load_supplied(l, &live)));
    }
}
