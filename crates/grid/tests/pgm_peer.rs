//! Our power flow and estimator against power-grid-model (PyPI `power-grid-model`, run by
//! `peer/pgm.py`) on a generated radial grid of 10 feeders × 10 nodes.
//!
//! Power flow, over 5 load profiles: node voltage magnitudes
//! and angles must agree within 1e-9 pu and 1e-9 rad (both solvers stop at a mismatch or step
//! of 1e-8 and converge quadratically, so the last step leaves far less; measured: 4e-11; the
//! source's short-circuit power of 1e20 VA makes its internal impedance nil).
//!
//! State estimation, over 3 profiles with noisy measurements (|V| everywhere, P/Q injections,
//! feeder-head flows): our WLS estimate and power-grid-model's Newton-Raphson estimate minimise
//! the same weighted sum, so they must agree within 1e-8 pu and rad (both stop at a step of
//! 1e-8; measured: 3e-11 on the benchmark grid). Its iterative-linear method solves a
//! linearised problem and is not compared here.
//! Prints SKIP and returns when python3 or power-grid-model is missing, unless
//! GRIDTRUST_REQUIRE_PEERS is set.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use gridtrust_grid::estimate::{EstimateOptions, Estimator, Measurement};
use gridtrust_grid::feeders::{Feeders, Rng, Sigmas, read_f64};
use gridtrust_grid::{Options, PowerFlow};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peer/pgm.py");

fn peer_installed(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import power_grid_model"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "{test}: power-grid-model is required (GRIDTRUST_REQUIRE_PEERS) but not installed"
        );
        eprintln!("SKIP {test}: python3 with power-grid-model is not installed (pip install power-grid-model)");
    }
    ok
}

/// A fresh folder under the temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn power_flow_matches_power_grid_model_on_a_generated_radial_grid() {
    let test = "power_flow_matches_power_grid_model_on_a_generated_radial_grid";
    if !peer_installed(test) {
        return;
    }
    let grid = Feeders { feeders: 10, nodes_per_feeder: 10, seed: 7 }.generate();
    let profiles = grid.profiles(5, 11);
    let dir = TempDir(std::env::temp_dir().join(format!("gridtrust-pgm-pf-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    grid.write_pgm(&dir.0, &profiles).unwrap();
    let output = Command::new("python3").arg(SCRIPT).arg(&dir.0).output().unwrap();
    assert!(output.status.success(), "pgm.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let (u, angle) = (read_f64(&dir.0.join("pf_u.f64")).unwrap(), read_f64(&dir.0.join("pf_angle.f64")).unwrap());
    let n = grid.network.buses.len();
    assert_eq!((u.len(), angle.len()), (5 * n, 5 * n));

    let flow = PowerFlow::new(&grid.network).unwrap();
    let (mut worst_v, mut worst_angle) = (0.0_f64, 0.0_f64);
    for (step, loads) in profiles.iter().enumerate() {
        let ours = flow.solve(&grid.scheduled(loads), &Options::default()).unwrap();
        for i in 0..n {
            worst_v = worst_v.max((ours.v[i] - u[step * n + i]).abs());
            worst_angle = worst_angle.max((ours.theta[i] - angle[step * n + i]).abs());
        }
    }
    eprintln!("largest difference to power-grid-model: {worst_v:e} pu, {worst_angle:e} rad");
    assert!(worst_v < 1e-9 && worst_angle < 1e-9, "|ΔV| {worst_v:e} pu, |Δθ| {worst_angle:e} rad");
    // Not a trivial agreement: the far ends sag well below the source's 1.05 pu.
    let far = u[n - 1];
    assert!(far < 1.04, "voltage at the end of the last feeder {far}");
}

#[test]
fn state_estimate_matches_power_grid_model_newton_raphson() {
    let test = "state_estimate_matches_power_grid_model_newton_raphson";
    if !peer_installed(test) {
        return;
    }
    let grid = Feeders { feeders: 10, nodes_per_feeder: 10, seed: 3 }.generate();
    let profiles = grid.profiles(3, 5);
    let flow = PowerFlow::new(&grid.network).unwrap();
    let sigmas = Sigmas { v: 0.002, injection: 0.001, flow: 0.002 };
    let mut rng = Rng::new(9);
    let measured: Vec<Vec<Measurement>> = profiles
        .iter()
        .map(|loads| grid.measurements(&flow.solve(&grid.scheduled(loads), &Options::default()).unwrap(), &sigmas, &mut rng))
        .collect();
    let dir = TempDir(std::env::temp_dir().join(format!("gridtrust-pgm-se-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    grid.write_pgm(&dir.0, &profiles).unwrap();
    grid.write_pgm_measurements(&dir.0, &sigmas, &measured).unwrap();
    let output = Command::new("python3").arg(SCRIPT).arg(&dir.0).output().unwrap();
    assert!(output.status.success(), "pgm.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let (u, angle) = (read_f64(&dir.0.join("se_nr_u.f64")).unwrap(), read_f64(&dir.0.join("se_nr_angle.f64")).unwrap());
    let n = grid.network.buses.len();
    assert_eq!((u.len(), angle.len()), (3 * n, 3 * n));

    let estimator = Estimator::new(&grid.network, &measured[0]).unwrap();
    let options = EstimateOptions { tolerance: 1e-8, ..EstimateOptions::default() };
    let (mut worst_v, mut worst_angle) = (0.0_f64, 0.0_f64);
    for (step, z) in measured.iter().enumerate() {
        let ours = estimator.estimate(z, &options).unwrap();
        for i in 0..n {
            worst_v = worst_v.max((ours.v[i] - u[step * n + i]).abs());
            worst_angle = worst_angle.max((ours.theta[i] - angle[step * n + i]).abs());
        }
    }
    eprintln!("largest difference to power-grid-model's estimate: {worst_v:e} pu, {worst_angle:e} rad");
    assert!(worst_v < 1e-8 && worst_angle < 1e-8, "|ΔV| {worst_v:e} pu, |Δθ| {worst_angle:e} rad");
}
