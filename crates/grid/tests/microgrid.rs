//! The CGMES conformity MicroGrid base case (2.4.15): the power flow from EQ/TP/SSH against the
//! SV profile exchanged with it.

mod common;

use common::{BASE, BE, BOUNDARY};
use gridtrust_grid::cgmes::{SvComparison, build, compare_with_sv, import};
use gridtrust_grid::{GridError, Options, solve};

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
    let (cmp, iterations) = solve_against_sv("BE", &[BE, BOUNDARY]);
    // Measured: 11 nodes, max |ΔV| 0.0138 kV, max |Δθ| 0.0014°, 4 iterations.
    assert_eq!(cmp.nodes, 11);
    assert!(cmp.max_dv_kv.0 < 0.02, "{cmp:?}");
    assert!(cmp.max_dtheta_deg.0 < 0.01, "{cmp:?}");
    assert!(iterations <= 6, "{iterations} iterations");
}

#[test]
fn microgrid_nl_power_flow_matches_its_sv_profile() {
    let (cmp, iterations) = solve_against_sv("NL", &["CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2", BOUNDARY]);
    // Measured: 10 nodes, max |ΔV| 0.139 kV (at a 400 kV node), max |Δθ| 0.014°, 4 iterations.
    // Loads with a LoadResponseCharacteristic are taken at constant power here.
    assert_eq!(cmp.nodes, 10);
    assert!(cmp.max_dv_kv.0 < 0.2, "{cmp:?}");
    assert!(cmp.max_dtheta_deg.0 < 0.02, "{cmp:?}");
    assert!(iterations <= 6, "{iterations} iterations");
}

#[test]
fn microgrid_assembled_be_nl_power_flow_matches_its_sv_profile() {
    let (cmp, iterations) = solve_against_sv("BE+NL", &["CGMES_v2.4.15_MicroGridTestConfiguration_BC_Assembled_v2", BOUNDARY]);
    // Measured: 16 nodes, max |ΔV| 0.050 kV, max |Δθ| 0.014°, 4 iterations.
    assert_eq!(cmp.nodes, 16);
    assert!(cmp.max_dv_kv.0 < 0.1, "{cmp:?}");
    assert!(cmp.max_dtheta_deg.0 < 0.02, "{cmp:?}");
    assert!(iterations <= 6, "{iterations} iterations");
}

#[test]
fn without_generation_the_whole_be_grid_is_reported_de_energised() {
    let (mut model, untyped) = import(&[format!("{BASE}/{BE}"), format!("{BASE}/{BOUNDARY}")]).unwrap();
    let energised = build(&model, &untyped).unwrap();
    for machine in &mut model.synchronous_machines {
        machine.equipment.in_service = Some(false);
    }
    let built = build(&model, &untyped).unwrap();
    assert!(built.network.buses.is_empty());
    assert!(built.slack_equipment.is_empty());
    assert_eq!(built.deenergised.iter().map(Vec::len).sum::<usize>(), energised.bus_of_node.len());
}

#[test]
fn a_line_without_reactance_is_an_error_naming_its_mrid() {
    let (mut model, untyped) = import(&[format!("{BASE}/{BE}"), format!("{BASE}/{BOUNDARY}")]).unwrap();
    let line = &mut model.ac_line_segments[0];
    line.x = None;
    let mrid = line.equipment.identity.mrid.clone();
    match build(&model, &untyped) {
        Err(GridError::MissingData { class: "ACLineSegment", mrid: m, what: "x" }) => assert_eq!(m, mrid),
        other => panic!("expected missing x, got {other:?}"),
    }
}
