//! The corpus: real SCL files from open-source IEC 61850 projects, each imported in the default
//! (tolerant) mode with its counts checked against an independent count, its warnings counted,
//! and refused in strict mode exactly when it has warnings, with one error per warning.
//!
//! `corpus/manifest.tsv` lists the files: where each comes from (repository, path, commit,
//! licence) and what `corpus/count.py` (Python's ElementTree, written against IEC 61850-6, not
//! against this importer) counted in it when the corpus was made. The warning count is the one
//! column this importer produced: it pins the tolerant reading so that a change shows up here.
//!
//! The files themselves live in shared test data, not in this repository: rows with location
//! `scl` in `../shared/testdata/scl`, rows with location `corpus` in
//! `../shared/testdata/scl-corpus` (or the directory named by `GRIDTRUST_SCL_CORPUS`). A location
//! whose directory is missing altogether is reported and skipped; a file missing from a directory
//! that exists is a failure.

use std::path::{Path, PathBuf};

use gridtrust_scl::{Import, Mode, Problem, import_file, import_file_as};

const COLUMNS: [&str; 13] = [
    "ieds",
    "lds",
    "lns",
    "attributes",
    "data_sets",
    "fcdas",
    "report_controls",
    "gse_controls",
    "smv_controls",
    "log_controls",
    "setting_controls",
    "ext_refs",
    "lnodes",
];

struct Row {
    location: String,
    file: String,
    counts: [usize; 13],
    warnings: usize,
}

fn manifest() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/manifest.tsv");
    let text = std::fs::read_to_string(path).expect("manifest.tsv");
    let mut lines = text.lines().filter(|line| !line.trim().is_empty() && !line.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("manifest has no column {name}"));
    let number = |fields: &[&str], name: &str| -> usize {
        let field = fields.get(column(name)).unwrap_or_else(|| panic!("{fields:?} has no {name}"));
        field.parse().unwrap_or_else(|_| panic!("{name} `{field}` is not a count"))
    };
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            Row {
                location: fields[column("location")].to_owned(),
                file: fields[column("file")].to_owned(),
                counts: COLUMNS.map(|name| number(&fields, name)),
                warnings: number(&fields, "warnings"),
            }
        })
        .collect()
}

fn directory(location: &str) -> PathBuf {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    match location {
        "scl" => shared.join("scl"),
        "corpus" => std::env::var_os("GRIDTRUST_SCL_CORPUS").map_or_else(|| shared.join("scl-corpus"), PathBuf::from),
        other => panic!("unknown location {other}"),
    }
}

/// What the importer found, in the manifest's column order.
fn counts(import: &Import) -> [usize; 13] {
    let lns: Vec<_> = import.document.ieds.iter().flat_map(|ied| ied.logical_devices()).flat_map(|ld| ld.logical_nodes()).collect();
    let per_ln = |f: &dyn Fn(&gridtrust_scl::LogicalNode) -> usize| lns.iter().map(|ln| f(ln)).sum::<usize>();
    [
        import.ieds.len(),
        import.ieds.iter().map(|ied| ied.logical_devices.len()).sum(),
        lns.len(),
        import.ieds.iter().map(|ied| ied.attributes.len()).sum(),
        import.ieds.iter().map(|ied| ied.data_sets.len()).sum(),
        import.ieds.iter().flat_map(|ied| &ied.data_sets).map(|data_set| data_set.members.len()).sum(),
        per_ln(&|ln| ln.report_controls.len()),
        per_ln(&|ln| ln.gse_controls.len()),
        per_ln(&|ln| ln.smv_controls.len()),
        per_ln(&|ln| ln.log_controls.len()),
        per_ln(&|ln| usize::from(ln.setting_control.is_some())),
        per_ln(&|ln| ln.inputs.len()),
        import.document.lnode_placements().len(),
    ]
}

#[test]
fn every_corpus_file_imports_with_the_independent_counts() {
    let rows = manifest();
    let mut checked = 0;
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for row in &rows {
        let directory = directory(&row.location);
        if !directory.is_dir() {
            skipped.push(row.file.as_str());
            continue;
        }
        let path = directory.join(&row.file);
        let import = match import_file(&path) {
            Ok(import) => import,
            Err(errors) => {
                failures.push(format!("{}: {errors}", row.file));
                continue;
            }
        };
        let found = counts(&import);
        for ((name, expected), found) in COLUMNS.iter().zip(row.counts).zip(found) {
            if expected != found {
                failures.push(format!("{}: {name}: the independent count is {expected}, the importer found {found}", row.file));
            }
        }
        if import.warnings.len() != row.warnings {
            let listed: Vec<String> = import.warnings.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "{}: {} warnings, the manifest says {}:\n  {}",
                row.file,
                listed.len(),
                row.warnings,
                listed.join("\n  ")
            ));
        }
        match import_file_as(&path, Mode::Strict) {
            Ok(_) if row.warnings == 0 => {}
            Ok(_) => failures.push(format!("{}: strict mode accepted a file with warnings", row.file)),
            Err(errors) => {
                let all_deviations = errors.errors.iter().all(|e| matches!(e.problem, Problem::Strict(_)));
                if errors.errors.len() != row.warnings || !all_deviations {
                    failures.push(format!("{}: strict mode: {errors}", row.file));
                }
            }
        }
        checked += 1;
    }
    if !skipped.is_empty() {
        eprintln!("corpus: {} file(s) skipped, their directory is not there: {}", skipped.len(), skipped.join(", "));
    }
    eprintln!("corpus: {checked} file(s) imported and counted");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= rows.iter().filter(|row| row.location == "scl").count(), "the shared SCL files are always there");
}
