//! CGMES import speed in MB/s for every model in the test data, next to rdflib (PyPI) parsing
//! the same files into one rdflib Graph in the same run.
//!
//! Criterion measures the full import (merged graph + typed model) per model; a closing table
//! prints medians for our graph-only import, our full import and rdflib, and the ratios. rdflib is
//! the baseline because it is the RDF/XML parser CGMES tooling in Python (e.g. CIMpy-style
//! loaders) is built on. Without rdflib the table says so (and fails under
//! GRIDTRUST_REQUIRE_PEERS=1).
//!
//! `cargo bench -p gridtrust-cgmes --bench import`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_cgmes::Importer;

struct BenchModel {
    name: &'static str,
    files: Vec<PathBuf>,
    bytes: u64,
}

fn models() -> Vec<BenchModel> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/cgmes");
    let micro = data.join("MicroGrid/BaseCase");
    let boundary = micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BD_v2");
    let sets: [(&'static str, Vec<PathBuf>); 4] = [
        ("MicroGrid BE+BD", vec![micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2"), boundary.clone()]),
        ("MicroGrid NL+BD", vec![micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BC_NL_v2"), boundary.clone()]),
        ("MicroGrid Assembled+BD", vec![micro.join("CGMES_v2.4.15_MicroGridTestConfiguration_BC_Assembled_v2"), boundary]),
        ("MiniGrid BusBranch", vec![data.join("MiniGrid/BusBranch/CGMES_v2.4.15_MiniGridTestConfiguration_BaseCase_v3")]),
    ];
    sets.into_iter()
        .map(|(name, folders)| {
            let mut files: Vec<PathBuf> = folders
                .iter()
                .flat_map(|f| std::fs::read_dir(f).expect("test data folder").map(|e| e.expect("entry").path()))
                .filter(|p| p.extension().is_some_and(|e| e == "xml"))
                .collect();
            files.sort();
            let bytes = files.iter().map(|f| std::fs::metadata(f).expect("file").len()).sum();
            BenchModel { name, files, bytes }
        })
        .collect()
}

/// One large EQ file: the MicroGrid BE EQ objects `copies` times over with renamed mRIDs, so
/// large-file throughput is measured too (the conformity models are all under 1 MB).
fn large_model(dir: &Path, copies: usize) -> BenchModel {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/cgmes/MicroGrid/BaseCase/CGMES_v2.4.15_MicroGridTestConfiguration_BC_BE_v2/MicroGridTestConfiguration_BC_BE_EQ_V2.xml");
    let text = std::fs::read_to_string(source).expect("BE EQ");
    let body_start = text.find("</md:FullModel>").expect("header") + "</md:FullModel>".len();
    let body_end = text.rfind("</rdf:RDF>").expect("root end");
    let mut out = String::with_capacity(text.len() * copies);
    out.push_str(&text[..body_start]);
    for copy in 0..copies {
        out.push_str(&text[body_start..body_end].replace("=\"_", &format!("=\"_r{copy}-")).replace("=\"#_", &format!("=\"#_r{copy}-")));
    }
    out.push_str("</rdf:RDF>\n");
    let file = dir.join(format!("MicroGrid_BE_EQ_x{copies}.xml"));
    std::fs::write(&file, &out).expect("write large model");
    BenchModel { name: "BE EQ x20 (generated)", files: vec![file], bytes: out.len() as u64 }
}

fn import_graph(files: &[PathBuf]) -> gridtrust_cgmes::RdfGraph {
    let mut importer = Importer::new();
    for file in files {
        importer = importer.add_path(file).expect("imports");
    }
    importer.finish_graph()
}

fn import_model(files: &[PathBuf]) -> gridtrust_cgmes::CgmesModel {
    let mut importer = Importer::new();
    for file in files {
        importer = importer.add_path(file).expect("imports");
    }
    importer.finish().expect("builds")
}

/// Median wall time of `f` over `runs` runs.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

struct Rdflib {
    median: Duration,
    triples: u64,
    version: String,
}

fn rdflib(files: &[PathBuf], runs: usize) -> Option<Rdflib> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/rdflib_parse.py");
    let output = Command::new("python3").arg(script).arg(runs.to_string()).args(files).output().ok().filter(|o| o.status.success());
    let Some(output) = output else {
        assert!(
            std::env::var_os("GRIDTRUST_REQUIRE_PEERS").is_none(),
            "rdflib is required (GRIDTRUST_REQUIRE_PEERS) but python3 -c 'import rdflib' fails"
        );
        return None;
    };
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("rdflib_parse.py prints JSON");
    Some(Rdflib {
        median: Duration::from_secs_f64(json["median_s"].as_f64().expect("median_s")),
        triples: json["triples"].as_u64().expect("triples"),
        version: json["version"].as_str().unwrap_or("?").to_owned(),
    })
}

fn mb_per_s(bytes: u64, time: Duration) -> f64 {
    bytes as f64 / 1e6 / time.as_secs_f64()
}

fn main() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut models = models();
    models.push(large_model(scratch.path(), 20));
    let mut criterion = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).configure_from_args();
    let mut group = criterion.benchmark_group("cgmes import");
    for model in &models {
        group.throughput(Throughput::Bytes(model.bytes));
        group.bench_function(model.name, |b| b.iter(|| black_box(import_model(&model.files))));
    }
    group.finish();

    let ours_runs = 31;
    let rdflib_runs = 5;
    println!("\nCGMES import, medians (ours over {ours_runs} runs, rdflib over {rdflib_runs} runs; MB = 10^6 bytes)");
    println!(
        "{:<24} {:>7} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "model", "MB", "graph MB/s", "model MB/s", "rdflib MB/s", "graph/rl", "model/rl"
    );
    for model in &models {
        let statements: usize = import_graph(&model.files).objects().iter().map(|o| o.statements.len()).sum();
        let graph = median(ours_runs, || drop(black_box(import_graph(&model.files))));
        let full = median(ours_runs, || drop(black_box(import_model(&model.files))));
        let (graph_rate, full_rate) = (mb_per_s(model.bytes, graph), mb_per_s(model.bytes, full));
        match rdflib(&model.files, rdflib_runs) {
            Some(baseline) => {
                let rate = mb_per_s(model.bytes, baseline.median);
                println!(
                    "{:<24} {:>7.3} {:>12.1} {:>12.1} {:>12.2} {:>8.1}x {:>8.1}x   ({} property statements; rdflib {} triples, v{})",
                    model.name,
                    model.bytes as f64 / 1e6,
                    graph_rate,
                    full_rate,
                    rate,
                    graph_rate / rate,
                    full_rate / rate,
                    statements,
                    baseline.triples,
                    baseline.version
                );
            }
            None => println!(
                "{:<24} {:>7.3} {:>12.1} {:>12.1}   rdflib not installed (pip install rdflib): no baseline",
                model.name,
                model.bytes as f64 / 1e6,
                graph_rate,
                full_rate
            ),
        }
    }
}
