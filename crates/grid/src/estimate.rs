//! Weighted-least-squares state estimation with bad-data detection and identification.
//!
//! The state is polar: the angle of every bus except the slack of its island (the reference,
//! held at 0 as in [`crate::powerflow`]) and the magnitude of every bus. [`estimate`] minimises
//! J(x) = Σ ((z_i - h_i(x)) / σ_i)² by Gauss-Newton on the normal equations: each iteration
//! solves G Δx = Hᵀ W (z - h(x)) with the gain G = Hᵀ W H, W = diag(1/σ²), by the crate's sparse
//! LU (minimum-degree order, symbolic factorisation once) on the gain's pattern (a pivot below 1e-12 of its row, relative, means the
//! state it belongs to is not determined: [`GridError::Unobservable`] names it). It
//! stops when max |Δx| falls below the tolerance. The measurement functions use the network's
//! admittance matrix for injections and [`crate::Branch::admittances`] for flows: the same branch
//! model as the power flow, so a power flow solution reproduces its own measurements exactly.
//!
//! [`estimate_with_bad_data`] then applies the chi-square test to J(x̂) with m - n degrees of
//! freedom and, while it fails, removes the measurement with the largest normalised residual
//! r_N = |r_i| / sqrt(Ω_ii), Ω = R - H G⁻¹ Hᵀ, and estimates again.
//!
//! Cost: H and the gain are sparse; [`Estimator`] fixes the measurement set, so the pattern of
//! H, the gain's ordering and fill and each measurement's gain slots are computed once and
//! every estimate (a time step) only fills numbers in. The normalised residuals need the
//! diagonal of H G⁻¹ Hᵀ: Takahashi's equations give G⁻¹ on the gain's filled pattern (which
//! holds every pair of states one measurement couples) at about the cost of a factorisation,
//! instead of n solves. On the 1,001-node benchmark feeder an estimate takes five iterations.
//! The normal equations square the condition number; an orthogonal (QR) or augmented-matrix
//! formulation would be more robust when the σ spread over many decades.
//! Observability analysis and the pseudo-measurements that restore it are in
//! [`crate::observability`]. Not done: zero-injection equality constraints, robust estimators
//! (least absolute value), identification of interacting multiple bad data beyond removing one at a time.

use crate::complex::C64;
use crate::error::GridError;
use crate::network::{BusKind, Network};
use crate::powerflow::check_slacks;
use crate::sparse::Symbolic;

/// Which end of a branch a flow is measured at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// The `from` end (behind the ideal transformer).
    From,
    /// The `to` end.
    To,
}

/// What a measurement measures (indices into the network's buses or branches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Bus voltage magnitude, pu.
    VoltageMagnitude { bus: usize },
    /// Net active injection at a bus, pu.
    InjectionP { bus: usize },
    /// Net reactive injection at a bus, pu.
    InjectionQ { bus: usize },
    /// Active power flowing into the branch at one end, pu.
    FlowP { branch: usize, end: End },
    /// Reactive power flowing into the branch at one end, pu.
    FlowQ { branch: usize, end: End },
    /// Current magnitude into the branch at one end, pu on the bus's base. Its derivative is
    /// undefined at zero current (a flat start over a branch without shunts): there the
    /// measurement contributes nothing to that iteration, so it cannot on its own make a state
    /// observable.
    CurrentMagnitude { branch: usize, end: End },
}

/// A measured value with its standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// What is measured.
    pub quantity: Quantity,
    /// The measured value, pu.
    pub value: f64,
    /// Standard deviation of its error, pu (> 0).
    pub sigma: f64,
}

/// Estimator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateOptions {
    /// Largest state change (rad or pu) at which the iteration stops.
    pub tolerance: f64,
    /// Iterations before giving up.
    pub max_iterations: usize,
}

impl Default for EstimateOptions {
    /// 1e-9 in at most 30 iterations: Gauss-Newton converges only linearly when residuals
    /// are not zero, so it gets more room than the power flow.
    fn default() -> Self {
        Self { tolerance: 1e-9, max_iterations: 30 }
    }
}

/// An estimated state.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Voltage magnitude per bus, pu.
    pub v: Vec<f64>,
    /// Voltage angle per bus, radians (0 at each island's slack).
    pub theta: Vec<f64>,
    /// Gauss-Newton iterations done.
    pub iterations: usize,
    /// Residual z - h(x̂) per measurement, pu.
    pub residuals: Vec<f64>,
    /// Normalised residual |r_i| / sqrt(Ω_ii) per measurement; `None` for a critical
    /// measurement (Ω_ii ≈ 0: its residual is always zero, so it cannot be tested).
    pub normalised: Vec<Option<f64>>,
    /// The objective J(x̂) = Σ (r_i / σ_i)².
    pub objective: f64,
    /// Number of state variables n (m - n is the chi-square test's degrees of freedom).
    pub states: usize,
}

