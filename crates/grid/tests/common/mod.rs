//! Networks shared by the integration tests.

// Each test file uses part of this module.
#![allow(dead_code)]

use gridtrust_grid::cgmes::{Built, build, import};
use gridtrust_grid::{Branch, Bus, BusKind, C64, Network};

/// The MicroGrid base case folders.
pub const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/cgmes/MicroGrid/BaseCase");
/// The boundary set every MicroGrid model needs.
pub const BOUNDARY: &str = "CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2";
/// The Belgian part of the MicroGrid base case.
pub const BE: &str = "CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2";

/// Imports the MicroGrid folders and builds the network.
pub fn microgrid(folders: &[&str]) -> Built {
    let paths: Vec<String> = folders.iter().map(|f| format!("{BASE}/{f}")).collect();
    let (model, untyped) = import(&paths).unwrap();
    build(&model, &untyped).unwrap()
}

/// Saadat, Power System Analysis, Example 6.11: three buses on a 100 MVA base.
/// Bus 1 slack at 1.05 pu, bus 2 a 400 MW + 250 Mvar load, bus 3 a PV bus at 1.04 pu
/// generating 200 MW.
pub fn saadat_6_11() -> Network {
    let mut slack = Bus::pq("1", 230.0);
    slack.kind = BusKind::Slack;
    slack.v_set = 1.05;
    let mut load = Bus::pq("2", 230.0);
    load.p = -4.0;
    load.q = -2.5;
    let mut generator = Bus::pq("3", 230.0);
    generator.kind = BusKind::Pv;
    generator.p = 2.0;
    generator.v_set = 1.04;
    let no_shunt = C64::default();
    Network {
        base_mva: 100.0,
        buses: vec![slack, load, generator],
        branches: vec![
            Branch::line("1-2", 0, 1, C64::new(0.02, 0.04), no_shunt),
            Branch::line("1-3", 0, 2, C64::new(0.01, 0.03), no_shunt),
            Branch::line("2-3", 1, 2, C64::new(0.0125, 0.025), no_shunt),
        ],
    }
}
