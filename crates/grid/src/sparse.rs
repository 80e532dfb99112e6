//! Sparse LU on a symmetric pattern, with a minimum-degree ordering and a symbolic
//! factorisation that is done once per pattern and reused for every numeric factorisation.
//!
//! Both matrices this crate factors have a (nearly) symmetric pattern: the power flow Jacobian
//! has the pattern of the admittance matrix in 2×2 blocks, the estimator's gain G = Hᵀ W H is
//! symmetric. So the pattern is symmetrised, ordered by minimum degree (the node of smallest
//! degree is eliminated first and its neighbours joined into a clique; a radial grid then has
//! no fill at all), the fill is computed column by column over the elimination tree, and the
//! numeric factorisation is row-wise LU without pivoting on that fixed pattern (the diagonal
//! dominates in both matrices; a pivot that is not usable is reported by its column, and the
//! caller decides what that means: an unobservable state, or a fallback to dense LU with
//! partial pivoting in the power flow). No external crate: the whole of it is a hundred lines,
//! and the reuse across time steps is what makes it fast, not the kernel.

use std::collections::BTreeSet;

/// The ordering and the filled pattern of one sparsity pattern.
#[derive(Debug, Clone)]
pub(crate) struct Symbolic {
    /// `order[new] = old`.
    order: Vec<usize>,
    /// `position[old] = new`.
    position: Vec<usize>,
    /// Row `i` (permuted) of the filled pattern is `cols[row_start[i]..row_start[i + 1]]`, sorted.
    row_start: Vec<usize>,
    cols: Vec<usize>,
    /// Index of the diagonal entry of each row in `cols`.
    diag: Vec<usize>,
    /// For [`Symbolic::inverse_on_pattern`]: the slot of each entry's transpose, and for each
    /// row i (last first) and each pair (j, k) of its upper entries, the slot of (k, j).
    transpose: Vec<usize>,
    clique: Vec<usize>,
}

