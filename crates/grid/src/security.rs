//! The security index of each state variable against stealthy false-data injection.
//!
//! An attacker who knows the model can add a = Hc to the measurements (H the measurement
//! Jacobian, c any state change): the estimate moves by c and the residuals do not change, so no
//! residual test sees it (Liu, Ning & Reiter, 2009). Such an attack must alter every measurement
//! i with (Hc)_i ≠ 0. Measurements the attacker cannot alter (signed at the device, or computed
//! inside the estimator like pseudo-measurements) force (Hc)_i = 0. The security index of a
//! state variable x_j (Sandberg, Teixeira & Johansson, 2010) is then
//!
//! min ‖Hc‖₀ over c with c_j ≠ 0 and H_P c = 0 (P the protected rows),
//!
//! the fewest measurements the attacker must control to move x_j undetectably; when every c
//! with H_P c = 0 has c_j = 0 the attack is impossible. An index of 0 means x_j is not
//! observable at all.
//!
//! How it is computed, exactly: c must lie in N = null(H_P), of dimension d; write c = N y and
//! A = H_A N (A the alterable rows). Take an optimal attack and let Z be the alterable rows it
//! leaves at zero; every y in null(A_Z) has a support within the optimum's, and a generic one
//! has c_j ≠ 0 too. null(A_Z) = null(A_B) for a basis B of Z's rows, |B| = rank(A_Z) ≤ d - 1.
//! So enumerating the sets B of at most d - 1 alterable rows and taking, for each, the support
//! of a generic element of null(A_B) (the rows that do not vanish on all of it) finds the
//! optimum. With few alterable rows or a small d (many protected rows) that is cheap; for the
//! rest a budget of arithmetic bounds the work and the answer is then an upper bound, which
//! [`SecurityIndex::AtMost`] says. The problem is NP-hard in general, so no method is both exact
//! and polynomial.
//!
//! Everything is on the linearisation at one state (the estimate's): the index of an AC
//! estimator moves a little with the operating point. It is about perfectly stealthy attacks;
//! an attack that leaves residuals within the noise (small changes to measurements with a large
//! σ, such as pseudo-measurements) is a different, weaker notion that this does not bound.

use crate::estimate::{Jacobian, StateVariable};

/// How many measurements an attacker must alter to move one state variable undetectably.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityIndex {
    /// Every state change that moves this variable shows in a protected measurement.
    Impossible,
    /// Exactly this many alterable measurements.
    Exact(usize),
    /// At most this many: the enumeration ran out of budget before proving the minimum.
    AtMost(usize),
}

impl SecurityIndex {
    /// The number, when an attack is possible.
    pub fn count(self) -> Option<usize> {
        match self {
            Self::Impossible => None,
            Self::Exact(k) | Self::AtMost(k) => Some(k),
        }
    }
}

/// The cheapest undetectable attack on one state variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Attack {
    /// The state variable it moves.
    pub state: StateVariable,
    /// How many measurements it alters, and whether that is proven minimal.
    pub index: SecurityIndex,
    /// The state change c (one entry per column of H), scaled so that |c_j| = 1; a = Hc.
    pub change: Vec<f64>,
    /// The measurements a = Hc alters (indices of H's rows), sorted.
    pub altered: Vec<usize>,
}

/// Entries below this (on rows and bases scaled to unit length) are zero.
const ZERO: f64 = 1e-9;

