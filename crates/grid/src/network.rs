//! The bus-branch network in per unit: what the power flow (and later the estimator) solves.
//!
//! Conventions: powers are injections into the bus (generation positive, load negative) in per
//! unit of [`Network::base_mva`]; voltages in per unit of the bus's base kV; a branch carries an
//! ideal transformer `N = ratio·e^{j shift}` at its `from` end, then the series impedance, with
//! shunt admittances on either side of the impedance (`from` side inside the transformer):
//!
//! ```text
//! from ──N:1──┬──[r + jx]──┬── to
//!         g_from+jb_from   g_to+jb_to
//! ```

use crate::complex::C64;
use crate::error::GridError;

/// How a bus enters the power flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    /// P and Q given.
    Pq,
    /// P and |V| given (a voltage-controlling generator).
    Pv,
    /// |V| and angle given; takes up the island's losses.
    Slack,
}

/// One bus (a topological node, or a merge of nodes joined by closed retained switches, or the
/// internal star point of a three-winding transformer).
#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    /// The TopologicalNode mRID (or the transformer's mRID for a star point).
    pub id: String,
    /// Base voltage in kV.
    pub base_kv: f64,
    /// PQ, PV or slack.
    pub kind: BusKind,
    /// Net active power injection, pu.
    pub p: f64,
    /// Net reactive power injection, pu (ignored for PV and slack buses).
    pub q: f64,
    /// Voltage magnitude set point, pu (PV and slack buses).
    pub v_set: f64,
    /// Shunt admittance to ground, pu (conductance, susceptance).
    pub shunt: C64,
    /// For a PV bus that holds another bus's voltage (remote regulation), that PQ bus: its
    /// magnitude is fixed at `v_set` and this bus's reactive injection becomes the unknown.
    pub regulates: Option<usize>,
}

impl Bus {
    /// A PQ bus with no injection and no shunt.
    pub fn pq(id: impl Into<String>, base_kv: f64) -> Self {
        Self { id: id.into(), base_kv, kind: BusKind::Pq, p: 0.0, q: 0.0, v_set: 1.0, shunt: C64::default(), regulates: None }
    }
}

/// A π branch with an ideal transformer at its `from` end (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// The ACLineSegment or PowerTransformer mRID (a three-winding transformer gives one branch
    /// per winding, named `mRID#end`).
    pub id: String,
    /// Index of the `from` bus.
    pub from: usize,
    /// Index of the `to` bus.
    pub to: usize,
    /// Series impedance, pu.
    pub z: C64,
    /// Shunt admittance at the `from` end (inside the transformer), pu.
    pub y_from: C64,
    /// Shunt admittance at the `to` end, pu.
    pub y_to: C64,
    /// Off-nominal ratio magnitude (1 for lines).
    pub ratio: f64,
    /// Phase shift in radians (0 for lines).
    pub shift: f64,
}

impl Branch {
    /// A line: series impedance and total shunt admittance split half to each end.
    pub fn line(id: impl Into<String>, from: usize, to: usize, z: C64, y_total: C64) -> Self {
        let half = y_total.scale(0.5);
        Self { id: id.into(), from, to, z, y_from: half, y_to: half, ratio: 1.0, shift: 0.0 }
    }

    /// The branch's 2×2 admittance block `[[y_ff, y_ft], [y_tf, y_tt]]`.
    pub fn admittances(&self) -> [C64; 4] {
        let y = self.z.inv();
        let n = C64::polar(self.ratio, self.shift);
        let yff = (y + self.y_from).scale(1.0 / (self.ratio * self.ratio));
        let yft = -(y / n.conj());
        let ytf = -(y / n);
        let ytt = y + self.y_to;
        [yff, yft, ytf, ytt]
    }
}

/// A bus-branch network in per unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// System base power in MVA.
    pub base_mva: f64,
    /// The energised buses.
    pub buses: Vec<Bus>,
    /// Branches between them.
    pub branches: Vec<Branch>,
}

