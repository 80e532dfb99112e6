//! The one-line diagram of a [`GridModel`]: what is drawn, where, and which parts are energised.
//!
//! - [`OneLine::of`] draws every piece of equipment that connects to at least one node, and every
//!   node. Positions come from the CGMES diagram layout (DL) when the model carries one: the
//!   diagram with the most placements is used, each equipment and node at its (first) diagram
//!   object there, with straight connectors from a symbol to the nodes it connects to. Without DL
//!   an automatic layout is computed ([`automatic_layout`]): a tree from the sources outwards,
//!   one row per step, each node centred over the columns of what hangs below it, so two nodes of
//!   a row never share a column and two busbars never overlap. The layout does not depend on switch
//!   states, so opening a breaker does not move anything.
//! - [`energise`] is the topology walk that decides what is energised: from the sources
//!   ([`EquipmentKind::is_source`]: external network and equivalent injections, generators; when
//!   there are none, the busbars of the highest nominal voltage) through every piece of equipment
//!   to its other nodes, except through a switch that is open. Whether a switch is open is the
//!   caller's decision (the hub: the live position, else the model's normal state).
//!
//! Equipment without nodes (SCL-only models, CIM generating units, boundary junctions) is not
//! drawn: without topology there is nothing to connect it to.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use gridtrust_model::PointId;

use crate::model::{DiagramPlacement, DiagramPoint, EquipmentNode, GridModel};

/// What a piece of equipment is on the diagram: how it is drawn and how the walk treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EquipmentKind {
    BusbarSection,
    Line,
    Transformer,
    Breaker,
    Disconnector,
    LoadBreakSwitch,
    Switch,
    Fuse,
    Load,
    Generator,
    /// An inverter-coupled plant (PV, wind; CIM PowerElectronicsConnection): it feeds the grid
    /// but cannot energise an island on its own (anti-islanding protection, IEEE 1547 and
    /// EN 50549 require it to stop), so it does not start the walk.
    Inverter,
    /// `ExternalNetworkInjection` or `EquivalentInjection`: the rest of the grid.
    Injection,
    ShuntCompensator,
    /// Anything else with terminals (series compensators, junctions, ...): drawn plainly, conducts.
    Other,
}

impl EquipmentKind {
    /// The kind of a tree equipment, from its kind (see [`crate::kinds`]) and its source type.
    pub fn of(node: &EquipmentNode) -> Self {
        let bare = node.source_type.rsplit_once(':').map_or(node.source_type.as_str(), |(_, c)| c);
        match (node.kind.as_str(), bare) {
            ("BusbarSection", _) => Self::BusbarSection,
            ("Line", _) => Self::Line,
            ("PowerTransformer", _) => Self::Transformer,
            ("Breaker", _) => Self::Breaker,
            ("Disconnector", _) => Self::Disconnector,
            ("LoadBreakSwitch", _) => Self::LoadBreakSwitch,
            ("Switch", _) => Self::Switch,
            ("Fuse", _) => Self::Fuse,
            ("Load", _) => Self::Load,
            ("Generator", _) => Self::Generator,
            ("Inverter", _) => Self::Inverter,
            ("ExternalNetworkInjection" | "EquivalentInjection" | "Infeed", _) => Self::Injection,
            ("ShuntCompensator" | "Capacitor" | "Reactor", _) => Self::ShuntCompensator,
            _ => Self::Other,
        }
    }

    /// A switch that can cut the walk and whose position is shown (Breaker, Disconnector,
    /// LoadBreakSwitch, Switch).
    pub fn is_switch(self) -> bool {
        matches!(self, Self::Breaker | Self::Disconnector | Self::LoadBreakSwitch | Self::Switch)
    }

    /// Equipment that can energise the grid on its own: where the walk starts.
    pub fn is_source(self) -> bool {
        matches!(self, Self::Generator | Self::Injection)
    }
}

/// Where the coordinates of a [`OneLine`] come from.
#[derive(Clone, Debug, PartialEq)]
pub enum LayoutSource {
    /// The CGMES DL diagram with this mRID and name.
    DiagramLayout { diagram: String, name: Option<String> },
    /// [`automatic_layout`].
    Automatic,
}

