//! The radial test grid of power-grid-model's benchmark, generated here so that the speed and
//! the results can be compared with power-grid-model on the same grid and the same time steps.
//!
//! Shape (power-grid-model-benchmark, `generate_fictional_dataset.py`): one 10 kV source node
//! (0) at 1.05 pu feeding `feeders` feeders of `nodes_per_feeder` nodes each in a chain; node
//! `f·n + j` (j = 1..=n) is the j-th node of feeder f. Every line is the benchmark's 630 mm² Al
//! XLPE cable (r1 = 0.063 Ω/km, x1 = 0.103 Ω/km, c1 = 0.4 µF/km, no shunt conductance) of a
//! length drawn uniformly in [0.8, 1.2] km; every node but the source has a constant-power load
//! drawn uniformly in [0.2, 0.4] MW at power factor 0.95. Time steps scale each load by a factor
//! drawn uniformly in [0.5, 1.5]. The benchmark's loads are three-phase asymmetric; here they
//! are balanced (this crate is single-phase), so power-grid-model runs its symmetric
//! calculation on the exported grid. The random numbers come from a seeded xorshift64*, so a
//! seed gives the same grid on every machine (not numpy's numbers: the grid is ours, exported).
//!
//! [`Generated::write_pgm`] writes the grid and the profiles for `peer/pgm.py`, which builds
//! the power-grid-model input from them; [`Generated::measurements`] and
//! [`Generated::write_pgm_measurements`] do the same for a state estimation.

use std::io::Write;
use std::path::Path;

use crate::complex::C64;
use crate::estimate::{End, Measurement, Quantity};
use crate::network::{Branch, Bus, BusKind, Network};
use crate::powerflow::Solution;

/// Rated voltage of every node, kV.
pub const U_RATED_KV: f64 = 10.0;
/// The system base, MVA (per-unit impedances are Ω / (10² / 10) = Ω / 10).
pub const BASE_MVA: f64 = 10.0;
/// Source voltage, pu.
pub const SOURCE_U_PU: f64 = 1.05;
/// Cable resistance, reactance (Ω/km) and capacitance (F/km).
const R1: f64 = 0.063;
const X1: f64 = 0.103;
const C1: f64 = 0.4e-6;
const FREQUENCY_HZ: f64 = 50.0;

/// The shape and seed of a generated grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feeders {
    /// Number of feeders from the source node.
    pub feeders: usize,
    /// Nodes per feeder.
    pub nodes_per_feeder: usize,
    /// Seed of the random cable lengths and loads.
    pub seed: u64,
}

/// A generated grid.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The network in per unit on [`BASE_MVA`]; bus injections are the base loads.
    pub network: Network,
    /// Length of each line (same order as `network.branches`), km.
    pub lengths_km: Vec<f64>,
    /// Base load of each node 1.. (consumption positive), MW + j Mvar.
    pub loads_mva: Vec<C64>,
}

impl Feeders {
    /// The benchmark's shape: 100 feeders × 10 nodes (1,001 nodes).
    pub const BENCHMARK: Feeders = Feeders { feeders: 100, nodes_per_feeder: 10, seed: 0 };

    /// Generates the grid (see the module doc).
    pub fn generate(&self) -> Generated {
        let mut rng = Rng::new(self.seed);
        let n_node = self.feeders * self.nodes_per_feeder + 1;
        let z_base = U_RATED_KV * U_RATED_KV / BASE_MVA;
        let mut buses: Vec<Bus> = (0..n_node).map(|i| Bus::pq(i.to_string(), U_RATED_KV)).collect();
        buses[0].kind = BusKind::Slack;
        buses[0].v_set = SOURCE_U_PU;
        let (mut branches, mut lengths_km) = (Vec::new(), Vec::new());
        for f in 0..self.feeders {
            for j in 1..=self.nodes_per_feeder {
                let to = f * self.nodes_per_feeder + j;
                let from = if j == 1 { 0 } else { to - 1 };
                let length = rng.uniform_in(0.8, 1.2);
                let z = C64::new(R1 * length / z_base, X1 * length / z_base);
                let b = 2.0 * std::f64::consts::PI * FREQUENCY_HZ * C1 * length * z_base;
                branches.push(Branch::line(format!("{from}-{to}"), from, to, z, C64::new(0.0, b)));
                lengths_km.push(length);
            }
        }
        let q_per_p = (1.0 - 0.95_f64 * 0.95).sqrt() / 0.95;
        let loads_mva: Vec<C64> = (1..n_node)
            .map(|_| {
                let p = rng.uniform_in(0.2, 0.4);
                C64::new(p, p * q_per_p)
            })
            .collect();
        let mut network = Network { base_mva: BASE_MVA, buses, branches };
        for (bus, injection) in network.buses.iter_mut().skip(1).zip(injections(&loads_mva)) {
            (bus.p, bus.q) = (injection.re, injection.im);
        }
        Generated { network, lengths_km, loads_mva }
    }
}