/// Estimates the state from the measurements (see the module doc): [`Estimator::new`] and
/// [`Estimator::estimate`] in one call.
pub fn estimate(network: &Network, measurements: &[Measurement], options: &EstimateOptions) -> Result<Estimate, GridError> {
    Estimator::new(network, measurements)?.estimate(measurements, options)
}

/// The gain is formed and factored again only while the last step was larger than this (rad or
/// pu) or larger than the one before. Closer to the solution the gain changes little, and a
/// frozen gain only slows the linear convergence Gauss-Newton has anyway with noisy
/// measurements: on the benchmark feeder five iterations with two factorisations instead of
/// four with four (1e-3 gives four with three, and is slower). The fixed point is unchanged,
/// since the right-hand side Hᵀ W r is always evaluated at the current state.
const REFRESH_ABOVE: f64 = 1e-2;

/// A network and a measurement set (the quantities, not their values) prepared for repeated
/// estimation, e.g. one per time step: the numbering of the state, the sparsity pattern of H
/// and of the gain, and the gain's symbolic factorisation are made once.
pub struct Estimator<'a> {
    model: Model<'a>,
    quantities: Vec<Quantity>,
}

impl<'a> Estimator<'a> {
    /// Validates the network and the measurements and prepares them.
    pub fn new(network: &'a Network, measurements: &[Measurement]) -> Result<Self, GridError> {
        network.validate()?;
        check_slacks(network)?;
        validate(network, measurements)?;
        let model = Model::new(network, measurements);
        Ok(Self { model, quantities: measurements.iter().map(|z| z.quantity).collect() })
    }

    /// Estimates from flat start with these measurements: the same quantities in the same order
    /// as given to [`Estimator::new`], with new values and σ.
    pub fn estimate(&self, measurements: &[Measurement], options: &EstimateOptions) -> Result<Estimate, GridError> {
        if measurements.len() != self.quantities.len() || measurements.iter().zip(&self.quantities).any(|(z, q)| z.quantity != *q) {
            return Err(GridError::InvalidValue {
                id: "measurements".into(),
                what: "measurement set (other quantities than the estimator was prepared for; count given)",
                value: measurements.len() as f64,
            });
        }
        validate(self.model.network, measurements)?;
        let model = &self.model;
        let n = model.states;
        let mut v = vec![1.0; model.network.buses.len()];
        let mut theta = vec![0.0; model.network.buses.len()];
        let weights: Vec<f64> = measurements.iter().map(|z| 1.0 / (z.sigma * z.sigma)).collect();
        let mut jac = vec![0.0; model.cols.len()];
        let mut h = vec![0.0; measurements.len()];
        let mut work = Vec::with_capacity(n);
        let mut gain = vec![0.0; model.symbolic.len()];
        let mut iteration = 0;
        let (mut last_step, mut refresh) = (f64::INFINITY, true);
        loop {
            model.evaluate(measurements, &v, &theta, &mut h, &mut jac);
            let mut rhs = vec![0.0; n];
            for (i, z) in measurements.iter().enumerate() {
                let r = weights[i] * (z.value - h[i]);
                for p in model.row(i) {
                    rhs[model.cols[p]] += jac[p] * r;
                }
            }
            if refresh {
                model.gain(&jac, &weights, &mut gain);
                model.symbolic.factor(&mut gain, &mut work).map_err(|c| model.unobservable(c))?;
            }
            model.symbolic.solve(&gain, &mut rhs, &mut work);
            iteration += 1;
            let max_step = model.apply(&rhs, &mut v, &mut theta);
            refresh = max_step > REFRESH_ABOVE || max_step > last_step;
            last_step = max_step;
            if max_step <= options.tolerance {
                return model.finish(measurements, &weights, &gain, v, theta, iteration);
            }
            if iteration >= options.max_iterations || !max_step.is_finite() {
                return Err(GridError::EstimateNotConverged { iterations: iteration, max_step });
            }
        }
    }
}

/// A state variable of the estimator: a column of H.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateVariable {
    /// The voltage angle of a bus (every bus but its island's slack).
    Angle { bus: usize },
    /// The voltage magnitude of a bus.
    Magnitude { bus: usize },
}

