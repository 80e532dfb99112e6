//! From a CGMES model (EQ, TP, SSH, and SV for the tap positions and the comparison) to a
//! per-unit [`Network`].
//!
//! What each object becomes:
//!
//! - **Buses** are TopologicalNodes (TP). Closed retained switches between two nodes merge them
//!   (a switch has no impedance); open switches are left out. A bus's base voltage is its node's
//!   BaseVoltage, else the BaseVoltage of equipment (or transformer end) at the node.
//! - **Lines**: ACLineSegment `r`, `x`, `bch`, `gch` (Ω and S) as a π branch, half the shunt at
//!   each end, in per unit of the `to` bus's base (with the ratio of the two bases if they differ).
//! - **Transformers**: a two-winding transformer is one branch whose ideal ratio is
//!   `(U₁·t₁/Ub₁) / (U₂·t₂/Ub₂)` from the ends' ratedU, the buses' base voltages and the complex tap
//!   factors `t` (RatioTapChanger: `1 + Δstep·stepVoltageIncrement`; PhaseTapChangerAsymmetrical:
//!   `1 + Δstep·voltageStepIncrement·e^{j windingConnectionAngle}`; Symmetrical and Linear: a pure
//!   angle); both ends' `r`, `x` (and `g`, `b`) are referred to the non-tapped side, whose end is
//!   the branch's `to`; the magnetising `g`, `b` sit between the ideal ratio and the impedance
//!   (of the placements tried, the one closest to the MicroGrid SV profiles). A three-winding transformer is a star: an internal bus at the ratedU of
//!   end 1 named by the transformer's mRID, one such branch per winding. The tap step is the
//!   solved `SvTapStep.position` where SV gives one (taps are not regulated here, and SV is the
//!   state the model was exchanged in), else the SSH `TapChanger.step`.
//! - **Injections** (load sign convention in SSH, turned into injections): EnergyConsumer and its
//!   subclasses, SynchronousMachine, ExternalNetworkInjection, EquivalentInjection `p`, `q`.
//! - **Shunts**: LinearShuntCompensator `sections · (gPerSection + j bPerSection)` at the bus's base.
//! - **Voltage control**: a SynchronousMachine or ExternalNetworkInjection with
//!   `RegulatingCondEq.controlEnabled` whose RegulatingControl (mode voltage) is enabled, or an
//!   EquivalentInjection with `regulationStatus`, makes its bus PV at `targetValue` (kV) divided
//!   by the regulated node's base voltage; when the regulated node is another bus, that bus's
//!   voltage is held instead (see [`crate::Bus::regulates`]).
//! - **Slack**, one per island: among the island's voltage-controlling sources, those that
//!   regulate their own node first (a slack fixes its own voltage; a remote regulator chosen for
//!   lack of a local one holds its own bus at the target in per unit), then the largest rating
//!   (SynchronousMachine ratedS, ExternalNetworkInjection |maxP|, EquivalentInjection 0), then the
//!   mRID. The largest machine is the one best able to absorb the losses, and the choice is
//!   reproducible. Angles are relative to it (see [`compare_with_sv`] for the SV reference).
//! - **Islands** without any voltage-controlling source are de-energised: dropped from the network
//!   and listed in [`Built::deenergised`].
//!
//! Out of service equipment (`Equipment.inService` false) and equipment with a disconnected
//! terminal (`ACDCTerminal.connected` false) are left out. The classes [`gridtrust_cgmes::CgmesModel`]
//! does not type (tap changers, regulating controls, shunts, equivalent and external injections,
//! transformer end `g`/`b`, SV values) are read from the same graph by [`Untyped`]. CGMES 2.4.15
//! property names only; tabular and non-linear shunt and phase-shifter models are errors.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use gridtrust_cgmes::rdfxml::Value;
use gridtrust_cgmes::{CgmesModel, CgmesObject, Importer, PowerTransformerEnd, RdfGraph, Terminal};

use crate::complex::C64;
use crate::error::GridError;
use crate::network::{Branch, Bus, BusKind, Network, components};
use crate::powerflow::Solution;

/// System base power.
pub const BASE_MVA: f64 = 100.0;