/// Bus injections in pu (generation positive) of loads in MVA (consumption positive), for the
/// buses after the source.
fn injections(loads_mva: &[C64]) -> impl Iterator<Item = C64> + '_ {
    loads_mva.iter().map(|s| s.scale(-1.0 / BASE_MVA))
}

impl Generated {
    /// `steps` load profiles: each load scaled by its own factor in [0.5, 1.5] per step.
    pub fn profiles(&self, steps: usize, seed: u64) -> Vec<Vec<C64>> {
        let mut rng = Rng::new(seed);
        (0..steps).map(|_| self.loads_mva.iter().map(|s| s.scale(rng.uniform_in(0.5, 1.5))).collect()).collect()
    }

    /// The scheduled injection of every bus (pu, the source's 0) for one profile, as
    /// [`crate::PowerFlow::solve`] takes it.
    pub fn scheduled(&self, loads_mva: &[C64]) -> Vec<C64> {
        std::iter::once(C64::default()).chain(injections(loads_mva)).collect()
    }

    /// Writes `grid.json` (nodes, lines with r1/x1/c1 in Ω and F, loads in W and var, the
    /// source) and `load_p.f64`, `load_q.f64` (the profiles in W and var, step-major, little
    /// endian) into `dir`, for `peer/pgm.py`.
    pub fn write_pgm(&self, dir: &Path, profiles: &[Vec<C64>]) -> std::io::Result<()> {
        let list = |values: &mut dyn Iterator<Item = f64>| values.map(|x| format!("{x:e}")).collect::<Vec<_>>().join(",");
        let branches = &self.network.branches;
        let json = format!(
            "{{\"u_rated\":{},\"base_mva\":{},\"source_u_ref\":{},\"n_node\":{},\"from_node\":[{}],\"to_node\":[{}],\"r1\":[{}],\"x1\":[{}],\"c1\":[{}],\
             \"load_p\":[{}],\"load_q\":[{}],\"steps\":{}}}",
            U_RATED_KV * 1e3,
            BASE_MVA,
            SOURCE_U_PU,
            self.network.buses.len(),
            list(&mut branches.iter().map(|b| b.from as f64)),
            list(&mut branches.iter().map(|b| b.to as f64)),
            list(&mut self.lengths_km.iter().map(|l| R1 * l)),
            list(&mut self.lengths_km.iter().map(|l| X1 * l)),
            list(&mut self.lengths_km.iter().map(|l| C1 * l)),
            list(&mut self.loads_mva.iter().map(|s| s.re * 1e6)),
            list(&mut self.loads_mva.iter().map(|s| s.im * 1e6)),
            profiles.len(),
        );
        std::fs::write(dir.join("grid.json"), json)?;
        write_f64(&dir.join("load_p.f64"), profiles.iter().flatten().map(|s| s.re * 1e6))?;
        write_f64(&dir.join("load_q.f64"), profiles.iter().flatten().map(|s| s.im * 1e6))
    }
}

/// Standard deviations of generated measurements, pu.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sigmas {
    /// Of |V|.
    pub v: f64,
    /// Of P and Q injections.
    pub injection: f64,
    /// Of P and Q flows.
    pub flow: f64,
}

impl Generated {
    /// The branches leaving the source node (the feeder heads), in order.
    pub fn feeder_heads(&self) -> Vec<usize> {
        self.network.branches.iter().enumerate().filter(|(_, b)| b.from == 0).map(|(i, _)| i).collect()
    }