/// The cheapest undetectable attack on every state variable (columns of `jacobian` in order),
/// where `alterable[i]` says whether the attacker can alter measurement i. `work` bounds the
/// enumeration's arithmetic (about one multiply-add per unit), shared evenly among the state
/// variables; the first set of each (the empty one) is always tried, so every variable gets at
/// least an upper bound (see the module doc). Finding N = null(H_P) first costs about
/// m·n² regardless: this is for grids of tens to a few hundred states. `None` for a variable
/// where no attack is possible.
pub fn cheapest_attacks(jacobian: &Jacobian, alterable: &[bool], work: usize) -> Vec<(StateVariable, Option<Attack>)> {
    let n = jacobian.columns.len();
    let unit = |row: &[f64]| {
        let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter().map(|x| if norm > 0.0 { x / norm } else { 0.0 }).collect::<Vec<f64>>()
    };
    let rows: Vec<Vec<f64>> = jacobian.rows.iter().map(|r| unit(r)).collect();
    let is_alterable = |i: usize| alterable.get(i).copied().unwrap_or(false);
    let protected: Vec<Vec<f64>> = rows.iter().enumerate().filter(|(i, _)| !is_alterable(*i)).map(|(_, r)| r.clone()).collect();
    let basis = null_space(&protected, n);
    let d = basis.len();
    let open: Vec<usize> = (0..rows.len()).filter(|&i| is_alterable(i)).collect();
    // A = H_A N, one row per alterable measurement, d columns.
    let a: Vec<Vec<f64>> = open.iter().map(|&i| basis.iter().map(|b| dot(&rows[i], b)).collect()).collect();
    jacobian
        .columns
        .iter()
        .enumerate()
        .map(|(j, &state)| {
            let nj: Vec<f64> = basis.iter().map(|b| b[j]).collect();
            if nj.iter().all(|x| x.abs() <= ZERO) {
                return (state, None);
            }
            let mut best: Option<(usize, Vec<f64>)> = None;
            let (share, mut spent) = (work / n.max(1), 0usize);
            let mut exhausted = true;
            'sizes: for size in 0..d {
                for set in Subsets::new(open.len(), size) {
                    if spent > 0 && spent >= share {
                        exhausted = false;
                        break 'sizes;
                    }
                    let zeroed: Vec<Vec<f64>> = set.iter().map(|&k| a[k].clone()).collect();
                    let free = null_space(&zeroed, d);
                    spent += (size * d * d + a.len() * d * free.len().max(1)).max(1);
                    if free.iter().all(|f| dot(&nj, f).abs() <= ZERO) {
                        continue;
                    }
                    let support = a.iter().filter(|row| free.iter().any(|f| dot(row, f).abs() > ZERO)).count();
                    if best.as_ref().is_none_or(|(k, _)| support < *k) {
                        best = Some((support, generic(&free, &a, &nj, support)));
                    }
                }
            }
            // The empty set always runs and finds a support when N_j ≠ 0, unless every set
            // annihilated N_j (then no attack exists).
            let Some((count, y)) = best else { return (state, None) };
            let mut change: Vec<f64> = (0..n).map(|c| basis.iter().zip(&y).map(|(b, yk)| b[c] * yk).sum()).collect();
            let scale = change[j];
            change.iter_mut().for_each(|x| *x /= scale);
            let altered = open.iter().zip(&a).filter(|(_, row)| dot(row, &y).abs() > ZERO * norm(&y)).map(|(&i, _)| i).collect();
            let index = if exhausted { SecurityIndex::Exact(count) } else { SecurityIndex::AtMost(count) };
            (state, Some(Attack { state, index, change, altered }))
        })
        .collect()
}

