//! Store throughput and query latency, each beside a raw-redb baseline doing the same disk work
//! without this crate's logic (keys, idempotence checks, latest image, decoding), so the ratio
//! is meaningful on a noisy machine.
//!
//! `cargo bench -p gridtrust-store` (set `STORE_BENCH_POINTS` to change the point count).

use std::time::{Duration, Instant};

use gridtrust_model::{PointId, Quality, Record, TimeQuality, Timestamp, Value};
use gridtrust_store::HubStore;
use gridtrust_trust::{BatchHeader, SignedBatch, VerifiedBatch};
use redb::{Database, ReadableDatabase, TableDefinition};

const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400;
const RAW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw");

fn points(n: usize) -> Vec<PointId> {
    (0..n).map(|i| PointId::new(format!("SUB1LD0/MMXU{}.TotW.mag.f", i + 1)).unwrap()).collect()
}

/// One day of 1-second data for every point, interleaved in time as an edge would batch it.
fn day_of_records(points: &[PointId], day0: i64) -> Vec<Record> {
    let mut out = Vec::with_capacity(points.len() * DAY as usize);
    let mut seq = 0;
    for s in 0..DAY {
        for p in points {
            let t = Timestamp(day0 + s * SECOND);
            out.push(Record {
                seq,
                point: p.clone(),
                value: Value::Float(230.0 + (s % 600) as f32 / 100.0),
                quality: Quality::GOOD,
                source_time: Some((t, TimeQuality::GOOD)),
                received_at: Timestamp(t.0 + 3_000_000),
            });
            seq += 1;
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn time_runs(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    v.sort();
    (percentile(&v, 0.5), percentile(&v, 0.99))
}

fn row(name: &str, baseline: f64, measured: f64, unit: &str) {
    println!("{name:<48} baseline {baseline:>12.0} {unit:<9} gridtrust {measured:>12.0} {unit:<9} ratio {:.2}", measured / baseline);
}

fn row_lat(name: &str, base: (Duration, Duration), ours: (Duration, Duration)) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<48} baseline p50 {:>8.2} ms p99 {:>8.2} ms   gridtrust p50 {:>8.2} ms p99 {:>8.2} ms   ratio(p50) {:.2}",
        ms(base.0),
        ms(base.1),
        ms(ours.0),
        ms(ours.1),
        ms(ours.0) / ms(base.0)
    );
}

