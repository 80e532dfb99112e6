//! Numerical observability analysis (Monticelli & Wu, 1985) and the pseudo-measurements that
//! would make an unobservable network observable.
//!
//! The analysis runs on the decoupled linearised model at flat start with unit branch
//! admittances, where observability depends only on which quantities are measured:
//!
//! - P-θ: rows e_a - e_b for a P flow on branch a-b, Σ_(a-b at i) (e_i - e_b) for a P injection
//!   at i. The gain G = HᵀH is factored; each zero pivot is replaced by 1 and its angle left
//!   free at a distinct value (0, 1, 2, ...), the rest solved from G θ = 0. A branch whose end
//!   angles then differ carries a flow no measurement sees: it is unobservable, it is removed
//!   with every injection measured at its ends, and the analysis repeats until no such branch
//!   is left. The observable islands are the connected components over the branches kept.
//! - Q-V: the same with Q flows and Q injections, and each |V| measurement as a flow to a ground
//!   node that stands for the known zero of magnitude deviations. Buses whose island does not
//!   reach ground have no determined magnitude.
//!
//! The estimator needs one angle island per network island (the slack is the reference) and no
//! floating magnitude. [`observability`] proposes, for an unobservable network, pseudo-
//! measurements in the way a control centre adds load forecasts: P and Q injection pairs at the
//! buses at the ends of unobservable branches, each kept only if it merges two angle islands
//! (one row raises the rank by at most one, so the number of pairs is the minimum, the angle
//! deficiency), then one |V| per Q-V island still floating. Current-magnitude measurements are
//! not counted (their derivative vanishes at flat start, see [`Quantity::CurrentMagnitude`]).
//!
//! The decoupled model leaves out branch resistance and shunts. That is the usual
//! approximation and it is conservative for magnitudes: line charging makes a Q measurement
//! depend on |V|², so the full gain can be nonsingular (though ill-conditioned, an estimate
//! with no |V| measurement is worth little) where this analysis reports floating magnitudes.

use crate::error::GridError;
use crate::estimate::{Measurement, Quantity};
use crate::network::{Network, components};
use crate::powerflow::check_slacks;
use crate::sparse::Symbolic;

/// The outcome of [`observability`].
#[derive(Debug, Clone, PartialEq)]
pub struct Observability {
    /// Observable islands of the P-θ analysis: within one, the angle differences are determined.
    /// Each is sorted; they are in order of their smallest bus.
    pub islands: Vec<Vec<usize>>,
    /// Buses whose voltage magnitude the Q-V analysis leaves undetermined, sorted.
    pub floating_magnitudes: Vec<usize>,
    /// Quantities to add as pseudo-measurements (in this order) to make the network observable;
    /// empty when it already is.
    pub candidates: Vec<Quantity>,
}

impl Observability {
    /// Whether the measurements determine the whole state.
    pub fn observable(&self) -> bool {
        self.candidates.is_empty()
    }
}

/// Analyses which part of the network the measurements make observable and which
/// pseudo-measurements would make the rest observable (see the module doc).
pub fn observability(network: &Network, measurements: &[Measurement]) -> Result<Observability, GridError> {
    network.validate()?;
    check_slacks(network)?;
    crate::estimate::validate(network, measurements)?;
    let quantities: Vec<Quantity> = measurements.iter().map(|z| z.quantity).collect();
    let mut candidates = Vec::new();
    let deficiency = |quantities: &[Quantity]| angle_islands(network, quantities).0.len() - network.islands().len();
    let (islands, unobservable) = angle_islands(network, &quantities);
    if islands.len() > network.islands().len() {
        let mut boundary: Vec<usize> = unobservable.iter().flat_map(|&b| [network.branches[b].from, network.branches[b].to]).collect();
        boundary.sort_unstable();
        boundary.dedup();
        let mut trial = quantities.clone();
        let mut missing = deficiency(&trial);
        for bus in boundary {
            if missing == 0 {
                break;
            }
            if trial.contains(&Quantity::InjectionP { bus }) {
                continue;
            }
            trial.push(Quantity::InjectionP { bus });
            let now = deficiency(&trial);
            if now < missing {
                missing = now;
                trial.push(Quantity::InjectionQ { bus });
                candidates.extend([Quantity::InjectionP { bus }, Quantity::InjectionQ { bus }]);
            } else {
                trial.pop();
            }
        }
    }
    let with_pairs: Vec<Quantity> = quantities.iter().chain(&candidates).copied().collect();
    for island in magnitude_floating(network, &with_pairs) {
        candidates.push(Quantity::VoltageMagnitude { bus: island[0] });
    }
    let mut floating_magnitudes: Vec<usize> = magnitude_floating(network, &quantities).into_iter().flatten().collect();
    floating_magnitudes.sort_unstable();
    Ok(Observability { islands, floating_magnitudes, candidates })
}

