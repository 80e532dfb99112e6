//! The joined model's file readers on arbitrary bytes: the mapping TOML (and its checks), the
//! model JSON, the SCL Private mRID scan and the join of whatever SCL the SCL reader accepts.
//! None may panic; a model read back from JSON writes the same JSON again, and a joined model
//! finds each of its equipment by id and reads back from its JSON unchanged.
#![no_main]

use gridtrust_gridmodel::{GridModel, Mapping, SclInput, join, private};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 4 {
        0 => {
            if let Ok(mapping) = Mapping::from_toml("fuzz.toml", &String::from_utf8_lossy(rest)) {
                let _ = mapping.resolve(None);
            }
        }
        1 => {
            if let Ok(model) = GridModel::from_json("fuzz.json", &String::from_utf8_lossy(rest)) {
                let json = model.to_json();
                let again = GridModel::from_json("again.json", &json).expect("a written model reads back");
                assert_eq!(again.to_json(), json);
            }
        }
        2 => {
            let _ = private::cim_mrids(rest);
        }
        _ => {
            if let Ok(input) = SclInput::from_bytes("fuzz.scd", rest) {
                if let Ok(model) = join(&[input], None, None) {
                    for equipment in model.equipment() {
                        assert!(model.find_equipment(&equipment.id).is_some());
                    }
                    let json = model.to_json();
                    let again = GridModel::from_json("joined.json", &json).expect("a joined model reads back");
                    assert!(again.diff(&model).is_empty());
                }
            }
        }
    }
});