/// A generic element y of the span of `free` (the witness of an attack): a combination with
/// distinct, unrelated weights that moves the target (N_j · y ≠ 0) and alters all `support` rows
/// of `a` that the span reaches. A particular choice of weights can cancel by accident, so a few
/// are tried; the last one is returned if all fail (it is still in the span).
fn generic(free: &[Vec<f64>], a: &[Vec<f64>], nj: &[f64], support: usize) -> Vec<f64> {
    let d = nj.len();
    let mut y = Vec::new();
    for step in [0.618_034, std::f64::consts::SQRT_2, std::f64::consts::E, std::f64::consts::PI] {
        y = (0..d).map(|k| free.iter().enumerate().map(|(t, f)| f[k] * (1.0 + step * t as f64)).sum()).collect();
        let scale = ZERO * norm(&y);
        if dot(nj, &y).abs() > scale && a.iter().filter(|row| dot(row, &y).abs() > scale).count() == support {
            break;
        }
    }
    y
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// A basis of {x ∈ ℝⁿ : row · x = 0 for every row}, each vector of unit length, by Gaussian
/// elimination with partial pivoting on rows scaled to unit length (pivots below [`ZERO`] are
/// taken as zero).
fn null_space(rows: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
    let mut m: Vec<Vec<f64>> = rows
        .iter()
        .filter_map(|r| {
            let l = norm(r);
            (l > 0.0).then(|| r.iter().map(|x| x / l).collect())
        })
        .collect();
    let mut pivots: Vec<(usize, usize)> = Vec::new();
    let mut next = 0;
    for col in 0..n {
        let Some(p) = (next..m.len()).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs())) else {
            break;
        };
        if m[p][col].abs() <= ZERO {
            continue;
        }
        m.swap(next, p);
        let pivot = m[next][col];
        m[next].iter_mut().for_each(|x| *x /= pivot);
        let pivot_row = m[next].clone();
        for (r, row) in m.iter_mut().enumerate() {
            if r != next && row[col] != 0.0 {
                let f = row[col];
                row.iter_mut().zip(&pivot_row).for_each(|(x, p)| *x -= f * p);
            }
        }
        pivots.push((next, col));
        next += 1;
    }
    let bound: Vec<bool> = (0..n).map(|c| pivots.iter().any(|&(_, pc)| pc == c)).collect();
    (0..n)
        .filter(|&c| !bound[c])
        .map(|free| {
            let mut x = vec![0.0; n];
            x[free] = 1.0;
            for &(r, pc) in &pivots {
                x[pc] = -m[r][free];
            }
            let l = norm(&x);
            x.iter().map(|v| v / l).collect()
        })
        .collect()
}

/// The k-subsets of 0..n in lexicographic order.
struct Subsets {
    n: usize,
    current: Option<Vec<usize>>,
}

impl Subsets {
    fn new(n: usize, k: usize) -> Self {
        Self { n, current: (k <= n).then(|| (0..k).collect()) }
    }
}

impl Iterator for Subsets {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let out = self.current.clone()?;
        let k = out.len();
        let mut next = out.clone();
        // The rightmost position that can still move right.
        self.current = (0..k).rev().find(|&i| next[i] < self.n - k + i).map(|i| {
            next[i] += 1;
            for t in i + 1..k {
                next[t] = next[t - 1] + 1;
            }
            next
        });
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{SecurityIndex, Subsets, cheapest_attacks, null_space};
    use crate::estimate::{End, Estimator, Measurement, Quantity, StateVariable};
    use crate::{Branch, Bus, BusKind, C64, Network};

    /// A chain 0 (slack) - 1 - 2 of lossless lines without shunts: at flat start P depends only on
    /// angles and Q only on magnitudes, so the answers can be worked out by hand.
    fn chain() -> Network {
        let mut slack = Bus::pq("0", 20.0);
        slack.kind = BusKind::Slack;
        Network {
            base_mva: 100.0,
            buses: vec![slack, Bus::pq("1", 20.0), Bus::pq("2", 20.0)],
            branches: vec![
                Branch::line("a", 0, 1, C64::new(0.0, 0.1), C64::default()),
                Branch::line("b", 1, 2, C64::new(0.0, 0.2), C64::default()),
            ],
        }
    }

    fn quantities() -> Vec<Quantity> {
        vec![
            Quantity::FlowP { branch: 0, end: End::From },
            Quantity::FlowP { branch: 1, end: End::From },
            Quantity::InjectionP { bus: 2 },
            Quantity::VoltageMagnitude { bus: 0 },
            Quantity::VoltageMagnitude { bus: 1 },
            Quantity::VoltageMagnitude { bus: 2 },
        ]
    }