/// Classes the builder needs that the typed model does not carry (or not with these properties).
const UNTYPED_CLASSES: [&str; 14] = [
    "cim:RatioTapChanger",
    "cim:PhaseTapChangerAsymmetrical",
    "cim:PhaseTapChangerSymmetrical",
    "cim:PhaseTapChangerLinear",
    "cim:PhaseTapChangerTabular",
    "cim:SvTapStep",
    "cim:SvVoltage",
    "cim:RegulatingControl",
    "cim:LinearShuntCompensator",
    "cim:NonlinearShuntCompensator",
    "cim:EquivalentInjection",
    "cim:ExternalNetworkInjection",
    "cim:SynchronousMachine",
    "cim:PowerTransformerEnd",
];

/// The properties of the objects of the classes the builder needs beyond the typed model (tap
/// changers, SvTapStep, SvVoltage, regulating controls, shunt compensators, equivalent and external
/// injections, and SynchronousMachine and PowerTransformerEnd for their untyped properties), later
/// files overriding earlier ones.
#[derive(Debug, Clone, Default)]
pub struct Untyped {
    objects: BTreeMap<String, (String, HashMap<String, Value>)>,
}

impl Untyped {
    /// Collects the untyped classes from the merged graph (before it becomes a [`CgmesModel`]).
    pub fn from_graph(graph: &RdfGraph) -> Self {
        let names = graph.names();
        let objects = graph
            .objects()
            .iter()
            .filter(|o| UNTYPED_CLASSES.contains(&names.name(o.class)))
            .map(|o| {
                let props = o.statements.iter().map(|s| (names.name(s.predicate).to_owned(), s.value.clone())).collect();
                (o.mrid.to_string(), (names.name(o.class).to_owned(), props))
            })
            .collect();
        Self { objects }
    }

    fn of_class<'a>(&'a self, class: &'a str) -> impl Iterator<Item = (&'a str, &'a HashMap<String, Value>)> + 'a {
        self.objects.iter().filter(move |(_, (c, _))| c == class).map(|(m, (_, p))| (m.as_str(), p))
    }

    fn props(&self, mrid: &str) -> Option<&HashMap<String, Value>> {
        self.objects.get(mrid).map(|(_, p)| p)
    }

    /// The ratio tap changers on the ends of a power transformer: what an operator or a
    /// simulator moves.
    pub fn ratio_tap_changers(&self, model: &CgmesModel, transformer: &str) -> Vec<TapChanger> {
        let Some(t) = model.power_transformers.iter().find(|t| t.equipment.identity.mrid == transformer) else { return Vec::new() };
        let ends: Vec<&str> = model.ends_of(t).iter().map(|e| e.identity.mrid.as_str()).collect();
        let step = |p: &HashMap<String, Value>, name: &str| float(p, name).map(|x| x.round() as i64);
        self.of_class("cim:RatioTapChanger")
            .filter(|(_, p)| reference(p, "cim:RatioTapChanger.TransformerEnd").is_some_and(|e| ends.contains(&e)))
            .filter_map(|(mrid, p)| {
                Some(TapChanger {
                    mrid: mrid.to_owned(),
                    low: step(p, "cim:TapChanger.lowStep")?,
                    high: step(p, "cim:TapChanger.highStep")?,
                    step: step(p, "cim:TapChanger.step")?,
                })
            })
            .collect()
    }

    /// Moves a ratio tap changer to `step` (an operating change, as a new SSH would make), within
    /// its range. A solved `SvTapStep` of it is dropped: it described the state before the move.
    pub fn set_tap_step(&mut self, tap_changer: &str, step: i64) -> Result<(), GridError> {
        let invalid = |what| GridError::InvalidValue { id: tap_changer.to_owned(), what, value: step as f64 };
        let Some((class, props)) = self.objects.get_mut(tap_changer) else { return Err(invalid("tap changer mRID")) };
        if class != "cim:RatioTapChanger" {
            return Err(invalid("tap changer mRID"));
        }
        let bound = |p: &HashMap<String, Value>, name| float(p, name).map(|x| x.round() as i64);
        let (low, high) = (bound(props, "cim:TapChanger.lowStep"), bound(props, "cim:TapChanger.highStep"));
        if low.is_none_or(|l| step < l) || high.is_none_or(|h| step > h) {
            return Err(invalid("tap step (outside lowStep..highStep)"));
        }
        props.insert("cim:TapChanger.step".to_owned(), Value::Literal(step.to_string()));
        self.objects.retain(|_, (c, p)| !(c == "cim:SvTapStep" && reference(p, "cim:SvTapStep.TapChanger") == Some(tap_changer)));
        Ok(())
    }
}

