//! Newton-Raphson AC power flow in polar form.
//!
//! Unknowns are the angles of PV and PQ buses and the magnitudes of PQ buses; equations the P
//! mismatch at PV and PQ buses and the Q mismatch at PQ buses. A PV bus that regulates a remote
//! PQ bus ([`crate::Bus::regulates`]) swaps roles with it: the remote magnitude is fixed, the PV
//! bus gets a Q equation and a magnitude unknown, and its reactive injection becomes the unknown
//! in the column the remote magnitude would have had.
//!
//! The admittance matrix, the mismatches and the Jacobian are sparse. [`PowerFlow::new`] numbers
//! the unknowns, orders the Jacobian's pattern by minimum degree and computes its fill once, and
//! records where each admittance term lands; [`PowerFlow::solve`] (one time step) only fills
//! numbers in and factors without pivoting, which the diagonal of a power flow Jacobian
//! allows. The one case it does not: a remote-regulated bus, whose magnitude column holds its
//! regulator's Q and has no diagonal entry, can give a zero pivot; that iteration then falls
//! back to dense LU with partial pivoting (O(n³), met only on such models, e.g. MicroGrid).
//! On the benchmark feeder (1,001 buses) a solve is three iterations.
//!
//! Not done yet: reactive limits of PV buses (a PV bus keeps its voltage whatever Q it needs),
//! tap and phase-shifter control (taps stay at their given step), distributed slack.

use crate::complex::C64;
use crate::error::GridError;
use crate::network::{Admittance, BusKind, Network};
use crate::sparse::Symbolic;

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Largest P or Q mismatch accepted, pu.
    pub tolerance_pu: f64,
    /// Iterations before giving up.
    pub max_iterations: usize,
}

impl Default for Options {
    /// 1e-8 pu (1 W on a 100 MVA base) in at most 20 iterations.
    fn default() -> Self {
        Self { tolerance_pu: 1e-8, max_iterations: 20 }
    }
}

/// A solved power flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Voltage magnitude per bus, pu.
    pub v: Vec<f64>,
    /// Voltage angle per bus, radians.
    pub theta: Vec<f64>,
    /// Net complex power injection per bus, pu (for the slack and PV buses this is the result).
    pub s: Vec<C64>,
    /// Newton iterations done (0 if the start already met the tolerance).
    pub iterations: usize,
    /// Largest mismatch at the end, pu.
    pub max_mismatch_pu: f64,
}

/// Solves the power flow from a flat start (set points at PV and slack buses, 1 pu elsewhere,
/// all angles 0) with the network's own injections.
pub fn solve(network: &Network, options: &Options) -> Result<Solution, GridError> {
    let scheduled: Vec<C64> = network.buses.iter().map(|b| C64::new(b.p, b.q)).collect();
    PowerFlow::new(network)?.solve(&scheduled, options)
}

/// One Jacobian entry a branch term stamps: (equation row, unknown column, slot in the sparse
/// pattern).
type Cell = Option<(usize, usize, usize)>;

/// (equation row, unknown column) of a Jacobian entry, before its slot is known.
type Position = Option<(usize, usize)>;

/// A network prepared for repeated power flows with changing injections (time steps): the
/// admittance matrix, the numbering of unknowns and the sparse symbolic factorisation are made
/// once here.
#[derive(Debug, Clone)]
pub struct PowerFlow<'a> {
    network: &'a Network,
    y: Admittance,
    /// Position of each bus's angle and magnitude among the unknowns (and of its P and Q
    /// equations); a remote-regulated bus's magnitude slot holds its regulator's Q instead.
    angle_at: Vec<Option<usize>>,
    magnitude_at: Vec<Option<usize>>,
    /// Remote-regulated bus -> the PV bus regulating it.
    regulated_by: Vec<Option<usize>>,
    dim: usize,
    symbolic: Symbolic,
    /// Per admittance entry (same shape as `y.rows`): the cells of dP/dθ, dP/d|V|, dQ/dθ and
    /// dQ/d|V| it contributes to.
    cells: Vec<Vec<[Cell; 4]>>,
    /// The -1 of each remote regulator's Q in the regulator's own Q equation.
    regulator_cells: Vec<(usize, usize, usize)>,
}