    fn attacks(quantities: &[Quantity], alterable: &[bool]) -> Vec<(StateVariable, Option<SecurityIndex>, Vec<usize>)> {
        let network = chain();
        let measurements: Vec<Measurement> = quantities.iter().map(|&quantity| Measurement { quantity, value: 0.0, sigma: 1.0 }).collect();
        let estimator = Estimator::new(&network, &measurements).unwrap();
        let h = estimator.jacobian(&[1.0; 3], &[0.0; 3]).unwrap();
        cheapest_attacks(&h, alterable, 100_000_000)
            .into_iter()
            .map(|(s, a)| (s, a.as_ref().map(|a| a.index), a.map(|a| a.altered).unwrap_or_default()))
            .collect()
    }

    fn index_of(all: &[(StateVariable, Option<SecurityIndex>, Vec<usize>)], state: StateVariable) -> (Option<SecurityIndex>, Vec<usize>) {
        let (_, i, altered) = all.iter().find(|(s, ..)| *s == state).unwrap();
        (*i, altered.clone())
    }

    #[test]
    fn chain_without_protection_has_the_indices_worked_out_by_hand() {
        let all = attacks(&quantities(), &[true; 6]);
        // θ1 and θ2: move both together, only the flow on a changes (θ2 alone would change two).
        assert_eq!(index_of(&all, StateVariable::Angle { bus: 1 }), (Some(SecurityIndex::Exact(1)), vec![0]));
        assert_eq!(index_of(&all, StateVariable::Angle { bus: 2 }), (Some(SecurityIndex::Exact(1)), vec![0]));
        // Each magnitude only in its own |V| measurement (P does not depend on |V| here).
        for bus in 0..3 {
            assert_eq!(index_of(&all, StateVariable::Magnitude { bus }), (Some(SecurityIndex::Exact(1)), vec![3 + bus]));
        }
    }

    #[test]
    fn a_protected_measurement_makes_the_attack_impossible_or_dearer() {
        // The flow on a is signed at the device: θ1 cannot move without changing it.
        let mut alterable = [true; 6];
        alterable[0] = false;
        let all = attacks(&quantities(), &alterable);
        assert_eq!(index_of(&all, StateVariable::Angle { bus: 1 }).0, None);
        // θ2 alone then: the flow on b and the injection at 2.
        assert_eq!(index_of(&all, StateVariable::Angle { bus: 2 }), (Some(SecurityIndex::Exact(2)), vec![1, 2]));
        // The flow on b protected instead: θ2 alone would change it, so θ1 and θ2 move
        // together, which changes the flow on a only.
        let mut alterable = [true; 6];
        alterable[1] = false;
        let all = attacks(&quantities(), &alterable);
        assert_eq!(index_of(&all, StateVariable::Angle { bus: 2 }), (Some(SecurityIndex::Exact(1)), vec![0]));
    }

    #[test]
    fn an_unmeasured_state_has_index_zero() {
        let all = attacks(&quantities()[..5], &[true; 5]);
        assert_eq!(index_of(&all, StateVariable::Magnitude { bus: 2 }), (Some(SecurityIndex::Exact(0)), vec![]));
    }