/// A node on the diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagramNode {
    pub id: String,
    pub name: Option<String>,
    pub nominal_kv: Option<f64>,
    pub busbar: bool,
    /// One point (a junction) or a polyline (a busbar); y grows downwards.
    pub points: Vec<DiagramPoint>,
}

/// A piece of equipment on the diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagramEquipment {
    /// The tree id.
    pub id: String,
    pub name: String,
    pub kind: EquipmentKind,
    /// The nodes of its terminals, in terminal order.
    pub nodes: Vec<String>,
    /// One point (a symbol) or a polyline; y grows downwards.
    pub points: Vec<DiagramPoint>,
    /// Clockwise rotation of the symbol in degrees (DL).
    pub rotation_deg: Option<f64>,
    /// Straight segments from the equipment to the nodes it connects to.
    pub connectors: Vec<[DiagramPoint; 2]>,
    /// Its IEC 61850 points.
    pub points_ids: Vec<PointId>,
    /// For a switch: the point holding its position (`...Pos.stVal[ST]`).
    pub position_point: Option<PointId>,
    /// For a switch: the operable point commands go to.
    pub command_point: Option<PointId>,
    /// For a switch: `Switch.normalOpen`.
    pub normal_open: Option<bool>,
}

/// The one-line diagram of a model.
#[derive(Clone, Debug, PartialEq)]
pub struct OneLine {
    pub layout: LayoutSource,
    pub nodes: Vec<DiagramNode>,
    pub equipment: Vec<DiagramEquipment>,
}

/// The nodes the walk reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Energised {
    pub nodes: BTreeSet<String>,
}

impl Energised {
    pub fn node(&self, id: &str) -> bool {
        self.nodes.contains(id)
    }

    /// A piece of equipment is energised when any of its nodes is (a switch open with one side
    /// live is energised on that side).
    pub fn equipment(&self, equipment: &DiagramEquipment) -> bool {
        equipment.nodes.iter().any(|n| self.nodes.contains(n))
    }
}

/// The logical node name of a point reference (`LD/Q0XCBR1.Pos.stVal[ST]` -> `Q0XCBR1`).
fn logical_node(point: &PointId) -> &str {
    let after_ld = point.as_str().split_once('/').map_or(point.as_str(), |(_, rest)| rest);
    after_ld.split_once('.').map_or(after_ld, |(ln, _)| ln)
}

/// The position point of a switch: a status point of a `Pos` data object's `stVal`, that of the
/// switch's own logical node (XCBR, XSWI) first, else that of its controller (CSWI).
fn position_point(node: &EquipmentNode, model: &GridModel) -> Option<PointId> {
    let mut candidates: Vec<&PointId> = node
        .points
        .iter()
        .filter(|p| p.as_str().contains(".Pos.stVal") && model.points.get(*p).is_some_and(|info| info.fc == "ST"))
        .collect();
    candidates.sort_by_key(|p| {
        let ln = logical_node(p);
        (!(ln.contains("XCBR") || ln.contains("XSWI")), p.as_str())
    });
    candidates.first().map(|p| (*p).clone())
}

/// The point a command to a switch goes to: an operable `Pos` point (usually the CSWI's).
fn command_point(node: &EquipmentNode, model: &GridModel) -> Option<PointId> {
    node.points.iter().find(|p| p.as_str().contains(".Pos.") && model.points.get(*p).is_some_and(|info| info.operable)).cloned()
}

impl OneLine {
    /// The diagram of `model`: DL positions when the model has DL placements, else the automatic
    /// layout.
    pub fn of(model: &GridModel) -> Self {
        let mut equipment: Vec<DiagramEquipment> = model
            .equipment()
            .filter_map(|e| {
                let nodes: Vec<String> = e.terminals.iter().filter_map(|t| t.node.clone()).collect();
                if nodes.is_empty() {
                    return None;
                }
                let kind = EquipmentKind::of(e);
                Some(DiagramEquipment {
                    id: e.id.clone(),
                    name: e.name.clone(),
                    kind,
                    nodes,
                    points: Vec::new(),
                    rotation_deg: None,
                    connectors: Vec::new(),
                    points_ids: e.points.clone(),
                    position_point: if kind.is_switch() { position_point(e, model) } else { None },
                    command_point: if kind.is_switch() { command_point(e, model) } else { None },
                    normal_open: e.normal_open,
                })
            })
            .collect();
        equipment.sort_by(|a, b| a.id.cmp(&b.id));
        let nodes: Vec<DiagramNode> = model
            .nodes
            .iter()
            .map(|n| DiagramNode { id: n.id.clone(), name: n.name.clone(), nominal_kv: n.nominal_kv, busbar: n.busbar, points: Vec::new() })
            .collect();
        let mut one_line = OneLine { layout: LayoutSource::Automatic, nodes, equipment };
        match chosen_diagram(&model.diagram) {
            Some(diagram) => one_line.place_from_dl(&model.diagram, diagram, model),
            None => automatic_layout(&mut one_line),
        }
        one_line
    }

