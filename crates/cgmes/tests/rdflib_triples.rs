//! Interop with an RDF/XML parser we did not write: for every file of every model in the test
//! data, the statements our streaming reader yields (as triples: subject, property, value, plus
//! one rdf:type per object element) are exactly the triples rdflib (PyPI) parses from the same
//! file. Skips with a notice when rdflib is missing, unless GRIDTRUST_REQUIRE_PEERS=1.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufReader;
use std::process::Command;

use gridtrust_cgmes::names::Interner;
use gridtrust_cgmes::rdfxml::{RdfXmlReader, Value};

type Triple = (String, String, String, String);

fn rdflib_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import rdflib"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(), "rdflib is required (GRIDTRUST_REQUIRE_PEERS) but not installed");
        eprintln!("SKIPPED rdflib triples: python3 module rdflib is not installed (pip install rdflib)");
    }
    ok
}

fn rdflib_triples(files: &[String]) -> BTreeMap<String, BTreeSet<Triple>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/rdflib_triples.py");
    let output = Command::new("python3").arg(script).args(files).output().expect("python3 runs");
    assert!(output.status.success(), "rdflib_triples.py failed: {}", String::from_utf8_lossy(&output.stderr));
    let raw: BTreeMap<String, Vec<[String; 4]>> = serde_json::from_slice(&output.stdout).expect("JSON");
    raw.into_iter().map(|(file, triples)| (file, triples.into_iter().map(|[s, p, k, o]| (s, p, k, o)).collect())).collect()
}

fn our_triples(file: &str) -> BTreeSet<Triple> {
    let mut names = Interner::default();
    let mut reader = RdfXmlReader::new(BufReader::new(File::open(file).expect("open")), file);
    let mut triples = BTreeSet::new();
    while let Some(description) = reader.next_description(&mut names).expect("reads") {
        let subject = description.subject.mrid().to_owned();
        triples.insert((subject.clone(), "rdf:type".to_owned(), "class".to_owned(), names.name(description.class).to_owned()));
        for property in description.properties {
            let (kind, value) = match property.value {
                Value::Literal(text) => ("literal", text),
                Value::Reference(mrid) => ("reference", mrid),
                Value::Iri(iri) => ("iri", iri),
            };
            triples.insert((subject.clone(), names.name(property.predicate).to_owned(), kind.to_owned(), value));
        }
    }
    triples
}

#[test]
fn every_statement_we_read_is_a_triple_rdflib_parses_and_vice_versa() {
    if !rdflib_available() {
        return;
    }
    let mut files: Vec<String> = Vec::new();
    for model in common::models() {
        for file in common::import(&model).files {
            if !files.contains(&file.name) {
                files.push(file.name);
            }
        }
    }
    let theirs = rdflib_triples(&files);
    let mut total = 0;
    for file in &files {
        let ours = our_triples(file);
        let expected = theirs.get(file).expect("rdflib parsed the file");
        let only_ours: Vec<_> = ours.difference(expected).take(5).collect();
        let only_theirs: Vec<_> = expected.difference(&ours).take(5).collect();
        assert!(only_ours.is_empty() && only_theirs.is_empty(), "{file}: only ours {only_ours:#?}\nonly rdflib {only_theirs:#?}");
        assert!(!ours.is_empty());
        total += ours.len();
    }
    println!("{} files, {total} triples identical to rdflib's", files.len());
}
