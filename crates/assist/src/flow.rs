//! The power-flow check of a switching plan: before the assistant proposes closing a tie switch,
//! it applies the plan to the CGMES model, builds the network again and solves it
//! ([`gridtrust_grid::solve`]), and accepts the plan only when
//!
//! - every load the plan should supply is on an energised island,
//! - every bus voltage is within [`VOLTAGE_BAND`] of nominal (EN 50160's ±10 % for MV supply), and
//! - no line segment carries more than its permanent current limit (the lowest CGMES
//!   `CurrentLimit` of a `patl` limit type, or of no stated type, on the segment or its terminals;
//!   a segment without a limit is reported but not judged).

use std::collections::BTreeMap;

use gridtrust_cgmes::{CgmesModel, Load};
use gridtrust_grid::cgmes::{Untyped, build};
use gridtrust_grid::{GridError, Options, solve};

/// Allowed deviation of a bus voltage from nominal, per unit.
pub const VOLTAGE_BAND: f64 = 0.10;

/// The CGMES model the plans are tried on.
#[derive(Clone, Debug)]
pub struct FlowModel {
    cgmes: CgmesModel,
    untyped: Untyped,
}

/// The highest loading found.
#[derive(Clone, Debug, PartialEq)]
pub struct Loading {
    /// The segment's name (its mRID when unnamed).
    pub segment: String,
    pub amps: f64,
    pub limit_amps: f64,
}

impl Loading {
    pub fn ratio(&self) -> f64 {
        self.amps / self.limit_amps
    }
}

/// What the power flow says about a switching plan.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowCheck {
    /// Lowest and highest bus voltage: (bus name, per unit).
    pub lowest: (String, f64),
    pub highest: (String, f64),
    /// The most loaded segment with a limit, if any has one.
    pub loading: Option<Loading>,
    /// Loads the plan should supply that stay unsupplied (names).
    pub unsupplied: Vec<String>,
    /// Newton iterations.
    pub iterations: usize,
}

impl FlowCheck {
    /// Whether the plan is within limits.
    pub fn passes(&self) -> bool {
        self.unsupplied.is_empty()
            && self.lowest.1 >= 1.0 - VOLTAGE_BAND
            && self.highest.1 <= 1.0 + VOLTAGE_BAND
            && self.loading.as_ref().is_none_or(|l| l.ratio() <= 1.0)
    }

    /// What is wrong, in words (empty when it passes).
    pub fn violations(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.unsupplied.is_empty() {
            out.push(format!("{} would stay without supply", self.unsupplied.join(", ")));
        }
        if self.lowest.1 < 1.0 - VOLTAGE_BAND {
            out.push(format!("the voltage at {} would fall to {:.3} pu (limit {:.2})", self.lowest.0, self.lowest.1, 1.0 - VOLTAGE_BAND));
        }
        if self.highest.1 > 1.0 + VOLTAGE_BAND {
            out.push(format!("the voltage at {} would rise to {:.3} pu (limit {:.2})", self.highest.0, self.highest.1, 1.0 + VOLTAGE_BAND));
        }
        if let Some(l) = self.loading.as_ref().filter(|l| l.ratio() > 1.0) {
            out.push(format!("{} would carry {:.0} A, {:.0} % of its {:.0} A limit", l.segment, l.amps, l.ratio() * 100.0, l.limit_amps));
        }
        out
    }
}

fn bare(mrid: &str) -> &str {
    mrid.strip_prefix('_').unwrap_or(mrid)
}

/// The load with this mRID (with or without the RDF `_`).
fn load_in<'m>(cgmes: &'m CgmesModel, mrid: &str) -> Option<&'m Load> {
    cgmes.loads.iter().find(|l| l.equipment.identity.mrid == bare(mrid))
}

impl FlowModel {
    pub fn new(cgmes: CgmesModel, untyped: Untyped) -> Self {
        Self { cgmes, untyped }
    }

    /// A load's active power in the model (SSH), MW.
    pub fn load_mw(&self, mrid: &str) -> Option<f64> {
        load_in(&self.cgmes, mrid).and_then(|l| l.p_mw)
    }

    /// How many customers a load represents in the model (EQ `customerCount`), when it says.
    pub fn load_customers(&self, mrid: &str) -> Option<u32> {
        load_in(&self.cgmes, mrid).and_then(|l| l.customers)
    }