impl Symbolic {
    /// Orders and fills the pattern of an `n`×`n` matrix with the given off-diagonal entries
    /// (either triangle, duplicates allowed; the diagonal is always in the pattern).
    pub(crate) fn new(n: usize, entries: impl IntoIterator<Item = (usize, usize)>) -> Self {
        let mut graph: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); n];
        for (r, c) in entries {
            if r != c && r < n && c < n {
                graph[r].insert(c);
                graph[c].insert(r);
            }
        }
        let order = minimum_degree(graph.clone());
        let mut position = vec![0; n];
        for (new, &old) in order.iter().enumerate() {
            position[old] = new;
        }
        // Column k of L: the permuted neighbours after k, plus the fill its children pass up
        // the elimination tree (everything but the parent goes to the parent).
        let mut lower: Vec<BTreeSet<usize>> =
            (0..n).map(|k| graph[order[k]].iter().map(|&o| position[o]).filter(|&r| r > k).collect()).collect();
        for k in 0..n {
            if let Some(&parent) = lower[k].iter().next() {
                let passed: Vec<usize> = lower[k].iter().copied().filter(|&r| r != parent).collect();
                lower[parent].extend(passed);
            }
        }
        let mut rows: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
        for (k, column) in lower.iter().enumerate() {
            for &r in column {
                rows[r].push(k);
                rows[k].push(r);
            }
        }
        let (mut row_start, mut cols, mut diag) = (vec![0], Vec::new(), Vec::with_capacity(n));
        for (i, mut row) in rows.into_iter().enumerate() {
            row.sort_unstable();
            diag.push(cols.len() + row.partition_point(|&c| c < i));
            cols.extend(row);
            row_start.push(cols.len());
        }
        let find = |r: usize, c: usize| row_start[r] + cols[row_start[r]..row_start[r + 1]].partition_point(|&x| x < c);
        let transpose = (0..n).flat_map(|r| (row_start[r]..row_start[r + 1]).map(move |p| (r, p))).map(|(r, p)| find(cols[p], r)).collect();
        // In the order inverse_on_pattern consumes them: last row first.
        let mut clique = Vec::new();
        for i in (0..n).rev() {
            let upper = &cols[diag[i] + 1..row_start[i + 1]];
            for &j in upper {
                clique.extend(upper.iter().map(|&k| find(k, j)));
            }
        }
        Self { order, position, row_start, cols, diag, transpose, clique }
    }

    /// Number of stored entries (the length of the value array).
    pub(crate) fn len(&self) -> usize {
        self.cols.len()
    }

    /// Where entry (`row`, `col`) of the original matrix is stored, if in the pattern.
    pub(crate) fn slot(&self, row: usize, col: usize) -> Option<usize> {
        let (r, c) = (*self.position.get(row)?, *self.position.get(col)?);
        let range = self.row_start[r]..self.row_start[r + 1];
        self.cols[range.clone()].binary_search(&c).ok().map(|p| range.start + p)
    }

    /// Factors the matrix whose entries are in `values` (by [`Symbolic::slot`]) in place into
    /// L (unit diagonal, not stored) and U. A pivot below `1e-12` of its row's largest original
    /// entry (or not finite) stops it: `Err` holds the original column.
    pub(crate) fn factor(&self, values: &mut [f64], work: &mut Vec<f64>) -> Result<(), usize> {
        self.factor_with(values, work, false).map(|_| ())
    }

    /// Factors a symmetric positive semi-definite matrix, replacing each zero pivot by 1 (with
    /// the rest of its row cleared, so that its unknown becomes free): the triangular
    /// factorisation of numerical observability analysis. Returns the original columns whose
    /// pivots were replaced, in elimination order.
    pub(crate) fn factor_singular(&self, values: &mut [f64], work: &mut Vec<f64>) -> Vec<usize> {
        self.factor_with(values, work, true).unwrap_or_default()
    }

    fn factor_with(&self, values: &mut [f64], work: &mut Vec<f64>, replace: bool) -> Result<Vec<usize>, usize> {
        let n = self.order.len();
        let mut replaced = Vec::new();
        work.clear();
        work.resize(n, 0.0);
        for i in 0..n {
            let row = self.row_start[i]..self.row_start[i + 1];
            let mut largest = 0.0_f64;
            for p in row.clone() {
                work[self.cols[p]] = values[p];
                largest = largest.max(values[p].abs());
            }
            for p in self.row_start[i]..self.diag[i] {
                let k = self.cols[p];
                let l = work[k] / values[self.diag[k]];
                work[k] = l;
                if l != 0.0 {
                    let upper = self.diag[k] + 1..self.row_start[k + 1];
                    for (&c, &u) in self.cols[upper.clone()].iter().zip(&values[upper]) {
                        work[c] -= l * u;
                    }
                }
            }
            let pivot = work[i];
            let usable = pivot.abs() > 1e-12 * largest && pivot.is_finite();
            for p in row {
                let c = self.cols[p];
                values[p] = match (usable, c == i) {
                    (true, _) => work[c],
                    (false, true) => 1.0,
                    (false, false) => 0.0,
                };
                work[c] = 0.0;
            }
            if !usable {
                if !replace {
                    return Err(self.order[i]);
                }
                replaced.push(self.order[i]);
            }
        }
        Ok(replaced)
    }

    /// Solves `A x = b` with the factors from [`Symbolic::factor`]; `b` becomes `x`.
    pub(crate) fn solve(&self, values: &[f64], b: &mut [f64], work: &mut Vec<f64>) {
        let n = self.order.len();
        work.clear();
        work.extend(self.order.iter().map(|&o| b[o]));
        let dot = |range: std::ops::Range<usize>, work: &[f64]| -> f64 {
            self.cols[range.clone()].iter().zip(&values[range]).map(|(&c, &x)| x * work[c]).sum()
        };
        for i in 0..n {
            work[i] -= dot(self.row_start[i]..self.diag[i], work);
        }
        for i in (0..n).rev() {
            work[i] = (work[i] - dot(self.diag[i] + 1..self.row_start[i + 1], work)) / values[self.diag[i]];
        }
        for (new, &old) in self.order.iter().enumerate() {
            b[old] = work[new];
        }
    }

    /// The entries of A⁻¹ on the filled pattern of a factored symmetric A (Takahashi's
    /// equations on A = L D Lᵀ, D = diag(U), from the last row up), by [`Symbolic::slot`]. Every
    /// pair of states one measurement row couples lies in the pattern of the gain, hence here.
    pub(crate) fn inverse_on_pattern(&self, values: &[f64]) -> Vec<f64> {
        let n = self.order.len();
        let mut z = vec![0.0; values.len()];
        let mut clique = self.clique.iter();
        for i in (0..n).rev() {
            let d = values[self.diag[i]];
            // L_ki = U_ik / d_i for the k > i in the pattern of row i.
            let upper = self.diag[i] + 1..self.row_start[i + 1];
            for p in upper.clone() {
                let sum: f64 = upper.clone().zip(clique.by_ref()).map(|(q, &kj)| values[q] / d * z[kj]).sum();
                z[p] = -sum;
                z[self.transpose[p]] = -sum;
            }
            let sum: f64 = upper.map(|q| values[q] / d * z[q]).sum();
            z[self.diag[i]] = 1.0 / d - sum;
        }
        z
    }
}