/// H = ∂h/∂x at one state, dense: for the analyses of small sets that need whole rows
/// ([`crate::security`]), not for the estimate itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Jacobian {
    /// One row per measurement (in the estimator's order), one entry per column.
    pub rows: Vec<Vec<f64>>,
    /// The state variable of each column.
    pub columns: Vec<StateVariable>,
}

impl Estimator<'_> {
    /// The measurement Jacobian at the state (`v`, `theta`, one entry per bus), e.g. an
    /// estimate's: the linearisation an attacker with the model would use (a = Hc).
    pub fn jacobian(&self, v: &[f64], theta: &[f64]) -> Result<Jacobian, GridError> {
        let model = &self.model;
        let buses = model.network.buses.len();
        for (what, x) in [("voltage magnitudes (count)", v), ("voltage angles (count)", theta)] {
            if x.len() != buses {
                return Err(GridError::InvalidValue { id: "state".into(), what, value: x.len() as f64 });
            }
        }
        let measurements: Vec<Measurement> =
            self.quantities.iter().map(|&quantity| Measurement { quantity, value: 0.0, sigma: 1.0 }).collect();
        let (mut h, mut jac) = (vec![0.0; measurements.len()], vec![0.0; model.cols.len()]);
        model.evaluate(&measurements, v, theta, &mut h, &mut jac);
        let rows = (0..measurements.len())
            .map(|i| {
                let mut row = vec![0.0; model.states];
                for p in model.row(i) {
                    row[model.cols[p]] = jac[p];
                }
                row
            })
            .collect();
        let mut columns = vec![StateVariable::Magnitude { bus: 0 }; model.states];
        for bus in 0..buses {
            if let Some(c) = model.angle_at[bus] {
                columns[c] = StateVariable::Angle { bus };
            }
            columns[model.magnitude_at[bus]] = StateVariable::Magnitude { bus };
        }
        Ok(Jacobian { rows, columns })
    }
}

/// A measurement removed as bad data.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// Its index in the measurements given.
    pub index: usize,
    /// Its normalised residual when it was removed.
    pub normalised: f64,
    /// J(x̂) of the estimate that failed the test.
    pub objective: f64,
    /// The chi-square threshold that J exceeded.
    pub threshold: f64,
}

/// The outcome of [`estimate_with_bad_data`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cleaned {
    /// The final estimate, over the measurements kept.
    pub estimate: Estimate,
    /// Indices (into the measurements given) of those kept, in order; `estimate.residuals`
    /// and `estimate.normalised` follow this order.
    pub kept: Vec<usize>,
    /// Measurements removed, worst first.
    pub removed: Vec<Removed>,
    /// The chi-square threshold for the final estimate; `None` without redundancy (m ≤ n).
    pub threshold: Option<f64>,
    /// Whether the final estimate passed the test (`false` if no measurement could be removed
    /// any more, or there is no redundancy to test with).
    pub passed: bool,
}

/// Estimates, tests J(x̂) against the chi-square quantile at `confidence` (e.g. 0.99) with
/// m - n degrees of freedom, and while the test fails removes the measurement with the largest
/// normalised residual and estimates again.
pub fn estimate_with_bad_data(
    network: &Network,
    measurements: &[Measurement],
    confidence: f64,
    options: &EstimateOptions,
) -> Result<Cleaned, GridError> {
    estimate_with_bad_data_by(network, measurements, BadDataTest::ChiSquare { confidence }, options)
}

/// Which test decides that an estimate holds bad data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BadDataTest {
    /// J(x̂) above the chi-square quantile at `confidence` (0 < p < 1), m - n degrees of freedom.
    ChiSquare { confidence: f64 },
    /// The largest normalised residual above `limit` (standard deviations). On a large
    /// measurement set the global chi-square test is both weak against one bad value and, at a
    /// fixed confidence, fails a fixed share of checks by chance; a limit on the largest
    /// normalised residual sets the false-alarm rate per check (m values, two tails) directly.
    LargestNormalisedResidual { limit: f64 },
}

