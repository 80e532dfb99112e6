//! Downsampled history at scale: one day of 1-second data on 1,000 points (86.4 M records) is
//! applied through `HubStore::apply_batches` (the hub's own path: series, leaves, latest,
//! roll-ups), then random points are queried over the whole day in ~1,000 buckets.
//!
//! Measured: `history_buckets` (roll-ups for whole 10-s slots). Baseline, same run, same points:
//! `downsample`, which reads and decodes every record of the day. Requirement: p99 < 100 ms.
//!
//! `cargo bench -p gridtrust-store --bench history`. The filled store is kept in
//! `HISTORY_BENCH_DIR` (default `$CARGO_TARGET_DIR/history-bench`) and reused by later runs
//! with the same size; `HISTORY_BENCH_POINTS` / `HISTORY_BENCH_SECONDS` shrink it for a quick look.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gridtrust_model::{PointId, Quality, Record, TimeQuality, Timestamp, Value};
use gridtrust_store::{BatchRef, HubStore};

const SECOND: i64 = 1_000_000_000;
const DAY0: i64 = 1_700_000_000 * SECOND;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn point(i: u64) -> PointId {
    PointId::new(format!("SUB{}/MMXU{}.TotW", i / 100, i % 100 + 1)).unwrap()
}

/// A cheap deterministic pseudo-random sequence (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Fills the store, continuing after the last second an interrupted earlier run stored.
fn fill(path: &std::path::Path, points: &[PointId], seconds: u64) {
    let hub = HubStore::open(path).unwrap();
    let header = vec![0u8; 120];
    let started = Instant::now();
    const GROUP: u64 = 60;
    // Batch seq = second + 1, and groups of GROUP seconds commit whole.
    let done_seconds = hub.last_batch("edge-1").unwrap().map_or(0, |l| l.batch_seq);
    assert_eq!(done_seconds % GROUP, 0, "groups commit whole");
    if done_seconds > 0 {
        println!("  resuming after second {done_seconds}");
    }
    let mut seq = done_seconds * points.len() as u64;
    let first_seq = seq;
    let mut last_report = 0;
    for g in done_seconds / GROUP..seconds.div_ceil(GROUP) {
        let batches: Vec<Vec<Record>> = (g * GROUP..((g + 1) * GROUP).min(seconds))
            .map(|s| {
                let t = Timestamp(DAY0 + s as i64 * SECOND);
                points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        seq += 1;
                        Record {
                            seq,
                            point: p.clone(),
                            value: Value::Float(230.0 + ((s + i as u64) % 600) as f32 / 100.0),
                            quality: Quality::GOOD,
                            source_time: Some((t, TimeQuality::GOOD)),
                            received_at: Timestamp(t.0 + 3_000_000),
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<BatchRef<'_>> = batches
            .iter()
            .enumerate()
            .map(|(i, r)| BatchRef { batch_seq: g * GROUP + i as u64 + 1, header_bytes: &header, records: r })
            .collect();
        hub.apply_batches("edge-1", &refs).unwrap();
        let done = (g + 1) * GROUP * 100 / seconds;
        if done >= last_report + 5 {
            last_report = done;
            let el = started.elapsed().as_secs_f64();
            print!("\r  filled {done:>3}%  {:>11} records  {:>8.0} rec/s  {:>6.0} s", seq, (seq - first_seq) as f64 / el, el);
            let _ = std::io::stdout().flush();
        }
    }
    println!();
}

fn main() {
    let n_points = env("HISTORY_BENCH_POINTS", 1000);
    let seconds = env("HISTORY_BENCH_SECONDS", 86_400);
    let dir = std::env::var_os("HISTORY_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into())).join("history-bench")
    });
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("hub-{n_points}x{seconds}.redb"));
    let marker = path.with_extension("complete");
    let points: Vec<PointId> = (0..n_points).map(point).collect();
    println!("history bench: {n_points} points x {seconds} s of 1-second data = {} records, store {}", n_points * seconds, path.display());
    if marker.exists() {
        println!("  reusing the store filled by an earlier run");
    } else {
        let t = Instant::now();
        fill(&path, &points, seconds);
        std::fs::write(&marker, b"").unwrap();
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("  filled in {:.0} s, file {:.1} GiB", t.elapsed().as_secs_f64(), size as f64 / (1u64 << 30) as f64);
    }
    let hub = HubStore::open(&path).unwrap();
    let (from, to) = (Timestamp(DAY0), Timestamp(DAY0 + seconds as i64 * SECOND));
    let buckets = 1000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // Same answer from both paths before timing anything (roll-up widths are whole slots).
    let check = &points[0];
    let (width, ours) = hub.history_buckets(check, from, to, buckets).unwrap();
    let n_ours = ((to.0 - from.0) as u64).div_ceil(width as u64) as usize;
    let raw = hub.downsample(check, from, to, n_ours).unwrap();
    let total: u64 = ours.iter().map(|b| b.count).sum();
    assert_eq!(total, seconds, "every record counted once");
    if (to.0 - from.0) % width == 0 {
        assert_eq!(ours, raw, "roll-up buckets equal record buckets");
    }
    println!("  query: whole range, max {buckets} buckets -> {} buckets of {} s", ours.len(), width / SECOND);

    let mut time = |runs: usize, f: &dyn Fn(&PointId)| {
        let mut v: Vec<Duration> = (0..runs)
            .map(|_| {
                let p = &points[(rng.next() % n_points) as usize];
                let t = Instant::now();
                f(p);
                t.elapsed()
            })
            .collect();
        v.sort();
        (percentile(&v, 0.5), percentile(&v, 0.99))
    };
    let base = time(40, &|p| {
        std::hint::black_box(hub.downsample(p, from, to, buckets).unwrap());
    });
    let ours = time(1000, &|p| {
        std::hint::black_box(hub.history_buckets(p, from, to, buckets).unwrap());
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "history, random point, whole range -> ~{buckets} buckets\n  baseline (every record, downsample):   p50 {:>8.2} ms  p99 {:>8.2} ms  (40 queries)\n  gridtrust (roll-ups, history_buckets): p50 {:>8.2} ms  p99 {:>8.2} ms  (1000 queries)\n  ratio p50 {:.3}  p99 {:.3}   requirement p99 < 100 ms: {}",
        ms(base.0),
        ms(base.1),
        ms(ours.0),
        ms(ours.1),
        ms(ours.0) / ms(base.0),
        ms(ours.1) / ms(base.1),
        if ours.1 < Duration::from_millis(100) { "met" } else { "NOT MET" }
    );
}