    #[test]
    fn enumeration_agrees_with_brute_force_over_measurement_subsets_on_a_lossy_mesh() {
        // A lossy triangle with a tail at an operating point away from flat start, P, Q, |V|
        // and |I|: every index from the enumeration equals the smallest set S of alterable
        // measurements whose removal (from the rest) leaves the state undetermined.
        let mut slack = Bus::pq("0", 20.0);
        slack.kind = BusKind::Slack;
        let network = Network {
            base_mva: 100.0,
            buses: vec![slack, Bus::pq("1", 20.0), Bus::pq("2", 20.0), Bus::pq("3", 20.0)],
            branches: vec![
                Branch::line("a", 0, 1, C64::new(0.02, 0.1), C64::new(0.0, 0.01)),
                Branch::line("b", 1, 2, C64::new(0.03, 0.12), C64::default()),
                Branch::line("c", 0, 2, C64::new(0.01, 0.08), C64::default()),
                Branch::line("d", 2, 3, C64::new(0.05, 0.1), C64::default()),
            ],
        };
        let quantities = [
            Quantity::FlowP { branch: 0, end: End::From },
            Quantity::FlowQ { branch: 0, end: End::From },
            Quantity::FlowP { branch: 3, end: End::To },
            Quantity::InjectionP { bus: 1 },
            Quantity::InjectionQ { bus: 1 },
            Quantity::InjectionP { bus: 2 },
            Quantity::InjectionQ { bus: 3 },
            Quantity::VoltageMagnitude { bus: 0 },
            Quantity::VoltageMagnitude { bus: 3 },
            Quantity::CurrentMagnitude { branch: 2, end: End::From },
        ];
        let alterable = [true, true, true, false, true, true, false, true, true, true];
        let measurements: Vec<Measurement> = quantities.iter().map(|&quantity| Measurement { quantity, value: 0.0, sigma: 1.0 }).collect();
        let estimator = Estimator::new(&network, &measurements).unwrap();
        let h = estimator.jacobian(&[1.02, 0.99, 0.98, 0.96], &[0.0, -0.03, -0.05, -0.08]).unwrap();
        let found = cheapest_attacks(&h, &alterable, 1_000_000_000);
        let m = quantities.len();
        for (j, (state, attack)) in found.iter().enumerate() {
            // Brute force: the smallest S such that e_j is not in the row space of H without S.
            let mut brute = None;
            'size: for size in 0..=m {
                for set in Subsets::new(m, size) {
                    if set.iter().any(|&i| !alterable[i]) {
                        continue;
                    }
                    let kept: Vec<Vec<f64>> = (0..m).filter(|i| !set.contains(i)).map(|i| h.rows[i].clone()).collect();
                    if null_space(&kept, h.columns.len()).iter().any(|x| x[j].abs() > 1e-9) {
                        brute = Some(size);
                        break 'size;
                    }
                }
            }
            assert_eq!(attack.as_ref().map(|a| a.index), brute.map(SecurityIndex::Exact), "{state:?}");
            if let Some(a) = attack {
                // The witness: a = Hc is zero on the protected rows and non-zero exactly on `altered`.
                for (i, row) in h.rows.iter().enumerate() {
                    let hc: f64 = row.iter().zip(&a.change).map(|(x, y)| x * y).sum();
                    let scale = row.iter().map(|x| x.abs()).fold(0.0, f64::max);
                    assert_eq!(hc.abs() > 1e-7 * scale, a.altered.contains(&i), "{state:?}, row {i}: (Hc)_i = {hc}");
                }
                assert_eq!(a.altered.len(), a.index.count().unwrap());
            }
        }
    }

    #[test]
    fn a_small_budget_gives_an_upper_bound_that_is_never_below_the_minimum() {
        // Without protection d = n: the minimum for θ2 (1) needs sets of four rows; with almost
        // no work only the empty set runs, and its support (every row θ2 reaches) is a bound.
        let network = chain();
        let measurements: Vec<Measurement> =
            quantities().iter().map(|&quantity| Measurement { quantity, value: 0.0, sigma: 1.0 }).collect();
        let estimator = Estimator::new(&network, &measurements).unwrap();
        let h = estimator.jacobian(&[1.0; 3], &[0.0; 3]).unwrap();
        let theta2 = |work| {
            cheapest_attacks(&h, &[true; 6], work).into_iter().find(|(s, _)| *s == StateVariable::Angle { bus: 2 }).unwrap().1.unwrap()
        };
        let cheap = theta2(1);
        assert!(matches!(cheap.index, SecurityIndex::AtMost(k) if k > 1), "{:?}", cheap.index);
        assert_eq!(cheap.altered.len(), cheap.index.count().unwrap());
        assert_eq!(theta2(100_000_000).index, SecurityIndex::Exact(1));
    }

    #[test]
    fn subsets_are_all_k_combinations() {
        assert_eq!(Subsets::new(4, 2).collect::<Vec<_>>(), [vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
        assert_eq!(Subsets::new(3, 0).collect::<Vec<_>>(), [Vec::<usize>::new()]);
        assert_eq!(Subsets::new(2, 3).count(), 0);
    }
}