    /// Measurements of a solved state with Gaussian noise of `sigmas`: |V| at every node, P
    /// injections then Q injections at every node but the source, P then Q into every feeder
    /// head. The order is the one [`Generated::write_pgm_measurements`] and `peer/pgm.py` use.
    pub fn measurements(&self, solution: &Solution, sigmas: &Sigmas, rng: &mut Rng) -> Vec<Measurement> {
        let mut noisy = |quantity: Quantity, value: f64, sigma: f64| Measurement { quantity, value: value + sigma * rng.gaussian(), sigma };
        let n = self.network.buses.len();
        let mut out: Vec<Measurement> = (0..n).map(|bus| noisy(Quantity::VoltageMagnitude { bus }, solution.v[bus], sigmas.v)).collect();
        out.extend((1..n).map(|bus| noisy(Quantity::InjectionP { bus }, solution.s[bus].re, sigmas.injection)));
        out.extend((1..n).map(|bus| noisy(Quantity::InjectionQ { bus }, solution.s[bus].im, sigmas.injection)));
        let voltage = |i: usize| C64::polar(solution.v[i], solution.theta[i]);
        let flows: Vec<(usize, C64)> = self
            .feeder_heads()
            .into_iter()
            .map(|h| {
                let b = &self.network.branches[h];
                let [yff, yft, _, _] = b.admittances();
                let vf = voltage(b.from);
                (h, vf * (yff * vf + yft * voltage(b.to)).conj())
            })
            .collect();
        out.extend(flows.iter().map(|&(branch, s)| noisy(Quantity::FlowP { branch, end: End::From }, s.re, sigmas.flow)));
        out.extend(flows.iter().map(|&(branch, s)| noisy(Quantity::FlowQ { branch, end: End::From }, s.im, sigmas.flow)));
        out
    }

    /// Writes `se.json` (feeder heads, σ) and `meas.f64` (the values of each step's
    /// [`Generated::measurements`], step-major) into `dir`, for `peer/pgm.py`'s state estimation.
    pub fn write_pgm_measurements(&self, dir: &Path, sigmas: &Sigmas, measured: &[Vec<Measurement>]) -> std::io::Result<()> {
        let heads = self.feeder_heads().iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",");
        let json = format!(
            "{{\"heads\":[{heads}],\"sigma_v\":{:e},\"sigma_injection\":{:e},\"sigma_flow\":{:e}}}",
            sigmas.v, sigmas.injection, sigmas.flow
        );
        std::fs::write(dir.join("se.json"), json)?;
        write_f64(&dir.join("meas.f64"), measured.iter().flatten().map(|z| z.value))
    }
}

/// Writes numbers as little-endian f64 (numpy's `fromfile(dtype='<f8')`).
pub fn write_f64(path: &Path, values: impl IntoIterator<Item = f64>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for x in values {
        out.write_all(&x.to_le_bytes())?;
    }
    out.flush()
}

/// Reads little-endian f64 written by [`write_f64`] or numpy's `tofile`.
pub fn read_f64(path: &Path) -> std::io::Result<Vec<f64>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect())
}

/// xorshift64* with Box-Muller: deterministic numbers without a dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; 0 is remapped, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Uniform in (low, high).
    pub fn uniform_in(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Standard normal.
    pub fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::Feeders;

    #[test]
    fn benchmark_grid_has_the_benchmark_shape() {
        let grid = Feeders::BENCHMARK.generate();
        assert_eq!(grid.network.buses.len(), 1001);
        assert_eq!(grid.network.branches.len(), 1000);
        assert_eq!(grid.network.islands().len(), 1);
        // Feeder heads hang on the source; the rest chain.
        assert_eq!((grid.network.branches[0].from, grid.network.branches[10].from, grid.network.branches[11].from), (0, 0, 11));
        assert!(grid.lengths_km.iter().all(|l| (0.8..1.2).contains(l)));
        assert!(grid.loads_mva.iter().all(|s| (0.2..0.4).contains(&s.re) && (s.im / s.re - 0.3287).abs() < 1e-3));
        assert_eq!(Feeders::BENCHMARK.generate().lengths_km, grid.lengths_km, "deterministic");
    }
}