/// P-θ islands and the branches found unobservable.
fn angle_islands(network: &Network, quantities: &[Quantity]) -> (Vec<Vec<usize>>, Vec<usize>) {
    let flows: Vec<usize> =
        quantities.iter().filter_map(|q| if let Quantity::FlowP { branch, .. } = q { Some(*branch) } else { None }).collect();
    let injections: Vec<usize> =
        quantities.iter().filter_map(|q| if let Quantity::InjectionP { bus } = q { Some(*bus) } else { None }).collect();
    let n = network.buses.len();
    let branches: Vec<(usize, usize)> = network.branches.iter().map(|b| (b.from, b.to)).collect();
    let kept = observable_branches(n, &branches, &flows, &injections);
    let islands = components(n, branches.iter().zip(&kept).filter(|(_, k)| **k).map(|(b, _)| *b));
    let unobservable = kept.iter().enumerate().filter(|(_, k)| !**k).map(|(b, _)| b).collect();
    (islands, unobservable)
}

/// The Q-V islands that no |V| measurement anchors.
fn magnitude_floating(network: &Network, quantities: &[Quantity]) -> Vec<Vec<usize>> {
    let n = network.buses.len();
    let ground = n;
    let mut branches: Vec<(usize, usize)> = network.branches.iter().map(|b| (b.from, b.to)).collect();
    let mut flows: Vec<usize> =
        quantities.iter().filter_map(|q| if let Quantity::FlowQ { branch, .. } = q { Some(*branch) } else { None }).collect();
    let injections: Vec<usize> =
        quantities.iter().filter_map(|q| if let Quantity::InjectionQ { bus } = q { Some(*bus) } else { None }).collect();
    for q in quantities {
        if let Quantity::VoltageMagnitude { bus } = q {
            flows.push(branches.len());
            branches.push((*bus, ground));
        }
    }
    let kept = observable_branches(n + 1, &branches, &flows, &injections);
    components(n + 1, branches.iter().zip(&kept).filter(|(_, k)| **k).map(|(b, _)| *b))
        .into_iter()
        .filter(|island| !island.contains(&ground))
        .collect()
}