impl<'a> PowerFlow<'a> {
    /// Validates the network and prepares it (see the type doc).
    pub fn new(network: &'a Network) -> Result<Self, GridError> {
        network.validate()?;
        check_slacks(network)?;
        let y = network.admittance();
        let n = network.buses.len();
        let mut regulated_by: Vec<Option<usize>> = vec![None; n];
        for (i, bus) in network.buses.iter().enumerate() {
            if let (true, Some(r)) = (remote(bus), bus.regulates) {
                regulated_by[r] = Some(i);
            }
        }
        let angle_at: Vec<Option<usize>> = positions(network, |b| b.kind != BusKind::Slack, 0);
        let n_angles = angle_at.iter().flatten().count();
        let magnitude_at: Vec<Option<usize>> = positions(network, |b| b.kind == BusKind::Pq || remote(b), n_angles);
        let dim = n_angles + magnitude_at.iter().flatten().count();
        let mut rows_cols: Vec<Vec<[Position; 4]>> = Vec::with_capacity(n);
        for (i, row) in y.rows.iter().enumerate() {
            let (p_row, q_row) = (angle_at[i], magnitude_at[i]);
            rows_cols.push(
                row.iter()
                    .map(|&(k, _)| {
                        // A remote-regulated magnitude is fixed: no derivative in its column.
                        let v_col = if regulated_by[k].is_some() { None } else { magnitude_at[k] };
                        let pair = |r: Option<usize>, c: Option<usize>| r.zip(c);
                        [pair(p_row, angle_at[k]), pair(p_row, v_col), pair(q_row, angle_at[k]), pair(q_row, v_col)]
                    })
                    .collect(),
            );
        }
        let regulator_pairs: Vec<(usize, usize)> =
            regulated_by.iter().enumerate().filter_map(|(r, g)| g.and_then(|g| magnitude_at[g].zip(magnitude_at[r]))).collect();
        let entries = rows_cols.iter().flatten().flatten().flatten().copied().chain(regulator_pairs.iter().copied());
        let symbolic = Symbolic::new(dim, entries.collect::<Vec<_>>());
        let slot = |(r, c): (usize, usize)| symbolic.slot(r, c).map(|s| (r, c, s));
        let cells = rows_cols.iter().map(|row| row.iter().map(|four| four.map(|cell| cell.and_then(slot))).collect()).collect();
        let regulator_cells = regulator_pairs.iter().filter_map(|&pair| slot(pair)).collect();
        Ok(Self { network, y, angle_at, magnitude_at, regulated_by, dim, symbolic, cells, regulator_cells })
    }