    fn place_from_dl(&mut self, placements: &[DiagramPlacement], diagram: &str, model: &GridModel) {
        let mut first: HashMap<&str, &DiagramPlacement> = HashMap::new();
        for placement in placements.iter().filter(|p| p.diagram == diagram) {
            first.entry(placement.object.as_str()).or_insert(placement);
        }
        let screen = |p: &DiagramPlacement| -> Vec<DiagramPoint> {
            p.points.iter().map(|q| DiagramPoint { x: q.x, y: if p.y_down { q.y } else { -q.y } }).collect()
        };
        for node in &mut self.nodes {
            if let Some(p) = first.get(node.id.as_str()) {
                node.points = screen(p);
            }
        }
        let node_points: HashMap<&str, &[DiagramPoint]> = self.nodes.iter().map(|n| (n.id.as_str(), n.points.as_slice())).collect();
        for equipment in &mut self.equipment {
            let mrid = model.find_equipment(&equipment.id).and_then(|e| e.mrid.clone()).unwrap_or_else(|| equipment.id.clone());
            let Some(p) = first.get(mrid.as_str()) else { continue };
            equipment.points = screen(p);
            equipment.rotation_deg = p.rotation_deg;
            equipment.connectors = equipment
                .nodes
                .iter()
                .filter_map(|n| node_points.get(n.as_str()))
                .filter_map(|line| connector(&equipment.points, line))
                .collect();
        }
        let name = placements.iter().find(|p| p.diagram == diagram).and_then(|p| p.diagram_name.clone());
        self.layout = LayoutSource::DiagramLayout { diagram: diagram.to_owned(), name };
    }
}

