//! Our per-class object counts equal an independent count (Python's xml.etree, see
//! support/count_classes.py) for every class in every file of every model in the test data.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

/// Canonical prefix for the namespaces CGMES 2.4.15 and 3.0 use (the rest stay in Clark notation).
fn canonical(clark: &str) -> String {
    const PREFIXES: [(&str, &str); 6] = [
        ("{http://iec.ch/TC57/2013/CIM-schema-cim16#}", "cim:"),
        ("{http://iec.ch/TC57/CIM100#}", "cim:"),
        ("{http://entsoe.eu/CIM/SchemaExtension/3/1#}", "entsoe:"),
        ("{http://iec.ch/TC57/CIM100-European#}", "eu:"),
        ("{http://iec.ch/TC57/61970-552/ModelDescription/1#}", "md:"),
        ("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}", "rdf:"),
    ];
    PREFIXES
        .iter()
        .find_map(|(ns, prefix)| clark.strip_prefix(ns).map(|local| format!("{prefix}{local}")))
        .unwrap_or_else(|| clark.to_owned())
}

fn python_counts(files: &[String]) -> Option<BTreeMap<String, BTreeMap<String, u64>>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/count_classes.py");
    let output = match Command::new("python3").arg(script).args(files).output() {
        Ok(output) => output,
        Err(e) => {
            assert!(std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(), "python3 is required (GRIDTRUST_REQUIRE_PEERS): {e}");
            eprintln!("SKIPPED class counts: python3 not available ({e})");
            return None;
        }
    };
    assert!(output.status.success(), "count_classes.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let raw: BTreeMap<String, BTreeMap<String, u64>> = serde_json::from_slice(&output.stdout).expect("count_classes.py prints JSON");
    Some(raw.into_iter().map(|(file, counts)| (file, counts.into_iter().map(|(class, n)| (canonical(&class), n)).collect())).collect())
}

#[test]
fn per_class_counts_match_an_independent_count_in_every_file_of_every_model() {
    let mut files_checked = 0;
    let mut objects_checked = 0;
    for model in common::models() {
        let imported = common::import(&model);
        let names: Vec<String> = imported.files.iter().map(|f| f.name.clone()).collect();
        let Some(expected) = python_counts(&names) else { return };
        for file in &imported.files {
            let theirs = expected.get(&file.name).unwrap_or_else(|| panic!("no independent count for {}", file.name));
            assert!(!theirs.is_empty(), "{}: the independent count found no objects", file.name);
            assert_eq!(&file.class_counts, theirs, "{}: {}: per-class counts differ", model.name, file.name);
            files_checked += 1;
            objects_checked += theirs.values().sum::<u64>();
        }
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for counts in expected.values() {
            for (class, n) in counts {
                *totals.entry(class.clone()).or_default() += n;
            }
        }
        assert_eq!(imported.class_counts(), totals, "{}: model totals differ", model.name);
    }
    assert_eq!(files_checked, 7 + 2 + 7 + 2 + 12 + 2 + 5, "every file of the four models is checked");
    println!("{files_checked} files, {objects_checked} object elements: counts equal");
}

#[test]
fn per_class_counts_of_the_cgmes3_fixture_match_an_independent_count() {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cgmes3_two_substations");
    let imported = gridtrust_cgmes::import_paths(&[folder]).expect("the CGMES 3.0 fixture imports");
    let names: Vec<String> = imported.files.iter().map(|f| f.name.clone()).collect();
    let Some(expected) = python_counts(&names) else { return };
    for file in &imported.files {
        assert_eq!(Some(&file.class_counts), expected.get(&file.name), "{}: per-class counts differ", file.name);
    }
    assert_eq!(imported.files.len(), 6);
}