/// A ratio tap changer's range and current step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapChanger {
    /// Its mRID.
    pub mrid: String,
    /// `TapChanger.lowStep`.
    pub low: i64,
    /// `TapChanger.highStep`.
    pub high: i64,
    /// `TapChanger.step` (SSH).
    pub step: i64,
}

fn literal<'a>(props: &'a HashMap<String, Value>, name: &str) -> Option<&'a str> {
    match props.get(name)? {
        Value::Literal(text) => Some(text.trim()),
        _ => None,
    }
}

fn float(props: &HashMap<String, Value>, name: &str) -> Option<f64> {
    literal(props, name)?.parse().ok().filter(|x: &f64| x.is_finite())
}

fn boolean(props: &HashMap<String, Value>, name: &str) -> Option<bool> {
    literal(props, name)?.parse().ok()
}

fn reference<'a>(props: &'a HashMap<String, Value>, name: &str) -> Option<&'a str> {
    match props.get(name)? {
        Value::Reference(mrid) => Some(mrid),
        _ => None,
    }
}

fn iri_ends_with(props: &HashMap<String, Value>, name: &str, suffix: &str) -> bool {
    matches!(props.get(name), Some(Value::Iri(iri)) if iri.ends_with(suffix))
}

/// Reads files, folders or zip archives into the typed model and the [`Untyped`] rest.
pub fn import<P: AsRef<Path>>(paths: &[P]) -> Result<(CgmesModel, Untyped), GridError> {
    let mut importer = Importer::new();
    for path in paths {
        importer = importer.add_path(path)?;
    }
    let graph = importer.finish_graph();
    let untyped = Untyped::from_graph(&graph);
    Ok((CgmesModel::from_graph(graph)?, untyped))
}

/// A network built from CGMES, with what is needed to map results back to the model.
#[derive(Debug, Clone)]
pub struct Built {
    /// The energised network.
    pub network: Network,
    /// Bus index per TopologicalNode mRID (several nodes may share a bus).
    pub bus_of_node: BTreeMap<String, usize>,
    /// The equipment chosen as slack, one per island.
    pub slack_equipment: Vec<String>,
    /// De-energised islands (no voltage-controlling source), as their TopologicalNode mRIDs.
    pub deenergised: Vec<Vec<String>>,
}

/// A voltage-controlling source: candidate PV or slack.
struct Source {
    equipment: String,
    node: String,
    rating: f64,
    target_kv: f64,
    regulated_node: String,
}

/// One side of a transformer leg (see the module doc).
struct Side {
    node: String,
    rated_kv: f64,
    tap: C64,
    z_ohm: C64,
    y_siemens: C64,
}

struct Builder<'a> {
    model: &'a CgmesModel,
    untyped: &'a Untyped,
    node_of_terminal: HashMap<&'a str, &'a str>,
    base_kv_of_node: HashMap<String, f64>,
}

/// Builds the per-unit network (see the module doc for the rules).
pub fn build(model: &CgmesModel, untyped: &Untyped) -> Result<Built, GridError> {
    let mut b = Builder { model, untyped, node_of_terminal: HashMap::new(), base_kv_of_node: HashMap::new() };
    b.index_terminals();
    b.assemble()
}

impl<'a> Builder<'a> {
    fn index_terminals(&mut self) {
        let cn_node: HashMap<&str, &str> = self
            .model
            .connectivity_nodes
            .iter()
            .filter_map(|cn| Some((cn.identity.mrid.as_str(), cn.topological_node.as_deref()?)))
            .collect();
        for t in &self.model.terminals {
            let node = t.topological_node.as_deref().or_else(|| t.connectivity_node.as_deref().and_then(|cn| cn_node.get(cn).copied()));
            if let Some(node) = node {
                self.node_of_terminal.insert(t.identity.mrid.as_str(), node);
            }
        }
        let kv = |bv: Option<&str>| match bv.and_then(|m| self.model.get(m)) {
            Some(CgmesObject::BaseVoltage(b)) => b.nominal_kv.filter(|v| *v > 0.0),
            _ => None,
        };
        for tn in &self.model.topological_nodes {
            if let Some(v) = kv(tn.base_voltage.as_deref()) {
                self.base_kv_of_node.insert(tn.identity.mrid.clone(), v);
            }
        }
        // Nodes not defined here (boundary nodes without TP_BD) take the base voltage of the
        // equipment at them.
        for end in &self.model.power_transformer_ends {
            if let (Some(node), Some(v)) =
                (end.terminal.as_deref().and_then(|t| self.node_of_terminal.get(t)), kv(end.base_voltage.as_deref()))
            {
                self.base_kv_of_node.entry((*node).to_owned()).or_insert(v);
            }
        }
        for e in self.model.all_equipment() {
            if let Some(v) = kv(e.base_voltage.as_deref()) {
                for t in self.model.terminals_of(&e.identity.mrid) {
                    if let Some(node) = self.node_of_terminal.get(t.identity.mrid.as_str()) {
                        self.base_kv_of_node.entry((*node).to_owned()).or_insert(v);
                    }
                }
            }
        }
    }