/// The admittance matrix, row by row, only the non-zero entries (diagonal first).
#[derive(Debug, Clone)]
pub struct Admittance {
    /// `rows[i]` lists `(k, Y_ik)`.
    pub rows: Vec<Vec<(usize, C64)>>,
}

impl Network {
    /// Checks that every index is in range and every number finite and usable.
    pub fn validate(&self) -> Result<(), GridError> {
        let n = self.buses.len();
        for bus in &self.buses {
            let bad = |what, value| GridError::InvalidValue { id: bus.id.clone(), what, value };
            if !(bus.base_kv.is_finite() && bus.base_kv > 0.0) {
                return Err(bad("base voltage (kV)", bus.base_kv));
            }
            for (what, value) in [("P", bus.p), ("Q", bus.q), ("shunt G", bus.shunt.re), ("shunt B", bus.shunt.im)] {
                if !value.is_finite() {
                    return Err(bad(what, value));
                }
            }
            if !(bus.v_set.is_finite() && bus.v_set > 0.0) {
                return Err(bad("voltage set point (pu)", bus.v_set));
            }
        }
        let mut held = vec![false; n];
        for bus in &self.buses {
            if let Some(r) = bus.regulates {
                // Each remote bus is held by one PV bus: two would leave one Q undetermined.
                if r >= n || self.buses[r].kind != BusKind::Pq || held[r] {
                    return Err(GridError::InvalidValue {
                        id: bus.id.clone(),
                        what: "regulated bus (a PQ bus no other bus holds)",
                        value: r as f64,
                    });
                }
                held[r] = true;
            }
        }
        for branch in &self.branches {
            for index in [branch.from, branch.to] {
                if index >= n {
                    return Err(GridError::BusIndex { id: branch.id.clone(), index, buses: n });
                }
            }
            let bad = |what, value| GridError::InvalidValue { id: branch.id.clone(), what, value };
            if !(branch.z.norm_sqr() > 0.0 && branch.z.re.is_finite() && branch.z.im.is_finite()) {
                return Err(bad("series impedance |z| (pu)", branch.z.abs()));
            }
            if !(branch.ratio.is_finite() && branch.ratio > 0.0) {
                return Err(bad("ratio", branch.ratio));
            }
            for (what, value) in [("shift", branch.shift), ("shunt", branch.y_from.abs() + branch.y_to.abs())] {
                if !value.is_finite() {
                    return Err(bad(what, value));
                }
            }
        }
        Ok(())
    }

    /// Connected components of the buses over the branches, each sorted, in order of their
    /// smallest bus index.
    pub fn islands(&self) -> Vec<Vec<usize>> {
        components(self.buses.len(), self.branches.iter().map(|b| (b.from, b.to)))
    }

    /// The admittance matrix. Call [`Network::validate`] first: indices are trusted here.
    pub fn admittance(&self) -> Admittance {
        let mut rows: Vec<Vec<(usize, C64)>> = self.buses.iter().enumerate().map(|(i, b)| vec![(i, b.shunt)]).collect();
        let mut add = |i: usize, k: usize, y: C64| {
            if let Some(row) = rows.get_mut(i) {
                match row.iter_mut().find(|(col, _)| *col == k) {
                    Some((_, entry)) => *entry += y,
                    None => row.push((k, y)),
                }
            }
        };
        for branch in &self.branches {
            let [yff, yft, ytf, ytt] = branch.admittances();
            add(branch.from, branch.from, yff);
            add(branch.from, branch.to, yft);
            add(branch.to, branch.from, ytf);
            add(branch.to, branch.to, ytt);
        }
        Admittance { rows }
    }
}

/// Connected components of `n` nodes over `edges` (union-find); edges out of range are ignored.
pub(crate) fn components(n: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Vec<Vec<usize>> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (a, b) in edges {
        if a < n && b < n {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut by_root: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        let r = root(&mut parent, i);
        by_root[r].push(i);
    }
    by_root.into_iter().filter(|c| !c.is_empty()).collect()
}