/// [`estimate_with_bad_data`] with the test to use: while it fails, removes the measurement
/// with the largest normalised residual and estimates again. `threshold` in the result is the
/// chi-square quantile for [`BadDataTest::ChiSquare`], the limit for the other.
pub fn estimate_with_bad_data_by(
    network: &Network,
    measurements: &[Measurement],
    test: BadDataTest,
    options: &EstimateOptions,
) -> Result<Cleaned, GridError> {
    match test {
        BadDataTest::ChiSquare { confidence } if !(confidence > 0.0 && confidence < 1.0) => {
            return Err(GridError::InvalidValue { id: "bad-data test".into(), what: "confidence (0 < p < 1)", value: confidence });
        }
        BadDataTest::LargestNormalisedResidual { limit } if limit.is_nan() || limit <= 0.0 => {
            return Err(GridError::InvalidValue { id: "bad-data test".into(), what: "normalised residual limit (> 0)", value: limit });
        }
        _ => {}
    }
    let mut kept: Vec<usize> = (0..measurements.len()).collect();
    let mut removed = Vec::new();
    loop {
        let subset: Vec<Measurement> = kept.iter().map(|&i| measurements[i]).collect();
        let estimate = estimate(network, &subset, options)?;
        let Some(dof) = subset.len().checked_sub(estimate.states).filter(|&d| d > 0) else {
            return Ok(Cleaned { estimate, kept, removed, threshold: None, passed: false });
        };
        let worst = estimate.normalised.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i, r))).max_by(|a, b| a.1.total_cmp(&b.1));
        let (threshold, passes) = match test {
            BadDataTest::ChiSquare { confidence } => {
                let threshold = chi_square_quantile(confidence, dof as f64);
                (threshold, estimate.objective <= threshold)
            }
            BadDataTest::LargestNormalisedResidual { limit } => (limit, worst.is_none_or(|(_, r)| r <= limit)),
        };
        if passes {
            return Ok(Cleaned { estimate, kept, removed, threshold: Some(threshold), passed: true });
        }
        let Some((position, normalised)) = worst else {
            return Ok(Cleaned { estimate, kept, removed, threshold: Some(threshold), passed: false });
        };
        removed.push(Removed { index: kept[position], normalised, objective: estimate.objective, threshold });
        kept.remove(position);
    }
}

/// The `p` quantile of the chi-square distribution with `k` degrees of freedom, by the
/// Wilson–Hilferty approximation k (1 - 2/(9k) + z_p sqrt(2/(9k)))³, where z_p is the standard
/// normal quantile. Relative error below 1 % for k ≥ 3 at the usual confidences (0.9 to 0.999),
/// which is well inside the uncertainty of the σ the test relies on.
pub fn chi_square_quantile(p: f64, k: f64) -> f64 {
    let a = 2.0 / (9.0 * k);
    let t = 1.0 - a + normal_quantile(p) * a.sqrt();
    k * (t * t * t).max(0.0)
}

/// The standard normal quantile by Abramowitz & Stegun 26.2.23 (absolute error < 4.5e-4),
/// enough for a test threshold.
fn normal_quantile(p: f64) -> f64 {
    let tail = if p < 0.5 { p } else { 1.0 - p };
    let t = (-2.0 * tail.ln()).sqrt();
    let z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
    if p < 0.5 { -z } else { z }
}

/// Indices in range, values finite, σ positive.
pub(crate) fn validate(network: &Network, measurements: &[Measurement]) -> Result<(), GridError> {
    let (buses, branches) = (network.buses.len(), network.branches.len());
    for (i, z) in measurements.iter().enumerate() {
        let id = || format!("measurement {i}");
        let (index, limit) = match z.quantity {
            Quantity::VoltageMagnitude { bus } | Quantity::InjectionP { bus } | Quantity::InjectionQ { bus } => (bus, buses),
            Quantity::FlowP { branch, .. } | Quantity::FlowQ { branch, .. } | Quantity::CurrentMagnitude { branch, .. } => {
                (branch, branches)
            }
        };
        if index >= limit {
            return Err(GridError::BusIndex { id: id(), index, buses: limit });
        }
        if !z.value.is_finite() {
            return Err(GridError::InvalidValue { id: id(), what: "value", value: z.value });
        }
        if !(z.sigma.is_finite() && z.sigma > 0.0) {
            return Err(GridError::InvalidValue { id: id(), what: "standard deviation", value: z.sigma });
        }
    }
    Ok(())
}

