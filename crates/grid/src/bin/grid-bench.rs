//! Speed of the power flow and the state estimator against power-grid-model, in one run on the
//! same machine: the benchmark's radial grid (100 feeders × 10 nodes, 1,001 nodes) over 1,000
//! load profiles.
//!
//! `cargo run --release -p gridtrust-grid --bin grid-bench [STEPS] [DIR]`
//!
//! For each step: our Newton-Raphson power flow ([`PowerFlow::solve`], prepared once), then
//! measurements from that solution with Gaussian noise (|V| at every node, P and Q injection at
//! every load node, P and Q at the head of every feeder), then our WLS estimate
//! ([`Estimator::estimate`], prepared once). The grid, the profiles and the measured values are
//! written to DIR (a temporary folder unless given) and `peer/pgm.py` runs power-grid-model on
//! them as batches: power flow (Newton-Raphson) and state estimation (iterative linear, its
//! default, and Newton-Raphson). Printed: per-step figures (ours: median and mean of the
//! per-step times; power-grid-model: batch time / steps, median of 3 batches), single-estimate
//! latency, the ratio power-grid-model / ours (> 1: we are faster), the largest voltage
//! differences between the two, and the load average.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use gridtrust_grid::estimate::{EstimateOptions, Estimator, Measurement, estimate};
use gridtrust_grid::feeders::{Feeders, Rng, Sigmas, read_f64};
use gridtrust_grid::{Options, PowerFlow};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peer/pgm.py");
/// σ of |V|, of P/Q injections (10 kW on the 10 MVA base, a load is 200-400 kW) and of the
/// feeder-head flows, pu.
const SIGMAS: Sigmas = Sigmas { v: 0.002, injection: 0.001, flow: 0.002 };

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let (dir, keep) = match args.next() {
        Some(d) => (PathBuf::from(d), true),
        None => (std::env::temp_dir().join(format!("gridtrust-grid-bench-{}", std::process::id())), false),
    };
    std::fs::create_dir_all(&dir)?;
    let grid = Feeders::BENCHMARK.generate();
    let profiles = grid.profiles(steps, 1);
    let n = grid.network.buses.len();
    println!("grid: {} nodes, {} lines, {steps} time steps; load average before: {}", n, grid.network.branches.len(), loadavg());

    let start = Instant::now();
    let flow = PowerFlow::new(&grid.network)?;
    let pf_prepare = start.elapsed().as_secs_f64();
    let mut pf_times = Vec::with_capacity(steps);
    let mut solutions = Vec::with_capacity(steps);
    let pf_cpu = cpu_seconds();
    for loads in &profiles {
        let scheduled = grid.scheduled(loads);
        let start = Instant::now();
        let solution = flow.solve(&scheduled, &Options::default())?;
        pf_times.push(start.elapsed().as_secs_f64());
        solutions.push(solution);
    }
    let pf_cpu = (cpu_seconds() - pf_cpu) / steps as f64;

    let mut rng = Rng::new(2);
    let measured: Vec<Vec<Measurement>> = solutions.iter().map(|s| grid.measurements(s, &SIGMAS, &mut rng)).collect();
    let start = Instant::now();
    let estimator = Estimator::new(&grid.network, &measured[0])?;
    let se_prepare = start.elapsed().as_secs_f64();
    // power-grid-model's default error tolerance for state estimation (its power flow's is the
    // same 1e-8 as our Options::default, there on |ΔU|, here on the P/Q mismatch).
    let options = EstimateOptions { tolerance: 1e-8, ..EstimateOptions::default() };
    let (mut se_times, mut estimates) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
    let se_cpu = cpu_seconds();
    for z in &measured {
        let start = Instant::now();
        let estimate = estimator.estimate(z, &options)?;
        se_times.push(start.elapsed().as_secs_f64());
        // Only the state is kept: holding every residual vector would make each step fault in
        // fresh pages, which is the bench's cost, not the estimator's.
        estimates.push((estimate.v, estimate.theta, estimate.iterations));
    }
    let se_cpu = (cpu_seconds() - se_cpu) / steps as f64;
    let mut cold = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        estimate(&grid.network, &measured[0], &options)?;
        cold.push(start.elapsed().as_secs_f64());
    }
    let truth_error =
        estimates.iter().zip(&solutions).flat_map(|(e, s)| e.0.iter().zip(&s.v).map(|(a, b)| (a - b).abs())).fold(0.0_f64, f64::max);
    let iterations: Vec<f64> = estimates.iter().map(|e| e.2 as f64).collect();
    let pf_iterations: Vec<f64> = solutions.iter().map(|s| s.iterations as f64).collect();

    // The same grid, profiles and measured values for power-grid-model.
    grid.write_pgm(&dir, &profiles)?;
    grid.write_pgm_measurements(&dir, &SIGMAS, &measured)?;
    let load_between = loadavg();
    let output = Command::new("python3").arg(SCRIPT).arg(&dir).output()?;
    if !output.status.success() {
        return Err(format!("peer/pgm.py failed (pip install power-grid-model): {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    let figure = |key: &str| -> Result<f64, String> { field(&report, key).ok_or_else(|| format!("{key} missing in {report}")) };
    let version = report.split("\"power_grid_model\": \"").nth(1).and_then(|s| s.split('"').next()).unwrap_or("?").to_string();

    let compare = |name: &str, v: &[f64], a: &[f64]| -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let (u, angle) = (read_f64(&dir.join(format!("{name}_u.f64")))?, read_f64(&dir.join(format!("{name}_angle.f64")))?);
        let dv = u.iter().zip(v).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let da = angle.iter().zip(a).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        Ok((dv, da))
    };
    let flat = |f: &dyn Fn(usize) -> (Vec<f64>, Vec<f64>)| -> (Vec<f64>, Vec<f64>) {
        let (mut v, mut a) = (Vec::new(), Vec::new());
        for step in 0..steps {
            let (x, y) = f(step);
            v.extend(x);
            a.extend(y);
        }
        (v, a)
    };
    let (pf_v, pf_a) = flat(&|s| (solutions[s].v.clone(), solutions[s].theta.clone()));
    let (se_v, se_a) = flat(&|s| (estimates[s].0.clone(), estimates[s].1.clone()));
    let pf_diff = compare("pf", &pf_v, &pf_a)?;
    let se_nr_diff = compare("se_nr", &se_v, &se_a)?;
    let se_il_diff = compare("se_il", &se_v, &se_a)?;

    let ms = 1e3;
    let per_step = |key: &str| figure(key).map(|s| s / steps as f64 * ms);
    println!("power-grid-model {version} (python, symmetric, sequential batch); load average after our runs: {load_between}");
    println!();
    println!(
        "{:<52} {:>11} {:>11} {:>9} {:>7} {:>9} {:>9} {:>7}",
        "figure (ms)", "ours median", "ours mean", "pgm", "ratio", "ours cpu", "pgm cpu", "ratio"
    );
    let row = |name: &str, times: &[f64], pgm: f64, cpu: Option<(f64, f64)>| {
        let mean = times.iter().sum::<f64>() / times.len() as f64 * ms;
        let cpu = cpu.map(|(ours, pgm)| format!("{:>9.4} {:>9.4} {:>7.2}", ours * ms, pgm, pgm / (ours * ms))).unwrap_or_default();
        println!("{name:<52} {:>11.4} {mean:>11.4} {pgm:>9.4} {:>7.2} {cpu}", median(times) * ms, pgm / mean);
    };
    let per_step_cpu = |key: &str| figure(key).map(|s| s / steps as f64 * ms);
    row("power flow, per step (NR)", &pf_times, per_step("pf_batch_s")?, Some((pf_cpu, per_step_cpu("pf_batch_cpu_s")?)));
    row(
        "state estimation, per step (vs pgm iterative linear)",
        &se_times,
        per_step("se_il_batch_s")?,
        Some((se_cpu, per_step_cpu("se_il_batch_cpu_s")?)),
    );
    row(
        "state estimation, per step (vs pgm Newton-Raphson)",
        &se_times,
        per_step("se_nr_batch_s")?,
        Some((se_cpu, per_step_cpu("se_nr_batch_cpu_s")?)),
    );
    row("single estimate, prepared (vs pgm single call, IL)", &se_times, figure("se_il_single_s")? * ms, None);
    row("single estimate, prepared (vs pgm single call, NR)", &se_times, figure("se_nr_single_s")? * ms, None);
    row("single estimate incl. preparation (vs pgm, NR)", &cold, figure("se_nr_single_s")? * ms, None);
    row("single power flow, prepared (vs pgm single call)", &pf_times, figure("pf_single_s")? * ms, None);
    println!("(ratio = power-grid-model / ours, > 1: we are faster; wall ratios on our means; cpu: time on a CPU per step,");
    println!(" ours from /proc/thread-self/schedstat over the whole loop, pgm from process_time over the batch)");
    println!();
    println!("preparation once: power flow {:.3} ms, estimator {:.3} ms", pf_prepare * ms, se_prepare * ms);
    println!(
        "iterations: power flow median {}, estimate median {} (max {})",
        median(&pf_iterations),
        median(&iterations),
        iterations.iter().fold(0.0_f64, |a, &b| a.max(b))
    );
    println!("published anchor: power-grid-model 0.52 ms per Newton-Raphson step, pandapower about 13 ms");
    println!("largest |ΔV| pu, |Δθ| rad against power-grid-model over all steps:");
    println!("  power flow                       {:.1e}, {:.1e}", pf_diff.0, pf_diff.1);
    println!("  estimate vs pgm Newton-Raphson   {:.1e}, {:.1e}", se_nr_diff.0, se_nr_diff.1);
    println!("  estimate vs pgm iterative linear {:.1e}, {:.1e}", se_il_diff.0, se_il_diff.1);
    println!("largest |V̂ - V_true| of our estimates: {truth_error:.1e} pu (σ_V {})", SIGMAS.v);
    println!("load average at the end: {}", loadavg());
    if !keep {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A number after `"key": ` in the peer's one-line JSON.
fn field(json: &str, key: &str) -> Option<f64> {
    let rest = json.split(&format!("\"{key}\": ")).nth(1)?;
    rest.split([',', '}']).next()?.trim().parse().ok()
}

/// Time this thread has run on a CPU, s (0 where /proc is not there).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()))
        .map_or(0.0, |ns| ns * 1e-9)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}
