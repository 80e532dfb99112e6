//! Saadat, Power System Analysis, Example 6.11: three buses on a 100 MVA base, Newton-Raphson.
//! Bus 1 slack at 1.05 pu, bus 2 a 400 MW + 250 Mvar load, bus 3 a PV bus at 1.04 pu
//! generating 200 MW. The book's solution: V2 = 0.9717∠-2.695°, V3 = 1.04∠-0.499°,
//! S1 = 218.4 MW + j140.9 Mvar, Q3 = 146.2 Mvar.

mod common;

use common::saadat_6_11;
use gridtrust_grid::{Branch, Bus, BusKind, C64, GridError, Options, solve};

#[test]
fn three_bus_textbook_case_matches_the_published_solution() {
    let solution = solve(&saadat_6_11(), &Options::default()).unwrap();
    let deg = |rad: f64| rad.to_degrees();
    assert!((solution.v[1] - 0.97168).abs() < 2e-4, "V2 {}", solution.v[1]);
    assert!((deg(solution.theta[1]) + 2.6948).abs() < 5e-3, "θ2 {}", deg(solution.theta[1]));
    assert!((solution.v[2] - 1.04).abs() < 1e-12);
    assert!((deg(solution.theta[2]) + 0.4988).abs() < 5e-3, "θ3 {}", deg(solution.theta[2]));
    assert!((solution.s[0].re - 2.1842).abs() < 2e-3 && (solution.s[0].im - 1.4085).abs() < 2e-3, "S1 {:?}", solution.s[0]);
    assert!((solution.s[2].im - 1.4617).abs() < 2e-3, "Q3 {}", solution.s[2].im);
    assert!(solution.iterations <= 5, "{} iterations", solution.iterations);
}

#[test]
fn an_island_without_slack_is_an_error_naming_a_bus() {
    let mut network = saadat_6_11();
    network.buses.push(Bus::pq("4", 20.0));
    assert!(matches!(solve(&network, &Options::default()), Err(GridError::NoSlack { bus }) if bus == "4"));
}

#[test]
fn an_impossible_load_reports_non_convergence_with_the_mismatch() {
    let mut network = saadat_6_11();
    network.buses[1].p = -200.0;
    let options = Options { max_iterations: 8, ..Options::default() };
    match solve(&network, &options) {
        Err(GridError::NotConverged { iterations, max_mismatch_pu, .. }) => assert!(iterations <= 8 && max_mismatch_pu > 1e-3),
        Err(GridError::SingularJacobian { .. }) => {}
        other => panic!("expected non-convergence, got {other:?}"),
    }
}

#[test]
fn a_branch_to_a_missing_bus_is_an_error() {
    let mut network = saadat_6_11();
    network.branches[0].to = 9;
    assert!(matches!(solve(&network, &Options::default()), Err(GridError::BusIndex { index: 9, .. })));
}

#[test]
fn a_generator_holding_a_remote_bus_sets_that_bus_voltage_and_takes_the_reactive_power() {
    let mut network = saadat_6_11();
    network.buses[2].regulates = Some(1);
    network.buses[2].v_set = 1.0;
    let solution = solve(&network, &Options::default()).unwrap();
    assert!((solution.v[1] - 1.0).abs() < 1e-12, "V2 {}", solution.v[1]);
    assert!((solution.s[2].re - 2.0).abs() < 1e-8, "P3 {}", solution.s[2].re);
    assert!((solution.s[1].re + 4.0).abs() < 1e-8 && (solution.s[1].im + 2.5).abs() < 1e-8, "S2 {:?}", solution.s[1]);
    // Holding bus 2 above its 0.97 pu needs more reactive power from bus 3 than the 1.46 pu of
    // the PV case.
    assert!(solution.s[2].im > 1.4617, "Q3 {}", solution.s[2].im);
}

#[test]
fn two_generators_holding_the_same_remote_bus_are_refused() {
    let mut network = saadat_6_11();
    network.buses[2].regulates = Some(1);
    network.buses.push(Bus { kind: BusKind::Pv, regulates: Some(1), ..Bus::pq("4", 230.0) });
    network.branches.push(Branch::line("3-4", 2, 3, C64::new(0.01, 0.03), C64::default()));
    assert!(matches!(solve(&network, &Options::default()), Err(GridError::InvalidValue { id, .. }) if id == "4"));
}
