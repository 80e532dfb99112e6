//! Throughput of the C37.118.2 receive path for a 4-PMU PDC data frame with float polar phasors
//! (6 phasors, float frequency/ROCOF, 2 float analogs and a digital word per PMU: 288 octets):
//!
//! - frames/s through `split_frame` (envelope + CRC) and `DataFrame::decode_into` (no allocation),
//!   next to two baselines measured in the same run: the CRC alone over the same octets, and a
//!   copy of the same octets into a reused buffer;
//! - datums/s out of the edge adapter's frame-to-datum conversion (`PointMap::datums`, one core),
//!   next to the decode rate of the same frame.
//!
//! Criterion measures each case; a closing table prints medians of 5 rounds and the ratios,
//! because absolute figures on shared machines are noise.
//!
//! `cargo bench -p gridtrust-c37118 --bench decode`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use gridtrust_c37118::adapter::{PmuConfig, PointMap};
use gridtrust_c37118::config::{ConfigFrame, DataFormat};
use gridtrust_c37118::crc::crc_ccitt;
use gridtrust_c37118::data::{DataFrame, StationData};
use gridtrust_c37118::frame::{FrameTime, split_frame};
use gridtrust_c37118::server::MeasurementSource;
use gridtrust_c37118::sim::{SimSpec, SimStation, ThreePhaseSignal};
use gridtrust_model::Timestamp;

fn pdc_frame() -> (ConfigFrame, Vec<u8>) {
    let format = DataFormat { polar: true, phasors_float: true, analogs_float: true, frequency_float: true };
    let stations = (0..4).map(|i| SimStation { name: format!("PMU{}", i + 1), idcode: 10 + i, format }).collect();
    let config = SimSpec { idcode: 1, data_rate: 50, stations }.config();
    let at = Timestamp(1_700_000_000_020_000_000);
    let mut stations: Vec<StationData> = config
        .stations
        .iter()
        .map(|s| StationData {
            phasors: vec![Default::default(); s.phasors.len()],
            analogs: vec![0.0; s.analogs.len()],
            digitals: vec![0; s.digitals.len()],
            ..Default::default()
        })
        .collect();
    ThreePhaseSignal.measure(at, &mut stations);
    let frame = DataFrame { idcode: 1, time: FrameTime::from_timestamp(at, config.time_base, Default::default()), stations };
    let mut bytes = Vec::new();
    frame.encode(&config, &mut bytes).expect("bench frame encodes");
    (config, bytes)
}

fn adapter_config() -> PmuConfig {
    toml::from_str(
        r#"name = "bench"
address = "127.0.0.1:4712"
idcode = 1"#,
    )
    .expect("bench config parses")
}

fn decode(bytes: &[u8], config: &ConfigFrame, frame: &mut DataFrame) {
    let (raw, _) = split_frame(bytes).expect("valid frame");
    frame.decode_into(&raw, config).expect("decodes");
}

fn criterion_benches(c: &mut Criterion, config: &ConfigFrame, bytes: &[u8], map: &PointMap) {
    let mut g = c.benchmark_group("c37118");
    g.throughput(Throughput::Elements(1));
    let mut frame = DataFrame::default();
    g.bench_function("baseline copy 4-PMU frame", |b| {
        let mut out = Vec::with_capacity(bytes.len());
        b.iter(|| {
            out.clear();
            out.extend_from_slice(black_box(bytes));
            black_box(out.len())
        })
    });
    g.bench_function("baseline CRC 4-PMU frame", |b| b.iter(|| crc_ccitt(black_box(bytes))));
    g.bench_function("split+CRC+decode 4-PMU frame", |b| b.iter(|| decode(black_box(bytes), config, &mut frame)));
    decode(bytes, config, &mut frame);
    let mut out = Vec::with_capacity(map.len());
    g.throughput(Throughput::Elements(map.len() as u64));
    g.bench_function("frame to datums", |b| {
        b.iter(|| {
            out.clear();
            map.datums(black_box(&frame), Timestamp(0), &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

/// Calls per second of `f` over about `budget`, median of 5 rounds.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let (mut n, start) = (0u64, Instant::now());
            while start.elapsed() < budget {
                for _ in 0..64 {
                    f();
                }
                n += 64;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn summary(config: &ConfigFrame, bytes: &[u8], map: &PointMap, budget: Duration) {
    let mut out = Vec::with_capacity(bytes.len());
    let copy = rate(budget, || {
        out.clear();
        out.extend_from_slice(black_box(bytes));
        black_box(out.len());
    });
    let crc = rate(budget, || {
        black_box(crc_ccitt(black_box(bytes)));
    });
    let mut frame = DataFrame::default();
    let dec = rate(budget, || decode(black_box(bytes), config, &mut frame));
    let mut datums = Vec::with_capacity(map.len());
    let conv = rate(budget, || {
        datums.clear();
        map.datums(black_box(&frame), Timestamp(0), &mut datums);
        black_box(datums.len());
    });
    let per_frame = map.len() as f64;
    println!();
    println!("4-PMU PDC data frame, float polar: {} octets, {} datums per frame (medians of 5 rounds)", bytes.len(), map.len());
    println!("{:<36} {:>14} {:>10}", "", "per second", "ratio");
    println!("{:<36} {:>14.0} {:>10}", "baseline: copy of the octets", copy, "1.000");
    println!("{:<36} {:>14.0} {:>10.3}", "baseline: CRC-CCITT of the octets", crc, crc / copy);
    println!("{:<36} {:>14.0} {:>10.3}", "split + CRC + decode (frames)", dec, dec / copy);
    println!("{:<36} {:>14.3} {:>10}", "  decode vs CRC alone", dec / crc, "");
    println!("{:<36} {:>14.0} {:>10}", "frame -> datums (frames)", conv, "");
    println!("{:<36} {:>14.0} {:>10.3}", "frame -> datums (datums)", conv * per_frame, conv / dec);
}

fn main() {
    let (config, bytes) = pdc_frame();
    let (map, warnings) = PointMap::new(&adapter_config(), &config);
    assert!(warnings.is_empty());
    // `cargo bench` passes --bench; `cargo test --benches` does not and wants a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &config, &bytes, &map);
    c.final_summary();
    summary(&config, &bytes, &map, if full { Duration::from_millis(400) } else { Duration::from_millis(5) });
}