    /// Solves from a flat start with `scheduled[i]` as bus i's P + jQ (Q is ignored at PV and
    /// slack buses, P at slack buses); the network's own `p` and `q` are not used.
    pub fn solve(&self, scheduled: &[C64], options: &Options) -> Result<Solution, GridError> {
        let network = self.network;
        let n = network.buses.len();
        if scheduled.len() != n {
            return Err(GridError::BusIndex { id: "scheduled injections".into(), index: scheduled.len(), buses: n });
        }
        let (angle_at, magnitude_at, regulated_by, dim) = (&self.angle_at, &self.magnitude_at, &self.regulated_by, self.dim);
        let mut v: Vec<f64> = network.buses.iter().map(|b| if b.kind == BusKind::Pq || remote(b) { 1.0 } else { b.v_set }).collect();
        for (r, g) in regulated_by.iter().enumerate() {
            if let Some(g) = g {
                v[r] = network.buses[*g].v_set;
            }
        }
        // The reactive injection each remote-regulating PV bus adds to its scheduled Q.
        let mut q_extra = vec![0.0; n];
        let mut theta = vec![0.0; n];
        let mut values = vec![0.0; self.symbolic.len()];
        let (mut work, mut f) = (Vec::with_capacity(dim), vec![0.0; dim]);
        // e^{jθ} per bus, once per iteration: the Jacobian needs it for every admittance term.
        let mut units = vec![C64::default(); n];
        let mut voltages = vec![C64::default(); n];
        let mut currents = vec![C64::default(); n];
        let mut s = vec![C64::default(); n];
        let mut iteration = 0;
        loop {
            for i in 0..n {
                units[i] = C64::polar(1.0, theta[i]);
                voltages[i] = units[i].scale(v[i]);
            }
            for (i, row) in self.y.rows.iter().enumerate() {
                currents[i] = row.iter().fold(C64::default(), |acc, &(k, yik)| acc + yik * voltages[k]);
                s[i] = voltages[i] * currents[i].conj();
            }
            let mut worst = (0.0_f64, 0);
            for (i, bus) in network.buses.iter().enumerate() {
                let mismatch = s[i] - C64::new(scheduled[i].re, scheduled[i].im + q_extra[i]);
                if let Some(r) = angle_at[i] {
                    f[r] = mismatch.re;
                }
                if let Some(r) = magnitude_at[i] {
                    f[r] = mismatch.im;
                }
                let m = match bus.kind {
                    BusKind::Pq => mismatch.re.abs().max(mismatch.im.abs()),
                    BusKind::Pv if remote(bus) => mismatch.re.abs().max(mismatch.im.abs()),
                    BusKind::Pv => mismatch.re.abs(),
                    BusKind::Slack => 0.0,
                };
                if m > worst.0 || m.is_nan() {
                    worst = (m, i);
                }
            }
            if worst.0 <= options.tolerance_pu {
                return Ok(Solution { v, theta, s, iterations: iteration, max_mismatch_pu: worst.0 });
            }
            if iteration >= options.max_iterations || !worst.0.is_finite() {
                let bus = network.buses.get(worst.1).map(|b| b.id.clone()).unwrap_or_default();
                return Err(GridError::NotConverged { iterations: iteration, max_mismatch_pu: worst.0, bus });
            }
            iteration += 1;
            for x in f.iter_mut() {
                *x = -*x;
            }
            values.iter_mut().for_each(|x| *x = 0.0);
            self.stamp(&voltages, &currents, &units, |_, _, slot, d| values[slot] += d);
            if self.symbolic.factor(&mut values, &mut work).is_ok() {
                self.symbolic.solve(&values, &mut f, &mut work);
                if f.iter().any(|x| !x.is_finite()) {
                    return Err(GridError::SingularJacobian { iteration });
                }
            } else {
                // A zero pivot without pivoting (a remote-regulated bus's column has no
                // diagonal entry): dense LU with partial pivoting, O(dim³), on this iteration only.
                let mut dense = vec![0.0; dim * dim];
                self.stamp(&voltages, &currents, &units, |r, c, _, d| dense[r * dim + c] += d);
                lu_solve(&mut dense, &mut f, dim).map_err(|_| GridError::SingularJacobian { iteration })?;
            }
            for i in 0..n {
                if let Some(c) = angle_at[i] {
                    theta[i] += f[c];
                }
                match (magnitude_at[i], regulated_by[i]) {
                    (Some(c), Some(g)) => q_extra[g] += f[c],
                    (Some(c), None) => v[i] += f[c],
                    (None, _) => {}
                }
            }
        }
    }

