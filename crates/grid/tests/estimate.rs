//! WLS state estimation on measurements generated from power flow solutions: exact
//! measurements give back the power flow state, Gaussian noise passes the chi-square test, one
//! gross error is detected and identified, and too few measurements are reported unobservable.

mod common;

use common::{BE, BOUNDARY, microgrid, saadat_6_11};
use gridtrust_grid::estimate::{
    BadDataTest, Cleaned, End, Estimate, EstimateOptions, Measurement, Quantity, estimate, estimate_with_bad_data,
    estimate_with_bad_data_by,
};
use gridtrust_grid::{C64, GridError, Network, Options, Solution, solve};

/// σ of voltage magnitudes, injections and flows, pu.
const SIGMA_V: f64 = 0.004;
const SIGMA_INJECTION: f64 = 0.01;
const SIGMA_FLOW: f64 = 0.008;

/// Every measurement the network offers (|V|, P and Q injection at each bus, P and Q flow at
/// both ends of each branch), with the true values from the power flow solution. The flows are
/// computed here from the branch admittance blocks, independently of the estimator's code.
fn all_measurements(network: &Network, solution: &Solution) -> Vec<Measurement> {
    let voltage = |i: usize| C64::polar(solution.v[i], solution.theta[i]);
    let mut out = Vec::new();
    for (bus, s) in solution.s.iter().enumerate() {
        out.push(Measurement { quantity: Quantity::VoltageMagnitude { bus }, value: solution.v[bus], sigma: SIGMA_V });
        out.push(Measurement { quantity: Quantity::InjectionP { bus }, value: s.re, sigma: SIGMA_INJECTION });
        out.push(Measurement { quantity: Quantity::InjectionQ { bus }, value: s.im, sigma: SIGMA_INJECTION });
    }
    for (index, branch) in network.branches.iter().enumerate() {
        let [yff, yft, ytf, ytt] = branch.admittances();
        let (vf, vt) = (voltage(branch.from), voltage(branch.to));
        for (end, s) in [(End::From, vf * (yff * vf + yft * vt).conj()), (End::To, vt * (ytf * vf + ytt * vt).conj())] {
            out.push(Measurement { quantity: Quantity::FlowP { branch: index, end }, value: s.re, sigma: SIGMA_FLOW });
            out.push(Measurement { quantity: Quantity::FlowQ { branch: index, end }, value: s.im, sigma: SIGMA_FLOW });
        }
    }
    out
}

/// Current magnitude at both ends of every branch, σ 0.01 pu.
fn current_measurements(network: &Network, solution: &Solution) -> Vec<Measurement> {
    let voltage = |i: usize| C64::polar(solution.v[i], solution.theta[i]);
    let mut out = Vec::new();
    for (index, branch) in network.branches.iter().enumerate() {
        let [yff, yft, ytf, ytt] = branch.admittances();
        let (vf, vt) = (voltage(branch.from), voltage(branch.to));
        for (end, current) in [(End::From, yff * vf + yft * vt), (End::To, ytf * vf + ytt * vt)] {
            out.push(Measurement { quantity: Quantity::CurrentMagnitude { branch: index, end }, value: current.abs(), sigma: 0.01 });
        }
    }
    out
}

/// xorshift64* with Box-Muller: deterministic Gaussian noise without a dependency.
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn gaussian(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn add_to(&mut self, measurements: &mut [Measurement]) {
        for z in measurements {
            z.value += z.sigma * self.gaussian();
        }
    }
}

/// Largest |ΔV| (pu) and |Δθ| (rad) between an estimate and the power flow.
fn state_error(estimate: &Estimate, solution: &Solution) -> (f64, f64) {
    let worst = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    (worst(&estimate.v, &solution.v), worst(&estimate.theta, &solution.theta))
}

fn microgrid_be() -> (Network, Solution) {
    let network = microgrid(&[BE, BOUNDARY]).network;
    let solution = solve(&network, &Options::default()).unwrap();
    (network, solution)
}

fn three_bus() -> (Network, Solution) {
    let network = saadat_6_11();
    let solution = solve(&network, &Options::default()).unwrap();
    (network, solution)
}

#[test]
fn exact_measurements_with_currents_give_back_the_power_flow_state() {
    for (label, (network, solution)) in [("3-bus", three_bus()), ("MicroGrid BE", microgrid_be())] {
        let mut measurements = all_measurements(&network, &solution);
        measurements.extend(current_measurements(&network, &solution));
        let estimate = estimate(&network, &measurements, &EstimateOptions::default()).unwrap();
        let (dv, dtheta) = state_error(&estimate, &solution);
        println!(
            "{label}: {} buses, m = {}, n = {}, {} iterations, max |ΔV| {dv:e} pu, max |Δθ| {dtheta:e} rad, J {:e}",
            network.buses.len(),
            measurements.len(),
            estimate.states,
            estimate.iterations,
            estimate.objective
        );
        assert!(dv < 1e-6 && dtheta < 1e-6, "{label}: ΔV {dv:e}, Δθ {dtheta:e}");
        assert!(estimate.objective < 1e-8, "{label}: J {}", estimate.objective);
    }
}

/// Runs the bad-data loop at 99 % and prints what the report quotes.
fn clean(label: &str, network: &Network, measurements: &[Measurement]) -> Cleaned {
    let cleaned = estimate_with_bad_data(network, measurements, 0.99, &EstimateOptions::default()).unwrap();
    let worst = cleaned.estimate.normalised.iter().flatten().fold(0.0, |a: f64, &b| a.max(b));
    println!(
        "{label}: m = {}, n = {}, {} iterations, J {:.2} vs χ² threshold {:?}, largest r_N {worst:.2}, removed {:?}",
        measurements.len(),
        cleaned.estimate.states,
        cleaned.estimate.iterations,
        cleaned.estimate.objective,
        cleaned.threshold,
        cleaned.removed
    );
    cleaned
}