/// The network prepared for estimation: admittances, the numbering of the state, the sparse
/// rows of H and the gain's pattern.
struct Model<'a> {
    network: &'a Network,
    y: crate::network::Admittance,
    /// [`crate::Branch::admittances`] of each branch.
    blocks: Vec<[C64; 4]>,
    /// Column of each bus's angle (`None` at a slack) and magnitude.
    angle_at: Vec<Option<usize>>,
    magnitude_at: Vec<usize>,
    states: usize,
    /// H in compressed rows: row i's columns are `cols[row_start[i]..row_start[i + 1]]`, sorted.
    row_start: Vec<usize>,
    cols: Vec<usize>,
    /// For row i, the gain slot of each pair of its entries (row-major over the pair), from
    /// `pair_start[i]`.
    pair_start: Vec<usize>,
    pair_slots: Vec<usize>,
    /// For measurement i, from `emit_start[i]`: the positions in `cols` (angle, or `None` at a
    /// slack; magnitude) of each derivative [`Model::evaluate`] emits, in the order it emits them.
    emit_start: Vec<usize>,
    emits: Vec<(Option<usize>, usize)>,
    /// For a P (or Q) injection or flow measurement, the first later measurement of the Q (or
    /// P) of the same complex power: both come from one evaluation, and the later one is
    /// skipped (`paired`).
    partner: Vec<Option<usize>>,
    paired: Vec<bool>,
    symbolic: Symbolic,
}

