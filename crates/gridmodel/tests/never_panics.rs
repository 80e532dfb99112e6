//! The file readers of this crate (mapping TOML, model JSON, the SCL Private scan, the join of
//! arbitrary SCL bytes) return errors on arbitrary input and never panic.

use gridtrust_gridmodel::{GridModel, Mapping, SclInput, join, private};
use proptest::prelude::*;

const SCD: &[u8] = include_bytes!("../testdata/microgrid_nl.scd");

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mapping_toml_never_panics(text in ".{0,400}") {
        if let Ok(mapping) = Mapping::from_toml("m.toml", &text) {
            let _ = mapping.resolve(None);
        }
    }

    #[test]
    fn model_json_never_panics(text in ".{0,400}") {
        let _ = GridModel::from_json("m.json", &text);
    }

    #[test]
    fn private_scan_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = private::cim_mrids(&bytes);
    }

    /// Mutated fixture bytes: either the SCL reader refuses them or the join completes.
    #[test]
    fn joining_mutated_scl_never_panics(edits in proptest::collection::vec((0usize..SCD.len(), any::<u8>()), 1..8)) {
        let mut bytes = SCD.to_vec();
        for (at, byte) in edits {
            if let Some(slot) = bytes.get_mut(at) {
                *slot = byte;
            }
        }
        if let Ok(input) = SclInput::from_bytes("fuzz.scd", &bytes) {
            let _ = join(&[input], None, None);
        }
    }
}