/// The diagram with the most placements (ties: the smallest mRID).
fn chosen_diagram(placements: &[DiagramPlacement]) -> Option<&str> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for p in placements {
        *counts.entry(p.diagram.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .fold(None, |best: Option<(&str, usize)>, (d, n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((d, n)),
        })
        .map(|(d, _)| d)
}

fn distance2(a: DiagramPoint, b: DiagramPoint) -> f64 {
    (a.x - b.x).powi(2) + (a.y - b.y).powi(2)
}

/// The point of segment `a`-`b` nearest to `p`.
fn nearest_on_segment(p: DiagramPoint, a: DiagramPoint, b: DiagramPoint) -> DiagramPoint {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let length2 = dx * dx + dy * dy;
    if length2 <= f64::EPSILON {
        return a;
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / length2).clamp(0.0, 1.0);
    DiagramPoint { x: a.x + t * dx, y: a.y + t * dy }
}

/// The point of a polyline (or the single point) nearest to `p`.
fn nearest_on(line: &[DiagramPoint], p: DiagramPoint) -> Option<DiagramPoint> {
    match line {
        [] => None,
        [one] => Some(*one),
        _ => line
            .windows(2)
            .filter_map(|w| match w {
                [a, b] => Some(nearest_on_segment(p, *a, *b)),
                _ => None,
            })
            .min_by(|a, b| distance2(*a, p).total_cmp(&distance2(*b, p))),
    }
}

/// The shortest segment from the equipment's drawing to a node's, unless they already touch.
fn connector(equipment: &[DiagramPoint], node: &[DiagramPoint]) -> Option<[DiagramPoint; 2]> {
    let (from, to) = equipment
        .iter()
        .filter_map(|&p| nearest_on(node, p).map(|q| (p, q)))
        .min_by(|(a, b), (c, d)| distance2(*a, *b).total_cmp(&distance2(*c, *d)))?;
    (distance2(from, to) > 1e-9).then_some([from, to])
}

/// The nodes the walk starts from: the nodes of the sources, else the busbars (or, without
/// busbars, the nodes) of the highest nominal voltage.
pub fn source_nodes(one_line: &OneLine) -> BTreeSet<String> {
    let sources: BTreeSet<String> =
        one_line.equipment.iter().filter(|e| e.kind.is_source()).flat_map(|e| e.nodes.iter().cloned()).collect();
    if !sources.is_empty() {
        return sources;
    }
    let busbars: Vec<&DiagramNode> = one_line.nodes.iter().filter(|n| n.busbar).collect();
    let candidates = if busbars.is_empty() { one_line.nodes.iter().collect() } else { busbars };
    let highest = candidates.iter().filter_map(|n| n.nominal_kv).fold(None, |m: Option<f64>, kv| Some(m.map_or(kv, |m| m.max(kv))));
    candidates.into_iter().filter(|n| n.nominal_kv == highest).map(|n| n.id.clone()).collect()
}

/// The topology walk: every node reachable from [`source_nodes`] through equipment, never through a
/// switch for which `open` says true.
pub fn energise(one_line: &OneLine, open: impl Fn(&DiagramEquipment) -> bool) -> Energised {
    let mut at_node: HashMap<&str, Vec<&DiagramEquipment>> = HashMap::new();
    for equipment in one_line.equipment.iter().filter(|e| !(e.kind.is_switch() && open(e))) {
        for node in &equipment.nodes {
            at_node.entry(node.as_str()).or_default().push(equipment);
        }
    }
    let mut reached = source_nodes(one_line);
    let mut queue: VecDeque<String> = reached.iter().cloned().collect();
    while let Some(node) = queue.pop_front() {
        for equipment in at_node.get(node.as_str()).into_iter().flatten() {
            for other in &equipment.nodes {
                if reached.insert(other.clone()) {
                    queue.push_back(other.clone());
                }
            }
        }
    }
    Energised { nodes: reached }
}

/// A count of columns or rows as a coordinate factor.
fn columns(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Width of a column and height of a row of the automatic layout, in diagram units.
pub const COLUMN: f64 = 120.0;
pub const ROW: f64 = 100.0;

/// Lays the diagram out as trees from the sources (highest voltage first): the spanning tree of a
/// breadth-first walk over all equipment (whatever the switch states), one row per step. A node
/// takes as many columns as its subtree plus one per single-terminal equipment hanging from it
/// (at least one) and is drawn over them (as a bar when a busbar or wider than one column);
/// subtrees of one node sit side by side, so nodes of one row never overlap. Parts not reached
/// from a source start at their highest-voltage node (ties: smallest id) and are placed to the
/// right, in that order.
pub fn automatic_layout(one_line: &mut OneLine) {
    let index: HashMap<String, usize> = one_line.nodes.iter().enumerate().map(|(i, n)| (n.id.clone(), i)).collect();
    let count = one_line.nodes.len();
    // Neighbours through multi-terminal equipment, in equipment id order (deterministic).
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut hangers: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (e, equipment) in one_line.equipment.iter().enumerate() {
        let ids: Vec<usize> = equipment.nodes.iter().filter_map(|n| index.get(n).copied()).collect();
        match ids.as_slice() {
            [] => {}
            // A busbar section is drawn as its node, not hung from it.
            [_] if equipment.kind == EquipmentKind::BusbarSection => {}
            [one] => hangers.get_mut(*one).into_iter().for_each(|h| h.push(e)),
            many => {
                for &a in many {
                    for &b in many.iter().filter(|&&b| b != a) {
                        if let Some(list) = neighbours.get_mut(a) {
                            list.push(b);
                        }
                    }
                }
            }
        }
    }
    // Highest voltage first, then by id.
    let by_voltage = |a: &usize, b: &usize| {
        let kv = |i: usize| one_line.nodes.get(i).and_then(|n| n.nominal_kv).unwrap_or(f64::NEG_INFINITY);
        kv(*b).total_cmp(&kv(*a)).then_with(|| one_line.nodes.get(*a).map(|n| &n.id).cmp(&one_line.nodes.get(*b).map(|n| &n.id)))
    };
    let mut roots: Vec<usize> = source_nodes(one_line).iter().filter_map(|n| index.get(n).copied()).collect();
    roots.sort_by(by_voltage);
    let mut rest: Vec<usize> = (0..count).collect();
    rest.sort_by(by_voltage);
    roots.extend(rest);
    // Spanning forest by breadth-first walks.
    let mut depth: Vec<Option<usize>> = vec![None; count];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut tree_roots = Vec::new();
    for root in roots {
        if depth.get(root).copied().flatten().is_some() {
            continue;
        }
        tree_roots.push(root);
        if let Some(d) = depth.get_mut(root) {
            *d = Some(0);
        }
        let mut queue = VecDeque::from([root]);
        while let Some(node) = queue.pop_front() {
            let here = depth.get(node).copied().flatten().unwrap_or(0);
            for &next in neighbours.get(node).into_iter().flatten() {
                if let Some(slot) = depth.get_mut(next)
                    && slot.is_none()
                {
                    *slot = Some(here + 1);
                    if let Some(list) = children.get_mut(node) {
                        list.push(next);
                    }
                    queue.push_back(next);
                }
            }
        }
    }
    // Subtree widths in columns (children before parents: deepest first).
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(depth.get(i).copied().flatten().unwrap_or(0)));
    let mut width = vec![1usize; count];
    let mut below = vec![0usize; count];
    for &i in &order {
        let subtrees: usize = children.get(i).into_iter().flatten().filter_map(|&c| width.get(c)).sum();
        let hanging = hangers.get(i).map_or(0, Vec::len);
        if let (Some(w), Some(b)) = (width.get_mut(i), below.get_mut(i)) {
            *b = subtrees;
            *w = (subtrees + hanging).max(1);
        }
    }
    // Left column of every node, trees side by side, children side by side under their parent.
    let mut left = vec![0usize; count];
    let mut next_left = 0usize;
    for &root in &tree_roots {
        let mut stack = vec![(root, next_left)];
        while let Some((node, at)) = stack.pop() {
            if let Some(l) = left.get_mut(node) {
                *l = at;
            }
            let mut offset = at;
            for &c in children.get(node).into_iter().flatten() {
                stack.push((c, offset));
                offset += width.get(c).copied().unwrap_or(1);
            }
        }
        next_left += width.get(root).copied().unwrap_or(1);
    }
    for (i, node) in one_line.nodes.iter_mut().enumerate() {
        let (l, w, d) =
            (left.get(i).copied().unwrap_or(0), width.get(i).copied().unwrap_or(1), depth.get(i).copied().flatten().unwrap_or(0));
        let y = columns(d) * ROW;
        // A busbar, or a node spanning several columns, is a bar; a one-column node a point.
        node.points = if node.busbar || w > 1 {
            vec![DiagramPoint { x: columns(l) * COLUMN + 10.0, y }, DiagramPoint { x: columns(l + w) * COLUMN - 10.0, y }]
        } else {
            vec![DiagramPoint { x: (columns(l) + columns(w) / 2.0) * COLUMN, y }]
        };
    }
    let anchor = |node: &DiagramNode, towards_x: f64| -> DiagramPoint {
        match node.points.as_slice() {
            [a, b] => DiagramPoint { x: towards_x.clamp(a.x, b.x), y: a.y },
            [a, ..] => *a,
            [] => DiagramPoint { x: 0.0, y: 0.0 },
        }
    };
    let centre = |node: &DiagramNode| -> f64 {
        match node.points.as_slice() {
            [a, b] => (a.x + b.x) / 2.0,
            [a, ..] => a.x,
            [] => 0.0,
        }
    };
    let nodes = &one_line.nodes;
    for (e, equipment) in one_line.equipment.iter_mut().enumerate() {
        let on: Vec<&DiagramNode> = equipment.nodes.iter().filter_map(|n| index.get(n).and_then(|&i| nodes.get(i))).collect();
        match on.as_slice() {
            [] => {}
            [node] if equipment.kind == EquipmentKind::BusbarSection => equipment.points = node.points.clone(),
            [node] => {
                // Hanging below its node, one column each after the subtrees' columns, in
                // equipment id order: no edge to a child crosses it.
                let i = index.get(&node.id).copied().unwrap_or(0);
                let k = hangers.get(i).and_then(|h| h.iter().position(|&x| x == e)).unwrap_or(0);
                let l = left.get(i).copied().unwrap_or(0) + below.get(i).copied().unwrap_or(0);
                let x = (columns(l + k) + 0.5) * COLUMN;
                let from = anchor(node, x);
                let at = DiagramPoint { x, y: from.y + ROW / 2.0 };
                equipment.points = vec![at];
                equipment.connectors = vec![[from, at]];
            }
            [first, rest @ ..] => {
                // From the upper node down to the others, each end at the other's column.
                let xs: Vec<f64> = on.iter().map(|n| centre(n)).collect();
                let mut points = vec![anchor(first, xs.get(1).copied().unwrap_or(0.0))];
                points.extend(rest.iter().map(|n| anchor(n, xs.first().copied().unwrap_or(0.0))));
                points.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
                equipment.points = points;
            }
        }
    }
    one_line.layout = LayoutSource::Automatic;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NodeClass, NodeInfo, TerminalInfo};

    fn equipment(id: &str, kind: &str, source_type: &str, nodes: &[&str], normal_open: Option<bool>) -> EquipmentNode {
        EquipmentNode {
            id: id.to_owned(),
            name: id.to_owned(),
            kind: kind.to_owned(),
            source_type: source_type.to_owned(),
            mrid: Some(id.to_owned()),
            scl_path: None,
            terminals: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| TerminalInfo {
                    mrid: format!("{id}-t{i}"),
                    name: None,
                    sequence_number: i64::try_from(i + 1).ok(),
                    node: Some((*n).to_owned()),
                })
                .collect(),
            measurements: Vec::new(),
            points: Vec::new(),
            normal_open,
        }
    }

    fn node(id: &str, kv: f64, busbar: bool) -> NodeInfo {
        NodeInfo { id: id.to_owned(), name: None, class: NodeClass::ConnectivityNode, container: None, nominal_kv: Some(kv), busbar }
    }

    /// Grid infeed on the 110 kV busbar, a transformer to the 20 kV busbar, two feeders each
    /// behind a breaker: feeder 1 a line to a load, feeder 2 a disconnector and a load.
    fn feeder_model() -> GridModel {
        GridModel {
            nodes: vec![
                node("HV", 110.0, true),
                node("MV", 20.0, true),
                node("F1a", 20.0, false),
                node("F1b", 20.0, false),
                node("F2a", 20.0, false),
                node("F2b", 20.0, false),
            ],
            uncontained: vec![
                equipment("grid", "ExternalNetworkInjection", "cim:ExternalNetworkInjection", &["HV"], None),
                equipment("bbHV", "BusbarSection", "cim:BusbarSection", &["HV"], None),
                equipment("bbMV", "BusbarSection", "cim:BusbarSection", &["MV"], None),
                equipment("T1", "PowerTransformer", "cim:PowerTransformer", &["HV", "MV"], None),
                equipment("Q1", "Breaker", "cim:Breaker", &["MV", "F1a"], Some(false)),
                equipment("L1", "Line", "cim:ACLineSegment", &["F1a", "F1b"], None),
                equipment("load1", "Load", "cim:EnergyConsumer", &["F1b"], None),
                equipment("Q2", "Breaker", "cim:Breaker", &["MV", "F2a"], Some(false)),
                equipment("D2", "Disconnector", "cim:Disconnector", &["F2a", "F2b"], Some(true)),
                equipment("load2", "Load", "cim:EnergyConsumer", &["F2b"], None),
            ],
            ..GridModel::default()
        }
    }

    fn set<const N: usize>(ids: [&str; N]) -> BTreeSet<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn opening_a_breaker_de_energises_what_is_downstream_and_nothing_else() {
        let one_line = OneLine::of(&feeder_model());
        let normal = |e: &DiagramEquipment| e.normal_open == Some(true);
        let all_closed = energise(&one_line, |_| false);
        assert_eq!(all_closed.nodes, set(["F1a", "F1b", "F2a", "F2b", "HV", "MV"]));
        let as_modelled = energise(&one_line, normal);
        assert_eq!(as_modelled.nodes, set(["F1a", "F1b", "F2a", "HV", "MV"]), "D2 is normally open");
        let q1_open = energise(&one_line, |e| e.id == "Q1" || normal(e));
        assert_eq!(q1_open.nodes, set(["F2a", "HV", "MV"]));
        let load1 = one_line.equipment.iter().find(|e| e.id == "load1").unwrap();
        let q1 = one_line.equipment.iter().find(|e| e.id == "Q1").unwrap();
        assert!(!q1_open.equipment(load1) && q1_open.equipment(q1), "the open breaker is live on its busbar side");
        // An open transformer is no switch: only switches cut the walk.
        assert_eq!(energise(&one_line, |e| e.id == "T1").nodes, all_closed.nodes);
    }

    #[test]
    fn an_inverter_behind_an_open_breaker_does_not_keep_its_feeder_energised() {
        let mut model = feeder_model();
        model.uncontained.push(equipment("pv", "Inverter", "cim:SynchronousMachine", &["F1b"], None));
        let one_line = OneLine::of(&model);
        assert_eq!(energise(&one_line, |e| e.id == "Q1").nodes, set(["F2a", "F2b", "HV", "MV"]));
        // A machine that can form a grid does keep its island energised.
        model.uncontained.push(equipment("genset", "Generator", "cim:SynchronousMachine", &["F1b"], None));
        assert_eq!(energise(&OneLine::of(&model), |e| e.id == "Q1").nodes, set(["F1a", "F1b", "F2a", "F2b", "HV", "MV"]));
    }

    #[test]
    fn without_sources_the_walk_starts_at_the_highest_voltage_busbars() {
        let mut model = feeder_model();
        model.uncontained.retain(|e| e.id != "grid");
        let one_line = OneLine::of(&model);
        assert_eq!(source_nodes(&one_line), set(["HV"]));
        assert_eq!(energise(&one_line, |e| e.id == "Q2").nodes, set(["F1a", "F1b", "HV", "MV"]));
        // No busbars either: the nodes of the highest voltage.
        for n in &mut model.nodes {
            n.busbar = false;
        }
        assert_eq!(source_nodes(&OneLine::of(&model)), set(["HV"]));
    }

    fn overlaps(a: &DiagramNode, b: &DiagramNode) -> bool {
        let span = |n: &DiagramNode| {
            let xs = n.points.iter().map(|p| p.x);
            (xs.clone().fold(f64::INFINITY, f64::min), xs.fold(f64::NEG_INFINITY, f64::max), n.points.first().map_or(0.0, |p| p.y))
        };
        let ((a0, a1, ay), (b0, b1, by)) = (span(a), span(b));
        (ay - by).abs() < 1e-9 && a0 <= b1 && b0 <= a1
    }

    #[test]
    fn automatic_layout_is_deterministic_tree_shaped_and_busbars_do_not_overlap() {
        let model = feeder_model();
        let one_line = OneLine::of(&model);
        assert_eq!(one_line.layout, LayoutSource::Automatic);
        assert_eq!(OneLine::of(&model), one_line, "the same model gives the same drawing");
        let mut shuffled = model.clone();
        shuffled.uncontained.reverse();
        shuffled.nodes.reverse();
        let again = OneLine::of(&shuffled);
        let position = |o: &OneLine, id: &str| o.nodes.iter().find(|n| n.id == id).unwrap().points.clone();
        for n in &one_line.nodes {
            assert_eq!(position(&again, &n.id), n.points, "node {} moved when the input order changed", n.id);
        }
        // The source's busbar on top, then the transformer's other side, then the feeders.
        let y = |id: &str| position(&one_line, id)[0].y;
        assert!(y("HV") < y("MV") && y("MV") < y("F1a") && y("F1a") < y("F1b"));
        assert_eq!(y("F1a"), y("F2a"));
        // Busbars are lines spanning what hangs below them; no two nodes of a row overlap.
        let mv = position(&one_line, "MV");
        assert_eq!(mv.len(), 2);
        assert!(mv[1].x - mv[0].x > COLUMN, "the MV busbar spans both feeders");
        for (i, a) in one_line.nodes.iter().enumerate() {
            for b in one_line.nodes.iter().skip(i + 1) {
                assert!(!overlaps(a, b), "{} and {} overlap", a.id, b.id);
            }
        }
        // Every drawn equipment has coordinates; single-terminal ones a connector to their node.
        for e in &one_line.equipment {
            assert!(!e.points.is_empty(), "{} has no position", e.id);
        }
        let load = one_line.equipment.iter().find(|e| e.id == "load1").unwrap();
        assert_eq!(load.connectors.len(), 1);
    }

    #[test]
    fn many_busbars_in_one_row_never_overlap() {
        let mut model = GridModel::default();
        model.nodes.push(node("S", 110.0, true));
        model.uncontained.push(equipment("grid", "ExternalNetworkInjection", "cim:ExternalNetworkInjection", &["S"], None));
        for i in 0..7 {
            let bus = format!("B{i}");
            model.nodes.push(node(&bus, 20.0, true));
            model.uncontained.push(equipment(&format!("T{i}"), "PowerTransformer", "cim:PowerTransformer", &["S", &bus], None));
            for j in 0..i {
                let feeder = format!("B{i}F{j}");
                model.nodes.push(node(&feeder, 20.0, false));
                model.uncontained.push(equipment(&format!("Q{i}{j}"), "Breaker", "cim:Breaker", &[&bus, &feeder], None));
                model.uncontained.push(equipment(&format!("L{i}{j}"), "Load", "cim:EnergyConsumer", &[&feeder], None));
            }
        }
        let one_line = OneLine::of(&model);
        let busbars: Vec<&DiagramNode> = one_line.nodes.iter().filter(|n| n.busbar && n.id != "S").collect();
        assert_eq!(busbars.len(), 7);
        for (i, a) in busbars.iter().enumerate() {
            for b in busbars.iter().skip(i + 1) {
                assert!(!overlaps(a, b), "{} and {} overlap", a.id, b.id);
            }
        }
    }

    #[test]
    fn dl_positions_are_used_when_the_model_has_them() {
        let mut model = feeder_model();
        let place = |object: &str, diagram: &str, points: &[(f64, f64)]| DiagramPlacement {
            object: object.to_owned(),
            diagram: diagram.to_owned(),
            diagram_name: Some(format!("diagram {diagram}")),
            y_down: diagram != "up",
            rotation_deg: Some(90.0),
            points: points.iter().map(|&(x, y)| DiagramPoint { x, y }).collect(),
        };
        model.diagram = vec![
            place("MV", "d1", &[(0.0, 10.0), (100.0, 10.0)]),
            place("Q1", "d1", &[(20.0, 30.0)]),
            place("F1a", "d1", &[(20.0, 50.0)]),
            place("Q1", "up", &[(1.0, 1.0)]),
        ];
        let one_line = OneLine::of(&model);
        assert_eq!(one_line.layout, LayoutSource::DiagramLayout { diagram: "d1".into(), name: Some("diagram d1".into()) });
        let q1 = one_line.equipment.iter().find(|e| e.id == "Q1").unwrap();
        assert_eq!(q1.points, [DiagramPoint { x: 20.0, y: 30.0 }]);
        assert_eq!(q1.rotation_deg, Some(90.0));
        // Connectors from the breaker to the busbar (straight up) and to its feeder node.
        assert_eq!(
            q1.connectors,
            [
                [DiagramPoint { x: 20.0, y: 30.0 }, DiagramPoint { x: 20.0, y: 10.0 }],
                [DiagramPoint { x: 20.0, y: 30.0 }, DiagramPoint { x: 20.0, y: 50.0 }]
            ]
        );
        // Not on the diagram: no position, so not drawn.
        assert!(one_line.equipment.iter().find(|e| e.id == "L1").unwrap().points.is_empty());
        // A diagram whose y grows upwards is flipped to screen orientation.
        model.diagram.retain(|p| p.diagram == "up");
        let up = OneLine::of(&model);
        assert_eq!(up.equipment.iter().find(|e| e.id == "Q1").unwrap().points, [DiagramPoint { x: 1.0, y: -1.0 }]);
    }
}
