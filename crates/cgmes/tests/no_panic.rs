//! The importer returns a model or a typed error for any input, never a panic: arbitrary bytes,
//! XML-like token soup, and real CGMES files with bytes changed, cut or inserted.

use gridtrust_cgmes::{CgmesError, CgmesModel, Importer};
use proptest::prelude::*;

fn import(bytes: &[u8]) -> Result<CgmesModel, CgmesError> {
    Importer::new().add_bytes("fuzz.xml", bytes).and_then(Importer::finish)
}

fn real_file() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/cgmes/MicroGrid/BaseCase/CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2/MicroGridTestConfiguration_BC_NL_SSH_V2.xml"
    );
    std::fs::read(path).expect("test data")
}

fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns:cim=\"http://iec.ch/TC57/2013/CIM-schema-cim16#\">",
        "</rdf:RDF>",
        "<cim:Terminal rdf:ID=\"_t\">",
        "<cim:Terminal rdf:about=\"#_t\">",
        "</cim:Terminal>",
        "<cim:ACDCTerminal.sequenceNumber>",
        "</cim:ACDCTerminal.sequenceNumber>",
        "<cim:Terminal.ConductingEquipment rdf:resource=\"#_x\"/>",
        "<cim:VoltageLimit rdf:ID=\"_l\">",
        "</cim:VoltageLimit>",
        "<cim:VoltageLimit.value>",
        "</cim:VoltageLimit.value>",
        "<md:FullModel rdf:about=\"urn:uuid:m\">",
        "</md:FullModel>",
        "1.5",
        "x",
        "&amp;",
        "&#0;",
        "&#x110000;",
        "&bogus;",
        "<![CDATA[c]]>",
        "<!-- c -->",
        "<?pi?>",
        "<!DOCTYPE d>",
        "\n",
        "<",
        ">",
        "\"",
        "rdf:ID=\"\"",
        "\u{fffd}",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = import(&bytes);
    }

    #[test]
    fn xml_like_token_soup_never_panics(document in token_soup()) {
        let _ = import(document.as_bytes());
    }

    #[test]
    fn damaged_real_files_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8), cut in any::<prop::sample::Index>()) {
        let mut bytes = real_file();
        for (at, byte, action) in edits {
            let i = at.index(bytes.len());
            match action {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let _ = import(&bytes);
        let end = cut.index(bytes.len());
        let _ = import(&bytes[..end]);
    }
}

#[test]
fn the_undamaged_real_file_imports() {
    let model = import(&real_file()).expect("imports");
    assert_eq!(model.files[0].class_counts.get("cim:Terminal"), Some(&34));
}