impl<'a> Model<'a> {
    fn new(network: &'a Network, measurements: &[Measurement]) -> Self {
        let mut next = 0;
        let angle_at: Vec<Option<usize>> = network
            .buses
            .iter()
            .map(|b| {
                (b.kind != BusKind::Slack).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let magnitude_at: Vec<usize> = (next..next + network.buses.len()).collect();
        let states = next + network.buses.len();
        let y = network.admittance();
        let (mut row_start, mut cols) = (vec![0], Vec::new());
        let (mut emit_start, mut emits) = (Vec::with_capacity(measurements.len()), Vec::new());
        for z in measurements {
            // The buses of the derivatives evaluate() emits, in its order.
            let emitted: Vec<usize> = match z.quantity {
                Quantity::VoltageMagnitude { bus } => vec![bus],
                Quantity::InjectionP { bus } | Quantity::InjectionQ { bus } => y.rows[bus].iter().map(|&(k, _)| k).chain([bus]).collect(),
                Quantity::FlowP { branch, end } | Quantity::FlowQ { branch, end } => {
                    let b = &network.branches[branch];
                    vec![b.from, b.to, if end == End::From { b.from } else { b.to }]
                }
                Quantity::CurrentMagnitude { branch, .. } => vec![network.branches[branch].from, network.branches[branch].to],
            };
            let mut row: Vec<usize> = match z.quantity {
                Quantity::VoltageMagnitude { bus } => vec![magnitude_at[bus]],
                _ => emitted.iter().flat_map(|&k| angle_at[k].into_iter().chain([magnitude_at[k]])).collect(),
            };
            row.sort_unstable();
            row.dedup();
            let at = |col: usize| row_start[row_start.len() - 1] + row.partition_point(|&c| c < col);
            emit_start.push(emits.len());
            emits.extend(emitted.iter().map(|&k| (angle_at[k].map(at), at(magnitude_at[k]))));
            cols.extend(row);
            row_start.push(cols.len());
        }
        let (mut partner, mut paired) = (vec![None; measurements.len()], vec![false; measurements.len()]);
        let mut open: std::collections::HashMap<(usize, Option<End>, bool), usize> = std::collections::HashMap::new();
        for (i, z) in measurements.iter().enumerate() {
            let (key, is_q) = match z.quantity {
                Quantity::InjectionP { bus } => ((bus, None), false),
                Quantity::InjectionQ { bus } => ((bus, None), true),
                Quantity::FlowP { branch, end } => ((branch, Some(end)), false),
                Quantity::FlowQ { branch, end } => ((branch, Some(end)), true),
                Quantity::VoltageMagnitude { .. } | Quantity::CurrentMagnitude { .. } => continue,
            };
            match open.remove(&(key.0, key.1, !is_q)) {
                Some(j) => {
                    partner[j] = Some(i);
                    paired[i] = true;
                }
                None => {
                    open.entry((key.0, key.1, is_q)).or_insert(i);
                }
            }
        }
        let pairs = |i: usize| {
            let row = &cols[row_start[i]..row_start[i + 1]];
            row.iter().flat_map(move |&a| row.iter().map(move |&b| (a, b)))
        };
        let symbolic = Symbolic::new(states, (0..measurements.len()).flat_map(pairs).collect::<Vec<_>>());
        let (mut pair_start, mut pair_slots) = (Vec::with_capacity(measurements.len()), Vec::new());
        for i in 0..measurements.len() {
            pair_start.push(pair_slots.len());
            // Every pair was given to the symbolic analysis, so every pair has a slot.
            pair_slots.extend(pairs(i).filter_map(|(a, b)| symbolic.slot(a, b)));
        }
        let blocks = network.branches.iter().map(|b| b.admittances()).collect();
        Self {
            network,
            y,
            blocks,
            angle_at,
            magnitude_at,
            states,
            row_start,
            cols,
            pair_start,
            pair_slots,
            emit_start,
            emits,
            partner,
            paired,
            symbolic,
        }
    }

    /// The positions of row `i` of H in `cols`.
    fn row(&self, i: usize) -> std::ops::Range<usize> {
        self.row_start[i]..self.row_start[i + 1]
    }

    /// h(x) into `h` and H (on the pattern of `cols`) into `jac`.
    fn evaluate(&self, measurements: &[Measurement], v: &[f64], theta: &[f64], h: &mut [f64], jac: &mut [f64]) {
        // e^{jθ} once per bus: the derivatives by |V_k| need it for every term.
        let units: Vec<C64> = theta.iter().map(|&a| C64::polar(1.0, a)).collect();
        let voltages: Vec<C64> = v.iter().zip(&units).map(|(&m, &u)| u.scale(m)).collect();
        jac.iter_mut().for_each(|x| *x = 0.0);
        for (i, z) in measurements.iter().enumerate() {
            if self.paired[i] {
                continue;
            }
            let mut positions = self.emits[self.emit_start[i]..].iter();
            let mut put = |d_theta: f64, d_v: f64| {
                if let Some(&(angle, magnitude)) = positions.next() {
                    if let Some(p) = angle {
                        jac[p] += d_theta;
                    }
                    jac[magnitude] += d_v;
                }
            };
            let flow;
            let (bus, terms, take_q): (usize, &[(usize, C64)], bool) = match z.quantity {
                Quantity::VoltageMagnitude { bus } => {
                    h[i] = v[bus];
                    put(0.0, 1.0);
                    continue;
                }
                Quantity::CurrentMagnitude { branch, end } => {
                    let (_, terms) = self.flow_terms(branch, end);
                    h[i] = current_magnitude(&terms, &voltages, &units, put);
                    continue;
                }
                Quantity::InjectionP { bus } => (bus, &self.y.rows[bus], false),
                Quantity::InjectionQ { bus } => (bus, &self.y.rows[bus], true),
                Quantity::FlowP { branch, end } | Quantity::FlowQ { branch, end } => {
                    let bus;
                    (bus, flow) = self.flow_terms(branch, end);
                    (bus, &flow, matches!(z.quantity, Quantity::FlowQ { .. }))
                }
            };
            let part = |c: C64| if take_q { c.im } else { c.re };
            let other = |c: C64| if take_q { c.re } else { c.im };
            let Some(j) = self.partner[i] else {
                h[i] = part(power(bus, terms, &voltages, &units, |ds_dtheta, ds_dv| put(part(ds_dtheta), part(ds_dv))));
                continue;
            };
            let mut partner_positions = self.emits[self.emit_start[j]..].iter();
            let s = power(bus, terms, &voltages, &units, |ds_dtheta, ds_dv| {
                for (positions, pick) in [(&mut positions, &part as &dyn Fn(C64) -> f64), (&mut partner_positions, &other)] {
                    if let Some(&(angle, magnitude)) = positions.next() {
                        if let Some(p) = angle {
                            jac[p] += pick(ds_dtheta);
                        }
                        jac[magnitude] += pick(ds_dv);
                    }
                }
            });
            (h[i], h[j]) = (part(s), other(s));
        }
    }

    /// The bus a branch-end flow is measured at and the current into the branch there as
    /// `Σ y_k V_k`, from the branch's own admittance block.
    fn flow_terms(&self, branch: usize, end: End) -> (usize, [(usize, C64); 2]) {
        let b = &self.network.branches[branch];
        let [yff, yft, ytf, ytt] = self.blocks[branch];
        match end {
            End::From => (b.from, [(b.from, yff), (b.to, yft)]),
            End::To => (b.to, [(b.from, ytf), (b.to, ytt)]),
        }
    }

    /// G = Hᵀ W H on the symbolic pattern.
    fn gain(&self, jac: &[f64], weights: &[f64], gain: &mut [f64]) {
        gain.iter_mut().for_each(|x| *x = 0.0);
        for (i, w) in weights.iter().enumerate() {
            let row = &jac[self.row(i)];
            let mut slots = self.pair_slots[self.pair_start[i]..].iter();
            for &ha in row {
                for (&hb, &slot) in row.iter().zip(slots.by_ref()) {
                    gain[slot] += w * ha * hb;
                }
            }
        }
    }

    fn unobservable(&self, column: usize) -> GridError {
        let bus = |i: usize| self.network.buses[i].id.clone();
        let state = match self.angle_at.iter().position(|&c| c == Some(column)) {
            Some(i) => format!("angle of bus {}", bus(i)),
            None => format!("magnitude of bus {}", bus(column.saturating_sub(self.states - self.network.buses.len()))),
        };
        GridError::Unobservable { state }
    }

    /// Adds the step to the state; returns its largest component.
    fn apply(&self, step: &[f64], v: &mut [f64], theta: &mut [f64]) -> f64 {
        for (i, (m, a)) in v.iter_mut().zip(theta.iter_mut()).enumerate() {
            if let Some(c) = self.angle_at[i] {
                *a += step[c];
            }
            *m += step[self.magnitude_at[i]];
        }
        step.iter().fold(0.0, |acc: f64, x| if x.is_nan() { f64::NAN } else { acc.max(x.abs()) })
    }

    /// Residuals, J and normalised residuals at the converged state. Ω_ii = σ_i² - H_i G⁻¹ H_iᵀ
    /// needs G⁻¹ only on pairs of states one row couples, which lie in the gain's pattern:
    /// Takahashi's equations give those entries from the factors at about the cost of one
    /// factorisation, instead of n solves. `factors` is the last gain factored (see
    /// [`REFRESH_ABOVE`]), formed within about 1e-2 of x̂: that changes Ω by about as much
    /// relatively, far below what the σ are known to, and saves forming and factoring it again.
    fn finish(
        &self,
        measurements: &[Measurement],
        weights: &[f64],
        factors: &[f64],
        v: Vec<f64>,
        theta: Vec<f64>,
        iterations: usize,
    ) -> Result<Estimate, GridError> {
        let mut h = vec![0.0; measurements.len()];
        let mut jac = vec![0.0; self.cols.len()];
        self.evaluate(measurements, &v, &theta, &mut h, &mut jac);
        let residuals: Vec<f64> = measurements.iter().zip(&h).map(|(z, h)| z.value - h).collect();
        let objective = residuals.iter().zip(weights).map(|(r, w)| r * r * w).sum();
        let inverse = self.symbolic.inverse_on_pattern(factors);
        let normalised = measurements
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let row = &jac[self.row(i)];
                let slots = &self.pair_slots[self.pair_start[i]..];
                // G⁻¹ is symmetric: the diagonal once, each pair above it twice.
                let mut projected = 0.0;
                for (a, &ha) in row.iter().enumerate() {
                    let pairs = &slots[a * row.len()..(a + 1) * row.len()];
                    let above: f64 = row[a + 1..].iter().zip(&pairs[a + 1..]).map(|(&hb, &slot)| hb * inverse[slot]).sum();
                    projected += ha * (ha * inverse[pairs[a]] + 2.0 * above);
                }
                let omega = z.sigma * z.sigma - projected;
                // Ω_ii is a difference of two numbers of the order of σ²: below 1e-9 σ² it is rounding.
                (omega > 1e-9 * z.sigma * z.sigma).then(|| residuals[i].abs() / omega.sqrt())
            })
            .collect();
        Ok(Estimate { v, theta, iterations, residuals, normalised, objective, states: self.states })
    }
}