    /// The nodes of an in-service equipment's terminals, in sequence order; `None` if it is out
    /// of service or a terminal is disconnected or has no node.
    fn nodes_of(&self, mrid: &str) -> Option<Vec<&'a str>> {
        if self.model.equipment(mrid).is_some_and(|e| e.in_service == Some(false)) {
            return None;
        }
        let mut terminals: Vec<&Terminal> = self.model.terminals_of(mrid);
        terminals.sort_by_key(|t| t.sequence_number.unwrap_or(i64::MAX));
        terminals.iter().map(|t| self.terminal_node(t)).collect()
    }

    fn terminal_node(&self, t: &Terminal) -> Option<&'a str> {
        if t.connected == Some(false) {
            return None;
        }
        self.node_of_terminal.get(t.identity.mrid.as_str()).copied()
    }

    fn base_kv(&self, node: &str) -> Result<f64, GridError> {
        self.base_kv_of_node.get(node).copied().ok_or_else(|| GridError::MissingData {
            class: "TopologicalNode",
            mrid: node.to_owned(),
            what: "base voltage",
        })
    }

    fn assemble(&self) -> Result<Built, GridError> {
        let mut nodes: Vec<String> = self.node_of_terminal.values().map(|n| (*n).to_owned()).collect();
        nodes.sort();
        nodes.dedup();
        let node_index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let mut closed = Vec::new();
        for switch in &self.model.switches {
            let open = switch.open.or(switch.normal_open).unwrap_or(false);
            if let (false, Some([a, b])) = (open, self.nodes_of(&switch.equipment.identity.mrid).as_deref()) {
                closed.push((node_index[a], node_index[b]));
            }
        }
        // One bus per group of nodes joined by closed switches, named by its first node.
        let mut bus_of_node = BTreeMap::new();
        let mut buses = Vec::new();
        for group in components(nodes.len(), closed) {
            let name = &nodes[group[0]];
            for &i in &group {
                bus_of_node.insert(nodes[i].clone(), buses.len());
            }
            buses.push(Bus::pq(name.clone(), self.base_kv(name)?));
        }
        let mut branches = Vec::new();
        self.add_lines(&bus_of_node, &mut branches)?;
        self.add_transformers(&mut bus_of_node, &mut buses, &mut branches)?;
        let sources = self.add_injections(&bus_of_node, &mut buses)?;
        self.finish(buses, branches, bus_of_node, sources)
    }

    fn add_lines(&self, bus_of_node: &BTreeMap<String, usize>, branches: &mut Vec<Branch>) -> Result<(), GridError> {
        for line in &self.model.ac_line_segments {
            let mrid = &line.equipment.identity.mrid;
            let Some([a, b]) = self.nodes_of(mrid).as_deref().and_then(|n| <[&str; 2]>::try_from(n).ok()) else { continue };
            let missing = |what| GridError::MissingData { class: "ACLineSegment", mrid: mrid.clone(), what };
            let r = line.r.ok_or_else(|| missing("r"))?;
            let x = line.x.ok_or_else(|| missing("x"))?;
            // In per unit of the `to` bus; where the two nodes have different base voltages (a
            // boundary node whose BaseVoltage is the boundary's, e.g. 380 kV against 400 kV), the
            // ratio of the bases keeps the physical voltages equal at no load.
            let (vb_from, vb_to) = (self.base_kv(a)?, self.base_kv(b)?);
            let z_base = vb_to * vb_to / BASE_MVA;
            let y = C64::new(line.gch.unwrap_or(0.0), line.bch.unwrap_or(0.0)).scale(z_base);
            let mut branch = Branch::line(mrid.clone(), bus_of_node[a], bus_of_node[b], C64::new(r, x).scale(1.0 / z_base), y);
            branch.ratio = vb_to / vb_from;
            branches.push(branch);
        }
        Ok(())
    }

    fn add_transformers(
        &self,
        bus_of_node: &mut BTreeMap<String, usize>,
        buses: &mut Vec<Bus>,
        branches: &mut Vec<Branch>,
    ) -> Result<(), GridError> {
        for transformer in &self.model.power_transformers {
            let mrid = &transformer.equipment.identity.mrid;
            if transformer.equipment.in_service == Some(false) {
                continue;
            }
            let mut ends = self.model.ends_of(transformer);
            ends.sort_by_key(|e| e.end_number.unwrap_or(i64::MAX));
            let mut sides = Vec::new();
            for end in &ends {
                let Some(side) = self.side(end)? else { break };
                sides.push(side);
            }
            if sides.len() < ends.len() {
                continue; // a disconnected end: the transformer is out
            }
            match sides.as_slice() {
                [one, two] => {
                    // The tapped side is `from`, so the ideal transformer sits where the tap is.
                    let (from, to) = if two.tap != C64::new(1.0, 0.0) && one.tap == C64::new(1.0, 0.0) { (two, one) } else { (one, two) };
                    branches.push(self.leg(mrid.clone(), (from, self.base_kv(&from.node)?), (to, self.base_kv(&to.node)?), bus_of_node)?);
                }
                [first, _, _] => {
                    let star = buses.len();
                    buses.push(Bus::pq(mrid.clone(), first.rated_kv));
                    bus_of_node.insert(mrid.clone(), star);
                    let point = Side {
                        node: mrid.clone(),
                        rated_kv: first.rated_kv,
                        tap: C64::new(1.0, 0.0),
                        z_ohm: C64::default(),
                        y_siemens: C64::default(),
                    };
                    for (k, side) in sides.iter().enumerate() {
                        branches.push(self.leg(
                            format!("{mrid}#{}", k + 1),
                            (side, self.base_kv(&side.node)?),
                            (&point, first.rated_kv),
                            bus_of_node,
                        )?);
                    }
                }
                _ => return Err(GridError::Unsupported { class: "PowerTransformer", mrid: mrid.clone(), what: "other than 2 or 3 ends" }),
            }
        }
        Ok(())
    }

    fn side(&self, end: &PowerTransformerEnd) -> Result<Option<Side>, GridError> {
        let mrid = &end.identity.mrid;
        let missing = |what| GridError::MissingData { class: "PowerTransformerEnd", mrid: mrid.clone(), what };
        let terminal = match end.terminal.as_deref().map(|t| self.model.get(t)) {
            Some(Some(CgmesObject::Terminal(t))) => t,
            _ => return Err(missing("terminal")),
        };
        let Some(node) = self.terminal_node(terminal) else { return Ok(None) };
        let props = self.untyped.props(mrid);
        let g = props.and_then(|p| float(p, "cim:PowerTransformerEnd.g")).unwrap_or(0.0);
        let b = props.and_then(|p| float(p, "cim:PowerTransformerEnd.b")).unwrap_or(0.0);
        Ok(Some(Side {
            node: node.to_owned(),
            rated_kv: end.rated_u_kv.filter(|u| *u > 0.0).ok_or_else(|| missing("ratedU"))?,
            tap: self.tap_factor(mrid)?,
            z_ohm: C64::new(end.r.unwrap_or(0.0), end.x.unwrap_or(0.0)),
            y_siemens: C64::new(g, b),
        }))
    }

    /// The product of the complex factors of the tap changers on one transformer end.
    fn tap_factor(&self, end: &str) -> Result<C64, GridError> {
        let mut factor = C64::new(1.0, 0.0);
        let classes = [
            ("cim:RatioTapChanger", "cim:RatioTapChanger.TransformerEnd"),
            ("cim:PhaseTapChangerAsymmetrical", "cim:PhaseTapChanger.TransformerEnd"),
            ("cim:PhaseTapChangerSymmetrical", "cim:PhaseTapChanger.TransformerEnd"),
            ("cim:PhaseTapChangerLinear", "cim:PhaseTapChanger.TransformerEnd"),
            ("cim:PhaseTapChangerTabular", "cim:PhaseTapChanger.TransformerEnd"),
        ];
        for (class, link) in classes {
            for (mrid, p) in self.untyped.of_class(class).filter(|(_, p)| reference(p, link) == Some(end)) {
                let missing = |what| GridError::MissingData { class: "TapChanger", mrid: mrid.to_owned(), what };
                let solved = self.untyped.of_class("cim:SvTapStep").find(|(_, s)| reference(s, "cim:SvTapStep.TapChanger") == Some(mrid));
                let step = solved
                    .and_then(|(_, s)| float(s, "cim:SvTapStep.position"))
                    .or_else(|| float(p, "cim:TapChanger.step"))
                    .ok_or_else(|| missing("step"))?;
                let delta = step - float(p, "cim:TapChanger.neutralStep").ok_or_else(|| missing("neutralStep"))?;
                let per_step = |name| float(p, name).ok_or_else(|| missing("step increment"));
                factor = factor
                    * match class {
                        "cim:RatioTapChanger" => C64::new(1.0 + delta * per_step("cim:RatioTapChanger.stepVoltageIncrement")? / 100.0, 0.0),
                        "cim:PhaseTapChangerAsymmetrical" => {
                            let u = delta * per_step("cim:PhaseTapChangerNonLinear.voltageStepIncrement")? / 100.0;
                            let angle = float(p, "cim:PhaseTapChangerAsymmetrical.windingConnectionAngle")
                                .ok_or_else(|| missing("windingConnectionAngle"))?;
                            C64::new(1.0, 0.0) + C64::polar(u, angle.to_radians())
                        }
                        "cim:PhaseTapChangerSymmetrical" => {
                            let u = delta * per_step("cim:PhaseTapChangerNonLinear.voltageStepIncrement")? / 100.0;
                            C64::polar(1.0, 2.0 * (u / 2.0).atan())
                        }
                        "cim:PhaseTapChangerLinear" => {
                            C64::polar(1.0, (delta * per_step("cim:PhaseTapChangerLinear.stepPhaseShiftIncrement")?).to_radians())
                        }
                        _ => {
                            return Err(GridError::Unsupported {
                                class: "PhaseTapChangerTabular",
                                mrid: mrid.to_owned(),
                                what: "tabular tap changers",
                            });
                        }
                    };
            }
        }
        Ok(factor)
    }

    /// A branch from one transformer side to another (each with its bus's base kV), impedances
    /// referred to the `to` side.
    fn leg(
        &self,
        id: String,
        (from, vb_from): (&Side, f64),
        (to, vb_to): (&Side, f64),
        bus_of_node: &BTreeMap<String, usize>,
    ) -> Result<Branch, GridError> {
        let n = C64::new(from.rated_kv / vb_from, 0.0) * from.tap / (C64::new(to.rated_kv / vb_to, 0.0) * to.tap);
        let refer = (to.rated_kv / from.rated_kv).powi(2);
        let z_ohm = from.z_ohm.scale(refer) + to.z_ohm;
        let z_base = vb_to * vb_to / BASE_MVA;
        let (Some(&f), Some(&t)) = (bus_of_node.get(&from.node), bus_of_node.get(&to.node)) else {
            return Err(GridError::MissingData { class: "PowerTransformer", mrid: id, what: "bus of an end" });
        };
        Ok(Branch {
            id,
            from: f,
            to: t,
            z: z_ohm.scale(1.0 / z_base),
            y_from: (from.y_siemens.scale(1.0 / refer) + to.y_siemens).scale(z_base),
            y_to: C64::default(),
            ratio: n.abs(),
            shift: n.arg(),
        })
    }

    /// Adds loads, generation and shunts to the buses; returns the voltage-controlling sources.
    fn add_injections(&self, bus_of_node: &BTreeMap<String, usize>, buses: &mut [Bus]) -> Result<Vec<Source>, GridError> {
        let mut add = |node: &str, p: f64, q: f64| {
            if let Some(bus) = bus_of_node.get(node).and_then(|&i| buses.get_mut(i)) {
                bus.p -= p / BASE_MVA;
                bus.q -= q / BASE_MVA;
            }
        };
        let one_node = |mrid: &str| self.nodes_of(mrid).and_then(|n| n.first().copied());
        let mut sources = Vec::new();
        for load in &self.model.loads {
            if let Some(node) = one_node(&load.equipment.identity.mrid) {
                add(node, load.p_mw.unwrap_or(0.0), load.q_mvar.unwrap_or(0.0));
            }
        }
        for machine in &self.model.synchronous_machines {
            let mrid = &machine.equipment.identity.mrid;
            if let Some(node) = one_node(mrid) {
                add(node, machine.p_mw.unwrap_or(0.0), machine.q_mvar.unwrap_or(0.0));
                sources.extend(self.regulating(mrid, node, machine.rated_s_mva.unwrap_or(0.0)));
            }
        }
        for (mrid, p) in self.untyped.of_class("cim:ExternalNetworkInjection") {
            if let Some(node) = one_node(mrid) {
                add(
                    node,
                    float(p, "cim:ExternalNetworkInjection.p").unwrap_or(0.0),
                    float(p, "cim:ExternalNetworkInjection.q").unwrap_or(0.0),
                );
                sources.extend(self.regulating(mrid, node, float(p, "cim:ExternalNetworkInjection.maxP").unwrap_or(0.0).abs()));
            }
        }
        for (mrid, p) in self.untyped.of_class("cim:EquivalentInjection") {
            if let Some(node) = one_node(mrid) {
                add(node, float(p, "cim:EquivalentInjection.p").unwrap_or(0.0), float(p, "cim:EquivalentInjection.q").unwrap_or(0.0));
                let target = float(p, "cim:EquivalentInjection.regulationTarget").filter(|t| *t > 0.0);
                if let (Some(true), Some(target_kv)) = (boolean(p, "cim:EquivalentInjection.regulationStatus"), target) {
                    sources.push(Source {
                        equipment: mrid.to_owned(),
                        node: node.to_owned(),
                        rating: 0.0,
                        target_kv,
                        regulated_node: node.to_owned(),
                    });
                }
            }
        }
        if let Some((mrid, _)) = self.untyped.of_class("cim:NonlinearShuntCompensator").find(|(m, _)| one_node(m).is_some()) {
            return Err(GridError::Unsupported { class: "NonlinearShuntCompensator", mrid: mrid.to_owned(), what: "non-linear shunts" });
        }
        for (mrid, p) in self.untyped.of_class("cim:LinearShuntCompensator") {
            if let Some(node) = one_node(mrid) {
                let sections = float(p, "cim:ShuntCompensator.sections").ok_or_else(|| GridError::MissingData {
                    class: "LinearShuntCompensator",
                    mrid: mrid.to_owned(),
                    what: "sections",
                })?;
                let per_section = C64::new(
                    float(p, "cim:LinearShuntCompensator.gPerSection").unwrap_or(0.0),
                    float(p, "cim:LinearShuntCompensator.bPerSection").unwrap_or(0.0),
                );
                if let Some(bus) = bus_of_node.get(node).and_then(|&i| buses.get_mut(i)) {
                    bus.shunt += per_section.scale(sections * bus.base_kv * bus.base_kv / BASE_MVA);
                }
            }
        }
        Ok(sources)
    }

    /// The voltage source an equipment is, if it regulates voltage (see the module doc).
    fn regulating(&self, mrid: &str, node: &str, rating: f64) -> Option<Source> {
        let p = self.untyped.props(mrid)?;
        if boolean(p, "cim:RegulatingCondEq.controlEnabled") != Some(true) {
            return None;
        }
        let control = self.untyped.props(reference(p, "cim:RegulatingCondEq.RegulatingControl")?)?;
        if boolean(control, "cim:RegulatingControl.enabled") == Some(false)
            || !iri_ends_with(control, "cim:RegulatingControl.mode", ".voltage")
        {
            return None;
        }
        let target_kv = float(control, "cim:RegulatingControl.targetValue").filter(|t| *t > 0.0)?;
        let regulated_node = match reference(control, "cim:RegulatingControl.Terminal").and_then(|t| self.model.get(t)) {
            Some(CgmesObject::Terminal(t)) => self.terminal_node(t).unwrap_or(node),
            _ => node,
        };
        Some(Source { equipment: mrid.to_owned(), node: node.to_owned(), rating, target_kv, regulated_node: regulated_node.to_owned() })
    }

    /// Marks PV and slack buses, drops de-energised islands and renumbers.
    fn finish(
        &self,
        mut buses: Vec<Bus>,
        branches: Vec<Branch>,
        bus_of_node: BTreeMap<String, usize>,
        sources: Vec<Source>,
    ) -> Result<Built, GridError> {
        // (source, its bus, the bus it regulates)
        let mut placed = Vec::new();
        for source in &sources {
            if let (Some(&i), Some(&r)) = (bus_of_node.get(&source.node), bus_of_node.get(&source.regulated_node)) {
                placed.push((source, i, r));
            }
        }
        // Slack candidates first: local regulation (a slack fixes its own bus's voltage), then
        // the largest rating, then the mRID.
        placed.sort_by(|a, b| {
            (a.1 != a.2).cmp(&(b.1 != b.2)).then(b.0.rating.total_cmp(&a.0.rating)).then_with(|| a.0.equipment.cmp(&b.0.equipment))
        });
        let mut keep = vec![false; buses.len()];
        let mut slack_equipment = Vec::new();
        let mut deenergised = Vec::new();
        for island in components(buses.len(), branches.iter().map(|b| (b.from, b.to))) {
            match placed.iter().find(|(_, i, _)| island.contains(i)) {
                Some((source, i, r)) => {
                    buses[*i].kind = BusKind::Slack;
                    buses[*i].v_set = source.target_kv / buses[*r].base_kv;
                    slack_equipment.push(source.equipment.clone());
                    for &k in &island {
                        keep[k] = true;
                    }
                }
                None => {
                    let names: Vec<String> = bus_of_node.iter().filter(|(_, b)| island.contains(b)).map(|(n, _)| n.clone()).collect();
                    deenergised.push(names);
                }
            }
        }
        // The other sources: PV at their own bus, or holding a remote PQ bus nobody else holds.
        let mut held = vec![false; buses.len()];
        for (source, i, r) in &placed {
            if buses[*i].kind != BusKind::Pq || held[*r] || (i != r && buses[*r].kind != BusKind::Pq) {
                continue;
            }
            held[*r] = true;
            buses[*i].kind = BusKind::Pv;
            buses[*i].v_set = source.target_kv / buses[*r].base_kv;
            buses[*i].regulates = (i != r).then_some(*r);
        }
        let mut new_index = vec![None; buses.len()];
        let mut kept = Vec::new();
        for (i, bus) in buses.into_iter().enumerate() {
            if keep[i] {
                new_index[i] = Some(kept.len());
                kept.push(bus);
            }
        }
        let branches = branches
            .into_iter()
            .filter_map(|mut b| {
                b.from = new_index[b.from]?;
                b.to = new_index[b.to]?;
                Some(b)
            })
            .collect();
        for bus in &mut kept {
            bus.regulates = bus.regulates.and_then(|r| new_index[r]);
        }
        let bus_of_node = bus_of_node.into_iter().filter_map(|(n, i)| Some((n, new_index[i]?))).collect();
        Ok(Built { network: Network { base_mva: BASE_MVA, buses: kept, branches }, bus_of_node, slack_equipment, deenergised })
    }
}