    /// Calls `put(row, column, slot, value)` for every Jacobian term: dS_i/dθ_k and dS_i/d|V_k|
    /// (polar Jacobian in complex form), and the -1 of each remote regulator's Q.
    fn stamp(&self, voltages: &[C64], currents: &[C64], units: &[C64], mut put: impl FnMut(usize, usize, usize, f64)) {
        for (i, row) in self.y.rows.iter().enumerate() {
            for (&(k, yik), cells) in row.iter().zip(&self.cells[i]) {
                if cells.iter().all(Option::is_none) {
                    continue;
                }
                let unit_k = units[k];
                let (ds_dtheta, ds_dv) = if k == i {
                    (
                        (voltages[i] * (currents[i] - yik * voltages[i]).conj()).times_j(),
                        voltages[i] * (yik * unit_k).conj() + currents[i].conj() * unit_k,
                    )
                } else {
                    (-(voltages[i] * (yik * voltages[k]).conj()).times_j(), voltages[i] * (yik * unit_k).conj())
                };
                for (cell, d) in cells.iter().zip([ds_dtheta.re, ds_dv.re, ds_dtheta.im, ds_dv.im]) {
                    if let Some((r, c, slot)) = *cell {
                        put(r, c, slot, d);
                    }
                }
            }
        }
        for &(r, c, slot) in &self.regulator_cells {
            put(r, c, slot, -1.0);
        }
    }
}

/// A PV bus that holds a remote bus's voltage.
fn remote(bus: &crate::Bus) -> bool {
    bus.kind == BusKind::Pv && bus.regulates.is_some()
}

/// Every island needs exactly one slack bus.
pub(crate) fn check_slacks(network: &Network) -> Result<(), GridError> {
    for island in network.islands() {
        let slacks: Vec<usize> = island.iter().copied().filter(|&i| network.buses[i].kind == BusKind::Slack).collect();
        match slacks.as_slice() {
            [_] => {}
            [] => return Err(GridError::NoSlack { bus: network.buses[island[0]].id.clone() }),
            [_, second, ..] => return Err(GridError::SeveralSlacks { bus: network.buses[*second].id.clone() }),
        }
    }
    Ok(())
}

/// Numbers the buses that pass `keep`, from `start`.
fn positions(network: &Network, keep: impl Fn(&crate::Bus) -> bool, start: usize) -> Vec<Option<usize>> {
    let mut next = start;
    network
        .buses
        .iter()
        .map(|b| {
            keep(b).then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Solves `a x = b` in place (`a` is `dim`×`dim`, row-major; `b` becomes `x`) by LU with partial
/// pivoting. On a zero or non-finite pivot, `Err` holds its column: that unknown depends on the
/// ones before it (or the result left finite numbers; then the first non-finite unknown).
pub(crate) fn lu_solve(a: &mut [f64], b: &mut [f64], dim: usize) -> Result<(), usize> {
    for col in 0..dim {
        let pivot_row = (col..dim).max_by(|&r, &s| a[r * dim + col].abs().total_cmp(&a[s * dim + col].abs())).ok_or(col)?;
        let pivot = a[pivot_row * dim + col];
        if !(pivot.abs() > 1e-14 && pivot.is_finite()) {
            return Err(col);
        }
        if pivot_row != col {
            for c in 0..dim {
                a.swap(pivot_row * dim + c, col * dim + c);
            }
            b.swap(pivot_row, col);
        }
        for r in col + 1..dim {
            let factor = a[r * dim + col] / pivot;
            if factor != 0.0 {
                for c in col..dim {
                    a[r * dim + c] -= factor * a[col * dim + c];
                }
                b[r] -= factor * b[col];
            }
        }
    }
    for col in (0..dim).rev() {
        let sum: f64 = (col + 1..dim).map(|c| a[col * dim + c] * b[c]).sum();
        b[col] = (b[col] - sum) / a[col * dim + col];
    }
    match b.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::lu_solve;

    #[test]
    fn lu_solves_a_system_that_needs_pivoting() {
        let mut a = vec![0.0, 2.0, 1.0, 1.0];
        let mut b = vec![4.0, 3.0];
        lu_solve(&mut a, &mut b, 2).unwrap();
        assert!((b[0] - 1.0).abs() < 1e-12 && (b[1] - 2.0).abs() < 1e-12, "{b:?}");
    }

    #[test]
    fn lu_reports_a_singular_matrix() {
        let mut a = vec![1.0, 2.0, 2.0, 4.0];
        let mut b = vec![1.0, 2.0];
        assert_eq!(lu_solve(&mut a, &mut b, 2), Err(1));
    }
}
