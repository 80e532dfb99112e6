//! CGMES import: any bytes as one RDF/XML profile give a model or a typed error (never a panic),
//! and every error names the file it came from.
#![no_main]

use gridtrust_cgmes::Importer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Importer::new().add_bytes("fuzz.xml", data).and_then(Importer::finish) {
        Ok(model) => {
            let _ = model.containment();
            for diagnostic in &model.diagnostics {
                let _ = diagnostic.to_string();
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.xml")),
    }
});