/// Raw redb: the same record bytes under (batch, index) keys, `group` batches per commit.
fn raw_apply_rate(dir: &std::path::Path, batches: &[&[Record]], group: usize, round: usize) -> f64 {
    let db = Database::create(dir.join(format!("raw{group}-{round}.redb"))).unwrap();
    let encoded: Vec<Vec<Vec<u8>>> = batches.iter().map(|b| b.iter().map(Record::encode_canonical).collect()).collect();
    let start = Instant::now();
    let mut n = 0usize;
    for (g, chunk) in encoded.chunks(group).enumerate() {
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(RAW).unwrap();
            for (b, recs) in chunk.iter().enumerate() {
                for (i, r) in recs.iter().enumerate() {
                    let mut k = ((g * group + b) as u64).to_be_bytes().to_vec();
                    k.extend_from_slice(&(i as u32).to_be_bytes());
                    t.insert(k.as_slice(), r.as_slice()).unwrap();
                    n += 1;
                }
            }
        }
        txn.commit().unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn hub_apply_rate(dir: &std::path::Path, batches: &[&[Record]], group: usize, round: usize) -> f64 {
    let hub = HubStore::open(dir.join(format!("hub{group}-{round}.redb"))).unwrap();
    // Verified before the clock starts: this measures the store.
    let verified: Vec<VerifiedBatch> = batches.iter().enumerate().map(|(s, r)| unsigned_batch(s as u64 + 1, r)).collect();
    let start = Instant::now();
    let mut n = 0;
    for chunk in verified.chunks(group) {
        if let [one] = chunk {
            hub.apply_batch("edge-1", one).unwrap();
        } else {
            hub.apply_batches("edge-1", chunk).unwrap();
        }
        n += chunk.iter().map(|b| b.records().len()).sum::<usize>();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n_points: usize = std::env::var("STORE_BENCH_POINTS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let pts = points(n_points);
    let day0 = 1_700_000_000 * SECOND;
    let all = day_of_records(&pts, day0);
    let batches: Vec<&[Record]> = all.chunks(100).collect();
    println!(
        "gridtrust-store bench: {} points x {} s = {} records, batches of 100, file on {}",
        n_points,
        DAY,
        all.len(),
        dir.path().display()
    );

    // 1. Apply rate on the first 2,000 batches, baseline and ours alternating three times on
    // fresh files, median of each. One commit (fsync) per batch is what a live edge stream costs.
    let sample = &batches[..2_000.min(batches.len())];
    for (group, name) in [(1, "apply 100-rec batches, 1 commit/batch"), (50, "apply 100-rec batches, 50 batches/commit")] {
        let (mut base, mut ours) = (Vec::new(), Vec::new());
        for round in 0..3 {
            base.push(raw_apply_rate(dir.path(), sample, group, round));
            ours.push(hub_apply_rate(dir.path(), sample, group, round));
        }
        base.sort_by(f64::total_cmp);
        ours.sort_by(f64::total_cmp);
        row(name, base[1], ours[1], "rec/s");
    }

    // 2. History over the full day, grouped commits to load it quickly.
    let path = dir.path().join("day.redb");
    let load = Instant::now();
    {
        let hub = HubStore::open(&path).unwrap();
        for (g, chunk) in batches.chunks(100).enumerate() {
            let verified: Vec<VerifiedBatch> = chunk.iter().enumerate().map(|(i, r)| unsigned_batch((g * 100 + i) as u64 + 1, r)).collect();
            hub.apply_batches("edge-1", &verified).unwrap();
        }
        assert_eq!(hub.record_count().unwrap(), all.len() as u64);
    }
    let load = load.elapsed();
    println!(
        "loaded {} records in {:.1} s ({:.0} rec/s, 100 batches/commit)",
        all.len(),
        load.as_secs_f64(),
        all.len() as f64 / load.as_secs_f64()
    );

    let hub = HubStore::open(&path).unwrap();
    let target = &pts[n_points / 2];
    let (from, to) = (Timestamp(day0), Timestamp(day0 + DAY * SECOND));
    assert_eq!(hub.history(target, from, to, usize::MAX).unwrap().len(), DAY as usize);

    // Baseline: a raw redb range scan over the same keys, touching each value's length only.
    let raw = Database::create(dir.path().join("raw-day.redb")).unwrap();
    {
        let txn = raw.begin_write().unwrap();
        {
            let mut t = txn.open_table(RAW).unwrap();
            for r in all.iter().filter(|r| &r.point == target) {
                let mut k = vec![0u8];
                k.extend_from_slice(&r.received_at.0.to_be_bytes());
                t.insert(k.as_slice(), r.encode_canonical().as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let raw_scan = |limit: usize| {
        let txn = raw.begin_read().unwrap();
        let t = txn.open_table(RAW).unwrap();
        let mut bytes = 0usize;
        for e in t.range::<&[u8]>(..).unwrap().take(limit) {
            bytes += e.unwrap().1.value().len();
        }
        std::hint::black_box(bytes);
    };

    let runs = 40;
    row_lat(
        "history, one point, full day (86,400 records)",
        time_runs(runs, || raw_scan(DAY as usize)),
        time_runs(runs, || {
            std::hint::black_box(hub.history(target, from, to, usize::MAX).unwrap());
        }),
    );
    let hour = Timestamp(day0 + 13 * 3600 * SECOND);
    row_lat(
        "history, one point, one hour (3,600 records)",
        time_runs(400, || raw_scan(3600)),
        time_runs(400, || {
            std::hint::black_box(hub.history(target, hour, Timestamp(hour.0 + 3600 * SECOND), usize::MAX).unwrap());
        }),
    );
    row_lat(
        "downsample, one point, full day -> 1,440 buckets",
        time_runs(runs, || raw_scan(DAY as usize)),
        time_runs(runs, || {
            std::hint::black_box(hub.downsample(target, from, to, 1440).unwrap());
        }),
    );
    let (p50, _) = time_runs(runs, || {
        std::hint::black_box(hub.latest_all().unwrap());
    });
    println!("latest_all over {n_points} points: p50 {:.3} ms", p50.as_secs_f64() * 1e3);
}

/// `records` as batch `batch_seq` of edge-1, its integrity checked (the store takes only
/// verified batches; signatures are not what this bench measures).
fn unsigned_batch(batch_seq: u64, records: &[Record]) -> VerifiedBatch {
    let header = BatchHeader::for_records("edge-1", batch_seq, records, [0; 32], Timestamp(0));
    VerifiedBatch::without_signature(std::sync::Arc::new(SignedBatch { header, signature: None, records: records.to_vec() })).unwrap()
}