/// S = V_bus · conj(Σ y_k V_k), with `emit(∂S/∂θ_k, ∂S/∂|V_k|)` per term k in order; the bus's own
/// dependence through V_bus is emitted once more for the bus. `units` holds e^{jθ} per bus.
fn power(bus: usize, terms: &[(usize, C64)], voltages: &[C64], units: &[C64], mut emit: impl FnMut(C64, C64)) -> C64 {
    let current = terms.iter().fold(C64::default(), |acc, &(k, y)| acc + y * voltages[k]);
    let vb = voltages[bus];
    let s = vb * current.conj();
    for &(k, y) in terms {
        emit(-(vb * (y * voltages[k]).conj()).times_j(), vb * (y * units[k]).conj());
    }
    emit(s.times_j(), units[bus] * current.conj());
    s
}

/// |I| = |Σ y_k V_k|, with `emit(∂|I|/∂θ_k, ∂|I|/∂|V_k|)` = Re(conj(I) ∂I/∂x) / |I| per term
/// k; nothing is emitted at zero current, where the derivatives are undefined.
fn current_magnitude(terms: &[(usize, C64)], voltages: &[C64], units: &[C64], mut emit: impl FnMut(f64, f64)) -> f64 {
    let current = terms.iter().fold(C64::default(), |acc, &(k, y)| acc + y * voltages[k]);
    let magnitude = current.abs();
    if magnitude >= 1e-12 {
        let along = |d: C64| (current.conj() * d).re / magnitude;
        for &(k, y) in terms {
            emit(along((y * voltages[k]).times_j()), along(y * units[k]));
        }
    }
    magnitude
}