#[test]
fn gaussian_noise_passes_the_chi_square_test_with_nothing_removed() {
    for (label, (network, solution), seed) in [("3-bus", three_bus(), 7), ("MicroGrid BE", microgrid_be(), 11)] {
        let mut measurements = all_measurements(&network, &solution);
        Noise(seed).add_to(&mut measurements);
        let cleaned = clean(label, &network, &measurements);
        assert!(cleaned.passed && cleaned.removed.is_empty(), "{label}: {:?}", cleaned.removed);
        let (dv, dtheta) = state_error(&cleaned.estimate, &solution);
        println!("{label}: max |ΔV| {dv:e} pu, max |Δθ| {dtheta:e} rad");
        assert!(dv < 3.0 * SIGMA_V && dtheta < 0.01, "{label}: ΔV {dv}, Δθ {dtheta}");
    }
}

#[test]
fn a_gross_error_on_one_flow_is_detected_identified_and_removed() {
    for (label, (network, solution), seed) in [("3-bus", three_bus(), 7), ("MicroGrid BE", microgrid_be(), 11)] {
        let mut measurements = all_measurements(&network, &solution);
        Noise(seed).add_to(&mut measurements);
        let bad = measurements.iter().position(|z| matches!(z.quantity, Quantity::FlowP { branch: 1, end: End::From })).unwrap();
        measurements[bad].value += 20.0 * measurements[bad].sigma;
        let cleaned = clean(label, &network, &measurements);
        let first = cleaned.removed.first().expect("the chi-square test should fail with the gross error");
        assert!(first.objective > first.threshold);
        assert_eq!(first.index, bad, "{label}: removed {:?}", cleaned.removed);
        assert_eq!(cleaned.removed.len(), 1, "{label}: removed {:?}", cleaned.removed);
        assert!(cleaned.passed && !cleaned.kept.contains(&bad));
        let (dv, dtheta) = state_error(&cleaned.estimate, &solution);
        println!("{label}: after removal max |ΔV| {dv:e} pu, max |Δθ| {dtheta:e} rad");
        assert!(dv < 3.0 * SIGMA_V && dtheta < 0.01, "{label}: ΔV {dv}, Δθ {dtheta}");
    }
}

#[test]
fn the_largest_normalised_residual_test_removes_the_gross_error_and_passes_noise() {
    let (network, solution) = microgrid_be();
    let test = BadDataTest::LargestNormalisedResidual { limit: 4.0 };
    let mut measurements = all_measurements(&network, &solution);
    Noise(11).add_to(&mut measurements);
    let options = EstimateOptions::default();
    let clean = estimate_with_bad_data_by(&network, &measurements, test, &options).unwrap();
    assert!(clean.passed && clean.removed.is_empty(), "{:?}", clean.removed);
    assert_eq!(clean.threshold, Some(4.0));
    let bad = measurements.iter().position(|z| matches!(z.quantity, Quantity::FlowP { branch: 1, end: End::From })).unwrap();
    measurements[bad].value += 20.0 * measurements[bad].sigma;
    let cleaned = estimate_with_bad_data_by(&network, &measurements, test, &options).unwrap();
    assert_eq!(cleaned.removed.iter().map(|r| r.index).collect::<Vec<_>>(), vec![bad]);
    assert!(cleaned.removed[0].normalised > 4.0 && cleaned.passed);
    let refused = estimate_with_bad_data_by(&network, &measurements, BadDataTest::LargestNormalisedResidual { limit: f64::NAN }, &options);
    assert!(refused.is_err());
}

#[test]
fn too_few_measurements_are_unobservable_naming_the_state() {
    let (network, solution) = three_bus();
    // |V| everywhere and P on branch 1-2: nothing says anything about bus 3's angle.
    let measurements: Vec<Measurement> = all_measurements(&network, &solution)
        .into_iter()
        .filter(|z| matches!(z.quantity, Quantity::VoltageMagnitude { .. } | Quantity::FlowP { branch: 0, end: End::From }))
        .collect();
    assert_eq!(measurements.len(), 4);
    match estimate(&network, &measurements, &EstimateOptions::default()) {
        Err(GridError::Unobservable { state }) => assert_eq!(state, "angle of bus 3"),
        other => panic!("expected unobservable, got {other:?}"),
    }
}

#[test]
fn a_measurement_without_a_positive_sigma_is_rejected() {
    let (network, solution) = three_bus();
    let mut measurements = all_measurements(&network, &solution);
    measurements[4].sigma = 0.0;
    assert!(matches!(
        estimate(&network, &measurements, &EstimateOptions::default()),
        Err(GridError::InvalidValue { id, .. }) if id == "measurement 4"
    ));
}

#[test]
fn measurements_that_only_see_an_angle_difference_are_unobservable() {
    let (network, solution) = three_bus();
    // |V| everywhere and P, Q into branch 2-3 at bus 2: θ2 and θ3 enter only as θ2 - θ3, so the
    // gain is singular although no column of H is zero.
    let measurements: Vec<Measurement> = all_measurements(&network, &solution)
        .into_iter()
        .filter(|z| {
            matches!(
                z.quantity,
                Quantity::VoltageMagnitude { .. }
                    | Quantity::FlowP { branch: 2, end: End::From }
                    | Quantity::FlowQ { branch: 2, end: End::From }
            )
        })
        .collect();
    assert_eq!(measurements.len(), 5);
    match estimate(&network, &measurements, &EstimateOptions::default()) {
        Err(GridError::Unobservable { state }) => assert_eq!(state, "angle of bus 3"),
        other => panic!("expected unobservable, got {other:?}"),
    }
}
