//! The importer returns errors, never panics, on arbitrary bytes and on real files with bytes
//! flipped, inserted, deleted or the text cut short (the CI-side twin of fuzz target `scl_import`).

use proptest::prelude::*;

const REAL_FILES: [&str; 9] = [
    "iec61850bean-sample01.icd",
    "sampleModel_errors.icd",
    "sampleModel_with_dataset.cid",
    "sg_demo.cid",
    "simpleIO_control_tests.cid",
    "simpleIO_direct_control.cid",
    "simpleIO_direct_control_goose.scd",
    "testModel.icd",
    "wtur.cid",
];

fn real_files() -> Vec<Vec<u8>> {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata/scl/");
    let mut files: Vec<Vec<u8>> = REAL_FILES.iter().map(|name| std::fs::read(format!("{directory}{name}")).expect("testdata")).collect();
    files.push(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/substation.scd")).expect("fixture"));
    files
}

/// Exercises everything a caller would touch after a successful import.
fn import_and_use(bytes: &[u8]) {
    match gridtrust_scl::import_bytes("fuzz.scd", bytes) {
        Ok(import) => {
            for ied in &import.ieds {
                let _ = import.document.mms_endpoints(&ied.name);
                for attribute in &ied.attributes {
                    assert!(ied.attribute(&attribute.reference).is_some());
                }
            }
            let _ = import.document.lnode_placements();
        }
        Err(errors) => {
            assert!(!errors.errors.is_empty());
            let _ = errors.to_string();
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Insert markup-ish fragments as well as random bytes, so mutations reach past the XML parser.
    let fragment = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..8),
        Just(b"<".to_vec()),
        Just(b"/>".to_vec()),
        Just(b"</LN>".to_vec()),
        Just(b"<SDI name=\"x\">".to_vec()),
        Just(b" type=\"".to_vec()),
        Just(b"&amp;".to_vec()),
        Just(b"&#0;".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip(at, byte)),
        (any::<usize>(), fragment).prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Flip(at, byte) => {
            if let Some(slot) = bytes.get_mut(at % len) {
                *slot = *byte;
            }
        }
        Mutation::Insert(at, fragment) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, fragment.iter().copied());
        }
        Mutation::Delete(at, count) => {
            let start = at % len;
            let end = (start + count).min(bytes.len());
            if start < end {
                bytes.drain(start..end);
            }
        }
        Mutation::Truncate(at) => bytes.truncate(at % len),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        import_and_use(&bytes);
    }

    #[test]
    fn mutated_real_files_never_panic(file in 0usize..10, mutations in proptest::collection::vec(mutation(), 1..6)) {
        let files = real_files();
        let mut bytes = files[file % files.len()].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        import_and_use(&bytes);
    }
}
