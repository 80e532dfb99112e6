//! SCL import: arbitrary bytes never panic or hang the reader or the resolver; a successful import
//! is self-consistent (every attribute is found again by its reference).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match gridtrust_scl::import_bytes("fuzz.scd", data) {
        Ok(import) => {
            for ied in &import.ieds {
                for attribute in &ied.attributes {
                    assert!(ied.attribute(&attribute.reference).is_some());
                }
                let _ = import.document.mms_endpoints(&ied.name);
            }
            let _ = import.document.lnode_placements();
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            let _ = errors.to_string();
        }
    }
});
