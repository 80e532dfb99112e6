//! The CGMES conformity MicroGrid base case (2.4.15): the power flow from EQ/TP/SSH against the
//! SV profile exchanged with it.

use gridtrust_grid::cgmes::{SvComparison, build, compare_with_sv, import};
use gridtrust_grid::{Options, solve};

const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/cgmes/MicroGrid/BaseCase");
const BOUNDARY: &str = "CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2";

/// Imports the folders, solves and compares; prints what the report quotes.
fn solve_against_sv(label: &str, folders: &[&str]) -> (SvComparison, usize) {
    let paths: Vec<String> = folders.iter().map(|f| format!("{BASE}/{f}")).collect();
    let (model, untyped) = import(&paths).unwrap();
    let built = build(&model, &untyped).unwrap();
    let solution = solve(&built.network, &Options::default()).unwrap();
    let comparison = compare_with_sv(&built, &untyped, &solution);
    println!(
        "{label}: {} buses, {} branches, slack {:?}, de-energised {:?}; {} iterations, mismatch {:e} pu; {comparison:?}",
        built.network.buses.len(),
        built.network.branches.len(),
        built.slack_equipment,
        built.deenergised,
        solution.iterations,
        solution.max_mismatch_pu,
    );
    (comparison, solution.iterations)
}

#[test]
fn microgrid_be_power_flow_matches_its_sv_profile() {
    let (cmp, iterations) = solve_against_sv("BE", &["CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2", BOUNDARY]);
    // Measured: 11 nodes, max |ΔV| 0.0083 kV, max |Δθ| 0.0021°, 4 iterations.
    assert_eq!(cmp.nodes, 11);
    assert!(cmp.max_dv_kv.0 < 0.02, "{cmp:?}");
    assert!(cmp.max_dtheta_deg.0 < 0.01, "{cmp:?}");
    assert!(iterations <= 6, "{iterations} iterations");
}