    /// Solves the grid with the switch positions `open` (mRID -> open) applied over the model's,
    /// and judges it for the loads `to_supply` (mRIDs).
    pub fn check(&self, open: &BTreeMap<String, bool>, to_supply: &[String]) -> Result<FlowCheck, GridError> {
        let mut cgmes = self.cgmes.clone();
        for switch in &mut cgmes.switches {
            if let Some(&o) = open.iter().find(|(m, _)| bare(m) == switch.equipment.identity.mrid).map(|(_, o)| o) {
                switch.open = Some(o);
            }
        }
        let built = build(&cgmes, &self.untyped)?;
        let solution = solve(&built.network, &Options::default())?;
        let network = &built.network;
        let node_name = |tn: &str| cgmes.topological_nodes.iter().find(|n| n.identity.mrid == tn).and_then(|n| n.identity.name.clone());
        let bus_name = |bus: usize| {
            built
                .bus_of_node
                .iter()
                .find(|(_, b)| **b == bus)
                .and_then(|(tn, _)| node_name(tn))
                .unwrap_or_else(|| network.buses[bus].id.clone())
        };
        let mut lowest = (String::new(), f64::INFINITY);
        let mut highest = (String::new(), f64::NEG_INFINITY);
        for (bus, &v) in solution.v.iter().enumerate() {
            if v < lowest.1 {
                lowest = (bus_name(bus), v);
            }
            if v > highest.1 {
                highest = (bus_name(bus), v);
            }
        }
        let limits = self.current_limits();
        let mut loading: Option<Loading> = None;
        for branch in &network.branches {
            let Some(&limit_amps) = limits.get(branch.id.as_str()) else { continue };
            let [yff, yft, ytf, ytt] = branch.admittances();
            let vf = gridtrust_grid::C64::polar(solution.v[branch.from], solution.theta[branch.from]);
            let vt = gridtrust_grid::C64::polar(solution.v[branch.to], solution.theta[branch.to]);
            let i_pu = (yff * vf + yft * vt).abs().max((ytf * vf + ytt * vt).abs());
            let base_kv = network.buses[branch.to].base_kv;
            let amps = i_pu * network.base_mva / (3f64.sqrt() * base_kv) * 1000.0;
            if loading.as_ref().is_none_or(|l| amps / limit_amps > l.ratio()) {
                let segment = cgmes
                    .ac_line_segments
                    .iter()
                    .find(|s| s.equipment.identity.mrid == branch.id)
                    .and_then(|s| s.equipment.identity.name.clone());
                loading = Some(Loading { segment: segment.unwrap_or_else(|| branch.id.clone()), amps, limit_amps });
            }
        }
        let unsupplied = to_supply
            .iter()
            .filter_map(|mrid| load_in(&cgmes, mrid))
            .filter(|load| {
                let node = cgmes
                    .terminals
                    .iter()
                    .find(|t| t.conducting_equipment.as_deref() == Some(load.equipment.identity.mrid.as_str()))
                    .and_then(|t| t.topological_node.clone());
                !node.is_some_and(|n| built.bus_of_node.contains_key(&n))
            })
            .map(|load| load.equipment.identity.name.clone().unwrap_or_else(|| load.equipment.identity.mrid.clone()))
            .collect();
        Ok(FlowCheck { lowest, highest, loading, unsupplied, iterations: solution.iterations })
    }

    /// The permanent current limit of each line segment (mRID -> A), see the module doc.
    fn current_limits(&self) -> BTreeMap<&str, f64> {
        let m = &self.cgmes;
        let permanent = |limit_type: Option<&str>| {
            limit_type.is_none_or(|t| {
                m.operational_limit_types
                    .iter()
                    .find(|k| k.identity.mrid == t)
                    .is_none_or(|k| k.limit_type.as_deref().is_none_or(|l| l == "patl"))
            })
        };
        let mut out: BTreeMap<&str, f64> = BTreeMap::new();
        for segment in &m.ac_line_segments {
            let id = segment.equipment.identity.mrid.as_str();
            let terminals: Vec<&str> =
                m.terminals.iter().filter(|t| t.conducting_equipment.as_deref() == Some(id)).map(|t| t.identity.mrid.as_str()).collect();
            let sets: Vec<&str> = m
                .operational_limit_sets
                .iter()
                .filter(|s| s.equipment.as_deref() == Some(id) || s.terminal.as_deref().is_some_and(|t| terminals.contains(&t)))
                .map(|s| s.identity.mrid.as_str())
                .collect();
            let lowest = m
                .operational_limits
                .iter()
                .filter(|l| l.kind == gridtrust_cgmes::LimitKind::Current && l.set.as_deref().is_some_and(|s| sets.contains(&s)))
                .filter(|l| permanent(l.limit_type.as_deref()))
                .filter_map(|l| l.value.or(l.normal_value))
                .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.min(v))));
            if let Some(limit) = lowest {
                out.insert(id, limit);
            }
        }
        out
    }
}
