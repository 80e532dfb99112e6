//! SCL import throughput on the largest real SCL file in shared/testdata/scl, next to a baseline
//! measured in the same run: quick-xml reading every event of the same bytes without building
//! anything (the floor any quick-xml based importer sits on). A second reference also decodes and
//! unescapes every attribute, the part of the work that scales with the file.
//!
//! Criterion measures each case; a closing table prints medians over interleaved samples in MB/s
//! and the ratio import / baseline, because absolute figures on shared machines are noise.
//!
//! `cargo bench -p gridtrust-scl --bench import`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use quick_xml::Reader;
use quick_xml::events::Event;

fn largest_real_file() -> (String, Vec<u8>) {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/scl");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&directory)
        .expect("shared/testdata/scl")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| !path.ends_with("sampleModel_errors.icd"))
        .map(|path| (path.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&path).expect("read")))
        .collect();
    files.sort_by_key(|(_, bytes)| std::cmp::Reverse(bytes.len()));
    files.swap_remove(0)
}

fn baseline_events(bytes: &[u8]) -> usize {
    let mut reader = Reader::from_reader(bytes);
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return events,
            Ok(_) => events += 1,
            Err(error) => panic!("baseline file is valid XML: {error}"),
        }
    }
}

fn baseline_events_and_attributes(bytes: &[u8]) -> usize {
    let mut reader = Reader::from_reader(bytes);
    let mut total = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) => return total,
            Ok(Event::Start(start) | Event::Empty(start)) => {
                for attribute in start.attributes().flatten() {
                    let value = attribute
                        .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, reader.decoder())
                        .expect("valid attribute");
                    total += value.len();
                }
            }
            Ok(_) => total += 1,
            Err(error) => panic!("baseline file is valid XML: {error}"),
        }
    }
}

fn import(name: &str, bytes: &[u8]) -> usize {
    let import = gridtrust_scl::import_bytes(name, bytes).expect("benchmark file imports");
    import.ieds.iter().map(|ied| ied.attributes.len()).sum()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// MB/s of one sample: `iterations` runs of `f` over `len` bytes.
fn sample(len: usize, iterations: u32, mut f: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box(f());
    }
    (len as f64 * f64::from(iterations)) / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let (name, bytes) = largest_real_file();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("scl");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function(format!("baseline: quick-xml events, {name}"), |b| b.iter(|| baseline_events(black_box(&bytes))));
    group.bench_function(format!("reference: events + attributes, {name}"), |b| {
        b.iter(|| baseline_events_and_attributes(black_box(&bytes)))
    });
    group.bench_function(format!("import (read + resolve), {name}"), |b| b.iter(|| import(&name, black_box(&bytes))));
    group.finish();
    criterion.final_summary();

    // Interleaved samples so that machine noise hits all three alike.
    let (mut events, mut attributes, mut imports) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..31 {
        events.push(sample(bytes.len(), 200, || baseline_events(&bytes)));
        attributes.push(sample(bytes.len(), 200, || baseline_events_and_attributes(&bytes)));
        imports.push(sample(bytes.len(), 50, || import(&name, &bytes)));
    }
    let (events, attributes, imports) = (median(events), median(attributes), median(imports));
    println!("\nSCL import, {name} ({} bytes), medians of 31 interleaved samples:", bytes.len());
    println!("  baseline  quick-xml events only          {events:8.1} MB/s");
    println!("  reference quick-xml events + attributes  {attributes:8.1} MB/s");
    println!("  gridtrust-scl import (read + resolve)    {imports:8.1} MB/s");
    println!(
        "  ratio import / baseline = {:.2} ({:.1}x slower); import / reference = {:.2}",
        imports / events,
        events / imports,
        imports / attributes
    );
}