/// How far a solution is from the SV profile's `SvVoltage` values.
#[derive(Debug, Clone, PartialEq)]
pub struct SvComparison {
    /// TopologicalNodes compared (SvVoltage present and node energised).
    pub nodes: usize,
    /// Largest |V − V_sv| in kV, and its node.
    pub max_dv_kv: (f64, String),
    /// Largest |θ − θ_sv| in degrees, and its node, angles referred to the slack bus's SV angle.
    pub max_dtheta_deg: (f64, String),
}

/// Compares a solution with the SV voltages; angles are shifted so that the first slack bus has
/// its SV angle (the power flow fixes the slack at 0, the exchanged SV at whatever its tool chose).
pub fn compare_with_sv(built: &Built, untyped: &Untyped, solution: &Solution) -> SvComparison {
    let sv: BTreeMap<&str, (f64, f64)> = untyped
        .of_class("cim:SvVoltage")
        .filter_map(|(_, p)| {
            Some((reference(p, "cim:SvVoltage.TopologicalNode")?, (float(p, "cim:SvVoltage.v")?, float(p, "cim:SvVoltage.angle")?)))
        })
        .collect();
    let slack = built.network.buses.iter().position(|b| b.kind == BusKind::Slack);
    let offset = slack
        .and_then(|s| built.bus_of_node.iter().find(|(n, i)| **i == s && sv.contains_key(n.as_str())))
        .map_or(0.0, |(n, &i)| sv[n.as_str()].1 - solution.theta[i].to_degrees());
    let mut result = SvComparison { nodes: 0, max_dv_kv: (0.0, String::new()), max_dtheta_deg: (0.0, String::new()) };
    for (node, &i) in &built.bus_of_node {
        let Some(&(v_kv, angle)) = sv.get(node.as_str()) else { continue };
        result.nodes += 1;
        let dv = (solution.v[i] * built.network.buses[i].base_kv - v_kv).abs();
        let dtheta = (solution.theta[i].to_degrees() + offset - angle).abs();
        if dv > result.max_dv_kv.0 {
            result.max_dv_kv = (dv, node.clone());
        }
        if dtheta > result.max_dtheta_deg.0 {
            result.max_dtheta_deg = (dtheta, node.clone());
        }
    }
    result
}
