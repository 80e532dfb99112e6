//! Paths to the shared test data and this crate's fixtures.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn shared(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata").join(relative)
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

pub const MICROGRID: &str = "cgmes/MicroGrid/BaseCase";

/// MicroGrid NL base case with its boundary set.
pub fn microgrid_nl() -> Vec<PathBuf> {
    vec![
        shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2")),
        shared(&format!("{MICROGRID}/CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2")),
    ]
}

/// MicroGrid NL, its boundary and the measurement supplement.
pub fn microgrid_nl_measured() -> Vec<PathBuf> {
    let mut paths = microgrid_nl();
    paths.push(fixture("microgrid_nl_measurements_EQ.xml"));
    paths
}