/// Which branches are observable, by the repeated zero-pivot analysis of the module doc
/// (`injections` at buses; a ground node, if any, never carries one).
fn observable_branches(n: usize, branches: &[(usize, usize)], flows: &[usize], injections: &[usize]) -> Vec<bool> {
    let mut kept = vec![true; branches.len()];
    let mut at: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (index, &(a, b)) in branches.iter().enumerate() {
        at[a].push(index);
        at[b].push(index);
    }
    loop {
        // Rows of H over the kept branches: (column, coefficient) lists.
        let mut rows: Vec<Vec<(usize, f64)>> =
            flows.iter().filter(|&&b| kept[b]).map(|&b| vec![(branches[b].0, 1.0), (branches[b].1, -1.0)]).collect();
        for &bus in injections {
            // An injection next to a removed branch would tie the islands it separates.
            if at[bus].iter().all(|&b| kept[b]) {
                let mut row = vec![(bus, at[bus].len() as f64)];
                row.extend(at[bus].iter().map(|&b| (if branches[b].0 == bus { branches[b].1 } else { branches[b].0 }, -1.0)));
                rows.push(row);
            }
        }
        let symbolic = Symbolic::new(
            n,
            rows.iter().flat_map(|r| r.iter().flat_map(|&(a, _)| r.iter().map(move |&(b, _)| (a, b)))).collect::<Vec<_>>(),
        );
        let mut gain = vec![0.0; symbolic.len()];
        for row in &rows {
            for &(a, x) in row {
                for &(b, y) in row {
                    if let Some(slot) = symbolic.slot(a, b) {
                        gain[slot] += x * y;
                    }
                }
            }
        }
        let mut work = Vec::new();
        let free = symbolic.factor_singular(&mut gain, &mut work);
        let mut theta = vec![0.0; n];
        for (value, &c) in free.iter().enumerate() {
            theta[c] = value as f64;
        }
        symbolic.solve(&gain, &mut theta, &mut work);
        let mut removed = false;
        for (index, &(a, b)) in branches.iter().enumerate() {
            if kept[index] && (theta[a] - theta[b]).abs() > 1e-6 {
                kept[index] = false;
                removed = true;
            }
        }
        if !removed {
            return kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::observability;
    use crate::estimate::{End, EstimateOptions, Measurement, Quantity, estimate};
    use crate::feeders::Feeders;
    use crate::{C64, GridError, Network, Solution, solve};

    /// Every |V|, every P/Q injection but the source's, P/Q at every feeder head, exact.
    fn measurements(network: &Network, solution: &Solution) -> Vec<Measurement> {
        let n = network.buses.len();
        let mut out = Vec::new();
        for bus in 0..n {
            out.push(exact(Quantity::VoltageMagnitude { bus }, network, solution));
        }
        for bus in 1..n {
            out.push(exact(Quantity::InjectionP { bus }, network, solution));
            out.push(exact(Quantity::InjectionQ { bus }, network, solution));
        }
        for branch in (0..network.branches.len()).filter(|&b| network.branches[b].from == 0) {
            out.push(exact(Quantity::FlowP { branch, end: End::From }, network, solution));
            out.push(exact(Quantity::FlowQ { branch, end: End::From }, network, solution));
        }
        out
    }

    /// The true value of a quantity from the power flow solution, σ 0.001.
    fn exact(quantity: Quantity, network: &Network, solution: &Solution) -> Measurement {
        let voltage = |i: usize| C64::polar(solution.v[i], solution.theta[i]);
        let value = match quantity {
            Quantity::VoltageMagnitude { bus } => solution.v[bus],
            Quantity::InjectionP { bus } => solution.s[bus].re,
            Quantity::InjectionQ { bus } => solution.s[bus].im,
            Quantity::FlowP { branch, .. } | Quantity::FlowQ { branch, .. } => {
                let b = &network.branches[branch];
                let [yff, yft, _, _] = b.admittances();
                let s = voltage(b.from) * (yff * voltage(b.from) + yft * voltage(b.to)).conj();
                if matches!(quantity, Quantity::FlowP { .. }) { s.re } else { s.im }
            }
            Quantity::CurrentMagnitude { .. } => f64::NAN,
        };
        Measurement { quantity, value, sigma: 0.001 }
    }

    #[test]
    fn a_fully_measured_radial_grid_is_one_observable_island() {
        let grid = Feeders { feeders: 3, nodes_per_feeder: 3, seed: 1 }.generate();
        let solution = solve(&grid.network, &Default::default()).unwrap();
        let result = observability(&grid.network, &measurements(&grid.network, &solution)).unwrap();
        assert!(result.observable(), "{result:?}");
        assert_eq!(result.islands, vec![(0..10).collect::<Vec<_>>()]);
        assert!(result.floating_magnitudes.is_empty());
    }

    #[test]
    fn a_feeder_end_without_injections_is_its_own_island_until_the_suggested_pair_is_added() {
        // Feeder 2 is buses 4 (head), 5, 6 (end). Without the injections at 5 and 6 the flow
        // on 5-6 is unseen: bus 6 is an island.
        let grid = Feeders { feeders: 3, nodes_per_feeder: 3, seed: 1 }.generate();
        let network = &grid.network;
        let solution = solve(network, &Default::default()).unwrap();
        let reduced: Vec<Measurement> = measurements(network, &solution)
            .into_iter()
            .filter(|z| !matches!(z.quantity, Quantity::InjectionP { bus: 5 | 6 } | Quantity::InjectionQ { bus: 5 | 6 }))
            .collect();
        assert!(matches!(estimate(network, &reduced, &EstimateOptions::default()), Err(GridError::Unobservable { .. })));
        let result = observability(network, &reduced).unwrap();
        assert!(!result.observable());
        assert_eq!(result.islands, vec![vec![0, 1, 2, 3, 4, 5, 7, 8, 9], vec![6]]);
        assert_eq!(result.candidates, vec![Quantity::InjectionP { bus: 5 }, Quantity::InjectionQ { bus: 5 }]);
        let mut restored = reduced.clone();
        restored.extend(result.candidates.iter().map(|&q| exact(q, network, &solution)));
        assert!(observability(network, &restored).unwrap().observable());
        let estimated = estimate(network, &restored, &EstimateOptions::default()).unwrap();
        assert!(estimated.v.iter().zip(&solution.v).all(|(a, b)| (a - b).abs() < 1e-8), "{:?}", estimated.v);
    }

    #[test]
    fn without_voltage_measurements_the_magnitudes_float_until_one_is_added() {
        let grid = Feeders { feeders: 3, nodes_per_feeder: 3, seed: 1 }.generate();
        let network = &grid.network;
        let solution = solve(network, &Default::default()).unwrap();
        let reduced: Vec<Measurement> =
            measurements(network, &solution).into_iter().filter(|z| !matches!(z.quantity, Quantity::VoltageMagnitude { .. })).collect();
        // The full model may still invert here (line charging ties Q to |V|², weakly): the
        // decoupled analysis is conservative about magnitudes, so no estimator check before.
        let result = observability(network, &reduced).unwrap();
        assert_eq!(result.islands.len(), 1, "angles stay observable");
        assert_eq!(result.floating_magnitudes, (0..10).collect::<Vec<_>>());
        assert_eq!(result.candidates, vec![Quantity::VoltageMagnitude { bus: 0 }]);
        let mut restored = reduced.clone();
        restored.extend(result.candidates.iter().map(|&q| exact(q, network, &solution)));
        let estimated = estimate(network, &restored, &EstimateOptions::default()).unwrap();
        assert!(estimated.v.iter().zip(&solution.v).all(|(a, b)| (a - b).abs() < 1e-8), "{:?}", estimated.v);
    }
}
