//! The CGMES conformity models in ../shared/testdata/cgmes and the folders each one is made of.

use std::path::{Path, PathBuf};

/// `../shared/testdata/cgmes` from the workspace root.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/cgmes")
}

/// One model: a name and the folders (IGM profiles plus boundary set) to import together.
pub struct TestModel {
    pub name: &'static str,
    pub folders: Vec<PathBuf>,
}

/// Every model in the test data. MicroGrid IGMs and the assembled CGM need the MicroGrid
/// boundary set; the MiniGrid boundary set is not part of the test data.
pub fn models() -> Vec<TestModel> {
    let micro = testdata().join("MicroGrid/BaseCase");
    let boundary = micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2");
    vec![
        TestModel {
            name: "MicroGrid BE",
            folders: vec![micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2"), boundary.clone()],
        },
        TestModel {
            name: "MicroGrid NL",
            folders: vec![micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2"), boundary.clone()],
        },
        TestModel {
            name: "MicroGrid Assembled",
            folders: vec![micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BC_Assembled_v2"), boundary],
        },
        TestModel {
            name: "MiniGrid BusBranch",
            folders: vec![testdata().join("MiniGrid/BusBranch/CGMES_v2.4.15_MiniGridTestConfiguration_BaseCase_v3")],
        },
    ]
}

/// Imports a model; panics with the error (test helper).
#[allow(dead_code)]
pub fn import(model: &TestModel) -> gridtrust_cgmes::CgmesModel {
    gridtrust_cgmes::import_paths(&model.folders).unwrap_or_else(|e| panic!("{} does not import: {e}", model.name))
}