/// Minimum-degree ordering by explicit elimination (ties to the lowest index, so it is
/// deterministic), with a heap of (degree, node) in which stale entries are skipped.
fn minimum_degree(mut graph: Vec<BTreeSet<usize>>) -> Vec<usize> {
    use std::cmp::Reverse;
    let n = graph.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut heap: std::collections::BinaryHeap<Reverse<(usize, usize)>> = (0..n).map(|i| Reverse((graph[i].len(), i))).collect();
    while let Some(Reverse((degree, node))) = heap.pop() {
        if done[node] || degree != graph[node].len() {
            continue;
        }
        done[node] = true;
        order.push(node);
        let neighbours: Vec<usize> = std::mem::take(&mut graph[node]).into_iter().collect();
        for &a in &neighbours {
            graph[a].remove(&node);
            for &b in &neighbours {
                if a != b {
                    graph[a].insert(b);
                }
            }
            heap.push(Reverse((graph[a].len(), a)));
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::Symbolic;

    /// A 4×4 unsymmetric matrix on an arrow pattern (the hub first, so the ordering must move it).
    fn arrow() -> (Vec<Vec<f64>>, Symbolic) {
        let a = vec![vec![10.0, 1.0, 2.0, 3.0], vec![2.0, 5.0, 0.0, 0.0], vec![1.0, 0.0, 4.0, 0.0], vec![0.5, 0.0, 0.0, 3.0]];
        let entries = (0..4).flat_map(|r| (0..4).map(move |c| (r, c))).filter(|&(r, c)| a[r][c] != 0.0);
        let symbolic = Symbolic::new(4, entries.collect::<Vec<_>>());
        (a, symbolic)
    }

    #[test]
    fn sparse_lu_solves_an_arrow_matrix_without_fill() {
        let (a, symbolic) = arrow();
        assert_eq!(symbolic.len(), 10, "minimum degree puts the hub last: no fill");
        let mut values = vec![0.0; symbolic.len()];
        for (r, row) in a.iter().enumerate() {
            for (c, &x) in row.iter().enumerate().filter(|(_, x)| **x != 0.0) {
                values[symbolic.slot(r, c).unwrap()] = x;
            }
        }
        let mut work = Vec::new();
        symbolic.factor(&mut values, &mut work).unwrap();
        let x = [1.0, -2.0, 0.5, 3.0];
        let mut b: Vec<f64> = a.iter().map(|row| row.iter().zip(&x).map(|(a, x)| a * x).sum()).collect();
        symbolic.solve(&values, &mut b, &mut work);
        for (got, want) in b.iter().zip(&x) {
            assert!((got - want).abs() < 1e-12, "{b:?}");
        }
    }

    #[test]
    fn takahashi_inverse_matches_solves_with_unit_vectors() {
        // Symmetric positive definite tridiagonal plus one long link: fill appears.
        let n = 6;
        let mut a = vec![vec![0.0; n]; n];
        for i in 0..n {
            a[i][i] = 4.0 + i as f64;
            if i + 1 < n {
                a[i][i + 1] = -1.0;
                a[i + 1][i] = -1.0;
            }
        }
        (a[0][5], a[5][0]) = (-0.5, -0.5);
        let entries: Vec<(usize, usize)> = (0..n).flat_map(|r| (0..n).map(move |c| (r, c))).filter(|&(r, c)| a[r][c] != 0.0).collect();
        let symbolic = Symbolic::new(n, entries);
        let mut values = vec![0.0; symbolic.len()];
        for r in 0..n {
            for c in 0..n {
                if a[r][c] != 0.0 {
                    values[symbolic.slot(r, c).unwrap()] = a[r][c];
                }
            }
        }
        let mut work = Vec::new();
        symbolic.factor(&mut values, &mut work).unwrap();
        let z = symbolic.inverse_on_pattern(&values);
        for c in 0..n {
            let mut unit = vec![0.0; n];
            unit[c] = 1.0;
            symbolic.solve(&values, &mut unit, &mut work);
            for (r, x) in unit.iter().enumerate() {
                if let Some(p) = symbolic.slot(r, c) {
                    assert!((z[p] - x).abs() < 1e-12, "Z[{r}][{c}] {} vs {x}", z[p]);
                }
            }
        }
    }

    #[test]
    fn a_singular_matrix_names_its_column() {
        let symbolic = Symbolic::new(2, [(0, 1)]);
        let mut values = vec![0.0; symbolic.len()];
        for (r, c, x) in [(0, 0, 1.0), (0, 1, 2.0), (1, 0, 2.0), (1, 1, 4.0)] {
            values[symbolic.slot(r, c).unwrap()] = x;
        }
        assert!(symbolic.factor(&mut values, &mut Vec::new()).is_err());
    }
}