#[cfg(test)]
mod tests {
    use super::{End, Measurement, Model, Quantity, chi_square_quantile};
    use crate::{Branch, Bus, BusKind, C64, Network};

    #[test]
    fn jacobian_matches_finite_differences_through_a_phase_shifting_transformer_also_for_paired_p_and_q() {
        let mut slack = Bus::pq("a", 110.0);
        slack.kind = BusKind::Slack;
        slack.shunt = C64::new(0.01, 0.05);
        let mut transformer = Branch::line("t", 0, 1, C64::new(0.01, 0.1), C64::new(0.0, 0.02));
        (transformer.ratio, transformer.shift) = (1.05, 0.1);
        let network = Network {
            base_mva: 100.0,
            buses: vec![slack, Bus::pq("b", 20.0), Bus::pq("c", 20.0)],
            branches: vec![transformer, Branch::line("l", 1, 2, C64::new(0.02, 0.06), C64::new(0.0, 0.03))],
        };
        let quantities = [
            Quantity::VoltageMagnitude { bus: 1 },
            Quantity::InjectionP { bus: 0 },
            Quantity::InjectionQ { bus: 1 },
            Quantity::FlowP { branch: 0, end: End::From },
            Quantity::FlowQ { branch: 0, end: End::To },
            Quantity::FlowP { branch: 1, end: End::To },
            Quantity::FlowQ { branch: 1, end: End::From },
            Quantity::CurrentMagnitude { branch: 0, end: End::From },
            Quantity::CurrentMagnitude { branch: 0, end: End::To },
            Quantity::CurrentMagnitude { branch: 1, end: End::From },
            // The other halves of complex powers above: evaluated together with their first half.
            Quantity::InjectionQ { bus: 0 },
            Quantity::FlowQ { branch: 0, end: End::From },
            Quantity::FlowP { branch: 1, end: End::From },
        ];
        let measurements: Vec<Measurement> = quantities.iter().map(|&quantity| Measurement { quantity, value: 0.0, sigma: 1.0 }).collect();
        let model = Model::new(&network, &measurements);
        let n = model.states;
        let m = measurements.len();
        let evaluate = |v: &[f64], theta: &[f64]| {
            let (mut h, mut sparse) = (vec![0.0; m], vec![0.0; model.cols.len()]);
            model.evaluate(&measurements, v, theta, &mut h, &mut sparse);
            let mut dense = vec![0.0; m * n];
            for i in 0..m {
                for p in model.row(i) {
                    dense[i * n + model.cols[p]] = sparse[p];
                }
            }
            (h, dense)
        };
        let (v, theta) = (vec![1.02, 0.97, 0.95], vec![0.0, -0.08, -0.12]);
        let (_, jac) = evaluate(&v, &theta);
        // Central differences: the truncation error is O(ε²), small against the tolerance even
        // where |I| is small and strongly curved.
        let eps = 1e-6;
        let shifted = |c: usize, by: f64| {
            let (mut v, mut theta) = (v.clone(), theta.clone());
            let mut step = vec![0.0; n];
            step[c] = by;
            model.apply(&step, &mut v, &mut theta);
            evaluate(&v, &theta).0
        };
        for c in 0..n {
            for (i, (up, down)) in shifted(c, eps).iter().zip(&shifted(c, -eps)).enumerate() {
                let numeric = (up - down) / (2.0 * eps);
                assert!((numeric - jac[i * n + c]).abs() < 1e-5, "H[{i}][{c}] = {} , finite difference {numeric}", jac[i * n + c]);
            }
        }
    }

    #[test]
    fn wilson_hilferty_matches_tabulated_chi_square_quantiles() {
        // Tables: χ²(0.99; 10) = 23.209, χ²(0.95; 30) = 43.773, χ²(0.99; 100) = 135.807.
        for (p, k, table) in [(0.99, 10.0, 23.209), (0.95, 30.0, 43.773), (0.99, 100.0, 135.807)] {
            let q = chi_square_quantile(p, k);
            assert!((q / table - 1.0).abs() < 5e-3, "χ²({p}; {k}) = {q}, table {table}");
        }
    }
}
